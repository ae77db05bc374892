"""PWM input DAC of an AIMC tile (HERMES style), as PySpice generators.

A signed ``n_bits`` code (sign + magnitude; 8 bits: -127..127) becomes one pulse of
duration ``|code|·t_lsb_s`` on an input line (FACTS.md, HERMES core, JSSC 2022):

* the summing (output) lines are held at ``v_cm_v``; the idle input line also sits
  at ``v_cm_v`` (no cell current);
* a **positive** code drives the input line to ``v_cm_v - v_read_v`` (the cell
  current flows from the output line into the input line: it *adds*), a
  **negative** code to ``v_cm_v + v_read_v``; no negative supply is needed;
* the cell current is ``I = G·(V_out_line - V_in_line)``, so a positive code gives
  positive charge ``Q = ∫ I dt ≈ v_read_v·G·|code|·t_lsb_s``.

Two drivers:

``"behavioral"``
    a PULSE voltage source (``v_cm`` → ``v_cm ∓ v_read``) with linear edges
    ``t_rise_s``/``t_fall_s`` through ``r_out_ohm``. The edges are centred on the
    ideal switching instants (50 % points at ``t_start_s`` and
    ``t_start_s + |code|·t_lsb_s``), so the pulse area is exactly
    ``v_read·|code|·t_lsb`` whatever the edge times.
``"inverter"``
    transistor level (:func:`pwm_driver_subcircuit`): an NMOS switch to the
    ``v_cm - v_read`` rail (positive pulses), a PMOS switch to the
    ``v_cm + v_read`` rail (negative pulses) and a CMOS transmission gate to the
    ``v_cm`` rail (idle), driven by ``vdd``-powered pre-driver logic (NOR +
    inverters) from two digital inputs ``dp``/``dn`` (ideal sources with edges
    ``t_rise_s``/``t_fall_s``). The three rails are ideal sources = the reference
    voltages; their currents and the ``vdd`` current give the energy.

Load (:func:`dac_line_design`): a line of N cells = N wire segments (``r_wire_ohm``
in series, ``c_wire_f`` to ground, per segment); after segment k, cell k (a
:mod:`aimc.circuits.devices` model) connects the line to its output line, which is
held at ``v_cm_v`` by a 0 V sense source: the charge of cell k is ∫ i dt of its
sense source.

Energy per conversion: ``∫ v·i`` of every ideal source over the simulated window
(DAC rails, ``vdd``, digital inputs, the output-line ``v_cm`` reference).

Units are SI throughout (V, A, S, s, C, J, Ohm, F, m).
"""

from __future__ import annotations

import math
import numbers
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from aimc.circuits.devices import LinearDevice, PcmDevice, RramDevice, as_device
from aimc.circuits.models import GENERIC, MosfetModels
from aimc.circuits.netlist import Design
from aimc.circuits.safety import (
    check_array_positive,
    check_choice,
    check_name,
    check_positive,
)
from PySpice.Spice.Netlist import Circuit, SubCircuit

DRIVERS: tuple[str, ...] = ("behavioral", "inverter")
"""PWM driver types."""

SUBCKT_NAME = "pwm_drv"
"""Name of the transistor-level driver sub-circuit."""

MAX_CELLS = 4096
"""Largest line :func:`dac_line_design` accepts (a tile line is 256 cells, FACTS.md)."""

DeviceLike = LinearDevice | PcmDevice | RramDevice | str


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class InverterSizing:
    """Transistor sizes (m) of the ``"inverter"`` driver (generic level-1 cards).

    Sized so that both rail switches have R_on = 1/(KP·W/L·(V_GS - V_T)) = 46.6 Ω:
    |V_GS| = 0.6 V (vdd 0.8 V against a 0.2 V rail, or 0 V against 0.6 V), V_T =
    0.3 + 0.3·(√(0.8 + 0.2) - √0.8) = 0.332 V with 0.2 V of body bias, KP 400/160
    µA/V² for NMOS/PMOS (``netlists/models/generic.lib``), W/L 200/500: about 1/8 of
    the 390 Ω of a 256-cell line at 10 µS/cell. The v_cm transmission gate copies
    the switch sizes; the pre-drivers are sized for a fan-out of about 4.
    """

    l_m: float = 50e-9
    w_switch_n_m: float = 10e-6     # NMOS to v_cm - v_read (positive pulse)
    w_switch_p_m: float = 25e-6     # PMOS to v_cm + v_read (negative pulse)
    w_hold_n_m: float = 10e-6       # v_cm transmission gate, NMOS
    w_hold_p_m: float = 25e-6       # v_cm transmission gate, PMOS
    w_pre_n_m: float = 2.5e-6       # pre-driver NMOS
    w_pre_p_m: float = 6e-6         # pre-driver PMOS (NOR: two of these in series)

    def __post_init__(self) -> None:
        for f in fields(self):
            check_positive(getattr(self, f.name), f"InverterSizing.{f.name}")


@dataclass(frozen=True)
class PwmDacConfig:
    """All design values of the PWM DAC (SI units). Defaults carry their source.

    * ``t_lsb_s`` 1 ns: 8-bit PWM at 1 GHz (HERMES; Le Gallo 2023: 1 ns/LSB; FACTS.md).
    * ``v_read_v`` 0.2 V: inside the 100-400 mV read range (Le Gallo 2023, FACTS.md).
    * ``vdd_v`` 0.8 V: HERMES supply (FACTS.md); ``v_cm_v`` 0.4 V = vdd/2 (mid-supply,
      our choice: it leaves the symmetric ±v_read swing inside 0..vdd without a
      negative supply, as HERMES states).
    * ``n_bits`` 8 = sign + 7-bit magnitude; ``window_s`` 128 ns = 2^7 LSB (FACTS.md).
    * ``t_start_s`` 0.5 ns + window + ``t_tail_s`` 1.5 ns = 130 ns simulated, the
      HERMES MVM latency (FACTS.md); the tail lets the line settle after a full-scale
      pulse so the charge of the conversion is complete.
    * ``t_rise_s``/``t_fall_s`` 50 ps (assumed: 5 % of an LSB at 1 GHz), the edges of
      the behavioural output and of the inverter driver's digital inputs.
    * ``r_out_ohm`` 47 Ω: the on-resistance of the inverter driver's switches
      (46.6 Ω, :class:`InverterSizing`), so both drivers present the same source.
    * ``t_step_max_s`` 100 ps: largest transient step (ngspice refines the edges
      itself through breakpoints and truncation-error control).
    """

    t_lsb_s: float = 1e-9
    v_read_v: float = 0.2
    v_cm_v: float = 0.4
    vdd_v: float = 0.8
    driver: str = "behavioral"
    t_rise_s: float = 50e-12
    t_fall_s: float = 50e-12
    r_out_ohm: float = 47.0
    n_bits: int = 8
    window_s: float = 128e-9
    t_start_s: float = 0.5e-9
    t_tail_s: float = 1.5e-9
    t_step_max_s: float = 100e-12
    mosfets: MosfetModels = GENERIC
    sizing: InverterSizing = field(default_factory=InverterSizing)

    def __post_init__(self) -> None:
        check_choice(self.driver, DRIVERS, "PWM driver type")
        for name in ("t_lsb_s", "v_read_v", "v_cm_v", "vdd_v", "t_rise_s", "t_fall_s",
                     "r_out_ohm", "window_s", "t_start_s", "t_tail_s", "t_step_max_s"):
            check_positive(getattr(self, name), f"PwmDacConfig.{name}")
        if (isinstance(self.n_bits, bool) or not isinstance(self.n_bits, numbers.Integral)
                or not 2 <= int(self.n_bits) <= 16):
            raise ValueError(f"PwmDacConfig.n_bits must be an integer in 2..16, got "
                             f"{self.n_bits!r}")
        if not isinstance(self.mosfets, MosfetModels):
            raise ValueError(f"PwmDacConfig.mosfets must be a MosfetModels, got {self.mosfets!r}")
        if not isinstance(self.sizing, InverterSizing):
            raise ValueError(f"PwmDacConfig.sizing must be an InverterSizing, got "
                             f"{self.sizing!r}")
        if self.v_cm_v - self.v_read_v < 0 or self.v_cm_v + self.v_read_v > self.vdd_v:
            raise ValueError(
                f"the read rails v_cm_v ∓ v_read_v = {self.v_cm_v - self.v_read_v:g} / "
                f"{self.v_cm_v + self.v_read_v:g} V must lie inside 0..vdd_v = {self.vdd_v:g} V "
                f"(v_cm_v={self.v_cm_v!r}, v_read_v={self.v_read_v!r})"
            )
        if self.t_rise_s + self.t_fall_s > 2 * self.t_lsb_s:
            raise ValueError(
                f"t_rise_s + t_fall_s = {self.t_rise_s + self.t_fall_s:g} s exceeds 2·t_lsb_s = "
                f"{2 * self.t_lsb_s:g} s: a 1-LSB pulse could not reach its level"
            )
        if self.max_code * self.t_lsb_s > self.window_s * (1 + 1e-12):
            raise ValueError(
                f"window_s = {self.window_s!r} s is shorter than the full-scale pulse "
                f"{self.max_code}·t_lsb_s = {self.max_code * self.t_lsb_s:g} s"
            )
        if self.t_start_s < self.t_rise_s / 2:
            raise ValueError(f"t_start_s = {self.t_start_s!r} s must be >= t_rise_s/2 = "
                             f"{self.t_rise_s / 2:g} s (the edge is centred on t_start_s)")
        if self.t_step_max_s > self.t_lsb_s:
            raise ValueError(f"t_step_max_s = {self.t_step_max_s!r} s must be <= t_lsb_s = "
                             f"{self.t_lsb_s!r} s")

    # -- derived -----------------------------------------------------------
    @property
    def max_code(self) -> int:
        """Largest |code|: 2^(n_bits-1) - 1 (127 for 8 bits)."""
        return 2 ** (int(self.n_bits) - 1) - 1

    @property
    def t_stop_s(self) -> float:
        """Simulated time: t_start_s + window_s + t_tail_s (130 ns by default)."""
        return self.t_start_s + self.window_s + self.t_tail_s

    @property
    def v_low_v(self) -> float:
        """Line level of a positive pulse, v_cm - v_read."""
        return self.v_cm_v - self.v_read_v

    @property
    def v_high_v(self) -> float:
        """Line level of a negative pulse, v_cm + v_read."""
        return self.v_cm_v + self.v_read_v

    def pulse_interval_s(self, code: int) -> tuple[float, float]:
        """Ideal switching instants (s) of ``code``'s pulse: (t_start_s,
        t_start_s + |code|·t_lsb_s); the 50 % points of the behavioural edges."""
        return self.t_start_s, self.t_start_s + self.pulse_width_s(code)

    def pulse_width_s(self, code: int) -> float:
        """Nominal pulse duration |code|·t_lsb_s (s)."""
        return abs(check_code(code, self)) * self.t_lsb_s

    # -- (de)serialisation -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (TOML-compatible: None entries of ``mosfets`` are dropped)."""
        d = asdict(self)
        d["mosfets"] = {k: v for k, v in d["mosfets"].items() if v is not None}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PwmDacConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming them."""
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown PwmDacConfig key(s) {unknown}; known: {sorted(known)}")
        if isinstance(data.get("mosfets"), dict):
            data["mosfets"] = MosfetModels(**data["mosfets"])
        if isinstance(data.get("sizing"), dict):
            sk = {f.name for f in fields(InverterSizing)}
            bad = sorted(set(data["sizing"]) - sk)
            if bad:
                raise ValueError(f"unknown InverterSizing key(s) {bad}; known: {sorted(sk)}")
            data["sizing"] = InverterSizing(**data["sizing"])
        return cls(**data)

    @classmethod
    def from_toml(cls, path: str | Path, table: str | None = "dac") -> PwmDacConfig:
        """Load from a TOML file (from its ``[dac]`` table, or the top level if None)."""
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        if table is not None:
            if table not in data:
                raise ValueError(f"TOML file {str(path)!r} has no [{table}] table")
            data = data[table]
        return cls.from_dict(data)


def check_code(code: Any, cfg: PwmDacConfig) -> int:
    """A signed code as int, in -max_code..max_code (ValueError naming the value)."""
    if isinstance(code, bool):
        raise ValueError(f"PWM code must be an integer, got {code!r}")
    if isinstance(code, numbers.Integral):
        c = int(code)
    elif isinstance(code, numbers.Real) and math.isfinite(float(code)) \
            and float(code).is_integer():
        c = int(code)
    else:
        raise ValueError(f"PWM code must be an integer, got {code!r}")
    if abs(c) > cfg.max_code:
        raise ValueError(
            f"PWM code {code!r} is out of range: a signed {cfg.n_bits}-bit code "
            f"(sign + magnitude) is in -{cfg.max_code}..{cfg.max_code}"
        )
    return c


# --------------------------------------------------------------------------- driver
def pwm_driver_subcircuit(cfg: PwmDacConfig) -> SubCircuit:
    """The transistor-level PWM line driver, sub-circuit ``pwm_drv``.

    Pins: ``line vcm vlo vhi vdd dp dn`` (bulks: NMOS to ground ``0``, PMOS to
    ``vdd``). ``dp``/``dn`` are active-high digital inputs (0..vdd): ``dp`` high
    connects the line to ``vlo`` (= v_cm - v_read, positive pulse), ``dn`` high to
    ``vhi`` (= v_cm + v_read, negative pulse); both low connect it to ``vcm``
    through a transmission gate. Pre-drivers (from ``vdd``): ``idle = NOR(dp, dn)``
    drives the gate's NMOS, ``INV(idle)`` its PMOS, ``INV(INV(dp))`` the NMOS
    switch, ``INV(INV(INV(dn)))`` the PMOS switch. The start and end of a pulse see
    the same chain, so they are delayed nearly alike (measured width change < 2 ps);
    the v_cm gate (two stages) closes before the PMOS switch (three) opens, so a
    negative pulse returns to v_cm through the strong PMOS of the gate.
    """
    s = cfg.sizing
    mn, mp = cfg.mosfets.nmos, cfg.mosfets.pmos
    L = s.l_m
    sub = SubCircuit(SUBCKT_NAME, "line", "vcm", "vlo", "vhi", "vdd", "dp", "dn")
    gnd = sub.gnd
    wn, wp = s.w_pre_n_m, s.w_pre_p_m
    # idle = NOR(dp, dn)
    sub.M("nor_p1", "nor_x", "dp", "vdd", "vdd", model=mp, w=2 * wp, l=L)
    sub.M("nor_p2", "idle", "dn", "nor_x", "vdd", model=mp, w=2 * wp, l=L)
    sub.M("nor_n1", "idle", "dp", gnd, gnd, model=mn, w=wn, l=L)
    sub.M("nor_n2", "idle", "dn", gnd, gnd, model=mn, w=wn, l=L)
    # act = INV(idle)
    sub.M("act_p", "act", "idle", "vdd", "vdd", model=mp, w=wp, l=L)
    sub.M("act_n", "act", "idle", gnd, gnd, model=mn, w=wn, l=L)
    # gn = INV(INV(dp))
    sub.M("dpb_p", "dpb", "dp", "vdd", "vdd", model=mp, w=wp / 2, l=L)
    sub.M("dpb_n", "dpb", "dp", gnd, gnd, model=mn, w=wn / 2, l=L)
    sub.M("gn_p", "gn", "dpb", "vdd", "vdd", model=mp, w=wp, l=L)
    sub.M("gn_n", "gn", "dpb", gnd, gnd, model=mn, w=wn, l=L)
    # gp = INV(INV(INV(dn))): three stages, so the v_cm transmission gate (two
    # stages) is already on when the v_cm + v_read switch opens
    sub.M("dnb_p", "dnb", "dn", "vdd", "vdd", model=mp, w=wp / 2, l=L)
    sub.M("dnb_n", "dnb", "dn", gnd, gnd, model=mn, w=wn / 2, l=L)
    sub.M("dnc_p", "dnc", "dnb", "vdd", "vdd", model=mp, w=wp / 2, l=L)
    sub.M("dnc_n", "dnc", "dnb", gnd, gnd, model=mn, w=wn / 2, l=L)
    sub.M("gp_p", "gp", "dnc", "vdd", "vdd", model=mp, w=wp, l=L)
    sub.M("gp_n", "gp", "dnc", gnd, gnd, model=mn, w=wn, l=L)
    # line switches
    sub.M("sw_lo", "line", "gn", "vlo", gnd, model=mn, w=s.w_switch_n_m, l=L)
    sub.M("sw_hi", "line", "gp", "vhi", "vdd", model=mp, w=s.w_switch_p_m, l=L)
    sub.M("tg_n", "line", "idle", "vcm", gnd, model=mn, w=s.w_hold_n_m, l=L)
    sub.M("tg_p", "line", "act", "vcm", "vdd", model=mp, w=s.w_hold_p_m, l=L)
    return sub


@dataclass(frozen=True)
class DacRails:
    """Nodes and source names of the DAC references (shared by all lines of a tile)."""

    vcm: str = "vcm"
    vlo: str = "vlo"
    vhi: str = "vhi"
    vdd: str = "vdd"
    sources: tuple[str, ...] = ()


def add_dac_rails(circuit: Circuit, cfg: PwmDacConfig) -> DacRails:
    """Add the reference sources the inverter driver needs (once per circuit).

    ``Vdac_cm`` (v_cm), ``Vdac_lo`` (v_cm - v_read), ``Vdac_hi`` (v_cm + v_read),
    ``Vdac_dd`` (vdd), on nodes ``vcm``, ``vlo``, ``vhi``, ``vdd``. The behavioural
    driver needs none (each line's PULSE source is its own reference): returns a
    :class:`DacRails` with no sources then.
    """
    if cfg.driver != "inverter":
        return DacRails()
    circuit.V("dac_cm", "vcm", circuit.gnd, cfg.v_cm_v)
    circuit.V("dac_lo", "vlo", circuit.gnd, cfg.v_low_v)
    circuit.V("dac_hi", "vhi", circuit.gnd, cfg.v_high_v)
    circuit.V("dac_dd", "vdd", circuit.gnd, cfg.vdd_v)
    if SUBCKT_NAME not in circuit.subcircuit_names:
        circuit.subcircuit(pwm_driver_subcircuit(cfg))
    return DacRails(sources=("vdac_cm", "vdac_lo", "vdac_hi", "vdac_dd"))


@dataclass(frozen=True)
class DriverHandle:
    """What :func:`add_pwm_driver` added: the sources whose energy counts, with the
    node of each varying source (None for a constant one)."""

    sources: dict[str, str | None]


def _pulse(circuit: Circuit, name: str, node: str, v_idle: float, v_active: float,
           cfg: PwmDacConfig, code: int) -> None:
    """A PULSE source whose 50 % points are at t_start and t_start + |code|·t_lsb."""
    width = abs(code) * cfg.t_lsb_s
    if code == 0:
        circuit.V(name, node, circuit.gnd, v_idle)
        return
    circuit.PulseVoltageSource(
        name, node, circuit.gnd,
        initial_value=v_idle, pulsed_value=v_active,
        delay_time=cfg.t_start_s - cfg.t_rise_s / 2,
        rise_time=cfg.t_rise_s, fall_time=cfg.t_fall_s,
        pulse_width=width - (cfg.t_rise_s + cfg.t_fall_s) / 2,
        period=10 * cfg.t_stop_s,
        dc_offset=v_idle,       # an operating point (.op) sees the idle line
    )


def add_pwm_driver(circuit: Circuit, cfg: PwmDacConfig, code: int, line_node: str,
                   name: str, rails: DacRails | None = None) -> DriverHandle:
    """Add the driver of one input line, pulsing for ``code``, to ``circuit``.

    ``behavioral``: ``Vdrv_<name>`` (PULSE v_cm → v_cm ∓ v_read, node ``drv_<name>``)
    and ``Rdrv_<name>`` (``r_out_ohm``) to ``line_node``.
    ``inverter``: digital sources ``Vdp_<name>``/``Vdn_<name>`` (0..vdd, nodes
    ``dp_<name>``/``dn_<name>``) and ``Xdrv_<name>`` of :func:`pwm_driver_subcircuit`
    on the rails of :func:`add_dac_rails` (pass its result, or it is called here).
    The tile generator calls this once per input line.
    """
    check_name(name, "driver name")
    check_name(line_node, "line node")
    code = check_code(code, cfg)
    if cfg.driver == "behavioral":
        target = cfg.v_low_v if code > 0 else cfg.v_high_v
        drv = f"drv_{name}"
        _pulse(circuit, f"drv_{name}", drv, cfg.v_cm_v, target, cfg, code)
        circuit.R(f"drv_{name}", drv, line_node, cfg.r_out_ohm)
        return DriverHandle({f"vdrv_{name}": drv})
    if rails is None:
        have = {str(e.name).lower() for e in circuit.elements}
        rails = add_dac_rails(circuit, cfg) if "vdac_dd" not in have else DacRails()
    dp, dn = f"dp_{name}", f"dn_{name}"
    _pulse(circuit, f"dp_{name}", dp, 0.0, cfg.vdd_v, cfg, code if code > 0 else 0)
    _pulse(circuit, f"dn_{name}", dn, 0.0, cfg.vdd_v, cfg, -code if code < 0 else 0)
    r = rails
    circuit.X(f"drv_{name}", SUBCKT_NAME, line_node, r.vcm, r.vlo, r.vhi, r.vdd, dp, dn)
    return DriverHandle({f"vdp_{name}": dp, f"vdn_{name}": dn})


# --------------------------------------------------------------------------- line
def _check_line_inputs(cfg: PwmDacConfig, code: Any, n_cells: Any, g_cells: Any,
                       device: Any, r_wire_ohm: Any, c_wire_f: Any):
    if not isinstance(cfg, PwmDacConfig):
        raise ValueError(f"cfg must be a PwmDacConfig, got {cfg!r}")
    code = check_code(code, cfg)
    if (isinstance(n_cells, bool) or not isinstance(n_cells, numbers.Integral)
            or not 1 <= int(n_cells) <= MAX_CELLS):
        raise ValueError(f"n_cells must be an integer in 1..{MAX_CELLS}, got {n_cells!r}")
    n = int(n_cells)
    g = np.asarray(g_cells, dtype=float) if not isinstance(g_cells, str) else None
    if g is None or g.ndim > 1 or (g.ndim == 1 and g.size != n):
        raise ValueError(f"g_cells must be one conductance (S) or {n} of them, got {g_cells!r}")
    g = check_array_positive(np.broadcast_to(g, (n,)).copy(), "g_cells")
    dev = as_device(device)
    r_wire = check_positive(r_wire_ohm, "r_wire_ohm")
    c_wire = check_positive(c_wire_f, "c_wire_f", allow_zero=True)
    return code, n, g, dev, r_wire, c_wire


def dac_line_design(cfg: PwmDacConfig, code: int, n_cells: int,
                    g_cells: np.ndarray | float = 10e-6, device: DeviceLike = "linear",
                    r_wire_ohm: float = 1.0, c_wire_f: float = 0.8e-15) -> Design:
    """One input line driven by the PWM DAC for ``code`` and loaded by ``n_cells`` cells.

    Nodes: driver output ``l0``; segment k (1..N) is ``Rw<k>`` from ``l<k-1>`` to
    ``l<k>`` plus ``Cw<k>`` from ``l<k>`` to ground; cell k is ``device`` from the
    output node ``o<k>`` (n+) to ``l<k>`` (n-); ``Vs<k>`` (0 V) holds ``o<k>`` at the
    reference ``Vcm_out`` (node ``vcmo``, v_cm). The cell current is the branch
    current of ``Vs<k>`` (from ``vcmo`` into ``o<k>``): I = G·(V_out - V_in).

    ``g_cells`` (S) is the small-signal conductance of every cell (scalar or N
    values; PCM 0.1-25 µS, FACTS.md); default 10 µS. Wire defaults per segment
    (assumed, one cell pitch of 4 µm, the HERMES column pitch, FACTS.md):
    ``r_wire_ohm`` 1 Ω (≈ 0.25 Ω/µm, an intermediate metal layer), ``c_wire_f``
    0.8 fF (≈ 0.2 fF/µm, typical on-chip interconnect).

    All inputs are validated (ValueError naming the value) before anything is built.
    """
    code, n, g, dev, r_wire, c_wire = _check_line_inputs(
        cfg, code, n_cells, g_cells, device, r_wire_ohm, c_wire_f)

    sign = "p" if code >= 0 else "m"
    circuit = Circuit(f"pwm_dac_line_{sign}{abs(code)}_n{n}_{cfg.driver}_{dev.name}")
    if cfg.driver == "inverter":
        circuit.raw_spice += "\n".join(cfg.mosfets.spice_lines()) + "\n"
    rails = add_dac_rails(circuit, cfg)
    handle = add_pwm_driver(circuit, cfg, code, "l0", "line", rails)
    circuit.V("cm_out", "vcmo", circuit.gnd, cfg.v_cm_v)
    dev_lines = []
    for k in range(1, n + 1):
        circuit.R(f"w{k}", f"l{k - 1}", f"l{k}", r_wire)
        if c_wire > 0:
            circuit.C(f"w{k}", f"l{k}", circuit.gnd, c_wire)
        circuit.V(f"s{k}", "vcmo", f"o{k}", 0.0)
        dev_lines.append(dev.spice(f"c{k}", f"o{k}", f"l{k}", float(g[k - 1])))
    circuit.raw_spice += "\n".join(dev_lines) + "\n"

    energy_sources: dict[str, str | None] = {s: None for s in rails.sources}
    energy_sources.update(handle.sources)
    energy_sources["vcm_out"] = None
    saves = ["time", "v(l0)"] + [f"vs{k}#branch" for k in range(1, n + 1)]
    saves += [f"{s}#branch" for s in energy_sources]
    saves += [f"v({node})" for node in energy_sources.values() if node is not None]
    t_max = cfg.t_step_max_s
    meta = {
        "code": code, "n_cells": n, "g_cells": g, "device": dev, "r_wire_ohm": r_wire,
        "c_wire_f": c_wire, "cfg": cfg, "energy_sources": energy_sources,
        "source_levels": _source_levels(cfg, rails, energy_sources),
    }
    return Design(circuit, f".tran {t_max!r} {cfg.t_stop_s!r} 0 {t_max!r}", saves, meta)


def _source_levels(cfg: PwmDacConfig, rails: DacRails,
                   sources: dict[str, str | None]) -> dict[str, float]:
    """DC value of every constant energy source (the varying ones are read back)."""
    levels = {"vcm_out": cfg.v_cm_v}
    if rails.sources:
        levels.update({"vdac_cm": cfg.v_cm_v, "vdac_lo": cfg.v_low_v,
                       "vdac_hi": cfg.v_high_v, "vdac_dd": cfg.vdd_v})
    return {k: v for k, v in levels.items() if k in sources}


# --------------------------------------------------------------------------- results
@dataclass
class DacResult:
    """One simulated conversion of one line (SI units).

    ``charge_c`` = Σ_k ∫ i_k dt over the simulated window (positive for a positive
    code); ``charge_per_cell_c`` per cell. ``t_eff_s`` = |charge_c| / (v_read·ΣG),
    the effective pulse duration (ΣG = small-signal conductances).
    ``ideal_charge_c`` = sign(code)·v_read·ΣG·|code|·t_lsb. ``energy_j`` is the net
    energy delivered by all ideal sources, Σ_s ∫ v_s·i_s dt (= energy dissipated in
    driver, wires and cells over the window); ``energy_drawn_j`` counts only the
    sources whose net delivery is positive (a reference that absorbs energy, like the
    v_cm - v_read rail sinking cell current, is not credited); ``energy_by_source_j``
    per source. ``t_rise_s``/``t_fall_s``: 10-90 % edge times of the driver output
    ``l0`` relative to the plateau it reaches (nan for code 0).
    """

    code: int
    n_cells: int
    driver: str
    device: str
    charge_c: float
    charge_per_cell_c: np.ndarray
    ideal_charge_c: float
    t_eff_s: float
    energy_j: float
    energy_drawn_j: float
    energy_by_source_j: dict[str, float]
    t_rise_s: float
    t_fall_s: float
    sim_time_s: float
    n_points: int
    time_s: np.ndarray = field(repr=False)
    i_line_a: np.ndarray = field(repr=False)
    v_drive_v: np.ndarray = field(repr=False)

    def scalars(self) -> dict[str, float]:
        """The scalar figures as a flat dict (for sweep stores): charge, energies
        (total and per source, ``energy_<source>_j``), edges, timing."""
        out: dict[str, float] = {
            "code": float(self.code), "n_cells": float(self.n_cells),
            "charge_c": self.charge_c, "ideal_charge_c": self.ideal_charge_c,
            "charge_error_rel": self.charge_error_rel, "t_eff_s": self.t_eff_s,
            "energy_j": self.energy_j, "energy_drawn_j": self.energy_drawn_j,
            "t_rise_s": self.t_rise_s, "t_fall_s": self.t_fall_s,
            "sim_time_s": self.sim_time_s, "n_points": float(self.n_points),
        }
        out.update({f"energy_{k}_j": v for k, v in self.energy_by_source_j.items()})
        return out

    @property
    def charge_error_rel(self) -> float:
        """charge_c / ideal_charge_c - 1 (nan for code 0)."""
        if self.ideal_charge_c == 0:
            return float("nan")
        return self.charge_c / self.ideal_charge_c - 1.0


def _trapz(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.trapezoid(y, x))


def _edge_times(t: np.ndarray, v: np.ndarray, v_idle: float, v_active: float
                ) -> tuple[float, float]:
    """10-90 % times of the departure from and the return to v_idle, relative to the
    largest excursion reached (the plateau is below v_active when r_out and the
    wires drop part of v_read)."""
    swing = v_active - v_idle
    if swing == 0:
        return float("nan"), float("nan")
    x = (v - v_idle) / swing          # 0 idle, 1 active
    peak = float(np.max(x))
    if not peak > 0:
        return float("nan"), float("nan")
    x = x / peak

    def crossing(level: float, rising: bool, start: int) -> tuple[float, int]:
        idx = np.nonzero(x[start:] >= level)[0] if rising else np.nonzero(x[start:] <= level)[0]
        if idx.size == 0:
            return float("nan"), len(x)
        i = start + int(idx[0])
        if i == 0:
            return float(t[0]), 0
        t0, t1, x0, x1 = t[i - 1], t[i], x[i - 1], x[i]
        return float(t0 + (level - x0) * (t1 - t0) / (x1 - x0)), i

    t10, i10 = crossing(0.1, True, 0)
    t90, i90 = crossing(0.9, True, i10)
    f90, j90 = crossing(0.9, False, i90)
    f10, _ = crossing(0.1, False, j90)
    return t90 - t10, f10 - f90


def line_result(design: Design, timeout_s: float = 600.0) -> DacResult:
    """Simulate a :func:`dac_line_design` and post-process it."""
    m = design.meta
    cfg: PwmDacConfig = m["cfg"]
    res = design.simulate(timeout_s)
    t = res["time"]
    n = m["n_cells"]
    currents = np.stack([res[f"vs{k}#branch"] for k in range(1, n + 1)])
    q_cells = np.trapezoid(currents, t, axis=1)
    energy: dict[str, float] = {}
    for src, node in m["energy_sources"].items():
        i_branch = res[f"{src}#branch"]          # flows into the + node: delivered = -v·i
        if node is None:
            energy[src] = -m["source_levels"][src] * _trapz(i_branch, t)
        else:
            energy[src] = -_trapz(res[f"v({node})"] * i_branch, t)
    g_total = float(np.sum(m["g_cells"]))
    code = m["code"]
    q = float(np.sum(q_cells))
    v_drive = res["v(l0)"]
    if code == 0:
        tr = tf = float("nan")
    else:
        target = cfg.v_low_v if code > 0 else cfg.v_high_v
        tr, tf = _edge_times(t, v_drive, cfg.v_cm_v, target)
    return DacResult(
        code=code, n_cells=n, driver=cfg.driver, device=m["device"].name,
        charge_c=q, charge_per_cell_c=q_cells,
        ideal_charge_c=float(np.sign(code)) * cfg.v_read_v * g_total * abs(code) * cfg.t_lsb_s,
        t_eff_s=abs(q) / (cfg.v_read_v * g_total),
        energy_j=float(sum(energy.values())),
        energy_drawn_j=float(sum(e for e in energy.values() if e > 0)),
        energy_by_source_j=energy, t_rise_s=tr, t_fall_s=tf,
        sim_time_s=res.sim_time_s, n_points=int(t.size),
        time_s=t, i_line_a=currents.sum(axis=0), v_drive_v=v_drive,
    )


def simulate_line(cfg: PwmDacConfig, code: int, n_cells: int,
                  g_cells: np.ndarray | float = 10e-6, device: DeviceLike = "linear",
                  r_wire_ohm: float = 1.0, c_wire_f: float = 0.8e-15,
                  timeout_s: float = 600.0) -> DacResult:
    """Build (:func:`dac_line_design`) and simulate one line conversion in ngspice."""
    design = dac_line_design(cfg, code, n_cells, g_cells, device, r_wire_ohm, c_wire_f)
    return line_result(design, timeout_s)


# --------------------------------------------------------------------------- references
def expected_charge_c(cfg: PwmDacConfig, code: int, g_cells: np.ndarray | float,
                      device: DeviceLike = "linear") -> float:
    """Charge of an ideal rectangular pulse on ideal (zero-resistance) wires:
    |code|·t_lsb·Σ_k I_k(±v_read), with the device's own I-V (SPICE-independent)."""
    code = check_code(code, cfg)
    dev = as_device(device)
    g = np.atleast_1d(np.asarray(g_cells, dtype=float))
    v = cfg.v_read_v if code >= 0 else -cfg.v_read_v
    return abs(code) * cfg.t_lsb_s * float(np.sum(dev.current(v, g)))


def edge_charge_bound_c(cfg: PwmDacConfig, g_cells: np.ndarray | float,
                        device: DeviceLike = "linear") -> float:
    """Bound on the charge an edge shape can add or remove: (t_rise + t_fall)/2 of
    the full current, Σ_k |I_k(±v_read)|·(t_rise_s + t_fall_s)/2.

    During an edge the line is between v_cm and the pulse level; with the edges
    centred on the switching instants a linear cell loses exactly what it gains
    (error 0), a non-linear cell or an unsymmetrical edge at most this much.
    """
    dev = as_device(device)
    g = np.atleast_1d(np.asarray(g_cells, dtype=float))
    i_max = max(float(np.sum(np.abs(dev.current(cfg.v_read_v, g)))),
                float(np.sum(np.abs(dev.current(-cfg.v_read_v, g)))))
    return i_max * (cfg.t_rise_s + cfg.t_fall_s) / 2
