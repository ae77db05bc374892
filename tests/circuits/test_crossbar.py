"""Crossbar generator against independent calculations (real ngspice)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from aimc.circuits.crossbar import (
    CrossbarConfig,
    crossbar_design,
    ideal_currents,
    physical_conductances,
    row_drive,
    simulate_op,
    simulate_pwm,
    weights_to_conductances,
)
from aimc.circuits.devices import device_from_name
from aimc.circuits.models import MosfetModels
from aimc.circuits.spice import ngspice_executable
from aimc.surrogate.nodal import LinearCrossbarSolver
from scipy.optimize import brentq

RNG = np.random.default_rng(1234)


def random_case(cfg: CrossbarConfig, rng=RNG):
    lo = 0.0 if cfg.encoding == "single" else -1.0
    w = rng.uniform(lo, 1.0, (cfg.rows, cfg.cols))
    g = weights_to_conductances(w, cfg.encoding)
    x = rng.uniform(-1.0, 1.0, cfg.rows)
    return g, x


def nodal(cfg: CrossbarConfig, g, x, r_reg=0.0):
    s = LinearCrossbarSolver(physical_conductances(cfg, g), cfg.r_wire_row_ohm,
                             cfg.r_wire_col_ohm, cfg.r_driver_ohm, r_reg)
    return s.currents(cfg.v_cm_v - row_drive(cfg, x), cfg.v_cm_v)[0]


@pytest.mark.parametrize("encoding", ["single", "differential", "hermes"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (16, 16)])
def test_zero_wire_equals_gtv(encoding, shape):
    cfg = CrossbarConfig(rows=shape[0], cols=shape[1], encoding=encoding)
    g, x = random_case(cfg)
    got = simulate_op(cfg, g, x).i_out_a
    want = ideal_currents(cfg, g, x)
    assert np.max(np.abs(got - want)) <= 1e-9 * np.max(np.abs(want))


@pytest.mark.parametrize("shape,encoding,r_row,r_col,r_drv", [
    ((32, 32), "single", 1.0, 1.0, 0.0),
    ((32, 32), "hermes", 2.5, 0.5, 200.0),
    ((24, 40), "differential", 0.5, 3.0, 0.0),
    ((40, 12), "single", 5.0, 5.0, 1000.0),
])
def test_wire_resistance_matches_sparse_nodal(shape, encoding, r_row, r_col, r_drv):
    cfg = CrossbarConfig(rows=shape[0], cols=shape[1], encoding=encoding,
                         r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, r_driver_ohm=r_drv)
    g, x = random_case(cfg)
    res = simulate_op(cfg, g, x)
    want = nodal(cfg, g, x)
    assert np.max(np.abs(res.i_phys_a - want)) <= 1e-6 * np.max(np.abs(want))
    # Kirchhoff: what the drivers deliver, the output lines take back, up to the
    # leak of ngspice's gmin (1e-12 S from every node to ground, ~0.5 V each)
    n_nodes = 2 * res.i_rows_a.size * res.i_phys_a.size
    leak = n_nodes * 1e-12 * 0.6
    assert abs(res.i_rows_a.sum() + res.i_phys_a.sum()) <= leak


def test_ir_drop_grows_with_wire_resistance_and_distance():
    rows, cols = 32, 32
    g = np.full((rows, cols), 20e-6)
    x = np.ones(rows)
    ideal = ideal_currents(CrossbarConfig(rows=rows, cols=cols), g, x)
    losses = []
    for r_wire in (0.5, 1.0, 2.0, 5.0):
        cfg = CrossbarConfig(rows=rows, cols=cols, r_wire_row_ohm=r_wire)
        got = simulate_op(cfg, g, x).i_out_a
        loss = 1.0 - got / ideal
        # farther from the drivers (higher column index) loses more
        assert np.all(np.diff(loss) > 0)
        losses.append(loss.mean())
    assert np.all(np.diff(losses) > 0)
    # first-order check: loss of the last column ≈ r·g_line·(sum of segments seen)
    # every segment k carries the current of the rows' cells k..C-1
    r = 5.0
    cfg = CrossbarConfig(rows=rows, cols=cols, r_wire_row_ohm=r)
    first_order = r * 20e-6 * sum(cols - k for k in range(cols))
    assert losses[-1] < first_order and loss[-1] == pytest.approx(first_order, rel=0.1)


def test_finite_gain_regulator_equals_series_output_resistance():
    cfg = CrossbarConfig(rows=16, cols=8, encoding="differential", r_wire_row_ohm=1.0,
                         r_wire_col_ohm=1.0, regulator="finite", regulator_gain=100.0,
                         regulator_r_out_ohm=5e3)
    g, x = random_case(cfg)
    got = simulate_op(cfg, g, x).i_phys_a
    want = nodal(cfg, g, x, r_reg=5e3 / 101.0)
    assert np.max(np.abs(got - want)) <= 1e-6 * np.max(np.abs(want))
    # and it differs measurably from an ideal virtual ground
    ideal_vg = nodal(cfg, g, x, r_reg=0.0)
    assert np.max(np.abs(ideal_vg - got)) > 1e-4 * np.max(np.abs(ideal_vg))


def test_power_equals_joule_heating():
    cfg = CrossbarConfig(rows=8, cols=6, encoding="hermes")
    g, x = random_case(cfg)
    res = simulate_op(cfg, g, x)
    u = row_drive(cfg, x)                       # V_line - V_row for every physical row
    gp = physical_conductances(cfg, g).sum(axis=0)
    joule = float(np.sum(gp * u[:, None] ** 2))
    assert res.power_w == pytest.approx(joule, rel=1e-9)


@pytest.mark.parametrize("encoding", ["differential", "hermes"])
@pytest.mark.parametrize("device", ["linear", "pcm", "rram"])
@pytest.mark.parametrize("cell", ["1R", "1T1R"])
def test_signed_results_for_all_sign_combinations(encoding, device, cell):
    cfg = CrossbarConfig(rows=1, cols=1, encoding=encoding, device=device, cell=cell,
                         r_wire_row_ohm=1.0, r_wire_col_ohm=1.0)
    for xs in (1.0, -1.0):
        for ws in (0.8, -0.8):
            g = weights_to_conductances(np.array([[ws]]), encoding)
            i = simulate_op(cfg, g, np.array([xs])).i_out_a[0]
            assert np.sign(i) == np.sign(xs * ws), (xs, ws, i)
            assert abs(i) > 0.5 * 0.8 * 24.9e-6 * 0.2   # not a leak: a real product


@pytest.mark.parametrize("device", ["pcm", "rram"])
def test_nonlinear_devices_follow_their_iv(device):
    """Zero wire resistance: each cell sees exactly V_line - V_row."""
    cfg = CrossbarConfig(rows=6, cols=4, encoding="differential", device=device)
    g, x = random_case(cfg)
    got = simulate_op(cfg, g, x).i_phys_a
    dev = device_from_name(device)
    u = row_drive(cfg, x)
    gp = physical_conductances(cfg, g)[0]
    want = dev.current(np.broadcast_to(u[:, None], gp.shape), gp).sum(axis=0)
    assert np.max(np.abs(got - want)) <= 1e-9 * np.max(np.abs(want))
    # and the device is really non-linear: differs from the linear GᵀV
    lin = (gp * u[:, None]).sum(axis=0)
    assert np.max(np.abs(want - lin)) > 1e-3 * np.max(np.abs(lin))


def _level1_id(vgs, vds, vsb, w, length, card):
    """Shichman-Hodges drain current (ngspice level 1) for vds >= 0."""
    vt = card["vto"] + card["gamma"] * (np.sqrt(card["phi"] + vsb) - np.sqrt(card["phi"]))
    beta = card["kp"] * w / length
    vov = vgs - vt
    if vov <= 0:
        return 0.0
    if vds < vov:
        return beta * (vov - vds / 2) * vds * (1 + card["lambda"] * vds)
    return beta / 2 * vov ** 2 * (1 + card["lambda"] * vds)


def test_1t1r_cell_matches_hand_solved_series_circuit():
    """One 1T1R cell: device in series with the access NMOS, solved independently."""
    card = {"vto": 0.30, "kp": 400e-6, "lambda": 0.15, "gamma": 0.3, "phi": 0.8}
    cfg = CrossbarConfig(rows=1, cols=1, cell="1T1R")
    g = np.array([[25e-6]])
    x = np.array([-1.0])        # row at v_cm + v_read: current flows row -> column
    res = simulate_op(cfg, g, x)
    v_row = cfg.v_cm_v + cfg.v_read_v
    v_col = cfg.v_cm_v
    w, length = cfg.access_w_m, cfg.access_l_m

    def mismatch(v_mid):
        i_dev = g[0, 0] * (v_row - v_mid)
        i_mos = _level1_id(cfg.v_wordline_v - v_col, v_mid - v_col, v_col, w, length, card)
        return i_dev - i_mos

    v_mid = brentq(mismatch, v_col, v_row, xtol=1e-15)
    i_expected = g[0, 0] * (v_row - v_mid)
    assert -res.i_out_a[0] == pytest.approx(i_expected, rel=1e-6)
    assert abs(res.i_out_a[0]) < 25e-6 * 0.2          # the transistor costs some current


def _write_pdk(tmp_path):
    lib = tmp_path / "mypdk.lib"
    lib.write_text(
        "* test PDK written by the test suite\n"
        ".lib tt\n"
        ".model mynmos nmos level=1 vto=0.30 kp=400u lambda=0.15 gamma=0.3 phi=0.8\n"
        ".model mypmos pmos level=1 vto=-0.30 kp=160u lambda=0.15 gamma=0.3 phi=0.8\n"
        ".endl tt\n"
        ".lib ss\n"
        ".model mynmos nmos level=1 vto=0.45 kp=300u lambda=0.15 gamma=0.3 phi=0.8\n"
        ".model mypmos pmos level=1 vto=-0.45 kp=120u lambda=0.15 gamma=0.3 phi=0.8\n"
        ".endl ss\n")
    return lib


def test_pdk_library_and_corner(tmp_path):
    lib = _write_pdk(tmp_path)
    g = np.full((4, 4), 20e-6)
    x = np.ones(4)
    generic = simulate_op(CrossbarConfig(rows=4, cols=4, cell="1T1R"), g, x).i_out_a
    out = {}
    for corner in ("tt", "ss"):
        models = MosfetModels.from_library(lib, nmos="mynmos", pmos="mypmos", corner=corner)
        cfg = CrossbarConfig(rows=4, cols=4, cell="1T1R", mosfets=models)
        assert f'.lib "{lib.resolve()}" {corner}' in crossbar_design(cfg, g, x).text()
        out[corner] = simulate_op(cfg, g, x).i_out_a
    # tt card equals the generic card; the slow corner passes less current
    np.testing.assert_allclose(out["tt"], generic, rtol=1e-9)
    assert np.all(out["ss"] < out["tt"])


def test_written_netlist_runs_in_batch_ngspice(tmp_path):
    exe = ngspice_executable()
    assert exe, "the ngspice executable is part of the installation"
    cfg = CrossbarConfig(rows=4, cols=3, r_wire_row_ohm=2.0, r_wire_col_ohm=2.0)
    g, x = random_case(cfg)
    design = crossbar_design(cfg, g, x)
    path = design.write(tmp_path, "xbar")
    text = path.read_text().replace(".end\n", ".control\nrun\nprint v(po0)\n.endc\n.end\n")
    path.write_text(text)
    out = subprocess.run([exe, "-b", str(path)], capture_output=True, text=True, timeout=60)
    val = float(out.stdout.split("v(po0) =")[1].split()[0])
    assert val == pytest.approx(simulate_op(cfg, g, x).i_phys_a[0], rel=1e-6)


def test_current_probes_equal_the_source_currents(tmp_path):
    """The operating point reads its currents from probe nodes (a unity CCVS per
    sense and driver source, first in the netlist, so that ngspice keeps only them):
    each probe voltage equals its source's branch current in the same run."""
    exe = ngspice_executable()
    # B-source cells: the netlist text runs in plain `ngspice -b` below (the compiled
    # device's library is loaded by aimc's runners, test_compiled_device.py)
    cfg = CrossbarConfig(rows=3, cols=2, encoding="hermes", cell="1T1R", device="pcm",
                         regulator="finite", r_wire_row_ohm=2.0, r_wire_col_ohm=2.0,
                         device_backend="bsource")
    g, x = random_case(cfg)
    design = crossbar_design(cfg, g, x)
    lines = design.text().splitlines()
    assert lines[1].startswith("Hpo0 po0 0 Vs0 1")           # probes come first
    body = [ln for ln in lines if not ln.startswith((".save", ".end"))]
    _, rp, cp = cfg.physical_shape
    pairs = [(f"v(po{c})", f"vs{c}#branch") for c in range(cp)] + [
        (f"v(pd{r})", f"vd{r}#branch") for r in range(rp)]
    names = " ".join(f"{a} {b}" for a, b in pairs)
    path = tmp_path / "probes.cir"
    control = f".control\nset numdgt=15\nrun\nprint {names}\n.endc\n.end\n"
    path.write_text("\n".join(body) + "\n" + control)
    out = subprocess.run([exe, "-b", str(path)], capture_output=True, text=True, timeout=60)
    got = {k.strip(): float(v.split()[0]) for k, v in
           (ln.split("=", 1) for ln in out.stdout.splitlines() if " = " in ln)}
    for probe, branch in pairs:
        assert got[probe] == pytest.approx(got[branch], rel=1e-12, abs=1e-20)
    res = simulate_op(cfg, g, x)
    np.testing.assert_allclose(res.i_phys_a, [got[f"vs{c}#branch"] for c in range(cp)],
                               rtol=1e-12)


# --------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    ({"cell": "2T2R"}, "cell type"),
    ({"device": "mram"}, "device model"),
    ({"encoding": "ternary"}, "weight encoding"),
    ({"r_wire_row_ohm": -1.0}, "r_wire_row_ohm"),
    ({"r_wire_col_ohm": float("nan")}, "r_wire_col_ohm"),
    ({"v_read_v": 0.0}, "v_read_v"),
    ({"rows": 0}, "rows"),
    ({"name": "x\n.control\nshell rm -rf /\n.endc"}, "circuit name"),
])
def test_invalid_config_raises_value_error(kwargs, match):
    base = {"rows": 2, "cols": 2}
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        CrossbarConfig(**base)


def test_invalid_arrays_raise_before_netlist():
    cfg = CrossbarConfig(rows=2, cols=2)
    good = np.full((2, 2), 1e-6)
    with pytest.raises(ValueError, match="shape"):
        crossbar_design(cfg, np.full((3, 2), 1e-6), np.zeros(2))
    bad = good.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"conductance_s\[1, 0\]"):
        crossbar_design(cfg, bad, np.zeros(2))
    bad[1, 0] = -1e-6
    with pytest.raises(ValueError, match="conductance"):
        crossbar_design(cfg, bad, np.zeros(2))
    with pytest.raises(ValueError, match="inputs"):
        crossbar_design(cfg, good, np.array([0.5, 2.0]))


@pytest.mark.parametrize("kwargs,match", [
    ({"nmos": "n\n.control"}, "NMOS model name"),
    ({"corner": "tt\nshell ls"}, "corner"),
    ({"library": "/tmp/x.lib\n.control"}, "library path"),
    ({"library": "/nonexistent/pdk.lib"}, "does not exist"),
])
def test_netlist_injection_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MosfetModels(**kwargs)


@pytest.mark.parametrize("device", ["linear", "rram"])
def test_pwm_transient_charge_equals_operating_point_segments(device):
    """Under PWM the charge is a sum of operating points over the segments between
    sorted pulse ends (symmetric edges keep each pulse's area |code|·t_lsb)."""
    from aimc.circuits.tile import segment_charges

    cfg = CrossbarConfig(rows=12, cols=6, encoding="differential", device=device,
                         r_wire_row_ohm=2.0, r_wire_col_ohm=2.0)
    g, _ = random_case(cfg)
    codes = np.array([5, -3, 0, 17, 17, -1, 9, 2, -17, 4, 6, -8])
    res = simulate_pwm(cfg, g, codes, t_lsb_s=1e-9, t_edge_s=20e-12)
    q_ops = segment_charges(cfg, g, codes, 1e-9)
    tol = 1e-4 if device == "linear" else 2e-3     # edges of a non-linear I-V
    assert np.max(np.abs(res.q_phys_c - q_ops)) <= tol * np.max(np.abs(q_ops))
    # the energy the drivers deliver is the Joule heat: positive and ~ v_read·Σ|q_row|
    assert res.energy_j > 0


def test_library_path_with_spaces_is_refused(tmp_path):
    folder = tmp_path / "my pdk"
    folder.mkdir()
    lib = _write_pdk(folder)
    with pytest.raises(ValueError, match="whitespace"):
        MosfetModels.from_library(lib, nmos="mynmos", pmos="mypmos", corner="tt")


def test_batch_and_shared_engines_agree_on_a_crossbar():
    cfg = CrossbarConfig(rows=16, cols=8, encoding="hermes", device="pcm",
                         r_wire_row_ohm=1.0, r_wire_col_ohm=1.0)
    g, x = random_case(cfg)
    a = simulate_op(cfg, g, x, batch=False)
    b = simulate_op(cfg, g, x, batch=True)
    np.testing.assert_allclose(b.i_phys_a, a.i_phys_a, rtol=1e-9, atol=1e-15)
    assert b.power_w == pytest.approx(a.power_w, rel=1e-9)
