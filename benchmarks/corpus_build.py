"""Time `gauss corpus build` on the shipped QM9 file (target: under 3 minutes on 2 cores).

Usage: .venv/bin/python benchmarks/corpus_build.py [--workers N]
Last line: key=value figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from gauss import corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ligands.parquet"
        start = time.perf_counter()
        card = corpus.build(corpus.DEFAULT_SOURCE, out, workers=args.workers, progress=False)
        seconds = time.perf_counter() - start
        size_mb = out.stat().st_size / 1e6
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores, python {platform.python_version()}")
    print(f"rows by donor/charge: {card.counts}")
    print(
        f"build_s={seconds:.1f} workers={args.workers} rows={card.rows} "
        f"molecules={card.source_rows} rows_per_s={card.rows / seconds:.0f} "
        f"parquet_mb={size_mb:.1f} sha256={card.table_sha256[:16]}"
    )


if __name__ == "__main__":
    main()
