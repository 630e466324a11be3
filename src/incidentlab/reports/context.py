"""The report context: validated notebook parameters, the open database, and shared data computed once."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import polars as pl

from ..errors import UsageError
from ..store import connect_snapshot
from .display import Html, Section, definition_list, esc, fmt_ts, notice, table
from .paths import resolve_db
from .query import Filters, as_list, filtered_events, frame, parse_time
from .secrets import clean_frame, clean_text, make_redactor

EVENT_LIMIT = 20000
SHOWN_EVENTS = 200
EVENT_COLUMNS = ["ts", "system", "stream", "seq", "event_type", "actor", "name", "outcome",
                 "severity", "message", "event_id"]


def analysis(module: str) -> ModuleType | None:
    """The analysis module if this installation has it (it is optional for rendering)."""
    name = f"incidentlab.analysis.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in (name, "incidentlab.analysis"):
            raise  # a broken import inside the module is a bug, not an absence
        return None


def missing(module: str) -> Html:
    return notice(f"analysis.{module} is not available in this installation; section skipped.",
                  "missing")


@dataclass
class Context:
    """Everything a section needs: the open database, the filters, the zone and the redactor."""

    db: Any
    con: duckdb.DuckDBPyConnection
    incident_id: str
    title: str
    filters: Filters
    tz: ZoneInfo
    redact: bool
    redactor: Any
    severity: str
    milestone_overrides: dict[str, datetime]
    params: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)

    def clean(self, value: Any) -> Any:
        return clean_text(self.redactor, value)

    def frame(self, df: pl.DataFrame) -> pl.DataFrame:
        return clean_frame(self.redactor, df)

    def table(self, df: pl.DataFrame, caption: str = "", max_rows: int = 200) -> Html:
        return table(self.frame(df), self.tz, caption=caption, max_rows=max_rows)

    def ts(self, value: Any) -> str:
        return fmt_ts(value, self.tz)

    def _repr_html_(self) -> str:
        return header(self).parts[0].markup


def context(
    *,
    db: str,
    incident_id: str = "",
    title: str = "",
    start: str = "",
    end: str = "",
    pivot: str = "",
    span_minutes: float = 30,
    systems: Any = (),
    streams: Any = (),
    correlation_id: str = "",
    display_tz: str = "UTC",
    redact: bool = True,
    severity: str = "",
    milestones: dict[str, str] | None = None,
    rules_path: str = "",
    **extra: Any,
) -> Context:
    """Validate the notebook parameters once and open the database read-only."""
    params = {
        "db": db, "incident_id": incident_id, "title": title, "start": start, "end": end,
        "pivot": pivot, "span_minutes": span_minutes, "systems": as_list(systems),
        "streams": as_list(streams), "correlation_id": correlation_id,
        "display_tz": display_tz, "redact": redact, "severity": severity,
        "milestones": dict(milestones or {}), "rules_path": rules_path, **extra,
    }
    try:
        tz = ZoneInfo(display_tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"display_tz: unknown time zone {display_tz!r}",
                         hint="use an IANA name such as UTC or Europe/Berlin") from exc
    filters = Filters.build(start=start, end=end, pivot=pivot, span_minutes=span_minutes,
                            systems=systems, streams=streams, correlation_id=correlation_id)
    overrides = {str(k): parse_time(v, f"milestones[{k}]") for k, v in (milestones or {}).items()}
    path = resolve_db(db)
    redactor = make_redactor(bool(redact))
    return Context(
        db=path, con=connect_snapshot(path), incident_id=str(incident_id or path.stem),
        title=str(clean_text(redactor, str(title or "Incident"))), filters=filters, tz=tz,
        redact=bool(redact),
        redactor=redactor, severity=str(severity or ""),
        milestone_overrides={k: v for k, v in overrides.items() if v is not None},
        params=params,
    )


# --- shared data, computed once per context -------------------------------------------------


def cached(ctx: Context, key: str, compute: Any) -> Any:
    if key not in ctx.cache:
        ctx.cache[key] = compute()
    return ctx.cache[key]


def events(ctx: Context) -> pl.DataFrame:
    """The events in the report window (timeline filters applied), redacted."""

    def compute() -> pl.DataFrame:
        timeline = analysis("timeline")
        f = ctx.filters
        df = None
        if timeline is not None:
            df = timeline.timeline(
                ctx.con, start=f.start, end=f.end, pivot=f.pivot, span_minutes=f.span_minutes,
                systems=f.systems or None, projects=None, streams=f.streams or None,
                correlation_id=f.correlation_id, event_types=None, min_severity=None,
                limit=EVENT_LIMIT,
            )
        if df is None or not set(EVENT_COLUMNS) <= set(df.columns):
            limited = Filters(**{**f.__dict__, "limit": EVENT_LIMIT})
            df = filtered_events(ctx.con, limited, ", ".join(EVENT_COLUMNS))
        return ctx.frame(df)

    return cached(ctx, "events", compute)


def milestone_frame(ctx: Context) -> pl.DataFrame:
    def compute() -> pl.DataFrame:
        timeline = analysis("timeline")
        if timeline is not None:
            return ctx.frame(timeline.milestones(ctx.con, overrides=ctx.milestone_overrides or None))
        return pl.DataFrame(
            {"milestone": list(ctx.milestone_overrides), "ts": list(ctx.milestone_overrides.values()),
             "source": ["override"] * len(ctx.milestone_overrides),
             "evidence": [""] * len(ctx.milestone_overrides)},
            schema={"milestone": pl.String, "ts": pl.Datetime("us", "UTC"), "source": pl.String,
                    "evidence": pl.String},
        )

    return cached(ctx, "milestones", compute)


def durations(ctx: Context) -> dict[str, Any]:
    timeline = analysis("timeline")
    if timeline is None:
        return {}
    return cached(ctx, "durations", lambda: timeline.durations(milestone_frame(ctx)))


def classification(ctx: Context) -> Any | None:
    classify = analysis("classify")
    if classify is None:
        return None
    start, end = ctx.filters.window()
    return cached(ctx, "classify", lambda: classify.classify(ctx.con, start=start, end=end))


def alert_frame(ctx: Context) -> pl.DataFrame | None:
    metrics = analysis("metrics")
    if metrics is None:
        return None
    start, end = ctx.filters.window()
    return cached(ctx, "alerts", lambda: ctx.frame(
        metrics.evaluate_rules(ctx.con, rules_path=ctx.params.get("rules_path") or None,
                               start=start, end=end)))


def replay_report(ctx: Context) -> Any | None:
    replay = analysis("replay")
    if replay is None:
        return None
    streams = ctx.filters.streams or None
    return cached(ctx, "replay", lambda: replay.check(ctx.con, streams=streams))


def severity_of(ctx: Context) -> tuple[str, str]:
    if ctx.severity:
        return ctx.severity, "set by the report author (severity parameter)"
    result = classification(ctx)
    if result is None:
        return "unknown", "classification not available"
    return str(result.severity), str(ctx.clean(result.severity_reason))


def fmt_duration(value: Any) -> str:
    if value is None:
        return "not determined"
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {sec:02d}s" if hours else f"{minutes}m {sec:02d}s"



def db_info(ctx: Context) -> dict[str, Any]:
    """The same facts as `incidentlab info`, read through the context's connection."""

    def rows(sql: str) -> list[dict[str, Any]]:
        return frame(ctx.con, sql).to_dicts()

    def compute() -> dict[str, Any]:
        counts = ctx.con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_mirror), count(*) FILTER (WHERE is_mirror) "
            "FROM events").fetchall()[0]
        return {
            "events": counts[0],
            "mirror_events": counts[1],
            "metrics": ctx.con.execute("SELECT count(*) FROM metrics").fetchall()[0][0],
            "quarantined": ctx.con.execute("SELECT count(*) FROM _load_warnings").fetchall()[0][0],
            "systems": rows("SELECT system, count(*) AS events, count(DISTINCT stream) AS streams, "
                            "min(ts) AS ts_min, max(ts) AS ts_max FROM timeline_events "
                            "GROUP BY system ORDER BY system"),
            "loads": rows("SELECT loader, path, sha256, records_read, event_rows, metric_rows, "
                          "quarantined, status, CASE WHEN status <> 'ok' THEN facts->>'error' END "
                          "AS error, tz, finished_at FROM _loads ORDER BY path"),
        }

    return cached(ctx, "info", compute)


def header(ctx: Context) -> Section:
    start, end = ctx.filters.window()
    window = (f"{ctx.ts(start) if start else 'first event'} .. "
              f"{ctx.ts(end) if end else 'last event'}")
    facts = [
        ("incident", ctx.incident_id),
        ("database", ctx.db.name),
        ("window", window),
        ("systems", ", ".join(ctx.filters.systems) or "all"),
        ("streams", ", ".join(ctx.filters.streams) or "all"),
        ("display time zone", ctx.tz.key),
        ("redaction", "on" if ctx.redact else "OFF: evidence shown verbatim"),
    ]
    if ctx.filters.correlation_id:
        facts.append(("correlation id", ctx.clean(ctx.filters.correlation_id)))
    title = Html(f'<h1 class="il-title">{esc(ctx.title)}</h1>', ctx.title)
    return Section(title, definition_list(facts, ctx.tz))
