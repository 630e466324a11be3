"""Builds a small CodingBuddy store.sqlite (schema per FORMATS §1.2) for tests and the demo."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, applied_at TEXT);
CREATE TABLE events(id INTEGER PRIMARY KEY, session_id TEXT, seq_no INTEGER, at TEXT, kind TEXT,
                    payload TEXT);
CREATE TABLE sessions(session_id TEXT PRIMARY KEY, workspace_root TEXT, baseline_commit TEXT,
                      status TEXT, budgets TEXT, active_plan_id TEXT, updated_at TEXT);
CREATE TABLE usage_ledger(id INTEGER PRIMARY KEY, session_id TEXT, unit TEXT, model TEXT,
                          input_tokens INTEGER, output_tokens INTEGER, recorded_at TEXT,
                          cache_hit_tokens INTEGER, cache_miss_tokens INTEGER);
CREATE TABLE cost_ledger(id INTEGER PRIMARY KEY, session_id TEXT, input_tokens INTEGER,
                         output_tokens INTEGER, estimated_cost_usd REAL, recorded_at TEXT);
CREATE TABLE approvals_ledger(id INTEGER PRIMARY KEY, session_id TEXT, invocation_id TEXT,
                              approved_at TEXT);
CREATE TABLE replay_cassettes(cassette_id TEXT PRIMARY KEY, session_id TEXT, deterministic INT,
                              events_count INT, payload_json TEXT, created_at TEXT);
CREATE TABLE web_search_cache(id INTEGER PRIMARY KEY, query TEXT);
"""


def build_store(path: Path, envelopes: list[dict], *, bad_rows: bool = False) -> None:
    """Write store.sqlite with `envelopes` (events.jsonl records) as its events rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.execute("INSERT INTO schema_migrations VALUES (9, '2026-03-01T00:00:00+00:00')")
    for env in envelopes:
        at = env["at"].replace("Z", "+00:00")
        con.execute(
            "INSERT INTO events(session_id, seq_no, at, kind, payload) VALUES (?, ?, ?, ?, ?)",
            [env["session_id"], env["seq_no"], at, f"{env['kind']['type']}@v1",
             json.dumps(env["kind"])],
        )
    if bad_rows:
        con.execute("INSERT INTO events(session_id, seq_no, at, kind, payload) "
                    "VALUES ('s', 1, '2026-03-01T09:00:00+00:00', 'X@v1', '{not json')")
        con.execute("INSERT INTO usage_ledger(session_id, unit, model, recorded_at) "
                    "VALUES ('s', '\"Planner\"', 'deepseek-chat', 'never')")
    con.execute(
        "INSERT INTO sessions VALUES ('01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01', '/home/dev/app', "
        "'abc123', '\"Failed\"', '{\"per_turn_seconds\": 60}', NULL, '2026-03-01T09:16:00+00:00')"
    )
    con.execute(
        "INSERT INTO usage_ledger(session_id, unit, model, input_tokens, output_tokens, "
        "recorded_at, cache_hit_tokens, cache_miss_tokens) VALUES "
        "('01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01', '{\"Model\":\"deepseek-chat\"}', "
        "'deepseek-chat', 5120, 310, '2026-03-01T09:15:06+00:00', 4096, 1024)"
    )
    con.execute(
        "INSERT INTO cost_ledger(session_id, input_tokens, output_tokens, estimated_cost_usd, "
        "recorded_at) VALUES ('01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01', 5120, 310, 0.0123, "
        "'2026-03-01T09:15:06+00:00')"
    )
    con.execute(
        "INSERT INTO approvals_ledger(session_id, invocation_id, approved_at) VALUES "
        "('01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01', '5b0e6a51-2c7e-4d43-8f1a-0d7b9c3e2f11', "
        "'2026-03-01T09:15:04.100000+00:00')"
    )
    payload = {"session_id": "01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01", "deterministic": True,
               "validation": {"passed": False, "monotonic_seq": True,
                              "missing_tool_results": [], "orphan_tool_results": []}}
    con.execute(
        "INSERT INTO replay_cassettes VALUES ('01955a40-0000-7000-8000-0000000000aa', "
        "'01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01', 1, 7, ?, '2026-03-01T09:30:00+00:00')",
        [json.dumps(payload)],
    )
    con.commit()
    con.close()
