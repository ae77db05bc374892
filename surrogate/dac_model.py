"""PWM DAC surrogate: effective pulse duration and energy vs code and line load.

Per driver type, the effective duration (the charge delivered into the line's cells
divided by ``v_read·ΣG``) is linear in |code| with a slope and an offset that
depend on the line load:

    t_eff = |code|·t_lsb·(1 + s·φ) + (o·φ),   φ = [1, τ/t_lsb, G·r_out, n/256]

with ``τ = (r_out + r_wire·n/2)·c_wire·n`` the line's RC constant, ``G = ΣG`` the
line conductance and ``n`` the cell count (``r_out`` = 47 Ω: the DAC's output
switch, :class:`aimc.circuits.dac.PwmDacConfig`). The coefficients (s, o) are a
scikit-learn ``Ridge`` on SPICE's t_eff. The energy per conversion is linear in the
delivered charge and the switched capacitance:

    E = e_q·|Q|·v_read + e_c·(n·c_wire)·v_read² + e_0·(|code| > 0)

Code 0 gives zero charge (the line idles at v_cm).
"""

from __future__ import annotations

import numpy as np
from aimc.surrogate.crossbar_model import DomainError

R_OUT_OHM = 47.0  # PwmDacConfig.r_out_ohm default (aimc.circuits.dac)


def load_features(n_cells: np.ndarray, g_line_s: np.ndarray, r_wire_ohm: np.ndarray,
                  c_wire_f: np.ndarray, t_lsb_s: np.ndarray) -> np.ndarray:
    """φ (n, 4): [1, τ/t_lsb, G·r_out, n/256]."""
    n = np.asarray(n_cells, float)
    tau = (R_OUT_OHM + np.asarray(r_wire_ohm, float) * n / 2) * np.asarray(c_wire_f) * n
    return np.stack([np.ones_like(n), tau / np.asarray(t_lsb_s, float),
                     np.asarray(g_line_s, float) * R_OUT_OHM, n / 256.0], axis=-1)


class PwmDacSurrogate:
    """``fit(drivers, codes, n_cells, g_line_s, r_wire, c_wire, t_lsb, v_read, t_eff,
    energy)`` / ``t_eff(...)`` / ``charge(...)`` / ``energy(...)``."""

    def __init__(self, alpha: float = 1e-6) -> None:
        self.alpha = alpha

    def fit(self, drivers, codes, n_cells, g_line_s, r_wire_ohm, c_wire_f, t_lsb_s,
            v_read_v, t_eff_s, energy_j) -> PwmDacSurrogate:
        from sklearn.linear_model import Ridge

        drivers = np.asarray(drivers).astype(str)
        codes = np.asarray(codes, float)
        arrays = dict(n_cells=n_cells, g_line_s=g_line_s, r_wire_ohm=r_wire_ohm,
                      c_wire_f=c_wire_f, t_lsb_s=t_lsb_s, v_read_v=v_read_v,
                      energy_j=energy_j)
        arrays = {k: np.broadcast_to(np.asarray(v, float), codes.shape) for k, v in
                  arrays.items()}
        t_eff_s = np.asarray(t_eff_s, float)
        for k, v in {**arrays, "code": codes}.items():
            if not np.all(np.isfinite(v)):
                raise ValueError(f"DAC data: {k} has NaN/inf values")
        self.drivers_ = sorted(set(drivers))
        self.coef_t_ = np.zeros((len(self.drivers_), 8))
        self.coef_e_ = np.zeros((len(self.drivers_), 3))
        self.domain_lo_ = np.zeros((len(self.drivers_), 4))
        self.domain_hi_ = np.zeros((len(self.drivers_), 4))
        for k, d in enumerate(self.drivers_):
            m = (drivers == d)
            nz = m & (codes != 0) & np.isfinite(t_eff_s)
            if np.unique(np.abs(codes[nz])).size < 2 or nz.sum() < 3:
                raise ValueError(f"DAC driver {d!r}: need >= 3 points with >= 2 distinct "
                                 f"non-zero codes to fit t_eff, got {int(nz.sum())}")
            phi = load_features(arrays["n_cells"][nz], arrays["g_line_s"][nz],
                                arrays["r_wire_ohm"][nz], arrays["c_wire_f"][nz],
                                arrays["t_lsb_s"][nz])
            mag = np.abs(codes[nz])[:, None]
            x = np.concatenate([mag * phi, phi], axis=1)
            y = t_eff_s[nz] / arrays["t_lsb_s"][nz] - np.abs(codes[nz])
            reg = Ridge(alpha=self.alpha, fit_intercept=False).fit(x, y)
            self.coef_t_[k] = reg.coef_
            q = np.abs(codes[m]) * 0.0
            t_hat = self._t(k, codes[m], arrays, m)
            q = t_hat * arrays["g_line_s"][m] * arrays["v_read_v"][m]
            ef = np.stack([q * arrays["v_read_v"][m],
                           arrays["n_cells"][m] * arrays["c_wire_f"][m]
                           * arrays["v_read_v"][m] ** 2,
                           (codes[m] != 0).astype(float)], axis=1)
            sc = np.maximum(np.abs(ef).max(axis=0), 1e-30)
            ereg = Ridge(alpha=1e-9, fit_intercept=False).fit(ef / sc, arrays["energy_j"][m])
            self.coef_e_[k] = ereg.coef_ / sc
            dom = np.stack([arrays["n_cells"][m], arrays["g_line_s"][m] / arrays["n_cells"][m],
                            arrays["r_wire_ohm"][m], np.abs(codes[m])], axis=1)
            self.domain_lo_[k], self.domain_hi_[k] = dom.min(axis=0), dom.max(axis=0)
        return self

    def _t(self, k: int, codes: np.ndarray, arrays: dict, m) -> np.ndarray:
        phi = load_features(arrays["n_cells"][m], arrays["g_line_s"][m],
                            arrays["r_wire_ohm"][m], arrays["c_wire_f"][m],
                            arrays["t_lsb_s"][m])
        mag = np.abs(codes)
        c = self.coef_t_[k]
        t = (mag * (1 + phi @ c[:4]) + phi @ c[4:]) * arrays["t_lsb_s"][m]
        return np.where(mag > 0, np.maximum(t, 0.0), 0.0)

    def _index(self, driver: str) -> int:
        if driver not in self.drivers_:
            raise DomainError(f"DAC driver {driver!r} was not fitted; fitted: "
                              f"{', '.join(self.drivers_)}")
        return self.drivers_.index(driver)

    def t_eff(self, driver: str, codes, n_cells, g_line_s, r_wire_ohm, c_wire_f=0.8e-15,
              t_lsb_s=1e-9) -> np.ndarray:
        """Effective pulse duration (s) of signed ``codes`` on lines of the given load."""
        k = self._index(driver)
        codes0 = np.asarray(codes, float)
        codes = np.atleast_1d(codes0)
        arrays = {n: np.broadcast_to(np.asarray(v, float), codes.shape) for n, v in
                  dict(n_cells=n_cells, g_line_s=g_line_s, r_wire_ohm=r_wire_ohm,
                       c_wire_f=c_wire_f, t_lsb_s=t_lsb_s).items()}
        return self._t(k, codes, arrays, slice(None)).reshape(codes0.shape)

    def charge(self, driver: str, codes, n_cells, g_line_s, r_wire_ohm, c_wire_f=0.8e-15,
               t_lsb_s=1e-9, v_read_v=0.2) -> np.ndarray:
        """Signed charge (C) into a linear line: sign·v_read·ΣG·t_eff."""
        t = self.t_eff(driver, codes, n_cells, g_line_s, r_wire_ohm, c_wire_f, t_lsb_s)
        return np.sign(codes) * v_read_v * np.asarray(g_line_s) * t

    def energy(self, driver: str, codes, n_cells, g_line_s, r_wire_ohm, c_wire_f=0.8e-15,
               t_lsb_s=1e-9, v_read_v=0.2) -> np.ndarray:
        """Energy per conversion (J) delivered by the line's sources."""
        k = self._index(driver)
        q = np.abs(self.charge(driver, codes, n_cells, g_line_s, r_wire_ohm, c_wire_f,
                               t_lsb_s, v_read_v))
        e = self.coef_e_[k]
        return (e[0] * q * v_read_v + e[1] * np.asarray(n_cells) * c_wire_f * v_read_v ** 2
                + e[2] * (np.asarray(codes) != 0))

    def to_arrays(self) -> dict:
        return {"drivers": np.array(self.drivers_, dtype="S"), "coef_t_eff": self.coef_t_,
                "coef_energy": self.coef_e_, "domain_lo": self.domain_lo_,
                "domain_hi": self.domain_hi_, "alpha": np.array(self.alpha),
                "domain_names": np.array(["n_cells", "g_cell_s", "r_wire_ohm", "abs_code"],
                                         dtype="S")}

    @classmethod
    def from_arrays(cls, a: dict) -> PwmDacSurrogate:
        m = cls(alpha=float(a["alpha"]))
        m.drivers_ = [s.decode() for s in a["drivers"]]
        m.coef_t_ = np.asarray(a["coef_t_eff"], float)
        m.coef_e_ = np.asarray(a["coef_energy"], float)
        m.domain_lo_ = np.asarray(a["domain_lo"], float)
        m.domain_hi_ = np.asarray(a["domain_hi"], float)
        if m.coef_t_.shape != (len(m.drivers_), 8):
            raise ValueError(f"dac/coef_t_eff has shape {m.coef_t_.shape}, expected "
                             f"({len(m.drivers_)}, 8)")
        return m
