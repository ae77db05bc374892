"""The ``aimc`` command line.

Subcommands are registered by small functions that take the argparse subparsers object;
to add one, write::

    @command
    def _my_cmd(sub: argparse._SubParsersAction) -> None:
        p = sub.add_parser("mycmd", help="...")
        p.add_argument(...)
        p.set_defaults(func=_run_mycmd)   # _run_mycmd(args) -> int; import heavy modules inside

or, from another package, give a module a ``register(subparsers)`` function and add its
name to ``EXTERNAL_COMMANDS``. Each handler lazily imports what it needs, so
``aimc --help`` stays fast. Errors a user can
cause (bad file, bad parameter, unsupported operator, a network that does not fit) are
printed as one line ``aimc: error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Registrar = Callable[[Any], None]
COMMANDS: list[Registrar] = []


def command(fn: Registrar) -> Registrar:
    """Register a subcommand (decorator)."""
    COMMANDS.append(fn)
    return fn


def _add_arch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", metavar="CONFIG.toml",
                   help="cluster configuration (TOML); default: the seed-001 cluster")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--plots", metavar="DIR", help="write plots (PNG) into DIR")


def _load_arch(args: argparse.Namespace):
    from aimc.system.cluster.config import ClusterConfig

    return ClusterConfig.load(args.arch) if args.arch else ClusterConfig()


# ---- eval ---------------------------------------------------------------------------------
def builtin_networks() -> dict[str, Callable[[], Any]]:
    from aimc.system.networks.mobilenetv2 import mobilenetv2
    from aimc.system.studies.paper import bottleneck_network

    return {
        "mobilenetv2": mobilenetv2,
        "mobilenetv2_0.5": lambda: mobilenetv2(0.5),
        "mobilenetv2_0.75": lambda: mobilenetv2(0.75),
        "bottleneck": bottleneck_network,
    }


def load_network(spec: str):
    nets = builtin_networks()
    if spec in nets:
        return nets[spec]()
    if spec.lower().endswith(".onnx"):
        from aimc.system.networks.onnx_import import load_onnx

        return load_onnx(spec)
    raise ValueError(f"unknown network {spec!r}: give a built-in name ({', '.join(nets)}) "
                     "or a path to an .onnx file")


@command
def _eval_cmd(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a network on the cluster (latency, energy, IMAs)",
                       description="Map, pack and time a network on the heterogeneous cluster.")
    p.add_argument("network", help="built-in name (mobilenetv2, bottleneck, ...) or FILE.onnx")
    _add_arch(p)
    p.add_argument("--tile", metavar="TILE.h5",
                   help="IMA job latency/energy from a SPICE-fitted tile model (aimc.surrogate)")
    p.add_argument("--mapping", choices=["cores", "ima", "hybrid", "ima_dw"],
                   help="override the configuration's layer mapping")
    p.add_argument("--op", choices=["500MHz", "250MHz"], help="operating point")
    p.add_argument("--n-ima", type=int, help="number of IMAs (0: as many as needed)")
    p.add_argument("--dump-arch", metavar="FILE.toml",
                   help="write the configuration used to FILE.toml (to edit and pass to --arch)")
    p.add_argument("--data", metavar="DATA",
                   help="also the accuracy of the same mapping on the analog tiles: FILE.npz "
                        "(x_cal, x_test, y_test), or 'digits' / 'digits-images'; implied for "
                        "digits-cnn, digits-mobilenet, digits-mlp")
    p.add_argument("--times", default="1h",
                   help="with --data: times after programming (default 1h; e.g. 1h,1d,1y)")
    p.add_argument("--device-seeds", default="1",
                   help="with --data: device seeds, a count from --seed or a list (default 1)")
    p.add_argument("--seed", type=int, default=0, help="with --data: first device seed")
    p.set_defaults(func=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    import dataclasses

    from aimc.system.cluster.model import evaluate

    cfg = _load_arch(args)
    if args.op:
        cfg = cfg.with_op(args.op)
    if args.mapping:
        cfg = dataclasses.replace(cfg, mapping=args.mapping)
    if args.n_ima is not None:
        cfg = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima, n_ima=args.n_ima))
    cfg.validate()
    job_model = None
    tile = args.tile or cfg.ima.tile_model
    if tile:
        from aimc.system.cluster.ima import load_tile_model

        job_model = load_tile_model(tile)
        if job_model.rows != job_model.cols:
            raise ValueError(f"tile model {tile!r} is {job_model.rows}x{job_model.cols}; "
                             "only square crossbars are supported")
        cfg = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima, size=job_model.rows,
                                                               tile_model=tile))
    if args.data or args.network in ("digits-cnn", "digits-mobilenet", "digits-mlp"):
        return _run_eval_report(args, cfg, job_model, tile)
    net = load_network(args.network)
    res = evaluate(net, cfg, job_model=job_model)
    if args.dump_arch:
        cfg.dump(args.dump_arch)
    plots: list[str] = []
    if args.plots:
        from aimc.system.report import plot_network

        plots = [str(p) for p in plot_network(res, args.plots)]
    tile_job = job_model.summary() if hasattr(job_model, "summary") else None
    if tile_job:
        # the same network with the published per-job figures, for the comparison
        paper_cfg = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima, tile_model=""))
        tile_job["network_energy_paper_job_j"] = evaluate(net, paper_cfg).energy_j
        tile_job["network_energy_j"] = res.energy_j
        if net.name.startswith("mobilenetv2_1_"):
            from aimc.system.studies.paper import FIGURES

            tile_job["network_energy_published_j"] = FIGURES["mnv2_energy_j"].value
    if args.json:
        d = res.to_dict()
        d["plots"] = plots
        if tile_job:
            d["tile_job"] = tile_job
        print(json.dumps(d, indent=1))
    else:
        from aimc.system.report import network_table

        print(network_table(res))
        if tile_job:
            print(_tile_job_text(tile_job))
        for p in plots:
            print(f"plot: {p}")
    return 0


def _run_eval_report(args: argparse.Namespace, cfg: Any, job_model: Any,
                     tile: str | None) -> int:
    """``aimc eval NETWORK --data DATA``: accuracy + latency/energy/IMAs/area, one mapping."""
    import tempfile

    from aimc.system.netreport import network_report, parse_seeds, parse_times, report_text
    from aimc.system.netreport import resolve as resolve_network
    from aimc.system.report import network_table

    times = parse_times(args.times)
    seeds = parse_seeds(args.device_seeds, args.seed)
    if not tile:   # accuracy needs a tile model: latency/energy then come from the same one
        import dataclasses

        from aimc.surrogate.tile_model import default_tile_model_path
        from aimc.system.cluster.ima import load_tile_model

        tile = str(default_tile_model_path())
        job_model = load_tile_model(tile)
        cfg = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima, size=job_model.rows,
                                                               tile_model=tile))
    with tempfile.TemporaryDirectory() as tmp:
        nd = resolve_network(args.network, args.data, 0, Path(tmp))
        rep = network_report(nd, cfg, tile or None, job_model, times, seeds,
                             progress=not args.json)
    if args.dump_arch:
        cfg.dump(args.dump_arch)
    study, res = rep.pop("_study"), rep.pop("_result")
    rep["tile_model"] = tile
    if hasattr(job_model, "summary"):
        rep["tile_job"] = job_model.summary()
    plots: list[str] = []
    if args.plots:
        from aimc.system.report import plot_accuracy_vs_time

        plots.append(str(plot_accuracy_vs_time(study, args.plots)))
    if args.json:
        rep["plots"] = plots
        print(json.dumps(rep, indent=1, default=float))
        return 0
    print(network_table(res))
    print(report_text(rep))
    for n in rep["notes"]:
        print(f"note: {n}")
    for p in plots:
        print(f"plot: {p}")
    return 0


# ---- reproduce ------------------------------------------------------------------------------
@command
def _reproduce_cmd(sub: Any) -> None:
    p = sub.add_parser("reproduce", help="reproduce the published figures (seed 001 / 004)",
                       description="Print published vs simulated figures with % error.")
    p.add_argument("experiment",
                   choices=["roofline", "bottleneck", "mobilenetv2", "dutycycle", "all"])
    _add_arch(p)
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args: argparse.Namespace) -> int:
    from aimc.system.studies.experiments import EXPERIMENTS, run

    cfg = _load_arch(args)
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    reps = [run(n, cfg) for n in names]
    plots: dict[str, list[str]] = {}
    if args.plots:
        from aimc.system.report import plot_reproduction

        for r in reps:
            plots[r.name] = [str(p) for p in plot_reproduction(r, args.plots)]
    if args.json:
        out = {r.name: {**r.to_dict(), "plots": plots.get(r.name, [])} for r in reps}
        if len(reps) == 1:
            out = out[reps[0].name]
        print(json.dumps(out, indent=1, default=float))
    else:
        from aimc.system.report import reproduction_table

        for r in reps:
            print(reproduction_table(r))
            for p in plots.get(r.name, []):
                print(f"plot: {p}")
            print()
        from aimc.system.studies.experiments import independent_predictions

        worst = max((abs(row.error_pct) for r in reps for row in r.rows), default=0.0)
        n = sum(len(r.rows) for r in reps)
        within = sum(abs(row.error_pct) <= 10 for r in reps for row in r.rows)
        p_in, p_n, _ = independent_predictions(reps)
        print(f"independent predictions within 10 % of the paper: {p_in}/{p_n} (each counted "
              f"once; fitted, derived and restated rows excluded)")
        print(f"all rows: {within}/{n} within 10 % (worst {worst:.1f} %)")
    return 0


def _tile_job_text(t: dict[str, float]) -> str:
    nj = 1e9
    lines = [f"tile model job: {t['latency_s'] * nj:.0f} ns per MVM (published HERMES "
             f"{t['latency_published_s'] * nj:.0f} ns); {t['energy_full_job_j'] * nj:.2f} nJ "
             f"per full 256x256 job = analog {t['analog_j'] * nj:.2f} (array "
             f"{t['array_j'] * nj:.2f}, DAC {t['dac_j'] * nj:.3f}, ADC {t['adc_j'] * nj:.2f}) "
             f"+ digital periphery {t['digital_j'] * nj:.2f} nJ"]
    dig = {k[8:-2]: v for k, v in t.items() if k.startswith("digital_") and k != "digital_j"}
    if dig:
        lines.append("  digital periphery (ngspice cell energies on the same MOSFET cards): "
                     + ", ".join(f"{k.replace('_', ' ')} {v * nj:.3f}" for k, v in dig.items())
                     + f" nJ ({t['counts_per_col']:.0f} ADC counts per column)")
    err = 100 * (t["energy_full_job_j"] / t["published_job_j"] - 1)
    lines.append(f"  {t['tops_per_w']:.1f} TOPS/W vs HERMES {t['published_tops_per_w']:g} "
                 f"TOPS/W = {t['published_job_j'] * nj:.1f} nJ per job at 22 nm: {err:+.0f} %")
    e, ep = t["network_energy_j"], t["network_energy_paper_job_j"]
    line = (f"  network energy {e * 1e6:.0f} uJ with this job model vs {ep * 1e6:.0f} uJ with "
            f"the published per-job energy")
    if "network_energy_published_j" in t:
        pub = t["network_energy_published_j"]
        line += (f" (paper: {pub * 1e6:.0f} uJ): {100 * (e / pub - 1):+.0f} % from the "
                 "paper, all of it in the IMA job energy; HERMES' measured "
                 f"{t['published_tops_per_w']:g} TOPS/W also pays for what no SPICE block here "
                 "has: bias and reference generation, clock distribution, calibration and "
                 "the macro's control and I/O")
    lines.append(line)
    return "\n".join(lines)


# ---- explore (design-space sweep) -----------------------------------------------------------
@command
def _explore_cmd(sub: Any) -> None:
    p = sub.add_parser("explore", help="design-space sweep of cluster configurations",
                       description="Evaluate a network on a grid of cluster configurations "
                                   "and print the latency/energy/area Pareto front.")
    p.add_argument("network", help="built-in name or FILE.onnx")
    p.add_argument("--axis", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a swept field, e.g. ima.bus_bits=64,128,256 or op=500MHz,250MHz "
                        "(repeatable; default: a 1,000-point grid)")
    p.add_argument("--arch", metavar="CONFIG.toml", help="base configuration")
    p.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--json", action="store_true", help="all rows as JSON")
    p.set_defaults(func=_run_explore)


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text.strip()


def _run_explore(args: argparse.Namespace) -> int:
    from aimc.system.studies.explore import DEFAULT_AXES, grid, pareto, sweep

    axes: dict[str, list[Any]] = {}
    for spec in args.axis:
        key, sep, vals = spec.partition("=")
        if not sep or not vals:
            raise ValueError(f"--axis {spec!r}: expected KEY=V1,V2,...")
        axes[key.strip()] = [_parse_value(v) for v in vals.split(",")]
    if args.processes < 1:
        raise ValueError(f"--processes must be >= 1, got {args.processes}")
    configs = grid(axes or dict(DEFAULT_AXES), _load_arch(args))
    rows = sweep(load_network(args.network), configs, processes=args.processes,
                 progress=not args.json and len(configs) > 200)
    front = pareto(rows)
    if args.json:
        print(json.dumps({"rows": rows, "pareto": front}, indent=1))
        return 0
    keys = list(axes or DEFAULT_AXES)
    print(f"{len(rows)} configurations, {len(front)} on the latency/energy/area Pareto front "
          f"({sum('error' in r for r in rows)} do not fit)")
    print(f"{'latency':>10s} {'energy':>10s} {'area':>9s}  configuration")
    for r in sorted(front, key=lambda r: r["latency_s"])[:40]:
        conf = ", ".join(f"{k}={r.get(k.split('.')[-1], '')}" for k in keys)
        print(f"{r['latency_s'] * 1e3:8.3f}ms {r['energy_j'] * 1e6:8.1f}uJ "
              f"{r['area_mm2']:7.2f}mm2  {conf}")
    return 0


# ---- subcommands that live elsewhere in aimc -------------------------------------------------
#: modules providing ``register(subparsers)``; imported when the parser is built, so they
#: must keep their top-level imports light (argparse/json) and import the rest in handlers
EXTERNAL_COMMANDS: tuple[str, ...] = ("aimc.circuits.sweep.cli", "aimc.system.demo",
                                     "aimc.surrogate.cli", "aimc.system.netreport",
                                     "aimc.system.linalg_cli",
                                     "aimc.system.studies.study_cli")


def _register_external(sub: Any) -> None:
    import importlib

    for mod_name in EXTERNAL_COMMANDS:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:  # pragma: no cover - a package left out of an install
            continue
        mod.register(sub)


# ---- entry point ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aimc", description="SPICE-in-the-loop co-simulation of analog in-memory computing")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for reg in COMMANDS:
        reg(sub)
    _register_external(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, TypeError, KeyError) as exc:
        print(f"aimc: error: {exc}", file=sys.stderr)
        return 2
    except OverflowError as exc:    # e.g. an integer setting given as inf or 1e400
        print(f"aimc: error: a number is infinite or too large ({exc}); give a finite value",
              file=sys.stderr)
        return 2
    except MemoryError as exc:
        why = exc or "the input asks for more than this machine has"
        print(f"aimc: error: out of memory ({why})", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["COMMANDS", "build_parser", "command", "main", "Path"]
