"""superpowers task documents: code review rounds with their findings and finding statuses, review
lenses, complexity scores and gate plans. Expectations were written from the fixture files (real
task folders of codemie-ai/codemie-code, copied byte for byte) before the loader ran."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.analysis.replay import check
from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.superpowers_documents import TaskDocumentsLoader

import fuzzing
from conftest import FIXTURES

TASKS = FIXTURES / "superpowers" / "tasks"
REVIEWED = TASKS / "2026-07-20-epmcdme-11733"
ROUNDS = TASKS / "2026-08-11-epmcdme-14072-extend-the-codemie-cli-s-managed-mcp"
LENS = TASKS / "2026-08-12-unified-proxy-connect" / "lens-edge-case.json"
REALDATA = Path("/work/shared/realdata/agent-workflow/codemie-code")
DOCS = "source = 'task_documents'"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_every_document_of_the_fixture_folders(ingest_into):
    result = ingest_into(TASKS)
    files = {(Path(f.path).parent.name[:10], Path(f.path).name): (f.records_read, f.event_rows,
             f.quarantined) for f in result.summary.files if f.loader == TaskDocumentsLoader.name}
    # a review: 1 + its findings + its finding statuses; a lens: its items; the rest: 1
    assert files == {
        ("2026-07-20", "code-review-final.json"): (6, 6, 0),
        ("2026-07-20", "code-review-check.json"): (6, 6, 0),
        ("2026-07-20", "complexity-assessment.json"): (1, 1, 0),
        ("2026-08-11", "code-review-final.json"): (3, 3, 0),
        ("2026-08-11", "code-review-check.json"): (7, 7, 0),
        ("2026-08-11", "code-review-check2.json"): (8, 8, 0),
        ("2026-08-11", "code-review-check3.json"): (14, 14, 0),
        ("2026-08-11", "complexity-assessment.json"): (1, 1, 0),
        ("2026-08-11", "actual-complexity.json"): (1, 1, 0),
        ("2026-08-11", "gate-plan.json"): (1, 1, 0),
        ("2026-08-12", "lens-edge-case.json"): (2, 2, 0),
    }
    types = dict(result.con.execute(
        f"SELECT event_type || ':' || coalesce(outcome, '-'), count(*) FROM events WHERE {DOCS} "
        "GROUP BY 1").fetchall())
    assert types == {"review.end:denied": 4, "review.end:ok": 2, "review.finding:-": 16,
                     "review.finding_status:ok": 20, "review.finding_status:-": 4,
                     "complexity.assessed:-": 3, "gate.planned:-": 1}
    # documents are numbered on their own: no file order across them to hold time against
    assert [v for v in check(result.con).violations.iter_rows(named=True)
            if v["source"] == "task_documents"] == []


def test_each_review_round_takes_the_time_of_its_verdict(ingest_into):
    result = ingest_into(ROUNDS, REVIEWED)
    rows = result.rows(f"SELECT stream, name, ts, ts_raw, ts_quality, message FROM events "
                       f"WHERE {DOCS} AND event_type = 'review.end' ORDER BY ts")
    assert [(r["stream"][:10], r["name"], r["ts"], r["ts_raw"].split(":")[0]) for r in rows] == [
        # the ledger's line 3 only asks a person (pending-human): the verdict is line 4
        ("2026-07-20", "code-review.final", _utc(2026, 7, 20, 12, 25, 4, 773000),
         "decisions.jsonl line 4 (code-review.final verdict 1)"),
        ("2026-07-20", "code-review.check", _utc(2026, 7, 20, 12, 43, 34, 249000),
         "decisions.jsonl line 5 (code-review.check verdict 1)"),
        ("2026-08-11", "code-review.final", _utc(2026, 8, 11, 16, 46, 44),
         "decisions.jsonl line 3 (code-review.final verdict 1)"),
        ("2026-08-11", "code-review.check", _utc(2026, 8, 11, 17, 6, 24),
         "decisions.jsonl line 4 (code-review.check verdict 1)"),
        ("2026-08-11", "code-review.check", _utc(2026, 8, 11, 18, 2, 9),
         "decisions.jsonl line 5 (code-review.check verdict 2)"),
        ("2026-08-11", "code-review.check", _utc(2026, 8, 11, 18, 56, 10),
         "decisions.jsonl line 6 (code-review.check verdict 3)"),
    ]
    assert {r["ts_quality"] for r in rows} == {"derived"}
    assert [r["message"].split(" - ")[0] for r in rows[2:]] == [
        "code-review.final: request-changes", "code-review.check: request-changes",
        "code-review.check round 2: request-changes", "code-review.check round 3: approve"]
    # findings and statuses carry their review's time
    assert result.scalar(f"SELECT count(*) FROM events WHERE {DOCS} AND event_type LIKE "
                         "'review.finding%' AND ts_quality = 'derived'") == 38


def test_finding_row_fully_specified(ingest_into):
    result = ingest_into(REVIEWED / "code-review-final.json")
    (row,) = result.rows("SELECT * FROM events WHERE name = 'CR-001'")
    path = REVIEWED / "code-review-final.json"
    finding = json.loads(path.read_text())["findings"][0]
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "superpowers",
        "source": "task_documents",
        "source_path": str(path.resolve()),
        "record_no": 2,
        "ts": _utc(2026, 7, 20, 12, 25, 4, 773000),
        "ts_raw": "decisions.jsonl line 4 (code-review.final verdict 1): 2026-07-20T12:25:04.773Z",
        "ts_quality": "derived",
        "stream": "2026-07-20-epmcdme-11733",
        "seq": None,
        "position": 2,
        "project": None,
        "correlation_id": "code-review.final",
        "event_type": "review.finding",
        "event_type_raw": "finding",
        "actor": None,
        "name": "CR-001",
        "outcome": None,
        "severity": "critical",
        "duration_ms": None,
        # no title in this review: the problem, where it is
        "message": f"CR-001 (critical): {finding['problem']} [src/cli/commands/setup.ts:27]",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert json.loads(row["attrs"]) == finding


def test_finding_severities_and_statuses_as_the_documents_say(ingest_into):
    result = ingest_into(ROUNDS, REVIEWED)
    severities = result.con.execute(
        f"SELECT json_extract_string(attrs, '$.severity'), severity, count(*) FROM events "
        f"WHERE {DOCS} AND event_type = 'review.finding' GROUP BY ALL ORDER BY ALL").fetchall()
    assert severities == [("critical", "critical", 4), ("major", "error", 10)]
    statuses = result.con.execute(
        f"SELECT json_extract_string(attrs, '$.status'), outcome, count(*) FROM events "
        f"WHERE {DOCS} AND event_type = 'review.finding_status' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert statuses == [("deferred", None, 2), ("dismissed", None, 1), ("resolved", "ok", 20),
                        ("superseded", None, 1)]


def test_scores_plans_and_lenses(ingest_into):
    result = ingest_into(ROUNDS, LENS)
    rows = result.rows(f"SELECT event_type, name, ts, ts_raw, ts_quality, message FROM events "
                       f"WHERE {DOCS} AND event_type <> 'review.end' AND event_type_raw NOT IN "
                       "('finding', 'finding_status') ORDER BY event_type, name, record_no")
    assert [(r["event_type"], r["name"], r["ts"], r["ts_quality"]) for r in rows] == [
        ("complexity.assessed", "actual", _utc(2026, 8, 11), "exact"),
        # a date is not a time: kept as written, the time not determined
        ("complexity.assessed", "initial", None, "missing"),
        ("gate.planned", "npm", _utc(2026, 8, 11, 19, 1, 36), "exact"),
        ("review.finding", "edge-case", None, "missing"),
        ("review.finding", "edge-case", None, "missing"),
    ]
    assert rows[1]["ts_raw"] == "2026-08-11"
    assert rows[0]["message"] == "complexity (actual): total 17, size M, routing brainstorming"
    assert rows[2]["message"].endswith(
        "; not available: ci-gitleaks, ci-pr-title, ci-test-windows, ui")
    assert rows[3]["message"].startswith("edge-case: catch falls through")
    initial = next(f for f in result.summary.files if f.path.endswith("complexity-assessment.json"))
    facts = json.loads(result.scalar("SELECT facts FROM _loads WHERE path = ?", [initial.path]))
    assert facts["times_not_usable"]["value"] == "2026-08-11"


@pytest.mark.parametrize(("ledger", "rounds", "why"), [
    (["code-review.final", "code-review.final"], ["code-review-final.json"],
     "two verdicts on one round"),
    ([], ["code-review-final.json"], "no verdict"),
    (["code-review.check"], ["code-review-check2.json"], "round 1 missing"),
    (None, ["code-review-final.json"], "no ledger"),
])
def test_a_review_without_one_verdict_of_its_own_has_no_time(
    ingest_into, tmp_path: Path, ledger: list[str] | None, rounds: list[str], why: str
):
    folder = tmp_path / "tasks" / "t1"
    folder.mkdir(parents=True)
    for name in rounds:
        shutil.copy(REVIEWED / "code-review-final.json", folder / name)
    if ledger is not None:
        (folder / "decisions.jsonl").write_text("".join(
            json.dumps({"ts": f"2026-07-20T12:0{i}:00Z", "gate_id": gate,
                        "verdict": {"decision": "approve"}}) + "\n"
            for i, gate in enumerate(ledger)))
    result = ingest_into(folder)
    assert result.scalar(f"SELECT count(*) FROM events WHERE {DOCS} AND ts IS NOT NULL") == 0, why
    assert result.scalar(f"SELECT count(*) FROM events WHERE {DOCS}") == 6


def test_a_review_whose_own_gate_differs_from_its_name_has_no_time(ingest_into, tmp_path: Path):
    folder = tmp_path / "tasks" / "t1"
    folder.mkdir(parents=True)
    shutil.copy(REVIEWED / "decisions.jsonl", folder / "decisions.jsonl")
    doc = json.loads((REVIEWED / "code-review-final.json").read_text())
    (folder / "code-review-final.json").write_text(json.dumps({**doc, "gate_id": "review.x"}))
    result = ingest_into(folder)
    names = result.con.execute(f"SELECT DISTINCT correlation_id, ts FROM events WHERE {DOCS}"
                               ).fetchall()
    assert names == [("review.x", None)]


def test_malformed_documents_and_items_are_quarantined(ingest_into, tmp_path: Path):
    folder = tmp_path / "tasks" / "t1"
    folder.mkdir(parents=True)
    doc = json.loads((REVIEWED / "code-review-final.json").read_text())
    doc["findings"][1:1] = ["not a finding", None]
    (folder / "code-review-final.json").write_text(json.dumps(doc))
    (folder / "code-review-check.json").write_text('{"decision": "approve", "findings": [')
    (folder / "gate-plan.json").write_text('{"gates": 5, "runner": ["npm"], "detected_at": "soon"}')
    (folder / "lens-x.json").write_text('[{"trigger_condition": "t"}, 3]')
    result = ingest_into(folder)
    warnings = result.rows("SELECT source_path, record_no, reason FROM _load_warnings "
                           "ORDER BY source_path, record_no")
    assert [(Path(w["source_path"]).name, w["record_no"], w["reason"][:30]) for w in warnings] == [
        ("code-review-check.json", None, "not a JSON document: malformed"),
        ("code-review-final.json", 3, "review finding is not an objec"),
        ("code-review-final.json", 4, "review finding is not an objec"),
        ("lens-x.json", 2, "lens finding is not an object")]
    counts = dict(result.con.execute(
        "SELECT regexp_extract(source_path, '[^/]+$'), count(*) FROM events GROUP BY 1").fetchall())
    assert counts == {"code-review-final.json": 6, "gate-plan.json": 1, "lens-x.json": 1}
    (plan,) = result.rows("SELECT name, message, ts FROM events WHERE event_type = 'gate.planned'")
    assert plan == {"name": '["npm"]', "message": 'gate plan (["npm"]): no gates', "ts": None}


@pytest.mark.parametrize(("name", "text", "reason"), [
    ("lens-x.json", '{"trigger_condition": "t"}', "lens document is not a JSON list"),
    ("code-review-final.json", '["approve"]', "document is not a JSON object"),
    ("gate-plan.json", "7", "document is not a JSON object"),
])
def test_a_document_of_the_wrong_shape_is_one_quarantined_record(
    tmp_path: Path, name: str, text: str, reason: str
):
    # what detection would not let through, read directly: still accounted for
    path = tmp_path / name
    path.write_text(text)
    result = fuzzing.load_direct(TaskDocumentsLoader.name, path)
    assert (result.records_read, result.events) == (1, [])
    assert [(q.record_no, q.reason) for q in result.quarantine] == [(1, reason)]


def test_detect(tmp_path: Path):
    loader = TaskDocumentsLoader()
    for path in [REVIEWED / "code-review-final.json", ROUNDS / "code-review-check3.json",
                 ROUNDS / "gate-plan.json", ROUNDS / "actual-complexity.json",
                 REVIEWED / "complexity-assessment.json", LENS]:
        assert loader.detect(path, read_head(path)), path
    others = {
        "code-review-final.json": '{"title": "a review", "body": "no decision"}',
        "gate-plan.json": '{"plan": "ship it"}',
        "lens-x.json": '{"trigger_condition": "an object, not a list"}',
        "complexity-assessment.json": '[{"dimensions": 1}]',
        "package.json": '{"name": "x", "decision": "y", "gates": []}',
        "code-review.json": '{"decision": "approve"}',
    }
    for name, text in others.items():
        path = tmp_path / name
        path.write_text(text)
        assert not loader.detect(path, read_head(path)), name


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real-data samples not present under {REALDATA}")
def test_every_document_of_the_real_pipeline(ingest_into):
    # Counted from the files: 86 documents in the task folders (21 final reviews, 14 check
    # rounds, 33 complexity scores, 17 gate plans, 1 lens); reviews: 19 approve, 16
    # request-changes; 67 findings (critical 10, major 34, high 7, medium 7, minor 1, low 8),
    # 52 finding statuses (resolved 46); 2 lens items. 26 of the 35 reviews have one verdict of
    # their own in the ledger (one of them beside a request still pending a person); 10 scores
    # give a date only.
    result = ingest_into(REALDATA)
    loaded = [f for f in result.summary.files if f.loader == TaskDocumentsLoader.name]
    assert (len(loaded), sum(f.records_read for f in loaded),
            sum(f.quarantined for f in loaded)) == (86, 206, 0)
    counts = dict(result.con.execute(
        f"SELECT event_type || ':' || coalesce(outcome, '-'), count(*) FROM events WHERE {DOCS} "
        "GROUP BY 1").fetchall())
    assert counts == {"review.end:ok": 19, "review.end:denied": 16, "review.finding:-": 69,
                      "review.finding_status:ok": 46, "review.finding_status:error": 2,
                      "review.finding_status:-": 4, "complexity.assessed:-": 33,
                      "gate.planned:-": 17}
    qualities = dict(result.con.execute(
        f"SELECT ts_quality, count(*) FROM events WHERE {DOCS} GROUP BY 1").fetchall())
    # derived: 26 reviews and their 89 findings and statuses; missing: 9 reviews and their 30,
    # 2 lens items, 10 dates
    assert qualities == {"derived": 115, "exact": 40, "missing": 51}
    assert result.scalar(f"SELECT count(*) FROM events WHERE {DOCS} AND severity = 'critical'"
                         ) == 10
    # Where a verdict names the review it decided on (artifact_refs), it is the one matched.
    named = []
    for ledger in sorted(REALDATA.glob("tasks/*/decisions.jsonl")):
        for number, line in enumerate(ledger.read_text().splitlines(), start=1):
            refs = json.loads(line).get("prior_context", {}).get("artifact_refs", [])
            paths = [r if isinstance(r, str) else r.get("path", "") for r in refs]
            named += [(ledger.parent.name, Path(p).name, number) for p in paths
                      if Path(p).name.startswith("code-review-") and p.endswith(".json")]
    assert len(named) == 6
    for task, document, number in named:
        raw = result.scalar(f"SELECT ts_raw FROM events WHERE {DOCS} AND stream = ? AND "
                            "event_type = 'review.end' AND source_path LIKE ?",
                            [task, f"%/{document}"])
        assert raw.startswith(f"decisions.jsonl line {number} "), (task, document)
