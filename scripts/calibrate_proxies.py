"""Fit (or refit) the LoProp calibration of the embedded proxies, and label ligands with it.

Input: a table of ligands with real LoProp values of the donor atom, columns ``smiles``
(donor first) and ``loprop_charge`` (e), ``loprop_dipole`` (atomic dipole magnitude, a.u.),
``loprop_polarizability`` (isotropic, a.u.) — e.g. the published GAUSS-II rows
``data/published/loprop.tsv`` or your own OpenMolcas LoProp results (TSV, CSV or Parquet).
Output: a new versioned calibration directory (``model.npz``, ``training.json``,
``cv_predictions.tsv``) that ``calculators.proxy_calibrated.CalibratedProxy`` loads.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/calibrate_proxies.py descriptors \\
        --in data/published/loprop.tsv --out /tmp/loprop_desc.parquet
    OMP_NUM_THREADS=1 .venv/bin/python scripts/calibrate_proxies.py fit \\
        --data data/published/loprop.tsv --descriptors /tmp/loprop_desc.parquet \\
        --out models/proxy-calibration --version 2026.12.01
    OMP_NUM_THREADS=1 .venv/bin/python scripts/calibrate_proxies.py label \\
        --descriptors /tmp/corpus_desc.parquet --rows data/proxy_labels.parquet \\
        --published data/published/loprop.tsv --corpus data/ligands.parquet \\
        --out data/proxy_labels_calibrated.parquet

``fit`` computes descriptors itself when ``--descriptors`` is not given (~25 ms per ligand,
one thread). Several input files may be given to ``--data``; each row's source is recorded.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.stats import pearsonr
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calculators import proxy_calibrated as pc  # noqa: E402
from calculators.base import CalculationFailed  # noqa: E402
from gauss import chem  # noqa: E402

LOPROP_COLUMNS = {t: f"loprop_{t}" for t in pc.TARGETS}
HYPER = dict(
    n_estimators=400,
    max_depth=4,
    learning_rate=0.05,
    subsample=0.8,
    min_samples_leaf=5,
    max_features=0.5,
)
PUBLISHED_METHOD = (
    "OpenMolcas 25.02 KS-DFT PBE/ANO-R2 LoProp, published GAUSS-II value "
    "(Khatibi et al., zkhatibi/GAUSS data/VAE_114k_DB.txt; data/published/loprop.tsv)"
)


def read_table(path: Path) -> pd.DataFrame:
    """TSV (.tsv), CSV (.csv) or Parquet, with a ``smiles`` column."""
    path = Path(path)
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    elif path.suffix in (".tsv", ".txt"):
        table = pd.read_csv(path, sep="\t")
    elif path.suffix == ".csv":
        table = pd.read_csv(path)
    else:
        raise SystemExit(f"{path}: expected .tsv, .csv or .parquet")
    if "smiles" not in table.columns:
        raise SystemExit(f"{path}: no 'smiles' column (columns: {list(table.columns)})")
    return table


# --- descriptors --------------------------------------------------------------------------------


def descriptor_table(smiles: Sequence[str], progress_every: int = 500) -> pd.DataFrame:
    """One row per input SMILES: canonical donor-first SMILES, status, reason, descriptors."""
    rows, start = [], time.perf_counter()
    for i, smi in enumerate(smiles, 1):
        row: dict = {"smiles": smi, "canonical": None, "status": "ok", "reason": None}
        try:
            row["canonical"] = chem.ligand(smi).smiles
            row |= pc.ligand_descriptors(smi)
        except (chem.LigandError, CalculationFailed) as exc:
            row |= {"status": "failed", "reason": str(exc)}
        rows.append(row)
        if progress_every and i % progress_every == 0:
            rate = i / (time.perf_counter() - start)
            print(f"descriptors {i}/{len(smiles)} ({rate:.1f}/s)", flush=True)
    return pd.DataFrame(rows)


def cmd_descriptors(args: argparse.Namespace) -> None:
    smiles = list(dict.fromkeys(read_table(args.inp)["smiles"].astype(str)))
    table = descriptor_table(smiles)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(args.out, index=False)
    print(f"wrote {len(table)} rows ({(table.status == 'ok').sum()} ok) to {args.out}")


# --- fitting ------------------------------------------------------------------------------------


def training_rows(data: Sequence[Path], descriptors: Path | None) -> pd.DataFrame:
    """LoProp rows joined to their descriptors (computed here when no file is given)."""
    frames = []
    for path in data:
        table = read_table(path)
        missing = [c for c in LOPROP_COLUMNS.values() if c not in table.columns]
        if missing:
            raise SystemExit(f"{path}: missing LoProp columns {missing}")
        frames.append(table[["smiles", *LOPROP_COLUMNS.values()]].assign(source=str(path)))
    rows = pd.concat(frames, ignore_index=True)
    desc = (
        pd.read_parquet(descriptors)
        if descriptors
        else descriptor_table(list(dict.fromkeys(rows.smiles)))
    )
    missing = set(rows.smiles) - set(desc.smiles)
    if missing:
        raise SystemExit(f"{len(missing)} SMILES have no descriptors, e.g. {sorted(missing)[:3]}")
    rows = rows.merge(desc, on="smiles", how="left")
    failed = rows.status != "ok"
    if failed.any():
        print(f"dropping {failed.sum()} rows whose descriptors failed", flush=True)
    return rows[~failed].reset_index(drop=True)


def ligand_groups(smiles: Sequence[str]) -> np.ndarray:
    """Group id per row: the molecule regardless of donor, so CV never splits one molecule."""
    keys = [chem.ligand(s).canonical_smiles for s in smiles]
    return pd.factorize(pd.Series(keys))[0]


def fold_ids(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Seeded ligand-grouped fold assignment (groups shuffled, then split evenly)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(groups.max() + 1)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    fold = np.empty(len(groups), dtype=int)
    for k, (_, test) in enumerate(GroupKFold(folds).split(groups, groups=rank[groups])):
        fold[test] = k
    return fold


def export(models: Sequence[GradientBoostingRegressor], depth: int) -> dict[str, np.ndarray]:
    """Stack K fitted models' trees into TreeEnsemble arrays."""
    padded = [[pc.pad_tree(t[0].tree_, depth) for t in m.estimators_] for m in models]
    return dict(
        init=np.array([float(np.ravel(m.init_.constant_)[0]) for m in models]),
        learning_rate=np.array(models[0].learning_rate),
        feature=np.array([[p[0] for p in trees] for trees in padded]),
        threshold=np.array([[p[1] for p in trees] for trees in padded]),
        leaf=np.array([[p[2] for p in trees] for trees in padded]),
    )


def metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return dict(
        r=float(pearsonr(observed, predicted)[0]),
        mae=float(np.mean(np.abs(observed - predicted))),
        n=int(len(observed)),
    )


def fit(rows: pd.DataFrame, folds: int, seed: int, hyper: dict) -> tuple[dict, pd.DataFrame, dict]:
    """K grouped-CV models per target: arrays to store, out-of-fold predictions, CV figures."""
    features = [c for c in pc.ligand_descriptors("OCC")]
    x = rows[features].to_numpy(dtype=float)
    fold = fold_ids(ligand_groups(rows.smiles), folds, seed)
    arrays, cv = {}, rows[["smiles", "canonical", "source"]].assign(fold=fold)
    for target, column in LOPROP_COLUMNS.items():
        y = rows[column].to_numpy(dtype=float)
        models = []
        oof = np.empty(len(y))
        for k in range(folds):
            train = fold != k
            model = GradientBoostingRegressor(random_state=seed + k, **hyper).fit(
                x[train], y[train]
            )
            models.append(model)
            oof[~train] = model.predict(x[~train])
        ens = export(models, hyper["max_depth"])
        member = pc.TreeEnsemble(
            **{k: v for k, v in ens.items() if k != "learning_rate"},
            learning_rate=float(ens["learning_rate"]),
        )
        check = member.member_predictions(x)
        for k in range(folds):
            if not np.allclose(check[k], models[k].predict(x), atol=1e-10, rtol=0):
                raise RuntimeError(f"exported {target} model {k} disagrees with scikit-learn")
        arrays |= {f"{target}_{name}": value for name, value in ens.items()}
        cv[f"observed_{target}"] = y
        cv[f"cv_{target}"] = oof
    return arrays, cv, {"features": features, "fold_sizes": np.bincount(fold).tolist()}


def cv_figures(cv: pd.DataFrame, rows: pd.DataFrame) -> dict:
    """CV r and MAE per target: overall, by donor element and by charge class."""
    out: dict = {"overall": {}, "by_donor": {}, "by_class": {}}
    donor = np.where(rows.atomic_number.to_numpy() == 7, "N", "O")
    cls = rows.charge_class.astype(int).to_numpy()
    for target in pc.TARGETS:
        obs, pred = cv[f"observed_{target}"].to_numpy(), cv[f"cv_{target}"].to_numpy()
        out["overall"][target] = metrics(obs, pred)
        for label, mask_of in (("by_donor", donor), ("by_class", cls)):
            for value in sorted(set(mask_of)):
                m = mask_of == value
                out[label].setdefault(str(value), {})[target] = metrics(obs[m], pred[m])
        raw = {
            "charge": "xtb_charge",
            "dipole": "xtb_dipole",
            "polarizability": "d4_polarizability",
        }
        out.setdefault("uncalibrated_r", {})[target] = float(
            pearsonr(obs, rows[raw[target]].to_numpy())[0]
        )
    return out


def cmd_fit(args: argparse.Namespace) -> None:
    rows = training_rows(args.data, args.descriptors)
    hyper = dict(HYPER)
    arrays, cv, info = fit(rows, args.folds, args.seed, hyper)
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "model.npz"
    np.savez_compressed(model_path, **arrays)
    cv.to_csv(args.out / "cv_predictions.tsv", sep="\t", index=False, float_format="%.10g")
    data_sha = {str(p): pc.file_sha256(p) for p in args.data}
    record = {
        "version": args.version,
        "model_sha256": pc.file_sha256(model_path),
        "targets": list(pc.TARGETS),
        "target_units": pc.TARGET_UNITS,
        "target_method": "OpenMolcas KS-DFT PBE/ANO-R2 LoProp of the donor atom",
        "data": data_sha,
        "n_train": int(len(rows)),
        "features": info["features"],
        "descriptor_method": pc.proxy_xtb.METHOD + " + RDKit topology",
        "programs": {**pc.proxy_xtb.PROGRAM_VERSIONS, "scikit-learn": version("scikit-learn")},
        "model": "sklearn GradientBoostingRegressor (squared error), one per CV fold; "
        "prediction = mean over folds, uncertainty = their standard deviation",
        "hyper_parameters": hyper,
        "cv": {
            "folds": args.folds,
            "seed": args.seed,
            "grouping": "molecule (kekulized canonical SMILES, donor-agnostic)",
            "fold_sizes": info["fold_sizes"],
            **cv_figures(cv, rows),
        },
        "command": shlex.join(["python", *sys.argv]),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    for target, m in record["cv"]["overall"].items():
        print(f"{target}: cv r={m['r']:.3f} mae={m['mae']:.4f} (n={m['n']})")
    print(f"wrote {args.out} (model sha256 {record['model_sha256'][:12]})")


# --- labelling ----------------------------------------------------------------------------------

LABEL_SCHEMA = pa.schema(
    [
        ("corpus_row", pa.int64()),
        ("smiles", pa.string()),
        ("status", pa.string()),
        ("method", pa.string()),
        ("charge", pa.float64()),
        ("dipole", pa.float64()),
        ("polarizability", pa.float64()),
        ("atomic_number", pa.int8()),
        ("charge_std", pa.float64()),
        ("dipole_std", pa.float64()),
        ("polarizability_std", pa.float64()),
        ("source", pa.string()),
        ("reason", pa.string()),
    ]
)


def cmd_label(args: argparse.Namespace) -> None:
    calib = pc.load_calibration(args.calibration)
    method = pc.method_string(calib.record)
    base = read_table(args.rows)[["corpus_row", "smiles"]]
    desc = pd.read_parquet(args.descriptors)
    rows = base.merge(desc, on="smiles", how="left")
    published = read_table(args.published)
    published["canonical"] = [chem.ligand(s).smiles for s in published.smiles]
    pub = published.drop_duplicates("canonical").set_index("canonical")
    corpus_rows = {}
    if args.corpus:
        corpus = pq.read_table(args.corpus, columns=["smiles"]).column("smiles").to_pylist()
        corpus_rows = {s: i for i, s in enumerate(corpus)}
    extra = pub.loc[~pub.index.isin(rows.canonical.dropna())].reset_index()
    extra = extra.assign(
        smiles=extra.canonical, corpus_row=[corpus_rows.get(s, -1) for s in extra.canonical]
    )
    ok = rows.status == "ok"
    out = pd.DataFrame({"corpus_row": rows.corpus_row, "smiles": rows.smiles})
    out["status"] = np.where(ok, "ok", "failed")
    out["method"] = np.where(ok, method, None)
    out["reason"] = rows.reason.where(~ok, None)
    pred = calib.predict(calib.matrix(rows.loc[ok, list(calib.features)].to_dict("records")))
    for target in pc.TARGETS:
        out.loc[ok, target] = pred[target][0]
        out.loc[ok, f"{target}_std"] = pred[target][1]
    out["atomic_number"] = rows.atomic_number
    out["source"] = np.where(ok, "calibrated", None)
    hit = rows.canonical.isin(pub.index).to_numpy()
    matched = pub.loc[rows.canonical[hit]]
    for target, column in LOPROP_COLUMNS.items():
        out.loc[hit, target] = matched[column].to_numpy()
        out.loc[hit, f"{target}_std"] = 0.0
    out.loc[hit, "atomic_number"] = matched.donor_z.to_numpy()
    out.loc[hit, ["status", "method", "source", "reason"]] = [
        "ok",
        PUBLISHED_METHOD,
        "published",
        None,
    ]
    added = pd.DataFrame(
        {
            "corpus_row": extra.corpus_row,
            "smiles": extra.smiles,
            "status": "ok",
            "method": PUBLISHED_METHOD,
            **{t: extra[c] for t, c in LOPROP_COLUMNS.items()},
            **{f"{t}_std": 0.0 for t in pc.TARGETS},
            "atomic_number": extra.donor_z,
            "source": "published",
            "reason": None,
        }
    )
    table = pd.concat([out, added], ignore_index=True).reindex(columns=LABEL_SCHEMA.names)
    table["atomic_number"] = table.atomic_number.astype("Int8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(table, schema=LABEL_SCHEMA, preserve_index=False), args.out)
    print(
        f"wrote {len(table)} rows to {args.out}: {int(hit.sum())} corpus rows replaced by "
        f"published values, {len(added)} published rows added "
        f"({int((added.corpus_row >= 0).sum())} in the corpus), "
        f"{int((table.status != 'ok').sum())} failed"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("descriptors", help="compute calibration descriptors for a SMILES table")
    d.add_argument("--in", dest="inp", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.set_defaults(func=cmd_descriptors)
    f = sub.add_parser("fit", help="fit a new calibration from LoProp results")
    f.add_argument("--data", type=Path, nargs="+", required=True)
    f.add_argument("--descriptors", type=Path)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--version", required=True)
    f.add_argument("--folds", type=int, default=5)
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(func=cmd_fit)
    lab = sub.add_parser("label", help="calibrated labels for corpus rows (published where known)")
    lab.add_argument("--descriptors", type=Path, required=True)
    lab.add_argument("--rows", type=Path, required=True, help="table with corpus_row, smiles")
    lab.add_argument("--published", type=Path, required=True)
    lab.add_argument("--corpus", type=Path)
    lab.add_argument("--calibration", type=Path, default=pc.DEFAULT_CALIBRATION)
    lab.add_argument("--out", type=Path, required=True)
    lab.set_defaults(func=cmd_label)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
