"""`diff`: two runs aligned step by step, their first divergence, and how their ends differ."""

from __future__ import annotations

from typing import Any

import click

from .. import store
from ..analysis import diff as diff_mod
from ..durations import fmt_duration
from ..redaction import Redactor
from .output import console, handle_errors, print_json, print_table
from .scope_options import DB_OPTION, JSON_OPTION, REDACT_OPTION, listing_options

SHOWN = 70


def _cut(text: Any, width: int = SHOWN) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _step(row: dict[str, Any], side: str) -> str:
    kind = " ".join(p for p in (row[f"event_type_{side}"], row[f"name_{side}"]) if p)
    message = row[f"message_{side}"]
    return _cut(f"{kind}: {message}" if message else kind)


def _cited(event: dict[str, Any] | None) -> str:
    if event is None:
        return "-"
    return (f"step {event['step']} {_cut(event['key'], 90)} (event {event['event_id']}, "
            f"{diff_mod.fmt_ts(event['ts'])})")


def _number(value: Any) -> str:
    if value is None:
        return "not in evidence"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _cost(value: Any) -> str:
    return "not in evidence" if value is None else f"${value:,.6f}".rstrip("0").rstrip(".")


def _duration(d: dict[str, Any]) -> str:
    if d["seconds"] is None:
        return d["note"]
    text = (f"{fmt_duration(d['seconds'])} ({d['first']['event_id']} "
            f"{diff_mod.fmt_ts(d['first']['ts'])} .. {d['last']['event_id']} "
            f"{diff_mod.fmt_ts(d['last']['ts'])})")
    return text + (f"; {d['note']}" if d.get("note") else "")


def _status(outcome: dict[str, Any]) -> str:
    final = outcome["final_status"]
    if final is None:
        return outcome["final_status_note"]
    return _cited(final)


def print_diff(result: diff_mod.RunDiff, *, limit: int) -> None:
    """The readable form: runs, aligned steps, divergence, after, outcome, usage, duration."""
    data = result.to_dict(rows=False)
    for label, run in (("A", data["run_a"]), ("B", data["run_b"])):
        console.print(f"[bold]{label}[/bold] {run['stream']}  ({', '.join(run['systems'])}; "
                      f"{run['steps']} steps; {run['db']})", highlight=False)
    table = result.aligned().to_dicts()
    shown = table if limit <= 0 else table[:limit]
    marks = {"same": "=", "changed": "≠", "only_a": "A only", "only_b": "B only"}
    print_table([{"#": r["row"], "": marks[r["status"]], "A step": r["step_a"],
                  "A": _step(r, "a") if r["step_a"] else "", "B step": r["step_b"],
                  "B": _step(r, "b") if r["step_b"] else ""} for r in shown],
                ["#", "", "A step", "A", "B step", "B"],
                title=f"Aligned steps ({data['alignment']['same']} the same, "
                      f"{data['alignment']['changed']} changed, {data['alignment']['only_a']} "
                      f"only in A, {data['alignment']['only_b']} only in B)")
    if len(shown) < len(table):
        console.print(f"  ({len(table) - len(shown)} more rows: --limit 0 shows all, --json "
                      "gives every step)", highlight=False)
    if not data["alignment"]["exact"]:
        console.print(f"  note: {data['alignment']['algorithm']}", highlight=False)
    first = data["first_divergence"]
    if first is None:
        console.print("[bold]No divergence:[/bold] the runs have the same steps (by the step key).",
                      highlight=False)
    else:
        console.print(f"[bold]First divergence[/bold] at row {first['row']} ({first['kind']}, "
                      f"after {first['common_before']} common steps): A step "
                      f"{first['step_a'] or '- (ended)'}, B step {first['step_b'] or '- (ended)'}",
                      highlight=False)
        console.print(f"  A: {_cited(first['event_a'])}", highlight=False)
        console.print(f"  B: {_cited(first['event_b'])}", highlight=False)
        for label, after in (("A", data["after_divergence"]["a"]),
                             ("B", data["after_divergence"]["b"])):
            kinds = ", ".join(f"{k['kind']} x{k['count']}" for k in after["kinds"][:8])
            more = len(after["kinds"]) - 8
            console.print(f"  {label} after it: {after['steps']} steps ({after['unmatched']} "
                          f"unmatched): {kinds or 'nothing'}"
                          + (f", ... {more} more kinds" if more > 0 else ""), highlight=False)
    outcome = data["outcome"]
    console.print("[bold]Outcome[/bold]", highlight=False)
    for label, side in (("A", outcome["a"]), ("B", outcome["b"])):
        test = _cited(side["last_test"]) if side["last_test"] else side["last_test_note"]
        error = (f"{_cited(side['last_error'])}, {side['steps_after_last_error']} steps after it"
                 if side["last_error"] else side["last_error_note"])
        console.print(f"  {label} final status: {_status(side)}", highlight=False)
        console.print(f"  {label} last test: {test}", highlight=False)
        console.print(f"  {label} last error: {error}", highlight=False)
    console.print("  differences: " + ("; ".join(outcome["differences"]) or
                                      "none in final status, last test or a closing error"),
                  highlight=False)
    usage = data["usage"]
    console.print("[bold]Tokens and cost[/bold] (each call counted once)", highlight=False)
    for label, side in (("A", usage["a"]), ("B", usage["b"])):
        console.print(f"  {label}: tokens {_number(side['total_tokens'])} (input "
                      f"{_number(side['input_tokens'])}, output {_number(side['output_tokens'])})"
                      f", cost {_cost(side['cost_usd'])}", highlight=False)
    delta = usage["delta"]
    console.print(f"  B - A: tokens {_signed(delta['total_tokens'])}, cost "
                  f"{_signed(delta['cost_usd'], money=True)}", highlight=False)
    duration = data["duration"]
    console.print("[bold]Duration[/bold] (first to last timed event)", highlight=False)
    console.print(f"  A: {_duration(duration['a'])}", highlight=False)
    console.print(f"  B: {_duration(duration['b'])}", highlight=False)
    if duration["delta_seconds"] is not None:
        console.print(f"  B - A: {duration['delta_seconds']:+.1f}s", highlight=False)


def _signed(value: Any, *, money: bool = False) -> str:
    if value is None:
        return "not determined (not in evidence for both)"
    return f"{value:+,.6f} USD".replace(".000000", "") if money else f"{value:+,.0f}"


@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@DB_OPTION
@click.option("--db-b", type=click.Path(dir_okay=False),
              help="Take RUN_B from this database (default: --db).")
@click.option("--limit", type=click.IntRange(min=0), default=200, show_default=True,
              help="Aligned rows shown in the table (0: all; --json always gives all).")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@listing_options
def diff_command(run_a: str, run_b: str, db: str, db_b: str | None, limit: int,
                 event_types: tuple[str, ...], min_severity: str | None, no_redact: bool,
                 as_json: bool) -> None:
    """Align two runs (sessions, workflow runs, executions) step by step and show where they
    diverge, what each did after, and how their outcome, tokens, cost and duration differ.

    RUN_A and RUN_B are `events.stream` values or a unique prefix of one. Each event is one
    step, keyed by event type, tool name and, for tool calls, the arguments normalized (quotes
    dropped, paths cut to their last two parts, numbers, ids, hex and times masked, whitespace
    collapsed; docs/diff.md). The alignment is a longest common subsequence (Myers,
    O((N+M)·D)). --type narrows both runs alike (e.g. --type 'tool.*' compares tool steps
    only, leaving out a conversation view of the same steps).

    \b
    Examples:
      incidentlab diff --db runs.duckdb klieret__swe 6e44b9
      incidentlab diff --db a.duckdb --db-b b.duckdb run-1 run-1 --type 'tool.*' --json
    """
    con_a = store.connect(db, read_only=True)
    try:
        con_b = store.connect(db_b, read_only=True) if db_b else None
        try:
            result = diff_mod.diff_runs(
                con_a, run_a, run_b, con_b, db_a=db, db_b=db_b or db,
                event_types=event_types or None, min_severity=min_severity,
                redactor=None if no_redact else Redactor())
        finally:
            if con_b is not None:
                con_b.close()
    finally:
        con_a.close()
    if as_json:
        print_json(result.to_dict())
        return
    print_diff(result, limit=limit)


COMMANDS = [diff_command]
