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
from .query import Filters, Scope, as_list, filtered_events, frame, parse_time
from .secrets import clean_frame, clean_text, make_redactor

EVENT_LIMIT = 20000
NOT_CLASSIFIED = "not classified"
# A time taken from a file's mtime is not evidence of when (a copy moves it): the same test as
# analysis.incidents.MTIME_SQL, kept here because rendering works without the analysis modules.
MTIME_SQL = "coalesce(ts_quality = 'derived' AND ts_raw IS NULL, false)"
TIMED_RANGE = (f"min(ts) FILTER (WHERE NOT {MTIME_SQL}) AS ts_min, "
               f"max(ts) FILTER (WHERE NOT {MTIME_SQL}) AS ts_max, "
               f"count(*) FILTER (WHERE {MTIME_SQL}) AS mtime_events")
MTIME_FILES_SQL = ("SELECT source_path AS path, system, count(*) AS events, min(ts) AS mtime "
                   f"FROM timeline_events WHERE {MTIME_SQL} AND {{scope}} GROUP BY ALL "
                   "ORDER BY path")
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
    """Everything a section needs: the open database, the scope, the zone and the redactor.

    `scope` is the one scope every section applies (the parameters' window, systems, streams
    and correlation id, cut to the incident the report covers); `asked` is the scope as the
    parameters gave it, before that cut.
    """

    db: Any
    con: duckdb.DuckDBPyConnection
    incident_id: str
    title: str
    scope: Scope
    asked: Scope
    tz: ZoneInfo
    redact: bool
    redactor: Any
    severity: str
    milestone_overrides: dict[str, datetime]
    params: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)
    # The candidate incidents of the scope and the one this report covers (None: no narrowing).
    incidents: pl.DataFrame | None = None
    incident: dict[str, Any] | None = None
    include_debug: bool = False

    def clean(self, value: Any) -> Any:
        return clean_text(self.redactor, value)

    def frame(self, df: pl.DataFrame) -> pl.DataFrame:
        return clean_frame(self.redactor, df)

    def table(self, df: pl.DataFrame, caption: str = "", max_rows: int = 200) -> Html:
        """An escaped table of the first `max_rows` rows; only those are redacted (a frame of
        200k replay violations costs what its 200 shown rows cost)."""
        if len(df) <= max_rows:
            return table(self.frame(df), self.tz, caption=caption, max_rows=max_rows)
        shown = table(self.frame(df.head(max_rows)), self.tz, caption=caption, max_rows=max_rows)
        more = f'<p class="il-more">{len(df) - max_rows} more rows not shown</p>'
        return Html(shown.markup + more, f"{caption} ({len(df)} rows)")

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
    projects: Any = (),
    streams: Any = (),
    correlation_id: str = "",
    display_tz: str = "UTC",
    redact: bool = True,
    severity: str = "",
    milestones: dict[str, str] | None = None,
    rules_path: str = "",
    incident: str = "",
    include_debug: bool = False,
    authors: Any = (),
    reviewers: Any = (),
    status: str = "draft",
    **extra: Any,
) -> Context:
    """Validate the notebook parameters once and open the database read-only.

    The report covers one incident of the scope: `incident` (an id from `incidentlab
    incidents`), by default the largest; "all" keeps the whole scope. Without a title or an
    incident id, both come from that incident (its systems and window).
    """
    params = {
        "db": db, "incident_id": incident_id, "title": title, "start": start, "end": end,
        "pivot": pivot, "span_minutes": span_minutes, "systems": as_list(systems),
        "projects": as_list(projects), "streams": as_list(streams), "correlation_id": correlation_id,
        "display_tz": display_tz, "redact": redact, "severity": severity,
        "milestones": dict(milestones or {}), "rules_path": rules_path, "incident": incident,
        "include_debug": include_debug, "authors": as_list(authors),
        "reviewers": as_list(reviewers), "status": str(status or "draft"), **extra,
    }
    try:
        tz = ZoneInfo(display_tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"display_tz: unknown time zone {display_tz!r}",
                         hint="use an IANA name such as UTC or Europe/Berlin") from exc
    asked = Scope.build(start=start, end=end, pivot=pivot, span_minutes=span_minutes,
                        systems=systems, projects=projects, streams=streams,
                        correlation_id=correlation_id)
    overrides = {str(k): parse_time(v, f"milestones[{k}]") for k, v in (milestones or {}).items()}
    path = resolve_db(db)
    redactor = make_redactor(bool(redact))
    con = connect_snapshot(path)
    metrics = analysis("metrics")
    # The firings of the asked scope find the incidents; kept, they are the report's own when
    # the incident's window holds the same evidence (see raw_alerts).
    asked_alerts = (metrics.evaluate_rules(con, asked, rules_path=rules_path or None)
                    if metrics is not None and analysis("incidents") is not None else None)
    found, chosen = find_incidents(con, asked, str(incident or ""), rules_path or None,
                                   alerts=asked_alerts)
    scope = asked if chosen is None else asked.narrowed(chosen["start_ts"], chosen["end_ts"])
    return Context(
        db=path, con=con,
        incident_id=str(incident_id or (chosen["incident_id"] if chosen else path.stem)),
        title=str(clean_text(redactor, str(title or default_title(con, scope, chosen, path)))),
        scope=scope, asked=asked, tz=tz, redact=bool(redact),
        redactor=redactor, severity=str(severity or ""),
        milestone_overrides={k: v for k, v in overrides.items() if v is not None},
        params=params, incidents=found, incident=chosen, include_debug=bool(include_debug),
        cache={} if asked_alerts is None else {"asked_alerts": asked_alerts},
    )


def find_incidents(con: duckdb.DuckDBPyConnection, scope: Scope, wanted: str,
                   rules_path: str | None, alerts: pl.DataFrame | None = None
                   ) -> tuple[pl.DataFrame | None, dict[str, Any] | None]:
    """The scope's candidate incidents and the one asked for (default: the largest);
    `alerts`: the scope's firings when already evaluated."""
    module = analysis("incidents")
    if module is None:
        return None, None
    found = module.incidents(con, scope, rules_path=rules_path, alerts=alerts,
                             with_alerts=analysis("metrics") is not None)
    if wanted == "all":
        return found, None
    return found, module.select(found, wanted or None)


def default_title(con: duckdb.DuckDBPyConnection, scope: Scope,
                  incident: dict[str, Any] | None, path: Any) -> str:
    """The incident's own title (systems, signals, window); without one, what the scope holds."""
    if incident is not None:
        return str(incident["title"])
    [(systems, lo, hi)] = con.execute(
        f"SELECT list(DISTINCT system ORDER BY system), min(ts), max(ts) FROM timeline_events "
        f"WHERE {scope.sql()} AND NOT {MTIME_SQL}").fetchall()
    if lo is None:
        return f"{path.stem}: no timed events in scope"
    return (f"{', '.join(systems)}: no failure signal, {lo:%Y-%m-%d %H:%M} .. "
            f"{hi:%Y-%m-%d %H:%M} UTC")


# --- shared data, computed once per context -------------------------------------------------


def cached(ctx: Context, key: str, compute: Any) -> Any:
    if key not in ctx.cache:
        ctx.cache[key] = compute()
    return ctx.cache[key]


def raw_events(ctx: Context) -> pl.DataFrame:
    """The events in scope as stored (not redacted: redact what is shown), the latest
    EVENT_LIMIT in time order; debug events (unless include_debug) and events timed by a
    file's mtime are left out, see `hidden`."""

    def compute() -> pl.DataFrame:
        timeline = analysis("timeline")
        df = None
        if timeline is not None:
            df = timeline.timeline(ctx.con, ctx.scope, limit=EVENT_LIMIT,
                                   include_debug=ctx.include_debug)
        if df is None or not set(EVENT_COLUMNS) <= set(df.columns):
            limited = Filters(ctx.scope, limit=EVENT_LIMIT)
            df = filtered_events(ctx.con, limited, ", ".join(EVENT_COLUMNS))
        return df

    return cached(ctx, "raw_events", compute)


def events(ctx: Context) -> pl.DataFrame:
    """`raw_events`, redacted (every row: sections redact only the rows they show)."""
    return cached(ctx, "events", lambda: ctx.frame(raw_events(ctx)))


def hidden(ctx: Context) -> dict[str, Any]:
    """What `events` leaves out in this window: debug events and events timed by file mtime."""
    timeline = analysis("timeline")
    if timeline is None or not hasattr(timeline, "hidden"):
        return {"debug": 0, "mtime": 0, "mtime_files": []}
    return cached(ctx, "hidden", lambda: timeline.hidden(ctx.con, ctx.scope))


def milestone_frame(ctx: Context) -> pl.DataFrame:
    """The milestones of the incident this report covers, each citing its evidence (redacted)."""

    def compute() -> pl.DataFrame:
        module = analysis("milestones")
        overrides = ctx.milestone_overrides or None
        if module is None:
            return _override_frame(ctx)
        if ctx.incident is None:
            n = 0 if ctx.incidents is None else ctx.incidents.height
            reason = (module.NO_SIGNAL if n == 0 else
                      f"this report covers {n} incidents (incident=all); milestones are "
                      "derived within one incident")
            return ctx.frame(module.undetermined(reason, overrides))
        return ctx.frame(module.milestones(
            ctx.con, ctx.scope, incident=ctx.incident, overrides=overrides,
            rules_path=ctx.params.get("rules_path") or None,
            alerts=raw_alerts(ctx) if analysis("metrics") is not None else pl.DataFrame()))

    return cached(ctx, "milestones", compute)


def _override_frame(ctx: Context) -> pl.DataFrame:
    names = list(ctx.milestone_overrides)
    return pl.DataFrame(
        {"milestone": names, "ts": list(ctx.milestone_overrides.values()),
         "basis": ["override"] * len(names), "evidence": ["set by the report author"] * len(names)},
        schema={"milestone": pl.String, "ts": pl.Datetime("us", "UTC"), "basis": pl.String,
                "evidence": pl.String},
    )


def durations(ctx: Context) -> dict[str, Any]:
    """TTD / TTM / TTR (seconds or None), `in_order`, `violations` and the `notes` on each."""
    module = analysis("milestones")
    if module is None:
        return {}
    return cached(ctx, "durations", lambda: module.durations(milestone_frame(ctx)))


def classification(ctx: Context) -> Any | None:
    classify = analysis("classify")
    if classify is None:
        return None
    return cached(ctx, "classify", lambda: classify.classify(
        ctx.con, ctx.scope, rules_path=ctx.params.get("rules_path") or None,
        alerts=raw_alerts(ctx)))


def raw_alerts(ctx: Context) -> pl.DataFrame | None:
    """Rule firings in scope, as evaluated (ids unredacted, for the analysis)."""
    metrics = analysis("metrics")
    if metrics is None:
        return None

    def compute() -> pl.DataFrame:
        asked = ctx.cache.get("asked_alerts")
        if asked is not None and same_evidence(ctx):
            return asked
        return metrics.evaluate_rules(ctx.con, ctx.scope,
                                      rules_path=ctx.params.get("rules_path") or None)

    return cached(ctx, "raw_alerts", compute)


def same_evidence(ctx: Context) -> bool:
    """Whether rules evaluated over the report's scope fire exactly as over the asked one, so
    that the asked scope's firings (computed to find the incidents) are reused: the scopes
    differ at most in their bounds, and their evaluation windows are the same
    (metrics.evaluation_window: then every query of the evaluation reads the same rows)."""
    if ctx.scope == ctx.asked:
        return True
    if ctx.scope.unwindowed() != ctx.asked.unwindowed():
        return False
    metrics = analysis("metrics")
    return (metrics is not None and metrics.evaluation_window(ctx.con, ctx.asked)
            == metrics.evaluation_window(ctx.con, ctx.scope))


def alert_frame(ctx: Context) -> pl.DataFrame | None:
    raw = raw_alerts(ctx)
    return None if raw is None else cached(ctx, "alerts", lambda: ctx.frame(raw))


def replay_report(ctx: Context) -> Any | None:
    replay = analysis("replay")
    if replay is None:
        return None
    return cached(ctx, "replay", lambda: replay.check(ctx.con, ctx.scope))


def severity_of(ctx: Context) -> tuple[str, str]:
    if ctx.severity:
        return ctx.severity, "set by the report author (severity parameter)"
    result = classification(ctx)
    if result is None:
        return NOT_CLASSIFIED, "classification not available"
    if result.severity is None:
        return NOT_CLASSIFIED, str(ctx.clean(result.severity_reason))
    return str(result.severity), str(ctx.clean(result.severity_reason))


def severity_line(ctx: Context) -> str:
    """The severity with one reason, said once ("SEV2 (definition, ...): mode — why")."""
    sev, reason = severity_of(ctx)
    return reason if reason.startswith(sev) else f"{sev}: {reason}"


def usage_frame(ctx: Context) -> pl.DataFrame | None:
    """Tokens and cost in scope per system, session and model, each call counted once."""
    module = analysis("usage")
    if module is None:
        return None
    return cached(ctx, "usage", lambda: module.usage(ctx.con, ctx.scope))


def findings_frame(ctx: Context) -> pl.DataFrame | None:
    """The coded findings of the scope (analysis.findings.find: time order, untimed last) as
    found, not redacted (redact what is shown); None without the findings analysis."""
    module = analysis("findings")
    if module is None:
        return None
    return cached(ctx, "findings", lambda: module.find(ctx.con, ctx.scope))


def usage_totals(ctx: Context) -> dict[str, Any] | None:
    module = analysis("usage")
    frame_ = usage_frame(ctx)
    return None if module is None or frame_ is None else module.totals(frame_)


def db_info(ctx: Context) -> dict[str, Any]:
    """The facts of `incidentlab info`, for the scope: its events, metric points and streams;
    the files that hold them (and failed files of its systems), with their quarantined records.
    `database_loads` counts every file of the database."""

    def rows(sql: str) -> list[dict[str, Any]]:
        return frame(ctx.con, sql).to_dicts()

    def one(sql: str) -> Any:
        return ctx.con.execute(sql).fetchall()[0][0]

    def compute() -> dict[str, Any]:
        scope = ctx.scope.sql()
        counts = ctx.con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_mirror), count(*) FILTER (WHERE is_mirror) "
            f"FROM events WHERE {scope}").fetchall()[0]
        loads = scoped_loads(ctx)
        return {
            "events": counts[0],
            "mirror_events": counts[1],
            "metrics": one(f"SELECT count(*) FROM metrics WHERE {ctx.scope.metrics_sql()}"),
            "quarantined": one(f"SELECT count(*) FROM _load_warnings WHERE load_id IN ({loads})"),
            "systems": rows(f"SELECT system, count(*) AS events, count(DISTINCT stream) AS streams, "
                            f"{TIMED_RANGE} FROM timeline_events WHERE {scope} "
                            "GROUP BY system ORDER BY system"),
            "mtime_files": rows(MTIME_FILES_SQL.format(scope=ctx.scope.sql(window=False))),
            "loads": rows("SELECT loader, loader_version, path, sha256, records_read, "
                          "event_rows, metric_rows, "
                          "quarantined, status, CASE WHEN status <> 'ok' THEN facts->>'error' END "
                          f"AS error, tz, finished_at FROM _loads WHERE load_id IN ({loads}) "
                          "ORDER BY path"),
            "database_loads": one("SELECT count(*) FROM _loads"),
        }

    return cached(ctx, "info", compute)


def scoped_loads(ctx: Context) -> str:
    """SQL selecting the load ids of the scope: files holding an event or metric point in it,
    and files of its systems that failed (they hold nothing to place in a window)."""
    if ctx.scope.is_everything:
        return "SELECT load_id FROM _loads"
    failed = Scope(systems=ctx.scope.systems).sql()
    return (f"SELECT load_id FROM events WHERE {ctx.scope.sql()} "
            f"UNION SELECT load_id FROM metrics WHERE {ctx.scope.metrics_sql()} "
            f"UNION SELECT load_id FROM _loads WHERE status <> 'ok' AND {failed}")


def scope_note(ctx: Context, info: dict[str, Any]) -> str:
    """" In scope: ...; the database holds N files." when the report does not cover it all."""
    if ctx.scope.is_everything:
        return ""
    return (f" These counts are for the scope ({ctx.clean(ctx.scope.describe())}); the "
            f"database holds {info['database_loads']} files in all.")


def shown_sql(ctx: Context) -> str:
    """The events the report shows: in scope, not timed by a file's mtime, and not debug
    (unless include_debug), the same rule as `events` (timeline.timeline)."""
    debug = "" if ctx.include_debug else " AND coalesce(severity, '') <> 'debug'"
    return f"{ctx.scope.sql()} AND NOT {MTIME_SQL}{debug}"


def counts(ctx: Context) -> dict[str, Any]:
    """Counts of the events the report shows, over all of them (not a bounded listing)."""
    return cached(ctx, "counts", lambda: frame(ctx.con, f"""
        SELECT count(*) AS events,
               count(*) FILTER (WHERE severity IN ('error', 'critical')) AS errors,
               count(*) FILTER (WHERE event_type = 'tool.result' AND outcome <> 'ok')
                   AS failed_tools,
               count(*) FILTER (WHERE outcome = 'denied') AS denied,
               count(DISTINCT stream) AS streams,
               count(DISTINCT stream) FILTER (WHERE severity IN ('warning', 'error', 'critical'))
                   AS loud_streams,
               list(DISTINCT system ORDER BY system) AS systems,
               min(ts) AS first_ts, max(ts) AS last_ts
        FROM timeline_events WHERE {shown_sql(ctx)}""").row(0, named=True))


def evidence_range(ctx: Context) -> tuple[Any, Any]:
    """First and last event time in scope, leaving out times taken from file mtimes."""
    return cached(ctx, "evidence_range", lambda: tuple(ctx.con.execute(
        f"SELECT min(ts), max(ts) FROM timeline_events WHERE {ctx.scope.sql()} "
        f"AND NOT {MTIME_SQL}").fetchall()[0]))


def header(ctx: Context) -> Section:
    start, end = ctx.scope.start, ctx.scope.end
    window = (f"{ctx.ts(start) if start else 'first event'} .. "
              f"{ctx.ts(end) if end else 'last event'}")
    first = evidence_range(ctx)[0]
    facts = [
        ("incident", ctx.incident_id),
        ("date", first.astimezone(ctx.tz).strftime("%Y-%m-%d") if first else "not determined"),
        ("status", ctx.params.get("status") or "draft"),
        ("authors", ", ".join(ctx.params.get("authors") or []) or "TO WRITE"),
        ("reviewers", ", ".join(ctx.params.get("reviewers") or []) or "TO WRITE"),
        ("severity", severity_line(ctx)),
        ("database", ctx.db.name),
        ("window", window),
        ("systems", ", ".join(ctx.scope.systems) or "all"),
        ("projects", ", ".join(ctx.scope.projects) or "all"),
        ("streams", ", ".join(ctx.scope.streams) or "all"),
        ("display time zone", ctx.tz.key),
        ("redaction", "on" if ctx.redact else "OFF: evidence shown verbatim"),
    ]
    if ctx.scope.correlation_id:
        facts.append(("correlation id", ctx.clean(ctx.scope.correlation_id)))
    title = Html(f'<h1 class="il-title">{esc(ctx.title)}</h1>', ctx.title)
    return Section(title, definition_list(facts, ctx.tz), incidents_notice(ctx))


def incidents_notice(ctx: Context) -> Html | None:
    """When the scope holds several incidents: say so, name them, and say which one is shown."""
    found = ctx.incidents
    if found is None or found.height <= 1:
        return None
    shown = ctx.incident["incident_id"] if ctx.incident else None
    listed = found.sort("rank").head(10)
    names = "; ".join(
        f"{r['incident_id']} ({r['signals']} signals, {ctx.ts(r['first_ts'])} .. "
        f"{ctx.ts(r['end_ts'])}){' <- this report' if r['incident_id'] == shown else ''}"
        for r in listed.iter_rows(named=True))
    more = f"; and {found.height - listed.height} more" if found.height > listed.height else ""
    which = (f"This report covers {shown}" + (" (the largest)" if not ctx.params.get("incident")
                                              else "") if shown else
             "This report covers all of them (incident=all) and derives no milestone")
    return notice(f"The scope holds {found.height} candidate incidents: {ctx.clean(names)}{more}. "
                  f"{which}; render another with -p incident=ID.", "warning")
