"""Benchmark: cluster-level simulator speed (targets of issue 5).

- MobileNetV2 end-to-end estimate (map + TILE&PACK + timing + energy): target < 1 s
- ResNet-50-sized ONNX graph (import + map + pack + evaluate): target < 5 s
- design-space sweep of 1,000 cluster configurations on MobileNetV2, 2 processes:
  target < 60 s

Prints the median of ``--repeat`` runs of each. Usage:

    .venv/bin/python benchmarks/bench_system.py [--repeat 5] [--configs 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)
import onnx
from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.model import evaluate
from aimc.system.networks.mobilenetv2 import mobilenetv2
from aimc.system.networks.onnx_examples import resnet50_graph
from aimc.system.networks.onnx_import import load_onnx
from aimc.system.studies.explore import DEFAULT_AXES, grid, pareto, sweep


def _median(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--configs", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cfg = ClusterConfig()

    t_mnv2, r = _median(lambda: evaluate(mobilenetv2(), cfg), args.repeat)

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "resnet50.onnx"
        onnx.save(resnet50_graph(), path)
        t_r50, r50 = _median(lambda: evaluate(load_onnx(path), cfg), args.repeat)

    configs = grid(DEFAULT_AXES)[: args.configs]
    net = mobilenetv2()
    t_dse, rows = _median(lambda: sweep(net, configs, processes=args.processes),
                          max(1, min(3, args.repeat)))
    front = pareto(rows)
    res = {
        "mobilenetv2_eval_s": t_mnv2, "mobilenetv2_latency_s": r.latency_s,
        "resnet50_onnx_eval_s": t_r50, "resnet50_n_ima": r50.n_ima,
        "dse_configs": len(configs), "dse_processes": args.processes, "dse_s": t_dse,
        "dse_pareto_points": len(front),
    }
    if args.json:
        print(json.dumps(res, indent=1))
        return
    print(f"MobileNetV2 end-to-end estimate      median {t_mnv2 * 1e3:8.1f} ms  (target < 1 s)")
    print(f"ResNet-50-sized ONNX import + eval   median {t_r50 * 1e3:8.1f} ms  (target < 5 s)")
    print(f"DSE, {len(configs)} configs, {args.processes} processes   median {t_dse:8.2f} s   "
          f"(target < 60 s); {len(front)} Pareto points (latency, energy, area)")


if __name__ == "__main__":
    main()
