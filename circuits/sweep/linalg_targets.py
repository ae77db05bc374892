"""Sweep targets of the closed-loop linear-algebra circuits (:mod:`aimc.circuits.linalg`).

* ``linalg_solve``: solve Ax = b for a random matrix drawn from the point's seed —
  diagonally dominant (``matrix = "dominant"``: ``U(0,1) + diag·N·I``), mixed-sign on
  two arrays (``"signed"``), or with the loop matrix's ``λ_min`` held at ``lambda_min``
  (``"lambda_min"``, the settling-time-versus-N family). ``analysis = "op"`` records
  the solution and its error against numpy; ``"tran"`` also the settling time to
  0.1 % and the energy.
* ``linalg_pagerank``: PageRank of a random directed graph (edge probability
  ``edge_prob``, dangling pages linked to all) from the eigenvector circuit, against
  power iteration.

Registered in :data:`aimc.circuits.sweep.targets.TARGETS` when either module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from aimc.circuits.sweep.targets import (
    REQUIRED,
    Output,
    Param,
    PointRun,
    Target,
    _hash,
    register,
)


def _circuit_params() -> dict[str, Param]:
    return {
        "device": Param(str, "linear", "", "device I-V model", choices=("linear", "pcm", "rram")),
        "r_wire_row_ohm": Param(float, 0.0, "ohm", "driven-line wire resistance per cell",
                                low=0.0),
        "r_wire_col_ohm": Param(float, 0.0, "ohm", "sense-line wire resistance per cell",
                                low=0.0),
        "r_driver_ohm": Param(float, 0.0, "ohm", "amplifier-to-line resistance", low=0.0),
        "ideal": Param(bool, False, "", "ideal op-amps (gain 1e9, no pole; op only)"),
        "dc_gain": Param(float, 1e4, "1", "op-amp DC gain (assumed 80 dB)", low=10.0),
        "gbw_hz": Param(float, 10e6, "Hz", "op-amp gain-bandwidth product (assumed)",
                        low=0.0, low_open=True),
        "offset_v": Param(float, 0.0, "V", "op-amp input offset"),
        "g_max_s": Param(float, 25e-6, "S", "conductance of the largest |entry| (PCM, "
                         "FACTS.md)", low=0.0, low_open=True),
    }


def _cfg(p: dict[str, Any], two_arrays: bool = False):
    from aimc.circuits.linalg import LinalgConfig
    from aimc.circuits.opamp import OpAmp

    op = OpAmp.make_ideal(p["offset_v"]) if p["ideal"] else OpAmp(
        dc_gain=p["dc_gain"], gbw_hz=p["gbw_hz"], offset_v=p["offset_v"])
    return LinalgConfig(opamp=op, device=p["device"], r_wire_row_ohm=p["r_wire_row_ohm"],
                        r_wire_col_ohm=p["r_wire_col_ohm"], r_driver_ohm=p["r_driver_ohm"],
                        g_max_s=p["g_max_s"], two_arrays=two_arrays)


# ---- solve ------------------------------------------------------------------------------------
def solve_case(p: dict[str, Any]):
    """(config, A, b) of one point, drawn from its seed."""
    from aimc.circuits import linalg as la

    p = LINALG_SOLVE.complete(p)
    rng = np.random.default_rng(int(p["seed"]))
    n = p["n"]
    if p["matrix"] == "dominant":
        a = rng.uniform(0, 1, (n, n)) + p["diag"] * n * np.eye(n)
    elif p["matrix"] == "signed":
        a = rng.uniform(-1, 1, (n, n)) + p["diag"] * n * np.eye(n)
    else:
        a = la.matrix_with_lambda_min(n, p["lambda_min"], rng)
    b = la.slowest_mode_rhs(a) if p["input"] == "slowest" else rng.uniform(-1, 1, n)
    return _cfg(p, two_arrays=p["matrix"] == "signed"), a, b


def _solve_netlist(p: dict[str, Any]) -> str:
    from aimc.circuits import linalg as la

    cfg, a, b = solve_case(p)
    mp = la.mapping_for(a, b, cfg)
    if p["analysis"] == "tran":
        t = 4 * la.settle_time_predicted(la.check_stability(a), cfg.opamp)
        return la.solver_design(a, b, cfg, mp, "tran", t).text()
    return la.solver_design(a, b, cfg, mp, "op").text()


def _solve_prepare(p: dict[str, Any], _n: int) -> Callable[[float], PointRun]:
    from aimc.circuits import linalg as la

    cfg, a, b = solve_case(p)
    text_hash = _hash(_solve_netlist(p))
    ref = np.linalg.solve(a, b)

    def execute(timeout_s: float) -> PointRun:
        r = la.solve(a, b, cfg, transient=p["analysis"] == "tran", timeout_s=timeout_s)
        out = {
            "x": r.x, "x_numpy": ref,
            "rel_error": float(np.max(np.abs(r.x - ref)) / np.max(np.abs(ref))),
            "residual": float(np.linalg.norm(a @ r.x - b) / np.linalg.norm(b)),
            "lambda_min": r.lambda_min, "cond": r.cond, "power_w": r.power_w,
            "t_settle_s": r.t_settle_s, "t_settle_predicted_s": r.t_settle_predicted_s,
            "energy_j": r.energy_j,
        }
        return PointRun(out, r.sim_time_s, text_hash)

    return execute


LINALG_SOLVE = Target(
    name="linalg_solve",
    doc="Closed-loop crossbar solving Ax = b (op: solution vs numpy; tran: settling time "
        "to 0.1 % and energy) for a random matrix drawn from the point seed.",
    params={
        "n": Param(int, REQUIRED, "1", "matrix size N", low=1, high=128),
        "matrix": Param(str, "dominant", "", "matrix family",
                        choices=("dominant", "signed", "lambda_min")),
        "diag": Param(float, 0.5, "1", "dominant/signed: diagonal added, times N", low=0.0),
        "lambda_min": Param(float, 0.2, "1", "lambda_min family: smallest real part of the "
                            "loop matrix's eigenvalues", low=0.0, low_open=True, high=0.99),
        "input": Param(str, "random", "", "b: U(-1,1), or the slowest mode (worst-case "
                       "settling)", choices=("random", "slowest")),
        **_circuit_params(),
    },
    outputs={
        "x": Output("1", "solution from the circuit", lambda p: (p["n"],)),
        "x_numpy": Output("1", "numpy.linalg.solve", lambda p: (p["n"],)),
        "rel_error": Output("1", "max |x - x_numpy| / max |x_numpy|"),
        "residual": Output("1", "||A x - b|| / ||b||"),
        "lambda_min": Output("1", "smallest real part of eig(S^-1 A)"),
        "cond": Output("1", "2-norm condition number of A"),
        "power_w": Output("W", "rails' power at the end (nan for ideal op-amps)"),
        "t_settle_s": Output("s", "settling time to 0.1 % after the step of b (tran)"),
        "t_settle_predicted_s": Output("s", "ln(1000)/(2 pi GBW lambda_min) (tran)"),
        "energy_j": Output("J", "rails' energy over the settling time (tran)"),
    },
    prepare_fn=_solve_prepare,
    netlist_fn=_solve_netlist,
    analyses=("op", "tran"),
    random=True,
)


# ---- pagerank ---------------------------------------------------------------------------------
def pagerank_case(p: dict[str, Any]) -> tuple[np.ndarray, int]:
    p = LINALG_PAGERANK.complete(p)
    rng = np.random.default_rng(int(p["seed"]))
    n = p["n"]
    mask = (rng.random((n, n)) < p["edge_prob"]) & ~np.eye(n, dtype=bool)
    edges = np.argwhere(mask)
    if edges.size == 0:
        edges = np.array([[0, 1 % n]])
    return edges, n


def _pagerank_netlist(p: dict[str, Any]) -> str:
    from aimc.circuits import linalg as la

    p = LINALG_PAGERANK.complete(p)
    edges, n = pagerank_case(p)
    g = la.google_matrix(edges, n, p["damping"], "uniform")
    return la.eig_design(g, 1.0, _cfg(p), np.full(n, 0.08), 1e-6).text()


def _pagerank_prepare(p: dict[str, Any], _n: int) -> Callable[[float], PointRun]:
    from aimc.circuits import linalg as la

    edges, n = pagerank_case(p)
    cfg = _cfg(p)
    g = la.google_matrix(edges, n, p["damping"], "uniform")
    ref, _ = la.power_iteration(g)
    text_hash = _hash(_pagerank_netlist(p))

    def execute(timeout_s: float) -> PointRun:
        r = la.pagerank(edges, n, cfg, p["damping"], "uniform", timeout_s=timeout_s)
        v = r.vector
        out = {"pagerank": v / v.sum(), "pagerank_ref": ref,
               "cosine": float(v @ ref / np.linalg.norm(ref)),
               "ranking_equal": la.same_ranking(v, ref),
               "t_settle_s": r.t_settle_s, "energy_j": r.energy_j}
        return PointRun(out, r.sim_time_s, text_hash)

    return execute


LINALG_PAGERANK = Target(
    name="linalg_pagerank",
    doc="PageRank of a random directed graph from the eigenvector circuit (transient), "
        "against power iteration.",
    params={
        "n": Param(int, REQUIRED, "1", "pages", low=2, high=128),
        "edge_prob": Param(float, 0.1, "1", "probability of each directed link", low=0.0,
                           high=1.0),
        "damping": Param(float, 0.85, "1", "PageRank damping factor", low=0.0, low_open=True,
                         high=0.999),
        **{k: v for k, v in _circuit_params().items() if k != "ideal"},
        "ideal": Param(bool, False, "", "must be false: the circuit needs finite bandwidth",
                       choices=(False,)),
    },
    outputs={
        "pagerank": Output("1", "PageRank from the circuit (sums to 1)", lambda p: (p["n"],)),
        "pagerank_ref": Output("1", "power iteration", lambda p: (p["n"],)),
        "cosine": Output("1", "cosine similarity circuit vs power iteration"),
        "ranking_equal": Output("1", "the circuit orders every pair of pages as power "
                                "iteration does (exact ties excepted)"),
        "t_settle_s": Output("s", "settling time of the output direction to 0.1 %"),
        "energy_j": Output("J", "rails' energy over the settling time"),
    },
    prepare_fn=_pagerank_prepare,
    netlist_fn=_pagerank_netlist,
    analyses=("tran",),
    random=True,
)

LINALG_TARGETS: tuple[Target, ...] = (LINALG_SOLVE, LINALG_PAGERANK)
for _t in LINALG_TARGETS:
    register(_t)
