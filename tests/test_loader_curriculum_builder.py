"""curriculum-builder loaders: run.json, logs/events.jsonl, stage history, artifacts, markers."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.ingest import claimers
from incidentlab.loaders import all_loaders

from conftest import FIXTURES

RUN = "20260209-101500-agentic-eng"
STUCK = "20260210-090000-stuck"
MTIME = datetime(2026, 2, 9, 11, 0, tzinfo=UTC)


def copy_runs(tmp_path: Path, mtime: datetime = MTIME) -> Path:
    """The fixture tree in tmp_path with every file's mtime pinned (derived times are mtimes)."""
    root = tmp_path / "evidence"
    shutil.copytree(FIXTURES / "curriculum_builder", root)
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return root


def loader_of(path: Path) -> str | None:
    found = claimers(path, all_loaders())
    return found[0].name if found else None


def test_every_run_artifact_is_claimed_by_its_loader(tmp_path: Path) -> None:
    root = copy_runs(tmp_path)
    run = root / "runs" / RUN
    expected = {
        run / "run.json": "curriculum_builder.run_json",
        run / "logs/events.jsonl": "curriculum_builder.events_jsonl",
        run / "logs/validation.ok": "curriculum_builder.validation_marker",
        run / "outputs/reviews/validation_report.md": "curriculum_builder.validation_report",
        run / "inputs/topic_spec.json": "curriculum_builder.topic_spec",
        run / "outputs/plan/plan.json": "curriculum_builder.plan",
        run / "outputs/reviews/diff_report.json": "curriculum_builder.diff_report",
        run / "outputs/reviews/optimization_trace.json": "curriculum_builder.optimization_trace",
        root / "consoles/run_stuck.stderr.log": "curriculum_builder.orchestration_log",
    }
    assert {path: loader_of(path) for path in expected} == expected


def test_whole_tree_counts_and_idempotence(tmp_path: Path, ingest_into) -> None:
    root = copy_runs(tmp_path)
    first = ingest_into(root)
    assert first.summary.unclaimed == []
    assert first.summary.ok
    by_loader = {
        row["loader"]: (row["n"], row["events"], row["quarantined"])
        for row in first.rows(
            "SELECT loader, count(*) AS n, sum(event_rows) AS events, "
            "sum(quarantined) AS quarantined FROM _loads GROUP BY loader"
        )
    }
    assert by_loader == {
        "curriculum_builder.run_json": (2, 6, 0),
        "curriculum_builder.events_jsonl": (1, 3, 0),
        "curriculum_builder.validation_report": (1, 9, 0),
        "curriculum_builder.validation_marker": (1, 1, 0),
        "curriculum_builder.topic_spec": (2, 2, 0),
        "curriculum_builder.plan": (1, 1, 0),
        "curriculum_builder.diff_report": (1, 1, 0),
        "curriculum_builder.optimization_trace": (1, 1, 0),
        "curriculum_builder.orchestration_log": (1, 11, 0),
    }
    assert first.scalar("SELECT count(*) FROM curriculum_builder_stage_history") == 4
    second = ingest_into(root, db=first.db)
    assert {f.status for f in second.summary.files} == {"unchanged"}
    assert second.scalar("SELECT count(*) FROM events") == 35


def test_run_json_canonical_row(tmp_path: Path, ingest_into) -> None:
    root = copy_runs(tmp_path)
    path = root / "runs" / RUN / "run.json"
    result = ingest_into(path)
    row = result.rows(
        "SELECT * EXCLUDE (event_id, load_id) FROM events WHERE record_no = 2"
    )[0]
    assert json.loads(row.pop("attrs")) == {
        "at_utc": "2026-02-09T10:22:41Z",
        "event_type": "stage_transition",
        "stage": "generated",
        "message": "agent generated curriculum",
        "metadata": {},
    }
    assert row == {
        "system": "curriculum_builder",
        "source": "run_json",
        "source_path": str(path.resolve()),
        "record_no": 2,
        "ts": datetime(2026, 2, 9, 10, 22, 41, tzinfo=UTC),
        "ts_raw": "2026-02-09T10:22:41Z",
        "ts_quality": "exact",
        "stream": RUN,
        "seq": None,
        "position": 2,
        "project": None,
        "correlation_id": None,
        "event_type": "stage.transition",
        "event_type_raw": "stage_transition",
        "actor": None,
        "name": "generated",
        "outcome": None,
        "severity": "info",
        "duration_ms": None,
        "message": "agent generated curriculum",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
    }
    start = result.rows("SELECT * FROM events WHERE record_no = 0")[0]
    assert (start["event_type"], start["name"]) == ("run.start", RUN)
    assert json.loads(start["attrs"])["operator_note"] == "kept as an extra"  # unknown key kept
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["run_metadata_valid"] is True
    assert facts["current_stage"] == "validated"
    assert facts["stage_matches_history"] is True
    assert facts["extra_keys"] == ["operator_note"]


def write_run(tmp_path: Path, doc: object, run_id: str = RUN) -> Path:
    path = tmp_path / "runs" / run_id / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    return path


GOOD_EVENT = {
    "at_utc": "2026-02-09T10:15:00Z",
    "event_type": "stage_transition",
    "stage": "initialized",
    "message": "run initialized",
    "metadata": {},
}


@pytest.mark.parametrize(
    ("doc", "reason", "events", "quarantined"),
    [
        (
            {"run_id": RUN, "created_at_utc": "2026-02-09T10:15:00Z", "stage": "shipped",
             "history": [GOOD_EVENT]},
            "stage must be one of",
            1,
            1,
        ),
        (
            {"run_id": RUN, "stage": "initialized", "history": [GOOD_EVENT]},
            "created_at_utc must be a non-empty string",
            1,
            1,
        ),
        (
            {"run_id": "", "created_at_utc": "x", "stage": "initialized", "history": [GOOD_EVENT]},
            "run_id must be a non-empty string",
            1,
            1,
        ),
        (
            {"run_id": RUN, "created_at_utc": "2026-02-09T10:15:00Z", "stage": "initialized",
             "history": [{**GOOD_EVENT, "actor": "me"}]},
            "extra keys ['actor']",
            1,
            1,
        ),
        (
            {"run_id": RUN, "created_at_utc": "2026-02-09T10:15:00Z", "stage": "initialized",
             "history": [GOOD_EVENT, "not an event"]},
            "history must be a list of objects",
            1,
            2,
        ),
    ],
)
def test_invalid_run_metadata_is_quarantined_not_dropped(
    tmp_path: Path, ingest_into, doc: dict, reason: str, events: int, quarantined: int
) -> None:
    path = write_run(tmp_path, doc)
    result = ingest_into(path)
    warnings = result.rows("SELECT record_no, reason, raw FROM _load_warnings ORDER BY record_no")
    assert len(warnings) == quarantined
    assert warnings[0]["record_no"] == 0
    assert warnings[0]["reason"].startswith("invalid run metadata")
    assert reason in warnings[0]["reason"]
    assert result.scalar("SELECT count(*) FROM events") == events
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["run_metadata_valid"] is False
    assert reason in facts["run_metadata_error"]


def test_malformed_run_json_is_quarantined(tmp_path: Path, ingest_into) -> None:
    path = write_run(tmp_path, '{"run_id": "x", "history": [')
    result = ingest_into(path)
    (warning,) = result.rows("SELECT record_no, reason FROM _load_warnings")
    assert warning["record_no"] == 0 and "malformed JSON" in warning["reason"]
    assert result.scalar("SELECT records_read FROM _loads") == 1


def test_stage_history_flags_regressions(tmp_path: Path, ingest_into) -> None:
    def event(stage: str, message: str, metadata: dict | None = None) -> dict:
        return {**GOOD_EVENT, "stage": stage, "message": message, "metadata": metadata or {}}

    doc = {
        "run_id": RUN,
        "created_at_utc": "2026-02-09T10:15:00Z",
        "stage": "planned",
        "history": [
            event("initialized", "run initialized"),
            event("generated", "agent generated curriculum"),
            event("validated", "validator passed"),
            event("generated", "auto-sync from artifacts (was validated)",
                  {"previous_stage": "validated"}),
            event("spec_ready", "manual edit"),
            event("planned", "plan generated"),
        ],
    }
    result = ingest_into(write_run(tmp_path, doc))
    table = result.rows(
        "SELECT position, stage, previous_stage, auto_sync, forward, legal "
        "FROM curriculum_builder_stage_history ORDER BY position"
    )
    assert [(r["stage"], r["auto_sync"], r["forward"], r["legal"]) for r in table] == [
        ("initialized", False, True, True),
        ("generated", False, True, True),
        ("validated", False, True, True),
        ("generated", True, False, True),
        ("spec_ready", False, False, False),
        ("planned", False, True, True),
    ]
    assert result.scalar("SELECT severity FROM events WHERE record_no = 5") == "warning"
    assert json.loads(result.scalar("SELECT facts FROM _loads"))["illegal_transitions"] == 1


def test_events_jsonl_line_is_seq_and_bad_lines_quarantined(tmp_path: Path, ingest_into) -> None:
    root = copy_runs(tmp_path)
    path = root / "runs" / RUN / "logs" / "events.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "", "{not json", lines[1], '["x"]', lines[2]]) + "\n")
    result = ingest_into(path)
    assert result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no") == [
        {"record_no": 3, "reason": "malformed JSON: Expecting property name enclosed in double "
         "quotes: line 1 column 2 (char 1)"},
        {"record_no": 5, "reason": "not a JSON object"},
    ]
    rows = result.rows("SELECT record_no, seq, position, name FROM events ORDER BY record_no")
    assert rows == [
        {"record_no": 1, "seq": 1, "position": 1, "name": "initialized"},
        {"record_no": 4, "seq": 4, "position": 4, "name": "generated"},
        {"record_no": 6, "seq": 6, "position": 6, "name": "validated"},
    ]
    assert result.scalar("SELECT records_read FROM _loads") == 5


def test_validation_report_findings_metrics_and_marker_facts(tmp_path: Path, ingest_into) -> None:
    root = copy_runs(tmp_path)
    path = root / "runs" / RUN / "outputs" / "reviews" / "validation_report.md"
    result = ingest_into(path)
    checks = result.rows(
        "SELECT event_type_raw, severity, outcome, message FROM events "
        "WHERE event_type_raw IN ('OK', 'WARN', 'ERR', 'Verdict') ORDER BY record_no"
    )
    assert checks == [
        {"event_type_raw": "Verdict", "severity": "info", "outcome": "ok",
         "message": "Verdict: PASS"},
        {"event_type_raw": "OK", "severity": "info", "outcome": "ok", "message": "schema valid"},
        {"event_type_raw": "OK", "severity": "info", "outcome": "ok", "message": "DAG is acyclic"},
        {"event_type_raw": "OK", "severity": "info", "outcome": "ok",
         "message": "evidence mode standard satisfied"},
        {"event_type_raw": "WARN", "severity": "warning", "outcome": None,
         "message": "node N4 estimate_confidence missing"},
    ]
    row = result.rows("SELECT * FROM events WHERE event_type_raw = 'WARN'")[0]
    assert (row["ts"], row["ts_quality"], row["ts_raw"]) == (MTIME, "derived", None)
    assert (row["event_type"], row["stream"], row["record_no"]) == ("validation.check", RUN, 16)
    metrics = result.rows("SELECT name, value, unit, ts, ts_quality FROM metrics ORDER BY name")
    assert [(m["name"], m["value"]) for m in metrics] == [
        ("validation.failed", 0.0), ("validation.passed", 3.0), ("validation.warnings", 1.0)
    ]
    assert all(m["ts"] == MTIME and m["ts_quality"] == "derived" for m in metrics)
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["verdict"] == "PASS"
    assert facts["validation_ok_present"] is True
    assert facts["validation_ok_mtime"] == MTIME.isoformat()
    assert facts["verdict_matches_marker"] is True
    assert facts["counts_match_totals"] is True


def test_validation_report_failures_and_malformed_lines(tmp_path: Path, ingest_into) -> None:
    path = tmp_path / "runs" / RUN / "outputs" / "reviews" / "validation_report.md"
    path.parent.mkdir(parents=True)
    path.write_text(
        "## Validation Report\n\n- Verdict: **FAIL**\n\n### Validator Output\n\n```text\n"
        "PASSED: 1\n  OK  schema valid\nFAILED: two\n  ERR  cycle N2 -> N3 -> N2\n"
        "Total: 1 passed, lots failed\n```\n---\nstderr:\n```text\nTraceback: boom\n```\n"
        "- Verdict: **MAYBE**\n"
    )
    result = ingest_into(path)
    assert result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no") == [
        {"record_no": 10, "reason": "FAILED count is not a number"},
        {"record_no": 12, "reason": "unparseable Total line"},
        {"record_no": 19, "reason": "unknown verdict 'MAYBE'"},
    ]
    err = result.rows("SELECT severity, outcome, message FROM events WHERE event_type_raw='ERR'")
    assert err == [{"severity": "error", "outcome": "error", "message": "cycle N2 -> N3 -> N2"}]
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["verdict"] == "FAIL"
    assert facts["validation_ok_present"] is False
    assert facts["verdict_matches_marker"] is True  # FAIL and no marker agree
    assert result.scalar("SELECT count(*) FROM events WHERE message = 'Traceback: boom'") == 1


def test_validation_marker_mtime_and_currency(tmp_path: Path, ingest_into) -> None:
    root = copy_runs(tmp_path)
    run = root / "runs" / RUN
    marker = run / "logs" / "validation.ok"
    newer = MTIME.timestamp() + 60
    os.utime(run / "outputs/reviews/validation_report.md", (newer, newer))
    result = ingest_into(marker)
    row = result.rows("SELECT * FROM events")[0]
    assert (row["event_type"], row["name"], row["ts"], row["ts_quality"], row["severity"]) == (
        "validation.check", "validation.ok", MTIME, "derived", "warning"
    )
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["validation_ok_present"] is True
    assert facts["marker_current"] is False
    assert facts["dependencies_newer"] == ["outputs/reviews/validation_report.md"]
    assert facts["dependencies_missing"] == ["outputs/curriculum/curriculum.json"]


def test_topic_spec_placeholders_explain_stage_conflict(tmp_path: Path, ingest_into) -> None:
    root = copy_runs(tmp_path)
    result = ingest_into(root / "runs" / STUCK / "inputs" / "topic_spec.json")
    row = result.rows("SELECT * FROM events")[0]
    assert row["event_type"] == "artifact.created"
    assert row["severity"] == "warning" and row["outcome"] == "error"
    assert row["message"] == (
        "topic spec not ready: placeholders in goal, audience, scope_in[0], constraints.depth"
    )
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["topic_spec_ready"] is False
    assert facts["placeholder_fields"] == ["goal", "audience", "scope_in[0]", "constraints.depth"]
    assert result.scalar("SELECT value FROM metrics") == 4.0


@pytest.mark.parametrize(
    ("relative", "metrics"),
    [
        ("outputs/plan/plan.json", {"plan.duration_weeks": 4.0, "plan.total_estimated_minutes":
                                    1500.0, "plan.weekly_budget_minutes": 300.0}),
        ("outputs/reviews/diff_report.json", {"diff.added_nodes": 1.0, "diff.changed_nodes": 1.0,
                                              "diff.removed_nodes": 0.0,
                                              "diff.time_delta_minutes": 45.0}),
        ("outputs/reviews/optimization_trace.json", {"optimization.best_score": 82.0,
                                                     "optimization.iterations": 1.0}),
    ],
)
def test_json_artifacts_metrics_and_malformed(
    tmp_path: Path, ingest_into, relative: str, metrics: dict[str, float]
) -> None:
    root = copy_runs(tmp_path)
    path = root / "runs" / RUN / relative
    result = ingest_into(path)
    found = {r["name"]: r["value"] for r in result.rows("SELECT name, value FROM metrics")}
    assert found == metrics
    assert result.scalar("SELECT count(*) FROM events WHERE ts = ?", [MTIME]) == 1
    path.write_text("{broken")
    broken = ingest_into(path)
    (warning,) = broken.rows("SELECT record_no, reason FROM _load_warnings")
    assert warning["record_no"] == 1 and "malformed JSON" in warning["reason"]


def test_orchestration_console_typed_errors(tmp_path: Path, ingest_into) -> None:
    root = copy_runs(tmp_path)
    path = root / "consoles" / "run_stuck.stderr.log"
    result = ingest_into(path)
    errors = result.rows(
        "SELECT record_no, error_code, error_category FROM events "
        "WHERE event_type = 'error' ORDER BY record_no"
    )
    assert errors == [
        {"record_no": 2, "error_code": "stage_conflict", "error_category": "stage_conflict"},
        {"record_no": 5, "error_code": "config_error", "error_category": "openai_api_key_missing"},
        {"record_no": 7, "error_code": "config_error", "error_category": "openai_base_url_invalid"},
        {"record_no": 8, "error_code": None, "error_category": "codex_structured_json"},
        {"record_no": 9, "error_code": "invalid_argument",
         "error_category": "invalid_run_metadata"},
        {"record_no": 11, "error_code": None, "error_category": "validation_failed"},
    ]
    row = result.rows("SELECT * EXCLUDE (event_id, load_id) FROM events WHERE record_no = 2")[0]
    assert json.loads(row.pop("attrs")) == {
        "line": "[stage_conflict] Topic spec not ready: "
        "runs/20260210-090000-stuck/inputs/topic_spec.json",
        "run_ids": [STUCK],
    }
    assert row == {
        "system": "curriculum_builder",
        "source": "orchestration_log",
        "source_path": str(path.resolve()),
        "record_no": 2,
        "ts": MTIME,
        "ts_raw": None,
        "ts_quality": "derived",
        "stream": STUCK,
        "seq": None,
        "position": 2,
        "project": None,
        "correlation_id": None,
        "event_type": "error",
        "event_type_raw": "typed_error",
        "actor": None,
        "name": None,
        "outcome": "error",
        "severity": "error",
        "duration_ms": None,
        "message": "Topic spec not ready: runs/20260210-090000-stuck/inputs/topic_spec.json",
        "error_code": "stage_conflict",
        "error_category": "stage_conflict",
        "is_mirror": False,
    }
    exits = result.rows(
        "SELECT event_type, error_code, outcome FROM events "
        "WHERE event_type_raw = 'exit_code' ORDER BY record_no"
    )
    assert exits == [
        {"event_type": "run.end", "error_code": "stage_conflict", "outcome": "error"},
        {"event_type": "run.end", "error_code": "config_error", "outcome": "error"},
    ]
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["exit_codes"] == [5, 7]
    assert facts["run_id"] == STUCK


def test_console_detection_is_by_content_not_name(tmp_path: Path) -> None:
    claimed = tmp_path / "whatever.txt"
    claimed.write_text("Saved plan: x\n[validation_failed] Curriculum failed validation\n")
    plain = tmp_path / "stderr.log"
    plain.write_text("nothing to see [here] at all\n")
    assert loader_of(claimed) == "curriculum_builder.orchestration_log"
    assert loader_of(plain) != "curriculum_builder.orchestration_log"


def test_archived_and_legacy_run_folders_are_claimed(tmp_path: Path) -> None:
    doc = {"run_id": RUN, "created_at_utc": "2026-02-09T10:15:00Z", "stage": "initialized",
           "history": [GOOD_EVENT]}
    for base in ("runs/archives", "workflows/runs"):
        path = tmp_path / base / RUN / "run.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc))
        assert loader_of(path) == "curriculum_builder.run_json"


def test_topic_spec_title_case_placeholder_of_older_templates(tmp_path: Path, ingest_into) -> None:
    path = tmp_path / "workflows" / "runs" / RUN / "inputs" / "topic_spec.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"spec_version": "1.0", "topic_name": "Replace With Topic Name",
                                "goal": "ship it", "scope_in": ["x"]}))
    result = ingest_into(path)
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["placeholder_fields"] == ["topic_name"]
    assert facts["missing_fields"] == [
        "audience", "prerequisites", "scope_out", "constraints", "domain_mode", "evidence_mode"
    ]
    assert facts["topic_spec_ready"] is False
