"""One report (``aimc eval NETWORK --data``) and ``aimc accuracy`` on the trained digits
CNNs: accuracy of the same mapping beside latency/energy/IMAs/area, against onnx.reference
and the cluster model; bad input through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from aimc.system.cli import main
from onnx import TensorProto, helper, numpy_helper


@pytest.fixture(autouse=True)
def one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _small_digits(tmp_path: Path, n_test: int = 60) -> tuple[Path, np.ndarray, np.ndarray]:
    from aimc.system.networks.digits_cnn import digits_images

    d = digits_images(0)
    p = tmp_path / "digits_small.npz"
    np.savez(p, x_cal=d.x_train[:64], x_test=d.x_test[:n_test], y_test=d.y_test[:n_test])
    return p, d.x_test[:n_test], d.y_test[:n_test]


def _reference_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    from onnx.reference import ReferenceEvaluator

    m = onnx.load(str(path))
    ref = ReferenceEvaluator(m)
    out = ref.run(None, {m.graph.input[0].name: x.astype(np.float32)})[0]
    return float(np.mean(out.argmax(1) == y))


def test_eval_data_is_one_report_of_one_mapping(tmp_path, capsys):
    from aimc.system.cluster.config import ClusterConfig
    from aimc.system.cluster.model import evaluate
    from aimc.system.networks.digits_cnn import digits_mobilenet_path
    from aimc.system.networks.onnx_import import load_onnx

    data, x, y = _small_digits(tmp_path)
    assert main(["eval", "digits-mobilenet", "--data", str(data), "--times", "1h,1y",
                 "--device-seeds", "2", "--plots", str(tmp_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "latency_s", "energy_j", "n_ima", "area_mm2", "tiles"):
        assert key in d
    acc = d["accuracy"]
    # the ideal path is the float network: onnx.reference's accuracy on the same images
    assert acc["ideal"] == _reference_accuracy(digits_mobilenet_path(), x, y)
    assert acc["n_test"] == len(y) and acc["device_seeds"] == [0, 1]
    for t in ("3600", "31536000"):
        v = acc["analog"][t]["values"]
        assert len(v) == 2 and acc["analog"][t]["mean"] == pytest.approx(np.mean(v))
        assert acc["analog"][t]["std"] == pytest.approx(np.std(v, ddof=1))
    # latency, energy, IMAs, area: the cluster model's figures of the same network, with
    # IMA jobs from the same (shipped) tile model the accuracy used
    from aimc.surrogate.tile_model import default_tile_model_path
    from aimc.system.cluster.ima import load_tile_model

    assert d["tile_model"] == str(default_tile_model_path())
    res = evaluate(load_onnx(digits_mobilenet_path()), ClusterConfig(),
                   job_model=load_tile_model(d["tile_model"]))
    assert d["tile_job"]["energy_full_job_j"] > 0
    assert d["latency_s"] == pytest.approx(res.latency_s, rel=1e-12)
    assert d["energy_j"] == pytest.approx(res.energy_j, rel=1e-12)
    assert d["n_ima"] == res.n_ima and d["area_mm2"] == pytest.approx(res.area_mm2())
    assert d["tiles"] == sum(r.tiles for r in res.layers)
    # depth-wise layers run where the cluster puts them (DW accelerator), with no MVM error
    targets = {lay["name"]: lay["target"] for lay in d["layers"]}
    assert "dwa" in targets.values()
    for lay in d["layers"]:
        assert ("mvm_err_analog_pct_fs" in lay) == (lay["target"] == "ima")
    assert Path(d["plots"][0]).is_file()


def test_accuracy_command_on_the_digits_cnn(tmp_path, capsys):
    from aimc.system.networks.digits_cnn import digits_cnn_path

    data, x, y = _small_digits(tmp_path, 40)
    assert main(["accuracy", "digits-cnn", "--data", str(data), "--times", "1h",
                 "--device-seeds", "2", "--seed", "3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["device_seeds"] == [3, 4] and d["n_tiles"] == 4
    assert d["ideal"] == _reference_accuracy(digits_cnn_path(), x, y)
    assert d["software_accuracy"] is None        # the training figure is for the full split
    assert set(d["mvm_err_quantised"]) == set(d["targets"])    # every layer on the IMA
    # the analog circuit (and the devices) add error to the exact quantised product
    for name, e_q in d["mvm_err_quantised"].items():
        e_c = d["analog_ideal_devices"]["mvm_err_vs_quantised_pct_fs"][name]
        assert min(d["mvm_err_analog"]["3600"][name], e_c) > e_q > 0
    # text output: a table with mean ± std
    assert main(["accuracy", "digits-cnn", "--data", str(data), "--times", "1d",
                 "--device-seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "analog, 1 day after programming" in out and "±" in out


def test_bad_input_through_the_cli(tmp_path, capsys):
    # a network needing more IMAs than --n-ima allows: named, before any simulation
    w = np.random.default_rng(0).standard_normal((300, 300, 1, 1)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="wide")], "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 300, 1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 300, 1, 1])],
        [numpy_helper.from_array(w, "w")])
    path = tmp_path / "wide.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    x = np.random.default_rng(1).random((8, 300, 1, 1))
    np.savez(tmp_path / "wide.npz", x_cal=x, x_test=x, y_test=np.zeros(8, int))
    assert main(["eval", str(path), "--data", str(tmp_path / "wide.npz"), "--n-ima", "1"]) == 2
    err = capsys.readouterr().err
    from aimc.system.cluster.config import ClusterConfig
    from aimc.system.cluster.model import evaluate
    from aimc.system.networks.onnx_import import load_onnx

    need = evaluate(load_onnx(path), ClusterConfig()).n_ima
    assert need > 1 and err.startswith(f"aimc: error: network 'wide' needs {need} IMAs")
    assert "set ima.n_ima" in err
    # data whose shape does not match the network input
    np.savez(tmp_path / "flat.npz", x_cal=x.reshape(8, 300), x_test=x.reshape(8, 300),
             y_test=np.zeros(8, int))
    assert main(["eval", str(path), "--data", str(tmp_path / "flat.npz")]) == 2
    assert "input 'x': data of shape (8, 300) does not match" in capsys.readouterr().err
    # NaN inputs
    xn = x.copy()
    xn[3, 7, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x_cal=x, x_test=xn, y_test=np.zeros(8, int))
    assert main(["accuracy", str(path), "--data", str(tmp_path / "nan.npz")]) == 2
    assert "1 NaN/inf value(s), first at index (3, 7, 0, 0)" in capsys.readouterr().err
    # a data file without the arrays, a bad time, a bad seed list
    np.savez(tmp_path / "empty.npz", x=x)
    assert main(["accuracy", "digits-cnn", "--data", str(tmp_path / "empty.npz")]) == 2
    assert "lacks array(s) x_cal, x_test, y_test" in capsys.readouterr().err
    assert main(["accuracy", "digits-cnn", "--times", "1 fortnight"]) == 2
    assert "is not a time" in capsys.readouterr().err
    assert main(["accuracy", "digits-cnn", "--device-seeds", "0"]) == 2
    assert "--device-seeds '0'" in capsys.readouterr().err
