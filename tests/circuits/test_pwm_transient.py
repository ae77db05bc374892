"""PWM transients at the time-step settings of issue 10 (largest step one LSB, steps
chosen by ngspice's breakpoints and truncation error) against the independent
segment decomposition: under PWM the charge of each output line is the sum of
crossbar operating points over the segments between sorted pulse ends (real
ngspice for both; the operating points know nothing of time steps)."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.circuits.crossbar import CrossbarConfig, simulate_pwm, weights_to_conductances
from aimc.circuits.tile import segment_charges

T_LSB = 1e-9


def _case(cfg: CrossbarConfig, seed: int):
    rng = np.random.default_rng(seed)
    lo = 0.0 if cfg.encoding == "single" else -1.0
    g = weights_to_conductances(rng.uniform(lo, 1.0, (cfg.rows, cfg.cols)), cfg.encoding)
    codes = rng.integers(-9, 10, cfg.rows)
    codes[:2] = [0, codes[2]]                # a silent row and a repeated pulse end
    if cfg.encoding == "single":
        codes = np.abs(codes)
    return g, codes


@pytest.mark.parametrize("cell", ["1R", "1T1R"])
def test_hermes_pcm_transient_equals_segment_operating_points(cell):
    """The README's configuration (HERMES PCM, 1 ohm wires), small: the transient's
    charge per physical output line equals the segment sum within the edges' share
    (20 ps edges of a non-linear I-V, at most ~2e-3 of the largest charge)."""
    cfg = CrossbarConfig(rows=6, cols=4, encoding="hermes", device="pcm", cell=cell,
                         r_wire_row_ohm=1.0, r_wire_col_ohm=1.0)
    g, codes = _case(cfg, 7)
    res = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB, t_edge_s=20e-12)
    q_ops = segment_charges(cfg, g, codes, T_LSB)
    assert np.max(np.abs(res.q_phys_c - q_ops)) <= 2e-3 * np.max(np.abs(q_ops))
    # the transient ends where every pulse has ended: the lines are back at rest
    assert np.max(np.abs(res.i_phys_a[:, -1])) <= 1e-3 * np.max(np.abs(res.i_phys_a))


def test_linear_transient_with_line_capacitance_conserves_charge():
    """Linear cells with line capacitance: between edges the lines settle in
    femtoseconds (1 ohm x 1 fF), and charge parked on the line capacitances during a
    pulse comes back after it, so the integrated sense current still equals the
    segment sum to 1e-4 (the edges of a linear circuit are exact under trapezoidal
    integration)."""
    cfg = CrossbarConfig(rows=8, cols=5, encoding="single", device="linear",
                         r_wire_row_ohm=1.0, r_wire_col_ohm=1.0,
                         c_wire_row_f=1e-15, c_wire_col_f=1e-15)
    g, codes = _case(cfg, 11)
    res = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB, t_edge_s=20e-12)
    q_ops = segment_charges(cfg, g, codes, T_LSB)
    assert np.max(np.abs(res.q_phys_c - q_ops)) <= 1e-4 * np.max(np.abs(q_ops))


def test_larger_max_step_changes_no_charge_of_a_resistive_array():
    """A resistive 1R array is static between PWM corners, so the charge cannot
    depend on the largest time step: 10 ps steps (the old setting) and one-LSB
    steps give the same charges to 1e-5 (what differs is where Newton stops inside
    ngspice's default tolerances; seen: 7e-7), the latter with far fewer time points."""
    cfg = CrossbarConfig(rows=8, cols=4, encoding="differential", device="rram",
                         r_wire_row_ohm=2.0, r_wire_col_ohm=2.0)
    g, codes = _case(cfg, 3)
    fine = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB, t_max_step_s=10e-12)
    coarse = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB)
    scale = np.max(np.abs(fine.q_phys_c))
    assert np.max(np.abs(coarse.q_phys_c - fine.q_phys_c)) <= 1e-5 * scale
    assert len(coarse.time_s) < len(fine.time_s) / 2
