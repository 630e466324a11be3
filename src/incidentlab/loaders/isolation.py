"""One record's values never fail its file: a JSON-object document reader and a per-record guard."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .reading import Document, read_document
from .reading.quarantine import Quarantine
from .reading.text import excerpt

T = TypeVar("T")

# What a value of an unexpected type or size raises in a loader's own code (never a file's fault).
RECORD_ERRORS = (
    TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError,
)


def read_object(path: Path, record_no: int) -> tuple[Document, Quarantine | None]:
    """A JSON object document (plain or gzip), or the one quarantine record saying why it is not."""
    doc = read_document(path)
    if doc.problem is not None:
        return doc, dataclasses.replace(doc.problem, record_no=record_no)
    if not isinstance(doc.value, dict):
        return doc, Quarantine(record_no, "not a JSON object", excerpt(doc.text))
    return doc, None


def number(value: object) -> float | None:
    """A JSON number as a float; None for other types and for integers no double holds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def dumped(value: object) -> str:
    """A parsed value as JSON text again, e.g. for the raw of a quarantined list item."""
    return json.dumps(value, ensure_ascii=False, default=str)


def value_problem(record_no: int | None, raw: str, exc: Exception) -> Quarantine:
    """The quarantine record for a record whose values broke the loader's code."""
    reason = f"unexpected value ({type(exc).__name__}: {exc})"
    return Quarantine(record_no, reason[:500], excerpt(raw))


def isolated(
    bad: list[Quarantine], record_no: int | None, raw: str, build: Callable[..., T], *args: Any
) -> T | None:
    """build(*args) one record's rows; a value the loader cannot handle quarantines that record.

    `build` must not leave rows behind itself: it returns them, and the caller keeps them.
    """
    try:
        return build(*args)
    except RECORD_ERRORS as exc:
        bad.append(value_problem(record_no, raw, exc))
        return None
