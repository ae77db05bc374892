"""One sweep point in an isolated process: the worker side of the sweep engine.

``execute_point`` runs a point in *this* process and turns every error into a
recorded outcome. ``python -m aimc.circuits.sweep.worker FD`` is a worker process:
it owns one ngspice engine, reads ``(target, index, params, outputs, timeout_s)``
tasks from the socket ``FD`` and answers, in order, with :class:`PointOutcome`
objects. It builds the netlist of a queued point while ngspice solves the current
one. A
segfault or hang in it is handled by the parent (:mod:`aimc.circuits.sweep.run`),
which kills and replaces it. The worker exits when its parent goes away.
"""

from __future__ import annotations

import faulthandler
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from aimc.circuits.sweep.outcome import PointOutcome, worker_id


def ngspice_version() -> str:
    from aimc.circuits import spice

    eng = spice._ENGINE if spice._ENGINE_PID == os.getpid() else None
    return str(eng.version) if eng is not None else ""


_SPICE_S = [0.0]


def time_engine() -> None:
    """Accumulate the wall time spent inside this process's ngspice runner calls.

    That time (free the previous circuit, load, solve, read the vectors back) is what
    the sweep records as a point's ``sim_time_s``: everything ngspice does for it.
    """
    from aimc.circuits.spice import engine

    eng = engine()
    if getattr(eng, "_aimc_timed", False):
        return
    run = eng.run

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            _SPICE_S[0] += time.perf_counter() - t

    eng.run = timed
    eng._aimc_timed = True


Task = tuple[str, int, dict[str, Any], list[str], float]


def error_text(e: BaseException) -> str:
    """A point's error as recorded; a MemoryError says "out of memory" first."""
    text = f"{type(e).__name__}: {e}"
    return f"out of memory while building or running the point ({text})" \
        if isinstance(e, MemoryError) else text


def prepare_point(task: Task) -> tuple[Task, Callable[[float], Any] | None, str, float]:
    """Build a point's netlist (Python only): (task, execute or None, error, seconds)."""
    from aimc.circuits.sweep.targets import get_target

    t0 = time.perf_counter()
    try:
        execute = get_target(task[0]).prepare(task[2])
        return task, execute, "", time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - recorded as the point's failure
        return task, None, error_text(e), time.perf_counter() - t0


def finish_point(task: Task, execute: Callable[[float], Any] | None, error: str,
                 prep_s: float) -> PointOutcome:
    """Run a prepared point in ngspice; exceptions become a failed/timeout outcome."""
    from aimc.circuits.spice import SpiceTimeoutError

    _, index, _, outputs, timeout_s = task
    time_engine()
    t0 = time.perf_counter()
    _SPICE_S[0] = 0.0
    status, msg = "failed", error
    if execute is not None:
        try:
            run = execute(timeout_s)
            out = {k: np.asarray(run.outputs[k], dtype=float) for k in outputs}
            return PointOutcome(index, "ok", "", out, _SPICE_S[0],
                                prep_s + time.perf_counter() - t0, run.netlist_hash,
                                worker_id(), time.time(), ngspice_version(),
                                solve_time_s=run.sim_time_s)
        except SpiceTimeoutError as e:
            status, msg = "timeout", str(e)
        except Exception as e:  # noqa: BLE001 - any error of a point is recorded, not raised
            status, msg = "failed", error_text(e)
    return PointOutcome(index, status, msg, {}, _SPICE_S[0], prep_s + time.perf_counter() - t0,
                        "", worker_id(), time.time(), ngspice_version())


def execute_point(target_name: str, index: int, params: dict[str, Any], outputs: list[str],
                  timeout_s: float) -> PointOutcome:
    """Prepare and run one point here, now."""
    return finish_point(*prepare_point((target_name, index, params, outputs, timeout_s)))


def _watch_parent(ppid: int) -> None:
    while True:
        if os.getppid() != ppid:
            os._exit(0)
        time.sleep(0.5)


def preload() -> None:
    """Import what a worker needs (but start no ngspice): done once in a parent that
    forks its workers (:func:`aimc.circuits.sweep.run.fork_worker`)."""
    import PySpice.Spice.NgSpice.Shared  # noqa: F401
    from aimc.circuits import crossbar, spice  # noqa: F401
    from aimc.circuits.sweep.targets import TARGETS  # noqa: F401


def forked_main(fd: int, ppid: int, stderr_fd: int) -> int:
    """A worker forked from its parent (see :func:`preload`): as a new process would
    be, in its own session, stdin/stdout on /dev/null, stderr to ``stderr_fd``, and
    no other file of the parent open (its sweep file's lock, other workers' sockets)."""
    import signal

    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(stderr_fd, 2)
    keep = {0, 1, 2, fd}
    try:
        open_fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(3, 4096))
    for n in open_fds:
        if n not in keep:
            try:
                os.close(n)
            except OSError:
                pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL if sig != signal.SIGPIPE else signal.SIG_IGN)
    # the parent's unwritten output stays in its own buffers, not written twice
    sys.stdout = open(1, "w", closefd=False)   # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)   # noqa: SIM115
    return main([str(fd), str(ppid)])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fd = int(argv[0])
    ppid = int(argv[1]) if len(argv) > 1 else os.getppid()
    faulthandler.enable(file=sys.stderr, all_threads=False)
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    conn = Connection(socket.socket(fileno=fd).detach())
    try:
        from aimc.circuits.spice import engine
        from aimc.circuits.sweep.targets import TARGETS  # noqa: F401 - import before timing

        version = str(engine().version)
        time_engine()
        conn.send(("ready", version, worker_id()))
    except Exception as e:  # noqa: BLE001
        conn.send(("error", f"{type(e).__name__}: {e}", worker_id()))
        return 1
    # A receiver thread queues each task as soon as it arrives and has its netlist
    # built by a preparer thread, so the next point is ready while ngspice (in its own
    # native thread) solves the current one; the main thread runs the points in order.
    prep = ThreadPoolExecutor(1, thread_name_prefix="aimc-prepare")
    tasks: queue.Queue = queue.Queue()

    def receive() -> None:
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                task = None
            if task is None:
                tasks.put(None)
                return
            for t in task if isinstance(task, list) else [task]:
                tasks.put(prep.submit(prepare_point, t))

    threading.Thread(target=receive, name="aimc-receive", daemon=True).start()
    while True:
        fut = tasks.get()
        if fut is None:         # nothing left to do or to flush: skip the interpreter's
            os._exit(0)         # teardown (ngspice, NumPy), which took ~0.1 s per worker
        try:
            conn.send(finish_point(*fut.result()))
        except (BrokenPipeError, OSError):
            return 0


if __name__ == "__main__":
    sys.exit(main())
