"""The array simulator on real surrogates (a tile model fitted from real ngspice sweeps)."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.system.array.layer import (
    AnalogLayer,
    ArrayConfig,
    ArrayInputError,
    TileModelMissingError,
    resolve_tile_model,
)
from array_helpers import one_blas_thread, tile_model  # noqa: F401

IDEAL = dict(device="linear", r_wire_row_ohm=0.0, r_wire_col_ohm=0.0, r_driver_ohm=0.0)


def _data(rows, cols, n=96, seed=0, density=1.0):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (rows, cols))
    x = rng.uniform(-1, 1, (n, rows)) * (rng.random((n, rows)) < density)
    return w, x


def test_ideal_devices_reproduce_the_quantised_matmul_within_one_lsb():
    w, x = _data(24, 16)
    layer = AnalogLayer(w, ArrayConfig(**IDEAL), tile_model()).fit_inputs(x)
    ya, (ca,) = layer.analog(x, return_codes=True)
    yq, (cq,) = layer.quantised(x, return_codes=True)
    assert layer.n_clamped_ == 0 and np.all(np.abs(cq) < 127)   # inside the ADC range
    lsb = layer.full_scale() / layer.config.y_levels
    # the exact integer matmul of the quantised inputs and weights, in output units
    exact = (layer.codes(x) @ layer.q_) * layer.w_step_ * layer.x_scale_ / 127
    # quantised path: an ideal 8-bit ADC rounds it (<= 0.5 LSB); analog path: the CCO
    # surrogate's count, rounded and per-column calibrated, stays within 1 LSB of it
    assert np.max(np.abs(yq - exact) / lsb) <= 0.5 + 1e-9
    err = np.abs(ya - exact) / lsb
    assert err.max() <= 1.0, err.max()
    assert np.sqrt(np.mean((ya - yq) ** 2 / lsb ** 2)) < 0.5


def test_row_split_tiling_conserves_partial_sums():
    w, x = _data(80, 12, n=32, seed=1)
    tm = tile_model()
    kw = dict(IDEAL, output_bits=20)   # negligible output quantisation: sums are exact
    tiled = AnalogLayer(w, ArrayConfig(tile_rows=32, **kw), tm).fit_inputs(x)
    whole = AnalogLayer(w, ArrayConfig(tile_rows=128, **kw), tm).fit_inputs(x)
    assert tiled.n_tiles == 3 and whole.n_tiles == 1
    lsb20 = 3 * float(np.max(whole.full_scale())) / whole.config.y_levels   # 3 roundings
    assert np.allclose(tiled.quantised(x), whole.quantised(x), rtol=0, atol=lsb20)
    exact = (tiled.codes(x) @ tiled.q_) * tiled.w_step_ * tiled.x_scale_ / 127
    assert np.allclose(tiled.quantised(x), exact, rtol=0, atol=lsb20)
    # analog: each tile's digital partial sum adds up to the untiled result within the
    # ADC resolution of the three conversions (8-bit here)
    a8 = AnalogLayer(w, ArrayConfig(tile_rows=32, **IDEAL), tm).fit_inputs(x)
    a1 = AnalogLayer(w, ArrayConfig(tile_rows=128, **IDEAL), tm).fit_inputs(x)
    lsb = a1.full_scale() / 127
    assert np.max(np.abs(a8.analog(x) - a1.analog(x)) / lsb) <= 3.0
    # columns split too: 12 columns on tiles of 6 -> 2 column tiles per row tile
    cs = AnalogLayer(w, ArrayConfig(tile_rows=32, tile_cols=6, **kw), tm).fit_inputs(x)
    assert cs.n_tiles == 6
    assert np.allclose(cs.quantised(x), whole.quantised(x), rtol=0, atol=lsb20)


def test_device_error_grows_with_time_and_drift_compensation_reduces_it():
    w, x = _data(48, 16, n=96, seed=2, density=0.5)
    layer = AnalogLayer(w, ArrayConfig(), tile_model()).fit_inputs(x)
    yq = layer.quantised(x)
    fs = layer.full_scale()

    def err(t, comp=True, seed=3):
        layer.config.drift_compensation = comp
        layer.program(t, seed)
        return float(np.std((layer.analog(x) - yq) / fs))

    e_none = err(None)
    e = [np.mean([err(t, seed=s) for s in (3, 4)]) for t in (20.0, 3600.0, 3.0e7)]
    assert e_none < e[0] < e[1] < e[2]
    assert err(3.0e7, comp=False) > 2 * e[2]
    layer.config.drift_compensation = True


def test_bad_inputs_give_clear_errors(tmp_path):
    tm = tile_model()
    w = np.ones((8, 16))
    w[2, 1] = np.nan
    with pytest.raises(ArrayInputError, match=r"NaN/inf .*\[2, 1\]"):
        AnalogLayer(w, ArrayConfig(**IDEAL), tm)
    with pytest.raises(ArrayInputError, match="2-D"):
        AnalogLayer(np.ones(5), ArrayConfig(**IDEAL), tm)
    layer = AnalogLayer(np.ones((8, 16)), ArrayConfig(**IDEAL), tm)
    with pytest.raises(RuntimeError, match="fit_inputs"):
        layer.analog(np.zeros((1, 8)))
    with pytest.raises(ArrayInputError, match=r"expected \(batch, 8\)"):
        layer.fit_inputs(np.zeros((2, 5)))
    from aimc.surrogate.tile_model import default_tile_model_path

    if not default_tile_model_path().exists():   # until a default model is shipped
        with pytest.raises(TileModelMissingError, match="aimc fit"):
            resolve_tile_model(None)
        with pytest.raises(TileModelMissingError, match="aimc fit"):
            AnalogLayer(np.ones((8, 16)))
    with pytest.raises(TileModelMissingError, match="does not exist"):
        resolve_tile_model(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="HDF5"):
        resolve_tile_model(tmp_path / "junk.h5")
    with pytest.raises(ValueError, match="encoding"):
        ArrayConfig(encoding="single")
    with pytest.raises(ValueError, match="t_inference_s"):
        ArrayConfig(t_inference_s=-1.0)


def test_segment_currents_sum_to_the_surrogates_pwm_charge():
    """The per-segment currents integrate to the crossbar surrogate's own PWM charge (the
    sum over the segments between sorted pulse ends, aimc.circuits.tile.pwm_segments)."""
    from aimc.circuits.tile import pwm_segments

    w, x = _data(32, 32, n=8, seed=4, density=0.7)
    layer = AnalogLayer(w, ArrayConfig(), tile_model()).fit_inputs(x)
    tile = layer.tiles_[0]
    codes = layer.codes(x)
    cur, dt = layer.segment_currents(tile.compiled, codes)
    q = np.einsum("bck,k->bc", cur, dt)
    q_ref = tile.compiled.charges(codes, layer.config.t_lsb_s)
    assert np.allclose(q, q_ref, rtol=0, atol=1e-9 * np.abs(q_ref).max())
    # one vector: the batch's union of pulse ends only splits its own segments further
    segs = pwm_segments(codes[0], layer.config.t_lsb_s)
    cur0, dt0 = layer.segment_currents(tile.compiled, codes[:1])
    assert dt0.sum() == pytest.approx(sum(d for _, d in segs))
    q0 = sum(tile.compiled.currents(xs[None])[0] * d for xs, d in segs)
    assert np.allclose(np.einsum("ck,k->c", cur0[0], dt0), q0, rtol=0,
                       atol=1e-9 * np.abs(q0).max())


def test_tile_without_signal_needs_no_drift_compensation():
    """A tile whose calibration inputs are all zero (its input channels pruned) reads all
    zero after programming and at t: there is no drift to compensate (factor 1, a note),
    instead of a division by zero; the other tile's factor is the ratio of its reads."""
    from aimc.system.array.device_stats import drift_compensation_factor

    w, x = _data(300, 16, n=64, seed=4)
    x[:, 256:] = 0.0
    layer = AnalogLayer(w, ArrayConfig(t_inference_s=86400.0, seed=1),
                        tile_model()).fit_inputs(x)
    y = layer.analog(x)
    t0, t1 = layer.tiles_
    assert t1.drift_factor == 1.0
    assert any("drift compensation skipped" in n for n in layer.notes_)
    codes = layer.codes(x)[:, :256]
    ref0 = t0.a * layer._cal_codes(t0, layer._state[0][0], codes) + t0.b
    now = t0.a * layer._tile_codes(t0, t0.compiled, codes) + t0.b
    assert t0.drift_factor == pytest.approx(drift_compensation_factor(ref0, now), rel=1e-12)
    assert t0.drift_factor > 1.0                  # PCM drifts down: the factor scales up
    assert np.all(np.isfinite(y))


def test_tile_of_small_weights_compiles_inside_the_domain():
    """A row tile holding only small weights (its largest level 1 of 7: conductances
    far below g_max) is inside the crossbar surrogate's domain (smaller conductances,
    smaller wire corrections): no error, no domain note; on the linear, wire-free tile its
    ADC codes are its integer dot products within 1 LSB."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 1, (300, 16))
    w[256:] *= 0.12                               # levels |q| <= 1 in the second row tile
    x = rng.uniform(0, 1, (48, 300))
    layer = AnalogLayer(w, ArrayConfig(**IDEAL), tile_model()).fit_inputs(x)
    assert np.abs(layer.tiles_[1].q).max() == 1
    assert float(layer.tiles_[1].g_target.max()) < 0.3 * layer.config.g_max_s
    _, (_, c_small) = layer.analog(x, return_codes=True)
    assert not [n for n in layer.notes_ if "g_max" in n], layer.notes_
    # that tile's ADC codes: its integer dot products at the nominal code scale (the
    # quantised path's ideal ADC), within 1 LSB
    exact = (layer.codes(x)[:, 256:] @ layer.tiles_[1].q) * layer._k_nom()
    assert np.max(np.abs(c_small - exact)) <= 1.0 + 1e-9
