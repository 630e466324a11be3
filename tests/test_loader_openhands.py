"""OpenHands event lists (gapped ids, naive local times), resolver and evaluation output.jsonl."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.analysis.replay import check
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
EVAL = FOLDER / "evaluation" / "output.jsonl"


def _name(path: str | Path) -> str:
    return Path(path).resolve().relative_to(FOLDER.resolve()).as_posix()


def test_folder_counts(ingest_into):
    result = ingest_into(FOLDER, tz="UTC")
    loads = {_name(f.path): (f.loader, f.records_read, f.event_rows, f.metric_rows)
             for f in result.summary.files}
    assert loads == {
        _name(BASIC): ("openhands.events_json", 4, 6, 8),
        # + the OpenAI usage's prompt_tokens_details.cached_tokens and reasoning_tokens
        _name(INTERACTIONS): ("openhands.events_json", 6, 7, 4),
        _name(OUTPUT): ("openhands.output_jsonl", 1, 11, 4),
        _name(EVAL): ("openhands.output_jsonl", 1, 19, 10),
    }


def test_gapped_ids_kept_as_seq(ingest_into):
    result = ingest_into(INTERACTIONS, tz="UTC")
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


def test_naive_times_need_tz_and_offset_is_only_a_hint(ingest_into, tmp_path: Path):
    # Like a text log: naive local times without --tz stop the file (needs_tz), never guessed.
    plain = ingest_into(BASIC, EVAL, OUTPUT, db=tmp_path / "no_tz.duckdb")
    assert {_name(f.path): f.status for f in plain.summary.files} == {
        _name(BASIC): "needs_tz", _name(EVAL): "needs_tz", _name(OUTPUT): "loaded"}
    result = ingest_into(BASIC, tz="UTC")
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NULL") == 0
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["utc_offset_hint"].startswith("-08:00")


def test_usage_once_per_model_response(ingest_into):
    result = ingest_into(BASIC, tz="UTC")
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
    result = ingest_into(bad, out, tz="UTC")
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


def test_evaluation_run_that_hit_max_iterations(ingest_into):
    """Facts read from the slice before loading it: the last five calls of a run that stopped at
    its 50-iteration limit; exit codes 0, 2, 1, 1, 100; times are the items' own."""
    result = ingest_into(EVAL, tz="UTC")
    calls = result.rows("SELECT c.correlation_id AS id, r.outcome, c.ts AS called, r.ts AS ended "
                        "FROM events c JOIN events r ON r.correlation_id = c.correlation_id AND "
                        "r.event_type = 'tool.result' WHERE c.event_type = 'tool.call' "
                        "ORDER BY c.position")
    assert [(c["id"], c["outcome"]) for c in calls] == [
        ("toolu_45", "ok"), ("toolu_46", "error"), ("toolu_47", "error"), ("toolu_48", "error"),
        ("toolu_49", "error")]
    assert calls[0]["called"] == datetime(2025, 4, 30, 18, 3, 56, 239207, tzinfo=UTC)
    assert calls[-1]["ended"] == datetime(2025, 4, 30, 18, 4, 10, 527941, tzinfo=UTC)
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NULL") == 0
    end = result.rows("SELECT outcome, error_code, message, ts, ts_quality, ts_raw FROM events "
                      "WHERE event_type = 'run.end'")
    assert end == [{
        "outcome": "error", "error_code": "max_iterations",
        "message": "RuntimeError: Agent reached maximum iteration in headless mode. "
                   "Current iteration: 50, max iteration: 50",
        "ts": datetime(2025, 4, 30, 18, 4, 10, 527941, tzinfo=UTC), "ts_quality": "derived",
        "ts_raw": "last history item: 2025-04-30T18:04:10.527941"}]
    assert result.scalar("SELECT count(*) FROM events WHERE event_type = 'limit.turns_exceeded'") == 1
    start = result.rows("SELECT ts_raw, ts_quality FROM events WHERE event_type = 'run.start'")
    assert start == [{"ts_raw": "first history item: 2025-04-30T18:03:56.239207",
                      "ts_quality": "derived"}]
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["utc_offset_hint"].startswith("+08:00")  # created 10:03:54Z, logged 18:03:56
    tokens = dict(result.con.execute("SELECT name, sum(value) FROM metrics GROUP BY 1").fetchall())
    assert tokens == {"input_tokens": 26021 + 26205 + 26426 + 26717 + 27127,
                      "output_tokens": 56 + 76 + 95 + 96 + 55}
    assert check(result.con).violations.height == 0


# OpenHands' own serialization of the think tool (AgentThinkAction / AgentThinkObservation, which
# the runtime answers with "Your thought has been logged."); no real file in the corpus has one.
THINK = [
    {"id": 0, "timestamp": "2025-05-01T10:00:00.000001", "source": "user", "action": "message",
     "message": "fix the bug", "args": {"content": "fix the bug"}},
    {"id": 3, "timestamp": "2025-05-01T10:00:05.000001", "source": "agent", "action": "think",
     "message": "I should look at utils.py first", "args": {"thought": "utils.py first"},
     "tool_call_metadata": {"function_name": "think", "tool_call_id": "toolu_think"}},
    {"id": 4, "timestamp": "2025-05-01T10:00:05.000002", "source": "agent", "observation": "think",
     "cause": 3, "content": "Your thought has been logged.", "message": "Your thought has been "
     "logged.", "extras": {}, "tool_call_metadata": {"function_name": "think",
                                                    "tool_call_id": "toolu_think"}},
    {"id": 5, "timestamp": "2025-05-01T10:00:09.000001", "source": "agent", "action": "run",
     "message": "Running command: pytest", "args": {"command": "pytest"},
     "tool_call_metadata": {"function_name": "execute_bash", "tool_call_id": "toolu_run"}},
    {"id": 6, "timestamp": "2025-05-01T10:00:19.000001", "source": "agent", "observation": "error",
     "cause": 5, "content": "Timeout", "message": "Timeout", "extras": {}},
]


def test_think_is_no_tool_call_and_an_error_observation_ends_its_call(ingest_into, tmp_path):
    path = tmp_path / "think.json"
    path.write_text(json.dumps(THINK))
    result = ingest_into(path, tz="UTC")
    rows = result.rows("SELECT seq, event_type, name, outcome, correlation_id FROM events "
                       "ORDER BY position")
    assert rows == [
        {"seq": 0, "event_type": "chat.turn", "name": None, "outcome": None,
         "correlation_id": None},
        {"seq": 3, "event_type": "chat.turn", "name": "thinking", "outcome": None,
         "correlation_id": "toolu_think"},
        {"seq": 4, "event_type": "telemetry", "name": "think", "outcome": None,
         "correlation_id": "toolu_think"},
        {"seq": 5, "event_type": "tool.call", "name": "execute_bash", "outcome": None,
         "correlation_id": "toolu_run"},
        {"seq": 6, "event_type": "tool.result", "name": "execute_bash", "outcome": "error",
         "correlation_id": "toolu_run"},
    ]
    assert check(result.con).violations.height == 0


def test_resolver_edit_failures_are_failures(ingest_into, tmp_path: Path):
    # agentskills' edit tools print their failure and write no exit code.
    record = json.loads(OUTPUT.read_text())
    history = [
        *record["history"][:3],
        {"code": "edit_file_by_replace('/workspace/a.tsx', to_replace='x', new_content='y')",
         "thought": "edit", "action": "run_ipython"},
        {"content": "[No exact match found in /workspace/a.tsx for\n```\nx\n```\n]",
         "code": "edit_file_by_replace(...)", "observation": "run_ipython"}]
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps({**record, "history": history}) + "\n")
    result = ingest_into(path)
    outcomes = [r["outcome"] for r in result.rows(
        "SELECT outcome FROM events WHERE event_type = 'tool.result' ORDER BY position")]
    assert outcomes == ["ok", "error"]
