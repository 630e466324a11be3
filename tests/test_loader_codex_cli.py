"""Codex CLI rollouts: session meta, turns, tool pairing, token_count, mirrors, denials, durations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.analysis.replay import check
from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.codex_cli import CodexRolloutLoader, _wall_ms

from conftest import FIXTURES

CODEMIE = next((FIXTURES / "codex_cli" / "codemie").glob("rollout-*.jsonl"))
LOCALPUSH = next((FIXTURES / "codex_cli" / "localpush").glob("rollout-*.jsonl"))


def test_counts_and_types(ingest_into):
    result = ingest_into(LOCALPUSH)
    outcome = result.summary.files[0]
    assert (outcome.loader, outcome.records_read, outcome.event_rows) == (
        "codex_cli.rollout_jsonl", 63, 63)
    types = dict(result.con.execute(
        "SELECT event_type, count(*) FROM events GROUP BY 1").fetchall())
    assert types == {"chat.turn": 32, "llm.usage": 11, "model.change": 1, "run.end": 1,
                     "run.start": 1, "session.start": 1, "telemetry": 6, "tool.call": 5,
                     "tool.result": 5}
    assert result.scalar("SELECT DISTINCT stream FROM events") == \
        "019c8bfe-ec25-79e0-97d7-bda6a9c575ff"


def test_tool_result_row_fully_specified(ingest_into):
    result = ingest_into(CODEMIE)
    (row,) = result.rows("SELECT * FROM events WHERE record_no = 12")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "codex_cli",
        "source": "rollout_jsonl",
        "source_path": str(CODEMIE.resolve()),
        "record_no": 12,
        "ts": datetime(2026, 5, 11, 8, 41, 56, 686000, tzinfo=UTC),
        "ts_raw": "2026-05-11T08:41:56.686Z",
        "ts_quality": "exact",
        "stream": "019e1625-789d-76c0-80ab-3724b5ddb799",
        "seq": None,
        "position": 12,
        "project": "/Users/Sample_User/repos/codemie-ai/codemie-code",
        "correlation_id": "call_0gOiGGSkJEBvvlrXtBn0xzwL",
        "event_type": "tool.result",
        "event_type_raw": "response_item.custom_tool_call_output",
        "actor": "tool",
        "name": "apply_patch",
        "outcome": "ok",
        "severity": "info",
        "duration_ms": 2200.0,
        "message": row["message"],
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert row["message"].startswith('{"output":"Success. Updated the following files:')
    assert json.loads(row["attrs"])["payload"]["type"] == "custom_tool_call_output"


def test_mirrors_and_pairing(ingest_into):
    result = ingest_into(CODEMIE)
    mirrors = result.rows("SELECT event_type_raw FROM events WHERE is_mirror ORDER BY record_no")
    # The slice keeps the user_message ("show tools") but not the response_item it repeats: with
    # no original in the file it is the only record of the prompt, so it is no mirror.
    assert [m["event_type_raw"] for m in mirrors] == ["event_msg.patch_apply_end"]
    prompt = result.rows("SELECT actor, message FROM timeline_events "
                         "WHERE event_type_raw = 'event_msg.user_message'")
    assert prompt == [{"actor": "user", "message": "show tools"}]
    unpaired = result.scalar(
        "SELECT count(*) FROM events c WHERE c.event_type = 'tool.call' AND NOT EXISTS ("
        "SELECT 1 FROM events r WHERE r.event_type = 'tool.result' AND NOT r.is_mirror "
        "AND r.correlation_id = c.correlation_id)")
    assert unpaired == 0


def test_token_count_repeats_add_no_metrics(ingest_into):
    result = ingest_into(LOCALPUSH)
    usage = result.rows("SELECT attrs FROM events WHERE event_type = 'llm.usage'")
    repeats = sum(json.loads(u["attrs"])["repeat"] for u in usage)
    assert (len(usage), repeats) == (11, 5)
    totals = dict(result.con.execute("SELECT name, sum(value) FROM metrics GROUP BY 1").fetchall())
    assert totals == {"input_tokens": 298373, "cache_read_tokens": 238848, "output_tokens": 1123,
                      "reasoning_output_tokens": 483, "total_tokens": 299496}
    assert result.scalar("SELECT DISTINCT unit FROM metrics") == "tokens"
    # The last cumulative snapshot equals the sum of the non-repeated per-call usages.
    last = json.loads(result.scalar(
        "SELECT attrs FROM events WHERE event_type = 'llm.usage' ORDER BY record_no DESC LIMIT 1"))
    assert last["payload"]["info"]["total_token_usage"]["total_tokens"] == 299496


def test_model_change_and_compaction(ingest_into, tmp_path: Path):
    meta = LOCALPUSH.read_text().splitlines()[0]
    lines = [
        meta,
        '{"timestamp":"2026-02-23T19:35:00Z","type":"turn_context","payload":{"model":"gpt-5"}}',
        '{"timestamp":"2026-02-23T19:36:00Z","type":"turn_context","payload":{"model":"gpt-5"}}',
        '{"timestamp":"2026-02-23T19:37:00Z","type":"turn_context","payload":{"model":"o3"}}',
        '{"timestamp":"2026-02-23T19:38:00Z","type":"compacted","payload":{"message":"sum"}}',
        '{"timestamp":"2026-02-23T19:38:00Z","type":"event_msg","payload":'
        '{"type":"context_compacted"}}',
    ]
    path = tmp_path / "rollout-2026-02-23T20-34-25-x.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest_into(path)
    changes = result.rows("SELECT name, message FROM events WHERE event_type = 'model.change' "
                          "ORDER BY record_no")
    assert changes == [{"name": "gpt-5", "message": "model gpt-5"},
                       {"name": "o3", "message": "gpt-5 -> o3"}]
    compacted = result.rows("SELECT record_no, is_mirror FROM events "
                            "WHERE event_type = 'context.compacted' ORDER BY record_no")
    assert compacted == [{"record_no": 5, "is_mirror": False}, {"record_no": 6, "is_mirror": True}]


def test_malformed_lines_quarantined(ingest_into, tmp_path: Path):
    lines = LOCALPUSH.read_text().splitlines()
    path = tmp_path / LOCALPUSH.name
    path.write_text("\n".join([*lines[:3], "{not json", '{"type":"event_msg"}', *lines[3:]]) + "\n")
    result = ingest_into(path)
    outcome = result.summary.files[0]
    assert (outcome.records_read, outcome.quarantined, outcome.event_rows) == (65, 2, 63)
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert warnings == [
        {"record_no": 4, "reason": warnings[0]["reason"]},
        {"record_no": 5, "reason": "record lacks a string 'type' and an object 'payload'"},
    ]
    assert warnings[0]["reason"].startswith("malformed JSON")


def test_second_ingest_is_unchanged(ingest_into, tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    ingest_into(LOCALPUSH, db=db)
    again = ingest_into(LOCALPUSH, db=db)
    assert again.summary.files[0].status == "unchanged"
    assert again.scalar("SELECT count(*) FROM events") == 63


def test_detect_needs_name_and_session_meta(tmp_path: Path):
    loader = CodexRolloutLoader()
    assert loader.detect(LOCALPUSH, read_head(LOCALPUSH))
    renamed = tmp_path / "session.jsonl"
    renamed.write_bytes(LOCALPUSH.read_bytes())
    assert not loader.detect(renamed, read_head(renamed))
    other = tmp_path / "rollout-1.jsonl"
    other.write_text('{"timestamp":"t","type":"event_msg","payload":{"type":"session_meta"}}\n')
    assert not loader.detect(other, read_head(other))


def test_running_output_takes_exit_code_from_end_event(ingest_into, tmp_path: Path):
    meta = LOCALPUSH.read_text().splitlines()[0]
    lines = [
        meta,
        '{"timestamp":"2026-02-23T19:35:00Z","type":"response_item","payload":{"type":'
        '"function_call","name":"exec_command","arguments":"{}","call_id":"c1"}}',
        '{"timestamp":"2026-02-23T19:35:01Z","type":"response_item","payload":{"type":'
        '"function_call_output","call_id":"c1","output":"Process running with session ID 7"}}',
        '{"timestamp":"2026-02-23T19:35:09Z","type":"event_msg","payload":{"type":'
        '"exec_command_end","call_id":"c1","exit_code":2,"duration":{"secs":8,"nanos":0}}}',
        '{"timestamp":"2026-02-23T19:36:00Z","type":"response_item","payload":{"type":'
        '"web_search_call","status":"completed","action":{"type":"search","query":"q"}}}',
    ]
    path = tmp_path / "rollout-2026-02-23T20-34-25-y.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest_into(path)
    rows = result.rows("SELECT record_no, is_mirror, outcome, duration_ms, attrs FROM events "
                       "WHERE event_type = 'tool.result' ORDER BY record_no")
    assert [(r["record_no"], r["is_mirror"], r["outcome"], r["duration_ms"]) for r in rows] == [
        (3, False, "error", 8000.0), (4, True, "error", 8000.0), (5, False, "ok", None)]
    assert json.loads(rows[0]["attrs"])["_outcome_from"] == "line 4 (exec_command_end)"
    web = result.rows("SELECT correlation_id FROM events WHERE record_no = 5 ORDER BY event_type")
    assert {w["correlation_id"] for w in web} == {"019c8bfe-ec25-79e0-97d7-bda6a9c575ff:line-5"}


EXEC = next((FIXTURES / "codex_cli" / "codemie-exec").glob("rollout-*.jsonl"))


def test_unified_exec_outputs_give_outcome_and_duration(ingest_into):
    """Facts read from the slice (its line numbers): the exec at line 5 was still running at its
    output (line 6, "Wall time: 1.0037 seconds") and ended at line 7 (exit 0 after 5 s 87741459
    ns); write_stdin polls took 0.0000 s (exit 0, line 9) and 4.1190 s (exit 2, line 13); the one
    at line 11 failed (stdin closed)."""
    result = ingest_into(EXEC)
    rows = result.rows("SELECT record_no, name, outcome, severity, duration_ms FROM events "
                       "WHERE event_type = 'tool.result' AND NOT is_mirror ORDER BY record_no")
    assert [(r["record_no"], r["name"], r["outcome"], r["severity"], r["duration_ms"])
            for r in rows] == [
        (6, "exec_command", "ok", "info", 5087.741459),
        (9, "write_stdin", "ok", "info", 0.0),
        (11, "write_stdin", "error", "warning", None),
        (13, "write_stdin", "error", "warning", 4119.0),
    ]
    assert check(result.con).violations.height == 0
    # Here the response_item (line 6 of the source) is kept: its event_msg copy is a mirror.
    assert result.rows("SELECT record_no, is_mirror FROM events "
                       "WHERE event_type_raw = 'event_msg.user_message'") == [
        {"record_no": 4, "is_mirror": True}]


def test_wall_time_spellings():
    assert _wall_ms("Chunk ID: 1\nWall time: 1.2s\nProcess exited with code 0") == 1200.0
    assert _wall_ms("Wall time: 17 minutes\n") == 17 * 60000.0
    assert _wall_ms("Wall time: 250 ms") == 250.0
    assert _wall_ms("Wall time: 1045.3 seconds") == 1045300.0
    assert _wall_ms("no time here") is None


def _rollout(tmp_path: Path, *records: str) -> Path:
    meta = LOCALPUSH.read_text().splitlines()[0]
    path = tmp_path / "rollout-2026-02-23T20-34-25-z.jsonl"
    path.write_text("\n".join([meta, *records]) + "\n")
    return path


def test_denials_are_denied_warnings(ingest_into, tmp_path: Path):
    # Codex writes these verdicts itself (codex-rs: approval, guardian, sandbox): no real rollout
    # in the corpus holds one, so the records are built from those strings.
    call = ('{"timestamp":"2026-02-23T19:35:0%dZ","type":"response_item","payload":{"type":'
            '"function_call","name":"exec_command","arguments":"{}","call_id":"c%d"}}')
    output = ('{"timestamp":"2026-02-23T19:35:0%dZ","type":"response_item","payload":{"type":'
              '"function_call_output","call_id":"c%d","output":"%s"}}')
    verdicts = ["exec command rejected by user",
                "This action was rejected due to unacceptable risk.",
                "sandbox denied exec error: operation not permitted",
                "Navigation to https://example.com was blocked by the browser policy"]
    records = [line for n, text in enumerate(verdicts, start=1)
               for line in (call % (n, n), output % (n, n, text))]
    records.append('{"timestamp":"2026-02-23T19:35:09Z","type":"event_msg","payload":{"type":'
                   '"error","message":"Request blocked by the organization policy"}}')
    result = ingest_into(_rollout(tmp_path, *records))
    denied = result.rows("SELECT event_type, outcome, severity, error_code, error_category "
                         "FROM events WHERE outcome = 'denied' ORDER BY record_no")
    assert denied == [
        {"event_type": "tool.result", "outcome": "denied", "severity": "warning",
         "error_code": code, "error_category": "policy"}
        for code in ("user_rejected", "guardian_rejected", "sandbox_denied", "policy_blocked")
    ] + [{"event_type": "policy.denied", "outcome": "denied", "severity": "warning",
          "error_code": "policy_blocked", "error_category": "policy"}]
    assert check(result.con).violations.height == 0  # a denied call is closed by its verdict


def test_a_command_mentioning_a_policy_is_no_denial(ingest_into, tmp_path: Path):
    output = ("Chunk ID: 1\\nWall time: 0.2 seconds\\nProcess exited with code 0\\nOutput:\\n"
              "request blocked by policy X (grep hit)")
    result = ingest_into(_rollout(
        tmp_path,
        '{"timestamp":"2026-02-23T19:35:01Z","type":"response_item","payload":{"type":'
        '"function_call","name":"exec_command","arguments":"{}","call_id":"c1"}}',
        '{"timestamp":"2026-02-23T19:35:02Z","type":"response_item","payload":{"type":'
        f'"function_call_output","call_id":"c1","output":"{output}"}}}}'))
    assert result.rows("SELECT outcome, duration_ms FROM events WHERE event_type = 'tool.result'"
                       ) == [{"outcome": "ok", "duration_ms": 200.0}]


def test_user_messages_without_their_original_are_no_mirrors(ingest_into, tmp_path: Path):
    records = [
        '{"timestamp":"2026-02-23T19:35:01Z","type":"event_msg","payload":{"type":"user_message",'
        '"message":"fix the build"}}',
        '{"timestamp":"2026-02-23T19:35:02Z","type":"response_item","payload":{"type":"message",'
        '"role":"user","content":[{"type":"input_text","text":"run the tests"}]}}',
        '{"timestamp":"2026-02-23T19:35:02Z","type":"event_msg","payload":{"type":"user_message",'
        '"message":"run the tests"}}',
        '{"timestamp":"2026-02-23T19:35:03Z","type":"event_msg","payload":{"type":"user_message",'
        '"message":"run the tests"}}',
    ]
    result = ingest_into(_rollout(tmp_path, *records))
    rows = result.rows("SELECT record_no, is_mirror FROM events "
                       "WHERE event_type_raw = 'event_msg.user_message' ORDER BY record_no")
    # One original, two copies of its text: only one copy mirrors it.
    assert rows == [{"record_no": 2, "is_mirror": False}, {"record_no": 4, "is_mirror": True},
                    {"record_no": 5, "is_mirror": False}]


def test_session_meaning(ingest_into):
    """Facts read from the rollout before loading it: one user prompt (line 9, mirrored at 10);
    five MCP / workflow calls, each answered by an output (redacted, so no outcome or duration is
    known); one turn, completed at line 63; 19:34:26.098Z .. 19:36:02.635Z."""
    result = ingest_into(LOCALPUSH)
    prompts = result.rows("SELECT record_no FROM timeline_events WHERE actor = 'user' "
                          "AND event_type = 'chat.turn' AND record_no > 8")
    assert prompts == [{"record_no": 9}]
    calls = result.rows("SELECT c.record_no AS called, r.record_no AS answered, r.outcome, "
                        "r.duration_ms FROM events c JOIN events r ON r.correlation_id = "
                        "c.correlation_id AND r.event_type = 'tool.result' "
                        "WHERE c.event_type = 'tool.call' ORDER BY c.record_no")
    assert [(c["called"], c["answered"]) for c in calls] == [(17, 19), (26, 28), (35, 37),
                                                             (44, 46), (53, 55)]
    assert {(c["outcome"], c["duration_ms"]) for c in calls} == {(None, None)}
    assert result.scalar("SELECT count(*) FROM events WHERE outcome = 'denied'") == 0
    assert result.rows("SELECT record_no, outcome FROM events WHERE event_type = 'run.end'") == [
        {"record_no": 63, "outcome": "ok"}]
    (low, high), = result.con.execute("SELECT min(ts), max(ts) FROM events").fetchall()
    assert (low, high) == (datetime(2026, 2, 23, 19, 34, 26, 98000, tzinfo=UTC),
                           datetime(2026, 2, 23, 19, 36, 2, 635000, tzinfo=UTC))
    mirrors = dict(result.con.execute("SELECT event_type_raw, count(*) FROM events WHERE is_mirror "
                                      "GROUP BY 1").fetchall())
    assert mirrors == {"event_msg.user_message": 1, "event_msg.agent_message": 6,
                       "event_msg.agent_reasoning": 6}
    assert check(result.con).violations.height == 0
