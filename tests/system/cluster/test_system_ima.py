from __future__ import annotations

import dataclasses
import math

import pytest
from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.ima import E_JOB_FULL_J, PaperImaJobModel, job_timing, load_tile_model
from aimc.system.cluster.model import evaluate
from aimc.system.studies.paper import roofline_network


def test_job_timing_independent():
    # 256x256 job, 128-bit bus, 250 MHz: in 16, out 16, compute ceil(32.5) = 33 cycles
    jt = job_timing((256, 1), 256, 16, 250e6, 130e-9, pipelined=True, handshake_cycles=1)
    assert (jt.stream_in, jt.compute, jt.stream_out, jt.per_job) == (16, 33, 16, 34)
    js = job_timing((256, 1), 256, 16, 250e6, 130e-9, pipelined=False, handshake_cycles=1)
    assert js.per_job == 16 + 33 + 16 + 1
    # 32-bit bus is memory bound when pipelined: 64 + 64 > 33
    jn = job_timing((256, 1), 256, 4, 250e6, 130e-9, pipelined=True, handshake_cycles=0)
    assert jn.per_job == 128
    # im2col window: 3 segments of 3*32 bytes on a 16-byte bus
    jw = job_timing((96, 3), 64, 16, 500e6, 130e-9, pipelined=True, handshake_cycles=0)
    assert jw.stream_in == 18


def test_peak_and_958_gops():
    cfg = ClusterConfig().with_op("250MHz")
    r = evaluate(roofline_network(1.0), cfg)
    peak = 2 * 256 * 256 / 130e-9
    assert peak / 1e12 == pytest.approx(1.008, abs=1e-3)  # FACTS.md
    assert r.gops == pytest.approx(958, rel=0.01)  # seed 001 Fig. 7(c)
    assert r.gops * 1e9 < peak


def test_pipelined_beats_sequential_and_bus_saturates():
    base = ClusterConfig().with_op("250MHz")
    net = roofline_network(1.0)
    g = {}
    for ex in ("sequential", "pipelined"):
        for bus in (32, 64, 128, 256, 512):
            c = dataclasses.replace(base, ima=dataclasses.replace(base.ima, bus_bits=bus,
                                                                  execution=ex))
            g[ex, bus] = evaluate(net, c).gops
    for bus in (32, 64, 128, 256, 512):
        assert g["pipelined", bus] >= g["sequential", bus]
    assert g["pipelined", 256] == pytest.approx(g["pipelined", 128], rel=0.01)
    assert g["pipelined", 64] < 0.8 * g["pipelined", 128]


def test_job_energy_model():
    m = PaperImaJobModel()
    assert m.energy_j(256, 256) == pytest.approx(E_JOB_FULL_J)
    # HERMES 10.5 TOPS/W scaled by 22/14 (seed 001 Sec. V-A)
    assert E_JOB_FULL_J == pytest.approx(2 * 65536 / 10.5e12 * 22 / 14)
    assert m.energy_j(32, 32) < m.energy_j(256, 32) < m.energy_j(256, 256)
    assert m.latency_s(10, 10) == 130e-9
    with pytest.raises(ValueError):
        PaperImaJobModel(share_fixed=0.5)


def test_tile_model_hook_errors_clearly(tmp_path):
    with pytest.raises((RuntimeError, FileNotFoundError, OSError)) as exc:
        load_tile_model(str(tmp_path / "tile.h5"))
    assert "tile" in str(exc.value).lower()


def test_frequency_does_not_change_compute_time():
    hv = evaluate(roofline_network(1.0), ClusterConfig())
    lv = evaluate(roofline_network(1.0), ClusterConfig().with_op("250MHz"))
    # compute-bound: the latency is set by the 130 ns MVM, not the clock (+ handshake/config)
    assert lv.latency_s == pytest.approx(hv.latency_s, rel=0.05)
    assert math.isclose(hv.gops, lv.gops, rel_tol=0.05)


class _FlatModel:
    """A stand-in tile model: 100 ns and 5 nJ per job whatever the size."""

    rows = 256
    cols = 256

    def latency_s(self, rows: int, cols: int) -> float:
        return 100e-9

    def energy_j(self, rows: int, cols: int) -> float:
        return 5e-9


def test_custom_job_model_is_used():
    from aimc.system.networks.mobilenetv2 import mobilenetv2

    r = evaluate(mobilenetv2(), ClusterConfig(), job_model=_FlatModel())
    jobs = sum(lr.jobs for lr in r.layers)
    assert r.energy_by_block()["ima_analog"] == pytest.approx(jobs * 5e-9)
    ref = evaluate(mobilenetv2(), ClusterConfig())
    assert r.latency_s < ref.latency_s  # 100 ns < 130 ns jobs


def test_job_model_size_mismatch():
    m = _FlatModel()
    m.rows = m.cols = 128
    with pytest.raises(ValueError, match="ima.size"):
        evaluate(roofline_network(0.5), ClusterConfig(), job_model=m)
