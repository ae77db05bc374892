"""The compiled cell device (OSDI, circuits/osdi_cell.c) in real ngspice against the NumPy
laws of devices.py, an independent Newton nodal solve, and the B-source version."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from aimc.circuits import compiled
from aimc.circuits.crossbar import (
    CrossbarConfig,
    crossbar_design,
    physical_conductances,
    row_drive,
    simulate_op,
    simulate_pwm,
    weights_to_conductances,
)
from aimc.circuits.devices import PcmDevice, RramDevice, osdi_instance, osdi_model_line
from aimc.circuits.spice import needs_osdi, simulate
from aimc.circuits.tile import segment_charges

pytestmark = pytest.mark.skipif(compiled.osdi_library() is None,
                                reason="no C compiler: the compiled device cannot be built")

# both signs, the read range, |V| beyond the sinh clamp (40·v0 = 12 V for PCM) and
# beyond tanh's saturation; tiny |V| where sinh(x) ~ x
VOLTS = np.array([-30.0, -12.5, -11.9, -3.0, -0.4, -0.2, -0.1, -1e-3, -1e-7, 0.0, 1e-7,
                  1e-3, 0.1, 0.2, 0.4, 1.0, 4.0, 11.9, 12.1, 30.0])
DEVICES = [PcmDevice(), RramDevice(), PcmDevice(v0_v=0.2, asym=-0.3, v_s_v=0.05),
           PcmDevice(v0_v=0.5, asym=0.9, v_s_v=1.5), RramDevice(v0_v=0.1)]


def _osdi_currents(dev, volts, g, batch=False):
    lines = ["* compiled device I-V",
             osdi_model_line(dev, "cell", compiled.MODEL_TYPE)]
    saves = []
    for k, (v, gk) in enumerate(zip(volts, g, strict=True)):
        lines += [f"V{k} a{k} 0 {float(v)!r}", osdi_instance(f"d{k}", f"a{k}", "0", "cell",
                                                             float(gk))]
        saves.append(f"v{k}#branch")
    lines += [".op", ".end"]
    res = simulate("\n".join(lines) + "\n", saves, batch=batch)
    return -np.array([res.scalar(s) for s in saves])     # into the source's + node


@pytest.mark.parametrize("dev", DEVICES, ids=lambda d: f"{d.name}-{d.to_dict()}")
def test_iv_equals_numpy_law(dev):
    g = np.geomspace(0.1e-6, 25e-6, VOLTS.size)
    want = dev.current(VOLTS, g)
    got = _osdi_currents(dev, VOLTS, g)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert got[VOLTS == 0.0] == 0.0


def test_iv_in_batch_ngspice_equals_numpy_law():
    dev = PcmDevice()
    g = np.full(VOLTS.size, 10e-6)
    np.testing.assert_allclose(_osdi_currents(dev, VOLTS, g, batch=True),
                               dev.current(VOLTS, g), rtol=1e-12, atol=0)


def _series_op(dev, backend_line, v_src, r_ohm):
    lines = ["* device in series with a resistor", f"V1 a 0 {v_src!r}", f"R1 a b {r_ohm!r}",
             *backend_line, ".op", ".end"]
    res = simulate("\n".join(lines) + "\n", ["v(b)", "v1#branch"])
    return res.scalar("v(b)"), -res.scalar("v1#branch")


@pytest.mark.parametrize("dev", [PcmDevice(), RramDevice()], ids=lambda d: d.name)
@pytest.mark.parametrize("v_src", [-2.0, 0.3, 1.5, 20.0])
def test_newton_solves_a_series_circuit(dev, v_src):
    """Newton converges with the device's Jacobian exactly as with the B-source:
    device + 10 kΩ, both within ngspice's voltage tolerance (vntol = 1 µV) of the
    device voltage solved by bisection in NumPy (I_R = I_dev), and equal to each
    other to rounding (the same Newton iterates)."""
    g, r = 20e-6, 1e4
    vb, i = _series_op(dev, [osdi_model_line(dev, "cell", compiled.MODEL_TYPE),
                             osdi_instance("d", "b", "0", "cell", g)], v_src, r)
    vb_b, i_b = _series_op(dev, [dev.spice("d", "b", "0", g)], v_src, r)
    lo, hi = min(0.0, v_src), max(0.0, v_src)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (v_src - mid) / r > dev.current(mid, g):
            lo = mid
        else:
            hi = mid
    assert abs(vb - 0.5 * (lo + hi)) <= 1e-6
    assert vb == pytest.approx(vb_b, rel=1e-12, abs=1e-15)
    assert i == pytest.approx(i_b, rel=1e-12)


def _newton_crossbar(cfg: CrossbarConfig, g, x) -> np.ndarray:
    """Physical output currents of a 1R crossbar with row/column wires and non-linear
    cells, by Newton's method on the node voltages (dense NumPy; ideal regulators hold
    every line end at v_cm, ideal drivers the row starts at v_cm - u)."""
    dev = cfg.device_model()
    gp = physical_conductances(cfg, g).sum(axis=0)         # a crosspoint's devices
    rp, cp = gp.shape
    vd = cfg.v_cm_v - row_drive(cfg, x)
    gr, gc = 1.0 / cfg.r_wire_row_ohm, 1.0 / cfg.r_wire_col_ohm
    n = 2 * rp * cp
    rows = np.arange(rp * cp).reshape(rp, cp)                # row-line node (r, c)
    cols = rp * cp + np.arange(rp * cp).reshape(rp, cp)      # column-line node (r, c)

    def residual_and_jacobian(v):
        f = np.zeros(n)
        jac = np.zeros((n, n))

        def wire(a, b, gw, va_fixed=None):                    # current a -> b
            va = va_fixed if va_fixed is not None else v[a]
            i = gw * (va - v[b])
            f[b] -= i
            jac[b, b] += gw
            if va_fixed is None:
                f[a] += i
                jac[a, a] += gw
                jac[a, b] -= gw
                jac[b, a] -= gw

        for r in range(rp):
            wire(None, rows[r, 0], gr, va_fixed=vd[r])
            for c in range(cp - 1):
                wire(rows[r, c], rows[r, c + 1], gr)
        for c in range(cp):
            for r in range(rp - 1):
                wire(cols[r, c], cols[r + 1, c], gc)
            wire(None, cols[rp - 1, c], gc, va_fixed=cfg.v_cm_v)
        vdev = v[cols] - v[rows]                             # device n+ = column side
        i = dev.current(vdev, gp)
        h = 1e-7
        gd = (dev.current(vdev + h, gp) - dev.current(vdev - h, gp)) / (2 * h)
        np.add.at(f, cols.ravel(), i.ravel())
        np.add.at(f, rows.ravel(), -i.ravel())
        for a, b, gg in zip(cols.ravel(), rows.ravel(), gd.ravel(), strict=True):
            jac[a, a] += gg
            jac[b, b] += gg
            jac[a, b] -= gg
            jac[b, a] -= gg
        return f, jac

    v = np.full(n, cfg.v_cm_v)
    for _ in range(50):
        f, jac = residual_and_jacobian(v)
        dv = np.linalg.solve(jac, -f)
        v += dv
        if np.max(np.abs(dv)) < 1e-15:
            break
    # regulator current into each line: through the last column wire, o_c -> node
    return gc * (cfg.v_cm_v - v[cols[rp - 1, :]])


def _pcm_case(cell: str, rows: int = 5, cols: int = 3, wires: float = 1.0):
    cfg = CrossbarConfig(rows=rows, cols=cols, encoding="hermes", device="pcm", cell=cell,
                         r_wire_row_ohm=wires, r_wire_col_ohm=wires)
    rng = np.random.default_rng(11)
    g = weights_to_conductances(rng.uniform(-1, 1, (rows, cols)), "hermes")
    x = rng.uniform(-1, 1, rows)
    return cfg, g, x


def test_hermes_pcm_1r_crossbar_equals_newton_nodal_solve_and_bsource():
    cfg, g, x = _pcm_case("1R")
    osdi = simulate_op(cfg, g, x)
    assert needs_osdi(crossbar_design(cfg, g, x).text())
    bsrc = simulate_op(dataclasses.replace(cfg, device_backend="bsource"), g, x)
    want = _newton_crossbar(cfg, g, x)
    # the same tolerance as the zero-wire device test of test_crossbar.py
    assert np.max(np.abs(osdi.i_phys_a - want)) <= 1e-9 * np.max(np.abs(want))
    assert np.max(np.abs(bsrc.i_phys_a - want)) <= 1e-9 * np.max(np.abs(want))
    np.testing.assert_allclose(osdi.i_phys_a, bsrc.i_phys_a, rtol=1e-9, atol=1e-15)


def test_hermes_pcm_1t1r_crossbar_equals_bsource():
    cfg, g, x = _pcm_case("1T1R")
    osdi = simulate_op(cfg, g, x)
    bsrc = simulate_op(dataclasses.replace(cfg, device_backend="bsource"), g, x)
    np.testing.assert_allclose(osdi.i_phys_a, bsrc.i_phys_a, rtol=1e-9, atol=1e-15)
    assert osdi.power_w == pytest.approx(bsrc.power_w, rel=1e-9)
    # batch ngspice loads the library too (pre_osdi) and gives the same numbers
    batch = simulate_op(cfg, g, x, batch=True)
    np.testing.assert_allclose(batch.i_phys_a, osdi.i_phys_a, rtol=1e-9, atol=1e-15)


def test_netlists_of_both_backends():
    cfg, g, x = _pcm_case("1R", rows=2, cols=2)
    text = crossbar_design(cfg, g, x).text()
    assert "aimccell" in text and "\nB" not in text
    b = crossbar_design(dataclasses.replace(cfg, device_backend="bsource"), g, x).text()
    assert not needs_osdi(b) and "\nBc" in b
    with pytest.raises(ValueError, match="device backend"):
        CrossbarConfig(rows=2, cols=2, device_backend="verilog")


def test_pwm_transient_with_compiled_device_equals_segment_operating_points():
    """As tests/circuits/test_pwm_transient.py (HERMES PCM 1R, 1 Ω wires), tolerance
    unchanged: the transient's charges equal the sum of segment operating points."""
    cfg, g, _ = _pcm_case("1R", rows=6, cols=4)
    codes = np.array([0, 5, -3, 9, -9, 2])
    res = simulate_pwm(cfg, g, codes, t_lsb_s=1e-9, t_edge_s=20e-12)
    q_ops = segment_charges(cfg, g, codes, 1e-9)
    assert np.max(np.abs(res.q_phys_c - q_ops)) <= 2e-3 * np.max(np.abs(q_ops))


def test_library_is_cached_and_rebuilt_atomically(tmp_path):
    a = compiled.build(tmp_path)
    mtime = a.stat().st_mtime_ns
    assert compiled.build(tmp_path) == a and a.stat().st_mtime_ns == mtime  # cached
    assert [p.name for p in tmp_path.iterdir()] == [a.name]        # no temp files left
    assert compiled.safe_library_path(a) == str(a)
    with pytest.raises(ValueError, match="refusing"):
        compiled.safe_library_path(str(a) + "\nshell ls")
    with pytest.raises(ValueError, match="refusing"):
        compiled.safe_library_path(tmp_path / "missing.osdi")


def test_concurrent_builds_leave_one_complete_library(tmp_path):
    code = ("import sys; from pathlib import Path; from aimc.circuits import compiled; "
            "print(compiled.build(Path(sys.argv[1])))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(outs) == 1 and all(p.returncode == 0 for p in procs)
    assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(outs.pop())]


def test_without_compiler_falls_back_to_bsource_with_one_warning(tmp_path):
    code = (
        "import logging, dataclasses, numpy as np\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "from aimc.circuits.crossbar import CrossbarConfig, crossbar_design\n"
        "cfg = CrossbarConfig(rows=2, cols=2, device='pcm')\n"
        "g = np.full((2, 2), 1e-5)\n"
        "for _ in range(3):\n"
        "    t = crossbar_design(cfg, g, np.ones(2)).text()\n"
        "print('B-SOURCES' if '\\nBc' in t and 'aimccell' not in t else 'OSDI')\n")
    env = dict(os.environ, PATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "B-SOURCES"
    assert out.stderr.count("compiled cell device unavailable") == 1
    assert shutil.which("cc") is not None        # this machine has one (the other tests)


def test_written_netlist_loads_the_library_in_plain_batch_ngspice(tmp_path):
    """Design.write() gives a file that runs as it is in `ngspice -b` (its pre_osdi
    line loads the compiled device): the same currents as the in-process engine."""
    from aimc.circuits.spice import _read_raw, ngspice_executable

    cfg, g, x = _pcm_case("1R", rows=3, cols=2)
    path = crossbar_design(cfg, g, x).write(tmp_path, "pcm")
    assert "pre_osdi /" in path.read_text()
    raw = tmp_path / "out.raw"
    out = subprocess.run([ngspice_executable(), "-b", "-r", str(raw), str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    got = _read_raw(raw)
    want = simulate_op(cfg, g, x).i_phys_a
    _, _, cp = cfg.physical_shape
    np.testing.assert_allclose([got[f"v(po{c})"][0] for c in range(cp)], want, rtol=1e-12)
