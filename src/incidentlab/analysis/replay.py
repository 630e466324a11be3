"""Replay integrity per stream, fail closed: sequences, time order, and the checks each system
declares (loaders/base.py: pairings, state machines, progressions, bounds, mirrors, lists).

A small engine over a handful of set-based passes:

1. one aggregate per (system, source, stream): the verdict rows, which streams several sources
   share, which have rows without seq, time or position, and the bounds checks' counts;
2. one ordered pass (LAG per stream in file order) whose per-stream aggregate clears every
   stream whose sequence steps by one (or only rises, for sparse sources), whose time never
   goes back and whose file order has no ties;
3. the exact sequence, time-order and bounds rules, over a temp table holding only the streams
   the first two passes did not clear;
4. all pairing rules in one statement; one small statement per other declared check, run only
   when its system has events in scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from ..loaders import all_loaders
from ..loaders.base import Bounds, Check, Listed, Mirror, Pairing, Progression, StateMachine, checks_of, trait
from ..membership import one_of
from ..scope import Scope
from . import replay_checks as kinds
from ._sql import Where, frame, quote

VIOLATION_COLUMNS = (
    "stream", "system", "rule", "severity", "position", "record_no", "expected", "found",
    "event_id", "source",
)
VIOLATION_SCHEMA = {
    "stream": pl.Utf8, "system": pl.Utf8, "rule": pl.Utf8, "severity": pl.Utf8,
    "position": pl.Int64, "record_no": pl.Int64, "expected": pl.Utf8, "found": pl.Utf8,
    "event_id": pl.Utf8, "source": pl.Utf8,
}
# Rows of these severities fail a stream; `warning` rows (clock skew within tolerance, state
# discontinuities the source itself tolerates) are reported but do not fail it.
FAILING = ("error",)


def _sources_with(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    """(system, source) of the registered loaders that declare this order trait (see base.py)."""
    return tuple(sorted({(loader.system, loader.source) for loader in all_loaders()
                         if trait(loader, name) == value}))


def declared_checks() -> tuple[tuple[str, Check], ...]:
    """(system, check) for every check the registered loaders declare, each once, in order."""
    seen: dict[tuple[str, Check], None] = {}
    for loader in all_loaders():
        for declared in checks_of(loader):
            seen.setdefault((loader.system, declared), None)
    return tuple(seen)


# Loaders whose `position` numbers rows per table or per snapshot, not one file order; bounded
# snapshots (Jido diagnostics), where pairing would only report truncation; sparse sequences
# (OpenHands ids), where only regressions and duplicates are violations.
UNORDERED_SOURCES = tuple(source for _, source in _sources_with("positions", "grouped"))
SNAPSHOT_SOURCES = tuple(source for _, source in _sources_with("snapshot", True))
SPARSE_SEQ_SOURCES = _sources_with("sequence", "sparse")

GROUPS, ROWS, OPEN = "_il_replay_groups", "_il_replay_rows", "_il_replay_open"
MAX_LISTED_STREAMS = 20000  # more open streams are read with a join on the OPEN table


@dataclass
class ReplayReport:
    violations: pl.DataFrame
    verdicts: pl.DataFrame
    codingbuddy: pl.DataFrame

    @property
    def passed(self) -> bool:
        return bool(self.verdicts["passed"].all()) if self.verdicts.height else True


def check(
    con: duckdb.DuckDBPyConnection, scope: Scope | None = None, *, tolerance_ms: float = 1000,
    parts: Sequence[AbstractContextManager[Any]] | None = None, **fields: Any,
) -> ReplayReport:
    """Every integrity rule over the streams in scope; one verdict per stream.

    A stream is in scope when one of its events is (window, systems, projects, streams,
    correlation id). Its checks run over all of its events, so a window never makes a gap at its
    edges; the violations whose event lies outside the window are left out.

    `parts` (a lake's batches, lake/batches.py): context managers, each showing the connection's
    `events` a set of whole streams, all of them together. The check runs in each and the reports
    merge into the one a single run gives: every rule is decided within a stream, but for the
    gate of a mirror checked `when = "copies"` (some copy row in scope at all), asked of the whole.
    """
    scope = Scope.of(scope, **fields)
    if not parts:
        return _check(con, scope, tolerance_ms, None)
    copies = _copies_in_scope(con, scope)
    reports = []
    for part in parts:
        with part:
            reports.append(_check(con, scope, tolerance_ms, copies))
    return merge(reports)


def _check(con: duckdb.DuckDBPyConnection, scope: Scope, tolerance_ms: float,
           copies_seen: dict[Mirror, bool] | None) -> ReplayReport:
    members = _Members(con, scope)
    declared = declared_checks()
    try:
        # The scope is a temp table of streams: a condition without parameters.
        where = members.where.sql("").strip() or "true"
        bounds = [(system, c) for system, c in declared if isinstance(c, Bounds)]
        con.execute(_groups_sql(where, bounds))
        present = {row[0] for row in con.execute(f"SELECT DISTINCT system FROM {GROUPS}").fetchall()}
        parts = [*_ordered(con, where, bounds, tolerance_ms),
                 *_declared(con, where, [d for d in declared if d[0] in present], copies_seen)]
        violations = pl.concat(
            [p.select(VIOLATION_COLUMNS).cast(VIOLATION_SCHEMA) for p in parts if p.height],
            how="vertical",
        ) if any(p.height for p in parts) else pl.DataFrame(schema=VIOLATION_SCHEMA)
        violations = sort_violations(_in_window(con, violations, scope))
        verdicts = _verdicts(con, violations)
        codingbuddy = _codingbuddy_validation(con, members.where, (
            f"SELECT coalesce(stream, '') FROM {ROWS} WHERE system = 'codingbuddy'"))
    finally:
        con.execute(f"DROP TABLE IF EXISTS {GROUPS}")
        con.execute(f"DROP TABLE IF EXISTS {ROWS}")
        con.execute(f"DROP TABLE IF EXISTS {OPEN}")
        members.close()
    return ReplayReport(violations, verdicts, codingbuddy)


class _Members:
    """The (system, stream) pairs in scope, as a temp table and the condition selecting them."""

    TABLE = "_il_replay_streams"

    def __init__(self, con: duckdb.DuckDBPyConnection, scope: Scope) -> None:
        self.con, self.where = con, Where()
        self.made = not scope.is_everything
        if self.made:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {self.TABLE} AS SELECT DISTINCT system, "
                        f"coalesce(stream, '') AS stream FROM timeline_events WHERE {scope.sql()}")
            self.where.add(f"(system, coalesce(stream, '')) IN (SELECT system, stream "
                           f"FROM {self.TABLE})")

    def close(self) -> None:
        if self.made:
            self.con.execute(f"DROP TABLE IF EXISTS {self.TABLE}")


def _in_window(con: duckdb.DuckDBPyConnection, violations: pl.DataFrame,
               scope: Scope) -> pl.DataFrame:
    """Drop the violations whose event has a time outside the scope's window (an event with no
    time stays: its stream is in scope and nothing places it outside)."""
    if not scope.windowed or violations.is_empty():
        return violations
    ids = violations.select("event_id").unique().drop_nulls()
    con.register("_il_violation_ids", ids.to_arrow())
    try:
        outside = {row[0] for row in con.execute(
            "SELECT event_id FROM events SEMI JOIN _il_violation_ids USING (event_id) "
            f"WHERE ts IS NOT NULL AND NOT ({scope.sql()})").fetchall()}
    finally:
        con.unregister("_il_violation_ids")
    return violations.filter(~pl.col("event_id").is_in(list(outside)).fill_null(False))


# ---- pass 1: one aggregate per (system, source, stream)

def _groups_sql(where: str, bounds: list[tuple[str, Bounds]]) -> str:
    """The groups table, with `settled`: true when the group needs no exact bounds check (its
    declared first event is strictly before every other row, at most one last event strictly
    after every other row; conservative, positions all present)."""
    aggregates, unsettled = [], []
    for i, (system, b) in enumerate(bounds):
        mine = f"system = {quote(system)}"
        first, last = quote(b.first), quote(b.last)
        aggregates += [
            f"bool_or({mine} AND ({b.applies})) AS b{i}_log",
            f"count(*) FILTER (WHERE {mine} AND event_type = {first}) AS b{i}_nf",
            f"min(position) FILTER (WHERE {mine} AND event_type = {first}) AS b{i}_pf",
            f"min(position) FILTER (WHERE {mine} AND event_type <> {first}) AS b{i}_po",
            f"count(*) FILTER (WHERE {mine} AND event_type = {last}) AS b{i}_nl",
            f"max(position) FILTER (WHERE {mine} AND event_type = {last}) AS b{i}_pl",
            f"max(position) FILTER (WHERE {mine} AND event_type IS DISTINCT FROM {last}) "
            f"AS b{i}_pm",
        ]
        unsettled.append(
            f"(b{i}_log AND (npos < n OR NOT (b{i}_nf >= 1 AND (b{i}_po IS NULL OR b{i}_pf < "
            f"b{i}_po)) OR (b{i}_nl >= 1 AND NOT (b{i}_nl = 1 AND (b{i}_pm IS NULL OR b{i}_pl > "
            f"b{i}_pm)))))")
    extra = "".join(f", {a}" for a in aggregates)
    return f"""
    CREATE OR REPLACE TEMP TABLE {GROUPS} AS
    SELECT system, source, stream, n, nseq, nts, npos, nrec, named,
           count(*) OVER (PARTITION BY stream) > 1 AS shared,
           -- the stream as a number: the ordered pass partitions by it, so its sort
           -- compares numbers, not the streams' text
           dense_rank() OVER (ORDER BY stream) AS stream_no,
           {' OR '.join(unsettled) or 'false'} AS bounds_open
    FROM (
        SELECT system, source, coalesce(stream, '') AS stream, count(*) AS n, count(seq) AS nseq,
               count(ts) AS nts, count(position) AS npos, count(record_no) AS nrec,
               count(stream) AS named{extra}
        FROM timeline_events WHERE {where} GROUP BY system, source, coalesce(stream, '')
    )"""


# ---- pass 2 and 3: sequence, time order and bounds

def _ordered(con: duckdb.DuckDBPyConnection, where: str, bounds: list[tuple[str, Bounds]],
             tolerance_ms: float) -> list[pl.DataFrame]:
    """Clear streams with one LAG pass per stream, then run the exact rules on what is left.

    The LAG pass partitions by stream alone (its number) and orders by (position, record_no,
    ts); it may clear a group only when that order is the exact rules' order: one (system,
    source) in the stream, every row with seq (or none), time (or none), position and
    record_no, and no two consecutive rows tied on (position, record_no).
    """
    sparse = ", ".join(quote(f"{system}/{source}") for system, source in SPARSE_SEQ_SOURCES)
    is_sparse = f"g.system || '/' || g.source IN ({sparse})" if sparse else "false"
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE {OPEN} AS
    WITH numbers AS (
        SELECT DISTINCT stream, stream_no FROM {GROUPS}
    ), steps AS (
        SELECT n.stream_no, e.seq, e.seq - lag(e.seq) OVER w AS step, e.ts < lag(e.ts) OVER w AS back,
               e.position = lag(e.position) OVER w AND e.record_no = lag(e.record_no) OVER w AS tie
        FROM (SELECT stream, seq, ts, position, record_no FROM timeline_events WHERE {where}) e
        JOIN numbers n ON n.stream = coalesce(e.stream, '')
        WINDOW w AS (PARTITION BY n.stream_no ORDER BY e.position, e.record_no, e.ts)
    ), per_stream AS (
        SELECT stream_no, min(step) AS min_step, max(step) AS max_step,
               min(seq) AS first_seq, bool_or(back) AS back, bool_or(tie) AS tie
        FROM steps GROUP BY stream_no
    ), open_groups AS (
        SELECT g.system, g.source, g.stream FROM {GROUPS} g LEFT JOIN per_stream s USING (stream_no)
        WHERE g.shared OR g.bounds_open OR g.npos < g.n OR g.nrec < g.n
           OR (g.named > 0 AND g.named < g.n) OR (g.nseq > 0 AND g.nseq < g.n)
           OR (g.nts > 0 AND g.nts < g.n) OR s.stream_no IS NULL
           OR coalesce(s.back, false) OR coalesce(s.tie, false)
           OR (g.nseq > 0 AND CASE WHEN {is_sparse} THEN s.min_step < 1
               ELSE s.first_seq <> 1 OR s.min_step <> 1 OR s.max_step <> 1 END)
    )
    SELECT * FROM open_groups""")
    streams = [row[0] for row in con.execute(
        f"SELECT DISTINCT stream FROM {OPEN} LIMIT {MAX_LISTED_STREAMS + 1}").fetchall()]
    # A short list of the open streams is a filter the scan applies itself, before reading the
    # other columns; a long one a hash join on the one column (membership.py); the join on
    # (system, source, stream) alone would read every column of every row in scope.
    listed = (one_of("coalesce(stream, '')", [quote(s) for s in streams])
              if len(streams) <= MAX_LISTED_STREAMS
              else f"coalesce(stream, '') IN (SELECT DISTINCT stream FROM {OPEN})")
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE {ROWS} AS
    SELECT system, source, stream, seq, ts, position, record_no, event_id, event_type, is_mirror
    FROM timeline_events WHERE {where} AND {listed}
      AND (system, source, coalesce(stream, '')) IN (SELECT system, source, stream FROM {OPEN})
    """)
    con.execute(f"DROP TABLE {OPEN}")
    if not streams:
        return []
    out = [frame(con, _sequence_sql(sparse)), frame(con, _time_order_sql(tolerance_ms))]
    out += [frame(con, _bounds_sql(system, b)) for system, b in bounds]
    return out


def _sequence_sql(sparse: str) -> str:
    """Start other than 1, gaps (set-based), duplicates and regressions (file order) of `seq`."""
    dense = f"system || '/' || source NOT IN ({sparse})" if sparse else "true"
    # One sort by file position answers everything for streams whose seq never goes down
    # (there, seq order is file order); only streams with a regression are sorted again by seq.
    return f"""
    WITH base AS (
        SELECT system, source, coalesce(stream, '') AS stream, seq, position, record_no, ts,
               event_id
        FROM {ROWS} WHERE seq IS NOT NULL
    ), by_pos AS MATERIALIZED (
        SELECT *, lag(seq) OVER w AS prev, lag(position) OVER w AS prev_pos,
               lag(record_no) OVER w AS prev_rec, row_number() OVER w AS rank
        FROM base WINDOW w AS (PARTITION BY system, source, stream ORDER BY position, record_no)
    ), reordered AS (
        SELECT DISTINCT system, source, stream FROM by_pos WHERE seq < prev
    ), in_order AS (
        SELECT * FROM by_pos ANTI JOIN reordered USING (system, source, stream)
    ), by_seq AS (
        SELECT *, lag(seq) OVER s AS below, lag(position) OVER s AS below_pos,
               lag(record_no) OVER s AS below_rec, row_number() OVER s AS rank_in_seq
        FROM base SEMI JOIN reordered USING (system, source, stream)
        WINDOW s AS (PARTITION BY system, source, stream ORDER BY seq, position, record_no)
    ), ranked AS (
        SELECT system, source, stream, seq, position, record_no, event_id,
               prev AS below, prev_pos AS below_pos, prev_rec AS below_rec,
               rank AS rank_in_seq FROM in_order
        UNION ALL
        SELECT system, source, stream, seq, position, record_no, event_id,
               below, below_pos, below_rec, rank_in_seq FROM by_seq
    )
    SELECT stream, system, 'seq_start' AS rule, 'error' AS severity, position, record_no,
           '1' AS expected, seq::VARCHAR AS found, event_id, source
    FROM ranked WHERE rank_in_seq = 1 AND seq <> 1 AND {dense}
    UNION ALL
    SELECT stream, system, 'seq_gap', 'error', position, record_no,
           CASE WHEN seq - below = 2 THEN (below + 1)::VARCHAR
                ELSE (below + 1)::VARCHAR || '..' || (seq - 1)::VARCHAR END,
           seq::VARCHAR, event_id, source
    FROM ranked WHERE seq - below > 1 AND {dense}
    UNION ALL
    SELECT stream, system, 'seq_duplicate', 'error', position, record_no,
           'seq ' || seq || ' once (also at position ' || below_pos || ')', seq::VARCHAR,
           event_id, source
    FROM ranked WHERE seq = below AND record_no IS DISTINCT FROM below_rec
    UNION ALL
    SELECT stream, system, 'seq_regression', 'error', position, record_no,
           '>= ' || prev, seq::VARCHAR, event_id, source
    FROM by_pos WHERE seq < prev"""


def _time_order_sql(tolerance_ms: float) -> str:
    """Time going backwards in file order while the sequence goes forward (or has none).

    A step back within `tolerance_ms` is reported as `ts_skew` (warning: clock granularity,
    concurrent writers); beyond it `ts_regression` (error: real reordering or a bad clock).
    Only streams whose file order means something are checked: those with a native sequence,
    or whose positions are unique and not in UNORDERED_SOURCES (a source that merges several
    tables, each numbered on its own, such as coordination.db, has no file order to hold time
    against). That condition is evaluated only for streams with a candidate violation.
    """
    unordered = ", ".join(quote(u) for u in UNORDERED_SOURCES) or "''"
    tolerance_us = int(float(tolerance_ms) * 1000)
    return f"""
    WITH e AS (
        SELECT system, source, coalesce(stream, '') AS stream, seq, ts, position, record_no,
               event_id
        FROM {ROWS} WHERE ts IS NOT NULL
    ), cand AS (
        SELECT * FROM (
            SELECT *, lag(ts) OVER w AS prev_ts, lag(seq) OVER w AS prev_seq
            FROM e WINDOW w AS (PARTITION BY system, source, stream
                                ORDER BY position, record_no, ts)
        ) WHERE ts < prev_ts AND (seq IS NULL OR prev_seq IS NULL OR seq > prev_seq)
    ), ordered AS (
        SELECT system, source, stream FROM e
        SEMI JOIN (SELECT DISTINCT system, source, stream FROM cand) c
            USING (system, source, stream)
        GROUP BY ALL
        HAVING count(seq) > 0
            OR (count(*) = count(DISTINCT position) AND source NOT IN ({unordered}))
    )
    SELECT stream, system,
           CASE WHEN date_diff('microsecond', ts, prev_ts) > {tolerance_us}
                THEN 'ts_regression' ELSE 'ts_skew' END AS rule,
           CASE WHEN date_diff('microsecond', ts, prev_ts) > {tolerance_us}
                THEN 'error' ELSE 'warning' END AS severity,
           position, record_no, '>= ' || strftime(prev_ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS expected,
           strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS found, event_id, source
    FROM cand SEMI JOIN ordered USING (system, source, stream)"""


def _bounds_sql(system: str, b: Bounds) -> str:
    return f"""
    WITH e AS (
        SELECT source, coalesce(stream, '') AS stream, event_type, position, record_no, event_id,
               row_number() OVER w AS rn, lag(event_type) OVER w AS prev_type,
               bool_or({b.applies}) OVER (PARTITION BY source, coalesce(stream, '')) AS applies
        FROM {ROWS} WHERE system = {quote(system)}
        WINDOW w AS (PARTITION BY source, coalesce(stream, '')
                     ORDER BY position, record_no, ts, event_id)
    )
    SELECT stream, {quote(system)} AS system, {quote(b.first_rule)} AS rule, 'error' AS severity,
           position, record_no, {quote(b.first)} AS expected, event_type AS found, event_id,
           source
    FROM e WHERE applies AND rn = 1 AND event_type <> {quote(b.first)}
    UNION ALL
    SELECT stream, {quote(system)}, {quote(b.last_rule)}, 'error', position, record_no,
           {quote('nothing after ' + b.last)}, event_type, event_id, source
    FROM e WHERE applies AND prev_type = {quote(b.last)}"""


# ---- pass 4: the declared checks

def _copies_in_scope(con: duckdb.DuckDBPyConnection, scope: Scope) -> dict[Mirror, bool]:
    """Per mirror checked `when = "copies"`: whether any of its copy rows is in scope."""
    members = _Members(con, scope)
    try:
        where = members.where.sql("").strip() or "true"
        return {c: _exists(con, system, c, where, c.copy) for system, c in declared_checks()
                if isinstance(c, Mirror) and c.when == "copies"}
    finally:
        members.close()


def _declared(con: duckdb.DuckDBPyConnection, where: str, declared: list[tuple[str, Check]],
              copies_seen: dict[Mirror, bool] | None = None) -> list[pl.DataFrame]:
    snapshots = ", ".join(quote(s) for s in SNAPSHOT_SOURCES) or "''"
    out = []
    pairs = [(system, c) for system, c in declared if isinstance(c, Pairing)]
    if pairs:
        con.execute(kinds.pair_keys(pairs, where, snapshots))
        try:
            out.append(frame(con, kinds.pair_simple(pairs)))
            if con.execute(f"SELECT count(*) FROM {kinds.PAIR_KEYS} WHERE NOT simple").fetchall()[0][0]:
                out.append(frame(con, kinds.pair_exact(pairs, where, snapshots)))
        finally:
            con.execute(f"DROP TABLE IF EXISTS {kinds.PAIR_KEYS}")
    builders = {StateMachine: kinds.state_machine, Progression: kinds.progression,
                Mirror: kinds.mirror, Listed: kinds.listed}
    for system, declared_check in declared:
        build = builders.get(type(declared_check))
        if build is None:
            continue
        if isinstance(declared_check, Mirror) and declared_check.when == "copies" \
                and copies_seen is not None:
            if copies_seen.get(declared_check):
                out.append(frame(con, kinds.mirror(system, declared_check, where, copies=True)))
        elif _may_fire(con, system, declared_check, where):
            out.append(frame(con, build(system, declared_check, where)))
    return out


def _may_fire(con: duckdb.DuckDBPyConnection, system: str, declared: Check, where: str) -> bool:
    """False when a mirror's copy side (or either side, for "both") or a list has no row at all:
    one cheap existence probe instead of the check's windows."""
    if isinstance(declared, Mirror):
        sides = [declared.copy] if declared.when == "copies" else [declared.reference, declared.copy]
    elif isinstance(declared, Listed):
        sides = [declared.where]
    else:
        return True
    return all(_exists(con, system, declared, where, side) for side in sides)


def _exists(con: duckdb.DuckDBPyConnection, system: str, declared: Mirror | Listed, where: str,
            side: str) -> bool:
    base = f"FROM events WHERE {where} AND system = {quote(system)}"
    if isinstance(declared, Mirror):
        base += f" AND ({declared.where})"
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 {base} AND ({side}))").fetchall()[0][0])


def sort_violations(violations: pl.DataFrame) -> pl.DataFrame:
    """By system, stream, position and rule, then every other column: one order for any split."""
    first = ["system", "stream", "position", "rule"]
    return violations.sort([*first, *(c for c in VIOLATION_COLUMNS if c not in first)],
                           nulls_last=True)


def sort_verdicts(verdicts: pl.DataFrame) -> pl.DataFrame:
    """Failing streams first, then by system and stream (one row per stream: a total order)."""
    return verdicts.sort(["passed", "system", "stream"])


def merge(reports: list[ReplayReport]) -> ReplayReport:
    """One report of the reports of disjoint sets of streams, as one run over all would give."""
    if len(reports) == 1:
        return reports[0]
    return ReplayReport(
        sort_violations(pl.concat([r.violations for r in reports], how="vertical")),
        sort_verdicts(pl.concat([r.verdicts for r in reports], how="vertical")),
        pl.concat([r.codingbuddy for r in reports], how="vertical").sort("session_id"))


def _verdicts(con: duckdb.DuckDBPyConnection, violations: pl.DataFrame) -> pl.DataFrame:
    streams = frame(con, f"SELECT DISTINCT stream, system FROM {GROUPS}")
    failing = violations.group_by(["stream", "system"]).agg(
        pl.len().cast(pl.Int64).alias("violations"),
        pl.col("severity").is_in(list(FAILING)).sum().cast(pl.Int64).alias("errors"),
    )
    out = streams.join(failing, on=["stream", "system"], how="full", coalesce=True)
    return sort_verdicts(out.with_columns(
        pl.col("violations").fill_null(0),
        (pl.col("errors").fill_null(0) == 0).alias("passed"),
    ).select("stream", "system", "passed", "violations"))


def codingbuddy_validation(con: duckdb.DuckDBPyConnection, scope: Scope | None = None,
                           **fields: Any) -> pl.DataFrame:
    """What `deepseek replay run --deterministic` reports per session (validate_replay_events).

    In file order: monotonic_seq is false when a seq_no is lower than the one before (equal is
    allowed); missing = (approved proposals ∪ ToolApproved) without any ToolResult; orphan =
    ToolResults whose invocation was never approved; both lists sorted; passed = all clear.
    Sessions are in scope when one of their events is; each is validated whole.
    """
    members = _Members(con, Scope.of(scope, **fields))
    try:
        return _codingbuddy_validation(con, members.where)
    finally:
        members.close()


def _codingbuddy_validation(con: duckdb.DuckDBPyConnection, scope: Where,
                            ordered: str | None = None) -> pl.DataFrame:
    """`ordered`, from check(): a query of the streams whose file order pass 2 did not clear; the
    others step by one in file order, so their seq never goes down and needs no window."""
    where, params = _in_scope(scope, "system = 'codingbuddy' AND seq IS NOT NULL")
    window_where = where + (f" AND coalesce(stream, '') IN ({ordered})" if ordered else "")
    sql = f"""
    WITH e AS (
        SELECT stream, event_type, correlation_id,
               CASE WHEN event_type = 'tool.proposed' THEN json_extract_string(
                   attrs, '$.kind.payload.proposal.approved') = 'true' END AS approved
        FROM timeline_events {where}
    ), steps AS (
        SELECT stream, seq, lag(seq) OVER (PARTITION BY stream ORDER BY position, record_no)
                   AS prev_seq
        FROM timeline_events {window_where}
    ), opened AS (
        SELECT DISTINCT stream, correlation_id FROM e
        WHERE correlation_id IS NOT NULL
          AND (event_type = 'tool.approved' OR (event_type = 'tool.proposed' AND approved))
    ), closed AS (
        SELECT DISTINCT stream, correlation_id FROM e
        WHERE correlation_id IS NOT NULL AND event_type = 'tool.result'
    ), monotonic AS (
        SELECT stream, bool_and(prev_seq IS NULL OR seq >= prev_seq) AS monotonic_seq
        FROM steps GROUP BY stream
    ), sessions AS (
        SELECT s.stream, coalesce(m.monotonic_seq, true) AS monotonic_seq
        FROM (SELECT DISTINCT stream FROM e) s LEFT JOIN monotonic m USING (stream)
    ), missing AS (
        -- NOT EXISTS on equal keys: an anti join on any engine (Spark plans a two-column NOT IN
        -- as a nested loop: hours at 10M events)
        SELECT stream, list(correlation_id ORDER BY correlation_id) AS ids FROM opened o
        WHERE NOT EXISTS (SELECT 1 FROM closed c WHERE c.stream IS NOT DISTINCT FROM o.stream
                                                  AND c.correlation_id = o.correlation_id)
        GROUP BY stream
    ), orphan AS (
        SELECT stream, list(correlation_id ORDER BY correlation_id) AS ids FROM closed c
        WHERE NOT EXISTS (SELECT 1 FROM opened o WHERE o.stream IS NOT DISTINCT FROM c.stream
                                                  AND o.correlation_id = c.correlation_id)
        GROUP BY stream
    )
    SELECT s.stream AS session_id, s.monotonic_seq,
           coalesce(m.ids, []::VARCHAR[]) AS missing_tool_results,
           coalesce(o.ids, []::VARCHAR[]) AS orphan_tool_results,
           s.monotonic_seq AND m.ids IS NULL AND o.ids IS NULL AS passed
    FROM sessions s LEFT JOIN missing m USING (stream) LEFT JOIN orphan o USING (stream)
    ORDER BY session_id"""
    return frame(con, sql, [*params, *params])


def _in_scope(scope: Where, extra: str) -> tuple[str, list[Any]]:
    where = Where()
    where.parts, where.params = [*scope.parts, extra], list(scope.params)
    return where.sql(), where.params
