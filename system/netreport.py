"""One report of a network: accuracy (ideal / quantised / analog) with latency, energy,
IMAs and area from the same tile model and the same layer -> target mapping.

* ``aimc accuracy NETWORK`` — accuracy at several times after programming over several
  device seeds (mean ± std per path); NETWORK is ``digits-mlp`` (trained here, seeded by
  ``--net-seed``), ``digits-cnn`` / ``digits-mobilenet`` (shipped ONNX files) or any
  ``FILE.onnx`` with ``--data FILE.npz`` (arrays ``x_cal``, ``x_test``, ``y_test``).
* ``aimc eval NETWORK --tile T.h5 --data DATA`` — the cluster evaluation of
  :mod:`aimc.system.cli` plus the accuracy of the same mapping (:func:`network_report`).

The executor (:class:`aimc.system.array.executor.NetworkExecutor`) takes the cluster's
mapping through :class:`aimc.system.cluster.model.ClusterPlacement`: layers the cluster
puts on the IMA run on the analog tiles, depth-wise layers on the DW accelerator and
layers on the cores run digitally at 8 bit. ``aimc accuracy`` maps fully connected
layers on the IMA too (``ima.map_fc = true``: an MLP would otherwise have no analog
layer); ``aimc eval`` keeps the configuration's setting.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: default times after programming (1 h, 1 day, 1 year) and device seeds (issue 9)
DEFAULT_TIMES = "1h,1d,1y"
DEFAULT_DEVICE_SEEDS = 10
DIGITS = ("digits-mlp", "digits-cnn", "digits-mobilenet")
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "day": 86400.0,
          "w": 7 * 86400.0, "y": 365 * 86400.0, "year": 365 * 86400.0}


def parse_times(text: str) -> list[float]:
    """'1h,1d,1y' or seconds '3600,86400' -> seconds."""
    out = []
    for part in text.split(","):
        p = part.strip().lower()
        num = p.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = p[len(num):] or "s"
        try:
            v = float(num) * _UNITS[unit]
        except (ValueError, KeyError):
            raise ValueError(f"--times {text!r}: {part!r} is not a time (give seconds or "
                             "a number with s, min, h, d, w or y, e.g. 1h,1d,1y)") from None
        if not v >= 0 or v == float("inf"):
            raise ValueError(f"--times {text!r}: times after programming must be >= 0")
        out.append(v)
    return out


def parse_seeds(text: str, first: int = 0) -> list[int]:
    """'10' -> ten seeds from ``first``; '3,5,8' -> those seeds."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",")]
        else:
            n = int(text)
            if n < 1:
                raise ValueError
            seeds = list(range(first, first + n))
    except ValueError:
        raise ValueError(f"--device-seeds {text!r}: give a count >= 1 or a list like "
                         "0,1,2") from None
    return seeds


@dataclass
class NetworkData:
    model: Any                # ONNX path or ModelProto
    label: str
    x_cal: Any
    x_test: Any
    y_test: Any
    software_accuracy: float | None = None   # the training framework's own figure


def load_npz(path: str) -> tuple[Any, Any, Any]:
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data file {path!r} does not exist")
    try:
        z = np.load(p)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path}: not a NumPy .npz file ({exc})") from None
    with z:
        missing = [k for k in ("x_cal", "x_test", "y_test") if k not in z]
        if missing:
            raise ValueError(f"{path}: lacks array(s) {', '.join(missing)} (need x_cal: "
                             "calibration inputs, x_test: test inputs, y_test: labels)")
        return z["x_cal"], z["x_test"], z["y_test"]


def resolve(network: str, data: str | None, net_seed: int, workdir: Path,
            onnx_out: str | None = None) -> NetworkData:
    """The network and its data for a command-line NETWORK and --data."""
    from aimc.system.networks.digits_cnn import digits_images, shipped_path, training_report
    from aimc.system.networks.digits_mlp import digits_data, digits_mlp_onnx

    sw = None
    if network == "digits-mlp":
        out = Path(onnx_out) if onnx_out else workdir / "digits_mlp.onnx"
        model, d, sw = digits_mlp_onnx(out, net_seed)
        cal, x, y = d.x_train[:256], d.x_test, d.y_test
    elif network in ("digits-cnn", "digits-mobilenet"):
        model = shipped_path(network)
        d = digits_images(net_seed)
        cal, x, y = d.x_train[:256], d.x_test, d.y_test
        acc = training_report(model).get("test_accuracy")
        sw = float(acc) if acc and net_seed == 0 else None
    elif network.lower().endswith(".onnx"):
        model = Path(network)
        if not model.is_file():
            raise FileNotFoundError(f"ONNX file {network!r} does not exist")
        if not data:
            raise ValueError(f"{network}: give --data FILE.npz (arrays x_cal, x_test, "
                             "y_test) or --data digits / digits-images (scikit-learn "
                             "digits as (N, 64) or (N, 1, 8, 8))")
        cal = x = y = None
    else:
        raise ValueError(f"unknown network {network!r}: give {', '.join(DIGITS)} or "
                         "FILE.onnx")
    if data:
        if data in ("digits", "digits-images"):
            d = digits_data(net_seed) if data == "digits" else digits_images(net_seed)
            cal, x, y = d.x_train[:256], d.x_test, d.y_test
        else:
            cal, x, y = load_npz(data)
            sw = None   # the training figure is for the shipped split, not this data
    label = Path(model).stem if isinstance(model, str | Path) else network
    return NetworkData(model, label, cal, x, y, sw)


def accuracy_config(arch: str | None, map_fc: bool = True):
    import dataclasses

    from aimc.system.cluster.config import ClusterConfig

    cfg = ClusterConfig.load(arch) if arch else ClusterConfig()
    if map_fc:
        cfg = dataclasses.replace(cfg, ima=dataclasses.replace(cfg.ima, map_fc=True))
    cfg.validate()
    return cfg


def mapping_text(cfg: Any, targets: dict[str, str]) -> str:
    """One line naming the layer -> target mapping a command used: the cluster mapping,
    where fully connected layers go, and the number of layers per target."""
    from collections import Counter

    per = ", ".join(f"{n} on {t}" for t, n in sorted(Counter(targets.values()).items()))
    fc = "on the IMA (ima.map_fc = true)" if cfg.ima.map_fc else \
        "on the cores (ima.map_fc = false)"
    return f"mapping {cfg.mapping}, FC layers {fc}: weight layers {per}"


def make_executor(nd: NetworkData, cfg: Any, tile_model: Any):
    from aimc.system.array.executor import NetworkExecutor
    from aimc.system.cluster.model import ClusterPlacement

    ex = NetworkExecutor(nd.model, placement=ClusterPlacement(cfg), tile_model=tile_model,
                         name=nd.label)
    return ex


# ---- aimc accuracy ----------------------------------------------------------------------------
def register(sub: Any) -> None:
    p = sub.add_parser(
        "accuracy", help="accuracy of a network on the analog tiles (ideal / quantised / "
        "analog over time and device seeds)",
        description="Run a network's test set through the float path, the quantised path "
        "and the analog tiles (crossbar + CCO-ADC surrogates, PCM statistics) at several "
        "times after programming over several device seeds; mean ± std per path.")
    p.add_argument("network", help="digits-mlp, digits-cnn, digits-mobilenet or FILE.onnx")
    p.add_argument("--tile", metavar="TILE.h5", help="tile model (default: the shipped one)")
    p.add_argument("--data", metavar="FILE.npz",
                   help="x_cal, x_test, y_test arrays; or 'digits' ((N, 64) images) / "
                        "'digits-images' ((N, 1, 8, 8))")
    p.add_argument("--times", default=DEFAULT_TIMES,
                   help=f"times after programming (default {DEFAULT_TIMES}; seconds or "
                        "s/min/h/d/w/y)")
    p.add_argument("--t-inference-s", type=float,
                   help="one time after programming in seconds (replaces --times)")
    p.add_argument("--device-seeds", default=str(DEFAULT_DEVICE_SEEDS),
                   help=f"device seeds: a count from --seed (default {DEFAULT_DEVICE_SEEDS})"
                        " or a list 0,1,2")
    p.add_argument("--seed", type=int, default=0,
                   help="first device seed (programming noise, drift, read noise); the "
                        "network stays the same")
    p.add_argument("--net-seed", type=int, default=0,
                   help="network seed: digits split and digits-mlp training (default 0)")
    p.add_argument("--arch", metavar="CONFIG.toml",
                   help="cluster configuration whose mapping is used (default: seed 001 "
                        "with FC layers on the IMA)")
    p.add_argument("--onnx-out", metavar="FILE.onnx",
                   help="digits-mlp: where to write the ONNX file (default: a temp dir)")
    p.add_argument("--plots", metavar="DIR", help="plot accuracy vs time into DIR")
    p.add_argument("--workers", type=int, default=1,
                   help="processes the test set of each analog run is spread over "
                        "(forked after programming; default 1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_accuracy)


def _check_tile(tile: str | None):
    from aimc.system.array.layer import resolve_tile_model

    return resolve_tile_model(tile)


def run_accuracy(args: argparse.Namespace) -> int:
    import tempfile

    from aimc.system.array.accuracy import accuracy_over_time, study_table
    from threadpoolctl import threadpool_limits

    times = ([args.t_inference_s] if args.t_inference_s is not None
             else parse_times(args.times))
    if args.t_inference_s is not None and args.t_inference_s < 0:
        raise ValueError(f"--t-inference-s must be >= 0, got {args.t_inference_s}")
    seeds = parse_seeds(args.device_seeds, args.seed)
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    tile = _check_tile(args.tile)
    cfg = accuracy_config(args.arch)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1, "blas"):
        nd = resolve(args.network, args.data, args.net_seed, Path(tmp), args.onnx_out)
        ex = make_executor(nd, cfg, tile).calibrate(nd.x_cal)
        st = accuracy_over_time(ex, nd.x_test, nd.y_test, times, seeds,
                                progress=not args.json, workers=args.workers)
        r_circ = ex.run(nd.x_test, "analog", t_s=None, seed=seeds[0])
    from aimc.system.array.accuracy import classification_accuracy

    circ = {"accuracy": classification_accuracy(r_circ.output, nd.y_test),
            "mvm_err_vs_quantised_pct_fs": {k: e.vs_quantised_pct_fs
                                            for k, e in r_circ.mvm_error.items()}}
    plots = []
    if args.plots:
        from aimc.system.report import plot_accuracy_vs_time

        plots = [str(plot_accuracy_vs_time(st, args.plots))]
    if args.json:
        d = st.to_dict()
        d["software_accuracy"] = nd.software_accuracy
        d["analog_ideal_devices"] = circ
        d["tile_model"] = args.tile or "default"
        d["mapping"] = {"mapping": cfg.mapping, "map_fc": cfg.ima.map_fc,
                        "text": mapping_text(cfg, st.targets)}
        d["plots"] = plots
        print(json.dumps(d, indent=1, default=float))
    else:
        print(study_table(st))
        print(mapping_text(cfg, st.targets) + " (aimc accuracy puts FC layers on the IMA; "
              "aimc eval keeps the configuration's setting)")
        print(f"analog with ideal devices (circuit only): {circ['accuracy'] * 100:.2f} %")
        if nd.software_accuracy is not None:
            print(f"software (training framework, float32): {nd.software_accuracy * 100:.2f} %")
        for p in plots:
            print(f"plot: {p}")
    return 0


# ---- the one report (aimc eval --data) ---------------------------------------------------------
def network_report(nd: NetworkData, cfg: Any, tile_path: str | None, job_model: Any = None,
                   times_s: list[float] | None = None, device_seeds: list[int] | None = None,
                   progress: bool = False) -> dict[str, Any]:
    """Accuracy per path and the cluster figures of one mapping, as one dict:
    ``accuracy`` (ideal, quantised, analog per time: mean/std over seeds), ``latency_s``,
    ``energy_j``, ``n_ima``, ``area_mm2``, ``tiles`` (the executor's = the cluster's),
    ``layers`` (per layer: target, tiles, latency, energy, MVM error)."""
    from aimc.system.array.accuracy import accuracy_over_time, time_key
    from aimc.system.cluster.model import evaluate
    from threadpoolctl import threadpool_limits

    times_s = times_s or [3600.0]
    device_seeds = device_seeds or [0]
    tile_model = _check_tile(tile_path)
    ex = make_executor(nd, cfg, tile_model)
    res = evaluate(ex.net, cfg, job_model=job_model)   # DoesNotFitError before any work
    cluster_tiles = {r.name: r.tiles for r in res.layers if r.tiles}
    if cluster_tiles != ex.tiles:   # one mapping: the executor splits as TILE&PACK does
        raise RuntimeError(f"executor tiles {ex.tiles} differ from the cluster's "
                           f"{cluster_tiles}")
    with threadpool_limits(1, "blas"):
        ex.calibrate(nd.x_cal)
        st = accuracy_over_time(ex, nd.x_test, nd.y_test, times_s, device_seeds, progress)
    d = res.to_dict()
    acc = {"ideal": st.ideal, "quantised": st.quantised,
           "analog": {time_key(t): {"mean": st.analog_mean_std(t)[0],
                                 "std": st.analog_mean_std(t)[1], "values": st.analog[t]}
                      for t in times_s},
           "times_s": times_s, "device_seeds": device_seeds, "n_test": st.n_test,
           "software": nd.software_accuracy}
    errs = st.mvm_err_analog.get(times_s[0], {})
    for lay in d["layers"]:
        if lay["name"] in errs:
            lay["mvm_err_analog_pct_fs"] = errs[lay["name"]]
            lay["mvm_err_quantised_pct_fs"] = st.mvm_err_quantised.get(lay["name"])
    out = {"network": nd.label, "accuracy": acc, **{k: v for k, v in d.items()
                                                   if k != "network"}}
    out["tiles"] = sum(ex.tiles.values())
    out["map_fc"] = bool(cfg.ima.map_fc)
    out["mapping_text"] = mapping_text(cfg, st.targets)
    out["notes"] = st.notes
    out["_study"] = st
    out["_result"] = res
    return out


def report_text(rep: dict[str, Any]) -> str:
    from aimc.system.array.accuracy import time_key, time_label

    a = rep["accuracy"]
    lines = [f"accuracy of {rep['network']} ({a['n_test']} test inputs, "
             f"{len(a['device_seeds'])} device seed(s), mapping {rep['mapping']}):",
             f"  {rep.get('mapping_text', '')} (the configuration's setting; aimc "
             "accuracy puts FC layers on the IMA)",
             f"  ideal (float)                      {a['ideal'] * 100:7.2f} %",
             f"  quantised (8b in, 4b w, ideal ADC) {a['quantised'] * 100:7.2f} %"]
    for t in a["times_s"]:
        v = a["analog"][time_key(t)]
        lines.append(f"  analog, {time_label(t) + ' after programming':26s} "
                     f"{v['mean'] * 100:7.2f} ± {v['std'] * 100:.2f} %")
    if a.get("software") is not None:
        lines.append(f"  software (training framework)      {a['software'] * 100:7.2f} %")
    lines.append(f"latency {rep['latency_s'] * 1e3:.3f} ms, energy {rep['energy_j'] * 1e6:.2f} "
                 f"uJ, {rep.get('n_ima', 0)} IMA(s) ({rep['tiles']} tiles), area "
                 f"{rep['area_mm2']:.2f} mm2 per inference")
    return "\n".join(lines)
