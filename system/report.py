"""Text tables and plots for evaluations and reproductions (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aimc.system.cluster.model import ENERGY_BLOCKS, NetworkResult
from aimc.system.studies.experiments import Reproduction


# ---- text -------------------------------------------------------------------------------
def _si(v: float, unit: str) -> str:
    if v == 0 or not math.isfinite(v):
        return f"{v:g} {unit}"
    for f, p in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k"),
                 (1e6, "M"), (1e9, "G")):
        if abs(v) < f * 1000:
            return f"{v / f:.3g} {p}{unit}"
    return f"{v:.3g} {unit}"


def _details(rep: Reproduction) -> list[str]:
    """Experiment-specific detail under the table (Fig. 7 grid, Fig. 9/10 breakdown)."""
    out: list[str] = []
    if rep.name == "bottleneck":
        m = rep.data["mappings"]
        layers = list(next(iter(m.values()))["layers"])
        out.append("")
        out.append(f"{'mapping':14s} {'GOPS':>7s} {'TOPS/W':>7s} {'GOPS/mm2':>9s}  "
                   + "  ".join(f"{n + ' [kcyc]':>18s}" for n in layers))
        for name, d in m.items():
            cells = "  ".join(
                f"{d['layers'][n]['cycles'] / 1e3:9.1f} ({d['layers'][n]['target']:5s})"
                for n in layers)
            out.append(f"{name:14s} {d['gops']:7.2f} {d['tops_per_w']:7.3f} "
                       f"{d['gops_per_mm2']:9.2f}  {cells}")
    elif rep.name == "mobilenetv2":
        out.append("")
        out.append("computing models (Fig. 13):")
        for name, d in rep.data["computing_models"].items():
            out.append(f"  {name:24s} {d['inferences_per_s']:8.1f} inf/s "
                       f"{d['energy_j'] * 1e6:9.0f} uJ/inference")
        res = rep.data["result"]
        eb = res["energy_by_block_j"]
        out.append("energy by block: " + ", ".join(f"{k} {v * 1e6:.1f} uJ" for k, v in eb.items()))
    elif rep.name == "roofline":
        out.append("")
        out.append("GOPS at 100 % array utilisation:   " + " ".join(
            f"{b:>6d}b" for b in (32, 64, 128, 256, 512)))
        for op in ("500MHz", "250MHz"):
            for ex in ("sequential", "pipelined"):
                vals = [s["points"][-1]["gops"] for s in rep.data["series"]
                        if s["op"] == op and s["execution"] == ex]
                out.append(f"  {op} {ex:10s}                   "
                           + " ".join(f"{v:7.0f}" for v in vals))
    return out


def reproduction_table(rep: Reproduction) -> str:
    lines = [rep.title, "-" * len(rep.title),
             f"{'figure':60s} {'published':>11s} {'simulated':>11s} {'error':>8s}  status"]
    for r in rep.rows:
        pub = (f"{r.band[0]:.3g}-{r.band[1]:.3g}" if r.band else f"{r.published:.4g}")
        err = "in range" if r.band and r.error_pct == 0 else f"{r.error_pct:+.1f}%"
        unit = f" {r.unit}" if r.unit and r.unit != "x" else (" x" if r.unit == "x" else "")
        lines.append(f"{r.label + unit:60s} {pub:>11s} {r.simulated:11.4g} {err:>8s}  {r.status}")
    return "\n".join(lines + _details(rep))


def network_table(res: NetworkResult) -> str:
    hdr = (f"{'layer':22s} {'kind':7s} {'target':6s} {'tiles':>5s} {'MMAC':>8s} "
           f"{'cycles':>10s} {'latency':>10s} {'energy':>10s}")
    lines = [hdr, "-" * len(hdr)]
    for r in res.layers:
        lines.append(f"{r.name[:22]:22s} {r.kind:7s} {r.target:6s} {r.tiles:5d} "
                     f"{r.macs / 1e6:8.3f} {r.cycles:10d} {_si(r.latency_s, 's'):>10s} "
                     f"{_si(r.energy_j, 'J'):>10s}")
    lines.append("-" * len(hdr))
    c = res.config
    lines.append(f"network {res.network}: {res.macs / 1e6:.1f} MMAC, mapping {c.mapping}, "
                 f"{c.n_cores} cores @ {c.op.f_hz / 1e6:g} MHz / {c.op.vdd_v:g} V, "
                 f"{c.ima.bus_bits}-bit {c.ima.execution} IMA")
    if res.pack is not None:
        lines.append(f"IMAs: {res.n_ima} ({res.pack.utilization * 100:.1f} % of crossbar cells "
                     f"used), area {res.area_mm2():.2f} mm^2")
    lines.append(f"latency {_si(res.latency_s, 's')}, energy {_si(res.energy_j, 'J')}, "
                 f"{res.inferences_per_s:.1f} inferences/s, {res.gops:.1f} GOPS, "
                 f"{res.tops_per_w:.2f} TOPS/W")
    eb = res.energy_by_block()
    lines.append("energy by block: " + ", ".join(f"{k} {_si(v, 'J')}" for k, v in eb.items()))
    return "\n".join(lines)


# ---- plots ------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    _plt().close(fig)
    return out


def plot_reproduction(rep: Reproduction, outdir: str | Path) -> list[Path]:
    outdir = Path(outdir)
    fn = {"roofline": _plot_roofline, "bottleneck": _plot_bottleneck,
          "mobilenetv2": _plot_mobilenet, "dutycycle": _plot_dutycycle}[rep.name]
    paths = fn(rep, outdir)
    paths.append(_plot_errors(rep, outdir / f"{rep.name}_errors.png"))
    return paths


def _plot_errors(rep: Reproduction, out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rep.rows) + 1.2))
    labels = [r.label for r in rep.rows][::-1]
    errs = [r.error_pct for r in rep.rows][::-1]
    colors = {"fitted": "tab:gray", "predicted": "tab:blue", "derived": "tab:green",
              "derived from fitted": "tab:olive"}
    ax.barh(labels, errs, color=[colors[r.status] for r in rep.rows][::-1])
    ax.axvline(-10, ls="--", c="r", lw=0.8)
    ax.axvline(10, ls="--", c="r", lw=0.8)
    ax.set_xlabel("simulated vs published [%]  (grey fitted, blue predicted, green derived, "
                  "olive derived from fitted)")
    ax.set_title(rep.title)
    return _save(fig, out)


def _plot_roofline(rep: Reproduction, outdir: Path) -> list[Path]:
    plt = _plt()
    data = rep.data
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    panels = [("500MHz", "sequential"), ("250MHz", "sequential"), ("250MHz", "pipelined")]
    for ax, (op, ex) in zip(axes, panels, strict=True):
        f = 500e6 if op == "500MHz" else 250e6
        oi_all: list[float] = []
        for s in data["series"]:
            if s["op"] != op or s["execution"] != ex:
                continue
            oi = [p["oi"] for p in s["points"]]
            oi_all += oi
            ax.plot(oi, [p["gops"] for p in s["points"]], "o-", ms=4,
                    label=f"{s['bus_bits']}-bit")
            bw = s["bus_bits"] / 8 * f / 1e9  # GB/s
            ax.plot([min(oi), max(oi)], [bw * min(oi), bw * max(oi)], ":", lw=0.8, c="gray")
        lo, hi = min(oi_all), max(oi_all)
        xs = [lo * (hi / lo) ** (i / 40) for i in range(41)]
        t_mvm = 2 * 256 * 256 / (data["peak_tops"] * 1e12)
        ax.plot(xs, [2 * x * x / t_mvm / 1e9 for x in xs], "k-", lw=1.5,
                label="IMA compute roof (2 OI^2 / t_MVM)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{op}, {ex}")
        ax.set_xlabel("operational intensity [op/B]")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("GOPS")
    axes[-1].legend(fontsize=8)
    return [_save(fig, outdir / "roofline.png")]


def _plot_bottleneck(rep: Reproduction, outdir: Path) -> list[Path]:
    plt = _plt()
    m = rep.data["mappings"]
    names = list(m)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, key, lab in zip(axes, ("gops", "tops_per_w", "gops_per_mm2"),
                            ("performance [GOPS]", "energy efficiency [TOPS/W]",
                             "area efficiency [GOPS/mm^2]"), strict=True):
        ax.bar(names, [m[n][key] for n in names], color="tab:blue")
        ax.set_title(lab)
        ax.tick_params(axis="x", rotation=30)
    p1 = _save(fig, outdir / "bottleneck.png")
    fig, ax = plt.subplots(figsize=(8, 4))
    layers = list(m[names[0]]["layers"])
    bottom = [0.0] * len(names)
    for lay in layers:
        vals = [m[n]["layers"][lay]["cycles"] / 1e3 for n in names]
        ax.bar(names, vals, bottom=bottom, label=lay)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("kcycles")
    ax.set_title("Bottleneck execution breakdown (Fig. 10)")
    ax.legend()
    ax.tick_params(axis="x", rotation=30)
    return [p1, _save(fig, outdir / "bottleneck_breakdown.png")]


def plot_network(res: NetworkResult, outdir: str | Path, stem: str | None = None) -> list[Path]:
    plt = _plt()
    outdir = Path(outdir)
    stem = stem or res.network
    colors = {"ima": "tab:blue", "dwa": "tab:orange", "cores": "tab:green", "none": "tab:gray"}
    lay = [r for r in res.layers if r.cycles > 0]
    fig, axes = plt.subplots(3, 1, figsize=(max(10, 0.18 * len(lay)), 9), sharex=True)
    x = list(range(len(lay)))
    c = [colors[r.target] for r in lay]
    axes[0].bar(x, [r.latency_s * 1e3 for r in lay], color=c)
    axes[0].set_ylabel("latency [ms]")
    axes[1].bar(x, [r.energy_j * 1e6 for r in lay], color=c)
    axes[1].set_ylabel("energy [uJ]")
    axes[2].bar(x, [r.ops / r.energy_j / 1e12 if r.energy_j and r.macs else 0 for r in lay],
                color=c)
    axes[2].set_ylabel("TOPS/W")
    axes[2].set_xticks(x)
    axes[2].set_xticklabels([r.name for r in lay], rotation=90, fontsize=6)
    axes[0].set_title(f"{res.network}: per layer (blue IMA, orange DW acc., green cores)")
    p1 = _save(fig, outdir / f"{stem}_layers.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    eb = res.energy_by_block()
    ax.bar(list(ENERGY_BLOCKS), [eb[k] * 1e6 for k in ENERGY_BLOCKS], color="tab:purple")
    ax.set_ylabel("energy [uJ]")
    ax.set_title(f"{res.network}: energy by block (total {res.energy_j * 1e6:.1f} uJ)")
    ax.tick_params(axis="x", rotation=30)
    paths = [p1, _save(fig, outdir / f"{stem}_energy.png")]
    if res.pack is not None:
        paths.append(plot_layer_roofline(res, outdir / f"{stem}_roofline.png"))
        paths.append(plot_pack(res, outdir / f"{stem}_imas.png"))
    return paths


def plot_layer_roofline(res: NetworkResult, out: Path) -> Path:
    """IMA layers on the roofline of the IMA subsystem: operational intensity (ops per
    streamed byte) vs GOPS. Filled: achieved; hollow: the layer's own compute roof
    (its ops per job / t_MVM, i.e. its crossbar utilisation) capped by the bus."""
    plt = _plt()
    c = res.config
    pts = []
    for r in res.layers:
        if r.target != "ima" or not r.bytes_streamed or not r.jobs:
            continue
        oi = r.ops / r.bytes_streamed
        bw = c.ima_port_bytes() * c.op.f_hz / 1e9 * min(c.ima.ports, r.tiles)
        roof = min(r.ops / r.jobs / c.ima.t_mvm_s / 1e9 * min(c.ima.ports, r.tiles), bw * oi)
        pts.append((oi, r.ops / r.latency_s / 1e9, roof, r.name))
    fig, ax = plt.subplots(figsize=(7, 5))
    peak = 2 * c.ima.size ** 2 / c.ima.t_mvm_s / 1e9
    if pts:
        xs = [p[0] for p in pts]
        lo, hi = min(xs) / 1.5, max(xs) * 1.5
        bw = c.ima_port_bytes() * c.op.f_hz / 1e9
        ax.plot([lo, hi], [bw * lo, bw * hi], "k:", label=f"{c.ima.bus_bits}-bit bus")
        ax.axhline(peak, c="k", lw=1, label=f"array peak {peak / 1e3:.3f} TOPS")
        ax.scatter(xs, [p[2] for p in pts], facecolors="none", edgecolors="tab:red", s=30,
                   label="layer's compute roof (utilisation x peak)")
        ax.scatter(xs, [p[1] for p in pts], c="tab:blue", s=16, label="achieved")
        for x, y, _, name in pts:
            ax.annotate(name, (x, y), fontsize=5, alpha=0.7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
    ax.set_xlabel("operational intensity [op / streamed byte]")
    ax.set_ylabel("GOPS")
    ax.set_title(f"{res.network}: IMA layers ({c.op.f_hz / 1e6:g} MHz, {c.ima.bus_bits}-bit, "
                 f"{c.ima.execution})")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, out)


def plot_pack(res: NetworkResult, out: Path) -> Path:
    plt = _plt()
    from matplotlib.patches import Rectangle

    assert res.pack is not None
    n = res.n_ima
    cols = min(10, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.5 * rows), squeeze=False)
    size = res.pack.size
    layer_names = sorted({p.tile.matrix for b in res.pack.bins for p in b.placements})
    cmap = plt.get_cmap("tab20")
    col = {name: cmap(i % 20) for i, name in enumerate(layer_names)}
    for ax in axes.ravel():
        ax.axis("off")
    for b in res.pack.bins:
        ax = axes.ravel()[b.index]
        ax.axis("on")
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        for p in b.placements:
            ax.add_patch(Rectangle((p.x, p.y), p.tile.cols, p.tile.rows, fc=col[p.tile.matrix],
                                   ec="k", lw=0.3))
        ax.set_title(f"{b.index}: {b.utilization * 100:.0f}%", fontsize=7)
    fig.suptitle(f"TILE&PACK: {n} IMAs of {size}x{size}")
    return _save(fig, out)


def _plot_mobilenet(rep: Reproduction, outdir: Path) -> list[Path]:
    res_d = rep.data["result"]
    plt = _plt()
    lay = [r for r in res_d["layers"] if r["cycles"] > 0]
    colors = {"ima": "tab:blue", "dwa": "tab:orange", "cores": "tab:green", "none": "tab:gray"}
    fig, axes = plt.subplots(3, 1, figsize=(14, 8), sharex=True)
    x = list(range(len(lay)))
    axes[0].bar(x, [r["latency_s"] * 1e3 for r in lay], color=[colors[r["target"]] for r in lay])
    axes[0].set_ylabel("latency [ms]")
    axes[0].set_title(f"MobileNetV2 on {res_d.get('n_ima', 0)} IMAs: "
                      f"{res_d['latency_s'] * 1e3:.2f} ms, {res_d['energy_j'] * 1e6:.0f} uJ "
                      "(paper: 10.1 ms, 482 uJ)")
    axes[1].bar(x, [r["energy_j"] * 1e6 for r in lay], color=[colors[r["target"]] for r in lay])
    axes[1].set_ylabel("energy [uJ]")
    axes[2].bar(x, [2 * r["macs"] / r["energy_j"] / 1e9 if r["macs"] else 0 for r in lay],
                color=[colors[r["target"]] for r in lay])
    axes[2].set_ylabel("GOPS/W")
    axes[2].set_xticks(x)
    axes[2].set_xticklabels([r["name"] for r in lay], rotation=90, fontsize=6)
    p1 = _save(fig, outdir / "mobilenetv2_layers.png")
    # packing figure (Fig. 12b)
    pack = rep.data["pack"]
    n = len(pack)
    cols = min(10, n)
    rows = math.ceil(n / cols)
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.5 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20")
    names = sorted({t["name"].rsplit("_tile_", 1)[0] for b in pack for t in b["tiles"]})
    col = {nm: cmap(i % 20) for i, nm in enumerate(names)}
    for ax in axes.ravel():
        ax.axis("off")
    for b in pack:
        ax = axes.ravel()[b["index"]]
        ax.axis("on")
        ax.set_xlim(0, 256)
        ax.set_ylim(256, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        for t in b["tiles"]:
            ax.add_patch(Rectangle((t["x"], t["y"]), t["cols"], t["rows"],
                                   fc=col[t["name"].rsplit("_tile_", 1)[0]], ec="k", lw=0.3))
        ax.set_title(f"{b['index']}: {b['utilization'] * 100:.0f}%", fontsize=7)
    fig.suptitle(f"TILE&PACK of MobileNetV2: {n} IMAs (paper: 34)")
    return [p1, _save(fig, outdir / "mobilenetv2_imas.png")]


def _plot_dutycycle(rep: Reproduction, outdir: Path) -> list[Path]:
    plt = _plt()
    sw = rep.data["duty_sweep"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog([s["duty"] for s in sw], [s["days"] for s in sw], "o-",
              label="IMNPU staged inference (seed 004)")
    ours = rep.data["mobilenetv2_bursts"]
    ax.loglog([s["duty"] for s in ours], [s["days"] for s in ours], "s--",
              label="always-on stage + MobileNetV2 bursts on this cluster")
    ax.axhline(363, c="gray", ls=":", lw=0.8)
    ax.set_xlabel("duty cycle of the burst stage")
    ax.set_ylabel("battery life [days], 6000 mAh")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return [_save(fig, outdir / "dutycycle.png")]


def markdown_table(reps: list[Reproduction]) -> str:
    """Published-vs-simulated table in Markdown (for the README)."""
    lines = ["| experiment | figure | published | simulated | error | status | source |",
             "|---|---|---|---|---|---|---|"]
    for rep in reps:
        for r in rep.rows:
            if r.band:
                hi = "" if math.isinf(r.band[1]) else f"{r.band[1]:.3g}"
                lo = "" if r.band[0] == 0 else f"{r.band[0]:.3g}"
                pub = f"{lo}–{hi}" if lo and hi else (f"> {lo}" if lo else f"< {hi}")
            else:
                pub = f"{r.published:.4g}"
            err = ("in range" if r.band and r.error_pct == 0 else f"{r.error_pct:+.1f} %")
            unit = "" if r.unit in ("", "x") else f" {r.unit}"
            status = r.status + (f" (restates {r.same_as})" if r.same_as else "")
            lines.append(f"| {rep.name} | {r.label}{unit} | {pub} | {r.simulated:.4g} | {err} "
                         f"| {status} | {r.source} |")
    return "\n".join(lines)


def plot_accuracy_vs_time(study: Any, outdir: str | Path, stem: str | None = None) -> Path:
    """Accuracy against time after programming, one curve per path (ideal and quantised
    are flat: they have no devices; analog: mean ± std over the device seeds)."""
    plt = _plt()
    times = sorted(study.times_s)
    x = [max(t, 1.0) for t in times]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, [study.ideal * 100] * len(x), "-", color="tab:green", label="ideal (float)")
    ax.plot(x, [study.quantised * 100] * len(x), "--", color="tab:blue",
            label="quantised (8b in, 4b w, ideal ADC)")
    ms = [study.analog_mean_std(t) for t in times]
    ax.errorbar(x, [m * 100 for m, _ in ms], yerr=[s * 100 for _, s in ms], fmt="o-",
                color="tab:red", capsize=3,
                label=f"analog (PCM, {len(study.device_seeds)} device seeds, ±1 std)")
    ax.set_xscale("log")
    ax.set_xlabel("time after programming [s]")
    ax.set_ylabel("test accuracy [%]")
    ax.set_title(f"{study.network}: accuracy vs time after programming")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, Path(outdir) / f"{stem or study.network}_accuracy_vs_time.png")
