"""OpenHands event lists (gapped ids, naive local times) and resolver output.jsonl (no times)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.openhands import (
    OpenHandsEventsLoader,
    OpenHandsOutputLoader,
)

from conftest import FIXTURES

FOLDER = FIXTURES / "openhands"
BASIC = FOLDER / "basic.json"
INTERACTIONS = FOLDER / "basic_interactions.json"
OUTPUT = FOLDER / "output.jsonl"


def test_folder_counts(ingest_into):
    result = ingest_into(FOLDER)
    loads = {Path(f.path).name: (f.loader, f.records_read, f.event_rows, f.metric_rows)
             for f in result.summary.files}
    assert loads == {
        BASIC.name: ("openhands.events_json", 4, 6, 8),
        INTERACTIONS.name: ("openhands.events_json", 6, 7, 2),
        OUTPUT.name: ("openhands.output_jsonl", 1, 11, 4),
    }


def test_gapped_ids_kept_as_seq(ingest_into):
    result = ingest_into(INTERACTIONS)
    rows = result.rows("SELECT DISTINCT seq, position FROM events ORDER BY position")
    assert [(r["seq"], r["position"]) for r in rows] == [(0, 1), (3, 2), (6, 3), (9, 4), (12, 5),
                                                         (15, 6)]


def test_tool_result_row_fully_specified(ingest_into):
    result = ingest_into(BASIC, tz="Europe/Berlin")
    (row,) = result.rows("SELECT * FROM events WHERE event_type = 'tool.result'")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "openhands",
        "source": "events_json",
        "source_path": str(BASIC.resolve()),
        "record_no": 3,
        "ts": datetime(2025, 1, 27, 21, 45, 13, 801384, tzinfo=UTC),
        "ts_raw": "2025-01-27T22:45:13.801384",
        "ts_quality": "assumed_local",
        "stream": "basic",
        "seq": 4,
        "position": 3,
        "project": None,
        "correlation_id": "toolu_017nBp7UfiGqyrA7j77HgtFP",
        "event_type": "tool.result",
        "event_type_raw": "observation.edit",
        "actor": "agent",
        "name": "str_replace_editor",
        "outcome": "ok",
        "severity": "info",
        "duration_ms": None,
        "message": "I edited the file /workspace/game_2048.py.",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert json.loads(row["attrs"])["cause"] == 3


def test_naive_times_need_tz_and_offset_is_only_a_hint(ingest_into):
    result = ingest_into(BASIC)
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NOT NULL") == 0
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["naive_local_times_unparsed"] == 4
    assert facts["utc_offset_hint"].startswith("-08:00")


def test_usage_once_per_model_response(ingest_into):
    result = ingest_into(BASIC)
    totals = dict(result.con.execute("SELECT name, sum(value) FROM metrics GROUP BY 1").fetchall())
    assert totals == {"input_tokens": 8132, "output_tokens": 1312, "cache_read_tokens": 3482,
                      "cache_creation_tokens": 4640}


def test_resolver_output_pairs_history(ingest_into):
    result = ingest_into(OUTPUT)
    assert result.scalar("SELECT DISTINCT stream FROM events") == "neubig/pr-viewer#5"
    pairs = result.rows(
        "SELECT c.message, r.outcome FROM events c JOIN events r ON r.correlation_id = "
        "c.correlation_id AND r.event_type = 'tool.result' WHERE c.event_type = 'tool.call' "
        "ORDER BY c.position")
    assert pairs[0]["message"] == "touch LICENSE"
    assert {p["outcome"] for p in pairs} == {"ok"}
    first = result.rows("SELECT actor FROM events WHERE event_type = 'chat.turn'")[0]
    assert first["actor"] == "user"
    end = result.rows("SELECT outcome FROM events WHERE event_type = 'run.end'")
    assert end == [{"outcome": "ok"}]
    assert result.scalar("SELECT round(sum(value), 6) FROM metrics WHERE name = 'cost'") == 0.070713
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NOT NULL") == 0


def test_malformed_records_quarantined(ingest_into, tmp_path: Path):
    events = json.loads(BASIC.read_text())
    events.insert(1, {"id": 1, "timestamp": "2025-01-27T22:45:00", "source": "agent"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(events))
    out = tmp_path / "output.jsonl"
    out.write_text(OUTPUT.read_text() + '{"instruction": "x", "history": "nope"}\n{oops\n')
    result = ingest_into(bad, out)
    warnings = {(Path(w["source_path"]).name, w["record_no"], w["reason"][:20]) for w in
                result.rows("SELECT source_path, record_no, reason FROM _load_warnings")}
    assert warnings == {("bad.json", 2, "event has neither 'a"),
                        ("output.jsonl", 2, "record has no 'histo"),
                        ("output.jsonl", 3, "malformed JSON: Expe")}


def test_second_ingest_is_unchanged(ingest_into, tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    ingest_into(OUTPUT, db=db)
    assert ingest_into(OUTPUT, db=db).summary.files[0].status == "unchanged"


def test_detect(tmp_path: Path):
    assert OpenHandsEventsLoader().detect(BASIC, read_head(BASIC))
    assert OpenHandsOutputLoader().detect(OUTPUT, read_head(OUTPUT))
    plain = tmp_path / "list.json"
    plain.write_text('[{"id": 1, "timestamp": "t", "source": "x", "value": 2}]')
    assert not OpenHandsEventsLoader().detect(plain, read_head(plain))
    assert not OpenHandsOutputLoader().detect(BASIC, read_head(BASIC))
