"""``aimc fit DATA.h5 [...] --out TILE.h5`` and ``aimc validate TILE.h5 --against H.h5``.

Registered in the ``aimc`` CLI by :func:`register` (``aimc.system.cli``); also
runnable as ``python -m aimc.surrogate.cli {fit,validate} ...``. Exit status 0 on
success, 2 when an input is refused (bad sweep file, missing output, NaN, too few
points, tile model of another version, existing output without ``--force``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``fit`` and ``validate`` subcommands to an argparse subparsers object."""
    p = subparsers.add_parser("fit", help="fit crossbar/DAC/ADC surrogates from sweep files",
                              description="Fit every circuit found in the HDF5 sweep files "
                              "into one tile-model file and print a validation table "
                              "(1-in-5 hold-out).")
    p.add_argument("data", nargs="+", help="HDF5 sweep files (aimc sweep outputs)")
    p.add_argument("--out", required=True, help="tile-model HDF5 file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.add_argument("--heldout", nargs="+", default=[], metavar="HELDOUT.h5",
                   help="held-out sweep files: validate on them too, store the figures "
                        "in the tile model (validation/heldout) and widen the crossbar's "
                        "validity domain to them")
    p.add_argument("--json", action="store_true", help="print the validation as JSON")
    p.set_defaults(func=handle_fit)
    v = subparsers.add_parser("validate", help="error of a tile model on held-out SPICE data",
                              description="RMS/p99/max error in LSB of an 8-bit signed ADC "
                              "(full scale = the held-out set's) and speed-up vs SPICE.")
    v.add_argument("model", help="tile-model HDF5 file (aimc fit output)")
    v.add_argument("--against", nargs="+", required=True, help="held-out HDF5 sweep files")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(func=handle_validate)


def _error(msg: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": False, "error": msg}))
    else:
        print(f"error: {msg}", file=sys.stderr)
    return 2


def _table(val: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'circuit':9} {'points':>6} {'rms LSB':>8} {'p99 LSB':>8} {'max LSB':>8} "
             f"{'x SPICE':>9}  note"]
    for c, v in val.items():
        note = "in-sample" if v.get("in_sample") else ""
        if c == "crossbar":
            note += (f" ideal rms {v['baseline_ideal']['rms_lsb']:.2f}, first-order rms "
                     f"{v['baseline_first_order']['rms_lsb']:.2f}")
        lines.append(f"{c:9} {v['n_points']:>6d} {v['rms_lsb']:>8.3f} {v['p99_lsb']:>8.3f} "
                     f"{v['max_lsb']:>8.3f} {v['speedup_vs_spice']:>9.0f}  {note.strip()}")
        if c == "crossbar":
            for k, s in v["by_wire_ohm_row_col"].items():
                lines.append(f"  wire {k:>12} ohm (row/col): rms {s['rms_lsb']:.3f}  "
                             f"p99 {s['p99_lsb']:.3f}  max {s['max_lsb']:.3f}")
    return "\n".join(lines)


def handle_fit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aimc.surrogate.fit import SweepDataError, fit_tile

    out = Path(args.out)
    if out.exists() and not args.force:
        return _error(f"{out} exists; pass --force to overwrite it", args.json)
    try:
        model = fit_tile(args.data)
        cmd = "aimc fit " + " ".join(Path(d).name for d in args.data)
        if args.heldout:
            from aimc.surrogate.fit import validate_tile

            for circuit, v in validate_tile(model, args.heldout).items():
                model.validation.setdefault(circuit, {})["heldout"] = v
            if model.crossbar is not None:  # the validated points widen the domain
                from aimc.surrogate.fit import crossbar_cases, read_circuits

                held = read_circuits(args.heldout).get("crossbar")
                if held is not None:
                    model.crossbar.extend_domain(crossbar_cases(held))
            cmd += " --heldout " + " ".join(Path(d).name for d in args.heldout)
        model.attrs["fit_command"] = cmd
        model.save(out, force=args.force)
    except (SweepDataError, ValueError, FileExistsError) as e:
        return _error(str(e), args.json)
    if args.json:
        print(json.dumps({"ok": True, "out": str(out), "validation": model.validation},
                         indent=2, default=float))
    else:
        print("hold-out (1 in 5 points of the fitted files):")
        print(_table(model.validation))
        held = {c: v["heldout"] for c, v in model.validation.items() if "heldout" in v}
        if held:
            print("held-out files:")
            print(_table(held))
        print(f"wrote {out}")
    return 0


def handle_validate(args: argparse.Namespace) -> int:
    from aimc.surrogate.fit import SweepDataError, validate_tile
    from aimc.surrogate.tile_model import TileModelError, load_tile_model

    try:
        model = load_tile_model(args.model)
        val = validate_tile(model, args.against)
    except (TileModelError, SweepDataError, ValueError) as e:
        return _error(str(e), args.json)
    if args.json:
        print(json.dumps(val, indent=2, default=float))
    else:
        print(_table(val))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aimc.surrogate.cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
