"""Crossbar surrogate vs ngspice, the prefactored sparse nodal solve, the first-order
analytic IR-drop correction and ideal GᵀV: speed per MVM and error, side by side.

    python benchmarks/bench_surrogate.py [--size 256] [--batch 256] [--model TILE.h5]
        [--heldout HELDOUT.h5 ...] [--no-spice] [--json]

Speed (one weight matrix, a batch of input vectors, medians of ``--repeat`` runs):
the surrogate's time includes its per-matrix compile (also shown alone); the sparse
solve's includes its LU factorisation; ngspice's is one operating point of the same
array, run here (linear devices; the held-out files' recorded times are shown for
PCM). Error: RMS/p99/max in LSB (8-bit signed, full scale = the set's largest
|current|) against the exact nodal solve (linear devices, every vector of the batch)
and against held-out SPICE points (``--heldout``), by wire resistance.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)
import numpy as np
from aimc.circuits.crossbar import CrossbarConfig, weights_to_conductances
from aimc.surrogate import baselines as bl
from aimc.surrogate.fit import crossbar_cases, crossbar_errors, lsb_stats, read_circuits
from aimc.surrogate.tile_model import default_tile_model_path, load_tile_model


def _median_time(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _err(pred: np.ndarray, want: np.ndarray) -> dict[str, float]:
    return lsb_stats((pred - want) / (np.max(np.abs(want)) / 127))


def run(size: int, batch: int, model_path: str, heldout: list[str], spice: bool,
        repeat: int, r_wire: float, encoding: str) -> dict:
    model = load_tile_model(model_path).crossbar
    model.domain_policy = "ignore"
    rng = np.random.default_rng(2026)
    out: dict = {"size": size, "batch": batch, "encoding": encoding, "r_wire_ohm": r_wire}
    cfgs = {dev: CrossbarConfig(rows=size, cols=size, encoding=encoding, device=dev,
                                r_wire_row_ohm=r_wire, r_wire_col_ohm=r_wire,
                                r_driver_ohm=47.0) for dev in ("linear", "pcm")}
    lo = 0.0 if encoding == "single" else -1.0
    g = weights_to_conductances(rng.uniform(lo, 1, (size, size)), encoding)
    x = rng.uniform(-1, 1, (batch, size))
    # --- surrogate -------------------------------------------------------------------
    for dev, cfg in cfgs.items():
        if dev not in model.devices_:
            continue
        comp = model.compile(cfg, g)
        t_compile = _median_time(lambda cfg=cfg: model.compile(cfg, g), repeat)
        t_eval = _median_time(lambda comp=comp: comp.currents(x), repeat)
        out[f"surrogate_{dev}"] = {"compile_s": t_compile, "eval_batch_s": t_eval,
                                   "per_mvm_s": (t_compile + t_eval) / batch,
                                   "per_mvm_excl_compile_s": t_eval / batch}
    # --- baselines (linear devices: the nodal solve is exact there) --------------------
    cfg = cfgs["linear"]
    t_ideal = _median_time(lambda: bl.ideal_batch(cfg, g, x), repeat)
    t_fo = _median_time(lambda: bl.first_order_batch(cfg, g, x), max(1, repeat // 2))
    t0 = time.perf_counter()
    solver = bl.nodal_solver(cfg, g)
    t_factor = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = bl.nodal_batch(cfg, g, x, solver)
    t_solve = time.perf_counter() - t0
    out["ideal"] = {"batch_s": t_ideal, "per_mvm_s": t_ideal / batch}
    out["first_order"] = {"batch_s": t_fo, "per_mvm_s": t_fo / batch}
    out["nodal_sparse"] = {"factor_s": t_factor, "solve_batch_s": t_solve,
                           "per_mvm_s": (t_factor + t_solve) / batch,
                           "per_mvm_excl_factor_s": t_solve / batch}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sur = model.compile(cfg, g).currents(x)
    out["error_vs_nodal_linear"] = {
        "surrogate": _err(sur, exact), "first_order": _err(bl.first_order_batch(cfg, g, x),
                                                            exact),
        "ideal": _err(bl.ideal_batch(cfg, g, x), exact)}
    # --- ngspice -----------------------------------------------------------------------
    if spice:
        from aimc.circuits.crossbar import simulate_op

        r = simulate_op(cfg, g, x[0])
        out["ngspice_linear_op_s"] = r.sim_time_s
        out["error_vs_ngspice_linear_1vec"] = _err(sur[0], r.i_out_a)
    # --- held-out SPICE points -----------------------------------------------------------
    if heldout:
        cd = read_circuits(heldout)["crossbar"]
        val = crossbar_errors(model, crossbar_cases(cd), cd.sim_time_s)
        out["heldout"] = val
        out["ngspice_heldout_op_s_median"] = val["spice_time_s_median"]
    # --- ratios --------------------------------------------------------------------------
    sur_key = "surrogate_pcm" if "surrogate_pcm" in out else "surrogate_linear"
    s_lin = out["surrogate_linear"]["per_mvm_s"] if "surrogate_linear" in out else None
    s_dev = out[sur_key]["per_mvm_s"]
    ratios = {}
    if s_lin:
        ratios["nodal_over_surrogate_linear"] = out["nodal_sparse"]["per_mvm_s"] / s_lin
        ratios["surrogate_linear_over_ideal"] = s_lin / out["ideal"]["per_mvm_s"]
        if "ngspice_linear_op_s" in out:
            ratios["ngspice_linear_over_surrogate_linear"] = out["ngspice_linear_op_s"] / s_lin
    if "ngspice_heldout_op_s_median" in out:
        ratios[f"ngspice_heldout_over_{sur_key}"] = out["ngspice_heldout_op_s_median"] / s_dev
    out["ratios"] = ratios
    return out


def _print(res: dict) -> None:
    b = res["batch"]
    print(f"crossbar {res['size']}x{res['size']} {res['encoding']}, wire {res['r_wire_ohm']} "
          f"ohm/cell both directions, batch {b} vectors on one weight matrix, "
          f"BLAS threads {res.get('blas_threads', 0) or 'default'}")
    print(f"{'method':28} {'per MVM':>12} {'batch':>10}  notes")
    for dev in ("linear", "pcm"):
        k = f"surrogate_{dev}"
        if k in res:
            s = res[k]
            print(f"{'surrogate (' + dev + ')':28} {s['per_mvm_s'] * 1e6:>10.1f}us "
                  f"{s['compile_s'] + s['eval_batch_s']:>9.4f}s  compile {s['compile_s']:.4f}s "
                  f"+ eval {s['eval_batch_s']:.4f}s")
    n = res["nodal_sparse"]
    print(f"{'sparse nodal (linear)':28} {n['per_mvm_s'] * 1e6:>10.1f}us "
          f"{n['factor_s'] + n['solve_batch_s']:>9.3f}s  LU {n['factor_s']:.3f}s + solves "
          f"{n['solve_batch_s']:.3f}s")
    print(f"{'first-order analytic':28} {res['first_order']['per_mvm_s'] * 1e6:>10.1f}us "
          f"{res['first_order']['batch_s']:>9.4f}s")
    print(f"{'ideal GtV':28} {res['ideal']['per_mvm_s'] * 1e6:>10.1f}us "
          f"{res['ideal']['batch_s']:>9.4f}s")
    if "ngspice_linear_op_s" in res:
        print(f"{'ngspice OP (linear)':28} {res['ngspice_linear_op_s']:>11.2f}s")
    if "ngspice_heldout_op_s_median" in res:
        print(f"{'ngspice OP (held-out, PCM)':28} {res['ngspice_heldout_op_s_median']:>11.2f}s")
    print("ratios: " + ", ".join(f"{k} {v:,.0f}x" for k, v in res["ratios"].items()))
    e = res["error_vs_nodal_linear"]
    print("error vs exact nodal (linear, LSB rms/p99/max): " + "; ".join(
        f"{k} {v['rms_lsb']:.3f}/{v['p99_lsb']:.3f}/{v['max_lsb']:.3f}" for k, v in e.items()))
    if "heldout" in res:
        h = res["heldout"]
        print(f"held-out SPICE ({h['n_points']} points): surrogate rms {h['rms_lsb']:.3f} p99 "
              f"{h['p99_lsb']:.3f} max {h['max_lsb']:.3f} LSB; first-order rms "
              f"{h['baseline_first_order']['rms_lsb']:.3f}; ideal rms "
              f"{h['baseline_ideal']['rms_lsb']:.3f}")
        for k, v in h["by_wire_ohm_row_col"].items():
            print(f"  wire {k} ohm (row/col): rms {v['rms_lsb']:.3f} p99 {v['p99_lsb']:.3f} "
                  f"max {v['max_lsb']:.3f} LSB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--encoding", default="hermes")
    ap.add_argument("--r-wire", type=float, default=0.5, help="ohm per cell, both lines")
    ap.add_argument("--model", default=str(default_tile_model_path()))
    ap.add_argument("--heldout", nargs="*", default=[])
    ap.add_argument("--no-spice", action="store_true", help="skip the ngspice run")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads for every method (default 1: on a shared 2-core "
                         "machine more threads than free cores make matmuls ~10x slower); "
                         "0 = the library default")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    ctx = threadpool_limits(limits=a.blas_threads) if a.blas_threads > 0 else nullcontext()
    with ctx:
        res = run(a.size, a.batch, a.model, a.heldout, not a.no_spice, a.repeat, a.r_wire,
                  a.encoding)
    res["blas_threads"] = a.blas_threads
    if a.json:
        print(json.dumps(res, indent=2, default=float))
    else:
        _print(res)


if __name__ == "__main__":
    main()
