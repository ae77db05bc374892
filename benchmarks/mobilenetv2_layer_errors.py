"""Full-size MobileNetV2 (224x224, width 1.0, seeded random weights) end to end on the
analog path: the MVM error of every IMA layer and the seconds per image.

The network is :func:`aimc.system.networks.onnx_examples.mobilenetv2_graph` (Conv + BN +
ReLU6, inverted residual blocks, GAP, FC); the mapping is the seed-001 cluster's
(``ima_dw``: depth-wise layers on the DW accelerator at 8 bit, every other convolution on
the IMA tiles, the FC on the cores). Calibration on ``--cal`` random images, then
``--images`` random images through the quantised and analog paths (PCM read 1 h after
programming). Wall and CPU time (getrusage), peak memory (max RSS).

    .venv/bin/python benchmarks/mobilenetv2_layer_errors.py [--images 2] [--cal 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import bench_env  # one BLAS thread (before NumPy); CPU time
import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--cal", type=int, default=2)
    ap.add_argument("--t-s", type=float, default=3600.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from aimc.system.array.executor import NetworkExecutor
    from aimc.system.cluster.config import ClusterConfig
    from aimc.system.cluster.model import ClusterPlacement, evaluate
    from aimc.system.networks.onnx_examples import mobilenetv2_graph
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    cfg = ClusterConfig()
    out: dict = {}
    with threadpool_limits(1, "blas"):
        t0, c0 = time.perf_counter(), bench_env.cpu_s()
        ex = NetworkExecutor(mobilenetv2_graph(seed=0), placement=ClusterPlacement(cfg))
        res = evaluate(ex.net, cfg)
        ex.calibrate(rng.random((args.cal, 3, 224, 224)))
        ex.program(args.t_s, 0)
        out["build_calibrate_program_s"] = time.perf_counter() - t0
        out["build_calibrate_program_cpu_s"] = bench_env.cpu_s() - c0
        x = rng.random((args.images, 3, 224, 224))
        runs = {}
        for path in ("ideal", "quantised", "analog"):
            t0, c0 = time.perf_counter(), bench_env.cpu_s()
            runs[path] = ex.run(x, path, t_s=args.t_s, seed=0)
            out[f"{path}_s_per_image"] = (time.perf_counter() - t0) / args.images
            out[f"{path}_cpu_s_per_image"] = (bench_env.cpu_s() - c0) / args.images
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    out["n_ima"], out["tiles"] = res.n_ima, ex.n_tiles
    a, q, i = (runs[p].output for p in ("analog", "quantised", "ideal"))
    out["logit_err_analog_vs_ideal"] = float(np.std(a - i) / np.std(i))
    out["logit_err_quantised_vs_ideal"] = float(np.std(q - i) / np.std(i))
    out["layers"] = {k: {"analog_vs_quantised_pct_fs": e.vs_quantised_pct_fs,
                         "analog_vs_float_pct_fs": e.vs_float_pct_fs,
                         "quantised_vs_exact_pct_fs":
                             runs["quantised"].mvm_error[k].vs_quantised_pct_fs,
                         "tiles": ex.tiles[k]}
                     for k, e in runs["analog"].mvm_error.items()}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"MobileNetV2 224x224 width 1.0: {out['tiles']} tiles on {out['n_ima']} IMAs; "
          f"{args.images} image(s), PCM {args.t_s:g} s after programming")
    print(f"build + calibrate + program {out['build_calibrate_program_s']:.1f} s; per image: "
          + ", ".join(f"{p} {out[f'{p}_s_per_image']:.2f} s (CPU "
                      f"{out[f'{p}_cpu_s_per_image']:.2f} s)"
                      for p in ("ideal", "quantised", "analog"))
          + f"; peak RSS {out['peak_rss_gib']:.2f} GiB")
    print(f"{'layer':14s} {'tiles':>5s} {'analog-exact':>12s} {'analog-float':>12s} "
          f"{'quant-exact':>11s}  (MVM error σ, % of ADC full scale)")
    for k, v in out["layers"].items():
        print(f"{k:14s} {v['tiles']:5d} {v['analog_vs_quantised_pct_fs']:12.2f} "
              f"{v['analog_vs_float_pct_fs']:12.2f} {v['quantised_vs_exact_pct_fs']:11.2f}")
    print(f"logits, σ of the difference / σ of the ideal logits: analog "
          f"{out['logit_err_analog_vs_ideal']:.3f}, quantised "
          f"{out['logit_err_quantised_vs_ideal']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
