"""Accuracy of an ONNX network on the analog array: ideal, quantised and analog paths.

Built on :class:`aimc.system.array.executor.NetworkExecutor` (any supported graph: MLPs,
CNNs with depth-wise layers and residuals). The executor is calibrated on a calibration
set (``x_cal``: training data, never the test set); then

* :func:`evaluate_accuracy` gives one report: the ideal and quantised paths, the analog
  path with ideal devices (the circuit alone) and with PCM statistics at one time;
* :func:`accuracy_over_time` gives the analog accuracy at several times after
  programming over several device seeds (mean ± std), beside the deterministic ideal and
  quantised paths.

Classification accuracy is the arg-max of the first graph output against the labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aimc.system.array.executor import NetworkExecutor, RunResult
from aimc.system.array.layer import ArrayConfig


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
        return asdict(self)


def classification_accuracy(out: np.ndarray, y: np.ndarray) -> float:
    out = out.reshape(len(out), -1)
    return float(np.mean(np.argmax(out, axis=1) == np.asarray(y).ravel()))


def _path_result(r: RunResult, y: np.ndarray) -> PathResult:
    return PathResult(classification_accuracy(r.output, y),
                      {k: e.vs_float_pct_fs for k, e in r.mvm_error.items()},
                      {k: e.vs_quantised_pct_fs for k, e in r.mvm_error.items()}, r.seconds)


def build_executor(network: str | Path | Any, x_cal: np.ndarray, config: ArrayConfig | None = None,
                   tile_model: Any = None, placement: Any = None) -> NetworkExecutor:
    """An executor of ``network`` (ONNX file, ModelProto or executor) calibrated on x_cal."""
    if isinstance(network, NetworkExecutor):
        ex = network
    else:
        ex = NetworkExecutor(network, placement=placement, array=config, tile_model=tile_model)
    return ex.calibrate(x_cal) if not ex.calibrated else ex


def evaluate_accuracy(onnx_path: str | Path | Any, x_cal: np.ndarray, x_test: np.ndarray,
                      y_test: np.ndarray, config: ArrayConfig | None = None,
                      tile_model: Any = None, t_inference_s: float | None = 3600.0,
                      seed: int = 0, tile_name: str = "",
                      blas_threads: int | None = 1, placement: Any = None) -> AccuracyReport:
    """Accuracy of the four paths on (x_test, y_test).

    ``blas_threads``: BLAS threads during the run (default 1: the matmuls here are small,
    and a multi-threaded OpenBLAS on a shared 2-core machine ran them 8x slower);
    None leaves the library default."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        ex = build_executor(onnx_path, x_cal, config, tile_model, placement)
        res = {"ideal": _path_result(ex.run(x_test, "ideal"), y_test),
               "quantised": _path_result(ex.run(x_test, "quantised"), y_test),
               "analog_ideal_devices": _path_result(
                   ex.run(x_test, "analog", t_s=None, seed=seed), y_test),
               "analog": _path_result(ex.run(x_test, "analog", t_s=t_inference_s, seed=seed),
                                      y_test)}
    return AccuracyReport(ex.name, int(len(y_test)), t_inference_s, res["ideal"],
                          res["quantised"], res["analog_ideal_devices"], res["analog"],
                          tile_name, ex.notes(), asdict(ex.array))


@dataclass
class TimeStudy:
    """Accuracy per path; the analog path per time after programming over device seeds."""

    network: str
    n_test: int
    times_s: list[float]
    device_seeds: list[int]
    ideal: float
    quantised: float
    #: analog accuracy per time: one value per device seed
    analog: dict[float, list[float]]
    #: MVM error σ (% of the ADC full scale) per layer against the exact quantised product:
    #: the quantised path, and the analog path (mean over seeds) per time
    mvm_err_quantised: dict[str, float]
    mvm_err_analog: dict[float, dict[str, float]]
    seconds: dict[str, float]
    targets: dict[str, str]
    n_tiles: int
    notes: list[str]

    def analog_mean_std(self, t_s: float) -> tuple[float, float]:
        v = np.asarray(self.analog[t_s])
        return float(v.mean()), float(v.std(ddof=1) if v.size > 1 else 0.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["analog"] = {time_key(t): {"values": v, "mean": self.analog_mean_std(t)[0],
                                  "std": self.analog_mean_std(t)[1]}
                       for t, v in self.analog.items()}
        d["mvm_err_analog"] = {time_key(t): v for t, v in self.mvm_err_analog.items()}
        return d


def accuracy_over_time(ex: NetworkExecutor, x_test: np.ndarray, y_test: np.ndarray,
                       times_s: list[float], device_seeds: list[int],
                       progress: bool = False, workers: int = 1) -> TimeStudy:
    """Ideal and quantised accuracy once; analog accuracy at every time over every seed.
    ``ex`` must be calibrated; ``workers`` > 1 spreads each analog run's test set over
    that many forked processes (:meth:`NetworkExecutor.run`)."""
    if not times_s or not device_seeds:
        raise ValueError("give at least one time after programming and one device seed")
    if any(not np.isfinite(t) or t < 0 for t in times_s):
        raise ValueError(f"times after programming must be >= 0 s, got {times_s}")
    r_id = ex.run(x_test, "ideal")
    r_q = ex.run(x_test, "quantised")
    analog: dict[float, list[float]] = {}
    errs: dict[float, dict[str, list[float]]] = {}
    secs = {"ideal": r_id.seconds, "quantised": r_q.seconds, "analog": 0.0}
    jobs = [(t, s) for t in times_s for s in device_seeds]
    it = jobs
    if progress:
        from tqdm import tqdm

        it = tqdm(jobs, desc=f"{ex.name} analog", unit="run", leave=False)
    for t, s in it:
        r = ex.run(x_test, "analog", t_s=t, seed=s, workers=workers)
        secs["analog"] += r.seconds
        analog.setdefault(t, []).append(classification_accuracy(r.output, y_test))
        for k, e in r.mvm_error.items():
            errs.setdefault(t, {}).setdefault(k, []).append(e.vs_quantised_pct_fs)
    return TimeStudy(ex.name, int(len(y_test)), list(times_s), list(device_seeds),
                     classification_accuracy(r_id.output, y_test),
                     classification_accuracy(r_q.output, y_test), analog,
                     {k: e.vs_quantised_pct_fs for k, e in r_q.mvm_error.items()},
                     {t: {k: float(np.mean(v)) for k, v in d.items()} for t, d in errs.items()},
                     secs, ex.targets(), ex.n_tiles, ex.notes())


def time_key(t_s: float) -> str:
    """JSON key of a time after programming: whole seconds as an integer ('3600')."""
    return str(int(t_s)) if float(t_s).is_integer() else repr(float(t_s))


def time_label(t_s: float) -> str:
    for unit, s in (("year", 365 * 86400.0), ("day", 86400.0), ("h", 3600.0), ("s", 1.0)):
        if t_s >= s:
            v = t_s / s
            return f"{v:g} {unit}" if unit != "year" or v == 1 else f"{v:g} years"
    return f"{t_s:g} s"


def study_table(st: TimeStudy) -> str:
    lines = [f"network {st.network}: {st.n_test} test inputs, {st.n_tiles} tiles; "
             f"{len(st.device_seeds)} device seed(s)",
             f"{'path':36s} {'accuracy (mean ± std)':>24s}",
             f"{'ideal (float)':36s} {st.ideal * 100:17.2f} %",
             f"{'quantised (8b in, 4b w, ideal ADC)':36s} {st.quantised * 100:17.2f} %"]
    for t in st.times_s:
        m, s = st.analog_mean_std(t)
        lines.append(f"{'analog, ' + time_label(t) + ' after programming':36s} "
                     f"{m * 100:9.2f} ± {s * 100:4.2f} %")
    lines.append("MVM error σ vs the exact quantised product, % of ADC full scale: "
                 + ", ".join(f"{k} {v:.2f}" for k, v in st.mvm_err_quantised.items())
                 + " (quantised)")
    for t, d in st.mvm_err_analog.items():
        lines.append(f"  analog at {time_label(t)}: "
                     + ", ".join(f"{k} {v:.2f}" for k, v in d.items()))
    digital = sorted(k for k, v in st.targets.items() if v != "ima")
    if digital:
        lines.append("digital 8-bit layers (not on tiles): " + ", ".join(digital))
    for n in st.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)


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
