"""Replay integrity per stream, fail closed: sequences, time order, pairing, state machines, mirrors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from ..loaders import all_loaders
from ..loaders.base import trait
from ..scope import Scope
from ._sql import Where, frame

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

# CodingBuddy `is_valid_session_state_transition` (FORMATS §1.1); same -> same is always allowed.
SESSION_TRANSITIONS = {
    "Idle": ("Planning", "Paused", "Failed"),
    "Planning": ("ExecutingStep", "Verifying", "Paused", "Failed"),
    "ExecutingStep": ("AwaitingApproval", "Verifying", "Planning", "Completed", "Paused", "Failed"),
    "AwaitingApproval": ("ExecutingStep", "Planning", "Paused", "Failed"),
    "Verifying": ("Planning", "ExecutingStep", "Completed", "Paused", "Failed"),
    "Completed": ("Idle", "Planning"),
    "Paused": ("Planning", "ExecutingStep", "Failed"),
    "Failed": ("Planning", "Idle"),
}


def _sources_with(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    """(system, source) of the registered loaders that declare this order trait (see base.py)."""
    return tuple(sorted({(loader.system, loader.source) for loader in all_loaders()
                         if trait(loader, name) == value}))


# Loaders whose `position` numbers rows per table or per snapshot, not one file order; bounded
# snapshots (Jido diagnostics), where pairing would only report truncation; sparse sequences
# (OpenHands ids), where only regressions and duplicates are violations.
UNORDERED_SOURCES = tuple(source for _, source in _sources_with("positions", "grouped"))
SNAPSHOT_SOURCES = tuple(source for _, source in _sources_with("snapshot", True))
SPARSE_SEQ_SOURCES = _sources_with("sequence", "sparse")
STAGE_ORDER = ("initialized", "spec_ready", "generated", "validated", "planned", "iterated")
AUTO_SYNC_PREFIX = "auto-sync from artifacts"

# (rule, system, opener condition, closer condition, pairing key): k-th opener pairs with k-th
# closer of the same key in the same source and stream. Tapps pairs only in its event log (rows
# with `seq`): structured logs only write "Step completed" and state files are snapshots.
# File order is (position, record_no); rows sharing a position (a state file's step execution
# yields its start and its finish) are ordered by time.
PAIRINGS = (
    ("jido_tool_unclosed", "jido", "event_type = 'tool.call'", "event_type = 'tool.result'",
     "coalesce(correlation_id, '') || '|' || coalesce(name, '')"),
    ("jido_llm_unclosed", "jido", "event_type = 'llm.request'",
     "event_type IN ('llm.response', 'llm.error')", "coalesce(correlation_id, '')"),
    ("tapps_step_unclosed", "tapps", "seq IS NOT NULL AND event_type = 'step.start'",
     "seq IS NOT NULL AND event_type IN ('step.finish', 'step.fail', 'step.skip')",
     "coalesce(name, json_extract_string(attrs, '$.step_id'), '')"),
    # Agent transcripts and OTel spans: a tool call and its result share the tool call id.
    *(
        ("tool_call_unclosed", system, "event_type = 'tool.call'", "event_type = 'tool.result'",
         "coalesce(correlation_id, '')")
        for system in ("claude_code", "codex_cli", "gemini_cli", "swe_agent", "mini_swe_agent",
                       "openhands", "otel")
    ),
)


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
    **fields: Any,
) -> ReplayReport:
    """Every integrity rule over the streams in scope; one verdict per stream.

    A stream is in scope when one of its events is (window, systems, projects, streams,
    correlation id). Its checks run over all of its events, so a window never makes a gap at its
    edges; the violations whose event lies outside the window are left out.
    """
    scope = Scope.of(scope, **fields)
    members = _Members(con, scope)
    try:
        where = members.where
        parts = [
            _sequence(con, where),
            _time_order(con, where, tolerance_ms),
            *(_pairing(con, where, *p) for p in PAIRINGS),
            _codingbuddy_pairs(con, where),
            _tapps_bounds(con, where),
            _session_states(con, where),
            _stage_order(con, where),
            _codingbuddy_mirror(con, where),
            _curriculum_mirror(con, where),
            _tapps_completed(con, where),
        ]
        violations = pl.concat(
            [p.select(VIOLATION_COLUMNS).cast(VIOLATION_SCHEMA) for p in parts if p.height],
            how="vertical",
        ) if any(p.height for p in parts) else pl.DataFrame(schema=VIOLATION_SCHEMA)
        violations = _in_window(con, violations, scope).sort(
            ["system", "stream", "position", "rule"], nulls_last=True)
        verdicts = _verdicts(con, where, violations)
        codingbuddy = _codingbuddy_validation(con, where)
    finally:
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


def _in_scope(scope: Where, extra: str) -> tuple[str, list[Any]]:
    where = Where()
    where.parts, where.params = [*scope.parts, extra], list(scope.params)
    return where.sql(), where.params


# Window partitions over one column are several times faster in DuckDB than over three, so
# streams that only one (system, source) writes are partitioned by stream alone and the rest
# (a stream id shared by several sources or systems) by all three.
_MULTI = """multi AS (
        SELECT coalesce(stream, '') AS stream FROM timeline_events {where} GROUP BY 1
        HAVING min(system) <> max(system) OR min(source) <> max(source))"""
_PATHS = (("stream", "NOT IN"), ("system, source, stream", "IN"))


def _by_partition(
    con: duckdb.DuckDBPyConnection, template: str, where: str, params: list[Any]
) -> pl.DataFrame:
    """Run a windowed check twice: single-source streams (fast path), then shared ones."""
    frames = []
    for part, pick in _PATHS:
        sql = template.format(
            multi=_MULTI.format(where=where), part=part,
            where=f"{where} AND coalesce(stream, '') {pick} (SELECT stream FROM multi)",
        )
        frames.append(frame(con, sql, [*params, *params]))
    return pl.concat([f for f in frames if f.height] or frames[:1], how="vertical")


def _sequence(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    """Start other than 1, gaps (set-based), duplicates and regressions (file order) of `seq`."""
    where, params = _in_scope(scope, "seq IS NOT NULL")
    # One sort by file position answers everything for streams whose seq never goes down
    # (there, seq order is file order); only streams with a regression are sorted again by seq.
    template = """
    WITH {multi}, base AS (
        SELECT system, source, coalesce(stream, '') AS stream, seq, position, record_no, ts,
               event_id
        FROM timeline_events {where}
    ), by_pos AS MATERIALIZED (
        SELECT *, lag(seq) OVER w AS prev, lag(position) OVER w AS prev_pos,
               lag(record_no) OVER w AS prev_rec, row_number() OVER w AS rank
        FROM base WINDOW w AS (PARTITION BY {part} ORDER BY position, record_no)
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
    sparse = ", ".join(f"'{system}/{source}'" for system, source in SPARSE_SEQ_SOURCES)
    template = template.replace("{dense}", f"system || '/' || source NOT IN ({sparse})")
    return _by_partition(con, template, where, params)


def _time_order(con: duckdb.DuckDBPyConnection, scope: Where, tolerance_ms: float) -> pl.DataFrame:
    """Time going backwards in file order while the sequence goes forward (or has none).

    A step back within `tolerance_ms` is reported as `ts_skew` (warning: clock granularity,
    concurrent writers); beyond it `ts_regression` (error: real reordering or a bad clock).
    Only streams whose file order means something are checked: those with a native sequence,
    or whose positions are unique and not in UNORDERED_SOURCES (a source that merges several
    tables, each numbered on its own, such as coordination.db, has no file order to hold time
    against). That condition is evaluated only for streams with a candidate violation.
    """
    where, params = _in_scope(scope, "ts IS NOT NULL")
    unordered = ", ".join(f"'{u}'" for u in UNORDERED_SOURCES)
    tolerance_us = int(float(tolerance_ms) * 1000)
    template = f"""
    WITH {{multi}}, e AS (
        SELECT system, source, coalesce(stream, '') AS stream, seq, ts, position, record_no,
               event_id
        FROM timeline_events {{where}}
    ), cand AS (
        SELECT * FROM (
            SELECT *, lag(ts) OVER w AS prev_ts, lag(seq) OVER w AS prev_seq
            FROM e WINDOW w AS (PARTITION BY {{part}} ORDER BY position, record_no, ts)
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
    return _by_partition(con, template, where, params)


def _pairing(
    con: duckdb.DuckDBPyConnection, scope: Where, rule: str, system: str, opener: str,
    closer: str, key: str,
) -> pl.DataFrame:
    snapshots = ", ".join(f"'{s}'" for s in SNAPSHOT_SOURCES)
    where, params = _in_scope(scope, f"system = '{system}' AND source NOT IN ({snapshots})")
    sql = f"""
    WITH e AS (SELECT *, {key} AS pair_key FROM timeline_events {where}),
    o AS (SELECT source, coalesce(stream, '') AS stream, pair_key, position, record_no, event_id,
                 row_number() OVER (PARTITION BY source, stream, pair_key
                                    ORDER BY position, record_no, ts, event_id) AS n
          FROM e WHERE {opener}),
    c AS (SELECT source, coalesce(stream, '') AS stream, pair_key, position, record_no, event_id,
                 row_number() OVER (PARTITION BY source, stream, pair_key
                                    ORDER BY position, record_no, ts, event_id) AS n
          FROM e WHERE {closer})
    SELECT coalesce(o.stream, c.stream) AS stream, '{system}' AS system,
           CASE WHEN c.n IS NULL THEN '{rule}'
                WHEN o.n IS NULL THEN '{rule.replace("_unclosed", "_orphan")}'
                ELSE '{rule.replace("_unclosed", "_closed_before_open")}' END AS rule,
           'error' AS severity,
           coalesce(CASE WHEN o.n IS NULL OR c.n IS NOT NULL THEN c.position END, o.position)
               AS position,
           coalesce(CASE WHEN o.n IS NULL OR c.n IS NOT NULL THEN c.record_no END, o.record_no)
               AS record_no,
           CASE WHEN c.n IS NULL THEN 'a closing event for ' || o.pair_key
                WHEN o.n IS NULL THEN 'an opening event before it'
                ELSE 'after position ' || o.position END AS expected,
           CASE WHEN c.n IS NULL THEN 'none' WHEN o.n IS NULL THEN 'none for ' || c.pair_key
                ELSE 'position ' || c.position END AS found,
           coalesce(CASE WHEN o.n IS NULL OR c.n IS NOT NULL THEN c.event_id END, o.event_id)
               AS event_id,
           coalesce(o.source, c.source) AS source
    FROM o FULL JOIN c
      ON o.source = c.source AND o.stream = c.stream AND o.pair_key = c.pair_key AND o.n = c.n
    WHERE o.n IS NULL OR c.n IS NULL OR c.position < o.position"""
    return frame(con, sql, params)


def _codingbuddy_pairs(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    """Approved proposals / ToolApproved without a ToolResult, and ToolResults never approved."""
    where, params = _in_scope(
        scope, "system = 'codingbuddy' AND correlation_id IS NOT NULL AND event_type IN "
        "('tool.proposed', 'tool.approved', 'tool.result')"
    )
    sql = f"""
    WITH e AS (
        SELECT source, coalesce(stream, '') AS stream, correlation_id, event_type, position,
               record_no, event_id,
               event_type = 'tool.approved' OR (event_type = 'tool.proposed' AND json_extract_string(
                   attrs, '$.kind.payload.proposal.approved') = 'true') AS opens,
               event_type = 'tool.result' AS closes
        FROM timeline_events {where}
    ), k AS (
        SELECT stream, correlation_id, bool_or(opens) AS opened, bool_or(closes) AS closed
        FROM e GROUP BY stream, correlation_id
    )
    SELECT e.stream, 'codingbuddy' AS system,
           CASE WHEN e.opens THEN 'tool_result_missing' ELSE 'tool_result_orphan' END AS rule,
           'error' AS severity, position, record_no,
           CASE WHEN e.opens THEN 'ToolResult for ' ELSE 'approval of ' END || e.correlation_id
               AS expected, 'none' AS found, event_id, source
    FROM e JOIN k USING (stream, correlation_id)
    WHERE (e.opens AND NOT k.closed) OR (e.closes AND NOT k.opened)
    QUALIFY row_number() OVER (PARTITION BY e.stream, e.correlation_id, e.opens
                               ORDER BY position, record_no) = 1"""
    return frame(con, sql, params)


def _tapps_bounds(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    """In a Tapps workflow event log (rows with `seq`), `workflow.start` comes first and
    `workflow.end` last."""
    where, params = _in_scope(scope, "system = 'tapps'")
    sql = f"""
    WITH e AS (
        SELECT source, coalesce(stream, '') AS stream, event_type, position, record_no, event_id,
               row_number() OVER w AS rn, lag(event_type) OVER w AS prev_type,
               bool_or(seq IS NOT NULL AND (event_type LIKE 'step.%'
                                            OR event_type LIKE 'workflow.%'))
                   OVER (PARTITION BY source, stream) AS is_log
        FROM timeline_events {where}
        WINDOW w AS (PARTITION BY source, stream ORDER BY position, record_no, ts, event_id)
    )
    SELECT stream, 'tapps' AS system, 'workflow_start_not_first' AS rule, 'error' AS severity,
           position, record_no, 'workflow.start' AS expected, event_type AS found, event_id, source
    FROM e WHERE is_log AND rn = 1 AND event_type <> 'workflow.start'
    UNION ALL
    SELECT stream, 'tapps', 'workflow_end_not_last', 'error', position, record_no,
           'nothing after workflow.end', event_type, event_id, source
    FROM e WHERE is_log AND prev_type = 'workflow.end'"""
    return frame(con, sql, params)


def _session_states(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    """CodingBuddy SessionStateChanged against the transition table, and from = previous to."""
    allowed = ", ".join(
        f"('{a}', '{b}')" for a, targets in SESSION_TRANSITIONS.items() for b in targets
    )
    where, params = _in_scope(
        scope, "system = 'codingbuddy' AND event_type = 'session.state'"
    )
    sql = f"""
    WITH s AS (
        SELECT source, coalesce(stream, '') AS stream, position, record_no, event_id,
               json_extract_string(attrs, '$.kind.payload.from') AS f,
               json_extract_string(attrs, '$.kind.payload.to') AS t
        FROM timeline_events {where}
    ), l AS (
        SELECT *, lag(t) OVER (PARTITION BY source, stream ORDER BY position, record_no) AS prev_t
        FROM s
    )
    SELECT stream, 'codingbuddy' AS system, 'session_state_transition' AS rule,
           'error' AS severity, position, record_no,
           'a transition allowed from ' || coalesce(f, '?') AS expected,
           coalesce(f, '?') || ' -> ' || coalesce(t, '?') AS found, event_id, source
    FROM l
    WHERE f IS DISTINCT FROM t
      AND NOT EXISTS (SELECT 1 FROM (VALUES {allowed}) v(a, b) WHERE v.a = f AND v.b = t)
    UNION ALL
    SELECT stream, 'codingbuddy', 'session_state_discontinuity', 'warning', position, record_no,
           'from ' || prev_t, 'from ' || coalesce(f, '?'), event_id, source
    FROM l WHERE prev_t IS NOT NULL AND f IS DISTINCT FROM prev_t"""
    return frame(con, sql, params)


def _stage_order(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    """curriculum-builder stages move forward; `auto-sync from artifacts` may go back, naming
    the stage it left in metadata.previous_stage."""
    ranks = ", ".join(f"('{s}', {i})" for i, s in enumerate(STAGE_ORDER))
    where, params = _in_scope(
        scope, "system = 'curriculum_builder' AND event_type = 'stage.transition'"
    )
    sql = f"""
    WITH s AS (
        SELECT e.source, coalesce(e.stream, '') AS stream, e.position, e.record_no, e.event_id,
               e.name AS stage, r.rank, coalesce(e.message, '') AS message,
               json_extract_string(e.attrs, '$.metadata.previous_stage') AS said_previous
        FROM (SELECT * FROM timeline_events {where}) e
        LEFT JOIN (VALUES {ranks}) r(stage, rank) ON r.stage = e.name
    ), l AS (
        SELECT *, lag(stage) OVER w AS prev_stage, lag(rank) OVER w AS prev_rank
        FROM s WINDOW w AS (PARTITION BY source, stream ORDER BY position, record_no)
    )
    SELECT stream, 'curriculum_builder' AS system,
           CASE WHEN rank IS NULL THEN 'stage_unknown'
                WHEN starts_with(message, '{AUTO_SYNC_PREFIX}') THEN 'stage_auto_sync_previous'
                ELSE 'stage_regression' END AS rule,
           'error' AS severity, position, record_no,
           CASE WHEN rank IS NULL THEN 'one of {"|".join(STAGE_ORDER)}'
                WHEN starts_with(message, '{AUTO_SYNC_PREFIX}')
                    THEN 'metadata.previous_stage = ' || prev_stage
                ELSE 'a stage after ' || prev_stage END AS expected,
           CASE WHEN starts_with(message, '{AUTO_SYNC_PREFIX}') AND rank IS NOT NULL
                    THEN coalesce(said_previous, 'none')
                ELSE stage END AS found,
           event_id, source
    FROM l
    WHERE rank IS NULL
       OR (prev_rank IS NOT NULL AND rank <= prev_rank
           AND (NOT starts_with(message, '{AUTO_SYNC_PREFIX}')
                OR said_previous IS DISTINCT FROM prev_stage))"""
    return frame(con, sql, params)


def _codingbuddy_mirror(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    """events.jsonl rows against their store.sqlite copies (is_mirror), 1:1 by (session, seq_no)."""
    where, params = _in_scope(scope, "system = 'codingbuddy' AND seq IS NOT NULL")
    sql = f"""
    WITH e AS (SELECT * FROM events {where}),
    has_mirror AS (SELECT count(*) > 0 AS yes FROM e WHERE is_mirror AND source = 'store_sqlite'),
    p AS (SELECT stream, seq, event_type, ts, position, record_no, event_id, source,
                 row_number() OVER (PARTITION BY stream, seq ORDER BY position, record_no) AS k
          FROM e WHERE NOT is_mirror AND source = 'events_jsonl'),
    m AS (SELECT stream, seq, event_type, ts, position, record_no, event_id, source,
                 row_number() OVER (PARTITION BY stream, seq ORDER BY position, record_no) AS k
          FROM e WHERE is_mirror AND source = 'store_sqlite')
    SELECT coalesce(p.stream, m.stream) AS stream, 'codingbuddy' AS system,
           CASE WHEN m.seq IS NULL THEN 'mirror_missing' WHEN p.seq IS NULL THEN 'mirror_extra'
                ELSE 'mirror_mismatch' END AS rule,
           'error' AS severity, coalesce(p.position, m.position) AS position,
           coalesce(p.record_no, m.record_no) AS record_no,
           CASE WHEN m.seq IS NULL THEN 'store.sqlite row for seq ' || p.seq
                WHEN p.seq IS NULL THEN 'events.jsonl line for seq ' || m.seq
                ELSE p.event_type || ' at ' || p.ts END AS expected,
           CASE WHEN m.seq IS NULL OR p.seq IS NULL THEN 'none'
                ELSE m.event_type || ' at ' || m.ts END AS found,
           coalesce(p.event_id, m.event_id) AS event_id, coalesce(p.source, m.source) AS source
    FROM p FULL JOIN m ON p.stream = m.stream AND p.seq = m.seq AND p.k = m.k
    WHERE (SELECT yes FROM has_mirror)
      AND (p.seq IS NULL OR m.seq IS NULL OR p.event_type IS DISTINCT FROM m.event_type
           OR p.ts IS DISTINCT FROM m.ts)"""
    return frame(con, sql, params)


def _curriculum_mirror(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    """run.json history against logs/events.jsonl: the same transitions in the same order."""
    where, params = _in_scope(
        scope, "system = 'curriculum_builder' AND event_type = 'stage.transition'"
    )
    sql = f"""
    WITH e AS (
        SELECT source, coalesce(stream, '') AS stream, name, ts_raw, coalesce(message, '') AS msg,
               position, record_no, event_id,
               row_number() OVER (PARTITION BY source, stream ORDER BY position, record_no) AS k
        FROM events {where}
    ), h AS (SELECT * FROM e WHERE source = 'run_json'),
    j AS (SELECT * FROM e WHERE source <> 'run_json'),
    both_sides AS (SELECT stream FROM h INTERSECT SELECT stream FROM j)
    SELECT coalesce(h.stream, j.stream) AS stream, 'curriculum_builder' AS system,
           CASE WHEN j.k IS NULL THEN 'mirror_missing' WHEN h.k IS NULL THEN 'mirror_extra'
                ELSE 'mirror_mismatch' END AS rule,
           'error' AS severity, coalesce(j.position, h.position) AS position,
           coalesce(j.record_no, h.record_no) AS record_no,
           CASE WHEN h.k IS NULL THEN 'no entry ' || j.k || ' in run.json history'
                ELSE 'history[' || h.k || '] ' || h.name || ' at ' || coalesce(h.ts_raw, '?') END
               AS expected,
           CASE WHEN j.k IS NULL THEN 'no line ' || h.k || ' in logs/events.jsonl'
                ELSE j.name || ' at ' || coalesce(j.ts_raw, '?') END AS found,
           coalesce(j.event_id, h.event_id) AS event_id, coalesce(j.source, h.source) AS source
    FROM h FULL JOIN j ON h.stream = j.stream AND h.k = j.k
    WHERE coalesce(h.stream, j.stream) IN (SELECT stream FROM both_sides)
      AND (h.k IS NULL OR j.k IS NULL OR h.name IS DISTINCT FROM j.name
           OR h.ts_raw IS DISTINCT FROM j.ts_raw OR h.msg IS DISTINCT FROM j.msg)"""
    return frame(con, sql, params)


def _tapps_completed(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    """Each step the workflow state lists in completed_steps has a step.finish in its event log."""
    where, params = _in_scope(
        scope, "system = 'tapps' AND json_type(attrs, '$.completed_steps') = 'ARRAY'"
    )
    log_where, log_params = _in_scope(scope, "system = 'tapps'")
    sql = f"""
    WITH st AS (
        SELECT coalesce(stream, '') AS stream, source, position, record_no, event_id,
               unnest(CAST(json_extract(attrs, '$.completed_steps') AS VARCHAR[])) AS step
        FROM events {where}
    ), first_claim AS (
        SELECT * FROM st QUALIFY row_number() OVER (PARTITION BY stream, step
                                                    ORDER BY source, position, record_no) = 1
    ), log AS (
        SELECT coalesce(stream, '') AS stream, event_type,
               coalesce(name, json_extract_string(attrs, '$.step_id')) AS step
        FROM timeline_events {log_where}
          AND event_type IN ('workflow.start', 'step.start', 'step.finish', 'step.fail',
                             'step.skip', 'workflow.end')
    )
    SELECT stream, 'tapps' AS system, 'completed_step_not_in_log' AS rule, 'error' AS severity,
           position, record_no, 'step.finish for ' || step AS expected, 'none' AS found,
           event_id, source
    FROM first_claim
    WHERE stream IN (SELECT stream FROM log)
      AND NOT EXISTS (SELECT 1 FROM log WHERE log.stream = first_claim.stream
                      AND log.step = first_claim.step AND log.event_type = 'step.finish')"""
    return frame(con, sql, [*params, *log_params])


def _verdicts(
    con: duckdb.DuckDBPyConnection, scope: Where, violations: pl.DataFrame
) -> pl.DataFrame:
    where, params = _in_scope(scope, "true")
    streams = frame(
        con,
        f"SELECT DISTINCT coalesce(stream, '') AS stream, system FROM timeline_events {where}",
        params,
    )
    failing = violations.group_by(["stream", "system"]).agg(
        pl.len().cast(pl.Int64).alias("violations"),
        pl.col("severity").is_in(list(FAILING)).sum().cast(pl.Int64).alias("errors"),
    )
    out = streams.join(failing, on=["stream", "system"], how="full", coalesce=True)
    return (
        out.with_columns(
            pl.col("violations").fill_null(0),
            (pl.col("errors").fill_null(0) == 0).alias("passed"),
        )
        .select("stream", "system", "passed", "violations")
        .sort(["passed", "system", "stream"])
    )


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


def _codingbuddy_validation(con: duckdb.DuckDBPyConnection, scope: Where) -> pl.DataFrame:
    where, params = _in_scope(scope, "system = 'codingbuddy' AND seq IS NOT NULL")
    sql = f"""
    WITH e AS (
        SELECT stream, seq, position, record_no, event_type, correlation_id,
               lag(seq) OVER (PARTITION BY stream ORDER BY position, record_no) AS prev_seq,
               json_extract_string(attrs, '$.kind.payload.proposal.approved') = 'true' AS approved
        FROM timeline_events {where}
    ), opened AS (
        SELECT DISTINCT stream, correlation_id FROM e
        WHERE correlation_id IS NOT NULL
          AND (event_type = 'tool.approved' OR (event_type = 'tool.proposed' AND approved))
    ), closed AS (
        SELECT DISTINCT stream, correlation_id FROM e
        WHERE correlation_id IS NOT NULL AND event_type = 'tool.result'
    ), sessions AS (
        SELECT stream, bool_and(prev_seq IS NULL OR seq >= prev_seq) AS monotonic_seq
        FROM e GROUP BY stream
    ), missing AS (
        SELECT stream, list(correlation_id ORDER BY correlation_id) AS ids FROM opened
        WHERE (stream, correlation_id) NOT IN (SELECT * FROM closed) GROUP BY stream
    ), orphan AS (
        SELECT stream, list(correlation_id ORDER BY correlation_id) AS ids FROM closed
        WHERE (stream, correlation_id) NOT IN (SELECT * FROM opened) GROUP BY stream
    )
    SELECT s.stream AS session_id, s.monotonic_seq,
           coalesce(m.ids, []::VARCHAR[]) AS missing_tool_results,
           coalesce(o.ids, []::VARCHAR[]) AS orphan_tool_results,
           s.monotonic_seq AND m.ids IS NULL AND o.ids IS NULL AS passed
    FROM sessions s LEFT JOIN missing m USING (stream) LEFT JOIN orphan o USING (stream)
    ORDER BY session_id"""
    return frame(con, sql, params)
