"""Training tables for the semi-supervised VAE: corpus SMILES + proxy labels where known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gauss.tokenizer import Tokenizer, TokenizerError
from gauss.train import PROXY_TARGETS, TrainConfig, train


def training_table(
    corpus: pd.DataFrame, labels: pd.DataFrame, n_unlabelled: int, seed: int = 0
) -> pd.DataFrame:
    """Labelled ligands (status ok) plus a seeded random draw of unlabelled corpus ligands.

    Unlabelled rows carry NaN targets, so they train the autoencoder but not the property head
    (the paper's semi-supervised set-up). Rows are shuffled deterministically.
    """
    ok = labels[labels["status"] == "ok"]
    ok = ok[["smiles", *PROXY_TARGETS]].drop_duplicates("smiles")
    pool = corpus.loc[~corpus["smiles"].isin(ok["smiles"]), ["smiles"]]
    n_unlabelled = min(n_unlabelled, len(pool))
    rng = np.random.default_rng(seed)
    extra = pool.iloc[np.sort(rng.choice(len(pool), n_unlabelled, replace=False))]
    table = pd.concat([ok, extra], ignore_index=True)
    table[list(PROXY_TARGETS)] = table[list(PROXY_TARGETS)].astype("float64")
    order = rng.permutation(len(table))
    return table.iloc[order].reset_index(drop=True)


def train_from_corpus(
    corpus: pd.DataFrame,
    labels: pd.DataFrame,
    out: Path,
    n_unlabelled: int,
    cfg: TrainConfig,
) -> tuple[dict, pd.DataFrame]:
    """Build the semi-supervised table and train (or resume) a model in `out`.

    The vocabulary and maximum length come from the whole corpus, so every corpus ligand can
    be encoded later (seeds, maps), not only the training rows.
    """
    table = training_table(corpus, labels, n_unlabelled, cfg.seed)
    vocab = Tokenizer.fit(corpus["smiles"], cfg.tokenizer_mode)
    fits = encodable(vocab, table["smiles"].tolist())
    dropped = table.loc[~fits, "smiles"].tolist()
    table = table[fits].reset_index(drop=True)
    summary = train(table, out, train_cfg=cfg, tokenizer=vocab)
    return {**summary, "dropped_unencodable": dropped}, table


def encodable(tokenizer: Tokenizer, smiles: list[str]) -> np.ndarray:
    """Mask of SMILES the model can take (vocabulary and length): labelled ligands from
    outside the corpus may hold a token, or a length, the corpus never had."""
    ok = np.ones(len(smiles), dtype=bool)
    for i, smi in enumerate(smiles):
        try:
            tokenizer.encode(smi)
        except TokenizerError:
            ok[i] = False
    return ok
