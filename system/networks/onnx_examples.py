"""Small ONNX graph builders (onnx.helper) for tests, benchmarks and examples.

``resnet50_graph`` builds the full ResNet-50 topology (He et al. 2016, Table 1: stem 7x7/2,
max-pool, bottleneck stages [3, 4, 6, 3], global pool, FC 1000). With ``real_weights=False``
the weights come from ConstantOfShape nodes (as in ONNX's own "light" test models), so the
graph is ResNet-50-sized for the mapper but only a few kB on disk.
"""

from __future__ import annotations

import numpy as np


def _weight(name: str, shape: tuple[int, ...], real: bool, rng: np.random.Generator,
            inits: list, nodes: list) -> str:
    from onnx import TensorProto, helper, numpy_helper

    if real:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        w = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, name))
    else:
        sname = f"{name}_shape"
        inits.append(numpy_helper.from_array(np.array(shape, dtype=np.int64), sname))
        nodes.append(helper.make_node(
            "ConstantOfShape", [sname], [name], name=f"{name}_gen",
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.01])))
    return name


class _Builder:
    def __init__(self, real: bool, seed: int) -> None:
        self.real = real
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []
        self.k = 0

    def name(self, p: str) -> str:
        self.k += 1
        return f"{p}{self.k}"

    def conv(self, x: str, cin: int, cout: int, k: int, s: int = 1, group: int = 1,
             bn: bool = True, relu: bool = True, relu6: bool = False) -> str:
        from onnx import helper

        n = self.name("conv")
        w = _weight(f"{n}_w", (cout, cin // group, k, k), self.real, self.rng, self.inits,
                    self.nodes)
        y = f"{n}_y"
        self.nodes.append(helper.make_node("Conv", [x, w], [y], name=n, kernel_shape=[k, k],
                                           strides=[s, s], pads=[k // 2] * 4, group=group))
        if bn:
            names = []
            for part, val in (("scale", 1.0), ("bias", 0.0), ("mean", 0.0), ("var", 1.0)):
                from onnx import numpy_helper

                t = f"{n}_bn_{part}"
                arr = np.full(cout, val, dtype=np.float32)
                if self.real and part == "scale":
                    arr = (0.5 + self.rng.random(cout)).astype(np.float32)
                self.inits.append(numpy_helper.from_array(arr, t))
                names.append(t)
            z = f"{n}_bn"
            self.nodes.append(helper.make_node("BatchNormalization", [y, *names], [z],
                                               name=f"{n}_bn", epsilon=1e-5))
            y = z
        if relu6:
            from onnx import numpy_helper

            if "relu6_min" not in {i.name for i in self.inits}:
                self.inits += [numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"),
                               numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max")]
            r = f"{n}_relu6"
            self.nodes.append(helper.make_node("Clip", [y, "relu6_min", "relu6_max"], [r],
                                               name=r))
            y = r
        elif relu:
            r = f"{n}_relu"
            self.nodes.append(helper.make_node("Relu", [y], [r], name=r))
            y = r
        return y


def resnet50_graph(real_weights: bool = False, seed: int = 0, resolution: int = 224):
    """ResNet-50 v1 as an ONNX ModelProto (batch 1, NCHW)."""
    from onnx import TensorProto, helper

    b = _Builder(real_weights, seed)
    x = b.conv("input", 3, 64, 7, 2)
    b.nodes.append(helper.make_node("MaxPool", [x], ["pool1"], name="pool1",
                                    kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = "pool1", 64
    for stage, (n, width) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512))):
        for i in range(n):
            s = 2 if (i == 0 and stage > 0) else 1
            cout = width * 4
            y = b.conv(x, cin, width, 1, 1)
            y = b.conv(y, width, width, 3, s)
            y = b.conv(y, width, cout, 1, 1, relu=False)
            sc = b.conv(x, cin, cout, 1, s, relu=False) if (i == 0) else x
            a = b.name("add")
            b.nodes.append(helper.make_node("Add", [y, sc], [a], name=a))
            r = f"{a}_relu"
            b.nodes.append(helper.make_node("Relu", [a], [r], name=r))
            x, cin = r, cout
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    b.nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    w = _weight("fc_w", (1000, 2048), real_weights, b.rng, b.inits, b.nodes)
    b.nodes.append(helper.make_node("Gemm", ["flat", w], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        b.nodes, "resnet50",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       [1, 3, resolution, resolution])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        b.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def small_cnn_graph(seed: int = 0, batch: int | str = 1, height: int | str = 16):
    """Conv+BN+ReLU, depth-wise conv, point-wise conv, residual Add, pool, Gemm; real weights."""
    from onnx import TensorProto, helper

    b = _Builder(True, seed)
    x = b.conv("input", 8, 16, 3, 1)
    y = b.conv(x, 16, 16, 3, 1, group=16)
    y = b.conv(y, 16, 16, 1, 1, relu=False)
    b.nodes.append(helper.make_node("Add", [x, y], ["res"], name="residual"))
    b.nodes.append(helper.make_node("GlobalAveragePool", ["res"], ["gap"], name="gap"))
    b.nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    w = _weight("fc_w", (10, 16), True, b.rng, b.inits, b.nodes)
    b.nodes.append(helper.make_node("Gemm", ["flat", w], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        b.nodes, "small_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 8, height, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])], b.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def mobilenetv2_graph(width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                      seed: int = 0, batch: int | str = "N"):
    """MobileNetV2 (Sandler et al. 2018, Table 2; the layers of
    :func:`aimc.system.networks.mobilenetv2.mobilenetv2`) as an ONNX ModelProto with seeded
    random weights: Conv + BatchNormalization + ReLU6 (Clip), inverted residual blocks
    (1x1 expansion, 3x3 depth-wise, 1x1 linear projection, residual Add), 1x1 head,
    global average pooling, FC."""
    from aimc.system.networks.mobilenetv2 import (
        ARCH_TABLE,
        LAST_CHANNELS,
        STEM_CHANNELS,
        _divisible,
    )
    from onnx import TensorProto, helper

    b = _Builder(True, seed)
    c = _divisible(STEM_CHANNELS * width)
    x = b.conv("input", 3, c, 3, 2, relu6=True)
    for t, c_base, n, s in ARCH_TABLE:
        c_out = _divisible(c_base * width)
        for i in range(n):
            stride = s if i == 0 else 1
            y, hidden = x, c * t
            if t != 1:
                y = b.conv(y, c, hidden, 1, 1, relu6=True)
            y = b.conv(y, hidden, hidden, 3, stride, group=hidden, relu6=True)
            y = b.conv(y, hidden, c_out, 1, 1, relu=False)
            if stride == 1 and c == c_out:
                a = b.name("add")
                b.nodes.append(helper.make_node("Add", [x, y], [a], name=a))
                y = a
            x, c = y, c_out
    c_last = _divisible(LAST_CHANNELS * max(1.0, width))
    x = b.conv(x, c, c_last, 1, 1, relu6=True)
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="pool"))
    b.nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    w = _weight("fc_w", (num_classes, c_last), True, b.rng, b.inits, b.nodes)
    b.nodes.append(helper.make_node("Gemm", ["flat", w], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        b.nodes, f"mobilenetv2_{width:g}_{resolution}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       [batch, 3, resolution, resolution])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, num_classes])],
        b.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
