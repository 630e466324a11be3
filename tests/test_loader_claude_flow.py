"""claude-flow hive-mind hive.db: swarms, agents, collective memory, sessions, checkpoints and
session logs, most rows read from the un-checkpointed WAL. Expectations were written from the
fixture's rows (cut from a real hive of adrianco/c11s-house-ios) before the loader ran."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentlab.analysis.replay import check
from incidentlab.loaders.base import read_head
from incidentlab.loaders.claude_flow.hive_db import HiveDbLoader

import fuzzing
from conftest import FIXTURES

HIVE = FIXTURES / "claude_flow" / "hive-mind" / "hive.db"
REALDATA = Path("/work/shared/realdata/sqlite/c11s-house-ios/hive-mind")


def test_counts_and_types_with_the_wal(ingest_into):
    result = ingest_into(HIVE.parent)
    (outcome,) = result.summary.files
    assert (outcome.loader, outcome.records_read, outcome.event_rows, outcome.quarantined) == (
        "claude_flow.hive_db", 38, 38, 0)
    types = dict(result.con.execute(
        "SELECT event_type || ':' || ts_quality, count(*) FROM events GROUP BY 1").fetchall())
    # CURRENT_TIMESTAMP text has no zone (SQLite writes UTC): assumed_utc; epoch seconds: exact
    assert types == {"swarm.created:assumed_utc": 2, "agent.spawned:assumed_utc": 10,
                     "knowledge.recorded:exact": 8, "session.start:assumed_utc": 2,
                     "checkpoint.created:assumed_utc": 2, "log:assumed_utc": 14}
    assert (outcome.ts_min, outcome.ts_max) == ("2025-07-15T18:24:44+00:00",
                                                "2025-07-15T18:30:18+00:00")


def test_session_log_row_fully_specified(ingest_into):
    result = ingest_into(HIVE)
    (row,) = result.rows("SELECT * FROM events WHERE event_type = 'log' AND record_no = 4")
    assert row["event_id"].endswith(":4:session_logs:timestamp")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "claude_flow",
        "source": "hive_db",
        "source_path": str(HIVE.resolve()),
        "record_no": 4,
        "ts": datetime(2025, 7, 15, 18, 25, 14, tzinfo=UTC),
        "ts_raw": "2025-07-15 18:25:14",
        "ts_quality": "assumed_utc",
        "stream": "session-1752603884913-07mljhc5z",
        "seq": None,
        "position": 4,
        "project": None,
        "correlation_id": None,
        "event_type": "log",
        "event_type_raw": "info",
        "actor": "worker-swarm-1752603884912-kr96rhrhe-0",
        "name": None,
        "outcome": None,
        "severity": "info",
        "duration_ms": None,
        "message": "Auto-save: agent_activity",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert json.loads(row["attrs"]) == {
        "table": "session_logs", "id": 4, "session_id": "session-1752603884913-07mljhc5z",
        "timestamp": "2025-07-15 18:25:14", "log_level": "info",
        "message": "Auto-save: agent_activity", "agent_id": "worker-swarm-1752603884912-kr96rhrhe-0",
        "data": '{"agentId":"worker-swarm-1752603884912-kr96rhrhe-0","activity":"spawned",'
                '"data":{"type":"researcher","name":"Researcher Worker 1"}}'}


def test_swarms_agents_and_what_never_happened(ingest_into):
    result = ingest_into(HIVE)
    agents = dict(result.con.execute(
        "SELECT event_type_raw, count(*) FROM events WHERE event_type = 'agent.spawned' "
        "GROUP BY 1").fetchall())
    assert agents == {"queen active": 2, "worker idle": 8}
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    # the hive recorded no task and no consensus decision: the tables are there, empty
    assert facts["tables"] == {"swarms": 2, "agents": 10, "tasks": 0, "collective_memory": 8,
                               "consensus_decisions": 0, "sessions": 2,
                               "session_checkpoints": 2, "session_logs": 14}
    assert facts["sqlite_integrity"] == "ok"


def test_odd_values_stay_with_their_row(ingest_into, tmp_path: Path):
    folder = tmp_path / "hive-mind"
    folder.mkdir()
    target = folder / "hive.db"
    shutil.copy2(HIVE, target)
    for suffix in ("-wal", "-shm"):
        shutil.copy2(HIVE.with_name(HIVE.name + suffix), target.with_name(target.name + suffix))
    con = sqlite3.connect(target)
    con.execute("INSERT INTO session_logs (session_id, timestamp, log_level, message) "
                "VALUES ('s', 'later', 7, x'ff00')")
    con.execute("INSERT INTO tasks (id, swarm_id, status, created_at, completed_at, result) "
                "VALUES ('t1', 'sw', 'failed', '2025-07-16 10:00:00', '2025-07-16 10:05:00', 'boom')")
    con.commit()
    con.close()
    result = ingest_into(folder)
    (outcome,) = result.summary.files
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (40, 41, 0)
    odd = result.rows("SELECT ts, ts_raw, ts_quality, severity, attrs FROM events "
                      "WHERE stream = 's'")
    # log_level 7 is read as the shared level reader reads it: syslog 7, debug
    assert [(r["ts"], r["ts_raw"], r["ts_quality"], r["severity"]) for r in odd] == [
        (None, "later", "missing", "debug")]
    # a BLOB cell as TEXT cells are read: the invalid byte as an escape, the NUL kept
    assert json.loads(odd[0]["attrs"])["message"] == "\\xff\x00"
    done = result.rows("SELECT event_type, outcome, severity FROM events WHERE stream = 'sw' "
                       "ORDER BY ts")
    assert done == [{"event_type": "task.created", "outcome": None, "severity": "info"},
                    {"event_type": "task.completed", "outcome": "error", "severity": "warning"}]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_hive_loads_whole(tmp_path: Path, rng_seed: int):
    """Nasty cells and broken pages: the file never fails, every row is loaded or quarantined."""
    (seed,) = [s for s in fuzzing.seeds([HIVE.parent]) if s.path.name == HIVE.name]
    target = fuzzing.damaged_copy(seed, tmp_path, rng_seed)
    result = fuzzing.load_direct(seed.loader, target)
    fuzzing.assert_accounted(seed.loader, target, result, seed.kind,
                             frozenset({"claude_flow.hive_db"}))


def test_detect(tmp_path: Path):
    loader = HiveDbLoader()
    assert loader.detect(HIVE, read_head(HIVE))
    other = tmp_path / "hive.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE bees (id TEXT)")
    con.commit()
    con.close()
    assert not loader.detect(other, read_head(other))


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real-data samples not present under {REALDATA}")
def test_the_real_hive_with_its_wal(ingest_into):
    # SOURCES.md: with hive.db-wal replayed, 19 swarms / 99 agents / 66 collective_memory /
    # 2 sessions / 2 checkpoints / 14 session_logs, 2025-07-08 .. 2025-07-23.
    result = ingest_into(REALDATA / "hive.db")
    (outcome,) = result.summary.files
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (202, 202, 0)
    counts = dict(result.con.execute(
        "SELECT event_type, count(*) FROM events GROUP BY 1").fetchall())
    assert counts == {"swarm.created": 19, "agent.spawned": 99, "knowledge.recorded": 66,
                      "session.start": 2, "checkpoint.created": 2, "log": 14}
    assert (outcome.ts_min[:10], outcome.ts_max[:10]) == ("2025-07-08", "2025-07-23")


# ---- process-metrics.json ---------------------------------------------------------------------

METRICS = FIXTURES / "claude_flow" / "metrics" / "process-metrics.json"


def test_spawned_processes_and_the_ones_that_never_ended(ingest_into):
    # The file: 7 `claude --dangerously-skip-permissions` spawns (bash -c) with a startTime and
    # no end, successfulSpawns 0; under `metrics` 10 listed `echo` test processes, each exit 0.
    result = ingest_into(METRICS)
    (outcome,) = result.summary.files
    assert (outcome.loader, outcome.records_read, outcome.event_rows, outcome.quarantined) == (
        "claude_flow.process_metrics", 17, 27, 0)
    types = dict(result.con.execute(
        "SELECT stream || ' ' || event_type || ':' || coalesce(outcome, '-'), count(*) "
        "FROM events GROUP BY 1").fetchall())
    assert types == {"process-metrics process.start:-": 7,
                     "process-metrics/metrics process.start:-": 10,
                     "process-metrics/metrics process.end:ok": 10}
    first = result.rows("SELECT ts, message, severity, error_code FROM events "
                        "WHERE stream = 'process-metrics' ORDER BY ts LIMIT 1")[0]
    assert first["ts"] == datetime(2025, 6, 29, 7, 33, 18, 926000, tzinfo=UTC)
    assert "claude --dangerously-skip-permissions" in first["message"]
    assert (first["severity"], first["error_code"]) == ("warning", "no_end_recorded")
    assert result.scalar("SELECT count(*) FROM events WHERE severity = 'warning'") == 7
    report = check(result.con)
    unclosed = report.violations.filter(report.violations["rule"] == "process_unclosed")
    assert sorted(unclosed["record_no"].to_list()) == [1, 2, 3, 4, 5, 6, 7]
    assert report.violations.height == 7
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["spawns"] == {"totalSpawns": 7, "successfulSpawns": 0, "failedSpawns": 0,
                               "averageDuration": 0}


def test_a_process_end_fully_specified(ingest_into):
    result = ingest_into(METRICS)
    (row,) = result.rows("SELECT * FROM events WHERE correlation_id = 'exec-1751175136715-1qwd5wu' "
                         "AND event_type = 'process.end'")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "claude_flow",
        "source": "process_metrics",
        "source_path": str(METRICS.resolve()),
        "record_no": 1,
        "ts": datetime(2025, 6, 29, 5, 32, 16, 721000, tzinfo=UTC),
        "ts_raw": "1751175136721",
        "ts_quality": "exact",
        "stream": "process-metrics/metrics",
        "seq": None,
        "position": 1,
        "project": None,
        "correlation_id": "exec-1751175136715-1qwd5wu",
        "event_type": "process.end",
        "event_type_raw": "endTime",
        "actor": "pid 201633",
        "name": "echo",
        "outcome": "ok",
        "severity": "info",
        "duration_ms": 6.0,
        "message": "exit 0",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": '{"id": "exec-1751175136715-1qwd5wu"}',
    }


def test_odd_executions(ingest_into, tmp_path: Path):
    path = tmp_path / "process-metrics.json"
    path.write_text(json.dumps({"totalSpawns": 3, "lastExecutions": [
        5, {"id": "a", "command": ["x"], "startTime": "soon", "endTime": 1751175136721,
            "success": False, "exitCode": 2, "duration": "long"}]}))
    result = ingest_into(path)
    (outcome,) = result.summary.files
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (2, 2, 1)
    rows = result.rows("SELECT event_type, ts, outcome, error_code, duration_ms FROM events "
                       "ORDER BY event_type DESC")
    assert rows == [
        {"event_type": "process.start", "ts": None, "outcome": None, "error_code": None,
         "duration_ms": None},
        {"event_type": "process.end", "ts": datetime(2025, 6, 29, 5, 32, 16, 721000, tzinfo=UTC),
         "outcome": "error", "error_code": "exit 2", "duration_ms": None}]


# ---- memory.db ----------------------------------------------------------------------------

MEMORY = FIXTURES / "claude_flow" / "memory" / "memory.db"


def test_memory_db_rows(ingest_into):
    # The file: 3 `memories` rows in namespace hive-mind (project-goal, team-size, architecture),
    # epoch-ms timestamp 1751856595000 = created_at '2025-07-07 02:49:55'.
    result = ingest_into(MEMORY)
    (outcome,) = result.summary.files
    assert (outcome.loader, outcome.records_read, outcome.event_rows, outcome.quarantined) == (
        "claude_flow.hive_db", 3, 3, 0)
    rows = result.rows("SELECT ts, ts_quality, stream, name, event_type_raw, message FROM events "
                       "ORDER BY record_no")
    assert [(r["name"], r["event_type_raw"]) for r in rows] == [
        ("project-goal", "knowledge"), ("team-size", "metadata"), ("architecture", "design")]
    assert {(r["ts"], r["ts_quality"], r["stream"]) for r in rows} == {
        (datetime(2025, 7, 7, 2, 49, 55, tzinfo=UTC), "exact", "hive-mind")}
    assert rows[0]["message"] == "project-goal (knowledge): Build an advanced AI swarm coordination system"
