"""Helpers shared by the coding-loops loaders: loop names, typed domain tables, JSON cells."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..base import Quarantine, excerpt

MESSAGE_LIMIT = 500


def loop_name(path: Path) -> str | None:
    """The `loop-*` folder that holds the artifact: the event's project."""
    for parent in path.parents:
        if parent.name.startswith("loop-"):
            return parent.name
    return None


def file_mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def parse_json_text(value: Any) -> Any:
    """A JSON-encoded TEXT column as its value; text that is not JSON stays as it was."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def short(text: Any) -> str | None:
    if text is None:
        return None
    line = " ".join(str(text).split())
    return line if len(line) <= MESSAGE_LIMIT else line[:MESSAGE_LIMIT] + "…"


def _arrow_type(declared: str) -> pa.DataType:
    upper = declared.upper()
    if "BOOL" in upper:
        return pa.bool_()
    if "INT" in upper:
        return pa.int64()
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    return pa.string()


def _fits(value: Any, typ: pa.DataType) -> bool:
    if value is None:
        return True
    if typ == pa.int64():
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == pa.bool_():
        return isinstance(value, bool)
    if typ == pa.float64():
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def typed_table(rows: list[dict[str, Any]], declared: dict[str, str]) -> pa.Table:
    """Rows as an Arrow table typed by the declared column types, so the schema never depends on
    which values happened to be NULL; a column holding values of another type becomes text."""
    names = list(dict.fromkeys(k for row in rows for k in row)) or list(declared)
    fields = []
    for name in names:
        typ = _arrow_type(declared.get(name, ""))
        if not all(_fits(row.get(name), typ) for row in rows):
            typ = pa.string()
        fields.append(pa.field(name, typ))
    schema = pa.schema(fields)
    prepared = [
        {
            f.name: (_text(row.get(f.name)) if f.type == pa.string() else row.get(f.name))
            for f in fields
        }
        for row in rows
    ]
    return pa.Table.from_pylist(prepared, schema=schema)


def read_json_doc(path: Path) -> tuple[Any, Quarantine | None]:
    """A whole JSON document, or one quarantine record saying why it is not one."""
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8-sig", "replace")), None
    except json.JSONDecodeError as exc:
        return None, Quarantine(exc.lineno, f"malformed JSON document: {exc.msg}", excerpt(raw))


def object_head(head: bytes) -> bool:
    return head.lstrip().startswith(b"{")


def raw_excerpt(value: Any) -> str | None:
    """A quarantined record as JSON text (cut to the usual excerpt length)."""
    return excerpt(json.dumps(value, default=str, ensure_ascii=False))
