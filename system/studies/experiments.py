"""Reproductions of seed 001 (and the duty-cycle example of seed 004), from one parameter set.

Each experiment returns a :class:`Reproduction`: rows of published vs simulated figures with
their % error and a status: *fitted* (a parameter, or a modelling choice, was set by looking
at this figure), *derived* (follows directly from published inputs, e.g. 1.008 TOPS from
130 ns), *derived from fitted* (follows from fitted figures, e.g. a ratio of two fitted
ratios, or a quotient with the fitted 483 uJ), or *predicted* (no parameter was chosen by
looking at it or at a figure that determines it). A predicted row that restates another
prediction (inferences/s = 1/latency) names it in ``same_as`` and is not counted again:
:func:`independent_predictions` counts each prediction once. Plus the data each plot needs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.dwa import dwa_cycles
from aimc.system.cluster.model import NetworkResult, evaluate
from aimc.system.networks.graph import DWCONV, Network
from aimc.system.networks.mobilenetv2 import mobilenetv2
from aimc.system.studies.calibration import bottleneck_results, peak_point
from aimc.system.studies.paper import FIGURES, roofline_network

FITTED, PREDICTED, DERIVED = "fitted", "predicted", "derived"
DERIVED_FIT = "derived from fitted"
STATUSES = (FITTED, PREDICTED, DERIVED, DERIVED_FIT)


@dataclass
class Row:
    key: str
    label: str
    published: float
    simulated: float
    unit: str
    status: str
    source: str = ""
    band: tuple[float, float] | None = None  # published range instead of a value
    same_as: str | None = None  # key of the prediction this row restates (counted once)

    @property
    def error_pct(self) -> float:
        if self.band is not None:
            lo, hi = self.band
            if lo <= self.simulated <= hi:
                return 0.0
            ref = lo if self.simulated < lo else hi
            return 100.0 * (self.simulated - ref) / ref
        if self.published == 0:
            return math.nan
        return 100.0 * (self.simulated - self.published) / self.published

    def to_dict(self) -> dict[str, Any]:
        d = {"key": self.key, "label": self.label, "published": self.published,
             "simulated": self.simulated, "unit": self.unit, "status": self.status,
             "error_pct": self.error_pct, "source": self.source, "same_as": self.same_as}
        if self.band is not None:
            d["band"] = [x if math.isfinite(x) else None for x in self.band]
        return d


@dataclass
class Reproduction:
    name: str
    title: str
    rows: list[Row]
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title,
                "rows": [r.to_dict() for r in self.rows], "data": self.data}


def _row(key: str, label: str, simulated: float, status: str, scale: float = 1.0,
         unit: str | None = None, same_as: str | None = None) -> Row:
    f = FIGURES[key]
    return Row(key, label, f.value * scale, simulated * scale, unit or f.unit, status, f.source,
               same_as=same_as)


def independent_predictions(reps: list[Reproduction], tol_pct: float = 10.0
                            ) -> tuple[int, int, list[Row]]:
    """(within ``tol_pct``, total, rows) over the predicted rows that are not restatements
    of another row (``same_as``): each independent prediction counted once."""
    rows = [r for rep in reps for r in rep.rows if r.status == PREDICTED and r.same_as is None]
    return sum(abs(r.error_pct) <= tol_pct for r in rows), len(rows), rows


# ---- Fig. 7: roofline ---------------------------------------------------------------------
BUS_WIDTHS = (32, 64, 128, 256, 512)
UTILIZATIONS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0)


def _roof_cfg(cfg: ClusterConfig, op: str, execution: str, bus: int) -> ClusterConfig:
    c = cfg.with_op(op)
    return dataclasses.replace(c, ima=dataclasses.replace(c.ima, bus_bits=bus,
                                                          execution=execution, n_ima=1))


def roofline(cfg: ClusterConfig | None = None) -> Reproduction:
    cfg = cfg or ClusterConfig()
    size = cfg.ima.size
    series: list[dict[str, Any]] = []
    best: dict[tuple[str, str], dict[int, float]] = {}
    stream_share: dict[tuple[str, int], list[float]] = {}
    for op in ("500MHz", "250MHz"):
        for ex in ("sequential", "pipelined"):
            for bus in BUS_WIDTHS:
                c = _roof_cfg(cfg, op, ex, bus)
                pts = []
                for u in UTILIZATIONS:
                    net = roofline_network(u, size)
                    r = evaluate(net, c)
                    n = net.layers[0].cin
                    oi = 2 * n * n / (2 * n)  # ops per byte streamed (n in + n out)
                    pts.append({"utilization": u, "n": n, "oi": oi, "gops": r.gops})
                    if ex == "sequential":
                        jobs = net.layers[0].out_pixels
                        stream = jobs * 2 * math.ceil(n / c.ima.bus_bytes)
                        stream_share.setdefault((op, bus), []).append(
                            stream / r.cycles_by_block()["ima"])
                series.append({"op": op, "execution": ex, "bus_bits": bus, "points": pts})
                best.setdefault((op, ex), {})[bus] = pts[-1]["gops"]
    peak = 2 * size * size / cfg.ima.t_mvm_s / 1e12

    def narrowest(op: str, ex: str) -> int:
        g = best[(op, ex)]
        top = max(g.values())
        return min(b for b, v in g.items() if v >= 0.98 * top)

    def not_memory_bound(op: str) -> int:
        """Fig. 7(a)/(b) read as a roofline: the narrowest bus whose bandwidth roof
        (bytes/cycle x f x ops/byte, n inputs + n outputs per 2 n^2 ops) reaches the IMA's
        compute roof (2 n^2 / t_mvm) at full utilisation. Published inputs only."""
        f = cfg.with_op(op).op.f_hz
        n = size
        roof = 2 * n * n / cfg.ima.t_mvm_s
        return min(b for b in BUS_WIDTHS if b / 8 * f * n >= roof * (1 - 1e-9))

    pk = peak_point(cfg)
    share = stream_share[("500MHz", 128)]
    rows = [
        _row("ima_peak_tops", "IMA compute roof (256x256, 130 ns)", peak, DERIVED),
        _row("ima_pipelined_250mhz_128b_gops", "pipelined, 250 MHz, 128-bit, full array",
             pk.gops, FITTED),
        _row("bus_bits_optimal_250mhz", "narrowest bus at the roof, 250 MHz pipelined (Fig. 7c)",
             narrowest("250MHz", "pipelined"), PREDICTED),
        _row("bus_bits_enough_500mhz",
             "narrowest bus not memory-bound, 500 MHz (roofline bound, Fig. 7a)",
             not_memory_bound("500MHz"), DERIVED),
        _row("bus_bits_needed_250mhz",
             "narrowest bus not memory-bound, 250 MHz (roofline bound, Fig. 7b)",
             not_memory_bound("250MHz"), DERIVED),
        Row("seq_stream_share_min", "sequential 500 MHz 128-bit: stream share, smallest layer",
            0.08, min(share), "", PREDICTED, "Sec. V-B: 8 % to 40 %", band=(0.08, 0.40)),
        Row("seq_stream_share_max", "sequential 500 MHz 128-bit: stream share, full array",
            0.40, max(share), "", PREDICTED, "Sec. V-B: 8 % to 40 %", band=(0.08, 0.40)),
    ]
    sequential = {op: best[(op, "sequential")] for op in ("500MHz", "250MHz")}
    return Reproduction("roofline", "Roofline of the IMA subsystem (seed 001 Fig. 7)", rows,
                        {"series": series, "peak_tops": peak,
                         "sequential_full_array_gops": sequential,
                         "pipelined_full_array_gops": {op: best[(op, "pipelined")]
                                                       for op in ("500MHz", "250MHz")}})


# ---- Fig. 8-10: Bottleneck ----------------------------------------------------------------
def bottleneck(cfg: ClusterConfig | None = None, net: Network | None = None) -> Reproduction:
    """The Bottleneck study (``net``: another shape of the layer, see
    :mod:`aimc.system.studies.bottleneck_shape`)."""
    cfg = cfg or ClusterConfig()
    res = bottleneck_results(cfg, net)
    base = res["CORES"]

    def perf(k: str) -> float:
        return base.latency_s / res[k].latency_s

    def eff(k: str) -> float:
        return base.energy_j / res[k].energy_j

    def area(k: str) -> float:
        return perf(k) * base.effective_area_mm2() / res[k].effective_area_mm2()

    rows = [
        _row("bn_perf_cjob16", "perf IMA c_job=16 / CORES", perf("IMA c_job=16"), FITTED),
        _row("bn_perf_cjob8", "perf IMA c_job=8 / CORES", perf("IMA c_job=8"), PREDICTED),
        _row("bn_perf_hybrid", "perf HYBRID / CORES", perf("HYBRID"), FITTED),
        _row("bn_perf_ima_dw", "perf IMA+DW / CORES", perf("IMA+DW"), PREDICTED),
        _row("bn_eff_cjob8", "energy eff. IMA c_job=8 / CORES", eff("IMA c_job=8"), PREDICTED),
        _row("bn_eff_hybrid", "energy eff. HYBRID / CORES", eff("HYBRID"), FITTED),
        _row("bn_eff_ima_dw", "energy eff. IMA+DW / CORES", eff("IMA+DW"), FITTED),
        _row("bn_area_cjob8", "area eff. IMA c_job=8 / CORES", area("IMA c_job=8"), PREDICTED),
        _row("bn_area_ima_dw", "area eff. IMA+DW / CORES", area("IMA+DW"), PREDICTED),
        _row("bn_hybrid_vs_cjob16_perf", "perf HYBRID / IMA c_job=16",
             perf("HYBRID") / perf("IMA c_job=16"), DERIVED_FIT),
        _row("bn_hybrid_vs_cjob16_eff", "energy eff. HYBRID / IMA c_job=16",
             eff("HYBRID") / eff("IMA c_job=16"), PREDICTED),
        _row("bn_hybrid_vs_cjob16_area", "area eff. HYBRID / IMA c_job=16",
             area("HYBRID") / area("IMA c_job=16"), PREDICTED),
        _row("bn_imadw_vs_hybrid_perf", "perf IMA+DW / HYBRID",
             perf("IMA+DW") / perf("HYBRID"), PREDICTED, same_as="bn_perf_ima_dw"),
        _row("bn_imadw_vs_hybrid_eff", "energy eff. IMA+DW / HYBRID",
             eff("IMA+DW") / eff("HYBRID"), DERIVED_FIT),
        # both mappings program the same point-wise cells: the area-efficiency ratio is the
        # performance ratio
        _row("bn_imadw_vs_hybrid_area", "area eff. IMA+DW / HYBRID",
             area("IMA+DW") / area("HYBRID"), PREDICTED, same_as="bn_perf_ima_dw"),
    ]
    mappings = {}
    for k, r in res.items():
        mappings[k] = {
            "gops": r.gops, "tops_per_w": r.tops_per_w,
            "gops_per_mm2": r.gops / r.effective_area_mm2(),
            "latency_s": r.latency_s, "energy_j": r.energy_j,
            "crossbar_cells": r.ima_cells_used,
            "layers": {lr.name: {"target": lr.target, "cycles": lr.cycles,
                                 "energy_j": lr.energy_j} for lr in r.layers},
        }
    pw = sum(lr.cycles for lr in res["CORES"].layers if lr.name.startswith("pw"))
    pw_ima = sum(lr.cycles for lr in res["IMA+DW"].layers if lr.name.startswith("pw"))
    return Reproduction("bottleneck", "MobileNetV2 Bottleneck, five mappings (seed 001 Fig. 9-10)",
                        rows, {"mappings": mappings, "pointwise_speedup": pw / pw_ima,
                               "network": res["CORES"].network})


# ---- Sec. VI: MobileNetV2 end to end ---------------------------------------------------------
def dwa_average_mac_per_cycle(cfg: ClusterConfig | None = None) -> float:
    cfg = cfg or ClusterConfig()
    dws = [lay for lay in mobilenetv2().layers if lay.kind == DWCONV]
    return sum(lay.macs for lay in dws) / sum(dwa_cycles(lay, cfg.dwa) for lay in dws)


def ima_selections(cfg: ClusterConfig | None = None) -> dict[str, int]:
    """IMAs after TILE&PACK for three selections of MobileNetV2's layers on the crossbars:
    the Bottleneck layers only (the text: "to map all the Bottleneck layers ... we need
    34"), every convolution (adds the stem conv and the last 1x1 conv; the default), and
    every convolution plus the FC classifier (``ima.map_fc``)."""
    from aimc.system.cluster.model import pack_network
    from aimc.system.networks.graph import Network

    cfg = cfg or ClusterConfig()
    net = mobilenetv2()
    blocks = Network(net.name + "_bottlenecks",
                     [lay for lay in net.layers if lay.name.startswith("b")], net.input_shape)
    with_fc = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima, map_fc=True))
    without_fc = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima, map_fc=False))
    out = {}
    for label, n, c in (("bottleneck layers", blocks, without_fc),
                        ("all convolutions", net, without_fc),
                        ("all convolutions + FC", net, with_fc)):
        pack = pack_network(n, c)
        out[label] = 0 if pack is None else len(pack.bins)
    return out


def mobilenet(cfg: ClusterConfig | None = None) -> tuple[Reproduction, NetworkResult]:
    cfg = cfg or ClusterConfig()
    net = mobilenetv2()
    r = evaluate(net, cfg)
    pk = peak_point(cfg)
    assert r.pack is not None
    last_util = min(b.utilization for b in r.pack.bins)
    selections = ima_selections(cfg)
    vega_lat = 1 / FIGURES["vega_inf_per_s"].value
    rows = [
        Row("mnv2_macs", "MobileNetV2 MACs (Sandler et al. 2018: ~300 M)", 300e6 / 1e6,
            net.macs / 1e6, "M", DERIVED, "Sandler et al. 2018, Table 3"),
        # the layer selection (all convolutions, FC on the cores: ima.map_fc = False) was
        # chosen because it gives 34; the text's own selection is below
        _row("mnv2_n_ima", "IMAs after TILE&PACK (all convs, FC on cores)", r.n_ima, FITTED),
        dataclasses.replace(_row("mnv2_n_ima", "IMAs, the text's selection: the Bottleneck "
                                 "layers only", selections["bottleneck layers"], PREDICTED),
                            key="mnv2_n_ima_bottlenecks"),
        Row("mnv2_last_ima_util", "least-utilised IMA (published: below 84 %)", 0.84,
            last_util, "", PREDICTED, "Sec. VI", band=(0.0, 0.84)),
        Row("mnv2_imas_below_84", "IMAs below 84 % utilisation (published: only the last)",
            1, sum(b.utilization < 0.84 for b in r.pack.bins), "", PREDICTED, "Sec. VI"),
        _row("mnv2_area_mm2", "area with the IMAs (34 x 0.83 mm^2 + cluster)", r.area_mm2(),
             DERIVED_FIT),
        _row("mnv2_latency_s", "latency", r.latency_s, PREDICTED, 1e3, "ms"),
        _row("mnv2_inf_per_s", "inferences per second", r.inferences_per_s, PREDICTED,
             same_as="mnv2_latency_s"),
        _row("mnv2_energy_j", "energy per inference", r.energy_j, FITTED, 1e6, "uJ"),
        Row("mnv2_best_layer_tops_per_w", "most efficient layer (published: above 5 TOPS/W)",
            5.0, max(lr.ops / lr.energy_j for lr in r.layers if lr.macs) / 1e12, "TOPS/W",
            PREDICTED, "Sec. VI / Fig. 12(a)", band=(5.0, math.inf)),
        _row("dwa_mac_per_cycle", "depth-wise accelerator, average MAC/cycle",
             dwa_average_mac_per_cycle(cfg), PREDICTED),
        _row("peak_tops", "Tab. I peak performance (= the fitted 958 GOPS)", pk.gops / 1e3,
             FITTED, same_as="ima_pipelined_250mhz_128b_gops"),
        _row("peak_tops_per_w", "Tab. I peak energy efficiency", pk.tops_per_w, FITTED),
        _row("speedup_vs_vega", "latency gain vs Vega (Tab. I: 10 inf/s)",
             vega_lat / r.latency_s, PREDICTED, same_as="mnv2_latency_s"),
        _row("energy_gain_vs_vega", "energy gain vs Vega (Tab. I: 1.19 mJ / the fitted energy)",
             FIGURES["vega_energy_j"].value / r.energy_j, DERIVED_FIT),
    ]
    pack = [{"index": b.index, "utilization": b.utilization,
             "tiles": [{"name": p.tile.name, "x": p.x, "y": p.y, "rows": p.tile.rows,
                        "cols": p.tile.cols} for p in b.placements]} for b in r.pack.bins]
    # computing models of Fig. 13 (informative: the text gives no numbers for them)
    models = {}
    for label, mapping, cores in (("SW (8 cores)", "cores", cfg.n_cores),
                                  ("IMA + MCU (1 core)", "hybrid", 1),
                                  ("SW + IMA", "hybrid", cfg.n_cores),
                                  ("SW + IMA + DIG. ACC.", "ima_dw", cfg.n_cores)):
        c = dataclasses.replace(cfg, mapping=mapping, n_cores=cores)
        m = r if (mapping, cores) == (cfg.mapping, cfg.n_cores) else evaluate(net, c)
        models[label] = {"inferences_per_s": m.inferences_per_s, "energy_j": m.energy_j,
                         "latency_s": m.latency_s}
    rep = Reproduction("mobilenetv2", "MobileNetV2 end to end (seed 001 Sec. VI, Tab. I)", rows,
                       {"pack": pack, "result": r.to_dict(), "computing_models": models,
                        "ima_selections": selections})
    return rep, r


def mobilenet_summary(cfg: ClusterConfig | None = None) -> str:
    """One paragraph: MobileNetV2 on the cluster beside the paper's figures (for demos)."""
    _, r = mobilenet(cfg)
    f = FIGURES
    return (f"MobileNetV2 on the heterogeneous cluster: {r.n_ima} IMAs "
            f"(paper {f['mnv2_n_ima'].value:g}), latency {r.latency_s * 1e3:.2f} ms "
            f"(paper {f['mnv2_latency_s'].value * 1e3:g} ms), energy {r.energy_j * 1e6:.0f} uJ "
            f"(paper {f['mnv2_energy_j'].value * 1e6:g} uJ), {r.inferences_per_s:.0f} inf/s "
            f"(paper {f['mnv2_inf_per_s'].value:g})")


# ---- seed 004: duty-cycled always-on staged inference -----------------------------------------
@dataclass
class StagePower:
    """Power of ``n_clusters`` IMNPU clusters at ``f_hz``: static + energy per cycle."""

    static_w: float
    j_per_cycle: float

    def power_w(self, n_clusters: int, f_hz: float) -> float:
        return n_clusters * (self.static_w + self.j_per_cycle * f_hz)

    @classmethod
    def fit(cls, a: tuple[int, float, float], b: tuple[int, float, float]) -> StagePower:
        """Two (n_clusters, f_hz, power_w) measurements -> per-cluster static and dynamic."""
        (na, fa, pa), (nb, fb, pb) = a, b
        e = (pb / nb - pa / na) / (fb - fa)
        return cls(pa / na - e * fa, e)


def average_power_w(always_on_w: float, burst_w: float, duty: float) -> float:
    """The slide's arithmetic: the always-on stage runs all the time, the burst stage adds
    its power for the ``duty`` fraction of the time."""
    if not 0 <= duty <= 1:
        raise ValueError(f"duty cycle must be in [0, 1], got {duty}")
    return always_on_w + duty * burst_w


#: seed 004, footnote 2: "6000 mA/h battery capacity assumed (e.g., 2 AA 1.5v batteries)".
#: Two AA cells give 6000 mAh in parallel, at 1.5 V (in series: 3.0 V, half the mAh)
BATTERY_V = 1.5


def battery_days(capacity_mah: float, avg_power_w: float, v_eff: float = BATTERY_V) -> float:
    """Days a battery of ``capacity_mah`` at ``v_eff`` volts lasts at ``avg_power_w``
    (ideal conversion). The slide's 363 days equals 6000 mAh / 0.687 mA, i.e. its
    arithmetic divides mAh by the power in mW, which is ``v_eff`` = 1.0 V."""
    if capacity_mah <= 0 or avg_power_w <= 0 or v_eff <= 0:
        raise ValueError("capacity, average power and battery voltage must be positive")
    return capacity_mah * 1e-3 * v_eff / avg_power_w / 24.0


def dutycycle(cfg: ClusterConfig | None = None, capacity_mah: float = 6000.0,
              duty: float = 0.01) -> Reproduction:
    cfg = cfg or ClusterConfig()
    f = FIGURES
    sp = StagePower.fit((1, 10e6, f["st_always_on_imnpu_w"].value),
                        (8, 400e6, f["st_burst_imnpu_w"].value))
    rest_a = f["st_always_on_total_w"].value - f["st_always_on_imnpu_w"].value
    rest_b = f["st_burst_total_w"].value - f["st_burst_imnpu_w"].value
    p_a = sp.power_w(1, 10e6) + rest_a
    p_b = sp.power_w(8, 400e6) + rest_b
    avg = average_power_w(p_a, p_b, duty)
    days = battery_days(capacity_mah, avg)           # the stated battery, 1.5 V
    days_1v = battery_days(capacity_mah, avg, 1.0)   # the slide's arithmetic
    rows = [
        _row("st_always_on_imnpu_w", "1 cluster @ 10 MHz, IMNPU power", sp.power_w(1, 10e6),
             FITTED, 1e6, "uW"),
        _row("st_burst_imnpu_w", "8 clusters @ 400 MHz, IMNPU power", sp.power_w(8, 400e6),
             FITTED, 1e3, "mW"),
        _row("st_battery_days", f"battery life, {capacity_mah:g} mAh at {BATTERY_V:g} V (2 AA), "
             f"duty 1/{1 / duty:g}", days, PREDICTED),
        dataclasses.replace(_row("st_battery_days", "battery life, the slide's arithmetic "
                                 "(mAh / mW, i.e. 1.0 V)", days_1v, FITTED),
                            key="st_battery_days_1v"),
    ]
    # the same staging on the modelled heterogeneous cluster: MobileNetV2 bursts
    mnv2 = evaluate(mobilenetv2(), cfg)
    sweep = []
    for d in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
        a = average_power_w(p_a, p_b, d)
        sweep.append({"duty": d, "avg_power_w": a, "days": battery_days(capacity_mah, a)})
    ours = []
    for ips in (0.1, 1.0, 10.0, 99.0):
        duty_c = min(1.0, ips * mnv2.latency_s)
        p_burst = mnv2.energy_j / mnv2.latency_s
        a = average_power_w(p_a, p_burst, duty_c)
        ours.append({"inferences_per_s": ips, "duty": duty_c, "avg_power_w": a,
                     "days": battery_days(capacity_mah, a)})
    return Reproduction("dutycycle", "Duty-cycled always-on staged inference (seed 004)", rows,
                        {"static_w_per_cluster": sp.static_w, "j_per_cycle": sp.j_per_cycle,
                         "battery_days_by_voltage": {v: battery_days(capacity_mah, avg, v)
                                                     for v in (1.0, 1.5, 3.0)},
                         "always_on_total_w": p_a, "burst_total_w": p_b, "avg_power_w": avg,
                         "duty_sweep": sweep, "mobilenetv2_bursts": ours})


EXPERIMENTS = ("roofline", "bottleneck", "mobilenetv2", "dutycycle")


def run(name: str, cfg: ClusterConfig | None = None) -> Reproduction:
    if name == "roofline":
        return roofline(cfg)
    if name == "bottleneck":
        return bottleneck(cfg)
    if name == "mobilenetv2":
        return mobilenet(cfg)[0]
    if name == "dutycycle":
        return dutycycle(cfg)
    raise ValueError(f"unknown experiment {name!r}; choose from {EXPERIMENTS}")
