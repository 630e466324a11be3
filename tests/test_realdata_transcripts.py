"""Every coding-agent transcript under /work/shared/realdata ingests: nothing failed or unclaimed."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from incidentlab.analysis.replay import check
from incidentlab.ingest import ingest
from incidentlab.store import connect

from conftest import Ingested, assert_nothing_lost, tree_digest

REALDATA = Path("/work/shared/realdata")
FOLDERS = ("claude-code", "codex-cli", "gemini-cli", "swe-agent", "mini-swe-agent", "openhands",
           "aider", "beads")
# Files in those folders that are not transcripts: licences, READMEs, the authors' expected
# outputs and manifests, beads' db metadata, and Claude Code TUI screen captures.
NOT_TRANSCRIPTS = {
    "LICENSE", "README.md", "manifest.json", "codex-sessions.json", "codex-stats.json",
    "expected-metrics.jsonl", "expected-session.json", "metadata.json",
}
EXPECTED_LOADERS = {
    "claude-code": {"claude_code.session_jsonl"},
    "codex-cli": {"codex_cli.rollout_jsonl"},
    "gemini-cli": {"gemini_cli.session_json"},
    "swe-agent": {"swe_agent.traj", "swe_agent.preds_jsonl", "swe_agent.console_log"},
    "mini-swe-agent": {"mini_swe_agent.traj_json"},
    "openhands": {"openhands.events_json", "openhands.output_jsonl"},
    "aider": {"aider.chat_history_md"},
    "beads": {"beads.issues_jsonl"},
}

pytestmark = pytest.mark.skipif(
    not all((REALDATA / folder).is_dir() for folder in FOLDERS),
    reason=f"real-data samples not present under {REALDATA}",
)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    folders = [REALDATA / folder for folder in FOLDERS]
    before = {str(f): tree_digest(f) for f in folders}
    # aider headers, OpenHands event times and SWE-agent logs are naive local times: --tz places
    # them (the zones are unknown; UTC is the test's stated assumption).
    summary = ingest(folders, tmp_path_factory.mktemp("real") / "real.duckdb", tz="UTC")
    assert before == {str(f): tree_digest(f) for f in folders}, "ingest changed evidence"
    result = Ingested(Path(summary.db), summary)
    yield result
    result.close()


def _folder(path: str) -> str:
    return Path(path).relative_to(REALDATA).parts[0]


def test_every_transcript_claimed_and_loaded(real):
    assert [f.path for f in real.summary.files if f.status != "loaded"] == []
    leftovers = [p for p in real.summary.unclaimed
                 if Path(p).name not in NOT_TRANSCRIPTS and not p.endswith(".terminal.txt")]
    assert leftovers == []
    for outcome in real.summary.files:
        assert outcome.loader in EXPECTED_LOADERS[_folder(outcome.path)], outcome.path
    assert len(real.summary.files) == 36
    assert_nothing_lost(real)


def test_no_record_quarantined(real):
    assert real.rows("SELECT source_path, record_no, reason FROM _load_warnings") == []


def test_codex_tokens_match_the_authors_manifest(real):
    manifest = json.loads((REALDATA / "codex-cli/localpush-2026-02-23/manifest.json").read_text())
    check = manifest["verification"]
    totals = dict(real.con.execute(
        "SELECT name, sum(value) FROM metrics WHERE system = 'codex_cli' "
        "AND source_path LIKE '%localpush%' AND ts >= '2026-02-23' AND ts < '2026-02-24' "
        "GROUP BY 1").fetchall())
    expected = check["token_totals"]
    assert (totals["input_tokens"], totals["output_tokens"], totals["total_tokens"],
            totals["cache_read_tokens"]) == (expected["input"], expected["output"],
                                             expected["total"], expected["cache_read"])
    repeats = real.scalar(
        "SELECT count(*) FROM events WHERE system = 'codex_cli' AND source_path LIKE "
        "'%localpush%' AND event_type = 'llm.usage' AND (attrs->>'repeat')::BOOLEAN")
    assert repeats == check["duplicate_events_detected"]
    low, high = real.con.execute(
        "SELECT min(ts), max(ts) FROM events WHERE source_path LIKE '%localpush%'").fetchone()
    assert low.isoformat().startswith(check["first_event_timestamp"][:23])
    assert high.isoformat().startswith(check["last_event_timestamp"][:23])


def test_beads_times_are_utc(real):
    low, high = real.con.execute(
        "SELECT min(ts), max(ts) FROM events WHERE system = 'beads'").fetchone()
    # The export is written at +01:00: 22:39:13 local is 21:39:13 UTC; the last close, at
    # 00:39:40 local on the 14th, is still the 13th in UTC.
    assert low.isoformat() == "2026-02-10T21:39:13.972132+00:00"
    assert high.isoformat() == "2026-02-13T23:39:40.483403+00:00"


def test_claude_subagents_link_to_parents(real):
    starts = real.rows("SELECT attrs->>'subagent_stream' AS stream FROM events "
                       "WHERE event_type = 'subagent.start' AND system = 'claude_code'")
    streams = {r["stream"] for r in starts}
    loaded = {r["stream"] for r in real.rows(
        "SELECT DISTINCT stream FROM events WHERE system = 'claude_code' AND stream LIKE '%/agent-%'")}
    assert "258c7280-ae70-4798-800f-63464d01a85d/agent-a881341" in streams & loaded


def test_naive_local_times_stop_without_tz(tmp_path: Path):
    folders = [REALDATA / folder for folder in ("aider", "openhands", "swe-agent")]
    summary = ingest(folders, tmp_path / "no_tz.duckdb")
    stopped = sorted(Path(f.path).name for f in summary.files if f.status == "needs_tz")
    assert stopped == [".aider.chat.history.md"] * 3 + [
        "basic.json", "basic_gui_mode.json", "basic_interactions.json",
        "coding_challenge_output.log", "wrong_initial_state.json"]
    assert {f.status for f in summary.files} == {"needs_tz", "loaded"}


def test_aider_events_carry_their_session_time(real):
    assert real.scalar("SELECT count(*) FROM events WHERE system = 'aider' AND ts IS NULL") == 0
    assert real.scalar("SELECT count(*) FROM events WHERE system = 'aider' AND "
                       "event_type = 'session.start'") == 26  # 19 + 3 + 4 headers
    # Every other event has its session header's time, said to be derived from it.
    mismatched = real.scalar(
        "SELECT count(*) FROM events e JOIN events s ON s.system = 'aider' AND "
        "s.event_type = 'session.start' AND s.stream = e.stream AND s.source_path = e.source_path "
        "WHERE e.system = 'aider' AND e.event_type <> 'session.start' AND (e.ts <> s.ts OR "
        "e.ts_quality <> 'derived' OR e.ts_raw <> 'session header: ' || s.ts_raw)")
    assert mismatched == 0
    errors = real.scalar("SELECT count(*) FROM events WHERE system = 'aider' AND "
                         "event_type IN ('llm.error', 'llm.rate_limited', 'error') AND ts IS NULL")
    assert errors == 0


def test_openhands_resolver_run_meaning(real):
    """Facts read from resolver_mock_output/output.jsonl line 2 (issue #1, dark mode) before
    loading: 21 tool calls (1 run, 20 run_ipython); 11 of them failed (8 edits refused for syntax
    errors, 3 "No exact match found"); then finish; success true; 22 costs summing to 1.152933;
    no timestamps anywhere in the record."""
    stream = "neubig/pr-viewer#1"
    outcomes = dict(real.con.execute(
        "SELECT outcome, count(*) FROM events WHERE stream = ? AND event_type = 'tool.result' "
        "GROUP BY 1", [stream]).fetchall())
    assert outcomes == {"ok": 10, "error": 11}
    assert real.scalar("SELECT count(*) FROM events WHERE stream = ? AND event_type = 'tool.call'",
                       [stream]) == 21
    assert real.rows("SELECT outcome FROM events WHERE stream = ? AND event_type = 'run.end'",
                     [stream]) == [{"outcome": "ok"}]
    assert real.scalar("SELECT round(sum(value), 6) FROM metrics WHERE stream = ? AND "
                       "name = 'cost'", [stream]) == 1.152933
    # The resolver writes no time at all: these rows stay without one, and the load says why.
    assert real.scalar("SELECT count(*) FROM events WHERE stream = ? AND ts IS NOT NULL",
                       [stream]) == 0
    facts = json.loads(real.scalar("SELECT facts FROM _loads WHERE loader = "
                                   "'openhands.output_jsonl'"))
    assert facts["timestamps"].startswith("none in the history items")


def test_codex_prompts_are_mirrors_only_of_an_original(real):
    # Every user_message in these rollouts repeats a response_item of the same file (the localpush
    # redaction keeps the length and hash): all 55 are mirrors, none is lost from the timeline.
    rows = dict(real.con.execute(
        "SELECT is_mirror, count(*) FROM events WHERE system = 'codex_cli' AND "
        "event_type_raw = 'event_msg.user_message' GROUP BY 1").fetchall())
    assert rows == {True: 55}


def test_claude_hooks_are_debug(real):
    hooks = dict(real.con.execute(
        "SELECT event_type || ':' || severity, count(*) FROM events WHERE system = 'claude_code' "
        "AND event_type LIKE 'hook.%' GROUP BY 1").fetchall())
    assert hooks == {"hook.progress:debug": 1072, "hook.summary:debug": 4}
    assert real.scalar("SELECT count(*) FROM events WHERE system = 'claude_code' AND "
                       "event_type = 'telemetry' AND name = 'hook_progress'") == 0


def test_replay_finds_no_fault_in_intact_openhands_and_claude_evidence(real):
    con = connect(real.db, read_only=True)
    try:
        found = check(con).violations
    finally:
        con.close()
    assert found.filter(pl.col("system").is_in(["openhands", "claude_code", "aider"])).height == 0
    # Codex: the only faults are real gaps. 019c8a53 has 134 function_calls and 133 outputs;
    # 019c8a70's rollout ends right after its only call (line 18).
    codex = found.filter(pl.col("system") == "codex_cli")
    assert sorted(zip(codex["stream"], codex["rule"], codex["record_no"], strict=True)) == [
        ("019c8a53-a0dd-7130-bcd7-95445d84846a", "tool_call_unclosed", 826),
        ("019c8a70-dda7-7f33-98ea-f30553347322", "tool_call_unclosed", 18)]
