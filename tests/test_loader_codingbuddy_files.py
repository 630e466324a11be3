"""CodingBuddy observe.log, patches/<id>.json (+ .diff) and snapshots/<uuid>.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from conftest import FIXTURES

RUNTIME = FIXTURES / "codingbuddy" / "ws" / ".codingbuddy"
PATCH_ID = "01955a31-0b2c-7d4e-8f00-1a2b3c4d5e6f"


def test_observe_log_rate_limits(ingest_into):
    result = ingest_into(RUNTIME / "observe.log")
    assert result.summary.files[0].loader == "codingbuddy.observe_log"
    types = [r["event_type"] for r in result.rows("SELECT event_type FROM events ORDER BY ts")]
    assert types == ["log", "llm.rate_limited", "llm.rate_limited", "error"]
    row = result.rows("SELECT * FROM events WHERE record_no = 2")[0]
    assert {k: row[k] for k in (
        "ts", "ts_raw", "ts_quality", "stream", "position", "project", "event_type",
        "event_type_raw", "severity", "outcome", "error_code", "message", "source")} == {
        "ts": datetime(2026, 3, 1, 9, 15, 3, 1, tzinfo=UTC),
        "ts_raw": "2026-03-01T09:15:03.000001+00:00",
        "ts_quality": "exact",
        "stream": "observe.log",
        "position": 2,
        "project": "ws",
        "event_type": "llm.rate_limited",
        "event_type_raw": "WARN",
        "severity": "warning",
        "outcome": "error",
        "error_code": "rate_limited",
        "message": "llm request failed: HTTP 429 Too Many Requests, retrying in 2s",
        "source": "observe_log",
    }


def test_observe_log_bad_lines_and_embedded_event(ingest_into, tmp_path):
    folder = tmp_path / "w" / ".codingbuddy"
    folder.mkdir(parents=True)
    envelope = {"seq_no": 3, "at": "2026-03-01T09:00:00Z", "session_id": "s1",
                "kind": {"type": "ToolApproved", "payload": {"invocation_id": "i"}}}
    (folder / "observe.log").write_text(
        "2026-03-01T09:00:00+00:00 WARN fine\r\n"
        "garbage without a timestamp\n"
        f"2026-03-01T09:00:01+00:00 EVENT {json.dumps(envelope)}\n"
        "2026-13-45T99:00:00+00:00 WARN impossible date\n"
    )
    result = ingest_into(folder / "observe.log")
    assert result.rows("SELECT record_no FROM _load_warnings ORDER BY 1") == [
        {"record_no": 2}, {"record_no": 4}]
    event = result.rows("SELECT * FROM events WHERE event_type_raw = 'ToolApproved'")[0]
    assert (event["event_type"], event["stream"]) == ("tool.approved", "s1")
    assert result.scalar("SELECT message FROM events WHERE record_no = 1") == "fine"


def test_patch_conflict(ingest_into):
    result = ingest_into(RUNTIME / "patches")
    loaders = sorted(f.loader for f in result.summary.files)
    assert loaders == ["codingbuddy.patch", "codingbuddy.patch_diff"]
    events = result.rows("SELECT * FROM events ORDER BY position")
    assert [e["event_type"] for e in events] == ["patch.staged", "patch.applied"]
    staged, applied = events
    assert staged["ts"] == datetime(2026, 3, 1, 9, 16, 40, 551203, tzinfo=UTC)
    assert (staged["stream"], staged["correlation_id"], staged["name"]) == (
        PATCH_ID, PATCH_ID, "src/lib.rs")
    assert (applied["outcome"], applied["error_code"], applied["ts_quality"]) == (
        "error", "patch_conflict", "derived")
    assert applied["message"].startswith("apply failed after 2 attempt(s): base-sha mismatch")
    patch = result.rows("SELECT * FROM codingbuddy_patches")[0]
    assert (patch["base_drift"], patch["apply_attempts"], patch["applied"]) == (True, 2, False)
    facts = json.loads(result.scalar(
        "SELECT facts FROM _loads WHERE loader = 'codingbuddy.patch_diff'"))
    assert facts["files"] == ["src/lib.rs"]


def test_snapshot(ingest_into):
    result = ingest_into(RUNTIME / "snapshots")
    (row,) = result.rows("SELECT * FROM events")
    assert (row["event_type"], row["name"], row["correlation_id"], row["message"]) == (
        "snapshot", "fs.edit", "call_0001", "fs.edit: 1 file(s) changed src/lib.rs")


def test_malformed_json_documents_are_quarantined(ingest_into, tmp_path):
    runtime = tmp_path / "w" / ".codingbuddy"
    (runtime / "patches").mkdir(parents=True)
    (runtime / "snapshots").mkdir()
    (runtime / "patches" / "bad.json").write_text('{"patch_id": ')
    (runtime / "snapshots" / "bad.json").write_text('{"id": "x"}')
    result = ingest_into(runtime)
    reasons = sorted(r["reason"].split(" (")[0] for r in result.rows(
        "SELECT reason FROM _load_warnings"))
    assert reasons == ["not a PatchSet JSON object", "not a step snapshot JSON object"]
    assert result.scalar("SELECT count(*) FROM events") == 0
