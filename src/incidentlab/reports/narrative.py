"""The postmortem's story from the evidence: trigger, response, resolution, and a timeline of runs."""

from __future__ import annotations

from typing import Any

import polars as pl

from ..durations import fmt_duration
from .context import Context, cached, durations, milestone_frame, shown_sql
from .display import Section, definition_list, notice, paragraph, prompt
from .query import frame

# Events a responder reads in a curated timeline: failures, the events milestones cite, and
# once the failures began, the lifecycle events that say how it went on (ends, resumes, passes).
SIGNAL_SQL = ("(coalesce(severity, '') IN ('warning', 'error', 'critical') "
              "OR coalesce(outcome, '') IN ('error', 'timeout', 'denied'))")
LIFECYCLE_SQL = ("(event_type LIKE '%.end' OR event_type LIKE '%.resume' "
                 "OR event_type IN ('assets.reloaded', 'test.pass', 'verify.run', "
                 "'component.start', 'session.start'))")
# Events of one kind with no gap above this between them are one run ("20x tool.failed ...").
RUN_GAP_MINUTES = 5
MAX_RUNS = 40


def runs(ctx: Context) -> pl.DataFrame:
    """Repeated events collapsed: one row per run of the same system, type, outcome, error code
    and message shape (digits and hex ids masked) with no gap above RUN_GAP_MINUTES; failures
    and lifecycle events only, in time order, each citing its first event."""

    def compute() -> pl.DataFrame:
        marks = milestone_frame(ctx)
        cited = [i for i in marks["event_id"].to_list() if i] if "event_id" in marks.columns else []
        listed = ", ".join("'" + i.replace("'", "''") + "'" for i in cited) or "NULL"
        times = [t for t in marks["ts"].to_list() if t is not None] if marks.height else []
        since = {"since": min(times) if times else None}
        return frame(ctx.con, f"""
        WITH e AS (
            SELECT ts, system, stream, event_type, outcome, severity, event_id, source, record_no,
                   coalesce(message, name, '') AS message, {SIGNAL_SQL} AS loud,
                   event_id IN ({listed}) AS milestone,
                   concat_ws('|', system, event_type, coalesce(outcome, ''),
                             coalesce(error_code, ''),
                             left(regexp_replace(coalesce(message, name, ''),
                                                 '[0-9a-fA-F]{{8,}}|[0-9]+', '#', 'g'), 80)) AS k
            FROM timeline_events
            WHERE {shown_sql(ctx)} AND ts IS NOT NULL
              AND ({SIGNAL_SQL} OR event_id IN ({listed})
                   OR ({LIFECYCLE_SQL} AND ts >= $since))
        ), opened AS (
            SELECT *, CASE WHEN lag(ts) OVER w IS NULL
                             OR ts - lag(ts) OVER w > INTERVAL '{RUN_GAP_MINUTES} minutes'
                           THEN 1 ELSE 0 END AS opens
            FROM e WINDOW w AS (PARTITION BY k ORDER BY ts, event_id)
        ), numbered AS (
            SELECT *, sum(opens) OVER (PARTITION BY k ORDER BY ts, event_id
                                       ROWS UNBOUNDED PRECEDING) AS run
            FROM opened
        )
        SELECT min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS events,
               count(DISTINCT stream) AS streams, any_value(system) AS system,
               any_value(event_type) AS event_type, any_value(outcome) AS outcome,
               arg_min(message, (ts, event_id)) AS message,
               bool_or(loud) OR bool_or(milestone) AS loud,
               arg_min(event_id, (ts, event_id)) AS first_event_id,
               arg_min(source || ':' || coalesce(record_no::VARCHAR, '?'), (ts, event_id))
                   AS first_record
        FROM numbered GROUP BY k, run ORDER BY first_ts, first_event_id""", since)

    return cached(ctx, "runs", compute)


def curated(ctx: Context) -> Section:
    """The timeline a reader follows: one line per run, failures kept first when it is long."""
    found = runs(ctx)
    if found.is_empty():
        return Section(notice("No failure or lifecycle event in scope.", "empty"))
    shown = found
    if found.height > MAX_RUNS:
        keep = found.filter(pl.col("loud")).head(MAX_RUNS)
        room = MAX_RUNS - keep.height
        shown = pl.concat([keep, found.filter(~pl.col("loud")).head(room)]).sort(
            "first_ts", "first_event_id")
    rows = shown.select(
        pl.col("first_ts").alias("from"), pl.col("last_ts").alias("to"),
        pl.concat_str([pl.when(pl.col("events") > 1).then(pl.format("{}x ", pl.col("events")))
                       .otherwise(pl.lit("")), pl.col("event_type"), pl.lit(" "),
                       pl.col("outcome").fill_null("")]).str.strip_chars().alias("what"),
        pl.col("message").str.slice(0, 160).alias("first message"),
        "system", "streams", pl.col("first_event_id").alias("first event"),
        pl.col("first_record").alias("record"))
    parts: list[Any] = [ctx.table(rows, "Timeline: repeated events collapsed into runs (same "
                                        f"kind, no gap above {RUN_GAP_MINUTES} min), each "
                                        "citing its first event", max_rows=MAX_RUNS)]
    if found.height > shown.height:
        parts.append(notice(f"{found.height - shown.height} more runs (lifecycle events, then the "
                            "latest failures) are left out here; the appendix lists every event.",
                            "note"))
    return Section(*parts)


def _milestone(ctx: Context, name: str) -> dict[str, Any] | None:
    ms = milestone_frame(ctx).filter(pl.col("milestone") == name)
    return ms.row(0, named=True) if not ms.is_empty() else None


def _cited(ctx: Context, row: dict[str, Any] | None, label: str) -> Any:
    """A milestone as a sentence with its evidence, or why it is not determined."""
    if row is None:
        return notice(f"{label}: not determined (milestones not available).", "empty")
    if row["ts"] is None:
        return notice(f"{label}: not determined: {ctx.clean(row['evidence'])}.", "empty")
    where = (f"event {row['event_id']}, {row['source']} record {row['record_no']}"
             if row.get("event_id") else str(row.get("basis")))
    return paragraph(f"{label} at {ctx.ts(row['ts'])} ({where}): {ctx.clean(row['evidence'])}")


def pm_trigger(ctx: Context) -> Section:
    """What set the incident off: the first event of the failing streams, then the first failure."""
    parts: list[Any] = []
    incident = ctx.incident
    if incident is not None:
        [lead] = frame(ctx.con, f"""
            SELECT ts, system, event_type, event_id, source, record_no, message
            FROM timeline_events WHERE {shown_sql(ctx)} AND ts = $start
            ORDER BY event_id LIMIT 1""", {"start": incident["start_ts"]}).to_dicts() or [None]
        if lead is not None and lead["event_id"] != incident["first_event_id"]:
            parts.append(paragraph(
                f"The failing streams begin at {ctx.ts(lead['ts'])} with {lead['system']} "
                f"{lead['event_type']} (event {lead['event_id']}, {lead['source']} record "
                f"{lead['record_no']}): {ctx.clean((lead['message'] or '')[:200])}"))
    parts.append(_cited(ctx, _milestone(ctx, "started"), "First failure signal"))
    parts.append(prompt("What triggered it: a change, a provider outage, a prompt, a load spike? "
                        "The evidence above shows when, not why."))
    return Section(*parts)


def pm_response(ctx: Context) -> Section:
    return _milestone_section(ctx, "mitigated", "time_to_mitigate",
                              "Who responded, what did they do and when (pages, rollbacks, "
                              "restarts, config changes)? Which runbook steps below were followed?")


def pm_resolution(ctx: Context) -> Section:
    return _milestone_section(ctx, "resolved", "time_to_resolve",
                              "How was it finally fixed, and how was recovery confirmed?")


def _milestone_section(ctx: Context, milestone: str, duration: str, question: str) -> Section:
    """A milestone with its evidence, its duration from the start (or why not), a prompt."""
    parts: list[Any] = [_cited(ctx, _milestone(ctx, milestone), milestone.capitalize())]
    d = durations(ctx)
    if d:
        parts.append(definition_list([(duration.replace("_", " "), duration_text(d, duration))], ctx.tz))
    parts.append(prompt(question))
    return Section(*parts)


def duration_text(d: dict[str, Any], key: str) -> str:
    """A duration of `durations()`, or "not determined (why)" (never a negative number)."""
    value = d.get(key)
    if value is not None:
        return fmt_duration(value)
    note = (d.get("notes") or {}).get(key)
    return f"not determined ({note})" if note else "not determined"
