"""Benchmark: the array simulator (analog path through the surrogates) vs NumPy matmul.

- one 256x256 layer (one HERMES tile, PCM, wires), batch 256: analog path (crossbar
  surrogate over every PWM segment + CCO-ADC surrogate + calibration constants) vs the
  float matmul, median of ``--repeat``, side by side; also the MVM error of that tile
  in % of the ADC full scale against the exact matmul of the quantised operands
  (HERMES: σ 1.94 % for the 8-bit MVM, FACTS.md)
- the digits test set (360 images, 64-128-10 MLP): ideal, quantised and analog paths

Usage (a tile model is needed: the shipped default or --tile):

    .venv/bin/python benchmarks/bench_array.py [--tile TILE.h5] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from aimc.system.array.accuracy import evaluate_accuracy
from aimc.system.array.layer import AnalogLayer, ArrayConfig, resolve_tile_model
from aimc.system.networks.digits_mlp import digits_mlp_onnx


def _median(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tile", help="tile model (default: the shipped one)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
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
        t_build, layer = _median(lambda: AnalogLayer(w, ArrayConfig(), tm).fit_inputs(x), 1)
        t_ideal, y_ideal = _median(lambda: x @ w, max(args.repeat, 5))
        t_analog, y_analog = _median(lambda: layer.analog(x), args.repeat)
        fs = layer.full_scale()
        err_circ = float(np.std((y_analog - layer.exact_quantised(x)) / fs) * 100)
        layer.program(args.t_inference_s, seed=1)
        err_dev = float(np.std((layer.analog(x) - layer.exact_quantised(x)) / fs) * 100)
        err_q = float(np.std((layer.quantised(x) - y_ideal) / fs) * 100)
        clamp = layer.n_clamped_ / max(layer.n_segments_, 1)
    out["tile_256x256_batch"] = args.batch
    out["build_and_calibrate_s"] = t_build
    out["ideal_matmul_s"] = t_ideal
    out["analog_s"] = t_analog
    out["analog_over_ideal"] = t_analog / t_ideal
    out["analog_per_mvm_s"] = t_analog / args.batch
    out["mvm_err_circuit_pct_fs"] = err_circ
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
          f"{args.blas_threads} BLAS thread(s):")
    print(f"  build + calibrate   {t_build:8.3f} s (compile once per weight tile)")
    print(f"  ideal NumPy matmul  {t_ideal * 1e3:8.3f} ms")
    print(f"  analog (surrogates) {t_analog:8.3f} s   = {t_analog / t_ideal:,.0f}x the "
          f"matmul, {t_analog / args.batch * 1e3:.1f} ms per MVM")
    print(f"  MVM error σ (% FS) vs exact quantised matmul: circuit {err_circ:.2f}, "
          f"+ devices at {args.t_inference_s:g} s {err_dev:.2f} (HERMES 1.94); "
          f"quantisation vs float {err_q:.2f}; ADC inputs clamped in {clamp:.2%} of segments")
    print(f"digits MLP: train + ONNX export {t_train:.2f} s; 360 test images: "
          + ", ".join(f"{k} {getattr(rep, k).seconds:.2f} s "
                      f"({getattr(rep, k).accuracy * 100:.2f} %)"
                      for k in ("ideal", "quantised", "analog_ideal_devices", "analog")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
