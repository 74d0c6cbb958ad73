"""One complete embedded round at the paper's size (16 seeds x 10 samples), timed by stage.

Round 0 labels a seeded corpus draw (--initial ligands) with the embedded KD chain; round 1
maps, picks 16 seeds, LP-samples 10 novel ligands each and computes them with 2 workers.
Prints the stage split; last line key=value.

Usage: .venv/bin/python benchmarks/round.py [--initial 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from campaigns.rounds import init_campaign, run_round  # noqa: E402
from campaigns.spec import parse_spec  # noqa: E402
from flows.context import build_context  # noqa: E402
from flows.execution import make_executor  # noqa: E402
from flows.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--initial", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store=Path(tmp), workers=args.workers, executor="process")
        spec = parse_spec({"name": "bench", "initial_size": args.initial})
        start = time.perf_counter()
        with make_executor("local", Path(tmp) / "runinfo", settings) as executor:
            ctx = build_context(spec, settings, executor)
            ctx.journal_every = 16
            load = time.perf_counter() - start
            m0 = init_campaign(ctx)
            start = time.perf_counter()
            m1 = run_round(ctx)
            total = time.perf_counter() - start
    plan, compute = m1["seconds"]["plan"], m1["seconds"]["compute"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, workers={args.workers}")
    print(f"round 0: {m0['calculations']} calculations in {m0['seconds']['compute']:.1f} s")
    print(f"round 1 sampling: {m1['sampling']}")
    print(f"round 1 new first-gap distribution: {m1['new']}; seeds: {m1['seeds']}")
    print(
        f"load_s={load:.1f} round_s={total:.1f} plan_s={plan:.1f} compute_s={compute:.1f} "
        f"ingest_s={total - plan - compute:.1f} candidates={m1['candidates']} "
        f"failed={m1['failed']} seed_sample_r2={m1['seed_sample_r2']:.2f}"
    )


if __name__ == "__main__":
    main()
