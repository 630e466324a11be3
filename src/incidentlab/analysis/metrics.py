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
from ._sql import Where, frame, interval, quote
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


def _systems(rule: dict[str, Any]) -> list[str]:
    return list(rule.get("systems") or ([rule["system"]] if rule.get("system") else []))


def redaction_patterns(path: str | Path | None = None) -> list[str]:
    """User redaction patterns from the rules file's [redaction] table."""
    source = Path(path) if path is not None else default_rules_path()
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read rules file {source}: {exc}", hint="check --rules") from exc
    return list(data.get("redaction", {}).get("patterns", []))


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
    [(lo, hi)] = con.execute(
        f"SELECT min(ts), max(ts) FROM timeline_events WHERE ts IS NOT NULL AND {scope.sql()}"
    ).fetchall()
    if lo is None:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    ctx = _Context(con, scope, scope.start or lo, scope.end or hi, hi)
    frames = []
    try:
        for rule in rules:
            for level in rule["levels"]:
                fired = _evaluate(ctx, rule, level)
                if fired.height:
                    frames.append(fired)
    finally:
        ctx.close()
    if not frames:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    out = _cite(con, pl.concat(frames, how="vertical"))
    rank = pl.col("level").replace_strict(LEVELS, return_dtype=pl.Int32)
    # A group that reached page also shows its warn row; keep both, most severe first.
    return out.sort([rank, "first_fired"], descending=[True, False]).select(list(ALERT_SCHEMA))


def _cite(con: duckdb.DuckDBPyConnection, out: pl.DataFrame) -> pl.DataFrame:
    """Add `evidence` ("id @ time" of the first events) and, for rules that are not tied to one
    system, the system(s) of the evidence: one lookup for all fired rows."""
    ids = sorted({i for row in out["event_ids"].to_list() for i in row})
    con.register("_il_cited", pl.DataFrame({"event_id": ids}, schema={"event_id": pl.Utf8}))
    try:
        found = frame(con, """SELECT e.event_id, e.ts, e.system, e.ts_quality FROM events e
                               JOIN _il_cited USING (event_id)""")
    finally:
        con.unregister("_il_cited")
    ids_found = found["event_id"].to_list()
    ts = dict(zip(ids_found, found["ts"].to_list(), strict=True))
    system = dict(zip(ids_found, found["system"].to_list(), strict=True))
    quality = dict(zip(ids_found, found["ts_quality"].to_list(), strict=True))

    def in_time_order(row: list[str]) -> list[str]:
        return sorted(row, key=lambda i: (ts.get(i) is None, ts.get(i) or 0, i))

    def cite(i: str) -> str:
        if i not in ts:
            return i  # not an event (a metric row: path:record)
        return cite_event(i, ts[i], quality[i])

    def evidence(row: list[str]) -> str:
        shown = [cite(i) for i in row[:EVIDENCE_SHOWN]]
        more = len(row) - EVIDENCE_SHOWN
        return "; ".join(shown) + (f"; +{more} more" if more > 0 else "")

    def systems(row: list[str]) -> str | None:
        names = sorted({system[i] for i in row if system.get(i)})
        return ",".join(names) or None

    out = out.with_columns(
        pl.col("event_ids").map_elements(in_time_order, return_dtype=pl.List(pl.Utf8)))
    return out.with_columns(
        pl.col("event_ids").map_elements(evidence, return_dtype=pl.Utf8).alias("evidence"),
        pl.coalesce(pl.col("system"),
                    pl.col("event_ids").map_elements(systems, return_dtype=pl.Utf8))
        .alias("system"),
    )


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


class _Context:
    def __init__(self, con: duckdb.DuckDBPyConnection, scope: Scope, start: datetime,
                 end: datetime, data_end: datetime) -> None:
        self.con, self.start, self.end, self.data_end = con, start, end, data_end
        # The window is $start/$end in every query; these are the rest of the scope.
        self.events_scope = scope.sql(window=False)
        self.metrics_scope = scope.metrics_sql(window=False)
        self.spans: dict[str, str] = {}  # duration rule id -> temp table of its spans
        self.calls: str | None = None  # temp table of tool calls, for rules `with_call`

    def calls_table(self) -> str:
        """(stream, correlation_id) -> tool_name, call_args of the tool calls, built once."""
        if self.calls is None:
            self.calls = "_il_calls"
            self.con.execute(f"""
                CREATE OR REPLACE TEMP TABLE {self.calls} AS
                SELECT stream, correlation_id, any_value(name) AS tool_name,
                       any_value(trim(message)) AS call_args
                FROM timeline_events
                WHERE event_type IN ('tool.proposed', 'tool.call') AND correlation_id IS NOT NULL
                  AND {self.events_scope}
                GROUP BY stream, correlation_id""")
        return self.calls

    def close(self) -> None:
        for table in [*self.spans.values(), *([self.calls] if self.calls else [])]:
            self.con.execute(f"DROP TABLE IF EXISTS {table}")


def _selector(rule: dict[str, Any]) -> str:
    """The rows a rule looks at: event types (prefix with `.*`), raw names, system, extra SQL.

    Systems a rule defers to (`defer_to`, resolved by load_rules) are left out.
    """
    parts = []
    types = rule.get("event_types", [])
    raws = rule.get("raw_types", [])
    alternatives = [f"event_type = {quote(t)}" for t in types if not t.endswith(".*")]
    alternatives += [f"starts_with(event_type, {quote(t[:-1])})" for t in types if t.endswith(".*")]
    alternatives += [f"event_type_raw = {quote(t)}" for t in raws]
    if alternatives:
        parts.append(" OR ".join(alternatives))
    systems = _systems(rule)
    if systems:
        parts.append(f"system IN ({', '.join(quote(s) for s in systems)})")
    deferred = rule.get("_defer_systems") or []
    if deferred:
        parts.append(f"system NOT IN ({', '.join(quote(s) for s in deferred)})")
    if rule.get("where"):
        parts.append(rule["where"])
    return " AND ".join(f"({p})" for p in parts) or "true"


def _group(rule: dict[str, Any]) -> str:
    columns = rule.get("group_by", [])
    if not columns:
        return "'(all)'"
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


def _rows(ctx: _Context, rule: dict[str, Any]) -> str:
    """The rule's selected rows in the evaluation range, with its group column.

    `with_call` (or the older `with_tool_name`) adds, from the call with the same stream and
    correlation id (tool.proposed / tool.call): `tool`, the row's name or the call's (CodingBuddy
    ToolResult rows carry none), and `call_args`, the call's message (its arguments as the loader
    wrote them) with runs of white space collapsed. With `call_where` (SQL over tool_name and
    call_args, the message only trimmed) only rows whose call matches are kept.
    """
    rows = (
        f"SELECT *, {_group(rule)} AS grp FROM timeline_events "
        f"WHERE ts IS NOT NULL AND ts >= $start AND ts <= $end AND ({_selector(rule)}) "
        f"AND {ctx.events_scope}"
    )
    if not (rule.get("with_call") or rule.get("with_tool_name")):
        return rows
    calls, join = ctx.calls_table(), "LEFT JOIN"
    if rule.get("call_where"):
        calls, join = f"(SELECT * FROM {calls} WHERE {rule['call_where']})", "JOIN"
    # White space is collapsed on the joined rows only (a regex over every call is the cost).
    return f"""
        SELECT r.*, coalesce(r.name, t.tool_name) AS tool,
               regexp_replace(t.call_args, '\\s+', ' ', 'g') AS call_args
        FROM ({rows}) r {join} {calls} t
          ON t.stream = r.stream AND t.correlation_id = r.correlation_id"""


def _window_frame(window: str) -> str:
    if window == "all":
        return "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    return f"RANGE BETWEEN {interval(window)} PRECEDING AND CURRENT ROW"


def _points_count(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
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
    ids, listed = "[event_id]", ""
    if rule.get("cite") == "window":
        # Where the count crosses the threshold, the point cites every event of its window.
        ids = ("CASE WHEN fired AND NOT coalesce(lag(fired) OVER (PARTITION BY grp, _key "
               "ORDER BY ts, event_id), false) THEN window_ids ELSE [event_id] END")
        listed = ", list(event_id) OVER w AS window_ids"
    condition = _condition(level)
    # With a key, only the keys that fired take part: another key's quiet point clears nothing.
    fired_keys = "QUALIFY bool_or(fired) OVER (PARTITION BY grp, _key)" if rule.get("key") else ""
    return f"""
        SELECT grp, ts, value, fired, {ids} AS ids, {until} AS until
        FROM (SELECT *, {condition} AS fired
              FROM (SELECT grp, _key, ts, event_id, count(*) OVER w AS value{listed}
                    FROM ({rows})
                    WINDOW w AS (PARTITION BY grp, _key ORDER BY ts {_window_frame(window)})))
        {fired_keys}"""


def _points_ratio(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
    window = level.get("window", rule.get("window", "5 minutes"))
    frame_sql = _window_frame(window)
    min_count = int(rule.get("min_count", 1))
    return f"""
        SELECT grp, ts, value, den >= {min_count} AND {_condition(level)} AS fired,
               CASE WHEN hit THEN [event_id] ELSE [] END AS ids, ts + {interval(window)} AS until
        FROM (SELECT grp, ts, event_id, hit,
                     count(*) OVER w AS den,
                     count(*) FILTER (hit) OVER w / count(*) OVER w AS value
              FROM (SELECT *, coalesce(({rule['numerator']}), false) AS hit FROM ({_rows(ctx, rule)}))
              WINDOW w AS (PARTITION BY grp ORDER BY ts {frame_sql}))"""


def _points_baseline(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
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


def _points_consecutive(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
    """Runs of rows with the same key (where run_where holds) per group and partition.

    The value is the run's length in rows, or with `measure = "minutes"` the minutes from the
    run's first row to the current one (a failure that persists, not one that repeats).
    """
    partition = ", ".join(["grp", *rule.get("partition_by", [])])
    key = rule.get("key", "event_type")
    run_where = rule.get("run_where", "true")
    runs = f"""
        WITH r AS (SELECT *, CASE WHEN coalesce(({run_where}), false) THEN ({key})::VARCHAR END
                          AS run_key FROM ({_rows(ctx, rule)})),
        i AS (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY ts, position, event_id)
                        - row_number() OVER (PARTITION BY {partition}, run_key
                                             ORDER BY ts, position, event_id) AS island
              FROM r)"""
    if rule.get("measure") == "minutes":
        return runs + f"""
        SELECT grp, ts, value, {_condition(level)} AS fired,
               [first_id, event_id] AS ids, NULL::TIMESTAMPTZ AS until
        FROM (SELECT *, date_diff('millisecond', first_value(ts) OVER w, ts) / 60000.0 AS value,
                     first_value(event_id) OVER w AS first_id
              FROM i WHERE run_key IS NOT NULL
              WINDOW w AS (PARTITION BY {partition}, run_key, island
                           ORDER BY ts, position, event_id))"""
    need = int(level.get("at_least", level.get("above", 1)))
    join = " AND ".join(
        f"p.{c} IS NOT DISTINCT FROM firsts.{c}"
        for c in ["grp", *rule.get("partition_by", []), "run_key", "island"]
    )
    return runs + f""",
        p AS (SELECT *, row_number() OVER (PARTITION BY {partition}, run_key, island
                                           ORDER BY ts, position, event_id) AS value
              FROM i WHERE run_key IS NOT NULL),
        firsts AS (SELECT {partition}, run_key, island,
                          list(event_id ORDER BY ts, position, event_id)[1:{need}] AS run_ids
                   FROM p WHERE value <= {need} GROUP BY ALL)
        SELECT p.grp, p.ts, p.value, {_condition(level, "p.value")} AS fired,
               CASE WHEN p.value = {need} THEN firsts.run_ids ELSE [p.event_id] END AS ids,
               NULL::TIMESTAMPTZ AS until
        FROM p JOIN firsts ON {join}"""


def _points_absence(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
    """Gaps longer than `minutes` between a group's events, and from its last event to the end
    of the system's activity (its first event too with include_start). Activity bounds ignore
    times taken from file mtimes (`derived`); a gap after a `stop_types` event does not count."""
    minutes = float(level.get("minutes", rule.get("minutes", 60)))
    activity = rule.get("activity") or (
        f"system = {quote(rule['system'])}" if rule.get("system") else "true")
    stops = rule.get("stop_types", [])
    stop = f"event_type IN ({', '.join(quote(s) for s in stops)})" if stops else "false"
    include_start = "true" if rule.get("include_start", False) else "false"
    return f"""
        WITH r AS ({_rows(ctx, rule)}),
        act AS (SELECT min(ts) AS lo, max(ts) AS hi FROM timeline_events
                WHERE ts >= $start AND ts <= $end AND ts_quality <> 'derived' AND ({activity})
                  AND {ctx.events_scope}),
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
                 FROM marks WINDOW w AS (PARTITION BY grp ORDER BY ts, boundary DESC))
        SELECT grp, gap_start + INTERVAL (CAST({minutes * 60} AS BIGINT)) SECOND AS ts,
               date_diff('second', gap_start, gap_end) / 60.0 AS value,
               gap_end - gap_start > INTERVAL (CAST({minutes * 60} AS BIGINT)) SECOND
                   AND NOT coalesce(after_stop, false) AS fired,
               list_filter([start_id, event_id], lambda x: x IS NOT NULL) AS ids,
               CASE WHEN NOT boundary THEN gap_end END AS until
        FROM gaps WHERE gap_start IS NOT NULL AND gap_end > gap_start"""


def _spans_sql(ctx: _Context, rule: dict[str, Any]) -> str:
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
                   min(CASE WHEN is_close THEN ts END) OVER (
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
    return sql + """
        islands AS (
            SELECT *, sum(CASE WHEN opened > coalesce(reach, opened) THEN 1 ELSE 0 END)
                          OVER (PARTITION BY grp, item_key ORDER BY opened, event_id
                                ROWS UNBOUNDED PRECEDING) AS island
            FROM (SELECT *, max(coalesce(closed, 'infinity'::TIMESTAMPTZ))
                                OVER (PARTITION BY grp, item_key ORDER BY opened, event_id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
                  FROM spans)
        )
        SELECT grp, item_key, min(opened) AS opened, arg_min(event_id, opened) AS event_id,
               CASE WHEN count(closed) < count(*) THEN NULL ELSE max(closed) END AS closed
        FROM islands GROUP BY grp, item_key, island"""


def _points_duration(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
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
        FROM (SELECT grp, ts, ids, sum(delta) OVER (PARTITION BY grp ORDER BY ts, delta DESC
                                                    ROWS UNBOUNDED PRECEDING) AS value
              FROM sweep)"""


def _points_metric(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
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


def _points_outlier(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
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


def _points_sequence(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> str:
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


_POINTS = {
    "count": _points_count, "ratio": _points_ratio, "baseline": _points_baseline,
    "consecutive": _points_consecutive, "absence": _points_absence,
    "duration": _points_duration, "metric": _points_metric, "outlier": _points_outlier,
    "sequence": _points_sequence,
}


def _evaluate(ctx: _Context, rule: dict[str, Any], level: dict[str, Any]) -> pl.DataFrame:
    try:
        points = _POINTS[rule["kind"]](ctx, rule, level)
    except duckdb.Error as exc:
        raise UsageError(
            f"rule {rule['id']} ({rule['kind']}) failed in SQL: {str(exc).splitlines()[0]}",
            hint="check its expressions in the rules file",
        ) from exc
    # Evidence: the events of the fired points, the first MAX_EVIDENCE_IDS by firing time.
    sql = f"""
    WITH p AS ({points}),
    f AS (
        SELECT grp, min(ts) FILTER (fired) AS first_fired, max(ts) FILTER (fired) AS last_fired,
               max(value) FILTER (fired) AS peak, arg_max(until, ts) FILTER (fired) AS until
        FROM p GROUP BY grp HAVING bool_or(fired)
    ),
    cited AS (
        SELECT grp, list_slice(list(id ORDER BY t, id), 1, {MAX_EVIDENCE_IDS}) AS event_ids
        FROM (SELECT grp, id, min(ts) AS t
              FROM (SELECT grp, ts, unnest(ids) AS id FROM p WHERE fired) GROUP BY grp, id)
        GROUP BY grp
    )
    SELECT f.grp AS "group", first_fired, last_fired, peak,
           coalesce(cited.event_ids, []::VARCHAR[]) AS event_ids,
           least((SELECT min(q.ts) FROM p q WHERE q.grp = f.grp AND q.ts > f.last_fired
                  AND NOT q.fired), until) AS cleared
    FROM f LEFT JOIN cited USING (grp) ORDER BY first_fired"""
    try:
        out = frame(ctx.con, sql, {"start": ctx.start, "end": ctx.end, "data_end": ctx.data_end})
    except duckdb.Error as exc:
        raise UsageError(
            f"rule {rule['id']} ({rule['kind']}) failed in SQL: {str(exc).splitlines()[0]}",
            hint="check its where / key / numerator expressions in the rules file",
        ) from exc
    if not out.height:
        return out
    # A clearing time past the end of the evidence is not known to have happened.
    out = out.with_columns(
        pl.when(pl.col("cleared") > ctx.data_end).then(None).otherwise(pl.col("cleared"))
        .alias("cleared")
    )
    runbook = f"{rule.get('runbook', '?')}:{rule.get('line', '?')} {rule.get('quote', '')}".strip()
    return out.with_columns(
        pl.col("peak").cast(pl.Float64),
        pl.lit(rule["id"]).alias("rule"),
        pl.lit(rule.get("title", rule["id"])).alias("title"),
        pl.lit(",".join(_systems(rule)) or None).cast(pl.Utf8).alias("system"),
        pl.lit(level["level"]).alias("level"),
        pl.lit(None).cast(pl.Utf8).alias("evidence"),
        pl.lit(runbook).alias("runbook"),
    ).select(list(ALERT_SCHEMA)).cast(ALERT_SCHEMA)
