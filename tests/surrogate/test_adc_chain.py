"""The shipped default tile model's ADC and chained DAC -> crossbar -> ADC surrogates
against fresh transistor-level ngspice transients (stepped currents, full tile)."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.circuits.adc import CcoAdcConfig, convert
from aimc.circuits.crossbar import CrossbarConfig, weights_to_conductances
from aimc.circuits.tile import TileConfig, simulate_tile
from aimc.surrogate.adc_model import CcoAdcSurrogate, adc_key
from aimc.surrogate.chain import tile_mvm
from aimc.surrogate.tile_model import load_default_tile_model

KEY = adc_key("relaxation", True, 0.8, 27.0)


@pytest.fixture(scope="module")
def model():
    return load_default_tile_model()


@pytest.mark.parametrize("levels,ends", [
    ((57e-6, 23e-6), (70e-9, 105e-9)),      # PWM-like: the current steps down twice
    ((-33e-6, -91e-6), (50e-9, 90e-9)),     # negative, steps up in magnitude
])
def test_adc_counts_stepped_currents(model, levels, ends):
    t = [0.0]
    i = [levels[0]]
    for k, (lv, te) in enumerate(zip(levels, ends, strict=True)):
        nxt = levels[k + 1] if k + 1 < len(levels) else 0.0
        t += [te, te + 10e-12]
        i += [lv, nxt]
    res = convert(CcoAdcConfig(), (t, i), 128e-9)
    dt = np.diff(np.concatenate([[0.0], ends]))
    pred = float(model.adc.count(KEY, np.array(levels), dt))
    # LSB of an 8-bit signed ADC whose full scale is the count at the 100 uA maximum
    fs = float(model.adc.count_dc(KEY, 100e-6, 128e-9))
    lsb = fs / 127
    assert abs(pred - res.count) <= 1.0 * lsb, (pred, res.count, lsb)


def test_adc_line_error_follows_the_regulator(model):
    # the front end's error (Vov + 20 mV dead zone)/a_reg: 1-6 mV up to 100 uA
    # (docs/readme/adc.md), towards the input's sign
    d = model.adc.line_error(KEY, np.array([-100e-6, -10e-6, 10e-6, 100e-6]))
    assert np.all(np.abs(d) > 1e-3) and np.all(np.abs(d) < 8e-3)
    assert d[0] < d[1] < 0 < d[2] < d[3]


def test_adc_linearity_and_energy_figures(model):
    lin = model.adc.linearity(KEY, 128e-9)
    assert lin["inl_max_lsb"] < 3 and lin["dnl_max_lsb"] < 1
    # Q_unit = 1/gain: HERMES ~29 fC per count (FACTS.md); the generic design ~31 fC
    assert 25e-15 < 1 / lin["gain_counts_per_c"] < 35e-15
    assert model.adc.energy(KEY, 5e-12, 128e-9) > model.adc.energy(KEY, 1e-12, 128e-9) > 0


def test_adc_fit_refuses_nan_and_too_few_currents():
    with pytest.raises(ValueError, match="count"):
        CcoAdcSurrogate().fit(["k"] * 3, [1e-6, 2e-6, 3e-6], [1, np.nan, 3], [1e-7] * 3,
                              [1e-12] * 3)
    with pytest.raises(ValueError, match=">= 3 distinct"):
        CcoAdcSurrogate().fit(["k"] * 3, [1e-6, 1e-6, 2e-6], [1, 1, 2], [1e-7] * 3,
                              [1e-12] * 3)


def test_chained_surrogates_agree_with_full_tile_spice(model):
    rng = np.random.default_rng(8)
    cfg = CrossbarConfig(rows=8, cols=2, encoding="hermes", device="pcm",
                         r_wire_row_ohm=1.0, r_wire_col_ohm=1.0)
    g = weights_to_conductances(rng.uniform(-1, 1, (8, 2)), "hermes")
    codes = rng.integers(-127, 128, 8)
    spice = simulate_tile(TileConfig(cfg), g, codes)
    model.crossbar.domain_policy = "ignore"      # 8x2 is below the fitted sizes
    try:
        sur = tile_mvm(model, cfg, g, codes[None])
    finally:
        model.crossbar.domain_policy = "warn"
    full = np.max(np.abs(spice.counts))
    # Stated agreement: counts within 5 % of the largest |count| (measured 2.6 %:
    # 33.3 / -49.7 vs 32 / -50), charge within 2.5 % (measured 0.7 %). Without the
    # ADC's fitted line error (its regulator holds the line 1-5 mV off v_cm) the
    # charge would be 3.5 % and the counts 5 % off.
    assert np.max(np.abs(sur.counts[0] - spice.counts)) <= 0.05 * full
    qf = np.max(np.abs(spice.q_out_c))
    assert np.max(np.abs(sur.q_out_c[0] - spice.q_out_c)) <= 0.025 * qf
    assert sur.energy_adc_j[0] == pytest.approx(spice.energy_adc_j, rel=0.05)
    assert np.all(np.sign(sur.counts[0]) == np.sign(spice.counts))


@pytest.mark.parametrize("code,n_cells", [(73, 192), (-41, 96)])
def test_dac_charge_and_energy_vs_fresh_spice(model, code, n_cells):
    from aimc.circuits.dac import PwmDacConfig, simulate_line

    rng = np.random.default_rng(abs(code))
    g = 9e-6 * (1 + 0.2 * rng.standard_normal(n_cells))
    res = simulate_line(PwmDacConfig(), code, n_cells, g, "pcm", 1.0, 0.8e-15)
    q = float(model.dac.charge("behavioral", code, n_cells, g.sum(), 1.0))
    # LSB: 1/127 of the full-scale (code 127) charge of this line
    lsb = abs(float(model.dac.charge("behavioral", 127, n_cells, g.sum(), 1.0))) / 127
    assert abs(q - res.charge_c) <= 1.0 * lsb, (q, res.charge_c, lsb)
    e = float(model.dac.energy("behavioral", code, n_cells, g.sum(), 1.0))
    assert e == pytest.approx(res.energy_j, rel=0.05)


def test_adc_domain_policy(model):
    from aimc.surrogate.crossbar_model import DomainError

    with pytest.raises(DomainError, match="beyond the fitted range"):
        model.adc.frequency(KEY, np.array([500e-6]))           # 5x the fitted 100 uA
    with pytest.warns(UserWarning, match="extrapolating"):
        model.adc.frequency(KEY, np.array([120e-6]))
    with pytest.raises(DomainError, match="not fitted"):
        model.adc.frequency("ring|lin=0|vdd=0.8|T=27", np.array([1e-6]))
