"""mini-swe-agent trajectories: message list, bash commands paired with return codes, no times."""

from __future__ import annotations

import json
from pathlib import Path

from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.mini_swe_agent import MiniSweAgentLoader

from conftest import FIXTURES

TRAJ = FIXTURES / "mini_swe_agent" / "github_issue.traj.json"


def test_counts_and_pairing(ingest_into):
    result = ingest_into(TRAJ)
    outcome = result.summary.files[0]
    assert (outcome.loader, outcome.records_read, outcome.event_rows) == (
        "mini_swe_agent.traj_json", 22, 41)
    types = dict(result.con.execute(
        "SELECT event_type, count(*) FROM events GROUP BY 1").fetchall())
    assert types == {"chat.turn": 22, "tool.call": 10, "tool.result": 9}
    failures = result.rows(
        "SELECT c.message AS command, r.error_code FROM events c JOIN events r "
        "ON r.correlation_id = c.correlation_id AND r.event_type = 'tool.result' "
        "WHERE c.event_type = 'tool.call' AND r.outcome = 'error' ORDER BY c.position")
    assert [f["error_code"] for f in failures] == ["returncode 1", "returncode 1"]
    # The last command (submission) has no result in the file.
    assert result.scalar(
        "SELECT count(*) FROM events c WHERE event_type = 'tool.call' AND NOT EXISTS ("
        "SELECT 1 FROM events r WHERE r.event_type = 'tool.result' "
        "AND r.correlation_id = c.correlation_id)") == 1


def test_tool_result_row_fully_specified(ingest_into):
    result = ingest_into(TRAJ)
    row = result.rows("SELECT * FROM events WHERE event_type = 'tool.result' "
                      "ORDER BY position LIMIT 1")[0]
    assert row["event_id"].endswith(":4:result")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "mini_swe_agent",
        "source": "traj_json",
        "source_path": str(TRAJ.resolve()),
        "record_no": 4,
        "ts": None,
        "ts_raw": None,
        "ts_quality": "missing",
        "stream": "github_issue",
        "seq": None,
        "position": 4,
        "project": None,
        "correlation_id": "github_issue:step-1",
        "event_type": "tool.result",
        "event_type_raw": "user",
        "actor": "environment",
        "name": None,
        "outcome": "error",
        "severity": "warning",
        "duration_ms": None,
        "message": "<returncode>1</returncode> <output> cat: /Users/fuchur/Documents/24/git_sync/"
                   "swe-agent-test-repo/tests/./missing_colon.py: No such file or directory "
                   "</output>",
        "error_code": "returncode 1",
        "error_category": None,
        "is_mirror": False,
        "attrs": '{"returncode": 1}',
    }


def test_newer_object_format_with_info(ingest_into, tmp_path: Path):
    messages = json.loads(TRAJ.read_text())[:4]
    doc = {"info": {"exit_status": "Submitted", "model_stats": {"instance_cost": 0.5,
                                                                "api_calls": 3}},
           "messages": messages, "trajectory_format": "mini-swe-agent-1"}
    path = tmp_path / "task.traj.json"
    path.write_text(json.dumps(doc))
    result = ingest_into(path)
    end = result.rows("SELECT name, outcome, position FROM events WHERE event_type = 'run.end'")
    assert end == [{"name": "Submitted", "outcome": "ok", "position": 5}]
    assert dict(result.con.execute("SELECT name, value FROM metrics").fetchall()) == {
        "cost": 0.5, "api_calls": 3}


def test_malformed_messages_quarantined(ingest_into, tmp_path: Path):
    messages = json.loads(TRAJ.read_text())
    messages.insert(2, {"content": "no role"})
    path = tmp_path / "bad.traj.json"
    path.write_text(json.dumps(messages))
    result = ingest_into(path)
    assert result.rows("SELECT record_no, reason FROM _load_warnings") == [
        {"record_no": 3, "reason": "message is not an object with a 'role'"}]
    assert result.summary.files[0].records_read == 23


def test_second_ingest_is_unchanged(ingest_into, tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    ingest_into(TRAJ, db=db)
    assert ingest_into(TRAJ, db=db).summary.files[0].status == "unchanged"


def test_detect(tmp_path: Path):
    loader = MiniSweAgentLoader()
    assert loader.detect(TRAJ, read_head(TRAJ))
    other = tmp_path / "github_issue.json"
    other.write_bytes(TRAJ.read_bytes())
    assert not loader.detect(other, read_head(other))
    unrelated = tmp_path / "x.traj.json"
    unrelated.write_text('{"steps": [1, 2]}')
    assert not loader.detect(unrelated, read_head(unrelated))
