"""Sweep specifications: dataclasses, TOML parsing, validation and point sampling.

A sweep names a generator (a :class:`~aimc.circuits.sweep.targets.Target`), fixes
some of its parameters, sweeps others over grids (explicit lists, linear or log
grids; their Cartesian product) and/or samples others (random, Latin-hypercube or
Sobol over ranges, with a seed), repeats each point ``repeat`` times with a new
random seed, and says what to record. Example (``netlists/sweeps/*.toml``)::

    [sweep]
    name = "crossbar_op_ci"
    generator = "crossbar_op"
    seed = 1
    repeat = 2                  # points per grid/sample point, each with its own seed
    timeout_s = 60

    [fixed]
    rows = 16
    cols = 16

    [grid]                      # Cartesian product, first key varies slowest
    r_wire_row_ohm = { linspace = [0.0, 2.0, 3] }
    encoding = ["single", "differential"]

    [sample]                    # n points, crossed with the grid
    method = "lhs"              # random | lhs | sobol
    n = 4
    v_read_v = { low = 0.1, high = 0.3 }
    g_max_s = { low = 5e-6, high = 25e-6, scale = "log" }

    [analysis]
    type = "op"

    [record]
    outputs = ["i_out_a", "power_w"]

Everything is checked by :meth:`SweepSpec.validate` before anything runs; errors are
:class:`SpecError` naming the file and the key: each value against its parameter's
type and physical range, ordered pairs (``g_min_s <= g_max_s``, ``w_low <= w_high``)
over every combination the spec can produce, seeds (< 2^63), and the number of points,
counted before any grid is expanded, against :data:`MAX_POINTS` (``max_points``;
``aimc sweep --max-points``). The same dataclasses build specs in
Python (``SweepSpec(generator=..., grid={"rows": [8, 16]})``) and dump to TOML.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aimc.circuits.sweep.targets import REQUIRED, Target, get_target
from aimc.circuits.toml_text import toml_value

METHODS = ("random", "lhs", "sobol")
MAX_SPEC_BYTES = 4 * 2**20
MAX_POINTS = 1_000_000
"""Most points a spec may have unless the caller raises ``max_points``."""
MAX_SEED = 2**63 - 1


class SpecError(ValueError):
    """A sweep spec is invalid; ``source`` is its file and ``key`` the offending key."""

    def __init__(self, message: str, source: str = "<spec>", key: str = "") -> None:
        self.source = source
        self.key = key
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


# ------------------------------------------------------------------------------------
# axes
# ------------------------------------------------------------------------------------

@dataclass
class Linspace:
    """``n`` evenly spaced values from ``start`` to ``stop`` (both included)."""

    start: float
    stop: float
    n: int

    def values(self) -> list[float]:
        return [float(v) for v in np.linspace(self.start, self.stop, self.n)]


@dataclass
class Logspace:
    """``n`` log-spaced values from ``start`` to ``stop`` (both > 0, included)."""

    start: float
    stop: float
    n: int

    def values(self) -> list[float]:
        return [float(v) for v in np.geomspace(self.start, self.stop, self.n)]


@dataclass
class Range:
    """Sample uniformly (``scale="linear"``) or log-uniformly in [low, high]."""

    low: float
    high: float
    scale: str = "linear"


@dataclass
class Choice:
    """Sample one of ``values`` with equal probability."""

    values: list[Any]


GridAxis = list | Linspace | Logspace
SampleAxis = Range | Choice


@dataclass
class Sampling:
    """``n`` samples of ``params`` by ``method`` (random, lhs, sobol), seeded."""

    method: str
    n: int
    params: dict[str, SampleAxis]
    seed: int | None = None


@dataclass
class SweepSpec:
    """A complete sweep. ``source``/``text`` are set when loaded from a file."""

    generator: str
    name: str = "sweep"
    description: str = ""
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, GridAxis] = field(default_factory=dict)
    sample: Sampling | None = None
    seed: int | None = None
    repeat: int = 1
    analysis: str | None = None
    record: list[str] | None = None
    waveform_points: int = 256
    timeout_s: float = 300.0
    source: str = "<python>"
    text: str | None = None
    max_points: int = MAX_POINTS    # a limit of this run, not part of the sweep's data

    # -- loading --------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path, max_points: int = MAX_POINTS) -> SweepSpec:
        path = Path(path)
        try:
            if path.stat().st_size > MAX_SPEC_BYTES:
                raise SpecError(f"the spec is larger than {MAX_SPEC_BYTES >> 20} MiB",
                                str(path))
            text = path.read_text()
        except OSError as e:
            raise SpecError(f"cannot read the spec: {e.strerror}", str(path)) from None
        except UnicodeDecodeError as e:
            raise SpecError(f"not UTF-8 text: {e.reason}", str(path)) from None
        return cls.from_text(text, str(path), max_points)

    @classmethod
    def from_text(cls, text: str, source: str = "<string>",
                  max_points: int = MAX_POINTS) -> SweepSpec:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"not valid TOML: {e}", source) from None
        spec = _from_dict(data, source)
        spec.text = text
        spec.max_points = max_points
        spec.validate()
        return spec

    # -- derived --------------------------------------------------------------------
    @property
    def target(self) -> Target:
        try:
            return get_target(self.generator)
        except KeyError as e:
            raise SpecError(str(e.args[0]), self.source, "[sweep] generator") from None

    def swept_names(self) -> list[str]:
        names = list(self.grid)
        if self.sample is not None:
            names += list(self.sample.params)
        return names

    def n_points(self) -> int:
        """The number of points, counted without expanding any grid."""
        n = math.prod(_axis_len(a) for a in self.grid.values())
        if self.sample is not None:
            n *= self.sample.n
        return n * self.repeat

    def needs_seed(self) -> bool:
        return self.sample is not None or self.target.random

    def validate(self) -> SweepSpec:
        """Check everything that can be checked without running; raise SpecError."""
        src = self.source
        target = self.target
        if not isinstance(self.name, str) or not self.name:
            raise SpecError("must be a non-empty string", src, "[sweep] name")
        _check_int(self.repeat, src, "[sweep] repeat", 1)
        _check_int(self.waveform_points, src, "[record] waveform_points", 2)
        if (isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, int | float)
                or not self.timeout_s > 0 or not math.isfinite(self.timeout_s)):
            raise SpecError(f"must be a number > 0, got {self.timeout_s!r}", src,
                            "[sweep] timeout_s")
        if self.seed is not None:
            _check_int(self.seed, src, "[sweep] seed", 0, MAX_SEED)
        if self.sample is not None and self.sample.seed is not None:
            _check_int(self.sample.seed, src, "[sample] seed", 0, MAX_SEED)
        self._check_count()
        if self.needs_seed() and self.seed is None:
            why = ("it samples parameters" if self.sample is not None
                   else f"generator {self.generator!r} draws random arrays")
            raise SpecError(f"a seed is required because {why}; add seed = <integer>", src,
                            "[sweep] seed")
        if self.analysis is not None and self.analysis not in target.analyses:
            raise SpecError(f"{self.analysis!r} is not an analysis of {self.generator!r}; "
                            f"choose one of {', '.join(target.analyses)}", src,
                            "[analysis] type")
        seen: dict[str, str] = {}
        for section, names in (("fixed", self.fixed), ("grid", self.grid),
                               ("sample", self.sample.params if self.sample else {})):
            for k in names:
                key = f"[{section}] {k}"
                if k not in target.params:
                    known = ", ".join(sorted(target.params))
                    raise SpecError(f"unknown parameter of generator {self.generator!r}; "
                                    f"known: {known}", src, key)
                if k in seen:
                    raise SpecError(f"also set in [{seen[k]}]; set each parameter once",
                                    src, key)
                seen[k] = section
        for k, v in self.fixed.items():
            _check_value(target, k, v, src, f"[fixed] {k}")
        for k, axis in self.grid.items():
            key = f"[grid] {k}"
            vals = _grid_values(axis, src, key)
            for v in vals:
                _check_value(target, k, v, src, key)
        if self.sample is not None:
            self._validate_sample(target)
        missing = [k for k, p in target.params.items()
                   if p.default is REQUIRED and k not in seen]
        if missing:
            raise SpecError(f"generator {self.generator!r} needs {', '.join(missing)}; set "
                            "them in [fixed], [grid] or [sample]", src, "[fixed]")
        if self.record is not None:
            if not self.record:
                raise SpecError("list at least one output", src, "[record] outputs")
            for o in self.record:
                if o not in target.outputs:
                    raise SpecError(f"unknown output {o!r} of {self.generator!r}; known: "
                                    f"{', '.join(target.outputs)}", src, "[record] outputs")
        if self.n_points() < 1:
            raise SpecError("the sweep has no points", src, "[grid]")
        self._check_order(target)
        return self

    def _check_count(self) -> None:
        """Refuse more than ``max_points`` points, counting before expanding anything."""
        src = self.source
        for k, axis in self.grid.items():
            _check_axis(axis, src, f"[grid] {k}")
        if self.sample is not None:
            _check_int(self.sample.n, src, "[sample] n", 1)
        n = self.n_points()
        if n > self.max_points:
            raise SpecError(
                f"{n:,} points exceed the limit of {self.max_points:,} (aimc sweep "
                "--max-points N, or SweepSpec.max_points, raises it); split the sweep or "
                "use fewer grid values or samples", src, "[grid]/[sample]")

    def peak_point_memory(self) -> float:
        """Estimated memory (bytes) of this spec's largest point (0: not estimated):
        numeric parameters at their largest value, every choice of the others."""
        target = self.target
        if target.memory_fn is None:
            return 0.0
        numeric: dict[str, Any] = {}
        options: dict[str, list[Any]] = {}
        for name in self.swept_names():
            if name in self.grid:
                vals = _grid_values(self.grid[name])
            else:
                axis = self.sample.params[name]          # type: ignore[union-attr]
                vals = list(axis.values) if isinstance(axis, Choice) else [axis.high]
            if target.params[name].type in (int, float):
                hi = max(vals)
                numeric[name] = math.floor(hi) if target.params[name].type is int else hi
            else:
                options[name] = list(dict.fromkeys(vals))
        combos = itertools.islice(itertools.product(*options.values()), 4096)
        return max(target.memory_bytes({**self.fixed, **numeric,
                                        **dict(zip(options, c, strict=True))})
                   for c in combos)

    def _check_order(self, target: Target) -> None:
        """Each ordered pair (lo, hi) of the target holds for every combination of values
        the spec can produce (grid axes and samples are crossed, so the largest lo meets
        the smallest hi)."""
        for lo_name, hi_name in target.ordered:
            lo_max = self._extreme(target, lo_name, max)
            hi_min = self._extreme(target, hi_name, min)
            if lo_max is not None and hi_min is not None and lo_max > hi_min:
                raise SpecError(
                    f"{lo_name} can be {lo_max!r} while {hi_name} can be {hi_min!r}: "
                    f"{lo_name} must not exceed {hi_name} at any point", self.source,
                    f"{lo_name}/{hi_name}")

    def _extreme(self, target: Target, name: str, pick: Any) -> float | None:
        if name in self.fixed:
            vals = [self.fixed[name]]
        elif name in self.grid:
            vals = _grid_values(self.grid[name])
        elif self.sample is not None and name in self.sample.params:
            axis = self.sample.params[name]
            vals = axis.values if isinstance(axis, Choice) else [axis.low, axis.high]
        else:
            vals = [target.params[name].default]
        nums = [float(v) for v in vals if isinstance(v, int | float) and not isinstance(v, bool)]
        return pick(nums) if nums else None

    def _validate_sample(self, target: Target) -> None:
        s, src = self.sample, self.source
        assert s is not None
        if s.method not in METHODS:
            raise SpecError(f"{s.method!r} is not a sampling method; choose one of "
                            f"{', '.join(METHODS)}", src, "[sample] method")
        _check_int(s.n, src, "[sample] n", 1)
        if not s.params:
            raise SpecError("name at least one parameter to sample", src, "[sample]")
        for k, axis in s.params.items():
            key = f"[sample] {k}"
            ptype = target.params[k].type
            if isinstance(axis, Choice):
                if not axis.values:
                    raise SpecError("choices must not be empty", src, key)
                for v in axis.values:
                    _check_value(target, k, v, src, key)
                continue
            if ptype in (str, bool):
                raise SpecError("a string or boolean parameter is sampled with "
                                "{ choices = [...] }", src, key)
            for v in (axis.low, axis.high):
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                    raise SpecError(f"low and high must be finite numbers, got {v!r}", src, key)
            if not axis.low < axis.high:
                raise SpecError(f"impossible range: low ({axis.low!r}) must be below high "
                                f"({axis.high!r})", src, key)
            if axis.scale not in ("linear", "log"):
                raise SpecError(f"scale must be 'linear' or 'log', got {axis.scale!r}", src, key)
            if axis.scale == "log" and axis.low <= 0:
                raise SpecError(f"a log scale needs low > 0, got {axis.low!r}", src, key)
            if ptype is int and math.ceil(axis.low) > math.floor(axis.high):
                raise SpecError(f"integer parameter: no integer lies in [{axis.low!r}, "
                                f"{axis.high!r}]", src, key)
            for v in (axis.low, axis.high):
                _check_value(target, k, int(v) if ptype is int else v, src, key)

    # -- points ---------------------------------------------------------------------
    def points(self) -> list[dict[str, Any]]:
        """Every point's swept values plus ``seed``, in the file's order."""
        grid_names = list(self.grid)
        grid_vals = [_grid_values(a) for a in self.grid.values()]
        combos = list(itertools.product(*grid_vals)) if grid_vals else [()]
        samples: list[dict[str, Any]] = [{}]
        if self.sample is not None:
            samples = self._samples()
        base = int(self.seed) if self.seed is not None else 0
        out = []
        for combo in combos:
            for smp in samples:
                for _ in range(self.repeat):
                    p = dict(zip(grid_names, combo, strict=True))
                    p.update(smp)
                    p["seed"] = point_seed(base, len(out))
                    out.append(p)
        return out

    def _samples(self) -> list[dict[str, Any]]:
        s = self.sample
        assert s is not None
        seed = s.seed if s.seed is not None else self.seed
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5A3B]))
        d = len(s.params)
        if s.method == "random":
            u = rng.random((s.n, d))
        elif s.method == "lhs":
            from scipy.stats import qmc

            u = qmc.LatinHypercube(d, rng=rng).random(s.n)
        else:
            from scipy.stats import qmc

            with warnings.catch_warnings():  # n need not be a power of 2
                warnings.simplefilter("ignore", UserWarning)
                u = qmc.Sobol(d, scramble=True, rng=rng).random(s.n)
        target = self.target
        out = []
        for row in u:
            pt = {}
            for (k, axis), ui in zip(s.params.items(), row, strict=True):
                pt[k] = _map_unit(axis, float(ui), target.params[k].type)
            out.append(pt)
        return out

    def point_params(self, point: dict[str, Any]) -> dict[str, Any]:
        """The complete parameter dict of a point: fixed + swept + seed + analysis."""
        p = dict(self.fixed)
        p.update(point)
        p["analysis"] = self.analysis or self.target.analyses[0]
        p["waveform_points"] = self.waveform_points
        return p

    def outputs(self) -> list[str]:
        if self.record is not None:
            return list(self.record)
        return [k for k, o in self.target.outputs.items() if o.default]

    # -- identity ---------------------------------------------------------------------
    def canonical(self) -> dict[str, Any]:
        """What defines the sweep's data (not its description or timeout)."""
        target = self.target
        swept = set(self.swept_names())
        fixed = {k: self.fixed.get(k, p.default) for k, p in target.params.items()
                 if k not in swept}
        fixed["analysis"] = self.analysis or target.analyses[0]
        return {
            "generator": self.generator,
            "fixed": _jsonable(fixed),
            "grid": {k: _jsonable(_grid_values(a)) for k, a in self.grid.items()},
            "sample": None if self.sample is None else {
                "method": self.sample.method, "n": self.sample.n, "seed": self.sample.seed,
                "params": {k: _jsonable(_axis_dict(a)) for k, a in self.sample.params.items()},
            },
            "seed": self.seed,
            "repeat": self.repeat,
            "outputs": self.outputs(),
        }

    def spec_hash(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # -- dumping ----------------------------------------------------------------------
    def to_toml(self) -> str:
        """The spec as TOML text (round-trips through :meth:`from_text`)."""
        lines = ["[sweep]", f"name = {toml_value(self.name)}",
                 f"generator = {toml_value(self.generator)}"]
        if self.description:
            lines.append(f"description = {toml_value(self.description)}")
        if self.seed is not None:
            lines.append(f"seed = {int(self.seed)}")
        lines += [f"repeat = {int(self.repeat)}",
                  f"timeout_s = {toml_value(float(self.timeout_s))}"]
        if self.fixed:
            lines += ["", "[fixed]"] + [f"{k} = {toml_value(v)}" for k, v in self.fixed.items()]
        if self.grid:
            lines += ["", "[grid]"]
            for k, a in self.grid.items():
                if isinstance(a, Linspace):
                    lines.append(f"{k} = {{ linspace = {toml_value([a.start, a.stop, a.n])} }}")
                elif isinstance(a, Logspace):
                    lines.append(f"{k} = {{ logspace = {toml_value([a.start, a.stop, a.n])} }}")
                else:
                    lines.append(f"{k} = {toml_value(list(a))}")
        if self.sample is not None:
            s = self.sample
            lines += ["", "[sample]", f"method = {toml_value(s.method)}", f"n = {int(s.n)}"]
            if s.seed is not None:
                lines.append(f"seed = {int(s.seed)}")
            for k, a in s.params.items():
                lines.append(f"{k} = {toml_value(_axis_dict(a))}")
        if self.analysis is not None:
            lines += ["", "[analysis]", f"type = {toml_value(self.analysis)}"]
        lines += ["", "[record]"]
        if self.record is not None:
            lines.append(f"outputs = {toml_value(list(self.record))}")
        lines.append(f"waveform_points = {int(self.waveform_points)}")
        return "\n".join(lines) + "\n"

    def spec_text(self) -> str:
        return self.text if self.text is not None else self.to_toml()


def point_seed(sweep_seed: int, index: int) -> int:
    """The seed of point ``index``: independent streams from one sweep seed (< 2**63)."""
    state = np.random.SeedSequence([int(sweep_seed), int(index)]).generate_state(2, np.uint32)
    return int((int(state[0]) << 32 | int(state[1])) & ((1 << 63) - 1))


def load_spec(path: str | Path, max_points: int = MAX_POINTS) -> SweepSpec:
    """Load and validate a spec file; a bare name finds a shipped spec in aimc.netlists."""
    p = Path(path)
    if not p.exists() and p.suffix in ("", ".toml") and len(p.parts) == 1:
        shipped = shipped_specs()
        if p.stem in shipped:
            return SweepSpec.from_file(shipped[p.stem], max_points)
    return SweepSpec.from_file(p, max_points)


def shipped_specs() -> dict[str, Path]:
    """The specs shipped in ``aimc.netlists`` (``netlists/sweeps/*.toml``) by name."""
    from importlib import resources

    folder = resources.files("aimc.netlists").joinpath("sweeps")
    return {Path(str(f)).stem: Path(str(f)) for f in folder.iterdir()
            if str(f).endswith(".toml")}


# ------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------

def _check_int(v: Any, src: str, key: str, low: int, high: int | None = None) -> None:
    if (isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low
            or (high is not None and v > high)):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise SpecError(f"must be an integer {bound}, got {v!r}", src, key)


def _check_value(target: Target, name: str, value: Any, src: str, key: str) -> Any:
    try:
        return target.params[name].check(value, name)
    except ValueError as e:
        raise SpecError(str(e).split(": ", 1)[-1], src, key) from None


def _grid_values(axis: GridAxis, src: str = "<spec>", key: str = "") -> list[Any]:
    _check_axis(axis, src, key)
    return axis.values() if isinstance(axis, Linspace | Logspace) else list(axis)


def _check_axis(axis: GridAxis, src: str = "<spec>", key: str = "") -> None:
    """A grid axis's form and ends, without expanding it."""
    if isinstance(axis, Linspace | Logspace):
        _check_int(axis.n, src, key + " (n)", 1)
        for v in (axis.start, axis.stop):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise SpecError(f"grid ends must be finite numbers, got {v!r}", src, key)
        if isinstance(axis, Logspace) and (axis.start <= 0 or axis.stop <= 0):
            raise SpecError(f"impossible range: logspace ends must be > 0, got "
                            f"[{axis.start!r}, {axis.stop!r}]", src, key)
        return
    if not isinstance(axis, list | tuple):
        raise SpecError(f"expected a list of values, {{ linspace = [start, stop, n] }} or "
                        f"{{ logspace = [start, stop, n] }}, got {axis!r}", src, key)
    if not axis:
        raise SpecError("the list of values is empty", src, key)


def _axis_len(axis: GridAxis) -> int:
    """Number of values of a grid axis, without expanding it."""
    if isinstance(axis, Linspace | Logspace):
        return int(axis.n)
    return len(axis)


def _map_unit(axis: SampleAxis, u: float, ptype: type) -> Any:
    if isinstance(axis, Choice):
        return axis.values[min(int(u * len(axis.values)), len(axis.values) - 1)]
    if ptype is int:
        lo, hi = int(math.ceil(axis.low)), int(math.floor(axis.high))
        if axis.scale == "log":
            v = math.exp(math.log(lo) + u * (math.log(hi + 1) - math.log(lo)))
        else:
            v = lo + u * (hi - lo + 1)
        return min(int(math.floor(v)), hi)
    if axis.scale == "log":
        return float(math.exp(math.log(axis.low) + u * (math.log(axis.high)
                                                         - math.log(axis.low))))
    return float(axis.low + u * (axis.high - axis.low))


def _axis_dict(a: SampleAxis) -> dict[str, Any]:
    if isinstance(a, Choice):
        return {"choices": list(a.values)}
    d: dict[str, Any] = {"low": a.low, "high": a.high}
    if a.scale != "linear":
        d["scale"] = a.scale
    return d


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v




_SECTIONS = {"sweep", "fixed", "grid", "sample", "analysis", "record"}
_SWEEP_KEYS = {"name", "generator", "description", "seed", "repeat", "timeout_s"}


def _from_dict(data: dict[str, Any], src: str) -> SweepSpec:
    for k in data:
        if k not in _SECTIONS:
            raise SpecError(f"unknown section; expected {', '.join(sorted(_SECTIONS))}", src,
                            f"[{k}]")
        if not isinstance(data[k], dict):
            raise SpecError("must be a table", src, f"[{k}]")
    sw = data.get("sweep")
    if sw is None:
        raise SpecError("missing [sweep] section with at least generator = \"...\"", src,
                        "[sweep]")
    for k in sw:
        if k not in _SWEEP_KEYS:
            raise SpecError(f"unknown key; expected {', '.join(sorted(_SWEEP_KEYS))}", src,
                            f"[sweep] {k}")
    if "generator" not in sw or not isinstance(sw["generator"], str):
        raise SpecError("missing or not a string", src, "[sweep] generator")
    fixed = dict(data.get("fixed", {}))
    analysis = None
    an = dict(data.get("analysis", {}))
    if "type" in an:
        analysis = an.pop("type")
        if not isinstance(analysis, str):
            raise SpecError("must be a string", src, "[analysis] type")
    for k, v in an.items():  # analysis settings are generator parameters
        if k in fixed:
            raise SpecError("also set in [fixed]", src, f"[analysis] {k}")
        fixed[k] = v
    grid: dict[str, GridAxis] = {}
    for k, v in data.get("grid", {}).items():
        grid[k] = _grid_axis(v, src, f"[grid] {k}")
    sample = None
    if "sample" in data:
        sd = dict(data["sample"])
        method = sd.pop("method", None)
        if method is None:
            raise SpecError("missing; choose one of " + ", ".join(METHODS), src,
                            "[sample] method")
        n = sd.pop("n", None)
        if n is None:
            raise SpecError("missing: the number of samples", src, "[sample] n")
        sseed = sd.pop("seed", None)
        params = {k: _sample_axis(v, src, f"[sample] {k}") for k, v in sd.items()}
        sample = Sampling(method, n, params, sseed)
    rec = data.get("record", {})
    for k in rec:
        if k not in ("outputs", "waveform_points"):
            raise SpecError("unknown key; expected outputs, waveform_points", src,
                            f"[record] {k}")
    record = rec.get("outputs")
    if record is not None and (not isinstance(record, list)
                               or not all(isinstance(x, str) for x in record)):
        raise SpecError("must be a list of output names", src, "[record] outputs")
    return SweepSpec(
        generator=sw["generator"], name=sw.get("name", Path(src).stem),
        description=sw.get("description", ""), fixed=fixed, grid=grid, sample=sample,
        seed=sw.get("seed"), repeat=sw.get("repeat", 1), analysis=analysis, record=record,
        waveform_points=rec.get("waveform_points", 256), timeout_s=sw.get("timeout_s", 300.0),
        source=src,
    )


def _grid_axis(v: Any, src: str, key: str) -> GridAxis:
    if isinstance(v, list):
        return v
    if isinstance(v, dict) and len(v) == 1 and next(iter(v)) in ("linspace", "logspace"):
        kind, args = next(iter(v.items()))
        if not isinstance(args, list) or len(args) != 3:
            raise SpecError(f"{kind} takes [start, stop, n], got {args!r}", src, key)
        cls = Linspace if kind == "linspace" else Logspace
        axis = cls(*args)
        _check_axis(axis, src, key)
        return axis
    raise SpecError(f"expected a list of values, {{ linspace = [start, stop, n] }} or "
                    f"{{ logspace = [start, stop, n] }}, got {v!r}", src, key)


def _sample_axis(v: Any, src: str, key: str) -> SampleAxis:
    if isinstance(v, dict) and set(v) == {"choices"} and isinstance(v["choices"], list):
        return Choice(list(v["choices"]))
    if isinstance(v, dict) and {"low", "high"} <= set(v) <= {"low", "high", "scale"}:
        return Range(v["low"], v["high"], v.get("scale", "linear"))
    raise SpecError(f"expected {{ low = ..., high = ... [, scale = \"log\"] }} or "
                    f"{{ choices = [...] }}, got {v!r}", src, key)
