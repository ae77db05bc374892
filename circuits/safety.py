"""Validation of every user string and number that reaches a netlist.

A netlist is never a place where user text can add SPICE lines: a ``.control``
block can run shell commands. Names, model names, library paths and corners are
checked here before any netlist is written.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# whitespace too: ngspice cuts a quoted .lib path at a space and the engine is left
# unusable for the rest of the process
_FORBIDDEN_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\"';\s]")


def check_name(value: str, what: str = "name") -> str:
    """A SPICE identifier: letters, digits and underscores, starting with a letter."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"invalid {what} {value!r}: use letters, digits and '_' only, starting with a "
            "letter (at most 64 characters); text that could add SPICE lines is refused"
        )
    return value


def check_library_path(value: str | Path, what: str = "library path") -> Path:
    """An existing model/library file whose path cannot break out of its ``.lib`` line."""
    text = str(value)
    if _FORBIDDEN_PATH_CHARS.search(text):
        raise ValueError(
            f"invalid {what} {text!r}: whitespace, newlines, quotes, ';' and control "
            "characters are refused in paths that reach a netlist (ngspice cannot include "
            "a path with spaces: copy or link the file to a path without them)"
        )
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"{what} {text!r} does not exist or is not a file")
    return path


def check_positive(value: float, what: str, allow_zero: bool = False) -> float:
    """A finite number > 0 (or >= 0 with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if math.isnan(v) or math.isinf(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{what} must be finite and {bound}, got {value!r}")
    return v


def check_finite(value: float, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return v


def check_array_positive(arr: np.ndarray, what: str) -> np.ndarray:
    """All entries finite and > 0; names the first bad value and its index."""
    a = np.asarray(arr, dtype=float)
    bad = ~np.isfinite(a) | (a <= 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{what} must be finite and > 0 everywhere; {what}{list(idx)} = {a[idx]!r}"
        )
    return a


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return value
