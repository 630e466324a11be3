"""The reading layer: one reader per input kind, none of which lets one record fail its file."""

from __future__ import annotations

from .document import Document, read_document
from .jsonlines import JsonLines
from .jsonvalue import parse_json
from .lineblocks import LineBlocks
from .text import decode, escaped, excerpt, iter_lines, iter_raw_lines

__all__ = [
    "Document",
    "JsonLines",
    "LineBlocks",
    "decode",
    "escaped",
    "excerpt",
    "iter_lines",
    "iter_raw_lines",
    "parse_json",
    "read_document",
]
