"""Redaction for reports: the analysis Redactor when installed, else a small built-in pattern set."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

MASK = "[REDACTED]"
_SECRET_NAME = re.compile(r"(?i)(secret|token|passw|api[_-]?key|credential|auth|private[_-]?key)")
_FALLBACK_PATTERNS = [
    r"\bsk-[A-Za-z0-9_\-]{16,}",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\bey[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    r"(?i)(?<=password=)\S+",
    r"(?i)(?<=password: )\S+",
    r"(?i)(?<=token=)\S+",
    r"(?i)(?<=secret=)\S+",
    r"(?i)(?<=api_key=)\S+",
    r"(?i)(?<=bearer )[A-Za-z0-9._\-]{12,}",
]


class _FallbackRedactor:
    def __init__(self) -> None:
        self.patterns = [re.compile(p) for p in _FALLBACK_PATTERNS]
        self.count = 0

    def text(self, s: str) -> str:
        for pattern in self.patterns:
            s, n = pattern.subn(MASK, s)
            self.count += n
        return s


def make_redactor(enabled: bool) -> Any | None:
    if not enabled:
        return None
    try:
        from ..analysis.redact import Redactor
    except ModuleNotFoundError as exc:
        if exc.name not in ("incidentlab.analysis.redact", "incidentlab.analysis"):
            raise
        return _FallbackRedactor()
    return Redactor()


def _fallback_hit(value: str) -> bool:
    return any(re.search(p, value) for p in _FALLBACK_PATTERNS)


def looks_secret(name: str, value: Any) -> bool:
    """A parameter that must not be echoed: a secret-like name, or a value a redactor would mask."""
    if value is None or value == "" or isinstance(value, bool | int | float):
        return False
    if _SECRET_NAME.search(name):
        return True
    text = str(value)
    redactor = make_redactor(True)
    return redactor.text(text) != text or _fallback_hit(text)


def mask_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: MASK if looks_secret(k, v) else v for k, v in params.items()}


def clean_text(redactor: Any | None, value: Any) -> Any:
    if redactor is None or not isinstance(value, str):
        return value
    return redactor.text(value)


def clean_frame(redactor: Any | None, df: pl.DataFrame) -> pl.DataFrame:
    """Redact every string column (JSON columns arrive as strings too)."""
    if redactor is None or df.is_empty():
        return df
    text_cols = [c for c, t in df.schema.items() if t == pl.String]
    list_cols = [c for c, t in df.schema.items() if t == pl.List(pl.String)]
    return df.with_columns(
        *(pl.col(c).map_elements(redactor.text, return_dtype=pl.String, skip_nulls=True)
          for c in text_cols),
        *(pl.col(c).map_elements(lambda xs: [clean_text(redactor, x) for x in xs],
                                 return_dtype=pl.List(pl.String), skip_nulls=True)
          for c in list_cols),
    )
