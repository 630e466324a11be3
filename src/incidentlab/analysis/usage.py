"""Token and cost usage per session and model, each call counted once.

What a metric means is declared by the loader that writes it (`usage` on the loader class, see
`loaders.base.Usage`): its canonical field, whether its points are per call (summed), cumulative
(running totals: only their growth counts, so a session adds up to its last value) or one
session total, and whether it is already part of another field (Codex's cached input is inside
its input tokens). This module holds no knowledge of any system: it joins the metric points to
those declarations through the load that wrote them and adds up, in one query.

A field no point of the group carries is NULL ("not in evidence"), never 0, and never estimated
(no price tables: cost_usd is only what the evidence says it cost).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ..loaders import all_loaders
from ..loaders.base import USAGE_FIELDS, Loader, Usage, usage_of
from ..scope import Scope

TOKEN_FIELDS = tuple(f for f in USAGE_FIELDS if f.endswith("_tokens") and f != "estimated_tokens")
GROUPABLE = ("system", "source", "loader", "stream", "project", "model", "source_path")
DEFAULT_BY = ("system", "stream", "model")
SCHEMA: dict[str, Any] = {
    **{f: pl.Float64 for f in (*TOKEN_FIELDS, "estimated_tokens", "total_tokens", "cost_usd")},
    "points": pl.Int64, "cost_points": pl.Int64, "duplicate_points": pl.Int64,
    "first_ts": pl.Datetime("us", "UTC"), "last_ts": pl.Datetime("us", "UTC"),
    "semantics": pl.Utf8, "files": pl.List(pl.Utf8), "metrics": pl.List(pl.Utf8),
    "notes": pl.List(pl.Utf8),
}


def declarations(loaders: Iterable[Loader] | None = None) -> list[tuple[str, Usage]]:
    """(loader name, declaration) for every usage metric the registered loaders declare."""
    return [(loader.name, u) for loader in (all_loaders() if loaders is None else loaders)
            for u in usage_of(loader)]


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _declaration_rows(decls: Sequence[tuple[str, Usage]]) -> str:
    columns = "loader, metric, label, label_value, field, counting, within, key_label, note"
    if not decls:
        return (f"SELECT * FROM (VALUES ({', '.join(['NULL::VARCHAR'] * 9)})) "
                f"AS d({columns}) WHERE false")
    rows = ",\n            ".join(
        "(" + ", ".join(_literal(v) for v in (
            loader, u.metric, u.where[0] if u.where else None, u.where[1] if u.where else None,
            u.field, u.counting, u.within, u.key, u.note)) + ")"
        for loader, u in decls)
    return f"SELECT * FROM (VALUES\n            {rows}) AS d({columns})"


def usage_sql(scope: Scope, by: Sequence[str], decls: Sequence[tuple[str, Usage]],
              windows: str | None = None) -> str:
    """The one query behind `usage` (exposed so a reader can see how each figure is made).

    `windows`: a table of (window_no, system, stream, start_ts, end_ts) whose every row is a
    scope of its own (a NULL stream: every stream of the system); the points are then counted
    per `window_no` (which `by` must name) instead of over `scope`."""
    group = ", ".join(by)
    select = f"{group}, " if by else ""
    in_windows = (f"JOIN {windows} w ON u.system = w.system AND (w.stream IS NULL OR "
                  "u.stream = w.stream) AND u.ts >= w.start_ts AND u.ts <= w.end_ts"
                  if windows else "")
    tokens = ", ".join(f"{f}" for f in TOKEN_FIELDS)
    sums = ",\n        ".join(
        f"sum(amount) FILTER (WHERE field = '{f}') AS {f}" for f in (*TOKEN_FIELDS,
                                                                     "estimated_tokens"))
    return f"""
    WITH decl AS ({_declaration_rows(decls)}),
    points AS (
        SELECT m.load_id, m.system, m.source, l.loader, m.source_path, m.record_no, m.ts,
               m.stream, m.project, m.name, m.value, m.labels ->> 'model' AS model,
               d.field, d.counting, d.within, d.note,
               CASE WHEN d.key_label IS NOT NULL THEN m.labels ->> d.key_label END AS call_key
        FROM metrics m
        JOIN _loads l USING (load_id)
        JOIN decl d ON d.loader = l.loader AND d.metric = m.name
             AND (d.label IS NULL OR m.labels ->> d.label = d.label_value)
        WHERE m.value IS NOT NULL
    ),
    ordered AS (
        -- Over all points of a series (before the scope), so a window sees only the growth of a
        -- cumulative counter inside it, and a call written in two files is counted once.
        SELECT *,
               CASE WHEN call_key IS NULL THEN 1 ELSE row_number() OVER (
                   PARTITION BY loader, name, call_key ORDER BY load_id, record_no) END AS copy,
               lag(value) OVER (PARTITION BY load_id, stream, name
                                ORDER BY record_no, ts) AS previous,
               row_number() OVER (PARTITION BY load_id, stream, name
                                  ORDER BY value DESC, record_no) AS largest
        FROM points
    ),
    counted AS (
        SELECT u.*,{" w.window_no," if windows else ""}
               CASE counting
                   WHEN 'per_call' THEN value
                   -- a running total: what it grew by (a counter that restarts counts anew)
                   WHEN 'cumulative' THEN CASE WHEN previous IS NULL OR value < previous
                                               THEN value ELSE value - previous END
                   WHEN 'session_total' THEN CASE WHEN largest = 1 THEN value ELSE 0 END
               END AS amount
        FROM ordered u
        {in_windows}
        WHERE {scope.metrics_sql("u")}
    ),
    used AS (SELECT * FROM counted WHERE copy = 1),
    grouped AS (
        SELECT {select}
        {sums},
        sum(amount) FILTER (WHERE field IN ({", ".join(repr(f) for f in TOKEN_FIELDS)})
                            AND within IS NULL) AS total_tokens,
        -- a counter's growths add up to its last value but for float noise (0.42000000000000015):
        -- 9 decimals keep every digit a cost in evidence has
        round(sum(amount) FILTER (WHERE field = 'cost_usd'), 9) AS cost_usd,
        count(*) AS points,
        count(*) FILTER (WHERE field = 'cost_usd') AS cost_points,
        min(ts) AS first_ts, max(ts) AS last_ts,
        array_to_string(list_sort(list(DISTINCT counting)), ',') AS semantics,
        list_sort(list(DISTINCT source_path)) AS files,
        list_sort(list(DISTINCT name || ' -> ' || field || ' (' || counting || ')')) AS metrics,
        list_sort(list(DISTINCT note) FILTER (WHERE note IS NOT NULL)) AS notes
        FROM used
        {f"GROUP BY {group}" if by else ""}
    ),
    dropped AS (
        SELECT {select}count(*) AS duplicate_points FROM counted WHERE copy > 1
        {f"GROUP BY {group}" if by else ""}
    )
    SELECT {", ".join(f"g.{c}" for c in by)}{", " if by else ""}
           {", ".join(f"g.{f}" for f in tokens.split(", "))}, g.estimated_tokens,
           g.total_tokens, g.cost_usd, g.points, g.cost_points,
           coalesce(x.duplicate_points, 0) AS duplicate_points, g.first_ts, g.last_ts,
           g.semantics, g.files, g.metrics, g.notes
    FROM grouped g
    LEFT JOIN dropped x ON {" AND ".join(f"g.{c} IS NOT DISTINCT FROM x.{c}" for c in by) or "true"}
    {"ORDER BY " + ", ".join(f"g.{c} NULLS LAST" for c in by) if by else ""}
    """


def group_columns(by: Any) -> tuple[str, ...]:
    if by is None:
        return DEFAULT_BY
    columns = tuple(c.strip() for c in by.split(",") if c.strip()) if isinstance(by, str) else (
        tuple(by))
    unknown = [c for c in columns if c not in GROUPABLE]
    if unknown:
        raise UsageError(f"cannot group usage by {', '.join(map(repr, unknown))}",
                         hint=f"use any of {', '.join(GROUPABLE)}")
    return tuple(dict.fromkeys(columns))


def usage(
    con: duckdb.DuckDBPyConnection,
    scope: Scope | dict[str, Any] | None = None,
    *,
    by: Sequence[str] | str | None = DEFAULT_BY,
    **fields: Any,
) -> pl.DataFrame:
    """Tokens and cost per group (default: system, stream = session, model), counted once.

    Columns: the `by` columns; input/output/cache_read/cache_creation/reasoning tokens, tokens
    the source only estimated, total_tokens (the fields not already inside another), cost_usd
    (NULL when no point of the group carries a cost: not in evidence); points (metric rows
    used), cost_points, duplicate_points (the same call written again, not counted),
    first_ts/last_ts, semantics (per_call / cumulative / session_total), files (the evidence
    files summed), metrics (which metric became which field, how) and notes (rounded,
    estimated by the source). Metric points without a time fall outside any window.
    """
    chosen = Scope.of(scope, **fields)
    columns = group_columns(by)
    cursor = con.cursor()  # its own result: a pending one on `con` does not get in the way
    try:
        table = cursor.sql(usage_sql(chosen, columns, declarations())).to_arrow_table()
    finally:
        cursor.close()
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    if out.is_empty():
        return pl.DataFrame(schema={**{c: pl.Utf8 for c in columns}, **SCHEMA})
    return out


def totals(frame: pl.DataFrame) -> dict[str, Any]:
    """One row adding up a usage frame's groups (each group is counted once already).

    A field stays None when no group has it; cost_usd also says how many groups lack one.
    """
    out: dict[str, Any] = {}
    for column in (*TOKEN_FIELDS, "estimated_tokens", "total_tokens", "cost_usd"):
        values = frame.get_column(column).drop_nulls() if column in frame.columns else []
        out[column] = float(sum(values)) if len(values) else None
    out["points"] = int(frame.get_column("points").sum()) if not frame.is_empty() else 0
    out["groups"] = frame.height
    out["groups_without_cost"] = (frame.get_column("cost_usd").null_count()
                                  if not frame.is_empty() else 0)
    return out


# --- loop cost ------------------------------------------------------------------------------

LOOP_KEYS = ("system", "stream")


def loop_cost(con: duckdb.DuckDBPyConnection, loops: pl.DataFrame) -> pl.DataFrame:
    """Each loop (rows with system, stream, ts, ts_end: a step-repetition finding) with the
    tokens (`total_tokens` of `usage` over its stream from its first to its last event), cost
    and time spent inside it; each null when the evidence has no usage points or no time there
    (never 0 made up). One query for all loops: each loop is a window of `usage_sql`."""
    timed = pl.col("ts").is_not_null() & pl.col("ts_end").is_not_null()
    numbered = loops.with_row_index("window_no").with_columns(pl.col("window_no").cast(pl.Int64))
    windows = numbered.filter(timed).select(
        "window_no", pl.col("system").cast(pl.Utf8), pl.col("stream").cast(pl.Utf8),
        pl.col("ts").alias("start_ts"), pl.col("ts_end").alias("end_ts"))
    spent = pl.DataFrame(schema={"window_no": pl.Int64, "total_tokens": pl.Float64,
                                 "cost_usd": pl.Float64})
    if windows.height:
        cursor = con.cursor()  # its own result: a pending one on `con` does not get in the way
        try:
            cursor.register("_il_loop_windows", windows.to_arrow())
            found = pl.from_arrow(cursor.sql(usage_sql(
                Scope(), ("window_no",), declarations(), windows="_il_loop_windows")).to_arrow_table())
        finally:
            cursor.close()
        assert isinstance(found, pl.DataFrame)
        if found.height:
            spent = found.select(pl.col("window_no").cast(pl.Int64), "total_tokens", "cost_usd")
    out = numbered.join(spent, on="window_no", how="left").sort("window_no")
    return loops.with_columns(
        out["total_tokens"].round().cast(pl.Int64).alias("tokens"),
        out["cost_usd"].cast(pl.Float64).alias("cost_usd"),
        pl.when(timed).then((pl.col("ts_end") - pl.col("ts")).dt.total_microseconds() / 1000.0)
        .cast(pl.Float64).alias("duration_ms"))


def _sum_or_null(column: str) -> pl.Expr:
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum()).otherwise(None)


def loop_totals(loops: pl.DataFrame, by: Sequence[str] = LOOP_KEYS) -> pl.DataFrame:
    """Loop findings added up per group (default: per session): loops, tokens, cost_usd,
    duration_ms (null when no loop of the group has it), loops_without_usage, event_ids."""
    schema = {**{c: pl.Utf8 for c in by}, "loops": pl.UInt32, "tokens": pl.Int64,
              "cost_usd": pl.Float64, "duration_ms": pl.Float64,
              "loops_without_usage": pl.UInt32, "event_ids": pl.List(pl.Utf8)}
    if loops.is_empty():
        return pl.DataFrame(schema=schema)
    return loops.group_by(list(by), maintain_order=True).agg(
        pl.len().alias("loops"), _sum_or_null("tokens").alias("tokens"),
        _sum_or_null("cost_usd").alias("cost_usd"), _sum_or_null("duration_ms").alias("duration_ms"),
        pl.col("tokens").is_null().sum().alias("loops_without_usage"),
        pl.col("event_ids").list.explode(keep_nulls=False, empty_as_null=False)
        .alias("event_ids"))


def loops_per_incident(loops: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """Loop totals per incident (incidents.incidents rows): the loops whose first event falls
    inside the incident's window (start_ts .. end_ts) in one of its systems."""
    rows = []
    for incident in found.iter_rows(named=True):
        inside = loops.filter(pl.col("ts").is_not_null()
                              & (pl.col("ts") >= incident["start_ts"])
                              & (pl.col("ts") <= incident["end_ts"])
                              & pl.col("system").is_in(incident["systems"] or []))
        totals = loop_totals(inside.with_columns(pl.lit(incident["incident_id"]).alias("incident_id")),
                             by=("incident_id",))
        rows.append(totals if totals.height else pl.DataFrame(
            {"incident_id": [incident["incident_id"]], "loops": [0]},
            schema={"incident_id": pl.Utf8, "loops": pl.UInt32}))
    if not rows:
        return loop_totals(loops.head(0), by=("incident_id",))
    return pl.concat(rows, how="diagonal_relaxed")
