"""The executor's ideal path against references no one here wrote: the models of the onnx
package's backend tests (``pytorch-converted/`` and ``light/``), their stored outputs and
``onnx.reference.ReferenceEvaluator``.

Two documented defects of the onnx 1.23 reference are worked around, without changing
any model's meaning: its BatchNormalization for opsets 9-13 blends batch statistics into
inference outputs (the schema's default momentum selects its training branch; onnx PR
#8442), so the reference runs with onnx's own test-mode BatchNormalization function; and
it applies the opset-13 Softmax default axis (-1) to older models, so an opset < 13
Softmax without an axis gets its own default (axis=1) written out.
"""

from __future__ import annotations

import glob
import os
import time

import numpy as np
import pytest

#: relative tolerance of the ideal path (max |Δ| / max |reference|)
RTOL = 1e-5

#: models the executor runs; every other model in the two folders must be refused with
#: the reason given here (docs/readme/networks.md lists the same)
SUPPORTED = {
    "test_AvgPool1d", "test_AvgPool1d_stride", "test_AvgPool2d", "test_AvgPool2d_stride",
    "test_AvgPool3d", "test_AvgPool3d_stride", "test_AvgPool3d_stride1_pad0_gpu_input",
    "test_BatchNorm1d_3d_input_eval", "test_BatchNorm2d_eval",
    "test_BatchNorm2d_momentum_eval", "test_BatchNorm3d_eval",
    "test_BatchNorm3d_momentum_eval", "test_Conv2d", "test_Conv2d_depthwise",
    "test_Conv2d_depthwise_padded", "test_Conv2d_depthwise_strided",
    "test_Conv2d_depthwise_with_multiplier", "test_Conv2d_dilated", "test_Conv2d_groups",
    "test_Conv2d_groups_thnn", "test_Conv2d_no_bias", "test_Conv2d_padding",
    "test_Conv2d_strided", "test_LeakyReLU", "test_LeakyReLU_with_negval", "test_Linear",
    "test_Linear_no_bias", "test_MaxPool1d", "test_MaxPool1d_stride",
    "test_MaxPool1d_stride_padding_dilation", "test_MaxPool2d",
    "test_MaxPool2d_stride_padding_dilation", "test_MaxPool3d", "test_MaxPool3d_stride",
    "test_MaxPool3d_stride_padding", "test_PixelShuffle", "test_ReLU", "test_Softmax",
    "test_softmax_functional_dim3", "test_softmax_lastdim",
    "light_densenet121", "light_inception_v2", "light_resnet50", "light_shufflenet",
    "light_squeezenet", "light_vgg19",
}
#: light models also run through the (slow, pure-Python) ReferenceEvaluator live; the
#: others are compared with their stored outputs (CI time: 7-30 s per model live)
LIGHT_LIVE = {"light_shufflenet"}
#: why the others are refused: the operator (or form) the error message must name
REFUSED = {
    "Pad": ["test_ConstantPad2d", "test_ReflectionPad2d", "test_ReplicationPad2d",
            "test_ZeroPad2d"],
    "only 2-D convolutions": [f"test_Conv1d{s}" for s in (
        "", "_dilated", "_groups", "_pad1", "_pad1size1", "_pad2", "_pad2size1", "_stride")]
    + [f"test_Conv3d{s}" for s in ("", "_dilated", "_dilated_strided", "_groups", "_no_bias",
                                   "_stride", "_stride_padding")],
    "ConvTranspose": ["test_ConvTranspose2d", "test_ConvTranspose2d_no_bias"],
    "Elu": ["test_ELU"], "Gather": ["test_Embedding", "test_Embedding_sparse"],
    "Split": ["test_GLU", "test_GLU_dim"], "LogSoftmax": [
        "test_LogSoftmax", "test_log_softmax_dim3", "test_log_softmax_lastdim"],
    "PRelu": [f"test_PReLU_{d}{m}" for d in ("1d", "2d", "3d") for m in ("", "_multiparam")],
    "Exp": ["test_PoissonNLLLLoss_no_reduce"], "Selu": ["test_SELU"],
    "Sigmoid": ["test_Sigmoid"], "Neg": ["test_Softmin"], "Softplus": ["test_Softplus"],
    "Abs": ["test_Softsign"], "Tanh": ["test_Tanh"],
    "LRN": ["light_bvlc_alexnet", "light_inception_v1", "light_zfnet512"],
}


def _data_dir() -> str:
    import onnx

    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


def _models() -> list[tuple[str, str]]:
    d = _data_dir()
    out = [(os.path.basename(p.rstrip("/")), os.path.join(p, "model.onnx"))
           for p in sorted(glob.glob(os.path.join(d, "pytorch-converted", "*/")))]
    out += [(os.path.basename(p)[:-5], p)
            for p in sorted(glob.glob(os.path.join(d, "light", "*.onnx")))]
    return out


def _reference(model):
    """ReferenceEvaluator with the two workarounds of the module docstring."""
    import onnx
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun
    from onnx.reference.ops.op_batch_normalization import _batchnorm_test_mode

    class BatchNormalization(OpRun):   # inference BatchNormalization (one output)
        op_domain = ""

        def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None, **_):
            return (_batchnorm_test_mode(x, scale, bias, mean, var, epsilon=epsilon),)

    model = onnx.ModelProto.FromString(model.SerializeToString())
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    for n in model.graph.node:
        if n.op_type == "Softmax" and opset < 13 and not any(a.name == "axis"
                                                             for a in n.attribute):
            n.attribute.append(onnx.helper.make_attribute("axis", 1))
    bn_one_output = all(len(n.output) == 1 for n in model.graph.node
                        if n.op_type == "BatchNormalization")
    return ReferenceEvaluator(model, new_ops=[BatchNormalization] if bn_one_output else None)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, float) - b)) / max(np.max(np.abs(b)), 1e-30))


def test_ideal_path_equals_onnx_reference_on_every_backend_model():
    import onnx
    from aimc.system.array.executor import NetworkExecutor
    from aimc.system.networks.onnx_import import OnnxImportError
    from onnx import numpy_helper

    models = _models()
    assert len(models) >= 90   # the onnx package ships 82 + 9 of them
    refused = {m: reason for reason, ms in REFUSED.items() for m in ms}
    assert set(refused) | SUPPORTED == {name for name, _ in models}
    checked, timings = [], {}
    for name, path in models:
        if name in refused:
            with pytest.raises(OnnxImportError) as info:
                NetworkExecutor(path)
            msg = str(info.value)
            assert refused[name] in msg and "node '" in msg, (name, msg)
            continue
        t0 = time.perf_counter()
        ex = NetworkExecutor(path)
        model = onnx.load(path)
        if name.startswith("light_"):
            # the onnx backend runner's input for light models: arange(n)/n (float32)
            shape = tuple(d or 1 for d in ex.input_shapes[0])
            n = int(np.prod(shape))
            xs = [(np.arange(n).reshape(shape) / n).astype(np.float32)]
            stored = [numpy_helper.to_array(onnx.load_tensor(path[:-5] + "_output_0.pb"))]
        else:
            folder = os.path.join(os.path.dirname(path), "test_data_set_0")
            xs = [numpy_helper.to_array(onnx.load_tensor(f))
                  for f in sorted(glob.glob(os.path.join(folder, "input_*.pb")))]
            stored = [numpy_helper.to_array(onnx.load_tensor(f))
                      for f in sorted(glob.glob(os.path.join(folder, "output_*.pb")))]
        got = ex.run(xs if len(xs) > 1 else xs[0], "ideal").outputs
        timings[name] = time.perf_counter() - t0
        assert len(got) == len(stored) > 0
        for g, s in zip(got, stored, strict=True):
            assert g.shape == s.shape, name
            assert _rel(g, s) <= RTOL, (name, "stored", _rel(g, s))
        if not name.startswith("light_") or name in LIGHT_LIVE:
            ref = _reference(model).run(None, dict(zip((v.name for v in ex.inputs), xs,
                                                       strict=True)))
            for g, r in zip(got, ref, strict=True):
                assert _rel(g, r) <= RTOL, (name, "ReferenceEvaluator", _rel(g, r))
        checked.append(name)
    assert set(checked) == SUPPORTED
