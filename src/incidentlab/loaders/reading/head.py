"""Detection reads of a file's head (at most 64 KiB): never raising, past a BOM and damage."""

from __future__ import annotations

from typing import Any

from .jsonvalue import parse_json
from .text import BOM, decode

DETECT_BYTES = 64 * 1024


def head_objects(head: bytes, limit: int = 3) -> list[dict[str, Any]]:
    """The first `limit` JSON-object lines of a head; malformed lines and a line cut by the
    head's end are skipped, so one damaged first line does not hide the file's kind."""
    lines = head.removeprefix(BOM).split(b"\n")
    if len(head) >= DETECT_BYTES:
        lines = lines[:-1]
    found: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        value, problem = parse_json(decode(line))
        if problem is None and isinstance(value, dict):
            found.append(value)
            if len(found) >= limit:
                break
    return found


def document_start(head: bytes) -> bytes:
    """The first byte of a JSON document's head, past a BOM, whitespace and NUL padding."""
    return head.removeprefix(BOM).lstrip(b" \t\r\n\x00")[:1]


def object_head(head: bytes) -> bool:
    """The file starts with a JSON object."""
    return document_start(head) == b"{"
