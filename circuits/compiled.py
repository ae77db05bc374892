"""The compiled cell device: ``osdi_cell.c`` built into an OSDI library for ngspice.

A non-linear cell written as a B-source costs ngspice an evaluation of its value
tree plus one derivative tree per controlling node in every Newton iteration
(5.5-8.7 µs per device and iteration, against 0.1 µs for a resistor). The same laws
(:class:`aimc.circuits.devices.RramDevice`, :class:`~aimc.circuits.devices.PcmDevice`)
written in C and loaded with ngspice's ``osdi`` command are evaluated as compiled
code. This module builds that library:

* with the system C compiler (``cc``, else ``gcc`` or ``clang``),
  ``-O2 -shared -fPIC``, into a per-user cache (``$XDG_CACHE_HOME/aimc`` or
  ``~/.cache/aimc``) under a name keyed by a hash of the C source, the compiler and
  its flags: a changed source or compiler builds a new file;
* into a temporary file in the cache folder, renamed into place when complete (a
  build killed half-way never leaves a broken library; processes that build at the
  same time each rename a complete file over the same name);
* once per process (the path is remembered).

Without a C compiler, or when the build fails, :func:`osdi_library` returns None and
logs one warning: the circuits then use B-sources (same laws, slower). The path
it returns is the only one aimc hands to ngspice's ``osdi`` command, and it is
checked to consist of plain path characters (:func:`safe_library_path`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from aimc.circuits.devices import ARG_CLAMP

SOURCE = Path(__file__).with_name("osdi_cell.c")
"""The C source of the device (shipped as package data)."""

MODEL_TYPE = "aimccell"
"""The device's name in ngspice (``.model <name> aimccell ...``)."""

FLAGS = ("-O2", "-shared", "-fPIC")

_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+-]{1,1000}")      # used with fullmatch only
_log = logging.getLogger("aimc.circuits.compiled")
_built: dict[str, Path | None] = {}
_warned = False


def cache_dir() -> Path:
    """The per-user cache folder of compiled libraries."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aimc"


def compiler() -> str | None:
    """The C compiler aimc uses (absolute path), or None if there is none."""
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def safe_library_path(path: str | os.PathLike[str]) -> str:
    """``path`` as text if it is an absolute path of plain characters (letters, digits,
    ``_ . / + -``) naming an existing ``.osdi`` file; else ValueError. ngspice reads
    the rest of its command line as the file name, so nothing else may reach it."""
    text = os.fspath(path)
    if not _SAFE_PATH.fullmatch(text) or not text.endswith(".osdi") or ".." in text \
            or not Path(text).is_file():
        raise ValueError(
            f"refusing OSDI library path {text!r}: only an existing absolute '.osdi' "
            "path of letters, digits and '_ . / + -' is passed to ngspice (set "
            "XDG_CACHE_HOME to such a folder)")
    return text


def _compiler_id(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60)
        version = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = ""
    return f"{os.path.realpath(cc)}\n{version}"


def _defines() -> list[str]:
    return [f"-DAIMC_ARG_CLAMP={float(ARG_CLAMP)!r}"]


def _warn_once(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        _log.warning("compiled cell device unavailable (%s): non-linear cells are "
                     "simulated as ngspice B-sources (same laws, slower)", reason)


def build(folder: Path | None = None) -> Path:
    """Compile the device into ``folder`` (default :func:`cache_dir`) unless a library
    of the same source, compiler and flags is there; return its path. Raises
    RuntimeError (no compiler, failed build) or OSError (folder not writable)."""
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
    src = SOURCE.read_bytes()
    args = [*FLAGS, *_defines()]
    key = hashlib.sha256(src + b"\0" + _compiler_id(cc).encode() + b"\0"
                         + " ".join(args).encode()).hexdigest()[:20]
    folder = cache_dir() if folder is None else folder
    target = folder / f"aimc-cell-{key}.osdi"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".aimc-cell-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        proc = subprocess.run([cc, *args, "-o", tmp, str(SOURCE), "-lm"],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{cc} failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)          # atomic: a complete file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def osdi_library() -> Path | None:
    """The compiled device library (built on first use, then cached), or None when it
    cannot be built here (one warning is logged; callers fall back to B-sources)."""
    folder = str(cache_dir())
    if folder in _built:
        return _built[folder]
    try:
        path: Path | None = Path(safe_library_path(build(Path(folder))))
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        _warn_once(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        path = None
    _built[folder] = path
    return path
