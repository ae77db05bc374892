"""One sweep point in an isolated process: the worker side of the sweep engine.

``execute_point`` runs a point in *this* process and turns every error into a
recorded outcome. ``python -m aimc.circuits.sweep_worker FD`` is a worker process:
it owns one ngspice engine, reads ``(target, index, params, outputs, timeout_s)``
tasks from the socket ``FD`` and answers with :class:`PointOutcome` objects. A
segfault or hang in it is handled by the parent (:mod:`aimc.circuits.sweep_run`),
which kills and replaces it. The worker exits when its parent goes away.
"""

from __future__ import annotations

import faulthandler
import os
import socket
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from aimc.circuits.sweep_store import PointOutcome, worker_id


def ngspice_version() -> str:
    from aimc.circuits import spice

    eng = spice._ENGINE if spice._ENGINE_PID == os.getpid() else None
    return str(eng.version) if eng is not None else ""


def execute_point(target_name: str, index: int, params: dict[str, Any], outputs: list[str],
                  timeout_s: float) -> PointOutcome:
    """Run one point here; exceptions become a failed/timeout outcome with the message."""
    from aimc.circuits.spice import SpiceError, SpiceTimeoutError
    from aimc.circuits.sweep_targets import get_target

    t0 = time.perf_counter()
    try:
        run = get_target(target_name).run(params, timeout_s)
        out = {k: np.asarray(run.outputs[k], dtype=float) for k in outputs}
        return PointOutcome(index, "ok", "", out, run.sim_time_s, time.perf_counter() - t0,
                            run.netlist_hash, worker_id(), time.time(), ngspice_version())
    except SpiceTimeoutError as e:
        status, msg = "timeout", str(e)
    except SpiceError as e:
        status, msg = "failed", f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - any error of a point is recorded, not raised
        status, msg = "failed", f"{type(e).__name__}: {e}"
    return PointOutcome(index, status, msg, {}, float("nan"), time.perf_counter() - t0, "",
                        worker_id(), time.time(), ngspice_version())


def _watch_parent(ppid: int) -> None:
    while True:
        if os.getppid() != ppid:
            os._exit(0)
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fd = int(argv[0])
    ppid = int(argv[1]) if len(argv) > 1 else os.getppid()
    faulthandler.enable(file=sys.stderr, all_threads=False)
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    conn = Connection(socket.socket(fileno=fd).detach())
    try:
        from aimc.circuits.spice import engine
        from aimc.circuits.sweep_targets import TARGETS  # noqa: F401 - import before timing

        conn.send(("ready", str(engine().version), worker_id()))
    except Exception as e:  # noqa: BLE001
        conn.send(("error", f"{type(e).__name__}: {e}", worker_id()))
        return 1
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return 0
        if task is None:
            return 0
        try:
            conn.send(execute_point(*task))
        except (BrokenPipeError, OSError):
            return 0


if __name__ == "__main__":
    sys.exit(main())
