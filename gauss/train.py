"""Semi-supervised training of the GAUSS-II VAE (paper, Methods "VAE model training").

All corpus rows train the autoencoder; only labelled rows (non-NaN targets) train the property
head. Adam 1e-3, batch 100, ReduceLROnPlateau (factor 0.5, patience 2, threshold 1e-4), stop
when the validation loss improves by less than 1e-3 over 10 epochs, keep the best state.
Seeded, resumable after a kill (state saved every epoch), with a progress bar and a per-epoch
metrics file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from gauss.model import GaussVAE, VAEConfig, save_checkpoint, vae_loss
from gauss.tokenizer import Tokenizer

log = logging.getLogger(__name__)
PROXY_TARGETS = ("charge", "dipole", "polarizability", "atomic_number")


@dataclass(frozen=True)
class TrainConfig:
    max_epochs: int = 200
    batch_size: int = 100
    lr: float = 1e-3
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    plateau_threshold: float = 1e-4
    stop_window: int = 10
    stop_delta: float = 1e-3
    val_fraction: float = 0.05
    seed: int = 0
    tokenizer_mode: str = "regex"
    device: str = "auto"
    progress: bool = True
    # warm start: weights of an earlier checkpoint with the same tokenizer (e.g. to retrain the
    # property head and latent order on new proxy labels without re-learning the grammar)
    init_from: str | None = None


@dataclass
class TrainData:
    tokens: torch.Tensor  # (n, max_len) int64
    targets: torch.Tensor  # (n, n_targets) float32, standardised, NaN = unlabelled
    mean: np.ndarray
    std: np.ndarray


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/validation split."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction))) if n > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def prepare(
    df: pd.DataFrame, tokenizer: Tokenizer, target_names: list[str], train_idx: np.ndarray
) -> TrainData:
    """Tokenize and standardise targets with statistics of the labelled training rows."""
    tokens = torch.from_numpy(tokenizer.encode_batch(df["smiles"].tolist()))
    if target_names:
        raw = df[target_names].to_numpy(dtype=np.float64)
        train = raw[train_idx]
        mean = (
            np.nanmean(train, axis=0) if np.isfinite(train).any() else np.zeros(len(target_names))
        )
        std = np.nanstd(train, axis=0)
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        targets = torch.from_numpy(((raw - mean) / std).astype(np.float32))
    else:
        mean = std = np.zeros(0)
        targets = torch.zeros((len(df), 0), dtype=torch.float32)
    return TrainData(tokens, targets, mean, std)


def r2_scores(pred: np.ndarray, target: np.ndarray) -> list[float]:
    """Per-column R^2 over labelled rows (NaN where a column has < 2 labels)."""
    scores = []
    for j in range(target.shape[1]):
        mask = np.isfinite(target[:, j])
        if mask.sum() < 2:
            scores.append(float("nan"))
            continue
        t, p = target[mask, j], pred[mask, j]
        ss_tot = ((t - t.mean()) ** 2).sum()
        scores.append(float(1 - ((t - p) ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan"))
    return scores


@torch.no_grad()
def evaluate(model: GaussVAE, data: TrainData, idx: np.ndarray, batch: int = 1000) -> dict:
    """Validation metrics: loss parts, token and whole-string reconstruction, per-target R2."""
    model.eval()
    device = next(model.parameters()).device
    sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "prop": 0.0}
    tok_ok = tok_n = str_ok = 0
    preds, targs = [], []
    for start in range(0, len(idx), batch):
        sel = torch.as_tensor(idx[start : start + batch])
        x = data.tokens[sel].to(device)
        y = data.targets[sel].to(device) if data.targets.shape[1] else None
        out = model(x)
        parts = vae_loss(out, x, y, model.cfg.kl_weight)
        for key, val in zip(sums, (parts.total, parts.recon, parts.kl, parts.prop), strict=True):
            sums[key] += float(val) * len(sel)
        guess = out["logits"].argmax(-1)
        same = guess == x
        tok_ok += int(same.sum())
        tok_n += same.numel()
        str_ok += int(same.all(dim=1).sum())
        if "pred" in out:
            preds.append(out["pred"].cpu().numpy())
            targs.append(data.targets[sel].numpy())
    n = max(len(idx), 1)
    metrics = {k: v / n for k, v in sums.items()}
    metrics["token_accuracy"] = tok_ok / max(tok_n, 1)
    metrics["string_accuracy"] = str_ok / n
    if preds:
        metrics["r2"] = r2_scores(np.concatenate(preds), np.concatenate(targs))
    return metrics


def _config_hash(model_cfg: VAEConfig, train_cfg: TrainConfig, data_hash: str) -> str:
    blob = json.dumps(
        {
            "model": asdict(model_cfg),
            # max_epochs and progress do not change the run: extending a run resumes it
            "train": asdict(replace(train_cfg, progress=True, max_epochs=0)),
            "data": data_hash,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def data_hash(df: pd.DataFrame, columns: list[str]) -> str:
    """Content hash of the training table (SMILES + targets) for provenance and resumption."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(df[columns], index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def train(
    df: pd.DataFrame,
    out_dir: Path,
    target_names: list[str] | tuple[str, ...] = PROXY_TARGETS,
    train_cfg: TrainConfig = TrainConfig(),
    model_overrides: dict | None = None,
    tokenizer: Tokenizer | None = None,
) -> dict:
    """Train (or resume) a model on df; writes model.pt, metrics.jsonl and resume.pt in out_dir.

    df needs a `smiles` column and the target columns (NaN = unlabelled). Returns a summary
    with the best validation metrics.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target_names = [t for t in target_names if t in df.columns]
    torch.manual_seed(train_cfg.seed)
    device = _device(train_cfg.device)
    tokenizer = tokenizer or Tokenizer.fit(df["smiles"], train_cfg.tokenizer_mode)
    train_idx, val_idx = split_indices(len(df), train_cfg.val_fraction, train_cfg.seed)
    data = prepare(df, tokenizer, target_names, train_idx)
    head = "proxy" if target_names else "none"
    model_cfg = VAEConfig(
        vocab_size=tokenizer.size,
        max_len=tokenizer.max_len,
        head=head,
        n_targets=max(len(target_names), 1),
        **(model_overrides or {}),
    )
    dhash = data_hash(df, ["smiles", *target_names])
    run_id = _config_hash(model_cfg, train_cfg, dhash)
    model = GaussVAE(model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt,
        factor=train_cfg.plateau_factor,
        patience=train_cfg.plateau_patience,
        threshold=train_cfg.plateau_threshold,
        threshold_mode="abs",
    )
    resume_path, metrics_path = out_dir / "resume.pt", out_dir / "metrics.jsonl"
    state = {"epoch": 0, "best_loss": math.inf, "history": [], "best_state": None}
    if resume_path.is_file():
        saved = torch.load(resume_path, map_location=device, weights_only=True)
        if saved.get("run_id") == run_id:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            sched.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["rng"])
            state = {k: saved[k] for k in ("epoch", "best_loss", "history", "best_state")}
            log.info("resuming run %s at epoch %d", run_id, state["epoch"])
        else:
            log.warning("ignoring %s: it belongs to another configuration or data set", resume_path)
    if state["epoch"] == 0 and train_cfg.init_from:
        _warm_start(model, Path(train_cfg.init_from), tokenizer, device)
    loader_gen = torch.Generator().manual_seed(train_cfg.seed)
    dataset = TensorDataset(data.tokens[train_idx], data.targets[train_idx])
    info = {
        "run_id": run_id,
        "data_hash": dhash,
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "n_labelled_train": int(np.isfinite(data.targets[train_idx].numpy()).any(axis=1).sum())
        if target_names
        else 0,
        "train_config": asdict(train_cfg),
        "device": str(device),
    }
    while state["epoch"] < train_cfg.max_epochs and not _should_stop(state["history"], train_cfg):
        epoch = state["epoch"] + 1
        loader_gen.manual_seed(train_cfg.seed * 100003 + epoch)
        loader = DataLoader(
            dataset, batch_size=train_cfg.batch_size, shuffle=True, generator=loader_gen
        )
        model.train()
        start, seen, running = time.perf_counter(), 0, 0.0
        bar = tqdm(
            loader, desc=f"epoch {epoch}", unit="batch", leave=False, disable=not train_cfg.progress
        )
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            parts = vae_loss(model(x), x, y if target_names else None, model_cfg.kl_weight)
            opt.zero_grad(set_to_none=True)
            parts.total.backward()
            opt.step()
            seen += len(x)
            running += float(parts.total.detach()) * len(x)
            bar.set_postfix(loss=f"{running / seen:.4f}")
        seconds = time.perf_counter() - start
        val = evaluate(model, data, val_idx)
        sched.step(val["loss"])
        record = {
            "epoch": epoch,
            "train_loss": running / max(seen, 1),
            "samples_per_s": seen / seconds,
            "lr": opt.param_groups[0]["lr"],
            **{f"val_{k}": v for k, v in val.items()},
        }
        state["history"].append(record)
        if val["loss"] < state["best_loss"]:
            state["best_loss"] = val["loss"]
            state["best_state"] = {
                k: v.detach().cpu().clone() for k, v in model.state_dict().items()
            }
            save_checkpoint(
                out_dir / "model.pt",
                model,
                tokenizer,
                target_names,
                data.mean,
                data.std,
                {**info, "epoch": epoch, "val": val},
            )
        state["epoch"] = epoch
        with open(metrics_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        log.info("epoch %d: %s", epoch, json.dumps(record))
        torch.save(
            {
                "run_id": run_id,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": torch.get_rng_state(),
                **state,
            },
            resume_path,
        )
    best = min(state["history"], key=lambda r: r["val_loss"]) if state["history"] else {}
    return {
        "run_id": run_id,
        "epochs": state["epoch"],
        "best": best,
        "checkpoint": str(out_dir / "model.pt"),
    }


def _warm_start(model: GaussVAE, path: Path, tokenizer: Tokenizer, device) -> None:
    """Start from another checkpoint's weights; its tokenizer and shapes must match."""
    saved = torch.load(path, map_location=device, weights_only=True)
    if saved.get("tokenizer") != tokenizer.to_dict():
        raise ValueError(f"init_from {path}: its tokenizer differs from this run's")
    model.load_state_dict(saved["state_dict"])
    log.info("warm start from %s", path)


def _should_stop(history: list[dict], cfg: TrainConfig) -> bool:
    """Stop when the best validation loss improved by less than stop_delta over the window."""
    if len(history) <= cfg.stop_window:
        return False
    losses = [r["val_loss"] for r in history]
    before = min(losses[: -cfg.stop_window])
    return before - min(losses) < cfg.stop_delta
