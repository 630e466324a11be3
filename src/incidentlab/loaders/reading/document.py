"""Whole JSON documents (plain or gzip): parsed once, or one quarantine record saying why not."""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jsonvalue import MAX_TEXT, parse_json
from .quarantine import Quarantine
from .text import BOM, decode, excerpt

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Document:
    """A JSON document: `value` when it parsed, else `problem` (one quarantined record)."""

    value: Any
    text: str
    problem: Quarantine | None = None
    gzipped: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None


def read_document(path: Path, *, max_depth: int | None = None) -> Document:
    """Read a JSON document: gunzipped when gzip, BOM dropped, bad bytes replaced, never raising."""
    data = path.read_bytes()
    gzipped = data[:2] == GZIP_MAGIC
    if gzipped:
        try:
            data = _gunzip(data)
        except (OSError, EOFError, zlib.error) as exc:
            return Document(None, "", Quarantine(None, f"corrupt gzip: {exc}", excerpt(data)), True)
    if data.startswith(BOM):
        data = data[len(BOM):]
    text = decode(data)
    value, reason = parse_json(text, **({"max_depth": max_depth} if max_depth else {}))
    if reason is not None:
        return Document(None, text, Quarantine(None, f"not a JSON document: {reason}",
                                                excerpt(data)), gzipped)
    return Document(value, text, None, gzipped)


def _gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
        out = handle.read(MAX_TEXT + 1)
    if len(out) > MAX_TEXT:
        raise OSError(f"decompresses to more than {MAX_TEXT} bytes")
    return out
