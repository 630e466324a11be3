"""Python values to typed Arrow columns without ever raising; what could not be kept is counted."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class Dropped:
    """Values a column could not hold: how many, and the first one with its record number."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, column: str, value: Any, record_no: Any, reason: str) -> None:
        self.counts[column] = self.counts.get(column, 0) + 1
        if column not in self.examples:
            text = value if isinstance(value, str) else repr(value)
            self.examples[column] = {"record_no": record_no, "value": text[:200], "reason": reason}

    def as_fact(self) -> dict[str, Any]:
        return {c: {"count": n, **self.examples[c]} for c, n in sorted(self.counts.items())}


def json_text(value: Any) -> str | None:
    """A value as JSON text that any JSON reader accepts (NaN and lone surrogates repaired)."""
    if value is None:
        return None
    if isinstance(value, str) and _is_json(value):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    try:
        return json.dumps(value, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN / Infinity somewhere inside
        return json.dumps(_finite(value), default=str, ensure_ascii=False, allow_nan=False)


def _is_json(text: str) -> bool:
    """Loaders may hand over JSON text; any other string is stored as a JSON string."""
    try:
        json.loads(text, parse_constant=_reject)
    except (ValueError, RecursionError):
        return False
    return True


def _reject(name: str) -> None:
    raise ValueError(name)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def column(
    name: str,
    kind: str,
    values: Sequence[Any],
    record_nos: Sequence[Any],
    dropped: Dropped | Sequence[Dropped],
) -> pa.Array:
    """An Arrow array of `kind` (a store type name) from Python values; bad cells become NULL and
    are counted in `dropped` (one for all rows, or one per row when rows come from several loads)."""
    typ = ARROW_TYPES[kind]
    if kind == "JSON":
        values = [json_text(v) for v in values]
    # pyarrow truncates 5.5 to 5 for an integer column: such values take the checked path
    truncating = kind == "BIGINT" and any(
        isinstance(v, float) and not v.is_integer() for v in values)
    try:
        if not truncating:
            return pa.array(values, type=typ)
    except (pa.ArrowException, TypeError, ValueError, OverflowError, UnicodeError):
        pass
    owners = [dropped] * len(values) if isinstance(dropped, Dropped) else dropped
    cells = []
    for value, record_no, owner in zip(values, record_nos, owners, strict=True):
        cell, reason = _cell(kind, value)
        if reason:
            owner.add(name, value, record_no, reason)
        cells.append(cell)
    return pa.array(cells, type=typ)


def _cell(kind: str, value: Any) -> tuple[Any, str | None]:
    """One value as `kind`: (value, None), or (the nearest storable value or None, why not)."""
    if value is None:
        return None, None
    if kind in ("VARCHAR", "JSON"):
        return _text(value), None
    if kind == "BIGINT":
        if isinstance(value, bool):
            return None, "a boolean, not an integer"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            return None, "not an integer"
        if not _INT64[0] <= value <= _INT64[1]:
            return None, "integer beyond the 64-bit range"
        return value, None
    if kind == "DOUBLE":
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return float(value), None
            except OverflowError:
                return None, "number beyond the range of a double"
        return None, "not a number"
    if kind == "BOOLEAN":
        return (value, None) if isinstance(value, bool) else (None, "not a boolean")
    if kind == "TIMESTAMPTZ":
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)), None
        return None, "not a timestamp"
    return None, f"unknown column type {kind}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return _text(json_text(value) or "")
    return _text(str(value))


def domain_table(rows: list[dict[str, Any]], keys: list[str]) -> pa.Table:
    """Rows of a domain table: each column typed by its values, falling back to text when mixed."""
    arrays = []
    for key in keys:
        values = [row.get(key) for row in rows]
        values = [json_text(v) if isinstance(v, dict | list) else v for v in values]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowException, TypeError, ValueError, OverflowError, UnicodeError):
            arrays.append(pa.array([None if v is None else _text(v) for v in values], pa.string()))
    return pa.Table.from_arrays(arrays, names=keys)
