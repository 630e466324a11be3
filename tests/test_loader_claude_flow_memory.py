"""claude-flow swarm memory JSON: agents' reports keyed by memory key, or one per file under
memory/. Expectations were written from the fixture files (the seven memory files of
ruvnet/claude-flow's own .claude-flow folder) before the loader ran."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.analysis.replay import check
from incidentlab.loaders.base import read_head
from incidentlab.loaders.claude_flow.memory_json import MemoryJsonLoader

from conftest import FIXTURES

FOLDER = FIXTURES / "claude_flow" / "swarm" / ".claude-flow"
REALDATA = Path("/work/shared/realdata/agent-workflow/claude-flow")
T = datetime(2025, 6, 29, tzinfo=UTC)


def test_every_report_with_its_agent_status_and_time(ingest_into):
    result = ingest_into(FOLDER)
    loaded = [(f.loader, f.records_read, f.event_rows, f.quarantined) for f in result.summary.files]
    assert loaded == [("claude_flow.memory_json", 1, 1, 0)] * 7
    rows = result.rows("SELECT stream, name, actor, outcome, ts, ts_quality FROM events "
                       "ORDER BY name")
    assert [(r["name"], r["outcome"], r["ts"], r["ts_quality"]) for r in rows] == [
        # security-fixes has no time of its own (memory.json)
        ("swarm-development-hierarchical-1751182398897/agent1/nullable-fixes", "ok", T, "exact"),
        ("swarm-development-hierarchical-1751184493913-agent2-ci-gates", "ok",
         T.replace(hour=8), "exact"),
        ("swarm-development-hierarchical-1751184493913/agent6/security-fixes", "ok", None,
         "missing"),
        ("tracing-framework", "ok", T.replace(hour=9), "exact"),
        # analysis_timestamp; the report's completion status is free text, not determined
        ("typescript-strict-final-push/agent-28/duplicate-export-findings", None, T, "exact"),
        ("typescript-strict-final-push/agent-28/final-report", None, T, "exact"),
        # its time is that of its investigation_results
        ("typescript-strict-final-push/agent-28/investigation-results", None, T, "exact"),
    ]
    assert sorted({r["stream"] for r in rows}) == [
        "swarm-development-hierarchical-1751174468691-tracing-framework-implementation",
        "swarm-development-hierarchical-1751182398897",
        "swarm-development-hierarchical-1751184493913",
        "swarm-development-hierarchical-1751184493913-agent2-ci-gates",
        "typescript-strict-final-push"]
    assert {r["actor"] for r in rows if "agent-28" in r["name"]} == {
        "Agent 28: Duplicate Export Eliminator"}
    assert check(result.con).violations.height == 0


def test_report_row_fully_specified(ingest_into):
    path = FOLDER / "swarm-memory.json"
    result = ingest_into(path)
    (row,) = result.rows("SELECT * FROM events")
    (key, report), = json.loads(path.read_text()).items()
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "claude_flow",
        "source": "memory_json",
        "source_path": str(path.resolve()),
        "record_no": 1,
        "ts": T,
        "ts_raw": "2025-06-29T00:00:00Z",
        "ts_quality": "exact",
        "stream": "swarm-development-hierarchical-1751182398897",
        "seq": None,
        "position": 1,
        "project": None,
        "correlation_id": None,
        "event_type": "knowledge.recorded",
        "event_type_raw": "memory report",
        "actor": "Agent 1 - TypeScript Nullable Checks Specialist",
        "name": key,
        "outcome": "ok",
        "severity": "info",
        "duration_ms": None,
        "message": "Agent 1 - TypeScript Nullable Checks Specialist - Fix TypeScript TS18047 "
                   "nullable checks errors - completed",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": row["attrs"],
    }
    assert json.loads(row["attrs"]) == report


def test_keyed_reports_bad_values_and_bad_files(ingest_into, tmp_path: Path):
    folder = tmp_path / ".claude-flow"
    (folder / "memory").mkdir(parents=True)
    (folder / "memory.json").write_text(json.dumps({
        "s1/a1/x": {"agent": "A1", "status": "failed", "timestamp": "2025-06-29T10:00:00Z"},
        "s1/a2/y": {"agent": "A2", "task": ["not text"], "status": 5, "timestamp": "soon"}}))
    (folder / "swarm-memory.json").write_text('{"s2/a/z": {"agent": "A", "status": "done"')
    (folder / "memory" / "list.json").write_text('[{"agent": "A", "status": "done"}]')
    result = ingest_into(folder)
    warnings = result.rows("SELECT source_path, record_no, reason FROM _load_warnings "
                           "ORDER BY source_path")
    assert [(Path(w["source_path"]).name, w["record_no"], w["reason"][:26]) for w in warnings] == [
        ("swarm-memory.json", None, "not a JSON document: malfo")]
    # a list is no report: left to the other loaders (none claims it)
    assert [Path(p).name for p in result.summary.unclaimed] == ["list.json"]
    rows = result.rows("SELECT name, stream, outcome, ts, ts_raw, message FROM events "
                       "ORDER BY record_no")
    assert rows == [
        {"name": "s1/a1/x", "stream": "s1", "outcome": "error",
         "ts": datetime(2025, 6, 29, 10, tzinfo=UTC), "ts_raw": "2025-06-29T10:00:00Z",
         "message": "A1 - failed"},
        {"name": "s1/a2/y", "stream": "s1", "outcome": None, "ts": None, "ts_raw": "soon",
         "message": 'A2 - ["not text"] - 5'},
    ]


def test_detect(tmp_path: Path):
    loader = MemoryJsonLoader()
    reports = sorted(FOLDER.rglob("*.json"))
    assert len(reports) == 7
    for path in reports:
        assert loader.detect(path, read_head(path)), path
    report = (FOLDER / "swarm-memory.json").read_bytes()
    for relative in ["memory.json", "project/memory/notes.json", "claude-flow/config.json",
                     "claude-flow/hive-mind/config.json"]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(report)
        assert not loader.detect(path, read_head(path)), relative
    plain = tmp_path / "claude-flow" / "memory" / "settings.json"
    plain.parent.mkdir(parents=True)
    plain.write_text('{"theme": "dark", "fontSize": 12}')
    assert not loader.detect(plain, read_head(plain))


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real-data samples not present under {REALDATA}")
def test_the_real_memory_files(ingest_into):
    # SOURCES.md: memory.json and swarm-memory.json (one key each) and five memory/ reports,
    # 2025-06-29; every report but memory.json's names a time.
    result = ingest_into(REALDATA)
    loaded = [f for f in result.summary.files if f.loader == MemoryJsonLoader.name]
    assert (len(loaded), sum(f.records_read for f in loaded),
            sum(f.quarantined for f in loaded)) == (7, 7, 0)
    assert result.scalar("SELECT count(*) FROM events WHERE source = 'memory_json' "
                         "AND ts IS NULL") == 1
