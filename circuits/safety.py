"""Validation of every user string and number that reaches a netlist.

A netlist is never a place where user text can add SPICE lines: a ``.control``
block can run shell commands (``shell ...``), in the shared engine as in
``ngspice -b``. Every string formatted into a netlist line goes through
:func:`netlist_text` (paths through :func:`netlist_path`) at the moment it is
formatted, so a value that changed after it was checked (a symlink, a relative
path that resolves elsewhere) is checked again as written.

A PDK model library is itself executable content to ngspice: a ``.control``
block *inside* an included file runs too. :func:`scan_library` refuses such a
library unless the caller trusts it (``trust_library=True``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")      # used with fullmatch only
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""Every character at which ``str.splitlines()`` breaks a line (a test checks the set)."""
_NETLIST_FORBIDDEN = re.compile("[" + re.escape(LINE_BREAKS + "\x00\"'") + "]")
# whitespace too: ngspice cuts a quoted .lib path at a space and the engine is left
# unusable for the rest of the process
_FORBIDDEN_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\"';\s\u2028\u2029]")


class NetlistInjectionError(ValueError):
    """Text that would add or break SPICE lines was about to reach a netlist."""


def netlist_text(value: str, what: str) -> str:
    """The one gate for text formatted into a netlist line: returns ``value`` unchanged,
    or refuses any line break of ``str.splitlines()``'s set, NUL and quotes."""
    if not isinstance(value, str):
        raise NetlistInjectionError(f"{what} must be text, got {type(value).__name__}")
    bad = _NETLIST_FORBIDDEN.search(value)
    if bad:
        raise NetlistInjectionError(
            f"invalid {what} {value!r}: it contains {bad.group()!r} at position "
            f"{bad.start()}; line breaks, NUL and quotes could add SPICE lines (a .control "
            "block runs shell commands) and are refused in anything written to a netlist"
        )
    return value


def netlist_path(value: str | Path, what: str = "library path") -> str:
    """``value`` as written into ``.include``/``.lib``: checked as the exact text that
    goes between the quotes, then quoted."""
    text = netlist_text(str(value), what)
    if _FORBIDDEN_PATH_CHARS.search(text):
        raise NetlistInjectionError(
            f"invalid {what} {text!r}: whitespace, newlines, quotes, ';' and control "
            "characters are refused in paths that reach a netlist (ngspice cannot include "
            "a path with spaces: copy or link the file to a path without them)"
        )
    return f'"{text}"'


def check_name(value: str, what: str = "name") -> str:
    """A SPICE identifier: letters, digits and underscores, starting with a letter."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise NetlistInjectionError(
            f"invalid {what} {value!r}: use letters, digits and '_' only, starting with a "
            "letter (at most 64 characters); text that could add SPICE lines is refused"
        )
    return value


def check_library_path(value: str | Path, what: str = "library path",
                       trust_library: bool = False) -> Path:
    """An existing model/library file whose path, as typed and as resolved (symlinks,
    relative parts), cannot break out of its ``.lib`` line. Unless ``trust_library``,
    its content is scanned too (:func:`scan_library`)."""
    text = str(value)
    netlist_path(text, what)
    path = Path(text).expanduser().resolve()
    if str(path) != text:
        try:
            netlist_path(str(path), "resolved path")
        except NetlistInjectionError as e:
            raise NetlistInjectionError(f"{what} {text!r} resolves (through links or "
                                        f"relative parts) to a path that is refused: {e}"
                                        ) from None
    if not path.is_file():
        raise ValueError(f"{what} {text!r} does not exist or is not a file")
    if not trust_library:
        scan_library(path)
    return path


# ------------------------------------------------------------------ library content
# Lines that make ngspice run commands: a .control (or .exec) block, a shell command,
# a script marker. Matched after leading blanks, case-insensitively.
_EXECUTES = re.compile(r"[ \t]*(\.control|\.endc|\.exec|shell\b|\*\s*ng_script)", re.I)
_INCLUDE = re.compile(r"[ \t]*\.(include|inc|lib)\b[ \t]*(.*)", re.I)
MAX_LIBRARY_BYTES = 256 * 2**20
"""Largest library file the scan reads (a PDK's model files are a few MB)."""


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, line with its '+' continuation lines joined)."""
    out: list[tuple[int, str]] = []
    for no, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("+") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.lstrip()[1:])
        else:
            out.append((no, line))
    return out


def scan_library(path: str | Path) -> None:
    """Refuse a model library that would run commands in ngspice: a ``.control``/``.exec``
    block or ``shell`` line, or an ``.include``/``.lib`` of a file outside the library's
    own folder (followed, and scanned, when inside). Pass ``trust_library=True`` to
    :class:`~aimc.circuits.models.MosfetModels` for a library you have reviewed."""
    root = Path(path).resolve()
    folder = root.parent
    hint = ("a model library is executable content to ngspice; review it and pass "
            "trust_library=True (TOML: trust_library = true) if you trust it")
    todo, seen = [root], set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if f.stat().st_size > MAX_LIBRARY_BYTES:
            raise ValueError(f"model library {str(f)!r} is larger than "
                             f"{MAX_LIBRARY_BYTES >> 20} MiB: not scanned; {hint}")
        text = f.read_bytes().decode("latin-1")
        for no, line in _logical_lines(text):
            if _EXECUTES.match(line):
                raise ValueError(f"model library {str(f)!r} line {no}: {line.strip()!r} "
                                 f"makes ngspice run commands; refused: {hint}")
            m = _INCLUDE.match(line)
            if not m:
                continue
            args = m.group(2).split()
            quoted = bool(args) and args[0][:1] in "\"'"
            if m.group(1).lower() == "lib" and len(args) == 1 and not quoted:
                continue                          # '.lib section' opens a section here
            if not args:
                continue
            target = (f.parent / Path(args[0].strip("\"'")).expanduser()).resolve()
            if not target.is_relative_to(folder):
                raise ValueError(f"model library {str(f)!r} line {no}: {line.strip()!r} "
                                 f"includes a file outside {str(folder)!r}; refused: {hint}")
            if target.is_file():
                todo.append(target)


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
