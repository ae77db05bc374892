"""Static CMOS gates and a flip-flop at transistor level: switching energy from ngspice.

The IMA's digital periphery (PWM generators, ripple counters, registers, accumulation) is
built from a handful of cells. This module generates each cell on the project's MOSFET
cards (``netlists/models/generic.lib``) or a PDK (``DigitalConfig.mosfets``), drives it
with ideal input pulses, loads its output with ``fanout`` real inverter inputs (powered
from a separate supply, so their own switching is not counted) plus ``c_wire_f``, and
integrates the supply current: the energy drawn from ``vdd`` per output transition, or
per clock cycle for the flip-flop.

Cells (``GATES``): ``inv``; ``nand2``; ``xor2`` (four NAND2s); ``dff`` (transmission-gate
master-slave, positive edge, local clock inverter; ``dff_clock`` = one cycle with D held,
``dff_data`` = one cycle in which D and Q change). A test checks the inverter against the
hand calculation C·V² per charging transition.

Limits: level-1 cards have gate (Meyer) capacitance but no junction, overlap or
sub-threshold leakage, so parasitics are under-estimated and leakage is zero; the
energies are topology-level estimates (``c_wire_f`` adds the wiring the cards lack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from aimc.circuits.models import GENERIC, MosfetModels
from aimc.circuits.netlist import Design
from aimc.circuits.safety import check_positive
from PySpice.Spice.Netlist import Circuit

GATES = ("inv", "nand2", "xor2", "dff_clock", "dff_data")


@dataclass(frozen=True)
class DigitalConfig:
    """Cell sizes and test conditions (SI units).

    * ``vdd_v`` 0.8 V: the HERMES / IMA supply (FACTS.md).
    * ``l_m`` 50 nm, ``w_n_m`` 200 nm, ``w_p_m`` 500 nm: a small cell on the generic cards
      (PMOS 2.5x wider for KP 160 vs 400 µA/V²); assumed, not from a PDK.
    * ``fanout`` 2 inverter inputs and ``c_wire_f`` 0.5 fF per output: assumed local load
      (about 2.5 µm of wire at 0.2 fF/µm, the wire capacitance dac.md assumes).
    * ``period_s`` 1 ns: the 1 GHz PWM clock (HERMES 1 ns/LSB); ``t_edge_s`` 20 ps.
    """

    vdd_v: float = 0.8
    l_m: float = 50e-9
    w_n_m: float = 200e-9
    w_p_m: float = 500e-9
    fanout: int = 2
    c_wire_f: float = 0.5e-15
    period_s: float = 1e-9
    t_edge_s: float = 20e-12
    t_step_s: float = 1e-12
    mosfets: MosfetModels = field(default_factory=lambda: GENERIC)

    def __post_init__(self) -> None:
        for name in ("vdd_v", "l_m", "w_n_m", "w_p_m", "period_s", "t_edge_s", "t_step_s"):
            check_positive(getattr(self, name), f"DigitalConfig.{name}")
        if self.c_wire_f < 0 or not isinstance(self.fanout, int) or self.fanout < 0:
            raise ValueError("DigitalConfig: c_wire_f must be >= 0 and fanout an int >= 0")
        if 2 * self.t_edge_s >= self.period_s:
            raise ValueError(f"t_edge_s = {self.t_edge_s} is too long for period_s = "
                             f"{self.period_s}")


class _Cells:
    """Adds transistor-level cells to a circuit (bulks: NMOS 0, PMOS to the cell's vdd)."""

    def __init__(self, c: Circuit, cfg: DigitalConfig) -> None:
        self.c, self.cfg, self.n = c, cfg, 0

    def _m(self, d: str, g: str, s: str, pmos: bool, vdd: str, scale: float = 1.0) -> None:
        self.n += 1
        cfg = self.cfg
        if pmos:
            self.c.M(f"p{self.n}", d, g, s, vdd, model=cfg.mosfets.pmos, w=cfg.w_p_m * scale,
                     l=cfg.l_m)
        else:
            self.c.M(f"n{self.n}", d, g, s, self.c.gnd, model=cfg.mosfets.nmos,
                     w=cfg.w_n_m * scale, l=cfg.l_m)

    def inv(self, a: str, y: str, vdd: str = "vdd") -> None:
        self._m(y, a, vdd, True, vdd)
        self._m(y, a, self.c.gnd, False, vdd)

    def tgate(self, a: str, y: str, en: str, enb: str, vdd: str = "vdd") -> None:
        self._m(y, en, a, False, vdd)
        self._m(y, enb, a, True, vdd)

    def nand2(self, a: str, b: str, y: str, vdd: str = "vdd") -> None:
        self._m(y, a, vdd, True, vdd)
        self._m(y, b, vdd, True, vdd)
        mid = f"x{self.n}"
        self._m(y, a, mid, False, vdd, 2.0)
        self._m(mid, b, self.c.gnd, False, vdd, 2.0)

    def xor2(self, a: str, b: str, y: str, vdd: str = "vdd") -> None:
        k = self.n
        self.nand2(a, b, f"xo{k}")
        self.nand2(a, f"xo{k}", f"xa{k}")
        self.nand2(b, f"xo{k}", f"xb{k}")
        self.nand2(f"xa{k}", f"xb{k}", y)

    def dff(self, d: str, clk: str, q: str, vdd: str = "vdd") -> None:
        """Positive-edge master-slave flip-flop of transmission gates and inverters."""
        k = self.n
        cb, ci = f"cb{k}", f"ci{k}"
        self.inv(clk, cb)
        self.inv(cb, ci)
        m1, m2, m3 = f"m1_{k}", f"m2_{k}", f"m3_{k}"
        s1, s3 = f"s1_{k}", f"s3_{k}"
        self.tgate(d, m1, cb, ci)            # master transparent while clk low
        self.inv(m1, m2)
        self.inv(m2, m3)
        self.tgate(m3, m1, ci, cb)           # master keeper while clk high
        self.tgate(m2, s1, ci, cb)           # slave transparent while clk high
        self.inv(s1, q)
        self.inv(q, s3)
        self.tgate(s3, s1, cb, ci)           # slave keeper while clk low

    def load(self, y: str) -> None:
        """``fanout`` inverter inputs on the separate supply ``vddl`` plus wire C."""
        for i in range(self.cfg.fanout):
            self.inv(y, f"{y}_fo{i}", vdd="vddl")
        if self.cfg.c_wire_f > 0:
            self.c.C(f"w_{y}", y, self.c.gnd, self.cfg.c_wire_f)


def _pulse(c: Circuit, name: str, node: str, cfg: DigitalConfig, period_s: float,
           delay_s: float) -> None:
    """0 -> vdd -> 0 square wave of ``period_s`` starting at ``delay_s``."""
    high = period_s / 2 - cfg.t_edge_s
    c.V(name, node, c.gnd, f"PULSE(0 {cfg.vdd_v!r} {delay_s!r} {cfg.t_edge_s!r} "
                           f"{cfg.t_edge_s!r} {high!r} {period_s!r})")


def cell_design(gate: str, cfg: DigitalConfig | None = None) -> Design:
    """The cell ``gate`` (one of GATES) with its stimulus and load, ready to simulate.

    Combinational cells: input ``a`` toggles with period ``2·period_s`` (one output rise
    and one fall per ``2·period_s``), other inputs non-controlling. ``dff_clock``: clock of
    ``period_s``, D held low; ``dff_data``: D toggles every cycle, so Q changes on every
    rising clock edge. The vectors saved are the time, ``vdd``'s current and the output.
    """
    cfg = cfg or DigitalConfig()
    if gate not in GATES:
        raise ValueError(f"unknown cell {gate!r}; choose from {', '.join(GATES)}")
    c = Circuit(f"cell {gate}")
    for line in cfg.mosfets.spice_lines():
        c.raw_spice += line + "\n"
    c.V("dd", "vdd", c.gnd, cfg.vdd_v)
    c.V("ddl", "vddl", c.gnd, cfg.vdd_v)
    cells = _Cells(c, cfg)
    p = cfg.period_s
    if gate.startswith("dff"):
        _pulse(c, "clk", "clk", cfg, p, p / 2)
        if gate == "dff_data":   # D changes mid-low phase, captured on the next rising edge
            _pulse(c, "d", "d", cfg, 2 * p, p / 4)
        else:
            c.V("d", "d", c.gnd, 0.0)
        cells.dff("d", "clk", "y")
    else:
        _pulse(c, "a", "a", cfg, 2 * p, p / 4)
        if gate == "inv":
            cells.inv("a", "y")
        elif gate == "nand2":
            c.V("b", "b", c.gnd, cfg.vdd_v)
            cells.nand2("a", "b", "y")
        else:
            c.V("b", "b", c.gnd, 0.0)
            cells.xor2("a", "b", "y")
    cells.load("y")
    t_stop = 6 * p
    return Design(c, f".tran {cfg.t_step_s!r} {t_stop!r} 0 {cfg.t_step_s!r}",
                  ["time", "vdd#branch", "v(y)"], {"gate": gate, "t_stop_s": t_stop})


@dataclass(frozen=True)
class CellEnergy:
    gate: str
    energy_j: float        # per output transition (combinational) or per clock cycle (dff)
    sim_time_s: float


def cell_energy(gate: str, cfg: DigitalConfig | None = None) -> CellEnergy:
    """Energy drawn from ``vdd`` per output transition (combinational cells, averaged over
    a rise and a fall) or per clock cycle (``dff_clock``, ``dff_data``), measured over the
    last two input periods (the first ones settle the initial state)."""
    cfg = cfg or DigitalConfig()
    design = cell_design(gate, cfg)
    res = design.simulate()
    t, i = res["time"], res["vdd#branch"]
    t0, t1 = 2 * cfg.period_s, 6 * cfg.period_s
    sel = (t >= t0) & (t <= t1)
    energy = float(-cfg.vdd_v * np.trapezoid(i[sel], t[sel]))
    # [2p, 6p] holds four clock cycles (dff) or two input periods of 2p, i.e. two output
    # rises and two falls (combinational)
    return CellEnergy(gate, energy / 4, res.sim_time_s)


@lru_cache(maxsize=8)
def cell_energies(cfg: DigitalConfig | None = None) -> dict[str, float]:
    """``cell_energy`` of every cell in GATES (J), cached per configuration."""
    return {g: cell_energy(g, cfg).energy_j for g in GATES}
