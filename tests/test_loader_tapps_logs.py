"""Tapps log-like loaders: event log, structured logs (--tz), envelopes, markers, audit, metrics."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.ingest import claimers
from incidentlab.loaders import all_loaders

from conftest import FIXTURES

WID = "rapid-dev-20251222-141503"
TAPPS = FIXTURES / "tapps"


def copy_tree(tmp_path: Path, *parts: str) -> Path:
    source = TAPPS.joinpath(*parts)
    target = tmp_path / "evidence" / Path(*parts)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return target


def loader_of(path: Path) -> str | None:
    found = claimers(path, all_loaders())
    return found[0].name if found else None


def test_workflow_events_canonical_row_and_plus00z_timestamps(tmp_path: Path, ingest_into) -> None:
    path = copy_tree(tmp_path, ".tapps-agents", "workflow-state", "events", f"{WID}.events.jsonl")
    result = ingest_into(path)
    assert result.rows(
        "SELECT event_type, count(*) AS n FROM events GROUP BY event_type ORDER BY event_type"
    ) == [
        {"event_type": "artifact.created", "n": 1},
        {"event_type": "step.fail", "n": 1},
        {"event_type": "step.finish", "n": 1},
        {"event_type": "step.start", "n": 2},
        {"event_type": "workflow.end", "n": 1},
        {"event_type": "workflow.start", "n": 1},
    ]
    row = result.rows("SELECT * EXCLUDE (event_id, load_id) FROM events WHERE seq = 6")[0]
    assert json.loads(row.pop("attrs"))["metadata"] == {"behavior": "fail", "suggestions": None}
    assert row == {
        "system": "tapps",
        "source": "workflow_events",
        "source_path": str(path.resolve()),
        "record_no": 6,
        "ts": datetime(2025, 12, 22, 13, 17, 44, 391002, tzinfo=UTC),
        "ts_raw": "2025-12-22T13:17:44.391002+00:00Z",
        "ts_quality": "exact",
        "stream": WID,
        "seq": 6,
        "position": 6,
        "project": None,
        "correlation_id": "implementation",
        "event_type": "step.fail",
        "event_type_raw": "step_fail",
        "actor": "implementer",
        "name": "implementation",
        "outcome": "error",
        "severity": "error",
        "duration_ms": None,
        "message": "Invalid skill command",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
    }
    again = ingest_into(path, db=result.db)
    assert again.summary.files[0].status == "unchanged"


def test_workflow_events_malformed_lines_and_seq_facts(tmp_path: Path, ingest_into) -> None:
    path = tmp_path / ".tapps-agents" / "workflow-state" / "events" / "w.events.jsonl"
    path.parent.mkdir(parents=True)
    good = {"event_type": "step_start", "workflow_id": "w", "seq": 1,
            "timestamp": "2025-12-22T13:15:03+00:00Z", "step_id": "a"}
    path.write_text(
        "\n".join([
            json.dumps(good),
            "{truncated",
            json.dumps({"workflow_id": "w", "seq": 2}),
            json.dumps({**good, "event_type": "gate_evaluated", "seq": 1}),
        ]) + "\n"
    )
    result = ingest_into(path)
    assert result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no") == [
        {"record_no": 2, "reason": "malformed JSON: Expecting property name enclosed in double "
         "quotes: line 1 column 2 (char 1)"},
        {"record_no": 3, "reason": "event_type missing"},
    ]
    assert result.scalar("SELECT event_type FROM events WHERE record_no = 4") == "unknown"
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["duplicate_seqs"] == 1 and facts["seq_regressions"] == 1
    assert facts["unknown_types"] == ["gate_evaluated"]


def test_structured_log_needs_tz_without_it(tmp_path: Path, ingest_into) -> None:
    path = copy_tree(tmp_path, "logs", "structured_local.jsonl")
    assert loader_of(path) == "tapps.structured_log"
    result = ingest_into(path)
    (outcome,) = result.summary.files
    assert outcome.status == "needs_tz"
    assert "2025-12-22 14:15:03,120" in outcome.message and "--tz" in outcome.message
    assert result.scalar("SELECT count(*) FROM events") == 0
    assert result.scalar("SELECT status FROM _loads") == "needs_tz"  # recorded, nothing loaded


def test_structured_log_with_tz_is_assumed_local(tmp_path: Path, ingest_into) -> None:
    path = copy_tree(tmp_path, "logs", "structured_local.jsonl")
    result = ingest_into(path, tz="Europe/Berlin")
    rows = result.rows(
        "SELECT record_no, ts, ts_raw, ts_quality, event_type, severity, outcome, correlation_id "
        "FROM events ORDER BY record_no"
    )
    assert rows == [
        {"record_no": 1, "ts": datetime(2025, 12, 22, 13, 15, 3, 120000, tzinfo=UTC),
         "ts_raw": "2025-12-22 14:15:03,120", "ts_quality": "assumed_local",
         "event_type": "workflow.start", "severity": "info", "outcome": None,
         "correlation_id": None},
        {"record_no": 2, "ts": datetime(2025, 12, 22, 13, 17, 40, 2000, tzinfo=UTC),
         "ts_raw": "2025-12-22 14:17:40,002", "ts_quality": "assumed_local",
         "event_type": "step.finish", "severity": "info", "outcome": "ok",
         "correlation_id": "planning"},
        {"record_no": 3, "ts": datetime(2025, 12, 22, 13, 17, 44, 390000, tzinfo=UTC),
         "ts_raw": "2025-12-22 14:17:44,390", "ts_quality": "assumed_local",
         "event_type": "log", "severity": "error", "outcome": "error",
         "correlation_id": "implementation"},
    ]
    assert result.scalar("SELECT tz FROM _loads") == "Europe/Berlin"
    assert result.scalar("SELECT duration_ms FROM events WHERE record_no = 2") == 97500.0


def test_structured_log_iso_form_needs_no_tz(tmp_path: Path, ingest_into) -> None:
    path = copy_tree(tmp_path, "logs", "structured_iso.jsonl")
    result = ingest_into(path)
    row = result.rows("SELECT * EXCLUDE (event_id, load_id) FROM events")[0]
    assert json.loads(row.pop("attrs"))["trace_id"] == "trace-456"
    assert row == {
        "system": "tapps",
        "source": "structured_log",
        "source_path": str(path.resolve()),
        "record_no": 1,
        "ts": datetime(2026, 1, 15, 10, 30, tzinfo=UTC),
        "ts_raw": "2026-01-15T10:30:00Z",
        "ts_quality": "exact",
        "stream": "workflow-123",
        "seq": None,
        "position": 1,
        "project": None,
        "correlation_id": "step-1",
        "event_type": "step.start",
        "event_type_raw": "tapps_agents.workflow.executor",
        "actor": "implementer",
        "name": "step-1",
        "outcome": None,
        "severity": "info",
        "duration_ms": 5200.0,
        "message": "Step started",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
    }


def test_structured_log_bad_lines_quarantined(tmp_path: Path, ingest_into) -> None:
    path = tmp_path / "stderr.txt"  # a redirected stderr: plain lines around the JSON records
    good = (TAPPS / "logs" / "structured_iso.jsonl").read_text()
    path.write_text("Starting workflow...\n" + good + "Traceback (most recent call last):\n[1]\n")
    assert loader_of(path) == "tapps.structured_log"
    result = ingest_into(path)
    assert result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no") == [
        {"record_no": 1, "reason": "malformed JSON: Expecting value: line 1 column 1 (char 0)"},
        {"record_no": 3, "reason": "malformed JSON: Expecting value: line 1 column 1 (char 0)"},
        {"record_no": 4, "reason": "not a JSON object"},
    ]
    assert result.scalar("SELECT record_no FROM events") == 2


def test_error_envelopes(tmp_path: Path, ingest_into) -> None:
    path = copy_tree(tmp_path, ".tapps-agents", "dlq", "dead_letters.jsonl")
    with path.open("a") as handle:
        handle.write('{"success": false\n{"success": false, "result": 1}\n')
    assert loader_of(path) == "tapps.error_envelope"
    result = ingest_into(path)
    rows = result.rows(
        "SELECT record_no, event_type, error_code, error_category, outcome, correlation_id, "
        "ts_quality, attrs->>'recoverable_effective' AS recoverable FROM events ORDER BY record_no"
    )
    assert rows == [
        {"record_no": 1, "event_type": "error", "error_code": "timeout_error",
         "error_category": "timeout", "outcome": "timeout", "correlation_id": "implementation",
         "ts_quality": "derived", "recoverable": "true"},
        {"record_no": 2, "event_type": "error", "error_code": "validation_error",
         "error_category": "validation", "outcome": "error", "correlation_id": "corr-42",
         "ts_quality": "derived", "recoverable": "false"},
    ]
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert [(w["record_no"], w["reason"].split(":")[0]) for w in warnings] == [
        (3, "malformed JSON"),
        (4, "no error envelope (error missing)"),
    ]


def test_error_envelope_document_and_array_forms(tmp_path: Path, ingest_into) -> None:
    envelope = {"success": False, "error": {"code": "config_error", "message": "bad config",
                                            "category": "configuration", "recoverable": True},
                "workflow_id": "w", "timestamp": "2025-12-22T13:00:00Z"}
    single = tmp_path / "result.json"
    single.write_text(json.dumps(envelope, indent=2))
    array = tmp_path / "dlq.json"
    array.write_text(json.dumps([envelope, {**envelope, "error": "plain failure"}]))
    result = ingest_into(single, array)
    rows = result.rows(
        "SELECT regexp_extract(source_path, '[^/]+$') AS f, record_no, error_code, ts, ts_quality "
        "FROM events ORDER BY f, record_no"
    )
    at = datetime(2025, 12, 22, 13, 0, tzinfo=UTC)
    assert rows == [
        {"f": "dlq.json", "record_no": 1, "error_code": "config_error", "ts": at,
         "ts_quality": "exact"},
        {"f": "dlq.json", "record_no": 2, "error_code": "error", "ts": at, "ts_quality": "exact"},
        {"f": "result.json", "record_no": 1, "error_code": "config_error", "ts": at,
         "ts_quality": "exact"},
    ]


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_step_markers(tmp_path: Path, ingest_into, tz: str | None) -> None:
    root = copy_tree(tmp_path, ".tapps-agents", "workflows", "markers")
    result = ingest_into(root, tz=tz)
    rows = result.rows(
        "SELECT event_type, name, outcome, error_code, ts, ts_quality, duration_ms FROM events "
        "ORDER BY name"
    )
    failed_ts = datetime(2025, 12, 22, 13, 17, 44, 392000, tzinfo=UTC) if tz else None
    done_ts = datetime(2025, 12, 22, 13, 17, 40, 1932, tzinfo=UTC) if tz else None
    quality = "assumed_local" if tz else "missing"
    assert rows == [
        {"event_type": "step.fail", "name": "implementation", "outcome": "error",
         "error_code": "ValueError", "ts": failed_ts, "ts_quality": quality,
         "duration_ms": 3380.0},
        {"event_type": "step.finish", "name": "planning", "outcome": "ok", "error_code": None,
         "ts": done_ts, "ts_quality": quality, "duration_ms": 97500.0},
    ]
    facts = [json.loads(f) for (f,) in result.con.execute("SELECT facts FROM _loads").fetchall()]
    assert {f["timezone_unknown"] for f in facts} == {tz is None}


def test_step_marker_malformed(tmp_path: Path, ingest_into) -> None:
    path = tmp_path / ".tapps-agents" / "workflows" / "markers" / "w" / "step-a" / "DONE.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"workflow_id": "w"}')
    result = ingest_into(path)
    assert result.rows("SELECT record_no, reason FROM _load_warnings") == [
        {"record_no": 1, "reason": "step_id missing"}
    ]


def test_real_audit_log_repeated_lines_are_mirrors(tmp_path: Path, ingest_into) -> None:
    path = copy_tree(tmp_path, "real", ".tapps-agents", "audit", "execution_audit.log")
    with path.open("a") as handle:
        handle.write("2025-12-19 12:54:27 | INFO | {not json\nfree text line\n")
    result = ingest_into(path)
    assert result.scalar("SELECT count(*) FROM events") == 8
    assert result.scalar("SELECT count(*) FROM timeline_events") == 2
    first = result.rows("SELECT * FROM timeline_events ORDER BY record_no")
    assert [(r["event_type"], r["ts"], r["ts_quality"], r["duration_ms"]) for r in first] == [
        ("step.start", datetime(2025, 12, 19, 20, 54, 26, 860345, tzinfo=UTC), "exact", None),
        ("step.finish", datetime(2025, 12, 19, 20, 54, 26, 875737, tzinfo=UTC), "exact", 33.741),
    ]
    assert [r["record_no"] for r in result.rows("SELECT record_no FROM _load_warnings")] == [9, 10]
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["duplicate_lines"] == 6
    assert facts["writer_utc_offset_minutes"] == [-480]  # the writer ran at UTC-8


def test_real_executions_metrics(tmp_path: Path, ingest_into) -> None:
    path = copy_tree(tmp_path, "real", ".tapps-agents", "metrics", "executions_2026-01-20.jsonl")
    with path.open("a") as handle:
        handle.write('{"execution_id": "x"}\n')
    result = ingest_into(path)
    row = result.rows("SELECT * FROM events")[0]
    assert (row["event_type"], row["stream"], row["name"], row["actor"], row["outcome"]) == (
        "step.finish", "w", "s", "reviewer", "ok"
    )
    assert row["ts"] == datetime(2026, 1, 20, 21, 0, 36, 129110, tzinfo=UTC)
    metrics = result.rows("SELECT name, value, unit FROM metrics ORDER BY name")
    assert metrics == [
        {"name": "step.duration_ms", "value": 10.0, "unit": "ms"},
        {"name": "step.retry_count", "value": 0.0, "unit": "count"},
    ]
    assert result.rows("SELECT record_no FROM _load_warnings") == [{"record_no": 2}]


@pytest.mark.parametrize("tz", [None, "America/Los_Angeles"])
def test_real_analytics_history(tmp_path: Path, ingest_into, tz: str | None) -> None:
    root = copy_tree(tmp_path, "real", ".tapps-agents", "analytics")
    result = ingest_into(root, tz=tz)
    rows = result.rows(
        "SELECT event_type_raw, name, ts, ts_quality, outcome FROM events ORDER BY event_type_raw"
    )
    agent_ts = datetime(2026, 1, 31, 0, 5, 40, 641272, tzinfo=UTC) if tz else None
    workflow_ts = datetime(2026, 1, 31, 0, 5, 40, 876060, tzinfo=UTC) if tz else None
    quality = "assumed_local" if tz else "missing"
    assert rows == [
        {"event_type_raw": "analytics.agent", "name": "reviewer", "ts": agent_ts,
         "ts_quality": quality, "outcome": "ok"},
        {"event_type_raw": "analytics.workflow", "name": "w-123", "ts": workflow_ts,
         "ts_quality": quality, "outcome": "ok"},
    ]
    assert result.scalar("SELECT count(*) FROM metrics") == 3


def test_whole_tapps_tree_counts_and_idempotence(tmp_path: Path, ingest_into) -> None:
    root = tmp_path / "evidence"
    shutil.copytree(TAPPS, root)
    first = ingest_into(root, tz="Europe/Berlin")
    assert first.summary.ok
    assert sorted(Path(p).name for p in first.summary.unclaimed) == ["LICENSE", "NOTICE"]
    by_loader = {
        row["loader"]: (row["n"], row["events"], row["metrics"], row["quarantined"])
        for row in first.rows(
            "SELECT loader, count(*) AS n, sum(event_rows) AS events, "
            "sum(metric_rows) AS metrics, sum(quarantined) AS quarantined FROM _loads "
            "GROUP BY loader"
        )
    }
    assert by_loader == {
        "tapps.workflow_state": (6, 30, 0, 0),  # the byte-identical history copy too (mirrors)
        "tapps.state_meta": (1, 1, 0, 0),
        "tapps.last_pointer": (1, 1, 0, 0),
        "tapps.workflow_events": (1, 7, 0, 0),
        "tapps.step_marker": (2, 2, 0, 0),
        "tapps.error_envelope": (1, 2, 0, 0),
        "tapps.structured_log": (2, 4, 0, 0),
        "tapps.audit_log": (1, 8, 0, 0),
        "tapps.executions": (1, 1, 2, 0),
        "tapps.analytics_history": (2, 2, 3, 0),
    }
    assert first.scalar("SELECT count(*) FROM events WHERE system <> 'tapps'") == 0
    second = ingest_into(root, db=first.db, tz="Europe/Berlin")
    assert {f.status for f in second.summary.files} == {"unchanged"}
    assert second.scalar("SELECT count(*) FROM events") == 58
