"""CodingBuddy events.jsonl: taxonomy, interleaved sessions, quarantine, fast and robust paths agree."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.loaders.codingbuddy.events import has_blank_lines

from conftest import FIXTURES

WORKSPACE = FIXTURES / "codingbuddy" / "ws"
EVENTS = WORKSPACE / ".codingbuddy" / "events.jsonl"
SESSION_A = "01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01"


def _workspace(tmp_path: Path, lines: list[str]) -> Path:
    folder = tmp_path / "app" / ".codingbuddy"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text("".join(line + "\n" for line in lines))
    return folder / "events.jsonl"


def test_good_file_counts_and_types(ingest_into):
    result = ingest_into(EVENTS)
    assert result.summary.files[0].loader == "codingbuddy.events_jsonl"
    assert result.scalar("SELECT count(*) FROM events") == 10
    assert result.scalar("SELECT count(*) FROM _load_warnings") == 0
    by_stream = dict(result.con.execute(
        "SELECT stream, count(*) FROM events GROUP BY stream").fetchall())
    assert by_stream == {SESSION_A: 7, "01955a2f-0000-7000-8000-000000000002": 3}
    types = dict(result.con.execute("SELECT event_type_raw, event_type FROM events").fetchall())
    assert types["SessionStartedV1"] == "session.start"
    assert types["BrandNewKind"] == "unknown"
    assert types["ToolDenied"] == "policy.denied"


def test_tool_result_row_fully_specified(ingest_into):
    result = ingest_into(EVENTS)
    (row,) = result.rows("SELECT * FROM events WHERE event_type_raw = 'ToolResult'")
    load_id = result.scalar("SELECT load_id FROM _loads")
    assert row["event_id"].endswith(":7") and len(row["event_id"]) == 18
    assert row == {
        "event_id": row["event_id"],
        "load_id": load_id,
        "system": "codingbuddy",
        "source": "events_jsonl",
        "source_path": str(EVENTS.resolve()),
        "record_no": 7,
        "ts": datetime(2026, 3, 1, 9, 15, 5, 902000, tzinfo=UTC),
        "ts_raw": "2026-03-01T09:15:05.902000000Z",
        "ts_quality": "exact",
        "stream": SESSION_A,
        "seq": 5,
        "position": 7,
        "project": "ws",
        "correlation_id": "5b0e6a51-2c7e-4d43-8f1a-0d7b9c3e2f11",
        "event_type": "tool.result",
        "event_type_raw": "ToolResult",
        "actor": "agent",
        "name": None,
        "outcome": "error",
        "severity": "warning",
        "duration_ms": None,
        "message": "ToolResult success=false",
        "error_code": "command blocked by policy",
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert json.loads(row["attrs"])["kind"]["payload"]["result"]["success"] is False


def test_denied_and_failed_state(ingest_into):
    result = ingest_into(EVENTS)
    denied = result.rows("SELECT * FROM events WHERE event_type = 'policy.denied'")[0]
    assert (denied["outcome"], denied["severity"], denied["error_category"]) == (
        "denied", "warning", "policy")
    assert denied["error_code"] == "shell metacharacters blocked by policy"
    assert denied["name"] == "bash.run"
    state = result.rows("SELECT * FROM events WHERE event_type = 'session.state'")[0]
    assert state["severity"] == "error" and state["message"].endswith("ExecutingStep -> Failed")


def test_malformed_lines_are_quarantined_with_line_numbers(ingest_into, tmp_path):
    good = EVENTS.read_text().splitlines()
    path = _workspace(tmp_path, [
        good[0],
        '{"seq_no": 2, "at": "2026-03-01T09:15:01Z", "session_id": "s", "kind": {"type": "X"}',
        good[2],
        '{"seq_no": "two", "at": "2026-03-01T09:15:01Z", "session_id": "s", "kind": {"type": "X"}}',
        '{"seq_no": 9, "at": "yesterday", "session_id": "s", "kind": {"type": "X"}}',
        '{"seq_no": 9, "at": "2026-03-01T09:15:01Z", "kind": {"type": "X"}}',
        "[1, 2]",
        good[3],
    ])
    result = ingest_into(path)
    assert _reader(result) == "line by line (a line the JSON reader refused)"
    outcome = result.summary.files[0]
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (8, 3, 5)
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert warnings == [
        {"record_no": 2, "reason": "malformed JSON"},
        {"record_no": 4, "reason": "seq_no missing or not an unsigned integer"},
        {"record_no": 5, "reason": "at missing or not an RFC3339 timestamp"},
        {"record_no": 6, "reason": "session_id missing"},
        {"record_no": 7, "reason": "not a JSON object"},
    ]
    assert result.scalar("SELECT raw FROM _load_warnings WHERE record_no = 2").startswith(
        '{"seq_no": 2')


def test_fast_path_quarantines_semantic_errors(ingest_into, tmp_path):
    """Valid JSON everywhere (the vectorized reader succeeds) but one record lacks its session."""
    good = EVENTS.read_text().splitlines()
    path = _workspace(tmp_path, [
        good[0], '{"seq_no": 9, "at": "2026-03-01T09:15:01Z", "kind": {"type": "X"}}', good[2]])
    result = ingest_into(path)
    assert _reader(result) == "vectorized"
    assert result.summary.files[0].quarantined == 1
    assert result.rows("SELECT record_no, reason FROM _load_warnings") == [
        {"record_no": 2, "reason": "session_id missing"}]
    assert json.loads(result.scalar("SELECT raw FROM _load_warnings")) == {
        "seq_no": 9, "at": "2026-03-01T09:15:01Z", "session_id": None, "kind": {"type": "X"}}
    assert result.scalar("SELECT max(record_no) FROM events") == 3


def test_blank_lines_keep_line_numbers_and_paths_agree(ingest_into, tmp_path):
    """A blank line sends the file down the line-by-line path; rows must equal the fast path's."""
    plain = _workspace(tmp_path / "a", EVENTS.read_text().splitlines())
    lines = EVENTS.read_text().splitlines()
    spaced = _workspace(tmp_path / "b", [*lines[:3], "", *lines[3:]])
    columns = "stream, seq, ts, event_type, outcome, severity, message, error_code, correlation_id"
    fast = ingest_into(plain, db=tmp_path / "a.duckdb").rows(
        f"SELECT {columns}, attrs FROM events ORDER BY stream, seq")
    robust = ingest_into(spaced, db=tmp_path / "b.duckdb")
    assert _reader(robust) == "line by line (blank lines)"
    assert robust.summary.files[0].records_read == 10
    assert robust.scalar("SELECT record_no FROM events WHERE event_type_raw = 'ToolResult'") == 8
    slow = robust.rows(f"SELECT {columns}, attrs FROM events ORDER BY stream, seq")
    assert [{**r, "attrs": json.loads(r["attrs"])} for r in fast] == [
        {**r, "attrs": json.loads(r["attrs"])} for r in slow]


def test_legacy_deepseek_folder_is_claimed(ingest_into, tmp_path):
    legacy = tmp_path / "old" / ".deepseek"
    legacy.mkdir(parents=True)
    shutil.copy(EVENTS, legacy / "events.jsonl")
    result = ingest_into(tmp_path / "old")
    assert result.summary.unclaimed == []
    assert result.scalar("SELECT count(*) FROM events WHERE project = 'old'") == 10


@pytest.mark.parametrize(("content", "blank"), [
    (b"a\nb\n", False), (b"a\nb", False), (b"a\r\nb\r\n", False), (b"a\nb\n\n", False),
    (b"a\n\nb\n", True), (b"\na\n", True), (b"a\r\n\r\nb", True), (b"", False),
])
def test_blank_line_detection(tmp_path, content, blank):
    path = tmp_path / "events.jsonl"
    path.write_bytes(content)
    assert has_blank_lines(path) is blank


def _reader(result) -> str:
    return json.loads(result.scalar("SELECT facts FROM _loads"))["reader"]


def test_big_file_keeps_line_numbers_through_the_parallel_reader(ingest_into, tmp_path):
    """~40 MB: the JSON reader splits it into buffers parsed in parallel, yet record_no = line."""
    pad = "p" * 300
    lines = [
        f'{{"seq_no":{n},"at":"2026-03-01T09:00:00Z","session_id":"s",'
        f'"kind":{{"type":"ChatTurn","payload":{{"message":{{"role":"user","content":"{pad}"}}}}}}}}'
        for n in range(1, 100_001)
    ]
    result = ingest_into(_workspace(tmp_path, lines))
    assert _reader(result) == "vectorized"
    assert result.scalar("SELECT count(*) FROM events") == 100_000
    assert result.scalar("SELECT count(*) FROM events WHERE record_no <> seq") == 0


def test_a_record_too_big_for_the_json_reader_loads_line_by_line(ingest_into, tmp_path):
    good = EVENTS.read_text().splitlines()
    huge = json.dumps({"seq_no": 99, "at": "2026-03-01T09:20:00Z", "session_id": SESSION_A,
                       "kind": {"type": "TurnAdded", "payload": {"role": "tool",
                                                                 "content": "x" * 40_000_000}}})
    result = ingest_into(_workspace(tmp_path, [*good, huge]))
    assert _reader(result) == "line by line (a line the JSON reader refused)"
    assert result.scalar("SELECT count(*) FROM events") == 11
    assert result.scalar("SELECT length(attrs->>'$.kind.payload.content') FROM events "
                         "WHERE seq = 99") == 40_000_000


@pytest.mark.parametrize("damaged", [False, True], ids=["vectorized", "line_by_line"])
def test_seq_no_beyond_bigint_is_quarantined(ingest_into, tmp_path, damaged):
    good = EVENTS.read_text().splitlines()
    huge = '{"seq_no":18446744073709551615,"at":"2026-03-01T09:15:01Z","session_id":"s",' \
           '"kind":{"type":"X"}}'
    result = ingest_into(_workspace(tmp_path, [good[0], huge, *(["{"] if damaged else [])]))
    reasons = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert reasons[0] == {"record_no": 2,
                          "reason": "seq_no beyond the 64-bit signed range of seq"}
    assert result.scalar("SELECT count(*) FROM events") == 1
