"""The ngspice runner: typed errors carrying ngspice's message, timeouts, and a
missing installation reported with install instructions (real ngspice)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from aimc.circuits.spice import (
    ConvergenceError,
    MissingModelError,
    NetlistError,
    SingularMatrixError,
    SpiceError,
    SpiceTimeoutError,
    simulate,
)

DIVIDER = """divider
V1 a 0 1
R1 a b 3k
R2 b 0 1k
.save v(b) v1#branch
.op
.end
"""


def test_operating_point_values_and_engine_reuse():
    for _ in range(3):                       # the engine is reused, results do not leak
        r = simulate(DIVIDER, ["v(b)", "v1#branch"])
        assert r.scalar("v(b)") == pytest.approx(0.25, rel=1e-12)
        assert r.scalar("v1#branch") == pytest.approx(-1 / 4000, rel=1e-12)


def test_transient_rc_charges_with_its_time_constant():
    net = """rc
V1 a 0 PULSE(0 1 0 1p 1p 1 2)
R1 a b 1k
C1 b 0 1p
.save v(b)
.tran 1p 5n 0 1p
.end
"""
    r = simulate(net, ["time", "v(b)"])
    import numpy as np

    v_tau = np.interp(1e-9, r["time"], r["v(b)"])
    assert v_tau == pytest.approx(1 - np.exp(-1), abs=2e-3)


def test_missing_model_is_typed_and_carries_ngspice_text():
    with pytest.raises(MissingModelError) as exc:
        simulate("t\nV1 a 0 1\nM1 a a 0 0 nosuchmodel w=1u l=1u\n.op\n.end\n", [])
    assert "nosuchmodel" in exc.value.ngspice_message.lower()


def test_singular_matrix_is_typed():
    with pytest.raises(SingularMatrixError):
        simulate("t\nI1 0 a 1m\nC1 a 0 1p\n.op\n.end\n", [])


def test_no_convergence_is_typed():
    # an ideal inverter closed on itself has no DC solution: x = (x < 0.5 ? 1 : 0)
    net = """t
B1 y 0 V={V(x) < 0.5 ? 1 : 0}
R1 y x 1
R2 x 0 1k
.op
.end
"""
    with pytest.raises(ConvergenceError):
        simulate(net, [])


def test_syntax_error_is_a_netlist_error():
    with pytest.raises(NetlistError):
        simulate("t\nV1 a 0 1\nQQQ a b\n.op\n.end\n", [])


def test_timeout_halts_the_run_and_the_engine_stays_usable():
    slow = "t\nV1 a 0 SIN(0 1 1G)\nR1 a b 1k\nC1 b 0 1p\n.tran 1f 10u\n.end\n"
    with pytest.raises(SpiceTimeoutError):
        simulate(slow, [], timeout_s=0.5)
    assert simulate(DIVIDER, ["v(b)"]).scalar("v(b)") == pytest.approx(0.25)


def _shuffled_grid(n: int, seed: int = 1) -> str:
    """An n x n grid of 1 ohm resistors, lines in random order (so ngspice numbers its
    nodes randomly and KLU's factorisation fills in heavily: the operating point of a
    100x100 grid takes seconds), driven at one corner and loaded at the other."""
    import random

    lines = [f"Rh{i}_{j} n{i}_{j} n{i}_{j + 1} 1" for i in range(n) for j in range(n - 1)]
    lines += [f"Rv{i}_{j} n{i}_{j} n{i + 1}_{j} 1" for i in range(n - 1) for j in range(n)]
    random.Random(seed).shuffle(lines)
    return ("grid\n" + "\n".join(lines) + f"\nV1 n0_0 0 1\nRl n{n - 1}_{n - 1} 0 1\n"
            ".options klu\n.tran 1p 10p\n.end\n")


def test_timeout_during_an_uninterruptible_solve_keeps_the_engine_usable(monkeypatch):
    """ngspice reads a halt request only between time points, and its ``bg_halt``
    gives up after 1 s: a timeout that falls into a long solve (here the transient's
    initial operating point of a badly numbered 300x300 grid: one factorisation lasts
    longer than the 1 s grace also on an idle machine, where 120x120 did not) left the thread
    running, and the runner unloaded the circuit under it (a crash) or the next run
    failed ('cannot execute "run"'). With no grace at all for the halt, the timeout
    is a SpiceTimeoutError at once, the circuit stays loaded, and the next run waits
    for the thread to reach its next time point: a divider is solved right after."""
    from aimc.circuits import spice

    monkeypatch.setattr(spice, "_HALT_GRACE_S", 0.0)
    with pytest.raises(SpiceTimeoutError, match="had not stopped"):
        simulate(_shuffled_grid(300), [], timeout_s=0.2)
    monkeypatch.undo()
    for _ in range(2):
        assert simulate(DIVIDER, ["v(b)"]).scalar("v(b)") == pytest.approx(0.25, rel=1e-12)


def test_asking_for_a_vector_not_saved_is_an_error():
    with pytest.raises(SpiceError, match="not in the result"):
        simulate(DIVIDER, ["v(nowhere)"])


def test_missing_ngspice_gives_one_install_message(tmp_path):
    code = ("from aimc.circuits.spice import simulate\n"
            "simulate('t\\nV1 a 0 1\\n.op\\n.end\\n', [])\n")
    env = dict(os.environ, NGSPICE_LIBRARY_PATH=str(tmp_path / "libngspice_missing.so"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode != 0
    assert "NgspiceNotFoundError" in out.stderr
    assert "apt-get install ngspice libngspice0" in out.stderr
    assert "brew install ngspice" in out.stderr and "conda" in out.stderr


def test_batch_mode_gives_the_same_results_and_errors():
    shared = simulate(DIVIDER, ["v(b)", "v1#branch"])
    batch = simulate(DIVIDER, ["v(b)", "v1#branch"], batch=True)
    for k in ("v(b)", "v1#branch"):
        assert batch.scalar(k) == pytest.approx(shared.scalar(k), rel=1e-12)
    with pytest.raises(MissingModelError):
        simulate("t\nV1 a 0 1\nM1 a a 0 0 nosuchmodel w=1u l=1u\n.op\n.end\n", [],
                 batch=True)
    slow = "t\nV1 a 0 SIN(0 1 1G)\nR1 a b 1k\nC1 b 0 1p\n.tran 1f 10u\n.end\n"
    with pytest.raises(SpiceTimeoutError):
        simulate(slow, [], timeout_s=0.5, batch=True)


def test_a_forked_copy_of_a_started_ngspice_refuses_to_simulate():
    """A process forked after ngspice started holds a copy of the parent's library
    state (callbacks, a step plan's clipping, no background thread): simulating there
    gave wrong failures ("timestep too small"); now one clear error, and the parent's
    engine is unaffected."""
    assert simulate(DIVIDER, ["v(b)"]).scalar("v(b)") == pytest.approx(0.25, rel=1e-12)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                  # child: report the outcome, exit
        os.close(r)
        try:
            simulate(DIVIDER, ["v(b)"])
            msg = "simulated"
        except SpiceError as exc:
            msg = str(exc)
        os.write(w, msg.encode()[:4000])
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        msg = f.read().decode()
    os.waitpid(pid, 0)
    assert "forked from one that had started ngspice" in msg and "spawn" in msg
    assert simulate(DIVIDER, ["v(b)"]).scalar("v(b)") == pytest.approx(0.25, rel=1e-12)
