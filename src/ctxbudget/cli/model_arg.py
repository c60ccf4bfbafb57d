"""A model named on the command line: known to the registry, or a usage error that says what to do."""

from __future__ import annotations

from ..errors import UnknownModelError
from ..models.registry import resolve_model
from ..tokenizers.factory import registered_backend
from .common import UsageError


def known_model(name: str, *, hint: str = "") -> str:
    """``name`` stripped, if the registry (or a registered backend) knows it; else one line, plus ``hint``."""
    name = name.strip()
    try:
        resolve_model(name)
    except UnknownModelError as exc:
        if registered_backend(name) is None:
            raise UsageError(f"{exc}{hint}") from None
    return name
