"""beads issues.jsonl: created / updated / closed work items, +01:00 offsets converted to UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.beads import BeadsIssuesLoader

from conftest import FIXTURES

ISSUES = FIXTURES / "beads" / "issues.jsonl"


def test_counts_and_types(ingest_into):
    result = ingest_into(ISSUES)
    outcome = result.summary.files[0]
    assert (outcome.loader, outcome.records_read, outcome.event_rows, outcome.table_rows) == (
        "beads.issues_jsonl", 7, 13, {"beads_issues": 7})
    types = dict(result.con.execute(
        "SELECT event_type || ':' || coalesce(outcome, '-'), count(*) FROM events GROUP BY 1"
    ).fetchall())
    assert types == {"workitem.created:-": 7, "workitem.closed:ok": 3,
                     "workitem.closed:skipped": 2, "workitem.updated:-": 1}


def test_closed_row_fully_specified(ingest_into):
    result = ingest_into(ISSUES)
    (row,) = result.rows("SELECT * FROM events WHERE stream = 'spotter-0ef.1' "
                         "AND event_type = 'workitem.closed'")
    assert row["event_id"].endswith(":2:closed")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "beads",
        "source": "issues_jsonl",
        "source_path": str(ISSUES.resolve()),
        "record_no": 2,
        "ts": datetime(2026, 2, 11, 11, 59, 55, 846398, tzinfo=UTC),
        "ts_raw": "2026-02-11T12:59:55.846398003+01:00",
        "ts_quality": "exact",
        "stream": "spotter-0ef.1",
        "seq": None,
        "position": 2,
        "project": "spotter",
        "correlation_id": "spotter-0ef",
        "event_type": "workitem.closed",
        "event_type_raw": "closed_at",
        "actor": None,
        "name": "Filter live panes + update dashboard links",
        "outcome": "ok",
        "severity": "info",
        "duration_ms": None,
        "message": "Closed",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": '{"id": "spotter-0ef.1", "status": "closed", "close_reason": "Closed"}',
    }


def test_offsets_become_utc(ingest_into):
    result = ingest_into(ISSUES)
    # Written just after local midnight (+01:00): the UTC day is the previous one.
    row = result.rows("SELECT ts, ts_raw FROM events WHERE stream = 'spotter-et3.1' "
                      "AND event_type = 'workitem.created'")[0]
    assert row == {"ts": datetime(2026, 2, 11, 23, 15, 29, 683730, tzinfo=UTC),
                   "ts_raw": "2026-02-12T00:15:29.683730488+01:00"}
    issue = result.rows("SELECT * FROM beads_issues WHERE id = 'spotter-0ef.1'")[0]
    assert issue["parent"] == "spotter-0ef" and issue["status"] == "closed"
    created = json.loads(result.scalar(
        "SELECT attrs FROM events WHERE stream = 'spotter-azu' AND event_type_raw = 'created_at'"))
    assert created["status"] == "tombstone"


def test_malformed_lines_quarantined(ingest_into, tmp_path: Path):
    lines = ISSUES.read_text().splitlines()
    path = tmp_path / "issues.jsonl"
    path.write_text("\n".join([lines[0], '{"id": 5, "title": "x"}', "{broken",
                               '{"id": "a-1", "title": "t", "created_at": "yesterday"}',
                               *lines[1:]]) + "\n")
    result = ingest_into(path)
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert [(w["record_no"], w["reason"][:24]) for w in warnings] == [
        (2, "issue has no string 'id'"), (3, "malformed JSON: Expectin"),
        (4, "created_at missing or no")]
    assert result.summary.files[0].records_read == 10


def test_second_ingest_is_unchanged(ingest_into, tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    ingest_into(ISSUES, db=db)
    assert ingest_into(ISSUES, db=db).summary.files[0].status == "unchanged"


def test_detect(tmp_path: Path):
    loader = BeadsIssuesLoader()
    assert loader.detect(ISSUES, read_head(ISSUES))
    other = tmp_path / "issues.jsonl"
    other.write_text('{"id": 1, "title": "GitHub issue", "state": "open"}\n')
    assert not loader.detect(other, read_head(other))
    renamed = tmp_path / "export.jsonl"
    renamed.write_bytes(ISSUES.read_bytes())
    assert not loader.detect(renamed, read_head(renamed))
