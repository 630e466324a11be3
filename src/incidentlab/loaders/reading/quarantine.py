"""A record that could not be loaded: where it is, why, and what it looked like."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quarantine:
    """One record that could not be loaded: where it is, why, and what it looked like."""

    record_no: int | None
    reason: str
    raw: str | None = None
