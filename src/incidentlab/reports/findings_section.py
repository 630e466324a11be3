"""The report's Findings: MAST / TRAIL coded findings citing their events, loop cost, cited events."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from ..durations import fmt_duration
from ..runbooks import Reference, cited
from .citations import finding_citations, links
from .context import Context, analysis, cached, findings_frame, missing
from .display import MAX_CELL_CHARS, Html, Section, esc, fmt_cell, notice, paragraph
from .query import frame

NOT_IN_EVIDENCE = "not in evidence"
NO_TIME = "no time in evidence"
LOOP_DETECTOR = "step_repetition"  # the findings that carry loop cost (docs/findings.md)
MAX_FINDINGS = 200
MAX_LINKED = 4  # evidence links shown per finding; the rest are counted
LEVEL_ORDER = ("critical", "error", "warning", "info")
_SAFE_URL = re.compile(r"^https?://[^\s\"'<>]+$")
_EVENT_COLUMNS = ["ts", "system", "stream", "seq", "event_type", "name", "outcome", "severity",
                  "message", "source", "record_no", "event_id"]


def event_anchor(event_id: str) -> str:
    """The HTML id of an event's row in the events appendix: one id per event id, safe in an
    attribute and a URL fragment (other characters, `_` included, written as `_hex_`)."""
    return "event-" + re.sub(r"[^A-Za-z0-9.:-]", lambda m: f"_{ord(m.group(0)):x}_", event_id)


def _event_link(ctx: Context, event_id: str) -> str:
    return (f'<a class="il-event-link" href="#{esc(event_anchor(event_id))}">'
            f"{esc(ctx.clean(event_id))}</a>")


def _grid(columns: Sequence[str], rows: Sequence[tuple[dict[str, str], Sequence[str]]],
          caption: str, css: str) -> str:
    """A table of cells already escaped (links inside), each row with its own attributes."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr" + "".join(f' {k}="{esc(v)}"' for k, v in attrs.items()) + ">"
        + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>" for attrs, cells in rows)
    return (f'<table class="il-table {esc(css)}"><caption>{esc(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    return esc(text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + "…")


def _when(ctx: Context, ts: Any, ts_end: Any = None) -> str:
    if ts is None:
        return NO_TIME
    if ts_end is None or ts_end == ts:
        return ctx.ts(ts)
    return f"{ctx.ts(ts)} .. {ctx.ts(ts_end)}"


def code_label(row: dict[str, Any]) -> str:
    """"MAST FM-1.3"; a code that already names its taxonomy ("TRAIL-SE") as it is."""
    code, taxonomy = row["code"] or "", row["taxonomy"] or ""
    return code if code.startswith(taxonomy) else f"{taxonomy} {code}".strip()


def _code(row: dict[str, Any], refs: list[Reference]) -> str:
    """The code as a link to its definition (MAST / TRAIL paper), its name, and the runbook
    line the detector shares (a link to the runbooks appendix)."""
    label = code_label(row)
    url = row["code_url"] or ""
    head = (f'<a class="il-code" href="{esc(url)}">{esc(label)}</a>' if _SAFE_URL.match(url)
            else esc(label))
    shared = "".join(f'<br><span class="il-ref">shares <a href="#{esc(r.anchor)}" '
                     f'title="{esc(r.label)}">{esc(r.system)} runbook line {r.line}</a></span>'
                     for r in refs)
    return f"{head} {esc(row['code_name'] or '')}{shared}"


def _linked_ids(row: dict[str, Any]) -> list[str]:
    """The events a finding's row links: the claim first (claims), then its first evidence."""
    ids = [row["claim_event_id"]] if row.get("claim_event_id") else []
    return list(dict.fromkeys(ids + list(row["event_ids"] or [])[:MAX_LINKED]))


def _evidence(ctx: Context, row: dict[str, Any]) -> str:
    ids = list(row["event_ids"] or [])
    claim = row.get("claim_event_id")
    parts = [f"claim: {_event_link(ctx, claim)}"] if claim else []
    parts += [_event_link(ctx, i) for i in ids[:MAX_LINKED] if i != claim]
    if len(ids) > MAX_LINKED:
        parts.append(esc(f"and {len(ids) - MAX_LINKED} more (incidentlab findings --json "
                         "lists every one)"))
    return ", ".join(parts)


def _run(ctx: Context, row: dict[str, Any]) -> str:
    return esc(ctx.clean(" · ".join(str(v) for v in (row["system"], row["stream"]) if v)))


def shown_findings(ctx: Context) -> pl.DataFrame | None:
    """The findings the report lists: the first MAX_FINDINGS in time order."""
    found = findings_frame(ctx)
    return None if found is None else found.head(MAX_FINDINGS)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _checked(ctx: Context, named: bool = True) -> str:
    """What the detectors read: how many (their names and codes), and the runs of the scope."""
    module = analysis("findings")
    detectors = list(module.DETECTORS) if module else []
    names = ", ".join(f"{d.name} ({code_label({'code': d.code, 'taxonomy': d.taxonomy})})"
                      for d in detectors)
    [(runs,)] = ctx.con.execute(
        "SELECT count(DISTINCT (system, stream)) FROM events "
        f"WHERE {ctx.scope.sql()} AND NOT is_mirror").fetchall()
    return (plural(len(detectors), "detector") + (f" ({names})" if named else "")
            + f" over {plural(runs, 'run')} in scope ({ctx.clean(ctx.scope.describe())})")


def findings(ctx: Context) -> Section:
    """Each finding in time order: its code linked to the definition (and the runbook line it
    shares), level, run, time, detail and the events it cites (linked to the events
    appendix); then what the loops cost. No findings: one line naming what was checked."""
    found = shown_findings(ctx)
    if found is None:
        return Section(missing("findings"))
    if found.is_empty():
        return Section(notice(f"No findings: {_checked(ctx)} found nothing; a run without "
                              "findings is not proof that nothing went wrong.", "ok"))
    total = findings_frame(ctx).height
    citations = finding_citations(ctx)
    refs = {name: cited([text]) for name, text in citations.items()}
    rows, lines = [], []
    for row in ctx.frame(found.drop("event_ids", "claim_event_id")).with_columns(
            found.select("event_ids", "claim_event_id")).iter_rows(named=True):
        cells = [esc(_when(ctx, row["ts"], row["ts_end"])), esc(row["level"]),
                 _code(row, refs.get(row["detector"], [])), _run(ctx, row),
                 f"<strong>{_text(row['title'])}</strong><br>{_text(row['detail'])}",
                 _evidence(ctx, row)]
        rows.append(({"class": f"il-finding il-level-{row['level']}",
                      "data-finding-id": row["finding_id"]}, cells))
        lines.append(f"- {_when(ctx, row['ts'])} {row['level']} {code_label(row)} "
                     f"{row['system']} {row['stream'] or ''}: {row['title']}")
    levels = found["level"].value_counts()
    by_level = dict(levels.iter_rows())
    counted = ", ".join(f"{by_level[lv]} {lv}" for lv in LEVEL_ORDER if lv in by_level)
    runs = found.select("system", "stream").unique().height
    intro = (f"{plural(total, 'finding')} in {plural(runs, 'run')} ({counted}), from "
             f"{_checked(ctx, named=False)}. Each code links to its definition, each event id "
             "to the events appendix.")
    table = _grid(["time", "level", "code", "run", "finding", "evidence"], rows,
                  "Findings in time order (docs/findings.md)", "il-findings")
    parts: list[Any] = [paragraph(intro), Html(table, "\n".join([f"Findings ({total})", *lines]))]
    if total > found.height:
        parts.append(notice(f"{plural(total - found.height, 'more finding')} not shown "
                            "(incidentlab findings lists them all).", "note"))
    shared = sorted({r for rs in refs.values() for r in rs}, key=lambda r: (r.file, r.line))
    if shared:
        parts.append(paragraph("Runbook lines the detectors share with the alert rules "
                               "(rendered in the appendix):"))
        parts.append(links(shared))
    parts.extend(loop_cost(ctx, found).parts)
    return Section(*parts)


# --- loop cost ----------------------------------------------------------------------------------


def _tokens(value: Any) -> str:
    return NOT_IN_EVIDENCE if value is None else f"{value:,.0f}"


def _money(value: Any) -> str:
    return NOT_IN_EVIDENCE if value is None else f"${value:,.6f}".rstrip("0").rstrip(".")


def _ms(value: Any) -> str:
    return NOT_IN_EVIDENCE if value is None else fmt_duration(value / 1000.0)


def _spent(row: dict[str, Any]) -> list[str]:
    return [esc(_tokens(row.get("tokens"))), esc(_money(row.get("cost_usd"))),
            esc(_ms(row.get("duration_ms")))]


def loop_cost(ctx: Context, found: pl.DataFrame) -> Section:
    """Tokens, cost and time inside each loop (step repetition), per session and per incident;
    "not in evidence" where the evidence holds no usage or time (never 0)."""
    loops = found.filter(pl.col("detector") == LOOP_DETECTOR)
    usage = analysis("usage")
    if loops.is_empty():
        return Section(paragraph("Loop cost: no step repetition (loop) among the findings."))
    if usage is None:
        return Section(missing("usage"))
    per_loop = []
    for row in ctx.frame(loops.drop("event_ids")).with_columns(loops["event_ids"]).iter_rows(
            named=True):
        ids = row["event_ids"]
        cells = [_run(ctx, row), esc(_when(ctx, row["ts"], row["ts_end"])), _text(row["title"]),
                 *_spent(row), f"{len(ids)} events: {_event_link(ctx, ids[0])} .. "
                               f"{_event_link(ctx, ids[-1])}"]
        per_loop.append(({"class": "il-loop", "data-finding-id": row["finding_id"]}, cells))
    spent = ["tokens", "cost", "time inside"]
    parts: list[Any] = [Html(_grid(["run", "time", "loop", *spent, "evidence"], per_loop,
                                   "Loop cost: what was spent inside each loop, first to last "
                                   "event (tokens and cost as analysis.usage counts them)",
                                   "il-loops"), f"Loop cost ({loops.height} loops)")]
    sessions = [({"class": "il-loop-session"},
                 [_run(ctx, r), esc(r["loops"]), *_spent(r), esc(r["loops_without_usage"])])
                for r in usage.loop_totals(loops).iter_rows(named=True)]
    parts.append(Html(_grid(["run", "loops", *spent, "loops without usage"], sessions,
                            "Loop cost per session", "il-loop-sessions"), "Loop cost per session"))
    incidents = _incidents(ctx)
    if incidents is not None and not incidents.is_empty():
        per = usage.loops_per_incident(loops, incidents)
        rows = [({"class": "il-loop-incident"},
                 [esc(r["incident_id"]), esc(r["loops"]), *_spent(r),
                  esc(r.get("loops_without_usage") or 0)]) for r in per.iter_rows(named=True)]
        parts.append(Html(_grid(["incident", "loops", *spent, "loops without usage"], rows,
                                "Loop cost per incident (loops starting in its window)",
                                "il-loop-incidents"), "Loop cost per incident"))
    else:
        parts.append(paragraph("Loop cost per incident: not determined (no incident in scope)."))
    return Section(*parts)


def _incidents(ctx: Context) -> pl.DataFrame | None:
    """The incident this report covers, or every one of the scope (incident=all)."""
    if ctx.incidents is None:
        return None
    if ctx.incident is not None:
        return ctx.incidents.filter(pl.col("incident_id") == ctx.incident["incident_id"])
    return ctx.incidents


# --- the events appendix ------------------------------------------------------------------------


def cited_events(ctx: Context) -> pl.DataFrame:
    """The events the findings table links, as stored (redact what is shown), in time order."""

    def compute() -> pl.DataFrame:
        found = shown_findings(ctx)
        ids = list(dict.fromkeys(
            i for row in ([] if found is None else found.iter_rows(named=True))
            for i in _linked_ids(row) + _loop_ends(row)))
        if not ids:
            return pl.DataFrame()
        return frame(ctx.con, f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events "
                     "WHERE list_contains($ids, event_id) "
                     "ORDER BY ts NULLS LAST, system, stream, seq, event_id", {"ids": ids})

    return cached(ctx, "finding_events", compute)


def _loop_ends(row: dict[str, Any]) -> list[str]:
    ids = list(row["event_ids"] or [])
    return [ids[0], ids[-1]] if row["detector"] == LOOP_DETECTOR and ids else []


def finding_events(ctx: Context) -> Section:
    """Appendix: every event a finding links, one row each (the target of its links)."""
    df = cited_events(ctx)
    if df.is_empty():
        return Section()
    found = shown_findings(ctx)
    wanted = {i for row in found.iter_rows(named=True) for i in _linked_ids(row) + _loop_ends(row)}
    rows = []
    for raw_id, row in zip(df["event_id"].to_list(), ctx.frame(df).iter_rows(named=True),
                           strict=True):
        cells = [esc(fmt_cell(row[c], ctx.tz)) if c != "ts" else esc(_when(ctx, row["ts"]))
                 for c in _EVENT_COLUMNS if c not in ("source", "record_no")]
        cells.insert(-1, esc(f"{row['source']} record {row['record_no']}"))
        rows.append(({"class": "il-cited-event", "id": event_anchor(raw_id)}, cells))
    columns = [c for c in _EVENT_COLUMNS if c not in ("source", "record_no")]
    columns.insert(-1, "record")
    parts: list[Any] = [Html(_grid(columns, rows, f"Events the findings cite ({len(rows)}), in "
                                                  "time order", "il-cited-events"),
                             f"Events the findings cite ({len(rows)} rows)")]
    lost = wanted - set(df["event_id"].to_list())
    if lost:
        parts.append(notice(f"{len(lost)} cited event ids are not in the database: "
                            f"{ctx.clean(', '.join(sorted(lost)[:10]))}.", "warning"))
    return Section(*parts)


def finding_marks(ctx: Context, lanes: pl.DataFrame) -> tuple[pl.DataFrame | None, int]:
    """The findings to mark on the swimlane chart (timed, in a (system, stream) lane of
    `lanes`), redacted, and how many of the listed findings are not marked."""
    found = shown_findings(ctx)
    if found is None or found.is_empty():
        return None, 0
    shown = lanes.select("system", "stream").unique()
    placed = found.filter(pl.col("ts").is_not_null()).join(
        shown, on=["system", "stream"], how="semi", nulls_equal=True)
    return ctx.frame(placed.drop("event_ids")), found.height - placed.height
