"""Run a study: every configuration a task on the local process pool or a Dask cluster.

Results go through :class:`~aimc.system.studies.study_store.StudyStore` (journal per
configuration, atomic checkpoints), so a killed run resumes where it stopped and a
finished configuration is never computed twice.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aimc.circuits.sweep.run import (
    Scheduler,
    can_fork,
    dask_client,
    dask_workers,
    no_scheduler_if_empty,
    scheduler_address,
)
from aimc.system.studies.study_spec import StudySpec, load_spec


def study_task(index: int, config: dict[str, Any], networks: tuple[str, ...], seeds: int,
               n_test: int) -> tuple[int, dict[str, Any] | None, str, float, float]:
    """One configuration (runs in a worker process or on a Dask worker)."""
    import traceback

    from aimc.system.studies.design_space import evaluate_config

    t0 = time.perf_counter()
    try:
        out = evaluate_config(config, networks, seeds, n_test)
        return index, out, "", out["wall_s"], out["cpu_s"]
    except Exception as exc:  # noqa: BLE001 - recorded in the file, the study goes on
        msg = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc(limit=3)
        return index, None, (msg + "\n" + tb)[:2000], time.perf_counter() - t0, float("nan")


@dataclass
class StudySummary:
    out: str
    name: str
    n_configs: int
    n_run: int
    n_ok: int
    n_failed: int
    wall_s: float
    workers: int
    scheduler: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        return (f"study {self.name}: {self.n_configs} configurations, {self.n_run} run now "
                f"({self.n_ok} ok, {self.n_failed} failed) in {self.wall_s:.1f} s on "
                f"{self.workers} {'Dask' if self.scheduler else 'local'} worker(s) -> "
                f"{self.out}")


def _pool_context() -> Any:
    """Fork (cheap: the modules are imported) when the sweep engine's rule allows it
    (:func:`~aimc.circuits.sweep.run.can_fork`: one thread, no ngspice started here;
    a child of a process running ngspice inherits its state and its transients fail
    with "timestep too small"); else new interpreters (spawn)."""
    import multiprocessing as mp

    return mp.get_context("fork" if can_fork() else "spawn")


def run_study(spec: StudySpec | str | Path, out: str | Path, workers: int = 2,
              scheduler: Scheduler | None = None, progress: bool = False,
              checkpoint_s: float = 30.0, retry_failed: bool = False) -> StudySummary:
    """Run (or resume) a study into ``out``: on ``workers`` local processes, or on the
    Dask cluster of ``scheduler`` (an address, or a ``distributed.Client`` kept open by
    the caller)."""
    from aimc.system.studies.study_store import StudyStore

    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    if workers < 1:
        raise ValueError(f"workers = {workers}: give at least 1")
    scheduler = no_scheduler_if_empty(scheduler)
    store = StudyStore(out, spec, checkpoint_s)
    configs = spec.configs()
    todo = store.todo(retry_failed)
    n_ok = n_failed = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="cfg", desc=f"study {spec.name}")
    t0 = time.perf_counter()
    args = (spec.networks, spec.seeds, spec.n_test)

    def done(res) -> None:
        nonlocal n_ok, n_failed
        index, outputs, msg, wall, cpu = res
        store.record(index, outputs, msg, wall, cpu)
        n_ok += outputs is not None
        n_failed += outputs is None
        if bar:
            bar.update()

    try:
        if scheduler is not None:
            from distributed import as_completed

            with dask_client(scheduler, 30.0) as client:
                n_workers = dask_workers(client, scheduler_address(scheduler))
                futs = [client.submit(study_task, i, configs[i], *args, pure=False)
                        for i in todo]
                for fut in as_completed(futs):
                    done(fut.result())
                    fut.release()
        elif workers == 1 or len(todo) <= 1:
            n_workers = 1
            for i in todo:
                done(study_task(i, configs[i], *args))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            n_workers = workers
            with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
                futs = [pool.submit(study_task, i, configs[i], *args) for i in todo]
                for fut in as_completed(futs):
                    done(fut.result())
    finally:
        store.close()
        if bar:
            bar.close()
    return StudySummary(str(out), spec.name, len(configs), len(todo), n_ok, n_failed,
                        time.perf_counter() - t0, n_workers,
                        "" if scheduler is None else scheduler_address(scheduler))
