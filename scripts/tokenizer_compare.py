"""Regex (whole atoms) vs character tokenizer (the paper's): same data, same budget, same tests.

Trains one model per tokenizer on the same semi-supervised table (a subset of the shipped
model's data: `--labelled` ok proxy labels + `--unlabelled` corpus ligands, seed 0) for the
same number of epochs, then measures on the same held-out corpus ligands: whole-SMILES
reconstruction and validity of the greedy decodes, and LP-sampling validity / unique novel
rate around 50 held-out seeds at sigma 0.1 and 0.3. Small models trained briefly: the figures
compare the tokenizers, they are not the shipped model's quality.

Usage: .venv/bin/python scripts/tokenizer_compare.py [--epochs 8] [--labelled 10000]
           [--unlabelled 10000] [--out docs/figures/tokenizer_compare.json]
The last printed line is key=value figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from model_report import CheckCache, heldout_smiles, reconstruction

from gauss import corpus as corpus_mod
from gauss.dataset import training_table
from gauss.model import LoadedModel, load_checkpoint
from gauss.sampling import decode_latents, encode_smiles, perturb
from gauss.tokenizer import Tokenizer
from gauss.train import TrainConfig, train

SIGMAS = (0.1, 0.3)


def sampling_rates(
    lm: LoadedModel, seeds: list[str], known: set[str], cache: CheckCache, n: int = 100
) -> dict[str, dict[str, float]]:
    """Per sigma: valid fraction and unique novel valid ligands per sample, n per seed."""
    z = encode_smiles(lm, seeds)
    rng = np.random.default_rng(0)
    out = {}
    for sigma in SIGMAS:
        decoded = decode_latents(lm, perturb(z, sigma, n, rng))
        verdicts = cache.check(decoded)
        novel = {v[2] for v in verdicts if v[0] and v[1] and v[2] not in known}
        out[str(sigma)] = {
            "valid": float(np.mean([v[0] for v in verdicts])),
            "unique_novel_per_sample": len(novel) / len(decoded),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--labelled", type=int, default=10000)
    parser.add_argument("--unlabelled", type=int, default=10000)
    parser.add_argument("--labels", type=Path, default=Path("data/proxy_labels.parquet"))
    parser.add_argument("--out", type=Path, default=Path("docs/figures/tokenizer_compare.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    corpus = corpus_mod.load()
    labels = pd.read_parquet(args.labels)
    labels = labels[labels["status"] == "ok"].head(args.labelled)
    table = training_table(corpus, labels, args.unlabelled, seed=0)
    known = set(corpus["canonical_smiles"])
    report: dict = {"rows": len(table), "epochs": args.epochs, "tokenizers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("regex", "char"):
            vocab = Tokenizer.fit(corpus["smiles"], mode)
            cfg = TrainConfig(max_epochs=args.epochs, tokenizer_mode=mode, progress=False)
            start = time.perf_counter()
            summary = train(table, Path(tmp) / mode, train_cfg=cfg, tokenizer=vocab)
            seconds = time.perf_counter() - start
            lm = load_checkpoint(Path(summary["checkpoint"]))
            cache = CheckCache()
            held = heldout_smiles(lm, corpus, table, 2000, seed=1)
            recon = reconstruction(lm, held, cache)
            recon.pop("examples")
            report["tokenizers"][mode] = {
                "vocabulary": vocab.size,
                "positions": vocab.max_len,
                "train_seconds": seconds,
                "best_epoch": summary["best"].get("epoch"),
                "reconstruction": recon,
                "sampling": sampling_rates(lm, held[:50], known, cache),
            }
            print(mode, json.dumps(report["tokenizers"][mode]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    r, c = report["tokenizers"]["regex"], report["tokenizers"]["char"]
    print(
        f"epochs={args.epochs} rows={len(table)} "
        f"regex_recon={r['reconstruction']['string_accuracy']:.3f} "
        f"char_recon={c['reconstruction']['string_accuracy']:.3f} "
        f"regex_valid_0.3={r['sampling']['0.3']['valid']:.3f} "
        f"char_valid_0.3={c['sampling']['0.3']['valid']:.3f} "
        f"regex_novel_0.3={r['sampling']['0.3']['unique_novel_per_sample']:.3f} "
        f"char_novel_0.3={c['sampling']['0.3']['unique_novel_per_sample']:.3f}"
    )


if __name__ == "__main__":
    main()
