"""Faults of the sweep's surroundings (issue 14, item 2): links as --out, file names
that are glob patterns, a damaged file, a full disk, a lost Dask scheduler.

Each test reproduces the fault with real parts (a real symlink and hard link, a real
tmpfs filled to the brim, a real Dask scheduler killed with SIGKILL) and asserts the
refusal or the one-line message, and that no finished point was lost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from aimc.circuits.sweep.run import run_sweep
from aimc.circuits.sweep.spec import SweepSpec, load_spec
from aimc.circuits.sweep.store import (
    SweepFileError,
    SweepStore,
    journal_path,
    read_journal,
    read_sweep,
)
from sweep_helpers import (
    LOOPBACK,
    cli_command,
    file_digest,
    free_port,
    probe_spec,
    statuses,
)


def small_spec(**kw) -> SweepSpec:
    base = dict(generator="fault_probe", name="small", seed=9, grid={"label": [0.0, 1.0, 2.0]})
    base.update(kw)
    return SweepSpec(**base).validate()


def _one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# ------------------------------------------------------------------------ links
def test_symlinked_out_writes_the_target_and_locks_it(tmp_path):
    real_dir, link_dir = tmp_path / "data", tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    real = real_dir / "real.h5"
    link = link_dir / "out.h5"
    link.symlink_to(Path("..") / "data" / "real.h5")       # dangling until the sweep
    s = run_sweep(small_spec(), link, workers=1, progress=False, checkpoint_s=0.0)
    assert s.ok and s.points_ok == 3 and s.out == str(real.resolve())
    assert link.is_symlink() and link.resolve() == real.resolve()   # not replaced
    assert sorted(p.name for p in link_dir.iterdir()) == ["out.h5"]  # nothing beside it
    assert list(read_sweep(real).status) == ["ok"] * 3
    # one lock for both names: a second writer through the other name is refused
    first = SweepStore(link, small_spec())
    try:
        with pytest.raises(SweepFileError, match="another running sweep"):
            SweepStore(real, small_spec())
    finally:
        first.close()
    assert run_sweep(small_spec(), real, workers=1, progress=False).points_run == 0


def test_hard_linked_out_is_refused_untouched(tmp_path):
    out = tmp_path / "a.h5"
    run_sweep(small_spec(), out, workers=1, progress=False)
    other = tmp_path / "b.h5"
    os.link(out, other)
    before = file_digest(out)
    for name in (out, other):
        with pytest.raises(SweepFileError, match="2 hard links"):
            run_sweep(small_spec(), name, workers=1, progress=False, force=True)
    assert file_digest(out) == before and os.stat(out).st_nlink == 2
    assert not journal_path(out).exists() and not journal_path(other).exists()


# ------------------------------------------------------------------ stale copies
def test_stale_copy_cleanup_takes_no_pattern_and_spares_live_writers(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        names = {
            "other_live": f".run1.h5.tmp-{live.pid}",    # another sweep's in-flight copy
            "other_dead": f".run2.h5.tmp-{dead.pid}",    # not ours to delete
            "own_live": f".run[1-9].h5.tmp-{live.pid}",
            "own_dead": f".run[1-9].h5.tmp-{dead.pid}",  # stale: removed
            "star_dead": f".*.h5.tmp-{dead.pid}",
        }
        for n in names.values():
            (tmp_path / n).write_bytes(b"copy")
        for out in ("run[1-9].h5", "*.h5"):
            SweepStore(tmp_path / out, small_spec()).close()
        left = {p.name for p in tmp_path.iterdir()}
        assert names["other_live"] in left and names["other_dead"] in left
        assert names["own_live"] in left
        assert names["own_dead"] not in left and names["star_dead"] not in left
        assert list(read_sweep(tmp_path / "run[1-9].h5").status) == ["pending"] * 3
    finally:
        live.kill()
        live.wait()


# ------------------------------------------------------------------ damaged files
def _drop(name):
    def damage(f):
        del f[name]
    return damage


def _status(value, length=None):
    def damage(f):
        st = f["points/status"][()]
        if length is None:
            f["points/status"][1] = value
        else:
            del f["points/status"]
            f["points/status"] = np.resize(st, length)
    return damage


def _external(f):
    del f["outputs/i_out_a"]
    f["outputs/i_out_a"] = h5py.ExternalLink("elsewhere.h5", "/x")


@pytest.mark.parametrize("damage,match", [
    (_drop("outputs/i_out_a"), "/outputs/i_out_a is missing"),
    (_drop("points/message"), "/points/message is missing"),
    (_status(7), r"status\[1\] = 7"),
    (_status(0, length=5), "/points/status has shape"),
    (_external, "ExternalLink"),
])
def test_damaged_file_is_refused_naming_the_damage(tmp_path, damage, match):
    spec = small_spec()
    out = tmp_path / "d.h5"
    run_sweep(spec, out, workers=1, progress=False)
    with h5py.File(out, "r+") as f:
        damage(f)
    before = file_digest(out)
    with pytest.raises(SweepFileError, match=match):
        run_sweep(spec, out, workers=1, progress=False)
    with pytest.raises(SweepFileError, match=match):
        read_sweep(out)
    assert file_digest(out) == before
    if "7" in match:          # through the CLI: exit status 2 and one line
        r = subprocess.run(cli_command() + [str(spec_file(tmp_path, spec)), "--out", str(out)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "damaged" in _one_line_error(r.stderr)
    s = run_sweep(spec, out, workers=1, progress=False, force=True)   # the way out
    assert s.ok and s.points_run == 3


def spec_file(tmp_path: Path, spec: SweepSpec) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(spec.spec_text())
    return p


# ------------------------------------------------------------------ full disk
@contextlib.contextmanager
def tiny_filesystem(folder: Path, size: str = "1m"):
    """A real tmpfs of ``size`` at ``folder`` (root only); None where it cannot be had."""
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                       capture_output=True)
    try:
        yield folder if r.returncode == 0 else None
    finally:
        if r.returncode == 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """Fill ``folder``'s filesystem to the brim, then give back ``leave`` bytes."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    n = 0
    try:
        while True:
            n += os.write(fd, b"\1" * 65536)
    except OSError:
        while True:
            try:
                n += os.write(fd, b"\1" * 4096)
            except OSError:
                break
    os.ftruncate(fd, max(0, n - leave))
    os.close(fd)
    return filler


def _rlimit(which: str, limit: int):
    def apply() -> None:
        import resource

        res = getattr(resource, which)
        resource.setrlimit(res, (limit, limit))
    return apply


@pytest.mark.parametrize("leave", [16384, 45056])   # copy fails / HDF5 write fails
def test_full_disk_while_checkpointing_gives_one_line_and_loses_nothing(tmp_path, leave):
    spec = probe_spec(tmp_path, 12, sleep_s=0.02, extra="", timeout_s=30.0)
    text = spec.read_text().replace("n = 3", "n = 64")
    spec.write_text(text)
    with tiny_filesystem(tmp_path / "fs") as fs:
        folder = fs or tmp_path / "fs"
        out = folder / "d.h5"
        cmd = cli_command() + [str(spec), "--out", str(out), "--workers", "1",
                               "--checkpoint-s", "0", "--no-progress"]
        if fs is not None:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            deadline = time.monotonic() + 60
            while not journal_path(out).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            filler = _fill(fs, leave)
        else:   # no tmpfs here: a file-size limit stands in for the full disk
            store = SweepStore(out, load_spec(spec))
            store.release()
            filler = None
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True,
                                 preexec_fn=_rlimit("RLIMIT_FSIZE",
                                                    out.stat().st_size + leave // 8))
        _, err = p.communicate(timeout=180)
        assert p.returncode == 3, err
        line = _one_line_error(err)
        assert f"disk full while checkpointing {out}" in line and "rerun" in line
        safe = int(line.split("; ")[1].split()[0])
        assert safe >= 1
        d = read_sweep(out)                       # the file is whole, the journal read
        assert int(np.sum(d.status == "ok")) == safe
        assert not list(folder.glob(".d.h5.tmp-*"))
        if filler is not None:
            filler.unlink()                        # free space and rerun
        s = run_sweep(load_spec(spec), out, workers=1, progress=False)
        assert s.ok and s.points_skipped == safe and s.points_run == 12 - safe
        assert list(statuses(out)) == ["ok"] * 12


# ------------------------------------------------------------------ lost scheduler
def test_lost_scheduler_leaves_unrun_points_pending(tmp_path):
    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    procs = [subprocess.Popen([dask, "scheduler", "--port", str(port), *LOOPBACK],
                              stdout=log, stderr=subprocess.STDOUT)]
    procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-nanny",
                                   *LOOPBACK], stdout=log, stderr=subprocess.STDOUT))
    try:
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(1, timeout=60)
        n = 12
        spec = probe_spec(tmp_path, n, sleep_s=0.3)
        out = tmp_path / "lost.h5"
        p = subprocess.Popen(cli_command() + [str(spec), "--out", str(out), "--scheduler",
                                              address, "--no-progress", "--checkpoint-s",
                                              "1000"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 90
        while len(read_journal(journal_path(out))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        procs[0].kill()                                 # the scheduler is gone
        procs[0].wait()
        _, err = p.communicate(timeout=120)
        assert p.returncode == 3, err
        line = _one_line_error(err)
        st = statuses(out)
        done, pending = int(np.sum(st == "ok")), int(np.sum(st == "pending"))
        assert done >= 3 and done + pending == n          # nothing recorded as failed
        assert f"lost; {pending} points pending; rerun to resume" in line
        s = run_sweep(load_spec(spec), out, workers=1, progress=False)   # plain rerun
        assert s.ok and s.points_skipped == done and s.points_run == pending
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        log.close()
    shutil.rmtree(tmp_path / "dask-scratch-space", ignore_errors=True)


# ------------------------------------------------------------------ out of memory
def test_worker_out_of_memory_is_reported_as_such(tmp_path):
    """A worker that exhausts its address space (ulimit -v, inherited from the sweep)
    and dies writing through a failed malloc (SIGSEGV, as ngspice does) is reported as
    "out of memory" with its figures; the other points run."""
    spec = probe_spec(tmp_path, 1, extra="")
    spec.write_text(spec.read_text().replace("[grid]\nlabel = { linspace = [0.0, 0.0, 1] }",
                                             '[grid]\nfault = ["none", "exhaust_memory", '
                                             '"none"]'))
    out = tmp_path / "oom.h5"
    r = subprocess.run(cli_command() + [str(spec), "--out", str(out), "--workers", "1",
                                        "--no-progress"],
                       capture_output=True, text=True, timeout=300,
                       preexec_fn=_rlimit("RLIMIT_AS", 10**9))
    assert r.returncode == 1, r.stderr
    d = read_sweep(out)
    assert list(d.status) == ["ok", "failed", "ok"]
    assert d.message[1].startswith("out of memory: the worker reached "), d.message[1]
    assert "address-space limit (ulimit -v) of 1 GB" in d.message[1]
    assert "SIGSEGV" in d.message[1]
