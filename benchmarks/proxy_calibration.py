"""Cross-validated accuracy of the LoProp-calibrated embedded proxy, with parity plots.

Refits the calibration in ligand-grouped 5-fold CV (same code, seed and hyper-parameters as
`scripts/calibrate_proxies.py fit`) on the published OpenMolcas PBE/ANO-R2 LoProp rows and
prints Pearson r and MAE per quantity: overall, by donor element and by charge class (1 neutral
O, 2 neutral N, 3 anionic O, 4 anionic N), next to the uncalibrated xTB/D4 numbers. Targets on
held-out ligands: r >= 0.95 charge, >= 0.90 dipole, >= 0.85 polarizability.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/proxy_calibration.py
         [--descriptors D.parquet] [--stored] [--plot docs/figures/proxy_parity.png]
``--stored`` reads the CV predictions shipped with the calibration instead of refitting
(seconds instead of ~100 s on 2 cores). Last line: key=value figures.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before tblite loads libgomp

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import calibrate_proxies as cp  # noqa: E402

from calculators import proxy_calibrated as pc  # noqa: E402
from gauss import chem  # noqa: E402

TARGETS_R = {"charge": 0.95, "dipole": 0.90, "polarizability": 0.85}
LABELS = {
    "charge": "LoProp charge of the donor (e)",
    "dipole": "LoProp atomic dipole |μ| of the donor (a.u.)",
    "polarizability": "LoProp isotropic polarizability of the donor (a.u., bohr³)",
}
CLASS_NAMES = {1: "neutral O", 2: "neutral N", 3: "anionic O", 4: "anionic N"}


def cross_validated(args: argparse.Namespace) -> tuple[pd.DataFrame, float]:
    """Out-of-fold predictions with donor and class per row, and the seconds it took."""
    start = time.perf_counter()
    if args.stored:
        cv = pd.read_csv(pc.DEFAULT_CALIBRATION / "cv_predictions.tsv", sep="\t")
    else:
        rows = cp.training_rows([args.data], args.descriptors)
        _, cv, _ = cp.fit(rows, 5, 0, dict(cp.HYPER))
    ligs = [chem.ligand(s) for s in cv.smiles]
    cv["donor"] = [lig.donor for lig in ligs]
    cv["charge_class"] = [pc.charge_class(lig) for lig in ligs]
    return cv, time.perf_counter() - start


def report(cv: pd.DataFrame) -> dict[str, float]:
    """Print the figures; return the key=value ones."""
    figures: dict[str, float] = {}
    groups = [("all", cv.index == cv.index)]
    groups += [(f"donor {d}", cv.donor == d) for d in ("N", "O")]
    groups += [(f"class {c} {CLASS_NAMES[c]}", cv.charge_class == c) for c in CLASS_NAMES]
    print(f"{'subset':24s} {'n':>5s}  " + "  ".join(f"{t:>22s}" for t in pc.TARGETS))
    for name, mask in groups:
        cells = []
        for target in pc.TARGETS:
            m = cp.metrics(cv.loc[mask, f"observed_{target}"], cv.loc[mask, f"cv_{target}"])
            cells.append(f"r={m['r']:.3f} mae={m['mae']:.4f}")
            key = name.split()[0] if name == "all" else "_".join(name.split()[:2])
            figures[f"{target}_r_{key}"] = round(m["r"], 4)
            figures[f"{target}_mae_{key}"] = round(m["mae"], 4)
        print(f"{name:24s} {int(mask.sum()):5d}  " + "  ".join(f"{c:>22s}" for c in cells))
    for target, minimum in TARGETS_R.items():
        met = figures[f"{target}_r_all"] >= minimum
        print(f"target {target}: r >= {minimum}: {'met' if met else 'NOT met'}")
    return figures


def parity_plot(cv: pd.DataFrame, path: Path, n_train: int) -> None:
    """One panel per quantity: CV prediction vs LoProp, coloured by charge class."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    for ax, target in zip(axes, pc.TARGETS, strict=True):
        obs, pred = cv[f"observed_{target}"], cv[f"cv_{target}"]
        for c, name in CLASS_NAMES.items():
            m = cv.charge_class == c
            ax.scatter(obs[m], pred[m], s=5, alpha=0.5, label=f"{c} {name} (n={int(m.sum())})")
        lo, hi = min(obs.min(), pred.min()), max(obs.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
        stats = cp.metrics(obs, pred)
        ax.set_title(f"{target}: CV r = {stats['r']:.3f}, MAE = {stats['mae']:.3g}")
        ax.set_xlabel(LABELS[target])
        ax.set_ylabel(f"calibrated embedded proxy, 5-fold CV ({LABELS[target].split('(')[-1]}")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Embedded GFN2-xTB/D4/RDKit descriptors calibrated to OpenMolcas PBE/ANO-R2 LoProp "
        f"(published GAUSS-II values, n={n_train}); ligand-grouped 5-fold CV predictions"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def class_plot(cv: pd.DataFrame, path: Path) -> None:
    """CV Pearson r per quantity, overall, by donor element and by charge class."""
    subsets = [("all", cv.index == cv.index)]
    subsets += [(f"donor {d}", cv.donor == d) for d in ("N", "O")]
    subsets += [(f"{c} {name}", cv.charge_class == c) for c, name in CLASS_NAMES.items()]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(pc.TARGETS)
    for i, target in enumerate(pc.TARGETS):
        r = [
            cp.metrics(cv.loc[m, f"observed_{target}"], cv.loc[m, f"cv_{target}"])["r"]
            for _, m in subsets
        ]
        xs = [j + (i - 1) * width for j in range(len(subsets))]
        ax.bar(xs, r, width, label=f"{target} (target r >= {TARGETS_R[target]})")
    ax.set_xticks(range(len(subsets)))
    ax.set_xticklabels([f"{name}\nn={int(m.sum())}" for name, m in subsets], fontsize=8)
    ax.set_ylim(0.5, 1.0)
    ax.set_xlabel("subset of the published LoProp ligands")
    ax.set_ylabel("Pearson r, ligand-grouped 5-fold CV")
    ax.set_title("Calibrated embedded proxy vs OpenMolcas PBE/ANO-R2 LoProp, by subset")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO / "data/published/loprop.tsv")
    parser.add_argument("--descriptors", type=Path)
    parser.add_argument("--stored", action="store_true")
    parser.add_argument("--plot", type=Path, default=REPO / "docs/figures/proxy_parity.png")
    args = parser.parse_args()
    cv, seconds = cross_validated(args)
    print(f"{len(cv)} ligands, {'stored' if args.stored else 'refitted'} CV predictions")
    figures = report(cv)
    parity_plot(cv, args.plot, len(cv))
    by_class = args.plot.with_name("proxy_cv_by_class.png")
    class_plot(cv, by_class)
    print(f"parity plot: {args.plot}; by subset: {by_class}")
    figures |= dict(n=len(cv), seconds=round(seconds, 1), machine=platform.machine())
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
