"""The network executor: one mapping with the cluster (tiles, targets), the quantised path
as integer arithmetic (tiles split over rows and columns; depth-wise layers on the DW
accelerator at 8 bit, against onnx.reference on integer tensors), and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from aimc.system.array.executor import InputDataError, MissingWeightsError, NetworkExecutor
from aimc.system.array.layer import ArrayConfig
from aimc.system.cluster.config import ClusterConfig
from aimc.system.cluster.model import ClusterPlacement, evaluate, layer_target
from aimc.system.networks.onnx_examples import mobilenetv2_graph
from aimc.system.networks.onnx_import import UnsupportedOperatorError
from array_helpers import one_blas_thread, tile_model  # noqa: F401
from onnx import TensorProto, helper, numpy_helper


def _cfg(mapping: str = "ima_dw", size: int = 256, map_fc: bool = False) -> ClusterConfig:
    c = ClusterConfig()
    return dataclasses.replace(c, mapping=mapping, ima=dataclasses.replace(
        c.ima, size=size, map_fc=map_fc))


def _conv_model(cin: int, cout: int, group: int, k: int = 3, stride: int = 1, hw: int = 6,
                seed: int = 0, dilation: int = 1, bias: bool = True):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((cout, cin // group, k, k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")] + ([numpy_helper.from_array(b, "b")]
                                                 if bias else [])
    node = helper.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["y"],
                            name="conv", group=group, kernel_shape=[k, k],
                            strides=[stride] * 2, pads=[k // 2 * dilation] * 4,
                            dilations=[dilation] * 2)
    g = helper.make_graph([node], "conv", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", cin, hw, hw])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), w, b


def test_tiles_and_targets_are_the_clusters_for_mobilenetv2():
    """The executor splits MobileNetV2 (ONNX, 224x224, width 1.0) over exactly the tiles
    the cluster model counts, in every mapping, and puts each layer where it does."""
    model = mobilenetv2_graph(seed=1)
    for mapping in ("ima_dw", "ima", "hybrid", "cores"):
        cfg = _cfg(mapping)
        ex = NetworkExecutor(model, placement=ClusterPlacement(cfg))
        res = evaluate(ex.net, cfg)
        assert ex.tiles == {r.name: r.tiles for r in res.layers if r.tiles}, mapping
        assert ex.targets() == {lay.name: layer_target(lay, cfg) for lay in ex.net.layers
                                if lay.has_weights}
        if mapping == "ima_dw":
            assert res.n_ima == 34 and ex.n_tiles == 86   # seed 001: 34 IMAs after TILE&PACK
    # the built-in IR of the same network maps identically
    from aimc.system.networks.mobilenetv2 import mobilenetv2

    cfg = _cfg()
    ex = NetworkExecutor(model, placement=ClusterPlacement(cfg))
    a, b = evaluate(ex.net, cfg), evaluate(mobilenetv2(), cfg)
    assert (a.n_ima, a.latency_s, a.energy_j) == (b.n_ima, b.latency_s, b.energy_j)


def test_quantised_conv_over_split_tiles_is_integer_arithmetic():
    """A strided, dilated 3x3 convolution 20 -> 80 on 64x64 tiles: 180 rows -> 3 row tiles
    (partial sums added digitally) x 80 columns -> 2 column tiles (separate ADCs). The
    quantised path equals the hand-written integer arithmetic: 8-bit input codes, 4-bit
    weights per column, per row tile an ideal ADC rounding k·Σ code·level, then the sum
    of the row tiles, the inverse scales and the bias."""
    model, w, b = _conv_model(20, 80, 1, stride=2, hw=7, dilation=2)
    cfg = _cfg("ima", size=64)
    ex = NetworkExecutor(model, placement=ClusterPlacement(cfg), tile_model=tile_model())
    assert ex.tiles == {"conv": 6} == {r.name: r.tiles for r in evaluate(ex.net, cfg).layers
                                        if r.tiles}
    rng = np.random.default_rng(3)
    x_cal, x = rng.standard_normal((6, 20, 7, 7)), rng.standard_normal((3, 20, 7, 7))
    ex.calibrate(x_cal)
    y = ex.run(x, "quantised").output
    # the oracle, from the definitions
    a = ArrayConfig()
    s_x = np.max(np.abs(x_cal))
    codes = np.clip(np.rint(x / s_x * 127), -127, 127)
    xp = np.pad(codes, [(0, 0), (0, 0), (2, 2), (2, 2)])
    wm = w.reshape(80, -1).T.astype(float)                      # (c, i, j) rows
    step = np.max(np.abs(wm), axis=0) / 7
    q = np.clip(np.rint(wm / step), -7, 7)
    k = (a.v_read_v * (a.g_max_s - a.g_min_s) / 7 * 2 * a.t_lsb_s
         / (a.i_fs_a * a.window_s) * 127)
    out = np.zeros((3, 80, 4, 4))
    for oh in range(4):
        for ow in range(4):
            win = xp[:, :, 2 * oh:2 * oh + 5:2, 2 * ow:2 * ow + 5:2].reshape(3, -1)
            acc = sum(np.clip(np.rint(win[:, r:r + 64] @ q[r:r + 64] * k), -127, 127) / k
                      for r in range(0, 180, 64))
            out[:, :, oh, ow] = acc * step * s_x / 127 + b
    np.testing.assert_allclose(y, out, rtol=1e-12, atol=1e-12 * np.abs(out).max())


def test_depthwise_on_the_dw_accelerator_is_exact_8bit_arithmetic():
    """With the cluster's ima_dw mapping a 3x3 depth-wise layer runs on the DW
    accelerator: 8-bit input codes times 8-bit per-channel weights, integer sums. The
    quantised path equals onnx.reference's convolution of those integer tensors."""
    from onnx.reference import ReferenceEvaluator

    model, w, b = _conv_model(24, 24, 24, stride=2, hw=9)
    cfg = _cfg("ima_dw")
    ex = NetworkExecutor(model, placement=ClusterPlacement(cfg))
    assert ex.targets() == {"conv": "dwa"} and ex.tiles == {}
    rng = np.random.default_rng(4)
    x_cal, x = rng.standard_normal((5, 24, 9, 9)), rng.standard_normal((4, 24, 9, 9))
    ex.calibrate(x_cal)
    y = ex.run(x, "quantised").output
    s_x = np.max(np.abs(x_cal))
    codes = np.clip(np.rint(x / s_x * 127), -127, 127).astype(np.float32)
    step = np.max(np.abs(w), axis=(1, 2, 3)) / 127
    wq = np.clip(np.rint(w / step[:, None, None, None]), -127, 127).astype(np.float32)
    int_model, _, _ = _conv_model(24, 24, 24, stride=2, hw=9, bias=False)
    int_model.graph.initializer[0].CopyFrom(numpy_helper.from_array(wq, "w"))
    acc = ReferenceEvaluator(int_model).run(None, {"x": codes})[0]   # exact in float32
    assert np.all(acc == np.rint(acc)) and np.max(np.abs(acc)) < 2 ** 24
    want = acc * (step * s_x / 127)[None, :, None, None] + b[None, :, None, None]
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    # and the ideal path is the float convolution
    np.testing.assert_allclose(ex.run(x).output, ReferenceEvaluator(model).run(
        None, {"x": x.astype(np.float32)})[0], rtol=1e-5, atol=1e-5)


def test_bad_input_gives_one_message_naming_the_problem(tmp_path):
    # an unsupported operator, named with its node
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="act"),
                           helper.make_node("HardSwish", ["r"], ["y"], name="hs1")], "h",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(UnsupportedOperatorError, match=r"HardSwish \(node 'hs1'\)"):
        NetworkExecutor(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]))
    # weights the file does not hold: a Conv weight that is a graph input
    model, _, _ = _conv_model(4, 8, 1)
    del model.graph.initializer[0]
    model.graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT,
                                                           [8, 4, 3, 3]))
    with pytest.raises(MissingWeightsError, match="layer 'conv'.*no weights"):
        NetworkExecutor(model)
    # weights in an external file that is missing
    model, _, _ = _conv_model(16, 64, 1)
    path = tmp_path / "ext.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="ext.bin",
              size_threshold=0)
    (tmp_path / "ext.bin").unlink()
    with pytest.raises(MissingWeightsError, match="'w' of conv.*ext.bin"):
        NetworkExecutor(path)
    # data of the wrong shape, NaN data: named with the input
    model, _, _ = _conv_model(4, 8, 1)
    ex = NetworkExecutor(model)
    with pytest.raises(InputDataError, match=r"input 'x'.*\(2, 4, 5, 6\).*Nx4x6x6"):
        ex.run(np.zeros((2, 4, 5, 6)))
    bad = np.zeros((2, 4, 6, 6))
    bad[1, 2, 3, 4] = np.nan
    with pytest.raises(InputDataError, match=r"input 'x'.*1 NaN.*\(1, 2, 3, 4\)"):
        ex.run(bad)
    with pytest.raises(RuntimeError, match="calibrate"):
        ex.run(np.zeros((2, 4, 6, 6)), "analog")


def test_analog_path_without_nonidealities_is_the_integer_arithmetic():
    """Ideal devices (no PCM statistics), linear cells, no wire or driver resistance and
    an ideal linear ADC whose LSB is one unit of Σ code·level, with enough bits (19): on
    the trained digits CNN every tile's ADC output equals the integer matmul of the 8-bit
    input codes and 4-bit weight levels exactly, as the quantised path does, and the two
    paths give the same network outputs."""
    from aimc.system.array.layer import resolve_tile_model
    from aimc.system.networks.digits_cnn import digits_cnn_path, digits_images

    base = ArrayConfig()
    q_unit = base.v_read_v * (base.g_max_s - base.g_min_s) / base.w_levels * 2 * base.t_lsb_s
    bits = 19                                   # 127 · 7 · 256 rows < 2^18
    cfg = ArrayConfig(device="linear", r_wire_row_ohm=0.0, r_wire_col_ohm=0.0,
                      r_driver_ohm=0.0, ideal_adc=True, output_bits=bits,
                      i_fs_a=q_unit * (2 ** (bits - 1) - 1) / base.window_s)
    ex = NetworkExecutor(digits_cnn_path(), array=cfg, tile_model=resolve_tile_model(None))
    d = digits_images(0)
    ex.calibrate(d.x_train[:32])
    rng = np.random.default_rng(5)
    for lay in ex.analog_layers:
        assert lay._k_nom() == pytest.approx(1.0, rel=1e-12)
        codes = rng.integers(-127, 128, (64, lay.rows))
        x = codes * (lay.x_scale_ / 127)
        _, raw_a = lay.analog(x, return_codes=True)
        _, raw_q = lay.quantised(x, return_codes=True)
        for t, a, q in zip(lay.tiles_, raw_a, raw_q, strict=True):
            exact = codes[:, t.r0:t.r1] @ lay.q_[t.r0:t.r1, t.c0:t.c1]     # int64
            np.testing.assert_array_equal(a, exact)
            np.testing.assert_array_equal(q, exact)
    x = d.x_test[:24]
    ya, yq = ex.run(x, "analog", t_s=None).output, ex.run(x, "quantised").output
    np.testing.assert_allclose(ya, yq, rtol=1e-12, atol=1e-12 * np.abs(yq).max())
    assert np.array_equal(ya.argmax(1), yq.argmax(1))


def test_ideal_path_equals_onnx_reference_on_mobilenetv2_and_relu6_forms():
    """MobileNetV2 (inverted residuals, ReLU6 as Clip with inputs, BN, depth-wise, GAP,
    Gemm) at 32x32 and the opset-6 Clip (attributes) against onnx.reference."""
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun
    from onnx.reference.ops.op_batch_normalization import _batchnorm_test_mode

    class BatchNormalization(OpRun):   # onnx 1.23's BN-9..13 defect (see the reference test)
        op_domain = ""

        def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None, **_):
            return (_batchnorm_test_mode(x, scale, bias, mean, var, epsilon=epsilon),)

    model = mobilenetv2_graph(width=0.35, resolution=32, num_classes=10, seed=2)
    x = np.random.default_rng(6).random((2, 3, 32, 32)).astype(np.float32)
    ref = ReferenceEvaluator(model, new_ops=[BatchNormalization]).run(None, {"input": x})[0]
    got = NetworkExecutor(model).run(x).output
    assert np.max(np.abs(got - ref)) <= 1e-5 * np.max(np.abs(ref))
    g = helper.make_graph([helper.make_node("Clip", ["x"], ["y"], name="c6", min=0.0,
                                            max=6.0)], "clip6",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])])
    m6 = helper.make_model(g, opset_imports=[helper.make_opsetid("", 6)])
    v = np.array([[-3, 0.5, 5.9, 6.1, 40], [1, 2, -0.1, 7, 3]], np.float32)
    np.testing.assert_array_equal(NetworkExecutor(m6).run(v).output,
                                  ReferenceEvaluator(m6).run(None, {"x": v})[0])


def test_calibration_does_not_depend_on_the_chunk_size():
    """The calibration rows of every IMA block are a random subset keyed on each row's
    index in the whole calibration set (plus the row of largest |x|): calibrating in
    chunks of 7 images or all at once gives identical input scales, calibration codes and
    per-column ADC calibrations (bit for bit)."""
    from aimc.system.array.executor import ExecutorConfig
    from aimc.system.networks.digits_cnn import digits_cnn_path, digits_images

    d = digits_images(0)
    x_cal = d.x_train[:40]
    exs = [NetworkExecutor(digits_cnn_path(), tile_model=tile_model(),
                           config=ExecutorConfig(batch=b, max_cal_rows=64)).calibrate(x_cal)
           .prepare() for b in (7, None)]
    assert exs[0]._chunk() == 7 and exs[1]._chunk() >= 40
    lays = [ex.analog_layers for ex in exs]
    assert len(lays[0]) == len(lays[1]) == 3
    for a, b, n in zip(*lays, (64, 64, 40), strict=True):
        assert a.x_scale_ == b.x_scale_
        assert np.array_equal(a._codes_cal, b._codes_cal)
        assert len(a._codes_cal) == n           # 64 of the conv rows; the FC's 40 rows
        for ta, tb in zip(a.tiles_, b.tiles_, strict=True):
            assert np.array_equal(ta.a, tb.a) and np.array_equal(ta.b, tb.b)
    # the sample holds the row of largest |code| of the whole set (the ADC's full range)
    rows = []
    x = exs[1]._check_inputs([x_cal])[0]
    exs[1]._forward([x], "ideal", hook=lambda k, key, v: rows.append(v) if k == "rows"
                    else None)
    first = exs[1].analog_layers[0]
    from aimc.system.array.layer import quantise_inputs

    all_codes = quantise_inputs(rows[0][0], first.x_scale_, 127)
    assert np.max(np.abs(first._codes_cal)) == np.max(np.abs(all_codes))


def test_batch_over_two_processes_equals_one_process():
    """run(..., workers=2) forks two processes after programming; cut at chunk
    boundaries, each runs the same chunks as one process would: identical outputs, the
    same MVM error statistics (merged) and the same ADC clamp counts."""
    from aimc.system.array.executor import ExecutorConfig
    from aimc.system.networks.digits_cnn import digits_cnn_path, digits_images

    d = digits_images(0)
    ex = NetworkExecutor(digits_cnn_path(), tile_model=tile_model(),
                         config=ExecutorConfig(batch=16)).calibrate(d.x_train[:32])
    x = d.x_test[:64]
    ex.run(x[:1], "analog", t_s=3600.0, seed=3)          # programs and prepares
    c0 = [(lay.n_clamped_, lay.n_segments_) for lay in ex.analog_layers]
    r1 = ex.run(x, "analog", t_s=3600.0, seed=3)
    c1 = [(lay.n_clamped_, lay.n_segments_) for lay in ex.analog_layers]
    r2 = ex.run(x, "analog", t_s=3600.0, seed=3, workers=2)
    c2 = [(lay.n_clamped_, lay.n_segments_) for lay in ex.analog_layers]
    assert np.array_equal(r1.output, r2.output)
    for k, e in r1.mvm_error.items():
        assert r2.mvm_error[k].vs_quantised_pct_fs == pytest.approx(e.vs_quantised_pct_fs,
                                                                    rel=1e-12)
        assert r2.mvm_error[k].vs_float_pct_fs == pytest.approx(e.vs_float_pct_fs, rel=1e-12)
    for a, b, c in zip(c0, c1, c2, strict=True):
        assert b[1] - a[1] > 0
        assert (c[0] - b[0], c[1] - b[1]) == (b[0] - a[0], b[1] - a[1])
    with pytest.raises(ValueError, match="workers"):
        ex.run(x, "analog", t_s=3600.0, seed=3, workers=0)
