"""Round plots: the latent map with seeds and new ligands, and the KD shift (paper Fig. 10b)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def latent_plot(latent_rows: pd.DataFrame, path: Path, title: str) -> Path:
    """PCA of the labelled set coloured by the first KD gap; seeds and new ligands marked."""
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=120)
    old = latent_rows[latent_rows["kind"] != "new"].sort_values("gap_1")
    sc = ax.scatter(old["pc1"], old["pc2"], c=old["gap_1"], s=7, cmap="viridis", linewidths=0)
    fig.colorbar(sc, ax=ax, label="first KD gap (cm$^{-1}$)")
    seeds = latent_rows[latent_rows["kind"] == "seed"]
    new = latent_rows[latent_rows["kind"] == "new"]
    ax.scatter(new["pc1"], new["pc2"], marker="x", c="red", s=22, label=f"new ({len(new)})")
    ax.scatter(
        seeds["pc1"],
        seeds["pc2"],
        marker="*",
        s=140,
        facecolors="none",
        edgecolors="black",
        label=f"seeds ({len(seeds)})",
    )
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def kd_shift_plot(
    initial: np.ndarray, seeds: np.ndarray, new: np.ndarray, path: Path, title: str, method: str
) -> Path:
    """Distributions of the first KD gap: initial set vs seeds vs new ligands (Fig. 10b)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    groups = [
        ("initial set", initial, "grey"),
        ("seeds", seeds, "tab:blue"),
        ("new ligands", new, "tab:red"),
    ]
    finite = [np.asarray(v, float)[np.isfinite(v)] for _, v, _ in groups]
    allv = np.concatenate([v for v in finite if len(v)]) if any(len(v) for v in finite) else []
    bins = np.linspace(min(allv), max(allv), 30) if len(allv) > 1 else 10
    for (label, _, colour), values in zip(groups, finite, strict=True):
        if len(values):
            ax.hist(
                values,
                bins=bins,
                density=True,
                alpha=0.5,
                color=colour,
                label=f"{label} (n={len(values)}, median {np.median(values):.0f})",
            )
    ax.set_xlabel("first KD gap (cm$^{-1}$)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, textwrap.fill(f"method: {method}", 150), fontsize=5.5, color="dimgray")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path
