"""``aimc study SPEC.toml --out study.h5`` and ``aimc study plot study.h5``.

Registered in the ``aimc`` CLI through ``EXTERNAL_COMMANDS`` (:mod:`aimc.system.cli`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "study", help="design-space study: bits, device, tile, pruning -> accuracy, "
        "energy, latency, area (aimc study SPEC.toml --out F.h5 | aimc study plot F.h5)",
        description="Run a study spec (a TOML file or a shipped name: ci, full) into an "
        "HDF5 file, resumable; or, with 'plot', print the Pareto front and the fitted "
        "relation of a study file and write its plots.")
    p.add_argument("spec", help="SPEC.toml, a shipped spec name (ci, full), or 'plot'")
    p.add_argument("file", nargs="?", help="with 'plot': the study file")
    p.add_argument("--out", help="study file to write (resumes if it exists)")
    p.add_argument("--workers", type=int, default=2, help="local processes (default 2)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="a Dask scheduler")
    p.add_argument("--plots", metavar="DIR", help="plot: PNG folder (default: beside file)")
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.spec == "plot":
        return _plot(args)
    from aimc.system.studies.study_run import run_study

    if not args.out:
        raise ValueError("aimc study SPEC needs --out STUDY.h5")
    s = run_study(args.spec, args.out, workers=args.workers, scheduler=args.scheduler,
                  progress=not args.json, retry_failed=args.retry_failed)
    print(json.dumps(s.as_dict(), indent=2) if args.json else s.text())
    return 0 if s.n_failed == 0 else 1


def _plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from aimc.system.studies.correlation import fit_relation, pareto_front, tops_curve
    from aimc.system.studies.study_plots import plot_study
    from aimc.system.studies.study_store import read_study

    if not args.file:
        raise ValueError("aimc study plot needs the study file: aimc study plot STUDY.h5")
    st = read_study(args.file)
    o, prm = st["objectives"], st["params"]
    fits, report = {}, {"file": args.file, "networks": {}}
    for net in st["attrs"]["networks"]:
        front = pareto_front(st, net)
        entry: dict[str, Any] = {"pareto": [
            {**{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in prm.items()},
             "acc_mean": float(o[f"{net}.acc_mean"][i]),
             "acc_std": float(o[f"{net}.acc_std"][i]),
             "energy_j": float(o[f"{net}.energy_j"][i]),
             "latency_s": float(o[f"{net}.latency_s"][i]),
             "area_mm2": float(o[f"{net}.area_mm2"][i])} for i in front]}
        try:
            fits[net] = fit_relation(st, net)
            from dataclasses import asdict

            entry["fit"] = asdict(fits[net])
        except ValueError as e:
            entry["fit_error"] = str(e)
        report["networks"][net] = entry
    curve = tops_curve()
    report["tops_curve"] = curve
    out_dir = Path(args.plots) if args.plots else Path(args.file).with_suffix("")
    report["plots"] = [str(p) for p in plot_study(st, out_dir, fits, curve)]
    if args.json:
        print(json.dumps(report, indent=2, default=float))
        return 0
    n_ok = int(np.sum(st["status"] == 1))
    print(f"study {st['attrs']['name']}: {n_ok}/{len(st['status'])} configurations done")
    for net, entry in report["networks"].items():
        print(f"\n{net}: Pareto front (accuracy up, energy and area down), "
              f"{len(entry['pareto'])} configurations")
        print(f"{'wb':>3} {'xb':>3} {'adc':>3} {'dev':>4} {'tile':>4} {'prune':>5} "
              f"{'struct':>12} {'acc %':>7} {'±':>5} {'energy nJ':>10} {'lat µs':>7} "
              f"{'mm²':>6}")
        for r in sorted(entry["pareto"], key=lambda r: r["energy_j"])[:15]:
            print(f"{r['weight_bits']:3.0f} {r['input_bits']:3.0f} {r['adc_bits']:3.0f} "
                  f"{r['device']:>4} {r['tile_size']:4.0f} {r['prune']:5.2f} "
                  f"{r['prune_structure']:>12} {r['acc_mean'] * 100:7.2f} "
                  f"{r['acc_std'] * 100:5.2f} {r['energy_j'] * 1e9:10.2f} "
                  f"{r['latency_s'] * 1e6:7.2f} {r['area_mm2']:6.2f}")
        if net in fits:
            print(fits[net].text())
        else:
            print(f"fit: {entry.get('fit_error')}")
    print("\nseed 004: tile vs cluster TOPS/W, MobileNetV2 (IMA energy per job scaled)")
    for r in curve:
        print(f"  tile {r['tile_energy_per_mvm_j'] * 1e9:7.2f} nJ/MVM  "
              f"{r['tile_tops_per_w']:6.2f} TOPS/W -> cluster {r['cluster_tops_per_w']:5.2f} "
              f"TOPS/W (IMA share of energy {r['ima_analog_share'] * 100:4.1f} %)")
    print("plots: " + ", ".join(report["plots"]))
    return 0
