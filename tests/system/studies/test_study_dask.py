"""A study through a real Dask scheduler and worker on loopback equals the same study
on the local process pool (same configurations, same device seeds -> same numbers)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
from aimc.system.studies.study_spec import parse_spec
from aimc.system.studies.study_store import read_study

DASK = str(Path(sys.executable).with_name("dask"))
LOOPBACK = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
SPEC = """
name = "dask_check"
networks = ["digits_mlp", "digits_cnn"]
seeds = 1
n_test = 30
[axes]
weight_bits = [3, 5]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dask_study_equals_the_local_pool(tmp_path):
    from aimc.system.cli import main
    from distributed import Client

    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC)
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = []
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    try:
        procs.append(subprocess.Popen([DASK, "scheduler", "--port", address.rsplit(":", 1)[1],
                                       *LOOPBACK], stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1",
                                       "--no-nanny", *LOOPBACK], stdout=log,
                                      stderr=subprocess.STDOUT))
        with Client(address, timeout="60s") as c:
            c.wait_for_workers(1, timeout=120)
        assert main(["study", str(spec_file), "--out", str(tmp_path / "d.h5"),
                     "--scheduler", address, "--json"]) == 0
        from aimc.system.studies.study_run import run_study

        with Client(address, timeout="60s") as c:     # a client the caller keeps
            s = run_study(parse_spec(SPEC), tmp_path / "k.h5", scheduler=c)
            assert s.scheduler == address and s.n_ok == 2 and c.status == "running"
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
    run_study(parse_spec(SPEC), tmp_path / "l.h5", workers=2)
    loc = read_study(tmp_path / "l.h5")
    assert np.all(loc["status"] == 1)
    for name in ("d.h5", "k.h5"):
        d = read_study(tmp_path / name)
        assert np.all(d["status"] == 1)
        for k in ("digits_mlp.acc_seeds", "digits_cnn.acc_seeds", "digits_cnn.mvm_sigma_pct",
                  "digits_cnn.energy_j", "digits_mlp.devices"):
            np.testing.assert_allclose(d["objectives"][k], loc["objectives"][k], rtol=1e-12)


def test_local_pool_after_a_planned_transient_in_this_process(tmp_path):
    """A study's local pool started from a process whose ngspice already ran a
    planned PWM transient: its workers must not inherit that ngspice (a forked copy
    keeps the plan's step clipping and fails its own transients with "timestep too
    small"); the pool's results equal the in-process run's."""
    from aimc.circuits import crossbar as xb
    from aimc.system.studies.study_run import run_study

    cfg = xb.CrossbarConfig(rows=3, cols=2, encoding="single", device="linear")
    res = xb.simulate_pwm(cfg, np.full((3, 2), 10e-6), codes=np.array([1, 2, 3]),
                          t_lsb_s=1e-9)
    # ideal wires: each line's charge is G * v_read * (1 + 2 + 3) LSB
    np.testing.assert_allclose(res.q_out_c, 10e-6 * cfg.v_read_v * 6e-9, rtol=1e-9)
    run_study(parse_spec(SPEC), tmp_path / "pool.h5", workers=2)
    run_study(parse_spec(SPEC), tmp_path / "here.h5", workers=1)
    pool, here = read_study(tmp_path / "pool.h5"), read_study(tmp_path / "here.h5")
    assert np.all(pool["status"] == 1) and np.all(here["status"] == 1)
    for k in ("digits_mlp.acc_seeds", "digits_cnn.acc_seeds", "digits_cnn.energy_j"):
        np.testing.assert_allclose(pool["objectives"][k], here["objectives"][k], rtol=1e-12)
