from __future__ import annotations

import time

import numpy as np
import onnx
import pytest
from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.model import evaluate
from aimc.system.networks.onnx_examples import resnet50_graph, small_cnn_graph
from aimc.system.networks.onnx_import import (
    DynamicShapeError,
    OnnxImportError,
    UnsupportedOperatorError,
    from_model,
    load_onnx,
)
from onnx import TensorProto, helper


def test_real_resnet50_graph(light_dir):
    net = load_onnx(light_dir / "light_resnet50.onnx")
    # He et al. 2016: ResNet-50 ~4.1 GMAC, 25.5 M weights (conv + FC, no BN)
    assert net.macs == pytest.approx(4.09e9, rel=0.01)
    assert net.weight_count == pytest.approx(25.5e6, rel=0.01)
    kinds = net.summary()
    assert kinds["conv"] == 53 and kinds["add"] == 16 and kinds["fc"] == 1
    res = evaluate(net, ClusterConfig())
    assert res.n_ima > 300 and res.latency_s > 0


def test_real_shufflenet_has_dw_and_shuffle(light_dir):
    net = load_onnx(light_dir / "light_shufflenet.onnx")
    kinds = net.summary()
    assert kinds["dwconv"] == 16 and kinds["reshape"] == 16  # channel-shuffle transposes
    grouped = [lay for lay in net.layers if lay.kind == "conv" and lay.groups > 1]
    assert grouped, "ShuffleNet has grouped 1x1 convolutions"
    evaluate(net, ClusterConfig())


@pytest.mark.parametrize("name", ["light_squeezenet.onnx", "light_densenet121.onnx",
                                  "light_inception_v2.onnx"])
def test_other_real_graphs_run(light_dir, name):
    net = load_onnx(light_dir / name)
    res = evaluate(net, ClusterConfig())
    assert res.macs == net.macs and res.energy_j > 0


def test_lrn_is_reported_with_node_name(light_dir):
    with pytest.raises(UnsupportedOperatorError) as exc:
        load_onnx(light_dir / "light_bvlc_alexnet.onnx")
    assert "LRN" in str(exc.value) and "node" in str(exc.value)
    assert all(op == "LRN" for _, op in exc.value.nodes)


def test_weights_and_bn_folding():
    model = small_cnn_graph(seed=3)
    net = from_model(model)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    w = inits["conv1_w"]  # (16, 8, 3, 3)
    gamma = inits["conv1_bn_scale"] / np.sqrt(inits["conv1_bn_var"] + 1e-5)
    expect = (w.reshape(16, -1).T * gamma[None, :])
    np.testing.assert_allclose(net.layer("conv1").weights, expect, rtol=1e-5)
    assert net.layer("conv1").weights.shape == (72, 16)
    assert net.layer("conv2").kind == "dwconv"
    np.testing.assert_allclose(net.layer("fc").weights, inits["fc_w"].T)
    assert [lay.kind for lay in net.layers] == ["conv", "dwconv", "conv", "add", "pool", "fc"]


def test_symbolic_batch_ok_dynamic_spatial_fails():
    assert from_model(small_cnn_graph(batch="N")).input_shape == (8, 16, 16)
    with pytest.raises(DynamicShapeError, match="dynamic shape"):
        from_model(small_cnn_graph(height="H"))


def test_unsupported_op_built_with_helper():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="act"),
             helper.make_node("Erf", ["r"], ["e"], name="my_erf")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [1, 4, 8, 8])],
                          [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4, 8, 8])])
    with pytest.raises(UnsupportedOperatorError, match="Erf \\(node 'my_erf'\\)"):
        from_model(helper.make_model(g))


def test_matmul_of_two_activations_is_unsupported():
    nodes = [helper.make_node("MatMul", ["a", "b"], ["c"], name="attn")]
    g = helper.make_graph(nodes, "g", [
        helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4, 8]),
        helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 8, 4])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4, 4])])
    with pytest.raises(UnsupportedOperatorError, match="attn"):
        from_model(helper.make_model(g))


def test_bad_file(tmp_path):
    p = tmp_path / "x.onnx"
    p.write_bytes(b"not an onnx file")
    with pytest.raises(OnnxImportError):
        load_onnx(p)
    with pytest.raises(FileNotFoundError):
        load_onnx(tmp_path / "missing.onnx")


def test_resnet50_sized_graph_under_5s():
    t0 = time.perf_counter()
    net = from_model(resnet50_graph())
    res = evaluate(net, ClusterConfig())
    assert time.perf_counter() - t0 < 5.0
    assert net.macs == pytest.approx(4.09e9, rel=0.01)
    assert res.n_ima > 300


def test_matmul_with_constant_matrix():
    w = np.arange(8 * 4, dtype=np.float32).reshape(8, 4)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="proj")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [1, 10, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10, 4])],
                          [onnx.numpy_helper.from_array(w, "w")])
    net = from_model(helper.make_model(g))
    lay = net.layers[0]
    assert (lay.kind, lay.cin, lay.cout, lay.out_pixels) == ("fc", 8, 4, 10)
    assert lay.macs == 10 * 8 * 4
    np.testing.assert_array_equal(lay.weights, w)


def test_import_leaves_the_callers_model_unchanged():
    """from_model fixes a symbolic batch to 1 on a copy: a cached model (the studies keep
    one per process) must read the same before and after an import."""
    from aimc.system.networks.digits_cnn import shipped_path
    from aimc.system.networks.onnx_import import from_model

    model = onnx.load(str(shipped_path("digits_cnn")))
    before = model.SerializeToString()
    from_model(model)
    assert model.SerializeToString() == before
