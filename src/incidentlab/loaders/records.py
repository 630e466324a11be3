"""One record never fails its file: per-record guards, JSON documents as records, head detection."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .base import Quarantine, excerpt
from .reading import Document, read_document
from .reading.head import head_objects

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
    return Quarantine(record_no, unmapped(exc), excerpt(raw))


def unmapped(exc: Exception) -> str:
    """The quarantine reason for a record whose values broke the loader's mapping code."""
    detail = str(exc)
    detail = detail if len(detail) <= 200 else detail[:200] + "…"
    return f"record not mapped ({type(exc).__name__}: {detail})"


def isolated(
    bad: list[Quarantine], record_no: int | None, raw: str, build: Callable[..., T], *args: Any
) -> T | None:
    """build(*args) one record's rows; a value the loader cannot handle quarantines that record.

    `build` must not leave rows behind itself: it returns them, and the caller keeps them.
    """
    return guarded(bad, record_no, "", raw, build, *args)


class BadRecord(ValueError):
    """A record that cannot become rows; the message is the quarantine reason."""


def guarded(
    quarantine: list[Quarantine],
    record_no: int | None,
    label: str,
    raw: Any,
    build: Callable[..., T],
    *args: Any,
) -> T | None:
    """`build(*args)` for one record; a failure quarantines the record, never failing the file.

    `label` prefixes the reason (none for a file that is one record); `raw` is the record: a str
    is its raw text (a line), anything else is shown as JSON (rendered only when it fails).
    """
    try:
        return build(*args)
    except BadRecord as exc:
        problem = Quarantine(record_no, str(exc), _raw_text(raw))
    except RECORD_ERRORS as exc:  # a value of a type or size no valid record holds
        problem = value_problem(record_no, _raw_text(raw) or "", exc)
    if label:
        problem = dataclasses.replace(problem, reason=f"{label}: {problem.reason}")
    quarantine.append(problem)
    return None


def _raw_text(raw: Any) -> str | None:
    return excerpt(raw) if isinstance(raw, str) else raw_excerpt(raw)


def raw_excerpt(value: Any) -> str | None:
    """A quarantined record as JSON text (cut to the usual excerpt length)."""
    try:
        return excerpt(dumped(value))
    except (ValueError, RecursionError):
        return excerpt(repr(type(value)))


def read_doc(path: Path) -> tuple[Any, Quarantine | None]:
    """A whole JSON document, or the one quarantined record (record 1) saying why it is not."""
    doc = read_document(path)
    if doc.problem is not None:
        return None, dataclasses.replace(doc.problem, record_no=1)
    return doc.value, None


def head_has(head: bytes, keys: tuple[str, ...]) -> bool:
    """Detection on the first valid JSON lines: at least half of them carry all of `keys`."""
    records = head_objects(head)
    hits = sum(all(k in record for k in keys) for record in records)
    return bool(records) and hits * 2 >= len(records)
