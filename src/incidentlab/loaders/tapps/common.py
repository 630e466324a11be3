"""Shared pieces of the Tapps loaders: event-type map, levels, naive local times, numbers."""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ...timeparse import has_zone
from ..base import LoadContext
from ..base import path_has as _path_has
from ..records import number

SYSTEM = "tapps"
RUNTIME_DIR = ".tapps-agents"
GZIP_MAGIC = b"\x1f\x8b"

# Workflow event log types (FORMATS §5.2) -> shared taxonomy.
EVENT_TYPES = {
    "workflow_start": "workflow.start",
    "workflow_end": "workflow.end",
    "step_start": "step.start",
    "step_finish": "step.finish",
    "step_fail": "step.fail",
    "step_skip": "step.skip",
    "step_retry": "step.retry",
    "artifact_created": "artifact.created",
}
OUTCOMES = {
    "completed": "ok",
    "complete": "ok",
    "success": "ok",
    "succeeded": "ok",
    "failed": "error",
    "failure": "error",
    "error": "error",
    "skipped": "skipped",
    "timeout": "timeout",
}
LEVELS = {
    "DEBUG": "debug",
    "INFO": "info",
    "WARNING": "warning",
    "WARN": "warning",
    "ERROR": "error",
    "CRITICAL": "critical",
    "FATAL": "critical",
}
STEP_END = {"completed": "step.finish", "failed": "step.fail", "skipped": "step.skip"}


def in_tapps(path: Path) -> bool:
    return _path_has(path, RUNTIME_DIR)


def outcome_of(status: object) -> str | None:
    return OUTCOMES.get(status.lower()) if isinstance(status, str) else None


def severity_of_level(level: object) -> str:
    return LEVELS.get(level.upper(), "info") if isinstance(level, str) else "info"


def local_ts(ctx: LoadContext, raw: object) -> tuple[datetime | None, str, bool]:
    """(ts, ts_quality, zone_unknown) for a source that writes naive LOCAL times.

    Without --tz a naive value is not guessed: ts NULL, quality 'missing', zone_unknown True.
    """
    ts, quality = ctx.parse_ts(raw, naive="local")
    unknown = (
        ts is None
        and ctx.tz is None
        and isinstance(raw, str)
        and not has_zone(raw)
        and ctx.parse_ts(raw, naive="utc")[0] is not None
    )
    return ts, quality, unknown


def raw_text(raw: object) -> str | None:
    """A value as the text it was written as: strings as is, objects and lists as JSON."""
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, dict | list):
        return json.dumps(raw, ensure_ascii=False, default=str)
    return str(raw)


def duration_ms(seconds: object) -> float | None:
    value = number(seconds)
    return None if value is None else value * 1000.0


def content_sha(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def gzip_head(head: bytes, limit: int = 8192) -> bytes:
    """The first decompressed bytes of a gzip head (for detection); b'' when not gzip."""
    if head[:2] != GZIP_MAGIC:
        return b""
    try:
        return zlib.decompressobj(wbits=31).decompress(head, limit)
    except zlib.error:
        return b""


def mtime_of(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def existing_keys(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> set[tuple]:
    """Rows of an earlier load (for mirror marking); empty when the table does not exist yet."""
    try:
        return {tuple(row) for row in con.execute(sql, params or []).fetchall()}
    except duckdb.CatalogException:
        return set()
