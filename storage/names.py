"""Campaign names are untrusted: they become directory names, so only a strict pattern passes.

A campaign's directory is computed here and nowhere else, from a validated name only; no other
user text is ever joined into a store path.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
NAME_RULE = "1-64 characters from a-z, 0-9, '_' and '-', starting with a letter or digit"


def _shown(value: object) -> str:
    """repr of the value, shortened so a huge name cannot flood a log line."""
    text = repr(value)
    if len(text) > 80:
        size = f" ({len(value)} characters)" if isinstance(value, str) else ""
        return f"{text[:70]}...{size}"
    return text


def validate_campaign_name(name: object) -> str:
    """Return the name unchanged if it is safe as a directory name, else raise ValueError.

    fullmatch (not match with `$`) so a trailing newline cannot slip through.
    """
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(f"invalid campaign name {_shown(name)}: use {NAME_RULE}")
    return name


def campaign_dir(root: Path | str, name: str) -> Path:
    """Directory of campaign `name` under `root` (the name is validated first)."""
    return Path(root) / validate_campaign_name(name)
