"""CCO-ADC surrogate: HERMES calibration form plus a fitted residual, per condition.

For each operating condition (variant, linearization, supply, temperature) the
toggle rate is ``f(i) = A·|i|/(1 + B·|i|) + C + r(|i|)``: the calibration form of
the HERMES ADC (FACTS.md; fitted with :func:`aimc.circuits.adc.fit_calibration`)
and a residual ``r`` that is piece-wise linear in |i| on fixed knots, fitted by a
scikit-learn ``Ridge`` on hat-function features to the *counts* of the SPICE
transients (so it absorbs the start-up phase and the gate-delay saturation that the
three-parameter form misses). The count of a time-varying current is

    count = sign · ∫ f(|i(t)|) dt   (over the window; piece-wise constant input)

which handles PWM's stepped currents (the line current steps down as pulses end).
The residual and the energy are fitted per polarity (the two current directions
use different mirrors). Energy per conversion: ``E = P_static·T + k_q·∫|i| dt``
(Ridge on those two features). Conversion time: the integration window.

The input line's deviation from v_cm (the regulator's error, which a crossbar
driving the ADC sees) is fitted per polarity as ``d0 + d1·sqrt(|i|)`` from the
recorded ``v_in_v`` waveform (``line_error``).

INL/DNL of the fitted transfer (counts vs charge, in LSB = counts) are computed by
:meth:`CcoAdcSurrogate.linearity`. Noise is not modelled (the sweeps have none).
"""

from __future__ import annotations

import numpy as np
from aimc.surrogate.crossbar_model import DomainError

N_KNOTS = 8


def _hat(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Hat-function (piece-wise linear interpolation) basis (n, K)."""
    eye = np.eye(knots.size)
    return np.stack([np.interp(x, knots, eye[k]) for k in range(knots.size)], axis=1)


class CcoAdcSurrogate:
    """``fit(conditions, i_in_a, counts, window_s, energy_j, frequency_hz)`` /
    ``predict_count(...)``; one calibration + residual per condition key."""

    def __init__(self, alpha: float = 1e-2, n_knots: int = N_KNOTS) -> None:
        self.alpha = alpha
        self.n_knots = n_knots

    def fit(self, keys: list[str], i_in_a: np.ndarray, counts: np.ndarray,
            window_s: np.ndarray, energy_j: np.ndarray,
            frequency_hz: np.ndarray | None = None,
            line_error_v: np.ndarray | None = None) -> CcoAdcSurrogate:
        from aimc.circuits.adc import calibration_model, fit_calibration
        from sklearn.linear_model import Ridge

        i_in_a = np.asarray(i_in_a, float)
        counts = np.asarray(counts, float)
        window_s = np.asarray(window_s, float)
        energy_j = np.asarray(energy_j, float)
        for name, a in (("i_in_a", i_in_a), ("count", counts), ("window_s", window_s),
                        ("energy_j", energy_j)):
            if not np.all(np.isfinite(a)):
                raise ValueError(f"ADC data: {name} has NaN/inf values "
                                 f"({int(np.sum(~np.isfinite(a)))} points)")
        self.keys_ = sorted(set(keys))
        k = len(self.keys_)
        self.abc_ = np.zeros((k, 3))
        self.knots_ = np.zeros((k, self.n_knots))
        self.resid_ = np.zeros((k, 2, self.n_knots))     # [key, sign (+, -), knot]
        self.energy_ = np.zeros((k, 2, 2))                # [key, sign, (P_static, J/C)]
        self.i_max_ = np.zeros(k)
        self.window_ = np.zeros((k, 2))
        self.line_error_ = np.zeros((k, 2, 2))           # [key, sign, (d0 V, d1 V/sqrt(A))]
        keys_a = np.array(keys)
        for n, key in enumerate(self.keys_):
            m = keys_a == key
            ai = np.abs(i_in_a[m])
            if np.unique(ai).size < 3:
                raise ValueError(f"ADC condition {key!r}: need >= 3 distinct currents to fit "
                                 f"the calibration form, got {np.unique(ai).size}")
            f_obs = np.abs(counts[m]) / window_s[m]
            if frequency_hz is not None:  # toggle rate is finer than count/T when >= 3
                fh = np.asarray(frequency_hz, float)[m]
                use = np.isfinite(fh) & (np.abs(counts[m]) >= 3)
                f_obs = np.where(use, fh, f_obs)
            a, b, c = fit_calibration(ai, f_obs, relative=False)
            self.abc_[n] = (a, b, c)
            knots = np.linspace(0.0, ai.max(), self.n_knots)
            self.knots_[n] = knots
            sg = np.sign(i_in_a[m])
            for j, sgn in enumerate((1.0, -1.0)):      # the two polarities use different
                ms = sg == sgn                          # mirrors: residual/energy per sign
                if ms.sum() < 2:
                    ms = np.ones_like(ms)
                w = window_s[m][ms]
                resid = np.abs(counts[m][ms]) / w - calibration_model(ai[ms], a, b, c)
                reg = Ridge(alpha=self.alpha, fit_intercept=False)
                # features scaled to counts (x window) so the penalty is in count units
                reg.fit(_hat(ai[ms], knots) * w[:, None], resid * w)
                self.resid_[n, j] = reg.coef_
                ef = np.stack([w, ai[ms] * w], axis=1)
                sc = ef.max(axis=0)
                ereg = Ridge(alpha=1e-12, fit_intercept=False).fit(ef / sc, energy_j[m][ms])
                self.energy_[n, j] = ereg.coef_ / sc
            if line_error_v is not None:
                le = np.asarray(line_error_v, float)[m]
                for j, sgn in enumerate((1.0, -1.0)):
                    ms = (sg == sgn) & np.isfinite(le)
                    if ms.sum() >= 2:
                        # regulator: dead zone + overdrive ~ sqrt(i), divided by its gain
                        x = np.stack([np.ones(ms.sum()), np.sqrt(ai[ms])], axis=1)
                        lreg = Ridge(alpha=1e-9, fit_intercept=False).fit(x, le[ms])
                        self.line_error_[n, j] = lreg.coef_
            self.i_max_[n] = ai.max()
            self.window_[n] = (window_s[m].min(), window_s[m].max())
        return self

    # -- evaluation -------------------------------------------------------------------
    def _index(self, key: str) -> int:
        if key not in self.keys_:
            raise DomainError(f"ADC condition {key!r} was not fitted; fitted: "
                              f"{', '.join(self.keys_)}")
        return self.keys_.index(key)

    def frequency(self, key: str, i_a: np.ndarray, policy: str = "warn") -> np.ndarray:
        """Toggle rate (Hz, >= 0) for input currents ``i_a`` (A, any sign)."""
        import warnings

        n = self._index(key)
        a, b, c = self.abc_[n]
        x = np.abs(np.asarray(i_a, float))
        imax = self.i_max_[n]
        if policy != "ignore" and x.size and x.max() > imax * (1 + 1e-9):
            msg = (f"ADC surrogate: |i| = {x.max():.3g} A beyond the fitted range "
                   f"{imax:.3g} A")
            if policy == "error" or x.max() > 2 * imax:
                raise DomainError(msg)
            warnings.warn(msg + "; extrapolating", stacklevel=2)
        i = np.asarray(i_a, float)
        r = np.where(i >= 0, np.interp(x, self.knots_[n], self.resid_[n, 0]),
                     np.interp(x, self.knots_[n], self.resid_[n, 1]))
        f = a * x / (1 + b * x) + c + r
        return np.where(x > 0, np.maximum(f, 0.0), 0.0)

    def count(self, key: str, i_seg_a: np.ndarray, dt_s: np.ndarray,
              policy: str = "warn") -> np.ndarray:
        """Signed count of piece-wise constant currents: ``i_seg_a`` (..., S) on segments
        of durations ``dt_s`` (broadcast to (..., S)); returns (...) counts (float)."""
        i = np.asarray(i_seg_a, float)
        return np.sum(np.sign(i) * self.frequency(key, i, policy) * dt_s, axis=-1)

    def linear_rate(self, key: str, n: int = 257) -> float:
        """Slope (counts per coulomb) of the best line through 0 of the signed count rate
        over the fitted range (least squares on ``n`` currents in [-i_max, i_max])."""
        idx = self._index(key)
        i = np.linspace(-self.i_max_[idx], self.i_max_[idx], n)
        f = np.sign(i) * self.frequency(key, i, policy="ignore")
        return float(np.dot(i, f) / np.dot(i, i))

    def rate_remainder(self, key: str, i_a: np.ndarray, slope: float,
                       peak_axis: int | None = None):
        """``sign(i)·f(min(|i|, i_max)) - slope·i`` (Hz, float32): what the count of a
        current adds beyond ``slope`` x its charge (offset, curvature, saturation at the
        fitted i_max; zero at i = 0). The same f as :meth:`frequency`, evaluated in
        float32 with in-place operations (it runs on every profile sample); a residual
        below 1e-4 counts over the longest fitted window is left out. With
        ``peak_axis``, also returns max |i| along that axis."""
        n = self._index(key)
        a, b, c = (np.float32(v) for v in self.abc_[n])
        i = np.asarray(i_a, np.float32)
        x = np.abs(i)
        peak = None if peak_axis is None else x.max(axis=peak_axis)
        np.minimum(x, np.float32(self.i_max_[n]), out=x)
        buf = x * b
        buf += 1
        f = x * a
        f /= buf
        knots, res = self.knots_[n], self.resid_[n]
        use_res = float(np.max(np.abs(res))) * float(self.window_[n].max()) > 1e-4
        if use_res:
            f += np.where(i >= 0, np.interp(x, knots, res[0]),
                          np.interp(x, knots, res[1])).astype(np.float32)
        f += c
        if c + (float(res.min()) if use_res else 0.0) < 0:     # f >= 0, as frequency()
            np.maximum(f, 0, out=f)
        np.copysign(f, i, out=f)
        zero = i == 0
        if zero.any():
            f[zero] = 0
        np.multiply(i, np.float32(slope), out=buf)
        f -= buf
        return f if peak_axis is None else (f, peak)

    def predict(self, keys: list[str], i_in_a: np.ndarray, t_on_s: np.ndarray) -> np.ndarray:
        """scikit-learn style: the count of each (condition, DC current, duration)."""
        i_in_a, t_on_s = np.broadcast_arrays(np.asarray(i_in_a, float),
                                             np.asarray(t_on_s, float))
        return np.array([float(self.count(k, i, t)) for k, i, t in
                         zip(keys, i_in_a.ravel(), t_on_s.ravel(), strict=True)])

    def count_dc(self, key: str, i_a: np.ndarray, window_s: float,
                 policy: str = "warn") -> np.ndarray:
        i = np.asarray(i_a, float)
        return np.sign(i) * self.frequency(key, i, policy) * window_s

    def line_error(self, key: str, i_a: np.ndarray) -> np.ndarray:
        """Deviation (V) of the input line from v_cm for an input current ``i_a`` (A,
        positive into the ADC): the regulator's dead zone and overdrive over its gain,
        ``d0 + d1·sqrt(|i|)`` per polarity (zero when the sweep did not record v_in_v)."""
        n = self._index(key)
        i = np.asarray(i_a, float)
        d = np.where(i >= 0, 0, 1)
        c = self.line_error_[n][d]
        return np.where(i != 0, c[..., 0] + c[..., 1] * np.sqrt(np.abs(i)), 0.0)

    def energy(self, key: str, q_c: np.ndarray, window_s: float) -> np.ndarray:
        """Energy per conversion (J) for the signed input charge ``q_c`` (C)."""
        n = self._index(key)
        q = np.asarray(q_c, float)
        e = np.where(q >= 0, 1, 0)
        p_static = np.where(e, self.energy_[n, 0, 0], self.energy_[n, 1, 0])
        k_q = np.where(e, self.energy_[n, 0, 1], self.energy_[n, 1, 1])
        return p_static * window_s + k_q * np.abs(q)

    def linearity(self, key: str, window_s: float, n: int = 256) -> dict[str, float]:
        """INL/DNL (LSB = counts) of the fitted count vs charge over the fitted range:
        INL against the best line through 0, DNL from the code-transition widths."""
        idx = self._index(key)
        i = np.linspace(0, self.i_max_[idx], 4 * n)
        c = self.count_dc(key, i, window_s, policy="ignore")
        q = i * window_s
        slope = float(np.dot(q, c) / np.dot(q, q))
        inl = c - slope * q
        levels = np.arange(1, int(np.floor(c.max())))
        if levels.size >= 2:
            qt = np.interp(levels, c, q)       # monotone transfer
            w = np.diff(qt) * slope
            dnl = w - 1.0
        else:
            dnl = np.zeros(1)
        return {"inl_max_lsb": float(np.max(np.abs(inl))),
                "dnl_max_lsb": float(np.max(np.abs(dnl))),
                "gain_counts_per_c": slope, "conversion_time_s": float(window_s)}

    # -- storage ----------------------------------------------------------------------
    def to_arrays(self) -> dict:
        return {"keys": np.array(self.keys_, dtype="S"), "abc": self.abc_,
                "knots_a": self.knots_, "resid_hz": self.resid_, "energy": self.energy_,
                "i_max_a": self.i_max_, "window_s": self.window_,
                "line_error": self.line_error_, "alpha": np.array(self.alpha)}

    @classmethod
    def from_arrays(cls, a: dict) -> CcoAdcSurrogate:
        knots = np.asarray(a["knots_a"], float)
        m = cls(alpha=float(a["alpha"]), n_knots=knots.shape[1])
        m.keys_ = [s.decode() for s in a["keys"]]
        m.abc_ = np.asarray(a["abc"], float)
        m.knots_ = knots
        m.resid_ = np.asarray(a["resid_hz"], float)
        m.energy_ = np.asarray(a["energy"], float)
        m.i_max_ = np.asarray(a["i_max_a"], float)
        m.window_ = np.asarray(a["window_s"], float)
        m.line_error_ = np.asarray(a["line_error"], float)
        if m.abc_.shape != (len(m.keys_), 3) or m.resid_.shape[:2] != (len(m.keys_), 2):
            raise ValueError(f"adc/abc has shape {m.abc_.shape}, expected ({len(m.keys_)}, 3)")
        return m


def adc_key(variant: str, linearize: bool, vdd_v: float, temperature_c: float) -> str:
    """Condition key of the ADC surrogate."""
    return (f"{variant}|lin={int(bool(linearize))}|vdd={float(vdd_v):.4g}"
            f"|T={float(temperature_c):.4g}")
