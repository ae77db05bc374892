"""The sweep HDF5 file: layout read with plain h5py, refusals, resume rules, journal."""

from __future__ import annotations

import json
import subprocess

import h5py
import numpy as np
import pytest
from aimc.circuits.sweep.run import run_sweep
from aimc.circuits.sweep.spec import SweepSpec
from aimc.circuits.sweep.store import (
    PointOutcome,
    SweepFileError,
    SweepStore,
    encode_outcome,
    journal_path,
    read_journal,
    read_sweep,
)
from sweep_helpers import cli_command, file_digest, probe_spec


def small_spec(**kw) -> SweepSpec:
    base = dict(generator="fault_probe", name="small", seed=9,
                grid={"label": [0.0, 1.0, 2.0], "n": [2, 4]})
    base.update(kw)
    return SweepSpec(**base).validate()


def test_layout_with_plain_h5py(tmp_path):
    spec = small_spec()
    out = tmp_path / "s.h5"
    run_sweep(spec, out, workers=1, progress=False)
    with h5py.File(out, "r") as f:
        a = f.attrs
        assert a["format"] == "aimc.sweep" and a["format_version"] == 1
        assert a["generator"] == "fault_probe" and a["n_points"] == 6
        assert a["spec_hash"] == spec.spec_hash()
        for key in ("aimc_version", "pyspice_version", "ngspice_version", "h5py_version",
                    "created_utc", "updated_utc", "seed", "example_netlist_hash"):
            assert a[key] != "", key
        assert "fault_probe" in f["meta/spec_toml"].asstr()[()]
        assert json.loads(f["meta/canonical_json"].asstr()[()])["generator"] == "fault_probe"
        assert f["meta/example_netlist"].asstr()[()].rstrip().endswith(".end")
        assert list(f["inputs/n"][()]) == [2, 4, 2, 4, 2, 4]
        assert f["inputs/n"].attrs["units"] == "1"
        assert f["inputs/seed"].dtype == np.int64
        assert f["fixed"].attrs["fault"] == "none"
        assert json.loads(f["fixed"].attrs["units"])["v_read_v"] == "V"
        ds = f["outputs/i_out_a"]
        assert ds.shape == (6, 4) and ds.attrs["units"] == "A"
        assert ds.compression == "gzip" and ds.chunks is not None
        assert np.all(np.isnan(ds[0, 2:])) and np.all(np.isfinite(ds[1, :]))  # n=2 padded
        enum = h5py.check_enum_dtype(f["points/status"].dtype)
        assert enum == {"pending": 0, "ok": 1, "failed": 2, "timeout": 3}
        assert list(f["points/status"][()]) == [1] * 6
        assert np.all(f["points/sim_time_s"][()] > 0)
        assert all(len(h) == 16 for h in f["points/netlist_hash"].asstr()[()])


def test_foreign_or_corrupt_output_is_refused_unmodified(tmp_path):
    spec = small_spec()
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 100)
    text = tmp_path / "notes.h5"
    text.write_text("my notes\n")
    for path in (foreign, corrupt, text):
        before = file_digest(path)
        for force in (False, True):
            with pytest.raises(SweepFileError, match="refusing|Refusing"):
                run_sweep(spec, path, workers=1, progress=False, force=force)
            assert file_digest(path) == before
        assert not journal_path(path).exists()
    # through the CLI: exit status 2, the file untouched
    before = file_digest(corrupt)
    r = subprocess.run(cli_command() + [str(probe_spec(tmp_path, 2)), "--out", str(corrupt)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "corrupt" in r.stderr
    assert file_digest(corrupt) == before


def test_other_spec_is_refused_and_force_starts_over(tmp_path):
    out = tmp_path / "s.h5"
    run_sweep(small_spec(), out, workers=1, progress=False)
    before = file_digest(out)
    other = small_spec(grid={"label": [0.0, 1.0, 5.0], "n": [2, 4]})
    with pytest.raises(SweepFileError, match="different spec"):
        run_sweep(other, out, workers=1, progress=False)
    assert file_digest(out) == before
    s = run_sweep(other, out, workers=1, progress=False, force=True)
    assert s.points_run == 6 and s.ok
    assert list(read_sweep(out).inputs["label"]) == [0.0, 0.0, 1.0, 1.0, 5.0, 5.0]
    # the description and timeout do not define the data: same sweep, nothing rerun
    same = small_spec(grid={"label": [0.0, 1.0, 5.0], "n": [2, 4]}, description="x",
                      timeout_s=12.0)
    assert run_sweep(same, out, workers=1, progress=False).points_run == 0


def test_resume_skips_done_points_and_retry_failed(tmp_path):
    spec = small_spec(fixed={"fault": "raise"})
    out = tmp_path / "f.h5"
    s = run_sweep(spec, out, workers=1, progress=False)
    assert s.points_failed == 6 and not s.ok
    s = run_sweep(spec, out, workers=1, progress=False)
    assert s.points_run == 0 and s.points_failed == 6  # failures are results too
    s = run_sweep(spec, out, workers=1, progress=False, retry_failed=True)
    assert s.points_run == 6


def test_journal_torn_tail_and_replay(tmp_path):
    spec = small_spec()
    out = tmp_path / "j.h5"
    store = SweepStore(out, spec)
    outcomes = [PointOutcome(i, "ok", outputs={"i_out_a": np.full(2 + 2 * (i % 2), i),
                                                "i_sum_a": np.array(float(i))},
                             sim_time_s=0.1, wall_time_s=0.2, netlist_hash="ab" * 8)
                for i in range(3)]
    for o in outcomes:
        store.journal.append(o)
    store.journal.close()
    jp = journal_path(out)
    # a record torn by kill -9 in the middle of its write
    with open(jp, "ab") as f:
        f.write(encode_outcome(PointOutcome(4, "ok", outputs={"i_out_a": np.ones(2)}))[:-7])
    store.release()  # the process "died": no checkpoint
    got = read_journal(jp, spec.spec_hash())
    assert [o.index for o in got] == [0, 1, 2]
    assert read_journal(jp, "another-spec") == []
    d = read_sweep(out)  # read-only view includes the journal
    assert list(d.status) == ["ok", "ok", "ok", "pending", "pending", "pending"]
    with h5py.File(out, "r") as f:  # ... the file itself is untouched until resume
        assert list(f["points/status"][()]) == [0] * 6
    store = SweepStore(out, spec)  # resume replays the journal into the file
    assert store.todo() == [3, 4, 5]
    store.close()
    with h5py.File(out, "r") as f:
        assert list(f["points/status"][()]) == [1, 1, 1, 0, 0, 0]
        np.testing.assert_array_equal(f["outputs/i_out_a"][1], [1, 1, 1, 1])
        np.testing.assert_array_equal(f["outputs/i_out_a"][0, :2], [0, 0])
    assert not jp.exists()


def test_journal_records_of_the_earlier_npz_format_are_still_read(tmp_path):
    """A journal left by an earlier version (np.savez records, tag PNT1) replays: the
    values come back exactly, in order, mixed with records of the current format."""
    import io
    import struct
    import zlib

    spec = small_spec()
    out = tmp_path / "old.h5"
    store = SweepStore(out, spec)
    store.journal.append(PointOutcome(0, "ok", outputs={"i_out_a": np.array([0.5, -2.0]),
                                                        "i_sum_a": np.array(-1.5)}))
    store.journal.close()
    buf = io.BytesIO()
    meta = {"index": 1, "status": "ok", "message": "", "sim_time_s": 0.25,
            "wall_time_s": 0.5, "netlist_hash": "cd" * 8, "worker": "h:1",
            "finished_utc": 1.0e9, "ngspice_version": "46", "solve_time_s": 0.125}
    np.savez(buf, meta=np.array(json.dumps(meta)), o_i_out_a=np.array([1 / 3, 2 / 3]),
             o_i_sum_a=np.array(1.0))
    payload = buf.getvalue()
    with open(journal_path(out), "ab") as f:
        f.write(struct.pack("<4sII", b"PNT1", len(payload), zlib.crc32(payload)) + payload)
    store.release()
    got = read_journal(journal_path(out), spec.spec_hash())
    assert [o.index for o in got] == [0, 1]
    np.testing.assert_array_equal(got[0].outputs["i_out_a"], [0.5, -2.0])
    assert got[0].outputs["i_sum_a"] == -1.5 and got[0].outputs["i_sum_a"].shape == ()
    np.testing.assert_array_equal(got[1].outputs["i_out_a"], [1 / 3, 2 / 3])
    assert got[1].solve_time_s == 0.125 and got[1].netlist_hash == "cd" * 8


def test_two_sweeps_cannot_write_one_file(tmp_path):
    out = tmp_path / "l.h5"
    first = SweepStore(out, small_spec())
    try:
        with pytest.raises(SweepFileError, match="another running sweep"):
            SweepStore(out, small_spec())
    finally:
        first.close()
