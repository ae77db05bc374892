"""Sweeps through a real Dask scheduler and two real workers on loopback."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from aimc.circuits.sweep.run import run_sweep
from aimc.circuits.sweep.spec import SweepSpec, load_spec
from aimc.circuits.sweep.store import journal_path, read_journal, read_sweep
from sweep_helpers import LOOPBACK, free_port, listening_hosts, probe_spec

DASK = str(Path(sys.executable).with_name("dask"))


def _wait_workers(address: str, n: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as c:
        c.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One scheduler and two workers for the module (the last test kills a worker)."""
    tmp_path = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    logs = []

    def start(args: list[str], name: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        p = subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT,
                             cwd=tmp_path)
        procs.append(p)
        return p

    # every server on loopback: the comms (--host) and the HTTP servers, which
    # --no-dashboard does not stop (--dashboard-address)
    start(["scheduler", "--port", str(port), *LOOPBACK], "scheduler")
    workers = [start(["worker", address, "--nthreads", "1", "--no-nanny", "--name", f"w{k}",
                      *LOOPBACK], f"w{k}") for k in (1, 2)]
    try:
        _wait_workers(address, 2)
        yield address, [procs[0], *workers]
    finally:
        # workers first, while the scheduler still answers; then the scheduler
        for group in (procs[1:], procs[:1]):
            for p in group:
                if p.poll() is None:
                    p.terminate()
            for p in group:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for log in logs:
            log.close()


def test_cluster_listens_on_loopback_only(cluster):
    _, procs = cluster
    for p in procs:
        hosts = listening_hosts(p.pid)
        assert len(hosts) >= 2 and set(hosts) == {"127.0.0.1"}, hosts   # comm + HTTP


def test_documented_dask_commands_bind_their_servers():
    """Every `dask scheduler` / `dask worker` command in the README and docs says where
    its comm (--host) and HTTP (--dashboard-address) servers listen."""
    root = Path(__file__).resolve().parents[3]
    commands = []
    for doc in [root / "README.md", *sorted((root / "docs" / "readme").glob("*.md"))]:
        text = " ".join(doc.read_text().split())          # commands wrap across lines
        for part in text.split("`")[1::2]:
            if part.startswith(("dask scheduler", "dask worker")):
                commands.append((doc.name, part))
    assert commands
    for name, cmd in commands:
        assert "--host" in cmd and "--dashboard-address" in cmd, (name, cmd)


def test_dask_sweep_equals_local_and_survives_a_crashing_point(cluster, tmp_path):
    address, procs = cluster
    workers = procs[1:]
    spec = load_spec("crossbar_op_ci")
    s = run_sweep(spec, tmp_path / "dask.h5", scheduler=address, progress=False)
    assert s.ok and s.points_ok == 24 and s.workers == 2 and s.scheduler == address
    local = tmp_path / "local.h5"
    run_sweep(spec, local, workers=2, progress=False)
    a, b = read_sweep(tmp_path / "dask.h5"), read_sweep(local)
    np.testing.assert_array_equal(a.outputs["i_out_a"], b.outputs["i_out_a"])
    np.testing.assert_array_equal(a.netlist_hash, b.netlist_hash)
    # a segfaulting or hanging point fails alone; the Dask workers live on
    crash = SweepSpec(generator="fault_probe", seed=1, timeout_s=2.0,
                      grid={"fault": ["none", "segfault", "hang", "none", "none"]})
    s = run_sweep(crash, tmp_path / "crash.h5", scheduler=address, progress=False,
                  grace_s=1.0)
    d = read_sweep(tmp_path / "crash.h5")
    assert list(d.status) == ["ok", "failed", "timeout", "ok", "ok"]
    assert "SIGSEGV" in d.message[1] and "killed and replaced" in d.message[2]
    assert all(w.poll() is None for w in workers)
    _wait_workers(address, 2, timeout=5)


def test_sweeps_through_a_client_the_caller_keeps(cluster, tmp_path):
    """A script that runs several sweeps passes its own client: the sweeps give the
    local pool's results, the client stays open for the next one, and a closed client
    or a wrong object is refused with one message saying what to pass."""
    from aimc.circuits.sweep.run import PoolError
    from distributed import Client

    address, _ = cluster
    spec = load_spec("crossbar_op_ci")
    local = tmp_path / "local.h5"
    run_sweep(spec, local, workers=2, progress=False)
    ref = read_sweep(local)
    with Client(address, timeout="30s") as client:
        for k in range(2):
            s = run_sweep(spec, tmp_path / f"kept{k}.h5", scheduler=client, progress=False)
            assert s.ok and s.points_ok == 24 and s.workers == 2 and s.scheduler == address
            got = read_sweep(tmp_path / f"kept{k}.h5")
            np.testing.assert_array_equal(got.outputs["i_out_a"], ref.outputs["i_out_a"])
            assert client.status == "running"
    with pytest.raises(PoolError, match="client is closed; pass an open client"):
        run_sweep(spec, tmp_path / "closed.h5", scheduler=client, progress=False)
    with pytest.raises(PoolError, match="or a distributed.Client, not int"):
        run_sweep(spec, tmp_path / "wrong.h5", scheduler=8786, progress=False)
    assert not (tmp_path / "closed.h5").exists() and not (tmp_path / "wrong.h5").exists()
    # an empty address is the local pool, as it was before clients were taken
    s = run_sweep(spec, tmp_path / "empty.h5", scheduler="", workers=2, progress=False)
    assert s.ok and s.scheduler is None
    np.testing.assert_array_equal(read_sweep(tmp_path / "empty.h5").outputs["i_out_a"],
                                  ref.outputs["i_out_a"])


def test_losing_a_dask_worker_mid_sweep_loses_no_point(cluster, tmp_path):
    address, procs = cluster
    workers = procs[1:]
    n = 16
    spec = load_spec(probe_spec(tmp_path, n, sleep_s=0.4))
    out = tmp_path / "lost.h5"
    result = {}

    def sweep() -> None:
        result["summary"] = run_sweep(spec, out, scheduler=address, progress=False,
                                      checkpoint_s=1000)

    t = threading.Thread(target=sweep)
    t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_journal(journal_path(out))) < 3:
        time.sleep(0.05)
    assert len(read_journal(journal_path(out))) >= 3
    done_before = len(read_journal(journal_path(out)))
    workers[0].kill()                                   # kill -9 of a Dask worker
    workers[0].wait()
    t_kill = time.time()
    t.join(timeout=120)
    assert not t.is_alive()
    s = result["summary"]
    assert s.ok and s.points_ok == n and s.points_run == n
    assert done_before < n
    d = read_sweep(out)
    assert list(d.index) == list(range(n)) and set(d.status) == {"ok"}
    assert list(d.inputs["label"]) == list(range(n))
    with __import__("h5py").File(out, "r") as f:
        finished = f["points/finished_utc"][()]
    assert np.sum(finished > t_kill) >= n - done_before - 2  # the rest ran after the loss
    assert np.all(np.isfinite(d.outputs["i_out_a"]))


def test_dask_chunks_shrink_towards_the_end_and_cover_every_point_once():
    from aimc.circuits.sweep.run import chunk_size, chunk_sizes

    for n, w in [(400, 2), (2000, 2), (24, 2), (8, 2), (5, 3), (1, 1), (0, 2), (97, 4)]:
        sizes = chunk_sizes(n, w)
        assert sum(sizes) == n and all(s >= 1 for s in sizes)
        assert sizes == sorted(sizes, reverse=True)             # shrinking
        assert not sizes or sizes[0] == max(1, chunk_size(n, w))
        if n >= 400:        # many small chunks at the end, not one of 32 alone
            assert sizes[0] == 32 and sizes[-1] <= 4 and len(sizes) > n // 32
