"""Usage (tokens and cost per session and model), each call counted once, against totals computed
by hand from the raw fixture files (tests/fixtures/usage/expected.json, written before the code)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from incidentlab.analysis.usage import GROUPABLE, declarations, usage
from incidentlab.errors import UsageError
from incidentlab.loaders.base import USAGE_FIELDS, Usage
from incidentlab.scope import Scope

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "usage" / "expected.json").read_text())
CODEX = "codex_cli/localpush/rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl"
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
          "reasoning_tokens")

# (fixture, system, stream, hand-computed expectation, total_tokens = the fields not inside
# another, cost: None = not in evidence)
SESSIONS = [
    ("claude_code/spotter/short.jsonl", "claude_code", "55604662-cf2a-4331-851a-ec234028f8ca",
     EXPECTED["claude_code/spotter/short.jsonl"], 3 + 13 + 11515 + 13835, None),
    (CODEX, "codex_cli", "019c8bfe-ec25-79e0-97d7-bda6a9c575ff", EXPECTED[CODEX],
     EXPECTED[CODEX]["total_tokens"], None),
    ("aider/Monochromatic/.aider.chat.history.md", "aider", "aider 2025-06-02 12:55:22",
     EXPECTED["aider/Monochromatic/.aider.chat.history.md"]["2025-06-02 12:55:22"],
     19500 + 226, 0.03),
    ("aider/Monochromatic/.aider.chat.history.md", "aider", "aider 2025-06-02 13:02:14",
     EXPECTED["aider/Monochromatic/.aider.chat.history.md"]["2025-06-02 13:02:14"],
     12700 + 916, 0.03),
    ("openhands/basic.json", "openhands", "basic", EXPECTED["openhands/basic.json"],
     8132 + 1312, None),
    ("openhands/basic_interactions.json", "openhands", "basic_interactions",
     EXPECTED["openhands/basic_interactions.json"], 2473 + 10, None),
    ("openhands/output.jsonl", "openhands", "neubig/pr-viewer#5",
     {"cost_usd": EXPECTED["openhands/output.jsonl"]["neubig/pr-viewer#5"]["cost_usd"]}, None,
     EXPECTED["openhands/output.jsonl"]["neubig/pr-viewer#5"]["cost_usd"]),
    ("swe_agent/coding_challenge_output.log", "swe_agent", "coding_challenge_output",
     EXPECTED["swe_agent/coding_challenge_output.log"], 7505 + 84, 0.08),
    ("swe_agent/pydicom__pydicom-1458.traj", "swe_agent", "pydicom__pydicom-1458",
     {"input_tokens": 122612, "output_tokens": 1369}, 122612 + 1369, 1.26719),
]


def _one(frame, **where):
    rows = [r for r in frame.to_dicts() if all(r[k] == v for k, v in where.items())]
    assert len(rows) == 1, (where, frame)
    return rows[0]


@pytest.mark.parametrize(("fixture", "system", "stream", "want", "total", "cost"), SESSIONS,
                         ids=[f"{s[1]}:{s[2]}" for s in SESSIONS])
def test_session_totals_match_the_hand_computed_ones(ingest_into, fixture, system, stream, want,
                                                     total, cost):
    result = ingest_into(FIXTURES / fixture, tz="UTC")
    row = _one(usage(result.con, by=("system", "stream")), system=system, stream=stream)
    for field in TOKENS:
        if field in want:
            assert row[field] == (None if want[field] is None else pytest.approx(want[field])), (
                field)
    assert row["total_tokens"] == (None if total is None else pytest.approx(total))
    assert row["cost_usd"] == (None if cost is None else pytest.approx(cost))
    assert row["points"] > 0
    assert len(row["files"]) == 1 and row["files"][0].endswith(fixture)


def test_fields_no_point_carries_are_not_in_evidence(ingest_into):
    result = ingest_into(FIXTURES / "claude_code/spotter/short.jsonl", tz="UTC")
    row = usage(result.con, by=("system",)).to_dicts()[0]
    # Claude Code transcripts hold no cost and no reasoning count: NULL, never 0 or a price-table
    # estimate.
    assert row["cost_usd"] is None and row["cost_points"] == 0
    assert row["reasoning_tokens"] is None
    assert row["semantics"] == "per_call"


def test_cumulative_session_cost_is_its_last_value_not_a_sum(ingest_into, tmp_path: Path):
    path = tmp_path / ".aider.chat.history.md"
    path.write_text(
        "# aider chat started at 2025-01-01 10:00:00\n\n"
        "> Tokens: 1.0k sent, 10 received. Cost: $0.01 message, $0.01 session.\n\n"
        "> Tokens: 2.0k sent, 20 received. Cost: $0.01 message, $0.03 session.\n\n"
        "> Tokens: 3.0k sent, 30 received. Cost: $0.02 message, $0.05 session.\n\n"
        "# aider chat started at 2025-01-01 11:00:00\n\n"
        "> Tokens: 4.0k sent, 40 received. Cost: $0.04 message, $0.04 session.\n")
    result = ingest_into(path, tz="UTC")
    rows = {r["stream"]: r for r in usage(result.con, by=("stream",)).to_dicts()}
    first = rows["aider 2025-01-01 10:00:00"]
    # not 0.01 + 0.03 + 0.05 (summing the running totals), not 0.04 (the rounded message costs)
    assert first["cost_usd"] == pytest.approx(0.05)
    assert first["input_tokens"] == 6000 and first["output_tokens"] == 60
    assert first["semantics"] == "cumulative,per_call"
    assert first["notes"] == ["tokens rounded by aider (k)"]
    # a new session's counter starts again: it is not a drop of the first one
    assert rows["aider 2025-01-01 11:00:00"]["cost_usd"] == pytest.approx(0.04)
    everything = usage(result.con, by=()).to_dicts()[0]
    assert everything["cost_usd"] == pytest.approx(0.09)


def test_fixture_aider_cost_is_the_session_figure(ingest_into):
    result = ingest_into(FIXTURES / "aider/Monochromatic/.aider.chat.history.md", tz="UTC")
    message_costs = result.scalar("SELECT sum(value) FROM metrics WHERE name = 'cost'")
    counted = usage(result.con, by=()).to_dicts()[0]["cost_usd"]
    assert counted == pytest.approx(0.03 + 0.03)
    assert message_costs == pytest.approx(0.01 + 0.01 + 0.0084 + 0.02)  # rounded each time


def test_codex_cumulative_totals_are_not_summed(ingest_into):
    result = ingest_into(FIXTURES / CODEX, tz="UTC")
    row = usage(result.con, by=()).to_dicts()[0]
    raw = [json.loads(line) for line in (FIXTURES / CODEX).read_text().splitlines()]
    totals = [r["payload"]["info"]["total_token_usage"] for r in raw
              if r["payload"].get("type") == "token_count" and r["payload"].get("info")]
    assert len(totals) > 1
    assert row["input_tokens"] == totals[-1]["input_tokens"]
    assert row["input_tokens"] < sum(t["input_tokens"] for t in totals)
    # cached input and reasoning are parts of input and output: not added again
    assert row["total_tokens"] == totals[-1]["total_tokens"]


def test_a_call_in_two_files_counts_once(ingest_into, tmp_path: Path):
    source = FIXTURES / "claude_code/spotter/short.jsonl"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(source, tmp_path / name / source.name)
    result = ingest_into(tmp_path / "a", tmp_path / "b", tz="UTC")
    row = usage(result.con, by=("system",)).to_dicts()[0]
    assert row["output_tokens"] == EXPECTED["claude_code/spotter/short.jsonl"]["output_tokens"]
    assert row["duplicate_points"] == row["points"] and len(row["files"]) == 1


def test_systems_scope_counts_nothing_outside_it(ingest_into):
    result = ingest_into(FIXTURES / "claude_code/spotter/short.jsonl", FIXTURES / CODEX,
                         FIXTURES / "openhands/output.jsonl", tz="UTC")
    assert set(usage(result.con, by=("system",))["system"]) == {
        "claude_code", "codex_cli", "openhands"}
    only = usage(result.con, Scope.build(systems="codex_cli"), by=("system",)).to_dicts()
    assert [r["system"] for r in only] == ["codex_cli"]
    assert only[0]["input_tokens"] == EXPECTED[CODEX]["input_tokens"]
    assert usage(result.con, systems="nothing-here").is_empty()
    # metric points carry no correlation id: a scope narrowed to one holds none of them
    assert usage(result.con, correlation_id="x").is_empty()


def test_window_counts_only_the_calls_and_growth_inside_it(ingest_into):
    result = ingest_into(FIXTURES / CODEX, FIXTURES / "swe_agent/coding_challenge_output.log",
                         FIXTURES / "openhands/output.jsonl", tz="UTC")
    start, end = datetime(2026, 2, 23, 19, 35, tzinfo=UTC), datetime(2026, 2, 23, 19, 35, 30,
                                                                      tzinfo=UTC)
    by_hand, previous = 0, None
    for line in (FIXTURES / CODEX).read_text().splitlines():
        record = json.loads(line)
        info = record["payload"].get("info") if record["payload"].get("type") == "token_count" \
            else None
        if not info or info["total_token_usage"] == previous:
            continue
        previous = info["total_token_usage"]
        when = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
        if start <= when <= end:
            by_hand += info["last_token_usage"]["input_tokens"]
    assert 0 < by_hand < EXPECTED[CODEX]["input_tokens"]
    rows = usage(result.con, start=start.isoformat(), end=end.isoformat(), by=("system",))
    assert rows.to_dicts()[0]["input_tokens"] == by_hand and rows.height == 1  # only codex
    # a running total cut by the window: only what it grew by inside (0.08 - 0.04), not 0.08
    swe = usage(result.con, start="2024-07-12T17:57:49Z", end="2024-07-12T18:00:00Z",
                by=("system",)).to_dicts()
    assert [r["system"] for r in swe] == ["swe_agent"]
    assert swe[0]["cost_usd"] == pytest.approx(0.04)
    assert (swe[0]["input_tokens"], swe[0]["output_tokens"]) == (3800, 36)
    # OpenHands resolver costs have no time: outside any window, inside an open one
    assert usage(result.con, systems="openhands").to_dicts()[0]["cost_usd"] == pytest.approx(
        EXPECTED["openhands/output.jsonl"]["neubig/pr-viewer#5"]["cost_usd"])


def test_grouping_is_checked():
    with pytest.raises(UsageError):
        usage(None, by=("system", "nonsense"))  # type: ignore[arg-type]
    assert {"system", "stream", "model"} <= set(GROUPABLE)


def test_declarations_are_well_formed_and_name_canonical_fields():
    decls = declarations()
    assert {loader for loader, _ in decls} >= {
        "claude_code.session_jsonl", "codex_cli.rollout_jsonl", "aider.chat_history_md",
        "openhands.events_json", "openhands.output_jsonl", "otel.otlp_json",
        "codingbuddy.store_sqlite", "coding_loops.coordination_db"}
    seen = set()
    for loader, u in decls:
        assert u.field in USAGE_FIELDS
        key = (loader, u.metric, u.where)
        assert key not in seen, key  # one meaning per metric (and label) of a loader
        seen.add(key)
    with pytest.raises(ValueError):
        Usage("x", "tokens")


def test_usage_command_json(ingest_into, tmp_path: Path):
    from incidentlab.cli import main

    result = ingest_into(FIXTURES / CODEX, FIXTURES / "openhands/output.jsonl", tz="UTC")
    result.close()
    out = CliRunner().invoke(main, ["usage", "--db", str(result.db), "--json", "--by",
                                    "system"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    groups = {g["system"]: g for g in data["groups"]}
    assert groups["codex_cli"]["input_tokens"] == EXPECTED[CODEX]["input_tokens"]
    assert groups["codex_cli"]["cost_usd"] is None
    assert groups["openhands"]["cost_usd"] == pytest.approx(0.070713)
    assert data["totals"]["groups_without_cost"] == 1
    assert data["by"] == ["system"] and data["scope"]["systems"] == []
    only = CliRunner().invoke(main, ["usage", "--db", str(result.db), "--json", "--system",
                                     "openhands"])
    assert [g["system"] for g in json.loads(only.output)["groups"]] == ["openhands"]
    text = CliRunner().invoke(main, ["usage", "--db", str(result.db)])
    assert text.exit_code == 0 and "groups have no" in text.output
    info = CliRunner().invoke(main, ["info", "--db", str(result.db), "--json"])
    summary = {u["system"]: u for u in json.loads(info.output)["usage"]}
    assert summary["codex_cli"]["total_tokens"] == EXPECTED[CODEX]["total_tokens"]
    assert summary["openhands"]["cost_usd"] == pytest.approx(0.070713)
    assert "Usage per system" in CliRunner().invoke(main, ["info", "--db", str(result.db)]).output
