"""The postmortem sections (Google SRE / PagerDuty headings): facts from the evidence, prompts for people."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from .. import __version__
from .context import (
    Context,
    alert_frame,
    classification,
    db_info,
    durations,
    events,
    fmt_duration,
    milestone_frame,
    missing,
    severity_of,
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
from .secrets import mask_params


def pm_summary(ctx: Context) -> Section:
    df = events(ctx)
    sev, reason = severity_of(ctx)
    ms = milestone_frame(ctx)
    first = df["ts"].min() if not df.is_empty() else None
    last = df["ts"].max() if not df.is_empty() else None
    d = durations(ctx)
    facts = [
        ("severity", f"{sev} ({reason})"),
        ("evidence window", f"{ctx.ts(first)} .. {ctx.ts(last)}" if first else "no events"),
        ("systems involved", ", ".join(sorted(df["system"].unique().drop_nulls().to_list()))),
        ("milestones found",
         ", ".join(ms.filter(pl.col("ts").is_not_null())["milestone"].to_list()) or "none"),
        ("time to resolve", fmt_duration(d.get("time_to_resolve")) if d else "not determined"),
    ]
    return Section(
        definition_list(facts, ctx.tz),
        prompt("Two or three sentences: what happened, to whom, for how long, how it ended."),
    )


def pm_impact(ctx: Context) -> Section:
    df = events(ctx)
    errors = df.filter(pl.col("severity").is_in(["error", "critical"]))
    failed_tools = df.filter((pl.col("event_type") == "tool.result") & (pl.col("outcome") != "ok"))
    denied = df.filter(pl.col("outcome") == "denied")
    affected = df.filter(pl.col("severity").is_in(["warning", "error", "critical"]))
    facts = [
        ("events in window", len(df)),
        ("errors", len(errors)),
        ("failed tool calls", len(failed_tools)),
        ("denied actions", len(denied)),
        ("streams with warnings or errors",
         f"{affected['stream'].n_unique()} of {df['stream'].n_unique()}"),
    ]
    return Section(
        definition_list(facts, ctx.tz),
        prompt("Who or what was affected (users, repositories, money spent, work lost)?"),
    )


def pm_detection(ctx: Context) -> Section:
    ms = milestone_frame(ctx)
    d = durations(ctx)
    parts: list[Any] = []
    detected = ms.filter(pl.col("milestone").str.to_lowercase().str.contains("detect"))
    if not detected.is_empty():
        row = detected.row(0, named=True)
        parts.append(paragraph(f"Detected at {ctx.ts(row['ts'])} (from {row['source']}): "
                               f"{ctx.clean(row['evidence'])}"))
    else:
        parts.append(notice("No detection time in the evidence.", "empty"))
    if d:
        parts.append(paragraph(f"Time to detect: {fmt_duration(d.get('time_to_detect'))}."))
    fired = alert_frame(ctx)
    if fired is not None and not fired.is_empty() and "first_fired" in fired.columns:
        first = fired.sort("first_fired").row(0, named=True)
        parts.append(paragraph(f"The first alert rule to fire was {first['rule']} "
                               f"({first['title']}) at {ctx.ts(first['first_fired'])}."))
    parts.append(prompt("How did people learn of it? Would an alert have caught it sooner?"))
    return Section(*parts)


def pm_timeline(ctx: Context) -> Section:
    from .sections import key_moments, swimlane  # sections re-exports this module

    section = swimlane(ctx)
    section.add(*key_moments(ctx).parts)
    df = events(ctx)
    loud = df.filter(pl.col("severity").is_in(["error", "critical"])).head(30)
    if not loud.is_empty():
        section.add(bullet_list(
            f"{ctx.ts(ts)} · {system} · {etype}: {msg or ''}"[:300]
            for ts, system, etype, msg in loud.select("ts", "system", "event_type", "message")
            .iter_rows()
        ))
    return section.add(prompt("Add the human actions (who paged whom, decisions) to the timeline."))


def pm_contributing(ctx: Context) -> Section:
    result = classification(ctx)
    if result is None:
        return Section(missing("classify"), prompt("What conditions let this happen?"))
    modes = ctx.frame(result.modes)
    parts: list[Any] = []
    if modes.is_empty():
        parts.append(notice("No known failure mode matched the evidence.", "empty"))
    else:
        parts.append(ctx.table(modes.select([c for c in modes.columns if c not in (
            "evidence_event_ids", "recovery_steps")]), "Failure modes matched (best first)"))
        for row in modes.iter_rows(named=True):
            steps = row.get("recovery_steps") or []
            if steps:
                parts.append(Html(
                    f'<h4>Recovery steps for {esc(row["mode"])} '
                    f'<span class="il-ref">(runbook: {esc(row.get("runbook_section"))})</span></h4>',
                    f"Recovery steps for {row['mode']}"))
                parts.append(bullet_list(str(s) for s in steps))
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
    if not loads.is_empty():
        loads = loads.select("path", "sha256", "loader", "records_read", "event_rows",
                             "quarantined", "status")
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
        ctx.table(loads, "Evidence files (sha256 of each file as ingested)"),
        definition_list(facts, ctx.tz),
        table(params, ctx.tz, caption="Report parameters"),
    )


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
        "events": len(events(ctx)),
        "milestones": {m: ts.isoformat() if isinstance(ts, datetime) else None
                       for m, ts in ms.select("milestone", "ts").iter_rows()},
        "durations": {k: (v.total_seconds() if hasattr(v, "total_seconds") else v)
                      for k, v in d.items()},
    })

