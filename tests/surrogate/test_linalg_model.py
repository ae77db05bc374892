"""The linear-algebra surrogate against held-out ngspice runs and numpy.linalg."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.circuits import linalg as la
from aimc.circuits.opamp import OpAmp
from aimc.surrogate.linalg_model import LinalgModel


def _matrix(n: int, rng: np.random.Generator, signed: bool = False) -> np.ndarray:
    if signed:
        return rng.uniform(-1, 1, (n, n)) + (0.6 * np.sqrt(n) + 2) * np.eye(n)
    return rng.uniform(0, 1, (n, n)) + 0.3 * n * np.eye(n)


@pytest.mark.parametrize("kw", [
    dict(r_wire_row_ohm=2.0, r_wire_col_ohm=1.0, r_driver_ohm=300.0),
    dict(device="pcm", r_wire_col_ohm=1.0),
    dict(device="rram", r_wire_row_ohm=1.0),
    dict(two_arrays=True, r_wire_row_ohm=1.0, r_wire_col_ohm=0.5, r_driver_ohm=100.0),
], ids=["wires+driver", "pcm", "rram", "two-arrays"])
def test_steady_state_equals_held_out_spice(kw):
    rng = np.random.default_rng(42)
    n = 16
    a = _matrix(n, rng, signed=kw.get("two_arrays", False))
    b = rng.uniform(-1, 1, n)
    cfg = la.LinalgConfig(opamp=OpAmp(dc_gain=3e3, offset_v=0.5e-3), **kw)
    spice = la.solve(a, b, cfg)
    model = LinalgModel(cfg).solve(a, b)
    # linear cells: both solve the same linear equations; PCM/RRAM: ngspice stops its
    # Newton iteration at its own tolerance (reltol 1e-3 of the update, vntol 1 µV)
    tol = 1e-9 if cfg.device == "linear" else 1e-7
    assert np.max(np.abs(model.u_v - spice.u_v)) < tol * np.max(np.abs(spice.u_v))
    # the non-idealities are large enough to matter
    x = np.linalg.solve(a, b)
    assert np.max(np.abs(spice.x - x)) > 1e-3 * np.max(np.abs(x))
    assert model.power_w == pytest.approx(spice.power_w, rel=0.1)


def test_large_ideal_solve_residual_matches_numpy():
    rng = np.random.default_rng(0)
    n = 256
    a, b = _matrix(n, rng), rng.uniform(-1, 1, n)
    m = LinalgModel(la.LinalgConfig(opamp=OpAmp.make_ideal()))
    x = m.solve(a, b).x
    r_model = np.linalg.norm(a @ x - b) / np.linalg.norm(b)
    assert r_model < 1e-6
    assert np.max(np.abs(x - np.linalg.solve(a, b))) < 1e-6 * np.max(np.abs(x))


def test_eigenvector_model_equals_spice_pagerank():
    edges = np.array([(0, 1), (0, 3), (1, 2), (1, 3), (2, 0), (3, 2), (3, 4), (4, 5), (4, 3),
                      (5, 3), (5, 6), (6, 3), (6, 7), (7, 8), (7, 3), (8, 0), (8, 3)])
    g = la.google_matrix(edges, 9)
    for kw, tol in ((dict(), 1e-8), (dict(r_wire_row_ohm=20.0, r_wire_col_ohm=20.0), 3e-3)):
        cfg = la.LinalgConfig(**kw)
        spice = la.pagerank(edges, 9, cfg).vector
        model = LinalgModel(cfg).eigenvector(g, eigenvalue=1.0)
        assert np.max(np.abs(model - spice)) < tol, kw


def test_fitted_settling_time_predicts_a_held_out_transient():
    rng = np.random.default_rng(9)
    cfg = la.LinalgConfig()
    lam, arr, ts = [], [], []
    for n, diag in ((4, 0.8), (8, 0.3), (12, 0.5)):
        a = rng.uniform(0, 1, (n, n)) + diag * n * np.eye(n)
        # worst-case input: the step response is all in the slowest mode
        r = la.solve(a, la.slowest_mode_rhs(a), cfg, transient=True)
        lam.append(r.lambda_min)
        arr.append(1)
        ts.append(r.t_settle_s)
    model = LinalgModel(cfg).fit(np.array(lam), np.array(arr), np.array(ts))
    assert 0.7 < model.settle_coef_[1] < 1.3       # the single-pole formula holds
    a = rng.uniform(0, 1, (16, 16)) + 0.2 * 16 * np.eye(16)
    b = la.slowest_mode_rhs(a)
    held = la.solve(a, b, cfg, transient=True)
    assert model.solve(a, b).t_settle_s == pytest.approx(held.t_settle_s, rel=0.15)


@pytest.mark.parametrize("kw", [
    dict(r_wire_row_ohm=1.0, r_wire_col_ohm=1.0),
    dict(r_wire_col_ohm=3.0, r_driver_ohm=200.0),
    dict(r_wire_row_ohm=1.0, r_wire_col_ohm=0.5, r_driver_ohm=50.0, two_arrays=True),
], ids=["both-wires", "col-wire+driver", "two-arrays"])
def test_wire_relaxation_equals_the_sparse_network_solve(kw):
    # the large-N method (alternating line solves) against the exact sparse LU
    rng = np.random.default_rng(3)
    n = 40
    a = _matrix(n, rng, signed=kw.get("two_arrays", False))
    b = rng.uniform(-1, 1, n)
    cfg = la.LinalgConfig(opamp=OpAmp(dc_gain=3e3, offset_v=1e-3), **kw)
    exact = LinalgModel(cfg, method="sparse").solve(a, b).u_v
    relax = LinalgModel(cfg, method="relax").solve(a, b).u_v
    assert np.max(np.abs(relax - exact)) < 1e-10 * np.max(np.abs(exact))
