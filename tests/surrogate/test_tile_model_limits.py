"""Hostile tile-model files (issue 14, items 3 and 4): declared sizes past the format's
limits, a gzip bomb, links out of the file, nonsense values, and a symlink as the
output of ``save``. Each is built from the shipped model with plain h5py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from aimc.surrogate.tile_model import (
    MAX_BYTES,
    MAX_ELEMENTS,
    TileModelError,
    default_tile_model_path,
    load_default_tile_model,
    load_tile_model,
)

AIMC = [sys.executable, "-c", "import sys; from aimc.system.cli import main; "
        "sys.exit(main(sys.argv[1:]))"]


def _copy(tmp_path: Path, name: str = "m.h5") -> Path:
    p = tmp_path / name
    shutil.copyfile(default_tile_model_path(), p)
    return p


def _replace(f: h5py.File, name: str, **kw) -> None:
    del f[name]
    f.create_dataset(name, **kw)


def test_declared_2_to_the_40_elements_is_refused_before_reading(tmp_path):
    p = _copy(tmp_path)
    with h5py.File(p, "r+") as f:
        _replace(f, "crossbar/coef", shape=(2**20, 2**20), dtype=np.float64,
                 chunks=(256, 256), compression="gzip")       # nothing written
    assert p.stat().st_size < 100_000                          # a 8 TiB dataset, on paper
    with pytest.raises(TileModelError, match=f"{2**40} elements.*refused before reading"):
        load_tile_model(p)
    r = subprocess.run(AIMC + ["eval", "bottleneck", "--tile", str(p)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("aimc: error:") and len(r.stderr.strip().splitlines()) == 1


def test_gzip_bomb_is_refused_without_decompressing(tmp_path):
    p = _copy(tmp_path)
    n = 2 * MAX_ELEMENTS                                        # 16 MiB of zeros
    with h5py.File(p, "r+") as f:
        _replace(f, "adc/resid_hz", data=np.zeros(n), chunks=(n // 4,),
                 compression="gzip", compression_opts=9)
    assert p.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(TileModelError, match="refused before reading"):
            load_tile_model(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * 8 / 8                                    # never held the data


def test_many_datasets_past_the_total_size_are_refused(tmp_path):
    p = _copy(tmp_path)
    with h5py.File(p, "r+") as f:
        for k in range(MAX_BYTES // (8 * MAX_ELEMENTS) + 1):
            f.create_dataset(f"dac/pad{k}", shape=(MAX_ELEMENTS,), dtype=np.float64,
                             chunks=(65536,), compression="gzip")
    with pytest.raises(TileModelError, match="more than 64 MiB"):
        load_tile_model(p)


def test_links_out_of_the_file_are_refused(tmp_path):
    p = _copy(tmp_path)
    with h5py.File(p, "r+") as f:
        del f["crossbar/coef"]
        f["crossbar/coef"] = h5py.ExternalLink(str(_copy(tmp_path, "other.h5")),
                                               "/crossbar/coef")
    with pytest.raises(TileModelError, match="ExternalLink"):
        load_tile_model(p)
    with h5py.File(p, "r+") as f:
        del f["crossbar/coef"]
        f["crossbar/coef"] = h5py.SoftLink("/crossbar/power_scale")
    with pytest.raises(TileModelError, match="SoftLink"):
        load_tile_model(p)


def _set(name, index, value):
    def damage(f):
        a = f[name][()]
        a[index] = value
        _replace(f, name, data=a)
    return damage


@pytest.mark.parametrize("damage,match", [
    (_set("crossbar/coef", (0, 0), np.nan), r"/crossbar/coef\[0, 0\] = .*nan.* not finite"),
    (_set("adc/window_s", (0, 0), -1.28e-7), r"/adc/window_s\[0, 0\] .* must be > 0"),
    (_set("adc/window_s", (0, 1), np.inf), r"/adc/window_s\[0, 1\] .* not finite"),
    (_set("adc/window_s", (0, 1), 1e-9), "lo > hi"),
    (_set("crossbar/domain_lo", 0, 1e9), r"domain_lo\[0\] .* exceeds domain_hi"),
    (_set("adc/energy", (0, 0, 0), -1.0), "must be >= 0"),
    (_set("adc/i_max_a", 0, 0.0), "must be > 0"),
])
def test_nonsense_values_are_refused_on_load(tmp_path, damage, match):
    p = _copy(tmp_path)
    with h5py.File(p, "r+") as f:
        damage(f)
    with pytest.raises(TileModelError, match=match):
        load_tile_model(p)


def test_nan_model_no_longer_reports_nan_energy(tmp_path):
    p = _copy(tmp_path)
    with h5py.File(p, "r+") as f:
        _set("dac/coef_energy", (0, 0), np.nan)(f)
    r = subprocess.run(AIMC + ["eval", "bottleneck", "--tile", str(p)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "nan" not in r.stdout
    assert "/dac/coef_energy[0, 0]" in r.stderr and "Traceback" not in r.stderr


def test_save_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    model = load_default_tile_model()
    (tmp_path / "data").mkdir()
    link = tmp_path / "model.h5"
    link.symlink_to(Path("data") / "real.h5")
    model.save(link)
    real = tmp_path / "data" / "real.h5"
    assert link.is_symlink() and real.is_file()
    with pytest.raises(FileExistsError):
        model.save(link)
    model.save(link, force=True)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "model.h5"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["real.h5"]
    again = load_tile_model(link)
    np.testing.assert_array_equal(again.crossbar.to_arrays()["coef"],
                                  model.crossbar.to_arrays()["coef"])


def test_save_over_a_hard_linked_file_is_refused_untouched(tmp_path):
    model = load_default_tile_model()
    out = tmp_path / "model.h5"
    model.save(out)
    other = tmp_path / "copy.h5"
    os.link(out, other)
    before = out.read_bytes()
    for name in (out, other):
        with pytest.raises(FileExistsError, match="2 hard links"):
            model.save(name, force=True)
    assert out.read_bytes() == before and os.stat(out).st_nlink == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.h5", "model.h5"]
