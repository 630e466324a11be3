"""Helpers shared by the CodingBuddy file loaders: JSON state documents and tolerant values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..base import Quarantine, excerpt
from ..records import read_object


def read_state(path: Path, key: str, what: str) -> tuple[dict[str, Any] | None, Quarantine | None]:
    """The JSON object of a state file that must hold `key`, or its one quarantined record."""
    doc, bad = read_object(path, 1)
    if bad is None and key not in doc.value:
        bad = Quarantine(1, f"no {key}", excerpt(doc.text))
    if bad is not None:
        return None, Quarantine(1, f"not a {what} JSON object ({bad.reason})", bad.raw)
    return doc.value, None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
