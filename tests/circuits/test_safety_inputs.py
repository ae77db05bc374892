"""Inputs that are tiny but ask for too much, or nonsense that used to pass (issue 14,
items 3 and 4): sweep specs counted before they are expanded, physical ranges and
ordered pairs checked before anything runs, and one line instead of a traceback."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import h5py
import pytest
from aimc.circuits.sweep.run import run_sweep
from aimc.circuits.sweep.spec import MAX_POINTS, SpecError, SweepSpec
from aimc.circuits.sweep.store import SweepStore

AIMC = [sys.executable, "-c", "import sys; from aimc.system.cli import main; "
        "sys.exit(main(sys.argv[1:]))"]

HEAD = '[sweep]\nname = "s"\ngenerator = "crossbar_op"\nseed = 1\n'


def _spec(body: str, **kw) -> SweepSpec:
    return SweepSpec.from_text(HEAD + body, "s.toml", **kw)


@pytest.mark.parametrize("body,points", [
    ("[fixed]\nrows = 4\ncols = 4\n[grid]\nv_read_v = { linspace = [0.1, 0.3, 1000000000] }\n",
     10**9),
    ("[fixed]\nrows = 4\ncols = 4\n[sample]\nmethod = \"lhs\"\nn = 1000000000\n"
     "v_read_v = { low = 0.1, high = 0.3 }\n", 10**9),
    ("[fixed]\nrows = 4\n[grid]\ncols = { linspace = [1, 8, 100000] }\n"
     "v_read_v = { logspace = [0.1, 0.3, 100000] }\n", 10**10),
])
def test_huge_point_counts_are_refused_before_expanding(body, points):
    tracemalloc.start()
    t0 = time.process_time()
    try:
        with pytest.raises(SpecError, match=f"{points:,} points exceed the limit of "
                                            f"{MAX_POINTS:,}"):
            _spec(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.process_time() - t0 < 1.0 and peak < 10 * 2**20


def test_point_limit_is_a_flag(tmp_path):
    body = "[fixed]\nrows = 2\ncols = 2\n[grid]\nv_read_v = { linspace = [0.1, 0.3, 40] }\n"
    with pytest.raises(SpecError, match="40 points exceed the limit of 30"):
        _spec(body, max_points=30)
    assert _spec(body, max_points=40).n_points() == 40
    spec = tmp_path / "s.toml"
    spec.write_text(HEAD + body)
    r = subprocess.run(AIMC + ["sweep", str(spec), "--out", str(tmp_path / "o.h5"),
                               "--max-points", "39"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "40 points exceed the limit of 39" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("body,match", [
    ("[fixed]\nrows = 4\ncols = 4\ng_min_s = 30e-6\n", "g_min_s can be 3e-05 while g_max_s "
                                                     "can be 2.5e-05"),
    ("[fixed]\nrows = 4\ncols = 4\n[grid]\ng_min_s = [1e-6, 20e-6]\ng_max_s = [10e-6, 25e-6]\n",
     "g_min_s can be 2e-05 while g_max_s can be 1e-05"),
    ("[fixed]\nrows = 4\ncols = 4\nw_low = 0.8\nw_high = 0.2\n", "w_low .* must not exceed"),
    ("[fixed]\nrows = 4\ncols = 4\n[sample]\nmethod = \"random\"\nn = 4\n"
     "x_low = { low = -1.0, high = 0.5 }\nx_high = { low = 0.2, high = 1.0 }\n",
     "x_low can be 0.5 while x_high can be 0.2"),
    ("[sweep]\n", ""),
])
def test_ordered_pairs_hold_at_every_point(body, match):
    if not match:       # a spec whose pairs hold at every point is accepted
        spec = _spec("[fixed]\nrows = 4\ncols = 4\n[grid]\ng_min_s = [1e-6, 2e-6]\n"
                     "g_max_s = [10e-6, 25e-6]\n")
        assert spec.n_points() == 4
        return
    with pytest.raises(SpecError, match=match):
        _spec(body)


@pytest.mark.parametrize("body,match", [
    ("[fixed]\nrows = 4\ncols = 4\nv_read_v = 1e300\n", r"v_read_v: must be <= 10"),
    ("[fixed]\nrows = 4\ncols = 4\ng_max_s = 1e300\n", r"g_max_s: must be <= 1"),
    ("[fixed]\ncols = 4\n[sample]\nmethod = \"random\"\nn = 3\n"
     "rows = { low = 1.2, high = 1.8 }\n", r"no integer lies in \[1.2, 1.8\]"),
])
def test_physical_ranges_are_checked_before_running(body, match):
    with pytest.raises(SpecError, match=match):
        _spec(body)


def test_seed_beyond_int64_is_refused_with_its_key():
    with pytest.raises(SpecError, match=r"\[sweep\] seed: must be an integer in 0..9223"):
        SweepSpec.from_text(HEAD.replace("seed = 1", "seed = 100000000000000000000")
                            + "[fixed]\nrows = 2\ncols = 2\n", "s.toml")


def test_a_point_larger_than_the_machine_is_refused_with_the_figure(tmp_path):
    spec = _spec("[fixed]\nrows = 1024\ncols = 1024\nencoding = \"differential\"\n"
                 "device = \"pcm\"\nr_wire_row_ohm = 1.0\nr_wire_col_ohm = 1.0\n")
    assert spec.peak_point_memory() > 30e9        # 2 M PCM devices at ~13 kB each
    out = tmp_path / "big.h5"
    with pytest.raises(SpecError, match=r"needs about 3\d.\d GB .* this machine has"):
        run_sweep(spec, out, workers=1, progress=False)
    assert not out.exists()


def test_example_netlist_is_kept_only_for_small_points(tmp_path):
    spec = _spec("[fixed]\nrows = 256\ncols = 256\nencoding = \"differential\"\n"
                 "device = \"pcm\"\n")
    SweepStore(tmp_path / "big.h5", spec).release()
    with h5py.File(tmp_path / "big.h5", "r") as f:
        assert f["meta/example_netlist"].asstr()[()] == ""
        assert "larger than 1 MiB" in f["meta/example_netlist"].attrs["omitted"]
    assert (tmp_path / "big.h5").stat().st_size < 200_000


@pytest.mark.parametrize("args", [["explore", "bottleneck", "--axis", "n_cores=1e400"],
                                  ["eval", "bottleneck", "--arch", "ARCH"]])
def test_infinite_integer_settings_give_one_line(tmp_path, args):
    arch = tmp_path / "inf.toml"
    arch.write_text("n_cores = inf\n")
    r = subprocess.run(AIMC + [str(arch) if a == "ARCH" else a for a in args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("aimc: error:") and "infinite or too large" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
