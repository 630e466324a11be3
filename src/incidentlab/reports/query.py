"""The timeline filters (window, pivot slice, systems, streams, ...) as one value, and the SQL for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ..timeparse import parse_ts

SEVERITIES = ["debug", "info", "warning", "error", "critical"]


def parse_time(value: Any, what: str) -> datetime | None:
    """ISO 8601 (or a datetime) -> aware UTC datetime; naive input is read as UTC; '' -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    parsed, _quality = parse_ts(str(value).strip())
    if parsed is None:
        raise UsageError(f"{what}: cannot read {value!r} as a time",
                         hint="use ISO 8601, e.g. 2026-03-01T09:15:00Z")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def as_list(value: Any) -> list[str]:
    """A list parameter given as a list, a comma-separated string or nothing."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


@dataclass
class Filters:
    start: datetime | None = None
    end: datetime | None = None
    pivot: datetime | None = None
    span_minutes: float = 30
    systems: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)
    correlation_id: str | None = None
    event_types: list[str] = field(default_factory=list)
    min_severity: str | None = None
    limit: int | None = None

    @classmethod
    def build(cls, **kwargs: Any) -> Filters:
        f = cls(
            start=parse_time(kwargs.get("start"), "start"),
            end=parse_time(kwargs.get("end"), "end"),
            pivot=parse_time(kwargs.get("pivot"), "pivot"),
            span_minutes=float(kwargs.get("span_minutes") or 30),
            systems=as_list(kwargs.get("systems")),
            projects=as_list(kwargs.get("projects")),
            streams=as_list(kwargs.get("streams")),
            correlation_id=kwargs.get("correlation_id") or None,
            event_types=as_list(kwargs.get("event_types")),
            min_severity=kwargs.get("min_severity") or None,
            limit=int(kwargs["limit"]) if kwargs.get("limit") else None,
        )
        if f.min_severity and f.min_severity not in SEVERITIES:
            raise UsageError(f"unknown severity {f.min_severity!r}",
                             hint=f"choose one of: {', '.join(SEVERITIES)}")
        if f.start and f.end and f.start > f.end:
            raise UsageError(f"start {f.start} is after end {f.end}")
        return f

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The effective window: pivot ± span when a pivot is set, else start/end."""
        if self.pivot is not None:
            span = timedelta(minutes=self.span_minutes)
            return self.pivot - span, self.pivot + span
        return self.start, self.end

    def to_dict(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


def where_sql(f: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    start, end = f.window()
    if start is not None:
        clauses.append("ts >= ?")
        params.append(start)
    if end is not None:
        clauses.append("ts <= ?")
        params.append(end)
    for column, values in (("system", f.systems), ("project", f.projects),
                           ("stream", f.streams), ("event_type", f.event_types)):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    if f.correlation_id:
        clauses.append("correlation_id = ?")
        params.append(f.correlation_id)
    if f.min_severity:
        allowed = SEVERITIES[SEVERITIES.index(f.min_severity):]
        clauses.append(f"severity IN ({', '.join('?' for _ in allowed)})")
        params.extend(allowed)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def events_sql(f: Filters, columns: str = "*") -> tuple[str, list[Any]]:
    """SQL (and its parameters) for the non-mirror events matching the filters, in time order."""
    where, params = where_sql(f)
    limit = f" LIMIT {int(f.limit)}" if f.limit else ""
    sql = (f"SELECT {columns} FROM timeline_events{where} "
           f"ORDER BY ts NULLS LAST, system, stream, seq, position{limit}")
    return sql, params


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
          ) -> pl.DataFrame:
    return con.sql(sql, params=params or None).pl()


def filtered_events(con: duckdb.DuckDBPyConnection, f: Filters, columns: str = "*") -> pl.DataFrame:
    return frame(con, *events_sql(f, columns))
