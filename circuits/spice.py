"""The one module that talks to ngspice (through PySpice's shared-library binding).

Everything PySpice- or ngspice-version specific lives here, so that a switch to
another binding (InSpice, plain ctypes) touches this file only. Handled here
(see ../shared/NOTES-ngspice.md):

* PySpice 1.5 logs "Unsupported Ngspice version 39" on every load: silenced.
* The shared library is one simulator per process and not re-entrant: one engine
  per process (:func:`engine`), parallelism is done with processes.
* PySpice's ``Plot`` fetches every vector of a result; we read only the saved
  vectors, straight from ``ngGet_Vec_Info`` (no NumPy-2 scalar pitfalls either).
* Simulations run in ngspice's background thread so that a per-simulation timeout
  can halt them. The caller sleeps on an event that ngspice's own
  ``BGThreadRunning`` callback sets when the thread exits (no polling: the wait
  costs no CPU and ends the moment the result is there); ngspice's own error text
  is raised as a typed exception. The callback's flag is ngspice's ``fl_exited``
  (``sharedspice.c``): False when the thread starts, True when it has finished.
  One exception: a linear ``.op`` re-solved with altered values (a sweep's small
  points) runs in the calling thread, as it cannot run away.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from aimc.circuits.compiled import MODEL_TYPE, osdi_library, safe_library_path

INSTALL_HELP = (
    "ngspice (with its shared library) is required for SPICE simulation but was not found.\n"
    "Install it with one of:\n"
    "  Debian/Ubuntu:  sudo apt-get install ngspice libngspice0 libngspice0-dev\n"
    "  macOS:          brew install ngspice\n"
    "  conda:          conda install -c conda-forge ngspice ngspice-lib\n"
    "or point NGSPICE_LIBRARY_PATH at libngspice.so(.0). `make test` installs it via apt "
    "when run as root."
)


class SpiceError(RuntimeError):
    """An ngspice simulation failed; ``ngspice_message`` holds ngspice's own text."""

    def __init__(self, summary: str, ngspice_message: str = "") -> None:
        self.ngspice_message = ngspice_message.strip()
        text = summary
        if self.ngspice_message:
            text = f"{summary}\nngspice said:\n{self.ngspice_message}"
        super().__init__(text)


class NgspiceNotFoundError(SpiceError):
    """The ngspice shared library is not installed."""


class NetlistError(SpiceError):
    """ngspice refused the netlist (syntax, unknown element, bad parameter)."""


class MissingModelError(NetlistError):
    """A device references a model or subcircuit that is not defined."""


class ConvergenceError(SpiceError):
    """No convergence (operating point or time step too small)."""


class SingularMatrixError(ConvergenceError):
    """The circuit matrix is singular (floating node, loop of voltage sources)."""


class SpiceTimeoutError(SpiceError):
    """The simulation ran past its timeout and was halted."""


_MISSING_MODEL = re.compile(
    r"(unable to find definition of model|could not find a valid modelname|"
    r"unknown subckt|no such model|model .* not found|unknown model)",
    re.I,
)
_SINGULAR = re.compile(r"singular matrix", re.I)
_CONVERGENCE = re.compile(
    r"(timestep too small|iteration limit reached|no convergence|gmin stepping failed|"
    r"source stepping failed|transient op failed|op failed)",
    re.I,
)
_ERROR = re.compile(r"(^|\s)error\b|unknown|fatal|cannot|can't|not parsed", re.I)
# Lines ngspice prints that contain alarming words but are harmless.
_BENIGN = re.compile(r"(can't find init file|no compatibility mode|Using SPARSE|"
                     r"^\s*$|Circuit: |Reference value|No. of Data Rows|Note: )", re.I)


def error_lines(log: str) -> list[str]:
    """The lines of an ngspice log that report a problem (harmless notes skipped)."""
    return [line.strip() for line in log.splitlines()
            if not _BENIGN.search(line)
            and (_ERROR.search(line) or _MISSING_MODEL.search(line) or _SINGULAR.search(line)
                 or _CONVERGENCE.search(line))]


def raise_for(lines: list[str], stage: str) -> None:
    """Raise the typed :class:`SpiceError` that ngspice's error ``lines`` describe."""
    text = "\n".join(lines)
    if _MISSING_MODEL.search(text):
        raise MissingModelError(f"ngspice: missing model or subcircuit ({stage})", text)
    if _SINGULAR.search(text):
        raise SingularMatrixError(f"ngspice: singular matrix ({stage})", text)
    if _CONVERGENCE.search(text):
        raise ConvergenceError(f"ngspice: no convergence ({stage})", text)
    if stage == "load":
        raise NetlistError("ngspice refused the netlist", text)
    raise SpiceError(f"ngspice: simulation failed ({stage})", text)


def ngspice_library_path() -> str | None:
    """Path of the ngspice shared library, or None if it is not installed."""
    env = os.environ.get("NGSPICE_LIBRARY_PATH")
    if env:
        return env if Path(env).exists() else None
    for candidate in (
        "/usr/lib/x86_64-linux-gnu/libngspice.so",
        "/usr/lib/aarch64-linux-gnu/libngspice.so",
        "/usr/lib/libngspice.so",
        "/usr/local/lib/libngspice.so",
        "/opt/homebrew/lib/libngspice.dylib",
    ):
        if Path(candidate).exists():
            return candidate
    found = ctypes.util.find_library("ngspice")
    if found:
        return found
    # Only the versioned runtime library (no -dev package): use it directly.
    for base in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"):
        p = Path(base) / "libngspice.so.0"
        if p.exists():
            return str(p)
    return None


def ngspice_executable() -> str | None:
    """Path of the ``ngspice`` batch executable (used by benchmarks), if installed."""
    return shutil.which("ngspice")


def require_ngspice() -> str:
    """Return the library path or raise :class:`NgspiceNotFoundError` with install help."""
    path = ngspice_library_path()
    if path is None:
        raise NgspiceNotFoundError(INSTALL_HELP)
    return path


@dataclass
class SimResult:
    """Vectors read back from one simulation, as float64 NumPy arrays, plus timings."""

    vectors: dict[str, np.ndarray]
    sim_time_s: float
    load_time_s: float
    log: str = field(default="", repr=False)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.vectors[name.lower()]

    def scalar(self, name: str) -> float:
        """Value of a single-point vector (operating point) as a Python float."""
        arr = self[name]
        return float(np.asarray(arr).reshape(-1)[0])


# A loaded operating-point circuit is reused when the next netlist differs from it only
# in the plain numeric values of resistors and independent sources: ngspice's `alter`
# sets each changed value (~10 µs per command, against ~10 µs per netlist line to parse
# the whole circuit again). Only linear elements are allowed, so the solution does not
# depend on Newton's starting point (the previous solution); every op re-pivots its
# matrix (NIiter reorders at MODEINITJCT), and the values are written so that `alter`
# reads the same doubles as the netlist parser (:func:`alter_value`): the result is the
# same double-precision numbers as a fresh load (tests/circuits/test_spice_reuse.py).
_REUSE_ELEMENTS = frozenset("rviclh")          # h: the crossbar's unity current probes
_REUSE_DOT = frozenset((".title", ".options", ".option", ".op", ".end", ".temp", ".save"))
_NUMBER_PARTS = re.compile(r"([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?")
_NAME_BAD = frozenset("=(),{}'\"")


def alter_value(token: str) -> str | None:
    """``token`` (a plain decimal number) as all its digits times a power of ten:
    ``-12.5e3`` -> ``-125e2``; None if it is not a plain number. ngspice's netlist
    parser (``INPevaluate``) computes a number as its digits read as one integer times
    ``pow(10, exponent)``; the command parser behind `alter` (``ft_numparse``) adds the
    fraction separately, which gives another double for about one value in five.
    Written like this, the two agree."""
    m = _NUMBER_PARTS.fullmatch(token)
    if m is None or not (m.group(2) or m.group(3)):
        return None
    sign, whole, frac, exp = m.group(1), m.group(2), m.group(3) or "", int(m.group(4) or 0)
    return f"{sign}{(whole + frac).lstrip('0') or '0'}e{exp - len(frac)}"


def reusable(netlist: str) -> bool:
    """Whether ``netlist`` (title line first) is an ``.op`` of linear R, V, I, C, L
    (and plain CCVS) elements only, so that its loaded circuit can be re-solved with
    other values by `alter`."""
    has_op = False
    for line in netlist.splitlines()[1:]:       # ngspice reads the first line as a title
        s = line.lstrip()
        if not s or s[0] == "*":
            continue
        c = s[0].lower()
        if c == ".":
            word = s.split(None, 1)[0].lower()
            if word not in _REUSE_DOT:
                return False
            has_op |= word == ".op"
        elif c not in _REUSE_ELEMENTS or (c == "h" and len(s.split()) != 5):
            return False            # a CCVS only as a plain linear `H n+ n- vsrc gain`
    return has_op


# "name n1 n2 " (a line without its value, single spaces) -> the start of its `alter`
# command, or "" when such a line cannot be altered: a sweep's points share these
_ALTER_HEADS: dict[str, str] = {}


def _alter_head(head: str) -> str:
    cmd = _ALTER_HEADS.get(head)
    if cmd is None:
        t = head.split(" ")
        ok = (len(t) == 4 and not t[3] and all(t[:3]) and t[0][0] in "rRvViI"
              and _NAME_BAD.isdisjoint(t[0]) and head.isascii() and head.isprintable())
        cmd = "" if not ok else (f"alter {t[0]} = " if t[0][0] in "rR"
                                 else f"alter {t[0]} dc = ")
        if len(_ALTER_HEADS) > 200_000:
            _ALTER_HEADS.clear()
        _ALTER_HEADS[head] = cmd
    return cmd


def alter_commands(loaded: list[str], lines: list[str]) -> list[bytes] | None:
    """The `alter` commands that turn the loaded circuit (``loaded``, its netlist lines,
    :func:`reusable`) into ``lines``, or None when they differ in anything but the
    plain numeric value of an ``R``/``V``/``I`` line of the form ``name n1 n2 value``
    (a name, a node, a non-numeric value, a dot line, the title, the number of lines)."""
    if len(loaded) != len(lines) or not lines or loaded[0] != lines[0]:
        return None
    cmds = []
    for old, new in zip(loaded, lines, strict=True):
        if old == new:
            continue
        # the common case, lines written with single spaces: the checks of the part
        # before the value are made once per distinct such part (_alter_head)
        head, _, token = new.rpartition(" ")
        head += " "
        was = old[len(head):]
        if len(head) > 1 and old.startswith(head) and was and was.isprintable() \
                and " " not in was:
            cmd = _alter_head(head)
            value = alter_value(token) if cmd else None
            if value is not None and (cmd[6] not in "rR" or float(value) > 0):
                cmds.append((cmd + value).encode("ascii"))
                continue
        a, b = old.split(), new.split()
        if len(a) != 4 or len(b) != 4 or a[:3] != b[:3] or b[0][0] not in "rRvViI" \
                or not _NAME_BAD.isdisjoint(b[0]):
            return None
        value = alter_value(b[3])
        if value is None:
            return None
        if b[0][0] in "rR":
            if not float(value) > 0:   # ngspice treats a zero resistor specially at parse
                return None
            cmds.append(f"alter {b[0]} = {value}".encode("ascii"))
        else:
            cmds.append(f"alter {b[0]} dc = {value}".encode("ascii"))
    return cmds


_OSDI_MODEL = re.compile(rf"^[ \t]*\.model[ \t]+\S+[ \t]+{MODEL_TYPE}\b", re.I | re.M)


NGSPICE_THREADS = 1
"""OpenMP threads of ngspice's device loads (its ``num_threads``). ngspice's own init
file sets 8, and Debian's build evaluates OSDI devices (the compiled cell) in OpenMP
loops: on 2 cores a 32x32 HERMES PCM 1T1R transient took 9-10 s wall and 15 s CPU with
8 threads, 2.3-3.1 s with one. aimc runs in parallel over processes (sweep workers,
studies) instead."""


def needs_osdi(netlist: str) -> bool:
    """Whether ``netlist`` uses the compiled cell device (a ``.model ... aimccell`` line):
    ngspice must load its library (:mod:`aimc.circuits.compiled`) first."""
    return MODEL_TYPE in netlist and _OSDI_MODEL.search(netlist) is not None


def _osdi_path() -> str:
    """The compiled device's library, checked again before its path reaches ngspice."""
    path = osdi_library()
    if path is None:
        raise SpiceError("the netlist uses the compiled cell device (aimccell), but its "
                         "library could not be built here (see the logged warning); use "
                         "device_backend='bsource'")
    return safe_library_path(path)


def batch_text(netlist: str) -> str:
    """``netlist`` as a file for ``ngspice -b``: ending in ``.end``, and if it uses the
    compiled cell device, with a ``.control`` block whose ``pre_osdi`` line loads the
    library before ngspice parses the circuit (and :data:`NGSPICE_THREADS` threads)."""
    text = netlist.rstrip()
    if text.lower().endswith(".end"):
        text = text[:-4].rstrip()
    if needs_osdi(netlist):
        text += (f"\n.control\npre_osdi {_osdi_path()}\n"
                 f"set num_threads={NGSPICE_THREADS}\n.endc")
    return text + "\n.end\n"


_SPICE_SCALE = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3,
                "meg": 1e6, "g": 1e9, "t": 1e12, "mil": 25.4e-6}
_SPICE_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[fpnumkgt])?",
                           re.I)
_TRAN_LINE = re.compile(r"^\s*\.tran\s+(\S+)\s+(\S+)", re.I | re.M)


def tran_stop_time(netlist: str) -> float | None:
    """The stop time (s) of a netlist's ``.tran`` line, as ngspice reads it, or None."""
    m = _TRAN_LINE.search(netlist)
    if m is None:
        return None
    num = _SPICE_NUMBER.match(m.group(2))
    if num is None:
        return None
    return float(num.group(1)) * _SPICE_SCALE.get((num.group(2) or "").lower(), 1.0)


@dataclass(frozen=True)
class StepPlan:
    """Times (s, ascending) a transient must take a time point at, and its largest
    step; see :class:`_StepControl`. Used by the in-process engine only (``ngspice
    -b`` has no callback and runs with ngspice's own step control)."""

    points: np.ndarray
    max_step_s: float = float("inf")


class _StepControl:
    """Time points a transient must land on, enforced through ngspice's
    ``GetSyncData`` callback (``sharedsync`` in ``sharedspice.c``, called by
    ``dctran.c`` before every time step, ``loc`` 0, and after it, ``loc`` 1).

    Why: after every breakpoint (every PWL corner) ngspice restarts at 0.1 x the
    smaller of the previous step and the distance to the next breakpoint, and its
    step can at most double per time point (``CKTtrunc``), so a 20 ps edge followed
    by a 1 ns flat costs ~14 time points. With a list of the times that matter, the
    step before each point goes straight to the next listed time, unless ngspice's
    own truncation-error estimate (the value it proposes after a step, when that is
    less than the doubling cap) or a rejected step asks for less: those are kept, so
    circuits with charge storage are still integrated to ngspice's tolerances (a
    step that is too long is rejected by ngspice and redone shorter).

    With the callback registered ngspice also clips every step that would pass the
    stop time to ``stop - time - 1.1 * delmin`` (``sharedsync``); its breakpoint
    logic then halves what is left, again and again. The callback undoes that clip
    (it lands on the stop time in one step, as ngspice without the callback does),
    which is why it needs every transient's stop time. ngspice keeps a registered
    callback for the rest of the process, so it is registered on first use only.
    """

    def __init__(self) -> None:
        self.points: np.ndarray | None = None
        self.max_step = np.inf
        self.stop: float | None = None
        self.free = True
        self.limit = np.inf
        self.clipped = False
        self.installed = False
        self.c_callback = None

    def start(self, points: np.ndarray | None, max_step: float, stop: float | None) -> None:
        self.points = points
        self.max_step = max_step
        self.stop = stop
        self.free, self.limit, self.clipped = True, np.inf, False

    def __call__(self, t, pdelta, olddelta, redo, ident, loc, user):  # noqa: ARG002
        stop = self.stop
        if stop is None:
            return 0
        if loc == 1:
            d = pdelta[0]
            # accepted: d is ngspice's next step (truncation estimate, capped at 2x
            # the step just taken); rejected or not converged: the shorter retry
            self.free = not redo and d >= 1.999999 * olddelta
            self.limit = d
            self.clipped = t + d > stop
            return 0
        d = pdelta[0]
        rest = stop - t
        if self.clipped and abs(2.0 * d - rest) <= 1e-9 * rest:
            pdelta[0] = rest               # undo the stop-time clip (see class doc)
            return 0
        pts = self.points
        if pts is None:
            return 0
        # the next listed time strictly after t (a landing may be an ulp short)
        i = int(np.searchsorted(pts, t * (1.0 + 1e-12) + 1e-21, side="right"))
        if i >= pts.size:
            return 0
        gap = pts[i] - t
        step = gap if self.free else min(gap, self.limit)
        step = min(step, self.max_step)
        if step < gap and t + 1.9 * step > pts[i]:
            step = 0.5 * gap               # two even steps, not a long and a tiny one
        pdelta[0] = step
        return 0


class Engine:
    """The process's single ngspice instance. Use :func:`engine` to obtain it."""

    def __init__(self) -> None:
        lib = require_ngspice()
        logging.getLogger("PySpice").setLevel(logging.CRITICAL)
        os.environ.setdefault("NGSPICE_LIBRARY_PATH", lib)
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi

        NgSpiceShared.LIBRARY_PATH = lib
        # PySpice 1.5's callback returns None where ngspice expects an int, which
        # prints "Exception ignored from cffi callback" on every background run.
        # ngspice passes fl_exited: True once the background thread has finished.
        def _bg_running(exited, ngspice_id, user_data):  # noqa: ARG001
            obj = ffi.from_handle(user_data)
            obj._is_running = not exited
            done = getattr(obj, "_aimc_done", None)
            if exited and done is not None:
                done.set()
            return 0

        # ngspice calls these for every line it prints and every status update;
        # PySpice's versions log each one through `logging` (a measurable share of
        # a small point). Lean versions: keep the text, nothing else.
        def _send_char(message_c, ngspice_id, user_data):  # noqa: ARG001
            obj = ffi.from_handle(user_data)
            prefix, _, content = ffi.string(message_c).decode("utf8", "replace").partition(" ")
            (obj._stderr if prefix == "stderr" else obj._stdout).append(content)
            return 0

        def _send_stat(message, ngspice_id, user_data):  # noqa: ARG001
            return 0

        def _send_init_data(data, ngspice_id, user_data):  # noqa: ARG001
            return 0

        NgSpiceShared._background_thread_running = staticmethod(_bg_running)
        NgSpiceShared._send_char = staticmethod(_send_char)
        NgSpiceShared._send_stat = staticmethod(_send_stat)
        NgSpiceShared._send_init_data = staticmethod(_send_init_data)
        self._ffi = ffi
        self._done = threading.Event()
        self._shared = NgSpiceShared.new_instance()
        self._shared._aimc_done = self._done
        self._lib = self._shared._ngspice_shared
        self._lock = threading.Lock()
        self.version = self._shared.ngspice_version
        self.runs = 0
        self.reused = 0              # runs that altered the loaded circuit (no parse)
        self._loaded: list[str] | None = None   # lines of a reusable loaded circuit
        self._step = _StepControl()
        self._osdi = False           # compiled cell device loaded (once per instance)
        self._halting = False        # a halted run's thread had not stopped (see _halt)
        self._command(f"set num_threads={NGSPICE_THREADS}")

    # -- low level ---------------------------------------------------------
    def _log(self) -> str:
        out = list(self._shared._stdout) + list(self._shared._stderr)
        return "\n".join(line for line in out if line is not None)

    def _command(self, command: str) -> None:
        rc = self._lib.ngSpice_Command(command.encode("ascii"))
        if rc:
            raise SpiceError(f"ngspice command {command!r} returned {rc}", self._log())

    def _install_step_control(self) -> None:
        """Register :class:`_StepControl` as ngspice's ``GetSyncData`` callback (once:
        ngspice keeps it for the rest of the process). PySpice registered its own
        external-source callbacks with ``ngSpice_Init_Sync``; they are passed again."""
        if self._step.installed:
            return
        cb = self._ffi.callback("int (double, double *, double, int, int, int, void *)",
                                self._step)
        sh = self._shared
        rc = self._lib.ngSpice_Init_Sync(sh._get_vsrc_data_c, sh._get_isrc_data_c, cb,
                                         sh._ngspice_id, sh._self_c)
        if rc:
            raise SpiceError(f"ngSpice_Init_Sync returned {rc}")
        self._step.c_callback = cb            # keep the C function alive
        self._step.installed = True

    def _errors(self) -> list[str]:
        return error_lines(self._log())

    def _load_osdi(self) -> None:
        """Load the compiled cell device into ngspice (``osdi <library>``), once: its
        device type then stays registered for every later circuit."""
        if self._osdi:
            return
        path = _osdi_path()
        self._clear()
        rc = self._lib.ngSpice_Command(f"osdi {path}".encode("ascii"))
        errs = self._errors()
        if rc or errs:
            raise SpiceError(f"ngspice could not load the compiled cell device {path}",
                             "\n".join(errs) or self._log())
        self._osdi = True

    def _clear(self) -> None:
        self._shared.clear_output()

    def _vector(self, name: str) -> np.ndarray | None:
        info = self._lib.ngGet_Vec_Info(name.encode("ascii"))
        if info == self._ffi.NULL:
            return None
        n = info.v_length
        if info.v_realdata != self._ffi.NULL:
            if n == 1:                  # an operating point: no buffer object needed
                return np.array([info.v_realdata[0]])
            return np.frombuffer(self._ffi.buffer(info.v_realdata, n * 8), dtype=np.float64).copy()
        if info.v_compdata != self._ffi.NULL:
            raw = np.frombuffer(self._ffi.buffer(info.v_compdata, n * 16), dtype=np.float64)
            return raw[0::2] + 1j * raw[1::2]
        return np.zeros(0)

    # -- public --------------------------------------------------------------
    def run(self, netlist: str, vectors: list[str], timeout_s: float = 600.0,
            step_plan: StepPlan | None = None) -> SimResult:
        """Load ``netlist`` (SPICE text with its analysis line), run it, return ``vectors``.

        Vector names are ngspice's: ``v(node)``, ``vsrc#branch``, ``time``. Raises a
        :class:`SpiceError` subclass carrying ngspice's message on failure.
        ``step_plan``: times a transient lands on (see :class:`_StepControl`).
        ``timeout_s`` halts a run in ngspice's thread; a linear ``.op`` that reuses the
        loaded circuit (its values altered) is solved in this thread, to the end: one
        factorisation, which cannot run away.
        """
        with self._lock:
            if self._halting:             # a timed-out run's thread had not stopped yet
                if not self._halt(_HALT_GRACE_S):
                    raise SpiceError("ngspice is still busy with a simulation that timed "
                                     "out and was halted (it stops at its next time "
                                     "point); run again later or in a new process")
                self._halting = False
                self._reset()
            if step_plan is not None:
                self._install_step_control()
            if self._step.installed:
                plan = step_plan or StepPlan(np.zeros(0))
                self._step.start(np.asarray(plan.points, dtype=float) if step_plan else None,
                                 plan.max_step_s, tran_stop_time(netlist))
            # a large netlist is never reused (its solve dominates, and its lines as
            # Python strings would add ~20 MB to the peak memory at 256x256)
            lines = netlist.splitlines() if len(netlist) <= _LARGE_NETLIST_CHARS else None
            alters = (alter_commands(self._loaded, lines)
                      if self._loaded is not None and lines is not None else None)
            self._loaded = None          # set again once this run has succeeded
            t0 = time.perf_counter()
            if alters is not None:       # same circuit, other values: no re-parse
                self._lib.ngSpice_Command(b"destroy all")
                self._clear()
                for cmd in alters:
                    if self._lib.ngSpice_Command(cmd):
                        raise SpiceError(f"ngspice command {cmd!r} failed", self._log())
                load_s = time.perf_counter() - t0
                errs = self._errors()
                if errs:
                    self._reset()
                    raise_for(errs, "load")
            else:
                self._reset()
                if needs_osdi(netlist):
                    self._load_osdi()
                self._clear()
                arr, keep = self._line_array(netlist)
                rc = self._lib.ngSpice_Circ(arr)
                del arr, keep
                if lines is None:
                    _release_freed_heap()
                load_s = time.perf_counter() - t0
                errs = self._errors()
                if rc or errs or not self._circuit_loaded():
                    raise_for(errs or [self._log()], "load")

            self._clear()
            t1 = time.perf_counter()
            if alters is not None:
                # a reused circuit is a linear .op (`reusable`): one factorisation of a
                # small matrix, bounded work, so it is solved in this thread; starting
                # ngspice's thread and handing over to it cost ~0.4 ms of an 8x8
                # point's ~2.5 ms in ngspice (same doubles either way)
                self._command("run")
            else:
                self._done.clear()
                self._command("bg_run")
                # sleep until ngspice's thread reports that it has exited (or time out)
                if not self._done.wait(timeout_s):
                    stopped = self._halt(_HALT_GRACE_S)
                    if stopped:
                        self._reset()
                    else:                 # never unload a circuit under a running solve
                        self._halting = True
                    raise SpiceTimeoutError(
                        f"simulation exceeded its timeout of {timeout_s:g} s and was halted"
                        + ("" if stopped else
                           f" (ngspice's thread had not stopped {_HALT_GRACE_S:g} s later; "
                           "the next run waits for it)"),
                        self._log()[-2000:],
                    )
            sim_s = time.perf_counter() - t1
            errs = self._errors()
            if errs:
                raise_for(errs, "run")
            out: dict[str, np.ndarray] = {}
            missing = []
            for name in vectors:
                v = self._vector(name)
                if v is None:
                    missing.append(name)
                else:
                    out[name.lower()] = v
            if missing:
                raise SpiceError(
                    f"vectors not in the result: {missing}; check the netlist's .save lines",
                    self._log()[-2000:],
                )
            self.runs += 1
            self.reused += alters is not None
            # only values of R/V/I lines differ from a reusable circuit: reusable too
            self._loaded = (lines if lines is not None
                            and (alters is not None or reusable(netlist)) else None)
            return SimResult(out, sim_s, load_s, self._log())

    def _line_array(self, netlist: str) -> tuple[object, object]:
        """The netlist as ngspice's NULL-terminated ``char **``, without a Python
        object per line: the text is encoded once, its newlines become NULs in place,
        and the pointer array (to the non-blank lines) is computed with NumPy. One
        ``ffi.new`` per line cost ~7 µs each (most of a small point's load) and three
        copies of a 256x256 netlist as lists (~40 MB of peak memory)."""
        raw = bytearray(netlist.encode("utf8"))
        if not raw.endswith(b"\n"):
            raw += b"\n"
        a = np.frombuffer(raw, dtype=np.uint8)
        ends = np.flatnonzero(a == 10)
        starts = np.concatenate(([0], ends[:-1] + 1))
        filled = np.concatenate(([0], np.cumsum(~np.isin(a, (9, 10, 13, 32)))))
        starts = starts[filled[ends] > filled[starts]]          # non-blank lines only
        if starts.size == 0 or bytes(raw[starts[-1]:starts[-1] + 4]).lower() != b".end":
            del a                                      # a view pins the buffer's size
            raw += b".end\n"
            starts = np.concatenate((starts, [len(raw) - 5]))
            a = np.frombuffer(raw, dtype=np.uint8)
        a[a == 10] = 0
        buf = self._ffi.from_buffer("char[]", raw)
        ptrs = np.zeros(starts.size + 1, dtype=np.uint64)
        ptrs[:-1] = starts.astype(np.uint64) + np.uint64(int(self._ffi.cast("uintptr_t", buf)))
        arr = self._ffi.from_buffer("char *[]", ptrs)
        return arr, (raw, buf, ptrs)

    def _halt(self, grace_s: float) -> bool:
        """Stop ngspice's background thread after a timeout; True once it has exited.

        ``bg_halt`` sets ngspice's interrupt flag, which the thread reads only between
        time points (``dctran.c``), and waits for it at most 1 s (``_thread_stop`` in
        ``sharedspice.c``: 100 x 10 ms) before it gives up with "Couldn't stop ngspice"
        and a non-zero return. A time point of a 256x256 mesh takes seconds, so the
        thread is usually still solving then: unloading the circuit under it, or
        leaving the process while it still calls back into Python, crashed the
        process (no error text). So: wait for the thread's own exit report, asking
        again every second, up to ``grace_s``; then ``bg_halt`` once more, which joins
        the exited thread and clears the interrupt flag for the next run. False: still
        running (the circuit stays loaded; the next run or the process's exit waits).
        """
        deadline = time.monotonic() + grace_s
        while True:
            self._lib.ngSpice_Command(b"bg_halt")       # non-zero while still running
            if self._done.is_set():
                self._lib.ngSpice_Command(b"bg_halt")   # join it, reset ngspice's flags
                return True
            if time.monotonic() > deadline:
                return False
            self._done.wait(1.0)

    def _circuit_loaded(self) -> bool:
        cur = self._lib.ngSpice_CurPlot()
        return cur != self._ffi.NULL

    def _reset(self) -> None:
        # free the previous circuit and all result plots so memory stays flat
        self._loaded = None
        try:
            self._lib.ngSpice_Command(b"destroy all")
            self._lib.ngSpice_Command(b"remcirc")
        except Exception:  # pragma: no cover - defensive
            pass


# A large netlist's text, its parsing (NumPy temporaries here, ngspice's own deck
# processing) leave freed memory in the main thread's malloc heap that the run, in
# ngspice's thread and its own heap, never reuses: handed back to the system before
# the run, ~14 MB less peak at 256x256. glibc only; skipped for small netlists.
_LARGE_NETLIST_CHARS = 1_000_000
# how long a timed-out run may take to reach ngspice's next interrupt check (the next
# time point) before the engine is given up (Engine._halt)
_HALT_GRACE_S = 300.0
_MALLOC_TRIM = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim", None)


def _release_freed_heap() -> None:
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


_ENGINE: Engine | None = None
_ENGINE_PID: int | None = None


def engine() -> Engine:
    """The ngspice engine of this process (created on first use)."""
    global _ENGINE, _ENGINE_PID
    if _ENGINE is not None and _ENGINE_PID != os.getpid():
        # a forked child of a process that had started ngspice: the library's global
        # state (callbacks, a step plan's clipping) is the parent's and transients
        # fail in odd ways ("timestep too small"); say so instead
        raise SpiceError("this process was forked from one that had started ngspice; "
                         "its copy of ngspice is not usable: start worker processes "
                         "with the 'spawn' method (or fork before the first simulation; "
                         "see spice.ngspice_loaded)")
    if _ENGINE is None:
        _ENGINE = Engine()
        _ENGINE_PID = os.getpid()
        atexit.register(_stop_at_exit, _ENGINE)
    return _ENGINE


def ngspice_loaded() -> bool:
    """Whether ngspice has been started in this process. A process forked from it
    inherits the library's global state (its registered callbacks, a step plan's
    clipping, no background thread) and cannot simulate reliably: start such workers
    as new interpreters instead (``spawn``)."""
    if _ENGINE is not None:
        return True
    shared = sys.modules.get("PySpice.Spice.NgSpice.Shared")
    return bool(shared is not None and getattr(shared.NgSpiceShared, "_instances", None))


def _stop_at_exit(eng: Engine) -> None:
    """At interpreter exit, let a halted run's thread stop first: it calls back into
    Python after every time point, which crashes an interpreter that is shutting down."""
    if eng._halting and os.getpid() == _ENGINE_PID:
        eng._halt(_HALT_GRACE_S)


def _read_raw(path: Path) -> dict[str, np.ndarray]:
    """Vectors of an ngspice binary rawfile (one real plot), keyed as ``run`` keys them
    (``i(vs0)`` is also given as ``vs0#branch``)."""
    data = path.read_bytes()
    head_end = data.index(b"Binary:\n") + len(b"Binary:\n")
    header = data[:head_end].decode("ascii", "replace").splitlines()
    n_var = n_pts = 0
    names: list[str] = []
    in_vars = False
    for line in header:
        if line.startswith("No. Variables:"):
            n_var = int(line.split(":")[1])
        elif line.startswith("No. Points:"):
            n_pts = int(line.split(":")[1])
        elif line.startswith("Flags:") and "complex" in line:
            raise SpiceError("complex rawfiles are not supported by the batch runner")
        elif line.startswith("Variables:"):
            in_vars = True
        elif in_vars and line.startswith("\t"):
            names.append(line.split("\t")[2].lower())
    values = np.frombuffer(data, dtype="<f8", count=n_var * n_pts, offset=head_end)
    table = values.reshape(n_pts, n_var)
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        col = table[:, k].copy()
        out[name] = col
        if name.startswith("i(") and name.endswith(")"):
            out[f"{name[2:-1]}#branch"] = col
    return out


def simulate_batch(netlist: str, vectors: list[str], timeout_s: float = 600.0) -> SimResult:
    """Run ``netlist`` in a separate ``ngspice -b`` process and read its rawfile.

    For very large netlists: the memory is returned when the process ends and a crash
    or hang only costs that process (at 256x256 the time equals the shared library's).
    Same errors and result as :func:`simulate`.
    """
    import subprocess
    import tempfile

    exe = ngspice_executable()
    if exe is None:
        raise NgspiceNotFoundError(INSTALL_HELP)
    with tempfile.TemporaryDirectory(prefix="aimc-ng-") as tmp:
        cir, raw = Path(tmp) / "net.cir", Path(tmp) / "out.raw"
        cir.write_text(batch_text(netlist))
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([exe, "-b", "-r", str(raw), str(cir)], capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise SpiceTimeoutError(
                f"simulation exceeded its timeout of {timeout_s:g} s and was killed",
                (exc.stdout or "")[-2000:] if isinstance(exc.stdout, str) else "") from None
        sim_s = time.perf_counter() - t0
        log = proc.stdout + "\n" + proc.stderr
        errs = error_lines(log)
        if errs or proc.returncode != 0 or not raw.exists():
            raise_for(errs or [log[-2000:]], "ngspice -b")
        found = _read_raw(raw)
    missing = [v for v in vectors if v.lower() not in found]
    if missing:
        raise SpiceError(f"vectors not in the result: {missing}; check the netlist's .save lines")
    return SimResult({v.lower(): found[v.lower()] for v in vectors}, sim_s, 0.0, log)


def simulate(netlist: str, vectors: list[str], timeout_s: float = 600.0,
             batch: bool = False, step_plan: StepPlan | None = None) -> SimResult:
    """Run ``netlist`` and return the requested vectors: in this process's engine, or
    with ``batch=True`` in a separate ``ngspice -b`` process (:func:`simulate_batch`,
    which ignores ``step_plan``: ngspice's own step control)."""
    if batch:
        return simulate_batch(netlist, vectors, timeout_s)
    return engine().run(netlist, vectors, timeout_s, step_plan)
