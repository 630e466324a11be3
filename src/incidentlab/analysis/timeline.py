"""The merged incident timeline, silences and clock skew between sources (milestones: milestones.py)."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from ..membership import one_of
from ..scope import Scope
from ._sql import SEVERITY_RANK, SEVERITY_SQL, Where, frame
from .incidents import MTIME_SQL
from .milestones import MILESTONES, durations, milestones

__all__ = ["MILESTONES", "clock_skew", "durations", "hidden", "milestones", "silences",
           "timeline"]

# Equal timestamps: conversation-level records before telemetry about them (as Jido's
# incident_timeline ranks conversation=0 < telemetry=1), primary evidence before derived copies.
SOURCE_RANK_SQL = """CASE
    WHEN source IN ('telemetry', 'telemetry_jsonl', 'diagnostics', 'recent_events',
                    'recent_errors', 'observe_log', 'structured_log') THEN 2
    WHEN source IN ('store_sqlite', 'run_json', 'workflow_state', 'state_json') THEN 1
    ELSE 0 END"""

TIMELINE_COLUMNS = (
    "ts, system, source, stream, seq, position, project, correlation_id, event_type, "
    "event_type_raw, actor, name, outcome, severity, duration_ms, message, error_code, "
    "error_category, ts_quality, ts_raw, source_path, record_no, event_id"
)
ORDER = "ts, source_rank, system, source, stream, position, record_no, event_id"


def timeline(
    con: duckdb.DuckDBPyConnection,
    scope: Scope | None = None,
    *,
    event_types: Any = None,
    min_severity: str | None = None,
    limit: int | None = None,
    include_debug: bool = False,
    include_mtime: bool = False,
    **fields: Any,
) -> pl.DataFrame:
    """All sources merged in one stable order (ts, source rank, position), filtered and bounded.

    `scope` (or its fields: start, end, pivot with span_minutes, systems, projects, streams,
    correlation_id) says what is looked at; `limit` keeps the newest N entries (as Jido's
    incident_timeline does) but returns them oldest first. Event types ending in `.*` match a
    prefix (`security.*`). Events of severity debug (hook telemetry and the like) and events
    whose time is a file's mtime (a copy moves it: see incidents.MTIME_SQL) are left out unless
    asked for; `hidden` counts them.
    """
    where = _where(Scope.of(scope, **fields), event_types=event_types,
                   min_severity=min_severity)
    if not include_debug and min_severity is None:
        where.add("coalesce(severity, '') <> 'debug'")
    if not include_mtime:
        where.add(f"NOT {MTIME_SQL}")
    base = (
        f"SELECT {TIMELINE_COLUMNS}, {SOURCE_RANK_SQL} AS source_rank "
        f"FROM timeline_events {where.sql()}"
    )
    params = where.params
    if limit is not None:
        n = int(limit)
        newest = (f"ORDER BY ts DESC NULLS LAST, source_rank DESC, system DESC, source DESC, "
                  f"stream DESC, position DESC, record_no DESC, event_id DESC LIMIT {n}")
        # A top-N on ts alone first: with the N-th newest time as a bound the scan skips the
        # older row groups (events are stored in time order); untimed rows only fill a short list.
        timed = where.sql("AND") if where.parts else ""
        [(count, lo)] = con.execute(
            f"SELECT count(*), min(ts) FROM (SELECT ts FROM timeline_events WHERE ts IS NOT NULL "
            f"{timed} ORDER BY ts DESC LIMIT {n})", where.params).fetchall()
        bound = "WHERE ts >= ?" if count >= n else ""
        params = [*where.params, lo] if count >= n else where.params
        sql = f"SELECT * FROM (SELECT * FROM ({base}) {bound} {newest}) ORDER BY {ORDER}"
    else:
        sql = f"{base} ORDER BY {ORDER}"
    return frame(con, sql, params).drop("source_rank")


def hidden(con: duckdb.DuckDBPyConnection, scope: Scope | None = None, *,
           event_types: Any = None, min_severity: str | None = None,
           **fields: Any) -> dict[str, Any]:
    """What `timeline` leaves out by default in this scope: debug events, and events whose
    time is a file mtime, with the files they come from."""
    where = _where(Scope.of(scope, **fields), event_types=event_types,
                   min_severity=min_severity)
    sql = f"""
        SELECT count(*) FILTER (WHERE coalesce(severity, '') = 'debug') AS debug,
               count(*) FILTER (WHERE {MTIME_SQL}) AS mtime,
               list(DISTINCT source_path ORDER BY source_path) FILTER (WHERE {MTIME_SQL})
                   AS mtime_files
        FROM timeline_events {where.sql()}"""
    [(debug, mtime, files)] = con.execute(sql, where.params).fetchall()
    return {"debug": debug, "mtime": mtime, "mtime_files": files or []}


def _where(scope: Scope, *, event_types: Any = None, min_severity: str | None = None) -> Where:
    where = Where().add(scope.sql())
    if event_types is not None:
        types = [event_types] if isinstance(event_types, str) else list(event_types)
        exact = [t for t in types if not t.endswith(".*")]
        prefixes = [t[:-1] for t in types if t.endswith(".*")]
        parts = [one_of("event_type", ["?"] * len(exact))] if exact else []
        parts += ["starts_with(event_type, ?)" for _ in prefixes]
        where.add(" OR ".join(parts) or "false", *exact, *prefixes)
    if min_severity is not None:
        where.add(f"{SEVERITY_SQL} >= ?", SEVERITY_RANK.get(min_severity, 0))
    return where


def silences(
    con: duckdb.DuckDBPyConnection, scope: Scope | None = None, *,
    threshold_minutes: float = 10, **fields: Any,
) -> pl.DataFrame:
    """Gaps longer than the threshold between consecutive events of one stream (time order);
    times from file mtimes are not evidence of when anything happened, so they make no gap."""
    where = Where().add(f"ts IS NOT NULL AND NOT {MTIME_SQL}").add(
        Scope.of(scope, **fields).sql())
    sql = f"""
        SELECT stream, system, prev_ts AS gap_start, ts AS gap_end,
               date_diff('millisecond', prev_ts, ts) / 60000.0 AS gap_minutes
        FROM (SELECT stream, system, ts,
                     lag(ts) OVER (PARTITION BY system, stream ORDER BY ts, position) AS prev_ts
              FROM timeline_events {where.sql()})
        WHERE prev_ts IS NOT NULL AND ts - prev_ts > to_milliseconds(?::DOUBLE * 60000)
        ORDER BY gap_start, system, stream"""
    return frame(con, sql, [*where.params, float(threshold_minutes)])


def clock_skew(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Offset of system_b's clock relative to system_a, from correlation ids both recorded.

    For each shared correlation id the first sighting in each system is compared; the median of
    those differences (b - a) is the offset estimate, so one slow handoff does not dominate.
    """
    sql = """
        WITH firsts AS (
            SELECT correlation_id, system, min(ts) AS ts
            FROM timeline_events
            WHERE correlation_id IS NOT NULL AND ts IS NOT NULL
            GROUP BY correlation_id, system
        ), shared AS (
            SELECT correlation_id FROM firsts GROUP BY correlation_id HAVING count(*) > 1
        )
        SELECT a.system AS system_a, b.system AS system_b,
               median(date_diff('microsecond', a.ts, b.ts)) / 1e6 AS offset_seconds,
               count(*) AS n_pairs
        FROM firsts a JOIN firsts b
          ON a.correlation_id = b.correlation_id AND a.system < b.system
        WHERE a.correlation_id IN (SELECT correlation_id FROM shared)
        GROUP BY a.system, b.system
        ORDER BY system_a, system_b"""
    return frame(con, sql)
