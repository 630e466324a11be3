"""The merged incident timeline, its milestones (TTD/TTM/TTR), silences and clock skew between sources."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from ._sql import SEVERITY_RANK, SEVERITY_SQL, Where, frame, to_ts

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
MILESTONES = ("started", "detected", "mitigated", "resolved")


def timeline(
    con: duckdb.DuckDBPyConnection,
    *,
    start: Any = None,
    end: Any = None,
    pivot: Any = None,
    span_minutes: float | None = None,
    systems: Any = None,
    projects: Any = None,
    streams: Any = None,
    correlation_id: str | None = None,
    event_types: Any = None,
    min_severity: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """All sources merged in one stable order (ts, source rank, position), filtered and bounded.

    `pivot` with `span_minutes` (default 30) selects pivot ± span; `limit` keeps the newest N
    entries (as Jido's incident_timeline does) but returns them oldest first. Event types ending in
    `.*` match a prefix (`security.*`).
    """
    where = Where()
    if pivot is not None:
        center = to_ts(pivot, "pivot")
        span = timedelta(minutes=30 if span_minutes is None else span_minutes)
        start = max(to_ts(start), center - span) if start is not None else center - span
        end = min(to_ts(end), center + span) if end is not None else center + span
    where.within("ts", start, end)
    where.one_of("system", systems).one_of("project", projects).one_of("stream", streams)
    if correlation_id is not None:
        where.add("correlation_id = ?", correlation_id)
    if event_types is not None:
        types = [event_types] if isinstance(event_types, str) else list(event_types)
        exact = [t for t in types if not t.endswith(".*")]
        prefixes = [t[:-1] for t in types if t.endswith(".*")]
        parts = [f"event_type IN ({', '.join('?' for _ in exact)})"] if exact else []
        parts += ["starts_with(event_type, ?)" for _ in prefixes]
        where.add(" OR ".join(parts) or "false", *exact, *prefixes)
    if min_severity is not None:
        where.add(f"{SEVERITY_SQL} >= ?", SEVERITY_RANK.get(min_severity, 0))
    base = (
        f"SELECT {TIMELINE_COLUMNS}, {SOURCE_RANK_SQL} AS source_rank "
        f"FROM timeline_events {where.sql()}"
    )
    if limit is not None:
        sql = (
            f"SELECT * FROM (SELECT * FROM ({base}) "
            f"ORDER BY ts DESC NULLS LAST, source_rank DESC, system DESC, source DESC, "
            f"stream DESC, position DESC, record_no DESC, event_id DESC LIMIT {int(limit)}) "
            f"ORDER BY {ORDER}"
        )
    else:
        sql = f"{base} ORDER BY {ORDER}"
    return frame(con, sql, where.params).drop("source_rank")


def milestones(
    con: duckdb.DuckDBPyConnection,
    *,
    overrides: dict[str, str] | None = None,
    rules_path: Any = None,
    clean_minutes: float = 15.0,
) -> pl.DataFrame:
    """started / detected / mitigated / resolved, derived from the evidence unless overridden.

    Heuristic (documented because it is one):
    - started: the first anomalous event (severity warning or worse).
    - detected: the first alert firing at any level (the rules file, see metrics.evaluate_rules).
    - mitigated: the first successful event (outcome `ok`, else any info/debug event) after the
      last event of severity error or worse, i.e. the system was doing useful work again.
    - resolved: the moment a clean stretch of `clean_minutes` without any anomalous event had
      passed after the last anomalous event, proven by an event at or after that moment; unset
      when the evidence ends before the stretch is complete.
    Events whose time is `derived` (a file mtime) are ignored here. Overrides (ISO times,
    naive = UTC) replace derived values and are marked `override`.
    """
    from .metrics import evaluate_rules

    derived: dict[str, tuple[datetime | None, str | None]] = {}
    # Times taken from file mtimes say when a file was written, not when things happened.
    bad = "severity IN ('warning', 'error', 'critical') AND ts_quality <> 'derived'"
    first = con.execute(
        f"SELECT ts, event_id FROM timeline_events WHERE {bad} AND ts IS NOT NULL "
        "ORDER BY ts, event_id LIMIT 1"
    ).fetchall()
    first = first[0] if first else None
    derived["started"] = (first[0], first[1]) if first else (None, None)

    alerts = evaluate_rules(con, rules_path=rules_path)
    if alerts.height:
        row = alerts.sort("first_fired").row(0, named=True)
        derived["detected"] = (row["first_fired"], f"rule {row['rule']} ({row['level']})")
    else:
        derived["detected"] = (None, None)

    last_error = con.execute(
        "SELECT max(ts) FROM timeline_events WHERE severity IN ('error', 'critical') "
        "AND ts_quality <> 'derived'"
    ).fetchall()[0][0]
    mitigated: tuple[datetime | None, str | None] = (None, None)
    if last_error is not None:
        row = con.execute(
            "SELECT ts, event_id FROM timeline_events WHERE ts > ? "
            "AND (outcome = 'ok' OR (outcome IS NULL AND severity IN ('debug', 'info'))) "
            "ORDER BY (outcome = 'ok') DESC, ts, event_id LIMIT 1",
            [last_error],
        ).fetchall()
        row = row[0] if row else None
        if row:
            mitigated = (row[0], row[1])
    derived["mitigated"] = mitigated

    last_bad = con.execute(f"SELECT max(ts) FROM timeline_events WHERE {bad}").fetchall()[0][0]
    resolved: tuple[datetime | None, str | None] = (None, None)
    if last_bad is not None:
        row = con.execute(
            "SELECT ts, event_id FROM timeline_events WHERE ts >= ? ORDER BY ts, event_id LIMIT 1",
            [last_bad + timedelta(minutes=clean_minutes)],
        ).fetchall()
        row = row[0] if row else None
        if row:
            resolved = (last_bad + timedelta(minutes=clean_minutes), row[1])
    derived["resolved"] = resolved

    rows = []
    for name in MILESTONES:
        if overrides and overrides.get(name):
            rows.append(
                {"milestone": name, "ts": to_ts(overrides[name], name), "source": "override",
                 "evidence": "author override"}
            )
        else:
            ts, evidence = derived[name]
            rows.append(
                {"milestone": name, "ts": ts, "source": "derived", "evidence": evidence}
            )
    return pl.DataFrame(
        rows,
        schema={
            "milestone": pl.Utf8,
            "ts": pl.Datetime("us", "UTC"),
            "source": pl.Utf8,
            "evidence": pl.Utf8,
        },
    )


def durations(milestones_df: pl.DataFrame) -> dict[str, Any]:
    """time_to_detect / time_to_mitigate / time_to_resolve (seconds from started) and in_order."""
    at = {r["milestone"]: r["ts"] for r in milestones_df.iter_rows(named=True)}
    started = at.get("started")

    def since(name: str) -> float | None:
        if started is None or at.get(name) is None:
            return None
        return (at[name] - started).total_seconds()

    present = [at[m] for m in MILESTONES if at.get(m) is not None]
    return {
        "time_to_detect": since("detected"),
        "time_to_mitigate": since("mitigated"),
        "time_to_resolve": since("resolved"),
        "in_order": all(a <= b for a, b in itertools.pairwise(present)),
    }


def silences(
    con: duckdb.DuckDBPyConnection, *, threshold_minutes: float = 10, systems: Any = None
) -> pl.DataFrame:
    """Gaps longer than the threshold between consecutive events of one stream (time order)."""
    where = Where().add("ts IS NOT NULL").one_of("system", systems)
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
