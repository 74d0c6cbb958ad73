"""Cross-validated figures of the calibrated embedded KD against published CASSCF gaps.

Grouped (by ligand) 5-fold CV of the whole chain on data/published/kd_casscf.tsv: distance
model -> crystal field at the predicted distance -> gap correction. Prints Spearman of kd_1
overall and per charge class, per-gap Spearman and MAE, the geometry step's distance MAE and
within-class rank correlation, the class baseline and the plain point-charge model on the same
rows, and the uncertainty's calibration; writes docs/figures/kd_parity.png and
docs/figures/kd_geometry.png. Last line key=value.

Needs the physics cache (scripts/calibrate_kd.py builds it, ~0.5 s per ligand on one core):
    .venv/bin/python benchmarks/kd_calibration.py [--cache PATH] [--members 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from calculators import kd_calibration as kc  # noqa: E402

CLASSES = {1: "neutral O", 2: "neutral N", 3: "anionic O", 4: "anionic N"}
TRAINED_ON = "published CASSCF gaps (data/published/kd_casscf.tsv, GAUSS-II)"
COLOURS = {1: "tab:blue", 2: "tab:green", 3: "tab:red", 4: "tab:orange"}


def _rho(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(spearmanr(a[ok], b[ok])[0]) if ok.sum() > 2 else float("nan")


def class_baseline(classes: np.ndarray, kd1: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold prediction = mean log kd_1 of the row's class in the training folds."""
    out = np.empty(len(kd1))
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        means = {c: np.log(kd1[train & (classes == c)]).mean() for c in np.unique(classes)}
        out[test] = [means[c] for c in classes[test]]
    return out


def parity_plot(gaps: np.ndarray, pred: np.ndarray, classes: np.ndarray, path: Path) -> None:
    fig, axes = plt.subplots(2, 4, figsize=(16, 8))
    for g, ax in enumerate(axes.flat[:7]):
        for c, name in CLASSES.items():
            m = classes == c
            ax.scatter(gaps[m, g], pred[m, g], s=5, alpha=0.5, c=COLOURS[c], label=name)
        lo, hi = gaps[:, g].min() * 0.8, gaps[:, g].max() * 1.2
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi))
        ax.set_xlabel(f"CASSCF kd_{g + 1} (cm$^{{-1}}$, published)")
        ax.set_ylabel(f"calibrated embedded gap_{g + 1} (cm$^{{-1}}$)")
        ax.set_title(f"gap {g + 1}: Spearman {_rho(pred[:, g], gaps[:, g]):.2f}")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    axes.flat[7].axis("off")
    axes.flat[7].text(
        0.0,
        0.5,
        "Calibrated embedded KD\n(molSimplify + predicted Dy-donor distance,\n"
        "GFN2-xTB/ALPB charges, point-charge CF,\ngradient-boosted correction)\n"
        "out-of-fold, 5-fold CV grouped by ligand\nvs published SA-CASSCF(9,7)+SOC",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def geometry_plot(dft: np.ndarray, pred: np.ndarray, classes: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 6))
    for c, name in CLASSES.items():
        m = (classes == c) & np.isfinite(dft)
        ax.scatter(dft[m], pred[m], s=6, alpha=0.5, c=COLOURS[c], label=name)
    ax.plot([2.0, 3.0], [2.0, 3.0], "k--", lw=0.8, label="y = x")
    ax.axhline(2.40, color="grey", lw=0.8, ls=":", label="molSimplify (2.40 A)")
    ax.set_xlabel("DFT (BP86-D3) mean Dy-donor distance (A, published)")
    ax.set_ylabel("predicted Dy-donor distance (A, descriptor GBM, out-of-fold)")
    ax.set_title("Geometry step of the calibrated embedded KD")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data/published/kd_casscf.tsv")
    parser.add_argument(
        "--cache", type=Path, default=ROOT / "benchmarks/results/kd_physics_cache.jsonl"
    )
    parser.add_argument("--members", type=int, default=kc.DEFAULT_MEMBERS)
    parser.add_argument("--figures", type=Path, default=ROOT / "docs/figures")
    parser.add_argument("--train-out", type=Path, default=None, help="also write the artifact")
    parser.add_argument("--label", default=TRAINED_ON, help="training-data name (method string)")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks/results/kd_calibration.json"
    )
    args = parser.parse_args()
    table = kc.read_training_table(args.data)
    rows, records, _ = kc.cached_rows(table, args.cache)
    start = time.perf_counter()
    cv = kc.cross_validate(rows, records, members=args.members)
    seconds = time.perf_counter() - start
    classes = rows["class"].to_numpy(dtype=int)
    gaps = rows[list(kc.GAP_COLUMNS)].to_numpy(dtype=float)
    pred = cv["pred_gaps"]
    dft = kc.bound_distance(rows)
    pd_ = cv["pred_distance"]
    plain = np.array([kc.physics_features(r, None)["cf_log_gap_1"] for r in records])
    at_dft = np.array(
        [
            kc.physics_features(r, d)["cf_log_gap_1"] if np.isfinite(d) else np.nan
            for r, d in zip(records, dft, strict=True)
        ]
    )
    base = class_baseline(classes, gaps[:, 0], cv["fold"])
    err = np.abs(np.log(pred) - np.log(gaps))
    fig = {
        "rows": len(rows),
        "rows_without_physics": int(len(table) - len(rows)),
        "spearman_kd1": _rho(pred[:, 0], gaps[:, 0]),
        **{
            f"spearman_kd1_class{c}": _rho(pred[classes == c, 0], gaps[classes == c, 0])
            for c in CLASSES
        },
        **{f"spearman_kd{g + 1}": _rho(pred[:, g], gaps[:, g]) for g in range(7)},
        **{f"mae_kd{g + 1}_cm": float(np.mean(np.abs(pred[:, g] - gaps[:, g]))) for g in range(7)},
        "class_baseline_spearman_kd1": _rho(base, gaps[:, 0]),
        "point_charge_spearman_kd1": _rho(plain, gaps[:, 0]),
        **{
            f"point_charge_spearman_kd1_class{c}": _rho(plain[classes == c], gaps[classes == c, 0])
            for c in CLASSES
        },
        "cf_at_dft_distance_spearman_kd1": _rho(at_dft, gaps[:, 0]),
        "distance_mae_A": float(np.nanmean(np.abs(pd_ - dft))),
        "distance_mae_molsimplify_A": float(np.nanmean(np.abs(2.40 - dft))),
        "distance_spearman": _rho(pd_, dft),
        **{
            f"distance_spearman_class{c}": _rho(pd_[classes == c], dft[classes == c])
            for c in CLASSES
        },
        "uncertainty_within_1sigma_kd1": float(np.mean(err[:, 0] <= cv["log_spread"][:, 0])),
        "uncertainty_error_spearman_kd1": _rho(cv["log_spread"][:, 0], err[:, 0]),
        "cv_seconds": seconds,
    }
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, no GPU; members={args.members}")
    print(f"rows={fig['rows']} (of {len(table)}; {fig['rows_without_physics']} failed to assemble)")
    print(
        f"kd_1 Spearman {fig['spearman_kd1']:.3f} (class baseline "
        f"{fig['class_baseline_spearman_kd1']:.3f},"
        f" plain point charge {fig['point_charge_spearman_kd1']:.3f}, CF at DFT distance "
        f"{fig['cf_at_dft_distance_spearman_kd1']:.3f})"
    )
    for c, name in CLASSES.items():
        print(
            f"  {name:<10s} n={int((classes == c).sum()):4d} calibrated "
            f"{fig[f'spearman_kd1_class{c}']:+.3f} point charge "
            f"{fig[f'point_charge_spearman_kd1_class{c}']:+.3f} distance rho "
            f"{fig[f'distance_spearman_class{c}']:+.3f}"
        )
    for g in range(7):
        print(
            f"  kd_{g + 1}: Spearman {fig[f'spearman_kd{g + 1}']:.3f}  MAE "
            f"{fig[f'mae_kd{g + 1}_cm']:.1f} cm-1"
        )
    print(
        f"geometry: distance MAE {fig['distance_mae_A']:.3f} A (molSimplify 2.40 A: "
        f"{fig['distance_mae_molsimplify_A']:.3f} A), Spearman {fig['distance_spearman']:.3f}"
    )
    print(
        f"uncertainty: {fig['uncertainty_within_1sigma_kd1']:.2f} of |log error| within 1 sigma, "
        f"Spearman(sigma, |error|) {fig['uncertainty_error_spearman_kd1']:.2f}"
    )
    args.figures.mkdir(parents=True, exist_ok=True)
    parity_plot(gaps, pred, classes, args.figures / "kd_parity.png")
    geometry_plot(dft, pd_, classes, args.figures / "kd_geometry.png")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(fig, indent=2) + "\n")
    if args.train_out is not None:
        path = kc.train_and_save(table, args.cache, args.train_out, args.label, args.members, cv)
        print(f"artifact written to {path} (same CV, {args.members} members)")
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fig.items()))


if __name__ == "__main__":
    main()
