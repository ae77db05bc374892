"""``aimc sweep SPEC.toml --out DATA.h5 [--workers N] [--scheduler ADDRESS] [--json]``.

Registered in the ``aimc`` CLI by :func:`register`; also runnable on its own as
``python -m aimc.circuits.sweep.cli``. Exit status: 0 when every point is ok, 1 when
any point failed or timed out (they are listed), 2 when the spec or the output file
is refused (nothing runs, nothing is modified), 3 when the sweep stopped on a fault of
its surroundings (disk full, Dask scheduler lost: the points finished so far are safe,
the others pending; free space or restart the scheduler and rerun to resume), 130 when
interrupted (Ctrl-C or SIGTERM: the points finished so far are merged into the file
first).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

HELP = "run a netlist sweep (TOML spec) into an HDF5 file"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser("sweep", help=HELP, description=HELP + ". " + _EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=handle)
    return p


_EPILOG = ("A bare SPEC name (e.g. crossbar_op_ci) finds a spec shipped in aimc.netlists. "
           "Rerunning the same command resumes: points already done are skipped.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="sweep spec (TOML file or shipped spec name)")
    p.add_argument("--out", help="HDF5 file to write (created, or resumed)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (tcp://host:port): run the points there")
    p.add_argument("--force", action="store_true",
                   help="start over: replace an existing sweep file (of any spec)")
    p.add_argument("--retry-failed", action="store_true",
                   help="when resuming, run failed and timed-out points again")
    p.add_argument("--checkpoint-s", type=float, default=30.0,
                   help="merge finished points into the HDF5 file this often (s)")
    p.add_argument("--max-points", type=int, default=None, metavar="N",
                   help="refuse specs with more points than N (default 1,000,000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--list", action="store_true",
                   help="list generators (with parameters) and shipped specs, then exit")


def handle(args: argparse.Namespace) -> int:
    from aimc.circuits.sweep.spec import MAX_POINTS, SpecError, load_spec
    from aimc.circuits.sweep.store import DiskFullError, SweepFileError

    if args.list:
        return _list(args.json)
    if not args.spec or not args.out:
        return _error("give a SPEC and --out DATA.h5 (or --list)", args.json)
    if args.workers is not None and args.workers < 1:
        return _error(f"--workers must be >= 1, got {args.workers}", args.json)
    if args.max_points is not None and args.max_points < 1:
        return _error(f"--max-points must be >= 1, got {args.max_points}", args.json)
    try:
        spec = load_spec(args.spec, args.max_points or MAX_POINTS)
    except SpecError as e:
        return _error(f"invalid sweep spec: {e}", args.json)
    from aimc.circuits.sweep.run import PoolError, SchedulerLostError, run_sweep

    def _terminate(signum: int, frame: Any) -> None:  # SIGTERM: stop like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        summary = run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler,
                            force=args.force, retry_failed=args.retry_failed,
                            progress=not args.no_progress, checkpoint_s=args.checkpoint_s)
    except (DiskFullError, SchedulerLostError) as e:
        return _error(str(e), args.json, status=3)
    except SpecError as e:          # found when the points are counted against this machine
        return _error(f"invalid sweep spec: {e}", args.json)
    except SweepFileError as e:
        return _error(str(e), args.json)
    except PoolError as e:
        return _error(f"cannot run the sweep: {e}", args.json)
    except KeyboardInterrupt:
        print(f"interrupted; finished points are saved in {args.out}, rerun to resume",
              file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(summary.text())
    return 0 if summary.ok else 1


def _error(message: str, as_json: bool, status: int = 2) -> int:
    print(f"aimc sweep: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    return status


def _list(as_json: bool) -> int:
    from aimc.circuits.sweep.spec import shipped_specs
    from aimc.circuits.sweep.targets import REQUIRED, TARGETS

    gens = {}
    for name, t in TARGETS.items():
        gens[name] = {
            "doc": t.doc, "test_only": t.test_only, "analyses": list(t.analyses),
            "params": {k: {"type": p.type.__name__, "unit": p.unit, "doc": p.doc,
                           "default": None if p.default is REQUIRED else p.default,
                           "choices": list(p.choices) or None}
                       for k, p in t.params.items()},
            "outputs": {k: {"unit": o.unit, "doc": o.doc, "default": o.default}
                        for k, o in t.outputs.items()},
        }
    specs = {k: str(v) for k, v in sorted(shipped_specs().items())}
    if as_json:
        print(json.dumps({"generators": gens, "specs": specs}, indent=2))
        return 0
    for name, g in gens.items():
        tag = " (test only)" if g["test_only"] else ""
        print(f"{name}{tag}: {g['doc']}")
        for k, p in g["params"].items():
            d = "required" if p["default"] is None else f"default {p['default']!r}"
            unit = f" [{p['unit']}]" if p["unit"] else ""
            print(f"    {k}{unit}: {p['type']}, {d}. {p['doc']}")
        print("  outputs: " + ", ".join(f"{k} [{o['unit']}]" for k, o in g["outputs"].items()))
    print("shipped specs: " + ", ".join(specs))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aimc sweep", description=HELP + ". " + _EPILOG)
    add_arguments(parser)
    return handle(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
