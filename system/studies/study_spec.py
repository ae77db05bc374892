"""The TOML spec of a design-space study (``aimc study SPEC.toml``).

A study evaluates configurations of the analog array (bits, device, wires, tile size,
time after programming, pruning) on small real networks: accuracy over device seeds
from the array simulator, energy/latency/area from the tile model and the cluster.

    name = "design_space_ci"
    networks = ["digits_mlp", "digits_cnn"]   # digits_mlp | digits_cnn | digits_mobilenet
    seeds = 2                                 # device seeds per configuration
    n_test = 120                              # first n test images (of 360)
    lossless = false                          # true: refuse adc_bits < input_bits

    [sampling]                                # "grid": every combination of the axes;
    method = "random"                         # "random": n draws (lists: uniform choice,
    n = 8                                     #  ranges: uniform, log = true: log-uniform)
    seed = 0

    [axes]                                    # a list, or a range {min, max[, num, log]}
    weight_bits = [2, 3, 4, 6, 8]
    prune = {min = 0.0, max = 0.9, num = 4}
    device = ["pcm", "rram"]

    [fixed]                                   # any axis held at one value
    t_s = 3600.0

Axes not named take their default (:data:`AXES`). Every problem raises
:class:`StudySpecError` naming the key and the value.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class StudySpecError(ValueError):
    """A study spec that cannot be run (unknown key, bad value, impossible combination)."""


@dataclass(frozen=True)
class Axis:
    name: str
    kind: type                 # int | float | str
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""


#: every axis a study can vary; defaults are the array simulator's (ArrayConfig)
AXES: dict[str, Axis] = {a.name: a for a in (
    Axis("weight_bits", int, 4, 2, 8, doc="signed weight bits (4: seed 001)"),
    Axis("input_bits", int, 8, 4, 8, doc="signed PWM input bits (8: HERMES)"),
    Axis("adc_bits", int, 8, 4, 10, doc="signed ADC output bits (8: seed 001)"),
    Axis("adc_fs_ua", float, 100.0, 10.0, 100.0,
         doc="ADC full-scale line current, µA (100: the CCO-ADC's fitted range)"),
    Axis("device", str, "pcm", choices=("pcm", "rram"),
         doc="pcm: FACTS.md statistics, PCM I-V; rram: Wan et al. 2022 statistics, "
             "linear (ohmic) I-V"),
    Axis("r_wire_ohm", float, 0.25, 0.0, 1.0, doc="wire resistance per cell, both lines"),
    Axis("tile_size", int, 256, 64, 512, doc="square crossbar tile (256: HERMES)"),
    Axis("t_s", float, 3600.0, 1.0, 3.2e7, doc="read time after programming, s"),
    Axis("prune", float, 0.0, 0.0, 0.9, doc="fraction of crossbar weights pruned"),
    Axis("prune_structure", str, "unstructured",
         choices=("unstructured", "row", "channel", "tile"),
         doc="unstructured magnitude, or whole rows / output channels / tiles by L2 norm"),
)}

NETWORKS = ("digits_mlp", "digits_cnn", "digits_mobilenet")
TOP_KEYS = {"name", "networks", "seeds", "n_test", "lossless", "sampling", "axes", "fixed"}


@dataclass
class StudySpec:
    name: str
    networks: tuple[str, ...]
    seeds: int
    n_test: int
    lossless: bool
    method: str
    n: int
    sample_seed: int
    axes: dict[str, Any]            # name -> list of values or a range dict
    fixed: dict[str, Any]
    text: str = field(default="", repr=False)
    source: str = ""

    # ---- the configurations ---------------------------------------------------------------
    def configs(self) -> list[dict[str, Any]]:
        """Every configuration (all axes filled in), in a fixed order."""
        base = {k: a.default for k, a in AXES.items()}
        base.update(self.fixed)
        names = list(self.axes)
        out: list[dict[str, Any]] = []
        if self.method == "grid":
            values = [_grid_values(k, self.axes[k]) for k in names]
            for combo in itertools.product(*values):
                c = dict(base)
                c.update(zip(names, combo, strict=True))
                out.append(c)
        else:
            rng = np.random.default_rng(self.sample_seed)
            for _ in range(self.n):
                c = dict(base)
                for k in names:
                    c[k] = _draw(k, self.axes[k], rng)
                out.append(c)
        for c in out:
            check_config(c, self.lossless)
        return out

    def canonical(self) -> dict[str, Any]:
        """What defines the data (its hash refuses a file from another spec)."""
        return {"networks": list(self.networks), "seeds": self.seeds, "n_test": self.n_test,
                "configs": self.configs()}

    @property
    def spec_hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _grid_values(name: str, v: Any) -> list[Any]:
    if isinstance(v, list):
        return [_coerce(name, x) for x in v]
    num = int(v.get("num", 2))
    lo, hi = float(v["min"]), float(v["max"])
    xs = (np.geomspace(lo, hi, num) if v.get("log") else np.linspace(lo, hi, num)).tolist()
    return list(dict.fromkeys(_coerce(name, x) for x in xs))


def _draw(name: str, v: Any, rng: np.random.Generator) -> Any:
    if isinstance(v, list):
        return _coerce(name, v[int(rng.integers(len(v)))])
    lo, hi = float(v["min"]), float(v["max"])
    if AXES[name].kind is int:
        return int(rng.integers(int(lo), int(hi) + 1))
    if v.get("log"):
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


def _coerce(name: str, x: Any) -> Any:
    a = AXES[name]
    if a.kind is str:
        if not isinstance(x, str) or x not in a.choices:
            raise StudySpecError(f"axis {name!r}: value {x!r} is not one of "
                                 + ", ".join(a.choices))
        return x
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise StudySpecError(f"axis {name!r}: value {x!r} is not a number")
    if a.kind is int:
        if float(x) != int(round(float(x))):
            raise StudySpecError(f"axis {name!r}: value {x!r} must be an integer")
        x = int(round(float(x)))
    else:
        x = float(x)
    if not (a.lo <= x <= a.hi):
        raise StudySpecError(f"axis {name!r}: value {x!r} is outside {a.lo:g}..{a.hi:g}")
    return x


def check_config(c: dict[str, Any], lossless: bool) -> None:
    for k, v in c.items():
        c[k] = _coerce(k, v)
    if lossless and c["adc_bits"] < c["input_bits"]:
        raise StudySpecError(
            f"impossible combination: adc_bits = {c['adc_bits']} is below input_bits = "
            f"{c['input_bits']} while lossless = true (the ADC would drop input precision); "
            "raise adc_bits or set lossless = false")


def _check_axis_value(name: str, v: Any, where: str) -> Any:
    if name not in AXES:
        raise StudySpecError(f"{where}: unknown axis {name!r}; axes are "
                             + ", ".join(AXES))
    if isinstance(v, list):
        if not v:
            raise StudySpecError(f"{where}.{name}: empty list")
        return [_coerce(name, x) for x in v]
    if isinstance(v, dict):
        if AXES[name].kind is str:
            raise StudySpecError(f"{where}.{name}: a range needs a numeric axis; give a list")
        bad = set(v) - {"min", "max", "num", "log"}
        if bad or "min" not in v or "max" not in v:
            raise StudySpecError(f"{where}.{name}: a range is {{min, max[, num, log]}}, "
                                 f"got keys {sorted(v)}")
        lo, hi = _coerce(name, v["min"]), _coerce(name, v["max"])
        if lo > hi:
            raise StudySpecError(f"{where}.{name}: min {lo!r} > max {hi!r}")
        if v.get("log") and lo <= 0:
            raise StudySpecError(f"{where}.{name}: a log range needs min > 0")
        if "num" in v and (not isinstance(v["num"], int) or v["num"] < 1):
            raise StudySpecError(f"{where}.{name}: num must be a positive integer")
        return dict(v)
    if where == "fixed":
        return _coerce(name, v)
    raise StudySpecError(f"{where}.{name}: give a list or a range {{min, max}}, got {v!r}")


def parse_spec(text: str, source: str = "<string>") -> StudySpec:
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StudySpecError(f"{source}: not valid TOML: {e}") from None
    bad = set(d) - TOP_KEYS
    if bad:
        raise StudySpecError(f"{source}: unknown key(s) {sorted(bad)}; keys are "
                             + ", ".join(sorted(TOP_KEYS)))
    name = d.get("name", Path(source).stem if source != "<string>" else "study")
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise StudySpecError(f"name {name!r}: use letters, digits, '_' or '-'")
    nets = d.get("networks", ["digits_mlp"])
    if not isinstance(nets, list) or not nets:
        raise StudySpecError("networks: give a non-empty list")
    for n in nets:
        if n not in NETWORKS:
            raise StudySpecError(f"networks: {n!r} is not a study network; use "
                                 + ", ".join(NETWORKS))
    seeds, n_test = d.get("seeds", 3), d.get("n_test", 360)
    if not isinstance(seeds, int) or not 1 <= seeds <= 100:
        raise StudySpecError(f"seeds = {seeds!r}: give an integer 1..100")
    if not isinstance(n_test, int) or not 10 <= n_test <= 360:
        raise StudySpecError(f"n_test = {n_test!r}: give an integer 10..360")
    lossless = d.get("lossless", False)
    if not isinstance(lossless, bool):
        raise StudySpecError(f"lossless = {lossless!r}: give true or false")
    samp = d.get("sampling", {})
    bad = set(samp) - {"method", "n", "seed"}
    if bad:
        raise StudySpecError(f"sampling: unknown key(s) {sorted(bad)} (method, n, seed)")
    method = samp.get("method", "grid")
    if method not in ("grid", "random"):
        raise StudySpecError(f"sampling.method {method!r}: use grid or random")
    n = samp.get("n", 0)
    if method == "random" and (not isinstance(n, int) or n < 1):
        raise StudySpecError(f"sampling.n = {n!r}: random sampling needs n >= 1")
    axes = {k: _check_axis_value(k, v, "axes") for k, v in d.get("axes", {}).items()}
    fixed = {k: _check_axis_value(k, v, "fixed") for k, v in d.get("fixed", {}).items()}
    both = set(axes) & set(fixed)
    if both:
        raise StudySpecError(f"axis {sorted(both)[0]!r} is both in [axes] and [fixed]")
    spec = StudySpec(name, tuple(nets), seeds, n_test, lossless, method, int(n),
                     int(samp.get("seed", 0)), axes, fixed, text, source)
    n_cfg = len(spec.configs())
    if n_cfg > 100_000:
        raise StudySpecError(f"{source}: {n_cfg} configurations; keep it below 100000")
    return spec


def shipped_specs() -> dict[str, Path]:
    from importlib import resources

    root = Path(str(resources.files("aimc.netlists") / "studies"))
    return {p.stem: p for p in sorted(root.glob("*.toml"))}


def load_spec(spec: str | Path) -> StudySpec:
    """A spec file, or the name of a shipped one (``ci``, ``full``)."""
    p = Path(spec)
    if not p.suffix and str(spec) in shipped_specs():
        p = shipped_specs()[str(spec)]
    if not p.is_file():
        raise StudySpecError(f"study spec {str(spec)!r} does not exist (shipped: "
                             + ", ".join(shipped_specs()) + ")")
    return parse_spec(p.read_text(), str(p))
