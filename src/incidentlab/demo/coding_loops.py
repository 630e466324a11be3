"""Demo artifacts of coding-loops: coordination.db (both timestamp styles), a stuck loop, transcripts."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .story import END, STORM_START, T0, Story, minutes, rfc3339

LOOPS = ("loop-1-critical-path", "loop-2-infrastructure", "loop-3-polish")
STUCK_LOOP, STUCK_TEST = "loop-1-critical-path", "CP-UFS-002"
LAST_BEAT = STORM_START + minutes(20)  # loop-1 stops heart-beating here

SCHEMA = """
CREATE TABLE events(id TEXT PRIMARY KEY, timestamp TEXT NOT NULL, source TEXT NOT NULL,
  event_type TEXT NOT NULL, payload TEXT NOT NULL, correlation_id TEXT,
  priority INTEGER NOT NULL DEFAULT 5, acknowledged INTEGER NOT NULL DEFAULT 0,
  acknowledged_by TEXT, acknowledged_at TEXT);
CREATE TABLE component_health(component TEXT PRIMARY KEY, last_heartbeat TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'unknown', metadata TEXT);
CREATE TABLE loops(id TEXT PRIMARY KEY, name TEXT, priority INTEGER DEFAULT 5, branch TEXT,
  status TEXT DEFAULT 'stopped', current_test_id TEXT, pid INTEGER,
  created_at TEXT DEFAULT (datetime('now')), updated_at TEXT DEFAULT (datetime('now')));
CREATE TABLE tests(id TEXT PRIMARY KEY, loop_id TEXT NOT NULL, category TEXT NOT NULL,
  status TEXT DEFAULT 'pending', attempts INTEGER DEFAULT 0, max_attempts INTEGER DEFAULT 3,
  last_result TEXT, depends_on TEXT, automatable INTEGER DEFAULT 1, notes TEXT,
  spec_content TEXT, last_attempt_at TEXT, passed_at TEXT, verified_at TEXT,
  created_at TEXT DEFAULT (datetime('now')));
CREATE TABLE passing_tests(test_id TEXT, commit_hash TEXT, passed_at TEXT NOT NULL,
  PRIMARY KEY(test_id, commit_hash));
CREATE TABLE decisions(id TEXT PRIMARY KEY, decision_type TEXT, summary TEXT, options TEXT,
  default_option TEXT, context TEXT, timeout_minutes INTEGER DEFAULT 60,
  status TEXT DEFAULT 'pending', requested_at TEXT, requested_by TEXT, decided_at TEXT,
  decided_by TEXT, choice TEXT, comment TEXT);
CREATE TABLE alerts(id TEXT PRIMARY KEY, severity TEXT, alert_type TEXT, source TEXT,
  message TEXT, context TEXT, acknowledged INTEGER DEFAULT 0, acknowledged_by TEXT,
  acknowledged_at TEXT, created_at TEXT DEFAULT (datetime('now')));
CREATE TABLE file_locks(file_path TEXT PRIMARY KEY, locked_by TEXT, locked_at TEXT,
  lock_reason TEXT, expires_at TEXT, test_id TEXT);
CREATE TABLE usage(id TEXT PRIMARY KEY, loop_id TEXT, test_id TEXT, tokens_estimated INTEGER,
  duration_seconds REAL, files_modified TEXT, recorded_at TEXT);
"""


def _py(at: datetime) -> str:
    """Python's isoformat with +00:00, as models.py writes."""
    return at.astimezone(UTC).isoformat()


def _sqlite(at: datetime) -> str:
    """SQLite's datetime('now'): UTC without a zone."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class Coordination:
    def __init__(self, story: Story, path: Path) -> None:
        self.story = story
        self.con = sqlite3.connect(path)
        self.con.executescript(SCHEMA)
        self.events = 0

    def event(self, at: datetime, source: str, event_type: str, payload: dict,
              *, sqlite_style: bool = False, priority: int = 5) -> None:
        stamp = _sqlite(at) if sqlite_style else _py(at)
        self.con.execute(
            "INSERT INTO events(id, timestamp, source, event_type, payload, priority) "
            "VALUES (?,?,?,?,?,?)",
            [self.story.uuid(), stamp, source, event_type, json.dumps(payload), priority])
        self.events += 1


def _loop_history(db: Coordination, story: Story) -> None:
    for number, loop in enumerate(LOOPS, 1):
        db.con.execute("INSERT INTO loops(id, name, status, current_test_id, pid, created_at) "
                       "VALUES (?,?,?,?,?,?)",
                       [loop, loop.replace("-", " "), "running",
                        STUCK_TEST if loop == STUCK_LOOP else None, 4000 + number, _sqlite(T0)])
        db.event(T0 + timedelta(seconds=number), loop, "component_started",
                 {"component": loop, "pid": 4000 + number, "version": "1.0"}, sqlite_style=True)
        at = T0 + minutes(5 * number)
        index = 0
        while at < END - minutes(10):
            stuck = loop == STUCK_LOOP and at >= STORM_START + minutes(15)
            if stuck:
                break
            index += 1
            test_id = f"{loop.split('-')[2][:3].upper()}-GEN-{index:03d}"
            db.event(at, loop, "test_started", {"test_id": test_id, "loop_id": loop,
                                                "attempt": 1, "spec_summary": "..."})
            passed = at + minutes(story.rng.uniform(6, 12))
            db.event(passed, loop, "test_passed", {
                "test_id": test_id, "loop_id": loop, "attempt": 1,
                "duration_seconds": (passed - at).total_seconds(), "tokens_estimated": 12000,
                "files_modified": ["src/a.ts"], "verified": True})
            db.con.execute("INSERT INTO tests(id, loop_id, category, status, attempts, "
                           "last_result, passed_at, created_at) VALUES (?,?,?,?,?,?,?,?)",
                           [test_id, loop, "generated", "passed", 1, "pass", _py(passed),
                            _sqlite(at)])
            db.con.execute("INSERT INTO passing_tests VALUES (?,?,?)",
                           [test_id, f"{story.rng.getrandbits(40):010x}", _py(passed)])
            db.con.execute("INSERT INTO usage VALUES (?,?,?,?,?,?,?)",
                           [story.uuid(), loop, test_id, 12000, (passed - at).total_seconds(),
                            '["src/a.ts"]', _py(passed)])
            at = passed + minutes(story.rng.uniform(1, 4))


def _stuck(db: Coordination, story: Story, root: Path) -> None:
    start = STORM_START + minutes(15)
    db.con.execute("INSERT INTO tests(id, loop_id, category, status, attempts, max_attempts, "
                   "last_result, last_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                   [STUCK_TEST, STUCK_LOOP, "critical", "in_progress", 4, 5, "fail",
                    _py(start + minutes(40)), _sqlite(T0)])
    transcripts = root / STUCK_LOOP / "specs" / "logs" / "transcripts"
    (transcripts / STUCK_TEST).mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 5):
        at = start + minutes(10 * (attempt - 1))
        db.event(at, STUCK_LOOP, "test_started", {"test_id": STUCK_TEST, "loop_id": STUCK_LOOP,
                                                   "attempt": attempt, "spec_summary": "UFS spec"})
        db.event(at + minutes(8), STUCK_LOOP, "test_failed", {
            "test_id": STUCK_TEST, "loop_id": STUCK_LOOP, "attempt": attempt,
            "error_category": "llm_error", "error_message": "429 rate limit from provider",
            "will_retry": True})
        (transcripts / STUCK_TEST / f"attempt-{attempt}.log").write_text(
            f"Attempt {attempt} at {STUCK_TEST}. I'll start by reading the spec.\n"
            "[Tool #1: Read]\n  Input: {'file_path': 'server/routes/ideation.ts'}\n"
            "  [Done] Preview: import { Router } from 'express';...\n"
            "[Tool #2: Bash]\n  Input: {'command': 'npm test -- ufs'}\n"
            "  [Error] API Error: 429 rate_limit_error\n"
            "Error during session: RateLimitError('429 Too Many Requests')\n"
            "[Session complete: 4 turns, 2 tool calls]\n" + "-" * 70 + "\n")
        _touch(transcripts / STUCK_TEST / f"attempt-{attempt}.log", at + minutes(8))
    db.event(start + minutes(45), "monitor", "stuck_detected", {
        "loop_id": STUCK_LOOP, "test_id": STUCK_TEST, "consecutive_failures": 4,
        "stuck_for_minutes": 45, "last_error": "429 rate limit from provider"}, priority=2)
    db.con.execute("INSERT INTO alerts(id, severity, alert_type, source, message, context, "
                   "created_at) VALUES (?,?,?,?,?,?,?)",
                   ["ALERT-001", "warning", "stuck", "monitor",
                    f"{STUCK_LOOP} stuck on {STUCK_TEST} for 45 minutes",
                    json.dumps({"test_id": STUCK_TEST}), _sqlite(start + minutes(45))])
    specs = root / STUCK_LOOP / "specs"
    (specs / "health.json").write_text(json.dumps({
        "loop_name": "Loop 1: Critical Path (UFS -> Spec -> Build)", "status": "running",
        "current_test": STUCK_TEST, "progress": {"passed": 3, "total": 45},
        "last_heartbeat": rfc3339(LAST_BEAT, 6), "pid": 4001}))
    (specs / "test-state.json").write_text(json.dumps({
        "version": "1.0", "loopName": STUCK_LOOP, "lastUpdated": rfc3339(LAST_BEAT, 6),
        "summary": {"total": 45, "passed": 3, "failed": 0, "blocked": 0, "pending": 42},
        "tests": [{"id": STUCK_TEST, "category": "critical", "status": "in_progress",
                   "attempts": 4, "lastResult": "fail", "dependsOn": None,
                   "automatable": True, "notes": "", "lastAttemptAt": rfc3339(start, 6)}]},
        indent=2))
    # The stuck-loop rule counts stuck loops across the workspace (1 warn, 2+ critical).
    story.alert("coding_loops.stuck_loop", "(all)", start + minutes(30), "warn")
    story.alert("coding_loops.stale_heartbeat", STUCK_LOOP, LAST_BEAT + minutes(10), "warn")
    story.alert("coding_loops.stale_heartbeat", STUCK_LOOP, LAST_BEAT + minutes(30), "page")
    story.alert("coding_loops.stuck_detected", "monitor", start + minutes(45), "warn")
    story.failure_mode("coding_loops", "coding_loops.loop_stuck")
    story.failure_mode("coding_loops", "generic.llm_rate_limit")  # the attempts' 429 errors


def _touch(path: Path, at: datetime) -> None:
    """Transcripts carry no times; loaders use the file mtime, so give it the story's time."""
    os.utime(path, (at.timestamp(), at.timestamp()))


def _heartbeats(db: Coordination) -> None:
    for component in ("monitor", "pm", *LOOPS):
        beat = LAST_BEAT if component == STUCK_LOOP else END - minutes(1)
        db.con.execute("INSERT INTO component_health VALUES (?,?,?,?)",
                       [component, _py(beat), "healthy", json.dumps({"pid": 4242})])


def _unified(story: Story, root: Path) -> None:
    """An execution transcript whose writer skipped sequence 5 (a planted gap)."""
    folder = root / "transcripts" / "exec-demo-01"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    at = T0 + minutes(30)
    sequence = 0
    for index in range(12):
        sequence += 2 if index == 4 else 1
        at += timedelta(seconds=story.rng.uniform(5, 40))
        entry_type = ("phase_start", "tool_use", "tool_use", "validation")[index % 4]
        lines.append(json.dumps({
            "id": story.uuid(), "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
            "sequence": sequence, "source": "agent", "execution_id": "exec-demo-01",
            "instance_id": "inst-01", "entry_type": entry_type, "category": "action",
            "summary": f"{entry_type} {index}", "details": json.dumps({"tool": "Read"})}))
    (folder / "unified.jsonl").write_text("\n".join(lines) + "\n")
    story.violation("coding_loops", "exec-demo-01", "seq_gap", seq=6, expected=5)
    story.count("coding_loops.unified", len(lines))


def write(story: Story, root: Path) -> None:
    folder = root / "coding-loops"
    folder.mkdir(parents=True, exist_ok=True)
    db = Coordination(story, folder / "coordination.db")
    _loop_history(db, story)
    _stuck(db, story, folder)
    _heartbeats(db)
    db.con.commit()
    db.con.close()
    story.count("coding_loops.events", db.events)
    _unified(story, folder)
