"""Crossbar operating point: aimc (new, before the current probes, and pre-issue-10
code) versus the fastest ``ngspice -b`` invocation that returns the same output
currents, side by side.

Every measurement is a fresh process, in paired rounds (all variants back to back
per round), and reports CPU time (getrusage: user + system of that process, with
ngspice's thread) beside wall time, and peak memory (max RSS). The ``ngspice -b``
invocations, on the netlist that aimc writes (``Design.text()``) and on that netlist
without its current probes (the netlist aimc wrote before them):

* ``-b -r out.raw``              the netlist as written: ``.save`` of the 2·N probe
  voltages that carry the sense and driver currents (ngspice writes only those);
* ``-b -r out.raw``, no ``.save``  every vector written;
* ``-b -r out.raw``, no probes, no ``.save``  the previous netlist as written (the
  fastest invocation before the probes);
* ``-b`` + ``.control``          ``op`` then ``write`` of the sense and driver
  currents only (no probes, no ``.save``).

The aimc figure is ``design.simulate()`` (load + run + read the currents) inside
the child; its netlist build is reported apart.

    python benchmarks/bench_crossbar.py --size 256 --repeat 3 [--no-old] [--json]
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

import bench_env  # noqa: F401  (one BLAS thread; before NumPy)

sys.path.insert(0, str(Path(__file__).parent))
from old_tree import env_for, old_tree  # noqa: E402

PREV_REF = "6fc5e3f"
"""main before the operating point's current probes (no .save lines, every vector kept)."""

CHILD = r"""
import json, resource, sys, time
import numpy as np
from aimc.circuits import crossbar as xb
from aimc.circuits.spice import engine
engine()                                  # library load: once per process, not per run
n, r_wire, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
cfg = xb.CrossbarConfig(rows=n, cols=n, r_wire_row_ohm=r_wire, r_wire_col_ohm=r_wire)
g = xb.weights_to_conductances(rng.uniform(0, 1, (n, n)), "single")
x = rng.uniform(-1, 1, n)
t1 = time.perf_counter()
design = xb.crossbar_design(cfg, g, x)
text = design.text()
t_build = time.perf_counter() - t1
if out != "-":
    open(out, "w").write(text)
vec = list(design.saves)                  # this tree's names of the currents read
n_out = len(xb.output_vectors(cfg))
del text
c0 = resource.getrusage(resource.RUSAGE_SELF)
t2 = time.perf_counter()
res = design.simulate()
i = [res.scalar(v) for v in vec[:n_out]]
t_sim = time.perf_counter() - t2
c1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"build_s": t_build, "wall_s": t_sim,
                  "cpu_s": (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime),
                  "max_rss_mb": c1.ru_maxrss / 1024, "i0": i[0], "vectors": vec}))
"""


def run_aimc(n: int, r_wire: float, netlist: str, shim: Path | None) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(r_wire), netlist],
                         capture_output=True, text=True, check=True, env=env_for(shim))
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ngspice(args: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(["ngspice", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise RuntimeError(f"ngspice {' '.join(args)} failed")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss / 1024}


def variants(base: Path, currents: list[str]) -> dict[str, Path]:
    """The netlist as written (probes, ``.save`` of them), without ``.save`` lines,
    without probes and ``.save`` lines, and with a ``.control`` block writing the
    ``currents`` (branch names) of the netlist without probes."""
    lines = base.read_text().splitlines()
    nosave = [ln for ln in lines if not ln.lower().startswith(".save")]
    noprobe = [ln for ln in nosave if not ln.startswith(("Hpo", "Hpd"))]
    out = {"as_written": base}
    for name, ls in (("no_save", nosave), ("no_probes", noprobe)):
        out[name] = base.with_name(f"{name}.cir")
        out[name].write_text("\n".join(ls) + "\n")
    head = noprobe[:max(k for k, ln in enumerate(noprobe) if ln.lower().startswith(".op"))]
    ctrl = base.with_name("ctrl.cir")
    raw = base.with_name("ctrl.raw")
    ctrl.write_text("\n".join(head) + "\n.control\nop\nwrite " + str(raw) + " "
                    + " ".join(currents) + "\n.endc\n.end\n")
    out["control_write"] = ctrl
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--r-wire", type=float, default=1.0, help="ohm per segment, both lines")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-old", action="store_true",
                    help="skip the older code (pre-issue-10 and main before the probes)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    keep: list = []
    shim = None if args.no_old else old_tree(keep=keep)
    prev = None if args.no_old else old_tree(PREV_REF, keep=keep)
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        net = Path(tmp) / "xbar.cir"
        run_aimc(args.size, args.r_wire, str(net), None)   # writes the netlist
        currents = ([f"vs{c}#branch" for c in range(args.size)]   # single encoding: N x N
                    + [f"vd{r}#branch" for r in range(args.size)])
        files = variants(net, currents)
        raw = str(Path(tmp) / "out.raw")
        cmds = {"ngspice -b -r out.raw (as written: .save of the probes)":
                ["-b", "-r", raw, str(files["as_written"])],
                "ngspice -b -r out.raw, no .save (every vector)":
                ["-b", "-r", raw, str(files["no_save"])],
                "ngspice -b -r out.raw, no probes, no .save":
                ["-b", "-r", raw, str(files["no_probes"])],
                "ngspice -b, no probes, .control: op + write currents":
                ["-b", str(files["control_write"])]}
        for _ in range(args.repeat):          # paired rounds
            rows.setdefault("aimc new", []).append(
                run_aimc(args.size, args.r_wire, "-", None))
            if prev is not None:
                rows.setdefault("aimc before probes", []).append(
                    run_aimc(args.size, args.r_wire, "-", prev))
            if shim is not None:
                rows.setdefault("aimc old", []).append(
                    run_aimc(args.size, args.r_wire, "-", shim))
            for name, cmd in cmds.items():
                rows.setdefault(name, []).append(run_ngspice(cmd))
    med = statistics.median
    table = {name: {k: med(r[k] for r in rs) for k in ("cpu_s", "wall_s", "max_rss_mb")}
             for name, rs in rows.items()}
    ng = [k for k in table if k.startswith("ngspice")]
    fastest_cpu = min(ng, key=lambda k: table[k]["cpu_s"])
    fastest_wall = min(ng, key=lambda k: table[k]["wall_s"])
    out: dict = {"size": args.size, "r_wire_ohm": args.r_wire, "repeat": args.repeat,
                 "load_average": os.getloadavg()[0], "table": table,
                 "fastest_ngspice_cpu": fastest_cpu, "fastest_ngspice_wall": fastest_wall,
                 "build_s": med(r["build_s"] for r in rows["aimc new"])}
    for who in ("aimc new", "aimc before probes", "aimc old"):
        if who not in rows:
            continue
        # ratios per round (paired), then the median
        k = len(rows[who])
        out[f"{who}: cpu / fastest ngspice"] = med(
            rows[who][i]["cpu_s"] / min(rows[n][i]["cpu_s"] for n in ng) for i in range(k))
        out[f"{who}: wall / fastest ngspice"] = med(
            rows[who][i]["wall_s"] / min(rows[n][i]["wall_s"] for n in ng) for i in range(k))
        out[f"{who}: peak memory / fastest ngspice's"] = (
            table[who]["max_rss_mb"] / table[fastest_cpu]["max_rss_mb"])
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"crossbar {args.size}x{args.size} operating point, {args.r_wire} ohm wires "
              f"(both lines), median of {args.repeat} paired rounds, load average "
              f"{out['load_average']:.1f}")
        for name, s in table.items():
            print(f"  {name:54s} cpu {s['cpu_s']:7.2f} s  wall {s['wall_s']:7.2f} s  "
                  f"peak {s['max_rss_mb']:6.0f} MB")
        print(f"  aimc netlist build (not in the above): {out['build_s']:.2f} s")
        for k, v in out.items():
            if k.startswith("aimc"):
                print(f"  {k:54s} {v:6.2f}x")
    for k in keep:
        k.cleanup()
    return out


if __name__ == "__main__":
    main()
