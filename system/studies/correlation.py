"""What a study's data say: the Pareto front, the fitted analytic relation, seed 004.

**MVM error σ** (per network, % of the ADC full scale, against the float matmul). The
independent error sources add in variance: uniform quantisation of the weights, the
inputs and the ADC output (each ∝ 4^-bits, the variance of a uniform rounding error is
LSB²/12), and the device spread ``s_dev`` (relative conductance σ read at t_s, from the
device statistics laws alone, :func:`device_spread`), which pruning scales through the
share of devices that still carry a weight::

    σ² = a_w·4^-wb + a_x·4^-xb + a_y·4^-yb + r²·(s_dev²·(d_0 + d_p·p) + e_0) + c_0

with ``r = 100 µA / I_fs`` (an absolute current error is a larger share of a smaller
ADC range) and non-negative coefficients (non-negative least squares on the training
configs, each row weighted by 1/σ² so that relative errors count).

**Accuracy drop** of the analog path against the same (pruned) network in floating
point, against σ (per network): ``Δacc = A·σ^k / (σ^k + σ_50^k)`` (a
saturating power law: small errors cost nothing, large ones drive the classifier to
chance), fitted on the training configs' mean accuracy.

Both are fitted on a seeded random 75 % of the finished configurations and checked on
the other 25 % (held out): :func:`fit_relation` reports the RMS and max prediction
error there.

**Seed 004**: :func:`tops_curve` scales the IMA's energy per MVM job over two decades
and evaluates MobileNetV2 on the cluster: cluster TOPS/W against tile energy per MVM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


# ---- device noise from the statistics laws ------------------------------------------------
def device_spread(device: str, t_s: float, g_hat: float = 0.5) -> float:
    """Relative conductance σ of a device at ĝ read ``t_s`` after programming, after
    global drift compensation (PCM: programming noise, the spread of the drift
    exponent σ_ν·ln(t/t0), 1/f read noise; RRAM: the published spread at t)."""
    from aimc.system.array.device_stats import PcmStatistics, RramStatistics

    if device == "rram":
        st = RramStatistics()
        g = g_hat * st.g_max_s
        return float(st.sigma_s(np.array(g), t_s) / g)
    st = PcmStatistics()
    g = np.array(g_hat * st.g_max_s)
    prog = float(st.sigma_prog_s(g) / g)
    drift = float(st.nu_std(g)) * max(np.log(t_s / st.t0_s), 0.0)
    read = float(st.read_noise_sigma(g, t_s))
    return float(np.sqrt(prog ** 2 + drift ** 2 + read ** 2))


# ---- Pareto --------------------------------------------------------------------------------
def pareto_mask(costs: np.ndarray) -> np.ndarray:
    """Rows of ``costs`` (N, k; smaller is better, NaN rows excluded) on the front."""
    c = np.asarray(costs, float)
    ok = np.all(np.isfinite(c), axis=1)
    mask = np.zeros(len(c), bool)
    idx = np.flatnonzero(ok)
    for i in idx:
        other = c[idx]
        dom = np.all(other <= c[i], axis=1) & np.any(other < c[i], axis=1)
        mask[i] = not dom.any()
    return mask


def pareto_front(study: dict[str, Any], network: str,
                 objectives=("acc", "energy_j", "area_mm2")) -> np.ndarray:
    """Indices of the configurations on the (accuracy↑, energy↓, area↓) front."""
    o = study["objectives"]
    cols = []
    for k in objectives:
        if k == "acc":
            cols.append(-o[f"{network}.acc_mean"])
        else:
            cols.append(o[f"{network}.{k}"])
    return np.flatnonzero(pareto_mask(np.column_stack(cols)))


# ---- the analytic relation -----------------------------------------------------------------
def sigma_features(params: dict[str, np.ndarray], sparsity: np.ndarray) -> np.ndarray:
    wb, xb, yb = (np.asarray(params[k], float) for k in ("weight_bits", "input_bits",
                                                          "adc_bits"))
    s = np.array([device_spread(d, t) for d, t in zip(params["device"], params["t_s"],
                                                       strict=True)])
    p = np.asarray(sparsity, float)
    r2 = (100.0 / np.asarray(params["adc_fs_ua"], float)) ** 2
    return np.column_stack([4.0 ** -wb, 4.0 ** -xb, 4.0 ** -yb, s * s * r2, s * s * p * r2,
                            r2, np.ones_like(wb)])


SIGMA_TERMS = ("a_w·4^-wb", "a_x·4^-xb", "a_y·4^-yb", "d_0·s_dev²·r²", "d_p·s_dev²·p·r²",
               "e_0·r²", "c_0")


def drop_model(sigma: np.ndarray, a: float, s50: float, k: float) -> np.ndarray:
    s = np.maximum(np.asarray(sigma, float), 1e-9)
    return a * s ** k / (s ** k + s50 ** k)


@dataclass
class NetworkFit:
    network: str
    sigma_coef: dict[str, float]
    drop_coef: dict[str, float]
    n_train: int
    n_test: int
    sigma_rms_rel_train: float
    sigma_rms_rel_heldout: float
    sigma_max_rel_heldout: float
    drop_rms_pp_train: float
    drop_rms_pp_heldout: float
    drop_max_pp_heldout: float
    heldout: dict[str, list[float]] = field(default_factory=dict)

    def text(self) -> str:
        terms = " + ".join(f"{v:.3g}·{k.split('·', 1)[1]}" if "·" in k else f"{v:.3g}"
                           for k, v in self.sigma_coef.items())
        d = self.drop_coef
        return (f"{self.network}: σ² = {terms}  (σ in % FS)\n"
                f"  Δacc = {d['A']:.3g}·σ^{d['k']:.2f} / (σ^{d['k']:.2f} + "
                f"{d['sigma50']:.3g}^{d['k']:.2f})\n"
                f"  fit on {self.n_train} configs, checked on {self.n_test} held out: σ "
                f"RMS error {self.sigma_rms_rel_heldout * 100:.1f} % (max "
                f"{self.sigma_max_rel_heldout * 100:.1f} %; train "
                f"{self.sigma_rms_rel_train * 100:.1f} %), Δacc RMS error "
                f"{self.drop_rms_pp_heldout:.2f} pp (max {self.drop_max_pp_heldout:.2f} pp;"
                f" train {self.drop_rms_pp_train:.2f} pp)")


def fit_relation(study: dict[str, Any], network: str, heldout_fraction: float = 0.25,
                 seed: int = 0) -> NetworkFit:
    from scipy.optimize import curve_fit, nnls

    o, prm = study["objectives"], study["params"]
    sig = o[f"{network}.mvm_sigma_pct"]
    drop = o[f"{network}.acc_float"] - o[f"{network}.acc_mean"]   # analog vs own float
    spars = o[f"{network}.sparsity"]
    ok = np.flatnonzero((study["status"] == 1) & np.isfinite(sig) & np.isfinite(drop))
    if ok.size < 8:
        raise ValueError(f"{network}: {ok.size} finished configurations; the fit needs >= 8")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(ok)
    n_test = max(2, int(round(heldout_fraction * ok.size)))
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    X = sigma_features({k: np.asarray(v)[ok] for k, v in prm.items()}, spars[ok])
    pos = {i: j for j, i in enumerate(ok)}
    Xtr = X[[pos[i] for i in train]]
    w = 1.0 / sig[train] ** 2          # relative errors: each config counts the same
    coef, _ = nnls(Xtr * w[:, None], sig[train] ** 2 * w)
    pred = np.sqrt(np.maximum(X @ coef, 0.0))
    ptr, pte = pred[[pos[i] for i in train]], pred[[pos[i] for i in test]]
    rel_tr = (ptr - sig[train]) / sig[train]
    rel_te = (pte - sig[test]) / sig[test]
    p0 = [max(float(np.max(drop[train])), 0.05), float(np.median(sig[train])), 3.0]
    try:
        dc, _ = curve_fit(drop_model, sig[train], drop[train], p0=p0,
                          bounds=([0.0, 1e-3, 0.3], [1.0, 1e3, 20.0]), maxfev=20000)
    except RuntimeError:
        dc = np.array(p0)
    # the accuracy model is checked from the *predicted* σ of held-out configurations
    d_tr = drop_model(sig[train], *dc) - drop[train]
    d_te = drop_model(pte, *dc) - drop[test]
    return NetworkFit(
        network, dict(zip(SIGMA_TERMS, map(float, coef), strict=True)),
        {"A": float(dc[0]), "sigma50": float(dc[1]), "k": float(dc[2])},
        int(train.size), int(test.size),
        float(np.sqrt(np.mean(rel_tr ** 2))), float(np.sqrt(np.mean(rel_te ** 2))),
        float(np.max(np.abs(rel_te))), float(np.sqrt(np.mean(d_tr ** 2)) * 100),
        float(np.sqrt(np.mean(d_te ** 2)) * 100), float(np.max(np.abs(d_te)) * 100),
        {"index": test.tolist(), "sigma": sig[test].tolist(), "sigma_pred": pte.tolist(),
         "drop": drop[test].tolist(), "drop_pred": drop_model(pte, *dc).tolist()})


# ---- seed 004: tile TOPS/W does not carry over to the cluster --------------------------------
def tops_curve(factors=None) -> list[dict[str, float]]:
    """MobileNetV2 (built-in, seed-001 cluster, IMA+DW mapping) with the IMA's energy per
    MVM job scaled by ``factors`` (default 0.1..10, two decades): tile and cluster TOPS/W."""
    from dataclasses import replace

    from aimc.system.cluster.config import ClusterConfig
    from aimc.system.cluster.model import evaluate
    from aimc.system.networks.mobilenetv2 import mobilenetv2

    factors = np.geomspace(0.1, 10.0, 9) if factors is None else np.asarray(factors, float)
    net = mobilenetv2()
    base = ClusterConfig()
    rows = []
    for f in factors:
        cfg = replace(base, ima=replace(base.ima, e_full_j=base.ima.e_full_j * f))
        r = evaluate(net, cfg)
        e_job = cfg.ima.e_full_j
        rows.append({"factor": float(f), "tile_energy_per_mvm_j": float(e_job),
                     "tile_tops_per_w": float(2 * cfg.ima.size ** 2 / e_job / 1e12),
                     "cluster_tops_per_w": float(r.tops_per_w), "energy_j": float(r.energy_j),
                     "ima_analog_share": float(r.energy_by_block()["ima_analog"]
                                               / r.energy_j)})
    return rows
