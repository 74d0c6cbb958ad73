"""The GAUSS-II VAE: bidirectional-GRU SMILES autoencoder with a property head on the latent.

Architecture from the paper's Methods: encoder of three bidirectional GRUs (hidden 128, 96,
32) -> dense mu and log sigma^2 (latent 32); decoder of two bidirectional GRUs (128, n_tokens)
fed with the latent vector repeated over the sequence -> dense logits. Property heads: the
proxy head (32 -> 32 -> 4, LeakyReLU, dropout 0.2) on a normalised latent vector, or the
structural KD head (latent + 6 structural features -> 32 -> 8 -> 7, LeakyReLU/SiLU, dropout
0.005). Hyper-parameters travel with the checkpoint so a model rebuilds itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gauss.tokenizer import Tokenizer

CHECKPOINT_FORMAT = 1
HEADS = ("proxy", "kd", "none")


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild the network (stored in the checkpoint)."""

    vocab_size: int
    max_len: int
    latent: int = 32
    encoder_hidden: tuple[int, ...] = (128, 96, 32)
    decoder_hidden: int = 128
    head: str = "proxy"
    n_targets: int = 4
    n_structural: int = 6
    kl_weight: float = 0.01
    proxy_dropout: float = 0.2
    kd_dropout: float = 0.005

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; use one of {HEADS}")
        object.__setattr__(self, "encoder_hidden", tuple(self.encoder_hidden))


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        sizes = [cfg.vocab_size, *[2 * h for h in cfg.encoder_hidden[:-1]]]
        self.grus = nn.ModuleList(
            nn.GRU(n_in, h, batch_first=True, bidirectional=True)
            for n_in, h in zip(sizes, cfg.encoder_hidden, strict=True)
        )
        self.mu = nn.Linear(2 * cfg.encoder_hidden[-1], cfg.latent)
        self.logvar = nn.Linear(2 * cfg.encoder_hidden[-1], cfg.latent)
        self.vocab_size = cfg.vocab_size

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.one_hot(tokens, self.vocab_size).float()
        h_n = None
        for gru in self.grus:
            x, h_n = gru(x)
        final = torch.cat([h_n[0], h_n[1]], dim=-1)  # both directions of the last layer
        return self.mu(final), self.logvar(final)


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.gru1 = nn.GRU(cfg.latent, cfg.decoder_hidden, batch_first=True, bidirectional=True)
        self.gru2 = nn.GRU(
            2 * cfg.decoder_hidden, cfg.vocab_size, batch_first=True, bidirectional=True
        )
        self.out = nn.Linear(2 * cfg.vocab_size, cfg.vocab_size)
        self.max_len = cfg.max_len

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.unsqueeze(1).expand(-1, self.max_len, -1)
        x, _ = self.gru1(x)
        x, _ = self.gru2(x)
        return self.out(x)  # (batch, max_len, vocab) logits


def _proxy_head(cfg: VAEConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(cfg.latent, 32),
        nn.LeakyReLU(),
        nn.Dropout(cfg.proxy_dropout),
        nn.Linear(32, cfg.n_targets),
    )


def _kd_head(cfg: VAEConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(cfg.latent + cfg.n_structural, 32),
        nn.LeakyReLU(),
        nn.Dropout(cfg.kd_dropout),
        nn.Linear(32, 8),
        nn.SiLU(),
        nn.Dropout(cfg.kd_dropout),
        nn.Linear(8, cfg.n_targets),
    )


class GaussVAE(nn.Module):
    """VAE + optional property head; `forward` returns everything the loss needs."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # "normalised latent vector": per-dimension standardisation with running statistics
        self.norm = nn.BatchNorm1d(cfg.latent, affine=False)
        heads = {"proxy": _proxy_head, "kd": _kd_head}
        self.head = heads[cfg.head](cfg) if cfg.head in heads else None

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(tokens)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def predict(self, z: torch.Tensor, structural: torch.Tensor | None = None) -> torch.Tensor:
        """Standardised property predictions from latent vectors."""
        if self.head is None:
            raise ValueError("this model was built without a property head")
        h = self.norm(z)
        if self.cfg.head == "kd":
            if structural is None:
                raise ValueError("the KD head needs the 6 structural features")
            h = torch.cat([h, structural], dim=-1)
        return self.head(h)

    def forward(
        self, tokens: torch.Tensor, structural: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(tokens)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        out = {"mu": mu, "logvar": logvar, "logits": self.decode_logits(z)}
        if self.head is not None:
            out["pred"] = self.predict(z, structural)
        return out


@dataclass
class LossParts:
    total: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    prop: torch.Tensor
    n_labelled: int = 0
    extra: dict = field(default_factory=dict)


def masked_mse(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, int]:
    """MSE over labelled entries only (NaN = unlabelled): unlabelled rows give no gradient."""
    mask = ~torch.isnan(target)
    n = int(mask.sum())
    if n == 0:
        return pred.sum() * 0.0, 0
    diff = torch.where(mask, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    return (diff**2).sum() / n, n


def vae_loss(
    out: dict[str, torch.Tensor], tokens: torch.Tensor, targets: torch.Tensor | None, kl_weight
) -> LossParts:
    """Loss = reconstruction CE + alpha * normalised KL + masked property MSE (paper, Methods)."""
    recon = F.cross_entropy(out["logits"].transpose(1, 2), tokens)
    mu, logvar = out["mu"], out["logvar"]
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean()
    prop, n = (
        masked_mse(out["pred"], targets)
        if targets is not None and "pred" in out
        else (recon * 0.0, 0)
    )
    return LossParts(recon + kl_weight * kl + prop, recon, kl, prop, n)


def greedy_decode(model: GaussVAE, z: torch.Tensor) -> torch.Tensor:
    """Most likely token per position (the decoder is not autoregressive: one pass)."""
    return model.decode_logits(z).argmax(dim=-1)


# --- checkpoints ----------------------------------------------------------------------


def save_checkpoint(
    path: Path,
    model: GaussVAE,
    tokenizer: Tokenizer,
    target_names: list[str],
    target_mean: list[float],
    target_std: list[float],
    info: dict | None = None,
) -> None:
    """Everything to rebuild and use the model, loadable with torch.load(weights_only=True)."""
    cfg = asdict(model.cfg)
    cfg["encoder_hidden"] = list(cfg["encoder_hidden"])
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": cfg,
        "tokenizer": tokenizer.to_dict(),
        "targets": {
            "names": list(target_names),
            "mean": [float(x) for x in target_mean],
            "std": [float(x) for x in target_std],
        },
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "info": info or {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


@dataclass
class LoadedModel:
    model: GaussVAE
    tokenizer: Tokenizer
    target_names: list[str]
    target_mean: torch.Tensor
    target_std: torch.Tensor
    info: dict

    def unscale(self, pred: torch.Tensor) -> torch.Tensor:
        return pred * self.target_std + self.target_mean


def load_checkpoint(path: Path, device: str = "cpu") -> LoadedModel:
    """Rebuild a model from its checkpoint (weights_only: no pickled code is executed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    data = torch.load(path, map_location=device, weights_only=True)
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format {data.get('format')!r}")
    cfg = VAEConfig(**data["config"])
    model = GaussVAE(cfg).to(device)
    model.load_state_dict(data["state_dict"])
    model.eval()
    t = data["targets"]
    return LoadedModel(
        model,
        Tokenizer.from_dict(data["tokenizer"]),
        list(t["names"]),
        torch.tensor(t["mean"], dtype=torch.float32, device=device),
        torch.tensor(t["std"], dtype=torch.float32, device=device),
        dict(data.get("info", {})),
    )
