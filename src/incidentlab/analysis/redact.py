"""The CLI's name for the one redactor (`incidentlab.redaction`), kept for existing imports."""

from __future__ import annotations

from ..redaction import (
    DEFAULT_PATTERNS,
    MASK,
    SECRET_KEYS,
    Redactor,
    escape_controls,
    redact_text,
    rules_patterns,
)

__all__ = ["DEFAULT_PATTERNS", "MASK", "SECRET_KEYS", "Redactor", "escape_controls",
           "redact_text", "rules_patterns"]
