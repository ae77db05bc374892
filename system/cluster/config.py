"""Cluster configuration: typed dataclasses, validation, TOML load/dump.

One parameter tree describes the whole heterogeneous cluster of seed 001 (Garofalo et al.,
"A Heterogeneous In-Memory Computing Cluster ...", 2022). Every default names its source:
a section/figure of seed 001, FACTS.md, or "calibrated" (fitted on the named published
figures by ``aimc.system.studies.calibration``; the README table says which figures were used to
fit and which are predictions) or "assumption" (no published number; a stated estimate).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aimc.circuits.toml_text import toml_value
from aimc.system.cluster.cores import CoreKernels
from aimc.system.cluster.dwa import DwaConfig
from aimc.system.cluster.ima import E_JOB_FULL_J, IMA_AREA_MM2, T_MVM_S, XBAR

#: named operating points (seed 001 Sec. V-B: 500 MHz at 0.8 V, 250 MHz at 0.65 V)
OPERATING_POINTS: dict[str, tuple[float, float]] = {
    "500MHz": (500e6, 0.80),
    "250MHz": (250e6, 0.65),
}
MAPPINGS = ("cores", "ima", "hybrid", "ima_dw")


def f_max_hz(vdd_v: float) -> float:
    """Highest cluster clock at ``vdd_v``: linear between the two published points
    (250 MHz at 0.65 V, 500 MHz at 0.8 V; seed 001 Sec. V-B), capped at the design's
    500 MHz (Sec. V-A: "the maximum operating frequency achievable by the final design")."""
    (f_lo, v_lo), (f_hi, v_hi) = OPERATING_POINTS["250MHz"], OPERATING_POINTS["500MHz"]
    f = f_lo + (vdd_v - v_lo) * (f_hi - f_lo) / (v_hi - v_lo)
    return min(f_hi, f)


@dataclass
class OperatingPoint:
    f_hz: float = 500e6  # seed 001 Sec. V-A: maximum frequency at 0.8 V
    vdd_v: float = 0.80  # seed 001 Sec. V-A
    #: refuse clocks above f_max_hz(vdd_v); switch off to explore other implementations
    check_fmax: bool = True

    def validate(self) -> None:
        if not (1e6 <= self.f_hz <= 2e9):
            raise ValueError(f"cluster frequency {self.f_hz} Hz is outside 1 MHz..2 GHz")
        if not (0.4 <= self.vdd_v <= 1.2):
            raise ValueError(f"supply {self.vdd_v} V is outside 0.4..1.2 V")
        if self.check_fmax and self.f_hz > f_max_hz(self.vdd_v) * (1 + 1e-9):
            raise ValueError(
                f"{self.f_hz / 1e6:g} MHz is above the {f_max_hz(self.vdd_v) / 1e6:.0f} MHz the "
                f"cluster reaches at {self.vdd_v:g} V (seed 001: 500 MHz at 0.8 V, 250 MHz at "
                "0.65 V); lower op.f_hz, raise op.vdd_v, or set op.check_fmax = false")


@dataclass
class ImaConfig:
    size: int = XBAR  # FACTS.md: 256x256 PCM crossbar
    t_mvm_s: float = T_MVM_S  # FACTS.md / seed 001 Sec. V-B: 130 ns per MVM
    e_full_j: float = E_JOB_FULL_J  # HERMES 10.5 TOPS/W scaled to 22 nm (ima.py)
    execution: str = "pipelined"  # seed 001 Sec. IV-B: "sequential" or "pipelined"
    bus_bits: int = 128  # seed 001 Sec. V-B: 128-bit data interface is the optimum
    #: FSM handshake between consecutive jobs; calibrated on 958 GOPS (Fig. 7c)
    handshake_cycles: int = 1
    n_ima: int = 0  # 0 = as many IMAs as TILE&PACK needs (seed 001 Sec. VI)
    #: IMA data interfaces that may stream at the same time. Seed 001 Sec. VI / Fig. 11:
    #: all IMAs share one interface, one active at a time (1). More is a what-if: a layer's
    #: tiles are list-scheduled over the ports, which share the TCDM bandwidth
    ports: int = 1
    c_job: int = 16  # channels per job for depth-wise layers on the IMA (Sec. V-C)
    map_fc: bool = False  # seed 001 Sec. VI maps convolutions only (the 34 IMAs exclude FC)
    #: skip all-zero rows, columns and tiles of weights stored in the network (pruned
    #: ONNX files); networks without weights are mapped dense either way
    skip_zero: bool = True
    #: SPICE-fitted tile model (HDF5, aimc.surrogate) for the per-job latency and energy;
    #: "" = the published HERMES figures scaled to 22 nm (ima.PaperImaJobModel)
    tile_model: str = ""
    area_mm2: float = IMA_AREA_MM2  # FACTS.md: 0.83 mm^2 per IMA (22 nm)
    #: pipelined subsystem costs 5 % more area than sequential (seed 001 Sec. IV-B)
    pipeline_area_overhead: float = 0.05
    #: HWPE streamers/buffers/FSM power while active at 0.8 V / 500 MHz; calibrated
    #: (calibration.py)
    digital_power_w: float = 6.703e-3
    # energy split of one MVM job (ima.PaperImaJobModel): the fixed share is calibrated,
    # the rest keeps the assumed row : column : cell proportions 0.15 : 0.25 : 0.50
    share_fixed: float = 0.1351
    share_row: float = 0.1441
    share_col: float = 0.2402
    share_cell: float = 0.4806

    @property
    def bus_bytes(self) -> int:
        return self.bus_bits // 8

    @property
    def pipelined(self) -> bool:
        return self.execution == "pipelined"

    def validate(self) -> None:
        if self.size < 1:
            raise ValueError(f"ima.size must be positive, got {self.size}")
        b = self.bus_bits
        if b < 8 or b & (b - 1):
            raise ValueError(f"ima.bus_bits must be a power of two >= 8, got {b}")
        if not 32 <= b <= 512:
            raise ValueError(f"ima.bus_bits must be within 32..512 (seed 001 Fig. 7), got {b}")
        if self.execution not in ("sequential", "pipelined"):
            raise ValueError(f"ima.execution must be 'sequential' or 'pipelined', got "
                             f"{self.execution!r}")
        if self.ports < 1:
            raise ValueError(f"ima.ports must be >= 1, got {self.ports}")
        if self.n_ima < 0:
            raise ValueError(f"ima.n_ima must be >= 0 (0 = as many as needed), got {self.n_ima}")
        if self.c_job < 1:
            raise ValueError(f"ima.c_job must be positive, got {self.c_job}")
        if self.t_mvm_s <= 0 or self.e_full_j <= 0:
            raise ValueError("ima.t_mvm_s and ima.e_full_j must be positive")
        if self.handshake_cycles < 0:
            raise ValueError("ima.handshake_cycles must be >= 0")


@dataclass
class PowerConfig:
    """Digital power at the reference point; dynamic part scales with f*V^2, leakage with V."""

    ref_f_hz: float = 500e6  # seed 001 Sec. V-A: power measured at 0.8 V, TT corner
    ref_vdd_v: float = 0.80
    #: cluster always-on power (clock tree, interconnect, I$, event unit, idle TCDM,
    #: clock-gated cores); assumption (a fit drives it to 0, see calibration.py)
    base_w: float = 5.0e-3
    #: extra power of one core running a kernel (incl. its TCDM and I$ traffic); calibrated
    core_active_w: float = 4.311e-3
    #: TCDM + logarithmic interconnect energy per byte moved by an HWPE streamer;
    #: assumption: ~1 pJ/B for a 22 nm SRAM bank access at 0.8 V
    tcdm_j_per_byte: float = 1.0e-12
    leakage_fraction: float = 0.10  # assumption: share of base power that is leakage

    def scale(self, p_ref: float, f_hz: float, vdd_v: float) -> float:
        """Power ``p_ref`` (given at the reference point) at another operating point."""
        v = vdd_v / self.ref_vdd_v
        dyn = (1 - self.leakage_fraction) * (f_hz / self.ref_f_hz) * v * v
        return p_ref * (dyn + self.leakage_fraction * v)

    def scale_energy(self, e_ref: float, vdd_v: float) -> float:
        v = vdd_v / self.ref_vdd_v
        return e_ref * v * v

    def validate(self) -> None:
        for name in ("ref_f_hz", "ref_vdd_v"):
            if getattr(self, name) <= 0:
                raise ValueError(f"power.{name} must be positive")
        for name in ("base_w", "core_active_w", "tcdm_j_per_byte"):
            if getattr(self, name) < 0:
                raise ValueError(f"power.{name} must be >= 0")
        if not 0 <= self.leakage_fraction <= 1:
            raise ValueError("power.leakage_fraction must be in [0, 1]")


@dataclass
class AreaConfig:
    """Area per block (22 nm). Seed 001 Sec. V-A / Fig. 6(b): cluster 2.5 mm^2, about 1/3
    IMA subsystem, 1/3 TCDM (512 kB), 1/3 the rest; depth-wise accelerator 2.1 %."""

    tcdm_mm2_per_kib: float = (2.5 / 3) / 512  # seed 001 Fig. 6(b): ~1/3 of 2.5 mm^2 for 512 kB
    core_mm2: float = 0.05  # assumption: RV32IMCXpulpV2 core + private I$ in 22 nm
    #: HWPE ports on the interconnect scale linearly with bus width (Sec. V-B);
    #: assumption: 0.05 mm^2 at 128 bits
    interconnect_mm2_per_bit: float = 0.05 / 128
    #: the rest (shared I$, DMA, event unit, peripherals): ~1/3 of 2.5 mm^2 minus the
    #: 8 cores, the 128-bit HWPE interconnect and the depth-wise accelerator
    other_mm2: float = 2.5 / 3 - 8 * 0.05 - 0.05 - 0.0525

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"area.{f.name} must be >= 0")


@dataclass
class ClusterConfig:
    name: str = "garofalo2022"
    n_cores: int = 8  # seed 001 Sec. III-B
    op: OperatingPoint = field(default_factory=OperatingPoint)
    tcdm_kib: int = 512  # seed 001 Sec. III-B: 512 kB in 32 banks
    tcdm_banks: int = 32
    has_dwa: bool = True  # seed 001 Sec. IV-C
    #: layer-to-block mapping: "cores", "ima" (depth-wise on the IMA too, c_job channels
    #: per job), "hybrid" (depth-wise on the cores), "ima_dw" (seed 001's proposal)
    mapping: str = "ima_dw"
    #: seed 001 Sec. VI assumes all activations in L1 (no tiling); True enforces the fit
    check_tcdm: bool = False
    ima: ImaConfig = field(default_factory=ImaConfig)
    dwa: DwaConfig = field(default_factory=DwaConfig)
    cores: CoreKernels = field(default_factory=CoreKernels)
    power: PowerConfig = field(default_factory=PowerConfig)
    area: AreaConfig = field(default_factory=AreaConfig)

    def validate(self) -> ClusterConfig:
        if int(self.n_cores) != self.n_cores or self.n_cores < 1:
            raise ValueError(f"n_cores must be a positive integer, got {self.n_cores!r}")
        if self.tcdm_kib < 1:
            raise ValueError(f"tcdm_kib must be positive, got {self.tcdm_kib}")
        if self.tcdm_banks < 1 or self.tcdm_banks & (self.tcdm_banks - 1):
            raise ValueError(f"tcdm_banks must be a power of two, got {self.tcdm_banks}")
        if self.mapping not in MAPPINGS:
            raise ValueError(f"mapping must be one of {MAPPINGS}, got {self.mapping!r}")
        self.op.validate()
        self.ima.validate()
        self.dwa.validate()
        self.cores.validate()
        self.power.validate()
        self.area.validate()
        return self

    # ---- convenience --------------------------------------------------------------------
    @property
    def f_hz(self) -> float:
        return self.op.f_hz

    def with_op(self, name: str) -> ClusterConfig:
        if name not in OPERATING_POINTS:
            raise ValueError(f"unknown operating point {name!r}; choose from "
                             f"{sorted(OPERATING_POINTS)}")
        f, v = OPERATING_POINTS[name]
        return dataclasses.replace(self, op=OperatingPoint(f, v))

    def ima_port_bytes(self) -> int:
        """Bytes per cycle one IMA port can stream: its bus, capped by its share of the
        TCDM (32-bit banks) when several ports stream at once."""
        share = 4 * self.tcdm_banks // self.ima.ports
        return max(1, min(self.ima.bus_bytes, share))

    def digital_area_mm2(self) -> float:
        """Cluster area without the IMA crossbars (cores, TCDM, interconnect, DWA, rest)."""
        a = self.area
        return (self.n_cores * a.core_mm2 + self.tcdm_kib * a.tcdm_mm2_per_kib
                + self.ima.ports * self.ima.bus_bits * a.interconnect_mm2_per_bit + a.other_mm2
                + (self.dwa.area_mm2 if self.has_dwa else 0.0))

    def ima_area_mm2(self) -> float:
        """Area of one IMA subsystem for the configured execution model."""
        if self.ima.pipelined:
            return self.ima.area_mm2
        return self.ima.area_mm2 / (1 + self.ima.pipeline_area_overhead)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterConfig:
        return _from_dict(cls, data, "").validate()

    @classmethod
    def load(cls, path: str | Path) -> ClusterConfig:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"architecture file {str(p)!r} does not exist")
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p}: not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(dumps_toml(self.to_dict()))


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"[{where or 'top'}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in [{where or 'top'}]; known: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for name, value in data.items():
        current = getattr(defaults, name)
        path = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(current):
            kwargs[name] = _from_dict(type(current), value, path)
        else:
            kwargs[name] = _coerce(value, current, path)
    return cls(**kwargs)


def _coerce(value: Any, default: Any, path: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{path} must be true/false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ValueError(f"{path} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value)):
            raise ValueError(f"{path} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{path} must be a string, got {value!r}")
        return value
    return value


# ---- a tiny TOML writer (tables of scalars) -----------------------------------------------


def dumps_toml(data: dict[str, Any], prefix: str = "") -> str:
    """TOML text for a dict of scalars and (nested) tables of scalars."""
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in data.items() if isinstance(v, dict)]
    blocks = ["\n".join(f"{k} = {toml_value(v)}" for k, v in scalars)] if scalars else []
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        blocks.append(f"[{name}]\n" + dumps_toml(v, name).rstrip("\n"))
    return "\n\n".join(blocks) + "\n"
