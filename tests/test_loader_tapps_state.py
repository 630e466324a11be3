"""Tapps workflow state loaders: every state variant, mirrors, _checksum, naive local times."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.ingest import claimers
from incidentlab.loaders import all_loaders
from incidentlab.loaders.tapps.checksum import state_checksum

from conftest import FIXTURES

WID = "rapid-dev-20251222-141503"
GZ = f"{WID}-20251222-141744.json.gz"


def state_dir(tmp_path: Path) -> Path:
    root = tmp_path / "evidence"
    shutil.copytree(FIXTURES / "tapps" / ".tapps-agents", root / ".tapps-agents")
    return root / ".tapps-agents" / "workflow-state"


def loader_of(path: Path) -> str | None:
    found = claimers(path, all_loaders())
    return found[0].name if found else None


def test_every_state_variant_is_claimed(tmp_path: Path) -> None:
    ws = state_dir(tmp_path)
    expected = {
        ws / f"workflow-{WID}.json": "tapps.workflow_state",
        ws / f"{WID}.json": "tapps.workflow_state",
        ws / "history" / f"{WID}.json": "tapps.workflow_state",
        ws / GZ: "tapps.workflow_state",
        ws / "history" / GZ: "tapps.workflow_state",
        ws / "current_state.json": "tapps.workflow_state",
        ws / f"{WID}.meta.json": "tapps.state_meta",
        ws / "last.json": "tapps.last_pointer",
        ws / "events" / f"{WID}.events.jsonl": "tapps.workflow_events",
    }
    assert {p: loader_of(p) for p in expected} == expected


def test_state_files_without_tz_keep_naive_times_unparsed(tmp_path: Path, ingest_into) -> None:
    ws = state_dir(tmp_path)
    result = ingest_into(ws / f"workflow-{WID}.json")
    assert result.summary.ok
    rows = result.rows(
        "SELECT record_no, event_type, ts, ts_raw, ts_quality FROM events "
        "ORDER BY record_no, event_type"
    )
    assert rows == [
        {"record_no": 0, "event_type": "workflow.end", "ts": None, "ts_raw": None,
         "ts_quality": "missing"},
        {"record_no": 0, "event_type": "workflow.start", "ts": None,
         "ts_raw": "2025-12-22T14:15:03.118201", "ts_quality": "missing"},
        {"record_no": 1, "event_type": "step.finish", "ts": None,
         "ts_raw": "2025-12-22T14:17:40.001932", "ts_quality": "missing"},
        {"record_no": 1, "event_type": "step.start", "ts": None,
         "ts_raw": "2025-12-22T14:16:02.500100", "ts_quality": "missing"},
        {"record_no": 2, "event_type": "step.fail", "ts": None,
         "ts_raw": "2025-12-22T14:17:44.390805", "ts_quality": "missing"},
        {"record_no": 2, "event_type": "step.start", "ts": None,
         "ts_raw": "2025-12-22T14:17:41.010000", "ts_quality": "missing"},
        {"record_no": 3, "event_type": "artifact.created", "ts": None,
         "ts_raw": "2025-12-22T14:17:40.001932", "ts_quality": "missing"},
    ]
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["timezone_unknown"] is True
    assert facts["naive_local_timestamps"] == 6
    assert facts["variant"] == "executor"
    assert facts["state_valid"] is True


def test_state_with_tz_is_assumed_local_and_lines_up_with_event_log(
    tmp_path: Path, ingest_into
) -> None:
    ws = state_dir(tmp_path)
    path = ws / f"workflow-{WID}.json"
    result = ingest_into(path, ws / "events" / f"{WID}.events.jsonl", tz="Europe/Berlin")
    row = result.rows(
        "SELECT * EXCLUDE (event_id, load_id) FROM events "
        "WHERE source = 'workflow_state' AND event_type = 'step.fail'"
    )[0]
    assert json.loads(row.pop("attrs"))["error"] == "ValueError: Invalid skill command"
    assert row == {
        "system": "tapps",
        "source": "workflow_state",
        "source_path": str(path.resolve()),
        "record_no": 2,
        "ts": datetime(2025, 12, 22, 13, 17, 44, 390805, tzinfo=UTC),
        "ts_raw": "2025-12-22T14:17:44.390805",
        "ts_quality": "assumed_local",
        "stream": WID,
        "seq": None,
        "position": 2,
        "project": None,
        "correlation_id": "implementation",
        "event_type": "step.fail",
        "event_type_raw": "step_execution.failed",
        "actor": "implementer",
        "name": "implementation",
        "outcome": "error",
        "severity": "error",
        "duration_ms": 3380.0,
        "message": "ValueError: Invalid skill command",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
    }
    # with the declared zone the state's step.fail sits within 1 ms of the event log's step_fail
    gap = result.scalar(
        "SELECT abs(epoch_ms(max(ts) FILTER (WHERE source = 'workflow_events')) "
        "- epoch_ms(max(ts) FILTER (WHERE source = 'workflow_state'))) FROM events "
        "WHERE event_type = 'step.fail'"
    )
    assert gap < 1
    facts = json.loads(result.scalar("SELECT facts FROM _loads WHERE loader = 'tapps.workflow_state'"))
    assert facts["timezone_unknown"] is False and facts["tz"] == "Europe/Berlin"


def test_same_state_in_several_files_is_mirrored_not_duplicated(tmp_path: Path, ingest_into) -> None:
    ws = state_dir(tmp_path)
    result = ingest_into(ws, tz="Europe/Berlin")
    assert result.summary.ok
    statuses = {Path(f.path).relative_to(ws.resolve()).as_posix(): f.status
                for f in result.summary.files if f.loader == "tapps.workflow_state"}
    assert statuses == {
        "current_state.json": "loaded",
        GZ: "loaded",
        f"{WID}.json": "loaded",
        f"workflow-{WID}.json": "loaded",
        "history/" + GZ: "loaded",  # a byte-identical copy elsewhere: its events are all mirrors
        f"history/{WID}.json": "loaded",
    }
    per_file = result.rows(
        "SELECT regexp_extract(source_path, '[^/]+/[^/]+$') AS f, count(*) AS n, "
        "count(*) FILTER (WHERE is_mirror) AS mirrors FROM events "
        "WHERE source = 'workflow_state' GROUP BY f ORDER BY f"
    )
    assert per_file == [
        {"f": f"history/{GZ}", "n": 3, "mirrors": 3},
        {"f": f"history/{WID}.json", "n": 7, "mirrors": 7},
        {"f": "workflow-state/current_state.json", "n": 3, "mirrors": 0},
        {"f": f"workflow-state/{GZ}", "n": 3, "mirrors": 2},
        {"f": f"workflow-state/{WID}.json", "n": 7, "mirrors": 3},
        {"f": f"workflow-state/workflow-{WID}.json", "n": 7, "mirrors": 7},
    ]
    # the timeline sees each state event once
    unique = result.scalar(
        "SELECT count(*) FROM timeline_events WHERE source = 'workflow_state'"
    )
    distinct = result.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT stream, event_type, name, ts_raw, outcome, message "
        "FROM events WHERE source = 'workflow_state')"
    )
    assert unique == distinct == 8
    steps = result.rows(
        "SELECT step_id, count(*) AS n, count(*) FILTER (WHERE NOT is_mirror) AS primary_rows, "
        "count(DISTINCT content_sha) AS shas FROM tapps_steps GROUP BY step_id ORDER BY step_id"
    )
    assert steps == [
        {"step_id": "implementation", "n": 3, "primary_rows": 1, "shas": 1},
        {"step_id": "planning", "n": 3, "primary_rows": 1, "shas": 1},
    ]
    again = ingest_into(ws, db=result.db, tz="Europe/Berlin")
    assert {f.status for f in again.summary.files} == {"unchanged"}


def test_checksum_verified_and_mismatch_warned(tmp_path: Path, ingest_into) -> None:
    ws = state_dir(tmp_path)
    result = ingest_into(ws / GZ, ws / "current_state.json")
    facts = {
        Path(r["path"]).name: json.loads(r["facts"])
        for r in result.rows("SELECT path, facts FROM _loads")
    }
    assert facts[GZ]["checksum_ok"] is True
    assert facts[GZ]["variant"] == "advanced_gz"
    assert facts["current_state.json"]["checksum_ok"] is False
    assert facts["current_state.json"]["variant"] == "current_state"
    warning = result.rows("SELECT * FROM events WHERE error_code = 'checksum_mismatch'")
    assert len(warning) == 1
    assert (warning[0]["event_type"], warning[0]["severity"], warning[0]["error_category"]) == (
        "error", "warning", "integrity"
    )
    assert warning[0]["source_path"].endswith("current_state.json")


def test_checksum_matches_the_tools_algorithm() -> None:
    state = {"workflow_id": "w", "current_step": "b", "completed_steps": ["b", "a"],
             "skipped_steps": [], "status": "running", "variables": {"z": 1, "a": [2]}}
    stable = json.dumps(
        {"completed_steps": ["a", "b"], "current_step": "b", "skipped_steps": [],
         "status": "running", "variables": '{"a": [2], "z": 1}', "workflow_id": "w"}
    )
    import hashlib

    assert state_checksum(state) == hashlib.sha256(stable.encode()).hexdigest()


def test_malformed_state_variants(tmp_path: Path, ingest_into) -> None:
    ws = state_dir(tmp_path)
    doc = json.loads((ws / f"workflow-{WID}.json").read_text())
    missing_status = {k: v for k, v in doc.items() if k != "status"}
    missing_status["step_executions"] = [doc["step_executions"][0], "garbage", {"agent": "x"}]
    (ws / f"workflow-{WID}.json").write_text(json.dumps(missing_status))
    (ws / "history" / GZ).write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    (ws / "current_state.json").write_text('{"workflow_id": "w", "completed_steps": [')
    result = ingest_into(
        ws / f"workflow-{WID}.json", ws / "history" / GZ, ws / "current_state.json"
    )
    warnings = result.rows(
        "SELECT regexp_extract(source_path, '[^/]+$') AS f, record_no, reason "
        "FROM _load_warnings ORDER BY f, record_no"
    )
    assert [(w["f"], w["record_no"]) for w in warnings] == [
        ("current_state.json", 0), (GZ, 0),
        (f"workflow-{WID}.json", 0), (f"workflow-{WID}.json", 2), (f"workflow-{WID}.json", 3),
    ]
    reasons = [w["reason"] for w in warnings]
    assert "malformed JSON" in reasons[0]
    assert reasons[1].startswith("corrupt gzip")
    assert reasons[2:] == [
        "invalid workflow state: Missing required field: status",
        "step_executions item: not an object",
        "step_executions item: step_id missing",
    ]
    # the readable step and the artifact are still loaded
    assert result.scalar(
        "SELECT count(*) FROM events WHERE source_path LIKE '%workflow-rapid%'"
    ) == 3


def test_gzip_state_detected_by_content_outside_the_state_dir(tmp_path: Path) -> None:
    doc = {"workflow_id": "w-1", "started_at": "2025-12-22T14:15:03", "status": "running",
           "completed_steps": [], "skipped_steps": [], "variables": {}}
    path = tmp_path / "workflow-state" / "w-1-20251222-141503.json.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    assert loader_of(path) == "tapps.workflow_state"


def test_meta_and_last_pointers(tmp_path: Path, ingest_into) -> None:
    ws = state_dir(tmp_path)
    result = ingest_into(ws / f"{WID}.meta.json", ws / "last.json", tz="Europe/Berlin")
    facts = {
        Path(r["path"]).name: json.loads(r["facts"])
        for r in result.rows("SELECT path, facts FROM _loads")
    }
    assert facts[f"{WID}.meta.json"]["state_file_exists"] is True
    assert facts["last.json"]["state_file_exists"] is False  # absolute Windows path
    rows = result.rows("SELECT source, ts, ts_quality, stream FROM events ORDER BY source")
    assert rows == [
        {"source": "last_pointer", "ts": datetime(2025, 12, 22, 13, 17, 44, 401500, tzinfo=UTC),
         "ts_quality": "assumed_local", "stream": WID},
        {"source": "state_meta", "ts": datetime(2025, 12, 22, 13, 17, 44, 401233, tzinfo=UTC),
         "ts_quality": "assumed_local", "stream": WID},
    ]
    (ws / "last.json").write_text('{"saved_at": "2025-12-22T14:17:44"}')
    broken = ingest_into(ws / "last.json")
    (warning,) = broken.rows("SELECT record_no, reason FROM _load_warnings")
    assert warning == {"record_no": 1, "reason": "missing ['workflow_id', 'state_file']"}
