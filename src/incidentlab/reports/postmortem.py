"""The postmortem sections (Google SRE / PagerDuty headings): facts from the evidence, prompts for people."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from .._version import __version__
from .citations import cited_links, name_column, named
from .context import (
    Context,
    alert_frame,
    classification,
    counts,
    db_info,
    durations,
    milestone_frame,
    missing,
    severity_line,
    severity_of,
    usage_totals,
)
from .display import (
    Html,
    Section,
    Summary,
    bullet_list,
    definition_list,
    esc,
    fmt_ts,
    notice,
    paragraph,
    prompt,
    table,
)
from .narrative import duration_text
from .secrets import mask_params


def pm_summary(ctx: Context) -> Section:
    n = counts(ctx)
    ms = milestone_frame(ctx)
    first, last = n["first_ts"], n["last_ts"]
    d = durations(ctx)
    facts = [
        ("severity", severity_line(ctx)),
        ("evidence window", f"{ctx.ts(first)} .. {ctx.ts(last)}" if first else "no timed events"),
        ("systems involved", ", ".join(n["systems"] or [])),
        ("milestones found",
         ", ".join(ms.filter(pl.col("ts").is_not_null())["milestone"].to_list()) or "none"),
        *duration_facts(d),
    ]
    return Section(
        definition_list(facts, ctx.tz),
        prompt("Two or three sentences: what happened, to whom, for how long, how it ended."),
    )


def duration_facts(d: dict[str, Any]) -> list[tuple[str, str]]:
    """TTD / TTM / TTR as facts: a duration, or why there is none (never a negative number)."""
    return [(key.replace("_", " "), duration_text(d or {"notes": {key: "analysis not available"}},
                                                  key))
            for key in ("time_to_detect", "time_to_mitigate", "time_to_resolve")]


def pm_impact(ctx: Context) -> Section:
    n = counts(ctx)
    facts = [
        ("events in scope", n["events"]),
        ("errors", n["errors"]),
        ("failed tool calls", n["failed_tools"]),
        ("denied actions", n["denied"]),
        ("streams with warnings or errors", f"{n['loud_streams']} of {n['streams']}"),
        ("tokens and cost", usage_sentence(ctx)),
    ]
    return Section(
        definition_list(facts, ctx.tz),
        prompt("Who or what was affected (users, repositories, money spent, work lost)?"),
    )


def usage_sentence(ctx: Context) -> str:
    """"N tokens (input a, output b, ...) in k sessions; cost $x" from the evidence in scope."""
    totals = usage_totals(ctx)
    if totals is None:
        return "usage analysis not available"
    if not totals["groups"]:
        return "no token or cost figures in the evidence"
    parts = [f"{label} {totals[key]:,.0f}" for key, label in (
        ("input_tokens", "input"), ("output_tokens", "output"), ("cache_read_tokens", "cache read"),
        ("cache_creation_tokens", "cache write"), ("reasoning_tokens", "reasoning"))
        if totals.get(key) is not None]
    tokens = (f"{totals['total_tokens']:,.0f} tokens ({', '.join(parts)})"
              if totals.get("total_tokens") is not None else "no token counts")
    cost = totals.get("cost_usd")
    missing_cost = totals["groups_without_cost"]
    cost_text = ("cost not in evidence" if cost is None else
                 f"cost ${cost:,.4f} from the evidence" + (
                     f" ({missing_cost} of {totals['groups']} groups have no cost)"
                     if missing_cost else ""))
    return f"{tokens} over {totals['groups']} session/model groups; {cost_text}"


def pm_detection(ctx: Context) -> Section:
    ms = milestone_frame(ctx)
    d = durations(ctx)
    parts: list[Any] = []
    detected = ms.filter(pl.col("milestone") == "detected")
    row = detected.row(0, named=True) if not detected.is_empty() else None
    if row is not None and row["ts"] is not None:
        cited = (f"event {row['event_id']}, {row['source']} record {row['record_no']}"
                 if row.get("event_id") else row.get("basis"))
        parts.append(paragraph(f"Detected at {ctx.ts(row['ts'])} ({cited}): "
                               f"{ctx.clean(row['evidence'])}"))
    else:
        why = f": {ctx.clean(row['evidence'])}" if row is not None else ""
        parts.append(notice(f"Detection not determined from the evidence{why}.", "empty"))
    if d:
        parts.append(paragraph(f"Time to detect: {duration_facts(d)[0][1]}."))
    fired = alert_frame(ctx)
    if fired is not None and not fired.is_empty() and "first_fired" in fired.columns:
        first = fired.sort("first_fired").row(0, named=True)
        parts.append(paragraph(f"The first alert rule to fire was {first['rule']} "
                               f"({first['title']}) at {ctx.ts(first['first_fired'])}."))
    parts.append(prompt("How did people learn of it? Would an alert have caught it sooner?"))
    return Section(*parts)


def pm_contributing(ctx: Context) -> Section:
    result = classification(ctx)
    if result is None:
        return Section(missing("classify"), prompt("What conditions let this happen?"))
    modes = ctx.frame(result.modes)
    parts: list[Any] = []
    if modes.is_empty():
        parts.append(notice("No known failure mode matched the evidence.", "empty"))
    else:
        parts.append(ctx.table(name_column(modes.select([c for c in modes.columns if c not in (
            "evidence_event_ids", "recovery_steps")]), "runbook_section"),
            "Failure modes matched (best first)"))
        for row in modes.iter_rows(named=True):
            steps = row.get("recovery_steps") or []
            if steps:
                parts.append(Html(
                    f'<h4>Recovery steps for {esc(row["mode"])} '
                    f'<span class="il-ref">(runbook: {esc(named(row.get("runbook_section")))})'
                    "</span></h4>",
                    f"Recovery steps for {row['mode']}"))
                parts.append(bullet_list(str(s) for s in steps))
        refs = cited_links(ctx, modes["runbook_section"].to_list())
        if refs is not None:
            parts.append(refs)
    parts.append(prompt("Which of these are causes, and which conditions made them possible? "
                        "(Contributing factors, not a single root cause.)"))
    return Section(*parts)


def pm_actions(ctx: Context) -> Section:
    blank = Html(
        '<table class="il-table il-actions"><thead><tr><th>action item</th><th>type</th>'
        "<th>owner</th><th>priority</th><th>ticket</th></tr></thead><tbody>"
        + '<tr><td class="il-prompt-cell">TO WRITE</td><td>prevent / mitigate / detect</td>'
          "<td></td><td></td><td></td></tr>" * 3
        + "</tbody></table>",
        "action items: TO WRITE",
    )
    return Section(blank)


def pm_lessons(ctx: Context) -> Section:
    return Section(
        prompt("What went well?"), prompt("What went wrong?"), prompt("Where did we get lucky?"),
    )


def provenance(ctx: Context) -> Section:
    info = db_info(ctx)
    loads = pl.DataFrame(info["loads"], infer_schema_length=None) if info["loads"] else pl.DataFrame()
    failed = loads.filter(pl.col("status") != "ok") if not loads.is_empty() else loads
    if not loads.is_empty():
        loads = loads.select("path", "sha256", "loader", "loader_version", "records_read",
                             "event_rows", "quarantined", "status")
    shown_params = mask_params(dict(ctx.params))
    redactions = getattr(ctx.redactor, "count", 0) if ctx.redactor is not None else 0
    facts = [
        ("toolkit", f"incidentlab {__version__}"),
        ("database", str(ctx.db)),
        ("events / quarantined", f"{info['events']} / {info['quarantined']}"),
        ("redaction", f"on, {redactions} values masked" if ctx.redact else "off"),
        ("generated", fmt_ts(datetime.now(UTC), ctx.tz)),
    ]
    params = pl.DataFrame({
        "parameter": list(shown_params),
        "value": [ctx.clean(v if isinstance(v, str) else json.dumps(v, default=str))
                  for v in shown_params.values()],
    })
    return Section(
        ctx.table(loads, "Evidence files (sha256 of each file as ingested, the loader and its "
                         "version that read it)"),
        *([ctx.table(failed.select("path", "loader", "status", "error"),
                     "Files that could not be loaded (they add nothing to this report)")]
          if not failed.is_empty() else []),
        mtime_files(ctx),
        definition_list(facts, ctx.tz),
        table(params, ctx.tz, caption="Report parameters"),
    )


def mtime_files(ctx: Context) -> Any:
    """The files whose event times are their mtime: not evidence of when anything happened."""
    files = pl.DataFrame(db_info(ctx).get("mtime_files") or [], infer_schema_length=None)
    if files.is_empty():
        return notice("No event time comes from a file's mtime.", "ok")
    return Section(
        notice(f"{files['events'].sum()} events in {len(files)} files take their time from the "
               "file's modification time (derived, no time in the record): a copy without "
               "`cp -p` moves them to the "
               "copy's time. They are left out of the timeline, the evidence window, the "
               "charts' axes, incidents and milestones.", "warning"),
        ctx.table(files, "Files whose event times come from file mtime"))


def summary(ctx: Context) -> Summary:
    """Facts for the batch index (not shown in the HTML)."""
    sev, reason = severity_of(ctx)
    ms = milestone_frame(ctx)
    d = durations(ctx)
    return Summary({
        "incident_id": ctx.incident_id,
        "title": ctx.title,
        "severity": sev,
        "severity_reason": reason,
        "events": counts(ctx)["events"],
        "scope": ctx.scope.to_dict(),
        "display_tz": ctx.tz.key,
        "usage": {k: v for k, v in (usage_totals(ctx) or {}).items()
                  if k in ("total_tokens", "cost_usd", "groups", "groups_without_cost")},
        "incidents_in_scope": 0 if ctx.incidents is None else ctx.incidents.height,
        "milestones": {m: ts.isoformat() if isinstance(ts, datetime) else None
                       for m, ts in ms.select("milestone", "ts").iter_rows()},
        "milestone_basis": dict(ms.select("milestone", "basis").iter_rows())
        if "basis" in ms.columns else {},
        "durations": {k: d.get(k) for k in ("time_to_detect", "time_to_mitigate",
                                            "time_to_resolve", "in_order", "violations")
                      if k in d},
    })

