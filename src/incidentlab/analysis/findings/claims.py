"""Claims against reality: what an agent says it did (tests pass, committed, pushed, built, wrote
a file, fixed) checked against the tool calls and results the database holds for its run.

Each claim gets a verdict: `supported` (the last relevant evidence before it agrees),
`contradicted` (it disagrees: MAST FM-3.3, error), `unverified` (the run records its tool calls
but none could back the claim: MAST FM-3.2, warning) or `undetermined` (evidence exists but does
not say, e.g. a test run still in the background). A run without any recorded tool call has no
possible evidence, and its claims give no finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import duckdb
import polars as pl

from ...scope import Scope
from .._sql import frame, quote
from . import claim_patterns as P
from .base import MAST_URL, empty, finding_id
from .steps import calls_sql

# Event types whose text is the agent speaking (OpenHands' finish action carries its summary).
_SPEAKING = ("chat.turn", "session.end")
_AGENTS = ("assistant", "agent", "model", "gemini")
_EVIDENCE_KINDS = {
    "tests": ("test", "script"), "checks": ("test", "lint", "build", "script"), "build": ("build",),
    "commit": ("commit",), "push": ("push",), "file": ("write",), "fixed": ("test", "write"),
}
VERDICTS = ("supported", "contradicted", "unverified", "undetermined")
CLAIM_SCHEMA = {
    "claim_event_id": pl.Utf8(), "system": pl.Utf8(), "stream": pl.Utf8(), "project": pl.Utf8(),
    "ts": pl.Datetime("us", "UTC"), "position": pl.Int64(), "kind": pl.Utf8(),
    "quote": pl.Utf8(), "targets": pl.List(pl.Utf8()),
}
ASSESSMENT_SCHEMA = {
    **CLAIM_SCHEMA, "verdict": pl.Utf8(), "reason": pl.Utf8(),
    "evidence_ids": pl.List(pl.Utf8()), "evidence_ts": pl.Datetime("us", "UTC"),
}


def claims(con: duckdb.DuckDBPyConnection, scope: Scope | None = None) -> pl.DataFrame:
    """Every success claim in the agents' own messages in scope (CLAIM_SCHEMA), in time order."""
    scope = scope or Scope()
    text = P.MESSAGE_TEXT_SQL.format(a="e")
    rows = con.execute(f"""
        SELECT * FROM (
          SELECT e.event_id, e.system, e.stream, e.project, e.ts, e.position, {text} AS body
          FROM events e
          WHERE e.event_type IN ({', '.join(map(quote, _SPEAKING))})
            AND lower(coalesce(e.actor, '')) IN ({', '.join(map(quote, _AGENTS))})
            AND coalesce(e.name, '') NOT IN ('thinking', 'reasoning')
            AND NOT coalesce(e.is_mirror, false)
            AND {scope.sql("e")})
        WHERE regexp_matches(body, {quote(P.CANDIDATE_RE2)})
        ORDER BY ts NULLS LAST, system, stream, position, event_id""").fetchall()
    out = []
    for event_id, system, stream, project, ts, position, body in rows:
        for claim in P.extract_claims(body):
            out.append({"claim_event_id": event_id, "system": system, "stream": stream,
                        "project": project, "ts": ts, "position": position, "kind": claim.kind,
                        "quote": claim.quote, "targets": list(claim.targets)})
    return pl.DataFrame(out, schema=CLAIM_SCHEMA)


def _ops_sql() -> str:
    """Verification operations in the claims' runs (a run: the claim's stream and its
    subagent streams `stream/...`): one row per (tool call, kind) with its result and status."""
    call_text = P.CALL_TEXT_SQL.format(a="e")
    result_text = P.RESULT_TEXT_SQL.format(a="e")
    command = """coalesce(
      e.attrs->>'$.block.input.command', e.attrs->>'$.message.content[0].input.command',
      CASE WHEN json_valid(e.attrs->>'$.payload.arguments') THEN coalesce(
        json_extract_string(e.attrs->>'$.payload.arguments', '$.cmd'),
        nullif(array_to_string(json_extract_string(e.attrs->>'$.payload.arguments',
                                                   '$.command[*]'), ' '), ''),
        json_extract_string(e.attrs->>'$.payload.arguments', '$.command')) END,
      nullif(array_to_string(json_extract_string(e.attrs, '$.payload.action.command[*]'), ' '),
             ''),
      e.attrs->>'$.args.command', e.attrs->>'$.action', e.attrs->>'$.command',
      e.attrs->>'$.args.code', e.attrs->>'$.code',
      CASE WHEN regexp_matches(e.attrs->>'$.text', '^\\S* ?ACTION')  -- SWE-agent's run log
           THEN regexp_replace(e.attrs->>'$.text', '^[^\n]*\n', '') END)"""
    writes = ", ".join(map(quote, P.WRITE_TOOLS))
    m = {name: quote(getattr(P, name)) for name in (
        "TEST_COMMAND", "BUILD_COMMAND", "LINT_COMMAND", "COMMIT_COMMAND", "PUSH_COMMAND",
        "SHELL_WRITE", "TEST_FAILED", "TEST_PASSED", "TEST_SUMMARY_FAILED", "TEST_SUMMARY_PASSED",
        "BACKGROUND", "COMMIT_DONE", "COMMIT_NOTHING", "PUSH_FAILED", "PUSH_DONE", "LINT_CLEAN",
        "SESSION_RUNNING", "SESSION_EXITED", "SCRIPT_RUN")}
    return f"""
    WITH fam AS (SELECT DISTINCT system, root AS stream FROM _claims),
    ev AS (
      SELECT e.* FROM events e JOIN fam f ON e.system = f.system
        AND (e.stream = f.stream OR starts_with(e.stream, f.stream || '/'))
      WHERE NOT coalesce(e.is_mirror, false)),
    calls AS (
      SELECT e.event_id, e.system, e.stream, e.ts, e.position, e.name, e.correlation_id,
             {call_text} AS call_text, coalesce({command}, '') AS command,
             e.attrs->>'$.observation' AS observation
      FROM ev e WHERE {calls_sql(alias='e')}),
    results AS (
      SELECT e.event_id, e.system, e.stream, e.ts, e.position, e.correlation_id, e.outcome,
             {result_text} AS result_text
      FROM ev e WHERE e.event_type = 'tool.result' AND e.correlation_id IS NOT NULL),
    first AS (
      SELECT c.*, r.event_id AS result_id, r.ts AS result_ts, r.position AS result_position,
             r.outcome AS result_outcome, coalesce(c.observation, r.result_text) AS result_text
      FROM calls c LEFT JOIN results r ON r.system = c.system AND r.stream = c.stream
        AND r.correlation_id = c.correlation_id
      QUALIFY row_number() OVER (PARTITION BY c.event_id ORDER BY r.position, r.event_id) = 1),
    -- Codex runs a long command in a process session: its output and exit code come back in
    -- the results of later write_stdin calls naming that session.
    running AS (
      SELECT event_id AS call_id, system, stream, position,
             regexp_extract(result_text, {m['SESSION_RUNNING']}, 1) AS sid
      FROM first WHERE regexp_matches(coalesce(result_text, ''), {m['SESSION_RUNNING']})),
    polls AS (
      SELECT f.system, f.stream, f.position, f.result_id, f.result_ts, f.result_position,
             f.result_outcome, f.result_text,
             CASE WHEN json_valid(f.call_text)
                  THEN json_extract_string(f.call_text, '$.session_id') END AS sid
      FROM first f WHERE f.name = 'write_stdin' AND f.result_id IS NOT NULL),
    continued AS (
      SELECT r.call_id,
             string_agg(w.result_text, chr(10) ORDER BY w.result_position) AS more_text,
             arg_max(w.result_id, w.result_position) AS final_id,
             max(w.result_position) AS final_position,
             arg_max(w.result_ts, w.result_position) AS final_ts,
             arg_max(w.result_outcome, w.result_position)
               FILTER (WHERE regexp_matches(w.result_text, {m['SESSION_EXITED']}))
               AS final_outcome
      FROM running r JOIN polls w ON w.system = r.system AND w.stream = r.stream
        AND w.sid = r.sid AND w.position > r.position
      GROUP BY r.call_id),
    absorbed AS (
      SELECT DISTINCT w.result_id FROM running r JOIN polls w ON w.system = r.system
        AND w.stream = r.stream AND w.sid = r.sid AND w.position > r.position),
    paired AS (
      SELECT f.* REPLACE (
               CASE WHEN k.call_id IS NULL THEN f.result_text
                    ELSE concat_ws(chr(10), f.result_text, k.more_text) END AS result_text,
               coalesce(k.final_outcome, f.result_outcome) AS result_outcome,
               coalesce(k.final_position, f.result_position) AS result_position,
               coalesce(k.final_ts, f.result_ts) AS result_ts),
             k.final_id,
             regexp_matches(coalesce(f.result_text, ''), {m['BACKGROUND']})
               AND k.final_outcome IS NULL AS pending,
             regexp_matches(f.command, {m['TEST_COMMAND']}) AS is_test,
             f.command LIKE '%|%' AS piped
      FROM first f LEFT JOIN continued k ON k.call_id = f.event_id
      WHERE f.result_id IS NULL OR f.result_id NOT IN (SELECT result_id FROM absorbed)),
    ops AS (
      SELECT 'test' AS kind, p.*, CASE
          WHEN p.result_id IS NULL THEN 'unknown'
          WHEN regexp_matches(p.result_text, {m['TEST_SUMMARY_FAILED']}) THEN 'fail'
          WHEN regexp_matches(p.result_text, {m['TEST_SUMMARY_PASSED']}) THEN 'pass'
          WHEN p.pending THEN 'unknown'
          WHEN regexp_matches(p.result_text, {m['TEST_FAILED']}) THEN 'fail'
          WHEN regexp_matches(p.result_text, {m['TEST_PASSED']}) THEN 'pass'
          WHEN p.result_outcome IN ('error', 'timeout') THEN 'fail'
          WHEN p.result_outcome = 'ok' AND NOT p.piped THEN 'pass'
          ELSE 'unknown' END AS status
      FROM paired p
      WHERE p.is_test OR regexp_matches(coalesce(p.result_text, ''), {m['TEST_SUMMARY_FAILED']})
         OR regexp_matches(coalesce(p.result_text, ''), {m['TEST_SUMMARY_PASSED']})
      UNION ALL
      SELECT 'build', p.*, CASE
          WHEN p.result_id IS NULL OR p.pending
            THEN 'unknown'
          WHEN p.result_outcome IN ('error', 'timeout') THEN 'fail'
          WHEN p.result_outcome = 'ok' AND NOT p.piped THEN 'pass'
          ELSE 'unknown' END
      FROM paired p WHERE regexp_matches(p.command, {m['BUILD_COMMAND']})
      UNION ALL
      SELECT 'lint', p.*, CASE
          WHEN p.result_id IS NULL OR p.pending
            THEN 'unknown'
          WHEN p.result_outcome IN ('error', 'timeout') THEN 'fail'
          WHEN p.result_outcome = 'ok' AND (NOT p.piped
               OR regexp_matches(p.result_text, {m['LINT_CLEAN']})) THEN 'pass'
          ELSE 'unknown' END
      FROM paired p WHERE regexp_matches(p.command, {m['LINT_COMMAND']})
      UNION ALL
      SELECT 'script', p.*, CASE
          WHEN p.result_id IS NULL OR p.pending THEN 'unknown'
          WHEN p.result_outcome IN ('error', 'timeout') THEN 'fail'
          WHEN p.result_outcome = 'ok' THEN 'pass'
          ELSE 'unknown' END
      FROM paired p WHERE NOT p.is_test AND regexp_matches(p.command, {m['SCRIPT_RUN']})
      UNION ALL
      SELECT 'commit', p.*, CASE
          WHEN p.result_id IS NULL THEN 'unknown'
          WHEN regexp_matches(p.result_text, {m['COMMIT_DONE']}) THEN 'ok'
          WHEN regexp_matches(p.result_text, {m['COMMIT_NOTHING']}) THEN 'nothing'
          WHEN p.result_outcome IN ('error', 'timeout', 'denied') THEN 'fail'
          WHEN p.result_outcome = 'ok' THEN 'ok'
          ELSE 'unknown' END
      FROM paired p WHERE regexp_matches(p.command, {m['COMMIT_COMMAND']})
      UNION ALL
      SELECT 'push', p.*, CASE
          WHEN p.result_id IS NULL THEN 'unknown'
          WHEN regexp_matches(p.result_text, {m['PUSH_FAILED']}) THEN 'fail'
          WHEN regexp_matches(p.result_text, {m['PUSH_DONE']}) THEN 'ok'
          WHEN p.result_outcome IN ('error', 'timeout', 'denied') THEN 'fail'
          WHEN p.result_outcome = 'ok' THEN 'ok'
          ELSE 'unknown' END
      FROM paired p WHERE regexp_matches(p.command, {m['PUSH_COMMAND']})
      UNION ALL
      SELECT 'write', p.*, CASE
          WHEN p.result_id IS NULL THEN 'unknown'
          WHEN p.result_outcome IN ('error', 'timeout', 'denied') THEN 'fail'
          WHEN p.result_outcome = 'ok' THEN 'ok'
          ELSE 'unknown' END
      FROM paired p
      WHERE p.name IN ({writes}) OR regexp_matches(p.command, {m['SHELL_WRITE']})),
    -- Evidence written outside tool calls: aider's own commits, file snapshots.
    other AS (
      SELECT CASE WHEN e.event_type = 'log' THEN 'commit' ELSE 'write' END AS kind,
             e.event_id, e.system, e.stream, e.ts, e.position, e.name, e.correlation_id,
             coalesce(e.attrs::VARCHAR, '') AS call_text, coalesce(e.message, '') AS command,
             NULL AS observation, NULL AS result_id, NULL::TIMESTAMPTZ AS result_ts,
             NULL::BIGINT AS result_position, e.outcome AS result_outcome,
             e.message AS result_text, NULL AS final_id, false AS pending, false AS is_test,
             false AS piped,
             CASE WHEN coalesce(e.outcome, 'ok') = 'ok' THEN 'ok' ELSE 'fail' END AS status,
             'record' AS via
      FROM ev e
      WHERE (e.event_type = 'log' AND e.system = 'aider' AND e.name = 'commit')
         OR e.event_type IN ('snapshot', 'patch.applied'))
    SELECT kind, event_id AS call_id, result_id, final_id, system, stream,
           coalesce(result_ts, ts) AS op_ts, coalesce(result_position, position) AS op_position,
           name, status, coalesce(via, 'tool') AS via, call_text, command,
           CASE WHEN length(result_text) > 6000
                THEN left(result_text, 1000) || chr(10) || right(result_text, 5000)
                ELSE coalesce(result_text, '') END AS result_text
    FROM (SELECT * FROM ops UNION ALL BY NAME SELECT * FROM other)"""


def _matched(con: duckdb.DuckDBPyConnection, found: pl.DataFrame) -> tuple[list[dict], dict]:
    """The operations before each claim in its run, and how many tool calls it made before."""
    roots = found.with_columns(
        pl.col("stream").str.replace(P.SUMMARY_STREAM, "").alias("root"))
    con.register("_claims", roots.select("claim_event_id", "system", "stream", "root", "ts",
                                         "position", "kind").to_arrow())
    try:
        # A run is the claim's root stream and its subagent streams (`root/...`); order within
        # one stream is its position, across streams the time.
        run = "o.system = c.system AND (o.stream = c.root OR starts_with(o.stream, c.root || '/'))"
        before = """((o.stream = c.stream AND {p} < c.position)
          OR (o.stream <> c.stream AND {t} IS NOT NULL AND c.ts IS NOT NULL AND {t} <= c.ts))"""
        ops = frame(con, f"""
            WITH o AS ({_ops_sql()})
            SELECT c.claim_event_id, c.kind AS claim_kind, o.*
            FROM _claims c JOIN o ON {run}
              AND {before.format(p="o.op_position", t="o.op_ts")}
            ORDER BY c.claim_event_id, o.op_ts NULLS FIRST, o.op_position, o.call_id""")
        calls = con.execute(f"""
            SELECT c.claim_event_id, c.kind, count(o.event_id) AS n
            FROM _claims c LEFT JOIN events o ON {calls_sql(alias='o')} AND {run}
              AND {before.format(p="o.position", t="o.ts")}
            GROUP BY ALL""").fetchall()
    finally:
        con.unregister("_claims")
    return ops.to_dicts(), {(cid, kind): n for cid, kind, n in calls}


@dataclass
class _Verdict:
    verdict: str
    reason: str
    ops: list[dict]


def _cite(op: dict) -> list[str]:
    return [i for i in (op["call_id"], op["result_id"], op["final_id"]) if i]


def _show(op: dict) -> str:
    what = (op["command"] or op["name"] or op["kind"]).strip().splitlines()
    head = what[0][:120] if what else op["kind"]
    return f"`{head}`" + (f" ({op['call_id']})" if op["call_id"] else "")


_SAYS = re.compile(r"\b\d+\s+(?:tests?|failures?|failed|passed|errors?)\b|\b(?:fatal|error|"
                   r"rejected|nothing to commit|failed)\b", re.IGNORECASE)


def _tail(op: dict) -> str:
    """The output line that says how it went (a summary, an error), else its last lines."""
    lines = [ln.strip() for ln in (op["result_text"] or "").strip().splitlines() if ln.strip()]
    if not lines:
        return "no output"
    saying = [ln for ln in lines if _SAYS.search(ln)]
    return (saying[-1] if saying else " / ".join(lines[-2:]))[:200]


def _judge(claim: dict, ops: list[dict], calls: int | None) -> _Verdict:
    kind = claim["kind"]
    wanted = _EVIDENCE_KINDS[kind]
    mine = [op for op in ops if op["kind"] in wanted]
    label = P.KIND_LABEL[kind]
    if kind == "file":
        return _judge_file(claim, mine, calls)
    if kind == "fixed":
        tests = [op for op in mine if op["kind"] == "test" and op["status"] != "unknown"]
        if tests and tests[-1]["status"] == "fail":
            last = tests[-1]
            later = [op for op in mine if op["kind"] == "write"
                     and (op["op_ts"], op["op_position"]) > (last["op_ts"], last["op_position"])]
            if not later:
                return _Verdict("contradicted", f"the last test run before it, {_show(last)}, "
                                f"failed ({_tail(last)}) and no file was changed after it", [last])
        return _Verdict("undetermined", "a fix is checked only against a failing last test run",
                        [])
    runners = [op for op in mine if op["kind"] != "script"]
    if kind in ("tests", "checks") and not runners and mine:
        return _Verdict("undetermined", f"no test runner ran before it; the agent ran "
                        f"{_show(mine[-1])}, which may hold its own checks", [mine[-1]])
    mine = runners
    if not mine:
        if calls is None:
            return _Verdict("undetermined", "the source records no tool calls: no evidence "
                            "either way", [])
        noun = {"tests": "test run", "checks": "test, lint or build run", "build": "build",
                "commit": "git commit", "push": "git push"}[kind]
        return _Verdict("unverified", f"no {noun} among the {calls} tool call(s) the run "
                        "made before it", [])
    last = mine[-1]
    if kind == "commit":
        done = [op for op in mine if op["status"] == "ok"]
        if last["status"] == "ok" or (last["status"] == "nothing" and done):
            return _Verdict("supported", f"{_show(done[-1])} committed", [done[-1]])
        if last["status"] == "nothing":
            return _Verdict("contradicted", f"the last git commit before it, {_show(last)}, "
                            f"found nothing to commit ({_tail(last)}) and no commit before it "
                            "succeeded", [last])
        if last["status"] == "fail":
            return _Verdict("contradicted", f"the last git commit before it, {_show(last)}, "
                            f"failed ({_tail(last)})", [last])
        return _Verdict("undetermined", f"the last git commit, {_show(last)}, has no result "
                        "that says", [last])
    passed = "ok" if kind == "push" else "pass"
    if last["status"] == passed:
        return _Verdict("supported", f"the last one before it, {_show(last)}, succeeded", [last])
    if last["status"] == "fail":
        what = {"tests": "test run", "checks": "check run", "build": "build",
                "push": "git push"}[kind]
        return _Verdict("contradicted", f"the last {what} before it, {_show(last)}, failed "
                        f"({_tail(last)})", [last])
    return _Verdict("undetermined", f"the last one before it, {_show(last)}, has no result "
                    f"that says whether {label}", [last])


def _judge_file(claim: dict, writes: list[dict], calls: int | None) -> _Verdict:
    # Writes that name no file (SWE-agent's `edit 5:5` edits the open file) may be any file.
    anonymous = [op for op in writes if op["via"] == "tool"
                 and not P.names_a_file(f'{op["call_text"] or ""} {op["command"] or ""}')]
    verdicts = []
    for target in claim["targets"]:
        name = target.rstrip("/").rsplit("/", 1)[-1]
        touching = [op for op in writes if (
            name in (op["call_text"] or "") if op["via"] == "record"
            else P.writes_file(op["name"], op["call_text"] or "", op["command"] or "", name))]
        ok = [op for op in touching if op["status"] == "ok"]
        failed = [op for op in touching if op["status"] == "fail"]
        if ok:
            verdicts.append(("supported", f"{target}: written by {_show(ok[-1])}", [ok[-1]]))
        elif failed:
            verdicts.append(("contradicted", f"{target}: every write to it failed, the last "
                             f"{_show(failed[-1])} ({_tail(failed[-1])})", [failed[-1]]))
        elif touching:
            verdicts.append(("undetermined", f"{target}: written by {_show(touching[-1])} "
                             "with no result", [touching[-1]]))
        elif anonymous:
            verdicts.append(("undetermined", f"{target}: {_show(anonymous[-1])} wrote a file "
                             "it does not name", [anonymous[-1]]))
        elif calls is None:
            verdicts.append(("undetermined", f"{target}: the source records no tool calls", []))
        else:
            verdicts.append(("unverified", f"{target}: no write, edit or shell command among "
                             f"the {calls} tool call(s) the run made before it names it", []))
    rank = {"contradicted": 0, "unverified": 1, "undetermined": 2, "supported": 3}
    worst = min((v[0] for v in verdicts), key=rank.__getitem__)
    cited = [op for v in verdicts if v[0] == worst for op in v[2]]
    return _Verdict(worst, "; ".join(v[1] for v in verdicts if v[0] == worst), cited)


def assess(con: duckdb.DuckDBPyConnection, scope: Scope | dict[str, Any] | None = None,
           **fields: Any) -> pl.DataFrame:
    """Every claim in scope with its verdict, the reason and the evidence it cites
    (ASSESSMENT_SCHEMA). Evidence is looked for before the claim in its run, at any time."""
    scope = Scope.of(scope, **fields)
    found = claims(con, scope)
    if found.is_empty():
        return pl.DataFrame(schema=ASSESSMENT_SCHEMA)
    ops, calls = _matched(con, found)
    by_claim: dict[tuple[str, str], list[dict]] = {}
    for op in ops:
        by_claim.setdefault((op["claim_event_id"], op["claim_kind"]), []).append(op)
    rows = []
    for claim in found.to_dicts():
        key = (claim["claim_event_id"], claim["kind"])
        # A run whose system records tool calls and that made none is evidence too (a
        # subagent that did nothing); a source that records none cannot say.
        made = calls.get(key, 0) if claim["system"] in P.RECORDS_TOOL_CALLS else None
        verdict = _judge(claim, by_claim.get(key, []), made)
        cited = [i for op in verdict.ops for i in _cite(op)]
        times = [op["op_ts"] for op in verdict.ops if op["op_ts"] is not None]
        rows.append({**claim, "verdict": verdict.verdict, "reason": verdict.reason,
                     "evidence_ids": cited, "evidence_ts": max(times) if times else None})
    return pl.DataFrame(rows, schema=ASSESSMENT_SCHEMA)


_TITLES = {
    "contradicted": {"tests": "Claims tests pass; the last test run failed",
                     "checks": "Claims checks are green; the last check failed",
                     "build": "Claims the build succeeds; the last build failed",
                     "commit": "Claims a commit; the git commit did not happen",
                     "push": "Claims a push; the last git push failed",
                     "file": "Claims a file was written; the write failed",
                     "fixed": "Claims a fix; the last test run failed"},
    "unverified": {"tests": "Claims tests pass; no test ran",
                   "checks": "Claims checks are green; no check ran",
                   "build": "Claims the build succeeds; no build ran",
                   "commit": "Claims a commit; no git commit ran",
                   "push": "Claims a push; no git push ran",
                   "file": "Claims a file was written; no tool call wrote it"},
}


class _ClaimDetector:
    verdict: ClassVar[str]
    name: ClassVar[str]
    code: ClassVar[str]
    taxonomy: ClassVar[str] = "MAST"
    code_name: ClassVar[str]
    code_url: ClassVar[str] = MAST_URL
    level: ClassVar[str]

    def run(self, con: duckdb.DuckDBPyConnection, scope: Scope) -> pl.DataFrame:
        rows = assess(con, scope).filter(pl.col("verdict") == self.verdict)
        if rows.is_empty():
            return empty()
        out = []
        for r in rows.to_dicts():
            when = r["ts"].isoformat() if r["ts"] is not None else "an unrecorded time"
            detail = (f'The agent wrote "{r["quote"]}" ({r["claim_event_id"]}, {when}); '
                      f'{r["reason"]}.')
            times = [t for t in (r["ts"], r["evidence_ts"]) if t is not None]
            out.append({
                "finding_id": finding_id(self.name, r["stream"],
                                         f'{r["claim_event_id"]}#{r["kind"]}'),
                "system": r["system"], "stream": r["stream"], "project": r["project"],
                "title": _TITLES[self.verdict][r["kind"]], "detail": detail,
                "ts": r["ts"], "ts_end": max(times) if times else None,
                "event_ids": [r["claim_event_id"], *r["evidence_ids"]],
                "claim_event_id": r["claim_event_id"],
            })
        return pl.DataFrame(out)


class ClaimContradicted(_ClaimDetector):
    """A success claim the run's own evidence contradicts (the last test run failed, the
    commit found nothing to commit, the push was rejected, the write failed)."""

    verdict = "contradicted"
    name = "claim_contradicted"
    code = "FM-3.3"
    code_name = "Incorrect verification"
    level = "error"


class ClaimUnverified(_ClaimDetector):
    """A success claim in a run that records its tool calls, none of which could back it."""

    verdict = "unverified"
    name = "claim_unverified"
    code = "FM-3.2"
    code_name = "No or incomplete verification"
    level = "warning"


DETECTORS = (ClaimContradicted(), ClaimUnverified())
