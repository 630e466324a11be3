"""coding-loops files: health.json, test-state.json, loop transcripts, unified.jsonl."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from conftest import FIXTURES

LOOPS = FIXTURES / "coding_loops"
SPECS = Path("loop-1-critical-path/specs")
TRANSCRIPTS = SPECS / "logs/transcripts"
EVENT_SQL = (
    "SELECT record_no, ts, ts_raw, ts_quality, stream, seq, position, project, correlation_id, "
    "event_type, event_type_raw, actor, name, outcome, severity, duration_ms, message, "
    "error_code, error_category, is_mirror, system, source FROM events "
)


def evidence(tmp_path: Path, *relative: Path) -> list[Path]:
    """Copy fixture files (keeping their loop-*/... folders) into tmp_path/evidence."""
    copies = []
    for rel in relative:
        target = tmp_path / "evidence" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(LOOPS / rel, target)
        copies.append(target)
    return copies


def mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def test_health_json(ingest_into, tmp_path: Path) -> None:
    (path,) = evidence(tmp_path, SPECS / "health.json")
    result = ingest_into(path)
    assert result.summary.files[0].loader == "coding_loops.health_json"
    assert result.rows(EVENT_SQL) == [
        {
            "record_no": 1,
            "ts": datetime(2026, 1, 6, 21, 5, 4, 586521, tzinfo=UTC),
            "ts_raw": "2026-01-06T21:05:04.586521Z",
            "ts_quality": "exact",
            "stream": "loop-1-critical-path",
            "seq": None,
            "position": 1,
            "project": "loop-1-critical-path",
            "correlation_id": None,
            "event_type": "heartbeat",
            "event_type_raw": "health.json",
            "actor": "loop-1-critical-path",
            "name": "CP-UFS-002",
            "outcome": None,
            "severity": "info",
            "duration_ms": None,
            "message": "Loop 1: Critical Path (UFS -> Spec -> Build) running CP-UFS-002 "
            "(1/45 passed)",
            "error_code": None,
            "error_category": None,
            "is_mirror": False,
            "system": "coding_loops",
            "source": "health_json",
        }
    ]
    metrics = result.rows("SELECT name, value FROM metrics ORDER BY name")
    assert metrics == [
        {"name": "tests_passed", "value": 1.0},
        {"name": "tests_total", "value": 45.0},
    ]


def test_health_json_malformed(ingest_into, tmp_path: Path) -> None:
    folder = tmp_path / "loop-2-infra" / "specs"
    folder.mkdir(parents=True)
    broken = folder / "health.json"
    broken.write_text('{"loop_name": "Loop 2", "last_heartbeat": "2026-01-06T21:05:04Z", ')
    result = ingest_into(broken, loader="coding_loops.health_json")
    assert result.rows("SELECT record_no FROM _load_warnings") == [{"record_no": 1}]
    stale = tmp_path / "other" / "loop-3" / "specs" / "health.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(
        json.dumps({"loop_name": "Loop 3", "status": "error", "last_heartbeat": "soon"})
    )
    result = ingest_into(stale)
    reason = result.scalar("SELECT reason FROM _load_warnings WHERE source_path LIKE '%loop-3%'")
    assert reason == "last_heartbeat missing or not parseable: 'soon'"


def test_test_state(ingest_into, tmp_path: Path) -> None:
    (path,) = evidence(tmp_path, SPECS / "test-state.json")
    result = ingest_into(path)
    outcome = result.summary.files[0]
    assert (outcome.records_read, outcome.event_rows, outcome.metric_rows) == (3, 3, 5)
    assert outcome.table_rows == {"coding_loops_test_state": 3}
    blocked = result.rows(EVENT_SQL + "WHERE name = 'CP-SPEC-001'")
    assert blocked == [
        {
            "record_no": 2,
            "ts": datetime(2026, 1, 6, 21, 1, tzinfo=UTC),
            "ts_raw": "2026-01-06T21:01:00Z",
            "ts_quality": "exact",
            "stream": "loop-1-critical-path",
            "seq": None,
            "position": 2,
            "project": "loop-1-critical-path",
            "correlation_id": None,
            "event_type": "test.attempt",
            "event_type_raw": "test-state.lastAttemptAt",
            "actor": None,
            "name": "CP-SPEC-001",
            "outcome": "error",
            "severity": "error",
            "duration_ms": None,
            "message": "CP-SPEC-001 blocked after 3 attempt(s)",
            "error_code": "blocked",
            "error_category": None,
            "is_mirror": False,
            "system": "coding_loops",
            "source": "test_state",
        }
    ]
    passed = result.rows(EVENT_SQL + "WHERE event_type = 'test.pass'")[0]
    assert passed["ts"] == datetime(2026, 1, 6, 20, 41, 12, 500000, tzinfo=UTC)
    state = result.rows(
        "SELECT test_id, status, attempts, automatable, depends_on "
        "FROM coding_loops_test_state ORDER BY test_id"
    )
    assert state[0] == {
        "test_id": "CP-SPEC-001",
        "status": "blocked",
        "attempts": 3,
        "automatable": True,
        "depends_on": "CP-UFS-001",
    }
    metrics = {r["name"]: r["value"] for r in result.rows("SELECT name, value FROM metrics")}
    assert metrics == {
        "tests_total": 3,
        "tests_passed": 1,
        "tests_failed": 0,
        "tests_blocked": 1,
        "tests_pending": 1,
    }


def test_test_state_malformed(ingest_into, tmp_path: Path) -> None:
    doc = json.loads((LOOPS / SPECS / "test-state.json").read_text())
    doc["tests"].append({"category": "ufs", "lastResult": "fail"})
    doc["tests"].append("CP-X-001")
    doc["tests"][0]["lastAttemptAt"] = "not a time"
    path = tmp_path / "loop-9" / "specs" / "test-state.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    result = ingest_into(path)
    assert result.rows("SELECT record_no FROM _load_warnings ORDER BY 1") == [
        {"record_no": 4},
        {"record_no": 5},
    ]
    bad_time = result.rows(
        "SELECT ts, ts_raw, ts_quality FROM events "
        "WHERE name = 'CP-UFS-001' AND event_type = 'test.attempt'"
    )
    assert bad_time == [{"ts": None, "ts_raw": "not a time", "ts_quality": "missing"}]


def test_attempt_transcript(ingest_into, tmp_path: Path) -> None:
    (path,) = evidence(tmp_path, TRANSCRIPTS / "CP-UFS-002/attempt-1.log")
    result = ingest_into(path)
    outcome = result.summary.files[0]
    assert (outcome.loader, outcome.records_read, outcome.event_rows) == (
        "coding_loops.transcript",
        12,
        8,
    )
    rows = result.rows(EVENT_SQL + "ORDER BY position")
    assert [r["event_type"] for r in rows] == [
        "chat.turn",
        "tool.call",
        "tool.result",
        "tool.call",
        "tool.result",
        "chat.turn",
        "test.fail",
        "session.end",
    ]
    assert rows[4] == {
        "record_no": 8,
        "ts": mtime(path),
        "ts_raw": None,
        "ts_quality": "derived",
        "stream": "CP-UFS-002/attempt-1",
        "seq": None,
        "position": 8,
        "project": "loop-1-critical-path",
        "correlation_id": "CP-UFS-002/attempt-1:tool-2",
        "event_type": "tool.result",
        "event_type_raw": "error",
        "actor": None,
        "name": "Bash",
        "outcome": "error",
        "severity": "error",
        "duration_ms": None,
        "message": "[Error] Command failed with exit code 1: FAIL server/routes/ideation.test.ts",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "system": "coding_loops",
        "source": "loop_transcript",
    }
    assert rows[3]["correlation_id"] == rows[4]["correlation_id"]
    call = json.loads(result.scalar("SELECT attrs FROM events WHERE position = 6"))
    assert (
        call["input"] == "{'command': 'npm test -- ideation'}" and call["test_id"] == "CP-UFS-002"
    )
    blocked = rows[6]
    assert (blocked["name"], blocked["error_code"]) == ("CP-UFS-002", "blocked")
    text = json.loads(result.scalar("SELECT attrs FROM events WHERE position = 1"))
    assert text["text"] == "I'll start by reading the spec.\nThe spec lives in server/routes."


def test_global_transcript(ingest_into, tmp_path: Path) -> None:
    (path,) = evidence(tmp_path, TRANSCRIPTS / "global-transcript.log")
    result = ingest_into(path)
    outcome = result.summary.files[0]
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (19, 12, 0)
    rows = result.rows(EVENT_SQL + "ORDER BY position")
    headers = [r for r in rows if r["event_type"] == "test.attempt"]
    assert [h["name"] for h in headers] == ["CP-UFS-001", "CP-UFS-002"]
    assert {r["stream"] for r in rows} == {"global-transcript"}
    calls = [r["correlation_id"] for r in rows if r["event_type"].startswith("tool.")]
    assert calls == ["global-transcript#1:tool-1"] * 2 + ["global-transcript#2:tool-1"] * 2
    error = next(r for r in rows if r["event_type"] == "error")
    assert error["message"].startswith("Error during session: TimeoutError")
    assert (
        json.loads(result.scalar(f"SELECT attrs FROM events WHERE position = {error['position']}"))[
            "test_id"
        ]
        == "CP-UFS-002"
    )
    assert [r["name"] for r in rows if r["event_type"] == "test.pass"] == ["CP-UFS-001"]


def test_unified_transcript(ingest_into, tmp_path: Path) -> None:
    (path,) = evidence(tmp_path, Path("transcripts/exec-9f1b/unified.jsonl"))
    result = ingest_into(path)
    rows = result.rows(EVENT_SQL + "ORDER BY seq")
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[2] == {
        "record_no": 3,
        "ts": datetime(2026, 1, 16, 11, 16, 46, 527922, tzinfo=UTC),
        "ts_raw": "2026-01-16T11:16:46.527922Z",
        "ts_quality": "exact",
        "stream": "exec-9f1b",
        "seq": 3,
        "position": 3,
        "project": None,
        "correlation_id": "task-12",
        "event_type": "tool.call",
        "event_type_raw": "tool_use",
        "actor": "inst-07",
        "name": "Read",
        "outcome": None,
        "severity": "info",
        "duration_ms": 41.0,
        "message": "Tool: Read",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "system": "coding_loops",
        "source": "unified_transcript",
    }
    assert (rows[3]["event_type"], rows[3]["error_code"]) == ("error", "build_failed")
    assert (rows[4]["event_type"], rows[4]["outcome"]) == ("task.end", "error")


def test_unified_transcript_malformed(ingest_into, tmp_path: Path) -> None:
    good = (LOOPS / "transcripts/exec-9f1b/unified.jsonl").read_text().splitlines()
    bad_time = json.loads(good[1]) | {"timestamp": "later"}
    no_type = {k: v for k, v in json.loads(good[2]).items() if k != "entry_type"}
    lines = [good[0], "{oops", json.dumps(bad_time), "", json.dumps(no_type), "42", good[4]]
    path = tmp_path / "transcripts" / "exec-1" / "unified.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    result = ingest_into(path)
    assert result.scalar("SELECT count(*) FROM events") == 2
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert [w["record_no"] for w in warnings] == [2, 3, 5, 6]
    assert warnings[0]["reason"].startswith("malformed JSON: ")  # the shared JSON Lines reader
    assert [w["reason"] for w in warnings[1:]] == [
        "line 3: timestamp not parseable: 'later'",
        "line 5: entry_type missing",
        "not a JSON object",
    ]


def test_reingest_is_idempotent(ingest_into, tmp_path: Path) -> None:
    copies = evidence(
        tmp_path,
        SPECS / "health.json",
        SPECS / "test-state.json",
        TRANSCRIPTS / "CP-UFS-002/attempt-1.log",
        TRANSCRIPTS / "global-transcript.log",
        Path("transcripts/exec-9f1b/unified.jsonl"),
    )
    first = ingest_into(tmp_path / "evidence")
    assert len(first.summary.files) == len(copies)
    assert {f.status for f in first.summary.files} == {"loaded"}
    events = first.scalar("SELECT count(*) FROM events")
    second = ingest_into(tmp_path / "evidence")
    assert {f.status for f in second.summary.files} == {"unchanged"}
    assert second.scalar("SELECT count(*) FROM events") == events
    assert second.scalar("SELECT count(*) FROM coding_loops_test_state") == 3
