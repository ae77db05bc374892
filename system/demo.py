"""``aimc demo``: the main job, end to end on a small scale.

1. circuits: a 32x32 crossbar with wire IR drop against the ideal GᵀV and the exact
   nodal solve, one PWM DAC line, the CCO-ADC transfer curve (table + plots);
2. sweeps: the CI-sized sweep of each circuit into HDF5;
3. surrogates: the held-out validation of the shipped tile model (the one aimc uses),
   and the fitting pipeline run on the CI sweeps (a toy model, labelled as such);
4. system: MobileNetV2 on the heterogeneous cluster beside the paper's figures;
5. network: the trained digits CNN on the analog tiles (shipped tile model): accuracy of
   the float, quantised and analog paths (1 h after programming, 3 device seeds) with its
   latency and energy on the cluster, beside the software baseline and the paper's
   MobileNetV2 figures.

This module is an orchestrator (like the CLI): it is the one place that reaches into
every layer, always through their public functions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def _table(rows: list[tuple[str, ...]], head: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    return "\n".join(out)


def circuits_step(out: Path, quiet: bool) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from aimc.circuits import adc, dac
    from aimc.circuits import crossbar as xb
    from aimc.surrogate.nodal import LinearCrossbarSolver

    res: dict[str, Any] = {}
    # crossbar: IR drop versus wire resistance
    n = 32
    rng = np.random.default_rng(0)
    g = xb.weights_to_conductances(rng.uniform(-1, 1, (n, n)), "differential")
    x = np.ones(n)
    rows = []
    losses = {}
    for r_wire in (0.0, 1.0, 2.5, 5.0):
        cfg = xb.CrossbarConfig(rows=n, cols=n, encoding="differential",
                                r_wire_row_ohm=r_wire, r_wire_col_ohm=r_wire)
        sim = xb.simulate_op(cfg, g, x)
        ideal = xb.ideal_currents(cfg, g, x)
        solver = LinearCrossbarSolver(xb.physical_conductances(cfg, g), r_wire, r_wire)
        exact = xb.combine_outputs(cfg, solver.currents(cfg.v_cm_v - xb.row_drive(cfg, x),
                                                        cfg.v_cm_v)[0])
        fs = np.max(np.abs(ideal))
        err_ideal = float(np.max(np.abs(sim.i_out_a - ideal)) / fs)
        err_nodal = float(np.max(np.abs(sim.i_out_a - exact)) / fs)
        losses[r_wire] = (ideal - sim.i_out_a) / fs
        rows.append((f"{r_wire:g}", f"{err_ideal * 100:.3f} %", f"{err_nodal:.1e}",
                     f"{sim.sim_time_s * 1e3:.0f} ms"))
    res["crossbar"] = rows
    table = _table(rows, ("r_wire (ohm/seg)", "max |SPICE-ideal| / FS", "SPICE vs nodal",
                          "ngspice time"))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for r_wire, loss in losses.items():
        ax.plot(loss * 100, label=f"{r_wire:g} ohm/segment")
    ax.set_xlabel("output column (distance from drivers ->)")
    ax.set_ylabel("ideal - SPICE (% of full scale)")
    ax.set_title(f"{n}x{n} differential crossbar, all inputs +1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "crossbar_ir_drop.png", dpi=120)
    plt.close(fig)

    # one PWM DAC line
    dcfg = dac.PwmDacConfig()
    drows = []
    for code in (1, 32, -64, 127):
        r = dac.simulate_line(dcfg, code, 16)
        drows.append((str(code), f"{r.charge_c * 1e15:.1f} fC", f"{r.ideal_charge_c * 1e15:.1f} fC",
                      f"{r.t_eff_s * 1e9:.3f} ns", f"{r.energy_j * 1e15:.1f} fJ"))
    res["dac"] = drows
    dtable = _table(drows, ("code", "charge", "ideal (no wire)", "t_eff", "energy"))

    # CCO-ADC transfer curve
    acfg = adc.CcoAdcConfig()
    currents = np.linspace(5e-6, 100e-6, 8)
    cur, freq, counts, energy = adc.transfer_curve(acfg, currents, workers=2)
    a, b, c = adc.fit_calibration(cur, freq)
    arows = [(f"{i * 1e6:.1f} uA", f"{f / 1e9:.2f} GHz", str(int(k)), f"{e * 1e15:.0f} fJ")
             for i, f, k, e in zip(cur, freq, counts, energy, strict=True)]
    res["adc"] = {"rows": arows, "A": a, "B": b, "C": c}
    atable = _table(arows, ("current", "frequency", "count (128 ns)", "energy"))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(cur * 1e6, freq / 1e9, "o", label="ngspice")
    ii = np.linspace(0, cur[-1], 100)
    ax.plot(ii * 1e6, adc.calibration_model(ii, a, b, c) / 1e9, "-",
            label="f = A i/(1+B i) + C")
    ax.set_xlabel("input current (uA)")
    ax.set_ylabel("toggle frequency (GHz)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cco_adc_transfer.png", dpi=120)
    plt.close(fig)
    if not quiet:
        print("\n== 1. circuits (ngspice) ==")
        print(f"crossbar {n}x{n}, differential, linear devices:\n{table}")
        print(f"\nPWM DAC line, 16 cells of 10 uS:\n{dtable}")
        print(f"\nCCO-ADC transfer (relaxation, linearized):\n{atable}")
        print(f"calibration fit: A = {a:.3g} Hz/A, B = {b:.3g} 1/A, C = {c:.3g} Hz")
        print(f"plots: {out / 'crossbar_ir_drop.png'}, {out / 'cco_adc_transfer.png'}")
    return res


def sweeps_step(out: Path, quiet: bool) -> dict[str, Any]:
    from aimc.circuits.sweep.run import run_sweep
    from aimc.circuits.sweep.spec import shipped_specs

    specs = shipped_specs()
    res = {}
    if not quiet:
        print("\n== 2. sweeps (HDF5) ==")
    for name in sorted(k for k in specs if k.endswith("_ci")):
        summary = run_sweep(specs[name], out / f"{name}.h5", progress=not quiet)
        res[name] = summary.as_dict()
        if not quiet:
            print(summary.text())
    return res


#: the sweep generators a tile model is fitted from (``aimc fit``)
TILE_GENERATORS = ("crossbar_op", "dac_line", "cco_adc")

#: what the held-out sets of the shipped tile model are (specs in netlists/sweeps/)
HELDOUT_WHAT = {
    "crossbar": "256x256 HERMES PCM operating points, wires 0.05-1 ohm (fit: 32-64 arrays)",
    "dac": "PWM line transients, 128/256 PCM cells, codes not in the fit",
    "adc": "CCO-ADC transients, DC and stepped currents not in the fit",
}


def shipped_model_validation() -> list[tuple[str, ...]]:
    """Rows (circuit, points, RMS, p99, max, what) of the shipped tile model's validation
    against held-out SPICE, as stored in the file by ``aimc fit --heldout``."""
    from aimc.surrogate.tile_model import load_default_tile_model

    model = load_default_tile_model()
    rows = []
    for circuit, v in model.validation.items():
        h = v.get("heldout")
        if h is None:
            continue
        rows.append((circuit, str(h["n_points"]), f"{h['rms_lsb']:.2f}", f"{h['p99_lsb']:.2f}",
                     f"{h['max_lsb']:.2f}", HELDOUT_WHAT.get(circuit, "")))
    return rows


def surrogate_step(out: Path, sweeps: dict[str, Any], quiet: bool) -> dict[str, Any]:
    """(a) The validation of the tile model that aimc uses (the shipped one) against
    held-out SPICE; (b) the fitting pipeline run on this demo's CI-sized sweeps, whose
    tiny in-fit hold-out is a smoke test, not an accuracy figure."""
    try:
        from aimc.surrogate import cli as scli  # noqa: F401
    except ImportError:
        if not quiet:
            print("\n== 3. surrogates: not available in this version ==")
        return {}
    import subprocess
    import sys

    held = shipped_model_validation()
    res: dict[str, Any] = {"shipped_model_heldout": held}
    if not quiet:
        print("\n== 3. surrogates ==")
        print("(a) the tile model aimc uses (surrogate/data/default_tile.h5) against held-out "
              "SPICE\n    runs that were not in its fit (errors in LSB of an 8-bit signed ADC "
              "whose full\n    scale is the held-out set's largest value):")
        print(_table(held, ("circuit", "points", "RMS LSB", "p99", "max", "held-out set")))
    from aimc.circuits.sweep.spec import load_spec, shipped_specs

    specs = shipped_specs()
    # the tile model is fitted from the tile's circuits only (other *_ci sweeps, e.g. the
    # linear-algebra ones, are not tile circuits)
    files = [v["out"] for k, v in sweeps.items()
             if k in specs and load_spec(specs[k]).generator in TILE_GENERATORS]
    tile = out / "tile_model.h5"
    fit = subprocess.run([sys.executable, "-m", "aimc.system.cli", "fit", *files, "--out",
                          str(tile), "--force"], capture_output=True, text=True)
    res["fit_status"] = fit.returncode
    if not quiet:
        print("\n(b) the same fitting pipeline on this demo's CI-sized sweeps -> "
              f"{tile}:\n    a toy model (a few points per circuit; linear 8-16-row "
              "crossbars, for which the\n    surrogate is the exact linear solve, so 0.000 "
              "is expected). Its hold-out is 1 in 5\n    of those few points (the ADC: one "
              "transient), so its errors test the pipeline,\n    not a model's accuracy; "
              "(a) is the accuracy of the model in use.")
        print(fit.stdout.strip() or fit.stderr.strip())
    return res


def system_step(out: Path, quiet: bool) -> dict[str, Any]:
    from aimc.system.studies.experiments import mobilenet_summary

    text = mobilenet_summary()
    if not quiet:
        print("\n== 4. system: MobileNetV2 on the cluster (seed 001) ==")
        print(text)
    return {"mobilenetv2": text}


def network_step(out: Path, quiet: bool, seeds: int = 3) -> dict[str, Any]:
    """The digits CNN on the analog tiles: accuracy, latency and energy of one mapping."""
    import tempfile

    from aimc.surrogate.tile_model import default_tile_model_path
    from aimc.system.cluster.ima import load_tile_model
    from aimc.system.netreport import accuracy_config, network_report
    from aimc.system.netreport import resolve as resolve_network
    from aimc.system.report import plot_accuracy_vs_time
    from aimc.system.studies.experiments import FIGURES, mobilenet

    tile = str(default_tile_model_path())
    cfg = accuracy_config(None)        # FC layers on the IMA too (as `aimc accuracy`)
    with tempfile.TemporaryDirectory() as tmp:
        nd = resolve_network("digits-cnn", None, 0, Path(tmp))
        rep = network_report(nd, cfg, tile, load_tile_model(tile), [3600.0],
                             list(range(seeds)), progress=not quiet)
    study = rep.pop("_study")
    rep.pop("_result")
    plot = plot_accuracy_vs_time(study, out)
    _, mnv2 = mobilenet()
    f = FIGURES
    a = rep["accuracy"]
    an = a["analog"]["3600"]
    rows = [
        ("digits CNN, software (PyTorch float32)", f"{a['software'] * 100:.2f} %", "", ""),
        ("digits CNN, ideal path (float64)", f"{a['ideal'] * 100:.2f} %", "", ""),
        ("digits CNN, quantised (8b act., 4b w.)", f"{a['quantised'] * 100:.2f} %", "", ""),
        (f"digits CNN, analog 1 h ({seeds} device seeds)",
         f"{an['mean'] * 100:.2f} ± {an['std'] * 100:.2f} %",
         f"{rep['latency_s'] * 1e6:.1f} us", f"{rep['energy_j'] * 1e6:.3f} uJ"),
        ("MobileNetV2 224, simulated cluster", "", f"{mnv2.latency_s * 1e3:.2f} ms",
         f"{mnv2.energy_j * 1e6:.0f} uJ"),
        ("MobileNetV2 224, paper (seed 001)", "", f"{f['mnv2_latency_s'].value * 1e3:g} ms",
         f"{f['mnv2_energy_j'].value * 1e6:g} uJ"),
    ]
    if not quiet:
        print("\n== 5. network: digits CNN on the analog tiles (shipped tile model) ==")
        print(_table(rows, ("network / path", "test accuracy (360 images)", "latency",
                            "energy")))
        print(f"{rep['tiles']} tiles on {rep['n_ima']} IMA(s); plot: {plot}")
    return {"digits_cnn": {k: v for k, v in rep.items() if k != "layers"},
            "mobilenetv2": {"latency_s": mnv2.latency_s, "energy_j": mnv2.energy_j},
            "plot": str(plot)}


def run_demo(out: str | Path, as_json: bool = False, skip: tuple[str, ...] = ()) -> int:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"out": str(out)}
    if "circuits" not in skip:
        result["circuits"] = circuits_step(out, as_json)
    sweeps = sweeps_step(out, as_json) if "sweeps" not in skip else {}
    result["sweeps"] = sweeps
    if sweeps and "surrogate" not in skip:
        result["surrogate"] = surrogate_step(out, sweeps, as_json)
    result["system"] = system_step(out, as_json)
    if "network" not in skip:
        result["network"] = network_step(out, as_json)
    result["wall_s"] = time.perf_counter() - t0
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(f"\ndemo done in {result['wall_s']:.0f} s; outputs in {out}/")
    failed = [k for k, v in sweeps.items() if not v.get("points_failed", 0) == 0]
    return 1 if failed else 0


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="the main job end to end: circuits, sweeps, surrogates, "
                       "MobileNetV2 on the cluster")
    p.add_argument("--out", default="out", help="output folder (plots, HDF5 files)")
    p.add_argument("--skip", action="append", default=[],
                   choices=["circuits", "sweeps", "surrogate", "network"], help="skip a step")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=lambda a: run_demo(a.out, a.json, tuple(a.skip)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="aimc demo")
    sub = ap.add_subparsers()
    register(sub)
    args = ap.parse_args(["demo", *(argv or [])])
    return args.func(args)
