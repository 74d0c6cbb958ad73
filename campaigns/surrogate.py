"""Surrogate of the KD gap on the 32-d latent space: a Gaussian process (scikit-learn).

With ~1k labels (the paper's latent map) an exact GP is cheap (seconds) and gives the
uncertainty that UCB acquisition needs; its fit quality is reported as a cross-validated R^2
in each round's metrics so a poor map is visible.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.model_selection import KFold


@dataclass
class Surrogate:
    gp: GaussianProcessRegressor
    mean: float
    scale: float

    def predict(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the gap (original units) at latent points."""
        mu, sd = self.gp.predict(np.asarray(z, dtype=np.float64), return_std=True)
        return mu * self.scale + self.mean, sd * self.scale


def fit_surrogate(
    z: np.ndarray, y: np.ndarray, seed: int = 0, y_std: np.ndarray | None = None
) -> Surrogate:
    """Fit a GP with an RBF + white-noise kernel on standardised targets.

    `y_std`: each label's own 1-sigma uncertainty (e.g. the calibrated embedded KD's
    `gap_1_std`; NaN or absent = exact), added to that point's noise so uncertain labels pull
    the map less and leave more predictive spread for UCB to explore.
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(y)
    if keep.sum() < 2:
        raise ValueError(f"a surrogate needs at least 2 labelled points, got {int(keep.sum())}")
    z, y = z[keep], y[keep]
    mean, scale = float(y.mean()), float(y.std()) or 1.0
    alpha: float | np.ndarray = 1e-10  # scikit-learn's default jitter
    if y_std is not None:
        noise = np.nan_to_num(np.asarray(y_std, dtype=np.float64)[keep], nan=0.0) / scale
        alpha = 1e-10 + noise**2
    kernel = ConstantKernel(1.0) * RBF(length_scale=3.0) + WhiteKernel(0.1)
    gp = GaussianProcessRegressor(kernel, alpha=alpha, normalize_y=False, random_state=seed)
    with warnings.catch_warnings():  # a noise level at its bound is a fit, not a problem
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(z, (y - mean) / scale)
    return Surrogate(gp, mean, scale)


def cross_validated_r2(z: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Out-of-fold R^2 of the surrogate: how well the latent space maps the KD gap."""
    z, y = np.asarray(z), np.asarray(y)
    if len(y) < 2 * folds:
        return float("nan")
    pred = np.empty_like(y, dtype=np.float64)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(z):
        pred[test] = fit_surrogate(z[train], y[train], seed).predict(z[test])[0]
    ss = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - pred) ** 2).sum() / ss) if ss > 0 else float("nan")
