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
name and version and every required dataset, and names what is missing.
"""

from __future__ import annotations

import datetime as _dt
import json
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
        ``force``."""
        path = Path(path)
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite")
        tmp = path.with_name(path.name + ".tmp")
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["created_utc"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
                f.attrs["aimc_version"] = _version()
                f.attrs["sources"] = json.dumps(self.sources)
                f.attrs["circuits"] = json.dumps(self.circuits)
                for k, v in self.attrs.items():
                    f.attrs[k] = v
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
