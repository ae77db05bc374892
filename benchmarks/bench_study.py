"""Benchmark: a design-space study on the local pool (target: 200 configurations x 3
device seeds in under 30 min on 2 cores).

Runs a study spec (default: the shipped ``full``) with ``--n`` random configurations
into a fresh file, and reports wall time, the CPU time of the workers (getrusage of the
children) beside it, the median CPU seconds per configuration, and the wall time
extrapolated to 200 configurations (stated as an extrapolation when --n < 200).

    .venv/bin/python benchmarks/bench_study.py [--spec full] [--n 200] [--workers 2]
        [--networks digits_mlp,digits_cnn] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)
import numpy as np
from aimc.system.studies.study_run import run_study
from aimc.system.studies.study_spec import load_spec
from aimc.system.studies.study_store import read_study


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="full")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--networks", help="comma-separated networks (default: the spec's)")
    ap.add_argument("--out", help="keep the study file here (default: a temp dir)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    spec = load_spec(args.spec)
    if spec.method != "random":
        ap.error("--n needs a spec with random sampling")
    spec.n = args.n
    if args.networks:
        spec.networks = tuple(args.networks.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "study.h5"
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        s = run_study(spec, out, workers=args.workers, progress=not args.json)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        st = read_study(out)
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    per = st["cpu_s"][st["status"] == 1]
    res = {"spec": spec.name, "networks": list(spec.networks), "configs": args.n,
           "seeds": spec.seeds, "n_test": spec.n_test, "workers": args.workers,
           "ok": s.n_ok, "failed": s.n_failed, "wall_s": wall, "cpu_s_workers": cpu,
           "cpu_s_per_config_median": float(np.median(per)) if per.size else None,
           "wall_s_for_200": wall * 200 / args.n,
           "extrapolated": args.n < 200}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{res['configs']} configs x {res['seeds']} seeds, {res['networks']}, "
              f"{res['n_test']} images, {args.workers} workers: {wall:.0f} s wall, "
              f"{cpu:.0f} s CPU (median {res['cpu_s_per_config_median']:.2f} s CPU per "
              f"config); 200 configs: {res['wall_s_for_200'] / 60:.1f} min"
              + (" (extrapolated)" if res["extrapolated"] else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
