"""Agent-tool loaders (transcripts, task folders, status pages) on damaged evidence: no file fails,
nothing is lost, record numbers are real."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentlab.loaders import get_loader
from incidentlab.loaders.base import LoadContext, LoadResult, read_head
from incidentlab.loaders.transcripts.common import Collector

import fuzzing

FAMILY = {
    "claude_code.session_jsonl", "codex_cli.rollout_jsonl", "gemini_cli.session_json",
    "swe_agent.traj", "swe_agent.preds_jsonl", "swe_agent.console_log",
    "mini_swe_agent.traj_json", "openhands.events_json", "openhands.output_jsonl",
    "aider.chat_history_md", "beads.issues_jsonl", "superpowers.task_events",
    "superpowers.decisions", "superpowers.task_documents", "statuspage.incidents_json",
    "claude_flow.process_metrics", "claude_flow.memory_json",
}
SEEDS = [seed for seed in fuzzing.seeds([fuzzing.FIXTURES]) if seed.loader in FAMILY]
# Documents number the items of each list from 1, so two lists may share a record number.
SHARED_NUMBERS = {"swe_agent.traj", "claude_flow.process_metrics"}
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
T = "2026-03-01T10:00:00Z"


def load(loader: str, path: Path) -> LoadResult:
    # aider, OpenHands and SWE-agent logs refuse naive local times without a zone, as in ingest.
    return fuzzing.load_direct(loader, path, tz=ZoneInfo("UTC"))


damaged_copy = fuzzing.damaged_copy


def assert_accounted(loader: str, path: Path, result: LoadResult, kind: str) -> None:
    fuzzing.assert_accounted(loader, path, result, kind, frozenset(SHARED_NUMBERS))


@FUZZ
@given(index=st.integers(0, len(SEEDS) - 1), rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_transcripts_load_whole(tmp_path: Path, index: int, rng_seed: int):
    seed = SEEDS[index]
    target = damaged_copy(seed, tmp_path, rng_seed)
    assert_accounted(seed.loader, target, load(seed.loader, target), seed.kind)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(SEEDS) - 1), rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_transcripts_ingest_cleanly(tmp_path: Path, index: int, rng_seed: int):
    tally = fuzzing.run_cases(SEEDS[index], 3, tmp_path / uuid.uuid4().hex[:8],
                              random.Random(rng_seed))
    assert tally.clean, tally.problems


# ---- one case per failure class fixed: each made the whole file fail before ----------------------


def _lines(*records: Any) -> bytes:
    return b"\n".join(r if isinstance(r, bytes) else json.dumps(r).encode() for r in records) + b"\n"


USER = {"type": "user", "sessionId": "s1", "uuid": "u1", "timestamp": T,
        "message": {"role": "user", "content": "hello"}}
META = {"timestamp": T, "type": "session_meta", "payload": {"id": "r1", "cwd": "/w"}}
DEEP = "[" * 5000 + "]" * 5000
VERDICT = {"ts": T, "gate_id": "spec.approved", "mode": "hitl",
           "verdict": {"decision": "approve", "rationale": "ok", "source": "hitl"}}
ISSUE = {"id": "bd-1", "title": "t", "status": "closed", "created_at": T, "issue_type": "task"}
RESOLVED = {"instance_id": "i1", "instruction": "fix it", "history": [
    {"action": "run", "tool_call_metadata": {"function_name": "bash", "model_response": {
        "id": [1], "usage": {"prompt_tokens": 3}}}}]}

# (loader, file name, content, records read, quarantined record numbers)
FAILURES = [
    ("claude_code.session_jsonl", "s.jsonl", _lines(USER, {**USER, "message": 5}), 2, []),
    ("claude_code.session_jsonl", "s.jsonl",
     _lines(USER, {**USER, "message": {"content": 5.5}}), 2, []),
    ("claude_code.session_jsonl", "s.jsonl", _lines(USER, {
        "type": "file-history-snapshot", "messageId": "m1",
        "snapshot": {"trackedFileBackups": 42, "timestamp": T}}), 2, []),
    ("claude_code.session_jsonl", "s.jsonl", _lines(USER, {
        "type": "assistant", "sessionId": "s1", "timestamp": T, "message": {
            "model": "m", "content": [{"type": "tool_use", "id": [1], "name": "Bash"}]}}), 2, []),
    ("claude_code.session_jsonl", "s.jsonl",
     _lines(USER, {"type": "system", "subtype": [1], "level": {}, "sessionId": "s1"}), 2, []),
    ("codex_cli.rollout_jsonl", "rollout-1.jsonl",
     _lines(META, {"timestamp": T, "type": "response_item", "payload": {"type": ["x"]}}), 2, []),
    ("codex_cli.rollout_jsonl", "rollout-1.jsonl", _lines(META, {
        "timestamp": T, "type": "event_msg", "payload": {
            "type": "token_count", "info": {"total_token_usage": {}, "last_token_usage": 7}}}),
     2, []),
    ("codex_cli.rollout_jsonl", "rollout-1.jsonl", _lines(META, {
        "timestamp": T, "type": "event_msg", "payload": {
            "type": "exec_command_end", "call_id": "c1", "exit_code": 0,
            "duration": {"secs": [1], "nanos": 0}}}), 2, []),
    ("gemini_cli.session_json", "logs.json",
     f'[{{"sessionId": "s", "messageId": 0, "message": {DEEP}}}]'.encode(), 1, [None]),
    ("swe_agent.traj", "t.traj",
     _lines({"history": [], "trajectory": [{"action": 5, "observation": "o"}], "info": {}}), 2, []),
    ("swe_agent.traj", "t.traj", _lines({"history": 5.5, "trajectory": [], "info": {}}), 2, [None]),
    ("mini_swe_agent.traj_json", "t.traj.json",
     _lines([{"role": "user", "content": "x", "extra": 5}]), 1, []),
    ("mini_swe_agent.traj_json", "t.traj.json", _lines({
        "info": {"exit_status": "Submitted", "model_stats": 3},
        "messages": [{"role": "user", "content": "x"}]}), 2, []),
    ("openhands.events_json", "e.json", b'[{"id": 1, "timestamp": "2026-03-01T10:00:00", '
     b'"source": "agent", "observation": "run", "extras": {"exit_code": 1e400}}]', 1, []),
    ("openhands.events_json", "e.json", b'[{"id": 1, "timestamp": "2026-03-01T10:00:00", '
     b'"source": "agent", "action": "run", "tool_call_metadata": {"model_response": '
     b'{"created": 1e400}}}]', 1, []),
    ("openhands.events_json", "e.json", f'[{{"id": 1, "action": {DEEP}}}]'.encode(), 1, [None]),
    ("openhands.output_jsonl", "output.jsonl", _lines(RESOLVED), 1, []),
    ("beads.issues_jsonl", "issues.jsonl", _lines({**ISSUE, "closed_at": [1]}), 1, []),
    ("beads.issues_jsonl", "issues.jsonl", _lines({**ISSUE, "dependencies": 5}), 1, []),
    ("superpowers.decisions", "decisions.jsonl", _lines(VERDICT, {
        "gate_id": "g", "verdict": {"decision": ["approve"], "rationale": {"x": 1}}, "ts": [1]}),
     2, []),
    ("superpowers.task_events", "events.jsonl", _lines(
        {"event": "lifecycle_emission", "intent": 5, "status": ["failed"], "mode": {}},
        {"event": "decision.recorded", "ts": T, "data": [1], "summary": 1e300}), 2, []),
    ("statuspage.incidents_json", "i.json", json.dumps({"page": [], "incident": {
        "id": "i1", "impact": {}, "started_at": [1], "incident_updates": [
            {"status": ["x"], "affected_components": [{"new_status": [1]}, 5]}, None]}}).encode(),
     1, []),
    ("aider.chat_history_md", "x.aider.chat.history.md",
     b"# aider chat started at 2026-03-01 10:00:00\n> Tokens: 1.2.3 sent, 5 received.\n", 2, [2]),
    ("swe_agent.console_log", "run.log",
     b"2024-07-12 17:57:39,876 INFO sweagent starts\n2024-07-12 17:57:40,000 INFO input_tokens=1,"
     b" output_tokens=2, instance_cost=0.1, cost=1.2.3\n", 2, [2]),
]


@pytest.mark.parametrize(("loader", "name", "content", "read", "quarantined"), FAILURES)
def test_a_bad_value_does_not_fail_the_file(
    tmp_path: Path, loader: str, name: str, content: bytes, read: int, quarantined: list
):
    path = tmp_path / name
    path.write_bytes(content)
    result = load(loader, path)
    assert result.records_read == read
    assert [q.record_no for q in result.quarantine] == quarantined
    assert_accounted(loader, path, result, "document" if path.suffix == ".json" else "other")


EVENTS = b'[{"id": 0, "timestamp": "2026-03-01T10:00:00", "source": "user", "action": "message"}]'
# (loader, file name, head): files each loader failed to claim before
DETECTION = [
    ("codex_cli.rollout_jsonl", "rollout-2026.jsonl",
     b'{"timestamp": "2026", "type": "session_me\xff\n' + _lines(
         {"timestamp": T, "type": "turn_context", "payload": {"model": "m"}},
         {"timestamp": T, "type": "event_msg", "payload": {"type": "task_started"}})),
    ("swe_agent.console_log", "run.log",
     b"\xff2024-07-12 17:57:39,876 INFO \xf0\x9f\x93\x99 Arguments: actions:\n  open_pr: false\n"
     b"2024-07-12 17:57:40,000 INFO \xf0\x9f\x92\xbd Loaded dataset from sweagent\n"),
    ("aider.chat_history_md", "x.aider.chat.history.md",
     b"# aider chat st\xffrted at 2026-03-01 10:00:00\n\n> Aider v0.84.0\n> Main model: gpt-4o\n"),
    ("openhands.events_json", "basic.json", b"\xef\xbb\xbf\x00 \n" + EVENTS),
    ("gemini_cli.session_json", "logs.json",
     b'\xef\xbb\xbf[{"sessionId": "s", "messageId": 0, "type": "user", "message": "hi"}]'),
    ("mini_swe_agent.traj_json", "t.traj.json",
     b'\xef\xbb\xbf[{"role": "system", "content": "You are a helpful assistant"}]'),
    ("superpowers.decisions", "decisions.jsonl", b'{"ts": "2026\xff\n' + _lines(VERDICT)),
]


@pytest.mark.parametrize(("loader", "name", "head"), DETECTION)
def test_damage_at_the_start_does_not_hide_the_kind(tmp_path: Path, loader: str, name: str,
                                                     head: bytes):
    path = tmp_path / name
    path.write_bytes(head)
    assert get_loader(loader).detect(path, read_head(path))


def test_a_record_that_fails_midway_leaves_no_rows(tmp_path: Path):
    col = Collector(LoadContext(con=duckdb.connect(), path=tmp_path / "x.jsonl"))
    col.tables["t"] = []
    with col.record(3, '{"raw": 1}'):
        col.event(3, "chat.turn", message="first")
        col.metric(3, "input_tokens", 5)
        col.tables["t"].append({"a": 1})
        raise KeyError("surprise")
    with col.record(4, "{}"):
        col.event(4, "chat.turn")
    assert [e["record_no"] for e in col.events] == [4]
    assert (col.metrics, col.tables["t"]) == ([], [])
    (problem,) = col.quarantine
    assert (problem.record_no, problem.raw) == (3, '{"raw": 1}')
    assert "KeyError" in problem.reason


def test_a_damaged_issue_does_not_retype_the_beads_table(tmp_path: Path, ingest_into):
    for folder, title, owner in (("a", 1e300, 5), ("b", "fix the build", "me")):
        (tmp_path / folder / ".beads").mkdir(parents=True)
        issue = {**ISSUE, "id": f"bd-{folder}", "title": title, "owner": owner}
        (tmp_path / folder / ".beads" / "issues.jsonl").write_bytes(_lines(issue))
    result = ingest_into(tmp_path / "a", tmp_path / "b")
    assert [f.status for f in result.summary.files] == ["loaded", "loaded"]
    assert result.rows("SELECT title, owner FROM beads_issues ORDER BY id") == [
        {"title": "1e+300", "owner": "5"}, {"title": "fix the build", "owner": "me"}]
