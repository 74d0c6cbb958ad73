"""LP sampling throughput: the batched pipeline against a one-sample-at-a-time loop.

Batched: 55,000 samples from one seed (the paper's Fig. 2c count: sigma 0, 0.1, ..., 1.0,
50 batches of 100 each), decoded in chunks under inference mode, identical token rows merged,
RDKit validity + kekulized canonical SMILES + donor check cached per distinct string, novelty
against the corpus. Naive: what a reference-style loop does, one latent at a time with autograd
on (model in eval mode), tokenizer.decode and check_sample on every sample, over the same
sigmas. Targets: >= 3,000 samples/s on 2 cores and >= 50x the naive loop. Wall-clock rates
suffer from other work on the machine; samples per CPU-second (meaningful with --threads 1)
do not, so both are printed.

Usage: .venv/bin/python benchmarks/sampling.py --model models/gauss2-calibrated/model.pt \
           [--seed-smiles SMILES] [--naive 500] [--threads N]
Last line: key=value figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for scripts.model_report

from gauss.model import LoadedModel, load_checkpoint  # noqa: E402
from gauss.sampling import check_sample, encode_smiles  # noqa: E402
from scripts.model_report import CheckCache, ReportConfig, default_seed, sigma_sweep  # noqa: E402

SIGMAS = tuple(round(0.1 * i, 1) for i in range(11))
TARGET_RATE, TARGET_RATIO = 3000.0, 50.0


def batched(lm: LoadedModel, seed_z: np.ndarray, known: set[str], n_batches: int) -> dict:
    """Samples/s of the batched sweep, with the RDKit share and the sample fractions."""
    cfg = ReportConfig(sigmas=SIGMAS, n_batches=n_batches, batch_size=100)
    cache = CheckCache()
    start, cpu = time.perf_counter(), time.process_time()
    curve = sigma_sweep(lm, seed_z, known, cfg, cache)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    total = int(curve["samples"].sum())
    return {
        "samples": total,
        "seconds": seconds,
        "rate": total / seconds,
        "cpu_rate": total / cpu,
        "rdkit_seconds": cache.seconds,
        "distinct_strings": len(cache.verdicts),
        "validity": float(curve["valid"].mean()),
        "novelty": float(curve["novel"].mean()),
        "unique": float(curve["cum_unique"].iloc[-1] / total),
    }


def naive(lm: LoadedModel, seed_z: np.ndarray, known: set[str], n: int, seed: int = 0) -> dict:
    """Samples/s of a per-sample loop with autograd on and no caching, over the same sigmas."""
    lm.model.eval()
    gen = torch.Generator().manual_seed(seed)
    z0 = torch.as_tensor(seed_z, dtype=torch.float32)[None, :]
    sigmas = np.resize(SIGMAS, n)
    valid = novel = 0
    start, cpu = time.perf_counter(), time.process_time()
    for sigma in sigmas:
        z = z0 + float(sigma) * torch.randn(z0.shape, generator=gen)
        ids = lm.model.decode_logits(z).argmax(-1)[0].numpy()
        ok, _, canonical, _ = check_sample(lm.tokenizer.decode(ids))
        valid += ok
        novel += ok and canonical not in known
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rates = {"rate": n / seconds, "cpu_rate": n / cpu}
    return {"samples": n, "seconds": seconds, **rates, "validity": valid / n, "novelty": novel / n}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/gauss2-calibrated/model.pt"))
    parser.add_argument("--corpus", type=Path, default=Path("data/ligands.parquet"))
    parser.add_argument("--labels", type=Path, default=Path("data/proxy_labels.parquet"))
    parser.add_argument("--seed-smiles", default=None, help="LP seed (default: report's seed)")
    parser.add_argument("--batches", type=int, default=50, help="batches of 100 per sigma")
    parser.add_argument("--naive", type=int, default=500, help="samples for the naive loop")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_checkpoint(args.model)
    known = set(pd.read_parquet(args.corpus, columns=["canonical_smiles"])["canonical_smiles"])
    seed = args.seed_smiles or default_seed(pd.read_parquet(args.labels))
    seed_z = encode_smiles(lm, [seed])[0]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"load average {os.getloadavg()[0]:.1f} (other work slows both loops); "
        f"model epoch {lm.info.get('epoch')}; seed {seed}"
    )
    fast = batched(lm, seed_z, known, args.batches)
    print(
        f"batched: {fast['samples']} samples in {fast['seconds']:.1f} s = {fast['rate']:.0f}/s "
        f"({fast['cpu_rate']:.0f} per CPU-second; RDKit {fast['rdkit_seconds']:.1f} s on "
        f"{fast['distinct_strings']} distinct strings)"
    )
    slow = naive(lm, seed_z, known, args.naive)
    ratio = fast["rate"] / slow["rate"]
    print(
        f"naive: {slow['samples']} samples in {slow['seconds']:.1f} s = {slow['rate']:.0f}/s "
        f"({slow['cpu_rate']:.0f} per CPU-second)"
    )
    print(
        f"target >= {TARGET_RATE:.0f}/s: {'met' if fast['rate'] >= TARGET_RATE else 'NOT met'}; "
        f"target >= {TARGET_RATIO:.0f}x naive: {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
    )
    print(
        f"samples_per_s={fast['rate']:.0f} naive_samples_per_s={slow['rate']:.0f} "
        f"naive_ratio={ratio:.1f} validity={fast['validity']:.4f} novelty={fast['novelty']:.4f} "
        f"unique={fast['unique']:.4f} rdkit_share={fast['rdkit_seconds'] / fast['seconds']:.2f} "
        f"samples_per_cpu_s={fast['cpu_rate']:.0f} threads={torch.get_num_threads()}"
    )


if __name__ == "__main__":
    main()
