"""`timeline`, `incidents`, `replay`, `alerts` and `classify`: the questions asked of an incident database."""

from __future__ import annotations

import sys
from typing import Any

import click
import polars as pl

from .. import store
from ..analysis import classify as classify_mod
from ..analysis import findings as findings_mod
from ..analysis import incidents as incidents_mod
from ..analysis import metrics, replay, timeline
from ..analysis.milestones import DURATIONS
from ..analysis.redact import Redactor
from ..durations import fmt_duration
from ..errors import UsageError
from ..scope import Scope
from .findings_cmds import finding_rows
from .lake_cmds import Source, source_options
from .output import (
    EXIT_OK,
    EXIT_PROBLEMS,
    console,
    handle_errors,
    json_ready,
    print_json,
    print_table,
)
from .scope_options import DB_OPTION, JSON_OPTION, REDACT_OPTION, listing_options, scope_options


def _rows(df: pl.DataFrame, redactor: Redactor | None = None) -> list[dict[str, Any]]:
    if redactor is not None:
        df = redactor.frame(df)
    return df.to_dicts()


def _short(value: Any, width: int = 80) -> Any:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("timeline")
@listing_options
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True,
              help="Keep the newest N events (shown oldest first).")
@click.option("--include-debug", is_flag=True,
              help="Also show events of severity debug (hook telemetry and the like).")
@click.option("--include-mtime", is_flag=True,
              help="Also show events whose time is a file's mtime (a copy moves those times).")
@click.option("--milestones", "show_milestones", is_flag=True,
              help="Also derive started/detected/mitigated/resolved and TTD/TTM/TTR for one "
              "incident of the selection (docs/milestones.md).")
@click.option("--findings", "show_findings", is_flag=True,
              help="Also list the coded findings of the same scope (MAST / TRAIL codes, "
              "their events; `incidentlab findings` has more options).")
@click.option("--incident", help="With --milestones: this incident id (`incidentlab incidents` "
              "lists them) instead of the largest.")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False),
              help="Rules file: alert rules for `detected`, [redaction] patterns "
              "(default: the shipped rules).")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@source_options
@scope_options
def timeline_command(source: Source, scope: Scope, event_types: tuple[str, ...],
                     min_severity: str | None, limit: int, include_debug: bool,
                     include_mtime: bool, show_milestones: bool, show_findings: bool,
                     incident: str | None, rules: str | None, no_redact: bool,
                     as_json: bool) -> None:
    """Show the merged timeline of all sources, in a stable order (time, source, position).

    Debug events and events timed by a file's mtime are left out unless asked for; the output
    says how many.
    """
    listing = {"event_types": event_types or None, "min_severity": min_severity}
    if show_findings and source.engine == "spark":
        raise UsageError("--findings runs on DuckDB only",
                         hint="use --engine duckdb (the default) with --findings")
    with source.connect() as con:
        events = timeline.timeline(con, scope, **listing, limit=limit,
                                   include_debug=include_debug, include_mtime=include_mtime)
        hidden = timeline.hidden(con, scope, **listing)
        marks = found = None
        if show_milestones:
            found = incidents_mod.incidents(con, scope, rules_path=rules)
            chosen = incidents_mod.select(found, incident)
            marks = timeline.milestones(con, scope, incident=chosen, rules_path=rules)
        found_findings = findings_mod.find(con, scope) if show_findings else None
    redactor = None if no_redact else Redactor(rules_path=rules)
    rows = _rows(events, redactor)
    spans = timeline.durations(marks) if marks is not None else None
    if as_json:
        out: dict[str, Any] = {"scope": scope.to_dict(), **source.json_extra(), "events": rows,
                               "count": len(rows),
                               "hidden": {
            "debug": 0 if include_debug else hidden["debug"],
            "mtime": 0 if include_mtime else hidden["mtime"],
            "mtime_files": hidden["mtime_files"]}}
        if marks is not None and found is not None:
            out["milestones"] = _rows(marks, redactor)
            out["durations"] = spans
            out["incidents_in_scope"] = found.height
        if found_findings is not None:
            shown = found_findings if redactor is None else redactor.frame(found_findings)
            out["findings"] = [json_ready(row) for row in shown.to_dicts()]
        if redactor is not None:
            out["redacted_values"] = redactor.count
        print_json(out)
        return
    table = [{"ts": r["ts"], "system": r["system"], "stream": _short(r["stream"], 24),
              "type": r["event_type"], "name": _short(r["name"], 24), "outcome": r["outcome"],
              "sev": r["severity"], "message": _short(r["message"])} for r in rows]
    print_table(table, ["ts", "system", "stream", "type", "name", "outcome", "sev", "message"],
                title=f"Timeline ({len(rows)} events, UTC)")
    _print_hidden(hidden, include_debug, include_mtime)
    if marks is not None and found is not None and spans is not None:
        _print_milestones(_rows(marks, redactor), spans, found)
    if found_findings is not None:
        shown = found_findings if redactor is None else redactor.frame(found_findings)
        if shown.is_empty():
            console.print(f"No findings in scope ({scope.describe()}).", highlight=False)
        else:
            print_table(finding_rows(shown), ["time", "level", "code", "run", "finding", "evidence",
                                              "link"], title=f"Findings ({shown.height})")
    if redactor is not None and redactor.count:
        console.print(f"{redactor.count} value(s) redacted (--no-redact shows them)")


def _print_hidden(hidden: dict[str, Any], include_debug: bool, include_mtime: bool) -> None:
    if hidden["debug"] and not include_debug:
        console.print(f"{hidden['debug']} debug event(s) not shown (--include-debug shows them)",
                      highlight=False)
    if hidden["mtime"] and not include_mtime:
        files = ", ".join(hidden["mtime_files"][:5])
        more = f" and {len(hidden['mtime_files']) - 5} more" if len(
            hidden["mtime_files"]) > 5 else ""
        console.print(f"{hidden['mtime']} event(s) not shown: their time is a file's mtime, "
                      f"not evidence (--include-mtime shows them): {files}{more}",
                      highlight=False)


def _print_milestones(marks: list[dict[str, Any]], spans: dict[str, Any],
                      found: pl.DataFrame) -> None:
    incident = marks[0]["incident_id"] if marks else None
    if found.height > 1:
        console.print(f"{found.height} incidents in this selection; milestones are for "
                      f"{incident} (--incident ID for another; `incidentlab incidents` lists "
                      "them)", highlight=False)
    table = [{"milestone": m["milestone"], "ts": m["ts"] or "not determined",
              "basis": m["basis"],
              "event": (f"{m['system']} {m['source']}:{m['record_no']} {m['event_id']}"
                        if m["event_id"] else ""),
              "evidence": _short(m["evidence"], 160)} for m in marks]
    print_table(table, ["milestone", "ts", "basis", "event", "evidence"],
                title=f"Milestones of {incident or 'no incident'}")
    parts = [f"{key.replace('_', ' ')} {fmt_duration(spans[key])}" for key in DURATIONS]
    console.print("; ".join(parts), highlight=False)
    for violation in spans["violations"]:
        console.print(f"[red]out of order:[/red] {violation}", highlight=False)


@click.command("incidents")
@DB_OPTION
@click.option("--quiet-minutes", type=click.FloatRange(min=0, min_open=True), default=30,
              show_default=True, help="Minutes without a failure signal that end an incident.")
@click.option("--by", type=click.Choice(list(incidents_mod.PARTITIONS)), default="none",
              show_default=True, help="Cut incidents per system, project or stream.")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False),
              help="Rules file whose firings' evidence counts as failure signals.")
@click.option("--no-alerts", is_flag=True, help="Cluster failure events only (skip the rules).")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@scope_options
def incidents_command(db: str, scope: Scope, quiet_minutes: float, by: str,
                      rules: str | None, no_alerts: bool, no_redact: bool, as_json: bool) -> None:
    """List candidate incidents: failure signals and alert evidence, cut by quiet time.

    Each row gives the window (from the start of the streams that failed to the last event of
    its systems before the next incident), the systems, counts and the first and last failure
    signal. Reports and milestones work on one of them (`-p incident=ID`, default: rank 1, the
    largest).
    """
    con = store.connect(db, read_only=True)
    try:
        found = incidents_mod.incidents(con, scope, quiet_minutes=quiet_minutes, by=by,
                                        rules_path=rules, with_alerts=not no_alerts)
        untimed = incidents_mod.untimed_signals(con, scope)
    finally:
        con.close()
    found_rows = _rows(found, None if no_redact else Redactor(rules_path=rules))
    if as_json:
        print_json({"scope": scope.to_dict(), "count": found.height,
                    "quiet_minutes": quiet_minutes, "by": by,
                    "untimed_signals": untimed, "incidents": found_rows})
        return
    rows = [{**r, "systems": ", ".join(r["systems"]),
             "window": f"{r['start_ts']} .. {r['end_ts']}",
             "first": f"{r['first_ts']} {r['first_system']} {r['first_source']}:"
                      f"{r['first_record_no']}",
             "last": f"{r['last_ts']} {r['last_system']} {r['last_source']}:"
                     f"{r['last_record_no']}",
             "counts": f"{r['signals']} signals ({r['errors']} errors, {r['denied']} denied, "
                       f"{r['timeouts']} timeouts, {r['alert_evidence']} alert evidence), "
                       f"{r['streams']} streams, {r['events']} events"}
            for r in found_rows]
    print_table(rows, ["rank", "incident_id", "systems", "window", "first", "last", "counts"],
                title=f"Candidate incidents ({found.height}; quiet gap {quiet_minutes:g} min)")
    if untimed:
        console.print(f"{untimed} failure signal(s) have no usable time (none in the source, or "
                      "a file's mtime) and belong to no incident", highlight=False)


@click.command("replay")
@click.option("--tolerance-ms", type=float, default=1000, show_default=True,
              help="Time going back by at most this much is clock skew, not reordering.")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@source_options
@scope_options
def replay_command(source: Source, scope: Scope, tolerance_ms: float, no_redact: bool,
                   as_json: bool) -> None:
    """Check replay integrity per stream, fail closed; exit 1 when any stream fails.

    Sequences (start, gaps, duplicates, regressions), time order, pairing (tool calls and
    results, LLM calls, Tapps steps), state machines (CodingBuddy sessions, curriculum-builder
    stages) and mirrors that must agree (events.jsonl vs store.sqlite, run.json vs events.jsonl,
    Tapps completed_steps vs its event log). A stream is checked whole when one of its events is
    in scope; violations outside the window are not shown.
    """
    with source.connect() as con:
        report = replay.check(con, scope, tolerance_ms=tolerance_ms,
                              parts=source.parts(con))
    redactor = None if no_redact else Redactor()
    verdicts = _rows(report.verdicts, redactor)
    if as_json:
        print_json({
            "scope": scope.to_dict(),
            **source.json_extra(),
            "passed": report.passed,
            "verdicts": verdicts,
            "violations": _rows(report.violations, redactor),
            "codingbuddy": _rows(report.codingbuddy, redactor),
        })
    else:
        print_table(verdicts, ["stream", "system", "passed", "violations"],
                    title="Replay verdicts (one per stream)")
        if report.violations.height:
            shown = _rows(report.violations.head(200), redactor)
            print_table(shown, ["stream", "system", "rule", "severity", "position", "record_no",
                                "expected", "found"],
                        title=f"Violations (first {len(shown)} of {report.violations.height})")
        if report.codingbuddy.height:
            print_table(_rows(report.codingbuddy, redactor),
                        ["session_id", "monotonic_seq", "missing_tool_results",
                         "orphan_tool_results", "passed"],
                        title="CodingBuddy `replay run --deterministic` validation")
        failed = report.verdicts.filter(~pl.col("passed")).height
        console.print(f"[{'red' if failed else 'green'}]{failed} of {report.verdicts.height} "
                      f"stream(s) failed[/]", highlight=False)
    sys.exit(EXIT_OK if report.passed else EXIT_PROBLEMS)


@click.command("alerts")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False),
              help="Rules file (TOML) instead of the shipped runbook rules.")
@click.option("--fail-on", type=click.Choice(["warn", "warning", "page", "critical", "never"]),
              default="page", show_default=True, help="Exit 1 when an alert at or above fired.")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@source_options
@scope_options
def alerts_command(source: Source, scope: Scope, rules: str | None, fail_on: str,
                   no_redact: bool, as_json: bool) -> None:
    """Evaluate the alert rules on the evidence in scope: when each fired, its peak, when it
    cleared."""
    with source.connect() as con:
        alerts = metrics.evaluate_rules(con, scope, rules_path=rules)
    fail_on = "warn" if fail_on == "warning" else fail_on
    top = metrics.max_level(alerts)
    failing = (fail_on != "never" and top is not None
               and metrics.LEVELS[top] >= metrics.LEVELS[fail_on])
    alert_rows = _rows(alerts, None if no_redact else Redactor(rules_path=rules))
    if as_json:
        print_json({"scope": scope.to_dict(), **source.json_extra(), "max_level": top,
                    "fail_on": fail_on, "alerts": alert_rows})
    else:
        rows = [{**r, "event_ids": f"{len(r['event_ids'])}: " + ", ".join(r["event_ids"][:3])}
                for r in alert_rows]
        print_table(rows, ["level", "rule", "group", "first_fired", "last_fired", "cleared",
                           "peak", "event_ids", "runbook"],
                    title=f"Alerts fired ({alerts.height})")
    sys.exit(EXIT_PROBLEMS if failing else EXIT_OK)


@click.command("classify")
@DB_OPTION
@click.option("--rules", type=click.Path(exists=True, dir_okay=False),
              help="Rules file whose firings' evidence counts for failure modes built on rules.")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@scope_options
def classify_command(db: str, scope: Scope, rules: str | None, no_redact: bool,
                     as_json: bool) -> None:
    """Match the evidence in scope to the failure modes and suggest SEV1-3."""
    con = store.connect(db, read_only=True)
    try:
        result = classify_mod.classify(con, scope, rules_path=rules)
    finally:
        con.close()
    redactor = None if no_redact else Redactor(rules_path=rules)
    modes = _rows(result.modes, redactor)
    reason = result.severity_reason if redactor is None else redactor.text(result.severity_reason)
    if as_json:
        print_json({"scope": scope.to_dict(), "severity": result.severity,
                    "severity_reason": reason, "modes": modes})
        return
    rows = [{**r, "evidence": f"{r['n_events']}: " + ", ".join(r["evidence_event_ids"][:3]),
             "recovery": _short(" / ".join(r["recovery_steps"]), 120)}
            for r in modes]
    print_table(rows, ["mode", "severity", "score", "evidence", "runbook_section", "recovery"],
                title="Matching failure modes")
    console.print(f"[bold]suggested severity: {result.severity or 'none'}[/bold] — "
                  f"{reason}", highlight=False)


COMMANDS = [timeline_command, incidents_command, replay_command, alerts_command,
            classify_command]
