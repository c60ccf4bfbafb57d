"""Small helpers shared by several modules."""

from __future__ import annotations

import os


def require_str(text: object, what: str = "text") -> str:
    """Return ``text`` if it is a ``str``; otherwise raise ``TypeError`` naming its type."""
    if type(text) is str or isinstance(text, str):
        return text
    raise TypeError(f"{what} must be str, not {type(text).__name__}")


def utilization_pct(used: float, limit: float) -> float:
    """``used/limit*100`` (may exceed 100); a zero limit reads 0.0 when nothing is used, else 100.0."""
    if limit > 0:
        return used / limit * 100.0
    return 0.0 if used == 0 else 100.0


def pure_requested() -> bool:
    """Whether ``CTXBUDGET_PURE`` asks for the pure-Python paths only (any value but empty, 0, false, no, off):
    the cache's hot path in Python, and no compiled accelerator guard."""
    return os.environ.get("CTXBUDGET_PURE", "").strip().lower() not in ("", "0", "false", "no", "off")
