"""CodingBuddy store.sqlite: events as mirror copies, ledgers into metrics, evidence untouched."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from codingbuddy_store_fixture import build_store
from conftest import FIXTURES, tree_digest

EVENTS = FIXTURES / "codingbuddy" / "ws" / ".codingbuddy" / "events.jsonl"
ENVELOPES = [json.loads(line) for line in EVENTS.read_text().splitlines()]


def test_mirror_events_metrics_and_domain_tables(ingest_into, tmp_path):
    store = tmp_path / "app" / ".codingbuddy" / "store.sqlite"
    build_store(store, ENVELOPES)
    result = ingest_into(store)
    outcome = result.summary.files[0]
    assert outcome.loader == "codingbuddy.store_sqlite"
    # 10 events + 1 usage + 1 cost + sessions, approvals, cassettes (1 each)
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (15, 10, 0)
    assert result.scalar("SELECT count(*) FROM events WHERE NOT is_mirror") == 0
    assert result.scalar("SELECT count(*) FROM timeline_events") == 0
    metrics = result.rows("SELECT name, value, unit, stream FROM metrics ORDER BY name")
    assert [(m["name"], m["value"]) for m in metrics] == [
        ("cache_hit_tokens", 4096), ("cache_miss_tokens", 1024), ("cost_usd", 0.0123),
        ("input_tokens", 5120), ("output_tokens", 310)]
    assert result.scalar("SELECT status FROM codingbuddy_sessions") == "Failed"
    assert result.scalar("SELECT count(*) FROM codingbuddy_approvals_ledger") == 1
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["tables_not_read"] == ["web_search_cache"]


def test_mirror_row_matches_jsonl_row(ingest_into, tmp_path):
    store = tmp_path / "app" / ".codingbuddy" / "store.sqlite"
    build_store(store, ENVELOPES)
    (tmp_path / "app" / ".codingbuddy" / "events.jsonl").write_text(EVENTS.read_text())
    result = ingest_into(tmp_path / "app")
    columns = "stream, seq, ts, event_type, event_type_raw, outcome, severity, correlation_id"
    primary = result.rows(f"SELECT {columns} FROM events WHERE NOT is_mirror ORDER BY stream, seq")
    mirror = result.rows(f"SELECT {columns} FROM events WHERE is_mirror ORDER BY stream, seq")
    assert primary == mirror
    (row,) = result.rows("SELECT * FROM events WHERE is_mirror AND event_type_raw = 'ToolResult'")
    assert (row["source"], row["record_no"], row["ts_raw"], row["ts"]) == (
        "store_sqlite", 7, "2026-03-01T09:15:05.902000000+00:00",
        datetime(2026, 3, 1, 9, 15, 5, 902000, tzinfo=UTC))
    assert result.scalar("SELECT count(*) FROM timeline_events") == 10


def test_bad_rows_quarantined(ingest_into, tmp_path):
    store = tmp_path / "app" / ".codingbuddy" / "store.sqlite"
    build_store(store, ENVELOPES[:2], bad_rows=True)
    result = ingest_into(store)
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY reason")
    assert warnings == [
        {"record_no": 3, "reason": "payload is not valid JSON"},
        {"record_no": 1, "reason": "usage_ledger: no usable recorded_at or value"},
    ]
    assert result.summary.files[0].event_rows == 2


def test_pending_wal_is_read_and_evidence_untouched(ingest_into, tmp_path):
    folder = tmp_path / "app" / ".codingbuddy"
    store = folder / "store.sqlite"
    build_store(store, ENVELOPES[:3])
    writer = sqlite3.connect(store)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute(
        "INSERT INTO events(session_id, seq_no, at, kind, payload) VALUES (?, ?, ?, ?, ?)",
        ["s-wal", 1, "2026-03-01T10:00:00+00:00", "SessionStarted@v1",
         json.dumps({"type": "SessionStarted", "payload": {}})])
    writer.commit()
    assert (folder / "store.sqlite-wal").stat().st_size > 0
    listing = sorted(p.name for p in folder.iterdir())
    digest = tree_digest(folder)
    result = ingest_into(store)
    assert sorted(p.name for p in folder.iterdir()) == listing
    assert tree_digest(folder) == digest
    assert result.scalar("SELECT count(*) FROM events WHERE stream = 's-wal'") == 1
    writer.close()
