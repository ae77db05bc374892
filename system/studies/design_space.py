"""One configuration of a design-space study, evaluated from the circuit up.

For every network of the spec a configuration (see :mod:`aimc.system.studies.study_spec`)

1. prunes the crossbar weights of the trained ONNX network (:func:`prune_model`):
   unstructured magnitude, or whole crossbar rows / output channels / tiles by L2 norm;
2. runs the test images through the array simulator — weights on tiles through the
   crossbar and CCO-ADC surrogates of the shipped tile model, PCM (FACTS.md) or RRAM
   (Wan et al. 2022) statistics read ``t_s`` after programming — once per device seed,
   and the float and quantised paths once;
3. maps the pruned network on the cluster (:func:`aimc.system.cluster.model.evaluate`,
   every weight layer on the IMA, ``ima.skip_zero``: all-zero rows, columns and tiles are
   not programmed) with an IMA job model derived from the same tile model at the
   configuration's bits (:func:`job_model_for`): energy, latency, area, IMAs, devices.

The bits set the PWM and ADC timing (:func:`array_config`): with a 1 ns PWM LSB the
window is ``(2^(input_bits-1) - 1)`` ns unless the CCO-ADC needs more charge to resolve
``2^(adc_bits-1) - 1`` levels at its full-scale current, then the LSB is stretched.
The CCO's counts per coulomb come from the tile model's ADC surrogate.

Networks run on the network executor (:mod:`aimc.system.array.executor`) when it is
installed; otherwise the MLP runs on :class:`aimc.system.array.accuracy.AnalogNetwork`
and the CNNs are refused with a message.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERMES_DEVICES_PER_WEIGHT = 4      # FACTS.md: 2 positive + 2 negative PCM devices per weight
IMA_AREA_CELL_SHARE = 0.5          # assumption: half an IMA's area scales with cells,
#                                    half with lines (no published split); 0.83 mm² at 256


class StudyNetworkError(ValueError):
    """A network the study (its executor) cannot run."""


# ---- networks and data ---------------------------------------------------------------------
_CACHE: dict[str, Any] = {}


def network_model(name: str):
    """(ONNX ModelProto, x_cal, x_test, y_test) of a study network (cached per process)."""
    if name in _CACHE:
        return _CACHE[name]
    import onnx

    if name == "digits_mlp":
        from aimc.system.networks.digits_mlp import digits_mlp_onnx

        with tempfile.TemporaryDirectory() as tmp:
            path, data, _ = digits_mlp_onnx(Path(tmp) / "digits_mlp.onnx", 0)
            model = onnx.load(str(path))
    elif name in ("digits_cnn", "digits_mobilenet"):
        from aimc.system.networks.digits_cnn import digits_images, shipped_path

        data = digits_images()
        model = onnx.load(str(shipped_path(name)))
    else:
        raise StudyNetworkError(f"network {name!r} is not a study network")
    _CACHE[name] = (model, data.x_train[:256], data.x_test, data.y_test)
    return _CACHE[name]


# ---- pruning -------------------------------------------------------------------------------
def _weight_slots(model) -> list[tuple[Any, str, Any]]:
    """(initializer, how, node) of every crossbar weight: Gemm/MatMul B, Conv (group 1)."""
    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        at = {a.name: a for a in node.attribute}
        if node.op_type == "Gemm" and node.input[1] in inits:
            trans = bool(at["transB"].i) if "transB" in at else False
            out.append((inits[node.input[1]], "gemm_t" if trans else "gemm", node))
        elif node.op_type == "MatMul" and node.input[1] in inits:
            out.append((inits[node.input[1]], "gemm", node))
        elif node.op_type == "Conv" and node.input[1] in inits:
            if ("group" not in at or at["group"].i == 1):
                out.append((inits[node.input[1]], "conv", node))
    return out


def _to_xbar(w: np.ndarray, how: str) -> np.ndarray:
    if how == "gemm":
        return w
    if how == "gemm_t":
        return w.T
    return w.reshape(w.shape[0], -1).T          # conv: (cin*kh*kw, cout)


def _from_xbar(x: np.ndarray, how: str, shape) -> np.ndarray:
    if how == "gemm":
        return x
    if how == "gemm_t":
        return x.T
    return x.T.reshape(shape)


def prune_matrix(w: np.ndarray, fraction: float, structure: str, tile: int,
                 keep_cols: bool = False) -> np.ndarray:
    """Zero ``fraction`` of a crossbar matrix: the smallest |w| (unstructured), or the
    rows / columns / tile blocks of smallest L2 norm. At least one unit stays."""
    w = np.array(w, dtype=float)
    if fraction <= 0:
        return w
    if structure == "unstructured":
        k = min(int(round(fraction * w.size)), w.size - 1)
        if k > 0:
            idx = np.argsort(np.abs(w), axis=None, kind="stable")[:k]
            w.flat[idx] = 0.0
        return w
    if structure == "row" or (structure == "channel" and not keep_cols):
        axis = 1 if structure == "row" else 0
        norms = np.linalg.norm(w, axis=axis)
        k = min(int(round(fraction * norms.size)), norms.size - 1)
        drop = np.argsort(norms, kind="stable")[:k]
        if structure == "row":
            w[drop, :] = 0.0
        else:
            w[:, drop] = 0.0
        return w
    if structure == "channel":       # the classifier keeps its classes
        return w
    if structure == "tile":
        blocks = [(r, c) for r in range(0, w.shape[0], tile) for c in range(0, w.shape[1], tile)]
        norms = np.array([np.linalg.norm(w[r:r + tile, c:c + tile]) for r, c in blocks])
        k = min(int(round(fraction * len(blocks))), len(blocks) - 1)
        for i in np.argsort(norms, kind="stable")[:k]:
            r, c = blocks[i]
            w[r:r + tile, c:c + tile] = 0.0
        return w
    raise ValueError(f"prune_structure {structure!r}: use unstructured, row, channel or tile")


def prune_model(model, fraction: float, structure: str = "unstructured", tile: int = 256):
    """A copy of an ONNX model with its crossbar weights pruned (depth-wise stay dense;
    channel pruning leaves the last layer's outputs, the classes, alone)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    slots = _weight_slots(m)
    for i, (init, how, _node) in enumerate(slots):
        w = numpy_helper.to_array(init)
        x = prune_matrix(_to_xbar(w, how), fraction, structure, tile,
                         keep_cols=(i == len(slots) - 1))
        init.CopyFrom(numpy_helper.from_array(_from_xbar(x, how, w.shape).astype(w.dtype),
                                              init.name))
    onnx.checker.check_model(m)
    return m


def zero_fraction(model) -> float:
    from onnx import numpy_helper

    ws = [numpy_helper.to_array(i) for i, _, _ in _weight_slots(model)]
    n = sum(w.size for w in ws)
    return float(sum(int(np.sum(w == 0)) for w in ws) / n) if n else 0.0


# ---- array and cluster configuration --------------------------------------------------------
def _tile_model():
    if "tile" not in _CACHE:
        from aimc.system.array.layer import resolve_tile_model

        _CACHE["tile"] = resolve_tile_model(None)
    return _CACHE["tile"]


def counts_per_coulomb(tile_model, i_fs_a: float) -> float:
    """CCO-ADC counts per coulomb at the full-scale current (its fitted DC transfer)."""
    from aimc.system.array.layer import pick_adc_key

    adc = tile_model.adc
    key = pick_adc_key(adc, None)
    window = float(adc.window_[adc.keys_.index(key), 1])
    count = float(adc.count_dc(key, np.array([i_fs_a]), window, policy="ignore")[0])
    return count / (i_fs_a * window)


def array_config(c: dict[str, Any], tile_model=None):
    """The :class:`ArrayConfig` of a study configuration (timing from the bits)."""
    from aimc.system.array.layer import ArrayConfig

    tm = tile_model or _tile_model()
    i_fs = c["adc_fs_ua"] * 1e-6
    x_levels = 2 ** (c["input_bits"] - 1) - 1
    y_levels = 2 ** (c["adc_bits"] - 1) - 1
    t_needed = y_levels / (counts_per_coulomb(tm, i_fs) * i_fs)   # window for the levels
    t_lsb = max(1e-9, t_needed / x_levels)
    rram = c["device"] == "rram"
    return ArrayConfig(tile_rows=c["tile_size"], tile_cols=c["tile_size"],
                       weight_bits=c["weight_bits"], input_bits=c["input_bits"],
                       output_bits=c["adc_bits"], device="linear" if rram else "pcm",
                       statistics=c["device"], r_wire_row_ohm=c["r_wire_ohm"],
                       r_wire_col_ohm=c["r_wire_ohm"], i_fs_a=i_fs, t_lsb_s=t_lsb,
                       window_s=x_levels * t_lsb)


def job_model_for(c: dict[str, Any], acfg, tile_model=None):
    from aimc.system.cluster.tile_job import TileJobModel

    key = ("job", c["weight_bits"], c["input_bits"], c["adc_bits"], c["adc_fs_ua"],
           c["device"], c["r_wire_ohm"], c["tile_size"])
    if key not in _CACHE:
        _CACHE[key] = TileJobModel.from_tile_model(tile_model or _tile_model(), "default",
                                                   config=acfg, size=c["tile_size"])
    return _CACHE[key]


def cluster_config(c: dict[str, Any]):
    from dataclasses import replace

    from aimc.system.cluster.config import ClusterConfig

    base = ClusterConfig()
    s = c["tile_size"] / 256
    area = base.ima.area_mm2 * (IMA_AREA_CELL_SHARE * s * s + (1 - IMA_AREA_CELL_SHARE) * s)
    ima = replace(base.ima, size=c["tile_size"], map_fc=True, skip_zero=True, n_ima=0,
                  area_mm2=area)
    return replace(base, ima=ima, check_tcdm=False).validate()


def hardware_objectives(model, c: dict[str, Any], acfg) -> dict[str, float]:
    """Energy, latency, area, IMAs, tiles, devices and bits of the pruned network."""
    from aimc.system.cluster.model import evaluate
    from aimc.system.networks.onnx_import import from_model

    net = from_model(model)
    cfg = cluster_config(c)
    r = evaluate(net, cfg, job_model_for(c, acfg))
    cells = r.pack.used_cells if r.pack is not None else 0
    return {"energy_j": r.energy_j, "latency_s": r.latency_s, "area_mm2": r.area_mm2(),
            "n_ima": float(r.n_ima), "n_tiles": float(len(r.pack.tiles) if r.pack else 0),
            "devices": float(cells * HERMES_DEVICES_PER_WEIGHT),
            "bits_stored": float(cells * c["weight_bits"]),
            "tops_per_w": r.tops_per_w, "macs": float(r.macs),
            "e_ima_analog_j": r.energy_by_block().get("ima_analog", 0.0)}


# ---- accuracy ------------------------------------------------------------------------------
def _accuracy_runs(model, x_cal, x_test, y_test, acfg, c, seeds: int) -> dict[str, Any]:
    """float / quantised accuracy once, analog per seed, MVM σ (% of ADC full scale)."""
    from threadpoolctl import threadpool_limits

    def acc(logits) -> float:
        return float(np.mean(np.argmax(logits, axis=1) == y_test))

    out: dict[str, Any] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        from aimc.system.array.executor import NetworkExecutor
        from aimc.system.cluster.model import ClusterPlacement

        ex = NetworkExecutor(model, placement=ClusterPlacement(cluster_config(c)),
                             array=acfg, tile_model=_tile_model()).calibrate(x_cal)
        out["acc_float"] = acc(ex.run(x_test, "ideal").output)
        out["acc_quantised"] = acc(ex.run(x_test, "quantised").output)
        accs, sig_f, sig_q = [], [], []
        for s in range(seeds):
            r = ex.run(x_test, "analog", t_s=c["t_s"], seed=s)
            accs.append(acc(r.output))
            sig_f += [e.vs_float_pct_fs for e in r.mvm_error.values()]
            sig_q += [e.vs_quantised_pct_fs for e in r.mvm_error.values()]
    out["acc_seeds"] = np.array(accs)
    out["acc_mean"] = float(np.mean(accs))
    out["acc_std"] = float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0
    # RMS over layers and seeds
    out["mvm_sigma_pct"] = float(np.sqrt(np.mean(np.square(sig_f))))
    out["mvm_sigma_q_pct"] = float(np.sqrt(np.mean(np.square(sig_q))))
    return out


def dense_float_accuracy(name: str, n_test: int = 360) -> float:
    """Float accuracy of the unpruned network on the first ``n_test`` test images
    (onnx.reference.ReferenceEvaluator): the reference of the accuracy drop."""
    key = ("dense", name, n_test)
    if key not in _CACHE:
        from onnx.reference import ReferenceEvaluator

        model, _, x_test, y_test = network_model(name)
        ev = ReferenceEvaluator(model)
        x = np.asarray(x_test[:n_test], np.float32)
        y = ev.run(None, {model.graph.input[0].name: x})[0]
        _CACHE[key] = float(np.mean(np.argmax(y, axis=1) == y_test[:n_test]))
    return _CACHE[key]


def evaluate_config(c: dict[str, Any], networks, seeds: int, n_test: int) -> dict[str, Any]:
    """Every objective of one configuration; keys ``<network>.<objective>``."""
    import warnings

    t0 = time.perf_counter()
    c0 = os.times()
    out: dict[str, Any] = {}
    acfg = array_config(c)
    for name in networks:
        model, x_cal, x_test, y_test = network_model(name)
        pruned = prune_model(model, c["prune"], c["prune_structure"], c["tile_size"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # surrogate domain notes: in the report
            accs = _accuracy_runs(pruned, x_cal, x_test[:n_test], y_test[:n_test], acfg, c,
                                  seeds)
        hw = hardware_objectives(pruned, c, acfg)
        full = dense_float_accuracy(name, n_test)
        accs["acc_drop"] = full - accs["acc_mean"]
        accs["acc_float_dense"] = full
        accs["sparsity"] = zero_fraction(pruned)
        for k, v in {**accs, **hw}.items():
            out[f"{name}.{k}"] = v
    out["window_s"] = acfg.window_s
    out["t_lsb_s"] = acfg.t_lsb_s
    c1 = os.times()
    out["wall_s"] = time.perf_counter() - t0
    out["cpu_s"] = (c1.user - c0.user) + (c1.system - c0.system)
    return out
