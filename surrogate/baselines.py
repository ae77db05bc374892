"""Baselines the crossbar surrogate is measured against (batched NumPy / SciPy).

* :func:`ideal_batch` -- Gᵀ·V: no wires, linear devices (what a digital model assumes).
* :func:`first_order_batch` -- the usual first-order analytic IR-drop correction: the
  ideal cell currents are propagated once through the wire resistances (row drops
  from the driver, column drops to the sense end, by prefix sums) and the cell
  voltages are corrected by those drops; devices read with their I-V law.
* :func:`nodal_batch` -- the exact sparse nodal solve of a *linear* crossbar
  (:class:`aimc.surrogate.nodal.LinearCrossbarSolver`, factorised once per matrix).

All take a :class:`aimc.circuits.crossbar.CrossbarConfig`, the conductances in the
shape of that config (``conductance_shape()``) and inputs ``x`` of shape (B, rows) in
[-1, 1]; they return logical output currents (B, cols) in A, positive into the line.
"""

from __future__ import annotations

import numpy as np
from aimc.circuits.crossbar import (
    CrossbarConfig,
    combine_outputs,
    effective_weights,
    physical_conductances,
)


def regulator_r_ohm(cfg: CrossbarConfig) -> float:
    """Closed-loop output resistance of the sense-end regulator (0 for an ideal one)."""
    if cfg.regulator == "ideal":
        return 0.0
    return cfg.regulator_r_out_ohm / (1.0 + cfg.regulator_gain)


def row_drive_batch(cfg: CrossbarConfig, x: np.ndarray) -> np.ndarray:
    """(B, Rp) voltage below v_cm of every physical row (batched ``row_drive``)."""
    u = np.atleast_2d(np.asarray(x, dtype=float)) * cfg.v_read_v
    if cfg.encoding == "hermes":
        out = np.empty((u.shape[0], 2 * u.shape[1]))
        out[:, 0::2] = u
        out[:, 1::2] = -u
        return out
    return u


def ideal_batch(cfg: CrossbarConfig, g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gᵀ·(x·v_read) for a batch: (B, rows) -> (B, cols)."""
    w = effective_weights(cfg, g)
    return np.atleast_2d(np.asarray(x, dtype=float)) * cfg.v_read_v @ w


def first_order_batch(cfg: CrossbarConfig, g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """First-order analytic IR-drop correction (one pass, no iteration).

    Ideal cell currents I0 = G·f(u) give the row-line drop at column c
    ``r_d·ΣI0 + r_row·Σ_{k<=c} Σ_{c'>=k} I0`` and the column-line drop at row r
    ``r_reg·ΣI0 + r_col·Σ_{k>=r} Σ_{r'<=k} I0``; the cells then read
    ``G·f(u - drop_row - drop_col)``. Cost O(B·R·C) per batch.
    """
    dev = cfg.device_model()
    gp = physical_conductances(cfg, g).sum(axis=0)           # (Rp, Cp)
    u = row_drive_batch(cfg, x)                              # (B, Rp)
    i0 = gp[None] * dev.current(u, 1.0)[:, :, None]          # (B, Rp, Cp)
    drop_r = cfg.r_driver_ohm * i0.sum(axis=2, keepdims=True)
    if cfg.r_wire_row_ohm > 0:
        tail = np.cumsum(i0[:, :, ::-1], axis=2)[:, :, ::-1]   # Σ_{c'>=k}
        drop_r = drop_r + cfg.r_wire_row_ohm * np.cumsum(tail, axis=2)
    r_reg = regulator_r_ohm(cfg)
    drop_c = r_reg * i0.sum(axis=1, keepdims=True)
    if cfg.r_wire_col_ohm > 0:
        head = np.cumsum(i0, axis=1)                            # Σ_{r'<=k}
        drop_c = drop_c + cfg.r_wire_col_ohm * np.cumsum(head[:, ::-1], axis=1)[:, ::-1]
    v = u[:, :, None] - drop_r - drop_c
    i_phys = (gp[None] * dev.current(v, 1.0)).sum(axis=1)
    return combine_outputs(cfg, i_phys)


def nodal_solver(cfg: CrossbarConfig, g: np.ndarray):
    """The exact sparse solver of a linear crossbar, factorised for ``g``."""
    from aimc.surrogate.nodal import LinearCrossbarSolver

    return LinearCrossbarSolver(physical_conductances(cfg, g), cfg.r_wire_row_ohm,
                                cfg.r_wire_col_ohm, cfg.r_driver_ohm, regulator_r_ohm(cfg))


def nodal_batch(cfg: CrossbarConfig, g: np.ndarray, x: np.ndarray,
                solver=None) -> np.ndarray:
    """Exact currents of the *linear* crossbar (devices read as their conductance G)."""
    s = solver if solver is not None else nodal_solver(cfg, g)
    u = row_drive_batch(cfg, x)
    return combine_outputs(cfg, s.currents(cfg.v_cm_v - u, cfg.v_cm_v))
