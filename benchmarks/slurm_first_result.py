"""Time from round start to first result when calculations run as Slurm jobs.

Needs a Slurm cluster the current user can submit to (here: `scripts/slurm-local up`). Runs
`campaigns.rounds.compute` over N corpus ligands with the embedded KD chain on the `slurm`
profile (SlurmProvider + srun, one block of one node) and reports, from round start (executor
opened, block submitted): the first result, the block's queue wait and start as Slurm recorded
them (to the second), and the whole round. Last line key=value.

Usage: .venv/bin/python benchmarks/slurm_first_result.py [--n 40] [--partition debug]
       [--cores 2] [--chunk 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from calculators.kd_embedded import EmbeddedKD  # noqa: E402
from campaigns.rounds import RoundContext, compute  # noqa: E402
from campaigns.spec import parse_spec  # noqa: E402
from flows.execution import make_executor  # noqa: E402
from flows.parsl_exec import ParslExecutor  # noqa: E402
from flows.profiles import SlurmProfile  # noqa: E402
from flows.settings import Settings  # noqa: E402
from gauss import corpus  # noqa: E402
from storage.store import CampaignStore  # noqa: E402

# this benchmark measures the Parsl path, whatever GAUSS_EXECUTOR says
PARSL = Settings(executor="parsl")


class FirstResultClock:
    """Executor wrapper that notes when the first result of the round arrives."""

    def __init__(self, executor: ParslExecutor, start: float):
        self.executor, self.start, self.first = executor, start, None

    def map(self, calc, items):
        for result in self.executor.map(calc, items):
            if self.first is None:
                self.first = time.perf_counter() - self.start
                print(f"first result after {self.first:.1f} s (Slurm job {result.job_id})")
            yield result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--partition", default="debug")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("sbatch") is None:
        sys.exit("no sbatch on PATH: start a cluster first (scripts/slurm-local up)")
    df = corpus.load()
    rng = np.random.default_rng(2)
    ligands = df["smiles"].iloc[np.sort(rng.choice(len(df), args.n, replace=False))].tolist()
    profile = SlurmProfile(
        partition=args.partition,
        walltime="00:20:00",
        exclusive=False,
        cores_per_node=args.cores,
        max_workers_per_node=args.cores,
        address="127.0.0.1",
        worker_init=f"export PATH={Path(sys.executable).parent}:$PATH",
    )
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:  # shared with the node
        spec = parse_spec({"name": "bench"})
        store = CampaignStore(Path(tmp) / "store", "bench")
        store.create(spec.model_dump(mode="json"))
        start = time.perf_counter()
        with make_executor(profile, Path(tmp) / "runinfo", PARSL, chunk_size=args.chunk) as ex:
            clock = FirstResultClock(ex, start)
            ctx = RoundContext(spec, store, EmbeddedKD(), clock, df)
            ctx.progress = lambda msg: None
            records = compute(ctx, 0, ligands)  # round 0: a fresh store
            jobs, first = ex.block_jobs(), clock.first
        total = time.perf_counter() - start
    ok = sum(r["status"] == "ok" for r in records)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"slurm jobs {', '.join(jobs)}; {ok}/{len(records)} ok; round {total:.1f} s")
    print(
        f"n={args.n} cores={args.cores} chunk={args.chunk} first_result_s={first:.1f} "
        f"round_s={total:.1f} per_calc_s={total / args.n:.2f} ok={ok}"
    )


if __name__ == "__main__":
    main()
