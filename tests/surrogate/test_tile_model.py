"""Tile-model files and the ``aimc fit`` / ``aimc validate`` commands on real sweep
files (real ngspice sweeps, real HDF5): layout, refusals, no overwrite, JSON keys;
the shipped default model loads and evaluates without ngspice."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from aimc.circuits.crossbar import CrossbarConfig, weights_to_conductances
from aimc.surrogate.crossbar_model import DomainError
from aimc.surrogate.fit import SweepDataError, fit_tile
from aimc.surrogate.tile_model import (
    FORMAT_VERSION,
    TileModelError,
    default_tile_model_path,
    load_default_tile_model,
    load_tile_model,
)

AIMC = [sys.executable, "-c", "import sys; from aimc.system.cli import main; "
        "sys.exit(main(sys.argv[1:]))"]

XBAR_SPEC = """
[sweep]
name = "t_xbar"
generator = "crossbar_op"
seed = 5
timeout_s = 120
[fixed]
cols = 8
encoding = "differential"
device = "pcm"
r_driver_ohm = 47.0
w_low = -1.0
[grid]
rows = [8, 12]
r_wire_row_ohm = [0.5, 2.0]
r_wire_col_ohm = [1.0]
[analysis]
type = "op"
[record]
outputs = ["i_out_a", "power_w", "weights", "inputs"]
"""

DAC_SPEC = """
[sweep]
name = "t_dac"
generator = "dac_line"
seed = 3
timeout_s = 120
[fixed]
device = "linear"
r_wire_ohm = 1.0
[grid]
code = [-30, -5, 4, 11, 30]
n_cells = [4]
[analysis]
type = "tran"
[record]
outputs = ["charge_c", "ideal_charge_c", "energy_j"]
"""


def _aimc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(AIMC + list(args), capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweeps")
    for name, text in (("xbar", XBAR_SPEC), ("dac", DAC_SPEC)):
        (d / f"{name}.toml").write_text(text)
        r = _aimc("sweep", str(d / f"{name}.toml"), "--out", str(d / f"{name}.h5"),
                  "--workers", "1", "--no-progress", "--json", cwd=d)
        assert r.returncode == 0, r.stderr
    return d


@pytest.fixture(scope="module")
def fitted(sweeps):
    out = sweeps / "tile.h5"
    r = _aimc("fit", str(sweeps / "xbar.h5"), str(sweeps / "dac.h5"), "--out", str(out),
              "--json", cwd=sweeps)
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_fit_writes_versioned_arrays_only(fitted):
    path, res = fitted
    assert res["ok"] and set(res["validation"]) == {"crossbar", "dac"}
    with h5py.File(path) as f:
        assert f.attrs["format"] == "aimc.tile_model"
        assert f.attrs["format_version"] == FORMAT_VERSION
        kinds = set()
        f.visititems(lambda n, o: kinds.add(type(o).__name__))
        assert kinds <= {"Group", "Dataset"}
        for name, ds in f["crossbar"].items():
            if isinstance(ds, h5py.Dataset):
                assert ds.dtype.kind in "fiuS", (name, ds.dtype)   # no objects, no pickles
        assert f["crossbar/coef"].shape == (1, 3)
        assert "rms_lsb" in f["crossbar/validation"].attrs
    m = load_tile_model(path)
    assert m.circuits == ["crossbar", "dac"]


def test_validate_json_keys_and_accuracy(fitted, sweeps):
    path, _ = fitted
    r = _aimc("validate", str(path), "--against", str(sweeps / "xbar.h5"),
              str(sweeps / "dac.h5"), "--json", cwd=sweeps)
    assert r.returncode == 0, r.stderr
    val = json.loads(r.stdout)
    for c in ("crossbar", "dac"):
        for k in ("rms_lsb", "p99_lsb", "max_lsb", "n_points", "speedup_vs_spice"):
            assert k in val[c], (c, k)
    # in-sample here, so a loose check: the crossbar within half an LSB
    assert val["crossbar"]["rms_lsb"] <= 0.5
    assert val["crossbar"]["baseline_ideal"]["rms_lsb"] > val["crossbar"]["rms_lsb"]
    assert val["crossbar"]["n_points"] == 4


def test_fit_never_overwrites_without_force(fitted, sweeps):
    path, _ = fitted
    before = path.read_bytes()
    r = _aimc("fit", str(sweeps / "xbar.h5"), "--out", str(path), cwd=sweeps)
    assert r.returncode == 2 and "--force" in r.stderr
    assert path.read_bytes() == before
    r = _aimc("fit", str(sweeps / "xbar.h5"), "--out", str(path), "--force", cwd=sweeps)
    assert r.returncode == 0, r.stderr
    assert load_tile_model(path).circuits == ["crossbar"]


def test_refuses_other_version_and_truncated_files(fitted, tmp_path):
    path, _ = fitted
    other = tmp_path / "v99.h5"
    shutil.copy(path, other)
    with h5py.File(other, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(TileModelError, match="version 99"):
        load_tile_model(other)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(TileModelError, match="truncated|damaged|not a readable"):
        load_tile_model(cut)
    missing = tmp_path / "missing.h5"
    shutil.copy(path, missing)
    with h5py.File(missing, "r+") as f:
        del f["crossbar/coef"]
    with pytest.raises(TileModelError, match="coef"):
        load_tile_model(missing)
    r = _aimc("validate", str(other), "--against", str(path), "--json", cwd=tmp_path)
    assert r.returncode == 2 and "version" in json.loads(r.stdout)["error"]


def test_bad_sweep_data_is_refused_by_name(sweeps, tmp_path):
    # NaN in an ok point
    bad = tmp_path / "nan.h5"
    shutil.copy(sweeps / "xbar.h5", bad)
    with h5py.File(bad, "r+") as f:
        f["outputs/i_out_a"][0, 0] = np.nan
    with pytest.raises(SweepDataError, match="i_out_a"):
        fit_tile([bad])
    # an output the surrogate needs was not recorded
    spec = XBAR_SPEC.replace('"weights", ', "").replace('name = "t_xbar"',
                                                         'name = "t_noweights"')
    (tmp_path / "now.toml").write_text(spec)
    r = _aimc("sweep", str(tmp_path / "now.toml"), "--out", str(tmp_path / "now.h5"),
              "--workers", "1", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _aimc("fit", str(tmp_path / "now.h5"), "--out", str(tmp_path / "x.h5"), "--json",
              cwd=tmp_path)
    assert r.returncode == 2 and "weights" in json.loads(r.stdout)["error"]
    assert not (tmp_path / "x.h5").exists()
    # too few points to fit
    one = tmp_path / "one.h5"
    shutil.copy(sweeps / "dac.h5", one)
    with h5py.File(one, "r+") as f:
        f["points/status"][1:] = 2          # failed: only one ok point is left
    with pytest.raises(SweepDataError, match="needs >= 4"):
        fit_tile([one])


def test_shipped_default_model_evaluates_a_256_tile():
    assert default_tile_model_path().stat().st_size < 1_000_000
    m = load_default_tile_model()
    assert m.circuits == ["crossbar", "dac", "adc"]
    assert "pcm" in m.crossbar.devices_
    held = m.validation["crossbar"]["heldout"]
    assert held["rms_lsb"] <= 0.5 and held["p99_lsb"] <= 1.0
    rng = np.random.default_rng(0)
    cfg = CrossbarConfig(rows=256, cols=256, encoding="hermes", device="pcm",
                         r_wire_row_ohm=0.5, r_wire_col_ohm=0.5, r_driver_ohm=47.0)
    g = weights_to_conductances(rng.uniform(-1, 1, (256, 256)), "hermes")
    comp = m.crossbar.compile(cfg, g)
    x = rng.uniform(-1, 1, (16, 256))
    i = comp.currents(x)
    assert i.shape == (16, 256) and np.all(np.isfinite(i))
    codes = rng.integers(-127, 128, (4, 256))
    q = comp.charges(codes, 1e-9)
    assert q.shape == (4, 256)
    # far outside the fitted wire resistances: a clear error
    with pytest.raises(DomainError, match="r_wire_col_ohm"):
        m.crossbar.compile(CrossbarConfig(rows=256, cols=256, encoding="hermes",
                                          device="pcm", r_wire_col_ohm=20.0,
                                          r_driver_ohm=47.0), g)
