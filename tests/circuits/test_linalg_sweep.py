"""The shipped linear-algebra sweep specs run through the sweep engine into HDF5, and
their recorded numbers obey the closed forms (real ngspice, real HDF5)."""

from __future__ import annotations

import numpy as np
from aimc.circuits import linalg as la
from aimc.circuits.sweep.linalg_targets import solve_case
from aimc.circuits.sweep.run import run_sweep
from aimc.circuits.sweep.spec import load_spec
from aimc.circuits.sweep.store import read_sweep


def test_linalg_solve_ci_sweep_obeys_the_finite_gain_closed_form(tmp_path):
    spec = load_spec("linalg_solve_ci")
    out = tmp_path / "solve.h5"
    s = run_sweep(spec, out, workers=2, progress=False)
    assert s.ok and s.points_ok == spec.n_points() == 12
    d = read_sweep(out)
    points = spec.points()
    err_by_wire: dict[float, list[float]] = {}
    for i, pt in enumerate(points):
        params = spec.point_params(pt)
        _, a, b = solve_case(params)
        n = a.shape[0]
        x = d.outputs["x"][i, :n]
        np.testing.assert_array_equal(d.outputs["x_numpy"][i, :n], np.linalg.solve(a, b))
        if params["r_wire_row_ohm"] == 0:
            # KCL with the sense line at -u/A0: (A + diag(S)/A0) x = b
            want = np.linalg.solve(a + np.diag(np.abs(a).sum(axis=1)) / params["dc_gain"], b)
            assert np.max(np.abs(x - want)) < 1e-9 * np.max(np.abs(want))
        if params["dc_gain"] == 1e5:
            err_by_wire.setdefault(params["r_wire_row_ohm"], []).append(
                float(d.outputs["rel_error"][i]))
    # IR drop grows the error monotonically with the wire resistance
    means = [np.mean(err_by_wire[r]) for r in sorted(err_by_wire)]
    assert means[0] < means[1] < means[2]


def test_linalg_settle_ci_sweep_is_independent_of_n(tmp_path):
    spec = load_spec("linalg_settle_ci")
    out = tmp_path / "settle.h5"
    assert run_sweep(spec, out, workers=2, progress=False).ok
    d = read_sweep(out)
    t, t_pred = d.outputs["t_settle_s"], d.outputs["t_settle_predicted_s"]
    lam = d.outputs["lambda_min"]
    np.testing.assert_allclose(lam, d.inputs["lambda_min"], rtol=1e-6)
    # single-pole loop: t = ln(1000)/(2π·GBW·λ_min) whatever N (8, 16, 32)
    np.testing.assert_allclose(t, t_pred, rtol=0.15)
    for lm in np.unique(d.inputs["lambda_min"]):
        sel = d.inputs["lambda_min"] == lm
        assert np.ptp(t[sel]) / np.mean(t[sel]) < 0.15
    assert la.SETTLE_TOL == 1e-3
