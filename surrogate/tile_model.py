"""The tile-model HDF5 file: fitted surrogates as plain arrays, versioned.

Layout (format ``aimc.tile_model``, version :data:`FORMAT_VERSION`)::

    /                       attrs: format, format_version, created_utc, aimc_version,
                            sources (JSON list of the sweep files fitted: name, spec_hash,
                            n_points), circuits (JSON list), fit_command
    /crossbar/              attrs: kind="crossbar"
        devices, encodings, terms      (S) names
        coef          (n_dev, 4)       learned coefficient of each physical term
        power_scale   (n_dev,)         learned scale of the read power
        n_points      (n_dev,)
        domain_names/domain_lo/domain_hi   validity domain (rows, cols, wire R, ...)
        device_params_json             device-law parameters used in the fit
        validation/   attrs: rms_lsb, p99_lsb, max_lsb, n_points, full_scale, ...
    /dac/   drivers, device, device_params_json, v_read_v,
            coef_t_eff (n_drivers, 2 signs, 3) [c0, c1, c2 of t_eff/t_lsb =
            c0·|code|·η + c1·η + c2], coef_energy (n, 3), domain_*, validation/
    /adc/   keys (condition: variant|lin|vdd|T), abc (n, 3) [A Hz/A, B 1/A, C Hz],
            knots_a (n, K), resid_hz (n, 2 signs, K), energy (n, 2 signs, 2)
            [P_static W, J/C], i_max_a, window_s,
            line_error (n, 2 signs, 2) [d0 V, d1 V/sqrt(A)], validation/

No pickles: every value is a NumPy array or an attribute. Loading checks the format
name and version and every required dataset, and names what is missing. Before any
data is read, every declared shape, size, filter and link is checked against the
format's limits (:data:`MAX_ELEMENTS`, :data:`MAX_BYTES`), so a small file declaring a
huge or highly compressed dataset is refused without allocating or decompressing it.
After reading, the values are checked: finite, positive where physical, validity
domains ordered (lo <= hi).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from aimc.surrogate.adc_model import CcoAdcSurrogate
from aimc.surrogate.crossbar_model import CrossbarSurrogate
from aimc.surrogate.dac_model import PwmDacSurrogate

FORMAT = "aimc.tile_model"
FORMAT_VERSION = 1
REQUIRED = {
    "crossbar": ("devices", "encodings", "coef", "power_scale", "n_points", "domain_names",
                 "domain_lo", "domain_hi", "device_params_json", "alpha"),
    "dac": ("drivers", "coef_t_eff", "coef_energy", "domain_lo", "domain_hi", "alpha",
            "device", "device_params_json", "v_read_v"),
    "adc": ("keys", "abc", "knots_a", "resid_hz", "energy", "i_max_a", "window_s",
            "line_error", "alpha"),
}
CLASSES = {"crossbar": CrossbarSurrogate, "dac": PwmDacSurrogate, "adc": CcoAdcSurrogate}
MAX_ELEMENTS = 2**20
"""Largest dataset of a tile model (elements); the shipped one's largest has 16."""
MAX_BYTES = 64 * 2**20
"""Largest total declared size of a tile model's datasets and attributes (bytes)."""
MAX_MEMBERS = 256
"""Most members (datasets, groups) in one group."""
# HDF5 filters a tile model may use: deflate (gzip), shuffle, fletcher32, lzf (32000)
_FILTERS = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32,
            32000}
# values that must be > 0 (physical scales), >= 0, and (lo, hi) pairs
_POSITIVE = {"crossbar": ("alpha", "power_scale"), "dac": ("alpha", "v_read_v"),
             "adc": ("alpha", "i_max_a", "window_s")}
_NON_NEGATIVE = {"crossbar": ("n_points",), "adc": ("energy",)}


class TileModelError(ValueError):
    """A tile-model file cannot be used (other format or version, truncated, incomplete)."""


@dataclass
class TileModel:
    """Fitted surrogates of a tile (any subset of crossbar, DAC, ADC)."""

    crossbar: CrossbarSurrogate | None = None
    dac: PwmDacSurrogate | None = None
    adc: CcoAdcSurrogate | None = None
    validation: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def circuits(self) -> list[str]:
        return [c for c in ("crossbar", "dac", "adc") if getattr(self, c) is not None]

    def save(self, path: str | Path, force: bool = False) -> None:
        """Write atomically (temporary file + rename); refuses to overwrite unless
        ``force``. A symlink is resolved first: its target is replaced, the link stays.
        A file with several hard links is refused: the rename would give this name a
        new file and leave the other names on the old one."""
        path = Path(path).expanduser().resolve()
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite")
        if path.is_file() and (links := path.stat().st_nlink) > 1:
            raise FileExistsError(
                f"{path} has {links} hard links: replacing it would split them (this name "
                "gets the new model, the others keep the old one); refusing. Give the "
                "file one name (copy it, remove the other links) or save elsewhere.")
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["created_utc"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
                f.attrs["aimc_version"] = _version()
                f.attrs["sources"] = json.dumps(self.sources)
                f.attrs["circuits"] = json.dumps(self.circuits)
                for k, v in self.attrs.items():     # those of a loaded model too
                    if k not in f.attrs:
                        f.attrs[k] = json.dumps(v) if isinstance(v, dict | list) else v
                for name in self.circuits:
                    g = f.create_group(name)
                    g.attrs["kind"] = name
                    for k, v in getattr(self, name).to_arrays().items():
                        g.create_dataset(k, data=v)
                    vg = g.create_group("validation")
                    for k, v in self.validation.get(name, {}).items():
                        if isinstance(v, dict | list):
                            vg.attrs[k] = json.dumps(v)
                        elif v is not None:
                            vg.attrs[k] = v
            tmp.replace(path)
        finally:
            if tmp.exists():
                tmp.unlink()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("aimc")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "unknown"


def load_tile_model(path: str | Path) -> TileModel:
    """Read a tile-model file; raises :class:`TileModelError` naming the problem."""
    path = Path(path)
    if not path.exists():
        raise TileModelError(f"tile model {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise TileModelError(f"{path} is not a readable HDF5 file (truncated or not HDF5): "
                             f"{e}") from None
    with f:
        fmt = f.attrs.get("format")
        if fmt != FORMAT:
            raise TileModelError(f"{path} is not an aimc tile model (format {fmt!r}, "
                                 f"expected {FORMAT!r})")
        ver = _attr(f.attrs.get("format_version"))
        if ver != FORMAT_VERSION:
            raise TileModelError(f"{path} has tile-model format version {ver!r}; this aimc "
                                 f"reads version {FORMAT_VERSION}: refit it with `aimc fit`")
        _check_limits(f, path)
        try:
            circuits = json.loads(f.attrs["circuits"])
            model = TileModel(sources=json.loads(f.attrs.get("sources", "[]")))
            for name in circuits:
                if name not in f:
                    raise TileModelError(f"{path}: group /{name} is missing (truncated file?)")
                g = f[name]
                missing = [k for k in REQUIRED[name] if k not in g]
                if missing:
                    raise TileModelError(f"{path}: /{name} lacks dataset(s) "
                                         f"{', '.join(missing)}")
                arrays = {k: g[k][()] for k in g if isinstance(g[k], h5py.Dataset)}
                _check_values(path, name, arrays)
                try:
                    setattr(model, name, CLASSES[name].from_arrays(arrays))
                except (ValueError, KeyError) as e:
                    raise TileModelError(f"{path}: /{name} is inconsistent: {e}") from None
                if "validation" in g:
                    model.validation[name] = {k: _attr(v) for k, v in
                                              g["validation"].attrs.items()}
            model.attrs = {k: _attr(v) for k, v in f.attrs.items()}
        except TileModelError:
            raise
        except (KeyError, OSError, RuntimeError) as e:
            raise TileModelError(f"{path}: cannot read the tile model ({e}); truncated or "
                                 "damaged file") from None
    return model


def _check_limits(f: h5py.File, path: Path) -> None:
    """Refuse links out of the file, unknown filters, and declared shapes or sizes past
    the format's limits, reading no data."""
    total = 0

    def walk(g: h5py.Group, where: str) -> None:
        nonlocal total
        for aname in g.attrs:
            total += g.attrs.get_id(aname).get_storage_size()
        if len(g) > MAX_MEMBERS:
            raise TileModelError(f"{path}: {where or '/'} has {len(g)} members (limit "
                                 f"{MAX_MEMBERS})")
        for k in g:
            name = f"{where}/{k}"
            link = g.get(k, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise TileModelError(f"{path}: {name} is a {type(link).__name__}; a tile model "
                                     "keeps all its data in the file")
            obj = g[k]
            if isinstance(obj, h5py.Group):
                walk(obj, name)
                continue
            n = int(np.prod(obj.shape, dtype=object)) if obj.shape is not None else 0
            plist = obj.id.get_create_plist()
            for i in range(plist.get_nfilters()):
                code, _, _, fname = plist.get_filter(i)
                if code not in _FILTERS:
                    raise TileModelError(f"{path}: {name} uses HDF5 filter {code} "
                                         f"({fname.decode(errors='replace')}); a tile model "
                                         "is read only with gzip, shuffle, fletcher32, lzf")
            if n > MAX_ELEMENTS:
                raise TileModelError(f"{path}: {name} declares {n} elements (shape "
                                     f"{obj.shape}); a tile model's limit is {MAX_ELEMENTS}: "
                                     "refused before reading")
            total += n * obj.dtype.itemsize
            for aname in obj.attrs:
                total += obj.attrs.get_id(aname).get_storage_size()
            if total > MAX_BYTES:
                raise TileModelError(f"{path}: its datasets declare more than {MAX_BYTES >> 20} "
                                     f"MiB (at {name}); refused before reading")

    walk(f, "")


def _check_values(path: Path, name: str, arrays: dict[str, np.ndarray]) -> None:
    """Finite numbers; positive physical scales; domains with lo <= hi."""
    def bad(k: str, what: str, a: np.ndarray, mask: np.ndarray) -> TileModelError:
        idx = tuple(int(i) for i in np.argwhere(mask)[0])
        return TileModelError(f"{path}: /{name}/{k}{list(idx)} = {a[idx]!r} {what}; the "
                              "tile model is damaged or was not fitted by aimc: refit it")

    for k, a in arrays.items():
        if a.dtype.kind not in "fiu":
            continue
        a = np.atleast_1d(a)
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise bad(k, "is not finite", a, ~np.isfinite(a))
        if k in _POSITIVE.get(name, ()) and np.any(a <= 0):
            raise bad(k, "must be > 0", a, a <= 0)
        if k in _NON_NEGATIVE.get(name, ()) and np.any(a < 0):
            raise bad(k, "must be >= 0", a, a < 0)
    lo, hi = arrays.get("domain_lo"), arrays.get("domain_hi")
    if lo is not None and hi is not None and np.shape(lo) == np.shape(hi):
        wrong = np.atleast_1d(np.asarray(lo) > np.asarray(hi))
        if wrong.any():
            raise bad("domain_lo", f"exceeds domain_hi ({np.atleast_1d(hi)[wrong][0]!r})",
                      np.atleast_1d(lo), wrong)
    for k in ("window_s",):                       # (lo, hi) pairs per row
        a = arrays.get(k)
        if a is not None and np.ndim(a) == 2 and a.shape[1] == 2 and np.any(a[:, 0] > a[:, 1]):
            raise bad(k, "has lo > hi", a, np.c_[a[:, 0] > a[:, 1], np.zeros(len(a), bool)])
    knots = arrays.get("knots_a")
    if knots is not None and np.ndim(knots) == 2 and np.any(np.diff(knots, axis=1) < 0):
        raise bad("knots_a", "is not in increasing order", knots,
                  np.c_[np.diff(knots, axis=1) < 0, np.zeros(len(knots), bool)])


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    if isinstance(v, np.generic):
        return v.item()
    return v


def default_tile_model_path() -> Path:
    """The shipped default model (HERMES-like 256x256 PCM tile, CCO-ADC, PWM DAC)."""
    return Path(__file__).with_name("data") / "default_tile.h5"


def load_default_tile_model() -> TileModel:
    return load_tile_model(default_tile_model_path())
