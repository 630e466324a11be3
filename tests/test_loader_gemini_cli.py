"""Gemini CLI chat sessions and prompt log: turns, tool calls with results, tokens, mirrors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.gemini_cli import GeminiSessionLoader

from conftest import FIXTURES

FOLDER = FIXTURES / "gemini_cli"
SESSION_FILE = FOLDER / "session-2026-01-16T11-01-file-ops-37b7abef.json"
LOGS = FOLDER / "logs.json"
SESSION = "37b7abef-713d-4522-85f0-8ff15a4e6d17"


def test_counts_and_types(ingest_into):
    result = ingest_into(FOLDER)
    loads = {Path(f.path).name: (f.records_read, f.event_rows, f.metric_rows)
             for f in result.summary.files}
    assert loads == {"logs.json": (3, 3, 0), SESSION_FILE.name: (9, 35, 30)}
    types = dict(result.con.execute(
        "SELECT event_type, count(*) FROM events WHERE stream = ? GROUP BY 1", [SESSION]
    ).fetchall())
    assert types == {"session.start": 1, "chat.turn": 8, "model.change": 1, "llm.usage": 5,
                     "tool.call": 10, "tool.result": 10}


def test_tool_result_row_fully_specified(ingest_into):
    result = ingest_into(SESSION_FILE)
    (row,) = result.rows(
        "SELECT * FROM events WHERE record_no = 7 AND event_type = 'tool.result'")
    assert row["event_id"].endswith(":7:result0")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "gemini_cli",
        "source": "session_json",
        "source_path": str(SESSION_FILE.resolve()),
        "record_no": 7,
        "ts": datetime(2026, 1, 16, 12, 33, 42, 757000, tzinfo=UTC),
        "ts_raw": "2026-01-16T12:33:42.757Z",
        "ts_quality": "exact",
        "stream": SESSION,
        "seq": None,
        "position": 7,
        "project": "907f20644716c92a8309a8b7c1ceec79d422233ff220b7fdb8772b360bd8273f",
        "correlation_id": "write_file-1768566819675-5726cf966781a",
        "event_type": "tool.result",
        "event_type_raw": "toolCall.success",
        "actor": "tool",
        "name": "write_file",
        "outcome": "ok",
        "severity": "info",
        "duration_ms": None,
        "message": row["message"],
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert "Successfully created and wrote to new file" in row["message"]
    assert json.loads(row["attrs"])["displayName"] == "WriteFile"


def test_tokens_go_to_metrics(ingest_into):
    result = ingest_into(SESSION_FILE)
    totals = dict(result.con.execute("SELECT name, sum(value) FROM metrics GROUP BY 1").fetchall())
    assert totals == {"input_tokens": 42262, "output_tokens": 1382, "cache_read_tokens": 23679,
                      "thoughts_tokens": 2383, "tool_tokens": 0, "total_tokens": 46027}
    labels = json.loads(result.scalar("SELECT labels FROM metrics LIMIT 1"))
    assert labels == {"model": "gemini-3-pro"}


def test_prompt_log_rows_are_mirrors(ingest_into):
    result = ingest_into(LOGS)
    rows = result.rows("SELECT stream, actor, is_mirror, seq, message FROM events ORDER BY 1, seq")
    assert rows[0] == {"stream": "5b959dae-8655-4cd1-b10f-720b8c336ea2", "actor": "user",
                       "is_mirror": True, "seq": 0, "message": "hi"}
    assert len(rows) == 3


def test_malformed_messages_quarantined(ingest_into, tmp_path: Path):
    doc = json.loads(SESSION_FILE.read_text())
    doc["messages"].insert(1, "not a message")
    doc["messages"].insert(2, {"id": "x"})
    bad = tmp_path / "session-2026-01-16T11-01-bad.json"
    bad.write_text(json.dumps(doc))
    broken = tmp_path / "session-2026-01-16T11-02-broken.json"
    broken.write_text('{"sessionId": "s", "projectHash": "p", "messages": [')
    result = ingest_into(bad, broken)
    warnings = result.rows("SELECT source_path, record_no, reason FROM _load_warnings "
                           "ORDER BY source_path, record_no")
    assert [(Path(w["source_path"]).name, w["record_no"]) for w in warnings] == [
        (bad.name, 2), (bad.name, 3), (broken.name, None)]
    assert warnings[0]["reason"] == "message is not an object with a string 'type'"
    assert warnings[2]["reason"].startswith("not a JSON document: malformed JSON")
    assert {f.status for f in result.summary.files} == {"loaded"}


def test_second_ingest_is_unchanged(ingest_into, tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    ingest_into(SESSION_FILE, db=db)
    again = ingest_into(SESSION_FILE, db=db)
    assert again.summary.files[0].status == "unchanged"
    assert again.scalar("SELECT count(*) FROM events") == 35


def test_detect(tmp_path: Path):
    loader = GeminiSessionLoader()
    assert loader.detect(SESSION_FILE, read_head(SESSION_FILE))
    assert loader.detect(LOGS, read_head(LOGS))
    other = tmp_path / "session-1.json"
    other.write_text('{"id": 1, "messages": []}')
    assert not loader.detect(other, read_head(other))
    elsewhere = tmp_path / "chat.json"
    elsewhere.write_bytes(SESSION_FILE.read_bytes())
    assert not loader.detect(elsewhere, read_head(elsewhere))
