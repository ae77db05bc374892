"""CCO-ADC (aimc.circuits.adc) against real ngspice runs.

Independent references: ideal count = integral(|i| dt) / Q_unit with Q_unit fitted on
the same transfer curve (best line through zero), the replica bias current for the
zero-input energy, and hand-made waveforms for the toggle counter.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from aimc.circuits.adc import (
    CcoAdcConfig,
    adc_design,
    calibration_model,
    cco_adc_subcircuit,
    convert,
    count_toggles,
    fit_calibration,
    fit_q_unit,
    inl_lsb,
    transfer_curve,
)
from aimc.circuits.models import MosfetModels, generic_card_text

WINDOW = 128e-9  # FACTS.md HERMES: 8-bit PWM at 1 GHz
CURRENTS = np.array([1, 10, 35, 65, 100]) * 1e-6  # design range 0..I_max = 100 uA
INL_LIN_MAX = 2.5     # LSB, linearized (measured 1.5 LSB)
INL_RAW_MIN = 5.0     # LSB, without linearization (measured about 9 LSB)


@pytest.fixture(scope="module")
def lin_curve():
    return transfer_curve(CcoAdcConfig(linearize=True), CURRENTS, WINDOW)


@pytest.fixture(scope="module")
def raw_curve():
    return transfer_curve(CcoAdcConfig(linearize=False), CURRENTS, WINDOW)


def test_frequency_strictly_increases_with_current(lin_curve, raw_curve):
    for _cur, f, n, _ in (lin_curve, raw_curve):
        assert np.all(np.diff(f) > 0), f
        assert np.all(np.diff(n) > 0), n
    # HERMES-like gain (FACTS.md: about 35 MHz/uA) and peak (about 3.3 GHz)
    _, f, _, _ = lin_curve
    assert 25e12 < f[0] / CURRENTS[0] < 45e12
    assert 2.5e9 < f[-1] < 4.0e9


def test_count_proportional_to_charge_within_inl(lin_curve):
    cur, _, n, _ = lin_curve
    q_unit = fit_q_unit(cur[[1, 2, 4]], n[[1, 2, 4]], WINDOW)  # from a few points
    assert 20e-15 < q_unit < 40e-15  # FACTS.md: about 29 fC
    inl = inl_lsb(cur, n, WINDOW, q_unit)
    assert np.max(np.abs(inl)) <= INL_LIN_MAX, inl


def test_linearization_reduces_inl(lin_curve, raw_curve):
    inl_lin = np.max(np.abs(inl_lsb(lin_curve[0], lin_curve[2], WINDOW)))
    inl_raw = np.max(np.abs(inl_lsb(raw_curve[0], raw_curve[2], WINDOW)))
    assert inl_raw >= INL_RAW_MIN
    assert inl_lin < 0.5 * inl_raw, (inl_lin, inl_raw)


def test_calibration_form_fits_and_sees_delay(lin_curve, raw_curve):
    for cur, f, _, _ in (lin_curve, raw_curve):
        a, b, c = fit_calibration(cur, f)
        model = calibration_model(cur, a, b, c)
        assert np.max(np.abs(model / f - 1)) < 0.02
    # without linearization the saturation B/A is the latch delay: tens of ps
    a, b, _ = fit_calibration(raw_curve[0], raw_curve[1])
    assert 20e-12 < b / a < 150e-12


def test_energy_from_supply_current(lin_curve):
    cur, _, _, e = lin_curve
    assert np.all(np.diff(e) > 0)
    cfg = CcoAdcConfig()
    # zero input: only the two replica bias currents flow from the supply
    r0 = convert(cfg, 0.0, WINDOW)
    assert abs(r0.count) <= 1
    e_rep = cfg.vdd_v * 2 * cfg.i_rep_a * WINDOW
    assert r0.energy_j == pytest.approx(e_rep, rel=0.2)
    # full scale: at least the mirrored charge alpha*(1+1)*Q (diode + output branch)
    assert e[-1] > cfg.vdd_v * 2 * cfg.alpha * cur[-1] * WINDOW


def test_negative_current_gives_negative_count(lin_curve):
    r = convert(CcoAdcConfig(), -35e-6, WINDOW)
    n_pos = lin_curve[2][2]  # +35 uA
    assert r.count < 0
    assert abs(r.count) == pytest.approx(n_pos, rel=0.06)
    assert r.line_error_v < 0.010


def test_stepped_current_counts_its_charge(lin_curve):
    cur, _, n, _ = lin_curve
    q_unit = fit_q_unit(cur, n, WINDOW)
    # PWM-like: the line current steps down as pulses end
    times = [0.0, 40e-9, 40.1e-9, 90e-9, 90.1e-9]
    amps = [80e-6, 80e-6, 30e-6, 30e-6, 10e-6]
    r = convert(CcoAdcConfig(), (times, amps), WINDOW)
    t = np.linspace(0, WINDOW, 20001)
    charge = np.trapezoid(np.interp(t, times, amps), t)
    assert r.count == pytest.approx(charge / q_unit, abs=INL_LIN_MAX + 1)
    # the regulator holds the line: error (Vov + 20 mV)/a_reg, below 10 mV at 80 uA
    assert r.line_error_v < 0.010


def test_ring_variant():
    cfg = CcoAdcConfig(variant="ring")
    res = [convert(cfg, i, 48e-9) for i in (0.0, 10e-6, 100e-6)]
    assert abs(res[0].count) <= 1
    f = [r.frequency_hz for r in res[1:]]
    assert 0 < f[0] < f[1]


def test_pdk_library_and_corner(tmp_path: Path):
    text = generic_card_text().replace("nch", "nfet_tt").replace("pch", "pfet_tt")
    lib = tmp_path / "my_pdk.lib"  # (a space in the path breaks ngspice 39 .lib: reported)
    lib.write_text(f"* test PDK\n.lib tt\n{text}\n.endl tt\n")
    models = MosfetModels.from_library(lib, nmos="nfet_tt", pmos="pfet_tt", corner="tt")
    cfg = CcoAdcConfig(mosfets=models)
    design = adc_design(cfg, 20e-6, 30e-9)
    assert f'.lib "{lib.resolve()}" tt' in design.text()
    assert "nfet_tt" in design.text() and " nch " not in design.text()
    n_pdk = convert(cfg, 20e-6, 30e-9).count
    n_gen = convert(CcoAdcConfig(), 20e-6, 30e-9).count
    assert abs(n_pdk - n_gen) <= 1


def test_subcircuit_ports():
    text = str(cco_adc_subcircuit(CcoAdcConfig(name="adc7")))
    assert text.splitlines()[0].lower() == ".subckt adc7 inp vdd vss out sgn"


def test_count_toggles_on_a_known_waveform():
    t = np.linspace(0, 100e-9, 100001)
    v = 0.4 + 0.4 * np.sign(np.sin(2 * np.pi * 100e6 * t + 0.1))  # 20 toggles
    s = np.where(t < 50e-9, 0.8, 0.0)  # positive first half, negative second
    assert count_toggles(t, v, 100e-9, 0.8) == 19 or count_toggles(t, v, 100e-9, 0.8) == 20
    n = count_toggles(t, v, 100e-9, 0.8, v_sign=s)
    assert abs(n) <= 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"c_int_f": -1e-15},
        {"c_int_f": math.nan},
        {"alpha": 0.0},
        {"vdd_v": math.inf},
        {"variant": "sigma_delta"},
        {"name": "adc\n.control"},
        {"n_ring_stages": 4},
        {"v_cm_v": 0.9},
    ],
)
def test_bad_parameters_raise_naming_the_value(kwargs):
    (key, value), = kwargs.items()
    with pytest.raises(ValueError, match=key if key != "variant" else "sigma_delta"):
        CcoAdcConfig(**kwargs)


@pytest.mark.parametrize(
    "current, window",
    [(math.nan, 128e-9), (1e-6, 0.0), (1e-6, math.nan),
     (([0, 2e-9, 1e-9], [0, 1e-6, 0]), 128e-9), (([0, 1e-9], [0, math.inf]), 128e-9)],
)
def test_bad_inputs_raise_before_any_netlist(tmp_path, current, window):
    with pytest.raises(ValueError):
        adc_design(CcoAdcConfig(), current, window).write(tmp_path, "never")
    assert not list(tmp_path.iterdir())


def test_config_toml_round_trip_and_unknown_key():
    cfg = CcoAdcConfig(variant="ring", linearize=False, c_int_f=10e-15)
    assert CcoAdcConfig.from_toml(cfg.to_toml()) == cfg
    with pytest.raises(ValueError, match="c_int_pf"):
        CcoAdcConfig.from_dict({"c_int_pf": 1.0})


def test_sign_change_within_a_window_counts_up_then_down(lin_curve):
    cur, _, n, _ = lin_curve
    q_unit = fit_q_unit(cur, n, WINDOW)
    times = [0.0, 64e-9, 64.1e-9]
    amps = [60e-6, 60e-6, -20e-6]
    r = convert(CcoAdcConfig(), (times, amps), WINDOW)
    want = (60e-6 * 64e-9 - 20e-6 * 63.9e-9) / q_unit  # signed charge / Q_unit
    assert r.toggle_times_s.size > want + 50  # the down-counted toggles happened
    assert r.count == pytest.approx(want, abs=INL_LIN_MAX + 1)
