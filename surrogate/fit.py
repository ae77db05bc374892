"""From HDF5 sweep files to a fitted, validated tile model (and back to error figures).

``fit_tile(paths)`` finds every circuit in the sweep files (by their ``generator``:
``crossbar_op``, ``dac_line``, ``cco_adc``), fits one surrogate per circuit and
validates it on a deterministic hold-out (every 5th point, fitted on the rest) before
refitting on all points. ``validate_tile(model, paths)`` computes the error
statistics of a fitted model on held-out SPICE data.

Error unit: LSB of an 8-bit signed ADC (codes -127..127) whose full scale is the
largest |value| of the held-out set -- per array size (rows x cols) for the
crossbar, over the whole set for the DAC (charge) and the ADC (count).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aimc.surrogate.adc_model import CcoAdcSurrogate, adc_key
from aimc.surrogate.crossbar_model import CrossbarCase, CrossbarSurrogate
from aimc.surrogate.dac_model import PwmDacSurrogate
from aimc.surrogate.tile_model import TileModel

LSB_LEVELS = 127
GENERATORS = {"crossbar_op": "crossbar", "dac_line": "dac", "cco_adc": "adc"}
NEEDS = {
    "crossbar": ("i_out_a", "weights", "inputs"),
    "dac": ("charge_c", "ideal_charge_c", "energy_j"),
    "adc": ("count", "energy_j"),
}
MIN_POINTS = {"crossbar": 2, "dac": 4, "adc": 3}


class SweepDataError(ValueError):
    """A sweep file lacks what a surrogate needs (outputs, points) or holds NaN."""


# ------------------------------------------------------------------------------------
# reading sweep files
# ------------------------------------------------------------------------------------

@dataclass
class CircuitData:
    """The ok points of one circuit gathered from one or more sweep files."""

    circuit: str
    params: list[dict[str, Any]]
    outputs: dict[str, list[np.ndarray]]
    sim_time_s: np.ndarray
    sources: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.params)


def read_circuits(paths: list[str | Path]) -> dict[str, CircuitData]:
    """Group the ok points of the sweep files by circuit; raise on missing outputs/NaN."""
    from aimc.circuits.sweep.store import SweepFileError, read_sweep

    out: dict[str, CircuitData] = {}
    for p in paths:
        try:
            d = read_sweep(p, only_ok=True)
        except (SweepFileError, OSError, KeyError) as e:
            raise SweepDataError(f"{p}: not a readable aimc sweep file ({e})") from None
        gen = d.attrs.get("generator")
        circuit = GENERATORS.get(gen)
        if circuit is None:
            raise SweepDataError(f"{p}: generator {gen!r} has no surrogate (known: "
                                 f"{', '.join(GENERATORS)})")
        missing = [k for k in NEEDS[circuit] if k not in d.outputs]
        if missing:
            raise SweepDataError(f"{p}: the {circuit} surrogate needs output(s) "
                                 f"{', '.join(missing)}, which the sweep did not record "
                                 f"(add them to [record] outputs)")
        cd = out.setdefault(circuit, CircuitData(circuit, [], {}, np.zeros(0), []))
        n = len(d)
        for i in range(n):
            prm = dict(d.fixed)
            prm.update({k: _py(v[i]) for k, v in d.inputs.items()})
            cd.params.append(prm)
        for k, v in d.outputs.items():
            cd.outputs.setdefault(k, [])
            cd.outputs[k].extend(list(v))
        for k in cd.outputs:  # keep lists aligned when files record different outputs
            if len(cd.outputs[k]) < len(cd.params):
                cd.outputs[k].extend([np.full(np.shape(cd.outputs[k][0]), np.nan)]
                                     * (len(cd.params) - len(cd.outputs[k])))
        cd.sim_time_s = np.concatenate([cd.sim_time_s, d.sim_time_s])
        cd.sources.append({"file": Path(p).name, "name": d.attrs.get("name"),
                           "spec_hash": d.attrs.get("spec_hash"), "n_points": n})
    return out


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _finite(circuit: str, name: str, v: np.ndarray, i: int) -> np.ndarray:
    v = np.asarray(v, float)
    if not np.all(np.isfinite(v)):
        raise SweepDataError(f"{circuit} point {i}: output {name!r} holds NaN/inf")
    return v


# ------------------------------------------------------------------------------------
# per-circuit datasets
# ------------------------------------------------------------------------------------

def crossbar_cases(cd: CircuitData) -> list[CrossbarCase]:
    from aimc.circuits.crossbar import CrossbarConfig, weights_to_conductances

    cases = []
    for i, p in enumerate(cd.params):
        r, c = int(p["rows"]), int(p["cols"])
        cfg = CrossbarConfig(
            rows=r, cols=c, cell=p.get("cell", "1R"), encoding=p.get("encoding", "single"),
            device=p.get("device", "linear"), r_wire_row_ohm=p.get("r_wire_row_ohm", 0.0),
            r_wire_col_ohm=p.get("r_wire_col_ohm", 0.0),
            r_driver_ohm=p.get("r_driver_ohm", 0.0), v_cm_v=p.get("v_cm_v", 0.4),
            v_read_v=p.get("v_read_v", 0.2), regulator=p.get("regulator", "ideal"),
            regulator_gain=p.get("regulator_gain", 1000.0),
            temperature_c=p.get("temperature_c", 27.0))
        w = _finite("crossbar", "weights", cd.outputs["weights"][i][:r, :c], i)
        x = _finite("crossbar", "inputs", cd.outputs["inputs"][i][:r], i)
        y = _finite("crossbar", "i_out_a", cd.outputs["i_out_a"][i][:c], i)
        g = weights_to_conductances(w, cfg.encoding, p.get("g_max_s", 25e-6),
                                    p.get("g_min_s", 0.1e-6))
        pw = cd.outputs.get("power_w", [np.nan] * len(cd))[i]
        cases.append(CrossbarCase(cfg, g, x, y, float(pw)))
    return cases


def dac_arrays(cd: CircuitData) -> dict[str, np.ndarray]:
    n = len(cd)
    get = lambda k, d: np.array([float(p.get(k, d)) for p in cd.params])  # noqa: E731
    codes = get("code", 0)
    q = np.array([float(_finite("dac", "charge_c", cd.outputs["charge_c"][i], i))
                  for i in range(n)])
    qi = np.array([float(_finite("dac", "ideal_charge_c", cd.outputs["ideal_charge_c"][i], i))
                   for i in range(n)])
    e = np.array([float(_finite("dac", "energy_j", cd.outputs["energy_j"][i], i))
                  for i in range(n)])
    t_lsb = get("t_lsb_s", 1e-9)
    v_read = get("v_read_v", 0.2)
    n_cells = get("n_cells", 1)
    g_nom = get("g_cell_s", 10e-6) * n_cells
    nz = codes != 0
    g_line = np.where(nz, np.abs(qi) / (v_read * np.abs(codes) * t_lsb + ~nz), g_nom)
    t_eff = np.where(nz, np.abs(q) / (v_read * g_line), np.nan)
    devices = {str(p.get("device", "linear")) for p in cd.params}
    if len(devices) != 1:
        raise SweepDataError(f"dac: the sweep files mix device models {sorted(devices)}; "
                             "fit one device model per tile model")
    return dict(device=np.array(devices.pop()),
                drivers=np.array([str(p.get("driver", "behavioral")) for p in cd.params]),
                codes=codes, n_cells=n_cells, g_line_s=g_line, r_wire_ohm=get("r_wire_ohm", 1.0),
                c_wire_f=get("c_wire_f", 0.8e-15), t_lsb_s=t_lsb, v_read_v=v_read,
                t_eff_s=t_eff, energy_j=e, charge_c=q)


def adc_arrays(cd: CircuitData) -> dict[str, np.ndarray]:
    n = len(cd)
    keys = [adc_key(p.get("variant", "relaxation"), p.get("linearize", True),
                    p.get("vdd_v", 0.8), p.get("temperature_c", 27.0)) for p in cd.params]
    window = np.array([float(p.get("window_s", 128e-9)) for p in cd.params])
    i_in = np.array([float(p["q_in_c"]) / float(p.get("window_s", 128e-9))
                     if p.get("input", "current") == "charge" else float(p.get("i_in_a", 0.0))
                     for p in cd.params])
    pulse = np.array([float(p.get("pulse_s", 0.0)) for p in cd.params])
    t_on = np.where((pulse > 0) & (pulse < window), pulse, window)
    count = np.array([float(_finite("adc", "count", cd.outputs["count"][i], i))
                      for i in range(n)])
    e = np.array([float(_finite("adc", "energy_j", cd.outputs["energy_j"][i], i))
                  for i in range(n)])
    f = np.array([float(np.asarray(cd.outputs["frequency_hz"][i])) for i in range(n)]) \
        if "frequency_hz" in cd.outputs else None
    le = None
    if "v_in_v" in cd.outputs:   # line error: mean of the settled second half (DC points)
        le = np.full(n, np.nan)
        for i, p in enumerate(cd.params):
            w = np.asarray(cd.outputs["v_in_v"][i], float)
            w = w[np.isfinite(w)]
            if w.size >= 4 and t_on[i] >= window[i]:
                le[i] = float(np.mean(w[w.size // 2:])) - float(p.get("vdd_v", 0.8)) / 2
    return dict(keys=np.array(keys), i_in_a=i_in, window_s=window, t_on_s=t_on,
                count=count, energy_j=e, frequency_hz=f, line_error_v=le)


# ------------------------------------------------------------------------------------
# fitting
# ------------------------------------------------------------------------------------

def _fit_crossbar(cases: list[CrossbarCase]) -> CrossbarSurrogate:
    return CrossbarSurrogate().fit(cases)


def _fit_dac(a: dict[str, np.ndarray], m: np.ndarray | slice = slice(None)) -> PwmDacSurrogate:
    sur = PwmDacSurrogate(device=str(a["device"]))
    return sur.fit(a["drivers"][m], a["codes"][m], a["n_cells"][m], a["g_line_s"][m],
                   a["r_wire_ohm"][m], a["c_wire_f"][m], a["t_lsb_s"][m], a["v_read_v"][m],
                   a["t_eff_s"][m], a["energy_j"][m])


def _fit_adc(a: dict[str, np.ndarray], m: np.ndarray | slice = slice(None)) -> CcoAdcSurrogate:
    f = a["frequency_hz"][m] if a["frequency_hz"] is not None else None
    # stepped (pulsed) points carry their information in the count over t_on
    dc = a["t_on_s"][m] >= a["window_s"][m]
    f = np.where(dc, f, np.nan) if f is not None else None
    le = a["line_error_v"][m] if a["line_error_v"] is not None else None
    return CcoAdcSurrogate().fit(list(a["keys"][m]), a["i_in_a"][m], a["count"][m],
                                 a["t_on_s"][m], a["energy_j"][m], f, le)


def _holdout(n: int, every: int = 5) -> np.ndarray:
    test = np.zeros(n, bool)
    test[every - 1::every] = True
    return test


def fit_tile(paths: list[str | Path], progress: bool = False) -> TileModel:
    """Fit every circuit found in the sweep files; validation on a 1-in-5 hold-out."""
    data = read_circuits(paths)
    model = TileModel()
    for circuit, cd in data.items():
        if len(cd) < MIN_POINTS[circuit]:
            raise SweepDataError(f"{circuit}: {len(cd)} ok point(s) in "
                                 f"{', '.join(s['file'] for s in cd.sources)}; the fit needs "
                                 f">= {MIN_POINTS[circuit]}")
        test = _holdout(len(cd))
        if circuit == "crossbar":
            cases = crossbar_cases(cd)
            tr = [c for c, t in zip(cases, test, strict=True) if not t]
            te = [c for c, t in zip(cases, test, strict=True) if t]
            val = None
            if len(tr) >= MIN_POINTS[circuit] and te:
                val = crossbar_errors(_fit_crossbar(tr), te, cd.sim_time_s[test])
            model.crossbar = _fit_crossbar(cases)
        elif circuit == "dac":
            a = dac_arrays(cd)
            val = None
            try:
                val = dac_errors(_fit_dac(a, ~test), a, test, cd.sim_time_s)
            except ValueError:
                val = None  # too few training points without the hold-out
            model.dac = _fit_dac(a)
        else:
            a = adc_arrays(cd)
            val = None
            try:
                val = adc_errors(_fit_adc(a, ~test), a, test, cd.sim_time_s)
            except ValueError:
                val = None
            model.adc = _fit_adc(a)
        if val is None:  # in-sample figures, said so
            if circuit == "crossbar":
                val = crossbar_errors(model.crossbar, crossbar_cases(cd), cd.sim_time_s)
            elif circuit == "dac":
                val = dac_errors(model.dac, dac_arrays(cd), np.ones(len(cd), bool),
                                 cd.sim_time_s)
            else:
                val = adc_errors(model.adc, adc_arrays(cd), np.ones(len(cd), bool),
                                 cd.sim_time_s)
            val["in_sample"] = True
        else:
            val["in_sample"] = False
        model.validation[circuit] = val
        model.sources.extend(cd.sources)
    if not model.circuits:
        raise SweepDataError("no circuit found in the sweep files")
    return model


# ------------------------------------------------------------------------------------
# error statistics
# ------------------------------------------------------------------------------------

def lsb_stats(err_lsb: np.ndarray) -> dict[str, float]:
    e = np.abs(np.asarray(err_lsb, float).ravel())
    return {"rms_lsb": float(np.sqrt(np.mean(e ** 2))), "p99_lsb": float(np.percentile(e, 99)),
            "max_lsb": float(np.max(e)), "n_values": int(e.size)}


def crossbar_errors(model: CrossbarSurrogate, cases: list[CrossbarCase],
                    sim_time_s: np.ndarray) -> dict[str, Any]:
    """Surrogate and baseline errors in LSB (full scale per array size), speed-up."""
    import warnings

    from aimc.surrogate.baselines import first_order_batch, ideal_batch

    sizes = {(c.cfg.rows, c.cfg.cols) for c in cases}
    fs = {s: max(float(np.max(np.abs(c.i_out_a))) for c in cases
                 if (c.cfg.rows, c.cfg.cols) == s) for s in sizes}
    err, err_ideal, err_fo, t_sur, by_r, p_err = [], [], [], [], {}, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in cases:
            lsb = fs[(c.cfg.rows, c.cfg.cols)] / LSB_LEVELS
            t0 = time.perf_counter()
            comp = model.compile(c.cfg, c.g)
            pred = comp.currents(c.x)[0]
            t_sur.append(time.perf_counter() - t0)
            e = (pred - c.i_out_a) / lsb
            err.append(e)
            err_ideal.append((ideal_batch(c.cfg, c.g, c.x)[0] - c.i_out_a) / lsb)
            err_fo.append((first_order_batch(c.cfg, c.g, c.x)[0] - c.i_out_a) / lsb)
            by_r.setdefault((c.cfg.r_wire_row_ohm, c.cfg.r_wire_col_ohm), []).append(e)
            if c.power_w is not None and np.isfinite(c.power_w) and c.power_w != 0:
                p_err.append(float(comp.power(c.x)[0] / c.power_w - 1))
    out: dict[str, Any] = lsb_stats(np.concatenate(err))
    out["n_points"] = len(cases)
    out["full_scale_a"] = {f"{r}x{c}": v for (r, c), v in sorted(fs.items())}
    out["baseline_ideal"] = lsb_stats(np.concatenate(err_ideal))
    out["baseline_first_order"] = lsb_stats(np.concatenate(err_fo))
    out["by_wire_ohm_row_col"] = _by_wire(by_r)
    out["power_rel_err_rms"] = float(np.sqrt(np.mean(np.square(p_err)))) if p_err else None
    spice = float(np.median(sim_time_s)) if len(sim_time_s) else float("nan")
    out["spice_time_s_median"] = spice
    out["surrogate_time_s_median"] = float(np.median(t_sur))
    out["speedup_vs_spice"] = spice / float(np.median(t_sur))
    out["speedup_note"] = ("per point, batch of 1 including the per-matrix compile; "
                           "see benchmarks/bench_surrogate.py for batch-256 figures")
    return out


WIRE_BINS = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, np.inf)


def _by_wire(by_r: dict[tuple[float, float], list[np.ndarray]]) -> dict[str, Any]:
    """Error vs wire resistance: per (row, col) pair when there are at most 12 pairs,
    else binned by the mean of the row and column resistance per cell."""
    if len(by_r) <= 12:
        return {f"{r:g}/{c:g}": lsb_stats(np.concatenate(v))
                for (r, c), v in sorted(by_r.items())}
    bins: dict[str, list[np.ndarray]] = {}
    for (r, c), v in sorted(by_r.items()):
        mid = 0.5 * (r + c)
        j = int(np.searchsorted(WIRE_BINS, mid, side="right")) - 1
        lo, hi = WIRE_BINS[j], WIRE_BINS[j + 1]
        bins.setdefault(f"mean {lo:g}-{hi:g}", []).extend(v)
    return {k: lsb_stats(np.concatenate(v)) for k, v in bins.items()}


def dac_errors(model: PwmDacSurrogate, a: dict[str, np.ndarray], m: np.ndarray,
               sim_time_s: np.ndarray) -> dict[str, Any]:
    t0 = time.perf_counter()
    q = np.zeros(int(m.sum()))
    idx = np.flatnonzero(m)
    for k, i in enumerate(idx):
        q[k] = model.charge(str(a["drivers"][i]), a["codes"][i], a["n_cells"][i],
                            a["g_line_s"][i], a["r_wire_ohm"][i], a["c_wire_f"][i],
                            a["t_lsb_s"][i], a["v_read_v"][i])
    e_hat = np.array([model.energy(str(a["drivers"][i]), a["codes"][i], a["n_cells"][i],
                                   a["g_line_s"][i], a["r_wire_ohm"][i], a["c_wire_f"][i],
                                   a["t_lsb_s"][i], a["v_read_v"][i]) for i in idx])
    dt = (time.perf_counter() - t0) / max(len(idx), 1)
    fs = float(np.max(np.abs(a["charge_c"][m])))
    out: dict[str, Any] = lsb_stats((q - a["charge_c"][m]) / (fs / LSB_LEVELS))
    out["n_points"] = int(m.sum())
    out["full_scale_c"] = fs
    es = a["energy_j"][m]
    big = np.abs(es) > 0.05 * np.max(np.abs(es))
    out["energy_rel_err_rms"] = float(np.sqrt(np.mean((e_hat[big] / es[big] - 1) ** 2))) \
        if big.any() else None
    spice = float(np.median(sim_time_s[m]))
    out["spice_time_s_median"] = spice
    out["speedup_vs_spice"] = spice / dt
    return out


def adc_errors(model: CcoAdcSurrogate, a: dict[str, np.ndarray], m: np.ndarray,
               sim_time_s: np.ndarray) -> dict[str, Any]:
    idx = np.flatnonzero(m)
    t0 = time.perf_counter()
    pred = np.array([float(model.count(str(a["keys"][i]), a["i_in_a"][i], a["t_on_s"][i],
                                       policy="ignore")) for i in idx])
    dt = (time.perf_counter() - t0) / max(len(idx), 1)
    fs = float(np.max(np.abs(a["count"][m])))
    out: dict[str, Any] = lsb_stats((pred - a["count"][m]) / (fs / LSB_LEVELS))
    out["n_points"] = int(m.sum())
    out["full_scale_counts"] = fs
    out["rms_counts"] = float(np.sqrt(np.mean((pred - a["count"][m]) ** 2)))
    stepped = a["t_on_s"][m] < a["window_s"][m]
    if stepped.any():
        out["stepped"] = lsb_stats((pred - a["count"][m])[stepped] / (fs / LSB_LEVELS))
    e_hat = np.array([float(model.energy(str(a["keys"][i]), a["i_in_a"][i]
                                         * a["t_on_s"][i], a["window_s"][i])) for i in idx])
    es = a["energy_j"][m]
    big = np.abs(es) > 0.05 * np.max(np.abs(es))
    out["energy_rel_err_rms"] = float(np.sqrt(np.mean((e_hat[big] / es[big] - 1) ** 2))) \
        if big.any() else None
    lin = {k: model.linearity(k, float(np.median(a["window_s"][m]))) for k in model.keys_}
    out["linearity"] = lin
    spice = float(np.median(sim_time_s[m]))
    out["spice_time_s_median"] = spice
    out["speedup_vs_spice"] = spice / dt
    return out


def validate_tile(model: TileModel, paths: list[str | Path]) -> dict[str, dict[str, Any]]:
    """Error statistics of ``model`` on held-out sweep files, keyed by circuit."""
    data = read_circuits(paths)
    out: dict[str, dict[str, Any]] = {}
    for circuit, cd in data.items():
        sur = getattr(model, circuit)
        if sur is None:
            raise SweepDataError(f"the tile model has no {circuit} surrogate, but "
                                 f"{', '.join(s['file'] for s in cd.sources)} hold {circuit} "
                                 "data")
        allm = np.ones(len(cd), bool)
        if circuit == "crossbar":
            out[circuit] = crossbar_errors(sur, crossbar_cases(cd), cd.sim_time_s)
        elif circuit == "dac":
            out[circuit] = dac_errors(sur, dac_arrays(cd), allm, cd.sim_time_s)
        else:
            out[circuit] = adc_errors(sur, adc_arrays(cd), allm, cd.sim_time_s)
    return out
