"""Findings detectors: each one's true and false case on tiny canonical slices, loop cost, and a
real mini-swe-agent trajectory whose expected findings were written from reading it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from incidentlab.analysis import usage as usage_mod
from incidentlab.analysis.findings import FINDING_SCHEMA, LEVELS, find
from incidentlab.analysis.findings.base import finding_id
from incidentlab.analysis.findings.detectors import DETECTORS
from incidentlab.ingest import ingest_evidence
from incidentlab.scope import Scope
from incidentlab.store import connect

from analysis_helpers import at, insert, insert_metrics, make_db

FIXTURES = Path(__file__).parent / "fixtures" / "findings"
GENERIC = [d.name for d in DETECTORS]


def call(i: int, tool: str, args: str, t: float, *, outcome: str | None = "ok",
         result: str = "done", system: str = "claude_code", stream: str = "s1",
         duration: float | None = None) -> list[dict[str, Any]]:
    """A tool.call at minute t and (outcome not None) its result 3 seconds later."""
    rows = [{"event_type": "tool.call", "system": system, "stream": stream, "name": tool,
             "correlation_id": f"c{i}", "message": args, "ts": at(minutes=t),
             "event_id": f"{stream}-call{i}"}]
    if outcome is not None:
        rows.append({"event_type": "tool.result", "system": system, "stream": stream,
                     "name": tool, "correlation_id": f"c{i}", "outcome": outcome,
                     "message": result, "ts": at(minutes=t, seconds=3), "duration_ms": duration,
                     "event_id": f"{stream}-result{i}"})
    return rows


def steps(*specs: tuple[str, str] | tuple[str, str, str], **kw: Any) -> list[dict[str, Any]]:
    """Calls one minute apart: (tool, args) or (tool, args, outcome)."""
    rows: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        outcome = spec[2] if len(spec) > 2 else "ok"
        rows += call(i, spec[0], spec[1], float(i), outcome=outcome, **kw)
    return rows


READ_A = ("Read", '{"file_path": "a.py"}')
READ_B = ("Read", '{"file_path": "b.py"}')
EDIT_PY = ("Edit", '{"file_path": "a.py", "old_string": "x", "new_string": "y"}')
EDIT_MD = ("Write", '{"file_path": "NOTES.md", "content": "x"}')
PYTEST = ("Bash", '{"command": "pytest -q tests"}')
LS = ("Bash", '{"command": "ls -la"}')
SCRIPT = ("Bash", '{"command": "./do_things.sh"}')
COMPACT = {"event_type": "context.compacted", "system": "claude_code", "stream": "s1",
           "name": "compact_boundary", "event_id": "s1-compact"}

CASES: list[tuple[str, str, list[dict[str, Any]], int]] = [
    # (detector, case, events, expected findings)
    ("step_repetition", "same failing call 3 times", steps((*PYTEST, "error"), (*PYTEST, "error"),
                                                          (*PYTEST, "error")), 1),
    ("step_repetition", "same call, same result 3 times", steps(READ_A, READ_A, READ_A), 1),
    ("step_repetition", "cycle A B A B", steps(READ_A, READ_B, READ_A, READ_B), 1),
    ("step_repetition", "polling: same call, new result each time",
     [r for i in range(4) for r in call(i, *READ_A, float(i), result=f"line {i}")], 0),
    ("step_repetition", "twice only", steps(READ_A, READ_A), 0),
    ("limit_reached", "limit event", [{"event_type": "limit.reached", "system": "openhands",
                                       "message": "Agent reached maximum iteration"}], 1),
    ("limit_reached", "ordinary run end", [{"event_type": "run.end", "outcome": "ok",
                                            "message": "done"}], 0),
    ("premature_termination", "reads only", steps(READ_A, READ_B, LS), 1),
    ("premature_termination", "reads then an edit", steps(READ_A, READ_B, EDIT_PY), 0),
    ("premature_termination", "unknown shell command", steps(READ_A, READ_B, SCRIPT), 0),
    ("unverified_edits", "edit, no test", steps(READ_A, EDIT_PY), 1),
    ("unverified_edits", "edit then pytest", steps(EDIT_PY, PYTEST), 0),
    ("unverified_edits", "test then edit", steps(PYTEST, EDIT_PY), 1),
    ("unverified_edits", "documentation edit", steps(READ_A, EDIT_MD), 0),
    ("unverified_edits", "edit then unknown shell command", steps(EDIT_PY, SCRIPT), 0),
    ("orphan_tool_call", "call without result", [*call(0, *READ_A, 0.0),
                                                 *call(1, *READ_B, 1.0, outcome=None)], 1),
    ("orphan_tool_call", "stream records no results",
     [*call(0, *READ_A, 0.0, outcome=None), *call(1, *READ_B, 1.0, outcome=None)], 0),
    ("malformed_arguments", "JSON that does not parse",
     call(0, "Bash", '{"command": "ls', 0.0), 1),
    ("malformed_arguments", "refused arguments",
     call(0, "Bash", '{"cmd": "ls"}', 0.0, outcome="error",
          result="InputValidationError: missing required parameter command"), 1),
    ("malformed_arguments", "redacted arguments",
     call(0, "exec_command", "[REDACTED_ARGUMENTS len=40 sha=0a1b2c3d]", 0.0, system="codex_cli"), 0),
    ("context_loss", "failure after compaction",
     [*call(0, *READ_A, 0.0), {**COMPACT, "ts": at(minutes=1)},
      *call(1, *PYTEST, 5.0, outcome="error")], 1),
    ("context_loss", "re-read after compaction",
     [*call(0, *READ_A, 0.0), {**COMPACT, "ts": at(minutes=1)}, *call(1, *READ_A, 5.0)], 1),
    ("context_loss", "new work after compaction",
     [*call(0, *READ_A, 0.0), {**COMPACT, "ts": at(minutes=1)}, *call(1, *READ_B, 5.0)], 0),
    ("context_loss", "failure 40 minutes later",
     [*call(0, *READ_A, 0.0), {**COMPACT, "ts": at(minutes=1)},
      *call(1, *PYTEST, 41.0, outcome="error")], 0),
    ("unproductive_exploration", "20 reads after the last edit",
     [*call(0, *EDIT_PY, 0.0)] + [r for i in range(1, 21)
                                  for r in call(i, "Read", f'{{"file_path": "f{i}.py"}}', float(i))], 1),
    ("unproductive_exploration", "19 reads after the last edit",
     [*call(0, *EDIT_PY, 0.0)] + [r for i in range(1, 20)
                                  for r in call(i, "Read", f'{{"file_path": "f{i}.py"}}', float(i))], 0),
    ("hang", "one call 10x the median and over a minute",
     [r for i in range(5) for r in call(i, "Bash", f'{{"command": "echo {i}"}}', float(i),
                                         duration=1000.0)]
     + call(5, "Bash", '{"command": "sleep"}', 6.0, duration=120000.0), 1),
    ("hang", "slow but like the others",
     [r for i in range(6) for r in call(i, "Bash", f'{{"command": "echo {i}"}}', float(i),
                                         duration=90000.0)], 0),
    ("hang", "silence after a call",
     [*call(0, *READ_A, 0.0), *call(1, *PYTEST, 1.0, outcome=None),
      {"event_type": "chat.turn", "system": "claude_code", "ts": at(minutes=30)}], 1),
    ("hang", "silence of exactly 15 minutes",
     [*call(0, *PYTEST, 1.0, outcome=None),
      {"event_type": "chat.turn", "system": "claude_code", "ts": at(minutes=16)}], 1),
    ("hang", "14 minutes across a quarter hour",
     [*call(0, *PYTEST, 10.0, outcome=None),
      {"event_type": "chat.turn", "system": "claude_code", "ts": at(minutes=24)}], 0),
    ("hang", "silence after a result, not a call",
     [*call(0, *PYTEST, 1.0), {"event_type": "chat.turn", "system": "claude_code",
                               "ts": at(minutes=30)}], 0),
]


@pytest.mark.parametrize(("detector", "case", "events", "expected"), CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_detector_true_and_false_cases(tmp_path: Path, detector: str, case: str,
                                       events: list[dict[str, Any]], expected: int) -> None:
    con = make_db(tmp_path)
    insert(con, events)
    found = find(con, detectors=[detector])
    assert found.height == expected, found.select("title", "detail").to_dicts()
    assert found.schema == pl.Schema(FINDING_SCHEMA)
    ids = {e for (e,) in con.execute("SELECT event_id FROM events").fetchall()}
    for row in found.to_dicts():
        assert row["event_ids"] and set(row["event_ids"]) <= ids
        assert row["level"] in LEVELS and row["code"] and row["code_url"].startswith("https://arxiv.org/")
        first_ts = con.execute("SELECT ts FROM events WHERE event_id = ?",
                               [row["event_ids"][0]]).fetchone()[0]
        assert row["ts"] == first_ts
        assert row["finding_id"] == finding_id(row["detector"], row["stream"], row["event_ids"][0])


def test_cycle_cites_every_step_in_order(tmp_path: Path) -> None:
    con = make_db(tmp_path)
    insert(con, steps(READ_A, READ_B, READ_A, READ_B))
    [row] = find(con, detectors=["step_repetition"]).to_dicts()
    assert row["event_ids"] == ["s1-call0", "s1-result0", "s1-call1", "s1-result1",
                                "s1-call2", "s1-result2", "s1-call3", "s1-result3"]
    assert row["title"] == "Cycle of 2 calls repeated 2 times: Read"
    assert row["code"] == "FM-1.3" and row["taxonomy"] == "MAST"


def test_loop_cost_from_usage_and_null_without_it(tmp_path: Path) -> None:
    con = make_db(tmp_path)
    looped = [r for i in range(3) for r in call(i, "exec_command", '{"cmd": "pytest"}', float(i),
                                                 outcome="error", system="codex_cli")]
    other = [r for i in range(3) for r in call(i, "exec_command", '{"cmd": "pytest"}', float(i),
                                                outcome="error", system="codex_cli", stream="s2")]
    insert(con, looped + other)
    con.execute("INSERT INTO _loads (load_id, loader, system) VALUES "
                "('test', 'codex_cli.rollout_jsonl', 'codex_cli')")
    # inside the loop of s1 (minute 0 .. 2:03): 100+10 and 200+20; after it: 999 (not counted)
    insert_metrics(con, [
        {"system": "codex_cli", "stream": "s1", "name": "input_tokens", "value": 100, "ts": at(minutes=0)},
        {"system": "codex_cli", "stream": "s1", "name": "output_tokens", "value": 10, "ts": at(minutes=0)},
        {"system": "codex_cli", "stream": "s1", "name": "input_tokens", "value": 200, "ts": at(minutes=2)},
        {"system": "codex_cli", "stream": "s1", "name": "output_tokens", "value": 20, "ts": at(minutes=2)},
        {"system": "codex_cli", "stream": "s1", "name": "input_tokens", "value": 999, "ts": at(minutes=9)},
    ])
    found = find(con, detectors=["step_repetition"]).sort("stream")
    s1, s2 = found.to_dicts()
    assert s1["tokens"] == 330 and s1["cost_usd"] is None  # Codex rollouts hold no cost
    assert s1["duration_ms"] == 123000.0
    assert s2["tokens"] is None and s2["cost_usd"] is None and s2["duration_ms"] == 123000.0
    per = usage_mod.loop_totals(found).sort("stream").to_dicts()
    assert [(r["stream"], r["loops"], r["tokens"], r["loops_without_usage"]) for r in per] == [
        ("s1", 1, 330, 0), ("s2", 1, None, 1)]


def test_loop_cost_is_usage_over_each_loops_own_window(tmp_path: Path) -> None:
    """One query for all loops gives what `usage` gives per loop: overlapping windows of one
    stream each count their own points, a loop without a stream counts its system's, one without
    an end time has nothing."""
    con = make_db(tmp_path)
    con.execute("INSERT INTO _loads (load_id, loader, system) VALUES "
                "('test', 'codex_cli.rollout_jsonl', 'codex_cli')")
    insert_metrics(con, [
        {"system": "codex_cli", "stream": stream, "name": name, "value": value, "ts": at(minutes=m)}
        for stream, name, value, m in (("s1", "input_tokens", 100, 0), ("s1", "output_tokens", 10, 1),
                                       ("s1", "input_tokens", 200, 3), ("s2", "input_tokens", 7, 1),
                                       ("s2", "input_tokens", 5, 20))])
    loops = pl.DataFrame({
        "system": ["codex_cli"] * 5,
        "stream": ["s1", "s1", None, "s2", "s1"],
        "ts": [at(minutes=0), at(minutes=1), at(minutes=1), at(minutes=2), at(minutes=0)],
        "ts_end": [at(minutes=1), at(minutes=3), at(minutes=2), at(minutes=4), None],
    })
    got = usage_mod.loop_cost(con, loops)
    assert got["tokens"].to_list() == [110, 210, 17, None, None]
    for row in got.head(4).iter_rows(named=True):
        inside = Scope(start=row["ts"], end=row["ts_end"], systems=(row["system"],),
                       streams=(row["stream"],) if row["stream"] else ())
        [alone] = usage_mod.usage(con, inside, by=()).to_dicts()
        assert row["tokens"] == alone["total_tokens"] and row["cost_usd"] == alone["cost_usd"]
    assert got["duration_ms"].to_list() == [60000.0, 120000.0, 60000.0, 120000.0, None]


def test_scope_narrows_findings(tmp_path: Path) -> None:
    con = make_db(tmp_path)
    insert(con, [*steps(READ_A, EDIT_PY), *steps(READ_A, EDIT_PY, stream="s2")])
    assert find(con, detectors=["unverified_edits"]).height == 2
    assert find(con, Scope(streams=("s2",)), detectors=["unverified_edits"])["stream"].to_list() == ["s2"]
    assert find(con, detectors=["unverified_edits"], min_level="error").is_empty()


def test_real_mini_swe_agent_trajectory(tmp_path: Path) -> None:
    """github_issue.traj.json (SWE-agent/mini-swe-agent tests, MIT), read before running: the
    agent cats a missing path (fails), lists, cats the file, fixes it with `sed -i`, runs it
    twice with python3 (verification), then rewrites the whole file with `cat > ... << 'EOF'`
    and submits with the COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT echo, which by design has no
    observation. So: one unverified edit (the rewrite, step 9, after the last run at step 8),
    no orphan call (the submission ends the run), no loop (the two `cat tests/missing_colon.py`
    are not consecutive), no premature termination (it edited). No event carries a time."""
    source = tmp_path / "traj"
    source.mkdir()
    shutil.copy(FIXTURES / "mini-swe-agent" / "github_issue.traj.json", source)
    db = tmp_path / "m.duckdb"
    ingest_evidence(source, db)
    con = connect(db, read_only=True)
    found = find(con, detectors=GENERIC)
    assert found["detector"].to_list() == ["unverified_edits"]
    [row] = found.to_dicts()
    assert row["stream"] == "github_issue" and row["ts"] is None
    assert "No cited event carries a time." in row["detail"]
    assert "cat > tests/missing_colon.py" in row["detail"] and "the last one was step 8" in row["detail"]
    calls = con.execute("SELECT event_id, message FROM events WHERE event_id IN "
                        f"({', '.join(repr(e) for e in row['event_ids'])}) ORDER BY position").fetchall()
    assert calls[0][1].startswith("cat > tests/missing_colon.py") and len(calls) == 2
