"""Sweeps on the local pool with real ngspice: values, faults, CLI and kill -9."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from aimc.circuits.crossbar import simulate_op
from aimc.circuits.sweep.run import run_sweep
from aimc.circuits.sweep.spec import SweepSpec, load_spec
from aimc.circuits.sweep.store import read_journal, read_sweep
from aimc.circuits.sweep.targets import crossbar_case, get_target
from sweep_helpers import cli_command, probe_spec, statuses


def test_crossbar_ci_sweep_equals_direct_simulation(tmp_path):
    spec = load_spec("crossbar_op_ci")
    out = tmp_path / "xb.h5"
    s = run_sweep(spec, out, workers=2, progress=False)
    assert s.ok and s.points_ok == s.points_total == spec.n_points() == 24
    d = read_sweep(out)
    assert list(d.index) == list(range(24)) and set(d.status) == {"ok"}
    points = spec.points()
    # every point is the one of the spec, in order
    assert list(d.inputs["seed"]) == [p["seed"] for p in points]
    assert list(d.inputs["encoding"]) == [p["encoding"] for p in points]
    for i in (0, 5, 13, 23):
        params = spec.point_params(points[i])
        cfg, w, g, x = crossbar_case(params)
        direct = simulate_op(cfg, g, x)
        cols = cfg.cols
        np.testing.assert_allclose(d.outputs["i_out_a"][i, :cols], direct.i_out_a,
                                   rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(d.outputs["power_w"][i], direct.power_w, rtol=1e-12)
        np.testing.assert_array_equal(d.outputs["weights"][i, :cfg.rows, :cols], w)
        np.testing.assert_array_equal(d.outputs["inputs"][i, :cfg.rows], x)
        # padding of the smaller arrays is NaN
        if cfg.rows < 16:
            assert np.all(np.isnan(d.outputs["weights"][i, cfg.rows:, :]))
    # units and provenance are in the file
    assert d.units["i_out_a"] == "A" and d.units["r_wire_row_ohm"] == "ohm"
    assert d.attrs["ngspice_version"] and d.attrs["generator"] == "crossbar_op"
    with h5py.File(out, "r") as f:
        example = f["meta/example_netlist"].asstr()[()]
    assert example == get_target("crossbar_op").netlist(spec.point_params(points[0]))
    assert d.netlist_hash[0] == d.attrs["example_netlist_hash"]
    assert np.all(d.sim_time_s > 0) and np.all(d.wall_time_s >= d.sim_time_s)


def test_small_points_altered_in_one_worker_equal_fresh_single_point_runs(tmp_path):
    """A worker re-solves its loaded circuit with `alter`ed values and gets tasks in
    batches: every row equals the point run alone on a freshly loaded netlist, bit for
    bit, and the independent nodal solve to 1e-6."""
    from aimc.circuits.crossbar import combine_outputs, physical_conductances, row_drive
    from aimc.circuits.spice import alter_commands, engine, reusable
    from aimc.surrogate.nodal import LinearCrossbarSolver

    spec = SweepSpec(generator="crossbar_op", name="small", seed=5, repeat=16,
                     fixed={"rows": 6, "cols": 5, "r_wire_row_ohm": 1.5,
                            "r_wire_col_ohm": 0.5, "r_driver_ohm": 50.0},
                     grid={"v_read_v": [0.1, 0.3]},
                     record=["i_out_a", "power_w"]).validate()
    out = tmp_path / "small.h5"
    assert run_sweep(spec, out, workers=1, progress=False).points_ok == 32
    d = read_sweep(out)
    with h5py.File(out, "r") as f:                 # one worker ran all 32 in a row
        assert len(set(f["points/worker"].asstr()[()])) == 1
    target = get_target("crossbar_op")
    texts = [target.netlist(spec.point_params(p)).splitlines() for p in spec.points()]
    assert reusable("\n".join(texts[0]))          # so the worker altered points 1..31
    assert all(alter_commands(a, b) for a, b in zip(texts[:-1], texts[1:], strict=True))
    # the worker filled a per-configuration template: every point's netlist is, byte
    # for byte, the one crossbar_design builds (its recorded hash is that text's)
    want_hash = [hashlib.sha256(("\n".join(t) + "\n").encode()).hexdigest()[:16]
                 for t in texts]
    assert list(d.netlist_hash) == want_hash
    for i, point in enumerate(spec.points()):
        params = spec.point_params(point)
        engine()._reset()                          # a fresh load of this point alone
        alone = target.run(params)
        np.testing.assert_array_equal(d.outputs["i_out_a"][i], alone.outputs["i_out_a"])
        assert d.outputs["power_w"][i] == alone.outputs["power_w"]
        cfg, _, g, x = crossbar_case(params)
        nodal = LinearCrossbarSolver(physical_conductances(cfg, g), cfg.r_wire_row_ohm,
                                     cfg.r_wire_col_ohm, cfg.r_driver_ohm, 0.0)
        want = nodal.currents(cfg.v_cm_v - row_drive(cfg, x), cfg.v_cm_v)[0]
        want = combine_outputs(cfg, want)          # physical -> logical columns
        got = d.outputs["i_out_a"][i]
        assert np.max(np.abs(got - want)) <= 1e-6 * np.max(np.abs(want))


@pytest.mark.parametrize("encoding", ["single", "differential", "hermes"])
def test_netlist_template_fills_the_same_text_as_crossbar_design(encoding):
    """The per-configuration template of a linear crossbar's operating point gives,
    for other weights and inputs, exactly the text crossbar_design builds; a
    non-linear device has no template (its points are built in full)."""
    from aimc.circuits.crossbar import crossbar_design
    from aimc.circuits.sweep.targets import OpTemplate

    lo = {"w_low": 0.0} if encoding == "single" else {"w_low": -1.0}
    n = 0
    for rw, cw, rd, reg in itertools.product([0.0, 1.5], [0.0, 2.0], [0.0, 10.0],
                                             ["ideal", "finite"]):
        base = {"rows": 5, "cols": 3, "encoding": encoding, "r_wire_row_ohm": rw,
                "r_wire_col_ohm": cw, "r_driver_ohm": rd, "regulator": reg, **lo}
        cfg, _, g, x = crossbar_case({**base, "seed": 1})
        template, text = OpTemplate.build(cfg, g, x)
        assert template is not None and text == crossbar_design(cfg, g, x).text()
        for seed in range(2, 8):
            _, _, g, x = crossbar_case({**base, "seed": seed})
            assert template.text(g, x) == crossbar_design(cfg, g, x).text()
            n += 1
    assert n == 16 * 6
    cfg, _, g, x = crossbar_case({"rows": 3, "cols": 2, "device": "pcm", "seed": 1})
    assert OpTemplate.build(cfg, g, x)[0] is None


def test_dac_and_adc_ci_sweeps_from_python(tmp_path):
    for name, key in (("dac_line_ci", "charge_c"), ("cco_adc_ci", "count")):
        spec = load_spec(name)
        s = run_sweep(spec, tmp_path / f"{name}.h5", workers=2, progress=False)
        assert s.ok, s.failures
        d = read_sweep(tmp_path / f"{name}.h5")
        assert np.all(np.isfinite(d.outputs[key]))
        i = len(d) - 1
        direct = get_target(spec.generator).run(spec.point_params(spec.points()[i]))
        np.testing.assert_allclose(d.outputs[key][i], direct.outputs[key], rtol=1e-9)
    d = read_sweep(tmp_path / "dac_line_ci.h5")
    assert d.outputs["i_line_a"].shape == (16, 200)            # waveform, as asked
    code = d.inputs["code"]
    assert np.all(np.sign(d.outputs["charge_c"][code != 0]) == np.sign(code[code != 0]))
    a = read_sweep(tmp_path / "cco_adc_ci.h5")
    assert np.all(np.sign(a.outputs["count"]) == np.sign(a.inputs["i_in_a"]))


def test_crash_abort_hang_and_timeout_are_recorded_and_the_sweep_goes_on(tmp_path):
    spec = SweepSpec(generator="fault_probe", seed=3, timeout_s=2.0,
                     grid={"fault": ["none", "segfault", "none", "hang", "abort",
                                     "slow_tran", "spice_error", "raise", "none"]})
    out = tmp_path / "faults.h5"
    s = run_sweep(spec, out, workers=2, progress=False, grace_s=1.0)
    d = read_sweep(out)
    want = ["ok", "failed", "ok", "timeout", "failed", "timeout", "failed", "failed", "ok"]
    assert list(d.status) == want
    assert not s.ok and s.points_failed == 6 and s.points_timeout == 2
    assert {f["index"] for f in s.failures} == {1, 3, 4, 5, 6, 7}
    msg = list(d.message)
    assert "SIGSEGV" in msg[1] and "replaced" in msg[1]
    assert "SIGABRT" in msg[4]
    assert "killed and replaced" in msg[3]                   # parent-enforced timeout
    assert "exceeded its timeout" in msg[5]                  # ngspice halted itself
    assert "refused the netlist" in msg[6] and "notanumber" in msg[6]   # ngspice's text
    assert "requested exception" in msg[7]
    # the points after a crash are computed correctly by the replacement workers
    for i in (0, 2, 8):
        direct = get_target("fault_probe").run(spec.point_params(spec.points()[i]))
        np.testing.assert_allclose(d.outputs["i_out_a"][i], direct.outputs["i_out_a"],
                                   rtol=1e-12)
    assert np.all(np.isnan(d.outputs["i_out_a"][[1, 3, 4, 5, 6, 7]]))


_FORKED_SWEEPS = r"""
import json, sys
from pathlib import Path
from aimc.circuits.sweep import run
from aimc.circuits.sweep.spec import SweepSpec
forked = []
init = run.WorkerProcess.__init__
def spy(self):
    init(self)
    forked.append(self.forked)
run.WorkerProcess.__init__ = spy
out = Path(sys.argv[1])
xb = SweepSpec(generator="crossbar_op", name="xb", seed=8, repeat=12,
               fixed={"rows": 4, "cols": 3, "r_wire_row_ohm": 1.0, "r_wire_col_ohm": 1.0},
               record=["i_out_a", "power_w"]).validate()
faults = SweepSpec(generator="fault_probe", seed=3, timeout_s=2.0,
                   grid={"fault": ["none", "segfault", "hang", "abort", "none"]}).validate()
a = run.run_sweep(xb, out / "xb.h5", workers=2, progress=False)
b = run.run_sweep(faults, out / "faults.h5", workers=2, progress=False, grace_s=1.0)
print(json.dumps({"forked": forked, "ok": [a.points_ok, b.points_ok]}))
"""


def test_forked_workers_equal_new_interpreters_and_report_crashes(tmp_path):
    """A single-threaded process without ngspice forks its workers (modules imported
    once); the points equal those of workers started as new interpreters bit for bit,
    and a forked worker's segfault, abort and hang are recorded as a new one's are."""
    from aimc.circuits.sweep import run as run_mod

    r = subprocess.run([sys.executable, "-c", _FORKED_SWEEPS, str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["forked"] and all(got["forked"]), got        # replacements too
    assert got["ok"] == [12, 2]
    d = read_sweep(tmp_path / "faults.h5")
    assert list(d.status) == ["ok", "failed", "timeout", "failed", "ok"]
    assert "SIGSEGV" in d.message[1] and "SIGABRT" in d.message[3]
    assert "killed and replaced" in d.message[2]
    forked = read_sweep(tmp_path / "xb.h5")
    assert run_mod.FORK_WORKERS
    run_mod.FORK_WORKERS = False
    try:
        xb = SweepSpec(generator="crossbar_op", name="xb", seed=8, repeat=12,
                       fixed={"rows": 4, "cols": 3, "r_wire_row_ohm": 1.0,
                              "r_wire_col_ohm": 1.0}, record=["i_out_a", "power_w"])
        run_sweep(xb.validate(), tmp_path / "spawned.h5", workers=2, progress=False)
    finally:
        run_mod.FORK_WORKERS = True
    spawned = read_sweep(tmp_path / "spawned.h5")
    np.testing.assert_array_equal(forked.outputs["i_out_a"], spawned.outputs["i_out_a"])
    np.testing.assert_array_equal(forked.outputs["power_w"], spawned.outputs["power_w"])
    assert list(forked.netlist_hash) == list(spawned.netlist_hash)


def test_cli_json_exit_status_and_resume(tmp_path):
    spec = probe_spec(tmp_path, 6, extra='fault = "none"')
    out = tmp_path / "cli.h5"
    cmd = cli_command() + [str(spec), "--out", str(out), "--workers", "2", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["points_ok"] == 6 and summary["points_failed"] == 0
    assert summary["points_per_s"] > 0 and summary["out"] == str(out)
    before = read_sweep(out)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    again = json.loads(r.stdout)
    assert r.returncode == 0 and again["points_run"] == 0 and again["points_skipped"] == 6
    after = read_sweep(out)
    np.testing.assert_array_equal(before.outputs["i_out_a"], after.outputs["i_out_a"])
    # a failing point: exit status 1 and the failure listed
    bad = probe_spec(tmp_path, 3, extra='fault = "raise"', name="bad.toml")
    r = subprocess.run(cli_command() + [str(bad), "--out", str(tmp_path / "bad.h5"),
                                        "--workers", "1", "--no-progress"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "#0 failed: RuntimeError: fault probe: requested exception" in r.stdout
    assert "3 failed" in r.stdout


def test_kill_9_loses_only_points_in_flight_and_the_rerun_completes(tmp_path):
    n = 120  # long enough that a loaded machine cannot finish before the kill
    spec = probe_spec(tmp_path, n, sleep_s=0.15)
    out = tmp_path / "killed.h5"
    cmd = cli_command() + [str(spec), "--out", str(out), "--workers", "2", "--no-progress",
                           "--checkpoint-s", "0.5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = out.with_name(out.name + ".journal")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        done_file = int(np.sum(statuses(out) == "ok")) if out.exists() else 0
        if done_file >= 6 and len(read_journal(journal)) >= 1:
            break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the file opens with plain h5py and holds only complete points
    st = statuses(out)
    assert set(st) <= {"ok", "pending"}
    ok_before = np.flatnonzero(st == "ok")
    assert 6 <= len(ok_before) < n
    with h5py.File(out, "r") as f:
        vals = f["outputs/i_out_a"][()]
        finished = f["points/finished_utc"][()]
    assert np.all(np.isfinite(vals[st == "ok"])) and np.all(np.isnan(vals[st == "pending"]))
    # the reader also sees the points still in the journal (not yet merged)
    in_journal = {o.index for o in read_journal(journal) if o.status == "ok"}
    d = read_sweep(out)
    assert set(np.flatnonzero(d.status == "ok")) == set(ok_before) | in_journal
    # rerun: completes, skips what was done, every point present once and correct
    r = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["points_ok"] == n
    assert summary["points_skipped"] >= len(ok_before)
    assert summary["points_run"] + summary["points_skipped"] == n
    final = read_sweep(out)
    assert list(final.index) == list(range(n)) and set(final.status) == {"ok"}
    with h5py.File(out, "r") as f:
        finished_after = f["points/finished_utc"][()]
    np.testing.assert_array_equal(finished_after[ok_before], finished[ok_before])
    np.testing.assert_array_equal(final.outputs["i_out_a"][ok_before], vals[ok_before])
    s = load_spec(spec)
    for i in (0, n // 2, n - 1):
        direct = get_target("fault_probe").run(s.point_params(s.points()[i]))
        np.testing.assert_allclose(final.outputs["i_out_a"][i], direct.outputs["i_out_a"],
                                   rtol=1e-12)
    assert not journal.exists()


@pytest.mark.parametrize("workers", [1])
def test_progress_bar_and_summary_text(tmp_path, workers, capsys):
    spec = SweepSpec(generator="fault_probe", seed=1, grid={"label": [1.0, 2.0]})
    s = run_sweep(spec, tmp_path / "p.h5", workers=workers, progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err and "ok=2" in err and "failed=0" in err
    text = s.text()
    assert "2 ok, 0 failed" in text and "points/s" in text and "SPICE" in text


def test_cli_refuses_a_bad_spec_before_running(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\ngenerator = "crossbar_op"\nseed = 1\n[fixed]\nrows = 4\n'
                   'cols = 4\n[grid]\nr_wire_row_ohm = { logspace = [0.0, 1.0, 3] }\n')
    out = tmp_path / "never.h5"
    r = subprocess.run(cli_command() + [str(bad), "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert str(bad) in r.stderr and "[grid] r_wire_row_ohm" in r.stderr
    assert json.loads(r.stdout)["ok"] is False
    assert not out.exists()


@pytest.mark.parametrize("name", ["crossbar_op_ci", "dac_line_ci", "cco_adc_ci"])
def test_shipped_ci_specs_run_from_the_cli(tmp_path, name):
    out = tmp_path / f"{name}.h5"
    r = subprocess.run(cli_command() + [name, "--out", str(out), "--workers", "2", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["points_ok"] == load_spec(name).n_points() and s["points_failed"] == 0
    d = read_sweep(out)
    assert set(d.status) == {"ok"} and d.attrs["name"] == name


def test_cli_lists_generators_and_specs():
    r = subprocess.run(cli_command() + ["--list", "--json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0
    info = json.loads(r.stdout)
    assert {"crossbar_op", "dac_line", "cco_adc"} <= set(info["generators"])
    assert info["generators"]["crossbar_op"]["params"]["r_wire_row_ohm"]["unit"] == "ohm"
    assert info["generators"]["fault_probe"]["test_only"] is True
    assert "crossbar_op_ci" in info["specs"]
