"""Statuspage incident JSON: a provider's incident start and its updates, severities from the
incident's impact and the components each update names. Expectations were written from three
real githubstatus.com incidents (tests/fixtures/statuspage) before the loader ran."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.analysis.replay import check
from incidentlab.loaders.base import read_head
from incidentlab.loaders.statuspage.incidents import IncidentsJsonLoader

from conftest import FIXTURES

FOLDER = FIXTURES / "statuspage"
OUTAGE = FOLDER / "gqx5l06jjxhp.json"  # 2023-06-29, impact critical, 8 updates
REALDATA = Path("/work/shared/realdata/incidents/github-status")


def test_counts_and_types(ingest_into):
    result = ingest_into(FOLDER)
    files = {Path(f.path).stem: (f.loader, f.records_read, f.event_rows, f.quarantined)
             for f in result.summary.files}
    assert files == {"gqx5l06jjxhp": ("statuspage.incidents_json", 1, 9, 0),
                     "1cdsggtd2q5k": ("statuspage.incidents_json", 1, 4, 0),
                     "5h6hwm15zt11": ("statuspage.incidents_json", 1, 3, 0)}
    headers = result.rows("SELECT stream, severity, ts FROM events "
                          "WHERE event_type = 'provider.incident' ORDER BY ts")
    assert headers == [
        {"stream": "1cdsggtd2q5k", "severity": "info",
         "ts": datetime(2023, 2, 2, 11, 29, 38, 489000, tzinfo=UTC)},
        {"stream": "5h6hwm15zt11", "severity": "error",
         "ts": datetime(2023, 4, 28, 12, 26, 16, 277000, tzinfo=UTC)},
        {"stream": "gqx5l06jjxhp", "severity": "critical",
         "ts": datetime(2023, 6, 29, 17, 52, 11, 466000, tzinfo=UTC)}]
    assert result.scalar("SELECT count(*) FROM events WHERE outcome = 'ok'") == 3


def test_update_severity_follows_the_components_it_names(ingest_into):
    result = ingest_into(OUTAGE)
    rows = result.rows("SELECT ts, event_type_raw, severity, position FROM events "
                       "WHERE event_type = 'provider.status' ORDER BY ts")
    # major outages, then partial ones, then all operational, then resolved
    assert [(r["ts"].strftime("%H:%M:%S"), r["event_type_raw"], r["severity"]) for r in rows] == [
        ("17:52:11", "investigating", "error"), ("18:02:16", "investigating", "error"),
        ("18:12:28", "investigating", "error"), ("18:20:34", "investigating", "error"),
        ("18:22:22", "investigating", "warning"), ("18:33:01", "investigating", "warning"),
        ("18:35:47", "investigating", "info"), ("18:36:19", "resolved", "info")]
    # the source lists updates newest first; positions keep that order
    assert [r["position"] for r in rows] == [8, 7, 6, 5, 4, 3, 2, 1]
    assert check(result.con).violations.height == 0


def test_resolved_update_fully_specified(ingest_into):
    result = ingest_into(OUTAGE)
    (row,) = result.rows("SELECT * FROM events WHERE outcome = 'ok'")
    update = json.loads(OUTAGE.read_text())["incident"]["incident_updates"][0]
    assert row["event_id"].endswith(":1:u1")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "statuspage",
        "source": "incidents_json",
        "source_path": str(OUTAGE.resolve()),
        "record_no": 1,
        "ts": datetime(2023, 6, 29, 18, 36, 19, tzinfo=UTC),
        "ts_raw": "2023-06-29T18:36:19.000Z",
        "ts_quality": "exact",
        "stream": "gqx5l06jjxhp",
        "seq": None,
        "position": 1,
        "project": None,
        "correlation_id": "gqx5l06jjxhp",
        "event_type": "provider.status",
        "event_type_raw": "resolved",
        "actor": "GitHub",
        "name": "Incident On 2023-06-29",
        "outcome": "ok",
        "severity": "info",
        "duration_ms": None,
        "message": row["message"],
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert row["message"].startswith("resolved: From 17:39-18:12 UTC GitHub was down")
    assert json.loads(row["attrs"]) == update


def test_malformed_documents_and_records(ingest_into, tmp_path: Path):
    good = json.loads(OUTAGE.read_text())
    listed = {"page": good["page"], "incidents": [
        good["incident"], 5, {"id": 7, "incident_updates": []},
        {"id": "x1", "name": "odd", "impact": ["?"], "incident_updates": [
            "not an update", {"status": "investigating", "display_at": "soon", "body": None}]}]}
    (tmp_path / "incidents.json").write_text(json.dumps(listed))
    (tmp_path / "broken.json").write_text('{"page": {}, "incident_updates": [')
    result = ingest_into(tmp_path / "incidents.json", tmp_path / "broken.json",
                         loader="statuspage.incidents_json")
    by_name = {Path(f.path).name: f for f in result.summary.files}
    assert [(f.status, f.records_read, f.event_rows, f.quarantined)
            for f in (by_name["incidents.json"], by_name["broken.json"])] == [
        ("loaded", 4, 9 + 3, 2), ("loaded", 1, 0, 1)]
    reasons = result.rows("SELECT record_no, reason FROM _load_warnings "
                          "ORDER BY record_no NULLS FIRST")
    assert [(r["record_no"], r["reason"][:30]) for r in reasons] == [
        (None, "not a JSON document: malformed"), (2, "incident is not an object with"),
        (3, "incident is not an object with")]
    odd = result.rows("SELECT event_type, severity, ts, ts_raw FROM events WHERE stream = 'x1' "
                      "ORDER BY position")
    assert odd == [
        {"event_type": "provider.incident", "severity": "warning", "ts": None, "ts_raw": None},
        {"event_type": "provider.status", "severity": "warning", "ts": None, "ts_raw": None},
        {"event_type": "provider.status", "severity": "warning", "ts": None, "ts_raw": "soon"}]


def test_detect(tmp_path: Path):
    loader = IncidentsJsonLoader()
    assert loader.detect(OUTAGE, read_head(OUTAGE))
    other = tmp_path / "status.json"
    other.write_text('{"page": {"name": "x"}, "status": {"indicator": "none"}}')
    assert not loader.detect(other, read_head(other))


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real-data samples not present under {REALDATA}")
def test_every_incident_of_githubstatus_2023(ingest_into):
    # SOURCES.md: 131 incidents of 2023 (impact 109 minor, 17 major, 4 none, 1 critical), 753
    # updates (622 investigating, 131 resolved), 2023-01-01T16:33Z .. 2023-10-06.
    result = ingest_into(REALDATA)
    loaded = [f for f in result.summary.files if f.loader == "statuspage.incidents_json"]
    assert (len(loaded), sum(f.records_read for f in loaded),
            sum(f.event_rows for f in loaded), sum(f.quarantined for f in loaded)) == (
        131, 131, 884, 0)
    impacts = dict(result.con.execute(
        "SELECT event_type_raw, count(*) FROM events WHERE event_type = 'provider.incident' "
        "GROUP BY 1").fetchall())
    assert impacts == {"impact minor": 109, "impact major": 17, "impact none": 4,
                       "impact critical": 1}
    statuses = dict(result.con.execute(
        "SELECT event_type_raw, count(*) FROM events WHERE event_type = 'provider.status' "
        "GROUP BY 1").fetchall())
    assert statuses == {"investigating": 622, "resolved": 131}
    low, high = result.con.execute("SELECT min(ts), max(ts) FROM events "
                                   "WHERE event_type = 'provider.status'").fetchone()
    assert (low.isoformat(), high.isoformat()) == ("2023-01-01T16:33:19.810000+00:00",
                                                   "2023-10-06T02:59:36.315000+00:00")
