"""Closed-loop linear-algebra crossbars: speed, accuracy, settling and energy.

    python benchmarks/bench_linalg.py [--quick] [--json OUT.json] [--plots DIR]

1. **Surrogate vs SPICE speed** of one solve (operating point, 1 Ω wires on both line
   directions, linear devices), paired rounds, medians, wall and CPU time (getrusage
   of this process: ngspice runs in it as a shared library); the surrogate alone at
   256-1024.
2. **Settling time vs N** (8..128) for matrices whose loop λ_min is held fixed, two
   op-amp bandwidths; least-squares fit of ``t = c·ln(1000)/(2π·GBW·λ_min)`` and of
   a power law ``t ∝ N^β``.
3. **Solution error vs condition number and wire resistance** (SPICE, N = 32).
4. **Surrogate relative residual vs condition number** at 256-1024 beside numpy's.
5. **PageRank**: the 9-page graph and a 64-node random graph, SPICE vs power
   iteration; time and energy of one solve; throughput and efficiency under two
   operation counts, beside the seed's 0.183 TOPS / 362 TOPS/W (TPU 92 TOPS /
   2.3 TOPS/W).
"""

from __future__ import annotations

import os

# one BLAS thread: on a shared 2-core machine threaded LAPACK ran 20x slower (eigvals
# of 256x256: 3.0 s with 2 threads under load, 0.14 s with one)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import math
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from aimc.circuits import linalg as la
from aimc.circuits.opamp import OpAmp
from aimc.surrogate.linalg_model import LinalgModel
from tqdm import tqdm

PAGES9 = np.array([(0, 1), (0, 3), (1, 2), (1, 3), (1, 8), (2, 0), (2, 4), (3, 2), (3, 4),
                   (4, 3), (4, 5), (5, 3), (5, 6), (6, 3), (6, 7), (7, 3), (7, 8), (8, 0),
                   (8, 3)])


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn):
    w0, c0 = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - w0, _cpu() - c0


def bench_speed(sizes: list[int], big: list[int], rounds: int) -> list[dict]:
    rows = []
    cfg = la.LinalgConfig(r_wire_row_ohm=1.0, r_wire_col_ohm=1.0)
    model = LinalgModel(cfg)
    for n in tqdm(sizes + big, desc="speed", leave=False):
        rng = np.random.default_rng(n)
        a = rng.uniform(0, 1, (n, n)) + 0.5 * n * np.eye(n)
        b = rng.uniform(-1, 1, n)
        sp_w, sp_c, su_w, su_c = [], [], [], []
        err = float("nan")
        for _ in range(rounds if n in sizes else 1):
            if n in sizes:
                r, w, c = _timed(lambda a=a, b=b: la.solve(a, b, cfg))
                sp_w.append(w)
                sp_c.append(c)
            m, w, c = _timed(lambda a=a, b=b: model.solve(a, b))
            su_w.append(w)
            su_c.append(c)
            net_s = m.timings["network_s"]
            if n in sizes:
                err = float(np.max(np.abs(m.u_v - r.u_v)) / np.max(np.abs(r.u_v)))
        row = {"n": n, "surrogate_wall_s": statistics.median(su_w),
               "surrogate_cpu_s": statistics.median(su_c), "surrogate_network_s": net_s,
               "method": "relax" if n > model.relax_above_n else "sparse"}
        if sp_w:
            row.update(spice_wall_s=statistics.median(sp_w), spice_cpu_s=statistics.median(sp_c),
                       speedup_wall=statistics.median(sp_w) / statistics.median(su_w),
                       surrogate_vs_spice_max_rel=err)
        rows.append(row)
    return rows


def bench_settling(sizes: list[int], lams: list[float], gbws: list[float]) -> dict:
    pts = []
    jobs = [(n, lam, g) for g in gbws for lam in lams for n in sizes]
    for n, lam, gbw in tqdm(jobs, desc="settling", leave=False):
        rng = np.random.default_rng(1000 * n + int(lam * 100))
        a = la.matrix_with_lambda_min(n, lam, rng)
        cfg = la.LinalgConfig(opamp=OpAmp(gbw_hz=gbw))
        r, w, _ = _timed(lambda a=a, cfg=cfg: la.solve(a, la.slowest_mode_rhs(a), cfg,
                                                         transient=True))
        pts.append({"n": n, "lambda_min": r.lambda_min, "gbw_hz": gbw,
                    "t_settle_s": r.t_settle_s, "t_formula_s": r.t_settle_predicted_s,
                    "energy_j": r.energy_j, "wall_s": w})
    t = np.array([p["t_settle_s"] for p in pts])
    f = np.array([p["t_formula_s"] for p in pts])
    c = float(np.sum(f * t) / np.sum(f * f))
    rel = c * f / t - 1
    # power law in N at fixed (λ_min, GBW): t = k·N^β, one β for all groups
    ns = np.array([p["n"] for p in pts], float)
    groups = {(p["lambda_min"].__round__(6), p["gbw_hz"]) for p in pts}
    x_cols = [np.log(ns)]
    for gkey in sorted(groups):
        x_cols.append(np.array([1.0 if (round(p["lambda_min"], 6), p["gbw_hz"]) == gkey
                                else 0.0 for p in pts]))
    coef, *_ = np.linalg.lstsq(np.stack(x_cols, 1), np.log(t), rcond=None)
    return {"points": pts, "fit_c": c, "fit_rms_rel": float(np.sqrt(np.mean(rel ** 2))),
            "fit_max_rel": float(np.max(np.abs(rel))), "beta_N": float(coef[0])}


def spd_matrix(n: int, kappa: float, rng: np.random.Generator) -> np.ndarray:
    """Symmetric positive definite, eigenvalues log-spaced 1 .. 1/kappa (condition number
    kappa), random eigenvectors: mixed signs (two arrays); its loop matrix S^-1 A is
    similar to S^-1/2 A S^-1/2, positive definite, so the loop always settles."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.logspace(0, -np.log10(kappa), n)) @ q.T


def bench_error(n: int, kappas: list[float], wires: list[float], gains: list[float]) -> list:
    rows = []
    jobs = [(k, r, g) for k in kappas for r in wires for g in gains]
    for kappa, r_w, gain in tqdm(jobs, desc="error", leave=False):
        rng = np.random.default_rng(77)
        a = spd_matrix(n, kappa, rng)
        b = rng.uniform(-1, 1, n)
        op = OpAmp.make_ideal() if gain == math.inf else OpAmp(dc_gain=gain)
        cfg = la.LinalgConfig(opamp=op, r_wire_row_ohm=r_w, r_wire_col_ohm=r_w,
                              two_arrays=True)
        res = la.solve(a, b, cfg)
        x = np.linalg.solve(a, b)
        rows.append({"kappa": kappa, "cond": res.cond, "r_wire_ohm": r_w, "gain": gain,
                     "lambda_min": res.lambda_min,
                     "rel_error": float(np.linalg.norm(res.x - x) / np.linalg.norm(x))})
    return rows


def bench_residual(sizes: list[int], kappas: list[float]) -> list[dict]:
    rows = []
    for n in tqdm(sizes, desc="residual", leave=False):
        for d in kappas:
            rng = np.random.default_rng(n)
            a = spd_matrix(n, d, rng)
            b = rng.uniform(-1, 1, n)
            wires = (0.0, 0.5) if n <= 256 else (0.0,)   # relaxation at 1024: minutes
            for (label, op), r_w in ((o, r) for o in (("ideal", OpAmp.make_ideal()),
                                                      ("A0=1e4", OpAmp()))
                                     for r in wires):
                m = LinalgModel(la.LinalgConfig(opamp=op, r_wire_row_ohm=r_w,
                                                r_wire_col_ohm=r_w, two_arrays=True))
                (res, w, _) = _timed(lambda a=a, b=b, m=m: m.solve(a, b))
                xn = np.linalg.solve(a, b)
                nb = np.linalg.norm(b)
                rows.append({"n": n, "kappa": d, "cond": res.cond, "opamp": label,
                             "r_wire_ohm": r_w,
                             "residual": float(np.linalg.norm(a @ res.x - b) / nb),
                             "residual_numpy": float(np.linalg.norm(a @ xn - b) / nb),
                             "wall_s": w})
    return rows


def _ops(n: int, iters: int) -> dict[str, float]:
    return {"ops_one_mvm": 2.0 * n * n, "ops_power_iteration": 2.0 * n * n * iters}


def bench_pagerank(n_random: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(1)
    edges64 = np.array([(i, j) for i in range(n_random) for j in range(n_random)
                        if i != j and rng.random() < 0.08])
    for name, edges, n, dang in (("9-page", PAGES9, 9, "error"),
                                 (f"{n_random}-node random", edges64, n_random, "uniform")):
        g = la.google_matrix(edges, n, dangling=dang)
        ref, _ = la.power_iteration(g)
        # iterations power iteration needs to the circuit's own accuracy (0.1 % settle)
        x = np.full(n, 1.0 / n)
        iters = 0
        while True:
            iters += 1
            y = g @ x
            y /= y.sum()
            if np.max(np.abs(y - ref)) <= 1e-3 * np.max(ref):
                break
            x = y
        r, w, c = _timed(lambda edges=edges, n=n, dang=dang: la.pagerank(edges, n,
                                                                           dangling=dang))
        ops = _ops(n, iters)
        op = la.LinalgConfig().opamp
        rows.append({
            "graph": name, "n": n, "cosine": float(r.vector @ ref / np.linalg.norm(ref)),
            "ranking_equal": la.same_ranking(r.vector, ref), "t_settle_s": r.t_settle_s,
            "energy_j": r.energy_j, "power_iterations_to_0.1%": iters,
            "e_quiescent_j": 2 * op.v_supply_v * op.i_q_a * 2 * n * r.t_settle_s,
            **ops,
            "tops_one_mvm": ops["ops_one_mvm"] / r.t_settle_s / 1e12,
            "tops_per_w_one_mvm": ops["ops_one_mvm"] / r.energy_j / 1e12,
            "tops_power_iteration": ops["ops_power_iteration"] / r.t_settle_s / 1e12,
            "tops_per_w_power_iteration": ops["ops_power_iteration"] / r.energy_j / 1e12,
            "spice_wall_s": w, "spice_cpu_s": c})
    return rows


def plots(res: dict, outdir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    out = []
    st = res["settling"]["points"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    keys = sorted({(round(p["lambda_min"], 3), p["gbw_hz"]) for p in st})
    for lam, gbw in keys:
        sel = [p for p in st if round(p["lambda_min"], 3) == lam and p["gbw_hz"] == gbw]
        ax.plot([p["n"] for p in sel], [p["t_settle_s"] * 1e6 for p in sel], "o-",
                label=f"λmin={lam}, GBW={gbw / 1e6:g} MHz")
        ax.plot([p["n"] for p in sel],
                [res["settling"]["fit_c"] * p["t_formula_s"] * 1e6 for p in sel], "k:", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel("settling time to 0.1 % (µs)")
    ax.legend(fontsize=7)
    ax.set_title("SPICE (dots) vs c·ln(1000)/(2π·GBW·λmin) (dotted)", fontsize=9)
    fig.tight_layout()
    p = outdir / "linalg_settling.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    out.append(str(p))
    er = res["error"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for r_w in sorted({r["r_wire_ohm"] for r in er}):
        for gain in sorted({r["gain"] for r in er}):
            sel = [r for r in er if r["r_wire_ohm"] == r_w and r["gain"] == gain]
            ax.loglog([r["cond"] for r in sel], [r["rel_error"] for r in sel], "o-",
                      label=f"{r_w:g} Ω, A0={'ideal' if gain == math.inf else f'{gain:.0e}'}")
    ax.set_xlabel("condition number of A")
    ax.set_ylabel("relative error of x (SPICE)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    p = outdir / "linalg_error.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    out.append(str(p))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", metavar="OUT.json")
    ap.add_argument("--plots", metavar="DIR")
    args = ap.parse_args()
    q = args.quick
    res = {
        "speed": bench_speed([16, 32] if q else [16, 32, 64, 128], [256] if q else
                             [256, 512, 1024], 1 if q else 3),
        "settling": bench_settling([8, 16] if q else [8, 16, 32, 64, 128],
                                   [0.2] if q else [0.1, 0.3], [10e6] if q else [1e6, 10e6]),
        "error": bench_error(16 if q else 32, [10, 1e3] if q else [10, 1e2, 1e3, 1e4],
                             [0.0, 2.0] if q else [0.0, 1.0, 5.0],
                             [math.inf] if q else [math.inf, 1e4]),
        "residual": bench_residual([256] if q else [256, 1024], [10, 1e3]),
        "pagerank": bench_pagerank(16 if q else 64),
    }
    print("\n1. surrogate vs SPICE, one solve (op), 1 Ω wires both ways")
    for r in res["speed"]:
        line = (f"  N={r['n']:5d} surrogate ({r['method']}) {r['surrogate_wall_s'] * 1e3:9.2f} ms "
                f"wall {r['surrogate_cpu_s'] * 1e3:9.2f} ms CPU (network "
                f"{r['surrogate_network_s'] * 1e3:.1f} ms, rest: SVD/eigenvalue checks)")
        if "spice_wall_s" in r:
            line += (f" | SPICE {r['spice_wall_s']:.3f} s wall {r['spice_cpu_s']:.3f} s CPU | "
                     f"{r['speedup_wall']:.0f}x | max rel diff "
                     f"{r['surrogate_vs_spice_max_rel']:.1e}")
        print(line)
    s = res["settling"]
    print(f"\n2. settling vs N: t = c·ln(1000)/(2π·GBW·λmin), c = {s['fit_c']:.3f} "
          f"(fitted; RMS {s['fit_rms_rel']:.1%}, max {s['fit_max_rel']:.1%}); "
          f"t ∝ N^{s['beta_N']:.3f}")
    for p in s["points"]:
        print(f"  N={p['n']:4d} λmin={p['lambda_min']:.3f} GBW={p['gbw_hz'] / 1e6:4g} MHz "
              f"t={p['t_settle_s'] * 1e9:9.1f} ns formula={p['t_formula_s'] * 1e9:9.1f} ns "
              f"E={p['energy_j'] * 1e9:.3f} nJ (SPICE {p['wall_s']:.1f} s)")
    print("\n3. SPICE solution error (‖x-x*‖/‖x*‖) vs condition number and wires")
    for r in res["error"]:
        print(f"  cond={r['cond']:9.3g} λmin={r['lambda_min']:.2e} wire={r['r_wire_ohm']:4g} Ω "
              f"A0={r['gain']:g} err={r['rel_error']:.2e}")
    print("\n4. surrogate relative residual vs numpy (SPD, two arrays)")
    for r in res["residual"]:
        print(f"  N={r['n']:5d} cond={r['cond']:9.3g} {r['opamp']:7s} "
              f"wire={r['r_wire_ohm']:g} Ω "
              f"residual={r['residual']:.2e} numpy={r['residual_numpy']:.2e} "
              f"({r['wall_s']:.2f} s)")
    print("\n5. PageRank (eigenvector circuit, SPICE) vs power iteration; seed 003: "
          "0.183 TOPS, 362 TOPS/W (TPU 92 TOPS, 2.3 TOPS/W)")
    for r in res["pagerank"]:
        print(f"  {r['graph']}: cosine {r['cosine']:.6f}, ranking equal {r['ranking_equal']}, "
              f"t {r['t_settle_s'] * 1e9:.0f} ns, E {r['energy_j'] * 1e9:.3f} nJ "
              f"(quiescent {r['e_quiescent_j'] * 1e9:.3f}); 2N² ops: "
              f"{r['tops_one_mvm']:.4f} TOPS {r['tops_per_w_one_mvm']:.2f} TOPS/W; "
              f"{r['power_iterations_to_0.1%']} power iterations x 2N²: "
              f"{r['tops_power_iteration']:.3f} TOPS {r['tops_per_w_power_iteration']:.1f} TOPS/W")
    if args.plots:
        for p in plots(res, Path(args.plots)):
            print(f"plot: {p}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
