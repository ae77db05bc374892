"""Import an ONNX graph as a :class:`~aimc.system.networks.graph.Network`.

Supported operators: Conv (standard, grouped, depth-wise), Gemm, MatMul (with a constant
matrix), Add/Sum (residuals; a constant addend is folded as a bias), Mul by a constant and
BatchNormalization (folded into the producer), Relu/Clip/LeakyRelu/Dropout/Identity
(no cost: fused into the producer's output stage), MaxPool/AveragePool/GlobalAveragePool/
GlobalMaxPool, Concat, Flatten/Reshape/Squeeze/Unsqueeze (views), Transpose (a data move,
e.g. a ShuffleNet channel shuffle), Softmax (cores). Nodes whose inputs are all constants
(e.g. ConstantOfShape weight generators) are folded. Anything else raises
:class:`UnsupportedOperatorError` naming every offending node.

A symbolic batch dimension is set to 1; any other dimension the shape inference cannot
resolve raises :class:`DynamicShapeError` naming the tensor and the node.
Weights stored in the file (initializers) are attached to their layers in crossbar
orientation (rows = cin/groups*kh*kw, cols = cout), BatchNormalization folded in.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from aimc.system.networks.graph import (
    ADD,
    CONCAT,
    CONV,
    DWCONV,
    ELTWISE,
    FC,
    POOL,
    RESHAPE,
    Layer,
    Network,
)

PASSTHROUGH = {"Relu", "Clip", "LeakyRelu", "Dropout", "Identity", "Flatten", "Reshape",
               "Squeeze", "Unsqueeze"}
FOLDABLE = {"Constant", "ConstantOfShape", "Unsqueeze", "Squeeze", "Reshape", "Transpose",
            "Mul", "Add", "Sub", "Div", "Cast", "Identity", "Concat", "Sqrt", "Shape", "Gather"}


class OnnxImportError(ValueError):
    """The ONNX file cannot be mapped."""


class UnsupportedOperatorError(OnnxImportError):
    def __init__(self, nodes: list[tuple[str, str]]) -> None:
        self.nodes = nodes
        listing = ", ".join(f"{op} (node {name!r})" for name, op in nodes[:20])
        more = f" and {len(nodes) - 20} more" if len(nodes) > 20 else ""
        super().__init__(f"unsupported ONNX operator(s): {listing}{more}; replace them by "
                         "supported operators before export (the list is in "
                         "docs/readme/system.md and docs/readme/networks.md)")


class DynamicShapeError(OnnxImportError):
    pass


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _fold(node, const: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """Evaluate a constant-only node with NumPy; None if we cannot."""
    from onnx import numpy_helper

    a = _attrs(node)
    ins = [const[i] if i else None for i in node.input]
    op = node.op_type
    try:
        if op == "Constant":
            if "value" in a:
                val = numpy_helper.to_array(a["value"])
            elif "value_float" in a:
                val = np.array(a["value_float"], dtype=np.float32)
            elif "value_ints" in a:
                val = np.array(a["value_ints"], dtype=np.int64)
            else:
                return None
        elif op == "ConstantOfShape":
            fill = numpy_helper.to_array(a["value"]).ravel()[0] if "value" in a else 0.0
            # a read-only broadcast view: only the shape matters, no memory is used
            val = np.broadcast_to(np.asarray(fill), tuple(int(d) for d in ins[0]))
        elif op == "Unsqueeze":
            axes = a.get("axes", ins[1].tolist() if len(ins) > 1 and ins[1] is not None else [])
            val = ins[0]
            for ax in sorted(int(x) % (val.ndim + len(axes)) for x in axes):
                val = np.expand_dims(val, ax)
        elif op == "Squeeze":
            axes = a.get("axes", ins[1].tolist() if len(ins) > 1 and ins[1] is not None else None)
            val = np.squeeze(ins[0], axis=tuple(axes) if axes else None)
        elif op == "Reshape":
            shape = [int(s) for s in ins[1]]
            shape = [ins[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            val = ins[0].reshape(shape)
        elif op == "Transpose":
            val = np.transpose(ins[0], a.get("perm"))
        elif op in ("Mul", "Add", "Sub", "Div"):
            f = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}[op]
            val = f(ins[0], ins[1])
        elif op in ("Cast", "Identity"):
            val = ins[0]
        elif op == "Sqrt":
            val = np.sqrt(ins[0])
        elif op == "Concat":
            val = np.concatenate(ins, axis=a["axis"])
        elif op == "Gather":
            val = np.take(ins[0], ins[1], axis=a.get("axis", 0))
        else:
            return None
    except Exception:  # noqa: BLE001 - anything odd: leave the node to the mapper
        return None
    return {node.output[0]: np.asarray(val)}


def _dims(vi) -> list[int | str | None]:
    out: list[int | str | None] = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _chw(shape: list[int]) -> tuple[int, int, int]:
    """(C, H, W) of an activation tensor laid out N, C, ... (batch 1)."""
    dims = list(shape[1:]) if len(shape) >= 2 else list(shape)
    if not dims:
        return 1, 1, 1
    if len(dims) == 1:
        return int(dims[0]), 1, 1
    if len(dims) == 2:  # [N, T, K] sequences: K features over T positions
        return int(dims[1]), int(dims[0]), 1
    c = int(np.prod(dims[:-2]))
    return c, int(dims[-2]), int(dims[-1])


def load_onnx(path: str | Path, name: str | None = None) -> Network:
    import onnx

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ONNX file {str(p)!r} does not exist")
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # noqa: BLE001
        raise OnnxImportError(f"{p}: not a readable ONNX model: {exc}") from exc
    return from_model(model, name or p.stem)


def from_model(model, name: str = "onnx", allow_empty: bool = False) -> Network:
    """The layer IR of an ONNX ModelProto. ``allow_empty``: a graph with no layer the
    cluster models (e.g. only element-wise operators) gives an empty network instead of
    an error (the network executor runs such graphs digitally)."""
    import onnx
    from onnx import numpy_helper

    copy = onnx.ModelProto()          # the caller's model is never changed
    copy.CopyFrom(model)
    model = copy
    graph = model.graph
    init_names = {i.name for i in graph.initializer}
    # symbolic batch -> 1 before shape inference
    for vi in graph.input:
        if vi.name in init_names:
            continue
        dims = vi.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        raise OnnxImportError(f"ONNX shape inference failed: {exc}") from exc
    graph = model.graph
    const: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    real = set(const)  # weights actually stored in the file
    shapes: dict[str, list] = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        shapes[vi.name] = _dims(vi)

    nodes = list(graph.node)
    for i, node in enumerate(nodes):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    # constant folding
    for node in nodes:
        if node.op_type in FOLDABLE and all((not x) or x in const for x in node.input):
            out = _fold(node, const)
            if out:
                const.update(out)
    graph_inputs = [vi for vi in graph.input if vi.name not in const]
    if not graph_inputs:
        raise OnnxImportError("the ONNX graph has no non-constant input")

    def shape_of(t: str, node) -> list[int]:
        if t in const:
            return list(const[t].shape)
        s = shapes.get(t)
        if s is None:
            raise DynamicShapeError(
                f"tensor {t!r} (input of node {node.name!r}, {node.op_type}) has no inferred "
                "shape; give the model static input shapes")
        if any(not isinstance(d, int) for d in s):
            raise DynamicShapeError(
                f"tensor {t!r} (at node {node.name!r}, {node.op_type}) has dynamic shape {s}; "
                "the mapper needs every dimension except the batch fixed")
        return s

    producer: dict[str, str] = {vi.name: "input" for vi in graph_inputs}
    layers: list[Layer] = []
    names: set[str] = set()
    unsupported: list[tuple[str, str]] = []
    by_layer: dict[str, Layer] = {}

    def uniq(n: str) -> str:
        base, k = n.replace("/", "_") or "layer", 1
        out = base
        while out in names:
            k += 1
            out = f"{base}_{k}"
        names.add(out)
        return out

    def acts(node) -> list[str]:
        return [x for x in node.input if x and x not in const]

    def add_layer(node, layer: Layer) -> None:
        layer.node = node.name
        layers.append(layer)
        by_layer[layer.name] = layer
        for o in node.output:
            producer[o] = layer.name

    for node in nodes:
        op = node.op_type
        if all(o in const for o in node.output):
            continue  # folded
        a = _attrs(node)
        ins = acts(node)
        if any(x not in producer for x in ins):
            missing = [x for x in ins if x not in producer]
            if unsupported:  # fed by an unsupported node: reported with it
                for o in node.output:
                    producer[o] = "input"
                continue
            raise OnnxImportError(f"node {node.name!r} reads {missing}, which nothing produces")
        srcs = [producer[x] for x in ins]
        try:
            if op == "Conv":
                x, w = node.input[0], node.input[1]
                if w not in const:
                    raise OnnxImportError(f"Conv node {node.name!r} has non-constant weights")
                wt = const[w]
                if wt.ndim != 4:
                    raise OnnxImportError(f"Conv node {node.name!r}: only 2-D convolutions "
                                          f"are supported (weight rank {wt.ndim})")
                cin, h_in, w_in = _chw(shape_of(x, node))
                cout, h_out, w_out = _chw(shape_of(node.output[0], node))
                g = int(a.get("group", 1))
                kh, kw = int(wt.shape[2]), int(wt.shape[3])
                strides = a.get("strides", [1, 1])
                kind = DWCONV if g > 1 and g == cin == cout else CONV
                weights = None
                if w in real and g == 1:
                    weights = wt.reshape(cout, -1).T.astype(np.float32)
                add_layer(node, Layer(uniq(node.name), kind, cin, cout, h_in, w_in, h_out, w_out,
                                      kh=kh, kw=kw, stride=int(max(strides)), groups=g,
                                      inputs=srcs[:1], weights=weights))
            elif op in ("Gemm", "MatMul"):
                if len(ins) != 1:
                    raise UnsupportedOperatorError([(node.name, f"{op} of two activations")])
                wname = node.input[1] if node.input[1] in const else node.input[0]
                wt = const[wname]
                if wname == node.input[0] and op == "MatMul":  # W @ x: rows are W's columns
                    wt = wt.T
                if op == "Gemm" and a.get("transB", 0):
                    wt = wt.T
                if op == "Gemm" and a.get("transA", 0):
                    raise UnsupportedOperatorError([(node.name, "Gemm with transA")])
                if wt.ndim != 2:
                    raise OnnxImportError(f"{op} node {node.name!r}: weight rank {wt.ndim}")
                k, m = wt.shape
                xs = shape_of(ins[0], node)
                pixels = int(np.prod(xs[:-1])) if len(xs) >= 2 else 1
                if len(xs) >= 2 and xs[0] == 1 and len(xs) > 2:
                    pixels = int(np.prod(xs[1:-1]))
                weights = wt.astype(np.float32) if wname in real else None
                add_layer(node, Layer(uniq(node.name), FC, k, m, pixels, 1, pixels, 1,
                                      inputs=srcs, weights=weights))
            elif op in ("Add", "Sum"):
                if len(ins) >= 2:
                    c, h, w_ = _chw(shape_of(node.output[0], node))
                    add_layer(node, Layer(uniq(node.name), ADD, c, c, h, w_, h, w_,
                                          inputs=srcs))
                else:  # bias / constant offset: folded into the producer's output stage
                    for o in node.output:
                        producer[o] = srcs[0]
            elif op == "Mul":
                if len(ins) >= 2:
                    raise UnsupportedOperatorError([(node.name, "Mul of two activations")])
                for o in node.output:
                    producer[o] = srcs[0]
            elif op == "BatchNormalization":
                _fold_bn(node, const, by_layer.get(srcs[0]))
                for o in node.output[:1]:
                    producer[o] = srcs[0]
            elif op in PASSTHROUGH:
                for o in node.output[:1]:
                    producer[o] = srcs[0]
            elif op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"):
                c, h_in, w_in = _chw(shape_of(ins[0], node))
                _, h_out, w_out = _chw(shape_of(node.output[0], node))
                ks = a.get("kernel_shape", [h_in, w_in])
                st = a.get("strides", [1, 1])
                add_layer(node, Layer(uniq(node.name), POOL, c, c, h_in, w_in, h_out, w_out,
                                      kh=int(ks[0]), kw=int(ks[-1]), stride=int(max(st)),
                                      inputs=srcs))
            elif op == "Concat":
                c, h, w_ = _chw(shape_of(node.output[0], node))
                add_layer(node, Layer(uniq(node.name), CONCAT, c, c, h, w_, h, w_, inputs=srcs))
            elif op == "Transpose":
                c, h, w_ = _chw(shape_of(node.output[0], node))
                add_layer(node, Layer(uniq(node.name), RESHAPE, c, c, h, w_, h, w_,
                                      inputs=srcs, moves_data=True))
            elif op == "Softmax":
                c, h, w_ = _chw(shape_of(node.output[0], node))
                add_layer(node, Layer(uniq(node.name), ELTWISE, c, c, h, w_, h, w_, inputs=srcs))
            else:
                unsupported.append((node.name, op))
                for o in node.output:
                    producer[o] = "input"
        except UnsupportedOperatorError as exc:
            unsupported.extend(exc.nodes)
            for o in node.output:
                producer[o] = "input"
    if unsupported:
        raise UnsupportedOperatorError(unsupported)
    if not layers and not allow_empty:
        raise OnnxImportError("the ONNX graph has no layer the cluster can run")
    x0 = graph_inputs[0]
    s0 = [d if isinstance(d, int) else 1 for d in _dims(x0)]
    return Network(name, layers, _chw(s0))


def _fold_bn(node, const: dict[str, np.ndarray], layer: Layer | None) -> None:
    """Fold BatchNormalization scale into the producing layer's weights (if stored)."""
    if layer is None or layer.weights is None or layer.groups != 1:
        return
    try:
        scale, _b, _mean, var = (const[n] for n in node.input[1:5])
    except KeyError:
        return
    eps = float(next((x.f for x in node.attribute if x.name == "epsilon"), 1e-5))
    gamma = scale / np.sqrt(var + eps)
    if gamma.shape[0] == layer.weights.shape[1] and math.isfinite(float(np.sum(gamma))):
        layer.weights = (layer.weights * gamma[None, :]).astype(np.float32)
