"""PWM DAC: real ngspice transients checked against independent calculations.

Tolerances (stated once, derived from the edges):

* A pulse of nominal width W = |code|·t_lsb with linear edges t_rise/t_fall can
  differ from the ideal rectangle by at most the edge area, i.e. the charge by at
  most I·(t_rise + t_fall)/2 (``edge_charge_bound_c``): a relative tolerance of
  (t_rise + t_fall)/(2·W) = 5 % at code 1 and 0.04 % at code 127 with 50 ps edges.
  The behavioural driver centres its edges on the switching instants, so for linear
  cells the edge error cancels exactly; what remains is the time discretisation
  (< 1e-4 relative with the default 100 ps maximum step), checked separately.
* Inverter vs behavioural driver: the transistor driver's edges have their own
  shapes and delays (measured offsets ≤ 7 ps) and its switches' on-resistance
  (46.6 Ω at small current, rising with the line current) differs from
  r_out = 47 Ω (measured gain difference ≤ 0.04 %): |Δt_eff| ≤ 10 ps + 5e-4·W.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from aimc.circuits.dac import (
    DRIVERS,
    SUBCKT_NAME,
    InverterSizing,
    PwmDacConfig,
    add_dac_rails,
    add_pwm_driver,
    dac_line_design,
    edge_charge_bound_c,
    expected_charge_c,
    simulate_line,
)
from aimc.circuits.devices import PcmDevice, RramDevice
from aimc.circuits.netlist import Design
from PySpice.Spice.Netlist import Circuit

G = 10e-6            # S per cell (PCM 0.1-25 uS, FACTS.md)
V_READ = 0.2
T_LSB = 1e-9
BEHAV = PwmDacConfig()
INV = PwmDacConfig(driver="inverter")
STIFF = PwmDacConfig(r_out_ohm=1e-3)   # behavioural driver with ~no output resistance
R_TINY = 1e-3                          # wire segment resistance that makes IR drop ~1e-7


def _ladder_charges(code: int, g: np.ndarray, r_out: float, r_wire: float) -> np.ndarray:
    """Independent DC solve of the driven line (deviations from v_cm), times W.

    Node 0 = driver output (after r_out), nodes 1..N carry the cells to v_cm (0).
    Cell current I_k = g_k·(0 - v_k); charge = I_k·|code|·t_lsb.
    """
    n = g.size
    a = np.zeros((n + 1, n + 1))
    b = np.zeros(n + 1)
    vs = -V_READ * np.sign(code)
    gw = 1.0 / r_wire
    a[0, 0] += 1.0 / r_out
    b[0] += vs / r_out
    for k in range(1, n + 1):
        a[k - 1, k - 1] += gw
        a[k, k] += gw
        a[k - 1, k] -= gw
        a[k, k - 1] -= gw
        a[k, k] += g[k - 1]
    v = np.linalg.solve(a, b)
    return -g * v[1:] * abs(code) * T_LSB


# ----------------------------------------------------------------- charge vs ideal
@pytest.mark.parametrize("code", [1, 7, -7, 127, -127])
def test_charge_equals_vread_g_code_tlsb(code):
    n = 8
    r = simulate_line(STIFF, code, n, G, "linear", r_wire_ohm=R_TINY)
    ideal = np.sign(code) * V_READ * n * G * abs(code) * T_LSB
    assert r.ideal_charge_c == pytest.approx(ideal, rel=1e-12)
    tol = edge_charge_bound_c(STIFF, np.full(n, G))        # = I·(tr+tf)/2
    assert tol / abs(ideal) == pytest.approx(50e-12 / (abs(code) * T_LSB), rel=1e-9)
    assert abs(r.charge_c - ideal) <= tol
    # centred edges + linear cells: the edge error cancels; only discretisation remains
    assert abs(r.charge_error_rel) < 1e-4
    assert r.t_eff_s == pytest.approx(abs(code) * T_LSB, rel=1e-4)
    np.testing.assert_allclose(r.charge_per_cell_c, ideal / n, rtol=1e-4)


def test_edge_error_shows_with_off_centre_edges():
    # unequal edges, still centred at 50 %: the area (and charge) is unchanged
    cfg = PwmDacConfig(r_out_ohm=1e-3, t_rise_s=200e-12, t_fall_s=20e-12)
    r = simulate_line(cfg, 3, 4, G, "linear", r_wire_ohm=R_TINY)
    assert abs(r.charge_error_rel) < 1e-4
    # measured 10-90 % edges of the driver output = 0.8 of the ramp times
    assert r.t_rise_s == pytest.approx(0.8 * 200e-12, rel=0.02)
    assert r.t_fall_s == pytest.approx(0.8 * 20e-12, rel=0.05)


def test_time_step_converged():
    fine = PwmDacConfig(r_out_ohm=1e-3, t_step_max_s=10e-12)
    q_fine = simulate_line(fine, 5, 4, G, PcmDevice(), r_wire_ohm=R_TINY).charge_c
    q_def = simulate_line(STIFF, 5, 4, G, PcmDevice(), r_wire_ohm=R_TINY).charge_c
    assert q_def == pytest.approx(q_fine, rel=5e-4)


def test_ir_drop_matches_independent_ladder_solve():
    rng = np.random.default_rng(7)
    n = 32
    g = rng.uniform(1e-6, 25e-6, n)
    for code in (40, -40):
        r = simulate_line(BEHAV, code, n, g, "linear", r_wire_ohm=2.0, c_wire_f=0.8e-15)
        q_ref = _ladder_charges(code, g, BEHAV.r_out_ohm, 2.0)
        # the IR drop is real (far end sees less) and SPICE reproduces it to 1e-4
        assert abs(q_ref[-1] / g[-1]) < abs(q_ref[0] / g[0])
        np.testing.assert_allclose(r.charge_per_cell_c, q_ref, rtol=1e-4)
        assert r.charge_c == pytest.approx(q_ref.sum(), rel=1e-4)


# ----------------------------------------------------------------- sign, zero, devices
def test_sign_follows_code_and_zero_gives_no_charge():
    q = {c: simulate_line(BEHAV, c, 4, G).charge_c for c in (-3, 0, 3)}
    lsb = V_READ * 4 * G * T_LSB
    assert q[3] > 0 > q[-3]
    assert abs(q[0]) < 1e-6 * lsb
    assert q[3] == pytest.approx(-q[-3], rel=1e-9)   # linear cells: symmetric


@pytest.mark.parametrize("device", [PcmDevice(), RramDevice()])
@pytest.mark.parametrize("code", [20, -20])
def test_nonlinear_cells_charge(device, code):
    n = 6
    r = simulate_line(STIFF, code, n, G, device, r_wire_ohm=R_TINY)
    q_exp = expected_charge_c(STIFF, code, np.full(n, G), device)   # |code|·t·ΣI(±Vread)
    assert abs(r.charge_c - q_exp) <= edge_charge_bound_c(STIFF, np.full(n, G), device)
    # a super-linear device loses a little during the edges: measured well inside it
    assert abs(r.charge_c / q_exp - 1) < 2e-3


def test_pcm_polarity_asymmetry_reaches_the_charge():
    qp = simulate_line(STIFF, 50, 2, G, PcmDevice(), r_wire_ohm=R_TINY).charge_c
    qn = simulate_line(STIFF, -50, 2, G, PcmDevice(), r_wire_ohm=R_TINY).charge_c
    dev = PcmDevice()
    ratio = dev.current(V_READ, G) / -dev.current(-V_READ, G)     # 1.101 (devices.py)
    assert qp / -qn == pytest.approx(ratio, rel=2e-3)


# ----------------------------------------------------------------- inverter driver
@pytest.mark.parametrize("code", [1, -1, 64, -127])
def test_inverter_agrees_with_behavioral(code):
    n = 16
    rb = simulate_line(BEHAV, code, n, G)
    ri = simulate_line(INV, code, n, G)
    w = abs(code) * T_LSB
    assert np.sign(ri.charge_c) == np.sign(code)
    assert abs(ri.t_eff_s - rb.t_eff_s) <= 10e-12 + 5e-4 * w
    # and against the ideal: IR drop of ~47 ohm + wires on 160 uS (0.8 %) + edges
    assert abs(ri.charge_error_rel) <= 0.01 + 10e-12 / w
    # real transistor edges: tens of ps
    assert 1e-12 < ri.t_rise_s < 100e-12 and 1e-12 < ri.t_fall_s < 100e-12


def test_driver_subcircuit_reused_for_several_lines():
    """Two input lines of a tile share one driver definition and one set of rails."""
    circuit = Circuit("two_lines")
    circuit.raw_spice += "\n".join(INV.mosfets.spice_lines()) + "\n"
    rails = add_dac_rails(circuit, INV)
    circuit.V("cm_out", "vcmo", circuit.gnd, INV.v_cm_v)
    codes = {"a": 10, "b": -4}
    for name, code in codes.items():
        add_pwm_driver(circuit, INV, code, f"in_{name}", name, rails)
        circuit.V(f"s_{name}", "vcmo", f"o_{name}", 0.0)
        circuit.R(f"c_{name}", f"o_{name}", f"in_{name}", 1 / G)
    text = str(circuit)
    assert text.count(f".subckt {SUBCKT_NAME}") == 1
    saves = ["time", "vs_a#branch", "vs_b#branch"]
    d = Design(circuit, f".tran 1e-10 {INV.t_stop_s!r} 0 1e-10", saves)
    res = d.simulate()
    for name, code in codes.items():
        q = np.trapezoid(res[f"vs_{name}#branch"], res["time"])
        ideal = np.sign(code) * V_READ * G * abs(code) * T_LSB
        assert q == pytest.approx(ideal, rel=5e-3 + 10e-12 / (abs(code) * T_LSB))


# ----------------------------------------------------------------- energy
def test_energy_behavioral_is_vread_times_charge():
    n, c_wire = 16, 0.8e-15
    for code in (1, -30, 127):
        r = simulate_line(BEHAV, code, n, G, c_wire_f=c_wire)
        w = abs(code) * T_LSB
        e_cells = V_READ * abs(r.charge_c)
        # quasi-static: E = Vread²·G·∫p² = Vread·Q·(1 - (tr+tf)/(6W)) (< Vread·Q), plus
        # the wire capacitance charged and discharged through resistors (≤ C·Vread²)
        lower = e_cells * (1 - (BEHAV.t_rise_s + BEHAV.t_fall_s) / (2 * w))
        upper = e_cells / (1 - 0.02) + n * c_wire * V_READ ** 2
        assert lower <= r.energy_j <= upper
        # drawn energy: v_cm·Q from the output reference (code > 0) or v_hi·Q from
        # the pulse source (code < 0)
        v_src = BEHAV.v_cm_v if code > 0 else BEHAV.v_high_v
        assert r.energy_drawn_j == pytest.approx(v_src * abs(r.charge_c), rel=2e-2)


def test_energy_grows_with_code_and_cells():
    for cfg in (BEHAV, INV):
        e_code = [simulate_line(cfg, c, 8, G).energy_j for c in (0, 1, 16, 127)]
        assert all(b > a for a, b in zip(e_code, e_code[1:], strict=False)), e_code
        e_n = [simulate_line(cfg, -16, n, G).energy_j for n in (2, 8, 32)]
        assert all(b > a for a, b in zip(e_n, e_n[1:], strict=False)), e_n


def test_inverter_energy_is_cells_plus_fixed_switching():
    n = 8
    ri = {c: simulate_line(INV, c, n, G) for c in (1, 100)}
    rb = {c: simulate_line(BEHAV, c, n, G) for c in (1, 100)}
    over = {c: ri[c].energy_j - rb[c].energy_j for c in ri}
    assert over[1] > 0
    # the pre-driver/gate switching does not depend on the pulse width
    assert over[100] == pytest.approx(over[1], rel=0.1, abs=2e-15)
    # it comes from vdd
    assert ri[1].energy_by_source_j["vdac_dd"] == pytest.approx(over[1], rel=0.25)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("code, text", [
    (128, "128"), (-128, "-128"), (3.5, "3.5"), (float("nan"), "nan"), ("5", "'5'"),
    (True, "True"), (1000, "1000"),
])
def test_bad_code(code, text, tmp_path):
    with pytest.raises(ValueError, match=text):
        dac_line_design(BEHAV, code, 4, G)
    with pytest.raises(ValueError, match=text):
        simulate_line(INV, code, 4, G)
    assert list(tmp_path.iterdir()) == []


def test_integral_float_code_accepted():
    assert dac_line_design(BEHAV, 5.0, 2, G).meta["code"] == 5
    assert dac_line_design(BEHAV, np.int16(-7), 2, G).meta["code"] == -7


@pytest.mark.parametrize("kwargs, text", [
    ({"n_cells": 0}, "n_cells.*0"), ({"n_cells": 2.5}, "2.5"), ({"n_cells": 10**6}, "1000000"),
    ({"g_cells": -1e-6}, "-1e-06"), ({"g_cells": float("nan")}, "nan"),
    ({"g_cells": [1e-6, 2e-6]}, "g_cells"), ({"g_cells": np.array([1e-6, 0, 1e-6, 1e-6])}, "0.0"),
    ({"r_wire_ohm": 0.0}, "r_wire_ohm.*0.0"), ({"r_wire_ohm": float("nan")}, "nan"),
    ({"c_wire_f": -1e-15}, "-1e-15"), ({"device": "memristor"}, "memristor"),
    ({"device": 3}, "3"),
])
def test_bad_line_inputs(kwargs, text):
    args = {"n_cells": 4, "g_cells": G, "device": "linear", "r_wire_ohm": 1.0,
            "c_wire_f": 0.8e-15} | kwargs
    with pytest.raises(ValueError, match=text):
        dac_line_design(BEHAV, 3, **args)


@pytest.mark.parametrize("kwargs, text", [
    ({"driver": "current_dac"}, "current_dac"), ({"t_lsb_s": 0.0}, "t_lsb_s"),
    ({"v_read_v": -0.2}, "-0.2"), ({"v_read_v": float("nan")}, "nan"),
    ({"r_out_ohm": 0}, "r_out_ohm"), ({"t_rise_s": float("inf")}, "inf"),
    ({"v_read_v": 0.5}, "v_read_v=0.5"), ({"n_bits": 8.5}, "8.5"), ({"n_bits": 1}, "1"),
    ({"window_s": 100e-9}, "1e-07"), ({"t_rise_s": 1.5e-9}, "t_rise_s"),
    ({"t_step_max_s": 2e-9}, "2e-09"), ({"mosfets": "nch"}, "nch"),
])
def test_bad_config(kwargs, text):
    with pytest.raises(ValueError, match=text):
        PwmDacConfig(**kwargs)


def test_bad_sizing_and_names():
    with pytest.raises(ValueError, match="w_switch_n_m"):
        InverterSizing(w_switch_n_m=0.0)
    c = Circuit("x")
    with pytest.raises(ValueError, match="control"):
        add_pwm_driver(c, BEHAV, 3, "l0", "a\n.control")
    with pytest.raises(ValueError, match="l 0"):
        add_pwm_driver(c, BEHAV, 3, "l 0", "a")
    assert "unknown PWM driver type 'x'" in _msg(lambda: PwmDacConfig(driver="x"))
    assert set(DRIVERS) == {"behavioral", "inverter"}


def _msg(fn) -> str:
    try:
        fn()
    except ValueError as e:
        return str(e)
    return ""


# ----------------------------------------------------------------- config round trip
def test_config_dict_and_toml_round_trip(tmp_path):
    cfg = PwmDacConfig(driver="inverter", v_read_v=0.15, sizing=InverterSizing(l_m=60e-9))
    assert PwmDacConfig.from_dict(cfg.to_dict()) == cfg
    p = tmp_path / "dac.toml"
    p.write_text('[dac]\ndriver = "inverter"\nv_read_v = 0.3\n[dac.sizing]\nl_m = 6e-8\n')
    got = PwmDacConfig.from_toml(p)
    assert got.v_read_v == 0.3 and got.sizing.l_m == 6e-8 and got.driver == "inverter"
    with pytest.raises(ValueError, match="v_reed_v"):
        PwmDacConfig.from_dict({"v_reed_v": 0.2})
    assert cfg.max_code == 127 and math.isclose(cfg.t_stop_s, 130e-9)


def test_operating_point_sees_the_idle_line():
    """A .op of any design (e.g. for a DC decomposition) has the line at v_cm."""
    for cfg in (BEHAV, INV):
        d = dac_line_design(cfg, -90, 3, G)
        d.analysis = ".op"
        d.saves = [v for v in d.saves if v != "time"]
        res = d.simulate()
        assert abs(res.scalar("v(l0)") - cfg.v_cm_v) < 1e-6
        assert max(abs(res.scalar(f"vs{k}#branch")) for k in (1, 2, 3)) < 1e-12


def test_result_scalars():
    r = simulate_line(BEHAV, 4, 2, G)
    s = r.scalars()
    assert s["charge_c"] == r.charge_c and s["energy_vcm_out_j"] > 0
    assert all(isinstance(v, float) for v in s.values())
