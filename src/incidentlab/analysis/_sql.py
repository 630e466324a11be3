"""Small SQL helpers shared by the analysis modules: filters, time bounds, frames out of DuckDB."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ..membership import one_of
from ..timeparse import parse_ts

SEVERITY_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
SEVERITY_SQL = (
    "CASE severity WHEN 'debug' THEN 0 WHEN 'info' THEN 1 WHEN 'warning' THEN 2 "
    "WHEN 'error' THEN 3 WHEN 'critical' THEN 4 ELSE 1 END"
)


def to_ts(value: Any, what: str = "time") -> datetime | None:
    """A user-given time (datetime or ISO text, naive = UTC) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed, _quality = parse_ts(str(value))
    if parsed is None:
        raise UsageError(
            f"cannot read {what} {value!r}", hint="give an ISO time such as 2026-03-01T09:15:00Z"
        )
    return parsed


def frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> pl.DataFrame:
    if isinstance(params, dict):
        params = {k: v for k, v in params.items() if f"${k}" in sql}
    relation = con.sql(sql, params=params or None)
    out = pl.from_arrow(relation.to_arrow_table()) if relation is not None else pl.DataFrame()
    assert isinstance(out, pl.DataFrame)
    return out


class Where:
    """Collects `AND`-ed SQL conditions with their positional parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> Where:
        self.parts.append(sql)
        self.params.extend(params)
        return self

    def within(self, column: str, start: Any, end: Any) -> Where:
        if start is not None:
            self.add(f"{column} >= ?", to_ts(start, "start"))
        if end is not None:
            self.add(f"{column} <= ?", to_ts(end, "end"))
        return self

    def one_of(self, column: str, values: Any) -> Where:
        if values is None:
            return self
        items = [values] if isinstance(values, str) else list(values)
        if not items:
            return self.add("false")
        return self.add(one_of(column, ["?"] * len(items)), *items)

    def sql(self, keyword: str = "WHERE") -> str:
        return f"{keyword} " + " AND ".join(f"({p})" for p in self.parts) if self.parts else ""


def quote(text: str) -> str:
    """A SQL string literal (for values that come from rules files, not from users' data)."""
    return "'" + text.replace("'", "''") + "'"


def interval(text: str) -> str:
    """'5 minutes' -> INTERVAL '5 minutes', validated so a rules file cannot inject SQL here."""
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(second|minute|hour|day)s?\s*", text or ""):
        raise UsageError(
            f"bad duration {text!r}", hint="write durations like '30 seconds', '5 minutes', '2 hours'"
        )
    return f"INTERVAL '{text.strip()}'"


def seconds(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(second|minute|hour|day)s?\s*", text or "")
    if not match:
        raise UsageError(f"bad duration {text!r}", hint="write durations like '5 minutes'")
    unit = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[match.group(2)]
    return float(match.group(1)) * unit
