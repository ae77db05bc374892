"""Crossbar generator: rows x cols of 1R or 1T1R cells with wire parasitics.

Topology (all quantities in SI units):

* Input (row) line ``r``: an ideal source sets the driver voltage, ``r_driver_ohm``
  in series, then one wire segment of ``r_wire_row_ohm`` before every cell, so the
  cell in column ``c`` sits ``c + 1`` segments away from its driver.
* Output (column) line ``c``: one wire segment of ``r_wire_col_ohm`` after every
  cell towards the sense end at the bottom (below the last physical row), so the
  cell in row ``r`` sits ``Rp - r`` segments away from the sense end.
* The sense end is held at ``v_cm_v`` by an ideal source or by a finite-gain
  regulator (line error = I·r_out/(1+gain)); a 0 V sense source measures the current
  the regulator delivers *into* the line, ``I = sum G·(V_line - V_row)``.
* Signed inputs as in HERMES (FACTS.md): input ``x`` in [-1, 1] drives its line to
  ``v_cm - x·v_read``, so positive inputs add current; the HERMES cell's negative
  devices sit on a complementary line driven to ``v_cm + x·v_read``.

Weight encodings and the shape of the ``conductances`` argument:

* ``single``       (R, C): one device per weight (unsigned weights).
* ``differential`` (2, R, C): G+ and G- on paired output lines; out = I+ - I-.
* ``hermes``       (4, R, C): G1+, G2+, G1-, G2- per cell (8T4R unit cell);
  weight = (G1+ + G2+) - (G1- + G2-).

Large arrays are emitted as raw SPICE text inside the PySpice circuit (one
vectorised pass, no Python object per element) because PySpice's object model is
the bottleneck at 256x256 (NOTES-ngspice.md); ``Design.circuit`` is still a PySpice
``Circuit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from aimc.circuits.compiled import MODEL_TYPE, osdi_library
from aimc.circuits.devices import device_from_name, osdi_model_line
from aimc.circuits.models import GENERIC, MosfetModels
from aimc.circuits.netlist import Design
from aimc.circuits.safety import (
    check_array_positive,
    check_choice,
    check_finite,
    check_name,
    check_positive,
)
from aimc.circuits.spice import StepPlan
from PySpice.Spice.Netlist import Circuit

CELLS = ("1R", "1T1R")
ENCODINGS = ("single", "differential", "hermes")
DEVICES = ("linear", "pcm", "rram")
DEVICE_BACKENDS = ("osdi", "bsource")
REGULATORS = ("ideal", "finite")


@dataclass
class CrossbarConfig:
    """Electrical parameters of a crossbar (logical ``rows`` x ``cols`` weights).

    Defaults follow the HERMES core (FACTS.md): 0.8 V supply with the summing lines
    at mid-rail, 0.2 V read voltage, PCM conductances up to 25 µS.
    """

    rows: int
    cols: int
    cell: str = "1R"
    encoding: str = "single"
    device: str = "linear"
    device_params: dict[str, float] = field(default_factory=dict)
    r_wire_row_ohm: float = 0.0      # per cell pitch, input lines
    r_wire_col_ohm: float = 0.0      # per cell pitch, output lines
    c_wire_row_f: float = 0.0        # per segment, transient only
    c_wire_col_f: float = 0.0
    r_driver_ohm: float = 0.0        # driver output resistance
    v_cm_v: float = 0.4              # summing-line voltage: mid-rail of 0.8 V (HERMES)
    v_read_v: float = 0.2            # FACTS.md: IBM chips read at 0.1-0.4 V; HERMES 0.2 V
    regulator: str = "ideal"
    regulator_gain: float = 1000.0   # finite-gain regulator: open-loop gain
    regulator_r_out_ohm: float = 1000.0
    v_wordline_v: float = 1.2        # 1T1R gate drive (boosted word line)
    access_w_m: float = 0.5e-6
    access_l_m: float = 0.1e-6
    mosfets: MosfetModels = field(default_factory=lambda: GENERIC)
    temperature_c: float = 27.0
    name: str = "crossbar"
    # non-linear cells: "osdi" = the compiled device (circuits/compiled.py; B-sources,
    # with one logged warning, where it cannot be built), "bsource" = B-sources
    device_backend: str = "osdi"

    def __post_init__(self) -> None:
        for attr in ("rows", "cols"):
            v = getattr(self, attr)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{attr} must be a positive integer, got {v!r}")
        check_choice(self.cell, CELLS, "cell type")
        check_choice(self.encoding, ENCODINGS, "weight encoding")
        check_choice(self.device, DEVICES, "device model")
        check_choice(self.regulator, REGULATORS, "regulator")
        check_choice(self.device_backend, DEVICE_BACKENDS, "device backend")
        for attr in ("r_wire_row_ohm", "r_wire_col_ohm", "c_wire_row_f", "c_wire_col_f",
                     "r_driver_ohm"):
            check_positive(getattr(self, attr), attr, allow_zero=True)
        for attr in ("v_read_v", "regulator_gain", "regulator_r_out_ohm", "v_wordline_v",
                     "access_w_m", "access_l_m"):
            check_positive(getattr(self, attr), attr)
        check_finite(self.v_cm_v, "v_cm_v")
        check_finite(self.temperature_c, "temperature_c")
        check_name(self.name, "circuit name")
        # fail now, not when the netlist is written
        self.device_model()

    # -- derived shapes ------------------------------------------------------------
    @property
    def n_devices(self) -> int:
        """Devices per weight: 1, 2 or 4."""
        return {"single": 1, "differential": 2, "hermes": 4}[self.encoding]

    @property
    def physical_shape(self) -> tuple[int, int, int]:
        """(devices in parallel per crosspoint, physical rows, physical columns)."""
        if self.encoding == "single":
            return 1, self.rows, self.cols
        if self.encoding == "differential":
            return 1, self.rows, 2 * self.cols
        return 2, 2 * self.rows, self.cols

    def conductance_shape(self) -> tuple[int, ...]:
        if self.encoding == "single":
            return (self.rows, self.cols)
        return (self.n_devices, self.rows, self.cols)

    def device_model(self):
        return device_from_name(self.device, **self.device_params)


# ----------------------------------------------------------------------------------
# weights <-> conductances, inputs <-> line voltages
# ----------------------------------------------------------------------------------

def check_conductances(cfg: CrossbarConfig, g: np.ndarray) -> np.ndarray:
    g = np.asarray(g, dtype=float)
    if g.shape != cfg.conductance_shape():
        raise ValueError(
            f"conductances have shape {g.shape}, but a {cfg.rows}x{cfg.cols} "
            f"'{cfg.encoding}' crossbar needs {cfg.conductance_shape()}"
        )
    return check_array_positive(g, "conductance_s")


def check_inputs(cfg: CrossbarConfig, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.shape != (cfg.rows,):
        raise ValueError(f"inputs have shape {x.shape}, expected ({cfg.rows},)")
    bad = ~np.isfinite(x) | (np.abs(x) > 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"inputs must be finite and in [-1, 1]; x[{i}] = {x[i]!r}")
    return x


def weights_to_conductances(w: np.ndarray, encoding: str, g_max_s: float = 25e-6,
                            g_min_s: float = 0.1e-6) -> np.ndarray:
    """Map weights in [-1, 1] to device conductances for an encoding.

    ``single`` needs w >= 0: G = g_min + w·(g_max - g_min). ``differential``: the
    positive part on G+, the negative on G-, both at least g_min. ``hermes``: the
    positive part on both G1+ and G2+ (and the negative on G1-, G2-), so the
    effective weight is 2·w·(g_max - g_min). Defaults: PCM 0-25 µS (FACTS.md) with
    a 0.1 µS reset floor (0.1-10 µS range of the 64-core chip).
    """
    check_choice(encoding, ENCODINGS, "weight encoding")
    w = np.asarray(w, dtype=float)
    if not np.all(np.isfinite(w)) or np.any(np.abs(w) > 1):
        raise ValueError("weights must be finite and in [-1, 1]")
    check_positive(g_min_s, "g_min_s")
    if g_max_s <= g_min_s:
        raise ValueError(f"g_max_s ({g_max_s}) must exceed g_min_s ({g_min_s})")
    span = g_max_s - g_min_s
    if encoding == "single":
        if np.any(w < 0):
            raise ValueError("the 'single' encoding holds unsigned weights; use "
                             "'differential' or 'hermes' for signed weights")
        return g_min_s + w * span
    gp = g_min_s + np.clip(w, 0, None) * span
    gn = g_min_s + np.clip(-w, 0, None) * span
    if encoding == "differential":
        return np.stack([gp, gn])
    return np.stack([gp, gp, gn, gn])


def effective_weights(cfg: CrossbarConfig, g: np.ndarray) -> np.ndarray:
    """Signed conductance matrix W (R, C) so that ideal currents are Wᵀ·(x·v_read)."""
    g = np.asarray(g, dtype=float)
    if cfg.encoding == "single":
        return g
    if cfg.encoding == "differential":
        return g[0] - g[1]
    return g[0] + g[1] - g[2] - g[3]


def physical_conductances(cfg: CrossbarConfig, g: np.ndarray) -> np.ndarray:
    """Conductances laid out as (P, Rp, Cp) on the physical lines (see module doc)."""
    g = np.asarray(g, dtype=float)
    p, rp, cp = cfg.physical_shape
    if cfg.encoding == "single":
        return g[None, :, :]
    out = np.empty((p, rp, cp))
    if cfg.encoding == "differential":
        out[0, :, 0::2] = g[0]
        out[0, :, 1::2] = g[1]
    else:
        out[0, 0::2, :] = g[0]
        out[1, 0::2, :] = g[1]
        out[0, 1::2, :] = g[2]
        out[1, 1::2, :] = g[3]
    return out


def row_drive(cfg: CrossbarConfig, x: np.ndarray) -> np.ndarray:
    """Voltage *below* v_cm of each physical row: u such that V_row = v_cm - u."""
    u = np.asarray(x, dtype=float) * cfg.v_read_v
    if cfg.encoding == "hermes":
        out = np.empty(2 * cfg.rows)
        out[0::2] = u
        out[1::2] = -u
        return out
    return u


def combine_outputs(cfg: CrossbarConfig, i_phys: np.ndarray) -> np.ndarray:
    """Logical output currents from physical column currents (last axis)."""
    if cfg.encoding == "differential":
        return i_phys[..., 0::2] - i_phys[..., 1::2]
    return i_phys


# ----------------------------------------------------------------------------------
# netlist
# ----------------------------------------------------------------------------------

def _fmt(v: np.ndarray | float) -> np.ndarray:
    return np.char.mod("%.12g", np.asarray(v, dtype=float))


def _row_nodes(cfg: CrossbarConfig) -> np.ndarray:
    """(Rp, Cp) names of the row-line node at each crosspoint."""
    _, rp, cp = cfg.physical_shape
    r = np.arange(rp)[:, None]
    c = np.arange(cp)[None, :]
    if cfg.r_wire_row_ohm > 0:
        return np.char.add(np.char.add(np.char.add("r", r.astype(str)), "_"),
                           np.broadcast_to(c, (rp, cp)).astype(str))
    return np.broadcast_to(np.char.add("d", r.astype(str)), (rp, cp))


def _col_nodes(cfg: CrossbarConfig) -> np.ndarray:
    """(Rp, Cp) names of the column-line node at each crosspoint."""
    _, rp, cp = cfg.physical_shape
    r = np.arange(rp)[:, None]
    c = np.arange(cp)[None, :]
    if cfg.r_wire_col_ohm > 0:
        return np.char.add(np.char.add(np.char.add("c", np.broadcast_to(c, (rp, cp)).astype(str)),
                                       "_"), np.broadcast_to(r, (rp, cp)).astype(str))
    return np.broadcast_to(np.char.add("o", c.astype(str)), (rp, cp))


_CELL_MODEL = "aimc_cell"


def uses_compiled_device(cfg: CrossbarConfig) -> bool:
    """Whether the netlist's non-linear cells are the compiled device (backend
    ``"osdi"`` and the library builds here) rather than B-sources."""
    return cfg.device_backend == "osdi" and osdi_library() is not None


def array_lines(cfg: CrossbarConfig, gp: np.ndarray) -> list[str]:
    """Wires, cells (and access transistors) as SPICE lines."""
    p, rp, cp = cfg.physical_shape
    lines: list[str] = []
    rn = _row_nodes(cfg)
    cn = _col_nodes(cfg)
    # row wires: d{r} -> r{r}_0 -> r{r}_1 ...
    if cfg.r_wire_row_ohm > 0:
        rw = f"{cfg.r_wire_row_ohm:.12g}"
        for r in range(rp):
            nodes = [f"d{r}"] + list(rn[r])
            lines += [f"Rwr{r}_{c} {nodes[c]} {nodes[c + 1]} {rw}" for c in range(cp)]
            if cfg.c_wire_row_f > 0:
                cw = f"{cfg.c_wire_row_f:.12g}"
                lines += [f"Cwr{r}_{c} {nodes[c + 1]} 0 {cw}" for c in range(cp)]
    # column wires: c{c}_0 -> c{c}_1 ... -> o{c}, written from the output end (o{c},
    # c{c}_{Rp-1}, ... c{c}_0). ngspice numbers nodes in the order the netlist first
    # names them, and KLU's fill-in depends on that numbering (its maximum transversal
    # and AMD start from it): numbered from the sense end like the row lines from
    # their drivers, the 256x256 mesh factors with 6.3 M non-zeros instead of 8.1 M
    # (docs/readme/spice-speed.md). Same elements, same names, same circuit.
    if cfg.r_wire_col_ohm > 0:
        cwr = f"{cfg.r_wire_col_ohm:.12g}"
        for c in range(cp):
            nodes = list(cn[:, c]) + [f"o{c}"]
            lines += [f"Rwc{c}_{r} {nodes[r]} {nodes[r + 1]} {cwr}"
                      for r in range(rp - 1, -1, -1)]
            if cfg.c_wire_col_f > 0:
                cw = f"{cfg.c_wire_col_f:.12g}"
                lines += [f"Cwc{c}_{r} {nodes[r]} 0 {cw}" for r in range(rp)]
    # cells
    dev = cfg.device_model()
    rr, cc = np.meshgrid(np.arange(rp), np.arange(cp), indexing="ij")
    if cfg.cell == "1R" and p > 1:
        # A 1R HERMES crosspoint holds its two devices between the same two nodes:
        # every device law is linear in g (current(v, g1) + current(v, g2) =
        # current(v, g1 + g2)), so one element of g1 + g2 is the same circuit with
        # half the elements (half the B-source evaluations per Newton iteration).
        gp = gp.sum(axis=0, keepdims=True)
        p = 1
    compiled = cfg.device != "linear" and uses_compiled_device(cfg)
    if compiled:
        lines.append(osdi_model_line(dev, _CELL_MODEL, MODEL_TYPE))
    for k in range(p):
        tag = np.char.add(np.char.add(np.char.add(f"{k}_", rr.astype(str)), "_"), cc.astype(str))
        if cfg.cell == "1R":
            top, bot = rn, cn
        else:
            top, bot = rn, np.char.add("t", tag)
        g = gp[k]
        # a conductance of exactly 0 is an open crosspoint (no device): written as no
        # element at all (used by the closed-loop linear-algebra circuits, whose sparse
        # matrices have structural zeros; the MVM generators always pass g > 0)
        on = (g > 0).ravel()
        tag_, top_, bot_, g_ = tag.ravel()[on], top.ravel()[on], bot.ravel()[on], g.ravel()[on]
        if cfg.device == "linear":
            res = _fmt(1.0 / g_)
            lines += [f"Rc{n} {a} {b} {r}" for n, a, b, r in zip(
                tag_, top_, bot_, res, strict=True)]
        elif compiled:
            # devices.osdi_instance's line, written in one pass as the resistors are
            # (names and nodes are made here from integers; g > 0 checked above;
            # repr: the exact double)
            lines += [f"Nc{n} {b} {a} {_CELL_MODEL} g={gv!r}"
                      for n, a, b, gv in zip(tag_, top_, bot_, g_.tolist(), strict=True)]
        else:
            # device current flows n+ -> n- as current(V(n+) - V(n-)): the column
            # side is n+ so that positive current flows out of the output line
            lines += [dev.spice(f"c{n}", b, a, float(gv))
                      for n, a, b, gv in zip(tag_, top_, bot_, g_, strict=True)]
        if cfg.cell == "1T1R":
            w, ln = f"{cfg.access_w_m:.6g}", f"{cfg.access_l_m:.6g}"
            mos = cfg.mosfets.nmos
            lines += [f"Ma{n} {d} wl {s} 0 {mos} w={w} l={ln}"
                      for n, d, s in zip(tag_, np.char.add("t", tag_),
                                         cn.ravel()[on], strict=True)]
    return lines


def _periphery_lines(cfg: CrossbarConfig) -> list[str]:
    """Vcm reference, regulators and sense sources of every output line."""
    _, rp, cp = cfg.physical_shape
    lines = [f"Vcm vcm 0 {cfg.v_cm_v:.12g}"]
    if cfg.cell == "1T1R":
        lines.append(f"Vwl wl 0 {cfg.v_wordline_v:.12g}")
    for c in range(cp):
        if cfg.regulator == "ideal":
            lines.append(f"Vs{c} vcm o{c} 0")
        else:
            # V(g) = Vcm + A·(Vcm - V(o)); r_out from g to the line -> error I·r/(1+A)
            lines.append(f"Ereg{c} g{c} vcm vcm o{c} {cfg.regulator_gain:.12g}")
            lines.append(f"Vs{c} g{c} m{c} 0")
            lines.append(f"Rreg{c} m{c} o{c} {cfg.regulator_r_out_ohm:.12g}")
    return lines


def _driver_lines(cfg: CrossbarConfig, sources: list[str]) -> list[str]:
    """One source per physical row (``sources[r]`` is its value text) + r_driver."""
    lines = []
    for r, src in enumerate(sources):
        if cfg.r_driver_ohm > 0:
            lines.append(f"Vd{r} s{r} 0 {src}")
            lines.append(f"Rd{r} s{r} d{r} {cfg.r_driver_ohm:.12g}")
        else:
            lines.append(f"Vd{r} d{r} 0 {src}")
    return lines


def output_vectors(cfg: CrossbarConfig) -> list[str]:
    """ngspice vectors of the physical output-line currents (into the lines)."""
    _, _, cp = cfg.physical_shape
    return [f"vs{c}#branch" for c in range(cp)]


def driver_vectors(cfg: CrossbarConfig) -> list[str]:
    _, rp, _ = cfg.physical_shape
    return [f"vd{r}#branch" for r in range(rp)]


def op_output_vectors(cfg: CrossbarConfig) -> list[str]:
    """The operating point's output-line currents: probe voltages equal to
    :func:`output_vectors` (see :func:`_probe_lines`)."""
    _, _, cp = cfg.physical_shape
    return [f"v(po{c})" for c in range(cp)]


def op_driver_vectors(cfg: CrossbarConfig) -> list[str]:
    """The operating point's driver currents (probe voltages equal to
    :func:`driver_vectors`)."""
    _, rp, _ = cfg.physical_shape
    return [f"v(pd{r})" for r in range(rp)]


def _probe_lines(cfg: CrossbarConfig) -> list[str]:
    """Current probes, first in an operating-point netlist: a unity-gain CCVS per
    sense and driver source whose node voltage is that source's current
    (``v(po{c})`` = ``vs{c}#branch`` exactly: one row of the same linear solve).

    Why: ngspice lists node voltages in the order the netlist first names them,
    branch currents after all of them, and finds each ``.save`` name by a linear
    scan of that list (``beginPlot`` in outitf.c). Saving the branch currents cost
    ~67 million name comparisons at 256x256 (40 % of the run); saving nothing kept
    all ~131,600 vectors in memory (~60 MB). The probes' nodes come first, so their
    ``.save`` is found at once and ngspice keeps only them.
    """
    _, rp, cp = cfg.physical_shape
    return ([f"Hpo{c} po{c} 0 Vs{c} 1" for c in range(cp)]
            + [f"Hpd{r} pd{r} 0 Vd{r} 1" for r in range(rp)])


def _base_circuit(cfg: CrossbarConfig, gp: np.ndarray, drivers: list[str],
                  probes: bool = False) -> Circuit:
    circuit = Circuit(cfg.name)
    lines = _probe_lines(cfg) if probes else []
    if cfg.cell == "1T1R":
        lines += cfg.mosfets.spice_lines()
    lines += _periphery_lines(cfg)
    lines += _driver_lines(cfg, drivers)
    lines += array_lines(cfg, gp)
    circuit.raw_spice = "\n".join(lines)
    return circuit


def _options(cfg: CrossbarConfig) -> list[str]:
    return [f".options temp={cfg.temperature_c:.6g} tnom={cfg.temperature_c:.6g}"]


def crossbar_design(cfg: CrossbarConfig, conductances: np.ndarray, x: np.ndarray) -> Design:
    """Operating-point netlist: every row driven at v_cm - x·v_read (DC)."""
    g = check_conductances(cfg, conductances)
    x = check_inputs(cfg, x)
    gp = physical_conductances(cfg, g)
    u = row_drive(cfg, x)
    drivers = [f"{cfg.v_cm_v - ui:.12g}" for ui in u]
    circuit = _base_circuit(cfg, gp, drivers, probes=True)
    saves = op_output_vectors(cfg) + op_driver_vectors(cfg)
    return Design(circuit, ".op", saves, meta={"kind": "crossbar_op"}, options=_options(cfg),
                  save_lines=True)


def pwm_waveforms(cfg: CrossbarConfig, codes: np.ndarray, t_lsb_s: float,
                  t_edge_s: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """PWL breakpoints (times_s, volts) of every physical row for signed codes.

    The pulse of |code|·t_lsb starts at t_edge (so the first rise is inside the
    window), each edge takes ``t_edge_s`` and the level is v_cm ∓ v_read by the
    code's sign; symmetric edges keep the pulse area |code|·t_lsb exactly. A row
    with code 0 is a single point at v_cm.
    """
    codes = np.asarray(codes)
    sign = np.sign(codes).astype(float)
    mags = np.abs(codes)
    if cfg.encoding == "hermes":
        sign = np.stack([sign, -sign], axis=1).ravel()
        mags = np.repeat(mags, 2)
    vcm = cfg.v_cm_v
    out = []
    for s_, m in zip(sign, mags, strict=True):
        if m == 0:
            out.append((np.array([0.0]), np.array([vcm])))
            continue
        lvl = vcm - s_ * cfg.v_read_v
        t2 = t_edge_s + m * t_lsb_s
        out.append((np.array([0.0, t_edge_s, 2 * t_edge_s, t2, t2 + t_edge_s]),
                    np.array([vcm, vcm, lvl, lvl, vcm])))
    return out


def pwm_sources(cfg: CrossbarConfig, codes: np.ndarray, t_lsb_s: float,
                t_edge_s: float) -> list[str]:
    """SPICE source text per physical row (see :func:`pwm_waveforms`)."""
    out = []
    for t, v in pwm_waveforms(cfg, codes, t_lsb_s, t_edge_s):
        if t.size == 1:
            out.append(f"{v[0]:.12g}")
        else:
            pts = " ".join(f"{ti:.6e} {vi:.12g}" for ti, vi in zip(t, v, strict=True))
            out.append(f"PWL({pts})")
    return out


def check_codes(cfg: CrossbarConfig, codes: np.ndarray, n_bits: int = 8) -> np.ndarray:
    codes = np.asarray(codes)
    lim = 2 ** (n_bits - 1) - 1
    if codes.shape != (cfg.rows,):
        raise ValueError(f"codes have shape {codes.shape}, expected ({cfg.rows},)")
    if not np.all(np.isfinite(codes.astype(float))) or np.any(codes != np.round(codes)):
        raise ValueError("codes must be integers")
    if np.any(np.abs(codes) > lim):
        i = int(np.argmax(np.abs(codes) > lim))
        raise ValueError(f"code {codes[i]!r} at row {i} is out of range -{lim}..{lim} "
                         f"(signed {n_bits}-bit: sign + magnitude)")
    return codes.astype(int)


def _stores_charge(cfg: CrossbarConfig) -> bool:
    return cfg.cell == "1T1R" or cfg.c_wire_row_f > 0 or cfg.c_wire_col_f > 0


def default_edge_steps(cfg: CrossbarConfig) -> int:
    """Time steps across each 20 ps PWM edge in the step plan.

    * linear cells: 1. Along an edge every current is linear in time, so the
      trapezoid over the two corners is the exact charge.
    * non-linear cells without charge storage (1R): 2, integrated with Simpson's
      rule (:func:`_charges`). Against 0.5 ps steps (6x4 HERMES PCM, 8x4 RRAM):
      3e-6 and 9e-7 of the largest charge, where ngspice's own step control (the
      setting before the plan) is off by 1.2e-5 and 1.4e-5.
    * non-linear cells with charge storage (1T1R): 4, trapezoid (the access
      transistors' charges move during the edge, see :func:`pwm_step_plan`):
      5.7e-6 (6x4 HERMES PCM 1T1R), ngspice's own step control 8.6e-6.
    """
    if cfg.device == "linear":
        return 1
    return 4 if _stores_charge(cfg) else 2


def _netlist_time(t: np.ndarray) -> np.ndarray:
    """Times as ngspice reads them from the PWL text (``%.6e``, see pwm_sources)."""
    return np.array([float(f"{v:.6e}") for v in np.ravel(t)])


def pwm_step_plan(cfg: CrossbarConfig, codes: np.ndarray, t_lsb_s: float, t_edge_s: float,
                  t_max_s: float, edge_steps: int | None = None) -> StepPlan | None:
    """The time points a PWM transient needs (see :func:`crossbar_pwm_design`).

    * every PWL corner (the start and end of every edge);
    * ``edge_steps - 1`` evenly spaced points inside every edge (default
      :func:`default_edge_steps`);
    * with charge storage (1T1R access transistors, line capacitances): one more
      point one edge step after every edge. ngspice integrates the first step after
      a breakpoint with backward Euler, so the charges that move during an edge
      appear in the sense current as its mean over the edge's first step; with the
      step after the edge as long, the trapezoid over the saved points returns
      exactly that charge (a 1 ns step there would count it 50 times over).

    Returns None when no row has a pulse (ngspice's own step control then).
    """
    waves = [w for w in pwm_waveforms(cfg, codes, t_lsb_s, t_edge_s) if w[0].size > 1]
    if not waves:
        return None
    if edge_steps is None:
        edge_steps = default_edge_steps(cfg)
    if not isinstance(edge_steps, int | np.integer) or isinstance(edge_steps, bool) \
            or not 1 <= edge_steps <= 100:
        raise ValueError(f"edge_steps must be an integer in 1..100, got {edge_steps!r}")
    corners = _netlist_time(np.concatenate([t for t, _ in waves]))
    # edge starts: the 2nd and 4th PWL point of every pulse (see pwm_waveforms)
    starts = _edge_starts(cfg, codes, t_lsb_s, t_edge_s)
    h = t_edge_s / edge_steps
    extra = [starts + k * h for k in range(1, edge_steps)]
    if _stores_charge(cfg):
        extra.append(starts + t_edge_s + h)
    pts = np.unique(np.concatenate([corners, *extra]))
    return StepPlan(pts[pts > 0], t_max_s)


def _edge_starts(cfg: CrossbarConfig, codes: np.ndarray, t_lsb_s: float,
                 t_edge_s: float) -> np.ndarray:
    waves = [t for t, _ in pwm_waveforms(cfg, codes, t_lsb_s, t_edge_s) if t.size > 1]
    if not waves:
        return np.zeros(0)
    return np.unique(_netlist_time(np.concatenate([t[[1, 3]] for t in waves])))


def _charges(t: np.ndarray, i: np.ndarray, starts: np.ndarray, t_edge_s: float,
             steps: int) -> np.ndarray:
    """∫ i dt over the saved points: trapezoid, and composite Simpson across every
    edge whose ``steps`` (even) equal sub-steps are consecutive saved points.

    Along an edge the voltages ramp linearly, so a non-linear cell's current is a
    smooth curve in t there (kinks only at the edge ends): Simpson's rule over the
    plan's points inside the edge is exact to the fourth power of the sub-step where
    the trapezoid is exact to the second (for 2 steps per edge of the HERMES PCM law:
    ~1e-7 instead of ~3e-5 of the largest charge). Used only for arrays without
    charge storage, whose sense current is the cells' current alone.
    """
    q = np.trapezoid(i, t, axis=-1)
    if steps < 2 or steps % 2 or starts.size == 0:
        return q
    h = t_edge_s / steps
    k0 = np.searchsorted(t, starts - 1e-3 * h)
    w = np.ones(steps + 1)                       # Simpson minus trapezoid weights
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    w = w * h / 3.0
    w[0] -= h / 2
    w[-1] -= h / 2
    w[1:-1] -= h
    for k, a in zip(k0, starts, strict=True):
        idx = np.arange(k, k + steps + 1)
        if idx[-1] >= t.size or np.max(np.abs(t[idx] - (a + h * np.arange(steps + 1)))) > 1e-3 * h:
            continue                             # ngspice took other points here
        q = q + i[..., idx] @ w
    return q


def crossbar_pwm_design(cfg: CrossbarConfig, conductances: np.ndarray, codes: np.ndarray,
                        t_lsb_s: float = 1e-9, t_edge_s: float = 20e-12,
                        window_s: float | None = None, t_step_s: float = 10e-12,
                        t_max_step_s: float | None = None, edge_steps: int | None = None,
                        step_plan: bool = True) -> Design:
    """Transient netlist: PWM inputs (PWL sources with finite edges).

    The output-line charges are ∫ i dt of the sense sources over the window.

    Time-step control (``step_plan=True``, the default): the transient lands on a
    list of time points, :func:`pwm_step_plan` (every PWL corner, points inside the
    edges of non-linear cells, one point after each edge where charge is stored),
    and steps straight from one to the next unless ngspice's truncation-error
    estimate asks for less. ngspice on its own restarts at 0.1 x the step after
    every breakpoint and at most doubles it per time point, ~14 time points (28
    matrix factorisations) per pulse end; the plan needs 2-4. The largest step is
    one LSB (``t_max_step_s``). ``step_plan=False``: ngspice's own step control
    (every corner still a breakpoint it lands on).
    """
    g = check_conductances(cfg, conductances)
    codes = check_codes(cfg, codes)
    check_positive(t_lsb_s, "t_lsb_s")
    check_positive(t_edge_s, "t_edge_s")
    check_positive(t_step_s, "t_step_s")
    t_max = t_lsb_s if t_max_step_s is None else t_max_step_s
    check_positive(t_max, "t_max_step_s")
    gp = physical_conductances(cfg, g)
    span = int(np.max(np.abs(codes))) * t_lsb_s + 3 * t_edge_s
    window = window_s if window_s is not None else max(span, t_lsb_s) + 2 * t_edge_s
    check_positive(window, "window_s")
    circuit = _base_circuit(cfg, gp, pwm_sources(cfg, codes, t_lsb_s, t_edge_s))
    saves = ["time"] + output_vectors(cfg) + driver_vectors(cfg)
    t_max = max(t_max, t_step_s)
    plan = pwm_step_plan(cfg, codes, t_lsb_s, t_edge_s, t_max, edge_steps) if step_plan else None
    steps = edge_steps if edge_steps is not None else default_edge_steps(cfg)
    meta = {"kind": "crossbar_pwm", "window_s": window,
            "simpson_edge_steps": steps if plan is not None and not _stores_charge(cfg) else 0}
    return Design(circuit, f".tran {t_step_s:.6e} {window:.6e} 0 {t_max:.6e}",
                  saves, meta=meta, options=_options(cfg), step_plan=plan)


@dataclass
class CrossbarResult:
    """Operating point of a crossbar.

    ``i_out_a``: logical output currents (A, positive = into the line from the
    regulator); ``i_phys_a``: every physical output line; ``power_w``: power
    dissipated in the array, wires and drivers (sources' Σ(V - v_cm)·I).
    """

    i_out_a: np.ndarray
    i_phys_a: np.ndarray
    i_rows_a: np.ndarray
    power_w: float
    sim_time_s: float


def simulate_op(cfg: CrossbarConfig, conductances: np.ndarray, x: np.ndarray,
                timeout_s: float = 600.0, batch: bool = False) -> CrossbarResult:
    """Build and run the operating point; return output currents and power.

    ``batch=True`` runs it in a separate ``ngspice -b`` process (same results; the
    memory of a very large array is returned when that process ends).
    """
    design = crossbar_design(cfg, conductances, x)
    res = design.simulate(timeout_s, batch=batch)
    i_phys = np.array([res.scalar(v) for v in op_output_vectors(cfg)])
    # V-source branch current flows + -> - through the source: a row source
    # delivers -I into its line.
    i_rows = -np.array([res.scalar(v) for v in op_driver_vectors(cfg)])
    u = row_drive(cfg, np.asarray(x, dtype=float))
    # driver at v_cm - u delivers i_rows; regulators at v_cm deliver i_phys
    power = float(np.sum(-u * i_rows))
    return CrossbarResult(combine_outputs(cfg, i_phys), i_phys, i_rows, power, res.sim_time_s)


@dataclass
class CrossbarPwmResult:
    """Integrated output-line charge (C) over a PWM window, and the source energy."""

    q_out_c: np.ndarray
    q_phys_c: np.ndarray
    energy_j: float
    time_s: np.ndarray
    i_phys_a: np.ndarray
    sim_time_s: float


def simulate_pwm(cfg: CrossbarConfig, conductances: np.ndarray, codes: np.ndarray,
                 t_lsb_s: float = 1e-9, t_edge_s: float = 20e-12,
                 window_s: float | None = None, t_step_s: float = 10e-12,
                 timeout_s: float = 600.0, t_max_step_s: float | None = None,
                 edge_steps: int | None = None, step_plan: bool = True) -> CrossbarPwmResult:
    """Run the PWM transient and integrate each output line's current (trapezoid over
    the saved time points; see :func:`crossbar_pwm_design` for the time steps)."""
    design = crossbar_pwm_design(cfg, conductances, codes, t_lsb_s, t_edge_s, window_s,
                                 t_step_s, t_max_step_s, edge_steps, step_plan)
    res = design.simulate(timeout_s)
    t = res["time"]
    i_phys = np.stack([res[v] for v in output_vectors(cfg)])
    steps = design.meta["simpson_edge_steps"]
    starts = _edge_starts(cfg, check_codes(cfg, codes), t_lsb_s, t_edge_s) if steps else None
    q_phys = _charges(t, i_phys, starts, t_edge_s, steps) if steps else \
        np.trapezoid(i_phys, t, axis=1)
    # energy delivered by the row sources relative to v_cm (dissipated in the array):
    # Σ_r ∫ (V_r(t) - v_cm)·i_r(t) dt with the sources' own waveforms
    waves = pwm_waveforms(cfg, check_codes(cfg, codes), t_lsb_s, t_edge_s)
    e = float(sum(np.trapezoid((np.interp(t, tw, vw) - cfg.v_cm_v) * -res[v], t)
                  for (tw, vw), v in zip(waves, driver_vectors(cfg), strict=True)))
    return CrossbarPwmResult(combine_outputs(cfg, q_phys), q_phys, e, t, i_phys, res.sim_time_s)


def ideal_currents(cfg: CrossbarConfig, conductances: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Ideal (no wire, linear device) logical currents Wᵀ·(x·v_read)."""
    return effective_weights(cfg, conductances).T @ (np.asarray(x, float) * cfg.v_read_v)
