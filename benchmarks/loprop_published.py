"""Real OpenMolcas PBE/ANO-R2 (RICD) + LoProp against the paper's published LoProp values.

Usage:
    nice .venv/bin/python benchmarks/loprop_published.py run [--per-class 8] [--geometry xtb|rdkit]
    .venv/bin/python benchmarks/loprop_published.py report [--geometry xtb|rdkit] [--plot]

`run` takes the smallest ligands (heavy atoms, then all atoms) of each class of
data/published/loprop.tsv (donor N/O x neutral/anion), interleaved across classes, runs each
through calculators.proxy_molcas at production settings with one thread, and appends one JSON
row per ligand to benchmarks/results/loprop_published_<geometry>.jsonl. It is resumable: ligands
already in that file are skipped, and several runs may share the file (each ligand is claimed
by one live run). `compare` sets the two geometry recipes side by side on the ligands both
finished. `report` prints Pearson r and MAE for charge, dipole and
polarizability (overall and per class), seconds per ligand, and with --plot writes
docs/figures/loprop_parity[_<geometry>].png. Last line of each: key=value figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402
from rdkit import Chem  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.openmolcas import LoPropSettings, MolcasResources  # noqa: E402
from calculators.proxy_molcas import MolcasProxy, MolcasProxyRdkitGeometry  # noqa: E402

PUBLISHED = ROOT / "data" / "published" / "loprop.tsv"
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "figures"
GEOMETRIES = {"rdkit": MolcasProxyRdkitGeometry, "xtb": MolcasProxy}
PRODUCTION = "xtb"  # the recipe MolcasProxy uses (docs/openmolcas.md, "Geometry")
CLASSES = ("O neutral", "O anion", "N neutral", "N anion")
PROPS = ("charge", "dipole", "polarizability")


def published() -> pd.DataFrame:
    """The published rows with class, heavy-atom and total-atom counts."""
    df = pd.read_csv(PUBLISHED, sep="\t")
    heavy, total, charge = [], [], []
    for smiles in df.smiles:
        mol = Chem.MolFromSmiles(smiles)
        heavy.append(mol.GetNumHeavyAtoms())
        total.append(mol.GetNumAtoms() + sum(a.GetTotalNumHs() for a in mol.GetAtoms()))
        charge.append(Chem.GetFormalCharge(mol))
    df["heavy"], df["atoms"], df["net_charge"] = heavy, total, charge
    df["cls"] = (
        df.donor_z.map({7.0: "N", 8.0: "O"})
        + " "
        + df.net_charge.map({0: "neutral", -1: "anion"}).fillna("other")
    )
    return df


def selection(per_class: int) -> pd.DataFrame:
    """The smallest `per_class` ligands of each class, interleaved (class order repeats)."""
    df = published()
    picked = []
    for cls in CLASSES:
        rows = df[df.cls == cls].sort_values(["heavy", "atoms", "smiles"]).head(per_class)
        picked.append(rows.assign(rank=range(len(rows))))
    return pd.concat(picked).sort_values(["rank", "cls"], kind="stable").reset_index(drop=True)


def results_path(geometry: str) -> Path:
    return RESULTS / f"loprop_published_{geometry}.jsonl"


def done_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def claim(path: Path, smiles: str) -> Path | None:
    """Claim a ligand for this process (several runs may share one results file).

    A claim is a file named by the SMILES' hash holding the owner's pid; a claim whose owner
    is gone (a killed run) is taken over. Returns the claim file, or None if another live run
    holds it.
    """
    claims = path.with_suffix(".claims")
    claims.mkdir(exist_ok=True)
    mine = claims / (hashlib.sha256(smiles.encode()).hexdigest()[:16] + ".pid")
    for _ in range(2):
        try:
            fd = os.open(mine, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = int(mine.read_text() or 0)
                os.kill(owner, 0)
                return None  # a live run has it
            except (ValueError, ProcessLookupError, FileNotFoundError):
                mine.unlink(missing_ok=True)  # stale: its run was killed
                continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return mine
    return None


def run(args: argparse.Namespace) -> None:
    calc = GEOMETRIES[args.geometry](
        settings=LoPropSettings(),
        resources=MolcasResources(mem_mb=args.mem_mb, threads=1),
        scratch_root=Path(args.workdir),
    )
    path = results_path(args.geometry)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {row["smiles"] for row in done_rows(path)}
    todo = selection(args.per_class)
    if args.limit:
        todo = todo.head(args.limit)
    print(f"{calc.method}; {len(todo)} ligands, {len(done)} already in {path}", flush=True)
    for i, row in enumerate(todo.itertuples(), 1):
        if row.smiles in {r["smiles"] for r in done_rows(path)}:
            continue  # re-read each time: another run may have finished it meanwhile
        mine = claim(path, row.smiles)
        if mine is None:
            continue
        start = time.perf_counter()
        result = calc.run(row.smiles)
        seconds = time.perf_counter() - start
        record = {
            "smiles": row.smiles,
            "cls": row.cls,
            "heavy": int(row.heavy),
            "atoms": int(row.atoms),
            "status": result.status,
            "reason": result.reason,
            "seconds": round(seconds, 1),
            "published": {
                "charge": row.loprop_charge,
                "dipole": row.loprop_dipole,
                "polarizability": row.loprop_polarizability,
            },
            "computed": {k: result.values.get(k) for k in (*PROPS, "atomic_number", "label")},
            "method": result.method,
            "program_versions": result.program_versions,
            "key": result.key,
            "workdir": result.workdir,
            "host": platform.node(),
        }
        with path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        mine.unlink(missing_ok=True)
        got = record["computed"]
        summary = (
            " ".join(f"{k} {got[k]:.4f}/{record['published'][k]:.4f}" for k in PROPS)
            if result.ok
            else result.reason
        )
        print(
            f"[{i}/{len(todo)}] {row.cls:<10} {row.smiles:<22} {seconds:6.0f} s {summary}",
            flush=True,
        )


_TIMING = re.compile(r"Timing: Wall=([\d.]+) User=([\d.]+) System=([\d.]+)")


def cpu_seconds(row: dict) -> float | None:
    """User + system seconds of the whole pymolcas run, from its log's last Timing line.

    The machine is shared: wall time depends on the load, CPU time much less.
    """
    log = Path(row.get("workdir") or "/nonexistent") / "loprop.log"
    if not log.exists():
        return None
    found = _TIMING.findall(log.read_text(errors="replace"))
    return float(found[-1][1]) + float(found[-1][2]) if found else None


def pearson(x: list[float], y: list[float]) -> float:
    n = len(x)
    if n < 3:
        return float("nan")
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def stats(rows: list[dict]) -> dict[str, dict[str, float]]:
    out = {}
    for prop in PROPS:
        x = [r["published"][prop] for r in rows]
        y = [r["computed"][prop] for r in rows]
        mae = sum(abs(a - b) for a, b in zip(x, y, strict=True)) / len(x) if x else float("nan")
        rel = (
            sum(abs(a - b) / abs(a) for a, b in zip(x, y, strict=True)) / len(x)
            if x
            else float("nan")
        )
        out[prop] = {"r": pearson(x, y), "mae": mae, "mean_rel": rel, "n": len(x)}
    return out


def plot(rows: list[dict], target: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = dict(zip(CLASSES, ("tab:red", "tab:orange", "tab:blue", "tab:cyan"), strict=True))
    units = {"charge": "e", "dipole": "a.u.", "polarizability": "a.u."}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
    for ax, prop in zip(axes, PROPS, strict=True):
        for cls in CLASSES:
            sub = [r for r in rows if r["cls"] == cls]
            ax.scatter(
                [r["published"][prop] for r in sub],
                [r["computed"][prop] for r in sub],
                s=22,
                color=colours[cls],
                label=f"{cls} ({len(sub)})",
            )
        vals = [r["published"][prop] for r in rows] + [r["computed"][prop] for r in rows]
        lo, hi = min(vals), max(vals)
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", lw=0.8)
        s = stats(rows)[prop]
        ax.set_title(f"{prop}: r {s['r']:.3f}, MAE {s['mae']:.3g} {units[prop]}")
        ax.set_xlabel(f"published LoProp ({units[prop]})")
        ax.set_ylabel(f"this work ({units[prop]})")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)


def report(args: argparse.Namespace) -> None:
    rows = done_rows(results_path(args.geometry))
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] != "ok"]
    if not ok:
        print("no finished ligands yet")
        return
    print(f"{ok[0]['method']}")
    print(f"{len(ok)} ok, {len(failed)} failed")
    for r in failed:
        print(f"  failed {r['smiles']}: {r['reason']}")
    groups = {"all": ok} | {cls: [r for r in ok if r["cls"] == cls] for cls in CLASSES}
    print(f"{'group':<11}{'n':>3}  " + "  ".join(f"{p + ' r':>17}{'MAE':>9}" for p in PROPS))
    for name, sub in groups.items():
        if not sub:
            continue
        s = stats(sub)
        print(
            f"{name:<11}{len(sub):>3}  "
            + "  ".join(f"{s[p]['r']:>17.3f}{s[p]['mae']:>9.4f}" for p in PROPS)
        )
    secs = [r["seconds"] for r in ok]
    cpu = [c for c in (cpu_seconds(r) for r in ok) if c is not None]
    per_heavy = {}
    for r in ok:
        per_heavy.setdefault(r["heavy"], []).append(r["seconds"])
    print(
        "seconds per ligand: mean {:.0f}, min {:.0f}, max {:.0f}; by heavy atoms: {}".format(
            sum(secs) / len(secs),
            min(secs),
            max(secs),
            ", ".join(
                f"{h}: {sum(v) / len(v):.0f} s (n={len(v)})" for h, v in sorted(per_heavy.items())
            ),
        )
    )
    if cpu:
        print(f"CPU seconds per ligand (pymolcas User+System): mean {sum(cpu) / len(cpu):.0f}")
    s = stats(ok)
    if args.plot:
        suffix = "" if args.geometry == PRODUCTION else f"_{args.geometry}"
        target = FIGURES / f"loprop_parity{suffix}.png"
        plot(ok, target, f"{ok[0]['method']} (n={len(ok)}) vs the paper's published LoProp")
        print(f"wrote {target}")
    print(
        f"n={len(ok)} failed={len(failed)} "
        + " ".join(f"{p}_r={s[p]['r']:.3f} {p}_mae={s[p]['mae']:.4f}" for p in PROPS)
        + f" seconds_mean={sum(secs) / len(secs):.0f}"
        + (f" cpu_seconds_mean={sum(cpu) / len(cpu):.0f}" if cpu else "")
    )


def compare(args: argparse.Namespace) -> None:
    """Both geometry recipes on the ligands both have finished: errors against the paper."""
    runs = {
        g: {r["smiles"]: r for r in done_rows(results_path(g)) if r["status"] == "ok"}
        for g in GEOMETRIES
    }
    common = sorted(set.intersection(*(set(v) for v in runs.values())))
    if not common:
        print("no ligand finished with both geometries yet")
        return
    print(f"{len(common)} ligands with both geometries; |computed - published| per ligand")
    print(
        f"{'smiles':<22}{'class':<11}"
        + "".join(f"{g + ' ' + p[:3]:>11}" for p in PROPS for g in GEOMETRIES)
    )
    for smiles in common:
        cells = []
        for prop in PROPS:
            for g in GEOMETRIES:
                r = runs[g][smiles]
                err = abs(r["computed"][prop] - r["published"][prop])
                cells.append(f"{err:>11.4f}")
        print(f"{smiles:<22}{runs['rdkit'][smiles]['cls']:<11}" + "".join(cells))
    figures = []
    for g in GEOMETRIES:
        s = stats([runs[g][m] for m in common])
        figures += [f"{g}_{p}_mae={s[p]['mae']:.4f} {g}_{p}_r={s[p]['r']:.3f}" for p in PROPS]
        wins = sum(
            abs(runs[g][m]["computed"][p] - runs[g][m]["published"][p])
            < min(
                abs(runs[o][m]["computed"][p] - runs[o][m]["published"][p])
                for o in GEOMETRIES
                if o != g
            )
            for m in common
            for p in PROPS
        )
        figures.append(f"{g}_closer={wins}/{len(common) * len(PROPS)}")
    print(f"n={len(common)} " + " ".join(figures))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--per-class", type=int, default=8)
    p_run.add_argument("--limit", type=int, default=0, help="only the first N of the selection")
    p_run.add_argument("--geometry", choices=sorted(GEOMETRIES), default=PRODUCTION)
    p_run.add_argument("--mem-mb", type=int, default=2000)
    p_run.add_argument("--workdir", default="/tmp/gauss-loprop-benchmark")
    p_rep = sub.add_parser("report")
    p_rep.add_argument("--geometry", choices=sorted(GEOMETRIES), default=PRODUCTION)
    p_rep.add_argument("--plot", action="store_true")
    sub.add_parser("compare")
    p_sel = sub.add_parser("list")
    p_sel.add_argument("--per-class", type=int, default=8)
    args = parser.parse_args(argv)
    if args.cmd == "run":
        run(args)
    elif args.cmd == "report":
        report(args)
    elif args.cmd == "compare":
        compare(args)
    else:
        print(selection(args.per_class)[["cls", "smiles", "heavy", "atoms"]].to_string())


if __name__ == "__main__":
    main()
