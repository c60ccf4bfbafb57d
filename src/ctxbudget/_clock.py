"""Time helpers: every datetime ctxbudget keeps is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the default ``now`` of stateful classes)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is read as UTC."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, not {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    """An ISO-8601 timestamp as an aware UTC datetime (naive text is read as UTC)."""
    if not isinstance(text, str):
        raise TypeError(f"expected an ISO timestamp string, not {type(text).__name__}")
    return as_utc(datetime.fromisoformat(text))


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
