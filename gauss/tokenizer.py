"""SMILES tokenizers: the paper's one-hot characters, and a regex tokenizer of whole atoms.

The regex tokenizer keeps `Cl`, `Br`, bracket atoms such as `[O-]` or `[nH]` and `%nn` ring
bonds as single tokens, so the decoder cannot emit half an atom. Index 0 is padding (the
paper pads with a space); decoding stops at the first pad. The vocabulary and maximum length
come from the training set and are stored in the checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

PAD = " "
_SMILES_TOKEN = re.compile(r"(\[[^\]]+\]|Br|Cl|%\d{2}|[A-Za-z]|\d|[()=#\-+\\/:~@?>*$.])")
MODES = ("regex", "char")


class TokenizerError(ValueError):
    """A SMILES the tokenizer cannot encode; the message names it and the problem."""


def split(smiles: str, mode: str = "regex") -> list[str]:
    """Split a SMILES into tokens; every character must be covered."""
    if mode == "char":
        return list(smiles)
    if mode != "regex":
        raise TokenizerError(f"unknown tokenizer mode {mode!r}; use one of {MODES}")
    tokens = _SMILES_TOKEN.findall(smiles)
    if "".join(tokens) != smiles:
        raise TokenizerError(f"cannot tokenize SMILES {smiles!r}")
    return tokens


@dataclass(frozen=True)
class Tokenizer:
    """Vocabulary + maximum length; encode to index arrays, decode back to strings."""

    tokens: tuple[str, ...]
    max_len: int
    mode: str = "regex"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != PAD:
            raise TokenizerError("vocabulary must start with the pad token")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def fit(cls, smiles: Iterable[str], mode: str = "regex") -> Tokenizer:
        """Vocabulary and max length of a training set (sorted: deterministic)."""
        vocab: set[str] = set()
        longest = 0
        for smi in smiles:
            toks = split(smi, mode)
            vocab.update(toks)
            longest = max(longest, len(toks))
        if longest == 0:
            raise TokenizerError("cannot fit a tokenizer on an empty training set")
        vocab.discard(PAD)
        return cls((PAD, *sorted(vocab)), longest, mode)

    @property
    def size(self) -> int:
        return len(self.tokens)

    def encode(self, smiles: str) -> list[int]:
        toks = split(smiles, self.mode)
        unknown = sorted({t for t in toks if t not in self._index})
        if unknown:
            raise TokenizerError(f"SMILES {smiles!r} has tokens outside the vocabulary: {unknown}")
        if len(toks) > self.max_len:
            raise TokenizerError(
                f"SMILES {smiles!r} has {len(toks)} tokens; the model takes at most {self.max_len}"
            )
        return [self._index[t] for t in toks]

    def encode_batch(self, smiles: Sequence[str]) -> np.ndarray:
        """(n, max_len) int64 array, padded with 0."""
        out = np.zeros((len(smiles), self.max_len), dtype=np.int64)
        for row, smi in enumerate(smiles):
            ids = self.encode(smi)
            out[row, : len(ids)] = ids
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Tokens up to the first pad."""
        parts = []
        for i in ids:
            if i == 0:
                break
            parts.append(self.tokens[int(i)])
        return "".join(parts)

    def decode_batch(self, ids: np.ndarray) -> list[str]:
        """Vectorised decode: cut each row at its first pad, then join tokens."""
        ids = np.asarray(ids)
        is_pad = ids == 0
        lengths = np.where(is_pad.any(axis=1), is_pad.argmax(axis=1), ids.shape[1])
        table = np.array(self.tokens, dtype=object)
        return ["".join(table[row[:n]]) for row, n in zip(ids, lengths, strict=True)]

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "max_len": self.max_len, "mode": self.mode}

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        return cls(tuple(data["tokens"]), int(data["max_len"]), str(data["mode"]))
