"""Closed-loop crossbars for linear algebra: solve ``Ax = b`` and find eigenvectors.

Seed 003 (Ielmini) and Sun et al., PNAS 116, 4123 (2019) / IEEE TED 67, 2945 (2020):
a crossbar in the feedback loop of operational amplifiers computes the *inverse*
matrix-vector product in one step.

**Solver.** ``A`` (N x N) is stored as conductances ``G = g_unit·A``: the device
between driven line ``j`` and sense line ``i`` holds ``A[i, j]`` (the crossbar's
input "rows" are the driven lines, its output "columns" the sense lines; same
wires, drivers and device I-V as :mod:`aimc.circuits.crossbar`). Op-amp ``i`` holds
sense line ``i`` at virtual ground (its inverting input) and drives line ``i``
(its output ``u_i``); a current ``-i_unit·b_i`` is drawn from sense line ``i``.
KCL at the virtual ground gives ``G u = i_unit·b``, so ``u = (i_unit/g_unit)·A⁻¹b``
(the paper's ``x ∝ -A⁻¹b`` with the input sign flipped). Mixed-sign matrices use two
arrays ``A = A⁺ - A⁻`` (``two_arrays=True``): the ``A⁻`` devices sit on a
complementary line driven by an inverting stage (``-u_j``), as in the paper.

**Stability (derived here).** With single-pole amplifiers (unity-gain angular
frequency ``ω_t``) and no node capacitance, the sense-line voltage is
``v_i = ((A u)_i - b_i)/S_i`` with ``S_i = Σ_j |A_ij|`` (all conductance on the
line, in units of ``g_unit``), and the inverting amplifier integrates it:
``du/dt = -ω_t·S⁻¹(A u - b)``. The loop settles only if every eigenvalue of the
*loop matrix* ``M = S⁻¹A`` has a positive real part, and the slowest mode decays as
``exp(-ω_t·λ_min·t)``: the time to 0.1 % is ``ln(1000)/(2π·GBW·λ_min(M))``,
independent of N for a fixed ``λ_min`` (the "O(1)" claim of TED 2020).
:func:`check_stability` refuses a matrix that violates it, naming the eigenvalue.

**Eigenvector circuit.** A feedback conductance ``G_λ = λ·g_unit`` from each output
to its own sense line and the crossbar driven by the *inverted* outputs: KCL gives
``A u = λ u``. Set at the largest eigenvalue, the principal mode is marginal and all
others decay at rates ``ω_t·(λ - λ_k)/(S + λ)``: the outputs settle on the
eigenvector with the amplitude of the initial state. Set slightly below
(``λ(1 - margin)``), the principal mode grows until the largest output reaches the
amplifier's swing limit, which pins it (the paper's saturation); the others then
settle at ``(λ_set·I - A)_{-k} u_{-k} = A_{-k,k}·u_k`` — the eigenvector to O(margin).
Used for PageRank (the Google matrix, eigenvalue 1) and, on ``c·I - H``, for the
ground state of a tridiagonal Hamiltonian.

Analyses: operating point (the solution), transient (settling time to 0.1 % from a
step of ``b``; energy drawn from the amplifier rails and dissipated in the array).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aimc.circuits.crossbar import CrossbarConfig, array_lines
from aimc.circuits.netlist import Design
from aimc.circuits.opamp import OpAmp
from aimc.circuits.safety import check_choice, check_finite, check_name, check_positive
from PySpice.Spice.Netlist import Circuit

SETTLE_TOL = 1e-3
"""Settling band: 0.1 % of the largest final output."""

MAX_SPICE_N = 128
"""Largest N the SPICE path accepts by default (128x128 devices per array)."""


class LinalgInputError(ValueError):
    """A matrix, vector or graph that the circuits cannot take (message says why/fix)."""


class UnstableMatrixError(LinalgInputError):
    """The loop matrix has an eigenvalue with non-positive real part."""


class TooLargeError(LinalgInputError):
    """N is beyond the SPICE path's limit: use the surrogate."""


class NotSettledError(RuntimeError):
    """The transient did not settle within its window (or the outputs saturated)."""


@dataclass
class LinalgConfig:
    """Circuit parameters of the closed-loop crossbar (SI units).

    Crossbar options as in :class:`aimc.circuits.crossbar.CrossbarConfig`: wire
    resistance per cell on the driven (``row``) and sense (``col``) lines, line
    capacitance per segment (transient), driver output resistance between each
    amplifier and its line, device I-V (``linear``, ``pcm``, ``rram``).
    ``g_max_s`` is the conductance of the largest |entry| (PCM 25 µS, FACTS.md);
    ``v_x_max_v`` the output voltage of the largest |x| (0.2 V: the HERMES read
    voltage, where the PCM/RRAM I-V is within 10 % of linear).
    """

    opamp: OpAmp = field(default_factory=OpAmp)
    device: str = "linear"
    device_params: dict[str, float] = field(default_factory=dict)
    r_wire_row_ohm: float = 0.0
    r_wire_col_ohm: float = 0.0
    c_wire_row_f: float = 0.0
    c_wire_col_f: float = 0.0
    r_driver_ohm: float = 0.0
    g_max_s: float = 25e-6
    v_x_max_v: float = 0.2
    two_arrays: bool = False
    r_inv_ohm: float = 100e3          # resistors of the unity inverting stage
    max_spice_n: int = MAX_SPICE_N
    temperature_c: float = 27.0
    name: str = "linalg"

    def __post_init__(self) -> None:
        check_choice(self.device, ("linear", "pcm", "rram"), "device model")
        for attr in ("r_wire_row_ohm", "r_wire_col_ohm", "c_wire_row_f", "c_wire_col_f",
                     "r_driver_ohm"):
            check_positive(getattr(self, attr), attr, allow_zero=True)
        for attr in ("g_max_s", "v_x_max_v", "r_inv_ohm"):
            check_positive(getattr(self, attr), attr)
        check_finite(self.temperature_c, "temperature_c")
        check_name(self.name, "circuit name")
        if int(self.max_spice_n) < 1:
            raise ValueError(f"max_spice_n must be >= 1, got {self.max_spice_n!r}")
        if not self.opamp.ideal and self.v_x_max_v >= self.opamp.v_out_max_v:
            raise ValueError(f"v_x_max_v ({self.v_x_max_v} V) must be below the op-amp "
                             f"swing ({self.opamp.v_out_max_v} V)")

    def crossbar(self, n: int, arrays: int) -> CrossbarConfig:
        """The crossbar's own config (its wires, device, driver) for N sense lines."""
        return CrossbarConfig(rows=arrays * n, cols=n, device=self.device,
                              device_params=dict(self.device_params),
                              r_wire_row_ohm=self.r_wire_row_ohm,
                              r_wire_col_ohm=self.r_wire_col_ohm,
                              c_wire_row_f=self.c_wire_row_f, c_wire_col_f=self.c_wire_col_f,
                              r_driver_ohm=self.r_driver_ohm, temperature_c=self.temperature_c,
                              name=self.name)


# ------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------

def check_matrix(a: Any, two_arrays: bool, what: str = "A") -> np.ndarray:
    """A finite, square, non-empty matrix; negative entries need ``two_arrays``."""
    try:
        a = np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        raise LinalgInputError(f"{what} must be a numeric matrix") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise LinalgInputError(f"{what} must be a square N x N matrix, got shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise LinalgInputError(f"{what}[{i}, {j}] = {float(a[i, j])}: entries must be finite "
                               "(no NaN or inf)")
    if np.all(a == 0):
        raise LinalgInputError(f"{what} is all zeros")
    if not two_arrays and np.any(a < 0):
        i, j = (int(k) for k in np.argwhere(a < 0)[0])
        raise LinalgInputError(
            f"{what}[{i}, {j}] = {a[i, j]:.6g} is negative: one crossbar holds only "
            "non-negative conductances; use two arrays (A = A+ - A-, with an inverting "
            "stage): two_arrays=True / --two-arrays")
    return a


def check_vector(b: Any, n: int, what: str = "b") -> np.ndarray:
    try:
        b = np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        raise LinalgInputError(f"{what} must be a numeric vector") from None
    if b.shape != (n,):
        raise LinalgInputError(f"{what} has shape {b.shape}, expected ({n},) to match A")
    bad = ~np.isfinite(b)
    if bad.any():
        i = int(np.argmax(bad))
        raise LinalgInputError(f"{what}[{i}] = {float(b[i])}: entries must be finite (no NaN)")
    return b


def check_nonsingular(a: np.ndarray, rcond: float = 1e-12) -> float:
    """Raise naming the smallest singular value if ``a`` is (numerically) singular;
    return the 2-norm condition number."""
    s = np.linalg.svd(a, compute_uv=False)
    if s[-1] <= rcond * s[0]:
        rank = int(np.sum(s > rcond * s[0]))
        raise LinalgInputError(
            f"A is singular: smallest singular value {s[-1]:.3g} vs largest {s[0]:.3g} "
            f"(numerical rank {rank} of {a.shape[0]}); Ax = b has no unique solution, so "
            "the loop has no unique operating point")
    return float(s[0] / s[-1])


def check_size(n: int, cfg: LinalgConfig) -> None:
    if n > cfg.max_spice_n:
        raise TooLargeError(
            f"N = {n} is too large for the SPICE path (limit {cfg.max_spice_n}: "
            f"{n * n:,} devices per array); use the surrogate instead "
            "(aimc.surrogate.linalg_model, `aimc linalg ... --surrogate`)")


def loop_matrix(a: np.ndarray) -> np.ndarray:
    """``M = S⁻¹A`` with ``S_i = Σ_j |A_ij|``: the matrix the solver's loop sees."""
    s = np.abs(a).sum(axis=1)
    if np.any(s == 0):
        i = int(np.argmax(s == 0))
        raise LinalgInputError(f"row {i} of A is all zeros: A is singular")
    return a / s[:, None]


def loop_eigenvalues(a: np.ndarray) -> np.ndarray:
    """Eigenvalues of the loop matrix, sorted by real part (smallest first)."""
    ev = np.linalg.eigvals(loop_matrix(a))
    return ev[np.argsort(ev.real)]


def check_stability(a: np.ndarray) -> float:
    """Return ``λ_min`` = the smallest real part of the loop matrix's eigenvalues;
    raise :class:`UnstableMatrixError` naming the eigenvalue if it is <= 0."""
    ev = loop_eigenvalues(a)
    lam = ev[0]
    if lam.real <= 1e-12:
        txt = f"{lam.real:.4g}" + (f"{lam.imag:+.4g}j" if abs(lam.imag) > 1e-12 else "")
        raise UnstableMatrixError(
            f"the loop cannot settle: the loop matrix S^-1 A (S = row sums of |A|) has the "
            f"eigenvalue {txt} with non-positive real part ({int(np.sum(ev.real <= 1e-12))} "
            f"of {len(ev)} such eigenvalues; Sun et al., IEEE TED 2020). Solve an equivalent "
            "system whose eigenvalues have positive real parts, e.g. the normal equations "
            "(A^T A) x = A^T b, or flip the sign of rows of A and b")
    return float(lam.real)


def matrix_with_lambda_min(n: int, lam_min: float, rng: np.random.Generator) -> np.ndarray:
    """A dense random matrix ``U(0,1) + α·I`` with ``α`` chosen (root-finding) so that the
    loop matrix's smallest real eigenvalue part is ``lam_min`` (0 < lam_min < 1): the
    family on which the settling time is compared across N."""
    if not 0 < lam_min < 1:
        raise ValueError(f"lam_min must be in (0, 1), got {lam_min!r}")
    from scipy.optimize import brentq

    u = rng.uniform(0.0, 1.0, (n, n))

    def f(alpha: float) -> float:
        return float(loop_eigenvalues(u + alpha * np.eye(n))[0].real) - lam_min

    lo, hi = 0.0, 1.0
    if f(lo) > 0:
        raise ValueError(f"lam_min {lam_min} is below the random part's own value "
                         f"{f(lo) + lam_min:.3g} at N = {n}")
    while f(hi) < 0:
        hi *= 2
    return u + brentq(f, lo, hi, xtol=1e-12) * np.eye(n)


def slowest_mode_rhs(a: np.ndarray) -> np.ndarray:
    """``b = A·v`` with ``v`` the (real part of the) loop matrix's slowest eigenvector:
    the input whose step response is all in the slowest mode (worst-case settling)."""
    w, vecs = np.linalg.eig(loop_matrix(a))
    v = np.real(vecs[:, np.argmin(w.real)])
    return a @ (v / np.max(np.abs(v)))


def settle_time_predicted(lam_min: float, opamp: OpAmp, tol: float = SETTLE_TOL) -> float:
    """``ln(1/tol)/(2π·GBW·λ_min)``: time to ``tol`` of the single-pole loop (derived)."""
    return math.log(1.0 / tol) / (opamp.omega_t * lam_min)


# ------------------------------------------------------------------------------------
# netlist pieces
# ------------------------------------------------------------------------------------

def _fmt(v: float) -> str:
    return repr(float(v))


def _split(a: np.ndarray, two_arrays: bool) -> tuple[np.ndarray, np.ndarray | None]:
    if two_arrays:
        return np.clip(a, 0, None), np.clip(-a, 0, None)
    return a, None


def _physical(plus_t: np.ndarray, minus_t: np.ndarray | None) -> np.ndarray:
    """(1, Rp, N) physical conductances: rows driven by u (plus) and by -u (minus)
    interleaved (row 2j: u_j, row 2j+1: -u_j) when both arrays are present."""
    if minus_t is None:
        return plus_t[None]
    n = plus_t.shape[1]
    out = np.zeros((1, 2 * plus_t.shape[0], n))
    out[0, 0::2] = plus_t
    out[0, 1::2] = minus_t
    return out


def _drivers(cfg: LinalgConfig, sources: list[str]) -> list[str]:
    out = []
    for r, src in enumerate(sources):
        if cfg.r_driver_ohm > 0:
            out.append(f"Rd{r} {src} d{r} {_fmt(cfg.r_driver_ohm)}")
        else:
            out.append(f"Vdr{r} {src} d{r} 0")
    return out


def _amplifiers(cfg: LinalgConfig, n: int, inverters: bool) -> list[str]:
    op = cfg.opamp
    lines = op.supply_lines()
    for k in range(n):
        lines += op.lines(f"m{k}", f"o{k}", f"u{k}")
        if inverters:
            r = _fmt(cfg.r_inv_ohm)
            lines += [f"Rin{k} u{k} ni{k} {r}", f"Rfb{k} ni{k} un{k} {r}"]
            lines += op.lines(f"i{k}", f"ni{k}", f"un{k}")
    return lines


def _circuit(cfg: LinalgConfig, lines: list[str]) -> Circuit:
    c = Circuit(cfg.name)
    c.raw_spice = "\n".join(lines)
    return c


def _options(cfg: LinalgConfig) -> list[str]:
    return [f".options temp={cfg.temperature_c:.6g} tnom={cfg.temperature_c:.6g}"]


def output_vectors(n: int) -> list[str]:
    return [f"v(u{k})" for k in range(n)]


@dataclass
class Mapping:
    """How numbers become circuit quantities: ``G = g_unit·A``, ``I = i_unit·b``,
    ``x = u·g_unit/i_unit``."""

    g_unit_s: float
    i_unit_a: float
    range_source: str

    @property
    def x_per_volt(self) -> float:
        return self.g_unit_s / self.i_unit_a


def mapping_for(a: np.ndarray, b: np.ndarray, cfg: LinalgConfig,
                x_range: float | None = None) -> Mapping:
    """Conductance and current units. The current range maps ``x_range`` (the largest
    |x| expected) to ``v_x_max_v``; without it, |x| is estimated digitally
    (``numpy.linalg.solve``), the way a host would set an input gain before a solve."""
    g_unit = cfg.g_max_s / float(np.max(np.abs(a)))
    if x_range is None:
        x_range = float(np.max(np.abs(np.linalg.solve(a, b))))
        src = "digital estimate of max|x|"
    else:
        check_positive(x_range, "x_range")
        src = "given x_range"
    if x_range == 0:
        x_range = 1.0
    return Mapping(g_unit, cfg.v_x_max_v * g_unit / x_range, src)


def solver_design(a: np.ndarray, b: np.ndarray, cfg: LinalgConfig, mapping: Mapping,
                  analysis: str = "op", t_stop_s: float | None = None,
                  t_edge_s: float = 1e-9) -> Design:
    """Netlist of the solver: operating point, or a transient from a step of ``b``."""
    check_choice(analysis, ("op", "tran"), "analysis")
    n = a.shape[0]
    plus, minus = _split(a, cfg.two_arrays)
    arrays = 2 if minus is not None else 1
    gp = _physical(plus.T * mapping.g_unit_s,
                   None if minus is None else minus.T * mapping.g_unit_s)
    xcfg = cfg.crossbar(n, arrays)
    sources = ([f"u{j}" for j in range(n)] if arrays == 1
               else [s for j in range(n) for s in (f"u{j}", f"un{j}")])
    lines: list[str] = []
    lines += _amplifiers(cfg, n, inverters=arrays == 2)
    lines += _drivers(cfg, sources)
    lines += array_lines(xcfg, gp)
    i_b = b * mapping.i_unit_a
    saves = output_vectors(n)
    if analysis == "op":
        lines += [f"Ib{i} o{i} 0 {_fmt(v)}" for i, v in enumerate(i_b)]
        an = ".op"
    else:
        if cfg.opamp.ideal:
            raise ValueError("a transient needs a finite-bandwidth op-amp (ideal=False)")
        check_positive(t_stop_s, "t_stop_s")
        lines += [f"Ib{i} o{i} 0 PWL(0 0 {_fmt(t_edge_s)} {_fmt(v)})"
                  for i, v in enumerate(i_b)]
        step = t_stop_s / 2000
        an = f".tran {step:.6e} {t_stop_s:.6e} 0 {step:.6e}"
        saves = ["time"] + saves + ["vdd#branch", "vss#branch"]
    if not cfg.opamp.ideal and analysis == "op":
        saves = saves + ["vdd#branch", "vss#branch"]
    return Design(_circuit(cfg, lines), an, saves,
                  meta={"kind": "linalg_solve", "n": n, "arrays": arrays},
                  options=_options(cfg))


# ------------------------------------------------------------------------------------
# solve
# ------------------------------------------------------------------------------------

@dataclass
class SolveResult:
    """Solution read from the circuit.

    ``x``: the solution in the user's units; ``u_v``: amplifier outputs (V);
    ``lambda_min``: smallest real part of the loop matrix's eigenvalues;
    transient only: ``t_settle_s`` (to 0.1 % of the largest output after the step of
    b), ``t_settle_predicted_s`` (single-pole formula), ``energy_j`` (rails' energy
    over the settling time: quiescent + output current), ``e_array_j`` (part of it
    dissipated in the array and drivers), ``time_s``/``waves_v`` (waveforms).
    """

    x: np.ndarray
    u_v: np.ndarray
    mapping: Mapping
    lambda_min: float
    cond: float
    sim_time_s: float
    power_w: float = float("nan")
    t_settle_s: float = float("nan")
    t_settle_predicted_s: float = float("nan")
    energy_j: float = float("nan")
    e_quiescent_j: float = float("nan")
    time_s: np.ndarray | None = None
    waves_v: np.ndarray | None = None


def _rails_power(res: Any, op: OpAmp, tran: bool) -> np.ndarray:
    v = op.v_supply_v
    # V-source branch current flows + -> - through the source: power delivered -V·i
    p = -v * res["vdd#branch"] + v * res["vss#branch"]
    return p if tran else np.asarray(p).reshape(-1)[:1]


def settling_time(t: np.ndarray, waves: np.ndarray, t0: float = 0.0,
                  tol: float = SETTLE_TOL) -> tuple[float, bool]:
    """(time after ``t0`` of the last sample outside ``±tol·max|final|`` of the final
    values, settled?) — settled means the last 10 % of the window stays in the band."""
    final = waves[:, -1]
    band = tol * max(float(np.max(np.abs(final))), 1e-30)
    out = np.any(np.abs(waves - final[:, None]) > band, axis=0)
    tail = t >= t[-1] - 0.1 * (t[-1] - t0)
    # the tail must be flat relative to its own end: compare with its first sample
    tail_span = np.max(np.abs(waves[:, tail] - waves[:, tail][:, :1]))
    settled = bool(tail_span <= band)
    idx = np.flatnonzero(out)
    t_last = t[idx[-1] + 1] if idx.size and idx[-1] + 1 < t.size else (t[-1] if idx.size
                                                                       else t0)
    return float(t_last - t0), settled


def solve(a: Any, b: Any, cfg: LinalgConfig | None = None, transient: bool = False,
          x_range: float | None = None, check_loop: bool = True,
          window_factor: float = 4.0, timeout_s: float = 600.0) -> SolveResult:
    """Solve ``Ax = b`` on the closed-loop crossbar in ngspice.

    Checks, before any netlist is written: finite square ``A`` and ``b``, negative
    entries only with ``two_arrays``, non-singular, N within the SPICE limit, and the
    loop's stability (``check_loop=False`` skips the last one so that the transient
    shows what happens: :class:`NotSettledError`). ``transient=True`` runs the step
    response for ``window_factor`` x the predicted settling time and reports settling
    time and energy.
    """
    cfg = cfg or LinalgConfig()
    a = check_matrix(a, cfg.two_arrays)
    n = a.shape[0]
    b = check_vector(b, n)
    check_size(n, cfg)
    cond = check_nonsingular(a)
    if check_loop:
        lam = check_stability(a)
    else:
        lam = float(loop_eigenvalues(a)[0].real)
    mp = mapping_for(a, b, cfg, x_range)
    if not transient:
        design = solver_design(a, b, cfg, mp, "op")
        res = design.simulate(timeout_s)
        u = np.array([res.scalar(v) for v in output_vectors(n)])
        _check_swing(u, cfg)
        p = float(_rails_power(res, cfg.opamp, False)[0]) if not cfg.opamp.ideal else float("nan")
        return SolveResult(u * mp.x_per_volt, u, mp, lam, cond, res.sim_time_s, power_w=p)
    t_pred = settle_time_predicted(lam, cfg.opamp) if lam > 0 else 10 / cfg.opamp.omega_t
    t_stop = window_factor * t_pred
    design = solver_design(a, b, cfg, mp, "tran", t_stop)
    res = design.simulate(timeout_s)
    t = res["time"]
    waves = np.stack([res[v] for v in output_vectors(n)])
    ts, settled = settling_time(t, waves)
    u = waves[:, -1]
    if not settled or not np.all(np.isfinite(u)):
        raise NotSettledError(
            f"the solver did not settle within {t_stop:.3g} s ({window_factor:g} x the "
            f"predicted {t_pred:.3g} s; loop matrix lambda_min = {lam:.4g}): outputs still "
            f"moving by more than {SETTLE_TOL:.1%} at the end"
            + (" and at the op-amp swing limit" if np.max(np.abs(u)) >=
               0.999 * cfg.opamp.v_out_max_v else ""))
    k = int(np.argmax(np.abs(u)))
    if abs(u[k]) >= 0.999 * cfg.opamp.v_out_max_v:
        raise NotSettledError(
            f"the solver did not settle on a solution: output {k} ran to the op-amp swing "
            f"limit ({u[k]:.4g} V of ±{cfg.opamp.v_out_max_v} V) — the loop is unstable "
            f"(loop matrix lambda_min = {lam:.4g}) or the inputs are too large (x_range)")
    p = _rails_power(res, cfg.opamp, True)
    in_settle = t <= ts
    e = float(np.trapezoid(p[in_settle], t[in_settle])) if in_settle.sum() > 1 else 0.0
    n_amp = n * (2 if cfg.two_arrays else 1)
    e_q = 2 * cfg.opamp.v_supply_v * cfg.opamp.i_q_a * n_amp * ts
    return SolveResult(u * mp.x_per_volt, u, mp, lam, cond, res.sim_time_s,
                       power_w=float(p[-1]), t_settle_s=ts, t_settle_predicted_s=t_pred,
                       energy_j=e, e_quiescent_j=e_q, time_s=t, waves_v=waves)


def _check_swing(u: np.ndarray, cfg: LinalgConfig) -> None:
    if cfg.opamp.ideal:
        return
    k = int(np.argmax(np.abs(u)))
    if abs(u[k]) >= 0.999 * cfg.opamp.v_out_max_v:
        raise NotSettledError(
            f"output {k} sits at the op-amp swing limit ({u[k]:.4g} V of "
            f"±{cfg.opamp.v_out_max_v} V): the solution is clipped; give a larger x_range "
            "(smaller input currents)")


# ------------------------------------------------------------------------------------
# eigenvector circuit
# ------------------------------------------------------------------------------------

def eig_design(h: np.ndarray, lam_set: float, cfg: LinalgConfig, u0: np.ndarray,
               t_stop_s: float, g_lambda: np.ndarray | None = None) -> Design:
    """Transient netlist of the eigenvector circuit (see module doc).

    Positive entries of ``h`` sit on lines driven by the inverted outputs ``-u``,
    negative ones (``two_arrays``) on lines driven by ``u``; ``G_λ = |λ_set|·g_unit``
    from ``u_i`` (``λ_set > 0``) or ``-u_i`` to sense line ``i``. ``u0`` is the initial
    state of the amplifiers (V); ``g_lambda`` the per-line feedback conductances in
    units of ``g_unit`` (default ``|λ_set|``).
    """
    if cfg.opamp.ideal:
        raise ValueError("the eigenvector circuit needs a finite-bandwidth op-amp with a "
                         "swing limit (ideal=False)")
    n = h.shape[0]
    g_unit = cfg.g_max_s / float(np.max(np.abs(h)))
    pos, neg = np.clip(h, 0, None), np.clip(-h, 0, None)
    two = cfg.two_arrays and bool(np.any(neg > 0))
    if two:
        gp = _physical(neg.T * g_unit, pos.T * g_unit)   # row 2j: u_j, 2j+1: -u_j
        sources = [s for j in range(n) for s in (f"u{j}", f"un{j}")]
    else:
        gp = _physical(pos.T * g_unit, None)
        sources = [f"un{j}" for j in range(n)]
    xcfg = cfg.crossbar(n, 2 if two else 1)
    lines = _amplifiers(cfg, n, inverters=True)
    lines += _drivers(cfg, sources)
    lines += array_lines(xcfg, gp)
    g_l = np.full(n, abs(lam_set)) if g_lambda is None else np.asarray(g_lambda, float)
    fb = "u" if lam_set > 0 else "un"
    lines += [f"Rl{i} {fb}{i} o{i} {_fmt(1.0 / (g_l[i] * g_unit))}" for i in range(n)]
    op = cfg.opamp
    ic = [f"v({op.state_node(f'm{k}')})={_fmt(u0[k])}" for k in range(n)]
    ic += [f"v({op.state_node(f'i{k}')})={_fmt(-u0[k])}" for k in range(n)]
    lines += [".ic " + " ".join(ic[k:k + 8]) for k in range(0, len(ic), 8)]
    step = t_stop_s / 2000
    saves = ["time"] + output_vectors(n) + ["vdd#branch", "vss#branch"]
    return Design(_circuit(cfg, lines), f".tran {step:.6e} {t_stop_s:.6e} 0 {step:.6e} uic",
                  saves, meta={"kind": "linalg_eig", "n": n, "g_unit_s": g_unit},
                  options=_options(cfg))


@dataclass
class EigResult:
    """Eigenvector read from the circuit: ``vector`` (unit 2-norm, largest |entry|
    positive), the set eigenvalue ``lambda_set`` (``λ·(1 - margin)``), settling time
    (direction within 0.1 %), energy over it, waveforms."""

    vector: np.ndarray
    u_v: np.ndarray
    eigenvalue: float
    lambda_set: float
    t_settle_s: float
    energy_j: float
    sim_time_s: float
    time_s: np.ndarray
    waves_v: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    k = np.argmax(np.abs(v), axis=-1)
    s = np.sign(np.take_along_axis(v, np.atleast_1d(k)[..., None], -1)) if v.ndim > 1 \
        else np.sign(v[k])
    return v * s / np.linalg.norm(v, axis=-1, keepdims=v.ndim > 1)


def feedback_conductances(h: np.ndarray, lam_set: float, opamp: OpAmp,
                          compensate_gain: bool = True) -> np.ndarray:
    """``G_λ,i`` in units of ``g_unit``. With ``compensate_gain`` each is trimmed for
    the amplifiers' finite DC gain A (sense line at ``-u_i/A``, inverter gain
    ``κ = A/(A+2)``): ``G_λ,i = (λ·κ - S_i/A)/(1 + 1/A)`` makes the loop's equation
    exactly ``H u = λ u`` (derived from KCL at the sense line)."""
    n = h.shape[0]
    if not compensate_gain or opamp.ideal:
        return np.full(n, abs(lam_set))
    a = opamp.gain
    kappa = a / (a + 2)
    s = np.abs(h).sum(axis=1)
    return np.abs((lam_set * kappa - np.sign(lam_set) * s / a) / (1 + 1 / a))


def eigenvector(h: Any, cfg: LinalgConfig | None = None, eigenvalue: float | None = None,
                margin: float = 0.0, kick: float = 0.2, window_factor: float = 3.0,
                compensate_gain: bool = True, seed: int = 0,
                timeout_s: float = 600.0) -> EigResult:
    """Eigenvector of the largest eigenvalue of ``h`` from the eigenvector circuit.

    ``eigenvalue``: the λ that ``G_λ`` is set to (default: computed digitally from
    ``h``, as the paper sets ``G_λ`` to a known eigenvalue; PageRank passes 1).
    ``margin = 0``: ``G_λ = λ`` — the principal mode is marginal (keeps its amplitude)
    and every other mode decays, so the outputs settle on ``c·v`` with ``c`` set by
    the initial state ``kick·v_out_max·(1 + 5 % seeded noise)``. ``margin > 0``:
    ``λ_set = λ(1 - margin)``, the principal mode grows until the largest output is
    pinned at the swing limit (the paper's saturation), with an O(margin) error.
    ``compensate_gain`` trims ``G_λ`` per line for the amplifiers' finite DC gain.
    """
    cfg = cfg or LinalgConfig()
    h = check_matrix(h, cfg.two_arrays, "H")
    n = h.shape[0]
    check_size(n, cfg)
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin!r}")
    if not 0 < kick < 1:
        raise ValueError(f"kick must be in (0, 1), got {kick!r}")
    w, vecs = np.linalg.eig(h)
    i1 = int(np.argmax(w.real))
    if eigenvalue is None:
        lam = float(w[i1].real)
    else:
        lam = check_finite(eigenvalue, "eigenvalue")
    if lam == 0:
        raise LinalgInputError("the eigenvalue to set is 0: G_λ = 0 cannot be built")
    lam_set = lam * (1 - margin) if lam > 0 else lam * (1 + margin)
    # linear dynamics: du/dt = ω_t (S + |λ_set|)^-1 (H - λ_set) u
    s = np.abs(h).sum(axis=1) + abs(lam_set)
    rates = np.linalg.eigvals((h - lam_set * np.eye(n)) / s[:, None])
    rates = rates[np.argsort(-rates.real)]
    tol = 1e-9
    if margin > 0 and rates[0].real <= tol:
        raise LinalgInputError(
            f"no eigenvalue of H lies above the set value {lam_set:.6g}: nothing can grow "
            "(set eigenvalue to the largest eigenvalue of H)")
    if np.sum(rates.real > tol) > (1 if margin > 0 else 0) or (
            margin == 0 and rates[0].real < -1e-6):
        raise LinalgInputError(
            f"G_λ set to {lam_set:.6g} is not the largest eigenvalue of H (largest "
            f"{w[i1].real:.6g}): the circuit settles only on the largest one; set "
            "eigenvalue to it, or shift the matrix (c·I - H for the smallest)")
    op = cfg.opamp
    if op.ideal:
        raise ValueError("the eigenvector circuit needs a finite-bandwidth op-amp (ideal=False)")
    rng = np.random.default_rng(seed)
    u0 = kick * op.v_out_max_v * (1.0 + 0.05 * rng.standard_normal(n))
    v1 = np.real(vecs[:, i1])
    k = int(np.argmax(np.abs(v1)))
    # slowest decay: of the free loop's other modes, and of the loop with the largest
    # output pinned at the swing limit (reached when margin > 0, or when the initial
    # state's projection is large)
    keep = np.arange(n) != k
    sub = (lam_set * np.eye(n) - h)[np.ix_(keep, keep)] / s[keep][:, None]
    nu = float(np.min(np.linalg.eigvals(sub).real)) if n > 1 else 1.0
    if margin > 0:
        t_grow = math.log(1.0 / kick) / (op.omega_t * float(rates[0].real))
    else:
        t_grow = 0.0
        nu = min(nu, float(-rates[1].real)) if n > 1 else 1.0
    if nu <= 0:
        raise LinalgInputError(
            f"the other modes do not decay (slowest rate {nu:.4g}): the eigenvalue is not "
            "separated from the rest")
    t_stop = window_factor * (t_grow + math.log(1 / SETTLE_TOL) / (op.omega_t * nu))
    g_l = feedback_conductances(h, lam_set, op, compensate_gain)
    design = eig_design(h, lam_set, cfg, u0, t_stop, g_l)
    res = design.simulate(timeout_s)
    t = res["time"]
    waves = np.stack([res[v] for v in output_vectors(n)])
    dirs = waves / np.maximum(np.linalg.norm(waves, axis=0, keepdims=True), 1e-30)
    dirs = dirs * np.sign(dirs[k:k + 1])
    ts, settled = settling_time(t, dirs)
    amp = float(np.max(np.abs(waves[:, -1])))
    if not settled or amp < 0.05 * op.v_out_max_v:
        raise NotSettledError(
            f"the eigenvector circuit did not settle within {t_stop:.3g} s (largest output "
            f"{amp:.3g} V, swing limit {op.v_out_max_v} V); increase window_factor, or "
            "check that the eigenvalue set is the largest")
    p = _rails_power(res, op, True)
    in_settle = t <= ts
    e = float(np.trapezoid(p[in_settle], t[in_settle])) if in_settle.sum() > 1 else 0.0
    return EigResult(_unit(waves[:, -1]), waves[:, -1], lam, lam_set, ts, e,
                     res.sim_time_s, t, waves)


# ------------------------------------------------------------------------------------
# PageRank and Hamiltonians
# ------------------------------------------------------------------------------------

def read_graph_csv(path: str | Path, n_nodes: int | None = None) -> tuple[np.ndarray, int]:
    """Directed edges ``source,target`` (integer ids 0..N-1; an optional header line,
    ``#`` comments). N is ``n_nodes`` or the largest id + 1. Returns (edges (E, 2), N)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"graph file {str(path)!r} does not exist")
    edges: list[tuple[int, int]] = []
    with path.open(newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            if len(cells) < 2:
                raise LinalgInputError(f"{path}:{lineno}: expected 'source,target', got "
                                       f"{','.join(cells)!r}")
            try:
                s, d = int(cells[0]), int(cells[1])
            except ValueError:
                if not edges and lineno == 1:
                    continue                       # header
                raise LinalgInputError(f"{path}:{lineno}: node ids must be integers, got "
                                       f"{cells[0]!r}, {cells[1]!r}") from None
            for v in (s, d):
                if v < 0 or (n_nodes is not None and v >= n_nodes):
                    hi = f"0..{n_nodes - 1}" if n_nodes is not None else ">= 0"
                    raise LinalgInputError(f"{path}:{lineno}: node id {v} is out of range "
                                           f"({hi}); fix the id or the node count")
            edges.append((s, d))
    if not edges:
        raise LinalgInputError(f"{path}: no edges")
    e = np.array(edges, dtype=int)
    n = n_nodes if n_nodes is not None else int(e.max()) + 1
    return e, n


def google_matrix(edges: np.ndarray, n: int, damping: float = 0.85,
                  dangling: str = "error") -> np.ndarray:
    """Column-stochastic Google matrix ``d·M + (1-d)/N`` (M_ij = 1/outdeg(j) for an edge
    j -> i; duplicate edges count once). A page without out-links (dangling) is refused
    unless ``dangling="uniform"`` (it then links to every page)."""
    check_choice(dangling, ("error", "uniform"), "dangling-node policy")
    if not 0 < damping < 1:
        raise LinalgInputError(f"damping must be in (0, 1), got {damping!r}")
    e = np.asarray(edges, dtype=int)
    if e.ndim != 2 or e.shape[1] != 2 or e.size == 0:
        raise LinalgInputError("edges must be an (E, 2) array of (source, target) ids")
    if e.min() < 0 or e.max() >= n:
        bad = e[(e < 0) | (e >= n)][0]
        raise LinalgInputError(f"node id {int(bad)} is out of range 0..{n - 1}")
    adj = np.zeros((n, n))
    adj[e[:, 1], e[:, 0]] = 1.0              # adj[i, j] = 1 for j -> i
    out = adj.sum(axis=0)
    dead = np.flatnonzero(out == 0)
    if dead.size and dangling == "error":
        ids = ", ".join(map(str, dead[:10])) + (" ..." if dead.size > 10 else "")
        raise LinalgInputError(
            f"{dead.size} dangling node(s) without out-links: {ids}; add their links, or "
            "treat them as linking to every page (dangling='uniform' / --dangling uniform)")
    adj[:, dead] = 1.0
    out = adj.sum(axis=0)
    return damping * adj / out[None, :] + (1 - damping) / n


def power_iteration(g: np.ndarray, tol: float = 1e-13, max_iter: int = 100000
                    ) -> tuple[np.ndarray, int]:
    """Reference PageRank: x <- G x (1-norm 1) until the change is below ``tol``."""
    n = g.shape[0]
    x = np.full(n, 1.0 / n)
    for it in range(1, max_iter + 1):
        y = g @ x
        y /= y.sum()
        if np.abs(y - x).sum() < tol:
            return y, it
        x = y
    return x, max_iter


def same_ranking(v: np.ndarray, ref: np.ndarray, tie_rel: float = 1e-9) -> bool:
    """True if ``v`` orders every pair of pages as ``ref`` does; pairs that ``ref`` ties
    (within ``tie_rel`` of its largest entry: e.g. pages without in-links) may go
    either way."""
    v, ref = np.asarray(v, float), np.asarray(ref, float)
    d_ref = ref[:, None] - ref[None, :]
    d_v = v[:, None] - v[None, :]
    strict = d_ref > tie_rel * np.max(np.abs(ref))
    return bool(np.all(d_v[strict] > 0))


def pagerank(edges: np.ndarray, n: int, cfg: LinalgConfig | None = None,
             damping: float = 0.85, dangling: str = "error", **kw: Any) -> EigResult:
    """PageRank from the eigenvector circuit: the Google matrix (all entries > 0, one
    array) with ``G_λ`` set for its principal eigenvalue, exactly 1."""
    g = google_matrix(edges, n, damping, dangling)
    return eigenvector(g, cfg, eigenvalue=1.0, **kw)


def tridiagonal_hamiltonian(potential: np.ndarray, hopping: float = 1.0) -> np.ndarray:
    """1-D tight-binding Schrödinger Hamiltonian: ``H_ii = 2t + V_i``, ``H_i,i±1 = -t``."""
    v = np.asarray(potential, dtype=float)
    n = v.size
    return (np.diag(2 * hopping + v) - hopping * (np.eye(n, k=1) + np.eye(n, k=-1)))


def ground_state_matrix(h: np.ndarray) -> tuple[np.ndarray, float]:
    """``(c·I - H, c)`` with ``c`` the largest Gershgorin bound of H: its principal
    eigenvector is H's ground state; for a tridiagonal H with hopping > 0 it is
    non-negative (one array)."""
    h = np.asarray(h, dtype=float)
    c = float(np.max(np.diag(h) + np.abs(h).sum(axis=1) - np.abs(np.diag(h))))
    return c * np.eye(h.shape[0]) - h, c
