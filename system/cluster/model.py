"""Execution, energy and area model of the heterogeneous cluster (seed 001).

A network runs layer after layer (seed 001 Sec. VI: sequential layer-to-layer execution,
activations in L1). Each layer goes to one block according to the configured mapping:

- point-wise / standard convolutions -> the IMA (virtual IM2COL by the streamers), unless
  the mapping is "cores"; FC layers only with ``ima.map_fc``;
- depth-wise 3x3 -> the depth-wise accelerator ("ima_dw"), the cores ("hybrid", with HWC->CHW
  marshalling when the producer was an accelerator), or the IMA with ``c_job`` channels per
  job ("ima");
- residual adds, pooling, concat, shuffles, partial sums of row-split layers -> the cores.

Several IMAs share one data interface and run one at a time (Sec. VI, Fig. 11); a layer
split over tiles runs its tiles one after another. Cores program each accelerator run.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aimc.system.array.mapping import groups_per_matrix
from aimc.system.cluster import cores as sw
from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.dwa import dwa_bytes, dwa_cycles
from aimc.system.cluster.dwa import supports as dwa_supports
from aimc.system.cluster.ima import ImaJobModel, PaperImaJobModel, job_timing
from aimc.system.cluster.tilepack import (
    PackResult,
    Tile,
    pack_tiles,
    sparse_tiles,
    tile_matrix,
)
from aimc.system.networks.graph import CONV, DWCONV, FC, Layer, Network

ENERGY_BLOCKS = ("ima_analog", "ima_digital", "dwa", "cores", "tcdm", "base")
CYCLE_BLOCKS = ("ima", "dwa", "cores", "config")


class DoesNotFitError(ValueError):
    """The network needs more IMAs than the configuration provides."""


@dataclass
class LayerResult:
    name: str
    kind: str
    target: str  # "ima", "dwa", "cores" or "none"
    macs: int
    tiles: int
    jobs: int
    cycles: int
    latency_s: float
    energy_j: float
    cycles_by_block: dict[str, int] = field(default_factory=dict)
    energy_by_block: dict[str, float] = field(default_factory=dict)
    #: bytes moved between TCDM and an accelerator (its streamers)
    bytes_streamed: int = 0

    @property
    def ops(self) -> int:
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "target": self.target, "macs": self.macs,
            "tiles": self.tiles, "jobs": self.jobs, "cycles": self.cycles,
            "latency_s": self.latency_s, "energy_j": self.energy_j,
            "cycles_by_block": dict(self.cycles_by_block),
            "energy_by_block": dict(self.energy_by_block),
            "bytes_streamed": self.bytes_streamed,
        }


@dataclass
class NetworkResult:
    network: str
    config: ClusterConfig
    layers: list[LayerResult]
    pack: PackResult | None
    ima_cells_used: int

    @property
    def latency_s(self) -> float:
        return sum(r.latency_s for r in self.layers)

    @property
    def energy_j(self) -> float:
        return sum(r.energy_j for r in self.layers)

    @property
    def cycles(self) -> int:
        return sum(r.cycles for r in self.layers)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def ops(self) -> int:
        return 2 * self.macs

    @property
    def inferences_per_s(self) -> float:
        return 1.0 / self.latency_s if self.latency_s > 0 else math.inf

    @property
    def n_ima(self) -> int:
        return self.pack.n_ima if self.pack else 0

    @property
    def gops(self) -> float:
        return self.ops / self.latency_s / 1e9

    @property
    def tops_per_w(self) -> float:
        return self.ops / self.energy_j / 1e12

    def energy_by_block(self) -> dict[str, float]:
        tot: Counter[str] = Counter()
        for r in self.layers:
            tot.update(r.energy_by_block)
        return {k: tot.get(k, 0.0) for k in ENERGY_BLOCKS}

    def cycles_by_block(self) -> dict[str, int]:
        tot: Counter[str] = Counter()
        for r in self.layers:
            tot.update(r.cycles_by_block)
        return {k: tot.get(k, 0) for k in CYCLE_BLOCKS}

    def area_mm2(self) -> float:
        """Cluster area with all the IMAs this network needs."""
        return self.config.digital_area_mm2() + self.n_ima * self.config.ima_area_mm2()

    def effective_area_mm2(self) -> float:
        """Digital cluster area plus the crossbar area actually programmed (with padding),
        the area measure of seed 001 Fig. 9(c)."""
        cells = self.config.ima.size ** 2
        return (self.config.digital_area_mm2()
                + self.config.ima_area_mm2() * self.ima_cells_used / cells)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "network": self.network,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "inferences_per_s": self.inferences_per_s,
            "macs": self.macs,
            "cycles": self.cycles,
            "gops": self.gops,
            "tops_per_w": self.tops_per_w,
            "area_mm2": self.area_mm2(),
            "energy_by_block_j": self.energy_by_block(),
            "cycles_by_block": self.cycles_by_block(),
            "mapping": self.config.mapping,
            "f_hz": self.config.op.f_hz,
            "vdd_v": self.config.op.vdd_v,
        }
        if self.pack is not None:
            d["n_ima"] = self.n_ima
            d["ima_utilization"] = self.pack.utilization
        d["layers"] = [r.to_dict() for r in self.layers]
        return d


# ---- mapping ------------------------------------------------------------------------------
def layer_target(layer: Layer, cfg: ClusterConfig) -> str:
    m = cfg.mapping
    if not layer.has_weights:
        return "cores"
    if m == "cores":
        return "cores"
    if layer.kind == FC:
        return "ima" if cfg.ima.map_fc else "cores"
    if layer.kind == CONV:
        return "ima"
    if layer.kind == DWCONV:
        if m == "ima":
            return "ima"
        if m == "ima_dw" and cfg.has_dwa and dwa_supports(layer, cfg.dwa):
            return "dwa"
        return "cores"
    return "cores"  # pragma: no cover


def groups_per_job(layer: Layer, cfg: ClusterConfig) -> int:
    """Groups packed block-diagonally into one job (c_job for depth-wise, Sec. V-C)."""
    return groups_per_matrix(layer, cfg.ima.size, cfg.ima.c_job)


def ima_matrices(layer: Layer, cfg: ClusterConfig) -> list[tuple[str, int, int]]:
    """Weight matrices (name, rows, cols) that the layer programs into crossbars."""
    gj = groups_per_job(layer, cfg)
    n_blocks = layer.groups // gj
    rows, cols = gj * layer.xbar_rows, gj * layer.xbar_cols
    if n_blocks == 1:
        return [(layer.name, rows, cols)]
    return [(f"{layer.name}_g{b}", rows, cols) for b in range(n_blocks)]


@dataclass
class ClusterPlacement:
    """The cluster's layer -> target mapping in the form the network executor takes
    (:class:`aimc.system.array.mapping.Placement`)."""

    config: ClusterConfig

    @property
    def tile_size(self) -> int:
        return self.config.ima.size

    def target(self, layer: Layer) -> str:
        return layer_target(layer, self.config)

    def groups_per_matrix(self, layer: Layer) -> int:
        return groups_per_job(layer, self.config)


def layer_tiles(layer: Layer, cfg: ClusterConfig, name: str, rows: int, cols: int
                ) -> list[Tile]:
    """Tiles of one IMA matrix of a layer. With ``ima.skip_zero`` and the layer's weights
    known (ONNX initializers; groups == 1), all-zero rows, columns and tiles are not
    programmed (:func:`~aimc.system.cluster.tilepack.sparse_tiles`): fewer tiles, fewer
    ADC conversions, shorter jobs. Without weights the matrix is dense."""
    if cfg.ima.skip_zero and layer.weights is not None and layer.groups == 1:
        return sparse_tiles(name, layer.weights, cfg.ima.size)
    return tile_matrix(name, rows, cols, cfg.ima.size)


def pack_network(net: Network, cfg: ClusterConfig) -> PackResult | None:
    tiles: list[Tile] = []
    for layer in net.layers:
        if layer_target(layer, cfg) == "ima":
            for name, rows, cols in ima_matrices(layer, cfg):
                tiles.extend(layer_tiles(layer, cfg, name, rows, cols))
    if not tiles:
        return None
    return pack_tiles(tiles, cfg.ima.size)


def _tile_index(tile: Tile) -> tuple[int, int]:
    i, j = tile.name.rsplit("_", 2)[-2:]
    return int(i), int(j)


# ---- per-layer models ---------------------------------------------------------------------
class _Ctx:
    """Per-evaluation constants (operating-point scaled powers)."""

    def __init__(self, cfg: ClusterConfig, job_model: ImaJobModel) -> None:
        p, op = cfg.power, cfg.op
        self.cfg = cfg
        self.f = op.f_hz
        self.job_model = job_model
        self.p_base = p.scale(p.base_w, op.f_hz, op.vdd_v)
        self.p_core = p.scale(p.core_active_w, op.f_hz, op.vdd_v)
        self.p_ima_dig = p.scale(cfg.ima.digital_power_w, op.f_hz, op.vdd_v)
        self.p_dwa = p.scale(cfg.dwa.power_w, op.f_hz, op.vdd_v)
        self.e_byte = p.scale_energy(p.tcdm_j_per_byte, op.vdd_v)
        self.n_cores = cfg.n_cores

    def finish(self, layer: Layer, target: str, tiles: int, jobs: int,
               cyc: dict[str, int], energy: dict[str, float],
               bytes_streamed: int = 0) -> LayerResult:
        cycles = sum(cyc.values())
        t = cycles / self.f
        energy = dict(energy)
        energy["base"] = energy.get("base", 0.0) + self.p_base * t
        energy["cores"] = energy.get("cores", 0.0) + self.p_core * (
            self.n_cores * cyc.get("cores", 0) + cyc.get("config", 0)) / self.f
        full_e = {k: energy.get(k, 0.0) for k in ENERGY_BLOCKS}
        full_c = {k: cyc.get(k, 0) for k in CYCLE_BLOCKS}
        return LayerResult(layer.name, layer.kind, target, layer.macs, tiles, jobs, cycles, t,
                           sum(full_e.values()), full_c, full_e, bytes_streamed)


def _ima_layer(layer: Layer, cfg: ClusterConfig, ctx: _Ctx) -> LayerResult:
    ima = cfg.ima
    gj = groups_per_job(layer, cfg)
    cin_block = gj * (layer.cin // layer.groups)
    full_rows = gj * layer.xbar_rows
    # HWC input window of one job: contiguous runs in TCDM
    if cin_block == layer.cin:
        n_seg, seg = layer.kh, layer.kw * cin_block
    else:
        n_seg, seg = layer.kh * layer.kw, cin_block
    cfg_cyc = ps_cyc = jobs = n_tiles = 0
    tile_cycles: list[int] = []
    bus = cfg.ima_port_bytes()
    e_an = 0.0
    bytes_moved = 0
    for name, rows, cols in ima_matrices(layer, cfg):
        tiles = layer_tiles(layer, cfg, name, rows, cols)
        n_row_tiles = len({_tile_index(t)[0] for t in tiles})
        cols = sum({_tile_index(t)[1]: t.cols for t in tiles}.values())
        for tile in tiles:
            frac = tile.rows / full_rows
            # the tile reads its share of the window's contiguous runs
            t_nseg = max(1, math.ceil(n_seg * frac))
            t_seg = min(seg, math.ceil(tile.rows / t_nseg))
            jt = job_timing((t_seg, t_nseg), tile.cols, bus, ctx.f,
                            ctx.job_model.latency_s(tile.rows, tile.cols), ima.pipelined,
                            ima.handshake_cycles)
            n = layer.out_pixels
            tile_cycles.append(jt.fill + n * jt.per_job)
            cfg_cyc += cfg.cores.accel_config_cycles
            jobs += n
            n_tiles += 1
            e_an += n * ctx.job_model.energy_j(tile.rows, tile.cols)
            bytes_moved += n * (tile.rows + tile.cols)
        if n_row_tiles > 1:  # partial sums of row tiles added on the cores
            ps_cyc += sw.partial_sum_cycles((n_row_tiles - 1) * layer.out_pixels * cols,
                                            cfg.n_cores, cfg.cores)
    busy = sum(tile_cycles)  # every streamer's active time (energy)
    wall = _makespan(tile_cycles, ima.ports)  # tiles run one per port at a time (latency)
    cyc = {"ima": wall, "config": cfg_cyc, "cores": ps_cyc}
    energy = {"ima_analog": e_an, "ima_digital": ctx.p_ima_dig * busy / ctx.f,
              "tcdm": ctx.e_byte * bytes_moved}
    return ctx.finish(layer, "ima", n_tiles, jobs, cyc, energy, bytes_moved)


def _makespan(durations: list[int], ports: int) -> int:
    """Longest-processing-time-first list schedule of independent tiles on ``ports``."""
    if ports <= 1 or len(durations) <= 1:
        return sum(durations)
    loads = [0] * min(ports, len(durations))
    for d in sorted(durations, reverse=True):
        i = loads.index(min(loads))
        loads[i] += d
    return max(loads)


def _dwa_layer(layer: Layer, cfg: ClusterConfig, ctx: _Ctx) -> LayerResult:
    c = dwa_cycles(layer, cfg.dwa)
    cyc = {"dwa": c, "config": cfg.dwa.config_cycles}
    moved = dwa_bytes(layer)
    energy = {"dwa": ctx.p_dwa * c / ctx.f, "tcdm": ctx.e_byte * moved}
    return ctx.finish(layer, "dwa", 0, 0, cyc, energy, moved)


def _cores_layer(layer: Layer, cfg: ClusterConfig, ctx: _Ctx, marshal_bytes: int) -> LayerResult:
    c = sw.core_cycles(layer, cfg.n_cores, cfg.cores)
    c += sw.marshal_cycles(marshal_bytes, cfg.n_cores, cfg.cores)
    return ctx.finish(layer, "cores" if c else "none", 0, 0, {"cores": c}, {})


def evaluate(net: Network, cfg: ClusterConfig, job_model: ImaJobModel | None = None,
             pack: PackResult | None = None) -> NetworkResult:
    """Run ``net`` on the cluster ``cfg``; raises DoesNotFitError if IMAs are too few."""
    cfg.validate()
    if job_model is None and cfg.ima.tile_model:
        from aimc.system.cluster.ima import load_tile_model

        job_model = load_tile_model(cfg.ima.tile_model)
    if job_model is None:
        job_model = PaperImaJobModel(
            rows=cfg.ima.size, cols=cfg.ima.size, t_mvm_s=cfg.ima.t_mvm_s,
            e_full_j=cfg.ima.e_full_j, share_fixed=cfg.ima.share_fixed,
            share_row=cfg.ima.share_row, share_col=cfg.ima.share_col,
            share_cell=cfg.ima.share_cell)
    if job_model.rows != cfg.ima.size or job_model.cols != cfg.ima.size:
        raise ValueError(
            f"the IMA job model is for a {job_model.rows}x{job_model.cols} tile but "
            f"ima.size = {cfg.ima.size}; set ima.size to match (square tiles only)")
    if pack is None:
        pack = pack_network(net, cfg)
    if pack is not None and cfg.ima.n_ima and pack.n_ima > cfg.ima.n_ima:
        raise DoesNotFitError(
            f"network {net.name!r} needs {pack.n_ima} IMAs of {cfg.ima.size}x{cfg.ima.size} "
            f"after TILE&PACK, but the configuration has ima.n_ima = {cfg.ima.n_ima}; "
            f"set ima.n_ima = {pack.n_ima} (or 0 for as many as needed)")
    if cfg.check_tcdm:
        _check_tcdm(net, cfg)
    ctx = _Ctx(cfg, job_model)
    targets = {layer.name: layer_target(layer, cfg) for layer in net.layers}
    results: list[LayerResult] = []
    for layer in net.layers:
        tgt = targets[layer.name]
        if tgt == "ima":
            results.append(_ima_layer(layer, cfg, ctx))
        elif tgt == "dwa":
            results.append(_dwa_layer(layer, cfg, ctx))
        else:
            marshal = 0
            if layer.kind == DWCONV and any(targets.get(i) in ("ima", "dwa")
                                            for i in layer.inputs):
                marshal = layer.in_elems  # HWC -> CHW on the fly (Sec. V-C, HYBRID)
            results.append(_cores_layer(layer, cfg, ctx, marshal))
    cells = pack.used_cells if pack is not None else 0
    return NetworkResult(net.name, cfg, results, pack, cells)


def _check_tcdm(net: Network, cfg: ClusterConfig) -> None:
    cap = cfg.tcdm_kib * 1024
    by_name = {layer.name: layer for layer in net.layers}
    for layer in net.layers:
        ins = sum(by_name[i].out_elems for i in layer.inputs if i in by_name) or layer.in_elems
        need = ins + layer.out_elems
        if need > cap:
            raise ValueError(
                f"layer {layer.name!r} needs {need} B of activations in L1 but the TCDM has "
                f"{cap} B; activation tiling is not modelled (seed 001 Sec. V-C)")
