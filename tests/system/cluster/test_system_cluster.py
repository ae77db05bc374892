from __future__ import annotations

import dataclasses

import pytest
from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.model import DoesNotFitError, evaluate
from aimc.system.networks.mobilenetv2 import mobilenetv2
from aimc.system.studies.calibration import bottleneck_results, calibrate, current_values
from aimc.system.studies.paper import bottleneck_network


def test_mobilenetv2_against_paper(mnv2_result):
    r = mnv2_result
    assert r.n_ima == 34
    assert r.latency_s == pytest.approx(10.1e-3, rel=0.10)  # seed 001 Sec. VI (predicted)
    assert r.energy_j == pytest.approx(482e-6, rel=0.10)  # seed 001 Sec. VI (fitted)
    assert r.inferences_per_s == pytest.approx(99, rel=0.10)
    assert r.area_mm2() == pytest.approx(30, rel=0.10)


def test_conservation(mnv2_result):
    r = mnv2_result
    assert sum(lr.energy_j for lr in r.layers) == pytest.approx(r.energy_j)
    assert sum(r.energy_by_block().values()) == pytest.approx(r.energy_j)
    assert sum(r.cycles_by_block().values()) == r.cycles
    assert r.latency_s == pytest.approx(r.cycles / r.config.op.f_hz)
    assert r.macs == mobilenetv2().macs
    for lr in r.layers:
        assert sum(lr.cycles_by_block.values()) == lr.cycles
        assert sum(lr.energy_by_block.values()) == pytest.approx(lr.energy_j)


def test_ima_jobs_count(mnv2_result):
    # every IMA layer runs one job per output pixel per crossbar tile
    for lr, layer in zip(mnv2_result.layers, mobilenetv2().layers, strict=True):
        if lr.target == "ima":
            assert lr.jobs == lr.tiles * layer.out_pixels


def test_mappings_targets():
    net = bottleneck_network()
    res = bottleneck_results(ClusterConfig())
    assert [lr.target for lr in res["CORES"].layers] == ["cores"] * 4
    assert [lr.target for lr in res["HYBRID"].layers] == ["ima", "cores", "ima", "cores"]
    assert [lr.target for lr in res["IMA+DW"].layers] == ["ima", "dwa", "ima", "cores"]
    assert res["IMA c_job=8"].layers[1].jobs == 192 // 8 * net.layers[1].out_pixels
    # crossbar cells: pw 32x192 twice + dw 9*192*c_job (seed 001 Sec. V-C: N = K^2 C C_job)
    assert res["IMA c_job=16"].ima_cells_used == 2 * 32 * 192 + 9 * 192 * 16
    assert res["HYBRID"].ima_cells_used == 2 * 32 * 192


def test_does_not_fit_says_how_many():
    cfg = ClusterConfig()
    cfg = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima, n_ima=10))
    with pytest.raises(DoesNotFitError, match="needs 34 IMAs"):
        evaluate(mobilenetv2(), cfg)


def test_more_cores_speed_up_software():
    cfg = dataclasses.replace(ClusterConfig(), mapping="cores")
    t8 = evaluate(bottleneck_network(), cfg).latency_s
    t1 = evaluate(bottleneck_network(), dataclasses.replace(cfg, n_cores=1)).latency_s
    assert 4 < t1 / t8 < 8


def test_low_voltage_point_saves_energy_on_software():
    cfg = dataclasses.replace(ClusterConfig(), mapping="cores")
    hv = evaluate(bottleneck_network(), cfg)
    lv = evaluate(bottleneck_network(), cfg.with_op("250MHz"))
    assert lv.latency_s == pytest.approx(2 * hv.latency_s, rel=1e-6)
    assert lv.energy_j < hv.energy_j


def test_tcdm_check():
    cfg = dataclasses.replace(ClusterConfig(), check_tcdm=True)
    evaluate(bottleneck_network(), cfg)  # 28x28x(32+192) fits 512 kB
    with pytest.raises(ValueError, match="TCDM"):
        evaluate(mobilenetv2(), cfg)  # 112x112x96 activations do not


def test_defaults_are_the_calibration():
    fit = calibrate()
    cur = current_values()
    for k, v in fit.values.items():
        assert cur[k] == pytest.approx(v, rel=0.01), k


def test_dse_sweep_and_pareto():
    from aimc.system.studies.explore import DEFAULT_AXES, grid, pareto, sweep, with_field

    cfgs = grid(DEFAULT_AXES)
    assert len(cfgs) == 1000
    small = grid({"ima.bus_bits": (32, 128), "n_cores": (1, 8)})
    rows = sweep(bottleneck_network(), small, processes=1)
    by = {(r["bus_bits"], r["n_cores"]): r for r in rows}
    assert by[128, 8]["latency_s"] < by[32, 1]["latency_s"]
    front = pareto(rows)
    assert front and all("error" not in r for r in front)
    with pytest.raises(ValueError, match="unknown configuration field"):
        with_field(ClusterConfig(), "ima.nope", 1)
    with pytest.raises(ValueError):
        grid({"ima.bus_bits": (48,)})


def test_ports_what_if():
    from aimc.system.cluster.model import _makespan

    assert _makespan([5, 4, 3, 3, 3], 1) == 18
    # LPT: 5->A, 4->B, 3->B (7), 3->A (8), 3->B (10); the optimum {5,4}/{3,3,3} is 9
    assert _makespan([5, 4, 3, 3, 3], 2) == 10
    assert _makespan([7], 4) == 7
    base = ClusterConfig()
    two = dataclasses.replace(base, ima=dataclasses.replace(base.ima, ports=2))
    r1, r2 = evaluate(mobilenetv2(), base), evaluate(mobilenetv2(), two)
    assert r2.latency_s < r1.latency_s
    # same jobs, same analog energy; interconnect area grows with the ports
    assert r2.energy_by_block()["ima_analog"] == pytest.approx(r1.energy_by_block()["ima_analog"])
    assert r2.area_mm2() > r1.area_mm2()
    # 8 ports x 128 bit exceed 32 banks x 4 B: each port gets 16 B/cycle -> capped
    eight = dataclasses.replace(base, ima=dataclasses.replace(base.ima, ports=8))
    assert eight.ima_port_bytes() == 16
    with pytest.raises(ValueError):
        dataclasses.replace(base, ima=dataclasses.replace(base.ima, ports=0)).validate()


def test_c_job_that_does_not_divide_the_channels_warns():
    """C = 136 channels, c_job = 16: 136 = 8 * 17, so the jobs run 8 channels each; the
    model says so instead of silently halving c_job (K^2 * C * c_job cells, N_jobs = C/c_job)."""
    from aimc.system.networks.graph import DWCONV, Layer, Network

    c, h = 136, 8
    net = Network("dw136", [Layer("dw", DWCONV, c, c, h, h, h, h, kh=3, kw=3, groups=c,
                                  inputs=["input"])], (c, h, h))
    cfg = dataclasses.replace(ClusterConfig(), mapping="ima")
    with pytest.warns(UserWarning, match=r"c_job = 16 does not divide its 136 channels; "
                                         r"running c_job = 8"):
        r = evaluate(net, cfg)
    assert r.layers[0].jobs == (c // 8) * h * h
    assert r.ima_cells_used == 9 * c * 8
