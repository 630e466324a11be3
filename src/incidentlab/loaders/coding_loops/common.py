"""Helpers shared by the coding-loops loaders: loop names, typed domain tables, JSON cells."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..reading import parse_json
from ..records import number as as_number

MESSAGE_LIMIT = 500
_INT64 = (-(2**63), 2**63 - 1)


def loop_name(path: Path) -> str | None:
    """The `loop-*` folder that holds the artifact: the event's project."""
    for parent in path.parents:
        if parent.name.startswith("loop-"):
            return parent.name
    return None


def file_mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def json_cell(value: Any) -> Any:
    """A JSON-encoded TEXT column as its value; text that is not usable JSON stays as it was."""
    if not isinstance(value, str):
        return value
    parsed, problem = parse_json(value)
    return value if problem else parsed


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


def fits_int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]


def _fits(value: Any, typ: pa.DataType) -> bool:
    if value is None:
        return True
    if typ == pa.int64():
        return fits_int64(value)
    if typ == pa.bool_():
        return isinstance(value, bool)
    if typ == pa.float64():
        return as_number(value) is not None
    return True


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex()
    text = raw_json(value) if isinstance(value, dict | list) else str(value)
    # a lone surrogate (\ud800) cannot be stored as UTF-8: it becomes U+FFFD
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _column(values: list[Any], typ: pa.DataType) -> pa.Array:
    """Values as `typ`; a column holding values of another type becomes text."""
    if typ != pa.string() and all(_fits(v, typ) for v in values):
        try:
            return pa.array(values, typ)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
    return pa.array([_text(v) for v in values], pa.string())


def typed_table(rows: list[dict[str, Any]], declared: dict[str, str]) -> pa.Table:
    """Rows as an Arrow table typed by the declared column types, so the schema never depends on
    which values happened to be NULL; a column holding values of another type becomes text."""
    names = list(dict.fromkeys(k for row in rows for k in row)) or list(declared)
    arrays = [
        _column([row.get(name) for row in rows], _arrow_type(declared.get(name, "")))
        for name in names
    ]
    return pa.Table.from_arrays(arrays, names=names)


def raw_json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
