"""Crossbar operating point: aimc (build + simulate through the shared library)
versus ``ngspice -b`` on the very same netlist, measured side by side in one run.

Each measurement runs in a fresh process so that peak memory (max RSS) is that of
one simulation. Prints medians over ``--repeat`` runs and the ratio
aimc-simulate / ngspice-batch (target <= 1.2), build time and peak memory apart.

    python benchmarks/bench_crossbar.py --size 256 --repeat 3 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
t0 = time.perf_counter()
from aimc.circuits import crossbar as xb
from aimc.circuits.spice import engine
engine()                                  # library load: once per process, not per run
t_import = time.perf_counter() - t0
n, r_wire, out, batch = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
rng = np.random.default_rng(0)
cfg = xb.CrossbarConfig(rows=n, cols=n, r_wire_row_ohm=r_wire, r_wire_col_ohm=r_wire)
g = xb.weights_to_conductances(rng.uniform(0, 1, (n, n)), "single")
x = rng.uniform(-1, 1, n)
t1 = time.perf_counter()
design = xb.crossbar_design(cfg, g, x)
text = design.text()
t_build = time.perf_counter() - t1
t2 = time.perf_counter()
res = design.simulate(batch=batch)
i = [res.scalar(v) for v in xb.output_vectors(cfg)]
t_sim = time.perf_counter() - t2
open(out, "w").write(text)
print(json.dumps({"build_s": t_build, "simulate_s": t_sim, "import_s": t_import,
                  "ngspice_load_s": res.load_time_s, "ngspice_run_s": res.sim_time_s,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "i0": i[0]}))
"""


def run_aimc(n: int, r_wire: float, netlist: Path, batch: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(r_wire), str(netlist),
                          "1" if batch else "0"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ngspice_batch(netlist: Path, raw: Path | None = None) -> dict:
    """``ngspice -b`` alone (no results written), or ``-r raw`` (results in a rawfile)."""
    cmd = ["ngspice", "-b"] + (["-r", str(raw)] if raw else []) + [str(netlist)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise RuntimeError(f"ngspice -b failed on {netlist}")
    return {"wall_s": wall, "max_rss_mb": usage.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--r-wire", type=float, default=1.0, help="ohm per segment, both lines")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    raw_rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        net = Path(tmp) / "xbar.cir"
        for _ in range(args.repeat):
            a = run_aimc(args.size, args.r_wire, net, batch=False)
            s = run_aimc(args.size, args.r_wire, net, batch=True)
            b = run_ngspice_batch(net)
            br = run_ngspice_batch(net, Path(tmp) / "out.raw")
            rows.append((a, b, s))
            raw_rows.append(br)
    med = statistics.median
    out = {
        "size": args.size,
        "r_wire_ohm": args.r_wire,
        "repeat": args.repeat,
        "aimc_build_s": med(a["build_s"] for a, _, _ in rows),
        "aimc_simulate_s": med(a["simulate_s"] for a, _, _ in rows),
        "aimc_batch_simulate_s": med(s["simulate_s"] for _, _, s in rows),
        "aimc_peak_mb": med(a["max_rss_mb"] for a, _, _ in rows),
        "ngspice_batch_s": med(b["wall_s"] for _, b, _ in rows),
        "ngspice_peak_mb": max(b["max_rss_mb"] for _, b, _ in rows),
        "ngspice_batch_raw_s": med(r["wall_s"] for r in raw_rows),
        "ratio_simulate_vs_batch_raw": med(
            a["simulate_s"] / r["wall_s"] for (a, _, _), r in zip(rows, raw_rows, strict=True)),
        "ratio_simulate_vs_batch": med(a["simulate_s"] / b["wall_s"] for a, b, _ in rows),
        "ratio_batch_mode_vs_batch": med(s["simulate_s"] / b["wall_s"] for _, b, s in rows),
        "ratio_build_plus_simulate_vs_batch": med(
            (a["build_s"] + min(a["simulate_s"], s["simulate_s"])) / b["wall_s"]
            for a, b, s in rows),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"crossbar {args.size}x{args.size} operating point, r_wire {args.r_wire} ohm "
              f"(both lines), median of {args.repeat}")
        print(f"  aimc build (netlist text)      {out['aimc_build_s']:8.2f} s")
        print(f"  aimc simulate (load+run+read)  {out['aimc_simulate_s']:8.2f} s   "
              f"peak {out['aimc_peak_mb']:.0f} MB (process)")
        print(f"  aimc simulate, batch mode      {out['aimc_batch_simulate_s']:8.2f} s   "
              "(ngspice -b subprocess + rawfile)")
        print(f"  ngspice -b (same netlist)      {out['ngspice_batch_s']:8.2f} s   "
              f"peak {out['ngspice_peak_mb']:.0f} MB")
        print(f"  ngspice -b -r out.raw          {out['ngspice_batch_raw_s']:8.2f} s   "
              "(batch run that writes its results)")
        print(f"  ratio shared-lib / ngspice -b  {out['ratio_simulate_vs_batch']:8.2f}x")
        print(f"  ratio shared-lib / -b -r raw   {out['ratio_simulate_vs_batch_raw']:8.2f}x")
        print(f"  ratio batch mode / ngspice -b  {out['ratio_batch_mode_vs_batch']:8.2f}x "
              "(target <= 1.2)")
        print(f"  ratio build+best simulate / -b "
              f"{out['ratio_build_plus_simulate_vs_batch']:8.2f}x")
    return out


if __name__ == "__main__":
    main()
