"""Cell-device read I-V models: one SPICE element per device, and the same law in NumPy.

Every model gives

* ``spice(name, n_plus, n_minus, g_s)``: the SPICE element line for one device
  between two nodes; the current flows from ``n_plus`` through the device to
  ``n_minus`` and is ``current(V(n_plus) - V(n_minus), g_s)``;
* ``current(v, g)``: the vectorised NumPy version of exactly that law (broadcasting
  ``v`` [V] against ``g`` [S]), used by independent solvers and surrogates;
* ``name``: ``"linear"``, ``"pcm"`` or ``"rram"``.

``g`` is always the small-signal conductance at 0 V (dI/dV at V = 0), so a weight
programmed to ``g`` reads as ``g`` at small bias whatever the model.

Numerical safety: the sinh/tanh arguments are clamped to ±``ARG_CLAMP`` (the
clamp acts only beyond |V| = 40·v0, i.e. 12 V for PCM: never in a read, but it
keeps Newton iterations of ngspice from overflowing). NumPy applies the same clamp,
so SPICE and NumPy agree everywhere, not only in the read range.

Element names: the line starts with ``R`` (linear) or ``B`` (behavioural current
source) followed by ``name``, or ``N`` for the compiled cell device of the same law
(:func:`osdi_instance`, :func:`osdi_model_line`; :mod:`aimc.circuits.compiled`);
``name`` and the node names are validated (:mod:`aimc.circuits.safety`), so no text
can add SPICE lines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from aimc.circuits.safety import check_name

ARG_CLAMP = 40.0
"""Clamp of the sinh/tanh arguments (dimensionless), identical in SPICE and NumPy."""

R_OPEN_OHM = 1e30
"""Resistance written for a linear device of zero conductance (ngspice has no G = 0 R)."""

_NODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]{0,63}")      # used with fullmatch only


def _check_node(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NODE.fullmatch(value):
        raise ValueError(
            f"invalid {what} {value!r}: node names are letters, digits, '_' and '.' only "
            "(at most 64 characters); text that could add SPICE lines is refused"
        )
    return value


def _check_g(g_s: float) -> float:
    try:
        g = float(g_s)
    except (TypeError, ValueError):
        raise ValueError(f"device conductance g_s must be a number, got {g_s!r}") from None
    if not math.isfinite(g) or g < 0:
        raise ValueError(f"device conductance g_s must be finite and >= 0 S, got {g_s!r}")
    return g


def _check_param(value: float, what: str, lo: float, hi: float,
                 lo_open: bool = True, hi_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        lb = "(" if lo_open else "["
        hb = ")" if hi_open else "]"
        raise ValueError(f"{what} must be in {lb}{lo:g}, {hi:g}{hb}, got {value!r}")
    return v


def _num(x: float) -> str:
    """Shortest exact text of a float for a netlist (round-trips to the same double)."""
    return repr(float(x))


class Device(Protocol):
    """What every cell-device model provides."""

    name: str

    def spice(self, name: str, n_plus: str, n_minus: str, g_s: float) -> str: ...

    def current(self, v: np.ndarray, g: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class LinearDevice:
    """An ohmic cell: I = G·V, written as a resistor R = 1/G."""

    name: str = "linear"

    def spice(self, name: str, n_plus: str, n_minus: str, g_s: float) -> str:
        """``R<name> n_plus n_minus <1/g_s>``; g_s = 0 gives R = ``R_OPEN_OHM``."""
        check_name(name, "device name")
        _check_node(n_plus, "node")
        _check_node(n_minus, "node")
        g = _check_g(g_s)
        r = R_OPEN_OHM if g == 0 else 1.0 / g
        return f"R{name} {n_plus} {n_minus} {_num(r)}"

    def current(self, v: np.ndarray, g: np.ndarray) -> np.ndarray:
        """I [A] = g·v for v [V], g [S] (broadcast)."""
        v = np.asarray(v, dtype=float)
        g = np.asarray(g, dtype=float)
        r = np.where(g == 0, R_OPEN_OHM, 1.0 / np.where(g == 0, 1.0, g))
        return v / r

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True)
class RramDevice:
    """Metal-oxide RRAM read I-V: I = G·v0·sinh(V/v0) (odd, super-linear).

    ``v0_v`` = 0.25 V is the V0 of the Stanford-PKU RRAM compact model
    (I = I0·exp(-g/g0)·sinh(V/V0); Guan, Yu & Wong, IEEE Electron Device Lett. 33(10),
    2012; Jiang et al., IEEE TED 63(5), 2016). Chord conductance I/V at 0.2 V is 1.110·G,
    at 0.4 V 1.485·G.
    """

    v0_v: float = 0.25
    name: str = "rram"

    def __post_init__(self) -> None:
        _check_param(self.v0_v, "RRAM v0_v", 0.0, 100.0)

    def _expr(self, n_plus: str, n_minus: str, g: float) -> str:
        v0 = _num(self.v0_v)
        c = _num(ARG_CLAMP)
        x = f"min(max(V({n_plus},{n_minus})/{v0},-{c}),{c})"
        return f"{_num(g * self.v0_v)}*sinh({x})"

    def spice(self, name: str, n_plus: str, n_minus: str, g_s: float) -> str:
        """``B<name> n_plus n_minus I={G·v0·sinh(V/v0)}``."""
        return _b_source(self, name, n_plus, n_minus, g_s)

    def osdi_params(self) -> dict[str, float]:
        """Model parameters of the compiled device (:mod:`aimc.circuits.compiled`):
        the PCM law with ``asym`` = 0 is this law."""
        return {"v0": self.v0_v, "asym": 0.0}

    def current(self, v: np.ndarray, g: np.ndarray) -> np.ndarray:
        """I [A] = g·v0·sinh(v/v0) for v [V], g [S] (broadcast; argument clamped)."""
        v = np.asarray(v, dtype=float)
        g = np.asarray(g, dtype=float)
        x = np.clip(v / self.v0_v, -ARG_CLAMP, ARG_CLAMP)
        return (g * self.v0_v) * np.sinh(x)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "v0_v": self.v0_v}


@dataclass(frozen=True)
class PcmDevice:
    """PCM read I-V: non-linear and polarity-asymmetric,

        I = G·v0·sinh(V/v0)·(1 + asym·tanh(V/v_s)).

    * sinh(V/v0): sub-threshold (Poole-Frenkel-type) conduction of the amorphous
      region, I ∝ sinh(V/v0) (Le Gallo et al., "Subthreshold electrical transport in
      amorphous phase-change materials", New J. Phys. 17, 093035, 2015). ``v0_v`` =
      0.3 V is an assumed, representative value for a partially amorphous mushroom
      cell: the sinh part alone gives a chord conductance of 1.076·G at 0.2 V and
      1.324·G at 0.4 V (read range 0.1–0.4 V: Le Gallo et al., Nat. Electron. 2023;
      FACTS.md).
    * (1 + asym·tanh(V/v_s)): bias-polarity asymmetry from the asymmetric mushroom
      geometry and contacts (Syed et al., "Mechanism and impact of bipolar
      current-voltage asymmetry in computational phase-change memory", Adv. Mater.
      35, 2201238, 2023); it is why the 64-core chip used a 4-phase read for its
      accuracy results (Le Gallo et al., Nat. Electron. 2023; FACTS.md). Defaults
      ``asym`` = 0.05, ``v_s_v`` = 0.1 V (assumed): |I(+0.2 V)| / |I(-0.2 V)| = 1.101,
      i.e. 10 % more current for a positive than for a negative 0.2 V read
      (chord conductance 1.128·G at +0.2 V, 1.024·G at -0.2 V).

    The factor is 1 at V = 0, so dI/dV(0) = G exactly; ``asym`` in [0, 1) keeps the
    current's sign equal to the voltage's sign.
    """

    v0_v: float = 0.3
    asym: float = 0.05
    v_s_v: float = 0.1
    name: str = "pcm"

    def __post_init__(self) -> None:
        _check_param(self.v0_v, "PCM v0_v", 0.0, 100.0)
        _check_param(self.asym, "PCM asym", -1.0, 1.0, lo_open=True, hi_open=True)
        _check_param(self.v_s_v, "PCM v_s_v", 0.0, 100.0)

    def _expr(self, n_plus: str, n_minus: str, g: float) -> str:
        v = f"V({n_plus},{n_minus})"
        c = _num(ARG_CLAMP)
        x = f"min(max({v}/{_num(self.v0_v)},-{c}),{c})"
        # tanh needs no clamp in SPICE: tanh(y) is exactly ±1.0 in double precision
        # for |y| > 19.1, so the clamped and unclamped values are the same numbers,
        # and each min/max costs ngspice as much as the rest of the expression
        # (its derivative trees are evaluated per node per Newton iteration).
        y = f"{v}/{_num(self.v_s_v)}"
        return f"{_num(g * self.v0_v)}*sinh({x})*(1+{_num(self.asym)}*tanh({y}))"

    def spice(self, name: str, n_plus: str, n_minus: str, g_s: float) -> str:
        """``B<name> n_plus n_minus I={G·v0·sinh(V/v0)·(1+asym·tanh(V/v_s))}``."""
        return _b_source(self, name, n_plus, n_minus, g_s)

    def osdi_params(self) -> dict[str, float]:
        """Model parameters of the compiled device (:mod:`aimc.circuits.compiled`)."""
        return {"v0": self.v0_v, "asym": self.asym, "vs": self.v_s_v}

    def current(self, v: np.ndarray, g: np.ndarray) -> np.ndarray:
        """I [A] for v [V], g [S] (broadcast; arguments clamped as in SPICE)."""
        v = np.asarray(v, dtype=float)
        g = np.asarray(g, dtype=float)
        x = np.clip(v / self.v0_v, -ARG_CLAMP, ARG_CLAMP)
        y = np.clip(v / self.v_s_v, -ARG_CLAMP, ARG_CLAMP)
        return (g * self.v0_v) * np.sinh(x) * (1.0 + self.asym * np.tanh(y))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "v0_v": self.v0_v, "asym": self.asym, "v_s_v": self.v_s_v}


def _b_source(dev: RramDevice | PcmDevice, name: str, n_plus: str, n_minus: str,
              g_s: float) -> str:
    """A behavioural current source for a non-linear device (validated names)."""
    check_name(name, "device name")
    _check_node(n_plus, "node")
    _check_node(n_minus, "node")
    g = _check_g(g_s)
    return f"B{name} {n_plus} {n_minus} I={{{dev._expr(n_plus, n_minus, g)}}}"


def osdi_model_line(dev: RramDevice | PcmDevice, model: str, model_type: str) -> str:
    """``.model <model> <model_type> v0=... asym=... [vs=...]``: the compiled device's
    model card for ``dev`` (exact doubles, validated model name)."""
    check_name(model, "model name")
    check_name(model_type, "model type")
    params = " ".join(f"{k}={_num(v)}" for k, v in dev.osdi_params().items())
    return f".model {model} {model_type} {params}"


def osdi_instance(name: str, n_plus: str, n_minus: str, model: str, g_s: float) -> str:
    """``N<name> n_plus n_minus <model> g=<g_s>``: one compiled-device cell, current
    from ``n_plus`` through the device to ``n_minus`` (validated names)."""
    check_name(name, "device name")
    _check_node(n_plus, "node")
    _check_node(n_minus, "node")
    check_name(model, "model name")
    return f"N{name} {n_plus} {n_minus} {model} g={_num(_check_g(g_s))}"


DEVICE_NAMES: tuple[str, ...] = ("linear", "pcm", "rram")

_CLASSES: dict[str, type] = {"linear": LinearDevice, "pcm": PcmDevice, "rram": RramDevice}


def device_from_name(name: str, **params: Any) -> LinearDevice | PcmDevice | RramDevice:
    """``"linear"`` | ``"pcm"`` | ``"rram"`` with the model's parameters as keywords.

    Raises ValueError naming an unknown model or an unknown parameter.
    """
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"unknown device model {name!r}; choose one of {', '.join(DEVICE_NAMES)}")
    cls = _CLASSES[name]
    allowed = {f for f in cls.__dataclass_fields__ if f != "name"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for device model {name!r}; "
            f"allowed: {sorted(allowed) or 'none'}"
        )
    return cls(**params)


def as_device(device: Any) -> LinearDevice | PcmDevice | RramDevice:
    """A device object, or a model name turned into one with default parameters."""
    if isinstance(device, (LinearDevice, PcmDevice, RramDevice)):
        return device
    if isinstance(device, str):
        return device_from_name(device)
    raise ValueError(
        f"device must be a LinearDevice, PcmDevice, RramDevice or one of "
        f"{', '.join(DEVICE_NAMES)}; got {device!r}"
    )
