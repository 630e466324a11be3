"""The run-diff notebook's cells (06_diff): two runs aligned, their divergence and their ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import polars as pl

from ..analysis import diff as diff_mod
from ..durations import fmt_duration
from ..redaction import Redactor
from .display import Figure, Html, Section, definition_list, esc, notice, paragraph, table
from .paths import resolve_db

__all__ = ["after", "alignment_chart", "context", "costs", "divergence", "header", "outcome",
           "steps"]

STATUS_COLORS = {"same": "#2b8a3e", "changed": "#e8590c", "only_a": "#1c7ed6", "only_b": "#ae3ec9"}


@dataclass
class DiffContext:
    """What every cell of the diff notebook reads: the computed diff and how to show it."""

    result: diff_mod.RunDiff
    tz: ZoneInfo
    redact: bool
    max_rows: int

    def table(self, df: pl.DataFrame, caption: str) -> Html:
        return table(df, self.tz, caption=caption, max_rows=self.max_rows)


def context(*, db: str, db_b: str = "", run_a: str = "", run_b: str = "",
            event_types: list[str] | None = None, min_severity: str = "",
            display_tz: str = "UTC", redact: bool = True, max_rows: int = 200) -> DiffContext:
    """Open the database(s) (private snapshots), diff run_a with run_b, keep the result."""
    from ..errors import UsageError
    from ..store import connect_snapshot

    if not run_a or not run_b:
        raise UsageError("the diff notebook needs run_a and run_b",
                         hint="pass them: -p run_a=STREAM -p run_b=STREAM")
    path_a = resolve_db(db)
    path_b = resolve_db(db_b) if db_b else path_a
    con_a = connect_snapshot(path_a)
    con_b = connect_snapshot(path_b) if db_b else None
    try:
        result = diff_mod.diff_runs(con_a, run_a, run_b, con_b, db_a=Path(path_a).name,
                                    db_b=Path(path_b).name, event_types=event_types or None,
                                    min_severity=min_severity or None,
                                    redactor=Redactor() if redact else None)
    finally:
        con_a.close()
        if con_b is not None:
            con_b.close()
    return DiffContext(result=result, tz=ZoneInfo(display_tz or "UTC"), redact=redact,
                       max_rows=max_rows)


def _cite(event: dict[str, Any] | None, tz: ZoneInfo) -> str:
    if event is None:
        return "none"
    when = "untimed" if event["ts"] is None else event["ts"].astimezone(tz).strftime(
        "%Y-%m-%d %H:%M:%S %Z")
    return f"step {event['step']}: {event['key']} (event {event['event_id']}, {when})"


def header(ctx: DiffContext) -> Section:
    r = ctx.result
    title = f"Run diff: {r.a.stream} vs {r.b.stream}"
    facts = [("run A", f"{r.a.stream} ({', '.join(r.a.systems)}; {r.a.events.height} steps; "
                        f"{r.a.db})"),
             ("run B", f"{r.b.stream} ({', '.join(r.b.systems)}; {r.b.events.height} steps; "
                        f"{r.b.db})"),
             ("alignment", r.alignment()["algorithm"]),
             ("display time zone", ctx.tz.key),
             ("redaction", "on" if ctx.redact else "OFF: evidence shown verbatim")]
    return Section(Html(f'<h1 class="il-title">{esc(title)}</h1>', title),
                   definition_list(facts, ctx.tz))


def divergence(ctx: DiffContext) -> Section:
    """Where the runs stop doing the same thing: each run's step there, both events cited."""
    first = ctx.result.first_divergence()
    if first is None:
        return Section(notice("No divergence: the runs have the same steps (by the step key).",
                              "ok"))
    text = (f"The runs share {first['common_before']} steps, then diverge at aligned row "
            f"{first['row']} ({first['kind']}): run A at step {first['step_a'] or '- (ended)'}, "
            f"run B at step {first['step_b'] or '- (ended)'}.")
    return Section(paragraph(text), definition_list(
        [("A", _cite(first["event_a"], ctx.tz)), ("B", _cite(first["event_b"], ctx.tz))], ctx.tz))


def steps(ctx: DiffContext) -> Section:
    """The aligned steps side by side (same / changed / only in one run)."""
    df = ctx.result.aligned().select(
        "row", "status", "step_a", "event_type_a", "name_a", "message_a", "step_b",
        "event_type_b", "name_b", "message_b", "event_id_a", "event_id_b")
    counts = ctx.result.alignment()
    return Section(paragraph(f"{counts['same']} steps the same, {counts['changed']} changed, "
                             f"{counts['only_a']} only in A, {counts['only_b']} only in B."),
                   ctx.table(df, "Aligned steps"))


def alignment_chart(ctx: DiffContext) -> Section:
    """Step of A against step of B for each aligned pair: a diagonal while they agree."""
    df = ctx.result.aligned()
    fig = go.Figure()
    for status, color in STATUS_COLORS.items():
        part = df.filter(pl.col("status") == status)
        if part.is_empty():
            continue
        fig.add_trace(go.Scatter(
            x=part["step_a"].to_list(), y=part["step_b"].to_list(), mode="markers", name=status,
            marker={"color": color, "size": 8},
            text=[f"A: {a or '-'}<br>B: {b or '-'}" for a, b in
                  zip(part["key_a"].to_list(), part["key_b"].to_list(), strict=True)],
            hoverinfo="text"))
    fig.update_layout(title="Alignment (A step vs B step)", xaxis_title="step of A",
                      yaxis_title="step of B", height=420)
    return Section(Figure(fig, "diff-alignment"))


def after(ctx: DiffContext) -> Section:
    """What each run did from the divergence on: step kinds and counts."""
    found = ctx.result.after_divergence()
    if found is None:
        return Section(notice("No divergence, nothing after it.", "ok"))
    rows = [{"run": label, "kind": k["kind"], "count": k["count"]}
            for label, side in (("A", found["a"]), ("B", found["b"])) for k in side["kinds"]]
    lines = [f"A: {found['a']['steps']} steps from the divergence, {found['a']['unmatched']} "
             f"without a match in B; B: {found['b']['steps']} steps, {found['b']['unmatched']} "
             "without a match in A."]
    return Section(paragraph(lines[0]), ctx.table(pl.DataFrame(rows, schema={
        "run": pl.Utf8, "kind": pl.Utf8, "count": pl.Int64}), "Step kinds after the divergence"))


def outcome(ctx: DiffContext) -> Section:
    """Final status, last test result and last error of each run, cited, and what differs."""
    r = ctx.result
    rows = []
    for what, note in (("final_status", "final_status_note"), ("last_test", "last_test_note"),
                       ("last_error", "last_error_note")):
        rows.append({"": what.replace("_", " "),
                     "A": _cite(r.outcome_a[what], ctx.tz) if r.outcome_a[what] else
                     r.outcome_a.get(note), "B": _cite(r.outcome_b[what], ctx.tz)
                     if r.outcome_b[what] else r.outcome_b.get(note)})
    differences = diff_mod.compare_outcomes(r.outcome_a, r.outcome_b)
    text = ("Outcome differences: " + "; ".join(differences) if differences else
            "No difference in final status, last test or a closing error.")
    return Section(paragraph(text), ctx.table(pl.DataFrame(rows), "How each run ended"))


def _money(value: Any) -> str:
    return "not in evidence" if value is None else f"${value:,.6f}".rstrip("0").rstrip(".")


def _tokens(value: Any) -> str:
    return "not in evidence" if value is None else f"{value:,.0f}"


def _duration(d: dict[str, Any]) -> str:
    if d["seconds"] is None:
        return d["note"]
    return (f"{fmt_duration(d['seconds'])} (from {d['first']['event_id']} to "
            f"{d['last']['event_id']})" + (f"; {d['note']}" if d.get("note") else ""))


def costs(ctx: DiffContext) -> Section:
    """Tokens and cost (analysis.usage, each call once) and duration of each run."""
    r = ctx.result
    rows = [{"": "input tokens", "A": _tokens(r.usage_a["input_tokens"]),
             "B": _tokens(r.usage_b["input_tokens"])},
            {"": "output tokens", "A": _tokens(r.usage_a["output_tokens"]),
             "B": _tokens(r.usage_b["output_tokens"])},
            {"": "total tokens", "A": _tokens(r.usage_a["total_tokens"]),
             "B": _tokens(r.usage_b["total_tokens"])},
            {"": "cost", "A": _money(r.usage_a["cost_usd"]), "B": _money(r.usage_b["cost_usd"])},
            {"": "duration (first to last timed event)", "A": _duration(r.duration_a),
             "B": _duration(r.duration_b)},
            {"": "usage evidence", "A": ", ".join(r.usage_a["files"]) or "none",
             "B": ", ".join(r.usage_b["files"]) or "none"}]
    return Section(ctx.table(pl.DataFrame(rows), "Tokens, cost and duration"))
