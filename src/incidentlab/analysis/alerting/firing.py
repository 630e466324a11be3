"""Firings of all rules of a kind at once: the points of every (rule, level) of the kind in one
statement (a UNION ALL over the shared selection), then one aggregate over those points for
first / last fired, peak and cleared of each (rule, level, group); the cited events of every
kind are looked up in one pass at the end."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import duckdb
import polars as pl

from ...errors import UsageError
from .._sql import frame
from .points import ALL_LEVELS, POINTS
from .selection import Selection, failed, systems

POINTS_TABLE = "_il_points"
CITES_TABLE = "_il_cites_{}"  # per kind (rid, lvl, grp, id, t): its fired points' ids
CITED_TABLE = "_il_cited_events"  # the cited events' rows, looked up once
LISTS_TABLE = "_il_cited_lists"  # per (rid, lvl, group): the first cited ids
CITED_SCHEMA = {"event_id": pl.Utf8, "ts": pl.Datetime("us", "UTC"), "system": pl.Utf8,
                "ts_quality": pl.Utf8}
FIRED_SCHEMA = {
    "rid": pl.Int64, "lvl": pl.Int64, "group": pl.Utf8,
    "first_fired": pl.Datetime("us", "UTC"), "last_fired": pl.Datetime("us", "UTC"),
    "peak": pl.Float64, "event_ids": pl.List(pl.Utf8), "cleared": pl.Datetime("us", "UTC"),
}


def evaluate(ctx: Selection, rules: list[dict[str, Any]],
             max_ids: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per fired (rule, level, group), in rule, level, first-fired order; and the cited
    events' rows (event_id, ts, system, ts_quality) for the caller's evidence column."""
    kinds: dict[str, list[tuple[int, int]]] = {}
    for ri, rule in enumerate(rules):
        for li in range(len(rule["levels"])):
            kinds.setdefault(rule["kind"], []).append((ri, li))
    frames, cites = [], []
    ctx.bound_activity(rules)
    ctx.find_empty(rules)
    try:
        for items in kinds.values():
            cites.append(CITES_TABLE.format(len(cites)))
            fired = _kind(ctx, rules, items, cites[-1])
            if fired.height:
                frames.append(fired)
        if not frames:
            return pl.DataFrame(schema=FIRED_SCHEMA), pl.DataFrame(schema=CITED_SCHEMA)
        cited, events = _cited(ctx, cites, max_ids)
    finally:
        for table in (*cites, CITED_TABLE, LISTS_TABLE):
            ctx.con.execute(f"DROP TABLE IF EXISTS {table}")
    kinds_fired = pl.concat([f.cast({k: v for k, v in FIRED_SCHEMA.items() if k in f.columns})
                             for f in frames])
    out = kinds_fired.join(cited.cast({"rid": pl.Int64, "lvl": pl.Int64}),
                           on=["rid", "lvl", "group"], how="left", maintain_order="left")
    out = out.with_columns(pl.col("event_ids").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
    out = out.select(list(FIRED_SCHEMA)).cast(FIRED_SCHEMA).sort(
        ["rid", "lvl", "first_fired", "group"], maintain_order=True)
    # A clearing time past the end of the evidence is not known to have happened.
    # (in UTC: a connection's own time zone, e.g. Etc/UTC, is not the frame's)
    data_end = ctx.data_end.astimezone(UTC)
    out = out.with_columns(
        pl.when(pl.col("cleared") > data_end).then(None).otherwise(pl.col("cleared"))
        .alias("cleared"))
    return out.join(_meta(rules), on=["rid", "lvl"], how="left", maintain_order="left"), events


def _kind(ctx: Selection, rules: list[dict[str, Any]], items: list[tuple[int, int]],
          cites: str) -> pl.DataFrame:
    """The firings of one kind's (rule, level) items; their cited ids go to table `cites`."""
    # The kind's rows, one scan; the next kind's select() drops them.
    ctx.select(list({ri: rules[ri] for ri, _li in items}.values()))
    if rules[items[0][0]]["kind"] in ALL_LEVELS:
        branches = [(rules[ri], _branch(ctx, rules, ri, None))
                    for ri in dict.fromkeys(ri for ri, _li in items)]
    else:
        branches = [(rules[ri], _branch(ctx, rules, ri, li)) for ri, li in items]
    try:
        ctx.execute(f"CREATE OR REPLACE TEMP TABLE {POINTS_TABLE} AS "
                    + "\nUNION ALL\n".join(sql for _rule, sql in branches))
    except duckdb.Error as exc:
        _blame(ctx, branches, exc)
    try:
        ctx.execute(f"""
            CREATE OR REPLACE TEMP TABLE {cites} AS
            SELECT rid, lvl, grp, id, min(ts) AS t
            FROM (SELECT rid, lvl, grp, ts, unnest(ids) AS id FROM {POINTS_TABLE} WHERE fired)
            GROUP BY rid, lvl, grp, id""")
        return frame(ctx.con, _summary(), ctx.params)
    finally:
        ctx.con.execute(f"DROP TABLE IF EXISTS {POINTS_TABLE}")


def _branch(ctx: Selection, rules: list[dict[str, Any]], ri: int, li: int | None) -> str:
    """The points of one rule at one level (li), or at all its levels (li None)."""
    rule = rules[ri]
    try:
        if li is None:
            points, lvl = ALL_LEVELS[rule["kind"]](ctx, rule), "lvl"
        else:
            points, lvl = POINTS[rule["kind"]](ctx, rule, rule["levels"][li]), str(li)
    except duckdb.Error as exc:
        raise failed(rule, exc) from exc
    # Only a fired point's ids are cited: the lists of the others are never built.
    return (f"SELECT {ri} AS rid, {lvl} AS lvl, grp, ts, (value)::DOUBLE AS value, fired, "
            f"CASE WHEN fired THEN (ids)::VARCHAR[] END AS ids, (until)::TIMESTAMPTZ AS until "
            f"FROM ({points})")


def _blame(ctx: Selection, branches: list[tuple[dict[str, Any], str]], exc: duckdb.Error) -> None:
    for rule, sql in branches:
        try:
            ctx.execute(f"SELECT count(*) FROM ({sql})")
        except duckdb.Error as own:
            raise failed(rule, own) from exc
    raise UsageError(f"alert rules failed in SQL: {str(exc).splitlines()[0]}",
                     hint="check the rules file's expressions") from exc


def _summary() -> str:
    """Per (rule, level, group) that fired: first / last fired, peak, `until` of the last
    firing and the first quiet point after it."""
    return f"""
    WITH f AS (
        SELECT rid, lvl, grp, min(ts) FILTER (WHERE fired) AS first_fired,
               max(ts) FILTER (WHERE fired) AS last_fired,
               max(value) FILTER (WHERE fired) AS peak,
               arg_max(until, ts) FILTER (WHERE fired) AS until
        FROM {POINTS_TABLE} GROUP BY rid, lvl, grp HAVING bool_or(fired)
    ),
    quiet AS (
        SELECT p.rid, p.lvl, p.grp, min(p.ts) AS quiet
        FROM {POINTS_TABLE} p JOIN f ON p.rid = f.rid AND p.lvl = f.lvl AND p.grp = f.grp
        WHERE p.ts > f.last_fired AND NOT p.fired
        GROUP BY p.rid, p.lvl, p.grp
    )
    SELECT f.rid, f.lvl, f.grp AS "group", f.first_fired, f.last_fired, f.peak,
           least(quiet.quiet, f.until) AS cleared
    FROM f LEFT JOIN quiet USING (rid, lvl, grp)
    ORDER BY f.rid, f.lvl, f.first_fired, f.grp"""


def _cited(ctx: Selection, tables: list[str], max_ids: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The cited events of every fired (rule, level, group): the first `max_ids` in time order
    (an event's own time; a metric row's, the point's), and the rows of those events only; one
    lookup of the events table for all kinds."""
    every = " UNION ALL ".join(f"SELECT * FROM {t}" for t in tables)
    ctx.execute(f"""
        CREATE OR REPLACE TEMP TABLE {CITED_TABLE} AS
        SELECT event_id, ts, system, ts_quality, is_mirror FROM events
        WHERE event_id IN (SELECT id FROM ({every}))""")
    ctx.execute(f"""
        CREATE OR REPLACE TEMP TABLE {LISTS_TABLE} AS
        SELECT c.rid, c.lvl, c.grp AS "group",
               list_slice(list(c.id ORDER BY coalesce(e.ts, c.t), c.id), 1, {max_ids})
                   AS event_ids
        FROM ({every}) c
        LEFT JOIN (SELECT event_id, min(ts) AS ts FROM {CITED_TABLE} WHERE NOT is_mirror
                   GROUP BY event_id) e ON e.event_id = c.id
        GROUP BY c.rid, c.lvl, c.grp""")
    cited = frame(ctx.con, f"SELECT * FROM {LISTS_TABLE}")
    # only the events a firing shows (a rule that fires at every row cites them all)
    events = frame(ctx.con, f"""
        SELECT event_id, ts, system, ts_quality FROM {CITED_TABLE}
        WHERE event_id IN (SELECT unnest(event_ids) FROM {LISTS_TABLE})""")
    return cited, events.cast(CITED_SCHEMA)


def _meta(rules: list[dict[str, Any]]) -> pl.DataFrame:
    rows = []
    for ri, rule in enumerate(rules):
        runbook = (f"{rule.get('runbook', '?')}:{rule.get('line', '?')} "
                   f"{rule.get('quote', '')}").strip()
        for li, level in enumerate(rule["levels"]):
            rows.append({"rid": ri, "lvl": li, "rule": rule["id"],
                         "title": rule.get("title", rule["id"]),
                         "system": ",".join(systems(rule)) or None,
                         "level": level["level"], "runbook": runbook})
    return pl.DataFrame(rows, schema={"rid": pl.Int64, "lvl": pl.Int64, "rule": pl.Utf8,
                                      "title": pl.Utf8, "system": pl.Utf8, "level": pl.Utf8,
                                      "runbook": pl.Utf8})
