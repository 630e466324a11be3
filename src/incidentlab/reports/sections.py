"""One function per notebook cell: query the incident database, return escaped tables and figures."""

from __future__ import annotations

from typing import Any

import polars as pl

from . import figures
from .citations import cited_links, name_column, runbooks
from .context import (
    EVENT_COLUMNS,
    EVENT_LIMIT,
    MTIME_SQL,
    SHOWN_EVENTS,
    Context,
    alert_frame,
    analysis,
    context,
    counts,
    db_info,
    durations,
    events,
    evidence_range,
    header,
    hidden,
    milestone_frame,
    missing,
    raw_events,
    replay_report,
    scope_note,
    scoped_loads,
    usage_frame,
)
from .display import Figure, Section, definition_list, notice, paragraph, prompt
from .findings_section import finding_events, finding_marks, findings
from .narrative import curated, pm_resolution, pm_response, pm_trigger
from .postmortem import (
    duration_facts,
    mtime_files,
    pm_actions,
    pm_contributing,
    pm_detection,
    pm_impact,
    pm_lessons,
    pm_summary,
    provenance,
    summary,
    usage_sentence,
)
from .query import frame

__all__ = [
    "alerts", "context", "coverage", "event_table", "events", "finding_events", "findings",
    "header", "key_moments", "pm_actions",
    "pm_contributing", "pm_detection", "pm_impact", "pm_lessons", "pm_resolution", "pm_response",
    "pm_summary", "pm_timeline", "pm_trigger", "provenance", "quarantine", "replay", "runbooks",
    "silences", "sources", "summary", "swimlane", "time_quality", "trends", "usage",
]


# --- 01 overview ------------------------------------------------------------------------------


def sources(ctx: Context) -> Section:
    info = db_info(ctx)
    loads = pl.DataFrame(info["loads"], infer_schema_length=None) if info["loads"] else pl.DataFrame()
    if not loads.is_empty():
        loads = loads.with_columns(pl.col("sha256").str.slice(0, 12).alias("sha256")).select(
            "loader", "path", "sha256", "records_read", "event_rows", "metric_rows", "quarantined",
            "status", "error", "tz")
    failed = [load for load in info["loads"] if load["status"] != "ok"]
    totals = paragraph(
        f"{info['events']} events ({info['mirror_events']} mirror copies kept for cross-checks), "
        f"{info['metrics']} metric points, {info['quarantined']} quarantined records "
        f"from {len(info['loads']) - len(failed)} files"
        + (f"; {len(failed)} files could not be loaded (status and error below)." if failed else ".")
        + scope_note(ctx, info)
    )
    return Section(totals, ctx.table(loads, "Files ingested (sha256 shortened)"))


def coverage(ctx: Context) -> Section:
    info = db_info(ctx)
    systems = pl.DataFrame(info["systems"], infer_schema_length=None)
    if systems.is_empty():
        return Section(notice("The database holds no events.", "empty"))
    fig = Figure(figures.coverage(systems, ctx.tz), "coverage")
    per_stream = frame(ctx.con,
        "SELECT system, stream, count(*) AS events, "
        f"min(ts) FILTER (WHERE NOT {MTIME_SQL}) AS first, "
        f"max(ts) FILTER (WHERE NOT {MTIME_SQL}) AS last, "
        "count(*) FILTER (WHERE severity IN ('error', 'critical')) AS errors "
        f"FROM timeline_events WHERE {ctx.scope.sql()} GROUP BY system, stream "
        "ORDER BY system, first"
    )
    return Section(fig, ctx.table(systems, "Coverage per system"),
                   ctx.table(per_stream, "Streams (sessions, runs) per system", max_rows=50))


USAGE_COLUMNS = ["system", "stream", "model", "input_tokens", "output_tokens",
                 "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens", "total_tokens",
                 "cost_usd", "points", "semantics"]


def usage(ctx: Context) -> Section:
    """Tokens and cost per session and model in scope, each call counted once; a cost the
    evidence does not hold stays empty (not in evidence), never estimated."""
    df = usage_frame(ctx)
    if df is None:
        return Section(missing("usage"))
    if df.is_empty():
        return Section(notice("No token or cost figures in scope.", "empty"))
    return Section(paragraph(usage_sentence(ctx)),
                   ctx.table(df.select([c for c in USAGE_COLUMNS if c in df.columns]),
                             "Usage per session and model (each call counted once; empty cost: "
                             "not in evidence)", max_rows=100))


def time_quality(ctx: Context) -> Section:
    quality = frame(ctx.con,
        f"SELECT system, ts_quality, count(*) AS events FROM timeline_events "
        f"WHERE {ctx.scope.sql()} GROUP BY ALL ORDER BY system, ts_quality"
    )
    types = frame(ctx.con,
        "SELECT system, event_type, count(*) AS events, "
        "count(*) FILTER (WHERE severity IN ('warning', 'error', 'critical')) AS warnings_or_worse "
        f"FROM timeline_events WHERE {ctx.scope.sql()} GROUP BY ALL "
        "ORDER BY system, events DESC"
    )
    return Section(
        paragraph("How each time was obtained: exact (the source wrote a zone), assumed_utc, "
                  "assumed_local (converted with --tz), derived or missing."),
        ctx.table(quality, "Timestamp quality per system"),
        mtime_files(ctx),
        ctx.table(types, "Event types per system", max_rows=100),
    )


def quarantine(ctx: Context) -> Section:
    # The raw text is redacted whole and cut afterwards: a cut first could keep the body of a
    # secret whose start or end marker lies past it.
    rows = ctx.frame(frame(ctx.con,
        "SELECT w.source_path, w.record_no, w.reason, left(w.raw, 65536) AS raw, l.loader "
        "FROM _load_warnings w LEFT JOIN _loads l USING (load_id) "
        f"WHERE w.load_id IN ({scoped_loads(ctx)}) "
        "ORDER BY w.source_path, w.record_no LIMIT 500"
    )).with_columns(pl.col("raw").str.slice(0, 300))
    if rows.is_empty():
        return Section(notice("No record was quarantined.", "ok"))
    return Section(
        paragraph(f"{len(rows)} records could not be read and were set aside, with line numbers:"),
        ctx.table(rows, "Quarantined records"),
    )


# --- 02 timeline ------------------------------------------------------------------------------


def swimlane(ctx: Context) -> Section:
    df = raw_events(ctx)
    if df.is_empty():
        return Section(notice("No events in this window.", "empty"))
    shown, dropped = figures.thin(df)
    marks, unmarked = finding_marks(ctx, shown)
    fig = figures.swimlane(ctx.frame(shown.select(figures.SWIMLANE_COLUMNS)), ctx.tz,
                           milestones=milestone_frame(ctx),
                           title=f"{ctx.title}: events by system and stream", findings=marks)
    parts: list[Any] = [Figure(fig, "swimlane"), *hidden_notices(ctx)]
    if unmarked:
        parts.append(notice(f"Findings not marked on the chart: {unmarked} (no time in evidence, "
                            "or their run is not charted); the Findings list has them.", "note"))
    if dropped:
        parts.append(notice(f"{dropped} info/debug events thinned out of the chart (all "
                            "warnings and errors are shown).", "note"))
    if len(df) >= EVENT_LIMIT:
        parts.append(notice(limit_notice(ctx), "warning"))
    return Section(*parts)


def limit_notice(ctx: Context) -> str:
    """What the chart and the event tables leave out when the window holds more than
    EVENT_LIMIT events (the counts, the runs and every other section cover all of them)."""
    return (f"The window holds {counts(ctx)['events']:,} events: the chart and the event tables "
            f"use the latest {EVENT_LIMIT:,} of them (the counts, the collapsed runs and the "
            "other sections cover all); narrow it with start/end or pivot.")


def hidden_notices(ctx: Context) -> list[Any]:
    """Say what the timeline leaves out: debug events, and events timed by a file's mtime."""
    left = hidden(ctx)
    parts: list[Any] = []
    if left["debug"] and not ctx.include_debug:
        parts.append(notice(f"{left['debug']} debug events are not shown (include_debug=true "
                            "shows them).", "note"))
    if left["mtime"]:
        files = ", ".join(str(ctx.clean(f)) for f in left["mtime_files"][:5])
        parts.append(notice(f"{left['mtime']} events are not placed on the time line: their "
                            f"time is a file's mtime, not evidence ({files}).", "note"))
    return parts


def key_moments(ctx: Context) -> Section:
    ms = milestone_frame(ctx)
    parts: list[Any] = []
    if analysis("milestones") is None:
        parts.append(missing("milestones"))
    if ms.is_empty():
        parts.append(notice("No milestone could be derived from the evidence.", "empty"))
    else:
        shown = ms.select([c for c in ("milestone", "ts", "basis", "system", "source",
                                       "record_no", "event_id", "evidence") if c in ms.columns])
        parts.append(ctx.table(shown, "Milestones: each cites the event it comes from "
                                      "(docs/milestones.md)"))
    d = durations(ctx)
    if d:
        parts.append(definition_list([
            *duration_facts(d),
            ("milestones in order", "yes" if d.get("in_order") else "NO"),
        ], ctx.tz))
        for violation in d.get("violations") or []:
            parts.append(notice(f"Milestones out of order: {violation}; the durations it "
                                "touches are not shown.", "warning"))
    return Section(*parts)


def pm_timeline(ctx: Context) -> Section:
    """Key moments (cited milestones) first, the chart, then the failures as collapsed runs;
    the full event list is in the appendix."""
    section = key_moments(ctx)
    section.add(*swimlane(ctx).parts)
    section.add(*curated(ctx).parts)
    return section.add(prompt("Add the human actions (who paged whom, decisions) to the timeline."))


def event_table(ctx: Context) -> Section:
    df = raw_events(ctx)  # ctx.table redacts the rows it shows
    loud = df.filter(pl.col("severity").is_in(["warning", "error", "critical"]))
    return Section(
        *([notice(limit_notice(ctx), "warning")] if len(df) >= EVENT_LIMIT else []),
        ctx.table(loud.select([c for c in EVENT_COLUMNS if c != "event_id"]),
                  "Warnings and errors in the window", max_rows=SHOWN_EVENTS),
        ctx.table(df.select([c for c in EVENT_COLUMNS if c != "event_id"]),
                  "All events in the window", max_rows=SHOWN_EVENTS),
    )


def silences(ctx: Context, threshold_minutes: float = 10) -> Section:
    timeline = analysis("timeline")
    if timeline is None:
        return Section(missing("timeline"))
    df = timeline.silences(ctx.con, ctx.scope, threshold_minutes=threshold_minutes)
    if df.is_empty():
        return Section(notice(f"No stream went silent for more than {threshold_minutes} minutes.",
                              "ok"))
    return Section(ctx.table(df, f"Silences longer than {threshold_minutes} minutes"))


# --- 03 replay --------------------------------------------------------------------------------


CHARTED_STREAMS = 30  # more bars are unreadable: the chart shows the streams with the most


def replay(ctx: Context) -> Section:
    report = replay_report(ctx)
    if report is None:
        return Section(missing("replay"))
    verdicts = report.verdicts
    failed = verdicts.filter(~pl.col("passed")) if "passed" in verdicts.columns else verdicts
    parts: list[Any] = [paragraph(
        f"{len(verdicts) - len(failed)} of {len(verdicts)} streams replay cleanly; "
        f"{len(report.violations)} violations found.")]
    violations = report.violations
    if violations.is_empty():
        parts.append(notice("No ordering violation: every stream replays in sequence.", "ok"))
    else:
        kind_col = next((c for c in ("rule", "kind", "check") if c in violations.columns), None)
        stream_col = "stream" if "stream" in violations.columns else None
        if kind_col and stream_col:
            per_stream = (violations.group_by(stream_col).len("total")
                          .sort(["total", stream_col], descending=[True, False], nulls_last=True))
            charted = per_stream.head(CHARTED_STREAMS)
            counts = (violations.join(charted, on=stream_col, how="semi", nulls_equal=True)
                      .group_by(stream_col, kind_col).len("n")
                      .join(charted, on=stream_col, how="left", nulls_equal=True)
                      .sort(["total", stream_col, kind_col], descending=[True, False, False],
                            nulls_last=True))
            title = "Replay violations per stream"
            if per_stream.height > charted.height:
                title += f" (the {charted.height} with the most, of {per_stream.height})"
            parts.append(Figure(figures.counts_bar(counts, stream_col, "n", color=kind_col,
                                                   title=title), "replay"))
            if per_stream.height > charted.height:
                parts.append(notice(
                    f"{per_stream.height - charted.height} more streams with violations are not "
                    "charted; the verdict table below lists every stream.", "note"))
        parts.append(ctx.table(violations, "Violations (gaps, duplicates, regressions, ties)"))
    parts.append(ctx.table(verdicts, "Verdict per stream"))
    if not report.codingbuddy.is_empty():
        parts.append(ctx.table(report.codingbuddy, "CodingBuddy replay cassettes"))
    return Section(*parts)


# --- 04 alerts --------------------------------------------------------------------------------


_BUCKETS = [("1 minute", 60), ("5 minutes", 300), ("15 minutes", 900), ("1 hour", 3600),
            ("6 hours", 21600), ("1 day", 86400)]


def _bucket(ctx: Context) -> str:
    """The smallest bucket that keeps the trend chart under ~120 bars."""
    lo, hi = evidence_range(ctx)
    if lo is None:
        return "5 minutes"
    seconds = (hi - lo).total_seconds()
    return next((name for name, size in _BUCKETS if seconds / size <= 120), _BUCKETS[-1][0])


def trends(ctx: Context, every: str = "") -> Section:
    metrics = analysis("metrics")
    if metrics is None:
        return Section(missing("metrics"))
    lo, hi = evidence_range(ctx)  # axes from the evidence, never from a file's mtime
    every = every or _bucket(ctx)
    df = metrics.trend(ctx.con, ctx.scope.narrowed(lo, hi), every=every, by="system")
    if df.is_empty():
        return Section(notice("No events to chart.", "empty"))
    return Section(Figure(figures.trend(ctx.frame(df), ctx.tz,
                                        title=f"Events and error ratio per {every}"), "trend"))


def alerts(ctx: Context) -> Section:
    df = alert_frame(ctx)
    if df is None:
        return Section(missing("metrics"))
    if df.is_empty():
        return Section(notice("No alert rule fired in this window.", "ok"))
    shown = name_column(df.select([c for c in df.columns if c != "event_ids"]), "runbook")
    refs = cited_links(ctx, df["runbook"].to_list() if "runbook" in df.columns else [])
    return Section(
        paragraph(f"{len(df)} alert rule firings (rule, group, level)"
                  + ("; the runbook sections they cite are linked below and rendered in the "
                     "appendix." if refs is not None else "; none cites a runbook line.")),
        ctx.table(shown, "Alerts fired"),
        *([refs] if refs is not None else []),
    )


