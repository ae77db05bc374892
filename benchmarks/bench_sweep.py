"""Benchmark: sweep-engine throughput and overhead on 64x64 crossbar operating points.

Measures, for the same sweep of random-weight 64x64 crossbars (1R, linear devices):

* throughput with 1 and 2 local workers (points/s; target >= 1.8x on 2 cores);
* overhead per point: wall time per point (1 worker, steady state) versus ngspice's
  own time for the point (netlist load + solve); target <= 15 %;
* the same sweep through a Dask scheduler + workers on loopback versus the local pool.

Two wire settings: ``--wire-ohm 1`` (realistic IR drop; ngspice's matrix reordering
makes each point take seconds) and ``--wire-ohm 0`` (ideal wires: ~0.1 s per point,
so the engine's overhead is most visible). Usage:

    .venv/bin/python benchmarks/bench_sweep.py [--size 64] [--wire-ohm 1] [--points 12]
        [--repeat 3] [--no-dask] [--json] [--figure docs/readme/sweep_bench.png]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from aimc.circuits.sweep.run import run_sweep
from aimc.circuits.sweep.spec import SweepSpec


def crossbar_spec(size: int, wire_ohm: float, points: int) -> SweepSpec:
    return SweepSpec(
        generator="crossbar_op", name=f"bench_{size}x{size}_r{wire_ohm:g}", seed=2026,
        repeat=points, timeout_s=600.0,
        fixed={"rows": size, "cols": size, "r_wire_row_ohm": wire_ohm,
               "r_wire_col_ohm": wire_ohm, "w_low": 0.0, "w_high": 1.0},
        record=["i_out_a", "power_w"],
    ).validate()


def measure(spec: SweepSpec, out: Path, workers: int | None = None,
            scheduler: str | None = None) -> dict:
    t0 = time.perf_counter()
    s = run_sweep(spec, out, workers=workers, scheduler=scheduler, progress=False,
                  force=True)
    wall = time.perf_counter() - t0
    assert s.ok, s.failures
    with h5py.File(out, "r") as f:
        fin = np.sort(f["points/finished_utc"][()])
        sim = f["points/sim_time_s"][()]
        in_worker = f["points/wall_time_s"][()]
    n = len(fin)
    k = max(1, s.workers)
    # steady state: from the first k finishes to the last (startup excluded)
    steady = (n - k) / (fin[-1] - fin[k - 1]) if n > k and fin[-1] > fin[k - 1] else n / wall
    return {
        "workers": s.workers, "scheduler": scheduler, "points": n, "wall_s": wall,
        "points_per_s": n / wall, "points_per_s_steady": steady,
        "spice_s_per_point": float(np.mean(sim)),
        "worker_s_per_point": float(np.mean(in_worker)),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_cluster(n_workers: int, tmp: Path):
    exe = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    log = open(tmp / "dask.log", "w")  # noqa: SIM115 - closed by the caller via procs
    procs = [subprocess.Popen([exe, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)]
    procs += [subprocess.Popen([exe, "worker", addr, "--nthreads", "1", "--no-nanny",
                                "--no-dashboard", "--host", "127.0.0.1"], stdout=log,
                               stderr=subprocess.STDOUT) for _ in range(n_workers)]
    from distributed import Client

    with Client(addr, timeout="60s") as c:
        c.wait_for_workers(n_workers, timeout=120)
    return addr, procs, log


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--wire-ohm", type=float, default=1.0)
    ap.add_argument("--points", type=int, default=12)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure each configuration this many times (interleaved) and "
                         "keep the fastest: the machine may be shared")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--figure", default=None, help="write a bar chart (PNG) here")
    args = ap.parse_args()
    spec = crossbar_spec(args.size, args.wire_ohm, args.points)
    res: dict = {"size": args.size, "wire_ohm": args.wire_ohm, "points": args.points,
                 "cpus": os.cpu_count(), "load_avg_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ones, twos = [], []
        for _ in range(args.repeat):
            ones.append(measure(spec, tmp / "w1.h5", workers=1))
            twos.append(measure(spec, tmp / "w2.h5", workers=2))
        one = max(ones, key=lambda r: r["points_per_s_steady"])
        two = max(twos, key=lambda r: r["points_per_s_steady"])
        res["local_1"], res["local_2"] = one, two
        res["all_runs"] = {"local_1": ones, "local_2": twos}
        res["speedup_2_vs_1"] = two["points_per_s"] / one["points_per_s"]
        res["speedup_2_vs_1_steady"] = (two["points_per_s_steady"]
                                        / one["points_per_s_steady"])
        per_point = 1.0 / one["points_per_s_steady"]
        res["overhead_pct"] = 100.0 * (per_point / one["spice_s_per_point"] - 1.0)
        res["overhead_in_worker_pct"] = 100.0 * (one["worker_s_per_point"]
                                                 / one["spice_s_per_point"] - 1.0)
        if not args.no_dask:
            addr, procs, log = dask_cluster(2, tmp)
            try:
                dks = [measure(spec, tmp / "dask.h5", scheduler=addr)
                       for _ in range(args.repeat)]
                dk = max(dks, key=lambda r: r["points_per_s_steady"])
                res["all_runs"]["dask_2"] = dks
            finally:
                stop(procs[1:])  # workers first, while the scheduler still answers
                stop(procs[:1])
                log.close()
            res["dask_2"] = dk
            res["dask_vs_local_2"] = dk["points_per_s"] / two["points_per_s"]
            res["dask_vs_local_2_steady"] = (dk["points_per_s_steady"]
                                             / two["points_per_s_steady"])
    res["load_avg_after"] = os.getloadavg()[0]
    if args.figure:
        figure(res, Path(args.figure))
    if args.json:
        print(json.dumps(res, indent=1))
        return
    print(f"{args.size}x{args.size} crossbar OP, wire {args.wire_ohm:g} ohm, "
          f"{args.points} points, {os.cpu_count()} cpus")
    for key in ("local_1", "local_2", "dask_2"):
        if key in res:
            r = res[key]
            print(f"  {key:8s} {r['points_per_s']:.3g} pt/s (steady {r['points_per_s_steady']:.3g})"
                  f", SPICE {r['spice_s_per_point']:.3g} s/pt, in worker "
                  f"{r['worker_s_per_point']:.3g} s/pt")
    print(f"  2 vs 1 workers: {res['speedup_2_vs_1']:.2f}x "
          f"(steady {res['speedup_2_vs_1_steady']:.2f}x)")
    print(f"  overhead per point vs ngspice: {res['overhead_pct']:.1f} % "
          f"(in worker: {res['overhead_in_worker_pct']:.1f} %)")
    if "dask_2" in res:
        print(f"  Dask/local (2 workers): {res['dask_vs_local_2']:.2f} "
              f"(steady {res['dask_vs_local_2_steady']:.2f})")


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in ("local_1", "local_2", "dask_2") if k in res]
    labels = {"local_1": "local, 1 worker", "local_2": "local, 2 workers",
              "dask_2": "Dask loopback,\n2 workers"}
    fig, ax = plt.subplots(figsize=(5, 3))
    vals = [res[k]["points_per_s_steady"] for k in keys]
    ax.bar([labels[k] for k in keys], vals, color=["#888", "#36c", "#c63"][:len(keys)])
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.3g}", ha="center", va="bottom")
    ax.set_ylabel("points / s (steady state)")
    ax.set_title(f"{res['size']}x{res['size']} crossbar OP sweep, wire {res['wire_ohm']:g} Ω")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
