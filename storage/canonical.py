"""Canonical JSON: the one encoding behind every hash (calculation keys, spec and round shas).

Sorted keys, no whitespace, and strict: NaN, infinities and values JSON cannot hold (paths,
numpy scalars) are refused, naming what was being encoded, so a hash never depends on str()
of an object or on how NaN happens to print.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(data: Any, what: str = "data") -> str:
    """Sorted, compact, strict JSON; ValueError names `what` when `data` is not plain JSON."""
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not plain JSON: {exc}") from exc
