"""The generic findings detectors (any system's canonical events), each coded by MAST or TRAIL."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import duckdb
import polars as pl

from ...scope import Scope
from .._sql import frame, quote
from ..incidents import MTIME_SQL
from ..metrics import load_rules
from ..usage import loop_cost
from .base import MAST_URL, TRAIL_URL, conform
from .steps import FAILED, steps_sql

# A redaction marker standing for arguments the evidence's authors removed (not malformed JSON).
REDACTED_RE = r"^\[REDACTED[A-Z_]* len=\d+ sha=[0-9a-f]+\]$"
# Error texts of a tool refusing its arguments (schema / validation / parse failures).
INVALID_ARGS_RE = (r"invalid (tool )?(arguments?|parameters?|input|json)|InputValidationError|"
                   r"validation error|missing required (parameter|argument|field|property)|"
                   r"unexpected keyword argument|required property|not valid json|"
                   r"failed to parse (tool )?(arguments|input|json)|malformed (arguments|json|input)")
# An edit of documentation / plain text (by the path in its arguments) needs no test run.
DOC_EDIT_RE = r"""(file_path|path|filename)"?\s*[:=]\s*"?[^"\s]+\.(md|markdown|txt|rst|adoc)\b"""
LEVEL_OF_RULE = {"warn": "warning", "page": "error", "critical": "critical"}
# Toolkit defaults (docs/findings.md says why).
EXPLORATION_MIN = 20          # reads/searches after the run last acted
CONTEXT_WITHIN = "30 minutes"  # as generic.compaction_then_failure


@cache
def _rule(rule_id: str) -> dict[str, Any]:
    """A shipped generic rule, so a detector reads the same definition the alerts use."""
    return next(r for r in load_rules() if r["id"] == rule_id)


def _selector(rule: dict[str, Any]) -> str:
    exact = [t for t in rule.get("event_types", []) if not t.endswith(".*")]
    prefixes = [t[:-1] for t in rule.get("event_types", []) if t.endswith(".*")]
    parts = [f"event_type IN ({', '.join(quote(t) for t in exact)})"] if exact else []
    parts += [f"starts_with(event_type, {quote(p)})" for p in prefixes]
    return " OR ".join(parts) or "true"


def _reference(rule_id: str) -> str:
    rule = _rule(rule_id)
    return f"{rule_id}: runbook {rule['runbook']} line {rule['line']} ({rule['quote']})"


@dataclass(frozen=True)
class SqlDetector:
    """A detector whose findings are one SQL query (columns system, stream, project, ts, ts_end,
    event_ids, title, detail, optionally level and duration_ms)."""

    name: str
    code: str
    taxonomy: str
    code_name: str
    code_url: str
    level: str
    description: str
    reference: str | None = None  # the seed runbook / generic rule the detector shares

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        raise NotImplementedError

    def run(self, con: duckdb.DuckDBPyConnection, scope: Scope, *,
            steps: str | None = None) -> pl.DataFrame:
        """`steps`: a table holding `steps_sql(scope)`'s rows (find() builds it once for every
        detector); without one the detector computes them itself."""
        if steps is None:
            cursor = con.cursor()
            try:
                df = frame(cursor, self.sql(scope))
            finally:
                cursor.close()
        else:  # the shared table is the connection's own (temp tables are not seen by cursors)
            df = frame(con, self.sql(scope, steps))
        if df.is_empty():
            return conform(df, self)
        df = df.with_columns(pl.when(pl.col("ts").is_null())
                             .then(pl.col("detail") + " No cited event carries a time.")
                             .otherwise(pl.col("detail")).alias("detail"))
        return conform(self.extend(con, df), self)

    def extend(self, con: duckdb.DuckDBPyConnection, df: pl.DataFrame) -> pl.DataFrame:
        return df


def _with(scope: Scope, steps: str | None = None) -> str:
    return f"WITH steps AS (FROM {steps})" if steps else "WITH " + steps_sql(scope)


class StepRepetition(SqlDetector):
    """The same call repeated (period 1) or a cycle of 2 or 3 calls repeated, without progress:
    each repeat failed or returned what the call it repeats returned."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        hits = []
        for p in (1, 2, 3):
            differs = " AND ".join(f"key IS DISTINCT FROM k{i}" for i in range(1, p))
            hits.append(f"""SELECT system, stream, step, failed, {p} AS period,
                   key = k{p} {('AND ' + differs) if differs else ''}
                   AND (failed OR (result_hash IS NOT NULL AND result_hash = h{p})) AS hit
                FROM lagged""")
        return _with(scope, steps) + f""",
        lagged AS (
            SELECT *, {', '.join(f'lag(key, {i}) OVER w AS k{i}, lag(result_hash, {i}) OVER w AS h{i}'
                                 for i in (1, 2, 3))}
            FROM steps WINDOW w AS (PARTITION BY system, stream ORDER BY step)
        ),
        hits AS ({' UNION ALL '.join(hits)}),
        runs AS (
            SELECT *, step - row_number() OVER (PARTITION BY system, stream, period ORDER BY step) AS grp
            FROM hits WHERE hit
        ),
        loops AS (
            SELECT system, stream, period, min(step) - period AS first_step, max(step) AS last_step,
                   count(*) AS repeats, bool_and(failed) AS all_failed
            FROM runs GROUP BY system, stream, period, grp
            HAVING count(*) >= greatest(2, period)
        )
        SELECT l.system, l.stream, any_value(s.project) AS project, min(s.ts) AS ts,
               max(s.last_ts) AS ts_end,
               flatten(list([s.event_id] || coalesce(s.result_ids, []) ORDER BY s.step)) AS event_ids,
               CASE WHEN l.period = 1
                    THEN 'Same call repeated ' || (l.repeats + 1) || ' times: ' || any_value(s.tool)
                    ELSE 'Cycle of ' || l.period || ' calls repeated ' ||
                         ((l.last_step - l.first_step + 1) // l.period) || ' times: ' ||
                         string_agg(DISTINCT s.tool, ' -> ') END AS title,
               'Steps ' || l.first_step || '-' || l.last_step || ' of the run: ' ||
               CASE WHEN l.all_failed THEN 'every repeat failed'
                    ELSE 'every repeat failed or returned the same result as the call it repeats'
               END || ' (first call: ' || left(first(s.tool || ' ' || s.args ORDER BY s.step), 120) || ').'
                   AS detail,
               l.first_step, l.last_step
        FROM loops l JOIN steps s ON s.system = l.system AND s.stream IS NOT DISTINCT FROM l.stream
             AND s.step BETWEEN l.first_step AND l.last_step
        GROUP BY l.system, l.stream, l.period, l.first_step, l.last_step, l.repeats, l.all_failed
        ORDER BY ts NULLS LAST, l.system, l.stream, l.first_step"""

    def extend(self, con: duckdb.DuckDBPyConnection, df: pl.DataFrame) -> pl.DataFrame:
        return loop_cost(con, df)


class LimitReached(SqlDetector):
    """A limit event, or a failed / warning event saying a limit was reached: the shipped
    generic.limits_reached rule's selection, one finding per run."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        rule = _rule("generic.limits_reached")
        return f"""
        SELECT system, stream, any_value(project) AS project, min(ts) AS ts, max(ts) AS ts_end,
               list(event_id ORDER BY ts NULLS LAST, position, record_no, event_id) AS event_ids,
               'Limit reached: ' || first(coalesce(error_code, name, event_type)
                                          ORDER BY ts NULLS LAST, position) AS title,
               'The run stopped at a limit, not because the task was done: ' ||
               left(first(coalesce(message, event_type) ORDER BY ts NULLS LAST, position), 200) || '.'
                   AS detail
        FROM timeline_events
        WHERE ({_selector(rule)}) AND ({rule['where']}) AND {scope.sql()}
        GROUP BY system, stream"""


class PrematureTermination(SqlDetector):
    """A run that made 3+ tool calls, read or searched (it started on the code), and ended
    without any edit, test, build or run (and without a shell command of unknown kind, which
    may have been one)."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        return _with(scope, steps) + f""",
        per AS (
            SELECT system, stream, any_value(project) AS project, count(*) AS calls,
                   count(*) FILTER (WHERE role = 'explore') AS reads,
                   first(event_id ORDER BY step) AS first_call, first(ts ORDER BY step) AS first_ts
            FROM steps GROUP BY system, stream
            HAVING count(*) >= 3 AND count(*) FILTER (WHERE role = 'explore') > 0
               AND count(*) FILTER (WHERE role IN ('edit', 'verify', 'shell')) = 0
        ),
        last_event AS (
            SELECT system, stream, last(event_id ORDER BY ts NULLS FIRST, position, record_no) AS last_id,
                   max(ts) AS last_ts
            FROM timeline_events WHERE {scope.sql()} GROUP BY system, stream
        )
        SELECT p.system, p.stream, p.project, p.first_ts AS ts, l.last_ts AS ts_end,
               CASE WHEN p.first_call = l.last_id THEN [p.first_call]
                    ELSE [p.first_call, l.last_id] END AS event_ids,
               'Ended without an edit or a test after ' || p.calls || ' tool calls' AS title,
               p.calls || ' tool calls (' || p.reads || ' reads or searches), no edit and no test, '
               || 'build or run: if the task asked for a change, the run ended before making or '
               || 'checking one. Cited: its first tool call and its last event.' AS detail
        FROM per p JOIN last_event l ON l.system = p.system AND l.stream IS NOT DISTINCT FROM p.stream"""


class UnverifiedEdits(SqlDetector):
    """Edits after which the run never tested, built or ran anything (a shell command of unknown
    kind after the last edit leaves it undetermined: no finding). Edits of documentation or
    plain-text files (.md, .txt, .rst, .adoc by the path in their arguments) are not counted."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        return _with(scope, steps) + f""",
        edits AS (SELECT *, regexp_matches(coalesce(raw_args, ''), {quote(DOC_EDIT_RE)}, 'i') AS doc_edit
                  FROM steps),
        per AS (
            SELECT system, stream, max(step) FILTER (WHERE role = 'edit') AS last_edit,
                   max(step) FILTER (WHERE role IN ('verify', 'shell')) AS last_check,
                   count(*) FILTER (WHERE role = 'verify') AS checks
            FROM steps GROUP BY system, stream
            HAVING last_edit IS NOT NULL AND coalesce(last_check, 0) < last_edit
        )
        SELECT s.system, s.stream, any_value(s.project) AS project, min(s.ts) AS ts,
               max(s.last_ts) AS ts_end,
               flatten(list([s.event_id] || coalesce(s.result_ids, []) ORDER BY s.step)) AS event_ids,
               count(*) || ' edit(s) never verified: ' || string_agg(DISTINCT s.tool, ', ') AS title,
               count(*) || ' edit(s) from step ' || min(s.step) || ' to ' || max(s.step) ||
               ' with no test, build or run after them' ||
               CASE WHEN any_value(p.checks) = 0 THEN ' (none in the whole run)'
                    ELSE ' (the last one was step ' || any_value(p.last_check) || ')' END ||
               '; last edit: ' || left(last(s.tool || ' ' || s.args ORDER BY s.step), 120) || '.' AS detail
        FROM edits s JOIN per p ON p.system = s.system AND p.stream IS NOT DISTINCT FROM s.stream
        WHERE s.role = 'edit' AND s.step > coalesce(p.last_check, 0) AND NOT s.doc_edit
        GROUP BY s.system, s.stream"""


class OrphanToolCall(SqlDetector):
    """A tool call whose id no tool.result of its stream carries, in a stream that has results
    at all (a source that records no results makes no orphans)."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        return _with(scope, steps) + f""",
        with_results AS (
            SELECT DISTINCT system, stream FROM timeline_events
            WHERE event_type = 'tool.result' AND {scope.sql(window=False)}
        ),
        last_step AS (SELECT system, stream, max(step) AS n FROM steps GROUP BY system, stream)
        SELECT s.system, s.stream, s.project, s.ts, s.ts AS ts_end, [s.event_id] AS event_ids,
               'Tool call without a result: ' || s.tool AS title,
               'No tool.result carries call id ' || s.correlation_id || ' (step ' || s.step || ' of ' ||
               n.n || CASE WHEN s.step = n.n THEN ', the last call of the run' ELSE '' END ||
               '): the tool never returned, or the session was cut off before it did.' AS detail
        FROM steps s
        JOIN with_results w ON w.system = s.system AND w.stream IS NOT DISTINCT FROM s.stream
        JOIN last_step n ON n.system = s.system AND n.stream IS NOT DISTINCT FROM s.stream
        WHERE s.result_ids IS NULL AND s.correlation_id IS NOT NULL AND s.role <> 'finish'"""


class MalformedArguments(SqlDetector):
    """Arguments written as JSON that does not parse, or a failed result saying the arguments
    were invalid."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        return _with(scope, steps) + f""",
        bad_json AS (
            SELECT * FROM steps
            WHERE regexp_matches(coalesce(raw_args, ''), '^\\s*[\\[{{]')
              AND NOT regexp_matches(raw_args, {quote(REDACTED_RE)}) AND NOT json_valid(raw_args)
        ),
        refused AS (
            SELECT s.*, r.event_id AS result_id, r.message AS result_message
            FROM steps s JOIN timeline_events r ON r.event_type = 'tool.result'
                 AND r.system = s.system AND r.stream IS NOT DISTINCT FROM s.stream
                 AND r.correlation_id = s.correlation_id
            WHERE r.{FAILED}
              AND regexp_matches(coalesce(r.message, ''), {quote(INVALID_ARGS_RE)}, 'i')
              AND {scope.sql('r', window=False)}
        )
        SELECT system, stream, project, ts, ts AS ts_end, [event_id] AS event_ids,
               'Arguments are not valid JSON: ' || tool AS title,
               'The call''s arguments start as JSON but do not parse: ' || left(raw_args, 120) || '.'
                   AS detail
        FROM bad_json
        UNION ALL
        SELECT system, stream, any_value(project), any_value(ts), any_value(ts),
               [any_value(event_id)] || list(result_id ORDER BY result_id),
               'Tool refused its arguments: ' || any_value(tool),
               'The result says the arguments were invalid: ' ||
               left(regexp_replace(any_value(result_message), '\\s+', ' ', 'g'), 160) || '.'
        FROM refused WHERE event_id NOT IN (SELECT event_id FROM bad_json)
        GROUP BY system, stream, event_id"""


class ContextLoss(SqlDetector):
    """A compaction (generic.compaction_then_failure's anchor) followed within 30 minutes by that
    rule's failure, or by a read or edit the run had already made before the compaction."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        rule = _rule("generic.compaction_then_failure")
        return _with(scope, steps) + f""",
        anchors AS (
            SELECT * FROM (
                SELECT event_id, system, stream, project, ts, position,
                       lag(ts) OVER (PARTITION BY system, stream ORDER BY ts, position) AS prev_ts
                FROM timeline_events
                WHERE ({rule['anchor']}) AND ts IS NOT NULL AND NOT {MTIME_SQL} AND {scope.sql()})
            -- one compaction written as two records (Codex: compacted + its replacement history)
            WHERE prev_ts IS NULL OR ts - prev_ts > INTERVAL 1 MINUTE
        ),
        failures AS (
            SELECT a.event_id AS anchor_id,
                   first(f.event_id ORDER BY f.ts, f.position) AS failure_id,
                   first(left(coalesce(f.message, f.event_type), 120) ORDER BY f.ts, f.position) AS failure
            FROM anchors a JOIN timeline_events f ON f.system = a.system
                 AND f.stream IS NOT DISTINCT FROM a.stream AND f.ts > a.ts
                 AND f.ts <= a.ts + INTERVAL {CONTEXT_WITHIN}
            WHERE ({_selector(rule)}) AND ({rule['follower']}) AND {scope.sql('f', window=False)}
            GROUP BY a.event_id
        ),
        repeats AS (
            SELECT a.event_id AS anchor_id,
                   first(s.event_id ORDER BY s.step) AS repeat_id,
                   first(s.tool || ' ' || left(s.args, 100) ORDER BY s.step) AS repeated,
                   first(e.event_id ORDER BY s.step, e.step DESC) AS earlier_id
            FROM anchors a
            JOIN steps s ON s.system = a.system AND s.stream IS NOT DISTINCT FROM a.stream
                 AND s.ts > a.ts AND s.ts <= a.ts + INTERVAL {CONTEXT_WITHIN}
                 AND s.role IN ('explore', 'edit')
            JOIN steps e ON e.system = s.system AND e.stream IS NOT DISTINCT FROM s.stream
                 AND e.key = s.key AND e.ts < a.ts
            GROUP BY a.event_id
        )
        SELECT a.system, a.stream, a.project, a.ts,
               (SELECT max(t.ts) FROM timeline_events t
                WHERE t.event_id IN (f.failure_id, r.repeat_id)) AS ts_end,
               list_filter([a.event_id, r.earlier_id, r.repeat_id, f.failure_id],
                           lambda x: x IS NOT NULL) AS event_ids,
               CASE WHEN f.failure_id IS NOT NULL THEN 'warning' ELSE 'info' END AS level,
               CASE WHEN f.failure_id IS NOT NULL THEN 'Failure after context compaction'
                    ELSE 'Earlier work repeated after context compaction' END AS title,
               'Within {CONTEXT_WITHIN} of the compaction' ||
               CASE WHEN f.failure_id IS NOT NULL THEN ': a failure (' || f.failure || ')' ELSE '' END ||
               CASE WHEN r.repeat_id IS NOT NULL
                    THEN CASE WHEN f.failure_id IS NOT NULL THEN ', and' ELSE ':' END ||
                         ' a call it had already made before it (' || r.repeated || ')' ELSE '' END
               || '.' AS detail
        FROM anchors a LEFT JOIN failures f ON f.anchor_id = a.event_id
        LEFT JOIN repeats r ON r.anchor_id = a.event_id
        WHERE f.failure_id IS NOT NULL OR r.repeat_id IS NOT NULL"""


class UnproductiveExploration(SqlDetector):
    """20+ reads or searches after the run last edited, verified or ran a shell command, with
    nothing else made of them (a run that never acted is premature_termination's)."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        return _with(scope, steps) + f""",
        per AS (
            SELECT system, stream, max(step) FILTER (WHERE role IN ('edit', 'verify', 'shell')) AS acted
            FROM steps GROUP BY system, stream HAVING acted IS NOT NULL
        )
        SELECT s.system, s.stream, any_value(s.project) AS project, min(s.ts) AS ts,
               max(s.last_ts) AS ts_end, list(s.event_id ORDER BY s.step) AS event_ids,
               count(*) || ' reads and searches after the last edit, test or command' AS title,
               count(*) || ' read or search calls from step ' || min(s.step) || ' on (' ||
               string_agg(DISTINCT s.tool, ', ') || '), and no edit, test, build or shell command '
               || 'after step ' || any_value(p.acted) || ' (threshold {EXPLORATION_MIN}, a toolkit default).'
                   AS detail
        FROM steps s JOIN per p ON p.system = s.system AND p.stream IS NOT DISTINCT FROM s.stream
        WHERE s.step > p.acted AND s.role = 'explore'
        GROUP BY s.system, s.stream
        HAVING count(*) >= {EXPLORATION_MIN}"""


class Hang(SqlDetector):
    """A tool call far longer than its stream's others (generic.tool_hang's thresholds over the
    durations the results report, one per call), or a tool call followed by 15+ minutes of
    silence in its stream where its result reports no duration."""

    def sql(self, scope: Scope, steps: str | None = None) -> str:
        rule = _rule("generic.tool_hang")
        warn = next(level for level in rule["levels"] if level["level"] == "warn")
        page = next(level for level in rule["levels"] if level["level"] == "page")
        return _with(scope, steps) + f""",
        timed AS (SELECT * FROM steps WHERE result_ms IS NOT NULL),
        norm AS (
            SELECT system, stream, median(result_ms) AS median_ms, count(*) AS n
            FROM timed GROUP BY system, stream HAVING count(*) >= {int(rule['min_count'])}
        ),
        slow AS (
            SELECT s.system, s.stream, s.project, s.ts, s.last_ts AS ts_end,
                   [s.event_id] || coalesce(s.result_ids, []) AS event_ids,
                   CASE WHEN s.result_ms >= {float(page['at_least'])} THEN 'error'
                        ELSE 'warning' END AS level,
                   'Tool call ' || round(s.result_ms / 60000.0, 1) || ' min: ' || s.tool AS title,
                   'The result reports ' || round(s.result_ms / 1000.0) || ' s, ' ||
                   round(s.result_ms / n.median_ms, 1) || 'x the median of the ' || n.n ||
                   ' timed calls of this run (' || left(s.args, 100) || ').' AS detail,
                   s.result_ms AS duration_ms
            FROM timed s JOIN norm n ON n.system = s.system AND n.stream IS NOT DISTINCT FROM s.stream
            WHERE (s.result_ms >= {float(warn['factor'])} * n.median_ms
                   AND s.result_ms >= {float(warn['at_least'])})
               OR s.result_ms >= {float(page['at_least'])}
        ),
        timed_events AS (
            SELECT * FROM timeline_events WHERE ts IS NOT NULL AND NOT {MTIME_SQL} AND {scope.sql()}
        ),
        -- Two events of one stream in the same silence-long time bucket are closer than a
        -- silence: only streams where an occupied bucket's last event is a silence away from
        -- the next occupied bucket's first can hold one, and only they are ordered event by event.
        buckets AS (
            SELECT system, stream, floor(epoch_us(ts) / {1000 * float(page['at_least'])}) AS bucket,
                   min(ts) AS first_ts, max(ts) AS last_ts
            FROM timed_events GROUP BY system, stream, bucket
        ),
        quiet AS (
            SELECT DISTINCT system, stream FROM (
                SELECT system, stream, lead(first_ts) OVER (PARTITION BY system, stream
                                                            ORDER BY bucket) - last_ts AS gap
                FROM buckets)
            WHERE gap >= to_milliseconds({float(page['at_least'])})
        ),
        ordered AS (
            SELECT e.event_id, e.system, e.stream, e.ts,
                   lead(e.event_id) OVER w AS next_id, lead(e.ts) OVER w AS next_ts
            FROM timed_events e
            JOIN quiet q ON q.system = e.system AND q.stream IS NOT DISTINCT FROM e.stream
            WINDOW w AS (PARTITION BY e.system, e.stream
                         ORDER BY e.ts, e.position, e.record_no, e.event_id)
        ),
        silent AS (
            SELECT o.system, o.stream, s.project, o.ts, o.next_ts AS ts_end,
                   [o.event_id, o.next_id] AS event_ids,
                   'warning' AS level,
                   'No event for ' || round(date_diff('second', o.ts, o.next_ts) / 60.0) ||
                   ' min after a tool call: ' || s.tool AS title,
                   'The run recorded nothing for ' || round(date_diff('second', o.ts, o.next_ts) / 60.0) ||
                   ' minutes after this call (its result reports no duration; the wait may include a '
                   || 'human approving the call).' AS detail,
                   date_diff('millisecond', o.ts, o.next_ts)::DOUBLE AS duration_ms
            FROM ordered o JOIN steps s ON s.event_id = o.event_id
            WHERE s.result_ms IS NULL  -- the join keeps the calls, of whatever declared type
              AND o.next_ts - o.ts >= to_milliseconds({float(page['at_least'])})
        )
        SELECT * FROM slow UNION ALL SELECT * FROM silent"""


def _mast(code: str, name: str) -> dict[str, str]:
    return {"code": code, "taxonomy": "MAST", "code_name": name, "code_url": MAST_URL}


def _trail(code: str, name: str) -> dict[str, str]:
    return {"code": code, "taxonomy": "TRAIL", "code_name": name, "code_url": TRAIL_URL}


DETECTORS: tuple[SqlDetector, ...] = (
    StepRepetition(name="step_repetition", level="warning", **_mast("FM-1.3", "Step repetition"),
                   description="the same tool call (tool and normalized arguments) repeated 3+ "
                               "times, or a cycle A->B->A->B, with no progress; with the tokens, "
                               "cost and time spent inside it",
                   reference=_reference("generic.doom_loop")),
    LimitReached(name="limit_reached", level="warning",
                 **_mast("FM-1.5", "Unaware of termination conditions"),
                 description="the run stopped at an iteration, step, turn or budget limit",
                 reference=_reference("generic.limits_reached")),
    PrematureTermination(name="premature_termination", level="info",
                         **_mast("FM-3.1", "Premature termination"),
                         description="3+ tool calls and the run ended without an edit or a test"),
    UnverifiedEdits(name="unverified_edits", level="warning",
                    **_mast("FM-3.2", "No or incomplete verification"),
                    description="edits with no test, build or run after the last of them"),
    OrphanToolCall(name="orphan_tool_call", level="warning",
                   **_trail("TRAIL-SE", "System Execution Errors (a tool call that never returned)"),
                   description="a tool call without a result in a stream that records results"),
    MalformedArguments(name="malformed_arguments", level="warning",
                       **_trail("TRAIL-FE", "Formatting Errors (Output Generation)"),
                       description="tool arguments that do not parse as JSON, or a result "
                                   "refusing them as invalid"),
    ContextLoss(name="context_loss", level="info", **_mast("FM-1.4", "Loss of conversation history"),
                description="a compaction followed within 30 minutes by a failure (warning) or by "
                            "repeating a read or edit made before it (info)",
                reference=_reference("generic.compaction_then_failure")),
    UnproductiveExploration(name="unproductive_exploration", level="info",
                            **_mast("FM-1.3", "Step repetition (exploration without progress)"),
                            description=f"{EXPLORATION_MIN}+ reads or searches after the run last "
                                        "edited, tested or ran a command"),
    Hang(name="hang", level="warning",
         **_trail("TRAIL-TO", "Timeout Issues (System Execution: Resource Management)"),
         description="a tool call 10x the run's median and 1 min+ (15 min+: error), or 15+ "
                     "minutes of silence after a tool call",
         reference=_reference("generic.tool_hang")),
)
