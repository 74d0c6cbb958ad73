"""Orchestration overhead and memory of one large round of embedded calculations via Parsl.

Runs `campaigns.rounds.compute` (cache lookup, journal, Parsl fan-out in chunks) over N corpus
ligands with an embedded calculator on the local HTEX profile: the round's own KD chain
(`--calc kd`, ~0.4 s each) or the xTB proxy (`--calc proxy`, ~15 ms each: a stress test of
the orchestration itself).
overhead = (wall - sum(calculation time) / workers) / wall; memory = orchestrator RSS after the
first 1,000 results vs its peak. Targets (issue 6): overhead < 10 % at 1,000 calculations,
memory growth < 20 % over 10,000. Last line key=value.

Usage: .venv/bin/python benchmarks/orchestration.py [--n 1000] [--calc kd|proxy] [--workers 2]
       [--chunk 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from calculators.kd_embedded import EmbeddedKD  # noqa: E402
from calculators.proxy_xtb import XtbProxyCalculator  # noqa: E402
from campaigns.rounds import RoundContext, compute  # noqa: E402
from campaigns.spec import parse_spec  # noqa: E402
from flows.execution import make_executor  # noqa: E402
from flows.profiles import LocalProfile  # noqa: E402
from flows.settings import Settings  # noqa: E402
from gauss import corpus  # noqa: E402
from storage.store import CampaignStore  # noqa: E402

# this benchmark measures the Parsl path, whatever GAUSS_EXECUTOR says
PARSL = Settings(executor="parsl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=8)  # as the flows use
    parser.add_argument("--calc", choices=("kd", "proxy"), default="kd")
    args = parser.parse_args()
    df = corpus.load()
    rng = np.random.default_rng(1)
    ligands = df["smiles"].iloc[np.sort(rng.choice(len(df), args.n, replace=False))].tolist()
    proc = psutil.Process()
    rss: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        spec = parse_spec({"name": "bench"})
        store = CampaignStore(Path(tmp) / "store", "bench")
        store.create(spec.model_dump(mode="json"))
        profile = LocalProfile(cores=args.workers)
        with make_executor(profile, Path(tmp) / "runinfo", PARSL, chunk_size=args.chunk) as ex:
            calc = EmbeddedKD() if args.calc == "kd" else XtbProxyCalculator()
            ctx = RoundContext(spec, store, calc, ex, df)
            ctx.journal_every = 64
            ctx.progress = lambda msg: rss.append(
                (
                    int(msg.split(":")[1].split("/")[0]) if "/" in msg else 0,
                    proc.memory_info().rss / 1e6,
                )
            )
            start = time.perf_counter()
            with store.writer():
                records = compute(ctx, 0, ligands)
            wall = time.perf_counter() - start
    calc_s = sum(r["wall_seconds"] or 0.0 for r in records)
    ideal = calc_s / args.workers
    overhead = (wall - ideal) / wall
    first = next((m for n, m in rss if n >= min(1000, args.n)), rss[-1][1])
    peak = max(m for _, m in rss)
    ok = sum(r["status"] == "ok" for r in records)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, workers={args.workers}, "
        f"calculator={args.calc}"
    )
    print(f"rss samples (results, MB): {rss[:: max(1, len(rss) // 10)]}")
    print(
        f"calculations={args.n} ok={ok} wall_s={wall:.1f} calc_s={calc_s:.1f} "
        f"overhead={overhead:.3f} rss_at_1000_mb={first:.0f} rss_peak_mb={peak:.0f} "
        f"rss_growth={(peak - first) / first:.3f} calcs_per_s={args.n / wall:.1f}"
    )


if __name__ == "__main__":
    main()
