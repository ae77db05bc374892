"""PWM transients at the time-step settings of issue 10 (the transient lands on a
plan of time points: PWL corners, points inside non-linear edges, one after each edge
where charge is stored; largest step one LSB) against the independent segment
decomposition: under PWM the charge of each output line is the sum of crossbar
operating points over the segments between sorted pulse ends (real ngspice for both;
the operating points know nothing of time steps), and against ngspice's own step
control at 1 ps steps."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.circuits.crossbar import CrossbarConfig, simulate_pwm, weights_to_conductances
from aimc.circuits.netlist import Design
from aimc.circuits.spice import tran_stop_time
from aimc.circuits.tile import segment_charges
from PySpice.Spice.Netlist import Circuit

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


@pytest.mark.parametrize("backend", ["osdi", "bsource"])
@pytest.mark.parametrize("cell", ["1R", "1T1R"])
def test_hermes_pcm_transient_equals_segment_operating_points(cell, backend):
    """The README's configuration (HERMES PCM, 1 ohm wires), small: the transient's
    charge per physical output line equals the segment sum within the edges' share
    (20 ps edges of a non-linear I-V, at most ~2e-3 of the largest charge)."""
    cfg = CrossbarConfig(rows=6, cols=4, encoding="hermes", device="pcm", cell=cell,
                         r_wire_row_ohm=1.0, r_wire_col_ohm=1.0, device_backend=backend)
    g, codes = _case(cfg, 7)
    res = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB, t_edge_s=20e-12)
    q_ops = segment_charges(cfg, g, codes, T_LSB)
    assert np.max(np.abs(res.q_phys_c - q_ops)) <= 2e-3 * np.max(np.abs(q_ops))
    # The transient ends where every pulse has ended: the lines are back at rest.
    # Measured as the mean current over the last step, (i[-1] + i[-2]) / 2: under
    # trapezoidal integration a capacitor's sampled current rings, i_n = -i_(n-1)
    # once its voltage is flat, at the amplitude left by the last backward-Euler
    # step after a breakpoint (1T1R: 1.4e-3 of the peak at the last point with the
    # step plan, 7.8e-4 with ngspice's own steps), while the mean over a step is the
    # charge that step moved (8e-5 and 6e-5).
    i_end = 0.5 * (res.i_phys_a[:, -1] + res.i_phys_a[:, -2])
    assert np.max(np.abs(i_end)) <= 1e-3 * np.max(np.abs(res.i_phys_a))


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
    depend on the time steps: 0.5 ps steps everywhere (~16,000 time points) and the
    step plan with one-LSB steps (two Simpson steps per edge of the non-linear RRAM
    I-V) give the same charges to 1e-5 (measured 9e-7; ngspice's own step control
    at 10 ps steps, the setting before issue 10: 1.4e-5, from its trapezoid inside
    the edges), the plan with under 1/100 of the time points."""
    cfg = CrossbarConfig(rows=8, cols=4, encoding="differential", device="rram",
                         r_wire_row_ohm=2.0, r_wire_col_ohm=2.0)
    g, codes = _case(cfg, 3)
    fine = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB, t_max_step_s=0.5e-12, t_step_s=0.5e-12,
                        step_plan=False)
    coarse = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB)
    scale = np.max(np.abs(fine.q_phys_c))
    assert np.max(np.abs(coarse.q_phys_c - fine.q_phys_c)) <= 1e-5 * scale
    assert len(coarse.time_s) < len(fine.time_s) / 100


@pytest.mark.parametrize("cell", ["1R", "1T1R"])
def test_step_plan_is_as_accurate_as_ngspice_own_steps(cell):
    """HERMES PCM against 0.5 ps steps everywhere (~18,000 time points): the step
    plan's charges are at least as close as those of ngspice's own step control at
    the same one-LSB largest step (measured: plan 3.2e-6 1R with Simpson over two
    steps per edge, 5.7e-6 1T1R with four; ngspice's own 1.2e-5 and 8.6e-6 of the
    largest charge), with fewer time points."""
    cfg = CrossbarConfig(rows=6, cols=4, encoding="hermes", device="pcm", cell=cell,
                         r_wire_row_ohm=1.0, r_wire_col_ohm=1.0)
    g, codes = _case(cfg, 7)
    ref = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB, t_max_step_s=0.5e-12, t_step_s=0.5e-12,
                       step_plan=False)
    own = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB, step_plan=False)
    plan = simulate_pwm(cfg, g, codes, t_lsb_s=T_LSB)
    err_own = np.max(np.abs(own.q_phys_c - ref.q_phys_c))
    err_plan = np.max(np.abs(plan.q_phys_c - ref.q_phys_c))
    assert err_plan <= err_own <= 2e-5 * np.max(np.abs(ref.q_phys_c))
    assert len(plan.time_s) < 0.6 * len(own.time_s)


def test_plain_transient_after_a_step_plan_run():
    """ngspice keeps the step-plan callback for the rest of the process, and with it
    registered it clips every step that would pass the stop time (``sharedsync``),
    which on its own ends in 'timestep too small'. An RC charging transient run after
    a planned PWM run (same engine, stop time written with a SPICE suffix) finishes
    and follows v = V·(1 - exp(-t/RC)) to 1e-3 of V."""
    cfg = CrossbarConfig(rows=2, cols=2, encoding="single", device="linear")
    simulate_pwm(cfg, np.full((2, 2), 1e-5), np.array([3, 1]), t_lsb_s=T_LSB)
    c = Circuit("rc")
    c.raw_spice = "V1 a 0 PULSE(0 1 0 1p 1p 1 2)\nR1 a b 1k\nC1 b 0 1p"
    assert tran_stop_time(".tran 1n 5.5n") == pytest.approx(5.5e-9)
    res = Design(c, ".tran 10p 5.5n", ["time", "v(b)"]).simulate()
    t, v = res["time"], res["v(b)"]
    assert t[-1] == pytest.approx(5.5e-9, rel=1e-9)
    assert np.max(np.abs(v - (1 - np.exp(-np.maximum(t - 1e-12, 0) / 1e-9)))) <= 1e-3
