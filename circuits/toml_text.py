"""Writing TOML values (Python's ``tomllib`` only reads): one writer for every config."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def toml_value(v: Any) -> str:
    """A scalar, string, list or inline table as TOML text; non-finite numbers refused."""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"TOML cannot hold {v!r}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)          # a valid TOML basic string (escapes, newlines)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise ValueError(f"cannot write {v!r} to TOML")
