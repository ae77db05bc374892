"""Behavioural operational-amplifier macro-model for the closed-loop crossbar circuits.

One op-amp is a handful of SPICE lines (all element and node names built from a
validated prefix, :mod:`aimc.circuits.safety`):

* input offset: a source ``offset_v`` on the non-inverting input (held at 0 V);
* one dominant pole: a transconductance ``gm`` into ``R || C`` with ``R = A0/gm``
  (DC gain ``A0``) and ``C = gm/(2π·GBW)`` (unity-gain frequency ``GBW``), so
  ``dV/dt = -2π·GBW·v_in - V/(R·C)``;
* output: an ideal voltage clamped to ±``v_out_max_v`` (output swing), then a
  0 V sense source;
* supplies: the output current is drawn from ``vdd`` when sourced and from ``vss``
  when sunk, plus a quiescent ``i_q_a`` from each rail (class-B output stage), so the
  energy of a solve is the integral of the two rails' power.

``OpAmp.ideal()`` is a voltage-controlled voltage source of gain 1e9 without pole,
clamp or supply (the nullor of textbook analyses).

Defaults (assumed, not from a datasheet): a low-power two-stage CMOS op-amp with
80 dB gain and 10 MHz GBW; with 1 pF compensation that needs
``gm = 2π·GBW·Cc = 63 µS``, i.e. ~4 µA per input device at gm/Id ≈ 15 V⁻¹ (weak
inversion), ~10 µA from each rail in total; ±0.5 V rails with a 0.1 V headroom.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from aimc.circuits.safety import check_finite, check_name, check_positive

IDEAL_GAIN = 1e9
"""Gain of the ideal (nullor-like) op-amp: error ~ 1e-9 relative per loop."""

_GM_S = 1e-3
"""Transconductance of the pole stage (any value gives the same transfer function)."""


@dataclass(frozen=True)
class OpAmp:
    """Macro-model parameters (SI units). ``ideal=True`` ignores all but ``offset_v``."""

    dc_gain: float = 1e4            # 80 dB (assumed)
    gbw_hz: float = 10e6            # unity-gain frequency (assumed)
    v_out_max_v: float = 0.4        # output swing: ±(rail - 0.1 V headroom)
    offset_v: float = 0.0           # input offset (same for every amplifier)
    i_q_a: float = 10e-6            # quiescent current per rail (see module doc)
    v_supply_v: float = 0.5         # rails at ±v_supply_v
    ideal: bool = False

    def __post_init__(self) -> None:
        for attr in ("dc_gain", "gbw_hz", "v_out_max_v", "v_supply_v"):
            check_positive(getattr(self, attr), f"op-amp {attr}")
        check_positive(self.i_q_a, "op-amp i_q_a", allow_zero=True)
        check_finite(self.offset_v, "op-amp offset_v")
        if not self.ideal and self.v_out_max_v > self.v_supply_v:
            raise ValueError(f"op-amp output swing ±{self.v_out_max_v} V exceeds its rails "
                             f"±{self.v_supply_v} V")
        if self.dc_gain < 10:
            raise ValueError(f"op-amp dc_gain {self.dc_gain!r} is too low for a closed loop "
                             "(use >= 10; 1e3-1e6 are typical)")

    @classmethod
    def make_ideal(cls, offset_v: float = 0.0) -> OpAmp:
        """The ideal op-amp (gain 1e9, no pole, no swing limit, no supply)."""
        return cls(dc_gain=IDEAL_GAIN, offset_v=offset_v, ideal=True)

    @property
    def gain(self) -> float:
        return IDEAL_GAIN if self.ideal else self.dc_gain

    @property
    def omega_t(self) -> float:
        """Unity-gain angular frequency 2π·GBW (rad/s); inf for the ideal op-amp."""
        return math.inf if self.ideal else 2 * math.pi * self.gbw_hz

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self, tag: str, inm: str, out: str) -> list[str]:
        """SPICE lines of one amplifier: inverting input ``inm``, output ``out``.

        ``tag`` names its elements and internal nodes (validated identifier). The
        supply nodes ``vdd``/``vss`` are shared (see :func:`supply_lines`).
        """
        check_name(tag, "op-amp tag")
        check_name(inm, "op-amp input node")
        check_name(out, "op-amp output node")
        pp = f"pp{tag}"
        lines = [f"Vos{tag} {pp} 0 {self.offset_v!r}"]
        if self.ideal:
            return lines + [f"Ea{tag} {out} 0 {pp} {inm} {IDEAL_GAIN!r}"]
        r = self.dc_gain / _GM_S
        c = _GM_S / (2 * math.pi * self.gbw_hz)
        vm = repr(float(self.v_out_max_v))
        iq = repr(float(self.i_q_a))
        return lines + [
            f"Ga{tag} 0 pa{tag} {pp} {inm} {_GM_S!r}",
            f"Ra{tag} pa{tag} 0 {r!r}",
            f"Ca{tag} pa{tag} 0 {c!r}",
            f"Bo{tag} qa{tag} 0 V=min(max(V(pa{tag}),-{vm}),{vm})",
            f"Vso{tag} qa{tag} {out} 0",
            f"Bdd{tag} vdd 0 I=max(i(Vso{tag}),0)+{iq}",
            f"Bss{tag} 0 vss I=max(-i(Vso{tag}),0)+{iq}",
        ]

    def state_node(self, tag: str) -> str:
        """The node holding the amplifier's state (for initial conditions)."""
        return f"pa{tag}"

    def supply_lines(self) -> list[str]:
        if self.ideal:
            return []
        v = repr(float(self.v_supply_v))
        return [f"Vdd vdd 0 {v}", f"Vss vss 0 -{v}"]
