"""Cell-device models: SPICE element == NumPy current(), documented non-linearity/asymmetry.

Real ngspice operating points; the NumPy law is the independent reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from aimc.circuits.devices import (
    DEVICE_NAMES,
    LinearDevice,
    PcmDevice,
    RramDevice,
    as_device,
    device_from_name,
)
from aimc.circuits.spice import simulate

VOLTS = np.array([-0.6, -0.4, -0.3, -0.2, -0.1, -0.02, 0.02, 0.1, 0.2, 0.3, 0.4, 0.6])
G_S = 10e-6


def _spice_currents(device, volts: np.ndarray, g_s: float | np.ndarray) -> np.ndarray:
    """One operating point, one device per voltage, each on its own source."""
    g = np.broadcast_to(np.asarray(g_s, dtype=float), volts.shape)
    lines = [f"* {device.name} I-V check"]
    saves = []
    for k, (v, gk) in enumerate(zip(volts, g, strict=True)):
        lines.append(f"Vd{k} p{k} 0 {float(v)!r}")
        lines.append(device.spice(f"dut{k}", f"p{k}", "0", float(gk)))
        saves.append(f"vd{k}#branch")
    lines.append(".save " + " ".join(saves))
    lines.append(".op")
    lines.append(".end")
    res = simulate("\n".join(lines) + "\n", saves)
    # the source's branch current flows into its + node: the device current is -i
    return -np.array([res.scalar(s) for s in saves])


@pytest.mark.parametrize("device", [LinearDevice(), PcmDevice(), RramDevice(),
                                    PcmDevice(v0_v=0.2, asym=0.2, v_s_v=0.05),
                                    RramDevice(v0_v=0.1)])
def test_spice_matches_numpy(device):
    i_spice = _spice_currents(device, VOLTS, G_S)
    i_np = device.current(VOLTS, G_S)
    np.testing.assert_allclose(i_spice, i_np, rtol=1e-9, atol=0)


def test_spice_matches_numpy_per_device_conductance():
    g = np.geomspace(0.1e-6, 25e-6, VOLTS.size)  # PCM range 0.1-25 uS (FACTS.md)
    dev = PcmDevice()
    np.testing.assert_allclose(_spice_currents(dev, VOLTS, g), dev.current(VOLTS, g),
                               rtol=1e-9, atol=0)


def test_current_broadcasts():
    dev = PcmDevice()
    v = np.linspace(-0.4, 0.4, 5)[:, None]
    g = np.array([1e-6, 1e-5, 2e-5])[None, :]
    out = dev.current(v, g)
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out[:, 1], dev.current(v[:, 0], 1e-5))


@pytest.mark.parametrize("device", [LinearDevice(), PcmDevice(), RramDevice()])
def test_small_signal_conductance_is_g(device):
    # dI/dV at 0 V from SPICE (central difference, +-1 mV) equals g
    i = _spice_currents(device, np.array([-1e-3, 1e-3]), G_S)
    g_ss = (i[1] - i[0]) / 2e-3
    # sinh: error of the difference quotient is (dv/v0)^2/6 < 2e-5; tanh term is even
    assert g_ss == pytest.approx(G_S, rel=2e-5)


def test_pcm_documented_nonlinearity_and_asymmetry():
    dev = PcmDevice()
    v = np.array([0.2, -0.2, 0.4, -0.4])
    i = _spice_currents(dev, v, G_S)
    chord = i / (G_S * v)
    # independent hand values: sinh(2/3)/(2/3) = 1.07574, tanh(2) = 0.96403
    s02 = np.sinh(0.2 / 0.3) / (0.2 / 0.3)
    assert s02 == pytest.approx(1.07574, abs=1e-5)
    assert chord[0] == pytest.approx(s02 * (1 + 0.05 * 0.964028), rel=1e-5)   # 1.128
    assert chord[1] == pytest.approx(s02 * (1 - 0.05 * 0.964028), rel=1e-5)   # 1.024
    # documented: +10 % current for +0.2 V vs -0.2 V, super-linear (chord > G)
    assert abs(i[0] / i[1]) == pytest.approx(1.101, abs=1e-3)
    assert 1.3 < abs(i[2] / (G_S * 0.4)) < 1.45
    assert abs(i[2] / i[3]) > 1.09
    # current sign follows voltage sign
    assert np.all(np.sign(i) == np.sign(v))


def test_rram_documented_nonlinearity_is_odd():
    dev = RramDevice()
    v = np.array([0.2, -0.2, 0.4, -0.4])
    i = _spice_currents(dev, v, G_S)
    assert i[0] / (G_S * 0.2) == pytest.approx(1.1101, abs=1e-4)   # sinh(0.8)/0.8
    assert i[2] / (G_S * 0.4) == pytest.approx(1.4847, abs=1e-4)   # sinh(1.6)/1.6
    assert i[0] == pytest.approx(-i[1], rel=1e-12)


def test_linear_is_ohmic_and_zero_conductance_is_open():
    dev = LinearDevice()
    np.testing.assert_allclose(dev.current(VOLTS, G_S), G_S * VOLTS, rtol=1e-15)
    assert dev.current(0.3, 0.0) == pytest.approx(0.0, abs=1e-29)
    assert "1e+30" in dev.spice("z", "a", "b", 0.0)


def test_large_voltage_is_finite_in_spice_and_numpy():
    dev = PcmDevice()
    v = np.array([-50.0, 50.0])
    i_np = dev.current(v, G_S)
    assert np.all(np.isfinite(i_np))
    np.testing.assert_allclose(_spice_currents(dev, v, G_S), i_np, rtol=1e-9)


def test_factory():
    assert device_from_name("linear") == LinearDevice()
    assert device_from_name("pcm", asym=0.1).asym == 0.1
    assert device_from_name("rram", v0_v=0.3).v0_v == 0.3
    assert set(DEVICE_NAMES) == {"linear", "pcm", "rram"}
    assert as_device("pcm") == PcmDevice()
    with pytest.raises(ValueError, match="'memristor'"):
        device_from_name("memristor")
    with pytest.raises(ValueError, match="v1"):
        device_from_name("pcm", v1=0.3)
    with pytest.raises(ValueError, match="42"):
        as_device(42)


@pytest.mark.parametrize("kwargs, bad", [
    ({"v0_v": 0.0}, "0.0"), ({"v0_v": float("nan")}, "nan"), ({"v0_v": -0.1}, "-0.1"),
    ({"asym": 1.0}, "1.0"), ({"v_s_v": float("inf")}, "inf"),
])
def test_bad_parameters(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        PcmDevice(**kwargs)


def test_bad_names_and_conductance_refused():
    dev = PcmDevice()
    with pytest.raises(ValueError, match="x\\\\n.control"):
        dev.spice("x\n.control", "a", "b", 1e-6)
    with pytest.raises(ValueError, match="a b"):
        dev.spice("x", "a b", "b", 1e-6)
    with pytest.raises(ValueError, match="nan"):
        dev.spice("x", "a", "b", float("nan"))
    with pytest.raises(ValueError, match="-1e-06"):
        LinearDevice().spice("x", "a", "b", -1e-6)
