"""Benchmark: the array simulator (analog path through the surrogates) vs NumPy matmul.

- one 256x256 layer (one HERMES tile, PCM, wires), batch 256, side by side in paired
  rounds (medians of wall and of CPU time from getrusage): the float matmul, the fast
  analog path (``ArrayConfig(fast=True)``, the default: the PWM charge as one matmul and
  the ADC count's time-profile remainder from a few samples) and the segment-exact path
  (``fast=False``: the crossbar surrogate in every PWM segment + the CCO-ADC surrogate);
- the error the fast path adds: RMS and max of (fast - exact) ADC outputs before
  rounding, in LSB of the 8-bit output, and the share of 8-bit codes that differ;
- the MVM error of that tile in % of the ADC full scale against the exact matmul of the
  quantised operands (HERMES: σ 1.94 % for the 8-bit MVM, FACTS.md);
- the digits test set (360 images, 64-128-10 MLP): ideal, quantised and analog paths.

Usage (a tile model is needed: the shipped default or --tile):

    .venv/bin/python benchmarks/bench_array.py [--tile TILE.h5] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_env  # one BLAS thread (before NumPy); CPU time
import numpy as np
from aimc.system.array.accuracy import evaluate_accuracy
from aimc.system.array.layer import AnalogLayer, ArrayConfig, resolve_tile_model
from aimc.system.networks.digits_mlp import digits_mlp_onnx


def _timed(fn) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    c0, t0 = bench_env.cpu_s(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, bench_env.cpu_s() - c0, out


def _median(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t, _, out = _timed(fn)
        times.append(t)
    return statistics.median(times), out


def paired(fns: dict, repeat: int, inner: dict | None = None) -> dict[str, dict[str, float]]:
    """Paired rounds: every round runs each function once (``inner[k]`` calls, timed
    together, divided); medians over the rounds of wall and CPU seconds per call."""
    inner = inner or {}
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            n = inner.get(k, 1)
            t, c, _ = _timed(lambda fn=fn, n=n: [fn() for _ in range(n)])
            rows[k].append((t / n, c / n))
    return {k: {"wall_s": statistics.median(r[0] for r in v),
                "cpu_s": statistics.median(r[1] for r in v)} for k, v in rows.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tile", help="tile model (default: the shipped one)")
    ap.add_argument("--repeat", type=int, default=7, help="paired rounds (fast path)")
    ap.add_argument("--repeat-exact", type=int, default=1,
                    help="paired rounds of the segment-exact path (seconds each)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--profile-points", type=int, default=ArrayConfig.profile_points,
                    help="time-profile samples of the fast path")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads (default 1: fastest on a shared 2-core machine)")
    ap.add_argument("--t-inference-s", type=float, default=3600.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    tm = resolve_tile_model(args.tile)
    rng = np.random.default_rng(0)
    w = rng.normal(0.0, 1.0, (256, 256))                      # DNN-like weights
    # post-ReLU-like inputs: half zeros, the rest uniform (PWM codes 0..127)
    x = rng.uniform(0, 1, (args.batch, 256)) * (rng.random((args.batch, 256)) < 0.5)
    out: dict[str, object] = {}
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        fast_cfg = ArrayConfig(profile_points=args.profile_points)
        t_build, layer = _median(lambda: AnalogLayer(w, fast_cfg, tm).fit_inputs(x), 1)
        exact = AnalogLayer(w, ArrayConfig(fast=False), tm).fit_inputs(x)
        layer.analog(x)                                   # warm caches (row matrices)
        t = paired({"ideal": lambda: x @ w, "analog": lambda: layer.analog(x)},
                   args.repeat, {"ideal": 20})
        t_ideal, t_analog = t["ideal"]["wall_s"], t["analog"]["wall_s"]
        te = paired({"ideal": lambda: x @ w, "exact": lambda: exact.analog(x)},
                    max(1, args.repeat_exact), {"ideal": 20})
        t_exact = te["exact"]["wall_s"]
        y_analog = layer.analog(x)
        fs = layer.full_scale()
        c_fast = layer.adc_counts(x, fast=True)[0]
        c_exact = layer.adc_counts(x, fast=False)[0]
        d = c_fast - c_exact
        codes_differ = float(np.mean(layer.analog(x, True)[1][0] != exact.analog(x, True)[1][0]))
        err_circ = float(np.std((y_analog - layer.exact_quantised(x)) / fs) * 100)
        # the same MVM error through the segment-exact path: what the fast path adds
        err_circ_exact = float(np.std((exact.analog(x) - layer.exact_quantised(x)) / fs) * 100)
        layer.program(args.t_inference_s, seed=1)
        err_dev = float(np.std((layer.analog(x) - layer.exact_quantised(x)) / fs) * 100)
        err_q = float(np.std((layer.quantised(x) - x @ w) / fs) * 100)
        clamp = layer.n_clamped_ / max(layer.n_segments_, 1)
    out["load_average_1min"] = os.getloadavg()[0]
    out["tile_256x256_batch"] = args.batch
    out["profile_points"] = args.profile_points
    out["build_and_calibrate_s"] = t_build
    out["ideal_matmul_s"] = t_ideal
    out["ideal_matmul_cpu_s"] = t["ideal"]["cpu_s"]
    out["analog_s"] = t_analog
    out["analog_cpu_s"] = t["analog"]["cpu_s"]
    out["analog_over_ideal"] = t_analog / t_ideal
    out["analog_over_ideal_cpu"] = t["analog"]["cpu_s"] / max(t["ideal"]["cpu_s"], 1e-12)
    out["analog_per_mvm_s"] = t_analog / args.batch
    out["exact_s"] = t_exact
    out["exact_cpu_s"] = te["exact"]["cpu_s"]
    out["exact_over_ideal"] = t_exact / te["ideal"]["wall_s"]
    out["fast_vs_exact_rms_lsb"] = float(np.sqrt(np.mean(d ** 2)))
    out["fast_vs_exact_max_lsb"] = float(np.max(np.abs(d)))
    out["fast_vs_exact_codes_differ"] = codes_differ
    out["mvm_err_circuit_pct_fs"] = err_circ
    out["mvm_err_circuit_exact_path_pct_fs"] = err_circ_exact
    out["mvm_err_circuit_devices_pct_fs"] = err_dev
    out["quantisation_err_pct_fs"] = err_q
    out["adc_clamped_segment_share"] = clamp
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        onnx_path, data, _ = digits_mlp_onnx(Path(tmp) / "digits.onnx", 0)
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep = evaluate_accuracy(onnx_path, data.x_train[:256], data.x_test, data.y_test,
                                tile_model=tm, t_inference_s=args.t_inference_s,
                                blas_threads=args.blas_threads)
        t_eval = time.perf_counter() - t0
    out["digits_train_export_s"] = t_train
    out["digits_eval_all_paths_s"] = t_eval
    for k in ("ideal", "quantised", "analog_ideal_devices", "analog"):
        p = getattr(rep, k)
        out[f"digits_{k}_s"] = p.seconds
        out[f"digits_{k}_accuracy"] = p.accuracy
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"256x256 tile (PCM, HERMES cells, wires), batch {args.batch}, "
          f"{args.blas_threads} BLAS thread(s), {args.profile_points} profile samples, "
          f"load average {out['load_average_1min']:.1f}:")
    print(f"  build + calibrate   {t_build:8.3f} s (compile once per weight tile)")
    print(f"  ideal NumPy matmul  {t_ideal * 1e3:8.3f} ms wall, "
          f"{t['ideal']['cpu_s'] * 1e3:.3f} ms CPU")
    print(f"  analog, fast        {t_analog * 1e3:8.3f} ms wall, "
          f"{t['analog']['cpu_s'] * 1e3:.3f} ms CPU = {t_analog / t_ideal:,.1f}x the matmul "
          f"(CPU {out['analog_over_ideal_cpu']:,.1f}x)")
    print(f"  analog, exact       {t_exact:8.3f} s   = {out['exact_over_ideal']:,.0f}x the matmul")
    print(f"  fast vs exact: RMS {out['fast_vs_exact_rms_lsb']:.3f} LSB, max "
          f"{out['fast_vs_exact_max_lsb']:.3f} LSB (8-bit output, before rounding); "
          f"{codes_differ:.2%} of the 8-bit codes differ")
    print(f"  MVM error σ (% FS) vs exact quantised matmul: circuit {err_circ:.3f} "
          f"(segment-exact path {err_circ_exact:.3f}), "
          f"+ devices at {args.t_inference_s:g} s {err_dev:.2f} (HERMES 1.94); "
          f"quantisation vs float {err_q:.2f}; ADC inputs clamped in {clamp:.2%} of segments")
    print(f"digits MLP: train + ONNX export {t_train:.2f} s; 360 test images: "
          + ", ".join(f"{k} {getattr(rep, k).seconds:.2f} s "
                      f"({getattr(rep, k).accuracy * 100:.2f} %)"
                      for k in ("ideal", "quantised", "analog_ideal_devices", "analog")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
