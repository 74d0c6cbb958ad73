"""Time the campaign store: ingest of 100k calculation rows (target < 5 s) and reading a past
round's full state (target < 1 s).

Each round commits `--rows` calculation rows (CalcResult.to_record() layout, 10 % failed, plus
ligands/candidates/latent rows); after `--rounds` rounds the full state of the middle round is
read back. `--compare` also times the alternative that was rejected: bare Delta appends vs
Parquet files listed in an atomically replaced manifest, on the same rows.

Usage: .venv/bin/python benchmarks/store_io.py [--rows 100000] [--rounds 5] [--compare]
Last line: key=value figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from storage.atomic import atomic_replace
from storage.store import TABLES, CampaignStore


def calculation_rows(n: int, round_no: int) -> pd.DataFrame:
    """n distinct calculation records shaped like CalcResult.to_record()."""
    rng = np.random.default_rng(round_no)
    keys = [hashlib.sha256(f"{round_no}:{i}".encode()).hexdigest() for i in range(n)]
    ok = rng.random(n) >= 0.1
    gaps = rng.normal(300.0, 50.0, n)
    return pd.DataFrame(
        {
            "key": keys,
            "calculator": "kd_crystal_field",
            "version": "1",
            "method": "crystal-field",
            "status": np.where(ok, "ok", "failed"),
            "values": [
                json.dumps({"gap1": g}) if o else "{}" for g, o in zip(gaps, ok, strict=True)
            ],
            "units": '{"gap1": "cm-1"}',
            "reason": [None if o else "SCF not converged" for o in ok],
            "failure_kind": [None if o else "chemistry" for o in ok],
            "program_versions": '{"numpy": "2.4"}',
            "wall_seconds": rng.random(n),
            "workdir": None,
        }
    )


def round_tables(n: int, round_no: int) -> dict[str, pd.DataFrame]:
    calcs = calculation_rows(n, round_no)
    m = max(n // 10, 1)
    smiles = [f"C{i}O{round_no}" for i in range(m)]
    z = np.random.default_rng(round_no).normal(size=(m, 2))
    return {
        "calculations": calcs,
        "ligands": pd.DataFrame({"smiles": smiles, "heavy_atoms": np.full(m, 9)}),
        "candidates": pd.DataFrame({"smiles": smiles, "score": z[:, 0]}),
        "latent": pd.DataFrame({"smiles": smiles, "pc1": z[:, 0], "pc2": z[:, 1]}),
    }


def bench_store(root: Path, rows: int, rounds: int) -> dict[str, float]:
    store = CampaignStore(root, "bench")
    store.create({"benchmark": "storage", "rows": rows})
    ingest = []
    for k in range(rounds):
        tables = round_tables(rows, k)
        start = time.perf_counter()
        store.commit_round(k, tables, {"rng_seed": k, "corpus_version": "qm9"})
        ingest.append(time.perf_counter() - start)
    past = rounds // 2
    start = time.perf_counter()
    state = {t: store.read(t, round=past) for t in (*TABLES, "rounds")}
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    hits = store.cached(state["calculations"]["key"].iloc[: rows // 10])
    cached_s = time.perf_counter() - start
    return {
        "ingest_s_max": max(ingest),
        "ingest_s_median": float(np.median(ingest)),
        "read_past_s": read_s,
        "read_past_rows": float(sum(len(f) for f in state.values())),
        "cached_10pct_s": cached_s,
        "cached_hits": float(len(hits)),
    }


def bench_alternatives(root: Path, rows: int, rounds: int) -> dict[str, float]:
    """Bare Delta appends vs Parquet files + atomically replaced manifest, same rows."""
    frames = []
    for k in range(rounds):
        table = pa.Table.from_pandas(calculation_rows(rows, k), preserve_index=False)
        table = table.cast(
            pa.schema(
                [(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            )
        )
        frames.append(table.append_column("round", pa.array([k] * rows, pa.int64())))
    past = rounds // 2
    delta_w, parquet_w, listed = [], [], []
    for table in frames:
        start = time.perf_counter()
        write_deltalake(root / "delta", table, mode="append")
        delta_w.append(time.perf_counter() - start)
        start = time.perf_counter()
        name = f"{uuid.uuid4().hex}.parquet"
        pq.write_table(table, root / name)
        with open(root / name, "rb") as fh:
            os.fsync(fh.fileno())
        listed.append(name)
        atomic_replace(root / "manifest.json", json.dumps(listed).encode())
        parquet_w.append(time.perf_counter() - start)
    names = json.loads((root / "manifest.json").read_text())[: past + 1]
    delta_r, parquet_r = [], []
    for _ in range(3):  # alternate and keep the best: the first read of anything pays warm-up
        start = time.perf_counter()
        DeltaTable(root / "delta", version=past).to_pyarrow_dataset().to_table()
        delta_r.append(time.perf_counter() - start)
        start = time.perf_counter()
        pa.concat_tables([pq.read_table(root / n) for n in names])
        parquet_r.append(time.perf_counter() - start)
    return {
        "delta_append_s": float(np.median(delta_w)),
        "parquet_append_s": float(np.median(parquet_w)),
        "delta_read_s": min(delta_r),
        "parquet_read_s": min(parquet_r),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = bench_store(Path(tmp), args.rows, args.rounds)
        if args.compare:
            (Path(tmp) / "alt").mkdir()
            figures |= bench_alternatives(Path(tmp) / "alt", args.rows, args.rounds)
    py = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {py}")
    print(f"rows per round: {args.rows} calculations + {args.rows // 10} x 3 other tables")
    print(
        f"ingest: max {figures['ingest_s_max']:.2f} s (target < 5 s); past-round read "
        f"{figures['read_past_s']:.2f} s for {figures['read_past_rows']:.0f} rows (target < 1 s)"
    )
    print(" ".join(f"{k}={v:.3f}" if v % 1 else f"{k}={v:.0f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
