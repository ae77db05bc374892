"""PWM transients of a crossbar (and, with ``--tile``, of a whole DAC -> crossbar ->
ADC tile): the current code versus the code before issue 10, side by side in one run.

Each run is a fresh child process; its CPU time (getrusage of the child: ngspice
runs in a thread of that process) is reported beside the wall time, because wall
time on a shared machine swings 2x and more. The old path gets a wall-time budget
(``--old-budget``); when it runs out, the simulated time it reached is reported.

    python benchmarks/bench_pwm.py                       # README's 64x64 HERMES PCM 1T1R
    python benchmarks/bench_pwm.py --baseline own        # step plan vs ngspice's own steps
    python benchmarks/bench_pwm.py --baseline bsource    # compiled cells vs B-sources
    python benchmarks/bench_pwm.py --per-device 2000     # CPU per device and iteration
    python benchmarks/bench_pwm.py --size 256 --cell 1R --encoding single \\
        --device linear --codes random8 --no-old         # 256x256 1R, 8-bit codes
    python benchmarks/bench_pwm.py --tile --size 32 --no-old   # full tile ground truth
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_env  # one BLAS thread; before NumPy

sys.path.insert(0, str(Path(__file__).parent))
from old_tree import env_for, old_tree  # noqa: E402

CHILD = r"""
import json, re, resource, sys, time
import numpy as np
from aimc.circuits import crossbar as xb
from aimc.circuits.spice import SpiceTimeoutError, engine
engine()
a = json.loads(sys.argv[1])
n = a["size"]
cfg = xb.CrossbarConfig(rows=n, cols=n, encoding=a["encoding"], device=a["device"],
                        cell=a["cell"], r_wire_row_ohm=1.0, r_wire_col_ohm=1.0,
                        **({"device_backend": a["backend"]} if "backend" in a else {}))
# the cells' backend as run (the code before the compiled device had B-sources only)
out0 = {"backend": "osdi" if hasattr(xb, "uses_compiled_device")
        and xb.uses_compiled_device(cfg) else "bsource"}
rng = np.random.default_rng(0)
lo = 0.0 if a["encoding"] == "single" else -1.0
g = xb.weights_to_conductances(rng.uniform(lo, 1, (n, n)), a["encoding"])
if a["codes"] == "ramp":
    codes = np.arange(n) - n // 2
else:
    codes = rng.integers(-127, 128, n)
if a["encoding"] == "single":
    codes = np.abs(codes)
if a.get("progress"):
    # reached time and CPU after every accepted step, in a file that survives the
    # child (a 256x256 run that hits its budget is halted mid-solve)
    from aimc.circuits import spice
    _call = spice._StepControl.__call__
    _log = open(a["progress"], "w", buffering=1)

    def _tracked(self, t, pdelta, olddelta, redo, ident, loc, user):
        if loc == 1 and not redo:
            u = resource.getrusage(resource.RUSAGE_SELF)
            _log.write(f"{t:.6e} {u.ru_utime + u.ru_stime:.2f}\n")
        return _call(self, t, pdelta, olddelta, redo, ident, loc, user)
    spice._StepControl.__call__ = _tracked
c0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
if a.get("progress"):
    _log.write(f"start {c0.ru_utime + c0.ru_stime:.2f}\n")
out = {"reached_s": None, **out0}
try:
    if a["tile"]:
        from aimc.circuits.tile import TileConfig, simulate_tile
        r = simulate_tile(TileConfig(crossbar=cfg), g, codes, timeout_s=a["budget_s"])
        out.update(counts=r.counts.tolist(), q0=float(r.q_out_c[0]))
    else:
        kw = {} if a.get("step_plan", True) else {"step_plan": False}
        r = xb.simulate_pwm(cfg, g, codes, timeout_s=a["budget_s"], **kw)
        out.update(points=len(r.time_s), q0=float(r.q_out_c[0]), reached_s=float(r.time_s[-1]))
    out["finished"] = True
except SpiceTimeoutError as e:
    found = re.findall(r"Reference value\s*:\s*([0-9.eE+-]+)", str(e))
    out.update(finished=False, reached_s=float(found[-1]) if found else None)
c1 = resource.getrusage(resource.RUSAGE_SELF)
out.update(wall_s=time.perf_counter() - t0,
           cpu_s=(c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime),
           max_rss_mb=c1.ru_maxrss / 1024, window_s=float(np.max(np.abs(codes))) * 1e-9)
if a["tile"] and out["finished"]:
    # the same codes through the tile surrogate (DAC -> crossbar -> ADC chain), and
    # the charge against crossbar operating points summed over the PWM segments
    from aimc.circuits.tile import segment_charges
    from aimc.surrogate.chain import tile_mvm
    from aimc.surrogate.crossbar_model import DomainError
    from aimc.surrogate.tile_model import load_default_tile_model
    tile = TileConfig(crossbar=cfg)
    q_ops = segment_charges(tile.op_config(), g, codes, tile.dac.t_lsb_s)
    out.update(charge_vs_op_segments_of_fs=float(np.max(np.abs(r.q_phys_c - q_ops))
                                                 / np.max(np.abs(q_ops))),
               line_error_v=r.line_error_v)
    try:
        pred = tile_mvm(load_default_tile_model(), cfg, g, codes[None, :]).counts[0]
    except DomainError as e:        # e.g. 1T1R cells: the surrogate models 1R only
        out.update(surrogate_skipped=str(e))
    else:
        d = r.counts - pred
        out.update(surrogate_counts=pred.tolist(),
                   vs_surrogate_rms_lsb=float(np.sqrt(np.mean(d**2))),
                   vs_surrogate_max_lsb=float(np.max(np.abs(d))))
print(json.dumps(out))
"""


def progress(path: str) -> dict:
    """Reached time and CPU seconds from a child's progress file (see CHILD)."""
    lines = Path(path).read_text().split("\n") if Path(path).exists() else []
    start = [float(x.split()[1]) for x in lines if x.startswith("start ")]
    pts = [x.split() for x in lines if x and not x.startswith("start ")]
    if not start or not pts:
        return {}
    return {"reached_s": float(pts[-1][0]), "cpu_s": float(pts[-1][1]) - start[0],
            "points": len(pts)}


def run(args: dict, shim: Path | None) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env_for(shim),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        out = {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
        if args.get("progress"):
            # the progress file tells how far the child got (the simulated time per
            # CPU second below is computed from it)
            out.update(progress(args["progress"]), finished=False, wall_s=float("nan"),
                       max_rss_mb=float("nan"), window_s=None)
        return out
    return json.loads(proc.stdout.strip().splitlines()[-1])


def per_device(n: int, rounds: int) -> dict:
    """CPU per device and Newton iteration: ``n`` cells, each behind its own 1 kΩ
    resistor from a 0.3 V, 1 GHz sine source, in ``ngspice -b`` (process CPU from
    getrusage of the child; ``.options acct`` for the iteration count). Each cell
    kind runs a 2 ns and a 6 ns transient: the difference in CPU over the difference
    in iterations leaves out parsing and set-up. Cells: a resistor (the floor), the
    PCM B-source, the compiled PCM device; rounds back to back."""
    from aimc.circuits.compiled import MODEL_TYPE
    from aimc.circuits.devices import PcmDevice, osdi_instance, osdi_model_line
    from aimc.circuits.spice import simulate

    dev = PcmDevice()
    cells = {
        "resistor": lambda k: f"Rd{k} b{k} 0 4e4",
        "bsource": lambda k: dev.spice(f"d{k}", f"b{k}", "0", 25e-6),
        "osdi": lambda k: osdi_instance(f"d{k}", f"b{k}", "0", "cell", 25e-6),
    }

    def one(kind: str, stop_ns: int) -> tuple[float, float]:
        lines = ["* per-device CPU"]
        if kind == "osdi":
            lines.append(osdi_model_line(dev, "cell", MODEL_TYPE))
        for k in range(n):
            lines += [f"V{k} a{k} 0 SIN(0 0.3 1e9)", f"R{k} a{k} b{k} 1e3", cells[kind](k)]
        lines += [".options acct klu", f".tran 10p {stop_ns}n", ".end"]
        c0 = bench_env.cpu_s(resource.RUSAGE_CHILDREN)
        r = simulate("\n".join(lines) + "\n", ["time"], batch=True)
        cpu = bench_env.cpu_s(resource.RUSAGE_CHILDREN) - c0
        its = [float(line.split("=")[1]) for line in r.log.splitlines()
               if line.strip().startswith("Transient iterations =")]
        return cpu, its[0]

    per: dict[str, list[float]] = {k: [] for k in cells}
    info: dict[str, tuple] = {}
    for _ in range(rounds):
        for kind in cells:
            c2, i2 = one(kind, 2)
            c6, i6 = one(kind, 6)
            per[kind].append((c6 - c2) / (i6 - i2) / n)
            info[kind] = (i2, i6, c2, c6)
    med = statistics.median
    out: dict = {"devices": n, "rounds": rounds, "machine_load_1min": os.getloadavg()[0]}
    floor = med(per["resistor"])
    for kind in cells:
        i2, i6, c2, c6 = info[kind]
        out[kind] = {"iterations_2ns": i2, "iterations_6ns": i6, "cpu_2ns_s": c2,
                     "cpu_6ns_s": c6, "us_per_device_iteration": 1e6 * med(per[kind]),
                     "us_above_resistor": 1e6 * (med(per[kind]) - floor)}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--cell", default="1T1R", choices=["1R", "1T1R"])
    ap.add_argument("--encoding", default="hermes", choices=["single", "differential", "hermes"])
    ap.add_argument("--device", default="pcm", choices=["linear", "pcm", "rram"])
    ap.add_argument("--codes", default="ramp", choices=["ramp", "random8"],
                    help="ramp: arange(-n/2, n/2) as in the README; random8: 8-bit codes")
    ap.add_argument("--tile", action="store_true", help="full DAC -> crossbar -> ADC tile")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--budget", type=float, default=3600.0, help="wall s per new run")
    ap.add_argument("--old-budget", type=float, default=600.0, help="wall s per old run")
    ap.add_argument("--no-old", action="store_true", help="skip the baseline")
    ap.add_argument("--baseline", default="old", choices=["old", "own", "bsource"],
                    help="old: the code before issue 10 (commit 7f9bcbd); own: this code "
                         "with ngspice's own step control (step_plan=False); bsource: "
                         "this code with B-source cells (device_backend='bsource')")
    ap.add_argument("--per-device", type=int, default=0, metavar="N",
                    help="only measure CPU per device and Newton iteration with N cells "
                         "(resistor, B-source, compiled device; --repeat rounds)")
    ap.add_argument("--progress", default=None,
                    help="file for the new run's reached time and CPU after every step")
    ap.add_argument("--json", action="store_true")
    ns = ap.parse_args(argv)
    if ns.per_device:
        out = per_device(ns.per_device, ns.repeat)
        if ns.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"{ns.per_device} cells, ngspice -b, 6 ns minus 2 ns transient, median "
                  f"of {ns.repeat}; load average {out['machine_load_1min']:.1f}")
            for kind in ("resistor", "bsource", "osdi"):
                r = out[kind]
                print(f"  {kind:8s}: {r['us_per_device_iteration']:6.2f} us CPU per device and "
                      f"iteration ({r['us_above_resistor']:6.2f} above a resistor); last "
                      f"round 2 ns: {r['iterations_2ns']:.0f} iterations {r['cpu_2ns_s']:.1f} "
                      f"s, 6 ns: {r['iterations_6ns']:.0f} iterations {r['cpu_6ns_s']:.1f} s")
        return out
    base = {"size": ns.size, "cell": ns.cell, "encoding": ns.encoding, "device": ns.device,
            "codes": ns.codes, "tile": ns.tile}
    if ns.tile and ns.baseline == "own":
        ap.error("--baseline own compares crossbar transients; the tile has no step plan")
    keep: list = []
    own = not ns.no_old and ns.baseline == "own"
    bsrc = not ns.no_old and ns.baseline == "bsource"
    shim = None if ns.no_old or own or bsrc else old_tree(keep=keep)
    new_runs, old_runs = [], []
    for _ in range(ns.repeat):          # paired rounds: old and new back to back
        new_runs.append(run({**base, "budget_s": ns.budget, "progress": ns.progress}, None))
        if shim is not None:
            old_runs.append(run({**base, "budget_s": ns.old_budget}, shim))
        elif own:
            old_runs.append(run({**base, "budget_s": ns.old_budget, "step_plan": False}, None))
        elif bsrc:
            old_runs.append(run({**base, "budget_s": ns.old_budget, "backend": "bsource"},
                                None))
    med = statistics.median

    def summary(runs: list[dict]) -> dict:
        ok = [r for r in runs if "error" not in r or "reached_s" in r]
        if not ok:
            return {"error": runs[0].get("error") if runs else "not run"}
        s = {k: med(r[k] for r in ok) for k in ("cpu_s", "wall_s", "max_rss_mb")}
        s["finished"] = all(r["finished"] for r in ok)
        s["backend"] = ok[0].get("backend")
        s["reached_s"] = ok[0].get("reached_s")
        s["window_s"] = ok[0].get("window_s")
        if ok[0].get("points"):
            s["points"] = ok[0]["points"]
        if s["reached_s"]:
            s["simulated_ns_per_cpu_s"] = s["reached_s"] * 1e9 / s["cpu_s"]
        for k in ("vs_surrogate_rms_lsb", "vs_surrogate_max_lsb", "charge_vs_op_segments_of_fs",
                  "line_error_v"):
            if k in ok[0]:
                s[k] = med(r[k] for r in ok)
        if "surrogate_skipped" in ok[0]:
            s["surrogate_skipped"] = ok[0]["surrogate_skipped"]
        return s

    out = {"case": base, "repeat": ns.repeat, "new": summary(new_runs),
           "machine_load_1min": os.getloadavg()[0]}
    if old_runs:
        out["baseline"] = ns.baseline
        out["old"] = summary(old_runs)
        n, o = out["new"], out["old"]
        if "simulated_ns_per_cpu_s" in n and "simulated_ns_per_cpu_s" in (o or {}):
            out["speedup_cpu"] = n["simulated_ns_per_cpu_s"] / o["simulated_ns_per_cpu_s"]
    if ns.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"PWM transient {ns.size}x{ns.size} {ns.encoding} {ns.device} {ns.cell}"
              f"{' tile' if ns.tile else ''}, codes {ns.codes} (median of {ns.repeat}; "
              f"load average {out['machine_load_1min']:.1f})")
        labels = {"new": "new", "old": {"own": "own steps", "bsource": "B-sources"}.get(
            ns.baseline, "old")}
        for name in ("new", "old"):
            if name in out:
                s = out[name]
                label = labels[name]
                if "error" in s:
                    print(f"  {label}: error {s['error']}")
                    continue
                reach = s.get("reached_s")
                pts = f"  {s['points']} points" if s.get("points") else ""
                print(f"  {label} ({s.get('backend')}): cpu {s['cpu_s']:8.1f} s  "
                      f"wall {s['wall_s']:8.1f} s{pts}  "
                      f"peak {s['max_rss_mb']:.0f} MB  "
                      f"{'finished' if s['finished'] else 'timed out'}"
                      + (f", reached {reach * 1e9:.1f} ns" if reach else ""))
                if "vs_surrogate_rms_lsb" in s:
                    print(f"    counts vs the tile surrogate (same codes): "
                          f"{s['vs_surrogate_rms_lsb']:.2f} LSB RMS, "
                          f"{s['vs_surrogate_max_lsb']:.2f} max")
                if "surrogate_skipped" in s:
                    print(f"    counts not compared with the tile surrogate: "
                          f"{s['surrogate_skipped']}")
                if "charge_vs_op_segments_of_fs" in s:
                    print(f"    line charge vs operating points over the PWM segments: "
                          f"{100 * s['charge_vs_op_segments_of_fs']:.1f} % of full scale "
                          f"(regulator line error {1e3 * s['line_error_v']:.1f} mV)")
        if "speedup_cpu" in out:
            print(f"  simulated time per CPU second, new / {labels['old']}: "
                  f"{out['speedup_cpu']:.1f}x")
    for k in keep:
        k.cleanup()
    return out


if __name__ == "__main__":
    t = time.time()
    main()
    print(f"  ({time.time() - t:.0f} s)", file=sys.stderr)
