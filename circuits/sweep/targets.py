"""What a sweep can run: generator name -> a point function with declared parameters.

A :class:`Target` declares every parameter a sweep may set (type, unit, default,
allowed range or choices) and every output it records (unit, shape as a function of
the point's parameters). ``target.run(params, timeout_s)`` simulates one point in
this process's ngspice engine and returns a :class:`PointRun`. The sweep engine
(:mod:`aimc.circuits.sweep.run`) calls it in worker processes; users can call it
directly to reproduce any point of a sweep file exactly.

Random arrays (crossbar weights and inputs) are drawn inside ``run`` from the
point's ``seed`` parameter, so a point is fully described by its parameter dict.

Generator modules are imported lazily inside the point functions: listing targets
and validating a spec needs neither ngspice nor the generators.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

REQUIRED = object()

# Physical ranges beyond which a circuit value is nonsense for this toolkit (they keep
# 1e300 V or S from being simulated and stored as "ok" with infinite currents).
MAX_VOLTAGE_V = 10.0
MAX_CONDUCTANCE_S = 1.0          # a 1-ohm cell
MAX_RESISTANCE_OHM = 1e12


@dataclass(frozen=True)
class Param:
    """One parameter of a target: type, unit, default and what values are allowed."""

    type: type                      # int, float, str or bool
    default: Any = REQUIRED
    unit: str = ""
    doc: str = ""
    choices: tuple[Any, ...] = ()
    low: float | None = None        # inclusive lower bound
    high: float | None = None       # inclusive upper bound
    low_open: bool = False          # the lower bound itself is not allowed

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ValueError."""
        t = self.type
        if t is bool:
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"{where}: expected true/false, got {value!r}")
            return bool(value)
        if t is str:
            if not isinstance(value, str):
                raise ValueError(f"{where}: expected a string, got {value!r}")
            v: Any = value
        elif t is int:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                if isinstance(value, float | np.floating) and float(value).is_integer():
                    value = int(value)
                else:
                    raise ValueError(f"{where}: expected an integer, got {value!r}")
            v = int(value)
        else:
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ValueError(f"{where}: expected a number, got {value!r}")
            v = float(value)
            if not math.isfinite(v):
                raise ValueError(f"{where}: must be finite, got {value!r}")
        if self.choices and v not in self.choices:
            raise ValueError(f"{where}: {v!r} is not one of {', '.join(map(repr, self.choices))}")
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            op = ">" if self.low_open else ">="
            raise ValueError(f"{where}: must be {op} {self.low:g}, got {v!r}")
        if self.high is not None and v > self.high:
            raise ValueError(f"{where}: must be <= {self.high:g}, got {v!r}")
        return v


@dataclass(frozen=True)
class Output:
    """One recorded output: unit, and its per-point shape given the parameters."""

    unit: str
    doc: str = ""
    shape: Callable[[dict[str, Any]], tuple[int, ...]] = lambda p: ()
    default: bool = True            # recorded when the spec does not list outputs
    waveform: bool = False          # resampled to ``waveform_points`` samples


@dataclass
class PointRun:
    """What one point returns: outputs, ngspice's own time, and the netlist hash."""

    outputs: dict[str, Any]
    sim_time_s: float
    netlist_hash: str = ""


@dataclass
class Target:
    name: str
    doc: str
    params: dict[str, Param]
    outputs: dict[str, Output]
    prepare_fn: Callable[[dict[str, Any], int], Callable[[float], PointRun]]
    netlist_fn: Callable[[dict[str, Any]], str]
    analyses: tuple[str, ...] = ("op",)
    random: bool = False            # draws random arrays from the point seed
    test_only: bool = False
    waveform_params: tuple[str, ...] = field(default_factory=tuple)
    ordered: tuple[tuple[str, str], ...] = ()   # (lo, hi): lo <= hi at every point
    memory_fn: Callable[[dict[str, Any]], float] | None = None   # bytes one point needs

    def memory_bytes(self, params: dict[str, Any]) -> float:
        """Estimated peak memory of one point's worker (0 when not estimated)."""
        return 0.0 if self.memory_fn is None else float(self.memory_fn(self.complete(params)))

    def complete(self, params: dict[str, Any]) -> dict[str, Any]:
        """Fill defaults and check every value; unknown names raise KeyError."""
        out: dict[str, Any] = {}
        for k, v in params.items():
            if k in ("seed", "analysis", "waveform_points"):
                out[k] = v
                continue
            if k not in self.params:
                raise KeyError(f"unknown parameter {k!r} of generator {self.name!r}")
            out[k] = self.params[k].check(v, k)
        for k, p in self.params.items():
            if k not in out:
                if p.default is REQUIRED:
                    raise KeyError(f"generator {self.name!r} needs parameter {k!r}")
                out[k] = p.default
        out.setdefault("analysis", self.analyses[0])
        out.setdefault("waveform_points", 256)
        return out

    def prepare(self, params: dict[str, Any]) -> Callable[[float], PointRun]:
        """Build a point's netlist (Python only); return ``execute(timeout_s)`` which
        runs ngspice and post-processes. Sweep workers prepare the next point while
        ngspice solves the current one."""
        p = self.complete(params)
        return self.prepare_fn(p, int(p["waveform_points"]))

    def run(self, params: dict[str, Any], timeout_s: float = 600.0) -> PointRun:
        """Simulate one point (parameters completed with defaults) in this process."""
        return self.prepare(params)(timeout_s)

    def netlist(self, params: dict[str, Any]) -> str:
        """The netlist text of one point (needs PySpice, not ngspice)."""
        return self.netlist_fn(self.complete(params))

    def output_shape(self, name: str, params: dict[str, Any]) -> tuple[int, ...]:
        out = self.outputs[name]
        if out.waveform:
            return (int(params.get("waveform_points", 256)),)
        return tuple(int(n) for n in out.shape(self.complete(params)))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resample(t: np.ndarray, y: np.ndarray, n: int, t_end: float | None = None) -> np.ndarray:
    """A waveform on ``n`` uniform samples from 0 to ``t_end`` (linear interpolation)."""
    t_end = float(t[-1]) if t_end is None else t_end
    return np.interp(np.linspace(0.0, t_end, n), t, y)


# ------------------------------------------------------------------------------------
# random arrays declared by distributions
# ------------------------------------------------------------------------------------

DISTS = ("uniform", "normal", "constant")


def dist_params(prefix: str, what: str, low: float, high: float, mean: float, std: float,
                density: float = 1.0) -> dict[str, Param]:
    """Parameters describing the distribution of one random array (``prefix_dist`` ...)."""
    return {
        f"{prefix}_dist": Param(str, "uniform", "", f"distribution of the {what}",
                                choices=DISTS),
        f"{prefix}_low": Param(float, low, "1", f"uniform: lower end of the {what}"),
        f"{prefix}_high": Param(float, high, "1", f"uniform: upper end of the {what}"),
        f"{prefix}_mean": Param(float, mean, "1", f"normal/constant: mean of the {what}"),
        f"{prefix}_std": Param(float, std, "1", f"normal: standard deviation of the {what}",
                               low=0.0),
        f"{prefix}_density": Param(float, density, "1",
                                   f"fraction of non-zero {what} (the rest are 0)",
                                   low=0.0, high=1.0),
    }


def draw(p: dict[str, Any], prefix: str, rng: np.random.Generator, shape: tuple[int, ...],
         lo: float, hi: float) -> np.ndarray:
    """Draw an array as declared by ``prefix_*`` parameters, clipped to [lo, hi]."""
    dist = p[f"{prefix}_dist"]
    if dist == "uniform":
        a = rng.uniform(p[f"{prefix}_low"], p[f"{prefix}_high"], shape)
    elif dist == "normal":
        a = rng.normal(p[f"{prefix}_mean"], p[f"{prefix}_std"], shape)
    else:
        a = np.full(shape, float(p[f"{prefix}_mean"]))
    keep = rng.random(shape) < p[f"{prefix}_density"]
    return np.clip(np.where(keep, a, 0.0), lo, hi)


# ------------------------------------------------------------------------------------
# crossbar operating point
# ------------------------------------------------------------------------------------

def _crossbar_cfg(p: dict[str, Any]):
    from aimc.circuits.crossbar import CrossbarConfig

    return CrossbarConfig(
        rows=p["rows"], cols=p["cols"], cell=p["cell"], encoding=p["encoding"],
        device=p["device"], r_wire_row_ohm=p["r_wire_row_ohm"],
        r_wire_col_ohm=p["r_wire_col_ohm"], r_driver_ohm=p["r_driver_ohm"],
        v_cm_v=p["v_cm_v"], v_read_v=p["v_read_v"], regulator=p["regulator"],
        regulator_gain=p["regulator_gain"], temperature_c=p["temperature_c"],
    )


def crossbar_case(p: dict[str, Any], cfg: Any = None):
    """(config, weights, conductances, inputs) of one crossbar point, from its seed
    (``cfg``: the point's configuration when the caller has it already)."""
    from aimc.circuits.crossbar import weights_to_conductances

    p = CROSSBAR_OP.complete(p)
    cfg = _crossbar_cfg(p) if cfg is None else cfg
    rng = np.random.default_rng(int(p["seed"]))
    w_lo = 0.0 if p["encoding"] == "single" else -1.0
    w = draw(p, "w", rng, (p["rows"], p["cols"]), w_lo, 1.0)
    x = draw(p, "x", rng, (p["rows"],), -1.0, 1.0)
    g = weights_to_conductances(w, p["encoding"], p["g_max_s"], p["g_min_s"])
    return cfg, w, g, x


def _crossbar_netlist(p: dict[str, Any]) -> str:
    from aimc.circuits.crossbar import crossbar_design

    cfg, _, g, x = crossbar_case(p)
    return crossbar_design(cfg, g, x).text()


_CFG_KEYS = ("rows", "cols", "cell", "encoding", "device", "r_wire_row_ohm",
             "r_wire_col_ohm", "r_driver_ohm", "v_cm_v", "v_read_v", "regulator",
             "regulator_gain", "temperature_c")
_CELL_NAME = re.compile(r"Rc(\d+)_(\d+)_(\d+) ")
_DRIVER_NAME = re.compile(r"Vd(\d+) ")


@dataclass
class OpTemplate:
    """The operating-point netlist of one crossbar configuration with its per-point
    values left open: a point of a linear-device sweep differs from another only in
    its cells' resistances and its drivers' voltages, so filling those into the lines
    of the first point's netlist (built by :func:`crossbar_design`) costs a fraction of
    building the netlist again. :meth:`build` checks on that first point that the
    filled lines equal the built netlist, and returns None when they do not (the
    caller builds every netlist in full then)."""

    cfg: Any
    saves: list[str]
    lines: list[str]                # the first point's lines; values replaced per point
    cell_slots: np.ndarray          # line index of each cell, in flat (P, Rp, Cp) order
    cell_heads: list[str]           # "Rc0_1_2 r1_2 c2_1 " of each cell
    driver_slots: list[int]         # line index of each driver (physical row order)
    driver_heads: list[str]
    outputs: list[str] = field(default_factory=list)
    drivers: list[str] = field(default_factory=list)

    @staticmethod
    def build(cfg: Any, g: np.ndarray, x: np.ndarray) -> tuple[OpTemplate | None, str]:
        """(template or None, the netlist text of this point)."""
        from aimc.circuits.crossbar import (
            crossbar_design,
            op_driver_vectors,
            op_output_vectors,
        )

        design = crossbar_design(cfg, g, x)
        text = design.text()
        if cfg.device != "linear" or cfg.cell != "1R":
            return None, text
        lines = text.split("\n")
        p, rp, cp = cfg.physical_shape
        cells: dict[int, tuple[int, str]] = {}
        drivers: dict[int, tuple[int, str]] = {}
        for i, line in enumerate(lines):
            m = _CELL_NAME.match(line) or _DRIVER_NAME.match(line)
            if m is None:
                continue
            head = line[:line.rindex(" ") + 1]
            if m.re is _CELL_NAME:
                k, r, c = (int(v) for v in m.groups())
                cells[(k * rp + r) * cp + c] = (i, head)
            else:
                drivers[int(m.group(1))] = (i, head)
        n_cells = (1 if p > 1 else p) * rp * cp     # a 1R crosspoint's devices: one R
        if sorted(cells) != list(range(n_cells)) or sorted(drivers) != list(range(rp)):
            return None, text
        t = OpTemplate(cfg, design.saves, lines,
                       np.array([cells[k][0] for k in range(n_cells)]),
                       [cells[k][1] for k in range(n_cells)],
                       [drivers[r][0] for r in range(rp)],
                       [drivers[r][1] for r in range(rp)],
                       op_output_vectors(cfg), op_driver_vectors(cfg))
        return (t if t.text(g, x) == text else None), text

    def text(self, g: np.ndarray, x: np.ndarray) -> str:
        """The netlist of conductances ``g`` and inputs ``x`` (checked as
        :func:`crossbar_design` checks them)."""
        from aimc.circuits.crossbar import (
            check_conductances,
            check_inputs,
            physical_conductances,
            row_drive,
        )

        cfg = self.cfg
        gp = physical_conductances(cfg, check_conductances(cfg, g))
        if gp.shape[0] > 1:             # 1R: the devices of a crosspoint in parallel
            gp = gp.sum(axis=0, keepdims=True)
        u = row_drive(cfg, check_inputs(cfg, x))
        lines = list(self.lines)
        for i, head, v in zip(self.cell_slots.tolist(), self.cell_heads,
                              (1.0 / gp).ravel().tolist(), strict=True):
            lines[i] = head + f"{v:.12g}"
        for i, head, ui in zip(self.driver_slots, self.driver_heads, u.tolist(),
                               strict=True):
            lines[i] = head + f"{cfg.v_cm_v - ui:.12g}"
        return "\n".join(lines)


_TEMPLATES: dict[tuple, tuple[Any, OpTemplate | None]] = {}


def _crossbar_prepare(p: dict[str, Any], _n: int) -> Callable[[float], PointRun]:
    from aimc.circuits.crossbar import (
        combine_outputs,
        ideal_currents,
        op_driver_vectors,
        op_output_vectors,
        row_drive,
    )
    from aimc.circuits.spice import simulate

    # the configuration (and the netlist template of a linear one) is made once per
    # worker and configuration; only the weights and inputs are drawn per point
    key = tuple(p[k] for k in _CFG_KEYS)
    cached = _TEMPLATES.get(key)
    cfg, w, g, x = crossbar_case(p, cached[0] if cached else None)
    if cached is None or cached[1] is None:
        template, text = OpTemplate.build(cfg, g, x)
        if cached is None:
            if len(_TEMPLATES) >= 64:
                _TEMPLATES.clear()
            _TEMPLATES[key] = (cfg, template)
    else:
        text = cached[1].text(g, x)
    netlist_hash = _hash(text)
    ideal = ideal_currents(cfg, g, x)
    saves = op_output_vectors(cfg) + op_driver_vectors(cfg)

    def execute(timeout_s: float) -> PointRun:
        res = simulate(text, saves, timeout_s)
        i_phys = np.array([res.scalar(v) for v in op_output_vectors(cfg)])
        i_rows = -np.array([res.scalar(v) for v in op_driver_vectors(cfg)])
        power = float(np.sum(-row_drive(cfg, x) * i_rows))
        out = {"i_out_a": combine_outputs(cfg, i_phys), "i_ideal_a": ideal,
               "power_w": power, "weights": w, "inputs": x}
        return PointRun(out, res.sim_time_s + res.load_time_s, netlist_hash)

    return execute


def crossbar_memory_bytes(p: dict[str, Any]) -> float:
    """Peak memory of a crossbar_op worker (bytes): 60 MB + 13 kB per non-linear device
    (B-source) + 2 kB per linear element (device R, wire R, MOSFET). Measured here on
    128x128 PCM arrays (single/differential, with and without wires, 1R/1T1R: within
    10 %); 1024x1024 differential with wires comes to about 35 GB."""
    devices = p["rows"] * p["cols"] * {"single": 1, "differential": 2, "hermes": 4}[
        p["encoding"]]
    sides = int(p["r_wire_row_ohm"] > 0) + int(p["r_wire_col_ohm"] > 0)
    linear = devices * (sides + (p["cell"] == "1T1R"))
    if p["device"] == "linear":
        return 60e6 + 2e3 * (devices + linear)
    return 60e6 + 13e3 * devices + 2e3 * linear


CROSSBAR_OP = Target(
    name="crossbar_op",
    doc="Crossbar operating point (all rows driven, DC): output-line currents and power "
        "for weights and inputs drawn from declared distributions.",
    params={
        "rows": Param(int, REQUIRED, "1", "logical rows (inputs)", low=1, high=1024),
        "cols": Param(int, REQUIRED, "1", "logical columns (outputs)", low=1, high=1024),
        "cell": Param(str, "1R", "", "unit cell", choices=("1R", "1T1R")),
        "encoding": Param(str, "single", "", "weight encoding",
                          choices=("single", "differential", "hermes")),
        "device": Param(str, "linear", "", "device I-V model",
                        choices=("linear", "pcm", "rram")),
        "r_wire_row_ohm": Param(float, 0.0, "ohm", "input-line wire resistance per cell",
                                low=0.0, high=MAX_RESISTANCE_OHM),
        "r_wire_col_ohm": Param(float, 0.0, "ohm", "output-line wire resistance per cell",
                                low=0.0, high=MAX_RESISTANCE_OHM),
        "r_driver_ohm": Param(float, 0.0, "ohm", "input driver output resistance", low=0.0,
                              high=MAX_RESISTANCE_OHM),
        "v_cm_v": Param(float, 0.4, "V", "summing-line voltage (HERMES mid-rail, FACTS.md)",
                        low=-MAX_VOLTAGE_V, high=MAX_VOLTAGE_V),
        "v_read_v": Param(float, 0.2, "V", "read voltage (HERMES 0.2 V, FACTS.md)",
                          low=0.0, low_open=True, high=MAX_VOLTAGE_V),
        "regulator": Param(str, "ideal", "", "output-line regulator",
                           choices=("ideal", "finite")),
        "regulator_gain": Param(float, 1000.0, "1", "finite regulator open-loop gain",
                                low=0.0, low_open=True, high=1e12),
        "temperature_c": Param(float, 27.0, "degC", "simulation temperature",
                               low=-273.15, low_open=True, high=500.0),
        "g_min_s": Param(float, 0.1e-6, "S", "conductance of weight 0 (64-core chip, FACTS.md)",
                         low=0.0, low_open=True, high=MAX_CONDUCTANCE_S),
        "g_max_s": Param(float, 25e-6, "S", "conductance of weight 1 (PCM, FACTS.md)",
                         low=0.0, low_open=True, high=MAX_CONDUCTANCE_S),
        **dist_params("w", "weights", 0.0, 1.0, 0.0, 0.5),
        **dist_params("x", "inputs", -1.0, 1.0, 0.0, 0.5),
    },
    outputs={
        "i_out_a": Output("A", "output-line currents (into the line)", lambda p: (p["cols"],)),
        "i_ideal_a": Output("A", "ideal currents W^T (x v_read), no parasitics",
                            lambda p: (p["cols"],)),
        "power_w": Output("W", "power delivered by the input drivers"),
        "weights": Output("1", "weights in [-1, 1] drawn for the point",
                          lambda p: (p["rows"], p["cols"])),
        "inputs": Output("1", "inputs in [-1, 1] drawn for the point", lambda p: (p["rows"],)),
    },
    prepare_fn=_crossbar_prepare,
    netlist_fn=_crossbar_netlist,
    random=True,
    ordered=(("g_min_s", "g_max_s"), ("w_low", "w_high"), ("x_low", "x_high")),
    memory_fn=lambda p: crossbar_memory_bytes(p),
)


# ------------------------------------------------------------------------------------
# PWM DAC line (transient)
# ------------------------------------------------------------------------------------

def _dac_design(p: dict[str, Any]):
    from aimc.circuits.dac import PwmDacConfig, dac_line_design

    cfg = PwmDacConfig(t_lsb_s=p["t_lsb_s"], v_read_v=p["v_read_v"], v_cm_v=p["v_cm_v"],
                       vdd_v=p["vdd_v"], driver=p["driver"], t_rise_s=p["t_edge_s"],
                       t_fall_s=p["t_edge_s"], window_s=p["window_s"])
    rng = np.random.default_rng(int(p["seed"]))
    g = p["g_cell_s"] * (1.0 + p["g_rel_std"] * rng.standard_normal(p["n_cells"]))
    g = np.clip(g, 0.01 * p["g_cell_s"], None)
    return dac_line_design(cfg, p["code"], p["n_cells"], g, p["device"], p["r_wire_ohm"],
                           p["c_wire_f"]), g


def _dac_netlist(p: dict[str, Any]) -> str:
    return _dac_design(p)[0].text()


def _dac_prepare(p: dict[str, Any], n_wave: int) -> Callable[[float], PointRun]:
    from aimc.circuits.dac import line_result

    design, g = _dac_design(p)
    netlist_hash = _hash(design.text())
    t_end = float(design.meta["cfg"].t_stop_s)

    def execute(timeout_s: float) -> PointRun:
        r = line_result(design, timeout_s)
        out = {
            "charge_c": r.charge_c, "ideal_charge_c": r.ideal_charge_c, "t_eff_s": r.t_eff_s,
            "energy_j": r.energy_j, "energy_drawn_j": r.energy_drawn_j,
            "t_rise_s": r.t_rise_s, "t_fall_s": r.t_fall_s,
            "charge_per_cell_c": r.charge_per_cell_c, "g_cells_s": g,
            "i_line_a": resample(r.time_s, r.i_line_a, n_wave, t_end),
            "v_drive_v": resample(r.time_s, r.v_drive_v, n_wave, t_end),
            "time_s": np.linspace(0.0, t_end, n_wave),
        }
        return PointRun(out, r.sim_time_s, netlist_hash)

    return execute


DAC_LINE = Target(
    name="dac_line",
    doc="PWM DAC driving one input line of n_cells cells (transient over the window): "
        "charge delivered, energy, edge times; waveforms on request.",
    params={
        "code": Param(int, REQUIRED, "LSB", "signed code (sign + 7-bit magnitude)",
                      low=-127, high=127),
        "n_cells": Param(int, REQUIRED, "1", "cells on the line (line length)", low=1,
                         high=4096),
        "driver": Param(str, "behavioral", "", "PWM driver", choices=("behavioral",
                                                                     "inverter")),
        "device": Param(str, "linear", "", "cell device model",
                        choices=("linear", "pcm", "rram")),
        "g_cell_s": Param(float, 10e-6, "S", "mean cell conductance (PCM 0.1-25 uS, FACTS.md)",
                          low=0.0, low_open=True, high=MAX_CONDUCTANCE_S),
        "g_rel_std": Param(float, 0.0, "1", "relative spread of the cell conductances "
                           "(normal, drawn from the point seed)", low=0.0),
        "r_wire_ohm": Param(float, 1.0, "ohm", "wire resistance per cell pitch",
                            low=0.0, low_open=True, high=MAX_RESISTANCE_OHM),
        "c_wire_f": Param(float, 0.8e-15, "F", "wire capacitance per cell pitch", low=0.0),
        "t_lsb_s": Param(float, 1e-9, "s", "PWM LSB (1 ns, FACTS.md)", low=0.0,
                         low_open=True),
        "t_edge_s": Param(float, 50e-12, "s", "rise and fall time of the driver inputs",
                          low=0.0, low_open=True),
        "window_s": Param(float, 128e-9, "s", "integration window (2^7 LSB, FACTS.md)",
                          low=0.0, low_open=True),
        "v_read_v": Param(float, 0.2, "V", "read voltage", low=0.0, low_open=True,
                          high=MAX_VOLTAGE_V),
        "v_cm_v": Param(float, 0.4, "V", "line idle level", low=0.0, low_open=True,
                        high=MAX_VOLTAGE_V),
        "vdd_v": Param(float, 0.8, "V", "supply", low=0.0, low_open=True, high=MAX_VOLTAGE_V),
    },
    outputs={
        "charge_c": Output("C", "charge into all cells over the simulated window"),
        "ideal_charge_c": Output("C", "sign(code) v_read sum(G) |code| t_lsb"),
        "t_eff_s": Output("s", "effective pulse duration |Q|/(v_read sum(G))"),
        "energy_j": Output("J", "net energy delivered by all sources"),
        "energy_drawn_j": Output("J", "energy delivered by the sources that deliver"),
        "t_rise_s": Output("s", "10-90 % rise time of the driver output (nan for code 0)"),
        "t_fall_s": Output("s", "10-90 % fall time of the driver output (nan for code 0)"),
        "charge_per_cell_c": Output("C", "charge into each cell", lambda p: (p["n_cells"],)),
        "g_cells_s": Output("S", "cell conductances of the point", lambda p: (p["n_cells"],),
                            default=False),
        "i_line_a": Output("A", "total cell current (waveform)", waveform=True,
                           default=False),
        "v_drive_v": Output("V", "driver output voltage (waveform)", waveform=True,
                            default=False),
        "time_s": Output("s", "time axis of the waveforms", waveform=True, default=False),
    },
    prepare_fn=_dac_prepare,
    netlist_fn=_dac_netlist,
    analyses=("tran",),
    random=True,
)


# ------------------------------------------------------------------------------------
# CCO-ADC transfer (transient)
# ------------------------------------------------------------------------------------

def _adc_design(p: dict[str, Any]):
    from aimc.circuits.adc import CcoAdcConfig, adc_design

    cfg = CcoAdcConfig(variant=p["variant"], linearize=p["linearize"], vdd_v=p["vdd_v"],
                       v_cm_v=p["vdd_v"] / 2, temperature_c=p["temperature_c"])
    window = p["window_s"]
    if p["input"] == "charge":
        i = p["q_in_c"] / window
    else:
        i = p["i_in_a"]
    pulse = p["pulse_s"]
    if 0 < pulse < window:
        edge = min(10e-12, pulse / 10)
        current: Any = ([0.0, pulse, pulse + edge], [i, i, 0.0])
    else:
        current = float(i)
    return cfg, adc_design(cfg, current, window)


def _adc_netlist(p: dict[str, Any]) -> str:
    return _adc_design(p)[1].text()


def _adc_prepare(p: dict[str, Any], n_wave: int) -> Callable[[float], PointRun]:
    cfg, design = _adc_design(p)
    text = design.text()
    return lambda timeout_s: _adc_execute(p, n_wave, cfg, design, text, timeout_s)


def _adc_execute(p: dict[str, Any], n_wave: int, cfg: Any, design: Any, text: str,
                 timeout_s: float) -> PointRun:
    from aimc.circuits.adc import toggle_frequency, toggle_times
    from aimc.circuits.spice import simulate

    res = simulate(text, design.saves, timeout_s)
    window = p["window_s"]
    t = res["time"]
    tt = toggle_times(t, res["v(out)"], cfg.vdd_v)
    tt = tt[(tt > 0) & (tt <= window)]
    sign = np.interp(tt, t, res["v(sgn)"]) if tt.size else np.zeros(0)
    count = int(np.sum(np.where(sign > 0.5 * cfg.vdd_v, 1, -1)))
    energy = float(-cfg.vdd_v * np.trapezoid(res["vdd#branch"], t))
    q_in = float(np.trapezoid(_input_current(p, t), t))
    out = {
        "count": count, "frequency_hz": toggle_frequency(tt, window), "energy_j": energy,
        "q_in_c": q_in, "q_per_count_c": q_in / count if count else float("nan"),
        "v_out_v": resample(t, res["v(out)"], n_wave, window),
        "v_in_v": resample(t, res["v(inp)"], n_wave, window),
        "time_s": np.linspace(0.0, window, n_wave),
    }
    return PointRun(out, res.sim_time_s + res.load_time_s, _hash(text))


def _input_current(p: dict[str, Any], t: np.ndarray) -> np.ndarray:
    window = p["window_s"]
    i = p["q_in_c"] / window if p["input"] == "charge" else p["i_in_a"]
    pulse = p["pulse_s"]
    if 0 < pulse < window:
        edge = min(10e-12, pulse / 10)
        return np.interp(t, [0.0, pulse, pulse + edge], [i, i, 0.0])
    return np.full_like(t, i)


CCO_ADC = Target(
    name="cco_adc",
    doc="CCO-ADC conversion of a DC (or pulsed) input current or charge over an "
        "integration window: signed count, toggle frequency, supply energy.",
    params={
        "input": Param(str, "current", "", "what i_in_a/q_in_c means: 'current' uses "
                       "i_in_a, 'charge' spreads q_in_c over the window",
                       choices=("current", "charge")),
        "i_in_a": Param(float, 10e-6, "A", "input current (positive into the ADC); "
                        "HERMES calibrates up to 100 uA (FACTS.md)", low=-1e-3, high=1e-3),
        "q_in_c": Param(float, 1e-12, "C", "input charge over the window", low=-1e-10,
                        high=1e-10),
        "pulse_s": Param(float, 0.0, "s", "current flows only for the first pulse_s "
                         "(0: the whole window)", low=0.0),
        "window_s": Param(float, 128e-9, "s", "integration window (HERMES 128 ns, FACTS.md)",
                          low=0.0, low_open=True, high=10e-6),
        "linearize": Param(bool, True, "", "feed-forward linearization on/off"),
        "variant": Param(str, "relaxation", "", "CCO topology",
                         choices=("relaxation", "ring")),
        "vdd_v": Param(float, 0.8, "V", "supply (HERMES 0.8 V, FACTS.md); v_cm = vdd/2",
                       low=0.3, high=2.0),
        "temperature_c": Param(float, 27.0, "degC", "temperature (generic level-1 cards)",
                               low=-55.0, high=150.0),
    },
    outputs={
        "count": Output("1", "signed toggle count in the window"),
        "frequency_hz": Output("Hz", "toggle rate"),
        "energy_j": Output("J", "supply energy over the window"),
        "q_in_c": Output("C", "input charge over the window"),
        "q_per_count_c": Output("C", "input charge per count"),
        "v_out_v": Output("V", "CCO output (waveform)", waveform=True, default=False),
        "v_in_v": Output("V", "input node voltage (waveform)", waveform=True, default=False),
        "time_s": Output("s", "time axis of the waveforms", waveform=True, default=False),
    },
    prepare_fn=_adc_prepare,
    netlist_fn=_adc_netlist,
    analyses=("tran",),
)


# ------------------------------------------------------------------------------------
# test-only target: a tiny resistive array with injectable faults
# ------------------------------------------------------------------------------------

FAULTS = ("none", "abort", "segfault", "hang", "spice_error", "slow_tran", "raise",
          "exhaust_memory")


def _probe_netlist(p: dict[str, Any]) -> str:
    n = p["n"]
    rng = np.random.default_rng(int(p.get("seed", 0)))
    g = rng.uniform(1e-6, 25e-6, (n, n))
    x = rng.uniform(-1, 1, n) * p["v_read_v"]
    lines = ["fault probe"]
    lines += [f"Vd{r} d{r} 0 {x[r]:.12g}" for r in range(n)]
    lines += [f"Vs{c} o{c} 0 0" for c in range(n)]
    lines += [f"R{r}_{c} d{r} o{c} {1 / g[r, c]:.12g}" for r in range(n) for c in range(n)]
    if p["fault"] == "spice_error":
        lines.append("Rbad d0 nowhere_model notanumber")
    if p["fault"] == "slow_tran":
        # tiny internal steps (hours of work) but few stored points (bounded memory)
        lines += ["Vp p 0 SIN(0 1 1e9)", "Rp p q 1k", "Cp q 0 1p", ".options interp",
                  ".tran 1e-7 1e-3 0 1e-13", ".end"]
    else:
        lines += [".op", ".end"]
    return "\n".join(lines) + "\n"


def _probe_prepare(p: dict[str, Any], _n: int) -> Callable[[float], PointRun]:
    """Everything, faults included, happens in execute: the point that runs is the
    point that crashes."""
    return lambda timeout_s: _probe_run(p, timeout_s)


def _exhaust_memory() -> None:
    """Allocate and touch memory in C until malloc fails, then write through the NULL it
    returned (SIGSEGV), as native code that does not check malloc does. Only under an
    address-space limit (ulimit -v): never against the machine's whole memory."""
    import resource

    if resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY:
        raise RuntimeError("fault probe: exhaust_memory needs an address-space limit")
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    block = 16 << 20
    while True:
        ptr = libc.malloc(block)
        ctypes.memset(ptr or 0, 1, block)


def _probe_run(p: dict[str, Any], timeout_s: float) -> PointRun:
    from aimc.circuits.spice import simulate

    fault = p["fault"]
    if p["sleep_s"] > 0:
        time.sleep(p["sleep_s"])
    if fault == "abort":
        os.abort()
    if fault == "segfault":
        ctypes.string_at(0)
    if fault == "hang":
        while True:
            time.sleep(3600)
    if fault == "raise":
        raise RuntimeError("fault probe: requested exception")
    if fault == "exhaust_memory":
        _exhaust_memory()
    text = _probe_netlist(p)
    n = p["n"]
    res = simulate(text, [f"vs{c}#branch" for c in range(n)], timeout_s)
    i = np.array([res.scalar(f"vs{c}#branch") for c in range(n)])
    return PointRun({"i_out_a": i, "i_sum_a": float(i.sum())},
                    res.sim_time_s + res.load_time_s, _hash(text))


FAULT_PROBE = Target(
    name="fault_probe",
    doc="TEST ONLY: an n x n resistive array (operating point) whose 'fault' parameter "
        "makes the point abort, segfault, hang in Python, fail in ngspice, raise, exhaust "
        "its memory (under ulimit -v only), or run an "
        "over-long ngspice transient. Used by the sweep engine's fault tests.",
    params={
        "n": Param(int, 4, "1", "array size", low=1, high=256),
        "v_read_v": Param(float, 0.2, "V", "input amplitude", low=0.0, high=MAX_VOLTAGE_V),
        "fault": Param(str, "none", "", "fault to inject", choices=FAULTS),
        "sleep_s": Param(float, 0.0, "s", "sleep before simulating", low=0.0),
        "label": Param(float, 0.0, "1", "free parameter to sweep (no effect)"),
    },
    outputs={
        "i_out_a": Output("A", "output currents", lambda p: (p["n"],)),
        "i_sum_a": Output("A", "sum of output currents"),
    },
    prepare_fn=_probe_prepare,
    netlist_fn=_probe_netlist,
    random=True,
    test_only=True,
)


TARGETS: dict[str, Target] = {t.name: t for t in (CROSSBAR_OP, DAC_LINE, CCO_ADC,
                                                   FAULT_PROBE)}


def register(target: Target) -> Target:
    """Add a target to the registry (for users' own generators)."""
    TARGETS[target.name] = target
    return target


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        visible = sorted(k for k, t in TARGETS.items() if not t.test_only)
        raise KeyError(f"unknown generator {name!r}; choose one of {', '.join(visible)}") \
            from None


def _load_linalg_targets() -> None:
    # the closed-loop linear-algebra targets live in their own module, which uses the
    # classes above and registers itself (works whichever module is imported first)
    import aimc.circuits.sweep.linalg_targets  # noqa: F401


_load_linalg_targets()
