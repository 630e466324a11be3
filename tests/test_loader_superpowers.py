"""superpowers task folders: gate verdicts from decisions.jsonl, the router's log and the untimed
lifecycle emissions from events.jsonl. Expectations were written from the fixture files (four
real task folders of codemie-ai/codemie-code) before the loader ran."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.analysis.replay import check
from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.superpowers import DecisionsLoader, TaskEventsLoader

from conftest import FIXTURES

TASKS = FIXTURES / "superpowers" / "tasks"
REVIEWED = TASKS / "2026-07-20-epmcdme-11733"
UNTIMED = TASKS / "2026-07-30-bash-input-logging"
REALDATA = Path("/work/shared/realdata/agent-workflow/codemie-code")


def test_counts_and_types(ingest_into):
    result = ingest_into(TASKS)
    # the folders' JSON documents: test_loader_superpowers_documents.py
    files = {(Path(f.path).parent.name[:10], Path(f.path).name): (f.loader, f.records_read,
             f.event_rows, f.quarantined) for f in result.summary.files
             if Path(f.path).suffix == ".jsonl"}
    assert files == {
        ("2026-07-08", "decisions.jsonl"): ("superpowers.decisions", 4, 4, 0),
        ("2026-07-20", "decisions.jsonl"): ("superpowers.decisions", 5, 5, 0),
        ("2026-07-20", "events.jsonl"): ("superpowers.task_events", 4, 4, 0),
        ("2026-07-23", "decisions.jsonl"): ("superpowers.decisions", 3, 3, 0),
        ("2026-07-30", "decisions.jsonl"): ("superpowers.decisions", 3, 3, 0),
        ("2026-07-30", "events.jsonl"): ("superpowers.task_events", 7, 7, 0),
        ("2026-08-11", "decisions.jsonl"): ("superpowers.decisions", 6, 6, 0),
        ("2026-08-11", "events.jsonl"): ("superpowers.task_events", 10, 10, 0),
    }
    types = dict(result.con.execute(
        "SELECT event_type || ':' || coalesce(outcome, '-'), count(*) FROM events "
        "WHERE source <> 'task_documents' GROUP BY 1").fetchall())
    # pending / pending-human wait for a person; request-changes refuses the gate
    assert types == {"decision.resolved:ok": 15, "decision.resolved:denied": 4,
                     "decision.request:-": 2, "decision.recorded:ok": 9,
                     "decision.recorded:denied": 3, "decision.recorded:-": 1,
                     "lifecycle.record_complexity_score:skipped": 2,
                     "lifecycle.artifact_published:skipped": 2,
                     "lifecycle.record_complexity_score:ok": 2,
                     "lifecycle.artifact_published:ok": 2}
    assert result.scalar("SELECT count(DISTINCT stream) FROM events "
                         "WHERE source <> 'task_documents'") == 5


def test_request_changes_row_fully_specified(ingest_into):
    result = ingest_into(REVIEWED / "decisions.jsonl")
    (row,) = result.rows("SELECT * FROM events WHERE outcome = 'denied'")
    path = REVIEWED / "decisions.jsonl"
    raw = path.read_text().splitlines()[3]
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "superpowers",
        "source": "decisions",
        "source_path": str(path.resolve()),
        "record_no": 4,
        "ts": datetime(2026, 7, 20, 12, 25, 4, 773000, tzinfo=UTC),
        "ts_raw": "2026-07-20T12:25:04.773Z",
        "ts_quality": "exact",
        "stream": "2026-07-20-epmcdme-11733",
        "seq": None,
        "position": 4,
        "project": None,
        "correlation_id": "code-review.final",
        "event_type": "decision.resolved",
        "event_type_raw": "gate_verdict",
        "actor": "hitl",
        "name": "code-review.final",
        "outcome": "denied",
        "severity": "warning",
        "duration_ms": None,
        "message": "code-review.final: request-changes - User reviewed orchestrator report "
                   "(1 critical, 4 major findings) and selected request-changes.",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert json.loads(row["attrs"]) == json.loads(raw)


def test_lifecycle_emissions_have_no_time_and_keep_file_order(ingest_into):
    result = ingest_into(UNTIMED / "events.jsonl")
    rows = result.rows("SELECT record_no, ts, ts_quality, event_type, name, outcome "
                       "FROM events ORDER BY position")
    assert [(r["record_no"], r["ts"] is None, r["ts_quality"]) for r in rows] == [
        (1, True, "missing"), (2, True, "missing"), (3, True, "missing"),
        (4, False, "exact"), (5, False, "exact"), (6, False, "exact"), (7, True, "missing")]
    assert [(r["event_type"], r["name"]) for r in rows if r["ts"] is None] == [
        ("lifecycle.record_complexity_score", "initial"), ("lifecycle.artifact_published", "spec"),
        ("lifecycle.artifact_published", "plan"), ("lifecycle.record_complexity_score", "actual")]
    assert result.summary.files[0].ts_min == "2026-07-30T11:20:00+00:00"


def test_older_ledger_shape_and_a_backfilled_verdict(ingest_into):
    result = ingest_into(TASKS / "2026-07-23-epmcdme-13540-proxy-keycloak-html-fix",
                         TASKS / "2026-07-08-epmcdme-10318-fix-version-reporting")
    old = result.rows("SELECT actor, ts_raw, message FROM events WHERE stream LIKE '2026-07-23%' "
                      "ORDER BY record_no")
    assert [r["actor"] for r in old] == ["user"] * 3
    assert old[0]["message"] == "spec.approved: approve - User approved spec with proceed"
    assert old[2]["message"] == "code-review.final: approve"
    # The ledger's third line (spec approved at 17:05) was appended after the 17:09 plan verdict.
    report = check(result.con)
    found = [(v["stream"][:10], v["rule"], v["record_no"])
             for v in report.violations.iter_rows(named=True)]
    assert found == [("2026-07-08", "ts_regression", 3)]


def test_malformed_records_quarantined(ingest_into, tmp_path: Path):
    folder = tmp_path / "tasks" / "t1"
    folder.mkdir(parents=True)
    good = (REVIEWED / "decisions.jsonl").read_text().splitlines()
    (folder / "decisions.jsonl").write_text("\n".join(
        [good[0], "{broken", '{"gate_id": 7, "verdict": {}}', '[1, 2]',
         '{"gate_id": "x", "verdict": 5, "ts": "not a time"}', *good[1:]]) + "\n")
    events = (UNTIMED / "events.jsonl").read_text().splitlines()
    (folder / "events.jsonl").write_text("\n".join(
        [events[0], '{"event": null, "intent": "x", "status": "failed"}', *events[1:]]) + "\n")
    result = ingest_into(folder)
    warnings = result.rows("SELECT source_path, record_no, reason FROM _load_warnings "
                           "ORDER BY source_path, record_no")
    assert [(Path(w["source_path"]).name, w["record_no"], w["reason"][:28]) for w in warnings] == [
        ("decisions.jsonl", 2, "malformed JSON: Expecting pr"),
        ("decisions.jsonl", 3, "record is not an object with"),
        ("decisions.jsonl", 4, "not a JSON object"),
        ("events.jsonl", 2, "record is not an object with")]
    # a verdict that is not an object and a time that is not one: the record stays, undetermined
    (odd,) = result.rows("SELECT event_type, outcome, ts, ts_raw FROM events WHERE name = 'x'")
    assert odd == {"event_type": "decision.recorded", "outcome": None, "ts": None,
                   "ts_raw": "not a time"}


def test_detect(tmp_path: Path):
    events, decisions = TaskEventsLoader(), DecisionsLoader()
    assert events.detect(UNTIMED / "events.jsonl", read_head(UNTIMED / "events.jsonl"))
    assert decisions.detect(REVIEWED / "decisions.jsonl", read_head(REVIEWED / "decisions.jsonl"))
    assert not events.detect(REVIEWED / "decisions.jsonl", read_head(REVIEWED / "decisions.jsonl"))
    other = tmp_path / "events.jsonl"
    other.write_text('{"event": "click", "ts": "2026-03-01T10:00:00Z", "user": "a"}\n')
    assert not events.detect(other, read_head(other))
    renamed = tmp_path / "ledger.jsonl"
    renamed.write_bytes((REVIEWED / "decisions.jsonl").read_bytes())
    assert not decisions.detect(renamed, read_head(renamed))


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real-data samples not present under {REALDATA}")
def test_every_task_file_of_the_real_pipeline(ingest_into):
    # SOURCES.md: 22 events.jsonl (86 events: decision.recorded 56, lifecycle_emission 30) and
    # 23 decisions.jsonl (64 decisions: approve 49, request-changes 7, free text and pending 8).
    result = ingest_into(REALDATA)
    loaded = [f for f in result.summary.files
              if f.loader in ("superpowers.task_events", "superpowers.decisions")]
    assert (len(loaded), sum(f.records_read for f in loaded),
            sum(f.quarantined for f in loaded)) == (45, 150, 0)
    counts = dict(result.con.execute(
        "SELECT event_type_raw, count(*) FROM events WHERE system = 'superpowers' "
        "AND source <> 'task_documents' GROUP BY 1"
    ).fetchall())
    assert counts == {"decision.recorded": 56, "lifecycle_emission": 30, "gate_verdict": 64}
    assert result.scalar("SELECT count(*) FROM events WHERE system = 'superpowers' "
                         "AND outcome = 'denied' AND source = 'decisions'") == 7
    assert result.scalar("SELECT count(*) FROM events WHERE system = 'superpowers' "
                         "AND source <> 'task_documents' AND ts IS NULL") == 30
