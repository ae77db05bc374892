"""The shipped digits CNNs: onnx's own reference evaluator reproduces the test accuracy
that the training script (PyTorch, benchmarks/train_digits_cnn.py) measured and stored.

No PyTorch here: the oracle is ``onnx.reference.ReferenceEvaluator``, the data are
scikit-learn's digits read independently of the module under test.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from aimc.system.networks.digits_cnn import (
    NETWORKS,
    DigitsNetworkError,
    digits_images,
    shipped_path,
    training_report,
)
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator


@pytest.fixture(scope="module")
def data():
    return digits_images()


def test_images_are_the_mlp_split_as_8x8_pictures(data):
    from aimc.system.networks.digits_mlp import digits_data
    from sklearn.datasets import load_digits

    flat = digits_data()
    assert data.x_test.shape == (360, 1, 8, 8) and data.x_train.shape == (1437, 1, 8, 8)
    assert data.x_test.dtype == np.float32
    np.testing.assert_array_equal(data.y_test, flat.y_test)
    np.testing.assert_allclose(data.x_test.reshape(360, 64), flat.x_test, rtol=0, atol=1e-7)
    # each test picture is one of scikit-learn's 8x8 images / 16, rows and columns in place
    images = load_digits().images / 16.0
    for k in (0, 123, 359):
        d = np.abs(images - data.x_test[k, 0]).reshape(len(images), -1).max(axis=1)
        assert d.min() < 1e-7


@pytest.mark.parametrize("name,floor", [("digits_cnn", 0.98), ("digits_mobilenet", 0.97)])
def test_reference_evaluator_reproduces_the_trained_accuracy(data, name, floor):
    path = shipped_path(name)
    assert path.stat().st_size < 200 * 1024
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 13
    rep = training_report(path)
    ev = ReferenceEvaluator(model)
    logits = ev.run(None, {model.graph.input[0].name: data.x_test})[0]
    assert logits.shape == (360, 10)
    n_ok = int(np.sum(np.argmax(logits, axis=1) == data.y_test))
    assert int(rep["n_test"]) == 360
    assert n_ok == int(rep["n_correct"]), (n_ok, rep)       # what PyTorch measured
    assert n_ok / 360 >= floor
    assert float(rep["test_accuracy"]) == pytest.approx(n_ok / 360, abs=1e-6)


def test_mobilenet_has_inverted_residual_blocks():
    model = onnx.load(str(shipped_path("digits_mobilenet")))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    group = {n.name: next((a.i for a in n.attribute if a.name == "group"), 1) for n in convs}
    dw = [n for n in convs if group[n.name] > 1]
    assert len(dw) == 3
    for n in dw:   # depth-wise: one 3x3 filter per channel
        w = init[n.input[1]]
        assert w.shape[1] == 1 and w.shape[2:] == (3, 3) and w.shape[0] == group[n.name]
    pw = [init[n.input[1]].shape for n in convs if init[n.input[1]].shape[2:] == (1, 1)]
    assert any(s[0] == 4 * s[1] for s in pw)         # a 1x1 expansion by 4
    assert any(s[1] == 4 * s[0] for s in pw)         # a 1x1 projection back
    assert sum(n.op_type == "Add" for n in model.graph.node) == 2       # residuals
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)  # folded
    clips = [n for n in model.graph.node if n.op_type == "Clip"]
    assert clips   # ReLU6 = Clip(0, 6)


def test_unknown_network_is_refused():
    with pytest.raises(DigitsNetworkError, match="digits_cnn"):
        shipped_path("digits_resnet")
    assert shipped_path("digits-cnn") == shipped_path("digits_cnn")
    assert set(NETWORKS) == {"digits_cnn", "digits_mobilenet"}


def test_the_package_never_imports_torch():
    code = ("import sys; import aimc.system.networks.digits_cnn as m; "
            "m.training_report(m.shipped_path()); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
