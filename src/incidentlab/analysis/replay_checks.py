"""SQL for the replay checks systems declare (loaders/base.py: Pairing, StateMachine, Progression,
Bounds, Mirror, Listed). Each builder returns one statement yielding violation rows; `scope` is
the SQL condition selecting the streams in scope, `system` the declaring loader's system."""

from __future__ import annotations

from ..loaders.base import Listed, Mirror, Pairing, Progression, StateMachine
from ._sql import quote

OUT = "stream, system, rule, severity, position, record_no, expected, found, event_id, source"


PAIR_KEYS = "_il_replay_pair_keys"
_KEYS = "rule_no, file_order, part, stream, pair_key"


def pair_rows(rules: list[tuple[str, Pairing]], scope: str, snapshots: str) -> str:
    return "\n        UNION ALL\n        ".join(
        f"SELECT {i} AS rule_no, {p.order == 'file'} AS file_order, source, "
        f"{'source' if p.order == 'file' else quote('')} AS part, coalesce(stream, '') AS stream, "
        f"{p.key} AS pair_key, coalesce({p.opener}, false) AS opens, position, record_no, ts, "
        f"event_id FROM timeline_events WHERE {scope} AND system = {quote(system)} "
        f"AND source NOT IN ({snapshots}) AND ({p.where}) "
        # coalesce: one expression the scan evaluates itself (see incidentlab/membership.py)
        f"AND coalesce(({p.opener}) OR ({p.closer}), false)"
        for i, (system, p) in enumerate(rules))


def _rule_names(rules: list[tuple[str, Pairing]]) -> str:
    names = ", ".join(
        f"({i}, {quote(system)}, {quote(p.rule)}, {quote(p.orphan)}, {quote(p.early)}, "
        f"{quote(p.wanted)}, {quote(p.wanted_opener)})" for i, (system, p) in enumerate(rules))
    return f"rules(rule_no, system, rule, orphan, early, wanted, wanted_opener) AS (VALUES {names})"


def pair_keys(rules: list[tuple[str, Pairing]], scope: str, snapshots: str) -> str:
    """Pass over the rows of every pairing rule: one aggregate per key, keeping only the keys not
    cleared (order "file": as many closers as openers, none before an opener; order "any": both
    sides present), with the row of each side when it has one (`simple`)."""
    side = "".join(
        f", max({col}) FILTER (WHERE {'' if o else 'NOT '}opens) AS {s}_{name}"
        for o, s in ((True, "o"), (False, "c"))
        for col, name in (("position", "pos"), ("record_no", "rec"), ("event_id", "id"),
                          ("source", "src")))
    return f"""
    CREATE OR REPLACE TEMP TABLE {PAIR_KEYS} AS
    SELECT *, n_open <= 1 AND n_close <= 1 AND n_pos = n_open + n_close AS simple FROM (
        SELECT {_KEYS}, count(*) FILTER (WHERE opens) AS n_open,
               count(*) FILTER (WHERE NOT opens) AS n_close, count(position) AS n_pos{side}
        FROM ({pair_rows(rules, scope, snapshots)}) r
        GROUP BY {_KEYS}
        HAVING CASE WHEN file_order
            THEN count(*) FILTER (WHERE opens) <> count(*) FILTER (WHERE NOT opens)
                 OR count(position) < count(*)
                 OR min(position) FILTER (WHERE NOT opens) < max(position) FILTER (WHERE opens)
            ELSE NOT (bool_or(opens) AND bool_or(NOT opens)) END
    )"""


def pair_simple(rules: list[tuple[str, Pairing]]) -> str:
    """Violations of the keys with at most one opener and one closer, from the aggregate."""
    return f"""
    WITH {_rule_names(rules)}
    SELECT k.stream, n.system,
           CASE WHEN k.n_close = 0 THEN n.rule WHEN k.n_open = 0 THEN n.orphan
                ELSE n.early END AS rule,
           'error' AS severity,
           CASE WHEN k.n_close = 0 THEN k.o_pos ELSE k.c_pos END AS position,
           CASE WHEN k.n_close = 0 THEN k.o_rec ELSE k.c_rec END AS record_no,
           CASE WHEN NOT k.file_order THEN
                    CASE WHEN k.n_close = 0 THEN n.wanted ELSE n.wanted_opener END || k.pair_key
                WHEN k.n_close = 0 THEN 'a closing event for ' || k.pair_key
                WHEN k.n_open = 0 THEN 'an opening event before it'
                ELSE 'after position ' || k.o_pos END AS expected,
           CASE WHEN NOT k.file_order OR k.n_close = 0 THEN 'none'
                WHEN k.n_open = 0 THEN 'none for ' || k.pair_key
                ELSE 'position ' || k.c_pos END AS found,
           CASE WHEN k.n_close = 0 THEN k.o_id ELSE k.c_id END AS event_id,
           CASE WHEN k.n_open = 0 THEN k.c_src ELSE k.o_src END AS source
    FROM {PAIR_KEYS} k JOIN rules n USING (rule_no) WHERE k.simple"""


def pair_exact(rules: list[tuple[str, Pairing]], scope: str, snapshots: str) -> str:
    """The rest: the k-th opener / k-th closer match (order "file") or the any-closer test
    (order "any"), over the rows of the keys not simple. A declared key is any SQL expression,
    so a key may be NULL: every join over keys is null-safe."""
    return f"""
    WITH d AS (
        SELECT r.* FROM ({pair_rows(rules, scope, snapshots)}) r
        SEMI JOIN (SELECT {_KEYS} FROM {PAIR_KEYS} WHERE NOT simple) k
               ON k.rule_no = r.rule_no AND k.part = r.part AND k.stream = r.stream
              AND k.pair_key IS NOT DISTINCT FROM r.pair_key
    ), {_rule_names(rules)}, o AS (
        SELECT *, row_number() OVER (PARTITION BY rule_no, part, stream, pair_key
                                     ORDER BY position, record_no, ts, event_id) AS n
        FROM d WHERE file_order AND opens
    ), c AS (
        SELECT *, row_number() OVER (PARTITION BY rule_no, part, stream, pair_key
                                     ORDER BY position, record_no, ts, event_id) AS n
        FROM d WHERE file_order AND NOT opens
    ), by_file AS (
        SELECT coalesce(o.rule_no, c.rule_no) AS rule_no, coalesce(o.stream, c.stream) AS stream,
               CASE WHEN c.n IS NULL THEN 'unclosed' WHEN o.n IS NULL THEN 'orphan'
                    ELSE 'early' END AS outcome,
               coalesce(CASE WHEN o.n IS NULL OR c.n IS NOT NULL THEN c.position END, o.position)
                   AS position,
               coalesce(CASE WHEN o.n IS NULL OR c.n IS NOT NULL THEN c.record_no END,
                        o.record_no) AS record_no,
               CASE WHEN c.n IS NULL THEN 'a closing event for ' || o.pair_key
                    WHEN o.n IS NULL THEN 'an opening event before it'
                    ELSE 'after position ' || o.position END AS expected,
               CASE WHEN c.n IS NULL THEN 'none' WHEN o.n IS NULL THEN 'none for ' || c.pair_key
                    ELSE 'position ' || c.position END AS found,
               coalesce(CASE WHEN o.n IS NULL OR c.n IS NOT NULL THEN c.event_id END, o.event_id)
                   AS event_id,
               coalesce(o.source, c.source) AS source
        FROM o FULL JOIN c ON o.rule_no = c.rule_no AND o.part = c.part AND o.stream = c.stream
                          AND o.pair_key IS NOT DISTINCT FROM c.pair_key AND o.n = c.n
        WHERE o.n IS NULL OR c.n IS NULL OR c.position < o.position
    ), k AS (
        SELECT rule_no, stream, pair_key, bool_or(opens) AS opened, bool_or(NOT opens) AS closed
        FROM d WHERE NOT file_order GROUP BY rule_no, stream, pair_key
    ), by_any AS (
        SELECT d.rule_no, d.stream, CASE WHEN d.opens THEN 'unclosed' ELSE 'orphan' END AS outcome,
               d.position, d.record_no, d.opens AS wants_closer, d.pair_key AS expected,
               'none' AS found, d.event_id, d.source
        FROM d JOIN k ON k.rule_no = d.rule_no AND k.stream = d.stream
                     AND k.pair_key IS NOT DISTINCT FROM d.pair_key
        WHERE NOT d.file_order AND ((d.opens AND NOT k.closed) OR (NOT d.opens AND NOT k.opened))
        QUALIFY row_number() OVER (PARTITION BY d.rule_no, d.stream, d.pair_key, d.opens
                                   ORDER BY d.position, d.record_no, d.ts, d.event_id) = 1
    ), found_rows AS (
        SELECT rule_no, stream, outcome, position, record_no, expected, found, event_id, source
        FROM by_file
        UNION ALL
        SELECT b.rule_no, b.stream, b.outcome, b.position, b.record_no,
               CASE WHEN b.wants_closer THEN n.wanted ELSE n.wanted_opener END || b.expected,
               b.found, b.event_id, b.source
        FROM by_any b JOIN rules n USING (rule_no)
    )
    SELECT f.stream, n.system,
           CASE f.outcome WHEN 'unclosed' THEN n.rule WHEN 'orphan' THEN n.orphan
                ELSE n.early END AS rule,
           'error' AS severity, f.position, f.record_no, f.expected, f.found, f.event_id, f.source
    FROM found_rows f JOIN rules n USING (rule_no)"""


def state_machine(system: str, m: StateMachine, scope: str) -> str:
    allowed = ", ".join(f"({quote(a)}, {quote(b)})" for a, targets in m.allowed for b in targets)
    return f"""
    WITH s AS (
        SELECT source, coalesce(stream, '') AS stream, position, record_no, event_id,
               {m.from_} AS f, {m.to} AS t
        FROM timeline_events WHERE {scope} AND system = {quote(system)} AND ({m.where})
    ), l AS (
        SELECT *, lag(t) OVER (PARTITION BY source, stream ORDER BY position, record_no) AS prev_t
        FROM s
    )
    SELECT stream, {quote(system)} AS system, {quote(m.rule)} AS rule, 'error' AS severity,
           position, record_no, 'a transition allowed from ' || coalesce(f, '?') AS expected,
           coalesce(f, '?') || ' -> ' || coalesce(t, '?') AS found, event_id, source
    FROM l
    WHERE f IS DISTINCT FROM t
      AND NOT EXISTS (SELECT 1 FROM (VALUES {allowed}) v(a, b) WHERE v.a = f AND v.b = t)
    UNION ALL
    SELECT stream, {quote(system)}, {quote(m.discontinuity)}, 'warning', position, record_no,
           'from ' || prev_t, 'from ' || coalesce(f, '?'), event_id, source
    FROM l WHERE prev_t IS NOT NULL AND f IS DISTINCT FROM prev_t"""


def progression(system: str, p: Progression, scope: str) -> str:
    ranks = ", ".join(f"({quote(s)}, {i})" for i, s in enumerate(p.order))
    return f"""
    WITH s AS (
        SELECT e.source, coalesce(e.stream, '') AS stream, e.position, e.record_no, e.event_id,
               e.state, r.rank, e.is_reset, e.said_previous
        FROM (SELECT *, {p.state} AS state, coalesce({p.reset}, false) AS is_reset,
                     {p.reset_names} AS said_previous
              FROM timeline_events
              WHERE {scope} AND system = {quote(system)} AND ({p.where})) e
        LEFT JOIN (VALUES {ranks}) r(state, rank) ON r.state = e.state
    ), l AS (
        SELECT *, lag(state) OVER w AS prev_state, lag(rank) OVER w AS prev_rank
        FROM s WINDOW w AS (PARTITION BY source, stream ORDER BY position, record_no)
    )
    SELECT stream, {quote(system)} AS system,
           CASE WHEN rank IS NULL THEN {quote(p.unknown)} WHEN is_reset THEN {quote(p.reset_rule)}
                ELSE {quote(p.regression)} END AS rule,
           'error' AS severity, position, record_no,
           CASE WHEN rank IS NULL THEN {quote('one of ' + '|'.join(p.order))}
                WHEN is_reset THEN {quote(p.reset_expected)} || prev_state
                ELSE 'a stage after ' || prev_state END AS expected,
           CASE WHEN is_reset AND rank IS NOT NULL THEN coalesce(said_previous, 'none')
                ELSE state END AS found,
           event_id, source
    FROM l
    WHERE rank IS NULL
       OR (prev_rank IS NOT NULL AND rank <= prev_rank
           AND (NOT is_reset OR said_previous IS DISTINCT FROM prev_state))"""


def mirror(system: str, m: Mirror, scope: str, *, copies: bool = False) -> str:
    """`copies`: a mirror checked "when copies" is known to have copy rows in scope, maybe
    outside these streams (a run over part of them: replay.check's `parts`), so its gate holds."""
    cols = ", ".join(dict.fromkeys((*m.match, *m.columns)))
    compare = ", ".join(f"{expr} AS cmp{i}" for i, expr in enumerate(m.compare))
    match = "".join(f" AND r.{col} = c.{col}" for col in m.match)
    differs = " OR ".join(f"r.cmp{i} IS DISTINCT FROM c.cmp{i}" for i in range(len(m.compare)))
    first, second = ("r", "c") if m.report == "r" else ("c", "r")
    gate = ("true" if copies else "(SELECT count(*) > 0 FROM c)" if m.when == "copies"
            else "coalesce(r.stream, c.stream) IN (SELECT stream FROM r INTERSECT "
                 "SELECT stream FROM c)")
    return f"""
    WITH e AS (
        SELECT source, coalesce(stream, '') AS stream, {cols}, position, record_no, event_id,
               is_mirror, {compare},
               row_number() OVER (PARTITION BY source, coalesce(stream, ''){''.join(
                   ', ' + col for col in m.match)} ORDER BY position, record_no) AS k
        FROM events WHERE {scope} AND system = {quote(system)} AND ({m.where})
    ), r AS (SELECT * FROM e WHERE {m.reference}),
    c AS (SELECT * FROM e WHERE {m.copy})
    SELECT coalesce(r.stream, c.stream) AS stream, {quote(system)} AS system,
           CASE WHEN c.k IS NULL THEN 'mirror_missing' WHEN r.k IS NULL THEN 'mirror_extra'
                ELSE 'mirror_mismatch' END AS rule,
           'error' AS severity, coalesce({first}.position, {second}.position) AS position,
           coalesce({first}.record_no, {second}.record_no) AS record_no,
           CASE WHEN c.k IS NULL THEN {m.missing[0]} WHEN r.k IS NULL THEN {m.extra[0]}
                ELSE {m.mismatch[0]} END AS expected,
           CASE WHEN c.k IS NULL THEN {m.missing[1]} WHEN r.k IS NULL THEN {m.extra[1]}
                ELSE {m.mismatch[1]} END AS found,
           coalesce({first}.event_id, {second}.event_id) AS event_id,
           coalesce({first}.source, {second}.source) AS source
    FROM r FULL JOIN c ON r.stream = c.stream AND r.k = c.k{match}
    WHERE {gate} AND (r.k IS NULL OR c.k IS NULL OR {differs})"""


def listed(system: str, m: Listed, scope: str) -> str:
    return f"""
    WITH st AS (
        SELECT coalesce(stream, '') AS stream, source, position, record_no, event_id,
               unnest({m.items}) AS item
        FROM events WHERE {scope} AND system = {quote(system)} AND ({m.where})
    ), first_claim AS (
        SELECT * FROM st QUALIFY row_number() OVER (PARTITION BY stream, item
                                                    ORDER BY source, position, record_no) = 1
    ), log AS (
        SELECT coalesce(stream, '') AS stream, {m.proof} AS proves, {m.log_key} AS item
        FROM timeline_events WHERE {scope} AND system = {quote(system)} AND ({m.log})
    )
    SELECT stream, {quote(system)} AS system, {quote(m.rule)} AS rule, 'error' AS severity,
           position, record_no, {quote(m.expected)} || item AS expected, 'none' AS found,
           event_id, source
    FROM first_claim
    WHERE stream IN (SELECT stream FROM log)
      AND NOT EXISTS (SELECT 1 FROM log WHERE log.stream = first_claim.stream
                      AND log.item = first_claim.item AND log.proves)"""
