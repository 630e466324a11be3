"""aider chat history: sessions from headers, turns, status lines; events carry their session's time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.loaders.base import read_head
from incidentlab.loaders.transcripts.aider import AiderHistoryLoader

from conftest import FIXTURES

MONO = FIXTURES / "aider" / "Monochromatic" / ".aider.chat.history.md"
ZEN = FIXTURES / "aider" / "zen-mcp-server" / ".aider.chat.history.md"


def test_counts_and_types(ingest_into):
    result = ingest_into(MONO, tz="UTC")
    outcome = result.summary.files[0]
    assert (outcome.loader, outcome.records_read, outcome.event_rows, outcome.metric_rows) == (
        "aider.chat_history_md", 277, 277, 16)  # 4 token lines: sent, received, cost, session cost
    types = dict(result.con.execute(
        "SELECT event_type, count(*) FROM events GROUP BY 1").fetchall())
    assert types == {"chat.turn": 16, "error": 2, "llm.error": 5, "llm.rate_limited": 6,
                     "llm.usage": 4, "log": 220, "model.change": 10, "patch.applied": 1,
                     "session.start": 13}
    assert result.scalar("SELECT count(DISTINCT stream) FROM events") == 13


def test_patch_row_fully_specified(ingest_into):
    result = ingest_into(MONO, tz="UTC")
    (row,) = result.rows("SELECT * FROM events WHERE event_type = 'patch.applied'")
    assert row == {
        "event_id": row["event_id"],
        "load_id": result.scalar("SELECT load_id FROM _loads"),
        "system": "aider",
        "source": "chat_history_md",
        "source_path": str(MONO.resolve()),
        "record_no": 446,
        "ts": datetime(2025, 6, 2, 13, 2, 14, tzinfo=UTC),
        "ts_raw": "session header: 2025-06-02 13:02:14",
        "ts_quality": "derived",
        "stream": "aider 2025-06-02 13:02:14",
        "seq": None,
        "position": 446,
        "project": str(MONO.parent.resolve()),
        "correlation_id": None,
        "event_type": "patch.applied",
        "event_type_raw": ">",
        "actor": "aider",
        "name": "packages\\module\\es\\src\\CONVENTIONS.md",
        "outcome": "ok",
        "severity": "info",
        "duration_ms": None,
        "message": "Applied edit to packages\\module\\es\\src\\CONVENTIONS.md",
        "error_code": None,
        "error_category": None,
        "is_mirror": False,
        "attrs": '{"text": "Applied edit to packages\\\\module\\\\es\\\\src\\\\CONVENTIONS.md"}',
    }


def test_events_inherit_their_session_time_and_need_tz(ingest_into, tmp_path: Path):
    result = ingest_into(ZEN, tz="Asia/Shanghai")
    starts = result.rows("SELECT ts, ts_raw, ts_quality FROM events "
                         "WHERE event_type = 'session.start' ORDER BY record_no")
    assert starts[0] == {"ts": datetime(2025, 10, 20, 13, 49, 17, tzinfo=UTC),
                         "ts_raw": "2025-10-20 21:49:17", "ts_quality": "assumed_local"}
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NULL") == 0
    others = result.rows("SELECT DISTINCT stream, ts, ts_raw, ts_quality FROM events "
                         "WHERE event_type <> 'session.start' ORDER BY ts")
    assert [(o["ts_raw"], o["ts_quality"]) for o in others] == [
        ("session header: 2025-10-20 21:49:17", "derived"),
        ("session header: 2025-10-20 21:49:22", "derived"),
        ("session header: 2025-10-22 09:29:12", "derived"),
        ("session header: 2025-10-23 17:04:56", "derived")]
    assert all(o["stream"] == "aider " + o["ts_raw"].removeprefix("session header: ")
               for o in others)
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["sessions"] == 4
    # The same rule as a text log: naive local times without --tz stop the file.
    plain = ingest_into(ZEN, db=tmp_path / "no_tz.duckdb")
    (outcome,) = plain.summary.files
    assert outcome.status == "needs_tz" and "2025-10-20 21:49:17" in outcome.message
    assert plain.scalar("SELECT count(*) FROM events") == 0


def test_session_meaning(ingest_into):
    """Facts read from the file before loading it: four sessions; no model was ever called (every
    user turn is a /add or /copy-context command); one pypi check error; two Ctrl-C exits."""
    result = ingest_into(ZEN, tz="Asia/Shanghai")
    turns = dict(result.con.execute("SELECT actor, count(*) FROM events "
                                    "WHERE event_type = 'chat.turn' GROUP BY 1").fetchall())
    assert turns == {"user": 8}
    assert result.scalar("SELECT count(*) FROM events WHERE event_type LIKE 'llm.%'") == 0
    (error,) = result.rows("SELECT record_no, stream, ts FROM events WHERE event_type = 'error'")
    assert (error["record_no"], error["stream"]) == (27, "aider 2025-10-22 09:29:12")
    assert error["ts"] == datetime(2025, 10, 22, 1, 29, 12, tzinfo=UTC)
    interrupts = result.rows("SELECT record_no FROM events WHERE name = 'interrupt' "
                             "ORDER BY record_no")
    assert [i["record_no"] for i in interrupts] == [23, 41]
    (low, high), = result.con.execute("SELECT min(ts), max(ts) FROM events").fetchall()
    assert (low, high) == (datetime(2025, 10, 20, 13, 49, 17, tzinfo=UTC),
                           datetime(2025, 10, 23, 9, 4, 56, tzinfo=UTC))
    last = result.scalar("SELECT max(record_no) FROM events")
    assert last == 116  # "> Copied code context to clipboard.", the last line


def test_errors_tokens_and_traceback(ingest_into):
    result = ingest_into(MONO, tz="UTC")
    (trace,) = result.rows("SELECT * FROM events WHERE error_category = 'traceback'")
    assert (trace["record_no"], trace["error_code"]) == (142, "TypeError")
    assert json.loads(trace["attrs"])["text"].startswith("Traceback (most recent call last):")
    limited = result.rows("SELECT DISTINCT error_code, error_category FROM events "
                          "WHERE event_type = 'llm.rate_limited'")
    assert limited == [{"error_code": "RateLimitError", "error_category": "litellm"}]
    tokens = result.rows("SELECT name, value, unit FROM metrics WHERE record_no = 337 ORDER BY 1")
    assert tokens == [{"name": "cost", "value": 0.01, "unit": "usd"},
                      {"name": "input_tokens", "value": 9700.0, "unit": "tokens"},
                      {"name": "output_tokens", "value": 85.0, "unit": "tokens"},
                      {"name": "session_cost", "value": 0.01, "unit": "usd"}]


def test_fenced_code_stays_in_the_assistant_turn(ingest_into, tmp_path: Path):
    path = tmp_path / ".aider.chat.history.md"
    path.write_text(
        "\n# aider chat started at 2025-01-01 10:00:00\n\n#### fix it  \n\n"
        "Here is the fix:\n\n```python\n# aider chat started at 1999-01-01 00:00:00\n"
        "#### not a user turn\n> not a status line\n```\n\n> Applied edit to a.py  \n"
        "> Tokens: 2.4k sent, 1.2k cache write, 2.0k cache hit, 96 received. "
        "Cost: $0.0012 message, $0.0012 session.  \n")
    result = ingest_into(path, tz="UTC")
    rows = result.rows("SELECT record_no, event_type, actor FROM events ORDER BY record_no")
    assert rows == [
        {"record_no": 2, "event_type": "session.start", "actor": None},
        {"record_no": 4, "event_type": "chat.turn", "actor": "user"},
        {"record_no": 6, "event_type": "chat.turn", "actor": "assistant"},
        {"record_no": 14, "event_type": "patch.applied", "actor": "aider"},
        {"record_no": 15, "event_type": "llm.usage", "actor": "aider"},
    ]
    metrics = dict(result.con.execute("SELECT name, value FROM metrics").fetchall())
    assert metrics == {"input_tokens": 2400, "output_tokens": 96, "cache_creation_tokens": 1200,
                       "cache_read_tokens": 2000, "cost": 0.0012, "session_cost": 0.0012}


def test_second_ingest_is_unchanged(ingest_into, tmp_path: Path):
    db = tmp_path / "twice.duckdb"
    ingest_into(ZEN, db=db, tz="UTC")
    assert ingest_into(ZEN, db=db, tz="UTC").summary.files[0].status == "unchanged"


def test_nothing_is_quarantined_and_detect(tmp_path: Path, ingest_into):
    # Markdown has no malformed records: every line lands in some event; undecodable bytes are
    # replaced, not dropped.
    path = tmp_path / ".aider.chat.history.md"
    path.write_bytes(b"# aider chat started at 2025-01-01 10:00:00\n#### caf\xe9\n")
    result = ingest_into(path, tz="UTC")
    assert result.scalar("SELECT count(*) FROM _load_warnings") == 0
    assert result.scalar("SELECT message FROM events WHERE actor = 'user'") == "caf\ufffd"
    loader = AiderHistoryLoader()
    assert loader.detect(MONO, read_head(MONO))
    other = tmp_path / "notes.md"
    other.write_bytes(MONO.read_bytes())
    assert not loader.detect(other, read_head(other))
