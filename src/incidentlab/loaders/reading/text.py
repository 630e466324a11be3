"""Text from evidence bytes: tolerant decoding, the raw bytes kept exactly, physical line numbers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

BOM = b"\xef\xbb\xbf"
# Quarantined records keep their bytes; beyond this only the head is kept, with the total size.
RAW_LIMIT = 1 << 20


def decode(raw: bytes) -> str:
    """Readable text: invalid UTF-8 becomes U+FFFD, so a bad byte never stops a record."""
    return raw.decode("utf-8", "replace")


def escaped(raw: bytes) -> str:
    """The bytes exactly, as text: valid UTF-8 as is, each invalid byte as a \\xNN escape."""
    return raw.decode("utf-8", "backslashreplace")


def excerpt(text: str | bytes | None, limit: int = RAW_LIMIT) -> str | None:
    """A record's raw text for quarantine: whole up to `limit` characters, else its head."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = escaped(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [{len(text)} characters in all]"


def iter_raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based physical line number, bytes without the newline) for every line that is not blank.

    Lines are split on LF only (a CR stays in its line, as most JSON Lines writers mean it); blank
    and whitespace-only lines are skipped but still counted, and a leading UTF-8 BOM is dropped.
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = clean_line(number, raw)
            if line is not None:
                yield number, line


def clean_line(number: int, raw: bytes) -> bytes | None:
    """Line `number`'s bytes as iter_raw_lines gives them, or None when the line is blank."""
    if number == 1 and raw.startswith(BOM):
        raw = raw[len(BOM):]
    raw = raw.rstrip(b"\r\n")
    return raw if raw.strip() else None


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(physical line number, decoded text) for every non-blank line; see iter_raw_lines."""
    for number, raw in iter_raw_lines(path):
        yield number, decode(raw)
