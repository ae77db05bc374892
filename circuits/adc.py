"""CCO-based ADC of an AIMC output line (HERMES style), as PySpice generators.

Two variants share one front end (FACTS.md, HERMES core, JSSC 2022):

* **front end** -- a class-AB regulator (class-B with a 20 mV dead zone, so no
  quiescent current reaches the oscillator) holds the line ``inp`` at ``v_cm_v`` for
  either current polarity: an NMOS sinks a positive line current, a PMOS sources a
  negative one; their gates are driven by an error amplifier (behavioural: a VCVS of
  gain ``a_reg`` clamped to the rails, whose gate bias tracks replica diodes so a
  PDK's threshold is followed). ``c_comp_f`` on the line keeps the Cgd loop stable;
  the line error is ``(Vov + v_reg_offset_v)/a_reg`` (about 6 mV at 100 uA). Mirror
  copies of the conducting device, scaled by ``alpha``, deliver ``alpha*|i|`` to the
  oscillator; a comparator on the regulator error gives the sign (HERMES: a Schmitt
  trigger records the sign).
* **relaxation** -- ``alpha*|i|`` charges ``C1`` and ``C2`` alternately; each
  capacitor drives a trip NMOS on one node of a cross-coupled inverter latch. When
  the charging capacitor reaches the trip point the latch flips, resets that
  capacitor and steers the current to the other one. One latch toggle is one charge
  packet ``Q_unit = C*v_th/alpha`` (period ``T = C*v_th/(alpha*i) + t_delay``).
  Optional feed-forward linearization: the bottom plates of C1/C2 sit on node ``ff``
  tied to ground by ``r_ff_ohm``; a feed-forward mirror (gain ``alpha_ff``) and the
  charging current flow through it, so the trip point seen by the capacitor is
  lowered by ``(alpha+alpha_ff)*i*r_ff_ohm`` -- proportional to the current, which
  cancels the constant latch delay (FACTS.md: ``v_th,c = v_th - t_delay*alpha*i/C1``).
* **ring** -- a current-starved ring oscillator whose starving devices mirror
  ``alpha*|i|``.

The counter is digital post-processing of the simulated waveform
(:func:`count_toggles`): every toggle of ``out`` inside the window adds +1 or -1
according to the sign output at that instant (HERMES' dual up/down counters).

Units are SI throughout (A, V, F, Ohm, s, J, m).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from multiprocessing import get_context
from typing import Any

import numpy as np
from aimc.circuits.models import GENERIC, MosfetModels
from aimc.circuits.netlist import Design
from aimc.circuits.safety import check_choice, check_finite, check_name, check_positive
from aimc.circuits.toml_text import toml_value
from PySpice.Spice.Netlist import Circuit, SubCircuit

VARIANTS = ("relaxation", "ring")

CurrentInput = float | tuple[Sequence[float], Sequence[float]]
"""A DC current (A) or a piece-wise-linear ``(times_s, currents_a)`` pair."""


# --------------------------------------------------------------------------- config
@dataclass
class CcoAdcConfig:
    """All design values of the CCO-ADC (SI units). Defaults carry their source.

    Sizing of the generic design: ``docs/readme/adc.md`` explains each value. Values
    marked *derived* follow from the HERMES targets (FACTS.md) and the generic
    level-1 cards (``netlists/models/generic.lib``: kp_n = 400 uA/V^2,
    kp_p = 160 uA/V^2, |vto| = 0.3 V, lambda = 0.15/V).
    """

    variant: str = "relaxation"
    linearize: bool = True
    # supply and line level
    vdd_v: float = 0.8              # FACTS.md HERMES: 0.8 V supply
    v_cm_v: float = 0.4             # assumption: mid-supply line level (Vcm)
    i_max_a: float = 100e-6         # FACTS.md HERMES: calibrated up to I_max = 100 uA
    # regulator (error amplifier is behavioural: gain, clamp to the rails)
    a_reg: float = 20.0             # error-amplifier gain; stability needs c_comp > a_reg*Cgd
    c_comp_f: float = 300e-15       # line compensation capacitor (see _front_end)
    v_reg_offset_v: float = 0.02    # dead zone of the class-B stage (no quiescent current)
    i_rep_a: float = 0.2e-6         # replica diode bias (counts as amplifier bias current)
    w_reg_n_m: float = 5e-6         # derived: Vov = 0.1 V at I_max (W/L = 50)
    w_reg_p_m: float = 12.5e-6      # derived: Vov = 0.1 V at I_max (W/L = 125)
    w_mir_p_m: float = 3.2e-6       # derived: PMOS mirror, Vov = 0.1 V at alpha*I_max
    l_analog_m: float = 0.1e-6      # assumption: analog channel length
    # mirror gains
    alpha: float = 0.25             # design choice: keeps internal currents <= 25 uA
    alpha_ff: float = 0.25          # feed-forward mirror gain (HERMES trims it)
    # relaxation core
    c_int_f: float = 14e-15         # tuned: measured Q_unit 31 fC (FACTS.md target 29 fC)
    r_ff_ohm: float = 1900.0        # tuned: (alpha+alpha_ff)*r_ff ~ t_delay/C_eff, t_delay 57 ps
    w_latch_n_m: float = 0.2e-6     # design choice: latch NMOS (W/L = 4), flips in ~20 ps
    w_latch_p_m: float = 0.2e-6     # latch PMOS, weak: limits the crowbar current while
    l_latch_p_m: float = 0.1e-6     #   the trip NMOS fights it (about 40 uA)
    w_trip_m: float = 1.0e-6        # derived: W/L 20 beats the 40 uA latch PMOS ~0.1 V above vt
    w_switch_m: float = 1.0e-6      # derived: resets C in ~5 ps (Ron ~ 250 Ohm)
    w_buf_n_m: float = 0.4e-6       # design choice: buffer inverters (PMOS twice as wide)
    w_buf_p_m: float = 0.4e-6       # first buffer PMOS: low threshold, switches after the latch
    c_kick_f: float = 1e-15         # tuned: latch -> capacitor kick, one clean toggle at 1 uA
    l_logic_m: float = 0.05e-6      # assumption: digital channel length
    # ring variant
    n_ring_stages: int = 5          # NOTES-ngspice.md: 5-stage current-starved ring
    c_ring_f: float = 2e-15         # tuned: ring gain ~29 MHz/uA, near the relaxation CCO
    w_ring_m: float = 0.4e-6        # design choice: ring inverter/starving device unit width
    # simulation
    temperature_c: float = 27.0     # SPICE nominal (tnom = 27 C)
    t_step_s: float = 2e-12         # maximum transient step (edges are ~10 ps)
    mosfets: MosfetModels = field(default_factory=lambda: GENERIC)
    name: str = "cco_adc"           # sub-circuit name (validated: reaches the netlist)

    def __post_init__(self) -> None:
        check_choice(self.variant, VARIANTS, "CCO-ADC variant")
        if not isinstance(self.linearize, bool):
            raise ValueError(f"linearize must be a bool, got {self.linearize!r}")
        if not isinstance(self.mosfets, MosfetModels):
            raise ValueError(f"mosfets must be a MosfetModels, got {self.mosfets!r}")
        check_name(self.name, "CCO-ADC subcircuit name")
        check_finite(self.temperature_c, "temperature_c")
        if not (-273.15 < float(self.temperature_c) < 500.0):
            raise ValueError(f"temperature_c out of range, got {self.temperature_c!r}")
        if (not isinstance(self.n_ring_stages, int) or isinstance(self.n_ring_stages, bool)
                or self.n_ring_stages < 3 or self.n_ring_stages % 2 == 0):
            raise ValueError(
                f"n_ring_stages must be an odd integer >= 3, got {self.n_ring_stages!r}")
        zero_ok = {"alpha_ff", "r_ff_ohm", "v_reg_offset_v"}
        skip = {"variant", "linearize", "mosfets", "name", "temperature_c", "n_ring_stages"}
        for f in fields(self):
            if f.name in skip:
                continue
            check_positive(getattr(self, f.name), f.name, allow_zero=f.name in zero_ok)
        if not self.v_cm_v < self.vdd_v:
            raise ValueError(f"v_cm_v must be below vdd_v ({self.vdd_v!r}), got {self.v_cm_v!r}")

    @property
    def q_unit_nominal_c(self) -> float:
        """First-order charge per toggle at the input, C*v_trip/alpha (C), v_trip ~ 0.4 V,
        ignoring the ~5 fF of device parasitics on each integration node: the generic
        design measures 31 fC (use :func:`fit_q_unit` on simulated counts)."""
        return self.c_int_f * 0.4 / self.alpha

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for HDF5 attributes / TOML); ``mosfets`` as its fields."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, MosfetModels):
                v = {k.name: getattr(v, k.name) for k in fields(v)}
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CcoAdcConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown CCO-ADC parameter(s) {unknown}")
        kw = dict(data)
        if isinstance(kw.get("mosfets"), dict):
            kw["mosfets"] = MosfetModels(**kw["mosfets"])
        return cls(**kw)

    def to_toml(self) -> str:
        """TOML text (``[mosfets]`` as a table; None values omitted)."""
        d = self.to_dict()
        mos = d.pop("mosfets")
        lines = [f"{k} = {toml_value(v)}" for k, v in d.items()]
        lines.append("")
        lines.append("[mosfets]")
        lines += [f"{k} = {toml_value(v)}" for k, v in mos.items() if v is not None]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> CcoAdcConfig:
        import tomllib

        return cls.from_dict(tomllib.loads(text))



# ------------------------------------------------------------------ sub-circuits
def _g(x: float) -> str:
    """A number as SPICE text."""
    return f"{float(x):.6g}"


def _mos(sc: SubCircuit, cfg: CcoAdcConfig, name: str, d: str, g: str, s: str,
         kind: str, w: float, length: float) -> None:
    model = cfg.mosfets.nmos if kind == "n" else cfg.mosfets.pmos
    bulk = "vss" if kind == "n" else "vdd"
    sc.M(name, d, g, s, bulk, model=model, w=_g(w), l=_g(length))


def _front_end(sc: SubCircuit, cfg: CcoAdcConfig) -> None:
    """Regulator at Vcm (class-B), sign comparator, mirrors delivering alpha*|i| to ``m``.

    With ``cfg.linearize`` (relaxation only) a feed-forward copy alpha_ff*|i| goes to ``ff``.
    """
    la, vcm, a = cfg.l_analog_m, _g(cfg.v_cm_v), _g(cfg.a_reg)
    err = f"({a}*(v(inp,vss)-{vcm}))"
    # replica diodes set the gate bias at the edge of conduction (tracks the PDK's vt)
    sc.I("repn", "vdd", "repn", _g(cfg.i_rep_a))
    _mos(sc, cfg, "repn", "repn", "repn", "vss", "n", cfg.w_reg_n_m / 10, la)
    sc.I("repp", "repp", "vss", _g(cfg.i_rep_a))
    _mos(sc, cfg, "repp", "repp", "repp", "vdd", "p", cfg.w_reg_p_m / 10, la)
    off = _g(cfg.v_reg_offset_v)
    clamp = "max(0,min(v(vdd,vss),{}))"
    sc.B("gn", "gn", "vss", voltage_expression=clamp.format(f"v(repn,vss)-{off}+{err}"))
    sc.B("gp", "gp", "vss", voltage_expression=clamp.format(f"v(repp,vss)+{off}+{err}"))
    # sign: comparator on the regulator error (10 mV at the amplifier output)
    sc.B("sgn", "sgn", "vss",
         voltage_expression=f"v(vdd,vss)*0.5*(1+tanh({err}/0.01))")
    # The regulated node is a drain and the amplifier is non-inverting to the gate, so
    # Cgd closes a positive capacitive loop of gain a_reg*Cgd/C(inp): c_comp keeps it < 1.
    sc.C("comp", "inp", "vss", _g(cfg.c_comp_f))
    # regulator devices: NMOS sinks a positive line current, PMOS sources a negative one
    _mos(sc, cfg, "regn", "inp", "gn", "vss", "n", cfg.w_reg_n_m, la)
    _mos(sc, cfg, "regp", "inp", "gp", "vdd", "p", cfg.w_reg_p_m, la)
    # positive path: NMOS copy (alpha) -> PMOS diode -> PMOS mirror (gain 1) -> m
    _mos(sc, cfg, "mn", "dp", "gn", "vss", "n", cfg.alpha * cfg.w_reg_n_m, la)
    _mos(sc, cfg, "dp", "dp", "dp", "vdd", "p", cfg.w_mir_p_m, la)
    _mos(sc, cfg, "mpp", "m", "dp", "vdd", "p", cfg.w_mir_p_m, la)
    # negative path: PMOS copy (alpha) straight into m
    _mos(sc, cfg, "mpn", "m", "gp", "vdd", "p", cfg.alpha * cfg.w_reg_p_m, la)
    if cfg.variant == "relaxation" and cfg.linearize and cfg.alpha_ff > 0:
        k = cfg.alpha_ff / cfg.alpha
        _mos(sc, cfg, "ffp", "ff", "dp", "vdd", "p", k * cfg.w_mir_p_m, la)
        _mos(sc, cfg, "ffn", "ff", "gp", "vdd", "p", cfg.alpha_ff * cfg.w_reg_p_m, la)


def _inverter(sc: SubCircuit, cfg: CcoAdcConfig, name: str, inp: str, out: str,
              wn: float, wp: float) -> None:
    _mos(sc, cfg, f"{name}n", out, inp, "vss", "n", wn, cfg.l_logic_m)
    _mos(sc, cfg, f"{name}p", out, inp, "vdd", "p", wp, cfg.l_logic_m)


def _relaxation_core(sc: SubCircuit, cfg: CcoAdcConfig) -> None:
    """Two integration capacitors, steering/reset switches, trip NMOS, latch, buffer."""
    ll, ws = cfg.l_logic_m, cfg.w_switch_m
    bottom = "ff" if cfg.linearize else "vss"
    for cap, gate, drain_trip in (("c1", "s1", "q"), ("c2", "s2", "qb")):
        _mos(sc, cfg, f"s{cap}", cap, gate, "m", "p", ws, ll)     # steer alpha*i into cap
        _mos(sc, cfg, f"r{cap}", cap, gate, bottom, "n", ws, ll)  # reset cap to its bottom
        sc.C(cap, cap, bottom, _g(cfg.c_int_f))
        _mos(sc, cfg, f"t{cap}", drain_trip, cap, "vss", "n", cfg.w_trip_m, ll)
        # the latch node that rises when this capacitor trips kicks it further up, so a
        # slow ramp (small current) still gives one clean toggle (Schmitt action)
        sc.C(f"k{cap}", cap, "qb" if cap == "c1" else "q", _g(cfg.c_kick_f))
    if cfg.linearize:
        sc.R("ff", "ff", "vss", _g(max(cfg.r_ff_ohm, 1e-3)))
    # cross-coupled inverter latch; weak PMOS so that a trip NMOS can flip it
    for name, a, y in (("la", "qb", "q"), ("lb", "q", "qb")):
        _mos(sc, cfg, f"{name}n", y, a, "vss", "n", cfg.w_latch_n_m, ll)
        _mos(sc, cfg, f"{name}p", y, a, "vdd", "p", cfg.w_latch_p_m, cfg.l_latch_p_m)
    # buffers: the latch nodes drive only small inverters; these drive the switches
    wb = cfg.w_buf_n_m
    # Each capacitor's switches follow the latch node the trip does NOT pull down, so
    # a capacitor is reset only once the latch has regenerated (no early release).
    _inverter(sc, cfg, "b1", "qb", "y1", wb, cfg.w_buf_p_m)
    _inverter(sc, cfg, "b1o", "y1", "s1", wb, 2 * wb)   # s1 = qb: gates of C1's switches
    _inverter(sc, cfg, "b2", "q", "y2", wb, cfg.w_buf_p_m)
    _inverter(sc, cfg, "b2o", "y2", "s2", wb, 2 * wb)   # s2 = q: gates of C2's switches
    _inverter(sc, cfg, "ob", "y1", "out", wb, 2 * wb)   # toggle output (= qb)


def _ring_core(sc: SubCircuit, cfg: CcoAdcConfig) -> None:
    """Current-starved ring oscillator biased by alpha*|i| from ``m``."""
    la, ll, w = cfg.l_analog_m, cfg.l_logic_m, cfg.w_ring_m
    _mos(sc, cfg, "bnd", "m", "m", "vss", "n", w * 2, la)        # NMOS bias diode (bn = m)
    _mos(sc, cfg, "bnp", "bp", "m", "vss", "n", w * 2, la)       # copy -> PMOS diode
    _mos(sc, cfg, "bpd", "bp", "bp", "vdd", "p", w * 5, la)
    n = cfg.n_ring_stages
    for k in range(n):
        a, y = f"r{(k - 1) % n}", f"r{k}"
        _mos(sc, cfg, f"ps{k}", f"tp{k}", "bp", "vdd", "p", w * 5, la)
        _mos(sc, cfg, f"pi{k}", y, a, f"tp{k}", "p", w * 2, ll)
        _mos(sc, cfg, f"ni{k}", y, a, f"tn{k}", "n", w, ll)
        _mos(sc, cfg, f"ns{k}", f"tn{k}", "m", "vss", "n", w * 2, la)
        sc.C(f"r{k}", y, "vss", _g(cfg.c_ring_f))
    _inverter(sc, cfg, "ob", f"r{n - 1}", "out", cfg.w_buf_n_m, 2 * cfg.w_buf_n_m)


def cco_adc_subcircuit(cfg: CcoAdcConfig) -> SubCircuit:
    """The ADC as a PySpice ``SubCircuit`` named ``cfg.name``.

    Ports ``(inp, vdd, vss, out, sgn)``: ``inp`` is the line (held at ``v_cm_v``;
    current of either sign), ``out`` toggles once per charge packet, ``sgn`` is high
    while the line current is positive (into ``inp``). ``vss`` is the local ground
    (``gnd`` is a global alias of node 0 in ngspice, so it is not used as a port
    name). Use :func:`initial_conditions` for a defined start state.

    In a tile: put ``cfg.mosfets.spice_lines()`` in the circuit's ``raw_spice``, add
    this sub-circuit once, one ``X`` instance per line, an ``.ic`` line per instance
    (:func:`ic_line`), save ``v(out)``/``v(sgn)`` of each and count with
    :func:`count_toggles`.
    """
    sc = SubCircuit(cfg.name, "inp", "vdd", "vss", "out", "sgn")
    _front_end(sc, cfg)
    if cfg.variant == "relaxation":
        _relaxation_core(sc, cfg)
    else:
        _ring_core(sc, cfg)
    return sc


def initial_conditions(cfg: CcoAdcConfig, instance: str) -> dict[str, float]:
    """``.ic`` node voltages (V) of a defined reset state for instance ``instance``
    (e.g. ``"xadc"``): latch set, capacitors empty / ring kicked."""
    check_name(instance, "instance name")
    p = instance.lower()
    if cfg.variant == "relaxation":
        return {f"{p}.q": cfg.vdd_v, f"{p}.qb": 0.0, f"{p}.s1": 0.0, f"{p}.s2": cfg.vdd_v,
                f"{p}.y1": cfg.vdd_v, f"{p}.y2": 0.0,
                f"{p}.c1": 0.0, f"{p}.c2": 0.0}
    return {f"{p}.r0": cfg.vdd_v, f"{p}.r1": 0.0}


def ic_line(ics: dict[str, float]) -> str:
    """An ``.ic`` SPICE line from :func:`initial_conditions`."""
    return ".ic " + " ".join(f"v({k})={_g(v)}" for k, v in ics.items())


# ---------------------------------------------------------------- input / design
def _check_current(current: CurrentInput, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Validate the input current; return PWL (times, currents) arrays."""
    if isinstance(current, tuple):
        if len(current) != 2:
            raise ValueError(f"a PWL current is (times_s, currents_a), got {current!r}")
        t = np.asarray(current[0], dtype=float).reshape(-1)
        i = np.asarray(current[1], dtype=float).reshape(-1)
        if t.size == 0 or t.size != i.size:
            raise ValueError(f"PWL times and currents must be non-empty and of equal "
                             f"length, got {t.size} and {i.size}")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(i))):
            raise ValueError(f"PWL times/currents must be finite, got {current!r}")
        if t[0] < 0 or np.any(np.diff(t) <= 0):
            raise ValueError(f"PWL times must start >= 0 and increase strictly, got {t!r}")
        return t, i
    i0 = check_finite(current, "input current (A)")
    return np.array([0.0]), np.array([i0])


def adc_design(cfg: CcoAdcConfig, current: CurrentInput, window_s: float) -> Design:
    """A testbench: supply, a current source pushing ``current`` (A) into ``inp``
    (positive = into the ADC), the ADC, a transient of ``window_s`` seconds.

    ``current`` is a float (DC) or ``(times_s, currents_a)`` (PWL, a stepped input).
    Saves ``v(out)``, ``v(sgn)``, ``v(inp)``, ``vdd#branch`` and ``time``.
    """
    check_positive(window_s, "window_s")
    t, i = _check_current(current, window_s)
    circuit = Circuit(f"{cfg.name}_tb")
    circuit.raw_spice = "\n".join(cfg.mosfets.spice_lines())
    circuit.subcircuit(cco_adc_subcircuit(cfg))
    circuit.V("dd", "vdd", circuit.gnd, _g(cfg.vdd_v))
    circuit.X("adc", cfg.name, "inp", "vdd", circuit.gnd, "out", "sgn")
    if t.size == 1:
        circuit.I("in", circuit.gnd, "inp", _g(i[0]))
    else:
        pts = " ".join(f"{_g(a)} {_g(b)}" for a, b in zip(t, i, strict=True))
        circuit.I("in", circuit.gnd, "inp", f"dc {_g(i[0])} pwl({pts})")
    step = cfg.t_step_s
    analysis = f".tran {_g(step)} {_g(window_s)} 0 {_g(step)}"
    options = [
        f".options temp={_g(cfg.temperature_c)} tnom=27",
        ".options method=gear",
        ic_line(initial_conditions(cfg, "xadc")),
    ]
    saves = ["v(out)", "v(sgn)", "v(inp)", "vdd#branch", "time"]
    meta = {"window_s": float(window_s), "vdd_v": cfg.vdd_v, "config": cfg.to_dict(),
            "pwl_times_s": t.tolist(), "pwl_currents_a": i.tolist()}
    return Design(circuit, analysis, saves, meta, options)


# ------------------------------------------------------------------ post-process
def toggle_times(time: np.ndarray, v: np.ndarray, vdd_v: float,
                 hysteresis: float = 0.2) -> np.ndarray:
    """Times (s) where ``v`` toggles: crosses from below ``(0.5-h)*vdd`` to above
    ``(0.5+h)*vdd`` or back (a Schmitt-trigger reading of the waveform). The time
    of each toggle is the interpolated mid-supply crossing."""
    t = np.asarray(time, dtype=float)
    x = np.asarray(v, dtype=float)
    lo, hi, mid = (0.5 - hysteresis) * vdd_v, (0.5 + hysteresis) * vdd_v, 0.5 * vdd_v
    state = np.where(x > hi, 1.0, np.where(x < lo, 0.0, np.nan))
    valid = ~np.isnan(state)
    if not valid.any():
        return np.zeros(0)
    idx = np.where(valid, np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = state[idx]
    filled[: int(np.argmax(valid))] = np.nan
    change = np.flatnonzero(np.diff(filled) != 0) + 1
    change = change[~np.isnan(filled[change - 1])]
    out = np.empty(change.size)
    for n, k in enumerate(change):
        # walk back to the mid crossing
        j = k
        while j > 0 and (x[j - 1] - mid) * (x[k] - mid) > 0:
            j -= 1
        j0 = max(j - 1, 0)
        dx = x[j] - x[j0]
        out[n] = t[j] if dx == 0 else t[j0] + (mid - x[j0]) * (t[j] - t[j0]) / dx
    return out


def count_toggles(time: np.ndarray, v_out: np.ndarray, window_s: float, vdd_v: float = 0.8,
                  v_sign: np.ndarray | None = None, t_start_s: float = 0.0) -> int:
    """Signed count: toggles of ``v_out`` in ``(t_start_s, t_start_s+window_s]``, each
    +1 if ``v_sign`` (the ADC's sign output) is high at that instant, else -1
    (the HERMES dual up/down counter). Without ``v_sign`` all toggles count +1."""
    tt = toggle_times(time, v_out, vdd_v)
    tt = tt[(tt > t_start_s) & (tt <= t_start_s + window_s)]
    if v_sign is None:
        return int(tt.size)
    s = np.interp(tt, np.asarray(time, float), np.asarray(v_sign, float))
    return int(np.sum(np.where(s > 0.5 * vdd_v, 1, -1)))


def toggle_frequency(tt: np.ndarray, window_s: float) -> float:
    """Toggle rate (Hz) from toggle times: (n-1)/(t_n - t_1), or n/window if n < 3."""
    if tt.size < 3:
        return tt.size / window_s
    return (tt.size - 1) / (tt[-1] - tt[0])


@dataclass
class AdcResult:
    """One conversion. ``frequency_hz`` is the toggle rate (counts per second);
    ``energy_j`` is vdd times the supply charge over the window (behavioural
    amplifier excluded, its replica bias included); ``conversion_time_s`` is the
    integration window (the ripple-counter read-out is not modelled);
    ``line_error_v`` is the largest deviation of the line from ``v_cm_v`` (V)."""

    count: int
    frequency_hz: float
    conversion_time_s: float
    energy_j: float
    sim_time_s: float
    toggle_times_s: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    line_error_v: float = 0.0


def convert(cfg: CcoAdcConfig, current: CurrentInput, window_s: float = 128e-9,
            timeout_s: float = 120.0) -> AdcResult:
    """Simulate one conversion of ``current`` (A, DC or PWL) over ``window_s`` (s)."""
    design = adc_design(cfg, current, window_s)
    res = design.simulate(timeout_s)
    t = res["time"]
    tt = toggle_times(t, res["v(out)"], cfg.vdd_v)
    tt = tt[(tt > 0) & (tt <= window_s)]
    sign = np.interp(tt, t, res["v(sgn)"]) if tt.size else np.zeros(0)
    count = int(np.sum(np.where(sign > 0.5 * cfg.vdd_v, 1, -1)))
    i_dd = res["vdd#branch"]
    energy = float(-cfg.vdd_v * np.trapezoid(i_dd, t))
    return AdcResult(count=count, frequency_hz=toggle_frequency(tt, window_s),
                     conversion_time_s=float(window_s), energy_j=energy,
                     sim_time_s=res.sim_time_s, toggle_times_s=tt,
                     line_error_v=float(np.max(np.abs(res["v(inp)"] - cfg.v_cm_v))))


# --------------------------------------------------------------- transfer curve
def _convert_point(args: tuple[CcoAdcConfig, float, float, float]) -> AdcResult:
    return convert(*args)


def transfer_curve(cfg: CcoAdcConfig, currents: Sequence[float], window_s: float = 128e-9,
                   timeout_s: float = 120.0, workers: int = 1
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Convert each DC current (A). Returns ``(currents_a, frequencies_hz, counts,
    energies_j)``. ``workers > 1`` runs points in separate processes (one ngspice
    engine each)."""
    cur = np.asarray(currents, dtype=float).reshape(-1)
    for k, c in enumerate(cur):
        check_finite(c, f"currents[{k}]")
    check_positive(window_s, "window_s")
    jobs = [(cfg, float(c), float(window_s), float(timeout_s)) for c in cur]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, os.cpu_count() or 1),
                                 mp_context=get_context("spawn")) as ex:
            results = list(ex.map(_convert_point, jobs))
    else:
        results = [_convert_point(j) for j in jobs]
    return (cur, np.array([r.frequency_hz for r in results]),
            np.array([r.count for r in results]), np.array([r.energy_j for r in results]))


# ------------------------------------------------------------------ calibration
def calibration_model(i: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """HERMES calibration form f = A*|i|/(1+B*|i|) + C (Hz; i in A, A in Hz/A, B in 1/A)."""
    x = np.abs(np.asarray(i, dtype=float))
    return a * x / (1.0 + b * x) + c


def fit_calibration(currents: Sequence[float], freqs: Sequence[float],
                    relative: bool = True) -> tuple[float, float, float]:
    """Least-squares fit of :func:`calibration_model`; returns ``(A, B, C)``.

    Residuals are relative (sigma = f) by default, absolute with ``relative=False``
    (which minimizes the calibrated INL in LSB). ``A`` (Hz/A) is the small-signal
    gain (1/Q_unit), ``B`` (1/A) the saturation
    (``B/A`` is the delay per toggle in s), ``C`` (Hz) the offset."""
    from scipy.optimize import curve_fit

    x = np.abs(np.asarray(currents, dtype=float))
    y = np.asarray(freqs, dtype=float)
    if x.size < 3 or x.size != y.size:
        raise ValueError(f"need >= 3 (current, frequency) pairs, got {x.size} and {y.size}")
    nz = x > 0
    a0 = float(np.median(y[nz] / x[nz])) if nz.any() else 1.0
    if relative:  # every point counts as much in %: a surrogate's view
        sigma = np.maximum(np.abs(y), 1e-3 * max(float(np.max(np.abs(y))), 1.0))
    else:         # every point counts as much in Hz (= LSB): an INL view
        sigma = np.ones_like(y)
    with warnings.catch_warnings():  # the covariance is not used
        warnings.simplefilter("ignore")
        popt, _ = curve_fit(calibration_model, x, y, p0=(a0, 0.0, 0.0), sigma=sigma,
                            maxfev=20000)
    return float(popt[0]), float(popt[1]), float(popt[2])


def fit_q_unit(currents: Sequence[float], counts: Sequence[float], window_s: float) -> float:
    """Charge per count (C): least-squares line through the origin of count vs |i|*window."""
    q = np.abs(np.asarray(currents, dtype=float)) * window_s
    n = np.abs(np.asarray(counts, dtype=float))
    return float(np.dot(q, q) / np.dot(q, n))


def inl_lsb(currents: Sequence[float], counts: Sequence[float], window_s: float,
            q_unit_c: float | None = None) -> np.ndarray:
    """Deviation (LSB = counts) of each count from the ideal count |i|*window/Q_unit.

    ``Q_unit`` defaults to :func:`fit_q_unit` on the same points (best line through 0)."""
    q = q_unit_c if q_unit_c is not None else fit_q_unit(currents, counts, window_s)
    ideal = np.asarray(currents, dtype=float) * window_s / q
    return np.asarray(counts, dtype=float) - ideal
