"""Plots of a study file (matplotlib, Agg): Pareto views, accuracy vs sparsity, the
fitted relation on held-out configurations, and seed 004's TOPS/W curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_study(study: dict[str, Any], out_dir: str | Path, fits: dict | None = None,
               curve: list[dict] | None = None) -> list[Path]:
    """Write the study's PNGs into ``out_dir``; returns their paths."""
    from aimc.system.studies.correlation import pareto_front

    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    o, prm = study["objectives"], study["params"]
    done = study["status"] == 1
    files: list[Path] = []
    for net in study["attrs"]["networks"]:
        acc = o[f"{net}.acc_mean"] * 100
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for ax, key, label in ((axes[0], "energy_j", "energy per inference (J)"),
                               (axes[1], "area_mm2", "area (mm²)")):
            sc = ax.scatter(o[f"{net}.{key}"][done], acc[done],
                            c=np.asarray(prm["weight_bits"])[done], cmap="viridis",
                            s=18 + 60 * np.asarray(o[f"{net}.sparsity"])[done],
                            alpha=0.8, edgecolor="none")
            front = pareto_front(study, net, ("acc", key))
            f = front[np.argsort(o[f"{net}.{key}"][front])]
            ax.plot(o[f"{net}.{key}"][f], acc[f], "r-", lw=1, label="Pareto front")
            ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("analog accuracy (%)")
            ax.legend(loc="lower right")
        fig.colorbar(sc, ax=axes, label="weight bits (marker size: sparsity)")
        fig.suptitle(f"{net}: {int(done.sum())} configurations, mean over device seeds")
        p = out / f"study_{net}_pareto.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        files.append(p)
        fig, ax = plt.subplots(figsize=(6, 4.2))
        wb = np.asarray(prm["weight_bits"])
        sp = np.asarray(o[f"{net}.sparsity"])
        for b in sorted(set(wb[done].tolist())):
            m = done & (wb == b)
            order = np.argsort(sp[m])
            ax.errorbar(sp[m][order] * 100, acc[m][order],
                        yerr=o[f"{net}.acc_std"][m][order] * 100, fmt="o-", ms=3,
                        capsize=2, label=f"{int(b)}-bit weights")
        ax.set_xlabel("weights pruned (%)")
        ax.set_ylabel("analog accuracy (%)")
        ax.set_title(f"{net}: accuracy vs sparsity")
        ax.legend()
        p = out / f"study_{net}_sparsity.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        files.append(p)
    if fits:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for net, fit in fits.items():
            h = fit.heldout
            axes[0].plot(h["sigma"], h["sigma_pred"], "o", label=net)
            axes[1].plot(np.array(h["drop"]) * 100, np.array(h["drop_pred"]) * 100, "o",
                         label=net)
        for ax, lab in ((axes[0], "MVM error σ (% FS)"), (axes[1], "accuracy drop (pp)")):
            lo, hi = ax.get_xlim()
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
            ax.set_xlabel(f"measured {lab}")
            ax.set_ylabel(f"predicted {lab}")
            ax.legend()
        fig.suptitle("fitted relation on held-out configurations")
        p = out / "study_fit_heldout.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        files.append(p)
    if curve:
        fig, ax = plt.subplots(figsize=(6, 4.2))
        e = [r["tile_energy_per_mvm_j"] * 1e9 for r in curve]
        ax.loglog(e, [r["tile_tops_per_w"] for r in curve], "s--", label="tile (IMA job)")
        ax.loglog(e, [r["cluster_tops_per_w"] for r in curve], "o-",
                  label="cluster, MobileNetV2")
        ax.set_xlabel("tile energy per 256x256 MVM (nJ)")
        ax.set_ylabel("TOPS/W")
        ax.set_title("seed 004: tile gains do not carry over to the cluster")
        ax.legend()
        p = out / "study_tops_curve.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        files.append(p)
    return files
