"""coding-loops coordination.db: every history/state table, both timestamp styles, WAL, evidence."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from conftest import FIXTURES, tree_digest

SCRIPT = (FIXTURES / "coding_loops" / "coordination.sql").read_text()
EVENT_SQL = (
    "SELECT record_no, ts, ts_raw, ts_quality, stream, seq, position, project, correlation_id, "
    "event_type, event_type_raw, actor, name, outcome, severity, duration_ms, message, "
    "error_code, error_category, is_mirror, system, source FROM events "
)


def build_db(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "coordination.db"
    con = sqlite3.connect(path)
    con.executescript(SCRIPT + extra)
    con.commit()
    con.close()
    return path


def test_detect(tmp_path: Path) -> None:
    from incidentlab.ingest import claimers
    from incidentlab.loaders import all_loaders

    path = build_db(tmp_path / "a")
    renamed = tmp_path / "a" / "coord-backup.sqlite"
    shutil.copy(path, renamed)
    for candidate in (path, renamed):
        assert claimers(candidate, all_loaders())[0].name == "coding_loops.coordination_db"
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    assert "coding_loops.coordination_db" not in [c.name for c in claimers(other, all_loaders())]


def test_coordination_db(ingest_into, tmp_path: Path) -> None:
    path = build_db(tmp_path / "coding-loops")
    result = ingest_into(path)
    outcome = result.summary.files[0]
    assert (outcome.loader, outcome.status) == ("coding_loops.coordination_db", "loaded")
    assert outcome.records_read == 20 and outcome.quarantined == 0
    assert outcome.event_rows == 17 and outcome.metric_rows == 3
    assert outcome.table_rows == {
        "coding_loops_knowledge": 1,
        "coding_loops_loops": 2,
        "coding_loops_tests": 2,
        "coding_loops_wait_graph": 1,
    }
    failed = result.rows(EVENT_SQL + "WHERE event_type_raw = 'test_failed'")[0]
    assert failed == {
        "record_no": 2,
        "ts": datetime(2026, 1, 7, 10, 1, 30, tzinfo=UTC),
        "ts_raw": "2026-01-07 10:01:30",
        "ts_quality": "assumed_utc",
        "stream": "loop-1-critical-path",
        "seq": None,
        "position": 2,
        "project": "loop-1-critical-path",
        "correlation_id": "corr-cp-ufs-001",
        "event_type": "test.fail",
        "event_type_raw": "test_failed",
        "actor": "loop-1-critical-path",
        "name": "CP-UFS-001",
        "outcome": "error",
        "severity": "warning",  # will_retry
        "duration_ms": None,
        "message": "test_failed test_id=CP-UFS-001 attempt=1 "
        "error_message=TS2345: Argument of type string",
        "error_code": "typescript",
        "error_category": "typescript",
        "is_mirror": False,
        "system": "coding_loops",
        "source": "coordination_db",
    }
    started = result.rows(EVENT_SQL + "WHERE event_type_raw = 'test_started'")[0]
    assert started["ts_quality"] == "exact"
    assert started["ts"] == datetime(2026, 1, 7, 10, 0, 0, 123456, tzinfo=UTC)
    attrs = json.loads(
        result.scalar("SELECT attrs FROM events WHERE event_type_raw = 'test_started'")
    )
    assert attrs["rowid"] == 1 and attrs["payload"]["spec_summary"] == "UFS parser"
    types = result.rows("SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1")
    assert {r["event_type"]: r["n"] for r in types} == {
        "alert": 2,
        "checkpoint.created": 1,
        "checkpoint.deleted": 1,
        "decision.request": 2,
        "decision.resolved": 1,
        "heartbeat": 2,
        "lock.acquire": 2,
        "lock.wait": 1,
        "test.fail": 1,
        "test.pass": 1,
        "test.start": 1,
        "transaction.end": 1,
        "transaction.start": 1,
    }
    dead = result.rows(EVENT_SQL + "WHERE event_type = 'heartbeat' AND actor <> 'monitor'")[0]
    assert (dead["outcome"], dead["severity"], dead["ts_quality"]) == (
        "error",
        "error",
        "assumed_utc",
    )
    passed = result.rows(EVENT_SQL + "WHERE event_type = 'test.pass'")[0]
    assert (passed["stream"], passed["name"]) == ("loop-1-critical-path", "CP-UFS-001")
    alert = result.rows(EVENT_SQL + "WHERE event_type_raw = 'alert:regression'")[0]
    assert (alert["severity"], alert["error_code"], alert["actor"]) == (
        "error",
        "regression",
        "monitor",
    )
    decided = result.rows(EVENT_SQL + "WHERE event_type = 'decision.resolved'")[0]
    assert (decided["correlation_id"], decided["actor"], decided["outcome"]) == (
        "DEC-001",
        "human",
        "ok",
    )
    # event ids stay unique although one file holds many tables with overlapping rowids
    assert result.scalar("SELECT count(DISTINCT event_id) FROM events") == 17
    metrics = {r["name"]: r for r in result.rows("SELECT * FROM metrics")}
    assert metrics["tokens_estimated"]["value"] == 18000
    assert metrics["duration_seconds"]["unit"] == "s"
    size = path.stat().st_size
    assert metrics["db_size_bytes"]["value"] == size
    assert metrics["db_size_bytes"]["ts_quality"] == "derived"
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["db_size_bytes"] == size and facts["wal_size_bytes"] == 0
    assert facts["tables"]["events"] == 5
    tests = result.rows("SELECT id, attempts, passed_at FROM coding_loops_tests ORDER BY id")
    assert tests[0] == {"id": "CP-UFS-001", "attempts": 2, "passed_at": "2026-01-07T10:04:30+00:00"}


def test_pending_wal_is_read_and_evidence_untouched(ingest_into, tmp_path: Path) -> None:
    live = build_db(tmp_path / "live")
    con = sqlite3.connect(live)
    assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute(
        "INSERT INTO events (id, timestamp, source, event_type, payload) VALUES "
        "('wal-1', '2026-01-07T11:00:00+00:00', 'monitor', 'stuck_detected', "
        '\'{"loop_id": "loop-1-critical-path", "test_id": "CP-UFS-002", '
        '"consecutive_failures": 3}\')'
    )
    con.execute(
        "UPDATE component_health SET last_heartbeat = '2026-01-07 11:00:05', "
        "status = 'degraded' WHERE component = 'monitor'"
    )
    con.commit()
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    # copy while the writer is still open: the WAL holds rows the main file does not have yet
    shutil.copy(live, evidence / "coordination.db")
    shutil.copy(live.with_name("coordination.db-wal"), evidence / "coordination.db-wal")
    con.close()
    db, wal = evidence / "coordination.db", evidence / "coordination.db-wal"
    assert wal.stat().st_size > 0
    main_only = tmp_path / "main-only.db"
    shutil.copy(db, main_only)
    check = sqlite3.connect(main_only)
    assert check.execute("SELECT count(*) FROM events WHERE id = 'wal-1'").fetchone()[0] == 0
    check.close()

    listing = sorted(os.listdir(evidence))
    digest = tree_digest(evidence)
    result = ingest_into(evidence)
    assert sorted(os.listdir(evidence)) == listing == ["coordination.db", "coordination.db-wal"]
    assert tree_digest(evidence) == digest
    assert result.summary.companions == [str(wal)]
    stuck = result.rows(EVENT_SQL + "WHERE event_type_raw = 'stuck_detected'")[0]
    assert (stuck["event_type"], stuck["error_code"], stuck["project"]) == (
        "alert",
        "stuck",
        "loop-1-critical-path",
    )
    monitor = result.rows(EVENT_SQL + "WHERE event_type = 'heartbeat' AND actor = 'monitor'")[0]
    assert (monitor["severity"], monitor["ts_raw"]) == ("warning", "2026-01-07 11:00:05")
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["wal_present"] and facts["wal_size_bytes"] == wal.stat().st_size
    assert facts["journal_mode"] == "wal"
    size = result.scalar("SELECT value FROM metrics WHERE name = 'db_size_bytes'")
    assert size == db.stat().st_size + wal.stat().st_size
    again = ingest_into(evidence)
    assert again.summary.files[0].status == "unchanged"
    assert again.scalar("SELECT count(*) FROM events") == 18


def test_malformed_rows_are_quarantined(ingest_into, tmp_path: Path) -> None:
    extra = """
    INSERT INTO events VALUES ('bad-1', 'yesterday', 'pm', 'test_started', '{}', NULL, 5, 0,
        NULL, NULL);
    INSERT INTO events VALUES ('bad-2', '2026-01-07T10:06:00+00:00', 'pm', 'mystery_event',
        'not json', NULL, 5, 0, NULL, NULL);
    INSERT INTO alerts VALUES ('ALR-2', 'loud', 'stuck', 'monitor', 'x', NULL, 0, NULL, NULL,
        '07/01/2026');
    INSERT INTO usage VALUES ('U-2', 'loop-1-critical-path', NULL, 5, NULL, NULL, NULL);
    CREATE TABLE custom_notes (note TEXT, at TEXT);
    INSERT INTO custom_notes VALUES ('kept as a domain table', '2026-01-07');
    CREATE TABLE "odd-name" (x);
    INSERT INTO "odd-name" VALUES (1);
    """
    result = ingest_into(build_db(tmp_path / "db", extra))
    outcome = result.summary.files[0]
    assert outcome.records_read == 25 and outcome.quarantined == 3
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY reason")
    assert warnings == [
        {"record_no": 2, "reason": "alerts rowid 2: alerts.created_at not parseable: '07/01/2026'"},
        {"record_no": 6, "reason": "events rowid 6: events.timestamp not parseable: 'yesterday'"},
        {"record_no": 2, "reason": "usage rowid 2: usage.recorded_at missing"},
    ]
    mystery = result.rows(EVENT_SQL + "WHERE event_type_raw = 'mystery_event'")[0]
    assert mystery["event_type"] == "unknown"
    raw = json.loads(
        result.scalar("SELECT attrs FROM events WHERE event_type_raw = 'mystery_event'")
    )
    assert raw["payload"] == "not json"
    assert result.scalar("SELECT note FROM coding_loops_custom_notes") == "kept as a domain table"
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["tables_not_read"] == ["odd-name"]


def test_corrupt_database_fails_cleanly(ingest_into, tmp_path: Path) -> None:
    path = tmp_path / "coding-loops" / "coordination.db"
    path.parent.mkdir()
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    result = ingest_into(path)
    assert result.summary.files[0].status == "failed"
    assert result.scalar("SELECT count(*) FROM events") == 0


def test_passing_tests_row_mirrors_a_test_passed_event(ingest_into, tmp_path):
    """A pass recorded both as an event and in passing_tests is shown and counted once."""
    payload = '{"test_id": "CP-UFS-001", "loop_id": "loop-1-critical-path", "attempt": 1}'
    db = build_db(tmp_path, "INSERT INTO events (id, timestamp, source, event_type, payload) "
                            f"VALUES ('e-pass', '2026-01-07T09:40:12+00:00', 'loop-1-critical-path', "
                            f"'test_passed', '{payload}');")
    result = ingest_into(db)
    rows = result.rows("SELECT event_type_raw, is_mirror FROM events WHERE event_type = 'test.pass' "
                       "AND name = 'CP-UFS-001' ORDER BY event_type_raw")
    assert rows == [{"event_type_raw": "passing_tests", "is_mirror": True},
                    {"event_type_raw": "test_passed", "is_mirror": False}]
    assert result.scalar("SELECT count(*) FROM timeline_events WHERE event_type = 'test.pass' "
                         "AND name = 'CP-UFS-001'") == 1
