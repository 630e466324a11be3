"""Windowed trends and the runbooks' alert rules: a few generic rule kinds, parameterized by TOML."""

from __future__ import annotations

import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ..scope import Scope
from ._sql import Where, frame, interval
from .alerting import firing
from .alerting.selection import Selection
from .alerting.selection import systems as _systems
from .catalogs import read_entries

LEVELS = {"warn": 1, "page": 2, "critical": 3}
KINDS = ("count", "ratio", "baseline", "consecutive", "absence", "duration", "metric", "outlier",
         "sequence")
REQUIRED = {"ratio": ("numerator",), "duration": ("opener", "closer"), "metric": ("metric",),
            "sequence": ("anchor", "follower")}
GROUPABLE = {"system", "source", "stream", "project", "actor", "name", "event_type",
             "correlation_id", "source_path", "error_code", "error_category"}
ALERT_SCHEMA = {
    "rule": pl.Utf8, "title": pl.Utf8, "system": pl.Utf8, "group": pl.Utf8, "level": pl.Utf8,
    "first_fired": pl.Datetime("us", "UTC"), "last_fired": pl.Datetime("us", "UTC"),
    "cleared": pl.Datetime("us", "UTC"), "peak": pl.Float64, "event_ids": pl.List(pl.Utf8),
    "evidence": pl.Utf8, "runbook": pl.Utf8,
}
MAX_EVIDENCE_IDS = 50
EVIDENCE_SHOWN = 5  # "id @ time" pairs spelled out in the `evidence` column


def trend(
    con: duckdb.DuckDBPyConnection,
    scope: Scope | None = None,
    *,
    every: str = "5 minutes",
    by: str | None = "system",
    event_types: Any = None,
    baseline_buckets: int = 12,
    **fields: Any,
) -> pl.DataFrame:
    """Counts, errors and error ratio per time bucket and group, with a trailing baseline.

    `baseline` is the mean count of the previous `baseline_buckets` buckets of the same group
    (empty buckets count as zero) and `spike` is count / baseline (null without history).
    """
    if by is not None and by not in GROUPABLE:
        raise UsageError(f"cannot group by {by!r}", hint=f"use one of {sorted(GROUPABLE)}")
    where = Where().add("ts IS NOT NULL").add(Scope.of(scope, **fields).sql())
    where.one_of("event_type", event_types)
    group = f"coalesce({by}, '')" if by else "'all'"
    step = interval(every)
    sql = f"""
    WITH b AS (
        SELECT time_bucket({step}, ts) AS bucket, {group} AS "group", count(*) AS count,
               count(*) FILTER (outcome IN ('error', 'timeout')
                                OR severity IN ('error', 'critical')) AS errors
        FROM timeline_events {where.sql()} GROUP BY ALL
    ), span AS (SELECT min(bucket) AS lo, max(bucket) AS hi FROM b),
    grid AS (
        SELECT g."group", unnest(generate_series(span.lo, span.hi, {step})) AS bucket
        FROM (SELECT DISTINCT "group" FROM b) g, span
    ), dense AS (
        SELECT grid.bucket, grid."group", coalesce(b.count, 0) AS count,
               coalesce(b.errors, 0) AS errors
        FROM grid LEFT JOIN b USING (bucket, "group")
    )
    SELECT bucket, "group", count, errors,
           CASE WHEN count > 0 THEN errors / count END AS error_ratio,
           avg(count) OVER w AS baseline,
           CASE WHEN avg(count) OVER w > 0 THEN count / avg(count) OVER w END AS spike
    FROM dense
    WINDOW w AS (PARTITION BY "group" ORDER BY bucket
                 ROWS BETWEEN {int(baseline_buckets)} PRECEDING AND 1 PRECEDING)
    ORDER BY bucket, "group" """
    return frame(con, sql, where.params)


def default_rules_path() -> Path:
    return Path(str(resources.files("incidentlab") / "rules" / "default_rules.toml"))


def load_rules(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The rule dicts of a rules file (the shipped default when no path is given), validated.

    A file may `include = ["other.toml"]` (paths relative to it): the shipped default includes
    the generic rules (generic_rules.toml). A rule's `defer_to` names rules whose systems it
    leaves to them (their runbook's own rule for the same signal); a named rule that is not
    loaded defers nothing.
    """
    source = Path(path) if path is not None else default_rules_path()
    rules = read_entries(source, "rule", "rules file")
    seen: set[str] = set()
    for rule in rules:
        rid = rule.get("id")
        if not rid or rid in seen:
            raise UsageError(f"{source}: rule without id or duplicate id {rid!r}",
                             hint="give every [[rule]] a unique id")
        seen.add(rid)
        _validate(source, rule)
    systems = {r["id"]: _systems(r) for r in rules}
    for rule in rules:
        rule["_defer_systems"] = sorted(
            {s for rid in rule.get("defer_to", []) for s in systems.get(rid, [])})
    return rules


def _validate(source: Path, rule: dict[str, Any]) -> None:
    rid, kind = rule["id"], rule.get("kind")
    if kind not in KINDS:
        raise UsageError(f"{source}: rule {rid} has kind {kind!r}",
                         hint=f"use one of {', '.join(KINDS)}")
    for key in REQUIRED.get(kind, ()):
        if not rule.get(key):
            raise UsageError(f"{source}: {kind} rule {rid} needs `{key}`", hint="add it")
    if not rule.get("levels"):
        raise UsageError(f"{source}: rule {rid} has no levels", hint="add levels = [...]")
    for level in rule["levels"]:
        if level.get("level") not in LEVELS:
            raise UsageError(f"{source}: rule {rid} level {level.get('level')!r}",
                             hint="levels are warn, page or critical")
    for column in rule.get("group_by", []):
        if kind != "metric" and column not in GROUPABLE:
            raise UsageError(f"{source}: rule {rid} groups by {column!r}",
                             hint=f"use columns among {sorted(GROUPABLE)}")


def redaction_patterns(path: str | Path | None = None) -> list[str]:
    """User redaction patterns from the rules file's [redaction] table."""
    source = Path(path) if path is not None else default_rules_path()
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read rules file {source}: {exc}", hint="check --rules") from exc
    return list(data.get("redaction", {}).get("patterns", []))


def evaluation_window(con: duckdb.DuckDBPyConnection,
                      scope: Scope) -> tuple[datetime, datetime, datetime] | None:
    """(start, end, last event time) that `evaluate_rules` evaluates the scope over: its bounds,
    else its first and last timed event; None when no event in scope has a time.

    The rules read only the timed events and metric points inside [start, end] and the tool
    calls of the scope at any time (selection.py), so two scopes that differ only in their
    bounds and have the same evaluation window fire alike."""
    [(lo, hi)] = con.execute(
        f"SELECT min(ts), max(ts) FROM timeline_events WHERE ts IS NOT NULL AND {scope.sql()}"
    ).fetchall()
    return None if lo is None else (scope.start or lo, scope.end or hi, hi)


def evaluate_rules(
    con: duckdb.DuckDBPyConnection,
    scope: Scope | None = None,
    *,
    rules_path: str | Path | None = None,
    rules: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> pl.DataFrame:
    """One row per fired (rule, group, level): first/last fired, cleared, peak, evidence ids.

    Rules look only at the scope's events and metric points (its window, systems, projects,
    streams, correlation id); a tool result's call is looked up in the same scope at any time.

    `cleared` is when the condition stopped holding as far as the evidence shows (the next
    evaluation that did not fire, or the window running out, whichever is first); null when the
    evidence ends while it still fires.
    """
    rules = rules if rules is not None else load_rules(rules_path)
    scope = Scope.of(scope, **fields)
    window = evaluation_window(con, scope)
    if window is None:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    ctx = Selection(con, scope, *window)
    try:
        fired, cited = firing.evaluate(ctx, rules, MAX_EVIDENCE_IDS)
    finally:
        ctx.close()
    if not fired.height:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    out = _cite(cited, fired.with_columns(pl.lit(None).cast(pl.Utf8).alias("evidence"))
                .select(list(ALERT_SCHEMA)).cast(ALERT_SCHEMA))
    rank = pl.col("level").replace_strict(LEVELS, return_dtype=pl.Int32)
    # A group that reached page also shows its warn row; keep both, most severe first.
    return out.sort([rank, "first_fired"], descending=[True, False],
                    maintain_order=True).select(list(ALERT_SCHEMA))


def _cite(found: pl.DataFrame, out: pl.DataFrame) -> pl.DataFrame:
    """Add `evidence` ("id @ time" of the first events) and, for rules that are not tied to one
    system, the system(s) of the evidence, from the cited events' rows (`found`).

    Set-based over the (row, cited id) pairs: only the few ids a row spells out become text, so
    a rule that fires on thousands of groups costs a join, not a Python loop over every id."""
    found = (found.unique("event_id", keep="last", maintain_order=True)
             .with_columns(pl.lit(True).alias("_known")))
    cited = (out.select(pl.int_range(pl.len()).alias("_row"), pl.col("event_ids").alias("event_id"))
             .explode("event_id").drop_nulls("event_id")
             .with_columns(pl.int_range(pl.len()).over("_row").alias("_pos"))
             .join(found, on="event_id", how="left", maintain_order="left"))
    shown = cited.filter(pl.col("_pos") < EVIDENCE_SHOWN)
    texts = [cite_event(i, t, q) if known else i  # not an event: a metric row's path:record
             for i, t, q, known in shown.select("event_id", "ts", "ts_quality", "_known").iter_rows()]
    rows = (shown.select("_row").with_columns(pl.Series("_text", texts, dtype=pl.Utf8))
            .group_by("_row", maintain_order=True).agg(pl.col("_text").str.join("; ")))
    systems = (cited.filter(pl.col("system").is_not_null() & (pl.col("system") != ""))
               .group_by("_row").agg(pl.col("system").unique().sort().str.join(",")
                                     .alias("_systems")))
    more = pl.col("event_ids").list.len().cast(pl.Int64) - EVIDENCE_SHOWN
    return (out.with_columns(pl.int_range(pl.len()).alias("_row"))
            .join(rows, on="_row", how="left", maintain_order="left")
            .join(systems, on="_row", how="left", maintain_order="left")
            .with_columns(
                (pl.col("_text").fill_null("")
                 + pl.when(more > 0).then(pl.lit("; +") + more.cast(pl.Utf8) + pl.lit(" more"))
                 .otherwise(pl.lit(""))).alias("evidence"),
                pl.coalesce(pl.col("system"), pl.col("_systems")).alias("system"))
            .drop("_row", "_text", "_systems"))


def cite_event(event_id: str, ts: datetime | None, quality: str | None) -> str:
    """Cite an event as "id @ time", saying when the time is not its own (a file's or header's)."""
    if ts is None:
        return f"{event_id} (no time recorded)"
    note = " (derived time)" if quality == "derived" else ""
    return f"{event_id} @ {ts.isoformat()}{note}"


def max_level(alerts: pl.DataFrame) -> str | None:
    if not alerts.height:
        return None
    return max(alerts["level"].to_list(), key=LEVELS.__getitem__)
