"""SWE-agent: .traj trajectories (no times), all_preds.jsonl, console log (naive local times)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.swe_agent import SweAgentLogLoader, SweAgentTrajLoader

from conftest import FIXTURES

FOLDER = FIXTURES / "swe_agent"
TRAJ = FOLDER / "pydicom__pydicom-1458.traj"
LOG = FOLDER / "coding_challenge_output.log"
PREDS = FOLDER / "all_preds.jsonl"


def test_folder_loaders_and_counts(ingest_into):
    result = ingest_into(FOLDER, tz="UTC")
    loads = {Path(f.path).name: (f.loader, f.records_read, f.event_rows, f.metric_rows)
             for f in result.summary.files}
    assert loads == {
        TRAJ.name: ("swe_agent.traj", 10, 14, 4),
        LOG.name: ("swe_agent.console_log", 27, 27, 8),  # + instance_cost per usage line
        PREDS.name: ("swe_agent.preds_jsonl", 1, 1, 0),
    }
    assert sorted(Path(p).name for p in result.summary.unclaimed) == ["LICENSE", "NOTICE"]


def test_trajectory_steps_pair_and_have_no_time(ingest_into):
    result = ingest_into(TRAJ)
    steps = result.rows(
        "SELECT c.name, c.position, r.message FROM events c JOIN events r "
        "ON r.correlation_id = c.correlation_id AND r.event_type = 'tool.result' "
        "WHERE c.event_type = 'tool.call' ORDER BY c.position")
    assert [(s["name"], s["position"]) for s in steps] == [("create", 7), ("edit", 8),
                                                           ("python", 9)]
    assert steps[2]["message"].startswith("Traceback (most recent call last)")
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NOT NULL") == 0
    assert result.scalar("SELECT DISTINCT ts_quality FROM events") == "missing"
    end = result.rows("SELECT name, outcome, attrs FROM events WHERE event_type = 'run.end'")[0]
    assert (end["name"], end["outcome"]) == ("submitted", "ok")
    assert json.loads(end["attrs"])["submission"].startswith("\ndiff --git")
    stats = dict(result.con.execute("SELECT name, value FROM metrics").fetchall())
    assert stats == {"input_tokens": 122612, "output_tokens": 1369, "cost": 1.26719,
                     "api_calls": 12}


def test_log_tool_call_row_fully_specified(ingest_into):
    result = ingest_into(LOG, tz="Europe/Berlin")
    (row,) = result.rows("SELECT * FROM events WHERE record_no = 168")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "swe_agent",
        "source": "console_log",
        "source_path": str(LOG.resolve()),
        "record_no": 168,
        "ts": datetime(2024, 7, 12, 15, 57, 48, 46000, tzinfo=UTC),
        "ts_raw": "2024-07-12 17:57:48,046",
        "ts_quality": "assumed_local",
        "stream": "coding_challenge_output",
        "seq": None,
        "position": 168,
        "project": None,
        "correlation_id": None,
        "event_type": "tool.call",
        "event_type_raw": "INFO",
        "actor": "assistant",
        "name": "ls",
        "outcome": None,
        "severity": "info",
        "duration_ms": None,
        "message": "ls -a",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert json.loads(row["attrs"])["text"].startswith("🎬 ACTION (primary)")


def test_log_without_tz_needs_tz(ingest_into, tmp_path: Path):
    # Naive local log times: like any text log, the file stops without --tz (never guessed).
    plain = ingest_into(LOG, db=tmp_path / "no_tz.duckdb")
    assert plain.summary.files[0].status == "needs_tz"
    result = ingest_into(LOG, tz="UTC")
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NULL") == 0
    usage = dict(result.con.execute("SELECT name, sum(value) FROM metrics GROUP BY 1").fetchall())
    # instance_cost is the running total (0.04, 0.08); summed here only to see both lines
    assert usage == {"input_tokens": 7505, "output_tokens": 84, "cost": 0.08,
                     "instance_cost": 0.12}


def test_malformed_inputs_quarantined(ingest_into, tmp_path: Path):
    log = tmp_path / "run.log"
    log.write_text("stray preamble line\n" + LOG.read_text())
    # Detection refuses such a file; forcing the loader shows the line is kept as a warning.
    forced = ingest_into(log, db=tmp_path / "log.duckdb", loader="swe_agent.console_log",
                         tz="UTC")
    assert forced.rows("SELECT record_no, reason FROM _load_warnings") == [
        {"record_no": 1, "reason": "text before the first timestamped log line"}]
    assert forced.summary.files[0].records_read == 28
    doc = json.loads(TRAJ.read_text())
    doc["trajectory"].insert(1, "not a step")
    traj = tmp_path / "x.traj"
    traj.write_text(json.dumps(doc))
    result = ingest_into(traj, db=tmp_path / "traj.duckdb")
    assert result.rows("SELECT record_no, reason FROM _load_warnings") == [
        {"record_no": 2, "reason": "trajectory step is not an object"}]
    assert result.summary.files[0].status == "loaded"


def test_second_ingest_is_unchanged(ingest_into, tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    ingest_into(TRAJ, db=db)
    again = ingest_into(TRAJ, db=db)
    assert again.summary.files[0].status == "unchanged"


def test_detect(tmp_path: Path):
    assert SweAgentTrajLoader().detect(TRAJ, read_head(TRAJ))
    assert SweAgentLogLoader().detect(LOG, read_head(LOG))
    plain = tmp_path / "app.log"
    plain.write_text("2024-07-12 17:57:39,876 INFO server started\n")
    assert not SweAgentLogLoader().detect(plain, read_head(plain))
    other = tmp_path / "x.traj"
    other.write_text('{"steps": []}')
    assert not SweAgentTrajLoader().detect(other, read_head(other))
