"""The points of each rule kind: SQL giving (grp, ts, value, fired, ids, until) per level.

A point is one evaluation of a rule's condition for a group at a time; `ids` are the events it
cites and `until` when its evidence runs out (a window's end). Rows come from the shared
selection (selection.py); firing.py turns the points of all rules of a kind into firings.
"""

from __future__ import annotations

from typing import Any

from ...errors import UsageError
from .._sql import interval, quote
from .selection import ACTIVITY, Selection


def _group(rule: dict[str, Any]) -> str:
    columns = rule.get("group_by", [])
    if not columns:
        return "'(all)'"
    if len(columns) == 1:  # the same value as concat_ws of one part, at a fraction of its cost
        return f"coalesce(nullif(coalesce(({columns[0]})::VARCHAR, '-'), ''), '(all)')"
    return "coalesce(nullif(concat_ws('/', " + ", ".join(
        f"coalesce({c}::VARCHAR, '-')" for c in columns
    ) + "), ''), '(all)')"


def _condition(level: dict[str, Any], column: str = "value") -> str:
    if "above" in level:
        return f"{column} > {float(level['above'])}"
    if "at_least" in level:
        return f"{column} >= {float(level['at_least'])}"
    if "below" in level:
        return f"{column} < {float(level['below'])}"
    raise UsageError(f"level {level} has no threshold", hint="use above, at_least or below")


def _rows(ctx: Selection, rule: dict[str, Any]) -> str:
    return ctx.rows(rule, _group(rule))


def _sliding(rows: str, window: str, hits: str | None = None) -> str:
    """`rows` (grp, _key, ts, event_id[, hit]) with `den`, how many rows of the row's (grp, _key)
    lie in the window ending at its time ([ts - window, ts], rows at the same time included, as
    a RANGE frame counts), and `num`, how many of those where `hits` holds.

    Running counts to the row's time, less the running counts just before the window's start:
    each row is also a probe at that instant (weight 0, one microsecond, the time's resolution,
    before the start), so both come from streaming running sums instead of an aggregate over
    each row's frame. Portable: no ASOF join (Spark has none), and no FILTER clause (DuckDB
    counts each frame of a filtered running count anew: quadratic in a partition).
    """
    weight = f"CASE WHEN {hits} THEN 1 ELSE 0 END" if hits else "0"
    hit = ", hit" if hits else ""
    running = "WINDOW o AS (PARTITION BY grp, _key ORDER BY {} RANGE UNBOUNDED PRECEDING)"
    a = (f"SELECT *, {weight} AS _hw, count(*) OVER o AS _cn, "
         f"CAST(sum({weight}) OVER o AS BIGINT) AS _ch FROM ({rows}) {running.format('ts')}")
    if window == "all":
        return f"SELECT grp, _key, ts, event_id{hit}, _cn AS den, _ch AS num FROM ({a})"
    no_hit = ", NULL::BOOLEAN AS hit" if hits else ""
    return f"""
        WITH a AS ({a}),
        u AS (SELECT grp, _key, ts AS _at, 1 AS _w, _hw, NULL::TIMESTAMPTZ AS ts,
                     NULL::VARCHAR AS event_id{no_hit}, NULL::BIGINT AS _cn, NULL::BIGINT AS _ch
              FROM a
              UNION ALL
              SELECT grp, _key, ts - {interval(window)} - INTERVAL '1 microsecond', 0, 0, ts,
                     event_id{hit}, _cn, _ch
              FROM a),
        b AS (SELECT *, sum(_w) OVER o AS _bn, sum(_hw) OVER o AS _bh FROM u {running.format('_at')})
        SELECT grp, _key, ts, event_id{hit}, _cn - _bn AS den, _ch - _bh AS num FROM b WHERE _w = 0"""


def _points_count(ctx: Selection, rule: dict[str, Any], level: dict[str, Any]) -> str:
    """Events in a sliding window per group; with `key`, per group and value of the key (the
    same tool call repeated), rows whose key is NULL not counted. `cite = "window"`: the point
    that reaches the threshold cites every event of its window, not only itself."""
    window = level.get("window", rule.get("window", "5 minutes"))
    rows = _rows(ctx, rule)
    key = f"({rule['key']})::VARCHAR" if rule.get("key") else "NULL::VARCHAR"
    rows = f"SELECT * FROM (SELECT *, {key} AS _key FROM ({rows}))" + (
        " WHERE _key IS NOT NULL" if rule.get("key") else "")
    if rule.get("distinct"):
        # count distinct values: only the first sighting of each value counts
        rows = (f"SELECT * FROM ({rows}) QUALIFY row_number() OVER "
                f"(PARTITION BY grp, _key, {rule['distinct']} ORDER BY ts, event_id) = 1")
    until = "NULL::TIMESTAMPTZ" if window == "all" else f"ts + {interval(window)}"
    counted = _sliding("SELECT grp, _key, ts, event_id FROM k", window)
    points = f"SELECT grp, _key, ts, event_id, den AS value, {_condition(level, 'den')} AS fired " \
             f"FROM ({counted})"
    # With a key, only the keys that fired take part: another key's quiet point clears nothing.
    if rule.get("key"):
        points = f"SELECT * FROM ({points}) QUALIFY bool_or(fired) OVER (PARTITION BY grp, _key)"
    if rule.get("cite") != "window":
        return (f"WITH k AS ({rows}) "
                f"SELECT grp, ts, value, fired, [event_id] AS ids, {until} AS until FROM ({points})")
    # Where the count crosses the threshold, the point cites every event of its window: those
    # few points look their window's events up (a list per row over its frame is the cost).
    start = "true" if window == "all" else f"f.ts >= x.ts - {interval(window)}"
    until_x = "NULL::TIMESTAMPTZ" if window == "all" else f"x.ts + {interval(window)}"
    return f"""
        WITH k AS ({rows}),
        x AS (SELECT *, fired AND NOT coalesce(lag(fired) OVER p, false) AS crossing,
                     row_number() OVER p AS _point
              FROM ({points}) WINDOW p AS (PARTITION BY grp, _key ORDER BY ts, event_id)),
        cited AS (SELECT x.grp, x._key, x._point, list(f.event_id) AS window_ids
                  FROM x JOIN k f
                    ON f.grp = x.grp AND f._key IS NOT DISTINCT FROM x._key AND f.ts <= x.ts
                   AND {start}
                  WHERE x.crossing GROUP BY x.grp, x._key, x._point)
        SELECT x.grp, x.ts, x.value, x.fired,
               CASE WHEN x.crossing THEN cited.window_ids ELSE [x.event_id] END AS ids,
               {until_x} AS until
        FROM x LEFT JOIN cited
          ON cited.grp = x.grp AND cited._key IS NOT DISTINCT FROM x._key
         AND cited._point = x._point"""


def _points_ratio(ctx: Selection, rule: dict[str, Any], level: dict[str, Any]) -> str:
    window = level.get("window", rule.get("window", "5 minutes"))
    min_count = int(rule.get("min_count", 1))
    rows = (f"SELECT grp, NULL::VARCHAR AS _key, ts, event_id, "
            f"coalesce(({rule['numerator']}), false) AS hit FROM ({_rows(ctx, rule)})")
    return f"""
        SELECT grp, ts, value, den >= {min_count} AND {_condition(level)} AS fired,
               CASE WHEN hit THEN [event_id] ELSE [] END AS ids, ts + {interval(window)} AS until
        FROM (SELECT *, num / den AS value FROM ({_sliding(rows, window, 'hit')}))"""


def _points_baseline(ctx: Selection, rule: dict[str, Any], level: dict[str, Any]) -> str:
    step = interval(rule.get("window", "5 minutes"))
    history = int(rule.get("baseline_buckets", 12))
    floor = float(rule.get("baseline_floor", 1.0))
    min_count = int(rule.get("min_count", 1))
    min_history = int(rule.get("min_history", 3))
    return f"""
        WITH r AS ({_rows(ctx, rule)}),
        b AS (SELECT grp, time_bucket({step}, ts, $start) AS bucket, count(*) AS n,
                     list(event_id ORDER BY ts) AS ids
              FROM r GROUP BY ALL),
        grid AS (SELECT g.grp, unnest(generate_series(time_bucket({step}, $start, $start),
                                                      $end, {step})) AS bucket
                 FROM (SELECT DISTINCT grp FROM b) g),
        dense AS (SELECT grid.grp, grid.bucket, coalesce(b.n, 0) AS n, coalesce(b.ids, []) AS ids
                  FROM grid LEFT JOIN b USING (grp, bucket)),
        w AS (SELECT *, avg(n) OVER h AS baseline, count(*) OVER h AS history
              FROM dense WINDOW h AS (PARTITION BY grp ORDER BY bucket
                                      ROWS BETWEEN {history} PRECEDING AND 1 PRECEDING))
        SELECT grp, bucket AS ts, n / greatest(coalesce(baseline, 0), {floor}) AS value,
               n >= {min_count} AND history >= {min_history}
                   AND {_condition(level, f"n / greatest(coalesce(baseline, 0), {floor})")}
                   AS fired,
               ids, bucket + {step} AS until
        FROM w"""


def _points_consecutive(ctx: Selection, rule: dict[str, Any], level: dict[str, Any]) -> str:
    """Runs of rows with the same key (where run_where holds) per group and partition.

    The value is the run's length in rows, or with `measure = "minutes"` the minutes from the
    run's first row to the current one (a failure that persists, not one that repeats).

    Each (group, partition) and each (group, partition, key) is numbered first (an aggregate
    over their distinct values), so the windows sort integers, not the key's text; a run is
    an island of the two row numbers' difference, and a row's place in its run its row number
    less the run's first (an aggregate, not a third window).
    """
    parts = rule.get("partition_by", [])
    cols = ["grp", *(f"_p{i}" for i in range(len(parts)))]
    key = rule.get("key", "event_type")
    run_where = rule.get("run_where", "true")
    extra = "".join(f", ({expr}) AS _p{i}" for i, expr in enumerate(parts))
    order = "ORDER BY ts, position, event_id"
    same = " AND ".join(f"k.{c} IS NOT DISTINCT FROM r.{c}" for c in [*cols, "run_key"])
    runs = f"""
        WITH r AS (SELECT *, CASE WHEN coalesce(({run_where}), false) THEN ({key})::VARCHAR END
                          AS run_key{extra} FROM ({_rows(ctx, rule)})),
        keys AS (SELECT *, dense_rank() OVER (ORDER BY {', '.join(cols)}) AS part_no,
                        dense_rank() OVER (ORDER BY {', '.join(cols)}, run_key) AS key_no
                 FROM (SELECT DISTINCT {', '.join(cols)}, run_key FROM r)),
        i AS (SELECT r.grp, r.ts, r.event_id, r.run_key, key_no,
                     row_number() OVER (PARTITION BY part_no {order}) AS rn,
                     row_number() OVER (PARTITION BY key_no {order}) AS key_rn
              FROM r JOIN keys k ON {same}),
        isl AS (SELECT *, key_rn - rn AS island FROM i WHERE run_key IS NOT NULL)"""
    if rule.get("measure") == "minutes":
        return runs + f""",
        firsts AS (SELECT key_no, island, arg_min(ts, key_rn) AS first_ts,
                          arg_min(event_id, key_rn) AS first_id
                   FROM isl GROUP BY key_no, island)
        SELECT grp, ts, value, {_condition(level)} AS fired,
               [first_id, event_id] AS ids, NULL::TIMESTAMPTZ AS until
        FROM (SELECT isl.*, date_diff('millisecond', first_ts, ts) / 60000.0 AS value, first_id
              FROM isl JOIN firsts USING (key_no, island))"""
    need = int(level.get("at_least", level.get("above", 1)))
    return runs + f""",
        starts AS (SELECT key_no, island, min(key_rn) AS first_rn FROM isl GROUP BY key_no, island),
        p AS (SELECT isl.*, key_rn - first_rn + 1 AS value FROM isl JOIN starts USING (key_no, island)),
        firsts AS (SELECT key_no, island, list(event_id ORDER BY value)[1:{need}] AS run_ids
                   FROM p WHERE value <= {need} GROUP BY key_no, island)
        SELECT p.grp, p.ts, p.value, {_condition(level, "p.value")} AS fired,
               CASE WHEN p.value = {need} THEN firsts.run_ids ELSE [p.event_id] END AS ids,
               NULL::TIMESTAMPTZ AS until
        FROM p JOIN firsts USING (key_no, island)"""


def _points_absence(ctx: Selection, rule: dict[str, Any]) -> str:
    """Gaps longer than `minutes` between a group's events, and from its last event to the end
    of the system's activity (its first event too with include_start). Activity bounds ignore
    times taken from file mtimes (`derived`); a gap after a `stop_types` event does not count.
    The gaps are computed once for all levels (column `lvl`): levels differ only in minutes."""
    seconds = [int(float(level.get("minutes", rule.get("minutes", 60))) * 60)
               for level in rule["levels"]]
    spans = ", ".join(f"({li}, INTERVAL ({s}) SECOND, {s * 10**6})" for li, s in enumerate(seconds))
    bounds = ctx.activity[rule["id"]]
    stops = rule.get("stop_types", [])
    stop = f"event_type IN ({', '.join(quote(s) for s in stops)})" if stops else "false"
    include_start = "true" if rule.get("include_start", False) else "false"
    return f"""
        WITH r AS ({_rows(ctx, rule)}),
        act AS (SELECT lo_{bounds} AS lo, hi_{bounds} AS hi FROM {ACTIVITY}),
        groups AS (SELECT DISTINCT grp FROM r UNION SELECT '(all)' WHERE NOT EXISTS (FROM r)),
        marks AS (
            SELECT grp, ts, event_id, {stop} AS stops, false AS boundary FROM r
            UNION ALL SELECT grp, lo, NULL, false, true FROM groups, act
                      WHERE {include_start} AND lo IS NOT NULL
            UNION ALL SELECT grp, hi, NULL, false, true FROM groups, act WHERE hi IS NOT NULL
        ),
        gaps AS (SELECT grp, ts AS gap_end, event_id, boundary,
                        lag(ts) OVER w AS gap_start, lag(stops) OVER w AS after_stop,
                        lag(event_id) OVER w AS start_id
                 FROM marks WINDOW w AS (PARTITION BY grp ORDER BY ts, boundary DESC)),
        -- Only gaps longer than the shortest level's span can fire at any level.
        long AS (SELECT * FROM gaps
                 WHERE epoch_us(gap_end) - epoch_us(gap_start) > {min(seconds) * 10**6}
                   AND NOT coalesce(after_stop, false)),
        fired AS (SELECT lvl, long.*, span FROM long, (VALUES {spans}) v(lvl, span, micros)
                  WHERE epoch_us(gap_end) - epoch_us(gap_start) > micros),
        ends AS (SELECT grp, max(ts) AS grp_end FROM marks
                 WHERE grp IN (SELECT grp FROM fired) GROUP BY grp)
        SELECT lvl, grp, gap_start + span AS ts,
               date_diff('second', gap_start, gap_end) / 60.0 AS value, true AS fired,
               CASE WHEN start_id IS NULL AND event_id IS NULL THEN []::VARCHAR[]
                    WHEN start_id IS NULL THEN [event_id] WHEN event_id IS NULL THEN [start_id]
                    ELSE [start_id, event_id] END AS ids,
               CASE WHEN NOT boundary THEN gap_end END AS until
        FROM fired
        -- Of the quiet points only the first after a firing is read (its clearing): it is the
        -- next gap's, which starts where the fired one ends, if the group has a later mark.
        UNION ALL
        SELECT lvl, grp, gap_end + span, NULL, false, []::VARCHAR[], NULL
        FROM fired JOIN ends USING (grp) WHERE grp_end > gap_end"""


def _spans_sql(ctx: Selection, rule: dict[str, Any]) -> str:
    """Merged spans (grp, item_key, opened, event_id, closed) of a duration rule.

    Openers pair with closers of the same item in the same source (the next closer, by a window
    over the item's events); with an `owner`, a span also ends when the owner opens another
    item (islands of consecutive openers of one item in the owner's sequence). Spans of one item
    that overlap (a retried test, the same step seen in a state file and in an event log) merge
    into one, open when any part is open.
    """
    item = rule.get("item", "name")
    opener, closer = rule["opener"], rule["closer"]
    owner = rule.get("owner")
    sql = f"""
        WITH r AS (SELECT *, coalesce(({opener}), false) AS is_open,
                          coalesce(({closer}), false) AS is_close,
                          ({item})::VARCHAR AS item_key, ({owner or 'NULL'})::VARCHAR AS owner_key
                   FROM ({_rows(ctx, rule)})),
        nxt AS (
            SELECT grp, source, item_key, owner_key, ts, event_id, is_open,
                   -- the next closer's time: the rows are in time order, so the first closer
                   -- ahead is the earliest (DuckDB finds it faster than a min over the frame)
                   first_value(CASE WHEN is_close THEN ts END IGNORE NULLS) OVER (
                       PARTITION BY grp, source, item_key ORDER BY ts, is_close, event_id
                       ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS close_ts
            FROM r WHERE is_open OR is_close
        ),"""
    if owner:
        sql += """
        own AS (
            SELECT *, sum(change) OVER (PARTITION BY source, owner_key ORDER BY ts, event_id
                                        ROWS UNBOUNDED PRECEDING) AS run
            FROM (SELECT *, CASE WHEN item_key IS DISTINCT FROM lag(item_key) OVER (
                                     PARTITION BY source, owner_key ORDER BY ts, event_id)
                                 THEN 1 ELSE 0 END AS change
                  FROM nxt WHERE is_open)
        ),
        runs AS (
            SELECT source, owner_key, run,
                   lead(min(ts)) OVER (PARTITION BY source, owner_key ORDER BY run) AS moved_on
            FROM own GROUP BY source, owner_key, run
        ),
        spans AS (
            SELECT o.grp, o.item_key, o.ts AS opened, o.event_id,
                   least(o.close_ts, CASE WHEN o.owner_key IS NOT NULL THEN runs.moved_on END)
                       AS closed
            FROM own o LEFT JOIN runs
              ON runs.source = o.source AND runs.owner_key IS NOT DISTINCT FROM o.owner_key
             AND runs.run = o.run
        ),"""
    else:
        sql += """
        spans AS (
            SELECT grp, item_key, ts AS opened, event_id, close_ts AS closed
            FROM nxt WHERE is_open
        ),"""
    # An item with one span has nothing to merge: only items with several go through the
    # island windows (a hash aggregate finds them).
    return sql + """
        several AS (SELECT grp, item_key FROM spans GROUP BY grp, item_key HAVING count(*) > 1),
        marked AS (
            SELECT s.*, m.grp IS NOT NULL AS merge
            FROM spans s LEFT JOIN several m
              ON m.grp = s.grp AND m.item_key IS NOT DISTINCT FROM s.item_key
        ),
        islands AS (
            SELECT *, sum(CASE WHEN opened > coalesce(reach, opened) THEN 1 ELSE 0 END)
                          OVER (PARTITION BY grp, item_key ORDER BY opened, event_id
                                ROWS UNBOUNDED PRECEDING) AS island
            FROM (SELECT *, max(coalesce(closed, 'infinity'::TIMESTAMPTZ))
                                OVER (PARTITION BY grp, item_key ORDER BY opened, event_id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
                  FROM marked WHERE merge)
        )
        SELECT grp, item_key, opened, event_id, closed FROM marked WHERE NOT merge
        UNION ALL
        SELECT grp, item_key, min(opened) AS opened, arg_min(event_id, (opened, event_id)) AS event_id,
               CASE WHEN count(closed) < count(*) THEN NULL ELSE max(closed) END AS closed
        FROM islands GROUP BY grp, item_key, island"""


def _points_duration(ctx: Selection, rule: dict[str, Any], level: dict[str, Any]) -> str:
    """How many spans are older than `min_age_minutes` at each moment (sweep over +1/-1).

    A span counts from min_age after it opened until it closed; one closing exactly at that age
    counts (the step ran to its timeout). Spans are computed once per rule (a temp table) and
    shared by its levels.
    """
    age = float(level.get("min_age_minutes", rule.get("min_age_minutes", 0))) * 60
    table = ctx.spans.get(rule["id"])
    if table is None:
        table = f"_il_spans_{len(ctx.spans)}"
        sql = _spans_sql(ctx, rule)
        params = {k: v for k, v in (("start", ctx.start), ("end", ctx.end)) if f"${k}" in sql}
        ctx.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}", params)
        ctx.spans[rule["id"]] = table
    return f"""
        WITH aged AS (SELECT *, opened + INTERVAL (CAST({age} AS BIGINT)) SECOND AS over_at
                      FROM {table}),
        sweep AS (
            SELECT grp, over_at AS ts, 1 AS delta, [event_id] AS ids FROM aged
            WHERE over_at <= $data_end AND (closed IS NULL OR closed >= over_at)
            UNION ALL
            SELECT grp, closed, -1, [] FROM aged WHERE closed IS NOT NULL AND closed >= over_at
        )
        SELECT grp, ts, value, {_condition(level)} AS fired, ids, NULL::TIMESTAMPTZ AS until
        FROM (SELECT grp, ts, ids, sum(delta) OVER (PARTITION BY grp ORDER BY ts, delta DESC, ids
                                                    ROWS UNBOUNDED PRECEDING) AS value
              FROM sweep)"""


def _points_metric(ctx: Selection, rule: dict[str, Any], level: dict[str, Any]) -> str:
    columns = rule.get("group_by", [])
    grp = ("coalesce(nullif(concat_ws('/', " + ", ".join(
        f"coalesce({c}::VARCHAR, '-')" for c in columns) + "), ''), '(all)')"
           if columns else "'(all)'")
    where = f" AND ({rule['where']})" if rule.get("where") else ""
    system = f" AND system = {quote(rule['system'])}" if rule.get("system") else ""
    return f"""
        SELECT {grp} AS grp, coalesce(ts, $data_end) AS ts, value, {_condition(level)} AS fired,
               [source_path || ':' || coalesce(record_no::VARCHAR, '?')] AS ids,
               NULL::TIMESTAMPTZ AS until
        FROM metrics
        WHERE name = {quote(rule['metric'])}{system}{where} AND {ctx.metrics_scope}
          AND (ts IS NULL OR (ts >= $start AND ts <= $end))"""


def _points_outlier(ctx: Selection, rule: dict[str, Any], level: dict[str, Any]) -> str:
    """A value (`value`, default duration_ms) against its group's norm (the median of the
    group's values over the evaluated range): a level with `factor` fires when the value is at
    least factor x the norm and the group has `min_count` values; its threshold
    (above / at_least) applies to the value itself, so a level without factor is absolute."""
    value = rule.get("value", "duration_ms")
    min_count = int(rule.get("min_count", 5))
    fired = _condition(level)
    if level.get("factor") is not None:
        fired += f" AND n >= {min_count} AND value >= {float(level['factor'])} * norm"
    return f"""
        SELECT grp, ts, value, {fired} AS fired, [event_id] AS ids, NULL::TIMESTAMPTZ AS until
        FROM (SELECT grp, ts, event_id, v AS value,
                     median(v) OVER (PARTITION BY grp) AS norm, count(*) OVER (PARTITION BY grp) AS n
              FROM (SELECT *, TRY_CAST(({value}) AS DOUBLE) AS v FROM ({_rows(ctx, rule)}))
              WHERE v IS NOT NULL)"""


def _points_sequence(ctx: Selection, rule: dict[str, Any], level: dict[str, Any]) -> str:
    """Followers (`follower`) within `within` after an anchor (`anchor`) of the same group: the
    value is the follower's rank after its anchor; the first cites the anchor too."""
    within = interval(rule.get("within", "30 minutes"))
    return f"""
        WITH r AS (SELECT grp, ts, event_id, coalesce(({rule['anchor']}), false) AS is_anchor,
                          coalesce(({rule['follower']}), false) AS is_follower
                   FROM ({_rows(ctx, rule)})),
        m AS (SELECT a.grp, a.event_id AS anchor_id, a.ts + {within} AS until, f.ts, f.event_id,
                     row_number() OVER (PARTITION BY a.grp, a.event_id ORDER BY f.ts, f.event_id)
                         AS value
              FROM r a JOIN r f ON f.grp = a.grp AND f.ts > a.ts AND f.ts <= a.ts + {within}
              WHERE a.is_anchor AND f.is_follower AND NOT f.is_anchor)
        SELECT grp, ts, value, {_condition(level)} AS fired,
               CASE WHEN value = 1 THEN [anchor_id, event_id] ELSE [event_id] END AS ids, until
        FROM m"""


POINTS = {
    "count": _points_count, "ratio": _points_ratio, "baseline": _points_baseline,
    "consecutive": _points_consecutive, "duration": _points_duration,
    "metric": _points_metric, "outlier": _points_outlier, "sequence": _points_sequence,
}
# Kinds whose SQL gives the points of all of a rule's levels at once (a `lvl` column).
ALL_LEVELS = {"absence": _points_absence}

