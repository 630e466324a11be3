"""`usage`: tokens and cost per session and model, each call counted once."""

from __future__ import annotations

from typing import Any

import click

from .. import store
from ..analysis import usage as usage_mod
from ..analysis.findings import find
from ..redaction import Redactor
from ..scope import Scope
from .output import console, handle_errors, print_json, print_table
from .scope_options import DB_OPTION, JSON_OPTION, REDACT_OPTION, scope_options

NOT_IN_EVIDENCE = "not in evidence"
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
                 "reasoning_tokens", "total_tokens")
SHORT = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache read",
         "cache_creation_tokens": "cache write", "reasoning_tokens": "reasoning",
         "total_tokens": "total", "estimated_tokens": "estimated", "cost_usd": "cost"}


def _count(value: Any) -> str | None:
    if value is None:
        return None
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _cost(value: Any) -> str:
    return NOT_IN_EVIDENCE if value is None else f"${value:,.6f}".rstrip("0").rstrip(".")


def usage_row(row: dict[str, Any]) -> dict[str, Any]:
    """A usage row for a table: counts with separators, cost as dollars or 'not in evidence'."""
    out = dict(row)
    for column in (*TOKEN_COLUMNS, "estimated_tokens"):
        if column in out:
            out[column] = _count(out[column])
    if out.get("estimated_tokens") and not out.get("total_tokens"):
        out["total_tokens"] = f"~{out['estimated_tokens']} (estimated by the source)"
    if "cost_usd" in out:
        out["cost_usd"] = _cost(out["cost_usd"])
    if isinstance(out.get("files"), list):
        out["files"] = len(out["files"])
    return out


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, float) and value.is_integer() and key != "cost_usd":
            value = int(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        out[key] = value
    return out


@click.command("usage")
@DB_OPTION
@click.option("--by", default=",".join(usage_mod.DEFAULT_BY), show_default=True,
              help=f"Group by these columns, comma-separated ({', '.join(usage_mod.GROUPABLE)}; "
              "empty: one total).")
@click.option("--loops", "with_loops", is_flag=True,
              help="Also the tokens, cost and time spent inside each detected loop (step "
              "repetition findings), summed per session.")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@scope_options
def usage_command(db: str, scope: Scope, by: str, with_loops: bool, no_redact: bool,
                  as_json: bool) -> None:
    """Tokens (input, output, cache read / write, reasoning) and cost per session and model.

    Every call is counted once: what each metric means (per call, a running total, a session
    total; part of another count) is declared by the loader that wrote it. A cost the evidence
    does not hold is shown as "not in evidence", never estimated. Metric points without a time
    (e.g. OpenHands resolver costs) fall outside any window (--start/--end, --pivot). With
    --loops, each loop the step_repetition detector finds, with what was spent from its first
    to its last event (docs/findings.md), and the sums per session.
    """
    columns = usage_mod.group_columns(by)
    con = store.connect(db, read_only=True)
    try:
        frame = usage_mod.usage(con, scope, by=columns)
        loops = (find(con, scope, detectors=["step_repetition"]) if with_loops else None)
    finally:
        con.close()
    if loops is not None and not no_redact:
        loops = Redactor().frame(loops)
    rows = (frame if no_redact else Redactor().frame(frame)).to_dicts()
    totals = usage_mod.totals(frame)
    if as_json:
        out: dict[str, Any] = {"scope": scope.to_dict(), "by": list(columns),
                               "groups": [_json_row(r) for r in rows], "totals": _json_row(totals)}
        if loops is not None:
            out["loops"] = [_json_row(r) for r in loops.select(LOOP_COLUMNS).to_dicts()]
            out["loops_per_session"] = [_json_row(r) for r in
                                        usage_mod.loop_totals(loops).to_dicts()]
        print_json(out)
        return
    if loops is not None:
        _print_loops(loops, scope)
    if not rows:
        console.print(f"No token or cost metrics in scope ({scope.describe()}).", highlight=False)
        return
    shown = [*columns, *TOKEN_COLUMNS, "cost_usd", "points", "semantics"]
    if any(r.get("estimated_tokens") is not None for r in rows):
        shown.insert(shown.index("cost_usd"), "estimated_tokens")
    table = [{**usage_row(r), "semantics": r["semantics"]} for r in rows]
    print_table([{SHORT.get(c, c): t.get(c) for c in shown} for t in table],
                [SHORT.get(c, c) for c in shown],
                title=f"Usage ({scope.describe()}; each call counted once)")
    total_text = ", ".join(f"{SHORT[c]} {_count(totals[c])}" for c in TOKEN_COLUMNS
                           if totals.get(c) is not None)
    cost = totals["cost_usd"]
    cost_text = _cost(cost)
    if cost is not None and totals["groups_without_cost"]:
        cost_text += (f" ({totals['groups_without_cost']} of {totals['groups']} groups have no "
                      "cost in evidence)")
    console.print(f"[bold]Total[/bold] over {totals['groups']} group(s), {totals['points']} "
                  f"metric points: {total_text or 'no token counts'}; cost {cost_text}",
                  highlight=False)
    notes = sorted({n for r in rows for n in (r.get("notes") or [])})
    for note in notes:
        console.print(f"  note: {note}", highlight=False)


LOOP_COLUMNS = ("finding_id", "system", "stream", "title", "ts", "ts_end", "tokens", "cost_usd",
                "duration_ms", "event_ids")


def _print_loops(loops: Any, scope: Scope) -> None:
    if loops.is_empty():
        console.print(f"No loops (step repetition findings) in scope ({scope.describe()}).",
                      highlight=False)
        return
    rows = [{"run": f"{r['system']} {r['stream'] or ''}".strip(), "loop": r["title"],
             "from": r["ts"].isoformat() if r["ts"] else "no time in evidence",
             "seconds": NOT_IN_EVIDENCE if r["duration_ms"] is None else f"{r['duration_ms'] / 1000:,.0f}",
             "tokens": _count(r["tokens"]) or NOT_IN_EVIDENCE, "cost": _cost(r["cost_usd"]),
             "evidence": f"{len(r['event_ids'])} events from {r['event_ids'][0]}"}
            for r in loops.to_dicts()]
    print_table(rows, ["run", "loop", "from", "seconds", "tokens", "cost", "evidence"],
                title="Loops: what was spent inside each (first to last event of the loop)")
    per = [{"run": f"{r['system']} {r['stream'] or ''}".strip(), "loops": r["loops"],
            "seconds": NOT_IN_EVIDENCE if r["duration_ms"] is None else f"{r['duration_ms'] / 1000:,.0f}",
            "tokens": _count(r["tokens"]) or NOT_IN_EVIDENCE, "cost": _cost(r["cost_usd"]),
            "without usage": r["loops_without_usage"]}
           for r in usage_mod.loop_totals(loops).to_dicts()]
    print_table(per, ["run", "loops", "seconds", "tokens", "cost", "without usage"],
                title="Loops per session")


COMMANDS = [usage_command]
