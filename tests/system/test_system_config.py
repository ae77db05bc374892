from __future__ import annotations

import dataclasses

import pytest
from aimc.system.config import ClusterConfig, dumps_toml


def test_toml_round_trip(tmp_path):
    cfg = ClusterConfig()
    cfg = dataclasses.replace(cfg, n_cores=4, ima=dataclasses.replace(cfg.ima, bus_bits=64,
                                                                      execution="sequential"))
    p = tmp_path / "arch.toml"
    cfg.dump(p)
    back = ClusterConfig.load(p)
    assert back == cfg
    assert "[ima]" in p.read_text()


@pytest.mark.parametrize("text,msg", [
    ("n_cores = 0", "n_cores"),
    ("[ima]\nbus_bits = 96", "power of two"),
    ("[ima]\nbus_bits = 1024", "32..512"),
    ("[ima]\nexecution = 'warp'", "execution"),
    ("mapping = 'gpu'", "mapping"),
    ("bogus = 1", "unknown key"),
    ("[ima]\nbogus = 1", "unknown key"),
    ("n_cores = 'eight'", "integer"),
    ("[op]\nf_hz = 0.0", "frequency"),
])
def test_bad_configs(tmp_path, text, msg):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ValueError, match=msg):
        ClusterConfig.load(p)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        ClusterConfig.load("/nonexistent/arch.toml")


def test_toml_writer_escapes():
    s = dumps_toml({"name": 'a"b', "t": {"x": 1.5, "y": True}})
    assert 'name = "a\\"b"' in s and "[t]" in s and "y = true" in s


def test_operating_points():
    lv = ClusterConfig().with_op("250MHz")
    assert lv.op.f_hz == 250e6 and lv.op.vdd_v == 0.65
    with pytest.raises(ValueError):
        ClusterConfig().with_op("1GHz")
