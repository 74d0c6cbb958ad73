"""Learned correction of the embedded KD: DFT-distance model + CASSCF gap model, with spread.

Two small gradient-boosted tree ensembles, fitted on published (or the user's own) CASSCF rows:

1. distance: free-ligand descriptors (calculators.kd_geometry.DESCRIPTORS) -> mean DFT
   Dy-donor distance (A). Rows whose DFT distance exceeds MAX_BOUND_DISTANCE (the ligand left the
   metal during the optimisation) are not bound complexes and are left out of this fit.
2. gaps: descriptors + point-charge crystal-field features computed on the geometry with the
   donors at the predicted distance -> log of each of the seven CASSCF gaps.

Each ensemble has several members fitted on bootstrap resamples; the members' spread, scaled
so that 68.27 % of the cross-validated errors fall inside it, is the per-prediction
uncertainty (1 sigma, log scale). Trees are
stored as plain numpy arrays (.npz, allow_pickle=False) whose sha256 is checked before loading.
Fitting needs scikit-learn; prediction needs numpy only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calculators import crystal_field, kd_geometry

GAP_COLUMNS = tuple(f"kd_{i}" for i in range(1, 8))
MAX_BOUND_DISTANCE = 3.0  # A; longer DFT Dy-donor bonds mean the ligand dissociated
DEFAULT_MEMBERS = 6
MIN_ROWS = 10  # per fitted model
COVERAGE = 0.6827  # share of out-of-fold errors inside the reported 1 sigma
ARTIFACT_VERSION = 1
CF_FEATURES = (
    *(f"cf_log_gap_{i}" for i in range(1, 8)),
    "cf_b20",
    "cf_b40",
    "cf_b60",
    "cf_ground_mj",
    "distance",
)
GAP_FEATURES = kd_geometry.DESCRIPTORS + CF_FEATURES
DEFAULT_ARTIFACT = Path(__file__).resolve().parents[1] / "models" / "kd-calibration"
GBM_PARAMS = {
    "distance": dict(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8),
    "gaps": dict(n_estimators=200, max_depth=3, learning_rate=0.06, subsample=0.8),
}


# --- tree ensembles as arrays --------------------------------------------------------------


@dataclass(frozen=True)
class Trees:
    """A boosted ensemble: prediction = base + sum of tree leaves (sklearn convention)."""

    base: float
    feature: np.ndarray  # (trees, nodes) int, -1 at leaves
    threshold: np.ndarray  # (trees, nodes) float64; go left if x <= threshold
    left: np.ndarray  # (trees, nodes) int
    right: np.ndarray  # (trees, nodes) int
    value: np.ndarray  # (trees, nodes) float64, already scaled by the learning rate

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for rows of x (features cast to float32 as scikit-learn's trees do)."""
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        trees = np.arange(self.feature.shape[0])[None, :]
        rows = np.arange(len(x))[:, None]
        node = np.zeros((len(x), len(trees[0])), dtype=np.int64)
        while True:  # all trees at once, one level per pass
            feat = self.feature[trees, node]
            inner = feat >= 0
            if not inner.any():
                break
            go_left = x[rows, np.where(inner, feat, 0)] <= self.threshold[trees, node]
            nxt = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(inner, nxt, node)
        return self.base + self.value[trees, node].sum(axis=1)


def trees_from_sklearn(model: Any) -> Trees:
    """Export a fitted GradientBoostingRegressor (squared error) to Trees."""
    estimators = [e[0].tree_ for e in model.estimators_]
    width = max(t.node_count for t in estimators)
    shape = (len(estimators), width)
    feature = np.full(shape, -1, dtype=np.int16)
    threshold = np.zeros(shape)
    left = np.zeros(shape, dtype=np.int16)
    right = np.zeros(shape, dtype=np.int16)
    value = np.zeros(shape)
    for i, t in enumerate(estimators):
        n = t.node_count
        leaf = t.children_left[:n] < 0
        feature[i, :n] = np.where(leaf, -1, t.feature[:n])
        threshold[i, :n] = t.threshold[:n]
        left[i, :n] = np.where(leaf, 0, t.children_left[:n])
        right[i, :n] = np.where(leaf, 0, t.children_right[:n])
        value[i, :n] = t.value[:n, 0, 0] * model.learning_rate
    base = float(np.ravel(model.init_.constant_)[0])
    return Trees(base, feature, threshold, left, right, value)


def fit_members(
    x: np.ndarray, y: np.ndarray, params: Mapping[str, Any], members: int, seed: int = 0
) -> list[Trees]:
    """Bootstrap ensemble of gradient-boosted trees (scikit-learn), exported to arrays."""
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(seed)
    out = []
    for m in range(members):
        idx = rng.integers(0, len(x), len(x))
        model = GradientBoostingRegressor(random_state=seed * 1000 + m, **params)
        model.fit(x[idx], y[idx])
        out.append(trees_from_sklearn(model))
    return out


def ensemble_predict(members: Sequence[Trees], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over members, per row."""
    preds = np.stack([m.predict(x) for m in members])
    return preds.mean(axis=0), preds.std(axis=0, ddof=1)


# --- physics features ----------------------------------------------------------------------


def _axial_frame(xyz: np.ndarray, metal: int, donors: Sequence[int]) -> np.ndarray:
    """Rotation whose z axis runs donor-to-donor through the metal (so B_k^0 are axial)."""
    z = xyz[donors[0]] - xyz[donors[1]]
    z /= np.linalg.norm(z)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def physics_features(record: Mapping[str, Any], distance: float | None) -> dict[str, Any]:
    """Crystal field of a cached complex with both donors moved to `distance` (A).

    record: calculators.kd_embedded.physics_record (GFN2-xTB charges of the 2.40 A build are
    kept for the moved geometry); distance None keeps the build as it is (the plain
    point-charge model). Returns CF_FEATURES plus the spectrum and geometry.
    """
    metal, donors = int(record["metal"]), [int(d) for d in record["donors"]]
    xyz = np.asarray(record["xyz"], dtype=float)
    if distance is not None:
        xyz = kd_geometry.shifted_positions(
            xyz, metal, donors, record["ligand_atoms"], [distance, distance]
        )
    charges = np.asarray(record["charges"], dtype=float)
    others = [i for i in range(len(xyz)) if i != metal]
    positions = (xyz[others] - xyz[metal]) @ _axial_frame(xyz, metal, donors).T
    bkq = crystal_field.cf_parameter_vector(positions, charges[others])
    spectrum = crystal_field.kd_spectrum(bkq)
    index = {kq: i for i, kq in enumerate(crystal_field.KQ)}
    values: dict[str, Any] = {
        f"cf_log_gap_{i + 1}": float(np.log(max(g, 1e-3))) for i, g in enumerate(spectrum.gaps)
    }
    values |= {
        "cf_b20": float(bkq[index[(2, 0)]]),
        "cf_b40": float(bkq[index[(4, 0)]]),
        "cf_b60": float(bkq[index[(6, 0)]]),
        "cf_ground_mj": float(spectrum.mean_abs_mj[0]),
        "distance": float(np.linalg.norm(xyz[donors] - xyz[metal], axis=1).mean()),
    }
    values["spectrum"] = spectrum
    values["xyz"] = xyz
    return values


def feature_vector(descriptors: Mapping[str, float], physics: Mapping[str, Any]) -> np.ndarray:
    """GAP_FEATURES in order, from descriptors and physics_features."""
    merged = {**descriptors, **physics}
    return np.array([float(merged[name]) for name in GAP_FEATURES])


def descriptor_matrix(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return np.array([[r["descriptors"][n] for n in kd_geometry.DESCRIPTORS] for r in records])


# --- the calibration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Loaded artifact: distance members, seven gap ensembles, z-score scales, training info."""

    distance: list[Trees]
    gaps: list[list[Trees]]  # per gap, members
    std_scale: np.ndarray  # (7,) multiply the member spread (log scale) by this
    info: dict[str, Any]
    sha256: str

    def predict_distance(self, descriptors: Mapping[str, float]) -> float:
        x = np.array([[descriptors[n] for n in kd_geometry.DESCRIPTORS]])
        d = float(ensemble_predict(self.distance, x)[0][0])
        return float(np.clip(d, 2.0, MAX_BOUND_DISTANCE))

    def predict_gaps(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gaps (cm-1) and their 1-sigma uncertainty (cm-1) for one GAP_FEATURES vector."""
        x = np.asarray(features, dtype=float).reshape(1, -1)
        mean_log = np.array([ensemble_predict(m, x)[0][0] for m in self.gaps])
        std_log = np.array([ensemble_predict(m, x)[1][0] for m in self.gaps]) * self.std_scale
        gaps = np.maximum.accumulate(np.exp(mean_log))  # the ladder is ordered by definition
        return gaps, gaps * std_log


def _trees_arrays(prefix: str, trees: Trees) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/base": np.array([trees.base]),
        f"{prefix}/feature": trees.feature,
        f"{prefix}/threshold": trees.threshold,
        f"{prefix}/left": trees.left,
        f"{prefix}/right": trees.right,
        f"{prefix}/value": trees.value,
    }


def _trees_from_arrays(data: Mapping[str, np.ndarray], prefix: str) -> Trees:
    return Trees(
        base=float(data[f"{prefix}/base"][0]),
        feature=data[f"{prefix}/feature"].astype(np.int64),
        threshold=data[f"{prefix}/threshold"],
        left=data[f"{prefix}/left"].astype(np.int64),
        right=data[f"{prefix}/right"].astype(np.int64),
        value=data[f"{prefix}/value"],
    )


def save(
    directory: Path,
    distance: Sequence[Trees],
    gaps: Sequence[Sequence[Trees]],
    std_scale: np.ndarray,
    info: Mapping[str, Any],
) -> Path:
    """Write trees.npz and training.json (with the npz sha256) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"std_scale": np.asarray(std_scale, dtype=float)}
    for m, t in enumerate(distance):
        arrays |= _trees_arrays(f"distance/{m}", t)
    for g, members in enumerate(gaps):
        for m, t in enumerate(members):
            arrays |= _trees_arrays(f"gap_{g + 1}/{m}", t)
    npz = directory / "trees.npz"
    np.savez_compressed(npz, **arrays)
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    meta = dict(info) | {
        "artifact_version": ARTIFACT_VERSION,
        "trees_sha256": digest,
        "members": len(distance),
        "descriptors": list(kd_geometry.DESCRIPTORS),
        "gap_features": list(GAP_FEATURES),
        "std_scale": [float(s) for s in std_scale],
    }
    (directory / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def load(directory: Path = DEFAULT_ARTIFACT) -> Calibration:
    """Read an artifact written by save(), refusing it when trees.npz does not match its sha256."""
    meta = json.loads((directory / "training.json").read_text())
    npz = directory / "trees.npz"
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    if digest != meta.get("trees_sha256"):
        expected = meta.get("trees_sha256")
        raise ValueError(f"{npz} has sha256 {digest}, training.json says {expected}")
    if meta.get("gap_features") != list(GAP_FEATURES):
        raise ValueError(f"{directory} was trained on other features: {meta.get('gap_features')}")
    with np.load(npz, allow_pickle=False) as data:
        arrays = dict(data)
    members = int(meta["members"])
    return Calibration(
        distance=[_trees_from_arrays(arrays, f"distance/{m}") for m in range(members)],
        gaps=[
            [_trees_from_arrays(arrays, f"gap_{g}/{m}") for m in range(members)]
            for g in range(1, 8)
        ],
        std_scale=arrays["std_scale"],
        info=meta,
        sha256=digest,
    )


# --- training ------------------------------------------------------------------------------


def read_training_table(path: Path) -> pd.DataFrame:
    """smiles, kd_1..kd_7 (cm-1, > 0) and optional dist_1, dist_2 from a CSV or TSV file."""
    sep = "\t" if path.suffix in (".tsv", ".tab") else ","
    table = pd.read_csv(path, sep=sep)
    missing = [c for c in ("smiles", *GAP_COLUMNS) if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}")
    gaps = table[list(GAP_COLUMNS)].to_numpy(dtype=float)
    bad = ~np.isfinite(gaps).all(axis=1) | (gaps <= 0).any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:10].tolist()
        raise ValueError(f"{path}: rows {rows} have kd gaps that are missing or not > 0")
    return table


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    """SMILES -> physics record of every successfully computed ligand in the JSON-lines cache."""
    out = {}
    with path.open() as fh:
        for line in fh:
            row = json.loads(line)
            if row["status"] == "ok":
                out[row["smiles"]] = row
    return out


def bound_distance(table: pd.DataFrame) -> np.ndarray:
    """Mean DFT Dy-donor distance per row; NaN when absent or the ligand dissociated."""
    if not {"dist_1", "dist_2"} <= set(table.columns):
        return np.full(len(table), np.nan)
    d = table[["dist_1", "dist_2"]].to_numpy(dtype=float)
    mean = d.mean(axis=1)
    return np.where((d <= MAX_BOUND_DISTANCE).all(axis=1), mean, np.nan)


def fit_distance(x: np.ndarray, distance: np.ndarray, members: int, seed: int) -> list[Trees]:
    ok = np.isfinite(distance)
    if ok.sum() < MIN_ROWS:
        raise ValueError(f"only {ok.sum()} rows with a bound DFT distance: need >= {MIN_ROWS}")
    return fit_members(x[ok], distance[ok], GBM_PARAMS["distance"], members, seed)


def oof_distances(
    x: np.ndarray, distance: np.ndarray, groups: np.ndarray, members: int, seed: int, folds: int = 5
) -> np.ndarray:
    """Out-of-fold predicted distances: what the gap model sees at prediction time."""
    from sklearn.model_selection import GroupKFold

    out = np.empty(len(x))
    for train, test in GroupKFold(folds).split(x, groups=groups):
        model = fit_distance(x[train], distance[train], max(2, members // 2), seed)
        out[test] = ensemble_predict(model, x[test])[0]
    return np.clip(out, 2.0, MAX_BOUND_DISTANCE)


def gap_matrix(records: Sequence[Mapping[str, Any]], distances: np.ndarray) -> np.ndarray:
    """GAP_FEATURES rows for cached records with donors at the given distances."""
    return np.stack(
        [
            feature_vector(r["descriptors"], physics_features(r, float(d)))
            for r, d in zip(records, distances, strict=True)
        ]
    )


def fit_gaps(x: np.ndarray, log_gaps: np.ndarray, members: int, seed: int) -> list[list[Trees]]:
    return [
        fit_members(x, log_gaps[:, g], GBM_PARAMS["gaps"], members, seed + g)
        for g in range(log_gaps.shape[1])
    ]


def cached_rows(table: pd.DataFrame, cache: Path) -> tuple[pd.DataFrame, list[dict[str, Any]], int]:
    """Rows of `table` with a successful physics record, their records, and how many lacked one."""
    records_by_smiles = read_cache(cache)
    keep = table["smiles"].isin(records_by_smiles).to_numpy()
    rows = table[keep].reset_index(drop=True)
    return rows, [records_by_smiles[s] for s in rows["smiles"]], int((~keep).sum())


def train_and_save(
    table: pd.DataFrame,
    cache: Path,
    out: Path,
    label: str,
    members: int = DEFAULT_MEMBERS,
    cv: Mapping[str, Any] | None = None,
) -> Path:
    """Fit both ensembles on every cached row of `table` and write the artifact to `out`.

    The gap model is fitted on out-of-fold distances (as at prediction time); its spread scale
    comes from a grouped 5-fold CV of the whole chain (cross_validate, run here unless `cv`
    already holds its result for the same rows and members).
    """
    rows, records, missing = cached_rows(table, cache)
    groups = np.array([r["ligand"] for r in records])
    x = descriptor_matrix(records)
    distance = bound_distance(rows)
    log_gaps = np.log(rows[list(GAP_COLUMNS)].to_numpy(dtype=float))
    if cv is None:
        cv = cross_validate(rows, records, members=members)
    d_train = oof_distances(x, distance, groups, members, seed=1)
    dist_model = fit_distance(x, distance, members, seed=2)
    gap_models = fit_gaps(gap_matrix(records, d_train), log_gaps, members, seed=3)
    info = {
        "trained_on": label,
        "rows": int(len(rows)),
        "rows_without_physics": missing,
        "rows_with_bound_distance": int(np.isfinite(distance).sum()),
        "gbm_params": GBM_PARAMS,
        "cv": cv["summary"],
    }
    return save(out, dist_model, gap_models, cv["std_scale"], info)


def cross_validate(
    rows: pd.DataFrame,
    records: Sequence[Mapping[str, Any]],
    members: int = DEFAULT_MEMBERS,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Grouped (by ligand) K-fold CV of the whole chain: distance model, CF, gap model.

    Returns per-row out-of-fold predictions (distance, gaps, log-spread) and a summary.
    """
    from scipy.stats import spearmanr
    from sklearn.model_selection import GroupKFold

    groups = np.array([r["ligand"] for r in records])
    x = descriptor_matrix(records)
    distance = bound_distance(rows)
    gaps = rows[list(GAP_COLUMNS)].to_numpy(dtype=float)
    log_gaps = np.log(gaps)
    pred_d = np.empty(len(rows))
    pred = np.empty_like(gaps)
    spread = np.empty_like(gaps)
    fold_of = np.empty(len(rows), dtype=int)
    for k, (train, test) in enumerate(GroupKFold(folds).split(x, groups=groups)):
        fold_of[test] = k
        d_train = oof_distances(x[train], distance[train], groups[train], members, seed + k)
        dist_model = fit_distance(x[train], distance[train], members, seed + k)
        d_test = np.clip(ensemble_predict(dist_model, x[test])[0], 2.0, MAX_BOUND_DISTANCE)
        pred_d[test] = d_test
        models = fit_gaps(
            gap_matrix([records[i] for i in train], d_train), log_gaps[train], members, seed + k
        )
        xt = gap_matrix([records[i] for i in test], d_test)
        for g, m in enumerate(models):
            pred[test, g], spread[test, g] = ensemble_predict(m, xt)
    z = (log_gaps - pred) / np.maximum(spread, 1e-9)
    std_scale = np.quantile(np.abs(z), COVERAGE, axis=0)  # robust to a few wild rows
    pred_gaps = np.maximum.accumulate(np.exp(pred), axis=1)
    summary = {
        "folds": folds,
        "spearman_kd": [float(spearmanr(pred_gaps[:, g], gaps[:, g])[0]) for g in range(7)],
        "mae_kd_cm": [float(np.mean(np.abs(pred_gaps[:, g] - gaps[:, g]))) for g in range(7)],
    }
    return {
        "pred_distance": pred_d,
        "pred_gaps": pred_gaps,
        "log_spread": spread * std_scale,
        "std_scale": std_scale,
        "fold": fold_of,
        "summary": summary,
    }
