"""Benchmark: whole networks on the analog path (network executor + fast array path).

- **digits CNN** (the shipped ``digits_cnn.onnx``), 360 test images: seconds of the
  ideal, quantised and analog paths (analog: fast path, PCM read 1 h after programming),
  wall and CPU (getrusage), medians of paired rounds; accuracy of each; the
  segment-exact analog path (``ArrayConfig(fast=False)``) on ``--exact-images`` images
  for the speed-up.
- **MobileNetV2** 224x224, width 1.0 (the built-in architecture of
  ``aimc.system.networks.mobilenetv2`` exported to ONNX here with seeded random He
  weights; depth-wise layers on the DW accelerator as the cluster maps them, every other
  weight layer on the IMA tiles): build + calibrate + program seconds, analog seconds per
  image, peak memory (max RSS), and the scaling of a batch spread over 1 and 2
  processes (forked after programming: every process holds the programmed tiles):
  (a) pools started before the clock, the batch one image at a time in each process;
  (b) the user's call ``ex.run(batch, workers=2)`` (fork inside the call) against
  ``ex.run(batch)``. ``--repeat`` paired rounds (1 and 2 processes back to back),
  medians; CPU time of every process; the load average beside the figure.

    .venv/bin/python benchmarks/bench_network.py [--repeat 3] [--mobilenet-images 8]
        [--skip-mobilenet] [--skip-digits] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time

import numpy as np


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _timed(fn) -> tuple[float, float, object]:
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, _cpu() - c0, out


def _rss_gib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 2 ** 20       # kB on Linux


# ---- MobileNetV2 as ONNX -------------------------------------------------------------
def mobilenetv2_onnx(width: float = 1.0, resolution: int = 224, seed: int = 0):
    """The built-in MobileNetV2 (:func:`aimc.system.networks.mobilenetv2.mobilenetv2`) as
    an ONNX ModelProto: Conv (+ Clip 0..6 after the stem, expansions, depth-wise and last
    conv; projections linear), Add for the residuals, GlobalAveragePool, Gemm. Weights
    He-normal from ``seed``, biases zero (BatchNorm folded: identity)."""
    import onnx
    from aimc.system.networks.graph import ADD, CONV, DWCONV, FC, POOL
    from aimc.system.networks.mobilenetv2 import mobilenetv2
    from onnx import TensorProto, helper, numpy_helper

    net = mobilenetv2(width, resolution)
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    six = numpy_helper.from_array(np.array(6.0, np.float32), "six")
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    inits += [six, zero]
    prev = "input"
    out_of: dict[str, str] = {}
    for lay in net.layers:
        ins = [out_of[i] for i in lay.inputs] if lay.inputs else [prev]
        name = lay.name
        if lay.kind in (CONV, DWCONV):
            g = lay.groups if lay.kind == DWCONV else 1
            cin_g = lay.cin // g
            fan_in = cin_g * lay.kh * lay.kw
            linear = name.endswith("_project")
            std = np.sqrt((1.0 if linear else 2.0) / fan_in)
            w = rng.normal(0, std, (lay.cout, cin_g, lay.kh, lay.kw)).astype(np.float32)
            inits += [numpy_helper.from_array(w, f"{name}_w"),
                      numpy_helper.from_array(np.zeros(lay.cout, np.float32), f"{name}_b")]
            pad = lay.kh // 2
            nodes.append(helper.make_node(
                "Conv", [ins[0], f"{name}_w", f"{name}_b"], [f"{name}_y"], name=name,
                kernel_shape=[lay.kh, lay.kw], strides=[lay.stride, lay.stride],
                pads=[pad] * 4, group=g))
            out = f"{name}_y"
            if not linear:
                nodes.append(helper.make_node("Clip", [out, "zero", "six"], [f"{name}_r"],
                                              name=f"{name}_relu6"))
                out = f"{name}_r"
        elif lay.kind == ADD:
            out = f"{name}_y"
            nodes.append(helper.make_node("Add", ins[:2], [out], name=name))
        elif lay.kind == POOL:
            nodes.append(helper.make_node("GlobalAveragePool", ins, [f"{name}_p"], name=name))
            nodes.append(helper.make_node("Flatten", [f"{name}_p"], [f"{name}_y"],
                                          name=f"{name}_flat", axis=1))
            out = f"{name}_y"
        elif lay.kind == FC:
            w = rng.normal(0, np.sqrt(1.0 / lay.cin), (lay.cout, lay.cin)).astype(np.float32)
            inits += [numpy_helper.from_array(w, f"{name}_w"),
                      numpy_helper.from_array(np.zeros(lay.cout, np.float32), f"{name}_b")]
            out = "logits"
            nodes.append(helper.make_node("Gemm", [ins[0], f"{name}_w", f"{name}_b"], [out],
                                          name=name, transB=1))
        else:
            raise ValueError(f"layer kind {lay.kind!r} is not exported")
        out_of[name] = out
        prev = out
    graph = helper.make_graph(
        nodes, net.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       [None, 3, resolution, resolution])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, net.layers[-1].cout])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


# ---- benchmarks ----------------------------------------------------------------------
def bench_digits(repeat: int, exact_images: int) -> dict[str, float]:
    from aimc.system.array.executor import NetworkExecutor
    from aimc.system.array.layer import ArrayConfig
    from aimc.system.networks.digits_cnn import digits_cnn_path, digits_images

    d = digits_images(0)
    out: dict[str, float] = {"digits_test_images": len(d.x_test)}
    t_build, c_build, ex = _timed(lambda: NetworkExecutor(
        digits_cnn_path(), array=ArrayConfig()).calibrate(d.x_train[:256]))
    out["digits_build_calibrate_s"] = t_build
    out["digits_tiles"] = ex.n_tiles
    ex.program(3600.0, 0)
    rounds: dict[str, list[tuple[float, float]]] = {p: [] for p in ("ideal", "quantised",
                                                                     "analog")}
    acc = {}
    for _ in range(repeat):
        for p in rounds:
            t, c, r = _timed(lambda p=p: ex.run(d.x_test, p, t_s=3600.0 if p == "analog"
                                                else None))
            rounds[p].append((t, c))
            acc[p] = float(np.mean(np.argmax(r.output, axis=1) == d.y_test))
    for p, v in rounds.items():
        out[f"digits_{p}_s"] = statistics.median(x[0] for x in v)
        out[f"digits_{p}_cpu_s"] = statistics.median(x[1] for x in v)
        out[f"digits_{p}_accuracy"] = acc[p]
    if exact_images:
        exe = NetworkExecutor(digits_cnn_path(), array=ArrayConfig(fast=False)).calibrate(
            d.x_train[:256])
        exe.program(3600.0, 0)
        xs = d.x_test[:exact_images]
        t, c, _ = _timed(lambda: exe.run(xs, "analog", t_s=3600.0))
        tf, cf, _ = _timed(lambda: ex.run(xs, "analog", t_s=3600.0))
        out["digits_exact_images"] = exact_images
        out["digits_exact_s"] = t
        out["digits_exact_over_fast"] = t / tf
    return out


def _run_images(args) -> tuple[float, float]:
    """Worker of a pre-started pool: images lo..hi one at a time (as the bench's
    one-image figure), wall and CPU seconds of this process."""
    ex, x = _SHARED["ex"], _SHARED["x"]
    lo, hi = args
    t0, c0 = time.perf_counter(), _cpu()
    for i in range(lo, hi):
        ex.run(x[i:i + 1], "analog", t_s=3600.0)
    return time.perf_counter() - t0, _cpu() - c0


def _ready(_) -> int:
    return os.getpid()


def _paired_summary(rows: list[dict[str, float]], n: int, k_t1: str, k_tp: str,
                    k_scaling: str, k_c1: str, k_cp: str, k_load: str) -> dict[str, object]:
    """Medians of paired rounds (1 process vs several): seconds, the per-round ratio and
    its median, CPU seconds per image (flat when the work splits without overhead), load."""
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return {k_t1: med["t1"], k_tp: med["tp"],
            k_scaling: statistics.median(r["t1"] / r["tp"] for r in rows),
            f"{k_scaling}_rounds": ", ".join(f"{r['t1'] / r['tp']:.2f}" for r in rows),
            k_c1: med["c1"] / n, k_cp: med["cp"] / n, k_load: med["load"]}


_SHARED: dict[str, object] = {}


def bench_mobilenet(n_images: int, procs: int, rounds: int) -> dict[str, float]:
    from aimc.system.array.executor import ExecutorConfig, NetworkExecutor
    from aimc.system.array.layer import ArrayConfig
    from aimc.system.cluster.config import ClusterConfig
    from aimc.system.cluster.model import ClusterPlacement

    out: dict[str, float] = {}
    rng = np.random.default_rng(1)
    x_cal = rng.uniform(0, 1, (2, 3, 224, 224)).astype(np.float32)
    n = max(n_images, procs)
    x = rng.uniform(0, 1, (n, 3, 224, 224)).astype(np.float32)
    model = mobilenetv2_onnx()
    t0, c0 = time.perf_counter(), _cpu()
    ex = NetworkExecutor(model, placement=ClusterPlacement(ClusterConfig()),
                         array=ArrayConfig(), config=ExecutorConfig(batch=1))
    ex.calibrate(x_cal)
    ex.program(3600.0, 0)     # compiles every tile and fits the calibration (prepare)
    out["mobilenet_build_calibrate_program_s"] = time.perf_counter() - t0
    out["mobilenet_build_calibrate_program_cpu_s"] = _cpu() - c0
    out["mobilenet_tiles"] = ex.n_tiles
    out["mobilenet_ima_layers"] = len(ex.analog_layers)
    # one image at a time in this process: seconds per image (median of `rounds`) and the
    # per-layer MVM errors
    one = []
    for i in range(rounds):
        t, c, r = _timed(lambda i=i: ex.run(x[i % n:i % n + 1], "analog", t_s=3600.0))
        one.append((t, c))
    out["mobilenet_analog_s_per_image"] = statistics.median(v[0] for v in one)
    out["mobilenet_analog_cpu_s_per_image"] = statistics.median(v[1] for v in one)
    errs = [e.vs_quantised_pct_fs for e in r.mvm_error.values()]
    out["mobilenet_mvm_err_median_pct_fs"] = float(np.median(errs))
    out["mobilenet_mvm_err_max_pct_fs"] = float(np.max(errs))
    out["mobilenet_peak_rss_gib"] = _rss_gib()
    # (a) a batch over 1 and over `procs` processes of pools forked after programming and
    # started before the clock: the compute's scaling. Paired rounds, medians.
    _SHARED.update(ex=ex, x=x)
    ctx = mp.get_context("fork")
    splits = [(k * n // procs, (k + 1) * n // procs) for k in range(procs)]
    rows: list[dict[str, float]] = []
    with ctx.Pool(1) as pool1, ctx.Pool(procs) as poolp:
        pool1.map(_ready, [0])
        poolp.map(_ready, range(procs), chunksize=1)
        for _ in range(rounds):
            l0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            (_, c1), = pool1.map(_run_images, [(0, n)])
            t1 = time.perf_counter() - t0
            t0 = time.perf_counter()
            per = poolp.map(_run_images, splits, chunksize=1)
            tp = time.perf_counter() - t0
            rows.append({"t1": t1, "tp": tp, "c1": c1, "cp": sum(c for _, c in per),
                         "cp_max": max(c for _, c in per),
                         "load": (l0 + os.getloadavg()[0]) / 2})
    out["mobilenet_batch_images"] = n
    out["mobilenet_rounds"] = rounds
    out.update(_paired_summary(rows, n, "mobilenet_batch_1proc_s", f"mobilenet_batch_{procs}proc_s",
                               "mobilenet_process_scaling",
                               "mobilenet_batch_1proc_cpu_s_per_image",
                               f"mobilenet_batch_{procs}proc_cpu_s_per_image",
                               "load_average_1min"))
    # the scaling the CPU times allow on free cores: 1-process CPU / busiest worker's CPU
    out["mobilenet_process_scaling_cpu"] = statistics.median(r["c1"] / r["cp_max"]
                                                             for r in rows)
    # (b) the user's call: ex.run(batch, workers=procs) forks inside the call (fork,
    # result transfer and all), against ex.run(batch) in this process
    rows = []
    for _ in range(rounds):
        l0 = os.getloadavg()[0]
        t1, c1, _ = _timed(lambda: ex.run(x, "analog", t_s=3600.0))
        ch0 = _cpu(resource.RUSAGE_CHILDREN)
        tp, cp, _ = _timed(lambda: ex.run(x, "analog", t_s=3600.0, workers=procs))
        cp += _cpu(resource.RUSAGE_CHILDREN) - ch0
        rows.append({"t1": t1, "tp": tp, "c1": c1, "cp": cp,
                     "load": (l0 + os.getloadavg()[0]) / 2})
    out.update(_paired_summary(rows, n, "mobilenet_run_workers1_s",
                               f"mobilenet_run_workers{procs}_s",
                               "mobilenet_run_workers_scaling",
                               "mobilenet_run_workers1_cpu_s_per_image",
                               f"mobilenet_run_workers{procs}_cpu_s_per_image",
                               "load_average_1min_run_workers"))
    out["mobilenet_children_peak_rss_gib"] = _rss_gib(resource.RUSAGE_CHILDREN)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--exact-images", type=int, default=4,
                    help="digits images through the segment-exact path (0: skip)")
    ap.add_argument("--mobilenet-images", type=int, default=8)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--skip-mobilenet", action="store_true")
    ap.add_argument("--skip-digits", action="store_true")
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    out: dict[str, float] = {}
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        if not args.skip_digits:
            out.update(bench_digits(args.repeat, args.exact_images))
        if not args.skip_mobilenet:
            out.update(bench_mobilenet(args.mobilenet_images, args.procs, args.repeat))
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    for k, v in out.items():
        print(f"  {k:40s} {v:.4g}" if isinstance(v, float) else f"  {k:40s} {v}")
    if "mobilenet_process_scaling" in out:
        p, n = args.procs, out["mobilenet_batch_images"]
        print(f"\nMobileNetV2 scaling, {n} images, median of {out['mobilenet_rounds']} "
              f"paired rounds (load average {out['load_average_1min']:.1f} on "
              f"{os.cpu_count()} CPUs):\n"
              f"  pre-started pools: 1 process {out['mobilenet_batch_1proc_s']:.2f} s, "
              f"{p} processes {out[f'mobilenet_batch_{p}proc_s']:.2f} s -> "
              f"{out['mobilenet_process_scaling']:.2f}x (rounds "
              f"{out['mobilenet_process_scaling_rounds']}; target >= 1.8x); CPU per image "
              f"{out['mobilenet_batch_1proc_cpu_s_per_image']:.3f} vs "
              f"{out[f'mobilenet_batch_{p}proc_cpu_s_per_image']:.3f} s\n"
              f"  run(workers={p}) incl. fork: {out['mobilenet_run_workers1_s']:.2f} s -> "
              f"{out[f'mobilenet_run_workers{p}_s']:.2f} s = "
              f"{out['mobilenet_run_workers_scaling']:.2f}x (rounds "
              f"{out['mobilenet_run_workers_scaling_rounds']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
