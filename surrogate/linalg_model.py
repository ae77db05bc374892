"""Fast model of the closed-loop linear-algebra crossbars (aimc.circuits.linalg).

* **Steady state: exact.** A sparse modified-nodal solve (SciPy) of the same linear
  network that the netlist describes — wire segments on both line directions,
  driver resistances, amplifiers as voltage-controlled sources of their DC gain with
  their input offset, the unity inverting stages with their resistors, the feedback
  conductances of the eigenvector circuit — written from the physical description,
  not from the netlist text. PCM/RRAM cells are solved by Newton iteration on the
  device law of :mod:`aimc.circuits.devices` (the law is known: nothing to fit).
* **Dynamics: fitted.** The settling time follows the single-pole loop,
  ``t = c·ln(1000)/(2π·GBW·λ_min)`` with ``λ_min`` the smallest real part of the
  loop matrix's eigenvalues; ``c`` (one value per array count: the inverting stage
  of two-array circuits slows the loop) is fitted to SPICE transients by
  :meth:`LinalgModel.fit`. The energy of a solve is the rails' power of the static
  solution times that settling time.

Used for the sizes SPICE cannot reach (256-1024) and checked against held-out SPICE
runs in ``tests/surrogate/test_linalg_model.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from aimc.circuits.devices import device_from_name
from aimc.circuits.linalg import (
    SETTLE_TOL,
    LinalgConfig,
    Mapping,
    check_matrix,
    check_nonsingular,
    check_stability,
    check_vector,
    feedback_conductances,
    mapping_for,
)


class _Mna:
    """Coordinate-list builder of a sparse MNA matrix."""

    def __init__(self) -> None:
        self.n = 0
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []

    def new(self, count: int) -> np.ndarray:
        ids = np.arange(self.n, self.n + count)
        self.n += count
        return ids

    def add(self, r, c, v) -> None:
        r = np.asarray(r).ravel()
        c = np.asarray(c).ravel()
        self.rows.append(r)
        self.cols.append(c)
        self.vals.append(np.broadcast_to(np.asarray(v, float).ravel(), r.shape).copy())

    def conductance(self, a, b, g) -> None:
        self.add(a, a, g)
        self.add(b, b, g)
        self.add(a, b, -np.asarray(g))
        self.add(b, a, -np.asarray(g))

    def matrix(self) -> sp.csc_matrix:
        return sp.coo_matrix((np.concatenate(self.vals), (np.concatenate(self.rows),
                                                          np.concatenate(self.cols))),
                             shape=(self.n, self.n)).tocsc()


@dataclass
class _Network:
    mat_static: sp.csc_matrix
    n_unknown: int
    u: np.ndarray
    sense: np.ndarray
    cell_row: np.ndarray
    cell_col: np.ndarray
    cell_g: np.ndarray
    rhs_static: np.ndarray
    amp_rows: np.ndarray


def _build(a: np.ndarray, cfg: LinalgConfig, g_unit: float, mode: str,
           g_lambda: np.ndarray | None = None, lam_sign: float = 1.0,
           linear_cells: bool = True) -> _Network:
    """The closed loop's MNA (see module doc). ``mode``: "solve" or "eig"."""
    n = a.shape[0]
    op = cfg.opamp
    gain = op.gain
    m = _Mna()
    pos, neg = np.clip(a, 0, None), np.clip(-a, 0, None)
    two = cfg.two_arrays and bool(np.any(neg > 0))
    if mode == "solve":
        drive = [pos.T] + ([neg.T] if two else [])    # driven by u, then by -u
    else:
        drive = [neg.T, pos.T] if two else [pos.T]    # eig: positive entries on -u
    need_inv = two or mode == "eig"
    u = m.new(n)
    un = m.new(n) if need_inv else None
    ni = m.new(n) if need_inv else None
    # physical driven lines: interleaved like the netlist (2j: first array, 2j+1: second)
    arrays = len(drive)
    rp = arrays * n
    if arrays == 1:
        src = u if mode == "solve" else un
        g_phys = drive[0]
    else:
        src = np.empty(rp, int)
        src[0::2] = u
        src[1::2] = un
        g_phys = np.empty((rp, n))
        g_phys[0::2] = drive[0]
        g_phys[1::2] = drive[1]
    g_phys = g_phys * g_unit
    # driven line nodes: (rp, n + 1), column 0 = driver end
    if cfg.r_wire_row_ohm > 0:
        row = m.new(rp * (n + 1)).reshape(rp, n + 1)
    else:
        row = np.repeat(m.new(rp)[:, None], n + 1, axis=1)
    if cfg.r_wire_col_ohm > 0:
        col = m.new((rp + 1) * n).reshape(rp + 1, n)
    else:
        col = np.repeat(m.new(n)[None, :], rp + 1, axis=0)
    sense = col[rp]
    if cfg.r_wire_row_ohm > 0:
        m.conductance(row[:, :-1], row[:, 1:], 1.0 / cfg.r_wire_row_ohm)
    if cfg.r_wire_col_ohm > 0:
        m.conductance(col[:-1], col[1:], 1.0 / cfg.r_wire_col_ohm)
    if cfg.r_driver_ohm > 0:
        m.conductance(src, row[:, 0], 1.0 / cfg.r_driver_ohm)
    # else: the line's driver end is the amplifier output node (merged below)
    on = g_phys > 0
    rr, cc = np.nonzero(on)
    cell_row, cell_col, cell_g = row[rr, cc + 1], col[rr, cc], g_phys[rr, cc]
    if linear_cells:
        m.conductance(cell_row, cell_col, cell_g)
    # amplifiers: VCVS rows; u = A·(vos - v(sense))
    br = m.new(n)
    m.add(u, br, 1.0)                    # branch current leaves through the output node
    m.add(br, u, 1.0)
    m.add(br, sense, gain)
    rhs_extra = [(br, gain * op.offset_v)]
    if need_inv:
        ginv = 1.0 / cfg.r_inv_ohm
        m.conductance(u, ni, ginv)
        m.conductance(ni, un, ginv)
        bi = m.new(n)
        m.add(un, bi, 1.0)
        m.add(bi, un, 1.0)
        m.add(bi, ni, gain)
        rhs_extra.append((bi, gain * op.offset_v))
    if mode == "eig":
        fb = u if lam_sign > 0 else un
        m.conductance(fb, sense, np.asarray(g_lambda) * g_unit)
    mat = m.matrix()
    if cfg.r_driver_ohm == 0:
        # merge each driver-end node into its source node (a 0 V source in the netlist)
        keep = np.ones(m.n, bool)
        target = np.arange(m.n)
        target[row[:, 0]] = src
        keep[row[:, 0]] = False
        mat = _merge(mat, target, keep)
        remap = np.cumsum(keep) - 1
        u, sense = remap[u], remap[sense]
        cell_row, cell_col = remap[target[cell_row]], remap[cell_col]
        rhs_extra = [(remap[r], v) for r, v in rhs_extra]
        br = remap[br]
        n_all = int(keep.sum())
    else:
        n_all = m.n
    rhs = np.zeros(n_all)
    for r, v in rhs_extra:
        rhs[r] += v
    return _Network(mat, n_all, u, sense, cell_row, cell_col, cell_g, rhs, br)


def _merge(mat: sp.csc_matrix, target: np.ndarray, keep: np.ndarray) -> sp.csc_matrix:
    """Merge node i into target[i] (sum their KCL rows and columns), drop merged ones."""
    n = mat.shape[0]
    remap = np.cumsum(keep) - 1
    p = sp.coo_matrix((np.ones(n), (remap[target], np.arange(n))),
                      shape=(int(keep.sum()), n)).tocsr()
    return (p @ mat @ p.T).tocsc()


@dataclass
class SurrogateSolve:
    """Result of the model: ``x``, amplifier outputs ``u_v``, ``lambda_min`` of the loop
    matrix, fitted ``t_settle_s``, rails' static ``power_w``, ``energy_j``; ``timings``:
    the digital checks (SVD, eigenvalues: O(N³)) and the network solve, in s."""

    x: np.ndarray
    u_v: np.ndarray
    mapping: Mapping
    lambda_min: float
    cond: float
    t_settle_s: float
    power_w: float
    energy_j: float
    newton_iterations: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def _device_newton(net: _Network, cfg: LinalgConfig, rhs: np.ndarray, tol: float = 1e-12,
                   max_iter: int = 50) -> tuple[np.ndarray, int]:
    dev = device_from_name(cfg.device, **cfg.device_params)
    base = net.mat_static
    n = net.n_unknown
    v = np.zeros(n)
    # start from the linear solution
    lin = base + _stamp(net, net.cell_g, n)
    v = spla.splu(lin).solve(rhs)
    h = 1e-6
    for it in range(1, max_iter + 1):
        d = v[net.cell_col] - v[net.cell_row]          # current col -> row = f(d)
        f = dev.current(d, net.cell_g)
        gd = (dev.current(d + h, net.cell_g) - dev.current(d - h, net.cell_g)) / (2 * h)
        ieq = f - gd * d
        jac = base + _stamp(net, gd, n)
        r = rhs.copy()
        np.subtract.at(r, net.cell_col, ieq)
        np.add.at(r, net.cell_row, ieq)
        v_new = spla.splu(jac).solve(r)
        if np.max(np.abs(v_new - v)) < tol * max(1.0, np.max(np.abs(v_new))):
            return v_new, it
        v = v_new
    raise RuntimeError(f"device Newton iteration did not converge in {max_iter} steps")


def _stamp(net: _Network, g: np.ndarray, n: int) -> sp.csc_matrix:
    a, b = net.cell_row, net.cell_col
    return sp.coo_matrix((np.concatenate([g, g, -g, -g]),
                          (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
                         shape=(n, n)).tocsc()


def _thomas(lower: np.ndarray, diag: np.ndarray, upper: np.ndarray,
            rhs: np.ndarray) -> np.ndarray:
    """Tridiagonal solves of many lines at once (axis 0: lines, axis 1: nodes);
    ``lower[:, k]`` couples node k to k-1, ``upper[:, k]`` node k to k+1."""
    n = diag.shape[1]
    c = np.empty_like(diag)
    d = np.empty_like(rhs)
    c[:, 0] = upper[:, 0] / diag[:, 0]
    d[:, 0] = rhs[:, 0] / diag[:, 0]
    for k in range(1, n):
        m = diag[:, k] - lower[:, k] * c[:, k - 1]
        c[:, k] = upper[:, k] / m
        d[:, k] = (rhs[:, k] - lower[:, k] * d[:, k - 1]) / m
    x = np.empty_like(rhs)
    x[:, -1] = d[:, -1]
    for k in range(n - 2, -1, -1):
        x[:, k] = d[:, k] - c[:, k] * x[:, k + 1]
    return x


class WireRelaxation:
    """Closed-loop solver with wire resistance for large N (linear cells): the same
    network as the sparse MNA, solved by alternating exact line solves (every driven
    line given the sense lines' voltages, then every sense line given the driven
    lines'; batched Thomas algorithm) inside a fixed-Jacobian outer iteration on the
    amplifier outputs. O(N²) memory and per sweep, where the sparse LU of a 2-D
    crossbar mesh grows as N³ (7 s at 256, 80 s and 1.5 GB at 512 on this machine).
    Converges when the IR drop is a small correction (r_wire·N·g_max ≪ 1)."""

    def __init__(self, a: np.ndarray, cfg: LinalgConfig, g_unit: float) -> None:
        self.cfg = cfg
        n = a.shape[0]
        pos, neg = np.clip(a, 0, None), np.clip(-a, 0, None)
        self.two = cfg.two_arrays and bool(np.any(neg > 0))
        if self.two:
            g = np.empty((2 * n, n))
            g[0::2], g[1::2] = pos.T, neg.T
        else:
            g = pos.T.copy()
        self.g = g * g_unit                       # (rp, n): driven line r, sense line c
        self.n = n
        op = cfg.opamp
        self.gain = op.gain
        self.vos = op.offset_v
        # ideal-wire Jacobian of the sense currents w.r.t. u (driven sources and the
        # virtual-ground term), used as the fixed outer Jacobian
        a_ = self.gain
        kap = a_ / (a_ + 2)
        ss = self.g.sum(axis=0)
        jac = self.g[0::2].T.copy() if self.two else self.g.T.copy()
        if self.two:
            jac -= kap * self.g[1::2].T
        jac += np.diag(ss) / a_
        self.lu = _lu(jac)

    def _sources(self, u: np.ndarray) -> np.ndarray:
        if not self.two:
            return u
        a_ = self.gain
        un = (2 * a_ * self.vos - a_ * u) / (2 + a_)
        out = np.empty(2 * self.n)
        out[0::2], out[1::2] = u, un
        return out

    def sense_currents(self, u: np.ndarray, state: dict, tol: float) -> np.ndarray:
        """Current from the crossbar into each sense node for amplifier outputs u."""
        cfg = self.cfg
        g = self.g
        rp, n = g.shape
        src = self._sources(u)
        vs = self.vos - u / self.gain                 # sense nodes (amplifier equation)
        rw, cw, rd = cfg.r_wire_row_ohm, cfg.r_wire_col_ohm, cfg.r_driver_ohm
        col = state.get("col")
        if col is None:
            col = np.broadcast_to(vs, (rp, n)).copy()
        row = state.get("row")
        for _ in range(500):
            # driven lines given the sense-line voltages
            if rw > 0:
                gw = 1.0 / rw
                g0 = 1.0 / (rw + rd)
                lower = np.full((rp, n), -gw)
                upper = np.full((rp, n), -gw)
                upper[:, -1] = 0.0
                diag = g + 2 * gw
                diag[:, 0] += g0 - gw
                diag[:, -1] -= gw
                lower[:, 0] = 0.0
                rhs = g * col
                rhs[:, 0] += g0 * src
                new_row = _thomas(lower, diag, upper, rhs)
            elif rd > 0:
                v = (src / rd + (g * col).sum(axis=1)) / (1 / rd + g.sum(axis=1))
                new_row = np.repeat(v[:, None], n, axis=1)
            else:
                new_row = np.repeat(src[:, None], n, axis=1)
            # sense lines given the driven-line voltages (transposed: lines on axis 0)
            if cw > 0:
                gw = 1.0 / cw
                gt = g.T
                lower = np.full((n, rp), -gw)
                upper = np.full((n, rp), -gw)
                lower[:, 0] = 0.0
                diag = gt + 2 * gw
                diag[:, 0] -= gw
                rhs = gt * new_row.T
                rhs[:, -1] += gw * vs
                upper[:, -1] = 0.0
                new_col = _thomas(lower, diag, upper, rhs).T
            else:
                new_col = np.broadcast_to(vs, (rp, n)).copy()
            scale = max(float(np.max(np.abs(new_row))), 1e-30)
            done = (row is not None and np.max(np.abs(new_row - row)) <= tol * scale
                    and np.max(np.abs(new_col - col)) <= tol * scale)
            row, col = new_row, new_col
            if done:
                break
        else:
            raise RuntimeError("wire relaxation did not converge (IR drop too large for "
                               "this method: use the sparse solve)")
        state["row"], state["col"] = row, col
        if cw > 0:
            return (col[-1] - vs) / cw
        return (g * (row - vs[None, :])).sum(axis=0)

    def solve_outputs(self, i_b: np.ndarray, tol: float = 1e-12,
                      max_iter: int = 300) -> tuple[np.ndarray, int]:
        """Amplifier outputs u with the sense currents equal to the drawn ``i_b``.

        The sense currents are affine in u, ``I(u) = Y u + I(0)``; ``Y`` is applied by
        one relaxed network solve per product and the equation ``Y u = i_b - I(0)`` is
        solved by GMRES preconditioned with the ideal-wire Jacobian (a fixed-point
        iteration stalls when the IR drop is large in the matrix's weak directions)."""
        n = self.n
        i0 = self.sense_currents(np.zeros(n), {}, 1e-15)
        count = [0]

        def matvec(v: np.ndarray) -> np.ndarray:
            count[0] += 1
            return self.sense_currents(np.asarray(v, float).ravel(), {}, 1e-15) - i0

        op = spla.LinearOperator((n, n), matvec=matvec, dtype=float)
        pre = spla.LinearOperator((n, n), matvec=lambda v: _lu_solve(self.lu, v),
                                  dtype=float)
        rhs = i_b - i0
        u, info = spla.gmres(op, rhs, x0=_lu_solve(self.lu, rhs), M=pre, rtol=tol,
                             atol=0.0, restart=min(n, 100), maxiter=max_iter)
        if info != 0:
            raise RuntimeError(f"wire relaxation: GMRES did not converge ({info})")
        return u, count[0]


def _lu(m: np.ndarray):
    import scipy.linalg as sla

    return sla.lu_factor(m)


def _lu_solve(lu, b: np.ndarray) -> np.ndarray:
    import scipy.linalg as sla

    return sla.lu_solve(lu, b)


@dataclass
class LinalgModel:
    """Surrogate of the closed-loop solver and eigenvector circuits.

    ``cfg``: the circuit (as for SPICE). ``method``: ``"sparse"`` (exact MNA + sparse
    LU, any device), ``"relax"`` (:class:`WireRelaxation`, linear cells), ``"auto"``
    (relaxation above ``relax_above_n`` with wires and linear cells). Fitted state:
    ``settle_coef_`` per array count (1 or 2), default 1.0 (the single-pole formula,
    i.e. *predicted*) until :meth:`fit` is called with SPICE transients.
    """

    cfg: LinalgConfig = field(default_factory=LinalgConfig)
    method: str = "auto"              # "sparse" (MNA + LU), "relax" (wires), "auto"
    relax_above_n: int = 128
    settle_coef_: dict[int, float] = field(default_factory=lambda: {1: 1.0, 2: 1.0})
    fit_rms_rel_: dict[int, float] = field(default_factory=dict)

    # -- dynamics ------------------------------------------------------------------
    def t_settle_formula(self, lam_min: float) -> float:
        return math.log(1 / SETTLE_TOL) / (self.cfg.opamp.omega_t * lam_min)

    def fit(self, lambda_min: np.ndarray, arrays: np.ndarray, t_settle_s: np.ndarray,
            ) -> LinalgModel:
        """Least-squares ``c`` in ``t = c·ln(1000)/(2π·GBW·λ_min)`` per array count,
        from SPICE transients (``lambda_min``, array count 1/2, measured settling)."""
        lam = np.asarray(lambda_min, float)
        arr = np.asarray(arrays, int)
        t = np.asarray(t_settle_s, float)
        for k in np.unique(arr):
            sel = arr == k
            f = np.array([self.t_settle_formula(x) for x in lam[sel]])
            c = float(np.sum(f * t[sel]) / np.sum(f * f))
            self.settle_coef_[int(k)] = c
            self.fit_rms_rel_[int(k)] = float(np.sqrt(np.mean((c * f / t[sel] - 1) ** 2)))
        return self

    # -- steady state --------------------------------------------------------------
    def network_outputs(self, a: np.ndarray, b: np.ndarray, mapping: Mapping
                        ) -> tuple[np.ndarray, float, int]:
        """Amplifier outputs (V), rails' static power (W), Newton iterations."""
        cfg = self.cfg
        wires = cfg.r_wire_row_ohm > 0 or cfg.r_wire_col_ohm > 0
        use_relax = self.method == "relax" or (
            self.method == "auto" and wires and cfg.device == "linear"
            and a.shape[0] > self.relax_above_n)
        if use_relax:
            if cfg.device != "linear":
                raise ValueError("the wire relaxation handles linear cells only")
            wr = WireRelaxation(a, cfg, mapping.g_unit_s)
            u, its = wr.solve_outputs(b * mapping.i_unit_a)
            return u, self._static_power(a, u, mapping), its
        net = _build(a, cfg, mapping.g_unit_s, "solve", linear_cells=cfg.device == "linear")
        rhs = net.rhs_static.copy()
        # a current i_unit·b drawn from each sense line
        np.subtract.at(rhs, net.sense, b * mapping.i_unit_a)
        if cfg.device == "linear":
            v = spla.splu(net.mat_static).solve(rhs)
            its = 0
        else:
            v, its = _device_newton(net, cfg, rhs)
        u = v[net.u]
        return u, self._static_power(a, u, mapping), its

    def _static_power(self, a: np.ndarray, u: np.ndarray, mapping: Mapping) -> float:
        """Rails' power: quiescent + |output current| · rail (class-B) — output currents
        from the ideal-wire network (the wires change them by the IR drop only)."""
        op = self.cfg.opamp
        if op.ideal:
            return float("nan")
        n = a.shape[0]
        two = self.cfg.two_arrays and bool(np.any(a < 0))
        g = np.abs(a) * mapping.g_unit_s
        # output j feeds column j of |A| (its devices) at u_j against virtual ground
        i_out = u * g.sum(axis=0)
        p = 2 * op.v_supply_v * op.i_q_a * n * (2 if two else 1)
        p += op.v_supply_v * float(np.sum(np.abs(i_out)))
        if two:
            p += op.v_supply_v * float(np.sum(np.abs(i_out)))     # the inverters' share
        return p

    def solve(self, a, b, x_range: float | None = None) -> SurrogateSolve:
        """The solver's steady state (exact network) + fitted settling time and energy."""
        import time

        cfg = self.cfg
        t0 = time.perf_counter()
        a = check_matrix(a, cfg.two_arrays)
        b = check_vector(b, a.shape[0])
        cond = check_nonsingular(a)
        lam = check_stability(a)
        mp = mapping_for(a, b, cfg, x_range)
        t1 = time.perf_counter()
        u, p, its = self.network_outputs(a, b, mp)
        t2 = time.perf_counter()
        arrays = 2 if cfg.two_arrays and np.any(a < 0) else 1
        ts = (self.settle_coef_.get(arrays, 1.0) * self.t_settle_formula(lam)
              if not cfg.opamp.ideal else 0.0)
        return SurrogateSolve(u * mp.x_per_volt, u, mp, lam, cond, ts, p,
                              p * ts if np.isfinite(p) else float("nan"), its,
                              {"checks_s": t1 - t0, "network_s": t2 - t1})

    # -- eigenvectors ----------------------------------------------------------------
    def effective_matrix(self, h: np.ndarray, g_unit: float, lam_set: float,
                         compensate_gain: bool = True) -> np.ndarray:
        """The eigen loop's linear map u -> amplifier residual (see :func:`_eig_map`);
        its null vector is the settled output vector."""
        cfg = self.cfg
        n = h.shape[0]
        g_l = feedback_conductances(h, lam_set, cfg.opamp, compensate_gain)
        net = _build(h, cfg, g_unit, "eig", g_lambda=g_l, lam_sign=np.sign(lam_set))
        # fix u (drop the amplifiers' VCVS equations) and read their residual
        return _eig_map(net, n)

    def eigenvector(self, h, eigenvalue: float | None = None,
                    compensate_gain: bool = True) -> np.ndarray:
        """Settled output direction of the eigenvector circuit (unit 2-norm, largest
        entry positive): the null vector of the loop's effective map."""
        h = check_matrix(h, self.cfg.two_arrays, "H")
        w = np.linalg.eigvals(h)
        lam = float(w[np.argmax(w.real)].real) if eigenvalue is None else float(eigenvalue)
        g_unit = self.cfg.g_max_s / float(np.max(np.abs(h)))
        m = self.effective_matrix(h, g_unit, lam, compensate_gain)
        vals, vecs = np.linalg.eig(m)
        v = np.real(vecs[:, np.argmin(vals.real)])
        k = int(np.argmax(np.abs(v)))
        return v * np.sign(v[k]) / np.linalg.norm(v)

    def pagerank(self, g: np.ndarray) -> np.ndarray:
        """PageRank (1-norm 1) of a Google matrix through the eigenvector circuit model."""
        v = self.eigenvector(g, eigenvalue=1.0)
        return v / v.sum()


def _eig_map(net: _Network, n: int) -> np.ndarray:
    """Linear map from the amplifier outputs u to the residual of their equations
    ``u_i - A·(0 - v(sense_i))`` with every other node solved for (one LU, N right-hand
    sides). In time, ``τ·du/dt = -residual``: the settled direction is the mode of the
    smallest real part (offsets ignored: the loop is homogeneous)."""
    csc = net.mat_static.tocsc()
    n_all = net.n_unknown
    u = net.u
    others = np.setdiff1d(np.arange(n_all), u)
    eq = np.setdiff1d(np.arange(n_all), net.amp_rows)
    csr = csc.tocsr()
    a_eq = csr[eq].tocsc()
    lu = spla.splu(a_eq[:, others].tocsc())
    v_o = -lu.solve(a_eq[:, u].toarray())
    full = np.zeros((n_all, n))
    full[others] = v_o
    full[u] = np.eye(n)
    return np.asarray(csr[net.amp_rows] @ full)
