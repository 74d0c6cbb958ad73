"""Round plots: the latent map with seeds and new ligands, and the KD shift (paper Fig. 10b)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def latent_plot(latent_rows: pd.DataFrame, path: Path, title: str, methods: str = "") -> Path:
    """PCA of the labelled set coloured by the first KD gap; seeds and new ligands marked."""
    fig, ax = plt.subplots(figsize=(6.4, 5.4), dpi=120)
    old = latent_rows[latent_rows["kind"] != "new"].sort_values("gap_1")
    sc = ax.scatter(
        old["pc1"],
        old["pc2"],
        c=old["gap_1"],
        s=7,
        cmap="viridis",
        linewidths=0,
        label=f"labelled ligands ({len(old)}), colour = first KD gap",
    )
    fig.colorbar(sc, ax=ax, label="first KD gap (cm$^{-1}$)")
    seeds = latent_rows[latent_rows["kind"] == "seed"]
    new = latent_rows[latent_rows["kind"] == "new"]
    ax.scatter(
        new["pc1"], new["pc2"], marker="x", c="red", s=22, label=f"new candidates ({len(new)})"
    )
    ax.scatter(
        seeds["pc1"],
        seeds["pc2"],
        marker="*",
        s=140,
        facecolors="none",
        edgecolors="black",
        label=f"seeds ({len(seeds)})",
    )
    ax.set_xlabel("PC1 of the VAE latent means (32-d GAUSS-II encoder)")
    ax.set_ylabel("PC2 of the VAE latent means")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=7)
    if methods:
        fig.text(0.01, 0.01, textwrap.fill(f"KD gaps: {methods}", 150), fontsize=5.5)
    return _save(fig, path)


def kd_shift_plot(
    groups: list[tuple[str, np.ndarray, str]], path: Path, title: str, method: str
) -> Path:
    """Distributions of the first KD gap per group (label, values, method): Fig. 10b.

    Groups computed by different methods are named with their method, and the title says
    the comparison mixes methods.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    colours = ["grey", "tab:blue", "tab:red", "tab:green"]
    finite = [np.asarray(v, float)[np.isfinite(v)] for _, v, _ in groups]
    allv = np.concatenate([v for v in finite if len(v)]) if any(len(v) for v in finite) else []
    bins = np.linspace(min(allv), max(allv), 30) if len(allv) > 1 else 10
    used = {m for (_, _, m), v in zip(groups, finite, strict=True) if len(v) and m}
    for (label, _, group_method), values, colour in zip(groups, finite, colours, strict=False):
        if len(values):
            tag = f" [{_short(group_method)}]" if len(used) > 1 else ""
            ax.hist(
                values,
                bins=bins,
                density=True,
                alpha=0.5,
                color=colour,
                label=f"{label}{tag} (n={len(values)}, median {np.median(values):.0f})",
            )
    ax.set_xlabel("first KD gap (cm$^{-1}$)")
    ax.set_ylabel("density")
    ax.set_title(title + ("\n(groups computed by different methods)" if len(used) > 1 else ""))
    ax.legend(fontsize=7)
    fig.text(0.01, 0.01, textwrap.fill(f"method: {method}", 150), fontsize=5.5, color="dimgray")
    return _save(fig, path)


def _short(method: str) -> str:
    return method if len(method) <= 40 else method[:37] + "..."


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path
