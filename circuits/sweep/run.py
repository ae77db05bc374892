"""Running a sweep: a crash-proof local process pool, or a Dask distributed cluster.

Local pool: ``N`` worker processes (``python -m aimc.circuits.sweep.worker``), one
ngspice engine each, fed one point at a time over a socket. The parent enforces
each point's timeout (``timeout_s`` + a grace period; ngspice itself halts at
``timeout_s``): a worker that hangs is killed and replaced, one that dies (segfault
in libngspice, abort) is replaced; either way the point is recorded as timeout or
failed and the sweep goes on.

Dask: with ``scheduler="tcp://host:port"`` points go to the cluster in chunks (one
Dask task runs several points, one after the other);
inside each Dask worker the point runs in the same kind of isolated child process,
so a crashing point does not take the Dask worker down. If a Dask worker is lost
(killed, machine gone), the scheduler reruns its points elsewhere. The client (this
process) writes the HDF5 file.

:func:`run_sweep` ties spec, store, runner, progress bar and summary together.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from aimc.circuits.sweep.outcome import PointOutcome, worker_id
from aimc.circuits.sweep.spec import SweepSpec
from aimc.circuits.sweep.store import STATUS, SweepStore

Task = tuple[int, dict[str, Any]]
OnOutcome = Callable[[PointOutcome], None]
STARTUP_TIMEOUT_S = 120.0


class PoolError(RuntimeError):
    """The pool cannot run at all (workers fail to start)."""


class SchedulerLostError(PoolError):
    """The Dask scheduler went away mid-sweep; the points that never ran stay pending."""


def default_grace_s(timeout_s: float) -> float:
    return max(5.0, 0.2 * timeout_s)


FORK_WORKERS = True
"""Start workers by forking this process when that is safe (:func:`can_fork`); False:
always a new interpreter (``python -m aimc.circuits.sweep.worker``)."""


def can_fork() -> bool:
    """Whether a worker may be forked from this process: Linux, :data:`FORK_WORKERS`,
    a single thread (a fork copies no other thread, so a lock one of them held would
    stay locked in the child), and no ngspice loaded here (the child initialises its
    own; a copy of a running one, with its background thread gone, is not usable)."""
    if not FORK_WORKERS or not sys.platform.startswith("linux") \
            or threading.active_count() != 1:
        return False
    spice = sys.modules.get("aimc.circuits.spice")
    return not (spice is not None and spice.ngspice_loaded())


class ForkedProcess:
    """A worker forked from this process: the part of ``subprocess.Popen`` that
    :class:`WorkerProcess` uses (pid, returncode, poll, wait, kill)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:       # reaped elsewhere
                self.returncode = 0
                return 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"sweep worker {self.pid}", timeout or 0.0)
            time.sleep(delay)
            delay = min(2 * delay, 0.05)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def fork_worker(child: socket.socket, stderr_fd: int) -> ForkedProcess:
    """Fork a worker that serves the socket ``child``. Its modules (NumPy, PySpice,
    the generators) are imported here first, once, so the worker only starts its
    ngspice: ~0.1 s instead of a new interpreter's ~0.3 s of imports per worker."""
    from aimc.circuits.sweep import worker

    worker.preload()
    ppid = os.getpid()
    pid = os.fork()
    if pid == 0:                        # the worker: never returns into the caller
        code = 1
        try:
            code = worker.forked_main(child.fileno(), ppid, stderr_fd)
        except BaseException:           # noqa: BLE001 - reported on its stderr
            with contextlib.suppress(BaseException):
                import traceback

                traceback.print_exc()
        finally:
            os._exit(code)          # no atexit handler or buffer of this process runs
    return ForkedProcess(pid)


class WorkerProcess:
    """One isolated worker process and the socket to it."""

    def __init__(self) -> None:
        parent, child = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()
        self.forked = can_fork()
        if self.forked:
            self.proc: subprocess.Popen | ForkedProcess = fork_worker(
                child, self._stderr.fileno())
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aimc.circuits.sweep.worker", str(child.fileno()),
                 str(os.getpid())],
                pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True,
            )
        child.close()
        self.conn = Connection(parent.detach())
        self.ready = False
        self.started = time.monotonic()
        self.inflight: collections.deque[Task] = collections.deque()
        self.task_started = 0.0     # when the head of ``inflight`` started running
        self.name = ""
        self.ngspice_version = ""
        self.oom_kills = oom_kill_count()
        self.stopping = False

    @property
    def task(self) -> Task | None:
        """The point running now (the worker runs its points in order)."""
        return self.inflight[0] if self.inflight else None

    def send(self, task: Task, target: str, outputs: list[str], timeout_s: float) -> None:
        self.send_many([task], target, outputs, timeout_s)

    def send_many(self, tasks: list[Task], target: str, outputs: list[str],
                  timeout_s: float) -> None:
        """Queue ``tasks`` on the worker in one message (it runs them in order)."""
        if not tasks:
            return
        if not self.inflight:
            self.task_started = time.monotonic()
        self.inflight.extend(tasks)
        try:
            self.conn.send([(target, i, params, outputs, timeout_s) for i, params in tasks])
        except OSError:
            pass  # the worker died: seen as EOF on its socket, its points are requeued

    def done(self) -> Task:
        """The head point finished; the next queued one starts now."""
        task = self.inflight.popleft()
        self.task_started = time.monotonic()
        return task

    def death_message(self) -> str:
        rc, peak = self._reap()
        if rc is not None and rc < 0:
            try:
                why = f"killed by signal {signal.Signals(-rc).name}"
            except ValueError:
                why = f"killed by signal {-rc}"
        else:
            why = f"exited with status {rc}"
        self._stderr.seek(0)
        tail = self._stderr.read()[-1500:].decode(errors="replace").strip()
        oom = out_of_memory(rc, peak, tail, self.oom_kills)
        return ((f"out of memory: {oom}; " if oom else "")
                + f"worker process {why} while running this point; the worker was replaced"
                + (f"\nits stderr:\n{tail}" if tail else ""))

    def _reap(self) -> tuple[int | None, float]:
        """Wait for the dead worker: (exit code, peak resident memory in bytes)."""
        deadline = time.monotonic() + 5
        while self.proc.returncode is None:
            try:
                pid, status, usage = os.wait4(self.proc.pid, 0 if time.monotonic() > deadline
                                              else os.WNOHANG)
            except ChildProcessError:       # reaped elsewhere
                return self.proc.wait(), 0.0
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                return self.proc.returncode, usage.ru_maxrss * 1024.0
            if time.monotonic() > deadline:  # socket closed but the process lingers
                self.proc.kill()
            time.sleep(0.01)
        return self.proc.returncode, 0.0

    def kill(self) -> None:
        try:
            self.proc.kill()
        except ProcessLookupError:  # pragma: no cover
            pass
        self.proc.wait()
        self.close()

    def request_stop(self) -> None:
        """Ask the worker to exit (it does at once); :meth:`stop` then waits for it."""
        if not self.stopping:
            self.stopping = True
            try:
                self.conn.send(None)
            except OSError:
                pass

    def stop(self) -> None:
        self.request_stop()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
        self.close()

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:  # pragma: no cover
            pass
        self._stderr.close()


def oom_kill_count() -> int | None:
    """Processes of this cgroup killed by the kernel's OOM killer so far (None: unknown)."""
    rel = {"v2": "", "v1": ""}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            num, ctrl, path = line.split(":", 2)
            if num == "0" and not ctrl:
                rel["v2"] = path
            elif "memory" in ctrl.split(","):
                rel["v1"] = path
    except (OSError, ValueError):
        pass
    root = Path("/sys/fs/cgroup")
    for f in (root / rel["v2"].lstrip("/") / "memory.events",
              root / "unified" / rel["v2"].lstrip("/") / "memory.events",
              root / "memory" / rel["v1"].lstrip("/") / "memory.oom_control",
              root / "memory.events", root / "memory" / "memory.oom_control"):
        try:
            for line in f.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return None


_OOM_TEXT = ("memoryerror", "out of memory", "cannot allocate memory", "bad_alloc",
             "malloc failed")


def out_of_memory(rc: int | None, peak_bytes: float, stderr: str,
                  oom_kills_before: int | None) -> str:
    """Why a dead worker ran out of memory ("" if there is no sign of it): the kernel's
    OOM killer (cgroup counter), an allocation error in its stderr, or a crash (SIGSEGV,
    SIGABRT, SIGBUS, SIGKILL) at a peak memory near this process's address-space limit or
    the machine's memory."""
    import resource

    after = oom_kill_count()
    if rc == -signal.SIGKILL and None not in (after, oom_kills_before) \
            and after > oom_kills_before:                       # type: ignore[operator]
        return "the kernel's OOM killer stopped the worker"
    if any(k in stderr.lower() for k in _OOM_TEXT):
        return "an allocation failed"
    crash = rc is not None and -rc in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS,
                                       signal.SIGKILL)
    if not crash or peak_bytes <= 0:
        return ""
    # an address-space limit counts virtual memory, of which the resident peak is a part
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY and peak_bytes >= limit / 3:
        return (f"the worker reached {peak_bytes / 1e9:.3g} GB resident under an address-space "
                f"limit (ulimit -v) of {limit / 1e9:.3g} GB")
    total = machine_memory()[0]
    if peak_bytes >= total / 2:
        return (f"the worker reached {peak_bytes / 1e9:.3g} GB of this machine's "
                f"{total / 1e9:.3g} GB")
    return ""


def _timeout_outcome(task: Task, timeout_s: float, grace_s: float, w: WorkerProcess,
                     started: float) -> PointOutcome:
    return PointOutcome(
        task[0], "timeout",
        f"point ran past its timeout of {timeout_s:g} s (+{grace_s:g} s grace) without "
        "finishing; its worker was killed and replaced",
        wall_time_s=time.monotonic() - started, worker=w.name)


SMALL_POINT_S = 0.02
"""Points faster than this (mean wall time in the worker) are sent in batches."""


def run_local(tasks: Iterable[Task], target: str, outputs: list[str], n_workers: int,
              timeout_s: float, on_outcome: OnOutcome, grace_s: float | None = None,
              prefetch: int = 1, batch: int = 6,
              started: list[WorkerProcess] | None = None) -> None:
    """Run ``tasks`` on a pool of ``n_workers`` isolated processes; outcomes in any order.

    Each worker holds up to ``1 + prefetch`` points: it builds the netlist of the next
    one while ngspice solves the current one. Once points turn out to take less than
    :data:`SMALL_POINT_S`, a worker holds up to ``batch`` points and is topped up in one
    message when it is down to one (a message per point costs as much as a small
    point). If a worker dies or hangs, the point it was running is recorded (failed /
    timeout) and its queued points go back to the queue. ``started``: worker processes
    already started (their start-up overlaps the caller's own set-up); extra ones are
    stopped.
    """
    queue = collections.deque(tasks)
    started = list(started or [])
    if not queue:
        for w in started:
            w.kill()
        return
    grace = default_grace_s(timeout_s) if grace_s is None else grace_s
    depth = 1 + max(0, prefetch)
    n_workers = max(1, min(n_workers, len(queue)))
    for w in started[n_workers:]:
        w.kill()
    workers: list[WorkerProcess] = started[:n_workers]
    workers += [WorkerProcess() for _ in range(n_workers - len(workers))]
    startup_failures = 0
    point_s: list[float] = []

    def requeue(w: WorkerProcess) -> None:
        # points queued behind the one that failed never ran: they go back first
        while w.inflight:
            queue.appendleft(w.inflight.pop())

    try:
        while queue or any(w.inflight for w in workers):
            # fill idle workers first, then prefetch
            small = len(point_s) >= 4 and sorted(point_s)[len(point_s) // 2] < SMALL_POINT_S
            hold = max(depth, batch) if small else depth
            for level in range(depth):
                for w in workers:
                    if w.ready and len(w.inflight) == level and queue:
                        w.send(queue.popleft(), target, outputs, timeout_s)
            for w in workers:
                if small and w.ready and len(w.inflight) <= 1 and queue:
                    n = min(hold - len(w.inflight), len(queue))
                    w.send_many([queue.popleft() for _ in range(n)], target, outputs,
                                timeout_s)
            deadlines = [w.task_started + timeout_s + grace if w.inflight
                         else w.started + STARTUP_TIMEOUT_S
                         for w in workers if w.inflight or not w.ready]
            wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = wait([w.conn for w in workers], timeout=wait_s)
            now = time.monotonic()
            for i, w in enumerate(workers):
                replace = False
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        msg = None
                    if msg is None:  # the process died
                        text = w.death_message()
                        if w.inflight:
                            head = w.inflight.popleft()
                            on_outcome(PointOutcome(head[0], "failed", text,
                                                    wall_time_s=now - w.task_started,
                                                    worker=w.name))
                            requeue(w)
                        elif not w.ready:
                            startup_failures += 1
                            if startup_failures >= 3:
                                raise PoolError(f"sweep workers fail to start: {text}")
                        replace = True
                    elif isinstance(msg, tuple):  # ("ready", version, name) / ("error", ...)
                        if msg[0] != "ready":
                            raise PoolError(f"a sweep worker could not start: {msg[1]}")
                        w.ready, w.ngspice_version, w.name = True, msg[1], msg[2]
                        startup_failures = 0
                    else:
                        head = w.done()
                        if msg.index != head[0]:  # pragma: no cover - protocol guard
                            raise PoolError(f"worker answered point {msg.index}, expected "
                                            f"{head[0]}")
                        on_outcome(msg)
                        if len(point_s) < 32:
                            point_s.append(msg.wall_time_s)
                elif w.inflight and now > w.task_started + timeout_s + grace:
                    head = w.inflight.popleft()
                    started = w.task_started
                    requeue(w)
                    w.kill()
                    on_outcome(_timeout_outcome(head, timeout_s, grace, w, started))
                    replace = True
                elif not w.ready and now > w.started + STARTUP_TIMEOUT_S:
                    w.kill()
                    raise PoolError(f"a sweep worker did not start within "
                                    f"{STARTUP_TIMEOUT_S:g} s")
                if replace:
                    w.close()
                    workers[i] = WorkerProcess() if queue else None  # type: ignore[call-overload]
            workers = [w for w in workers if w is not None]
            if not workers and queue:
                workers = [WorkerProcess()]
    finally:
        idle = [w for w in workers if not w.inflight and w.ready]
        for w in workers:
            if w in idle:
                w.request_stop()        # all at once: they exit in parallel
            else:
                w.kill()
        for w in idle:
            w.stop()


# ------------------------------------------------------------------------------------
# Dask distributed
# ------------------------------------------------------------------------------------

class IsolatedRunner:
    """A single persistent worker process, used inside each Dask worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._w: WorkerProcess | None = None

    def _worker(self) -> WorkerProcess:
        if self._w is None:
            w = WorkerProcess()
            if not wait([w.conn], timeout=STARTUP_TIMEOUT_S):
                w.kill()
                raise PoolError("sweep worker did not start")
            try:
                msg = w.conn.recv()
            except (EOFError, OSError):
                raise PoolError(w.death_message()) from None
            if msg[0] != "ready":
                raise PoolError(f"a sweep worker could not start: {msg[1]}")
            w.ready, w.ngspice_version, w.name = True, msg[1], msg[2]
            self._w = w
        return self._w

    def run(self, target: str, index: int, params: dict[str, Any], outputs: list[str],
            timeout_s: float, grace_s: float) -> PointOutcome:
        return self.run_many(target, [(index, params)], outputs, timeout_s, grace_s)[0]

    def run_many(self, target: str, tasks: list[Task], outputs: list[str], timeout_s: float,
                 grace_s: float) -> list[PointOutcome]:
        """Run ``tasks`` in order: all sent in one message, so the worker builds the next
        netlist while ngspice solves the current one. A point that kills or hangs the
        worker is recorded (failed / timeout); the points after it run in a new one."""
        out: list[PointOutcome] = []
        todo = collections.deque(tasks)
        with self._lock:
            while todo:
                w = self._worker()
                w.send_many(list(todo), target, outputs, timeout_s)
                while todo:
                    head = todo[0]
                    started = w.task_started
                    if not wait([w.conn], timeout=timeout_s + grace_s):
                        w.kill()
                        self._w = None
                        out.append(_timeout_outcome(head, timeout_s, grace_s, w, started))
                        todo.popleft()
                        break
                    try:
                        outcome = w.conn.recv()
                    except (EOFError, OSError):
                        text = w.death_message()
                        self._w = None
                        w.close()
                        out.append(PointOutcome(head[0], "failed", text,
                                                wall_time_s=time.monotonic() - started,
                                                worker=w.name))
                        todo.popleft()
                        break
                    w.done()
                    todo.popleft()
                    out.append(outcome)
        return out


_ISOLATED: IsolatedRunner | None = None


def dask_point(target: str, index: int, params: dict[str, Any], outputs: list[str],
               timeout_s: float, grace_s: float) -> PointOutcome:
    """The Dask task of one point (runs on a Dask worker)."""
    global _ISOLATED
    if _ISOLATED is None:
        _ISOLATED = IsolatedRunner()
    try:
        return _ISOLATED.run(target, index, params, outputs, timeout_s, grace_s)
    except PoolError:
        # no child processes possible here: run in the Dask worker itself
        from aimc.circuits.sweep.worker import execute_point

        return execute_point(target, index, params, outputs, timeout_s)


def dask_points(target: str, chunk: list[Task], outputs: list[str], timeout_s: float,
                grace_s: float) -> list[PointOutcome]:
    """The Dask task of several points, run one after the other in the Dask worker's
    isolated child process (one engine per worker process): one scheduler round trip
    and one result message for the chunk instead of one per point, and the chunk goes
    to the child in one message (it prepares the next point while one runs)."""
    global _ISOLATED
    if _ISOLATED is None:
        _ISOLATED = IsolatedRunner()
    try:
        return _ISOLATED.run_many(target, list(chunk), outputs, timeout_s, grace_s)
    except PoolError:
        return [dask_point(target, index, params, outputs, timeout_s, grace_s)
                for index, params in chunk]


def chunk_size(n_points: int, n_workers: int, max_chunk: int = 32) -> int:
    """Points per Dask task: at least 4 tasks per worker (load balance, progress),
    at most ``max_chunk`` points per task."""
    return max(1, min(max_chunk, n_points // max(1, 4 * n_workers)))


def chunk_sizes(n_points: int, n_workers: int, max_chunk: int = 32,
                min_chunk: int = 4) -> list[int]:
    """Points per Dask task, in submission order: :func:`chunk_size` of the points
    still to be handed out, so the chunks shrink towards the end of the sweep (down
    to ``min_chunk``, or the first chunk's size if that is smaller) and the workers
    finish at about the same time instead of one running a whole last chunk alone."""
    sizes: list[int] = []
    left = n_points
    min_chunk = min(min_chunk, chunk_size(n_points, n_workers, max_chunk))
    while left > 0:
        k = min(left, max(min_chunk, chunk_size(left, n_workers, max_chunk)))
        sizes.append(k)
        left -= k
    return sizes


Scheduler = Any
"""A Dask scheduler: its address (``"tcp://host:port"``) or a connected
``distributed.Client`` that the caller keeps (and closes) for several sweeps."""


def scheduler_address(scheduler: Scheduler) -> str:
    """The address of ``scheduler`` (an address string, or an open client's scheduler's);
    PoolError for a closed client or another kind of object."""
    if isinstance(scheduler, str):
        return scheduler
    if not (hasattr(scheduler, "submit") and hasattr(scheduler, "status")):
        raise PoolError(f"scheduler must be a Dask scheduler address such as "
                        f"'tcp://127.0.0.1:8786' or a distributed.Client, not "
                        f"{type(scheduler).__name__}")
    address = getattr(getattr(scheduler, "scheduler", None), "address", None)
    if scheduler.status in ("closing", "closed") or not address:
        raise PoolError("the Dask client is closed; pass an open client or the "
                        "scheduler's address")
    return str(address)


def no_scheduler_if_empty(scheduler: Scheduler | None) -> Scheduler | None:
    """None for an empty address (``""``: the local pool, as before clients were taken)."""
    return None if isinstance(scheduler, str) and not scheduler.strip() else scheduler


def check_scheduler(scheduler: Scheduler, timeout_s: float = 20.0) -> int:
    """Number of workers of the Dask scheduler; PoolError if unreachable."""
    with dask_client(scheduler, timeout_s) as client:
        return dask_workers(client, scheduler_address(scheduler))


@contextlib.contextmanager
def dask_client(scheduler: Scheduler, timeout_s: float):
    """A Dask client of ``scheduler``: the caller's own client as it is (left open), or
    a new one of an address (closed after); PoolError if the scheduler cannot be
    reached."""
    address = scheduler_address(scheduler)
    if not isinstance(scheduler, str):
        yield scheduler
        return
    from distributed import Client

    try:
        client = Client(address, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError, ValueError) as e:
        raise PoolError(f"cannot reach the Dask scheduler at {address!r}: {e}") from None
    with client:
        yield client


def dask_workers(client: Any, address: str) -> int:
    """The scheduler's number of workers; PoolError if it has none."""
    try:
        n = len(client.scheduler_info().get("workers", {}))
    except (OSError, TimeoutError) as e:
        raise PoolError(f"cannot reach the Dask scheduler at {address!r}: {e}") from None
    if n == 0:
        raise PoolError(f"the Dask scheduler at {address!r} has no workers; start some with "
                        f"`dask worker {address} --nthreads 1 --host 127.0.0.1 "
                        f"--dashboard-address 127.0.0.1:0` (loopback; for a real cluster "
                        f"see the README's 'Security and failure model')")
    return n


def run_dask(tasks: Iterable[Task], target: str, outputs: list[str], scheduler: Scheduler,
             timeout_s: float, on_outcome: OnOutcome, grace_s: float | None = None,
             chunk: int | None = None, before_results: Callable[[], Any] | None = None,
             ) -> int:
    """Run ``tasks`` on the Dask cluster of ``scheduler`` (an address, or a client kept
    by the caller: no import of ``distributed`` and no connection per sweep); outcomes
    in any order.

    Points go to the cluster in chunks (:func:`chunk_sizes`, shrinking towards the
    end, or ``chunk`` points per Dask task): per-task scheduling costs milliseconds,
    as much as a small point.

    ``before_results`` is called once the points are submitted, before the first
    outcome is handled (a new sweep creates its file then, while the first points run).
    PoolError if the scheduler cannot be reached or has no workers (before
    ``before_results``). Returns the number of Dask workers the cluster had when the
    sweep started.
    """
    from distributed import as_completed

    grace = default_grace_s(timeout_s) if grace_s is None else grace_s
    address = scheduler_address(scheduler)
    tag = uuid.uuid4().hex[:8]
    unrun = 0
    # a lost scheduler is reported once, below, not as the client's reconnect traceback
    log = logging.getLogger("distributed.client")
    level = log.level
    log.setLevel(logging.CRITICAL)
    with contextlib.ExitStack() as stack:
        stack.callback(log.setLevel, level)
        client = stack.enter_context(dask_client(scheduler, 30.0))
        n_workers = dask_workers(client, address)
        futures = {}
        todo = list(tasks)
        sizes = (chunk_sizes(len(todo), n_workers) if chunk is None
                 else [max(1, chunk)] * -(-len(todo) // max(1, chunk)))
        k = 0
        for size in sizes:
            part = todo[k:k + size]
            k += size
            fut = client.submit(dask_points, target, part, outputs, timeout_s, grace,
                                key=f"aimc-points-{tag}-{part[0][0]}", pure=False)
            futures[fut.key] = (fut, [index for index, _ in part])
        if before_results is not None:
            before_results()
        # results are fetched by the client's event loop as tasks finish, not by one
        # blocking round trip per task from this thread
        for fut, result in as_completed([f for f, _ in futures.values()],
                                        with_results=True, raise_errors=False):
            _, indices = futures.pop(fut.key)
            if fut.status == "finished":
                for outcome in result:
                    on_outcome(outcome)
            elif fut.status == "error":
                exc = result[1] if isinstance(result, tuple) else result
                for index in indices:
                    on_outcome(PointOutcome(index, "failed",
                                            f"dask: {type(exc).__name__}: {exc}",
                                            worker="dask"))
            else:       # cancelled / lost with the scheduler: the points never ran
                unrun += len(indices)
            fut.release()
    if unrun:
        raise SchedulerLostError(f"Dask scheduler {address} lost; {unrun} points did not run")
    return n_workers


# ------------------------------------------------------------------------------------
# a whole sweep
# ------------------------------------------------------------------------------------

@dataclass
class SweepSummary:
    out: str
    name: str
    points_total: int
    points_ok: int
    points_failed: int            # failed + timeout, over the whole file
    points_timeout: int
    points_pending: int
    points_run: int               # run by this invocation
    points_skipped: int           # already done before this invocation
    wall_s: float
    points_per_s: float
    spice_s: float                # ngspice time summed over this invocation's points
    worker_s: float               # worker wall time summed over this invocation's points
    workers: int
    scheduler: str | None
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def spice_busy(self) -> float:
        """Fraction of the workers' wall time spent in ngspice (startup included)."""
        denom = max(1, self.workers) * self.wall_s
        return self.spice_s / denom if denom > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.points_failed == 0 and self.points_pending == 0

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["ok"] = self.ok
        d["spice_busy"] = self.spice_busy
        return d

    def text(self) -> str:
        lines = [
            f"sweep {self.name!r} -> {self.out}",
            f"  points: {self.points_ok} ok, {self.points_failed} failed "
            f"({self.points_timeout} timeout), {self.points_pending} pending, "
            f"of {self.points_total}; {self.points_run} run now, {self.points_skipped} "
            "already done",
            f"  {self.points_per_s:.3g} points/s on {self.workers} worker(s)"
            + (f" via {self.scheduler}" if self.scheduler else ""),
            f"  wall {self.wall_s:.3g} s; SPICE {self.spice_s:.3g} s in total = "
            f"{100 * self.spice_busy:.0f} % of {self.workers} worker(s) x wall"
            if self.points_run else f"  wall {self.wall_s:.3g} s",
        ]
        if self.failures:
            lines.append("  failed points:")
            for f in self.failures[:50]:
                msg = f["message"].splitlines()[0] if f["message"] else ""
                lines.append(f"    #{f['index']} {f['status']}: {msg}")
            if len(self.failures) > 50:
                lines.append(f"    ... and {len(self.failures) - 50} more (see /points in "
                             "the file)")
        return "\n".join(lines)


def run_sweep(spec: SweepSpec | str | Path, out: str | Path, workers: int | None = None,
              scheduler: Scheduler | None = None, force: bool = False,
              retry_failed: bool = False,
              progress: bool = True, checkpoint_s: float = 30.0,
              grace_s: float | None = None) -> SweepSummary:
    """Run (or resume) a sweep into ``out``; return its summary.

    ``scheduler``: None (a local pool of ``workers`` processes), a Dask scheduler's
    address, or a ``distributed.Client`` kept open across sweeps (a script that runs
    several sweeps imports ``distributed`` and connects once).

    Raises :class:`~aimc.circuits.sweep.spec.SpecError` or
    :class:`~aimc.circuits.sweep.store.SweepFileError` before anything is recorded (a new
    Dask sweep has handed its points to the cluster by then; they are cancelled).
    """
    from aimc.circuits.sweep.spec import load_spec

    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    spec.validate()
    n_workers = workers or os.cpu_count() or 1
    from aimc.circuits.sweep.store import resolve_out

    # A new sweep runs every point: its workers start now (local pool), or its points
    # go to the Dask cluster first (Dask), while the file is created.
    new_file = force or not resolve_out(out).exists()
    scheduler = no_scheduler_if_empty(scheduler)
    address = None if scheduler is None else scheduler_address(scheduler)
    fresh = scheduler is None and new_file
    if scheduler is not None and not new_file:
        check_scheduler(scheduler)
    elif scheduler is None:
        check_memory(spec, min(n_workers, spec.n_points()))
    started = [WorkerProcess() for _ in range(min(n_workers, spec.n_points()))] \
        if fresh else []
    holder: list[SweepStore] = []

    def open_store() -> SweepStore:
        if not holder:
            holder.append(SweepStore(out, spec, force=force, checkpoint_s=checkpoint_s))
        return holder[0]

    if not (scheduler is not None and new_file):
        try:
            open_store()
        except BaseException:
            for w in started:
                w.kill()
            raise
    t0 = time.monotonic()
    run_outcomes: list[PointOutcome] = []
    bar = None
    lost = False
    try:
        if holder:
            todo = holder[0].todo(retry_failed)
            skipped = holder[0].n - len(todo)
            points = holder[0].points
        else:                       # a new file: every point, as the file will list them
            points = spec.points()
            todo, skipped = list(range(len(points))), 0
        tasks = [(i, spec.point_params(points[i])) for i in todo]
        if progress and tasks:
            from tqdm import tqdm

            bar = tqdm(total=len(tasks), desc=spec.name, unit="pt", file=sys.stderr,
                       dynamic_ncols=True)
            bar.set_postfix(ok=0, failed=0)
        counts = {"ok": 0, "failed": 0}

        def on_outcome(o: PointOutcome) -> None:
            if not o.worker:
                o.worker = worker_id()
            holder[0].record(o)
            run_outcomes.append(PointOutcome(o.index, o.status, o.message,
                                             sim_time_s=o.sim_time_s,
                                             wall_time_s=o.wall_time_s))
            counts["ok" if o.status == "ok" else "failed"] += 1
            if bar is not None:
                bar.set_postfix(ok=counts["ok"], failed=counts["failed"], refresh=False)
                bar.update(1)

        outputs = spec.outputs()
        if scheduler is not None:
            try:
                n_workers = run_dask(tasks, spec.generator, outputs, scheduler,
                                     spec.timeout_s, on_outcome, grace_s,
                                     before_results=open_store)
            except SchedulerLostError:
                lost = True
        else:
            run_local(tasks, spec.generator, outputs, n_workers, spec.timeout_s, on_outcome,
                      grace_s, started=started)
            started = []
    finally:
        for w in started:           # not handed to the pool (an error before it ran)
            w.kill()
        if bar is not None:
            bar.close()
        if holder:
            holder[0].close()
    store = holder[0]
    if lost:
        pending = int(np.sum(store.status == STATUS["pending"]))
        raise SchedulerLostError(f"Dask scheduler {address} lost; {pending} points pending; "
                                 "rerun to resume")
    wall = time.monotonic() - t0
    status = store.status
    bad = np.flatnonzero((status == STATUS["failed"]) | (status == STATUS["timeout"]))
    with h5py.File(store.path, "r") as f:  # only the messages, not the (large) outputs
        messages = f["points/message"].asstr()[()] if len(bad) else []
    names = {v: k for k, v in STATUS.items()}
    failures = [{"index": int(i), "status": names[int(status[i])], "message": str(messages[i])}
                for i in bad]
    ok_run = [o for o in run_outcomes if o.status == "ok"]
    return SweepSummary(
        out=str(store.path), name=spec.name, points_total=store.n,
        points_ok=int(np.sum(status == STATUS["ok"])), points_failed=len(bad),
        points_timeout=int(np.sum(status == STATUS["timeout"])),
        points_pending=int(np.sum(status == STATUS["pending"])),
        points_run=len(run_outcomes), points_skipped=skipped, wall_s=wall,
        points_per_s=len(run_outcomes) / wall if wall > 0 else 0.0,
        spice_s=float(sum(o.sim_time_s for o in ok_run)),
        worker_s=float(sum(o.wall_time_s for o in ok_run)),
        workers=n_workers, scheduler=address, failures=failures,
    )


def machine_memory() -> tuple[float, float]:
    """(total, available) memory of this machine in bytes (/proc/meminfo or sysconf)."""
    info: dict[str, float] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            info[key] = float(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    total = info.get("MemTotal") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return total, info.get("MemAvailable", total)


def check_memory(spec: SweepSpec, n_workers: int) -> None:
    """Refuse a local sweep whose largest point, times the workers, cannot fit in this
    machine's memory; warn (stderr) when it exceeds the memory available now."""
    from aimc.circuits.sweep.spec import SpecError

    need = spec.peak_point_memory()
    if need <= 0:
        return
    total, available = machine_memory()
    figure = (f"its largest point needs about {need / 1e9:.3g} GB (estimated from its "
              f"device count), x {n_workers} worker(s) = {need * n_workers / 1e9:.3g} GB")
    if need * n_workers > total:
        fewer = "fewer --workers or " if n_workers > 1 else ""
        raise SpecError(f"{figure}, but this machine has {total / 1e9:.3g} GB: use {fewer}"
                        "smaller arrays (tile a large one)", spec.source)
    if need * n_workers > available:
        print(f"aimc sweep: warning: {figure}; {available / 1e9:.3g} GB are available now",
              file=sys.stderr)


CI_SPECS = ("crossbar_op_ci", "dac_line_ci", "cco_adc_ci")


def demo_sweeps(out_dir: str | Path, workers: int | None = None, progress: bool = True,
                force: bool = False) -> list[SweepSummary]:
    """Run the small shipped sweep of each circuit into ``out_dir/<name>.h5``.

    This is what the main job (``aimc demo``) runs: a crossbar operating-point sweep,
    a PWM DAC line sweep and a CCO-ADC transfer sweep, a few seconds each.
    """
    out = Path(out_dir)
    return [run_sweep(name, out / f"{name}.h5", workers=workers, progress=progress,
                      force=force) for name in CI_SPECS]
