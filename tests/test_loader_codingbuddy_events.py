"""CodingBuddy events.jsonl: taxonomy, interleaved sessions, quarantine with exact lines."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

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
    assert _reader(result) == "vectorized"
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


def test_semantic_errors_are_quarantined_with_their_exact_line(ingest_into, tmp_path):
    """Valid JSON everywhere but one record lacks its session: the quarantined raw is the line
    itself, not a rebuild."""
    good = EVENTS.read_text().splitlines()
    bad = '{"seq_no": 9, "at": "2026-03-01T09:15:01Z", "kind": {"type": "X"}}'
    path = _workspace(tmp_path, [good[0], bad, good[2]])
    result = ingest_into(path)
    assert _reader(result) == "vectorized"
    assert result.summary.files[0].quarantined == 1
    assert result.rows("SELECT record_no, reason FROM _load_warnings") == [
        {"record_no": 2, "reason": "session_id missing"}]
    assert result.scalar("SELECT raw FROM _load_warnings") == bad
    assert result.scalar("SELECT max(record_no) FROM events") == 3


def test_blank_lines_keep_line_numbers_and_paths_agree(ingest_into, tmp_path):
    """A blank line moves the line numbers after it and changes no value."""
    plain = _workspace(tmp_path / "a", EVENTS.read_text().splitlines())
    lines = EVENTS.read_text().splitlines()
    spaced = _workspace(tmp_path / "b", [*lines[:3], "", *lines[3:]])
    columns = "stream, seq, ts, event_type, outcome, severity, message, error_code, correlation_id"
    fast = ingest_into(plain, db=tmp_path / "a.duckdb").rows(
        f"SELECT {columns}, attrs FROM events ORDER BY stream, seq")
    robust = ingest_into(spaced, db=tmp_path / "b.duckdb")
    assert _reader(robust) == "vectorized"
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


def _reader(result) -> str:
    return json.loads(result.scalar("SELECT facts FROM _loads"))["reader"]


def test_big_file_keeps_line_numbers_through_the_parallel_reader(ingest_into, tmp_path):
    """~40 MB: read in several blocks whose rows are parsed in parallel, yet record_no = line."""
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


def test_a_record_bigger_than_a_read_block_loads_whole(ingest_into, tmp_path):
    good = EVENTS.read_text().splitlines()
    huge = json.dumps({"seq_no": 99, "at": "2026-03-01T09:20:00Z", "session_id": SESSION_A,
                       "kind": {"type": "TurnAdded", "payload": {"role": "tool",
                                                                 "content": "x" * 40_000_000}}})
    result = ingest_into(_workspace(tmp_path, [*good, huge]))
    assert _reader(result) == "vectorized"
    assert result.scalar("SELECT count(*) FROM events") == 11
    assert result.scalar("SELECT length(attrs->>'$.kind.payload.content') FROM events "
                         "WHERE seq = 99") == 40_000_000


@pytest.mark.parametrize("damaged", [False, True], ids=["alone", "with a malformed line"])
def test_seq_no_beyond_bigint_is_quarantined(ingest_into, tmp_path, damaged):
    good = EVENTS.read_text().splitlines()
    huge = '{"seq_no":18446744073709551615,"at":"2026-03-01T09:15:01Z","session_id":"s",' \
           '"kind":{"type":"X"}}'
    result = ingest_into(_workspace(tmp_path, [good[0], huge, *(["{"] if damaged else [])]))
    reasons = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert reasons[0] == {"record_no": 2,
                          "reason": "seq_no beyond the 64-bit signed range of seq"}
    assert result.scalar("SELECT count(*) FROM events") == 1


def _bytes_workspace(tmp_path: Path, data: bytes) -> Path:
    folder = tmp_path / "raw" / ".codingbuddy"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_bytes(data)
    return folder / "events.jsonl"


GOOD = EVENTS.read_bytes().splitlines()


@pytest.mark.parametrize("name, damage, bad_line, reason", [
    ("invalid UTF-8", lambda line: line[:-2] + b"\xff\xfe" + line[-2:], 3, "malformed JSON"),
    ("lone surrogate", lambda line: line.replace(b'"type":', b'"x":"\\ud800","type":', 1), 3,
     "malformed JSON"),
    ("seq_no beyond 64 bits", lambda line: b'{"seq_no": 1180591620717411303424' + line[line.index(b","):],
     3, "seq_no missing or not an unsigned integer"),
])
def test_one_bad_line_loses_only_itself(ingest_into, tmp_path, name, damage, bad_line, reason):
    lines = list(GOOD)
    lines[2] = damage(lines[2])
    result = ingest_into(_bytes_workspace(tmp_path, b"\n".join(lines) + b"\n"))
    (outcome,) = result.summary.files
    assert outcome.status == "loaded", outcome.message
    warnings = result.rows("SELECT record_no, reason, raw FROM _load_warnings")
    assert outcome.event_rows == len(GOOD) - 1
    assert [(w["record_no"], w["reason"].split(":")[0]) for w in warnings] == [(bad_line, reason)]
    assert warnings[0]["raw"] == lines[2].decode("utf-8", "backslashreplace")


@pytest.mark.parametrize("at", [b"infinity", b"-infinity", b"epoch", b"1969-12-31T23:59:59Z",
                                b"2026-03-01T09:15:00+99:99", b"99999-01-01T00:00:00Z"])
def test_times_no_analysis_can_hold_are_missing_with_a_reason(ingest_into, tmp_path, at):
    lines = list(GOOD)
    lines[2] = lines[2].replace(b'"at":"2026-03-01T09:15:01.481516Z"', b'"at":"' + at + b'"')
    result = ingest_into(_bytes_workspace(tmp_path, b"\n".join(lines) + b"\n"))
    (outcome,) = result.summary.files
    row = result.rows("SELECT ts, ts_quality, ts_raw FROM events WHERE record_no = 3")
    quarantined = result.rows("SELECT record_no FROM _load_warnings")
    if quarantined:  # not parseable at all: the loader's own reason
        assert quarantined == [{"record_no": 3}]
        return
    assert row == [{"ts": None, "ts_quality": "missing", "ts_raw": at.decode()}]
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["times_not_usable"]["count"] == 1 and facts["times_not_usable"]["record_no"] == 3
    result.rows("SELECT * FROM events")  # every value converts: analysis keeps working
    assert outcome.ts_max == "2026-03-01T09:15:08+00:00"


@pytest.mark.parametrize("filler", [b"   ", b"\r", b"\t \r"])
def test_whitespace_lines_keep_line_numbers(ingest_into, tmp_path, filler):
    data = b"\n".join([GOOD[0], filler, *GOOD[1:]]) + b"\n"
    result = ingest_into(_bytes_workspace(tmp_path, data))
    numbers = [r["record_no"] for r in result.rows("SELECT record_no FROM events ORDER BY record_no")]
    assert numbers == [1, *range(3, len(GOOD) + 2)]


def test_attrs_keep_every_top_level_key_and_bom_is_not_a_record(ingest_into, tmp_path):
    first = GOOD[0][:-1] + b',"trace_id":"t-1"}'
    data = b"\xef\xbb\xbf" + b"\n".join([first, *GOOD[1:]]) + b"\n"
    result = ingest_into(_bytes_workspace(tmp_path, data))
    assert result.summary.files[0].quarantined == 0
    attrs = json.loads(result.scalar("SELECT attrs FROM events WHERE record_no = 1"))
    assert attrs["trace_id"] == "t-1" and attrs["kind"] == json.loads(GOOD[0])["kind"]


def test_valid_compact_file_stays_on_the_vectorized_path(ingest_into, tmp_path):
    compact = [json.dumps(json.loads(line), separators=(",", ":")).encode() for line in GOOD]
    result = ingest_into(_bytes_workspace(tmp_path, b"\n".join(compact) + b"\n"))
    assert _reader(result) == "vectorized"
    assert json.loads(result.scalar("SELECT attrs FROM events WHERE record_no = 2")) == json.loads(
        compact[1])


@pytest.mark.parametrize("bad", [False, True], ids=["clean", "one bad line"])
def test_the_file_is_read_again_only_for_bad_records(ingest_into, tmp_path, monkeypatch, bad):
    from incidentlab.loaders.reading import LineBlocks

    reads = []
    reader = LineBlocks.reader
    monkeypatch.setattr(LineBlocks, "reader",
                        lambda self, *a, **k: reads.append(1) or reader(self, *a, **k))
    lines = EVENTS.read_text().splitlines()
    result = ingest_into(_workspace(tmp_path, [*lines, *(["{"] if bad else [])]))
    assert len(reads) == (2 if bad else 1)
    outcome = result.summary.files[0]
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (
        len(lines) + bad, len(lines), int(bad))


@pytest.mark.parametrize("duration", ['"fast"', '{"a": 1}', "1e400", "[5]"])
def test_a_duration_that_is_not_a_number_fails_nothing(ingest_into, tmp_path, duration):
    """The value is not a duration (duration_ms NULL) and stays in attrs; the file loads."""
    lines = EVENTS.read_text().splitlines()
    odd = ('{"seq_no": 99, "at": "2026-03-01T09:20:00Z", "session_id": "s", "kind": {"type": '
           f'"HookExecuted", "payload": {{"duration_ms": {duration}, "success": true}}}}}}')
    result = ingest_into(_workspace(tmp_path, [*lines, odd]))
    outcome = result.summary.files[0]
    assert (outcome.status, outcome.event_rows, outcome.quarantined) == ("loaded", 11, 0)
    row = result.rows("SELECT duration_ms, outcome, attrs FROM events WHERE seq = 99")[0]
    assert (row["duration_ms"], row["outcome"]) == (None, "ok")
    assert json.loads(row["attrs"])["kind"]["payload"]["duration_ms"] == json.loads(duration)


@pytest.mark.parametrize("lead", [b"\t", b" \t ", b"\r"])
def test_a_record_led_by_json_whitespace_is_an_event(ingest_into, tmp_path, lead):
    """JSON allows space, tab, CR and LF before a value: such a line is a record, not a reject."""
    data = b"\n".join([GOOD[0], lead + GOOD[1], *GOOD[2:]]) + b"\n"
    result = ingest_into(_bytes_workspace(tmp_path, data))
    outcome = result.summary.files[0]
    assert (outcome.event_rows, outcome.quarantined) == (len(GOOD), 0)
    assert result.scalar("SELECT attrs FROM events WHERE record_no = 2") == (
        lead + GOOD[1]).decode()
