"""Seed-selection policies, chosen by name from a registry.

Each policy takes the labelled pool (latent vectors, observed first KD gap, surrogate mean
and std at those points) and returns the indices of k seeds. `top-k` is the paper's choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pool:
    z: np.ndarray  # (n, latent)
    gap: np.ndarray  # observed first KD gap (NaN where the calculation failed)
    mean: np.ndarray  # surrogate mean at z
    std: np.ndarray  # surrogate std at z


Policy = Callable[..., np.ndarray]
POLICIES: dict[str, Policy] = {}


def register(name: str) -> Callable[[Policy], Policy]:
    def deco(fn: Policy) -> Policy:
        POLICIES[name] = fn
        return fn

    return deco


def _ranked(score: np.ndarray) -> np.ndarray:
    """Indices by descending score, NaN last, ties broken by index (deterministic)."""
    score = np.where(np.isfinite(score), score, -np.inf)
    return np.lexsort((np.arange(len(score)), -score))


@register("top-k")
def top_k(pool: Pool, k: int, **_: float) -> np.ndarray:
    """The k ligands with the largest observed first KD gap (paper, Fig. 10)."""
    return _ranked(pool.gap)[:k]


@register("ucb")
def ucb(pool: Pool, k: int, beta: float = 2.0, **_: float) -> np.ndarray:
    """Largest upper confidence bound mean + beta * std of the surrogate."""
    return _ranked(pool.mean + beta * pool.std)[:k]


@register("diverse-top-k")
def diverse_top_k(pool: Pool, k: int, min_distance: float = 1.0, **_: float) -> np.ndarray:
    """Greedy top-k by observed gap, skipping seeds closer than min_distance in latent space."""
    chosen: list[int] = []
    for idx in _ranked(pool.gap):
        if not np.isfinite(pool.gap[idx]):
            break
        if all(np.linalg.norm(pool.z[idx] - pool.z[j]) >= min_distance for j in chosen):
            chosen.append(int(idx))
            if len(chosen) == k:
                break
    return np.asarray(chosen, dtype=int)


def choose_seeds(policy: str, pool: Pool, k: int, **params: float) -> np.ndarray:
    """Run a registered policy; unknown names are a clear error listing the choices."""
    if policy not in POLICIES:
        raise ValueError(f"unknown acquisition policy {policy!r}; choose from {sorted(POLICIES)}")
    if k < 1:
        raise ValueError(f"need at least one seed, got k={k}")
    return POLICIES[policy](pool, k, **params)
