"""Firings of all rules of a kind at once: the points of every (rule, level) of the kind in one
statement (a UNION ALL over the shared selection), then one aggregate over those points for
first / last fired, peak, cleared and the cited events of each (rule, level, group)."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from ...errors import UsageError
from .._sql import frame
from .points import ALL_LEVELS, POINTS
from .selection import ROWS, Selection, failed, systems

POINTS_TABLE = "_il_points"
FIRED_SCHEMA = {
    "rid": pl.Int64, "lvl": pl.Int64, "group": pl.Utf8,
    "first_fired": pl.Datetime("us", "UTC"), "last_fired": pl.Datetime("us", "UTC"),
    "peak": pl.Float64, "event_ids": pl.List(pl.Utf8), "cleared": pl.Datetime("us", "UTC"),
}


def evaluate(ctx: Selection, rules: list[dict[str, Any]], max_ids: int) -> pl.DataFrame:
    """One row per fired (rule, level, group), in rule, level, first-fired order."""
    kinds: dict[str, list[tuple[int, int]]] = {}
    for ri, rule in enumerate(rules):
        for li in range(len(rule["levels"])):
            kinds.setdefault(rule["kind"], []).append((ri, li))
    frames = []
    ctx.bound_activity(rules)
    for items in kinds.values():
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
            fired = frame(ctx.con, _summary(ctx, max_ids), ctx.params)
        finally:
            ctx.con.execute(f"DROP TABLE IF EXISTS {POINTS_TABLE}")
        if fired.height:
            frames.append(fired)
    if not frames:
        return pl.DataFrame(schema=FIRED_SCHEMA)
    out = pl.concat([f.cast(FIRED_SCHEMA) for f in frames]).sort(
        ["rid", "lvl", "first_fired"], maintain_order=True)
    # A clearing time past the end of the evidence is not known to have happened.
    out = out.with_columns(
        pl.when(pl.col("cleared") > ctx.data_end).then(None).otherwise(pl.col("cleared"))
        .alias("cleared"))
    return out.join(_meta(rules), on=["rid", "lvl"], how="left", maintain_order="left")


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


def _summary(ctx: Selection, max_ids: int) -> str:
    """Per (rule, level, group) that fired: first / last fired, peak, `until` of the last
    firing, the first quiet point after it, and the cited events: the first `max_ids` in time
    order (an event's own time; a metric row's, the point's)."""
    source = ROWS if ctx.materialize else "timeline_events"
    times = (f"SELECT event_id, min(ts) AS ts FROM {source} "
             "WHERE event_id IN (SELECT id FROM cites) GROUP BY event_id") if ctx.rules else (
        "SELECT NULL::VARCHAR AS event_id, NULL::TIMESTAMPTZ AS ts")
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
    ),
    cites AS (
        SELECT rid, lvl, grp, id, min(ts) AS t
        FROM (SELECT rid, lvl, grp, ts, unnest(ids) AS id FROM {POINTS_TABLE} WHERE fired)
        GROUP BY rid, lvl, grp, id
    ),
    cited AS (
        SELECT c.rid, c.lvl, c.grp,
               list_slice(list(c.id ORDER BY coalesce(e.ts, c.t), c.id), 1, {max_ids})
                   AS event_ids
        FROM cites c LEFT JOIN ({times}) e ON e.event_id = c.id
        GROUP BY c.rid, c.lvl, c.grp
    )
    SELECT f.rid, f.lvl, f.grp AS "group", f.first_fired, f.last_fired, f.peak,
           coalesce(cited.event_ids, []::VARCHAR[]) AS event_ids,
           least(quiet.quiet, f.until) AS cleared
    FROM f LEFT JOIN quiet USING (rid, lvl, grp) LEFT JOIN cited USING (rid, lvl, grp)
    ORDER BY f.rid, f.lvl, f.first_fired"""


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
