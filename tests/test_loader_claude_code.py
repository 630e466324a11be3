"""Claude Code session JSONL: turns, tool pairing, usage per message, subagents, compaction, metrics."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.analysis.replay import check
from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.claude_code import ClaudeCodeLoader

from conftest import FIXTURES

SPOTTER = FIXTURES / "claude_code" / "spotter"
SHORT = SPOTTER / "short.jsonl"
SESSION = "55604662-cf2a-4331-851a-ec234028f8ca"
LONG_SESSION = "258c7280-ae70-4798-800f-63464d01a85d"
CODEMIE = FIXTURES / "claude_code" / "codemie"
METRICS = CODEMIE / "metrics-fixture"
MAIN = METRICS / "-tmp-private" / "4c2ddfdc-b619-4525-8d03-1950fb1b0257.jsonl"


def test_folder_claims_only_transcripts(ingest_into):
    result = ingest_into(SPOTTER)
    assert {f.loader for f in result.summary.files} == {"claude_code.session_jsonl"}
    assert len(result.summary.files) == 3
    assert sorted(Path(p).name for p in result.summary.unclaimed) == ["LICENSE", "NOTICE"]
    assert result.scalar("SELECT count(*) FROM _load_warnings") == 0


def test_short_session_counts(ingest_into):
    result = ingest_into(SHORT)
    assert (result.summary.files[0].records_read, result.summary.files[0].event_rows) == (15, 17)
    types = dict(result.con.execute(
        "SELECT event_type, count(*) FROM events GROUP BY 1").fetchall())
    assert types == {"snapshot": 1, "telemetry": 2, "hook.progress": 3, "chat.turn": 5,
                     "model.change": 1, "tool.call": 2, "tool.result": 2, "llm.usage": 1}
    # The leading snapshot has no sessionId of its own but belongs to the file's session.
    assert result.scalar("SELECT count(DISTINCT stream) FROM events") == 1


def test_tool_call_row_fully_specified(ingest_into):
    result = ingest_into(SHORT)
    (row,) = result.rows("SELECT * FROM events WHERE event_type = 'tool.call' AND record_no = 8")
    assert row["event_id"].endswith(":8:0")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "claude_code",
        "source": "session_jsonl",
        "source_path": str(SHORT.resolve()),
        "record_no": 8,
        "ts": datetime(2026, 2, 10, 21, 12, 1, 117000, tzinfo=UTC),
        "ts_raw": "2026-02-10T21:12:01.117Z",
        "ts_quality": "exact",
        "stream": SESSION,
        "seq": None,
        "position": 8,
        "project": "/home/marco/projects/spotter",
        "correlation_id": "toolu_0116Hyi5v8ut7Ffb7d8qV1Sc",
        "event_type": "tool.call",
        "event_type_raw": "assistant",
        "actor": "assistant",
        "name": "Bash",
        "outcome": None,
        "severity": "info",
        "duration_ms": None,
        "message": '{"command": "mix phx.server 2>&1 | head -80", "timeout": 30000}',
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert json.loads(row["attrs"])["uuid"]  # the whole original record is kept


def test_tool_results_pair_and_denial(ingest_into):
    result = ingest_into(SHORT)
    pairs = result.rows(
        "SELECT c.name, r.outcome, r.severity FROM events c JOIN events r "
        "ON r.correlation_id = c.correlation_id AND r.event_type = 'tool.result' "
        "WHERE c.event_type = 'tool.call' ORDER BY c.record_no")
    assert pairs == [{"name": "Bash", "outcome": "denied", "severity": "warning"},
                     {"name": "Glob", "outcome": "denied", "severity": "warning"}]


def test_snapshot_time_is_derived(ingest_into):
    result = ingest_into(SHORT)
    (row,) = result.rows("SELECT * FROM events WHERE event_type = 'snapshot'")
    assert row["ts_quality"] == "derived"
    assert row["ts_raw"] == "snapshot.timestamp: 2026-02-10T21:11:56.906Z"
    assert row["stream"] == SESSION


def test_subagent_stream_is_linked_to_parent(ingest_into):
    result = ingest_into(SPOTTER)
    agent_stream = f"{LONG_SESSION}/agent-a881341"
    (start,) = result.rows("SELECT * FROM events WHERE event_type = 'subagent.start'")
    assert start["stream"] == LONG_SESSION
    assert start["correlation_id"] == "toolu_01VmaERAwhb19LGUwu9GenaK"
    assert json.loads(start["attrs"])["subagent_stream"] == agent_stream
    agent_rows = result.scalar("SELECT count(*) FROM events WHERE stream = ?", [agent_stream])
    assert agent_rows == 6
    facts = json.loads(result.scalar(
        "SELECT facts FROM _loads WHERE path LIKE '%agent-a881341.jsonl'"))
    assert facts == {"agent_id": "a881341", "parent_session": LONG_SESSION}


def test_compaction_records(ingest_into):
    result = ingest_into(SPOTTER / f"{LONG_SESSION}.jsonl", CODEMIE / "session-9eda1058.jsonl")
    boundary = result.rows(
        "SELECT * FROM events WHERE event_type = 'context.compacted' AND name = 'compact_boundary'")
    assert len(boundary) == 1 and boundary[0]["ts_quality"] == "exact"
    assert json.loads(boundary[0]["attrs"])["compactMetadata"]["preTokens"] == 167094
    summaries = result.rows(
        "SELECT * FROM events WHERE event_type = 'context.compacted' AND name = 'summary'")
    assert len(summaries) == 16
    assert {(r["ts"], r["ts_quality"]) for r in summaries} == {(None, "missing")}


def test_usage_counted_once_per_message(ingest_into):
    """Claude Code repeats a message's usage on each content-block line; only the last counts."""
    result = ingest_into(MAIN)
    usage = result.rows("SELECT * FROM events WHERE event_type = 'llm.usage' ORDER BY record_no")
    assert len(usage) == 7  # 10 assistant lines, 7 distinct message ids
    first = json.loads(usage[0]["attrs"])
    assert first["message_id"] == "msg_bdrk_013SYvCzWGkVVXBeihWmL3gF"
    assert len(first["record_uuids"]) == 4 and first["usage"]["output_tokens"] == 395
    assert result.scalar("SELECT sum(value) FROM metrics WHERE name = 'output_tokens'") == 806


def test_metrics_fixture_matches_codemie_expected(ingest_into):
    """Token totals and tool counts from the database agree with codemie's expected-metrics.jsonl."""
    result = ingest_into(METRICS)
    expected = [json.loads(line) for line in (METRICS / "expected-metrics.jsonl").open()]
    session = json.loads((METRICS / "expected-session.json").read_text())
    cutoff = datetime.fromtimestamp(session["sync"]["metrics"]["lastProcessedTimestamp"] / 1000, UTC)
    # codemie reports one delta per assistant line, repeating a message's usage on each of its
    # lines; the truthful total takes the last line of each message (found via the evidence).
    message_of = {}
    for path in (METRICS / "-tmp-private").glob("*.jsonl"):
        for line in path.open():
            rec = json.loads(line)
            if rec.get("type") == "assistant":
                message_of[rec["uuid"]] = rec["message"]["id"]
    last: dict[str, dict] = {}
    for delta in sorted(expected, key=lambda d: d["timestamp"]):
        last[message_of[delta["recordId"]]] = delta["tokens"]
    names = {"input": "input_tokens", "output": "output_tokens",
             "cacheCreation": "cache_creation_tokens", "cacheRead": "cache_read_tokens"}
    want: dict[str, float] = defaultdict(float)
    for tokens in last.values():
        for key, value in tokens.items():
            want[names[key]] += value
    got = dict(result.con.execute(
        "SELECT name, sum(value) FROM metrics WHERE ts <= ? GROUP BY 1", [cutoff]).fetchall())
    assert got == dict(want) == {"input_tokens": 16911, "output_tokens": 1043,
                                 "cache_creation_tokens": 37172, "cache_read_tokens": 214627}
    tools: dict[str, int] = defaultdict(int)
    successes: dict[str, int] = defaultdict(int)
    for delta in expected:
        for name, count in delta["tools"].items():
            tools[name] += count
        for name, status in (delta.get("toolStatus") or {}).items():
            successes[name] += status["success"]
    calls = dict(result.con.execute(
        "SELECT name, count(*) FROM events WHERE event_type = 'tool.call' AND ts <= ? GROUP BY 1",
        [cutoff]).fetchall())
    ok = dict(result.con.execute(
        "SELECT c.name, count(*) FROM events c JOIN events r ON r.correlation_id = c.correlation_id "
        "AND r.event_type = 'tool.result' AND r.outcome = 'ok' WHERE c.event_type = 'tool.call' "
        "GROUP BY 1").fetchall())
    assert calls == dict(tools) == {"Write": 3, "Read": 1, "Edit": 1, "Bash": 1}
    assert ok == dict(successes)
    # Per-line check: every expected delta is the usage written on that evidence line.
    lines = {}
    for path in (METRICS / "-tmp-private").glob("*.jsonl"):
        for line in path.open():
            rec = json.loads(line)
            if rec.get("type") == "assistant":
                lines[rec["uuid"]] = rec["message"]["usage"]
    for delta in expected:
        usage = lines[delta["recordId"]]
        assert delta["tokens"]["input"] == usage["input_tokens"]
        assert delta["tokens"]["output"] == usage["output_tokens"]


def test_malformed_lines_quarantined(ingest_into, tmp_path: Path):
    good = SHORT.read_text().splitlines()
    path = tmp_path / "projects" / "p" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([*good[:4], '{"type": "user", "sessionId": broken', '{"x": 1}',
                               *good[4:]]) + "\n")
    result = ingest_into(path)
    outcome = result.summary.files[0]
    assert (outcome.status, outcome.records_read, outcome.quarantined) == ("loaded", 17, 2)
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert [w["record_no"] for w in warnings] == [5, 6]
    assert warnings[0]["reason"].startswith("malformed JSON")
    assert warnings[1]["reason"] == "record has no string 'type'"


def test_second_ingest_is_unchanged(ingest_into, tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    ingest_into(SHORT, db=db)
    again = ingest_into(SHORT, db=db)
    assert again.summary.files[0].status == "unchanged"
    assert again.scalar("SELECT count(*) FROM events") == 17


def test_detect_rejects_other_json_lines(tmp_path: Path):
    loader = ClaudeCodeLoader()
    assert loader.detect(SHORT, read_head(SHORT))
    expected = METRICS / "expected-metrics.jsonl"
    assert not loader.detect(expected, read_head(expected))
    other = tmp_path / "events.jsonl"
    other.write_text('{"sessionId": "s", "type": "message", "text": "hi"}\n')
    assert not loader.detect(other, read_head(other))
    codex = tmp_path / "rollout-x.jsonl"
    codex.write_text('{"timestamp":"t","type":"session_meta","payload":{"id":"x"}}\n')
    assert not loader.detect(codex, read_head(codex))


def test_summary_only_file_and_inline_sidechain(ingest_into, tmp_path: Path):
    name = "0b0e0f4e-1111-4222-8333-944455556666.jsonl"
    summary_only = tmp_path / "a" / name
    summary_only.parent.mkdir()
    summary_only.write_text('{"type":"summary","summary":"Fix login","leafUuid":"u1"}\n')
    inline = tmp_path / "b" / name
    inline.parent.mkdir()
    inline.write_text(
        '{"type":"user","sessionId":"s1","uuid":"u2","parentUuid":null,"isSidechain":true,'
        '"timestamp":"2025-06-01T10:00:00Z","message":{"role":"user","content":"explore"}}\n')
    result = ingest_into(summary_only, inline)
    rows = result.rows("SELECT event_type, stream FROM events ORDER BY stream")
    assert rows == [{"event_type": "context.compacted", "stream": name.removesuffix(".jsonl")},
                    {"event_type": "chat.turn", "stream": "s1/sidechain"}]


HOOKS = FIXTURES / "claude_code" / "spotter-hooks"
TOOL_HEAVY = HOOKS / "tool_heavy.jsonl"


def test_hook_telemetry_is_kept_as_debug(ingest_into):
    result = ingest_into(HOOKS)
    hooks = result.rows("SELECT record_no, event_type, name, severity, correlation_id FROM events "
                        "WHERE event_type LIKE 'hook.%' ORDER BY source_path, record_no")
    assert [(h["event_type"], h["name"], h["severity"]) for h in hooks] == [
        ("hook.summary", "stop_hook_summary", "debug"),
        *[("hook.progress", name, "debug") for name in [
            "SessionStart:startup", "SessionStart:startup", "PreToolUse:Bash", "PreToolUse:Bash",
            "PreToolUse:Bash", "PreToolUse:Bash", "PreToolUse:Bash", "PreToolUse:Bash",
            "PostToolUse:Glob", "PostToolUse:Read"]],
    ]
    # A hook around a tool call names that call.
    assert hooks[3]["correlation_id"] == result.scalar(
        "SELECT correlation_id FROM events WHERE event_type = 'tool.call' AND record_no = 5 "
        "AND source_path LIKE '%tool_heavy%'")
    summary = result.scalar("SELECT message FROM events WHERE event_type = 'hook.summary'")
    assert summary == "3 hook(s)"


def test_a_failed_hook_is_a_warning(ingest_into, tmp_path: Path):
    line = json.loads((HOOKS / f"{LONG_SESSION}.jsonl").read_text())
    line["hookErrors"] = ["stop-hook.sh exited 1"]
    path = tmp_path / f"{LONG_SESSION}.jsonl"
    path.write_text(json.dumps(line) + "\n")
    result = ingest_into(path)
    assert result.rows("SELECT severity, outcome, message FROM events") == [
        {"severity": "warning", "outcome": "error", "message": "3 hook(s), 1 failed"}]


def test_session_meaning(ingest_into):
    """Facts read from tool_heavy.jsonl before loading it: six tool calls (Bash x2, WebSearch,
    Glob, Read, WebFetch), six results, none failed or denied; ten hook_progress lines; the user
    interrupted twice (lines 18 and 39, the last record); 22:57:51.291Z .. 22:59:46.748Z."""
    result = ingest_into(TOOL_HEAVY)
    calls = result.rows("SELECT c.name, r.outcome FROM events c JOIN events r ON "
                        "r.correlation_id = c.correlation_id AND r.event_type = 'tool.result' "
                        "WHERE c.event_type = 'tool.call' ORDER BY c.record_no")
    assert calls == [{"name": n, "outcome": "ok"} for n in
                     ("Bash", "Bash", "WebSearch", "Glob", "Read", "WebFetch")]
    assert result.scalar("SELECT count(*) FROM events WHERE event_type = 'tool.result'") == 6
    assert result.scalar("SELECT count(*) FROM events WHERE event_type = 'hook.progress'") == 10
    interrupts = result.rows("SELECT record_no FROM events WHERE event_type = 'chat.turn' AND "
                             "message LIKE '[Request interrupted by user%' ORDER BY record_no")
    assert [i["record_no"] for i in interrupts] == [18, 39]
    (low, high), = result.con.execute("SELECT min(ts), max(ts) FROM events").fetchall()
    assert (low, high) == (datetime(2026, 2, 10, 22, 57, 51, 291000, tzinfo=UTC),
                           datetime(2026, 2, 10, 22, 59, 46, 748000, tzinfo=UTC))
    assert check(result.con).violations.height == 0
