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


# ------------------------------------------------------------------------------------
# RRAM (Wan et al., Nature 608, 504 (2022), "A compute-in-memory chip based on resistive
# random-access memory", NeuRRAM; Extended Data Fig. 3: conductance spread after
# program-and-verify, 1 s / 1 day / 2 days after programming)
# ------------------------------------------------------------------------------------

#: σ of the conductance around its target, a 4th-order polynomial in ĝ = g/g_max
#: (µS at the chip's g_max = 40 µS), ascending powers, at 1 s, 1 day and 2 days. The
#: coefficients are the polynomial fit of the published figure that IBM aihwkit ships
#: as ``ReRamWan2022NoiseModel`` (numbers only; the figure is the source).
RRAM_WAN2022_SIGMA_US = {
    1.0: (0.348, 16.030, -43.853, 45.393, -16.815),
    86400.0: (0.701, 22.086, -50.773, 47.095, -16.458),
    172800.0: (0.782, 20.274, -43.507, 37.062, -11.934),
}
RRAM_WAN2022_G_MAX_S = 40e-6


@dataclass
class RramStatistics:
    """RRAM inference statistics after Wan et al. (Nature 2022), same interface as
    :class:`PcmStatistics` (``program``, ``sample_nu``, ``at_time``, ``t0_s``).

    * programming: ``g_prog = max(g_target + σ(ĝ, 1 s)·z₁, 0)`` (program-and-verify
      leaves the 1-s spread of the published figure);
    * relaxation ("drift" of RRAM: no systematic decay, the spread around the target
      grows): at ``t`` the spread is σ(ĝ, t), interpolated linearly in ln t between the
      published 1 s, 1 day and 2 day curves and held at the 2-day value beyond (no
      published data; stated as an extrapolation); the part above the 1-s spread is an
      independent draw, ``g(t) = g_prog + sqrt(σ(t)² − σ(1 s)²)·z₂``;
    * no separate 1/f read noise (Wan et al. give none; aihwkit suggests ~1 % as an
      optional additive read noise, left out here);
    * σ scales with ``g_max / 40 µS`` (the relative spread of the chip is kept when a
      different conductance range is used).
    """

    g_max_s: float = G_MAX_S
    t0_s: float = 1.0       # the first published read: 1 s after programming
    prog_noise: bool = True
    drift: bool = True

    def sigma_s(self, g_target_s: np.ndarray, t_s: float) -> np.ndarray:
        gh = np.clip(np.asarray(g_target_s, float) / self.g_max_s, 0.0, 1.0)
        times = sorted(RRAM_WAN2022_SIGMA_US)
        t = float(np.clip(t_s, times[0], times[-1]))

        def poly(key: float) -> np.ndarray:
            return np.polynomial.polynomial.polyval(gh, RRAM_WAN2022_SIGMA_US[key])

        k = max(i for i, tt in enumerate(times) if tt <= t)
        if k == len(times) - 1:
            s = poly(times[k])
        else:
            a = (np.log(t) - np.log(times[k])) / (np.log(times[k + 1]) - np.log(times[k]))
            s = (1 - a) * poly(times[k]) + a * poly(times[k + 1])
        return np.maximum(s, 0.0) * 1e-6 * self.g_max_s / RRAM_WAN2022_G_MAX_S

    def program(self, g_target_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = np.asarray(g_target_s, float)
        if not self.prog_noise:
            return g.copy()
        return np.maximum(g + self.sigma_s(g, self.t0_s) * rng.standard_normal(g.shape), 0.0)

    def sample_nu(self, g_prog_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The relaxation draw z₂ of every device (plays the role of PCM's ν)."""
        return rng.standard_normal(np.shape(g_prog_s))

    def at_time(self, g_prog_s: np.ndarray, nu: np.ndarray, t_s: float,
                rng: np.random.Generator) -> np.ndarray:
        g = np.asarray(g_prog_s, float)
        if not self.drift or t_s <= self.t0_s:
            return g.copy()
        s1, st = self.sigma_s(g, self.t0_s), self.sigma_s(g, t_s)
        return np.maximum(g + np.sqrt(np.maximum(st * st - s1 * s1, 0.0)) * nu, 0.0)


#: device statistics by name (ArrayConfig.statistics)
STATISTICS = {"pcm": PcmStatistics, "rram": RramStatistics}


def device_statistics(name: str, g_max_s: float = G_MAX_S):
    """The statistics of a device type (``"pcm"`` or ``"rram"``) for a conductance range."""
    if name not in STATISTICS:
        raise ValueError(f"device statistics {name!r} unknown; use one of "
                         + ", ".join(STATISTICS))
    return STATISTICS[name](g_max_s=g_max_s)
