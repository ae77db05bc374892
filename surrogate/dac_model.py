"""PWM DAC surrogate: effective pulse duration and energy vs code and line load.

SPICE's effective duration ``t_eff = |Q|/(v_read·ΣG)`` of one PWM-driven input line
mixes three things: the pulse timing (edges), the line's IR drop (driver ``r_out``
and wire segments feeding the cells) and the device law (PCM reads ~10 % more
current at +0.2 V than at -0.2 V). The surrogate keeps the physics explicit:

    η_s = k_s · Σ_i y_i·x_i / Σ_i y_i

is the charge efficiency of the line from a ladder solve
(:func:`aimc.surrogate.crossbar_model.ladder_attenuation`, shunts
``y_i = k_s·ΣG/n``, ``r_out`` then ``r_wire`` per cell), with ``k_s`` the device's
chord factor at ``s·v_read`` (s = sign of the code), and per driver and sign a
scikit-learn ``Ridge`` fits

    t_eff / t_lsb = c0·|code|·η_s + c1·η_s + c2.

``pulse_duration`` is the timing part alone, ``t_eff/(c0·η)`` (what a crossbar
model that solves the line itself should be driven with); ``charge`` the
signed charge; ``energy`` is linear in the delivered charge and the switched wire
capacitance: ``E = e0·|Q|·v_read + e1·n·c_wire·v_read² + e2·[code != 0]``.
"""

from __future__ import annotations

import json

import numpy as np
from aimc.surrogate.crossbar_model import DomainError, ladder_attenuation

R_OUT_OHM = 47.0  # PwmDacConfig.r_out_ohm default (aimc.circuits.dac)


def line_efficiency(n_cells: np.ndarray, g_line_s: np.ndarray, r_wire_ohm: np.ndarray,
                    chord: np.ndarray, r_out_ohm: float = R_OUT_OHM) -> np.ndarray:
    """η (n,) of lines with ``n_cells`` equal cells of total conductance ``g_line_s``."""
    n_cells = np.atleast_1d(np.asarray(n_cells, int))
    g_line_s, r_wire_ohm, chord = (np.broadcast_to(np.asarray(v, float), n_cells.shape)
                                   for v in (g_line_s, r_wire_ohm, chord))
    out = np.empty(n_cells.shape, float)
    for i, (n, g, r, k) in enumerate(zip(n_cells, g_line_s, r_wire_ohm, chord,
                                         strict=True)):
        y = np.full((1, int(n)), k * g / n)
        x = ladder_attenuation(y, r_out_ohm + r, r)
        out[i] = k * float(x.mean())
    return out


class PwmDacSurrogate:
    """``fit(...)`` / ``t_eff`` / ``pulse_duration`` / ``charge`` / ``energy``;
    coefficients per (driver, sign of the code)."""

    def __init__(self, alpha: float = 1e-6, device: str = "linear",
                 device_params: dict | None = None, v_read_v: float = 0.2) -> None:
        self.alpha = alpha
        self.device = device
        self.device_params = device_params or {}
        self.v_read_v = v_read_v

    def _chord(self, sign: np.ndarray) -> np.ndarray:
        from aimc.circuits.devices import device_from_name

        dev = device_from_name(self.device, **self.device_params)
        v = self.v_read_v
        kp = float(dev.current(v, 1.0) / v)
        km = float(dev.current(-v, 1.0) / -v)
        return np.where(np.asarray(sign) >= 0, kp, km)

    def _eta(self, codes, n_cells, g_line_s, r_wire_ohm) -> np.ndarray:
        k = self._chord(np.sign(codes))
        return line_efficiency(n_cells, g_line_s, r_wire_ohm, k)

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
        self.v_read_v = float(np.median(arrays["v_read_v"]))
        self.drivers_ = sorted(set(drivers))
        nd = len(self.drivers_)
        self.coef_t_ = np.zeros((nd, 2, 3))       # [driver, sign (+, -), c0..c2]
        self.coef_e_ = np.zeros((nd, 3))
        self.domain_lo_ = np.zeros((nd, 4))
        self.domain_hi_ = np.zeros((nd, 4))
        eta_all = self._eta(codes, arrays["n_cells"], arrays["g_line_s"],
                            arrays["r_wire_ohm"])
        for k, d in enumerate(self.drivers_):
            m = drivers == d
            for j, sgn in enumerate((1, -1)):
                nz = m & (np.sign(codes) == sgn) & np.isfinite(t_eff_s)
                if np.unique(np.abs(codes[nz])).size < 2:
                    # too few codes of this sign: share the fit of both signs (the
                    # chord factor in η still tells the polarities apart)
                    nz = m & (codes != 0) & np.isfinite(t_eff_s)
                if np.unique(np.abs(codes[nz])).size < 2:
                    raise ValueError(f"DAC driver {d!r}: need >= 2 distinct non-zero "
                                     f"|codes| to fit t_eff, got "
                                     f"{np.unique(np.abs(codes[nz])).size}")
                eta = eta_all[nz]
                x = np.stack([np.abs(codes[nz]) * eta, eta, np.ones_like(eta)], axis=1)
                y = t_eff_s[nz] / arrays["t_lsb_s"][nz]
                reg = Ridge(alpha=self.alpha, fit_intercept=False).fit(x, y)
                self.coef_t_[k, j] = reg.coef_
            t_hat = self.t_eff(d, codes[m], arrays["n_cells"][m], arrays["g_line_s"][m],
                               arrays["r_wire_ohm"][m], arrays["c_wire_f"][m],
                               arrays["t_lsb_s"][m])
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

    def _coef(self, k: int, codes: np.ndarray) -> np.ndarray:
        return self.coef_t_[k][np.where(codes >= 0, 0, 1)]          # (n, 3)

    def _index(self, driver: str) -> int:
        if driver not in self.drivers_:
            raise DomainError(f"DAC driver {driver!r} was not fitted; fitted: "
                              f"{', '.join(self.drivers_)}")
        return self.drivers_.index(driver)

    def _args(self, codes, **kw) -> tuple[np.ndarray, tuple, dict]:
        codes0 = np.asarray(codes, float)
        codes = np.atleast_1d(codes0)
        arrays = {n: np.broadcast_to(np.asarray(v, float), codes.shape).astype(float)
                  for n, v in kw.items()}
        return codes, codes0.shape, arrays

    def t_eff(self, driver: str, codes, n_cells, g_line_s, r_wire_ohm, c_wire_f=0.8e-15,
              t_lsb_s=1e-9) -> np.ndarray:
        """Effective pulse duration (s): |Q|/(v_read·ΣG) of signed ``codes`` on lines of
        the given load (0 for code 0)."""
        k = self._index(driver)
        codes, shape, a = self._args(codes, n_cells=n_cells, g_line_s=g_line_s,
                                     r_wire_ohm=r_wire_ohm, t_lsb_s=t_lsb_s)
        eta = self._eta(codes, a["n_cells"], a["g_line_s"], a["r_wire_ohm"])
        c = self._coef(k, codes)
        t = (c[..., 0] * np.abs(codes) * eta + c[..., 1] * eta + c[..., 2]) * a["t_lsb_s"]
        return np.where(codes != 0, np.maximum(t, 0.0), 0.0).reshape(shape)

    def predict(self, drivers, codes, n_cells, g_line_s, r_wire_ohm, t_lsb_s=1e-9
                ) -> np.ndarray:
        """scikit-learn style: t_eff (s) of each (driver, code, line load)."""
        codes = np.atleast_1d(np.asarray(codes, float))
        n_cells, g_line_s, r_wire_ohm, t_lsb_s = (
            np.broadcast_to(np.asarray(v, float), codes.shape)
            for v in (n_cells, g_line_s, r_wire_ohm, t_lsb_s))
        drivers = np.broadcast_to(np.asarray(drivers).astype(str), codes.shape)
        out = np.zeros(codes.shape)
        for d in set(drivers.ravel()):
            m = drivers == d
            out[m] = self.t_eff(d, codes[m], n_cells[m], g_line_s[m], r_wire_ohm[m],
                                t_lsb_s=t_lsb_s[m])
        return out

    def pulse_duration(self, driver: str, codes, n_cells, g_line_s, r_wire_ohm,
                       t_lsb_s=1e-9) -> np.ndarray:
        """The timing part of t_eff (s): t_eff/(c0·η), i.e. without the line's IR drop
        and device law, ``|code|·t_lsb + (c1 + c2/η)·t_lsb/c0`` for lines of the given
        load; 0 for code 0. This is what drives a crossbar model that solves the line
        itself."""
        k = self._index(driver)
        codes, shape, a = self._args(codes, n_cells=n_cells, g_line_s=g_line_s,
                                     r_wire_ohm=r_wire_ohm, t_lsb_s=t_lsb_s)
        eta = self._eta(codes.ravel(), a["n_cells"].ravel(), a["g_line_s"].ravel(),
                        a["r_wire_ohm"].ravel()).reshape(codes.shape)
        c = self._coef(k, codes)
        t = (np.abs(codes) + (c[..., 1] + c[..., 2] / eta) / c[..., 0]) * a["t_lsb_s"]
        return np.where(codes != 0, np.maximum(t, 0.0), 0.0).reshape(shape)

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
                "device": np.array(self.device, dtype="S"),
                "device_params_json": np.array(json.dumps(self.device_params), dtype="S"),
                "v_read_v": np.array(self.v_read_v),
                "coef_energy": self.coef_e_, "domain_lo": self.domain_lo_,
                "domain_hi": self.domain_hi_, "alpha": np.array(self.alpha),
                "domain_names": np.array(["n_cells", "g_cell_s", "r_wire_ohm", "abs_code"],
                                         dtype="S")}

    @classmethod
    def from_arrays(cls, a: dict) -> PwmDacSurrogate:
        m = cls(alpha=float(a["alpha"]), device=bytes(a["device"]).decode(),
                device_params=json.loads(bytes(a["device_params_json"]).decode()),
                v_read_v=float(a["v_read_v"]))
        m.drivers_ = [s.decode() for s in a["drivers"]]
        m.coef_t_ = np.asarray(a["coef_t_eff"], float)
        m.coef_e_ = np.asarray(a["coef_energy"], float)
        m.domain_lo_ = np.asarray(a["domain_lo"], float)
        m.domain_hi_ = np.asarray(a["domain_hi"], float)
        if m.coef_t_.shape != (len(m.drivers_), 2, 3):
            raise ValueError(f"dac/coef_t_eff has shape {m.coef_t_.shape}, expected "
                             f"({len(m.drivers_)}, 2, 3)")
        return m
