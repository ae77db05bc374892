"""Sweep-engine throughput on small crossbar operating points: the current code versus
the code before issue 10, side by side in one run.

For the same sweep of random-weight crossbars (default 8x8, 1R, linear, 1 ohm
wires: points of a few milliseconds, where the engine's own overhead shows), each
round runs, back to back and each in a fresh process:

* the local pool with 1 and 2 workers (points/s, and CPU per point: getrusage of the
  sweep process plus its worker processes);
* a Dask scheduler + 2 workers on loopback (``--host 127.0.0.1``), points/s: "dask 2"
  passes the scheduler's address (the sweep imports ``distributed`` and connects, as
  ``aimc sweep --scheduler`` does); "dask 2 kept" (current code only) passes a
  ``distributed.Client`` connected before the sweep, as a script running several
  sweeps keeps one.

points/s is the whole sweep (``run_sweep``: worker start-up, file creation, the last
checkpoint); "steady" is the rate from the 10th-percentile point to the last (from the
points' ``finished_utc``), without the start-up. CPU per point is the whole child
process (imports included) plus its worker processes.

Medians over ``--repeat`` paired rounds. The machine may be shared: compare the
ratios and the CPU per point rather than absolute points/s. ``--ref`` picks the old
commit (default: main before issue 10).

    python benchmarks/bench_sweep.py [--size 8] [--points 400] [--repeat 3]
        [--no-dask] [--no-old] [--ref COMMIT] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)

sys.path.insert(0, str(Path(__file__).parent))
from old_tree import OLD_REF, env_for, old_tree  # noqa: E402

CHILD = r"""
import json, os, resource, sys, tempfile, time
from pathlib import Path
from aimc.circuits.sweep.run import run_sweep
from aimc.circuits.sweep.spec import SweepSpec
a = json.loads(sys.argv[1])
spec = SweepSpec(generator="crossbar_op", name="bench", seed=2026, repeat=a["points"],
                 timeout_s=600.0,
                 fixed={"rows": a["size"], "cols": a["size"], "r_wire_row_ohm": a["wire"],
                        "r_wire_col_ohm": a["wire"], "w_low": 0.0, "w_high": 1.0},
                 record=["i_out_a", "power_w"]).validate()
import h5py, numpy as np
scheduler = a["scheduler"]
if a.get("keep_client"):    # a script that keeps its client: connected before the sweep
    from distributed import Client
    scheduler = Client(scheduler, timeout="60s")
with tempfile.TemporaryDirectory() as d:
    t0 = time.perf_counter()
    s = run_sweep(spec, Path(d) / "o.h5", workers=a["workers"], scheduler=scheduler,
                  progress=False, force=True)
    wall = time.perf_counter() - t0
    with h5py.File(Path(d) / "o.h5", "r") as f:
        done = np.sort(f["points/finished_utc"][()])
me = resource.getrusage(resource.RUSAGE_SELF)
ch = resource.getrusage(resource.RUSAGE_CHILDREN)
assert s.points_ok == a["points"], s.failures[:3]
k = len(done) // 10       # steady state: from the 10th percentile point to the last
print(json.dumps({"wall_s": wall, "points_per_s": a["points"] / wall,
                  "steady_points_per_s": (len(done) - 1 - k) / (done[-1] - done[k]),
                  "cpu_per_point_ms": 1e3 * (me.ru_utime + me.ru_stime + ch.ru_utime
                                             + ch.ru_stime) / a["points"],
                  "load_average": os.getloadavg()[0]}))
if a.get("keep_client"):
    scheduler.close()
"""


def sweep(args: dict, shim: Path | None) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env_for(shim),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_cluster(n_workers: int, tmp: Path, shim: Path | None):
    exe = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = env_for(shim)
    log = open(tmp / "dask.log", "a")  # noqa: SIM115 - closed by the caller
    procs = [subprocess.Popen([exe, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", "127.0.0.1:0"], stdout=log,
                              stderr=subprocess.STDOUT, env=env)]
    procs += [subprocess.Popen([exe, "worker", addr, "--nthreads", "1", "--no-nanny",
                                "--dashboard-address", "127.0.0.1:0", "--host", "127.0.0.1"],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
              for _ in range(n_workers)]
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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--wire-ohm", type=float, default=1.0)
    ap.add_argument("--points", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--no-old", action="store_true")
    ap.add_argument("--ref", default=OLD_REF, help="the old commit (default %(default)s)")
    ap.add_argument("--json", action="store_true")
    ns = ap.parse_args(argv)
    keep: list = []
    trees = {"new": None} if ns.no_old else {"new": None,
                                             "old": old_tree(ns.ref, keep=keep)}
    base = {"size": ns.size, "wire": ns.wire_ohm, "points": ns.points, "scheduler": None}
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        clusters = {}
        try:
            if not ns.no_dask:
                for name, shim in trees.items():
                    clusters[name] = dask_cluster(2, Path(d), shim)
            for _ in range(ns.repeat):        # paired rounds
                for name, shim in trees.items():
                    for w in (1, 2):
                        runs.setdefault(f"{name} local {w}", []).append(
                            sweep({**base, "workers": w}, shim))
                    if name in clusters:
                        runs.setdefault(f"{name} dask 2", []).append(
                            sweep({**base, "workers": 2, "scheduler": clusters[name][0]},
                                  shim))
                    if name in clusters and name == "new":     # the old code takes no client
                        runs.setdefault(f"{name} dask 2 kept", []).append(
                            sweep({**base, "workers": 2, "scheduler": clusters[name][0],
                                   "keep_client": True}, shim))
        finally:
            for _addr, procs, log in clusters.values():
                stop(procs[1:])
                stop(procs[:1])
                log.close()
    med = statistics.median
    table = {k: {m: med(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    out: dict = {"size": ns.size, "points": ns.points, "repeat": ns.repeat,
                 "load_average": os.getloadavg()[0], "table": table}
    for name in trees:
        k = len(runs[f"{name} local 2"])
        out[f"{name}: 2 workers / 1 worker"] = med(
            runs[f"{name} local 2"][i]["points_per_s"] / runs[f"{name} local 1"][i]["points_per_s"]
            for i in range(k))
        for mode in ("dask 2", "dask 2 kept"):
            if f"{name} {mode}" in runs:
                out[f"{name}: {mode} / local 2"] = med(
                    runs[f"{name} {mode}"][i]["points_per_s"]
                    / runs[f"{name} local 2"][i]["points_per_s"] for i in range(k))
                out[f"{name}: steady {mode} / local 2"] = med(
                    runs[f"{name} {mode}"][i]["steady_points_per_s"]
                    / runs[f"{name} local 2"][i]["steady_points_per_s"] for i in range(k))
    loads = [r["load_average"] for v in runs.values() for r in v]
    out["load_range"] = [min(loads), max(loads)]
    k = len(runs["new local 2"])
    for mode in ("dask 2", "dask 2 kept"):
        if f"new {mode}" in runs:
            out[f"rounds: new {mode} / new local 2"] = [
                runs[f"new {mode}"][i]["points_per_s"]
                / runs["new local 2"][i]["points_per_s"] for i in range(k)]
    if "old" in trees:
        out["old_ref"] = ns.ref
        out["rounds: new / old points/s, local 2"] = [
            runs["new local 2"][i]["points_per_s"] / runs["old local 2"][i]["points_per_s"]
            for i in range(k)]
        for mode in ("local 1", "local 2", "dask 2"):
            if f"new {mode}" in runs:
                for m, what in (("points_per_s", "points/s"),
                                ("steady_points_per_s", "steady points/s")):
                    out[f"new / old {what}, {mode}"] = med(
                        runs[f"new {mode}"][i][m] / runs[f"old {mode}"][i][m]
                        for i in range(k))
                if "dask" not in mode:
                    out[f"old / new CPU per point, {mode}"] = med(
                        runs[f"old {mode}"][i]["cpu_per_point_ms"]
                        / runs[f"new {mode}"][i]["cpu_per_point_ms"] for i in range(k))
    if ns.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{ns.size}x{ns.size} crossbar op sweep, {ns.points} points, median of "
              f"{ns.repeat} paired rounds, old = {ns.ref}, load average "
              f"{out['load_average']:.1f} (over the runs: median {med(loads):.1f}, "
              f"{min(loads):.1f}-{max(loads):.1f})")
        for k, v in table.items():
            cpu = v.get("cpu_per_point_ms")
            print(f"  {k:14s} {v['points_per_s']:8.1f} pt/s   steady "
                  f"{v['steady_points_per_s']:8.1f} pt/s   wall {v['wall_s']:6.2f} s"
                  + (f"   cpu {cpu:6.2f} ms/pt" if cpu and "dask" not in k else ""))
        for k, v in out.items():
            if k.startswith("rounds"):
                print(f"  {k:40s} " + " ".join(f"{x:.2f}x" for x in v))
            elif "/" in k:
                print(f"  {k:40s} {v:6.2f}x")
    for k in keep:
        k.cleanup()
    return out


if __name__ == "__main__":
    t = time.time()
    main()
    print(f"  ({time.time() - t:.0f} s)", file=sys.stderr)
