"""Event listings for reports and exports: a scope plus type, severity and limit filters, and their SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ..scope import FIELDS as SCOPE_FIELDS
from ..scope import Scope, as_list, parse_time

__all__ = ["SEVERITIES", "Filters", "Scope", "as_list", "events_sql", "filtered_events", "frame",
           "parse_time", "where_sql"]

SEVERITIES = ["debug", "info", "warning", "error", "critical"]


@dataclass(frozen=True)
class Filters:
    """A scope plus what a listing of events adds: event types, a severity floor, a limit."""

    scope: Scope = field(default_factory=Scope)
    event_types: tuple[str, ...] = ()
    min_severity: str | None = None
    limit: int | None = None

    @classmethod
    def build(cls, scope: Scope | None = None, **kwargs: Any) -> Filters:
        """From a Scope and/or its fields (see Scope.build), plus event_types, min_severity
        and limit."""
        fields = {k: kwargs.pop(k) for k in SCOPE_FIELDS if k in kwargs}
        min_severity = kwargs.pop("min_severity", None) or None
        if min_severity and min_severity not in SEVERITIES:
            raise UsageError(f"unknown severity {min_severity!r}",
                             hint=f"choose one of: {', '.join(SEVERITIES)}")
        limit = kwargs.pop("limit", None)
        event_types = tuple(as_list(kwargs.pop("event_types", None)))
        if kwargs:
            raise UsageError(f"unknown filter(s): {', '.join(sorted(kwargs))}")
        return cls(Scope.of(scope, **fields), event_types, min_severity,
                   int(limit) if limit else None)


def where_sql(f: Filters) -> tuple[str, list[Any]]:
    clauses = [f.scope.sql()]
    params: list[Any] = []
    if f.event_types:  # like the timeline: `security.*` matches a prefix
        exact = [t for t in f.event_types if not t.endswith(".*")]
        prefixes = [t[:-1] for t in f.event_types if t.endswith(".*")]
        ors = [f"event_type IN ({', '.join('?' for _ in exact)})"] if exact else []
        ors += ["starts_with(event_type, ?)" for _ in prefixes]
        clauses.append("(" + " OR ".join(ors) + ")")
        params.extend([*exact, *prefixes])
    if f.min_severity:
        allowed = SEVERITIES[SEVERITIES.index(f.min_severity):]
        clauses.append(f"severity IN ({', '.join('?' for _ in allowed)})")
        params.extend(allowed)
    return " WHERE " + " AND ".join(clauses), params


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
