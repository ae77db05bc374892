"""A real network on the analog array: the digits MLP as an ONNX file, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from aimc.system.array.executor import NetworkExecutor
from aimc.system.cli import main
from array_helpers import one_blas_thread, tile_model, tile_path  # noqa: F401

#: analog accuracy may trail the float network by at most this much (HERMES MNIST MLP:
#: 0.3 points; the digits test split has 360 images, one image = 0.28 points)
MARGIN = 0.03


def test_digits_mlp_accuracy_through_the_cli(capsys, tmp_path):
    onnx_file = tmp_path / "digits.onnx"
    rc = main(["accuracy", "digits-mlp", "--tile", str(tile_path()), "--times", "1h",
               "--device-seeds", "1", "--onnx-out", str(onnx_file), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert onnx_file.is_file()                       # the real ONNX file was written
    assert d["n_test"] == 360 and d["times_s"] == [3600.0] and d["device_seeds"] == [0]
    assert d["ideal"] > 0.95
    assert d["ideal"] == pytest.approx(d["software_accuracy"], abs=1e-9)   # scikit-learn
    assert d["quantised"] >= d["ideal"] - MARGIN
    assert d["analog"]["3600"]["mean"] >= d["ideal"] - MARGIN
    assert set(d["mvm_err_quantised"]) == set(d["mvm_err_analog"]["3600"]) == {"fc1", "fc2"}
    # devices add error on top of the circuit, the circuit on top of the quantisation
    e_circ = d["analog_ideal_devices"]["mvm_err_vs_quantised_pct_fs"]["fc1"]
    assert d["mvm_err_analog"]["3600"]["fc1"] > e_circ > d["mvm_err_quantised"]["fc1"] > 0
    # the ONNX import's weights are the trained ones (crossbar orientation 64 x 128)
    ex = NetworkExecutor(onnx_file, tile_model=tile_model())
    assert [m.w.shape for m in ex.mvms.values()] == [(64, 128), (128, 10)]
    assert ex.tiles == {"fc1": 1, "fc2": 1}


def test_device_seed_keeps_the_network(capsys, tmp_path):
    """--seed draws only the devices: the trained weights and the device-free paths stay
    identical, so a mean over device seeds is a mean over devices of one network."""
    import onnx
    from onnx import numpy_helper

    runs = {}
    for seed in ("1", "2"):
        out = tmp_path / f"digits_{seed}.onnx"
        assert main(["accuracy", "digits-mlp", "--tile", str(tile_path()), "--seed", seed,
                     "--device-seeds", "1", "--times", "1d", "--onnx-out", str(out),
                     "--json"]) == 0
        weights = {t.name: numpy_helper.to_array(t)
                   for t in onnx.load(str(out)).graph.initializer}
        runs[seed] = (json.loads(capsys.readouterr().out), weights)
    (d1, w1), (d2, w2) = runs["1"], runs["2"]
    assert d1["device_seeds"] == [1] and d2["device_seeds"] == [2]
    assert w1.keys() == w2.keys()
    for name in w1:
        np.testing.assert_array_equal(w1[name], w2[name])
    assert d1["software_accuracy"] == d2["software_accuracy"]
    for key in ("ideal", "quantised", "mvm_err_quantised"):               # no device draw
        assert d1[key] == d2[key]
    # the PCM draw does change with the device seed
    assert d1["mvm_err_analog"]["86400"]["fc1"] != d2["mvm_err_analog"]["86400"]["fc1"]
    # and --net-seed trains another network (other split, other initial weights)
    out = tmp_path / "digits_net1.onnx"
    assert main(["accuracy", "digits-mlp", "--tile", str(tile_path()), "--net-seed", "1",
                 "--device-seeds", "1", "--times", "1h", "--onnx-out", str(out),
                 "--json"]) == 0
    capsys.readouterr()
    w3 = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    assert any(not np.array_equal(w1[k], w3[k]) for k in w1)


def test_unsupported_operator_and_missing_tile_model(tmp_path, capsys):
    import onnx
    from aimc.system.networks.onnx_import import UnsupportedOperatorError
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"], name="tanh0")], "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "tanh.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(UnsupportedOperatorError, match="Tanh .node 'tanh0'"):
        NetworkExecutor(path, tile_model=tile_model())
    assert main(["accuracy", "digits-mlp", "--tile", str(tmp_path / "none.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["accuracy", str(path), "--tile", str(tile_path()), "--data", "digits"]) == 2
    assert "Tanh (node 'tanh0')" in capsys.readouterr().err


def test_eval_tile_hook_uses_the_tile_model(capsys):
    assert main(["eval", "bottleneck", "--tile", str(tile_path()), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    tj = d["tile_job"]
    # the ADC surrogate's window (128 ns of PWM) against the published ~130 ns MVM
    assert tj["latency_s"] == pytest.approx(tj["latency_published_s"], rel=0.05)
    assert tj["analog_j"] == pytest.approx(tj["array_j"] + tj["dac_j"] + tj["adc_j"])
    blocks = [v for k, v in tj.items() if k.startswith("digital_") and k != "digital_j"]
    assert len(blocks) == 4 and all(v > 0 for v in blocks)
    assert tj["energy_full_job_j"] == pytest.approx(tj["analog_j"] + sum(blocks))
    # the published per-job energy (19.6 nJ) is far above the SPICE-grounded total
    assert tj["energy_full_job_j"] < tj["published_job_j"]
    assert tj["network_energy_j"] < tj["network_energy_paper_job_j"]
    jobs = sum(layer["jobs"] for layer in d["layers"])
    assert d["energy_by_block_j"]["ima_analog"] > 0 and jobs > 0
