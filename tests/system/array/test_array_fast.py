"""The fast analog path (PWM charge as one matmul + sampled time-profile remainder)
against the segment-exact path and against a full-tile ngspice transient.

The shipped default tile model is used (fitted from the full sweeps: the 256x256 tile
the benchmarks time). The bound of the task: the fast path adds at most 0.1 LSB RMS of
the 8-bit output (before the counter's rounding)."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.surrogate.tile_model import load_default_tile_model
from aimc.system.array.layer import AnalogLayer, ArrayConfig
from aimc.system.array.pwm_fast import FastStats, fast_counts
from array_helpers import DATA, one_blas_thread  # noqa: F401


@pytest.fixture(scope="module")
def model():
    return load_default_tile_model()


@pytest.fixture(scope="module")
def layer(model):
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (256, 256))
    x = rng.uniform(0, 1, (64, 256)) * (rng.random((64, 256)) < 0.5)
    return AnalogLayer(w, ArrayConfig(), model).fit_inputs(x)


def _inputs(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "relu":        # post-ReLU: half zeros (the bench workload)
        return rng.uniform(0, 1, (n, 256)) * (rng.random((n, 256)) < 0.5)
    return rng.uniform(-1, 1, (n, 256))          # signed, dense: ADC clamps often


def test_pwm_charge_is_one_matmul_equal_to_the_segment_sum(layer):
    """Oracle: Σ over the segments between sorted pulse ends of the crossbar model's
    current (each segment a full evaluation of the compiled surrogate) x duration."""
    comp = layer.tiles_[0].compiled
    pr = comp.pwm_rows()
    for kind in ("relu", "signed"):
        codes = layer.codes(_inputs(kind, 6, 1))
        cur, dt = layer.segment_currents(comp, codes)
        q_seg = (cur * dt).sum(axis=-1)
        mags, sg = np.abs(codes), np.sign(codes)
        tau, _ = pr.tau(mags, sg, 127)
        rows = np.concatenate([codes, mags, sg * tau, np.abs(sg) * tau], axis=1)
        q = rows @ pr.stacked * layer.config.t_lsb_s
        assert np.max(np.abs(q - q_seg)) <= 1e-12 * np.max(np.abs(q_seg))
        # the model's own prefix-sum PWM charge (CompiledCrossbar.charges) agrees too
        q_pref = comp.charges(codes, layer.config.t_lsb_s)
        assert np.max(np.abs(q - q_pref)) <= 1e-7 * np.max(np.abs(q_seg))


@pytest.mark.parametrize("kind", ["relu", "signed"])
def test_fast_path_adds_at_most_0p1_lsb_rms(layer, kind):
    x = _inputs(kind, 24, 2)
    fast = layer.adc_counts(x, fast=True)[0]
    exact = layer.adc_counts(x, fast=False)[0]
    d = fast - exact
    rms = float(np.sqrt(np.mean(d ** 2)))
    assert rms <= 0.1, rms
    # the outputs are not trivially small: the remainder matters at this size
    assert np.sqrt(np.mean(exact ** 2)) > 10


def test_refining_every_pair_reproduces_the_segment_exact_counts(layer, model):
    """With every (vector, column) pair refined, the remainder is summed over every LSB
    step from per-step row sums: equal to the segment-exact path (to float32)."""
    x = _inputs("signed", 8, 3)
    codes = layer.codes(x)
    comp = layer.tiles_[0].compiled
    st = FastStats()
    got = fast_counts(comp.pwm_rows(), model.adc, layer.adc_key_, codes, 1e-9, 127,
                      layer._adc_slope(), 2, refine_at=0.0, stats=st)
    ref = layer._tile_counts_exact(layer.tiles_[0], comp, codes)
    assert st.n_refined == got.size and st.n_clamped > 0     # the clamp is exercised
    lsb = layer.count_fs_ / 127
    assert np.max(np.abs(got - ref)) / lsb < 1e-3


def test_fast_path_against_full_tile_ngspice_transients(model):
    """Recorded full-tile ngspice transients (data/tile_transients.h5, written by
    benchmarks/make_tile_transients.py: an 8x2 HERMES PCM tile with the PWM DAC drivers
    and transistor-level CCO-ADCs): the fast path's counts are as close to SPICE as the
    segment-exact path's; the error it adds, in quadrature, is <= 0.1 LSB of the 8-bit
    output."""
    import h5py

    with h5py.File(DATA / "tile_transients.h5", "r") as f:
        w, g, codes, spice = (f[k][()] for k in ("weights", "g_target_s", "codes", "counts"))
        r_wire = float(f.attrs["r_wire_ohm"])
    cfg = ArrayConfig(tile_rows=w.shape[0], tile_cols=w.shape[1], r_wire_row_ohm=r_wire,
                      r_wire_col_ohm=r_wire)
    x = codes / 127.0
    model.crossbar.domain_policy = "ignore"          # 8x2 is below the fitted sizes
    try:
        layer = AnalogLayer(w, cfg, model).fit_inputs(x)
        # the recorded circuit is the one the layer builds: same conductances and codes
        assert np.array_equal(layer.tiles_[0].g_target, g)
        assert np.array_equal(layer.codes(x), codes)
        to_counts = layer.count_fs_ / 127
        c_fast = layer.adc_counts(x, fast=True)[0] * to_counts
        c_exact = layer.adc_counts(x, fast=False)[0] * to_counts
    finally:
        model.crossbar.domain_policy = "warn"
    lsb = to_counts
    e_fast = np.sqrt(np.mean((c_fast - spice) ** 2)) / lsb
    e_exact = np.sqrt(np.mean((c_exact - spice) ** 2)) / lsb
    assert np.sqrt(max(e_fast ** 2 - e_exact ** 2, 0.0)) <= 0.1, (e_fast, e_exact)
    assert np.sqrt(np.mean((c_fast - c_exact) ** 2)) / lsb <= 0.1
    # the surrogate chain itself (ideal pulse edges, no line error in the layer) stays
    # within 1 LSB RMS of the transistor-level tile
    assert e_exact <= 1.0, e_exact
