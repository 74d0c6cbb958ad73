"""Errors of the campaign store; each names the campaign (and table, column or round) involved."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: anything the campaign store refuses to do."""


class CampaignExists(StoreError):
    """create() on a campaign that already has metadata."""


class CampaignNotFound(StoreError):
    """A read or commit on a campaign that was never created."""


class CampaignLocked(StoreError):
    """Another writer (process or store object) holds the campaign's writer lock."""

    def __init__(self, campaign: str, holder: dict[str, object] | None):
        self.campaign = campaign
        self.holder = holder or {}
        shown = [k for k in ("pid", "host", "since") if k in self.holder]
        who = ", ".join(f"{k}={self.holder[k]}" for k in shown)
        super().__init__(
            f"campaign {campaign!r} is locked by another writer"
            + (f" ({who})" if who else " (holder unknown)")
            + "; only one round may run per campaign at a time"
        )


class RoundConflict(StoreError):
    """A round out of order, or a re-commit of a committed round with different content."""


class RoundNotCommitted(StoreError, LookupError):
    """A read of a round that has not been committed."""


class SchemaMismatch(StoreError, ValueError):
    """Rows whose columns or types do not fit the stored table; nothing was written."""


class StoreCorrupted(StoreError):
    """On-disk state that the store's own writes cannot produce (a damaged file)."""
