"""The HDF5 file of a study: one row per configuration, crash-safe and resumable.

Layout (plain h5py reads it)::

    /                    attrs: format="aimc.study", format_version, name, spec_hash,
                         n_configs, networks (JSON), seeds, n_test, created_utc,
                         updated_utc, aimc_version
    /meta/spec_toml      the spec text
    /params/<axis>       (N,) the configuration's value (strings for device/structure)
    /objectives/<name>   (N,) float64 (``<network>.acc_seeds``: (N, seeds)); NaN until done
    /configs/status      (N,) int8 {pending 0, ok 1, failed 2}
    /configs/message     (N,) str, the error of a failed configuration
    /configs/wall_time_s, /configs/cpu_s, /configs/worker, /configs/finished_utc

Durability is the sweep engine's (:mod:`aimc.circuits.sweep.store`): every finished
configuration is appended to ``STUDY.h5.journal`` (framed, CRC-checked, flushed per
record); the journal is merged into a copy of the file that atomically replaces it
every ``checkpoint_s`` and at the end. After ``kill -9`` the next run merges the
intact journal records first and runs only what is still pending. A file or journal
from another spec (other hash) is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from aimc.circuits.sweep.store import (
    Journal,
    PointOutcome,
    _fsync_dir,
    _fsync_file,
    _utc,
    journal_path,
    read_journal,
    worker_id,
)

FORMAT = "aimc.study"
FORMAT_VERSION = 1
STATUS = {"pending": 0, "ok": 1, "failed": 2}


class StudyFileError(RuntimeError):
    """The output file cannot be used (not a study file, or one from another spec)."""


def _objective_names(networks) -> list[str]:
    per_net = ("acc_float", "acc_quantised", "acc_mean", "acc_std", "acc_drop",
               "acc_float_dense", "mvm_sigma_pct", "mvm_sigma_q_pct", "sparsity", "energy_j",
               "latency_s", "area_mm2", "n_ima", "n_tiles", "devices", "bits_stored",
               "tops_per_w", "macs", "e_ima_analog_j")
    return [f"{n}.{k}" for n in networks for k in per_net] + ["window_s", "t_lsb_s"]


def create_study_file(path: Path, spec) -> None:
    configs = spec.configs()
    n = len(configs)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with h5py.File(tmp, "w") as f:
        f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, name=spec.name,
                       spec_hash=spec.spec_hash, n_configs=n,
                       networks=json.dumps(list(spec.networks)), seeds=spec.seeds,
                       n_test=spec.n_test, created_utc=_utc(), updated_utc=_utc())
        f.create_group("meta").create_dataset("spec_toml", data=spec.text)
        g = f.create_group("params")
        for k in configs[0]:
            vals = [c[k] for c in configs]
            if isinstance(vals[0], str):
                g.create_dataset(k, data=np.array(vals, dtype=h5py.string_dtype()))
            else:
                g.create_dataset(k, data=np.array(vals, dtype=float))
        o = f.create_group("objectives")
        for k in _objective_names(spec.networks):
            o.create_dataset(k, data=np.full(n, np.nan))
        for net in spec.networks:
            o.create_dataset(f"{net}.acc_seeds", data=np.full((n, spec.seeds), np.nan))
        s = f.create_group("configs")
        s.create_dataset("status", data=np.zeros(n, np.int8))
        s.create_dataset("message", data=np.array([""] * n, dtype=h5py.string_dtype()))
        s.create_dataset("worker", data=np.array([""] * n, dtype=h5py.string_dtype()))
        for k in ("wall_time_s", "cpu_s", "finished_utc"):
            s.create_dataset(k, data=np.full(n, np.nan))
    _fsync_file(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _write(f: h5py.File, outcomes: list[PointOutcome]) -> None:
    obj = f["objectives"]
    cf = f["configs"]
    for o in outcomes:
        i = o.index
        cf["status"][i] = STATUS[o.status]
        cf["message"][i] = o.message
        cf["worker"][i] = o.worker
        cf["wall_time_s"][i] = o.wall_time_s
        cf["cpu_s"][i] = o.sim_time_s
        cf["finished_utc"][i] = o.finished_utc
        for k, v in o.outputs.items():
            if k in obj:
                obj[k][i] = np.asarray(v, float)


def merge(path: Path, outcomes: list[PointOutcome]) -> None:
    if not outcomes:
        return
    latest = {o.index: o for o in outcomes}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            _write(f, [latest[i] for i in sorted(latest)])
            f.attrs["updated_utc"] = _utc()
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


class StudyStore:
    """Open (create or resume) the study file of a spec; refuses another spec's file."""

    def __init__(self, path: str | Path, spec, checkpoint_s: float = 30.0) -> None:
        self.path = Path(path)
        self.spec = spec
        self.checkpoint_s = checkpoint_s
        self.jpath = journal_path(self.path)
        if self.path.exists():
            try:
                with h5py.File(self.path, "r") as f:
                    fmt, h = f.attrs.get("format"), f.attrs.get("spec_hash")
            except OSError as e:
                raise StudyFileError(f"{self.path}: not a readable HDF5 file ({e}); "
                                     "give another --out") from None
            if fmt != FORMAT:
                raise StudyFileError(f"{self.path} is not an aimc study file "
                                     f"(format {fmt!r}); give another --out")
            if h != spec.spec_hash:
                raise StudyFileError(
                    f"{self.path} holds a study of another spec (hash {h}, this spec "
                    f"{spec.spec_hash}); give another --out or delete the file")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            create_study_file(self.path, spec)
        # records of a killed run: merge them before anything else
        merge(self.path, read_journal(self.jpath, spec.spec_hash))
        self.journal = Journal(self.jpath, spec.spec_hash)
        self.journal.reset()
        self._pending: list[PointOutcome] = []
        self._last = time.monotonic()

    def todo(self, retry_failed: bool = False) -> list[int]:
        with h5py.File(self.path, "r") as f:
            st = f["configs/status"][:]
        want = (st == 0) | ((st == 2) if retry_failed else False)
        return [int(i) for i in np.flatnonzero(want)]

    def record(self, index: int, outputs: dict[str, Any] | None, message: str = "",
               wall_s: float = float("nan"), cpu_s: float = float("nan")) -> None:
        ok = outputs is not None
        o = PointOutcome(index=index, status="ok" if ok else "failed", message=message,
                         outputs={k: np.asarray(v, float) for k, v in (outputs or {}).items()
                                  if np.asarray(v).dtype.kind in "fiu"},
                         sim_time_s=cpu_s, wall_time_s=wall_s, worker=worker_id(),
                         finished_utc=time.time())
        self.journal.append(o)
        self._pending.append(o)
        if time.monotonic() - self._last > self.checkpoint_s:
            self.checkpoint()

    def checkpoint(self) -> None:
        self.journal.close()
        merge(self.path, self._pending)
        self._pending = []
        self.journal.reset()
        self._last = time.monotonic()

    def close(self) -> None:
        self.checkpoint()
        self.journal.remove()


def read_study(path: str | Path) -> dict[str, Any]:
    """Everything in a study file as NumPy arrays: params, objectives, status, attrs."""
    p = Path(path)
    if not p.is_file():
        raise StudyFileError(f"study file {str(p)!r} does not exist")
    with h5py.File(p, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise StudyFileError(f"{p} is not an aimc study file")
        params = {k: (f["params"][k].asstr()[:] if f["params"][k].dtype.kind == "O"
                      else f["params"][k][:]) for k in f["params"]}
        obj = {k: f["objectives"][k][:] for k in f["objectives"]}
        status = f["configs/status"][:]
        wall = f["configs/wall_time_s"][:]
        cpu = f["configs/cpu_s"][:]
        msg = f["configs/message"].asstr()[:]
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    attrs["networks"] = json.loads(attrs["networks"])
    return {"params": params, "objectives": obj, "status": status, "wall_time_s": wall,
            "cpu_s": cpu, "message": msg, "attrs": attrs}
