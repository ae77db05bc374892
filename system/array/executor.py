"""The network executor: any supported ONNX graph on the analog tiles, three paths.

``NetworkExecutor(model, placement=..., array=ArrayConfig(), tile_model=...)`` takes an
ONNX file or ``ModelProto``, imports it into the layer IR of
:mod:`aimc.system.networks.onnx_import` (the same IR and, through ``placement``, the same
layer -> target mapping that :mod:`aimc.system.cluster` times), and runs a batch through
one of three paths:

* ``"ideal"``: float64 arithmetic with ONNX semantics (checked against
  ``onnx.reference.ReferenceEvaluator``);
* ``"quantised"``: every tensor stored in L1 is 8-bit (signed, one scale per tensor from
  the calibration set); layers on the IMA run as 8-bit-input x 4-bit-weight MVMs with an
  ideal linear 8-bit ADC (:meth:`AnalogLayer.quantised`); layers on the depth-wise
  accelerator or the cores run as exact 8-bit x 8-bit integer arithmetic;
* ``"analog"``: the same, with the IMA MVMs through the crossbar and CCO-ADC surrogates
  and PCM device statistics read ``t_s`` seconds after programming
  (:meth:`AnalogLayer.analog`).

Convolutions become IM2COL MVMs (:mod:`aimc.system.array.im2col`); a grouped or
depth-wise layer on the IMA is split into block-diagonal matrices of
``placement.groups_per_matrix`` groups, and every matrix is split over tiles of
``placement.tile_size`` as TILE&PACK splits it (row splits: partial sums added
digitally; column splits: separate ADCs). BatchNormalization that follows a Conv or
Gemm is folded into its weights and bias; a bias, BatchNormalization, Relu, Clip or
LeakyRelu right after a layer is its output stage (no 8-bit rounding in between).

Every weight layer on the IMA reports its MVM error per run: the σ of (path − exact
matmul of the quantised inputs and weights) in % of the ADC full scale, and the same
against the float matmul of the same inputs.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aimc.system.array.im2col import im2col, pool_windows, resolve_pads
from aimc.system.array.layer import AnalogLayer, ArrayConfig, ArrayInputError, quantise_inputs
from aimc.system.array.mapping import IMA, Placement, TilePlacement
from aimc.system.networks.graph import Network
from aimc.system.networks.onnx_import import (
    OnnxImportError,
    UnsupportedOperatorError,
    from_model,
)

PATHS = ("ideal", "quantised", "analog")

#: operators the executor runs (the import maps the same set; anything else is refused)
SUPPORTED = frozenset({
    "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "Add",
    "Sum", "Mul", "Sub", "Div", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Softmax",
    "Dropout", "Identity", "Constant", "ConstantOfShape", "Shape", "Gather", "Cast", "Sqrt",
})
#: element-wise work fused into the producing layer's output stage (no 8-bit storage)
OUTPUT_STAGE = frozenset({"BatchNormalization", "Relu", "Clip", "LeakyRelu", "Dropout",
                          "Identity"})
VIEWS = frozenset({"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout"})


class ExecutorError(ValueError):
    """The executor cannot run this network or these inputs."""


class MissingWeightsError(ExecutorError):
    """A weight layer whose weights the ONNX file does not hold."""


class InputDataError(ExecutorError, ArrayInputError):
    """Inputs that do not match the network (shape, NaN/inf)."""


@dataclass
class ExecutorConfig:
    """Digital precision and calibration of the executor; defaults name their source."""

    act_bits: int = 8             # seed 001 Sec. III-A: 8-bit activations in L1
    digital_weight_bits: int = 8  # seed 001: 8-bit kernels of the cores and the DW accelerator
    max_cal_rows: int = 256       # MVM rows per matrix for the ADC calibration
    #: inputs per chunk; None: as many as hold ~2 M input elements (at most 1024)
    batch: int | None = None
    cal_seed: int = 0             # which calibration rows are used

    def __post_init__(self) -> None:
        for name in ("act_bits", "digital_weight_bits"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 2:
                raise ValueError(f"ExecutorConfig.{name} must be an integer >= 2, got {v!r}")
        if self.max_cal_rows < 8 or (self.batch is not None and self.batch < 1):
            raise ValueError("ExecutorConfig.max_cal_rows must be >= 8 and batch >= 1")

    @property
    def act_levels(self) -> int:
        return 2 ** (self.act_bits - 1) - 1

    @property
    def w_levels(self) -> int:
        return 2 ** (self.digital_weight_bits - 1) - 1


@dataclass
class LayerError:
    """MVM error of one IMA layer in one run (σ in % of the ADC full scale)."""

    vs_quantised_pct_fs: float
    vs_float_pct_fs: float


@dataclass
class RunResult:
    outputs: list[np.ndarray]
    path: str
    t_s: float | None
    seed: int | None
    mvm_error: dict[str, LayerError] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def output(self) -> np.ndarray:
        return self.outputs[0]


# ---- helpers -------------------------------------------------------------------------------
def _attrs(node) -> dict[str, Any]:
    import onnx

    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _softmax(x: np.ndarray, axis: int, legacy: bool) -> np.ndarray:
    if legacy:  # opset < 13: coerced to 2-D at ``axis``
        axis = axis % x.ndim
        shp = x.shape
        x2 = x.reshape(int(np.prod(shp[:axis], dtype=np.int64)), -1)
        return _softmax(x2, 1, False).reshape(shp)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _legacy_broadcast(a: np.ndarray, b: np.ndarray, at: dict, opset: int) -> np.ndarray:
    """Opset < 7 binary ops broadcast B at ``axis``."""
    if opset < 7 and at.get("broadcast") and "axis" in at and b.ndim < a.ndim:
        ax = at["axis"] % a.ndim
        return b.reshape(b.shape + (1,) * (a.ndim - ax - b.ndim))
    return b


def _depthwise(x: np.ndarray, w: np.ndarray, cog: int, strides: list[int],
               dil: list[int], begin: list[int], out: list[int],
               dtype: type = np.float64) -> np.ndarray:
    """A convolution with one input channel per group, (N, C, H, W) -> (N, C·cog, Ho,
    Wo), as kh·kw multiply-adds of strided views of the zero-padded input (the same sums
    as IM2COL; exact on integer codes, also in float32 while every sum is below 2**24)."""
    n, c, h, w_ = x.shape
    cout, _, kh, kw = w.shape
    w = w.astype(dtype, copy=False)
    need = [(out[0] - 1) * strides[0] + (kh - 1) * dil[0] + 1,
            (out[1] - 1) * strides[1] + (kw - 1) * dil[1] + 1]
    xp = np.zeros((n, c, max(need[0], h + begin[0]), max(need[1], w_ + begin[1])), dtype)
    xp[:, :, begin[0]:begin[0] + h, begin[1]:begin[1] + w_] = x
    if cog > 1:
        xp = np.repeat(xp, cog, axis=1)
    y = np.zeros((n, cout, out[0], out[1]), dtype)
    tmp = np.empty_like(y)
    for i in range(kh):
        r0 = i * dil[0]
        for j in range(kw):
            c0 = j * dil[1]
            win = xp[:, :, r0:r0 + (out[0] - 1) * strides[0] + 1:strides[0],
                     c0:c0 + (out[1] - 1) * strides[1] + 1:strides[1]]
            np.multiply(win, w[:, 0, i, j].reshape(1, -1, 1, 1), out=tmp)
            y += tmp
    return y


def _quantise_weights(w: np.ndarray, levels: int, axis: int = 0) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Signed integer weights and one scale per slice along ``axis`` (per output)."""
    red = tuple(i for i in range(w.ndim) if i != axis)
    s = np.max(np.abs(w), axis=red, keepdims=True)
    s = np.where(s > 0, s, 1.0)
    return np.clip(np.rint(w / s * levels), -levels, levels), s / levels


@dataclass
class _Mvm:
    """A Conv/Gemm/MatMul node as a weight layer."""

    node: str
    layer: str
    op: str                      # "conv" | "gemm" | "matmul"
    target: str
    w: np.ndarray                # conv: (cout, cin/g, kh, kw); gemm/matmul: (k, m)
    bias: np.ndarray | None
    groups: int = 1
    attrs: dict = field(default_factory=dict)
    weight_first: bool = False   # MatMul W @ X
    blocks: list[tuple[int, int]] = field(default_factory=list)   # group ranges per matrix
    analog: list[AnalogLayer] = field(default_factory=list)
    wq: np.ndarray | None = None         # digital: integer weights
    wq_step: np.ndarray | None = None


def _row_seed(seed: int, node: str, block: int) -> int:
    import hashlib

    h = hashlib.blake2b(f"{int(seed)}|{node}|{block}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little")


def _row_keys(seed: int, index: np.ndarray) -> np.ndarray:
    """A uniform random 64-bit key per global row index (splitmix64 of seed + index)."""
    z = np.asarray(index, np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class _RowSample:
    """Up to ``k`` calibration rows of one MVM block, streamed chunk by chunk: the row of
    largest |x| (the first one) and the rows of the smallest keys (:func:`_row_keys` of
    the global row index: a uniform random subset without replacement). The result does
    not depend on how the rows arrive in chunks."""

    def __init__(self, seed: int, k: int) -> None:
        self.seed, self.k = seed, k
        self.keys = np.empty(0, np.uint64)
        self.index = np.empty(0, np.int64)
        self.data: np.ndarray | None = None
        self.top: tuple[float, int, np.ndarray] | None = None

    def add(self, xb: np.ndarray, offset: int) -> None:
        if len(xb) == 0:
            return
        gi = offset + np.arange(len(xb), dtype=np.int64)
        mx = np.max(np.abs(xb), axis=1)
        j = int(np.argmax(mx))
        if self.top is None or mx[j] > self.top[0]:
            self.top = (float(mx[j]), int(gi[j]), xb[j].copy())
        keys = _row_keys(self.seed, gi)
        if len(keys) > self.k:
            sel = np.argpartition(keys, self.k - 1)[:self.k]
            keys, gi, xb = keys[sel], gi[sel], xb[sel]
        if self.data is None:
            self.keys, self.index, self.data = keys, gi, np.array(xb)
        else:
            self.keys = np.concatenate([self.keys, keys])
            self.index = np.concatenate([self.index, gi])
            self.data = np.concatenate([self.data, xb])
        if len(self.keys) > self.k:
            sel = np.argpartition(self.keys, self.k - 1)[:self.k]
            self.keys, self.index, self.data = self.keys[sel], self.index[sel], self.data[sel]

    def rows(self) -> np.ndarray:
        """The sample, in the order of the global row index."""
        assert self.top is not None and self.data is not None
        others = self.index != self.top[1]
        keys, index, data = self.keys[others], self.index[others], self.data[others]
        sel = np.argsort(keys, kind="stable")[:self.k - 1]
        index = np.append(index[sel], self.top[1])
        data = np.concatenate([data[sel], self.top[2][None]])
        return data[np.argsort(index, kind="stable")]


class _ErrStats:
    """Running count, mean and sum of squared deviations of MVM errors (Chan et al.'s
    pairwise merge): the σ of a run without keeping every error, mergeable over chunks
    and processes."""

    __slots__ = ("n", "mean", "m2")

    def __init__(self, n: int = 0, mean: float = 0.0, m2: float = 0.0) -> None:
        self.n, self.mean, self.m2 = n, mean, m2

    def add(self, e: np.ndarray) -> None:
        if e.size:
            mu = float(np.mean(e))
            self.merge(_ErrStats(e.size, mu, float(np.sum((e - mu) ** 2))))

    def merge(self, o: _ErrStats) -> None:
        n = self.n + o.n
        if o.n == 0:
            return
        d = o.mean - self.mean
        self.mean += d * o.n / n
        self.m2 += o.m2 + d * d * self.n * o.n / n
        self.n = n

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / self.n)) if self.n else 0.0


#: the executor and batch a forked worker reads (set by the parent just before forking)
_FORKED: dict[str, Any] = {}


def _forked_part(span: tuple[int, int]):
    """A worker's share of :meth:`NetworkExecutor.run`: its outputs, error statistics
    and the analog layers' ADC counters accumulated here."""
    ex, xs, path = _FORKED["ex"], _FORKED["xs"], _FORKED["path"]
    before = [(lay.n_clamped_, lay.n_segments_) for lay in ex.analog_layers]
    outs, errs = ex._run_chunks([v[span[0]:span[1]] for v in xs], path)
    counters = [(lay.n_clamped_ - c, lay.n_segments_ - g)
                for lay, (c, g) in zip(ex.analog_layers, before, strict=True)]
    return outs, errs, counters


# ---- the executor --------------------------------------------------------------------------
class NetworkExecutor:
    """An ONNX network on the analog tiles; see the module docstring."""

    def __init__(self, model: Any, placement: Placement | None = None,
                 array: ArrayConfig | None = None, tile_model: Any = None,
                 config: ExecutorConfig | None = None, name: str | None = None) -> None:
        import onnx

        if isinstance(model, str | Path):
            p = Path(model)
            if not p.is_file():
                raise FileNotFoundError(f"ONNX file {str(p)!r} does not exist")
            try:
                proto = onnx.load(str(p), load_external_data=False)
            except Exception as exc:  # noqa: BLE001
                raise OnnxImportError(f"{p}: not a readable ONNX model: {exc}") from exc
            self._check_external(proto, p)
            name = name or p.stem
        else:
            proto = copy.deepcopy(model)
            name = name or proto.graph.name or "onnx"
        self.model = proto
        self.name = name
        self.placement = placement or TilePlacement()
        self.array = array or ArrayConfig()
        if (self.array.tile_rows, self.array.tile_cols) != (self.placement.tile_size,) * 2:
            import dataclasses

            self.array = dataclasses.replace(self.array, tile_rows=self.placement.tile_size,
                                             tile_cols=self.placement.tile_size)
        self.config = config or ExecutorConfig()
        self.tile_model = tile_model
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        graph = proto.graph
        for i, node in enumerate(graph.node):
            if not node.name:
                node.name = f"{node.op_type}_{i}"
        bad = [(n.name, n.op_type) for n in graph.node
               if n.op_type not in SUPPORTED or n.domain not in ("", "ai.onnx")]
        if bad:
            raise UnsupportedOperatorError(bad)
        from onnx import numpy_helper

        self.consts: dict[str, np.ndarray] = {
            i.name: numpy_helper.to_array(i) for i in graph.initializer}
        init = set(self.consts)
        self.inputs = [vi for vi in graph.input if vi.name not in init]
        if not self.inputs:
            raise OnnxImportError("the ONNX graph has no non-constant input")
        self._check_weights_present()
        self.net: Network = from_model(copy.deepcopy(proto), name, allow_empty=True)
        self.layers = {layer.node: layer for layer in self.net.layers}
        self.input_shapes = [self._dims(vi) for vi in self.inputs]
        self.output_names = [o.name for o in graph.output]
        self._fold_constants()
        self._plan()
        self.scales: dict[str, float] = {}
        self.calibrated = False
        self.programmed: tuple[float | None, int] | None = None

    # -- loading checks -----------------------------------------------------------------------
    @staticmethod
    def _check_external(proto, path: Path) -> None:
        from onnx.external_data_helper import load_external_data_for_model

        ext = [t for t in proto.graph.initializer if t.data_location == 1]
        for t in ext:
            loc = next((e.value for e in t.external_data if e.key == "location"), "")
            if not (path.parent / loc).is_file():
                users = [n.name or n.op_type for n in proto.graph.node if t.name in n.input]
                raise MissingWeightsError(
                    f"{path}: the weights {t.name!r} of {', '.join(users) or 'a node'} are "
                    f"stored in the external file {loc!r}, which is not there; put it "
                    f"beside the model or re-export with the weights inside")
        if ext:
            load_external_data_for_model(proto, str(path.parent))

    def _check_weights_present(self) -> None:
        graph = self.model.graph
        produced = {o for n in graph.node for o in n.output} | set(self.consts)
        act_inputs = {vi.name for vi in self.inputs}
        for n in graph.node:
            if n.op_type == "Conv":
                w = n.input[1]
            elif n.op_type == "Gemm":
                w = n.input[1]
            else:
                continue
            if w in act_inputs or w not in produced:
                raise MissingWeightsError(
                    f"layer {n.name!r} ({n.op_type}): the ONNX file holds no weights for it "
                    f"(tensor {w!r} is a graph input without an initializer); export the "
                    "model with its parameters (e.g. torch.onnx.export(..., "
                    "export_params=True))")

    @staticmethod
    def _dims(vi) -> list[int | None]:
        return [int(d.dim_value) if d.HasField("dim_value") else None
                for d in vi.type.tensor_type.shape.dim]

    # -- constant folding and the plan ------------------------------------------------------
    def _fold_constants(self) -> None:
        """Evaluate every node whose inputs are all constants (once)."""
        self.const_nodes: set[str] = set()
        for node in self.model.graph.node:
            if all((not x) or x in self.consts for x in node.input) and node.op_type not in (
                    "Conv", "Gemm", "MatMul"):
                outs = self._eval(node, [self.consts.get(x) if x else None
                                         for x in node.input])
                for o, v in zip(node.output, outs, strict=False):
                    if o:
                        self.consts[o] = v
                self.const_nodes.add(node.name)

    def _plan(self) -> None:
        graph = self.model.graph
        consumers: dict[str, list] = {}
        for n in graph.node:
            for x in n.input:
                consumers.setdefault(x, []).append(n)
        outputs = set(self.output_names)
        self.mvms: dict[str, _Mvm] = {}
        self.skip: set[str] = set()       # BatchNormalization folded into its producer
        self.alias: dict[str, str] = {}   # folded BN output -> producer output
        self.stored: set[str] = set()     # tensors held at 8 bit in L1 (non-ideal paths)
        self.layer_nodes: set[str] = set()  # nodes that read their inputs from L1
        for n in graph.node:
            if n.name in self.const_nodes:
                continue
            if n.op_type in ("Conv", "Gemm", "MatMul"):
                m = self._make_mvm(n)
                self.mvms[n.name] = m
                out = n.output[0]
                nxt = consumers.get(out, [])
                if (len(nxt) == 1 and nxt[0].op_type == "BatchNormalization"
                        and out not in outputs and m.op != "matmul"
                        and all(x in self.consts for x in nxt[0].input[1:5])):
                    self._fold_bn(m, nxt[0])
                    self.skip.add(nxt[0].name)
                    self.alias[nxt[0].output[0]] = out
            if n.op_type not in OUTPUT_STAGE and n.op_type not in VIEWS:
                nonconst = [x for x in n.input if x and x not in self.consts]
                if n.op_type in ("Add", "Sum", "Mul", "Sub", "Div") and len(nonconst) < 2:
                    continue  # bias / scale: output stage
                self.layer_nodes.add(n.name)
                for x in nonconst:
                    self.stored.add(self.alias.get(x, x))

    def _make_mvm(self, n) -> _Mvm:
        layer = self.layers.get(n.name)
        if layer is None:
            raise UnsupportedOperatorError([(n.name, f"{n.op_type} the import did not map")])
        at = _attrs(n)
        target = self.placement.target(layer)
        if n.op_type == "Conv":
            w = np.asarray(self.consts[n.input[1]], np.float64)
            if w.ndim != 4:
                raise UnsupportedOperatorError([(n.name, f"{w.ndim - 2}-D Conv")])
            b = (np.asarray(self.consts[n.input[2]], np.float64)
                 if len(n.input) > 2 and n.input[2] else None)
            m = _Mvm(n.name, layer.name, "conv", target, w, b, int(at.get("group", 1)), at)
        elif n.op_type == "Gemm":
            if at.get("transA", 0) or n.input[1] not in self.consts:
                raise UnsupportedOperatorError([(n.name, "Gemm with transA or a non-constant "
                                                 "B")])
            w = np.asarray(self.consts[n.input[1]], np.float64)
            if at.get("transB", 0):
                w = w.T
            w = w * float(at.get("alpha", 1.0))
            b = None
            if len(n.input) > 2 and n.input[2]:
                if n.input[2] not in self.consts:
                    raise UnsupportedOperatorError([(n.name, "Gemm with a non-constant C")])
                b = float(at.get("beta", 1.0)) * np.asarray(self.consts[n.input[2]],
                                                             np.float64)
            m = _Mvm(n.name, layer.name, "gemm", target, w, b, 1, at)
        else:
            first = n.input[0] in self.consts
            w = np.asarray(self.consts[n.input[0] if first else n.input[1]], np.float64)
            if w.ndim != 2:
                raise UnsupportedOperatorError([(n.name, f"MatMul with a rank-{w.ndim} "
                                                 "constant")])
            m = _Mvm(n.name, layer.name, "matmul", target, w.T if first else w, None, 1, at,
                     weight_first=first)
        gj = self.placement.groups_per_matrix(layer) if m.groups > 1 else 1
        m.blocks = [(g, g + gj) for g in range(0, m.groups, gj)]
        return m

    def _fold_bn(self, m: _Mvm, bn) -> None:
        scale, beta, mean, var = (np.asarray(self.consts[x], np.float64)
                                  for x in bn.input[1:5])
        eps = float(_attrs(bn).get("epsilon", 1e-5))
        gamma = scale / np.sqrt(var + eps)
        b = m.bias if m.bias is not None else 0.0
        if m.op == "conv":
            m.w = m.w * gamma[:, None, None, None]
        else:
            m.w = m.w * gamma[None, :]
        m.bias = (b - mean) * gamma + beta

    # -- tiles ----------------------------------------------------------------------------------
    def _matrices(self, m: _Mvm) -> list[np.ndarray]:
        """Crossbar matrices (rows = inputs, cols = outputs) of an IMA layer, one per block."""
        if m.op != "conv":
            return [m.w]
        cout = m.w.shape[0]
        cog = cout // m.groups
        mats = []
        for g0, g1 in m.blocks:
            per = [m.w[g * cog:(g + 1) * cog].reshape(cog, -1).T for g in range(g0, g1)]
            if len(per) == 1:
                mats.append(per[0])
                continue
            r, c = per[0].shape
            big = np.zeros((r * len(per), c * len(per)))
            for i, p in enumerate(per):
                big[i * r:(i + 1) * r, i * c:(i + 1) * c] = p
            mats.append(big)
        return mats

    @property
    def tiles(self) -> dict[str, int]:
        """Tiles per IMA layer (IR layer name), split as TILE&PACK splits them."""
        s = self.placement.tile_size
        out: dict[str, int] = {}
        for m in self.mvms.values():
            if m.target != IMA:
                continue
            n = 0
            for mat in self._matrices(m):
                n += -(-mat.shape[0] // s) * -(-mat.shape[1] // s)
            out[m.layer] = n
        return out

    @property
    def n_tiles(self) -> int:
        return sum(self.tiles.values())

    def targets(self) -> dict[str, str]:
        return {m.layer: m.target for m in self.mvms.values()}

    # -- input checks -------------------------------------------------------------------------
    def _check_inputs(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        if len(xs) != len(self.inputs):
            raise InputDataError(f"network {self.name!r} has {len(self.inputs)} input(s) "
                                 f"({', '.join(v.name for v in self.inputs)}), got {len(xs)}")
        out = []
        for vi, dims, x in zip(self.inputs, self.input_shapes, xs, strict=True):
            x = np.asarray(x)
            want = tuple(d for d in dims[1:])
            if x.ndim != len(dims) or any(d is not None and d != s
                                          for d, s in zip(want, x.shape[1:], strict=True)):
                shown = "x".join("N" if d is None else str(d) for d in [None, *want])
                raise InputDataError(
                    f"network {self.name!r}, input {vi.name!r}: data of shape "
                    f"{tuple(x.shape)} does not match the network input ({shown}); "
                    "reshape the data to (N, " + ", ".join(
                        "?" if d is None else str(d) for d in want) + ")")
            if not np.issubdtype(x.dtype, np.number):
                raise InputDataError(f"input {vi.name!r}: data of type {x.dtype} is not "
                                     "numeric")
            bad = ~np.isfinite(x)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InputDataError(
                    f"network {self.name!r}, input {vi.name!r}: {int(bad.sum())} NaN/inf "
                    f"value(s), first at index {idx}; clean or impute the data first")
            out.append(x.astype(np.float64))
        return out

    def _chunk(self) -> int:
        b = self.input_shapes[0][0] if self.input_shapes[0] else None
        if b:      # a graph with a fixed batch (e.g. Reshape to [1, -1]) runs at that batch
            return b
        if self.config.batch:
            return self.config.batch
        per = int(np.prod([d or 1 for d in self.input_shapes[0][1:]]))
        return max(1, min(1024, 2_000_000 // max(per, 1)))

    # -- calibration and programming ------------------------------------------------------
    def calibrate(self, x_cal: np.ndarray | list[np.ndarray]) -> NetworkExecutor:
        """8-bit scales of every stored tensor and the IMA layers' input scales and ADC
        calibration, from the ideal path on ``x_cal`` (a calibration set, not the test
        set); builds and programs the analog layers (ideal devices until ``program``)."""
        xs = self._check_inputs(x_cal if isinstance(x_cal, list) else [x_cal])
        maxabs: dict[str, float] = {}
        picks: dict[str, list[_RowSample]] = {}
        k_max = self.config.max_cal_rows
        where = {"image": 0, "images": 1}

        def hook(kind: str, key: str, value: np.ndarray) -> None:
            if kind == "tensor":
                maxabs[key] = max(maxabs.get(key, 0.0), float(np.max(np.abs(value)))
                                  if value.size else 0.0)
                return
            # MVM input rows of each block: a uniform random subset keyed on each row's
            # index in the whole calibration set (and the row of largest |x|), so that
            # the subset does not depend on how the set is cut into chunks
            lst = picks.setdefault(key, [])
            for b, xb in enumerate(value):
                if len(lst) <= b:
                    lst.append(_RowSample(_row_seed(self.config.cal_seed, key, b), k_max))
                per_image = len(xb) // max(where["images"], 1)
                lst[b].add(xb, where["image"] * per_image)

        chunk = self._chunk()
        for s in range(0, len(xs[0]), chunk):
            part = [x[s:s + chunk] for x in xs]
            where.update(image=s, images=len(part[0]))
            self._forward(part, "ideal", hook=hook)
        self.scales = {k: (v if v > 0 else 1.0) for k, v in maxabs.items()}
        for m in self.mvms.values():
            if m.target == IMA:
                m.analog = []
                for b, mat in enumerate(self._matrices(m)):
                    x_rows = picks[m.node][b].rows()
                    name = m.layer if len(m.blocks) == 1 else f"{m.layer}_g{b}"
                    lay = AnalogLayer(mat, self.array, self.tile_model, name)
                    self.tile_model = lay.tile_model
                    # the DAC takes the stored 8-bit tensor as it is: input scale = its scale
                    lay.x_scale_ = self._scale_in(m)
                    lay.calibrate(quantise_inputs(x_rows, lay.x_scale_, self.array.x_levels))
                    m.analog.append(lay)
            else:
                axis = 0 if m.op == "conv" else 1
                m.wq, m.wq_step = _quantise_weights(m.w, self.config.w_levels, axis)
        self.calibrated = True
        self.programmed = (None, 0)
        return self

    def prepare(self) -> NetworkExecutor:
        """Compile every IMA tile for the devices as programmed and fit pending
        calibrations now (otherwise done on first use), e.g. before forking workers."""
        for lay in self.analog_layers:
            lay.prepare()
        return self

    def _scale_in(self, m: _Mvm) -> float:
        n = next(n for n in self.model.graph.node if n.name == m.node)
        x = n.input[1] if m.weight_first else n.input[0]
        return self.scales[self.alias.get(x, x)]

    def program(self, t_s: float | None, seed: int = 0) -> None:
        """(Re)program every IMA layer: ideal devices (``t_s`` None) or PCM statistics
        read ``t_s`` seconds after programming; seeds per matrix follow from ``seed``."""
        if not self.calibrated:
            raise RuntimeError("call calibrate(x_cal) before program()")
        i = 0
        for m in self.mvms.values():
            for lay in m.analog:
                s = int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0])
                lay.program(t_s, s)
                i += 1
        self.programmed = (t_s, int(seed))
        self.prepare()

    @property
    def analog_layers(self) -> list[AnalogLayer]:
        return [lay for m in self.mvms.values() for lay in m.analog]

    def notes(self) -> list[str]:
        """The analog layers' notes, one per kind (the text before " = ", e.g. one
        surrogate-domain parameter) for the whole network: the first layer's message and
        the names of the other layers with the same kind of note."""
        kinds: dict[str, tuple[str, list[str]]] = {}
        for lay in self.analog_layers:
            for n in lay.notes_:
                kind = n.split(" = ")[0] if " = " in n else n.split(" in ")[0]
                if kind not in kinds:
                    kinds[kind] = (f"{lay.name}: {n}", [])
                elif lay.name not in kinds[kind][1] and not kinds[kind][0].startswith(
                        f"{lay.name}: "):
                    kinds[kind][1].append(lay.name)
        out = []
        for first, others in kinds.values():
            if others:
                shown = ", ".join(others[:6]) + (" ..." if len(others) > 6 else "")
                first += f" (also in {len(others)} other layer(s): {shown})"
            out.append(first)
        return out

    # -- running ----------------------------------------------------------------------------------
    def run(self, x: np.ndarray | list[np.ndarray], path: str = "ideal",
            t_s: float | None = None, seed: int = 0, progress: bool = False,
            workers: int = 1) -> RunResult:
        """Outputs of ``path`` for a batch ``x`` (N, ...) (a list for several inputs).
        ``analog``: devices read ``t_s`` s after programming (None: ideal devices),
        programmed with ``seed`` (reprogrammed only when t_s or seed change).
        ``workers`` > 1 spreads the batch over that many processes forked after
        programming (each holds the programmed tiles; nothing is recompiled); the
        batch is cut at chunk boundaries where it has enough chunks, so the outputs
        equal a one-process run (otherwise to the fast path's float32 rounding)."""
        if path not in PATHS:
            raise ValueError(f"path {path!r}: choose one of {', '.join(PATHS)}")
        if path != "ideal" and not self.calibrated:
            raise RuntimeError(f"the {path} path needs calibrate(x_cal) first (8-bit scales "
                               "and the ADC calibration come from a calibration set)")
        if t_s is not None and not (np.isfinite(t_s) and t_s >= 0):
            raise ValueError(f"t_s must be >= 0 s or None, got {t_s!r}")
        if not isinstance(workers, int | np.integer) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        xs = self._check_inputs(x if isinstance(x, list) else [x])
        if path == "analog" and self.programmed != (t_s, int(seed)):
            self.program(t_s, seed)
        t0 = time.perf_counter()
        n = len(xs[0])
        if workers > 1 and n > 1:
            outs, errs = self._run_forked(xs, path, min(int(workers), n))
        else:
            outs, errs = self._run_chunks(xs, path, progress)
        res = [np.concatenate([o[i] for o in outs]) for i in range(len(self.output_names))]
        mvm = {k: LayerError(v[0].std * 100, v[1].std * 100) for k, v in errs.items()}
        return RunResult(res, path, t_s if path == "analog" else None,
                         int(seed) if path == "analog" else None, mvm,
                         time.perf_counter() - t0)

    def _run_chunks(self, xs: list[np.ndarray], path: str, progress: bool = False):
        errs: dict[str, tuple[_ErrStats, _ErrStats]] = {}
        outs: list[list[np.ndarray]] = []
        chunk = self._chunk()
        starts = range(0, len(xs[0]), chunk)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc=f"{self.name} {path}", unit="chunk", leave=False)
        for s in starts:
            outs.append(self._forward([v[s:s + chunk] for v in xs], path, errs=errs))
        return outs, errs

    def _run_forked(self, xs: list[np.ndarray], path: str, workers: int):
        import multiprocessing as mp

        if "fork" not in mp.get_all_start_methods():
            raise ExecutorError("workers > 1 needs the 'fork' start method (Linux, macOS); "
                                "run with workers=1")
        if path != "ideal":
            self.prepare()     # compile and calibrate once, here, not in every worker
        n, chunk = len(xs[0]), self._chunk()
        n_chunks = -(-n // chunk)
        if n_chunks >= workers:   # whole chunks per worker: the same chunks as one process
            cuts = [k * n_chunks // workers * chunk for k in range(workers)] + [n]
        else:
            cuts = [k * n // workers for k in range(workers)] + [n]
        spans = [(a, min(b, n)) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
        _FORKED.update(ex=self, xs=xs, path=path)
        try:
            with mp.get_context("fork").Pool(len(spans)) as pool:
                parts = pool.map(_forked_part, spans)
                pool.close()
                pool.join()
        finally:
            _FORKED.clear()
        outs: list[list[np.ndarray]] = []
        errs: dict[str, tuple[_ErrStats, _ErrStats]] = {}
        for p_outs, p_errs, counters in parts:
            outs += p_outs
            for k, (a, b) in p_errs.items():
                e = errs.setdefault(k, (_ErrStats(), _ErrStats()))
                e[0].merge(a)
                e[1].merge(b)
            for lay, (dc, ds) in zip(self.analog_layers, counters, strict=True):
                lay.n_clamped_ += dc
                lay.n_segments_ += ds
        return outs, errs

    def _forward(self, xs: list[np.ndarray], path: str, hook=None,
                 errs: dict | None = None) -> list[np.ndarray]:
        env: dict[str, np.ndarray] = dict(zip((v.name for v in self.inputs), xs, strict=True))
        q8: dict[str, np.ndarray] = {}
        lv = self.config.act_levels

        def read(name: str, stored: bool) -> np.ndarray:
            name = self.alias.get(name, name)
            if name in self.consts:
                return self.consts[name]
            v = env[name]
            if not stored or path == "ideal" or name not in self.stored:
                return v
            if name not in q8:
                s = self.scales[name]
                q8[name] = np.clip(np.rint(v / s * lv), -lv, lv) * (s / lv)
            return q8[name]

        for node in self.model.graph.node:
            if node.name in self.const_nodes or node.name in self.skip:
                continue
            stored = node.name in self.layer_nodes
            ins = [read(x, stored) if x else None for x in node.input]
            if hook is not None and stored:
                for x in node.input:
                    x = self.alias.get(x, x)
                    if x in self.stored and x not in self.consts:
                        hook("tensor", x, env[x])
            if node.name in self.mvms:
                outs = [self._mvm(self.mvms[node.name], ins, path, hook, errs)]
            else:
                outs = self._eval(node, ins)
            for o, v in zip(node.output, outs, strict=False):
                if o:
                    env[o] = v
        return [env[self.alias.get(o, o)] if self.alias.get(o, o) in env
                else self.consts[o] for o in self.output_names]

    # -- weight layers ------------------------------------------------------------------------
    def _mvm(self, m: _Mvm, ins: list, path: str, hook, errs) -> np.ndarray:
        x = ins[1] if m.weight_first else ins[0]
        if m.op == "conv":
            return self._conv(m, x, path, hook, errs)
        xr = x
        if m.weight_first:  # W @ X: contract X's second-to-last axis
            xr = np.swapaxes(x, -1, -2)
        lead = xr.shape[:-1]
        rows = xr.reshape(-1, xr.shape[-1])
        if hook is not None and m.target == IMA:
            hook("rows", m.node, [rows])
        if path == "ideal":
            y = rows @ m.w
        elif m.target == IMA:
            y = self._analog_block(m, 0, rows, path, errs)
        else:
            y = self._digital_rows(m, rows, x)
        y = y.reshape(*lead, m.w.shape[1])
        if m.weight_first:
            y = np.swapaxes(y, -1, -2)
        if m.bias is not None:
            y = y + m.bias
        return y

    def _analog_block(self, m: _Mvm, b: int, rows: np.ndarray, path: str,
                      errs) -> np.ndarray:
        lay = m.analog[b]
        codes = lay.codes(rows)
        y = lay.quantised_codes(codes) if path == "quantised" else lay.analog_codes(codes)
        if errs is not None:
            fs = lay.full_scale()
            e = errs.setdefault(m.layer, (_ErrStats(), _ErrStats()))
            d = lay.exact_codes(codes)
            np.subtract(y, d, out=d)
            d /= fs
            e[0].add(d)
            d = rows @ lay.weights
            np.subtract(y, d, out=d)
            d /= fs
            e[1].add(d)
        return y

    def _digital_rows(self, m: _Mvm, rows: np.ndarray, x_tensor: np.ndarray) -> np.ndarray:
        s = self._scale_in(m)
        lv = self.config.act_levels
        codes = np.clip(np.rint(rows / s * lv), -lv, lv)
        return (codes @ m.wq) * m.wq_step * (s / lv)

    def _conv(self, m: _Mvm, x: np.ndarray, path: str, hook, errs) -> np.ndarray:
        at = m.attrs
        cout, cg, kh, kw = m.w.shape
        if x.ndim != 4:
            raise UnsupportedOperatorError([(m.node, f"Conv on a rank-{x.ndim} tensor")])
        n, c, h, w_ = x.shape
        kernel = [kh, kw]
        strides = list(at.get("strides", [1, 1]))
        dil = list(at.get("dilations", [1, 1]))
        begin, end, out = resolve_pads(at.get("auto_pad", "NOTSET"), [h, w_], kernel, strides,
                                       dil, at.get("pads"))
        g_n = m.groups
        cog = cout // g_n
        ho, wo = out
        digital = path != "ideal" and m.target != IMA
        if digital:
            s = self._scale_in(m)
            lv = self.config.act_levels
            x = np.clip(np.rint(x / s * lv), -lv, lv)
        direct = (g_n > 1 and cg == 1 and (hook is None or m.target != IMA)
                  and (path == "ideal" or digital))
        if direct:   # depth-wise: kh·kw shifted multiply-adds, no IM2COL copy
            w = m.wq if digital else m.w
            # integer codes x integer weights: float32 holds every sum exactly below 2**24
            exact32 = digital and lv * self.config.w_levels * kh * kw < 2 ** 24
            y4 = _depthwise(x, w, cog, strides, dil, begin, out,
                            np.float32 if exact32 else np.float64)
            if exact32:
                y4 = y4.astype(np.float64)
            if digital:
                y4 *= m.wq_step.reshape(1, -1, 1, 1) * (s / lv)
            if m.bias is not None:
                y4 += m.bias.reshape(1, -1, 1, 1)
            return y4
        y = np.empty((n * ho * wo, cout))
        if path == "ideal" or digital:
            w = m.wq if digital else m.w
            if g_n == 1:
                y[:] = im2col(x, kernel, strides, dil, begin, end, out) @ w.reshape(cout, -1).T
            else:
                for b0, b1 in m.blocks:   # groups in chunks (memory), einsum per group
                    cols = im2col(x[:, b0 * cg:b1 * cg], kernel, strides, dil, begin, end, out)
                    cols = cols.reshape(-1, b1 - b0, cg * kh * kw)
                    wg = w[b0 * cog:b1 * cog].reshape(b1 - b0, cog, cg * kh * kw)
                    y[:, b0 * cog:b1 * cog] = np.einsum("pgk,gok->pgo", cols, wg).reshape(
                        len(cols), -1)
            if digital:
                y *= m.wq_step.reshape(1, -1) * (s / lv)
            if hook is not None and m.target == IMA:
                hook("rows", m.node, [im2col(x[:, b0 * cg:b1 * cg], kernel, strides, dil,
                                             begin, end, out) for b0, b1 in m.blocks])
        else:
            for b, (b0, b1) in enumerate(m.blocks):
                cols = im2col(x[:, b0 * cg:b1 * cg], kernel, strides, dil, begin, end, out)
                y[:, b0 * cog:b1 * cog] = self._analog_block(m, b, cols, path, errs)
        y = y.reshape(n, ho, wo, cout).transpose(0, 3, 1, 2)
        if m.bias is not None:
            y = y + m.bias.reshape(1, -1, 1, 1)
        return y

    # -- everything else (ONNX semantics, float) ------------------------------------------------
    def _eval(self, node, ins: list) -> list[np.ndarray]:
        op = node.op_type
        at = _attrs(node)
        x = ins[0] if ins else None
        if op == "Constant":
            from onnx import numpy_helper

            a = {at_.name: at_ for at_ in node.attribute}
            if "value" in a:
                return [numpy_helper.to_array(a["value"].t)]
            for k in ("value_float", "value_int"):
                if k in at:
                    return [np.array(at[k])]
            for k in ("value_floats", "value_ints"):
                if k in at:
                    return [np.array(list(at[k]))]
            raise UnsupportedOperatorError([(node.name, "Constant of this kind")])
        if op == "ConstantOfShape":
            from onnx import numpy_helper

            a = {at_.name: at_ for at_ in node.attribute}
            fill = numpy_helper.to_array(a["value"].t).ravel() if "value" in a else np.zeros(
                1, np.float32)
            return [np.full(tuple(int(d) for d in x), fill[0], dtype=fill.dtype)]
        if op in ("Relu",):
            return [np.maximum(x, 0)]
        if op == "LeakyRelu":
            return [np.where(x >= 0, x, float(at.get("alpha", 0.01)) * x)]
        if op == "Clip":
            if self.opset < 11:
                lo, hi = at.get("min", -np.inf), at.get("max", np.inf)
            else:
                lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
                hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
            return [np.clip(x, lo, hi)]
        if op == "BatchNormalization":
            scale, b, mean, var = (np.asarray(v, np.float64) for v in ins[1:5])
            eps = float(at.get("epsilon", 1e-5))
            shp = (1, -1) + (1,) * (x.ndim - 2)
            g = scale / np.sqrt(var + eps)
            return [x * g.reshape(shp) + (b - mean * g).reshape(shp)]
        if op in ("Add", "Sum", "Mul", "Sub", "Div"):
            if op == "Sum":
                out = ins[0]
                for v in ins[1:]:
                    out = out + v
                return [out]
            b = _legacy_broadcast(ins[0], ins[1], at, self.opset)
            f = {"Add": np.add, "Mul": np.multiply, "Sub": np.subtract, "Div": np.divide}[op]
            return [f(ins[0], b)]
        if op == "Sqrt":
            return [np.sqrt(x)]
        if op == "Concat":
            return [np.concatenate(ins, axis=int(at["axis"]))]
        if op in ("Dropout", "Identity"):
            outs = [x]
            if op == "Dropout" and len(node.output) > 1:
                outs.append(np.ones(np.shape(x), bool))
            return outs
        if op == "Flatten":
            ax = int(at.get("axis", 1)) % max(1, x.ndim) if x.ndim else 0
            return [x.reshape(int(np.prod(x.shape[:ax], dtype=np.int64)), -1)]
        if op == "Reshape":
            shape = [int(s) for s in (ins[1] if self.opset >= 5 else at["shape"])]
            if not at.get("allowzero", 0):
                shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return [x.reshape(shape)]
        if op in ("Squeeze", "Unsqueeze"):
            axes = at.get("axes")
            if axes is None and len(ins) > 1 and ins[1] is not None:
                axes = [int(a) for a in ins[1]]
            if op == "Squeeze":
                return [np.squeeze(x, axis=tuple(axes) if axes else None)]
            nd = x.ndim + len(axes)
            out = x
            for ax in sorted(int(a) % nd for a in axes):
                out = np.expand_dims(out, ax)
            return [out]
        if op == "Transpose":
            return [np.transpose(x, at.get("perm"))]
        if op == "Softmax":
            legacy = self.opset < 13
            return [_softmax(x, int(at.get("axis", 1 if legacy else -1)), legacy)]
        if op == "Shape":
            return [np.array(x.shape, np.int64)]
        if op == "Gather":
            return [np.take(x, np.asarray(ins[1], np.int64), axis=int(at.get("axis", 0)))]
        if op == "Cast":
            from onnx import helper

            return [np.asarray(x).astype(helper.tensor_dtype_to_np_dtype(int(at["to"])))]
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            axes = tuple(range(2, x.ndim))
            f = np.mean if op == "GlobalAveragePool" else np.max
            return [f(x, axis=axes, keepdims=True)]
        if op in ("MaxPool", "AveragePool"):
            return [self._pool(node, op, at, x)]
        raise UnsupportedOperatorError([(node.name, op)])  # pragma: no cover - SUPPORTED

    def _pool(self, node, op: str, at: dict, x: np.ndarray) -> np.ndarray:
        nd = x.ndim - 2
        kernel = list(at["kernel_shape"])
        strides = list(at.get("strides", [1] * nd))
        dil = list(at.get("dilations", [1] * nd))
        ceil = bool(at.get("ceil_mode", 0))
        begin, end, out = resolve_pads(at.get("auto_pad", "NOTSET"), list(x.shape[2:]), kernel,
                                       strides, dil, at.get("pads"), ceil)
        if op == "MaxPool":
            win = pool_windows(x, kernel, strides, dil, begin, end, out, -np.inf)
            return np.max(win, axis=-1)
        if at.get("count_include_pad", 0):
            xp = np.pad(x, [(0, 0), (0, 0)] + list(zip(begin, end, strict=True)))
            win = pool_windows(xp, kernel, strides, dil, [0] * nd, [0] * nd, out, np.nan)
        else:
            win = pool_windows(x, kernel, strides, dil, begin, end, out, np.nan)
        cnt = np.sum(~np.isnan(win), axis=-1)
        return np.nansum(win, axis=-1) / np.maximum(cnt, 1)
