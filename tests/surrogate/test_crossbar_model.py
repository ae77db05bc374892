"""Crossbar surrogate against fresh ngspice runs and the exact sparse nodal solve.

The surrogate is fitted on a few small SPICE operating points, then checked on
weight matrices, inputs, sizes and wire resistances that were not in the fit.
Errors are in LSB of an 8-bit signed ADC whose full scale is the largest |current|
of the checked set (as ``aimc validate`` reports them).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from aimc.circuits.crossbar import (
    CrossbarConfig,
    simulate_op,
    simulate_pwm,
    weights_to_conductances,
)
from aimc.surrogate.baselines import first_order_batch, ideal_batch, nodal_batch
from aimc.surrogate.crossbar_model import CrossbarCase, CrossbarSurrogate, DomainError


def _case(rng, n, enc, dev, r_row, r_col, r_drv=47.0, v_read=0.2):
    cfg = CrossbarConfig(rows=n, cols=n, encoding=enc, device=dev, r_wire_row_ohm=r_row,
                         r_wire_col_ohm=r_col, r_driver_ohm=r_drv, v_read_v=v_read)
    g = weights_to_conductances(rng.uniform(-1, 1, (n, n)), enc)
    return cfg, g


def _spice_case(cfg, g, x):
    r = simulate_op(cfg, g, x)
    return CrossbarCase(cfg, g, x, r.i_out_a, r.power_w)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(7)
    cases = []
    for dev in ("pcm", "linear"):
        for n, r_row, r_col in ((16, 0.5, 2.0), (24, 2.0, 0.5), (16, 1.0, 1.0)):
            cfg, g = _case(rng, n, "hermes", dev, r_row, r_col)
            cases.append(_spice_case(cfg, g, rng.uniform(-1, 1, n)))
    return CrossbarSurrogate().fit(cases)


def _compile(model, cfg, g, policy="warn"):
    saved, model.domain_policy = model.domain_policy, policy
    try:
        with warnings.catch_warnings():   # sizes/encodings beyond the small fit
            warnings.simplefilter("ignore")
            return model.compile(cfg, g)
    finally:
        model.domain_policy = saved


def _lsb_err(pred, want):
    want = np.asarray(want)
    return (np.asarray(pred) - want) / (np.max(np.abs(want)) / 127)


def test_learned_correction_stays_near_physics(fitted):
    # the physics carries the model: every learned term coefficient is within 20 % of 1
    assert fitted.devices_ == ["linear", "pcm"]
    assert np.all(np.abs(fitted.coef_ - 1.0) < 0.2), fitted.coef_


@pytest.mark.parametrize("enc,dev,n,r_row,r_col", [
    ("hermes", "pcm", 32, 1.5, 1.0),
    ("differential", "pcm", 32, 2.0, 2.0),
])
def test_surrogate_matches_fresh_spice_on_new_matrices(fitted, enc, dev, n, r_row, r_col):
    rng = np.random.default_rng(1001)
    cfg, g = _case(rng, n, enc, dev, r_row, r_col)
    xs = rng.uniform(-1, 1, (2, n))
    want = np.array([simulate_op(cfg, g, x).i_out_a for x in xs])
    comp = _compile(fitted, cfg, g)
    err = _lsb_err(comp.currents(xs), want)
    err_fo = _lsb_err(first_order_batch(cfg, g, xs), want)
    err_ideal = _lsb_err(ideal_batch(cfg, g, xs), want)
    rms = float(np.sqrt(np.mean(err ** 2)))
    # targets of the issue: RMS <= 0.5 LSB, p99 <= 1 LSB (here: max over 64 values)
    assert rms <= 0.5 and np.max(np.abs(err)) <= 1.0, (rms, np.max(np.abs(err)))
    # and the surrogate beats both analytic baselines
    assert rms < float(np.sqrt(np.mean(err_fo ** 2)))
    assert rms < float(np.sqrt(np.mean(err_ideal ** 2)))


@pytest.mark.parametrize("enc,n,r_row,r_col,r_drv", [
    ("hermes", 64, 1.0, 1.0, 47.0),
    ("differential", 96, 2.0, 0.5, 0.0),
    ("single", 48, 0.0, 3.0, 100.0),
])
def test_linear_surrogate_tracks_exact_nodal_solve(fitted, enc, n, r_row, r_col, r_drv):
    rng = np.random.default_rng(5)
    cfg = CrossbarConfig(rows=n, cols=n, encoding=enc, r_wire_row_ohm=r_row,
                         r_wire_col_ohm=r_col, r_driver_ohm=r_drv)
    lo = 0.0 if enc == "single" else -1.0
    g = weights_to_conductances(rng.uniform(lo, 1, (n, n)), enc)
    xs = rng.uniform(-1, 1, (16, n))
    want = nodal_batch(cfg, g, xs)
    comp = _compile(fitted, cfg, g, "ignore")  # the physics alone, any driver resistance
    err = _lsb_err(comp.currents(xs), want)
    assert float(np.sqrt(np.mean(err ** 2))) <= 0.1
    assert np.max(np.abs(err)) <= 0.5


def test_pwm_charge_matches_spice_transient(fitted):
    rng = np.random.default_rng(11)
    cfg, g = _case(rng, 8, "hermes", "pcm", 2.0, 2.0)
    codes = np.array([5, -17, 0, 30, 12, -3, 25, 9])
    res = simulate_pwm(cfg, g, codes, t_lsb_s=1e-9, t_edge_s=20e-12, t_step_s=50e-12)
    comp = _compile(fitted, cfg, g)   # 8x8 is below the fitted sizes (16..24): warns
    q = comp.charges(codes[None], 1e-9)[0]
    err = _lsb_err(q, res.q_out_c)
    assert np.max(np.abs(err)) <= 0.25, err
    e = comp.pwm_energy(codes[None], 1e-9)[0]
    assert abs(e / res.energy_j - 1) < 0.05


def test_domain_policy(fitted):
    rng = np.random.default_rng(2)
    cfg, g = _case(rng, 16, "hermes", "pcm", 50.0, 1.0)
    with pytest.raises(DomainError, match="r_wire_row_ohm"):
        fitted.compile(cfg, g)
    cfg, g = _case(rng, 16, "hermes", "rram", 1.0, 1.0)
    with pytest.raises(DomainError, match="rram"):
        fitted.compile(cfg, g)
    cfg = CrossbarConfig(rows=16, cols=16, encoding="hermes", cell="1T1R", device="pcm")
    with pytest.raises(DomainError, match="1T1R"):
        fitted.compile(cfg, g)
    cfg, g = _case(rng, 16, "hermes", "pcm", 2.2, 1.0)  # just outside: warning only
    with pytest.warns(UserWarning, match="outside the fitted domain"):
        fitted.compile(cfg, g)


def test_fit_refuses_nan_and_too_few_points():
    rng = np.random.default_rng(3)
    cfg = CrossbarConfig(rows=4, cols=4, r_wire_row_ohm=1.0)
    g = weights_to_conductances(rng.uniform(0, 1, (4, 4)), "single")
    x = rng.uniform(-1, 1, 4)
    with pytest.raises(ValueError, match="at least 2"):
        CrossbarSurrogate().fit([CrossbarCase(cfg, g, x, np.zeros(4))])
    bad = CrossbarCase(cfg, g, x, np.array([np.nan, 0, 0, 0]))
    with pytest.raises(ValueError, match="i_out_a"):
        CrossbarSurrogate().fit([bad, bad])
