"""Candidate incidents in a mixed database: failure signals clustered by quiet time (gaps and islands)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ..scope import Scope
from ._sql import frame

# What counts as a failure signal: an event that says something went wrong, by its own severity
# or outcome. Events an alert firing cites as its evidence count too (a doom loop's calls are ok).
SIGNAL_SQL = ("(coalesce(severity, '') IN ('warning', 'error', 'critical') "
              "OR coalesce(outcome, '') IN ('error', 'timeout', 'denied'))")
# Times taken from a file's mtime say when the file was written or copied, not when anything
# happened. Loaders mark them `derived` with no raw time text; a `derived` time copied from
# another record (an aider session header, a Claude Code snapshot) keeps its raw text and counts.
MTIME_SQL = "coalesce(ts_quality = 'derived' AND ts_raw IS NULL, false)"
TIMED_SQL = f"(ts IS NOT NULL AND NOT {MTIME_SQL})"
PARTITIONS = {"none": "'all'", "system": "system", "project": "coalesce(project, '')",
              "stream": "coalesce(stream, '')"}
INCIDENT_SCHEMA = {
    "incident_id": pl.Utf8, "title": pl.Utf8, "rank": pl.Int64, "partition": pl.Utf8,
    "start_ts": pl.Datetime("us", "UTC"), "first_ts": pl.Datetime("us", "UTC"),
    "first_event_id": pl.Utf8, "first_system": pl.Utf8, "first_source": pl.Utf8,
    "first_record_no": pl.Int64,
    "last_ts": pl.Datetime("us", "UTC"), "last_event_id": pl.Utf8, "last_system": pl.Utf8,
    "last_source": pl.Utf8, "last_record_no": pl.Int64,
    "end_ts": pl.Datetime("us", "UTC"), "signals": pl.Int64, "errors": pl.Int64,
    "warnings": pl.Int64, "denied": pl.Int64, "timeouts": pl.Int64, "alert_evidence": pl.Int64,
    "systems": pl.List(pl.Utf8), "signals_by_system": pl.List(pl.Int64), "streams": pl.Int64,
    "projects": pl.List(pl.Utf8), "events": pl.Int64,
}


def cited_events(con: duckdb.DuckDBPyConnection, alerts: pl.DataFrame | None, name: str) -> str:
    """Register the event ids alert firings cite as temp table `name`; returns its name."""
    ids: list[str] = []
    if alerts is not None and alerts.height and "event_ids" in alerts.columns:
        ids = sorted({i for row in alerts["event_ids"].to_list() for i in (row or [])})
    con.register(f"{name}_view", pl.DataFrame({"event_id": ids}, schema={"event_id": pl.Utf8})
                 .to_arrow())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_view")
    con.unregister(f"{name}_view")
    return name


def incidents(
    con: duckdb.DuckDBPyConnection,
    scope: Scope | None = None,
    *,
    quiet_minutes: float = 30,
    by: str | None = None,
    alerts: pl.DataFrame | None = None,
    with_alerts: bool = True,
    rules_path: str | Path | None = None,
    **fields: Any,
) -> pl.DataFrame:
    """One row per candidate incident: failure signals with no quiet gap above `quiet_minutes`.

    Signals are events of severity warning or worse, or with outcome error / timeout / denied,
    plus the events alert firings cite (the shipped rules or `rules_path`; pass `alerts` to
    reuse firings already computed, `with_alerts=False` to skip them). Times from file mtimes
    never count. `by` splits clusters per system, project or stream (default: one time line for
    the whole scope). An incident's failures run from its first signal (`first_ts`) to the last
    event of its systems before the next incident begins (`end_ts`), so recovery evidence
    belongs to it and no window overlaps the next one; `start_ts` reaches back to the start of
    the streams that failed (the trigger: the request, the session start), never before the
    previous incident's end. `rank` 1 is the largest (most signals, then the latest).
    """
    part = PARTITIONS.get(by or "none")
    if part is None:
        raise UsageError(f"cannot split incidents by {by!r}",
                         hint=f"use one of {', '.join(PARTITIONS)}")
    scope = Scope.of(scope, **fields)
    if alerts is None and with_alerts:
        from .metrics import evaluate_rules

        alerts = evaluate_rules(con, scope, rules_path=rules_path)
    cited = cited_events(con, alerts, "_il_incident_cited")
    sql = _islands_sql(f"AND {scope.sql()}", part, cited, round(float(quiet_minutes) * 60e6))
    try:
        out = frame(con, sql)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {cited}")
    return _named(out, by)


def untimed_signals(con: duckdb.DuckDBPyConnection, scope: Scope | None = None,
                    **fields: Any) -> int:
    """Failure signals no incident can hold: no time, or a time taken from a file's mtime
    (the scope's systems, projects, streams and correlation id; a window cannot hold them)."""
    where = Scope.of(scope, **fields).sql(window=False)
    sql = f"SELECT count(*) FROM timeline_events WHERE {SIGNAL_SQL} AND NOT {TIMED_SQL} AND {where}"
    return int(con.execute(sql).fetchall()[0][0])


def _islands_sql(scope: str, part: str, cited: str, quiet_us: int) -> str:
    """Signals -> islands (a gap above quiet_us opens one) -> each island's activity around it:
    the tail (its systems' events until the next island or a quiet gap) and the lead-in (its
    streams' events back to the previous island's end or a quiet gap)."""
    first = "ORDER BY ts, event_id"
    return f"""
    WITH scoped AS (
        SELECT *, {part} AS part FROM timeline_events WHERE {TIMED_SQL} {scope}
    ), sig AS (
        SELECT *, event_id IN (SELECT event_id FROM {cited}) AS cited FROM scoped
        WHERE {SIGNAL_SQL} OR event_id IN (SELECT event_id FROM {cited})
    ), gaps AS (
        SELECT *, CASE WHEN lag(ts) OVER w IS NULL
                         OR date_diff('microsecond', lag(ts) OVER w, ts) > {quiet_us}
                       THEN 1 ELSE 0 END
                  AS opens
        FROM sig WINDOW w AS (PARTITION BY part {first})
    ), isl AS (
        SELECT *, sum(opens) OVER (PARTITION BY part {first} ROWS UNBOUNDED PRECEDING) AS island
        FROM gaps
    ), per_system AS (
        SELECT part, island, system, count(*) AS n FROM isl GROUP BY ALL
    ), agg AS (
        SELECT part, island, min(ts) AS first_ts,
               first(event_id {first}) AS first_event_id, first(system {first}) AS first_system,
               first(source {first}) AS first_source, first(record_no {first}) AS first_record_no,
               max(ts) AS last_ts, last(event_id {first}) AS last_event_id,
               last(system {first}) AS last_system, last(source {first}) AS last_source,
               last(record_no {first}) AS last_record_no,
               count(*) AS signals,
               count(*) FILTER (WHERE severity IN ('error', 'critical')) AS errors,
               count(*) FILTER (WHERE severity = 'warning') AS warnings,
               count(*) FILTER (WHERE outcome = 'denied') AS denied,
               count(*) FILTER (WHERE outcome = 'timeout') AS timeouts,
               count(*) FILTER (WHERE cited) AS alert_evidence,
               count(DISTINCT stream) AS streams,
               list(DISTINCT coalesce(stream, '')) AS signal_streams,
               list(DISTINCT project ORDER BY project) FILTER (WHERE project IS NOT NULL)
                   AS projects
        FROM isl GROUP BY part, island
    ), named AS (
        SELECT a.*, s.systems, s.signals_by_system,
               lead(first_ts) OVER (PARTITION BY a.part ORDER BY first_ts) AS next_first
        FROM agg a JOIN (
            SELECT part, island, list(system ORDER BY n DESC, system) AS systems,
                   list(n ORDER BY n DESC, system) AS signals_by_system
            FROM per_system GROUP BY part, island
        ) s USING (part, island)
    ), after AS (
        -- only from the last signal on (itself included) is a gap looked for: an event after
        -- it has its predecessor there, so the rows before need no ordering, only counting
        SELECT n.part, n.island, n.last_ts, e.ts,
               date_diff('microsecond', lag(e.ts) OVER (PARTITION BY n.part, n.island
                                                        ORDER BY e.ts), e.ts) > {quiet_us}
                   AS broke
        FROM named n JOIN scoped e
          ON e.part = n.part AND e.ts >= n.last_ts
         AND (n.next_first IS NULL OR e.ts < n.next_first) AND list_contains(n.systems, e.system)
    ), cut AS (
        SELECT part, island, min(ts) FILTER (WHERE broke AND ts > last_ts) AS cut_at
        FROM after GROUP BY part, island
    ), tail AS (
        SELECT n.part, n.island, max(e.ts) AS end_ts, count(*) AS events
        FROM named n JOIN cut c ON c.part = n.part AND c.island = n.island
        JOIN scoped e
          ON e.part = n.part AND e.ts >= n.first_ts
         AND (n.next_first IS NULL OR e.ts < n.next_first) AND list_contains(n.systems, e.system)
         AND (c.cut_at IS NULL OR e.ts < c.cut_at)
        GROUP BY n.part, n.island
    ), chained AS (
        SELECT named.*, tail.end_ts, tail.events,
               lag(tail.end_ts) OVER (PARTITION BY part ORDER BY first_ts) AS prev_end
        FROM named JOIN tail USING (part, island)
    ), before AS (
        SELECT c.part, c.island, e.ts,
               date_diff('microsecond', e.ts, lead(e.ts) OVER (PARTITION BY c.part, c.island
                                                               ORDER BY e.ts)) > {quiet_us}
                   AS broke_after
        FROM chained c JOIN scoped e
          ON e.part = c.part AND e.ts <= c.first_ts
         AND (c.prev_end IS NULL OR e.ts > c.prev_end)
         AND list_contains(c.signal_streams, coalesce(e.stream, ''))
    ), lead_in AS (
        SELECT part, island, min(ts) AS start_ts FROM before b
        WHERE ts > coalesce((SELECT max(q.ts) FROM before q WHERE q.part = b.part
                             AND q.island = b.island AND q.broke_after), '-infinity')
        GROUP BY part, island
    )
    SELECT chained.* EXCLUDE (island, next_first, prev_end, signal_streams),
           coalesce(lead_in.start_ts, chained.first_ts) AS start_ts
    FROM chained LEFT JOIN lead_in USING (part, island)
    ORDER BY first_ts, part"""


def _named(out: pl.DataFrame, by: str | None) -> pl.DataFrame:
    """Ids, titles and ranks, computed once per incident (not per event)."""
    if out.is_empty():
        return pl.DataFrame(schema=INCIDENT_SCHEMA)
    rows = out.to_dicts()
    seen: dict[str, int] = {}
    for row in rows:
        base = incident_id(row["first_ts"], row["systems"])
        seen[base] = seen.get(base, 0) + 1
        row["incident_id"] = base if seen[base] == 1 else f"{base}-{seen[base]}"
        row["title"] = incident_title(row)
        row["partition"] = None if by in (None, "none") else row["part"]
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["signals"], -rows[i]["first_ts"]
                                                    .timestamp()))
    for rank, i in enumerate(order, start=1):
        rows[i]["rank"] = rank
    return pl.DataFrame([{k: r.get(k) for k in INCIDENT_SCHEMA} for r in rows],
                        schema=INCIDENT_SCHEMA)


def incident_id(first: datetime, systems: list[str]) -> str:
    """`20260301-100000Z-codingbuddy+4`: when it began, what failed most, how many others."""
    main = systems[0] if systems else "events"
    more = f"+{len(systems) - 1}" if len(systems) > 1 else ""
    return f"{first:%Y%m%d-%H%M%S}Z-{main}{more}"


def incident_title(row: dict[str, Any]) -> str:
    """`codingbuddy, jido: 120 failure signals, 2026-03-01 10:00 .. 11:00 UTC`."""
    first, last = row["first_ts"], row["last_ts"]
    until = f"{last:%H:%M}" if last.date() == first.date() else f"{last:%Y-%m-%d %H:%M}"
    systems = ", ".join(row["systems"] or [])
    return f"{systems}: {row['signals']} failure signals, {first:%Y-%m-%d %H:%M} .. {until} UTC"


def select(found: pl.DataFrame, wanted: str | None = None) -> dict[str, Any] | None:
    """The incident asked for by id, or the largest; None when the scope holds none."""
    if found.is_empty():
        if wanted:
            raise UsageError(f"no incident {wanted!r}: the scope holds no failure signal",
                             hint="list them with `incidentlab incidents --db DB`")
        return None
    if not wanted:
        return found.filter(pl.col("rank") == 1).row(0, named=True)
    hit = found.filter(pl.col("incident_id") == wanted)
    if hit.is_empty():
        known = ", ".join(found.sort("rank")["incident_id"].head(10).to_list())
        raise UsageError(f"no incident {wanted!r} in this scope",
                         hint=f"choose one of: {known} (`incidentlab incidents` lists them)")
    return hit.row(0, named=True)
