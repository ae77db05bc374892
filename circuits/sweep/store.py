"""The HDF5 file of a sweep: layout, crash-safe appends, resume, and a NumPy reader.

Layout (plain h5py can read it; see docs/readme/sweep.md)::

    /                      attrs: format="aimc.sweep", format_version, name, generator,
                           spec_hash, n_points, seed, created_utc, updated_utc,
                           aimc_version, pyspice_version, ngspice_version, h5py/hdf5/numpy/
                           scipy versions, example_netlist_hash, outputs
    /meta/spec_toml        the spec text (scalar string)
    /meta/canonical_json   what defines the data (JSON; its hash is spec_hash)
    /meta/example_netlist  the netlist of point 0 when it is small (at most
                           EXAMPLE_NETLIST_MAX_BYTES), else "" with attr "omitted"
    /fixed                 attrs: every non-swept parameter (defaults included); attr
                           "units" = JSON {name: unit}
    /inputs/<param>        (N,) swept values per point; attrs units, doc
    /inputs/seed           (N,) int64, the point's random seed
    /outputs/<name>        (N, *shape) float64, NaN until the point is ok (and as padding
                           when the shape varies between points); attrs units, doc
    /points/status         (N,) enum int8 {pending 0, ok 1, failed 2, timeout 3}
    /points/message        (N,) str, ngspice's (or the worker's) message when not ok
    /points/sim_time_s     (N,) ngspice time of the point: wall time inside the ngspice
                           runner (free the previous circuit, load, solve, read back)
    /points/solve_time_s   (N,) the part of it ngspice spends loading and solving
    /points/wall_time_s    (N,) wall time of the point in its worker
    /points/finished_utc   (N,) UNIX time the point finished
    /points/netlist_hash   (N,) str, sha256[:16] of the point's netlist
    /points/worker         (N,) str, host:pid of the worker

Durability. The ``.h5`` file is never modified in place while a sweep runs: every
finished point is appended to a journal ``DATA.h5.journal`` (length + CRC framed
records, flushed to the OS per point, so ``kill -9`` loses at most the points in
flight). Every ``checkpoint_s`` seconds, and at the end, the journal is merged into
a copy of the file which then atomically replaces it (``os.replace``), and the
journal is reset. The ``.h5`` is therefore always a complete, closed HDF5 file; a
crash between the replace and the journal reset only replays identical records.
A journal whose records are torn (the process died mid-write) is read up to the
last intact record.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import io
import json
import os
import shutil
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from aimc.circuits.sweep.outcome import PointOutcome, worker_id  # noqa: F401 - re-exported

FORMAT = "aimc.sweep"
FORMAT_VERSION = 1
STATUS = {"pending": 0, "ok": 1, "failed": 2, "timeout": 3}
STATUS_NAMES = {v: k for k, v in STATUS.items()}
_JOURNAL_MAGIC = b"AIMC-SWEEP-JOURNAL-1\n"
_FRAME = struct.Struct("<4sII")  # tag, payload length, crc32
_TAG = b"PNT2"        # JSON head + raw float64 outputs (~20 µs a record)
_TAG_NPZ = b"PNT1"    # np.savez records of earlier versions (~0.7 ms each), still read
_HEAD = struct.Struct("<I")     # length of a PNT2 record's JSON head
_META = ("index", "status", "message", "sim_time_s", "wall_time_s", "netlist_hash", "worker",
         "finished_utc", "ngspice_version", "solve_time_s")


class SweepFileError(RuntimeError):
    """The output file cannot be used (not an aimc sweep file, corrupt, other spec)."""


class DiskFullError(SweepFileError):
    """No space left while writing the sweep file or its journal; what was saved is safe."""


# errors of a write that found no room: a full disk, a quota, a file-size limit
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def is_no_space(exc: BaseException | None, folder: Path | None = None) -> bool:
    """Whether ``exc``, or an error it arose from, means "no space left" (an OSError, or
    HDF5's text for one); HDF5 may replace that error with one about its cache when it
    closes the file, so a ``folder`` with no free space left counts too."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return True
        text = str(exc).lower()
        if any(k in text for k in ("no space left", "disk quota", "file too large",
                                   "errno = 28", "errno = 27", "errno = 122")):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    if folder is not None:
        try:
            st = os.statvfs(folder)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize < 2**20
    return False


def resolve_out(path: str | Path) -> Path:
    """The real file a sweep writes: ``path`` with symlinks and ``..`` resolved (so the
    lock, the journal and the atomic replace act on the target, not on a link). A file
    with several hard links is refused: the atomic replace would split its names."""
    p = Path(path).expanduser().resolve()
    try:
        st = p.stat()
    except FileNotFoundError:
        return p
    if p.is_file() and st.st_nlink > 1:
        raise SweepFileError(
            f"{path} has {st.st_nlink} hard links: a sweep replaces the file at each "
            "checkpoint, which would split them (and two sweeps could write it under two "
            "names); refusing. Give the file one name (copy it) and rerun.")
    return p


def _utc(t: float | None = None) -> str:
    return _dt.datetime.fromtimestamp(t or time.time(), _dt.UTC).isoformat(timespec="seconds")


def journal_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".journal")


# ------------------------------------------------------------------------------------
# journal
# ------------------------------------------------------------------------------------

def encode_outcome(o: PointOutcome) -> bytes:
    """One framed journal record: a JSON head (the point's fields and the name and shape
    of each output) followed by the outputs as little-endian float64."""
    meta: dict[str, Any] = {k: getattr(o, k) for k in _META}
    arrays = [np.asarray(v, dtype="<f8") for v in o.outputs.values()]
    meta["outputs"] = [[k, list(a.shape)] for k, a in zip(o.outputs, arrays, strict=True)]
    head = json.dumps(meta).encode()
    payload = b"".join([_HEAD.pack(len(head)), head, *(a.tobytes() for a in arrays)])
    return _FRAME.pack(_TAG, len(payload), zlib.crc32(payload)) + payload


def decode_outcome(payload: bytes, tag: bytes = _TAG) -> PointOutcome:
    if tag == _TAG_NPZ:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            outputs = {k[2:]: z[k] for k in z.files if k.startswith("o_")}
        return PointOutcome(outputs=outputs, **meta)
    (n_head,) = _HEAD.unpack_from(payload)
    meta = json.loads(payload[_HEAD.size:_HEAD.size + n_head])
    pos = _HEAD.size + n_head
    outputs = {}
    for name, shape in meta.pop("outputs"):
        n = int(np.prod(shape, dtype=np.int64))
        outputs[name] = np.frombuffer(payload, "<f8", n, pos).reshape(shape).astype(float)
        pos += 8 * n
    if pos != len(payload):
        raise ValueError("journal record longer than its outputs")
    return PointOutcome(outputs=outputs, **meta)


def read_journal(path: str | Path, spec_hash: str | None = None) -> list[PointOutcome]:
    """Intact records of a journal (torn tail ignored); [] if missing or other spec."""
    jp = Path(path)
    if not jp.exists():
        return []
    data = jp.read_bytes()
    if not data.startswith(_JOURNAL_MAGIC):
        return []
    pos = len(_JOURNAL_MAGIC)
    head_end = data.find(b"\n", pos)
    if head_end < 0:
        return []
    if spec_hash is not None and data[pos:head_end].decode(errors="replace") != spec_hash:
        return []
    pos = head_end + 1
    out = []
    while pos + _FRAME.size <= len(data):
        tag, n, crc = _FRAME.unpack_from(data, pos)
        payload = data[pos + _FRAME.size: pos + _FRAME.size + n]
        if tag not in (_TAG, _TAG_NPZ) or len(payload) != n or zlib.crc32(payload) != crc:
            break
        try:
            out.append(decode_outcome(payload, tag))
        except Exception:  # noqa: BLE001 - a damaged record ends the readable part
            break
        pos += _FRAME.size + n
    return out


class Journal:
    """Append-only record of finished points (one flush per point)."""

    def __init__(self, path: Path, spec_hash: str) -> None:
        self.path = path
        self.spec_hash = spec_hash
        self._f = None

    def reset(self) -> None:
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(_JOURNAL_MAGIC + self.spec_hash.encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def append(self, o: PointOutcome) -> None:
        if self._f is None:
            if not self.path.exists():
                self.reset()
            self._f = open(self.path, "ab")  # noqa: SIM115 - kept open for appends
        self._f.write(encode_outcome(o))
        self._f.flush()

    def close(self) -> None:
        f, self._f = self._f, None
        if f is None:
            return
        try:
            f.flush()
            os.fsync(f.fileno())
        finally:
            try:
                f.close()
            except OSError:     # the flush above failed (disk full): already raised
                pass

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------
# file checks
# ------------------------------------------------------------------------------------

def inspect_file(path: str | Path, structure: bool = True) -> dict[str, Any]:
    """Root attributes of an aimc sweep file, opened read-only; SweepFileError otherwise
    (also, with ``structure``, for a missing, misshapen or linked dataset)."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _attr(v) for k, v in f.attrs.items()}
            if attrs.get("format") != FORMAT:
                raise SweepFileError(
                    f"{path} is an HDF5 file but not an aimc sweep file (no format="
                    f"'{FORMAT}' attribute); refusing to touch it. Choose another --out.")
            for grp in ("inputs", "outputs", "points", "meta"):
                if grp not in f:
                    raise SweepFileError(f"{path} is an aimc sweep file without /{grp}: "
                                         "it is damaged; refusing to touch it.")
            if int(attrs.get("format_version", 0)) > FORMAT_VERSION:
                raise SweepFileError(f"{path} was written by a newer aimc (format "
                                     f"{attrs['format_version']}); upgrade aimc.")
            if structure:
                _check_structure(f, path, attrs)
            attrs["spec_toml"] = _str(f["meta/spec_toml"][()])
            return attrs
    except SweepFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise SweepFileError(f"{path} is not a readable HDF5 file ({e}); it may be corrupt "
                             "or something else. Refusing to touch it.") from None


POINT_DATASETS = ("status", "message", "sim_time_s", "solve_time_s", "wall_time_s",
                  "finished_utc", "netlist_hash", "worker")


def _check_structure(f: h5py.File, path: Path, attrs: dict[str, Any]) -> None:
    """Every dataset the format has, of the file's point count, stored in the file itself
    (no external or soft links), with known status values; SweepFileError naming the
    damage otherwise."""
    def damaged(what: str) -> SweepFileError:
        return SweepFileError(f"{path} is damaged: {what}; refusing to use it (restore it, "
                              "or start over with --force)")

    try:
        n = int(attrs["n_points"])
    except (KeyError, TypeError, ValueError):
        raise damaged("no valid n_points attribute") from None
    if n < 0:
        raise damaged(f"n_points = {n}")
    try:
        outputs = json.loads(attrs.get("outputs", "[]"))
    except (TypeError, ValueError):
        raise damaged("its 'outputs' attribute is not a JSON list") from None
    need = ([f"points/{k}" for k in POINT_DATASETS] + ["inputs/seed", "meta/spec_toml"]
            + [f"outputs/{k}" for k in outputs])
    need += [f"inputs/{k}" for k in f["inputs"]]
    for name in need:
        link = f.get(name, getlink=True)
        if link is None:
            raise damaged(f"/{name} is missing")
        if not isinstance(link, h5py.HardLink):
            raise damaged(f"/{name} is a {type(link).__name__} (data stored outside the "
                          "file is not accepted)")
        if name == "meta/spec_toml":
            continue
        ds = f[name]
        if not isinstance(ds, h5py.Dataset) or ds.ndim < 1 or ds.shape[0] != n:
            shape = getattr(ds, "shape", None)
            raise damaged(f"/{name} has shape {shape}, expected {n} points")
    status = f["points/status"][()]
    bad = ~np.isin(status, list(STATUS_NAMES))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise damaged(f"/points/status[{i}] = {int(status[i])} is not a known status "
                      f"({STATUS})")


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


# ------------------------------------------------------------------------------------
# creation
# ------------------------------------------------------------------------------------

_STATUS_DTYPE = h5py.enum_dtype(STATUS, basetype="i1")
EXAMPLE_NETLIST_MAX_BYTES = 2**20
EXAMPLE_NETLIST_MAX_MEMORY = 1e9     # bytes a point may need for its netlist to be built


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"h5py_version": h5py.__version__, "hdf5_version": h5py.version.hdf5_version,
           "numpy_version": np.__version__}
    # from the installed metadata, not by importing SciPy (~50 ms of a sweep's start)
    for dist, key in (("aimc", "aimc_version"), ("PySpice", "pyspice_version"),
                      ("scipy", "scipy_version")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "unknown"
    return out


def create_file(path: Path, spec, points: list[dict[str, Any]]) -> None:
    """Write an empty sweep file for ``spec`` (every point pending), atomically."""
    target = spec.target
    n = len(points)
    outputs = spec.outputs()
    params = [spec.point_params(p) for p in points]
    shapes: dict[str, tuple[int, ...]] = {}
    for name in outputs:
        dims: tuple[int, ...] | None = None
        for p in params:
            s = target.output_shape(name, p)
            dims = s if dims is None else tuple(max(a, b) for a, b in zip(dims, s, strict=True))
        shapes[name] = dims or ()
    # the example netlist is built and kept only for small points: a 1024x1024 array's
    # is ~0.8 GB of text, which every checkpoint would copy
    example, omitted = "", ""
    if target.memory_bytes(params[0]) <= EXAMPLE_NETLIST_MAX_MEMORY:
        example = target.netlist(params[0])
    if not example or len(example) > EXAMPLE_NETLIST_MAX_BYTES:
        omitted = (f"point 0's netlist is larger than {EXAMPLE_NETLIST_MAX_BYTES >> 20} MiB; "
                   "rebuild it with aimc.circuits.sweep.targets.get_target(generator)"
                   ".netlist(params)")
        example = ""
    tmp = _tmp_copy(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with h5py.File(tmp, "w", libver=("earliest", "latest")) as f:
            a = f.attrs
            a["format"] = FORMAT
            a["format_version"] = FORMAT_VERSION
            a["name"] = spec.name
            a["generator"] = spec.generator
            a["description"] = spec.description
            a["spec_hash"] = spec.spec_hash()
            a["n_points"] = n
            a["seed"] = -1 if spec.seed is None else int(spec.seed)
            a["created_utc"] = _utc()
            a["updated_utc"] = _utc()
            a["ngspice_version"] = ""
            a["outputs"] = json.dumps(outputs)
            a["example_netlist_hash"] = _hash(example) if example else ""
            for k, v in _versions().items():
                a[k] = v
            meta = f.create_group("meta")
            meta["spec_toml"] = spec.spec_text()
            meta["canonical_json"] = json.dumps(spec.canonical(), sort_keys=True)
            meta["example_netlist"] = example
            if omitted:
                meta["example_netlist"].attrs["omitted"] = omitted
            fixed = f.create_group("fixed")
            canon_fixed = spec.canonical()["fixed"]
            for k, v in canon_fixed.items():
                fixed.attrs[k] = v
            fixed.attrs["units"] = json.dumps(
                {k: target.params[k].unit for k in canon_fixed if k in target.params})
            inp = f.create_group("inputs")
            for k in spec.swept_names():
                par = target.params[k]
                vals = [p[k] for p in points]
                if par.type is str:
                    ds = _per_point(inp, k, data=np.array(vals, dtype=object),
                                    dtype=h5py.string_dtype())
                else:
                    dt = {int: np.int64, float: np.float64, bool: np.bool_}[par.type]
                    ds = _per_point(inp, k, data=np.array(vals, dtype=dt))
                ds.attrs["units"] = par.unit
                ds.attrs["doc"] = par.doc
            ds = _per_point(inp, "seed", data=np.array([p["seed"] for p in points],
                                                          dtype=np.int64))
            ds.attrs["units"] = "1"
            ds.attrs["doc"] = "seed of the point's random arrays"
            out = f.create_group("outputs")
            for k in outputs:
                shape = (n, *shapes[k])
                row = max(1, int(np.prod(shapes[k], dtype=np.int64)))
                chunk_rows = int(max(1, min(n, 131072 // (8 * row))))
                ds = out.create_dataset(k, shape=shape, dtype=np.float64,
                                        chunks=(chunk_rows, *shapes[k]), compression="gzip",
                                        compression_opts=4, shuffle=True, fillvalue=np.nan)
                ds.attrs["units"] = target.outputs[k].unit
                ds.attrs["doc"] = target.outputs[k].doc
            pts = f.create_group("points")
            _per_point(pts, "status", data=np.zeros(n, dtype=np.int8), dtype=_STATUS_DTYPE)
            _per_point(pts, "message", shape=(n,), dtype=h5py.string_dtype())
            for k, unit in (("sim_time_s", "s"), ("solve_time_s", "s"), ("wall_time_s", "s"),
                            ("finished_utc", "s")):
                ds = _per_point(pts, k, data=np.full(n, np.nan))
                ds.attrs["units"] = unit
            _per_point(pts, "netlist_hash", shape=(n,), dtype=h5py.string_dtype())
            _per_point(pts, "worker", shape=(n,), dtype=h5py.string_dtype())
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _tmp_copy(path: Path) -> Path:
    """The name of this process's working copy of ``path`` (``.NAME.tmp-PID``)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove_stale_copies(path: Path) -> list[Path]:
    """Delete working copies of ``path`` (exactly ``.NAME.tmp-PID``, no pattern) whose
    writer process is gone; returns them. Copies of a live process are kept."""
    prefix = f".{path.name}.tmp-"
    removed = []
    for entry in path.parent.iterdir():
        rest = entry.name[len(prefix):] if entry.name.startswith(prefix) else ""
        if not rest.isdigit() or int(rest) == os.getpid() or _alive(int(rest)):
            continue
        entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # a process of another user
        return True
    return True


def _per_point(group: h5py.Group, name: str, **kw: Any) -> h5py.Dataset:
    """A chunked (N,) dataset; numeric ones gzip-compressed (strings: chunked only)."""
    n = kw["data"].shape[0] if "data" in kw else kw["shape"][0]
    dtype = kw.get("dtype", kw["data"].dtype if "data" in kw else None)
    numeric = h5py.check_string_dtype(np.dtype(dtype)) is None and np.dtype(dtype) != object
    opts: dict[str, Any] = {"chunks": (max(1, min(n, 16384)),)}
    if numeric:
        opts.update(compression="gzip", compression_opts=4, shuffle=True)
    return group.create_dataset(name, **kw, **opts)


def _hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fsync_file(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(p: Path) -> None:
    try:
        _fsync_file(p)
    except OSError:  # pragma: no cover - some filesystems refuse directory fsync
        pass


# ------------------------------------------------------------------------------------
# merging outcomes into the file
# ------------------------------------------------------------------------------------

def merge_outcomes(path: Path, outcomes: list[PointOutcome]) -> None:
    """Write outcomes into a copy of the file, then atomically replace it."""
    if not outcomes:
        return
    latest: dict[int, PointOutcome] = {}
    for o in outcomes:
        latest[o.index] = o
    tmp = _tmp_copy(path)
    try:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            _write_rows(f, [latest[i] for i in sorted(latest)])
            f.attrs["updated_utc"] = _utc()
            vers = {o.ngspice_version for o in latest.values() if o.ngspice_version}
            if vers:
                old = {v for v in _attr(f.attrs["ngspice_version"]).split(",") if v}
                f.attrs["ngspice_version"] = ",".join(sorted(old | vers))
            f.flush()
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except Exception as e:
        if is_no_space(e, path.parent):
            raise DiskFullError(f"disk full while checkpointing {path}") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _runs(idx: list[int], max_gap: int = 64) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in idx:
        if runs and i - runs[-1][-1] <= max_gap:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _write_rows(f: h5py.File, rows: list[PointOutcome]) -> None:
    n = int(f.attrs["n_points"])
    for o in rows:
        if not 0 <= o.index < n:
            raise SweepFileError(f"point index {o.index} outside 0..{n - 1}")
    by_index = {o.index: o for o in rows}
    pts = f["points"]
    outs = f["outputs"]
    for run in _runs(sorted(by_index)):
        lo, hi = run[0], run[-1] + 1
        status = pts["status"][lo:hi]
        fields = {k: pts[k][lo:hi] for k in ("sim_time_s", "solve_time_s", "wall_time_s",
                                             "finished_utc")}
        strs = {k: pts[k].asstr()[lo:hi].astype(object)
                for k in ("message", "netlist_hash", "worker")}
        blocks = {k: outs[k][lo:hi] for k in outs}
        for i in run:
            o = by_index[i]
            j = i - lo
            status[j] = STATUS[o.status]
            fields["sim_time_s"][j] = o.sim_time_s
            fields["solve_time_s"][j] = o.solve_time_s
            fields["wall_time_s"][j] = o.wall_time_s
            fields["finished_utc"][j] = o.finished_utc
            strs["message"][j] = o.message
            strs["netlist_hash"][j] = o.netlist_hash
            strs["worker"][j] = o.worker
            for k, block in blocks.items():
                block[j] = np.nan
                if o.status == "ok" and k in o.outputs:
                    v = np.asarray(o.outputs[k], dtype=float)
                    block[(j, *(slice(0, s) for s in v.shape))] = v
        pts["status"][lo:hi] = status
        for k, v in fields.items():
            pts[k][lo:hi] = v
        for k, v in strs.items():
            pts[k][lo:hi] = v
        for k, block in blocks.items():
            outs[k][lo:hi] = block


# ------------------------------------------------------------------------------------
# the store a running sweep writes to
# ------------------------------------------------------------------------------------

class SweepStore:
    """Open (create, check, resume) the file of a sweep and record outcomes durably."""

    def __init__(self, path: str | Path, spec, force: bool = False,
                 checkpoint_s: float = 30.0) -> None:
        self.path = resolve_out(path)       # lock and write the real file, not a link
        self.spec = spec
        self.spec_hash = spec.spec_hash()
        self.points = spec.points()
        self.n = len(self.points)
        self.checkpoint_s = checkpoint_s
        self.journal = Journal(journal_path(self.path), self.spec_hash)
        self._lock_fd = self._lock()
        self._pending: list[PointOutcome] = []
        self.ngspice_version = ""
        try:
            self._open(force)
        except BaseException:
            self.release()
            raise
        self._last_checkpoint = time.monotonic()

    def _lock(self) -> int:
        lock = self.path.with_name(self.path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SweepFileError(f"{self.path} is being written by another running sweep "
                                 f"(lock {lock})") from None
        return fd

    def release(self) -> None:
        if self._lock_fd is not None:
            self.path.with_name(self.path.name + ".lock").unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _open(self, force: bool) -> None:
        # we hold the lock: copies left by a writer killed mid-checkpoint are stale
        remove_stale_copies(self.path)
        if self.path.exists():
            # raises for foreign/corrupt files; --force may replace a damaged sweep file
            attrs = inspect_file(self.path, structure=not force)
            if force:
                self.journal.remove()
                create_file(self.path, self.spec, self.points)
            elif attrs.get("spec_hash") != self.spec_hash:
                raise SweepFileError(
                    f"{self.path} holds sweep {attrs.get('name')!r} of a different spec "
                    f"(hash {attrs.get('spec_hash')}, this spec {self.spec_hash}); refusing to "
                    "mix results. Use --force to start over or choose another --out.")
            else:
                self._check_points()
                merge_outcomes(self.path, read_journal(self.journal.path, self.spec_hash))
        else:
            create_file(self.path, self.spec, self.points)
        self.journal.reset()
        with h5py.File(self.path, "r") as f:
            self.status = f["points/status"][()].astype(np.int8)
            self.ngspice_version = _attr(f.attrs["ngspice_version"])

    def _check_points(self) -> None:
        with h5py.File(self.path, "r") as f:
            seeds = f["inputs/seed"][()]
            same = len(seeds) == self.n and np.array_equal(
                seeds, np.array([p["seed"] for p in self.points], dtype=np.int64))
            for k in self.spec.swept_names():
                if not same or k not in f["inputs"]:
                    same = False
                    break
                got = f["inputs"][k]
                vals = got.asstr()[()] if got.dtype.kind == "O" else got[()]
                want = np.array([p[k] for p in self.points], dtype=vals.dtype)
                same = bool(np.array_equal(vals, want))
        if not same:
            raise SweepFileError(f"{self.path}: the points generated from this spec differ "
                                 "from the ones stored (different scipy/numpy sampling?); "
                                 "refusing to mix. Use --force to start over.")

    def todo(self, retry_failed: bool = False) -> list[int]:
        """Indices of points still to run."""
        if retry_failed:
            return [int(i) for i in np.flatnonzero(self.status != STATUS["ok"])]
        return [int(i) for i in np.flatnonzero(self.status == STATUS["pending"])]

    def record(self, o: PointOutcome) -> None:
        try:
            self.journal.append(o)
        except OSError as e:
            if is_no_space(e):
                raise self._disk_full("recording a point in") from None
            raise
        self.status[o.index] = STATUS[o.status]
        if time.monotonic() - self._last_checkpoint > self.checkpoint_s:
            self.checkpoint()

    def _disk_full(self, doing: str) -> DiskFullError:
        safe = int(np.sum(self.status != STATUS["pending"]))
        return DiskFullError(
            f"disk full while {doing} {self.path}; {safe} points safe (in the file and "
            f"its journal {self.journal.path.name}); free space and rerun to resume")

    def checkpoint(self) -> None:
        """Merge the journal into the HDF5 file (atomic replace) and reset it."""
        t0 = time.monotonic()
        try:
            self.journal.close()
            merge_outcomes(self.path, read_journal(self.journal.path, self.spec_hash))
            self.journal.reset()
        except (OSError, DiskFullError) as e:
            if is_no_space(e) or isinstance(e, DiskFullError):
                raise self._disk_full("checkpointing") from None
            raise
        took = time.monotonic() - t0
        if took > 0.5:  # large file: keep checkpoint copies to ~5 % of the run time
            self.checkpoint_s = max(self.checkpoint_s, 20 * took)
        self._last_checkpoint = time.monotonic()

    def close(self) -> None:
        try:
            self.checkpoint()
            self.journal.remove()
        finally:
            self.release()


# ------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------

@dataclass
class SweepData:
    """A sweep file as NumPy arrays (``only_ok`` keeps the ok points only)."""

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    status: np.ndarray              # str per point: pending | ok | failed | timeout
    message: np.ndarray
    sim_time_s: np.ndarray
    solve_time_s: np.ndarray
    wall_time_s: np.ndarray
    netlist_hash: np.ndarray
    index: np.ndarray               # point index in the sweep
    fixed: dict[str, Any]
    units: dict[str, str]
    attrs: dict[str, Any]
    spec_toml: str

    def __len__(self) -> int:
        return len(self.index)


def read_sweep(path: str | Path, only_ok: bool = False,
               include_journal: bool = True) -> SweepData:
    """Read a sweep file into NumPy arrays, read-only.

    With ``include_journal`` the points of an interrupted run that are still in the
    journal (not yet merged into the file) are included too.
    """
    path = Path(path)
    attrs = inspect_file(path)
    with h5py.File(path, "r") as f:
        inputs = {}
        units = {}
        for k, ds in f["inputs"].items():
            inputs[k] = ds.asstr()[()] if ds.dtype.kind == "O" else ds[()]
            units[k] = _attr(ds.attrs.get("units", ""))
        outputs = {}
        for k, ds in f["outputs"].items():
            outputs[k] = ds[()]
            units[k] = _attr(ds.attrs.get("units", ""))
        status = f["points/status"][()].astype(np.int8)
        message = f["points/message"].asstr()[()].astype(object)
        sim = f["points/sim_time_s"][()]
        solve = f["points/solve_time_s"][()]
        wall = f["points/wall_time_s"][()]
        nh = f["points/netlist_hash"].asstr()[()].astype(object)
        fixed = {k: _attr(v) for k, v in f["fixed"].attrs.items() if k != "units"}
    if include_journal:
        for o in read_journal(journal_path(path), attrs["spec_hash"]):
            i = o.index
            status[i] = STATUS[o.status]
            message[i] = o.message
            sim[i], wall[i], nh[i] = o.sim_time_s, o.wall_time_s, o.netlist_hash
            solve[i] = o.solve_time_s
            for k, arr in outputs.items():
                arr[i] = np.nan
                if o.status == "ok" and k in o.outputs:
                    v = np.asarray(o.outputs[k], dtype=float)
                    arr[(i, *(slice(0, s) for s in v.shape))] = v
    names = np.array([STATUS_NAMES[int(s)] for s in status], dtype=object)
    index = np.arange(len(status))
    keep = status == STATUS["ok"] if only_ok else np.ones(len(status), bool)
    return SweepData(
        inputs={k: v[keep] for k, v in inputs.items()},
        outputs={k: v[keep] for k, v in outputs.items()},
        status=names[keep], message=message[keep], sim_time_s=sim[keep],
        solve_time_s=solve[keep], wall_time_s=wall[keep], netlist_hash=nh[keep],
        index=index[keep], fixed=fixed,
        units=units, attrs={k: v for k, v in attrs.items() if k != "spec_toml"},
        spec_toml=attrs["spec_toml"],
    )
