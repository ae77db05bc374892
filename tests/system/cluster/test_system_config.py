from __future__ import annotations

import dataclasses

import pytest
from aimc.system.cluster.config import ClusterConfig, dumps_toml


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


def test_fmax_refuses_impossible_clock(tmp_path):
    from aimc.system.cluster.config import f_max_hz

    assert f_max_hz(0.8) == pytest.approx(500e6) and f_max_hz(0.65) == pytest.approx(250e6)
    assert f_max_hz(1.0) == pytest.approx(500e6)  # the design's maximum
    p = tmp_path / "fast.toml"
    p.write_text("[op]\nf_hz = 500e6\nvdd_v = 0.65\n")
    with pytest.raises(ValueError, match="above the 250 MHz"):
        ClusterConfig.load(p)
    p.write_text("[op]\nf_hz = 500e6\nvdd_v = 0.65\ncheck_fmax = false\n")
    assert ClusterConfig.load(p).op.f_hz == 500e6


def test_tile_model_in_config_is_loaded(tmp_path):
    from aimc.system.cluster.model import evaluate
    from aimc.system.studies.paper import roofline_network

    cfg = ClusterConfig()
    cfg = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima,
                                                           tile_model=str(tmp_path / "t.h5")))
    with pytest.raises(RuntimeError, match="tile model"):
        evaluate(roofline_network(0.5), cfg)
