"""Every coding-agent transcript under /work/shared/realdata ingests: nothing failed or unclaimed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incidentlab.ingest import ingest

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
    summary = ingest(folders, tmp_path_factory.mktemp("real") / "real.duckdb")
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
