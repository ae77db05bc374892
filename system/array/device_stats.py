"""PCM device statistics for inference: programming noise, drift, 1/f read noise.

The equations are the ones FACTS.md gives (Nandakumar et al., ICECS 2019; Joshi et al.,
Nature Communications 11, 2473 (2020); the same statistical model as IBM aihwkit's
``PCMLikeNoiseModel``). With ``ĝ = g_target / g_max`` (g_max = 25 µS):

* programming: ``σ_prog = (0.26348 + 1.9650·ĝ − 1.1731·ĝ²)·g_max/25`` (µS at
  g_max = 25 µS), ``g_prog = max(g_target + σ_prog·N(0,1), 0)``;
* drift: ``μ_ν = clip(−0.0155·ln ĝ + 0.0244, 0.049, 0.1)``,
  ``σ_ν = clip(−0.0125·ln ĝ − 0.0059, 0.008, 0.045)``, ``ν = |μ_ν + σ_ν·N(0,1)|``,
  ``g_drift = g_prog·(t/t0)^(−ν)`` with t0 = 20 s (no drift before t0);
* 1/f read noise: ``Q_s = min(0.0088 / max(ĝ_prog^0.65, 1e-3), 0.2)``,
  ``σ = Q_s·sqrt(ln((t + t_read)/(2·t_read)))`` with t_read = 250 ns,
  ``g = max(g_drift + |g_drift|·σ·N(0,1), 0)``;
* global drift compensation: the array is read once after programming and once at
  t_inference with the same reference input; outputs are scaled by the ratio
  (:func:`drift_compensation_factor`).

``ĝ`` of the drift and read-noise laws is taken from the *programmed* conductance, as
in aihwkit (the drift exponent of a device follows its actual state). Everything is
vectorised over arrays of any shape and takes an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: FACTS.md "PCM device statistics": programming-noise polynomial (µS at g_max = 25 µS)
PROG_COEFFS = (0.26348, 1.9650, -1.1731)
G_MAX_S = 25e-6      # FACTS.md: PCM conductance 0-25 µS
T0_S = 20.0          # FACTS.md: drift reference time t0 = 20 s
T_READ_S = 250e-9    # FACTS.md: read duration of the 1/f noise law


@dataclass
class PcmStatistics:
    """The inference statistics of PCM devices (FACTS.md); constructor values as given."""

    g_max_s: float = G_MAX_S
    t0_s: float = T0_S
    t_read_s: float = T_READ_S
    prog_noise: bool = True
    drift: bool = True
    read_noise: bool = True

    def __post_init__(self) -> None:
        for name in ("g_max_s", "t0_s", "t_read_s"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"PcmStatistics.{name} must be finite and > 0, got {v!r}")

    # -- the laws (deterministic parts) ---------------------------------------------------
    def g_hat(self, g_s: np.ndarray) -> np.ndarray:
        return np.asarray(g_s, float) / self.g_max_s

    def sigma_prog_s(self, g_target_s: np.ndarray) -> np.ndarray:
        """Programming-noise standard deviation (S) at the target conductance."""
        gh = self.g_hat(g_target_s)
        a, b, c = PROG_COEFFS
        return np.maximum(a + b * gh + c * gh * gh, 0.0) * 1e-6 * self.g_max_s / 25e-6

    def nu_mean(self, g_s: np.ndarray) -> np.ndarray:
        gh = np.maximum(self.g_hat(g_s), 1e-12)
        return np.clip(-0.0155 * np.log(gh) + 0.0244, 0.049, 0.1)

    def nu_std(self, g_s: np.ndarray) -> np.ndarray:
        gh = np.maximum(self.g_hat(g_s), 1e-12)
        return np.clip(-0.0125 * np.log(gh) - 0.0059, 0.008, 0.045)

    def drift_factor(self, nu: np.ndarray, t_s: float) -> np.ndarray:
        """``(t/t0)^(−ν)`` for t >= t0, 1 before (the law is referenced to t0)."""
        nu = np.asarray(nu, float)
        if t_s <= self.t0_s:
            return np.ones_like(nu)
        return (t_s / self.t0_s) ** (-nu)

    def read_noise_sigma(self, g_prog_s: np.ndarray, t_s: float) -> np.ndarray:
        """Relative 1/f read-noise σ at time ``t_s`` after programming."""
        gh = np.maximum(self.g_hat(g_prog_s), 0.0)
        q_s = np.minimum(0.0088 / np.maximum(gh ** 0.65, 1e-3), 0.2)
        arg = (t_s + self.t_read_s) / (2.0 * self.t_read_s)
        return q_s * np.sqrt(max(np.log(arg), 0.0))

    # -- sampling ---------------------------------------------------------------------------
    def program(self, g_target_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = np.asarray(g_target_s, float)
        if not self.prog_noise:
            return g.copy()
        return np.maximum(g + self.sigma_prog_s(g) * rng.standard_normal(g.shape), 0.0)

    def sample_nu(self, g_prog_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = np.asarray(g_prog_s, float)
        return np.abs(self.nu_mean(g) + self.nu_std(g) * rng.standard_normal(g.shape))

    def at_time(self, g_prog_s: np.ndarray, nu: np.ndarray, t_s: float,
                rng: np.random.Generator) -> np.ndarray:
        """Conductance read at ``t_s`` after programming: drift, then 1/f read noise."""
        g = np.asarray(g_prog_s, float)
        g_d = g * self.drift_factor(nu, t_s) if self.drift else g.copy()
        if not self.read_noise or t_s <= 0:
            return g_d
        sig = self.read_noise_sigma(g, t_s)
        return np.maximum(g_d + np.abs(g_d) * sig * rng.standard_normal(g.shape), 0.0)


@dataclass
class ProgrammedDevices:
    """Programmed state of a set of devices: what was asked, what was written, ν."""

    g_target_s: np.ndarray
    g_prog_s: np.ndarray
    nu: np.ndarray


def program_devices(stats: PcmStatistics, g_target_s: np.ndarray,
                    rng: np.random.Generator) -> ProgrammedDevices:
    g_prog = stats.program(g_target_s, rng)
    return ProgrammedDevices(np.asarray(g_target_s, float), g_prog, stats.sample_nu(g_prog, rng))


def drift_compensation_factor(reference_after_programming: np.ndarray,
                              reference_now: np.ndarray) -> float:
    """Global drift compensation (FACTS.md): ratio of the summed |outputs| of the same
    reference read just after programming and at inference time."""
    a = float(np.sum(np.abs(reference_after_programming)))
    b = float(np.sum(np.abs(reference_now)))
    if not np.isfinite(a) or not np.isfinite(b) or b <= 0:
        raise ValueError(f"drift compensation: reference reads {a!r} / {b!r} are not usable")
    return a / b
