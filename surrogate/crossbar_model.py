"""Crossbar surrogate: a physical line solve, compiled once per weight matrix, plus a
correction learned from SPICE.

Model (all lines of the physical array, see :mod:`aimc.circuits.crossbar`)
--------------------------------------------------------------------------
1. **Row lines, exactly** (:func:`row_solve`): every input line alone (driver
   resistance, one wire segment per cell, the device I-V law, column lines at v_cm)
   is solved by Newton iterations on its tridiagonal system, vectorised over all rows
   (Thomas algorithm), at ``N_BASIS`` Chebyshev drive levels. Each cell's row-only
   current is interpolated as ``f(u)·Σ_j a_j·T_j(u/v_read)``: ``N_BASIS`` compiled
   matrices, one matmul each per batch. Linear devices: the row ladder's attenuation
   ``alpha`` (:func:`ladder_attenuation`, an O(R·C) recurrence).
2. **Column lines**: by reciprocity, the fraction ``beta`` of each cell's current
   that reaches the sense end (wire segments + regulator resistance), with the other
   cells absorbing the column's rise at their small-signal conductance G·f'. β is
   solved at two values of f' and interpolated per input vector at its mean f'.
3. **Cross term** (second order in the wire resistances): the column lines' rise
   lowers the row currents, which raises the row lines. With the transfer
   impedances ``H`` (rows) and ``K`` (columns) of uniform ladders and a rank-1
   mean field of the cells in the middle of the path, this sum over N^4 paths
   factorises into two matrix products: ``dT = (Kᵀ·diag(a)·(beta∘G)) ∘
   ((G∘alpha)·diag(b)·Hᵀ)``, driven by f(ᾱ·u) (ᾱ: mean row attenuation).
4. **Learned correction**: one coefficient per term (``TERMS``) and device model, a
   scikit-learn ``Ridge`` on the SPICE residual, shrunk towards the physics (towards
   coefficients of 1).
5. **PWM**: every term is a row function times a compiled matrix, so the charge
   (the sum of operating points over the segments between sorted pulse ends) is the
   same matmuls with row functions weighted by the pulse durations; the per-segment
   mean f' enters through prefix sums.
6. **Read power**: Σ_r u_r·I_row,r with the rows' own currents, minus the current
   the column rise takes back, returned to the other rows' drivers in proportion to
   their conductance.

For linear devices the model is one linear map T = G∘alpha∘beta + dT (exact to
~0.02 LSB against the sparse nodal solve at 256x256) and a batch is one matmul.

Not modelled: 1T1R access transistors (the cell is a series MOSFET; the sweeps and
this model are 1R; compiling a 1T1R config raises an error).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from aimc.circuits.crossbar import (
    CrossbarConfig,
    combine_outputs,
    physical_conductances,
)
from aimc.surrogate.baselines import regulator_r_ohm, row_drive_batch

# ------------------------------------------------------------------------------------
# line solves
# ------------------------------------------------------------------------------------

def ladder_attenuation(y: np.ndarray, r_first: float, r_seg: float) -> np.ndarray:
    """Voltages (L, K) along L independent ladders for a 1 V source.

    Ladder: source -- ``r_first`` -- node 0 -- ``r_seg`` -- node 1 ... node K-1,
    shunt ``y[:, k]`` (S) from node k to ground. Vectorised over the L ladders.
    """
    n_lad, k = y.shape
    big_y = np.empty_like(y)
    big_y[:, -1] = y[:, -1]
    for j in range(k - 2, -1, -1):
        nxt = big_y[:, j + 1]
        big_y[:, j] = y[:, j] + nxt / (1.0 + r_seg * nxt)
    x = np.empty_like(y)
    x[:, 0] = 1.0 / (1.0 + r_first * big_y[:, 0])
    if r_seg > 0:
        for j in range(k - 1):
            x[:, j + 1] = x[:, j] / (1.0 + r_seg * big_y[:, j + 1])
    else:
        x[:, 1:] = x[:, :1]
    return x


def uniform_transfer(n: int, y: float, r_first: float, r_seg: float) -> np.ndarray:
    """Transfer impedance H[k, k'] (ohm) of a uniform ladder (shunts ``y`` at every
    node, source node grounded): voltage at k per ampere injected at k'.
    One banded (tridiagonal) LAPACK solve with n right-hand sides, O(n²)."""
    from scipy.linalg import solve_banded

    if r_seg == 0:
        if r_first == 0:
            return np.zeros((n, n))
        return np.full((n, n), 1.0 / (1.0 / r_first + n * y))
    if r_first == 0:  # node 0 is the grounded source itself
        h = np.zeros((n, n))
        if n > 1:
            h[1:, 1:] = uniform_transfer(n - 1, y, r_seg, r_seg)
        return h
    ab = np.zeros((3, n))
    ab[0, 1:] = -1.0 / r_seg
    ab[2, :-1] = -1.0 / r_seg
    ab[1, :] = y + 2.0 / r_seg
    ab[1, -1] = y + 1.0 / r_seg
    ab[1, 0] = y + 1.0 / r_seg + 1.0 / r_first
    return solve_banded((1, 1), ab, np.eye(n))


@dataclass
class LineSolve:
    """The compiled physical quantities of one crossbar and weight matrix."""

    g: np.ndarray        # (Rp, Cp) conductance per crosspoint (S), devices summed
    alpha: np.ndarray    # (Rp, Cp) row-line attenuation (driver resistance + wires)
    beta: np.ndarray     # (Rp, Cp) column-line current division
    cross: np.ndarray    # (Rp, Cp) second-order cross transfer (S)
    wire: np.ndarray     # (Rp, Cp) attenuation of the wires alone, from the driver node
    alpha_d: np.ndarray  # (Rp,) attenuation of the driver resistance: V_d = alpha_d·u


def column_division(cfg: CrossbarConfig, y: np.ndarray) -> np.ndarray:
    """β (Rp, Cp): fraction of a current injected at each cell that reaches the sense
    end of its column, with shunts ``y`` (reciprocity: a 1 V source at the sense end)."""
    r_col, r_reg = cfg.r_wire_col_ohm, regulator_r_ohm(cfg)
    return ladder_attenuation(y.T[:, ::-1], r_reg + r_col, r_col)[:, ::-1].T


def line_solve(cfg: CrossbarConfig, g_phys_sum: np.ndarray, chord: float = 1.0) -> LineSolve:
    """Row/column ladder attenuations and the cross term for conductances (Rp, Cp)."""
    g = np.asarray(g_phys_sum, dtype=float)
    ge = g * chord
    rp, cp = g.shape
    r_row, r_col = cfg.r_wire_row_ohm, cfg.r_wire_col_ohm
    r_drv, r_reg = cfg.r_driver_ohm, regulator_r_ohm(cfg)
    # row r: driver, r_d, then one segment before every cell
    alpha = ladder_attenuation(ge, r_drv + r_row, r_row)
    wire = ladder_attenuation(ge, r_row, r_row)
    alpha_d = 1.0 / (1.0 + r_drv * np.sum(ge * wire, axis=1))
    # column c: sense end, r_reg, one segment, cell Rp-1, ..., cell 0 (reciprocity)
    beta = ladder_attenuation(ge.T[:, ::-1], r_reg + r_col, r_col)[:, ::-1].T
    cross = np.zeros_like(g)
    if (r_row > 0 or r_drv > 0) and (r_col > 0 or r_reg > 0):
        gbar = float(ge.mean())
        h = uniform_transfer(cp, gbar, r_drv + r_row, r_row)
        k = uniform_transfer(rp, gbar, r_reg + r_col, r_col)[::-1, ::-1]
        a = ge.mean(axis=1)                      # rank-1 mean field: G[r, c'] ~ a_r·b_c'
        b = ge.mean(axis=0) / gbar
        left = k.T @ (a[:, None] * (beta * ge))
        right = ((ge * alpha) * b[None, :]) @ h.T
        cross = left * right / chord
    return LineSolve(g, alpha, beta, cross, wire, alpha_d)


# ------------------------------------------------------------------------------------
# device row functions and the compiled terms
# ------------------------------------------------------------------------------------

N_TERMS = 3
TERMS = ("own_row", "col_rise", "cross")
"""The physical terms: ``own_row``, the cells' currents with their own row line
solved exactly (driver resistance, wires, device law), as a polynomial-times-
device-law in the drive; ``col_rise``, the part of those currents that the column
line's rise takes back, (β(s) - 1)·own_row, with β solved with the absorbing cells at
their small-signal conductance G·s and interpolated per vector at s = f̄' (the mean
f'(ᾱ·u) over the physical rows); ``cross``, the rows' response to the column rise,
f̄'·dT·f(ᾱ·u) (ᾱ: mean row attenuation)."""

N_BASIS = 6
N_SHUNT = 2
"""Basis functions of a cell's row-only current vs drive: f(u)·T_j(u/v_read),
j < N_BASIS (Chebyshev polynomials), interpolated at N_BASIS Chebyshev nodes."""


def device_terms(dev, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f(u), f'(u), f''(u) of the normalised device law (g = 1 S), by central differences."""
    h = 1e-4
    f0 = dev.current(u, 1.0)
    fp = dev.current(u + h, 1.0)
    fm = dev.current(u - h, 1.0)
    return f0, (fp - fm) / (2 * h), (fp - 2 * f0 + fm) / (h * h)


def chord_factor(dev, v_t: float) -> float:
    """Symmetric chord conductance at ±v_t relative to G (1 for a linear device)."""
    return float((dev.current(v_t, 1.0) - dev.current(-v_t, 1.0)) / (2 * v_t))


def cheb_nodes(v_read: float, n: int | None = None) -> np.ndarray:
    n = N_BASIS if n is None else n
    return v_read * np.cos(np.pi * (np.arange(n) + 0.5) / n)


def basis(dev, u: np.ndarray, v_read: float, n: int | None = None) -> list[np.ndarray]:
    """[f(u)·T_j(u/v_read)] for j < n (Chebyshev T_j by recurrence)."""
    n = N_BASIS if n is None else n
    f = dev.current(u, 1.0)
    z = np.clip(u / v_read, -1.0, 1.0)
    t = [np.ones_like(z), z]
    while len(t) < n:
        t.append(2 * z * t[-1] - t[-2])
    return [f * tj for tj in t[:n]]


def row_solve(dev, g: np.ndarray, u: np.ndarray, r_first: float, r_seg: float,
              chord: float, n_iter: int = 2) -> np.ndarray:
    """Cell voltages (K, Rp, Cp) of every row line alone (columns at v_cm) for the
    drives ``u`` (K,): source -- r_first -- cell 0 -- r_seg -- cell 1 ... with cell
    currents g·f(v). Newton on the tridiagonal system, vectorised over K x Rp lines
    (Thomas algorithm), started from the linear solution with the chord factor."""
    kk = u.size
    rp, cp = g.shape
    if r_seg == 0:   # the row is one node behind r_first
        v = np.broadcast_to(u[:, None], (kk, rp)).copy()
        gs = g.sum(axis=1)[None, :]
        for _ in range(n_iter if r_first > 0 else 0):
            f, fp, _ = device_terms(dev, v)
            res = (u[:, None] - v) / r_first - gs * f
            v = v + res / (1.0 / r_first + gs * fp)
        return np.broadcast_to(v[:, :, None], (kk, rp, cp)).copy()
    lin = ladder_attenuation(g * chord, r_first, r_seg)
    # work in (Cp, K·Rp) layout: every step of the line recurrences is contiguous
    gl = np.broadcast_to(g.T[:, None, :], (cp, kk, rp)).reshape(cp, kk * rp)
    v = (lin.T[:, None, :] * u[None, :, None]).reshape(cp, kk * rp)
    u_l = np.repeat(u, rp)
    if r_first == 0:
        r_first = 1e-9   # the first cell sits on the source: a tiny series resistance
    g1, gs = 1.0 / r_first, 1.0 / r_seg
    diag0 = np.full((cp, 1), 2 * gs)
    diag0[0] = g1 + gs if cp > 1 else g1
    diag0[-1] = gs if cp > 1 else g1
    c_ = np.empty_like(v)
    d_ = np.empty_like(v)
    for _ in range(n_iter):
        f, fp, _ = device_terms(dev, v)
        # residual (current into each node): from the left, to the right, into the cell
        res = -gl * f
        res[0] += (u_l - v[0]) * g1
        dv_seg = (v[:-1] - v[1:]) * gs        # current through the segment j -> j+1
        res[1:] += dv_seg
        res[:-1] -= dv_seg
        diag = diag0 + gl * fp                # Jacobian tridiag(-gs, diag, -gs)
        c_[0] = -gs / diag[0]
        d_[0] = res[0] / diag[0]
        for j in range(1, cp):
            den = diag[j] + gs * c_[j - 1]
            c_[j] = -gs / den
            d_[j] = (res[j] + gs * d_[j - 1]) / den
        for j in range(cp - 2, -1, -1):
            d_[j] -= c_[j] * d_[j + 1]
        v += d_
    return v.reshape(cp, kk, rp).transpose(1, 2, 0)


@dataclass
class Terms:
    """Compiled matrices: ``own`` (N_BASIS, Rp, Cp) coefficients of the basis, the
    column-rise and cross matrices (Rp, Cp)."""

    own: np.ndarray
    beta: np.ndarray         # (S, Rp, Cp) column current division at the shunt scales
    cross: np.ndarray
    linear: bool
    s_grid: np.ndarray       # (S,) small-signal factor of the absorbing cells
    alpha_mean: float        # mean row attenuation (for the per-vector f' estimate)
    g: np.ndarray            # (Rp, Cp) conductance per crosspoint


def term_matrices(cfg: CrossbarConfig, g: np.ndarray) -> Terms:
    """Solve the lines once for a config and conductances."""
    dev = cfg.device_model()
    lin = dev.name == "linear"
    k = 1.0 if lin else chord_factor(dev, 0.5 * cfg.v_read_v)
    ls = line_solve(cfg, physical_conductances(cfg, g).sum(axis=0), k)
    gg = ls.g
    a_mean = float(ls.alpha.mean())
    if lin:
        own = (gg * ls.alpha)[None]
        return Terms(own, ls.beta[None], ls.cross, True, np.ones(1), a_mean, gg)
    # the column rise is absorbed by the cells' small-signal conductance G·f'(v): solve
    # the column division at two values of f' and interpolate (linearly, in s) per
    # vector at its mean f'
    # grid: f'(0) = 1 and the mean f' of uniformly distributed inputs (about where f̄'
    # falls for dense inputs); the interpolation is linear and extrapolates beyond
    z = np.linspace(-1.0, 1.0, 201)
    s_u = float(device_terms(dev, a_mean * cfg.v_read_v * z)[1].mean())
    s_grid = np.array([1.0, max(s_u, 1.0 + 1e-3)])
    col = np.stack([column_division(cfg, gg * sj) for sj in s_grid])
    v_read = cfg.v_read_v
    nodes = cheb_nodes(v_read)
    v = row_solve(dev, gg, nodes, cfg.r_driver_ohm + cfg.r_wire_row_ohm, cfg.r_wire_row_ohm,
                  k)
    cur = gg[None] * dev.current(v, 1.0)                       # (K, Rp, Cp)
    # interpolate cur(u) = Σ_j a_j·f(u)·T_j(u/v_read) at the nodes
    bmat = np.stack(basis(dev, nodes, v_read), axis=1)           # (K nodes, N_BASIS)
    own = np.einsum("jk,krc->jrc", np.linalg.inv(bmat), cur)
    return Terms(own, col, ls.cross, False, s_grid, a_mean, gg)


# ------------------------------------------------------------------------------------
# compiled model
# ------------------------------------------------------------------------------------

@dataclass
class CompiledCrossbar:
    """A crossbar surrogate compiled for one config and weight matrix.

    ``currents(x)``: (B, rows) inputs in [-1, 1] -> (B, cols) output currents (A).
    ``charges(codes, t_lsb_s)``: signed PWM codes (B, rows) -> (B, cols) charge (C),
    the exact sum of this model's operating points over the segments between pulse
    ends. ``power(x)`` (W) and ``pwm_energy(codes, t_lsb_s)`` (J): read power /
    energy of the array, wires and drivers.
    """

    cfg: CrossbarConfig
    own: np.ndarray          # (S, N_BASIS, Rp, Cp) at the shunt scales; linear: (1, Rp, Cp)
    cross: np.ndarray | None  # (Rp, Cp) cross term (x f̄'·f(u)); None: linear
    power_scale: float
    linear: bool
    s_grid: np.ndarray | None = None
    alpha_mean: float = 1.0
    own_row: np.ndarray | None = None   # (N_BASIS, Rp, Cp) row-only currents (no β)
    g_norm: np.ndarray | None = None    # (Rp, Cp) G / Σ_r G per column

    def _fbar_weights(self, fbar: np.ndarray) -> np.ndarray:
        """Linear inter/extrapolation weights (..., 2) of f̄' between the two shunt
        scales (β is smooth in s: 1/(1 + s·x) for a uniform column)."""
        s0, s1 = self.s_grid
        t = (fbar - s0) / (s1 - s0)
        return np.stack([1 - t, t], axis=-1)

    def _u(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.shape[1] != self.cfg.rows:
            raise ValueError(f"inputs have {x.shape[1]} rows, the crossbar has "
                             f"{self.cfg.rows}")
        return row_drive_batch(self.cfg, x)

    def _parts(self, u: np.ndarray, weight=None) -> list[tuple[np.ndarray, np.ndarray]]:
        """(row function, matrix) pairs; ``weight`` = (t, wb) (B, Rp) multiplies the row
        functions (PWM: durations, and durations x per-segment mean f')."""
        if self.linear:
            w = u if weight is None else u * weight
            return [(w, self.own[0])]
        dev = self.cfg.device_model()
        rows = basis(dev, u, self.cfg.v_read_v, self.own.shape[1])
        # the cross term is driven by the device current at the mean attenuated drive
        f, fp, _ = device_terms(dev, self.alpha_mean * u)
        if weight is None:
            fbar = fp.mean(axis=1)                                          # (B,)
            ws = self._fbar_weights(fbar)                                  # (B, S)
            wa = 1.0
            wcol = [ws[:, j:j + 1] for j in range(ws.shape[1])]
            wb = fbar[:, None]
        else:
            wa, wcol, wb = weight
        parts = [(r * wa * wj, m) for wj, own_s in zip(wcol, self.own, strict=True)
                 for r, m in zip(rows, own_s, strict=True)]
        parts.append((f * wb, self.cross))
        return parts

    def _apply(self, parts) -> np.ndarray:
        out = parts[0][0] @ parts[0][1]
        for p, m in parts[1:]:
            out += p @ m
        return out

    def currents(self, x: np.ndarray) -> np.ndarray:
        return combine_outputs(self.cfg, self.currents_phys(x))

    def currents_phys(self, x: np.ndarray) -> np.ndarray:
        """Currents (B, Cp) of every physical output line (differential: both lines)."""
        return self._apply(self._parts(self._u(x)))

    def _energy(self, u: np.ndarray, weight=None, t: np.ndarray | None = None
                ) -> np.ndarray:
        """Σ_r u_r·∫I_row,r: the rows' own currents (row-only solve), minus the current
        the column rise takes back through the other rows' cells, returned to those
        rows' drivers in proportion to their conductance (mean field)."""
        parts = self._parts(u, weight)
        if self.linear:
            own = [(parts[0][0], self.own_row[0])]
        else:
            dev = self.cfg.device_model()
            tw = 1.0 if t is None else t
            rows = basis(dev, u, self.cfg.v_read_v, self.own_row.shape[0])
            own = [(r * tw, m) for r, m in zip(rows, self.own_row, strict=True)]
        i_row = sum(p * m.sum(axis=1) for p, m in own)
        sense = sum(p @ m for p, m in (parts if self.linear else parts[:-1]))
        own_cols = sum(p @ m for p, m in own)
        taken = own_cols - sense                                    # (B, Cp)
        drive = u if t is None else u * (t / max(float(np.max(t)), 1e-30))
        back = taken * (drive @ self.g_norm)
        return self.power_scale * (np.sum(u * i_row, axis=1) - np.sum(back, axis=1))

    def power(self, x: np.ndarray) -> np.ndarray:
        return self._energy(self._u(x))

    def _pwm(self, codes: np.ndarray, t_lsb_s: float, durations_s: np.ndarray | None):
        codes = np.atleast_2d(np.asarray(codes, dtype=float))
        x = np.sign(codes)
        t = np.abs(codes) * t_lsb_s if durations_s is None else \
            np.broadcast_to(np.atleast_2d(np.asarray(durations_s, float)), codes.shape)
        t = np.where(x != 0, t, 0.0)
        u = self._u(x)
        if self.cfg.encoding == "hermes":
            t = np.repeat(t, 2, axis=1)
        if self.linear:
            return u, t
        # segments between sorted pulse ends: rows active in segment j are those whose
        # pulse lasts beyond its start; f̄' of a segment is the mean f' over all rows
        # (inactive rows sit at 0 V, f'(0) = 1)
        _, fp, _ = device_terms(self.cfg.device_model(), self.alpha_mean * u)
        order = np.argsort(-t, axis=1)                       # longest first
        ts = np.take_along_axis(t, order, axis=1)            # descending ends
        fps = np.take_along_axis(fp, order, axis=1)
        n = t.shape[1]
        # with the j+1 longest pulses active, mean f' = (Σ_{i<=j} f'_i + (n-j-1))/n
        fbar = (np.cumsum(fps - 1.0, axis=1) + n) / n
        seg = ts - np.concatenate([ts[:, 1:], np.zeros((t.shape[0], 1))], axis=1)

        def acc(per_seg: np.ndarray) -> np.ndarray:
            # row i (sorted) is active in segments j >= i: Σ_{j>=i} per_seg_j·seg_j
            a = np.cumsum((per_seg * seg)[:, ::-1], axis=1)[:, ::-1]
            out = np.empty_like(t)
            np.put_along_axis(out, order, a, axis=1)
            return out

        ws = self._fbar_weights(fbar)                        # (B, n, S)
        wcol = [acc(ws[:, :, j]) for j in range(ws.shape[2])]
        return u, (1.0, wcol, acc(fbar))

    def pwm_rows(self) -> PwmRows:
        """The model collapsed onto the logical rows for PWM drives (every row at 0 or
        ±v_read): see :class:`PwmRows`. Computed once per compiled crossbar."""
        cached = self.__dict__.get("_pwm_rows")
        if cached is None:
            cached = self.__dict__["_pwm_rows"] = _pwm_rows(self)
        return cached

    def charges(self, codes: np.ndarray, t_lsb_s: float = 1e-9,
                durations_s: np.ndarray | None = None) -> np.ndarray:
        """Integrated output charge (B, cols) under PWM (pulse of ``|code|·t_lsb`` or of
        ``durations_s`` per row, level by the code's sign)."""
        u, w = self._pwm(codes, t_lsb_s, durations_s)
        return combine_outputs(self.cfg, self._apply(self._parts(u, w)))

    def pwm_energy(self, codes: np.ndarray, t_lsb_s: float = 1e-9,
                   durations_s: np.ndarray | None = None) -> np.ndarray:
        u, w = self._pwm(codes, t_lsb_s, durations_s)
        t = w if self.linear else self._pwm_t(codes, t_lsb_s, durations_s)
        return self._energy(u, w, t)

    def _pwm_t(self, codes, t_lsb_s, durations_s) -> np.ndarray:
        codes = np.atleast_2d(np.asarray(codes, dtype=float))
        t = np.abs(codes) * t_lsb_s if durations_s is None else \
            np.broadcast_to(np.atleast_2d(np.asarray(durations_s, float)), codes.shape)
        t = np.where(codes != 0, t, 0.0)
        return np.repeat(t, 2, axis=1) if self.cfg.encoding == "hermes" else t


# ------------------------------------------------------------------------------------
# PWM fast evaluation: the model on logical rows that are off or at ±v_read
# ------------------------------------------------------------------------------------

@dataclass
class PwmRows:
    """:class:`CompiledCrossbar` for drives where every logical row is off or at ±v_read
    (PWM), exactly, as row sums.

    A logical row ``i`` with sign ``x_i`` (-1, 0, +1) adds, to each logical output,
    ``x_i·d0[i] + |x_i|·s0[i] + f̄'·(x_i·d1[i] + |x_i|·s1[i])``, where ``f̄'`` is the
    mean f' of the vector, ``base + Σ_active (x_i·dfd[i] + |x_i|·dfs[i])``: the
    interpolation of the column division between its two shunt scales and the cross
    term are both linear in f̄', so every term is a row sum of two matrices.

    Under PWM (row ``i`` on during ``t_i``) the charge is therefore
    ``[x·t, |x|·t, x·τ, |x|·τ] @ [d0; s0; d1; s1]`` with ``τ_i = ∫_0^{t_i} f̄'(t) dt``
    (:meth:`tau`): one matmul, equal to the sum over the segments between pulse ends.
    """

    d0: np.ndarray        # (rows, cols) logical outputs, A per unit drive
    s0: np.ndarray
    d1: np.ndarray        # (rows, cols) x f̄'
    s1: np.ndarray
    dfd: np.ndarray       # (rows,) contribution of an active row to f̄' (odd part)
    dfs: np.ndarray       # (rows,) (even part)
    base: float           # f̄' with every row off

    @property
    def stacked(self) -> np.ndarray:
        """(4·rows, cols): [d0; s0; d1; s1]."""
        return np.concatenate([self.d0, self.s0, self.d1, self.s1], axis=0)

    def fbar(self, signs: np.ndarray) -> np.ndarray:
        """f̄' (B,) of drive vectors of signs (B, rows) (the exact path's per-segment f̄')."""
        s = np.asarray(signs, float)
        return self.base + s @ self.dfd + np.abs(s) @ self.dfs

    def currents(self, signs: np.ndarray) -> np.ndarray:
        """Logical output currents (B, cols) for drive signs (B, rows) in {-1, 0, 1}."""
        s = np.asarray(signs, float)
        a = np.abs(s)
        fb = self.fbar(s)[:, None]
        return s @ self.d0 + a @ self.s0 + fb * (s @ self.d1 + a @ self.s1)

    def tau(self, mags: np.ndarray, signs: np.ndarray, n_levels: int
            ) -> tuple[np.ndarray, np.ndarray]:
        """τ (B, rows) in LSB units, Σ over the LSB steps a row is on of f̄' in that step,
        for integer pulse lengths ``mags`` (B, rows) in [0, n_levels]; and f̄' (B,
        n_levels + 1) of every step l = 1..n_levels (column 0: 0)."""
        mags = np.asarray(mags, np.int64)
        s = np.asarray(signs, float)
        b, n = mags.shape
        width = n_levels + 1
        # histogram over reversed levels (column n_levels - l): the rows on in step l,
        # those with mags >= l, are then a forward cumulative sum
        idx = ((n_levels - mags) + width * np.arange(b)[:, None]).ravel()
        if not np.any(self.dfd) and np.ptp(self.dfs) == 0:
            # every row adds the same to f̄' (the usual case: one device law, rows at
            # ±v_read): count the rows per level (rows off sit at level 0, unused)
            hist = np.bincount(idx, minlength=b * width).reshape(b, width) * self.dfs[0]
        else:
            contrib = np.abs(s) * self.dfs[None, :]
            if np.any(self.dfd):
                contrib = contrib + s * self.dfd[None, :]
            hist = np.bincount(idx, contrib.ravel(), b * width).reshape(b, width)
        on = np.cumsum(hist, axis=1)[:, ::-1]
        fb = on + self.base
        fb[:, 0] = 0.0
        cum = np.cumsum(fb, axis=1)           # cum[:, l] = Σ_{k=1..l} f̄'_k
        tau = cum.ravel()[(mags + width * np.arange(b)[:, None]).ravel()].reshape(b, n)
        return tau, fb


def _pwm_rows(comp: CompiledCrossbar) -> PwmRows:
    cfg = comp.cfg
    n = cfg.rows
    # physical rows of each logical row (HERMES: two, driven at ±u) and their drives
    # when the logical row is on at +1 / -1: every term is a sum over physical rows
    member = (comp._u(np.eye(n)) != 0).astype(float)             # (n, Rp)
    dev = None if comp.linear else cfg.device_model()
    fp0 = 0.0 if comp.linear else float(device_terms(dev, np.zeros(1))[1][0])
    out = {}
    for sgn in (1.0, -1.0):
        u = comp._u(np.full((1, n), sgn))[0]                     # (Rp,)
        if comp.linear:
            const = u[:, None] * comp.own[0]
            slope = np.zeros_like(const)
            dfb = np.zeros_like(u)
        else:
            rows = basis(dev, u, cfg.v_read_v, comp.own.shape[1])
            per_s = [sum(r[:, None] * m for r, m in zip(rows, own_s, strict=True))
                     for own_s in comp.own]                     # the two shunt scales
            f, fp, _ = device_terms(dev, comp.alpha_mean * u)
            s0, s1 = comp.s_grid
            # Σ_s w_s(f̄')·A_s with w linear in f̄' -> const + f̄'·slope; + f̄'·f·cross
            slope = (per_s[1] - per_s[0]) / (s1 - s0) + f[:, None] * comp.cross
            const = per_s[0] - s0 * (per_s[1] - per_s[0]) / (s1 - s0)
            dfb = (fp - fp0) / u.size
        out[sgn] = (combine_outputs(cfg, member @ const), combine_outputs(cfg, member @ slope),
                    member @ dfb)
    (cp, sp, fpp), (cm, sm, fpm) = out[1.0], out[-1.0]
    return PwmRows(0.5 * (cp - cm), 0.5 * (cp + cm), 0.5 * (sp - sm), 0.5 * (sp + sm),
                   0.5 * (fpp - fpm), 0.5 * (fpp + fpm), fp0)


# ------------------------------------------------------------------------------------
# estimator
# ------------------------------------------------------------------------------------

class DomainError(ValueError):
    """Evaluation far outside the fitted validity domain."""


@dataclass
class CrossbarCase:
    """One SPICE point: config, conductances (config shape), inputs (rows,), outputs."""

    cfg: CrossbarConfig
    g: np.ndarray
    x: np.ndarray
    i_out_a: np.ndarray | None = None
    power_w: float | None = None


def _assemble(cfg: CrossbarConfig, terms: Terms, c: np.ndarray, power_scale: float
              ) -> CompiledCrossbar:
    gp = terms.g
    g_norm = gp / gp.sum(axis=0, keepdims=True)
    if terms.linear:
        m = terms.own[0] * (c[0] + c[1] * (terms.beta[0] - 1.0)) + c[2] * terms.cross
        return CompiledCrossbar(cfg, m[None], None, power_scale, True,
                                own_row=c[0] * terms.own, g_norm=g_norm)
    own = np.stack([terms.own * (c[0] + c[1] * (b - 1.0))[None] for b in terms.beta])
    return CompiledCrossbar(cfg, own, c[2] * terms.cross, power_scale, False, terms.s_grid,
                            terms.alpha_mean, c[0] * terms.own, g_norm)


def _features(cfg: CrossbarConfig, g: np.ndarray, x: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """(cols, N_TERMS) per-term output features and (N_TERMS,) power features."""
    terms = term_matrices(cfg, g)
    feats, pw = [], []
    for j in range(N_TERMS):
        c = np.zeros(N_TERMS)
        c[j] = 1.0
        comp = _assemble(cfg, terms, c, 1.0)
        feats.append(comp.currents(x)[0])
        pw.append(float(comp.power(x)[0]))
    return np.stack(feats, axis=1), np.array(pw)


DOMAIN_PARAMS = {  # name: (getter, scale, far)
    # sizes: the line solve is exact in the array size, the learned coefficients are
    # dimensionless, so sizes extrapolate further (up to 8x = 3 octaves) with a warning
    "rows": (lambda c: c.rows, "log", 3.0),
    "cols": (lambda c: c.cols, "log", 3.0),
    "r_wire_row_ohm": (lambda c: c.r_wire_row_ohm, "lin", 1.0),
    "r_wire_col_ohm": (lambda c: c.r_wire_col_ohm, "lin", 1.0),
    "r_driver_ohm": (lambda c: c.r_driver_ohm, "lin", 1.0),
    "v_read_v": (lambda c: c.v_read_v, "lin", 1.0),
}


ZERO_SAFE = ("r_wire_row_ohm", "r_wire_col_ohm", "r_driver_ohm")


def check_domain(values: dict[str, float], lo: dict[str, float], hi: dict[str, float],
                 scales: dict[str, str], what: str, policy: str = "warn",
                 far: dict[str, float] | None = None) -> list[str]:
    """Domain policy: inside [lo, hi] (with 5 % slack) is fine; outside by at most
    ``far[name]`` (default 1) times the fitted span (in log2 units for ``log``
    parameters, span at least 1 unit) warns; farther raises :class:`DomainError`.
    ``policy`` "error" raises on any excursion, "ignore" never complains. Returns the messages."""
    msgs = []
    for k, v in values.items():
        if k not in lo:
            continue
        a, b, val = float(lo[k]), float(hi[k]), float(v)
        tol = 0.05 * max(b - a, abs(b))          # 5 % slack: sampled bounds are not sharp
        if a - tol <= val <= b + tol:
            continue
        if scales.get(k) == "log" and a > 0 and val > 0:
            a, b, val = np.log2(a), np.log2(b), np.log2(val)
            span = max(b - a, 1.0)
        else:
            span = max(b - a, abs(b), 1e-30)
        dist = (a - val if val < a else val - b) / span
        lim = (far or {}).get(k, 1.0)
        msg = (f"{what}: {k} = {v!r} is outside the fitted domain [{lo[k]!r}, {hi[k]!r}]")
        msgs.append(msg)
        if policy == "error" or (policy == "warn" and dist > lim):
            raise DomainError(msg + (" (far outside)" if dist > lim else ""))
        if policy == "warn":
            warnings.warn(msg + "; extrapolating", stacklevel=3)
    return msgs


class CrossbarSurrogate:
    """scikit-learn-style estimator: ``fit(cases)`` / ``predict(cases)`` /
    ``compile(cfg, g)``.

    ``alpha``: ridge penalty pulling the learned term coefficients towards the
    physics (1.0 each), on features normalised per point by its full scale.
    ``domain_policy``: "warn" (default), "error" or "ignore" (see
    :func:`check_domain`).
    """

    def __init__(self, alpha: float = 1e-3, domain_policy: str = "warn") -> None:
        self.alpha = alpha
        self.domain_policy = domain_policy

    # -- fitting ----------------------------------------------------------------------
    def fit(self, cases: list[CrossbarCase]) -> CrossbarSurrogate:
        from sklearn.linear_model import Ridge

        if len(cases) < 2:
            raise ValueError(f"need at least 2 crossbar points to fit, got {len(cases)}")
        by_dev: dict[str, list[tuple[np.ndarray, np.ndarray, float, float, float]]] = {}
        for c in cases:
            if c.cfg.cell != "1R":
                raise ValueError(f"cell {c.cfg.cell!r} is not modelled (1R only)")
            if c.i_out_a is None or not np.all(np.isfinite(c.i_out_a)):
                raise ValueError("a crossbar point has no (finite) i_out_a")
            f, pw = _features(c.cfg, c.g, c.x)
            scale = max(float(np.max(np.abs(c.i_out_a))), 1e-30)
            p_sp = float(c.power_w) if c.power_w is not None else float("nan")
            by_dev.setdefault(c.cfg.device, []).append((f, c.i_out_a, scale, float(pw.sum()),
                                                        p_sp))
        self.devices_ = sorted(by_dev)
        self.coef_ = np.ones((len(self.devices_), N_TERMS))
        self.power_scale_ = np.ones(len(self.devices_))
        self.n_points_ = np.zeros(len(self.devices_), int)
        for k, dev in enumerate(self.devices_):
            rows = by_dev[dev]
            xf = np.concatenate([f / s for f, _, s, _, _ in rows])
            yr = np.concatenate([(y - f.sum(axis=1)) / s for f, y, s, _, _ in rows])
            used = np.any(xf != 0, axis=0)
            reg = Ridge(alpha=self.alpha, fit_intercept=False)
            reg.fit(xf[:, used], yr)
            self.coef_[k, used] += reg.coef_
            pm = np.array([r[3] for r in rows])
            ps = np.array([r[4] for r in rows])
            ok = np.isfinite(ps) & (pm != 0)
            if ok.sum() >= 1:
                self.power_scale_[k] = float(np.dot(pm[ok], ps[ok]) / np.dot(pm[ok], pm[ok]))
            self.n_points_[k] = len(rows)
        # validity domain
        self.encodings_ = sorted({c.cfg.encoding for c in cases})
        vals = {k: np.array([get(c.cfg) for c in cases], float)
                for k, (get, _, _) in DOMAIN_PARAMS.items()}
        gmax = np.array([float(np.max(c.g)) for c in cases])
        vals["g_max_s"] = gmax
        self.domain_lo_ = {k: float(v.min()) for k, v in vals.items()}
        self.domain_hi_ = {k: float(v.max()) for k, v in vals.items()}
        for k in ZERO_SAFE:   # less resistance = a smaller correction: down to 0 is safe
            self.domain_lo_[k] = 0.0
        self.device_params_ = {c.cfg.device: dict(c.cfg.device_params) for c in cases}
        return self

    def extend_domain(self, cases: list[CrossbarCase]) -> CrossbarSurrogate:
        """Widen the validity domain to points the model was validated on (held-out
        SPICE data), e.g. larger arrays than the fit."""
        for c in cases:
            vals = {k: float(get(c.cfg)) for k, (get, _, _) in DOMAIN_PARAMS.items()}
            vals["g_max_s"] = float(np.max(c.g))
            for k, v in vals.items():
                self.domain_lo_[k] = min(self.domain_lo_.get(k, v), v)
                self.domain_hi_[k] = max(self.domain_hi_.get(k, v), v)
        return self

    # -- evaluation -------------------------------------------------------------------
    def _device_index(self, cfg: CrossbarConfig) -> int:
        if cfg.device not in self.devices_:
            raise DomainError(f"device model {cfg.device!r} was not fitted; this model has "
                              f"{', '.join(self.devices_)}")
        if cfg.cell != "1R":
            raise DomainError(f"cell {cfg.cell!r} is not modelled by the crossbar surrogate "
                              "(1R cells only)")
        return self.devices_.index(cfg.device)

    def compile(self, cfg: CrossbarConfig, g: np.ndarray,
                g_max_s: float | None = None) -> CompiledCrossbar:
        """Solve the lines once for this weight matrix; returns a :class:`CompiledCrossbar`.

        The domain check takes the largest conductance of ``g`` (or ``g_max_s``, the
        caller's nominal scale when ``g`` holds devices spread around it). A scale below
        the fitted one is inside the domain: smaller conductances draw less current, so
        every wire correction is smaller (as for wire resistances down to 0)."""
        k = self._device_index(cfg)
        values = {n: get(cfg) for n, (get, _, _) in DOMAIN_PARAMS.items()}
        gm = float(np.max(g)) if g_max_s is None else float(g_max_s)
        values["g_max_s"] = max(gm, self.domain_lo_.get("g_max_s", gm))
        scales = {n: s for n, (_, s, _) in DOMAIN_PARAMS.items()}
        scales["g_max_s"] = "log"
        far = {n: f for n, (_, _, f) in DOMAIN_PARAMS.items()}
        check_domain(values, self.domain_lo_, self.domain_hi_, scales, "crossbar surrogate",
                     self.domain_policy, far)
        if cfg.encoding not in self.encodings_:
            msg = (f"crossbar surrogate: encoding {cfg.encoding!r} was not in the fit "
                   f"({', '.join(self.encodings_)})")
            if self.domain_policy == "error":
                raise DomainError(msg)
            if self.domain_policy == "warn":
                warnings.warn(msg + "; the line solve is physical, extrapolating",
                              stacklevel=2)
        return _assemble(cfg, term_matrices(cfg, g), self.coef_[k],
                         float(self.power_scale_[k]))

    def predict(self, cases: list[CrossbarCase]) -> list[np.ndarray]:
        return [self.compile(c.cfg, c.g).currents(c.x)[0] for c in cases]

    # -- storage ----------------------------------------------------------------------
    def to_arrays(self) -> dict:
        return {
            "devices": np.array(self.devices_, dtype="S"),
            "encodings": np.array(self.encodings_, dtype="S"),
            "terms": np.array(TERMS, dtype="S"),
            "coef": self.coef_, "power_scale": self.power_scale_,
            "n_points": self.n_points_,
            "domain_names": np.array(list(self.domain_lo_), dtype="S"),
            "domain_lo": np.array(list(self.domain_lo_.values())),
            "domain_hi": np.array(list(self.domain_hi_.values())),
            "device_params_json": np.array(_json(self.device_params_), dtype="S"),
            "alpha": np.array(self.alpha),
        }

    @classmethod
    def from_arrays(cls, a: dict) -> CrossbarSurrogate:
        import json

        m = cls(alpha=float(a["alpha"]))
        m.devices_ = [s.decode() for s in a["devices"]]
        m.encodings_ = [s.decode() for s in a["encodings"]]
        m.coef_ = np.asarray(a["coef"], float)
        m.power_scale_ = np.asarray(a["power_scale"], float)
        m.n_points_ = np.asarray(a["n_points"], int)
        names = [s.decode() for s in a["domain_names"]]
        m.domain_lo_ = dict(zip(names, map(float, a["domain_lo"]), strict=True))
        m.domain_hi_ = dict(zip(names, map(float, a["domain_hi"]), strict=True))
        m.device_params_ = json.loads(bytes(a["device_params_json"]).decode())
        if m.coef_.shape != (len(m.devices_), N_TERMS):
            raise ValueError(f"crossbar/coef has shape {m.coef_.shape}, expected "
                             f"({len(m.devices_)}, {N_TERMS})")
        return m


def _json(obj) -> str:
    import json

    return json.dumps(obj, sort_keys=True)
