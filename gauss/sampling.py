"""Local-perturbation (LP) sampling around seeds: z' = z + sigma * eps, batched.

All seeds are perturbed and decoded together under torch.no_grad() (the decoder emits the
whole string in one pass), then RDKit checks validity, the donor-first rule (first atom N or O
with a lone pair), canonical de-duplication and novelty against the corpus and any given set.
Donor-first ligands that break a structural rule (gauss.chem_rules: peroxides, remote charges,
...) are marked and never proposed. The sigma schedule follows the paper: start small (0.1)
and widen (0.2, 0.3) until each seed has N unique novel ligands or a step cap is reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from gauss import chem
from gauss.chem_rules import StructureRules, violations
from gauss.model import LoadedModel, greedy_decode

COLUMNS = [
    "seed_id",
    "sigma",
    "step",
    "smiles",
    "ligand",
    "canonical_smiles",
    "valid",
    "donor_ok",
    "chem_ok",
    "rejected_by",
    "novel",
    "unique",
]


@dataclass(frozen=True)
class SamplingPlan:
    """How hard to look around each seed (paper: 10 unique samples, sigma 0.1 then wider)."""

    n_per_seed: int = 10
    sigmas: tuple[float, ...] = (0.1, 0.2, 0.3)
    steps_per_sigma: int = 40
    batch_per_seed: int = 100
    seed: int = 0


@torch.no_grad()
def encode_smiles(lm: LoadedModel, smiles: Sequence[str], batch: int = 2048) -> np.ndarray:
    """Latent means (mu) of SMILES; unknown tokens raise TokenizerError naming the SMILES."""
    lm.model.eval()
    device = next(lm.model.parameters()).device
    out = []
    for start in range(0, len(smiles), batch):
        tokens = torch.from_numpy(lm.tokenizer.encode_batch(smiles[start : start + batch]))
        mu, _ = lm.model.encode(tokens.to(device))
        out.append(mu.cpu().numpy())
    if not out:
        return np.zeros((0, lm.model.cfg.latent), dtype=np.float32)
    return np.concatenate(out)


@torch.inference_mode()
def decode_ids(lm: LoadedModel, z: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Greedy token ids of many latents; chunks of ~256 ran fastest on 2 CPU cores."""
    lm.model.eval()
    device = next(lm.model.parameters()).device
    parts = [
        greedy_decode(
            lm.model, torch.as_tensor(z[s : s + chunk], dtype=torch.float32, device=device)
        )
        .cpu()
        .numpy()
        for s in range(0, len(z), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, lm.tokenizer.max_len), np.int64)


def decode_distinct(lm: LoadedModel, z: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Distinct decoded strings and, per latent, the index of its string.

    Identical token rows are merged before joining tokens and before RDKit: at small sigma
    most samples decode to the same few strings.
    """
    rows, inverse = np.unique(decode_ids(lm, z), axis=0, return_inverse=True)
    return lm.tokenizer.decode_batch(rows), inverse.reshape(-1)


def decode_latents(lm: LoadedModel, z: np.ndarray) -> list[str]:
    """Greedy decode of many latent vectors at once, one string per vector."""
    if len(z) == 0:
        return []
    strings, inverse = decode_distinct(lm, np.asarray(z, dtype=np.float32))
    return [strings[i] for i in inverse]


@torch.no_grad()
def predict_properties(lm: LoadedModel, z: np.ndarray) -> np.ndarray:
    """Proxy-head predictions in original units (columns = lm.target_names)."""
    lm.model.eval()
    zt = torch.as_tensor(z, dtype=torch.float32, device=lm.target_mean.device)
    return lm.unscale(lm.model.predict(zt)).cpu().numpy()


def perturb(seeds: np.ndarray, sigma: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n_seeds * n, latent) samples: each seed repeated n times plus sigma * N(0, 1) noise."""
    reps = np.repeat(np.asarray(seeds, dtype=np.float32), n, axis=0)
    return reps + sigma * rng.standard_normal(reps.shape, dtype=np.float32)


def check_sample(smiles: str) -> tuple[bool, bool, str, str]:
    """(valid, donor_ok, canonical, ligand key) of a decoded string.

    RDKit parse, then the donor rule; the key is the donor-first canonical SMILES.
    """
    try:
        mol = chem.strip_stereo(chem.parse(smiles))
        canonical = chem.kekule_canonical(mol)
    except chem.LigandError:
        return False, False, "", ""
    first = mol.GetAtomWithIdx(0)
    if first.GetSymbol() not in chem.DONOR_ELEMENTS or not chem.can_donate(first):
        return True, False, canonical, ""
    return True, True, canonical, chem.rooted_smiles(mol, 0)


def rule_violations(ligand_smiles: str, rules: StructureRules) -> str:
    """Comma-joined names of the rules a donor-first ligand breaks ('' when none)."""
    return ",".join(violations(chem.parse(ligand_smiles), rules))


def lp_sample(
    lm: LoadedModel,
    seeds: np.ndarray,
    known_canonical: Iterable[str] = (),
    plan: SamplingPlan = SamplingPlan(),
    seed_ids: Sequence | None = None,
    rules: StructureRules = StructureRules(),
) -> pd.DataFrame:
    """Sample around every seed until each has plan.n_per_seed unique novel ligands.

    `known_canonical` holds kekulized canonical SMILES that are not novel (corpus, labelled
    set, earlier candidates). Returns one row per decoded sample with flags; `unique` marks the
    first occurrence of a novel ligand for its seed (and across seeds, so no ligand is proposed
    twice in a round).
    """
    seeds = np.asarray(seeds, dtype=np.float32)
    if seeds.ndim != 2 or len(seeds) == 0:
        raise ValueError("lp_sample needs a non-empty (n_seeds, latent) array of seeds")
    seed_ids = list(range(len(seeds))) if seed_ids is None else list(seed_ids)
    if len(seed_ids) != len(seeds):
        raise ValueError(f"{len(seed_ids)} seed ids for {len(seeds)} seeds")
    known = set(known_canonical)
    rng = np.random.default_rng(plan.seed)
    found = np.zeros(len(seeds), dtype=int)
    taken: set[str] = set()
    check_cache: dict[str, tuple[bool, bool, str, str]] = {}
    rule_cache: dict[str, str] = {}
    frames = []
    step = 0
    for sigma in plan.sigmas:
        for _ in range(plan.steps_per_sigma):
            active = np.flatnonzero(found < plan.n_per_seed)
            if len(active) == 0:
                break
            z = perturb(seeds[active], sigma, plan.batch_per_seed, rng)
            decoded = decode_latents(lm, z)
            owners = np.repeat(active, plan.batch_per_seed)
            rows = []
            for owner, smi in zip(owners, decoded, strict=True):
                if smi not in check_cache:
                    check_cache[smi] = check_sample(smi)
                valid, donor_ok, canonical, key = check_cache[smi]
                if donor_ok and key not in rule_cache:
                    rule_cache[key] = rule_violations(key, rules)
                rejected = rule_cache.get(key, "")
                chem_ok = donor_ok and not rejected
                novel = chem_ok and canonical not in known
                unique = novel and key not in taken and found[owner] < plan.n_per_seed
                if unique:
                    taken.add(key)
                    found[owner] += 1
                rows.append(
                    (
                        seed_ids[owner],
                        sigma,
                        step,
                        smi,
                        key,
                        canonical,
                        valid,
                        donor_ok,
                        chem_ok,
                        rejected,
                        novel,
                        unique,
                    )
                )
            frames.append(pd.DataFrame(rows, columns=COLUMNS))
            step += 1
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)


def sample_stats(samples: pd.DataFrame) -> dict[str, float]:
    """Fractions of valid / donor-first / novel samples and the count of unique novel ones."""
    n = max(len(samples), 1)
    return {
        "samples": int(len(samples)),
        "valid": float(samples["valid"].sum() / n),
        "donor_ok": float(samples["donor_ok"].sum() / n),
        "novel": float(samples["novel"].sum() / n),
        "unique_novel": int(samples["unique"].sum()),
    }
