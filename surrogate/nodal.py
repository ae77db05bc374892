"""Exact sparse nodal solve of a linear resistive crossbar (SciPy).

Written from the crossbar's physical description (conductances laid out on the
physical lines, wire segments, driver and regulator resistances) — not from the
netlist text — so that it is an independent check of the SPICE generator, and the
exact baseline that surrogates must beat in speed. The matrix is factorised once
per weight matrix (sparse LU); any number of input vectors are then solved at the
cost of two triangular solves each.

Topology (same as ``aimc.circuits.crossbar``): row ``r`` is driven at its left end
through ``r_driver``; one wire segment precedes every cell; column ``c`` has one
segment after every cell down to its sense end, held at ``v_cm`` ideally or through
``r_reg`` (the closed-loop output resistance of a finite-gain regulator).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


class LinearCrossbarSolver:
    """Sparse nodal model of a linear 1R crossbar; factorised at construction.

    ``g_phys``: (P, Rp, Cp) device conductances (P devices in parallel per
    crosspoint). Resistances in ohms; zero wire resistance merges the line's nodes.
    ``r_reg_ohm`` = 0 means an ideal regulator at the sense end.
    """

    def __init__(self, g_phys: np.ndarray, r_wire_row_ohm: float = 0.0,
                 r_wire_col_ohm: float = 0.0, r_driver_ohm: float = 0.0,
                 r_reg_ohm: float = 0.0) -> None:
        g_phys = np.asarray(g_phys, dtype=float)
        if g_phys.ndim == 2:
            g_phys = g_phys[None]
        if g_phys.ndim != 3 or np.any(~np.isfinite(g_phys)) or np.any(g_phys <= 0):
            raise ValueError("g_phys must be a (P, Rp, Cp) array of finite conductances > 0")
        for name, v in (("r_wire_row_ohm", r_wire_row_ohm), ("r_wire_col_ohm", r_wire_col_ohm),
                        ("r_driver_ohm", r_driver_ohm), ("r_reg_ohm", r_reg_ohm)):
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
        self.shape = g_phys.shape[1:]
        rp, cp = self.shape
        g_cell = g_phys.sum(axis=0)

        # --- node numbering: unknowns first, known nodes after ------------------------
        counter = [0]

        def new(n: int) -> np.ndarray:
            ids = np.arange(counter[0], counter[0] + n)
            counter[0] += n
            return ids

        # row line: column index 0 is the driver-side node d_r
        if r_wire_row_ohm > 0:
            row = new(rp * (cp + 1)).reshape(rp, cp + 1)
        else:
            row = np.repeat(new(rp)[:, None], cp + 1, axis=1)
        # column line: row index rp is the sense end o_c
        if r_wire_col_ohm > 0:
            col = new((rp + 1) * cp).reshape(rp + 1, cp)
        else:
            col = np.repeat(new(cp)[None, :], rp + 1, axis=0)
        a_list, b_list, g_list = [], [], []

        def stamp(a: np.ndarray, b: np.ndarray, g: np.ndarray | float) -> None:
            a = np.asarray(a).ravel()
            b = np.asarray(b).ravel()
            a_list.append(a)
            b_list.append(b)
            g_list.append(np.broadcast_to(np.asarray(g, dtype=float).ravel(), a.shape))

        if r_wire_row_ohm > 0:
            stamp(row[:, :-1], row[:, 1:], 1.0 / r_wire_row_ohm)
        if r_wire_col_ohm > 0:
            stamp(col[:-1, :], col[1:, :], 1.0 / r_wire_col_ohm)
        stamp(row[:, 1:], col[:-1, :], g_cell)

        # --- known nodes ---------------------------------------------------------------
        d_nodes = row[:, 0]
        o_nodes = col[rp, :]
        # the driver node is known when the source is ideal, else a source node behind r_d
        if r_driver_ohm > 0:
            src = new(rp)
            stamp(src, d_nodes, 1.0 / r_driver_ohm)
            self._src_ids = src
        else:
            self._src_ids = d_nodes
        if r_reg_ohm > 0:
            sense = new(cp)
            stamp(sense, o_nodes, 1.0 / r_reg_ohm)
            self._sense_ids = sense
        else:
            self._sense_ids = o_nodes
        n_all = counter[0]
        a = np.concatenate(a_list)
        b = np.concatenate(b_list)
        g = np.concatenate(g_list)

        # renumber so that known nodes (sources, sense) come last
        known = np.concatenate([self._src_ids, self._sense_ids])
        is_known = np.zeros(n_all, bool)
        is_known[known] = True
        order = np.concatenate([np.flatnonzero(~is_known), known])
        perm = np.empty(n_all, int)
        perm[order] = np.arange(n_all)
        a, b = perm[a], perm[b]
        self._src = perm[self._src_ids]
        self._sense = perm[self._sense_ids]
        nu = n_all - known.size
        self.n_unknown = nu

        lap = sp.coo_matrix(
            (np.concatenate([g, g, -g, -g]),
             (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
            shape=(n_all, n_all)).tocsc()
        self._a_uu = lap[:nu, :nu].tocsc()
        self._a_uk = lap[:nu, nu:].tocsc()
        self._lu = spla.splu(self._a_uu) if nu > 0 else None
        self._nu = nu
        # sense current = Σ over elements touching a sense node of g·(V_sense - V_other)
        self._lap_sense = lap[self._sense, :].tocsr()

    def solve_voltages(self, v_rows: np.ndarray, v_cm: float) -> np.ndarray:
        """All node voltages (B, n_nodes) for row source voltages ``v_rows`` (B, Rp)."""
        v_rows = np.atleast_2d(np.asarray(v_rows, dtype=float))
        bsz = v_rows.shape[0]
        v_known = np.empty((bsz, self._src.size + self._sense.size))
        v_known[:, : self._src.size] = v_rows
        v_known[:, self._src.size:] = v_cm
        v = np.empty((bsz, self._nu + v_known.shape[1]))
        v[:, self._nu:] = v_known
        if self._lu is not None:
            rhs = -(self._a_uk @ v_known.T)
            v[:, : self._nu] = self._lu.solve(np.asarray(rhs)).T
        return v

    def currents(self, v_rows: np.ndarray, v_cm: float) -> np.ndarray:
        """Current delivered into each physical output line (B, Cp), in A."""
        v = self.solve_voltages(v_rows, v_cm)
        return np.asarray(self._lap_sense @ v.T).T
