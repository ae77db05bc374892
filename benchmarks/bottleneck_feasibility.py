"""Can all 11 published Bottleneck ratios hold at once? A linear feasibility check.

    python benchmarks/bottleneck_feasibility.py [--tol 0.02] [--grid 61] [--json]

Seed 001 (Sec. V-C, Fig. 9) gives 6 performance and 5 energy-efficiency ratios between the
five mappings of its Bottleneck layer (CORES, IMA c_job=8, IMA c_job=16, HYBRID, IMA+DW).
Model, with every block at a constant power in every mapping (the cluster's power while that
block works, base power included), times normalised to T_CORES = 1 and powers to the 8
busy cores (P_C = 1, so E_CORES = 1):

    CORES          T = a + b + r                 E = a + b + r
    IMA c_job=j    T = p + d_j + r               E = P_I (p + d_j) + r
    HYBRID         T = p + h + r                 E = P_I p + h + r
    IMA+DW         T = p + w + r                 E = P_I p + P_D w + r

a, b: point-wise and depth-wise on the cores; r: residual (cores, every mapping); p: the
point-wise layers on the IMA; d_j: depth-wise on the IMA; h >= b: depth-wise on the cores
with HWC<->CHW marshalling; w: depth-wise on the DW accelerator. Each published ratio is
met within +-tol. For fixed (P_I, P_D) every constraint is linear in the times, so a grid
over (P_I, P_D) with one linear program per point maps the feasible region exactly on the
grid. For each feasible point the script reports the range of h / T_HYBRID (the share of
HYBRID time spent in depth-wise on the cores) and prints aimc's own values beside it.
"""

from __future__ import annotations

import argparse
import json
import sys

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)
import numpy as np
from scipy.optimize import linprog

#: seed 001 Sec. V-C: performance (speed-up) and energy-efficiency ratios
PERF = {"cjob16": 2.27, "cjob8": 1.23, "hybrid": 4.6, "imadw": 11.5}
PERF_CROSS = {("cjob16", "hybrid"): 2.0, ("hybrid", "imadw"): 2.6}   # T_a / T_b
EFF = {"cjob8": 1 / 1.23, "hybrid": 3.4, "imadw": 9.2}
EFF_CROSS = {("cjob16", "hybrid"): 2.3, ("hybrid", "imadw"): 2.7}    # E_a / E_b
N_RATIOS = len(PERF) + len(PERF_CROSS) + len(EFF) + len(EFF_CROSS)

VARS = ("a", "b", "r", "p", "d8", "d16", "h", "w", "e8", "e16")
#: model A: the IMA draws P_I in every job; model B: its depth-wise jobs (9 c_job x c_job
#: cells of 65,536 in use) draw their own, free power: energies e8, e16 >= 0
MODELS = {"A": "IMA at one power in every job",
          "B": "IMA's depth-wise jobs at their own (free) power"}


def _rows(p_i: float, p_d: float, model: str = "B") -> dict[str, dict[str, np.ndarray]]:
    """Coefficient vectors of T and E per mapping over VARS."""
    def vec(**kw: float) -> np.ndarray:
        v = np.zeros(len(VARS))
        for k, x in kw.items():
            v[VARS.index(k)] = x
        return v

    return {
        "cores": {"T": vec(a=1, b=1, r=1), "E": vec(a=1, b=1, r=1)},
        "cjob8": {"T": vec(p=1, d8=1, r=1),
                  "E": vec(p=p_i, d8=p_i, r=1) if model == "A" else vec(p=p_i, e8=1, r=1)},
        "cjob16": {"T": vec(p=1, d16=1, r=1),
                   "E": vec(p=p_i, d16=p_i, r=1) if model == "A" else vec(p=p_i, e16=1, r=1)},
        "hybrid": {"T": vec(p=1, h=1, r=1), "E": vec(p=p_i, h=1, r=1)},
        "imadw": {"T": vec(p=1, w=1, r=1), "E": vec(p=p_i, w=p_d, r=1)},
    }


def constraints(p_i: float, p_d: float, tol: float, model: str = "B"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(A_ub, b_ub, A_eq, b_eq) of the linear feasibility problem."""
    m = _rows(p_i, p_d, model)
    a_ub, b_ub = [], []

    def within(num: np.ndarray, den: np.ndarray, ratio: float) -> None:
        # (1 - tol) ratio <= num / den <= (1 + tol) ratio, den > 0
        a_ub.append((1 - tol) * ratio * den - num)
        b_ub.append(0.0)
        a_ub.append(num - (1 + tol) * ratio * den)
        b_ub.append(0.0)

    for k, s in PERF.items():          # T_CORES / T_k = s
        within(m["cores"]["T"], m[k]["T"], s)
    for (x, y), s in PERF_CROSS.items():
        within(m[x]["T"], m[y]["T"], s)
    for k, s in EFF.items():           # E_CORES / E_k = s
        within(m["cores"]["E"], m[k]["E"], s)
    for (x, y), s in EFF_CROSS.items():
        within(m[x]["E"], m[y]["E"], s)
    hb = np.zeros(len(VARS))           # h >= b: marshalling only adds
    hb[VARS.index("b")], hb[VARS.index("h")] = 1, -1
    a_ub.append(hb)
    b_ub.append(0.0)
    a_eq = np.array([m["cores"]["T"]])
    return np.array(a_ub), np.array(b_ub), a_eq, np.array([1.0])


def share_range(p_i: float, p_d: float, tol: float, model: str = "B"
                ) -> tuple[float, float] | None:
    """min and max of h / T_HYBRID over the feasible set, or None if infeasible.
    h / T_H is a linear-fractional objective: Charnes-Cooper, with T_H fixed to 1 by
    scaling (every constraint is homogeneous except T_CORES = 1, which scales too)."""
    a_ub, b_ub, a_eq, b_eq = constraints(p_i, p_d, tol, model)
    m = _rows(p_i, p_d, model)
    # variables y = t * x, t = 1 / T_H  >= 0: T_H(y) = 1 and T_CORES(y) = t
    n = len(VARS)
    a_ub2 = np.hstack([a_ub, -b_ub[:, None]])
    a_eq2 = np.vstack([np.hstack([m["hybrid"]["T"], [0.0]]),
                       np.hstack([a_eq[0], [-b_eq[0]]])])
    b_eq2 = np.array([1.0, 0.0])
    out = []
    for sign in (1, -1):
        c = np.zeros(n + 1)
        c[VARS.index("h")] = sign
        res = linprog(c, A_ub=a_ub2, b_ub=np.zeros(len(a_ub2)), A_eq=a_eq2, b_eq=b_eq2,
                      bounds=[(0, None)] * (n + 1), method="highs")
        if res.status != 0:
            return None
        out.append(sign * res.fun)
    return out[0], out[1]


def aimc_values() -> dict[str, float]:
    """The same quantities in aimc's calibrated model: block powers (layer energy / layer
    time, normalised to the cores' point-wise phase) and HYBRID's depth-wise share."""
    from aimc.system.cluster.config import ClusterConfig
    from aimc.system.studies.calibration import bottleneck_results

    res = bottleneck_results(ClusterConfig())

    def power(mapping: str, layer: str) -> float:
        lr = next(x for x in res[mapping].layers if x.name == layer)
        return lr.energy_j / lr.latency_s

    p_c = power("CORES", "pw_expand")
    hybrid = res["HYBRID"]
    dw = next(x for x in hybrid.layers if x.name == "dw")
    return {"p_ima_over_cores": power("IMA+DW", "pw_expand") / p_c,
            "p_dwa_over_cores": power("IMA+DW", "dw") / p_c,
            "hybrid_dw_share": dw.latency_s / hybrid.latency_s}


def scan(tol: float, grid: int, model: str = "B") -> dict[str, object]:
    p_is = np.geomspace(0.1, 10.0, grid)
    p_ds = np.geomspace(0.01, 10.0, grid)
    feasible = []
    for p_i in p_is:
        for p_d in p_ds:
            rng = share_range(p_i, p_d, tol, model)
            if rng is not None:
                feasible.append((float(p_i), float(p_d), rng[0], rng[1]))
    return {"tol": tol, "n_ratios": N_RATIOS, "grid": grid, "model": model,
            "feasible": feasible}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tol", type=float, default=0.02, help="relative tolerance per ratio")
    ap.add_argument("--grid", type=int, default=61, help="grid points per power axis")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if not 0 < a.tol < 1 or a.grid < 2:
        ap.error("--tol must be in (0, 1) and --grid >= 2")
    out = {m: scan(a.tol, a.grid, m) for m in MODELS}
    out["aimc"] = aimc_values()
    if a.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{N_RATIOS} published Bottleneck ratios, each within +-{100 * a.tol:g} %, every "
          f"block at a constant power; grid P_IMA/P_cores 0.1-10 x P_DWA/P_cores 0.01-10, "
          f"{a.grid} x {a.grid} points")
    for m, what in MODELS.items():
        f = out[m]["feasible"]
        print(f"model {m} ({what}):")
        if not f:
            print("  no feasible point: the ratios contradict each other under this model")
            continue
        arr = np.array(f)
        print(f"  feasible points: {len(f)} of {a.grid ** 2}")
        print(f"  P_IMA / P_cores : {arr[:, 0].min():.2f} - {arr[:, 0].max():.2f}")
        print(f"  P_DWA / P_cores : {arr[:, 1].min():.3f} - {arr[:, 1].max():.3f}")
        print(f"  depth-wise on the cores, share of HYBRID time: "
              f"{100 * arr[:, 2].min():.0f} - {100 * arr[:, 3].max():.0f} %")
    v = out["aimc"]
    print(f"aimc (calibrated): P_IMA / P_cores {v['p_ima_over_cores']:.2f}, P_DWA / P_cores "
          f"{v['p_dwa_over_cores']:.3f}, depth-wise share of HYBRID time "
          f"{100 * v['hybrid_dw_share']:.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
