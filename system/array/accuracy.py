"""Accuracy of an ONNX network on the analog array: ideal, quantised and analog paths.

The weights come from :func:`aimc.system.networks.onnx_import.load_onnx` (crossbar orientation,
rows = inputs, cols = outputs); the array runs the fully connected layers (Gemm/MatMul).
The import's layer IR carries no biases or activations, so this module reads those from
the same ONNX graph: a Gemm's ``C`` input (times ``beta``) or a following ``Add`` of a
constant is a digital bias; ``Relu`` is applied digitally; Flatten/Reshape/Identity/
Dropout are views; Softmax is kept out (it does not change the arg-max). Any other
operator (Conv, pooling, ...) raises :class:`ArrayInputError` naming the node: the array
simulator evaluates MLPs; convolutions would need an IM2COL unrolling that is not here.

Each analog layer's input full scale and its per-column ADC calibration are set from the
*training* data propagated through the ideal network (a calibration set, never the test
set); biases are added in floating point after the digital rescale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aimc.system.array.layer import AnalogLayer, ArrayConfig, ArrayInputError

VIEWS = {"Flatten", "Reshape", "Identity", "Dropout", "Squeeze", "Unsqueeze"}


@dataclass
class _Step:
    kind: str                     # "fc" | "relu" | "bias" | "scale" (Gemm alpha)
    layer: str = ""
    bias: np.ndarray | None = None


def _plan(path: Path) -> tuple[list[_Step], dict[str, np.ndarray]]:
    """Sequential plan of an MLP graph and its FC weight matrices (from the import)."""
    import onnx
    from aimc.system.networks.onnx_import import load_onnx
    from onnx import numpy_helper

    net = load_onnx(path)
    fcs = [layer for layer in net.layers if layer.kind == "fc"]
    others = [layer for layer in net.layers if layer.kind not in ("fc", "eltwise", "reshape")]
    model = onnx.load(str(path))
    const = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    steps: list[_Step] = []
    bad = []
    k = 0
    for node in model.graph.node:
        op = node.op_type
        if op in ("Gemm", "MatMul"):
            layer = fcs[k]
            k += 1
            if layer.weights is None:
                raise ArrayInputError(f"layer {layer.name!r}: the ONNX file stores no weights "
                                      "for it (the array needs real weights)")
            steps.append(_Step("fc", layer.name))
            alpha = next((a.f for a in node.attribute if a.name == "alpha"), 1.0)
            if op == "Gemm" and alpha != 1.0:   # Y = alpha·A·B + beta·C
                steps.append(_Step("scale", bias=np.array(alpha)))
            if op == "Gemm" and len(node.input) > 2 and node.input[2] in const:
                beta = next((a.f for a in node.attribute if a.name == "beta"), 1.0)
                steps.append(_Step("bias", bias=beta * const[node.input[2]].astype(float)))
        elif op == "Add" and any(i in const for i in node.input):
            c = next(i for i in node.input if i in const)
            steps.append(_Step("bias", bias=const[c].astype(float).ravel()))
        elif op == "Relu":
            steps.append(_Step("relu"))
        elif op in VIEWS or op == "Softmax":
            continue
        else:
            bad.append(f"{op} (node {node.name!r})")
    if bad or others:
        names = bad or [f"{layer.kind} (layer {layer.name!r})" for layer in others]
        raise ArrayInputError("unsupported layer type(s) for the array simulator: "
                              + ", ".join(names) + "; it runs MLPs (Gemm/MatMul, bias Add, "
                              "Relu, Flatten/Reshape, Softmax)")
    return steps, {layer.name: np.asarray(layer.weights, float) for layer in fcs}


@dataclass
class PathResult:
    accuracy: float
    mvm_err_pct_fs: dict[str, float] = field(default_factory=dict)   # σ per layer vs float
    #: σ per layer against the exact matmul of the quantised inputs and weights (what the
    #: ADC and the analog circuit add; HERMES's "8-bit MVM error" compares like this)
    mvm_err_vs_quantised_pct_fs: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class AccuracyReport:
    network: str
    n_test: int
    t_inference_s: float | None
    ideal: PathResult
    quantised: PathResult
    analog_ideal_devices: PathResult
    analog: PathResult
    tile_model: str
    notes: list[str]
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class AnalogNetwork:
    """An MLP from an ONNX file on analog tiles."""

    def __init__(self, onnx_path: str | Path, config: ArrayConfig | None = None,
                 tile_model: Any = None) -> None:
        self.path = Path(onnx_path)
        self.config = config or ArrayConfig()
        self.steps, self.weights = _plan(self.path)
        self.tile_model = tile_model
        self.layers: dict[str, AnalogLayer] = {}

    def build(self, x_cal: np.ndarray) -> AnalogNetwork:
        """Map every FC layer onto tiles; calibrate on the ideal activations of x_cal."""
        h = np.asarray(x_cal, float)
        for st in self.steps:
            if st.kind == "fc":
                w = self.weights[st.layer]
                if h.shape[1] != w.shape[0]:
                    raise ArrayInputError(f"layer {st.layer!r} has {w.shape[0]} inputs, the "
                                          f"data has {h.shape[1]} features")
                layer = AnalogLayer(w, self.config, self.tile_model, st.layer)
                self.tile_model = layer.tile_model
                layer.fit_inputs(h)
                self.layers[st.layer] = layer
            h = self._digital(st, h, lambda lay, x: lay.ideal(x))
        return self

    def program(self, t_inference_s: float | None, seed: int) -> None:
        for i, layer in enumerate(self.layers.values()):
            layer.program(t_inference_s, seed + 1000 * i)

    def _digital(self, st: _Step, h: np.ndarray, mvm) -> np.ndarray:
        if st.kind == "fc":
            return mvm(self.layers[st.layer], h)
        if st.kind == "bias":
            return h + st.bias
        if st.kind == "scale":
            return h * st.bias
        return np.maximum(h, 0.0)

    def forward(self, x: np.ndarray, path: str) -> tuple[np.ndarray, dict[str, float]]:
        """Logits of a path ("ideal", "quantised", "analog") and the σ of each layer's
        MVM error against the float MVM of the same inputs (% of the ADC full scale)."""
        errs: dict[str, float] = {}
        errs_q: dict[str, float] = {}

        def mvm(layer: AnalogLayer, h: np.ndarray) -> np.ndarray:
            y_ideal = layer.ideal(h)
            if path == "ideal":
                return y_ideal
            y = layer.quantised(h) if path == "quantised" else layer.analog(h)
            fs = layer.full_scale()
            errs[layer.name] = float(np.std((y - y_ideal) / fs) * 100)
            errs_q[layer.name] = float(np.std((y - layer.exact_quantised(h)) / fs) * 100)
            return y

        h = np.asarray(x, float)
        for st in self.steps:
            h = self._digital(st, h, mvm)
        self.last_errs_vs_quantised = errs_q
        return h, errs

    def notes(self) -> list[str]:
        out: list[str] = []
        for layer in self.layers.values():
            out += [f"{layer.name}: {n}" for n in layer.notes_ if f"{layer.name}: {n}" not in out]
        return out


def evaluate_accuracy(onnx_path: str | Path, x_cal: np.ndarray, x_test: np.ndarray,
                      y_test: np.ndarray, config: ArrayConfig | None = None,
                      tile_model: Any = None, t_inference_s: float | None = 3600.0,
                      seed: int = 0, tile_name: str = "",
                      blas_threads: int | None = 1) -> AccuracyReport:
    """Accuracy of the four paths on (x_test, y_test).

    ``blas_threads``: BLAS threads during the run (default 1: the matmuls here are small,
    and a multi-threaded OpenBLAS on a shared 2-core machine ran them 8x slower);
    None leaves the library default."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _evaluate(onnx_path, x_cal, x_test, y_test, config, tile_model,
                         t_inference_s, seed, tile_name)


def _evaluate(onnx_path, x_cal, x_test, y_test, config, tile_model, t_inference_s, seed,
              tile_name) -> AccuracyReport:
    net = AnalogNetwork(onnx_path, config, tile_model).build(x_cal)
    res = {}
    for name, path, t in (("ideal", "ideal", None), ("quantised", "quantised", None),
                          ("analog_ideal_devices", "analog", None),
                          ("analog", "analog", t_inference_s)):
        if path == "analog":
            net.program(t, seed)
        t0 = time.perf_counter()
        logits, errs = net.forward(x_test, path)
        acc = float(np.mean(np.argmax(logits, axis=1) == np.asarray(y_test)))
        res[name] = PathResult(acc, errs, dict(getattr(net, "last_errs_vs_quantised", {})),
                               time.perf_counter() - t0)
    from dataclasses import asdict

    cfg = asdict(net.config)
    return AccuracyReport(net.path.stem, int(len(y_test)), t_inference_s, res["ideal"],
                          res["quantised"], res["analog_ideal_devices"], res["analog"],
                          tile_name, net.notes(), cfg)


def report_table(r: AccuracyReport) -> str:
    t = "none" if r.t_inference_s is None else f"{r.t_inference_s:g} s"
    lines = [f"network {r.network}: {r.n_test} test inputs; tile model {r.tile_model}; "
             f"devices read {t} after programming",
             "MVM error σ per layer in % of the ADC full scale, against the float matmul "
             "[and against the exact matmul of the quantised inputs/weights]",
             f"{'path':34s} {'accuracy':>9s}  MVM error per layer"]
    for label, p in (("ideal (float matmul)", r.ideal),
                     ("quantised (8b in, 4b w, 8b ADC)", r.quantised),
                     ("analog, ideal devices (circuit)", r.analog_ideal_devices),
                     ("analog, PCM statistics (+device)", r.analog)):
        errs = "  ".join(f"{k} {v:.2f} [{p.mvm_err_vs_quantised_pct_fs.get(k, 0.0):.2f}]"
                         for k, v in p.mvm_err_pct_fs.items())
        lines.append(f"{label:34s} {p.accuracy * 100:8.2f}%  {errs}")
    lines.append("published (HERMES, MNIST MLP): analog 98.3 % vs software 98.6 %; "
                 "8-bit MVM error σ 1.94 %")
    for n in r.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)
