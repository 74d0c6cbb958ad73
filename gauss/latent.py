"""Latent maps: PCA projections coloured by a property (paper Figs. 4, 7, 9) and neighbours.

Pure numpy/scikit-learn/matplotlib on arrays of latent means, so campaigns and flows can
plot any labelled set without touching the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402


@dataclass(frozen=True)
class LatentMap:
    """A fitted 2-D PCA of latent vectors and the projected coordinates."""

    pca: PCA
    coords: np.ndarray  # (n, 2)

    @property
    def explained(self) -> tuple[float, float]:
        ratio = self.pca.explained_variance_ratio_
        return float(ratio[0]), float(ratio[1])

    def project(self, z: np.ndarray) -> np.ndarray:
        return self.pca.transform(np.asarray(z, dtype=np.float64))


def fit_map(z: np.ndarray, seed: int = 0) -> LatentMap:
    """PCA to 2-D (deterministic solver for reproducible round plots)."""
    z = np.asarray(z, dtype=np.float64)
    if len(z) < 2:
        raise ValueError(f"a latent map needs at least 2 vectors, got {len(z)}")
    pca = PCA(n_components=2, svd_solver="full", random_state=seed).fit(z)
    return LatentMap(pca, pca.transform(z))


def nearest(z_ref: np.ndarray, z_query: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices (into z_ref) of the k nearest latent neighbours of each query."""
    k = min(k, len(z_ref))
    nn = NearestNeighbors(n_neighbors=k).fit(np.asarray(z_ref))
    return nn.kneighbors(np.asarray(z_query))


def plot_map(
    lmap: LatentMap,
    values: np.ndarray,
    path: Path,
    label: str,
    title: str = "",
    highlight: dict[str, np.ndarray] | None = None,
) -> Path:
    """Scatter of the PCA coordinates coloured by `values`; `highlight` marks extra points.

    highlight maps a legend label to latent-space coordinates already projected (n, 2).
    """
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=120)
    order = np.argsort(values)  # draw high values on top
    sc = ax.scatter(
        lmap.coords[order, 0],
        lmap.coords[order, 1],
        c=np.asarray(values)[order],
        s=6,
        cmap="viridis",
        linewidths=0,
    )
    fig.colorbar(sc, ax=ax, label=label)
    markers = iter(("*", "X", "D", "P"))
    for name, pts in (highlight or {}).items():
        pts = np.asarray(pts)
        if len(pts):
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                marker=next(markers),
                s=70,
                edgecolors="k",
                facecolors="none" if name.startswith("new") else "red",
                label=name,
            )
    if highlight:
        ax.legend(loc="best", fontsize=8)
    ev = lmap.explained
    ax.set_xlabel(f"PC1 ({ev[0]:.0%})")
    ax.set_ylabel(f"PC2 ({ev[1]:.0%})")
    ax.set_title(title or f"latent space coloured by {label}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
