"""Generic rules and failure modes (any system): table-driven synthetic cases and real slices.

Each generic rule fires on a minimal case and stays silent on its near miss; the real slices in
tests/fixtures (read before writing the expectations: see each test's docstring) show them firing
on real failures and silent on clean sessions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from incidentlab.analysis.classify import classify, load_catalog
from incidentlab.analysis.metrics import evaluate_rules, load_rules, max_level
from incidentlab.errors import UsageError

from analysis_helpers import at, insert, make_db

FIXTURES = Path(__file__).parent / "fixtures"
ALL_RULES = load_rules()
RULES = {r["id"]: r for r in ALL_RULES}
GENERIC = {rid for rid in RULES if rid.startswith("generic.")}
CATALOG = {m["id"]: m for m in load_catalog()}
CC = {"system": "claude_code", "stream": "s1", "project": "/repo"}


def ev(event_type: str, t: float, **kw: Any) -> dict[str, Any]:
    """One event at t minutes after T0 (a Claude Code session unless said otherwise)."""
    return {"event_type": event_type, "ts": at(minutes=t), **{**CC, **kw}}


def burst(n: int, event_type: str, *, every: float = 0.1, start: float = 0, **kw: Any) -> list:
    return [ev(event_type, start + i * every, **kw) for i in range(n)]


def calls(results: list[tuple[float, str, str | None]], *, tool: str = "Bash",
          duration: float | None = None) -> list:
    """tool.call + tool.result pairs: (minute, arguments, outcome of the result)."""
    rows = []
    for i, (t, args, outcome) in enumerate(results):
        rows.append(ev("tool.call", t, name=tool, correlation_id=f"c{i}", message=args))
        rows.append(ev("tool.result", t + 0.05, name=tool, correlation_id=f"c{i}",
                       outcome=outcome, duration_ms=duration,
                       severity="info" if outcome == "ok" else "warning"))
    return rows


def results(ok: int, failed: int, **kw: Any) -> list:
    rows = burst(ok, "tool.result", outcome="ok", **kw)
    return rows + burst(failed, "tool.result", start=ok * 0.1, outcome="error", **kw)


def durations(ms: list[float]) -> list:
    return [ev("tool.result", i * 0.5, name="Bash", outcome="ok", duration_ms=d)
            for i, d in enumerate(ms)]


def compaction(fail_after: float | None, *, other_stream: bool = False) -> list:
    rows = [ev("tool.result", 0, outcome="ok"), ev("context.compacted", 1)]
    if fail_after is not None:
        rows.append(ev("tool.result", 1 + fail_after, outcome="error",
                       stream="s2" if other_stream else "s1"))
    return rows


def loop_tests(starts: dict[str, float | None], until: float = 40) -> list:
    """test.start at 0 per actor; a pass at the given minute (None: never)."""
    rows = []
    for actor, passed in starts.items():
        rows.append(ev("test.start", 0, system="generic", actor=actor, name="T-1"))
        if passed is not None:
            rows.append(ev("test.pass", passed, system="generic", actor=actor, name="T-1"))
    return [*rows, ev("log", until, system="generic")]


PYTEST = '{"command": "pytest tests/test_x.py"}'
AUTH = "litellm.AuthenticationError: Incorrect API key provided"
SSHD = "Received disconnect from 10.0.0.1: 14: No more user authentication methods available."
MAX_ITER = ("RuntimeError: Agent reached maximum iteration in headless mode. "
            "Current iteration: 50, max iteration: 50")  # OpenHands' wording

CASES: list[tuple[str, str, list, str | None]] = [
    # rule, case, rows, expected highest level
    ("generic.llm_rate_limited", "3 in a minute", burst(3, "llm.rate_limited"), "warn"),
    ("generic.llm_rate_limited", "5 page", burst(5, "llm.rate_limited"), "page"),
    ("generic.llm_rate_limited", "429 in an llm.error",
     burst(3, "llm.error", outcome="error", message="HTTP 429 Too Many Requests"), "warn"),
    ("generic.llm_rate_limited", "boundary 2", burst(2, "llm.rate_limited"), None),
    ("generic.llm_rate_limited", "spread 3 min apart", burst(3, "llm.rate_limited", every=3), None),
    ("generic.llm_rate_limited", "429 output tokens are no rate limit",
     burst(3, "llm.usage", message="input_tokens=1904, output_tokens=429"), None),
    ("generic.llm_rate_limited", "deferred to the CodingBuddy rule",
     burst(3, "llm.rate_limited", system="codingbuddy"), None),
    ("generic.llm_errors", "3 server errors",
     burst(3, "llm.error", outcome="error", message="503 Service Unavailable"), "warn"),
    ("generic.llm_errors", "10 page",
     burst(10, "llm.error", outcome="error", message="overloaded_error"), "page"),
    ("generic.llm_errors", "rate limits are the other rule's",
     burst(3, "llm.error", outcome="error", message="rate limit exceeded"), None),
    ("generic.llm_errors", "boundary 2", burst(2, "llm.error", outcome="error"), None),
    ("generic.provider_misconfiguration", "2 auth errors",
     burst(2, "llm.error", outcome="error", error_code="AuthenticationError", message=AUTH),
     "warn"),
    ("generic.provider_misconfiguration", "3 page",
     burst(3, "llm.error", outcome="error", message="model 'gpt-9' not found", every=3), "page"),
    ("generic.provider_misconfiguration", "an error event with the key missing",
     burst(2, "error", outcome="error", severity="error",
           message="OPENAI_API_KEY is required for remote_llm"), "warn"),
    ("generic.provider_misconfiguration", "boundary one error",
     burst(1, "llm.error", outcome="error", message=AUTH), None),
    ("generic.provider_misconfiguration", "2 errors 11 minutes apart",
     burst(2, "llm.error", outcome="error", message=AUTH, every=11), None),
    ("generic.provider_misconfiguration", "an sshd log line is no provider",
     burst(3, "error", system="generic", severity="error", message=SSHD), None),
    ("generic.provider_misconfiguration", "a finished run mentioning an API key",
     burst(3, "run.end", outcome="ok", message="rotated the api key as asked"), None),
    ("generic.tool_failure_ratio", "3 of 10 fail", results(7, 3), "warn"),
    ("generic.tool_failure_ratio", "6 of 10 fail", results(4, 6), "page"),
    ("generic.tool_failure_ratio", "boundary 5 of 20 = 25%", results(15, 5), None),
    ("generic.tool_failure_ratio", "too few results", results(4, 5), None),
    ("generic.tool_failure_ratio", "deferred to the Jido rule",
     results(4, 6, system="jido"), None),
    ("generic.doom_loop", "the same failing call 3 times",
     calls([(0, "ls /x", "error"), (1, "ls /x", "error"), (2, "ls /x", "error")]), "warn"),
    ("generic.doom_loop", "white space does not make calls differ",
     calls([(0, "ls  /x", "error"), (1, "ls /x ", "error"), (2, "ls\n/x", "error")]), "warn"),
    ("generic.doom_loop", "boundary one of three succeeded",
     calls([(0, "ls /x", "error"), (1, "ls /x", "ok"), (2, "ls /x", "error")]), None),
    ("generic.doom_loop", "polling that succeeds",
     calls([(i * 0.1, '{"session_id": 7, "chars": ""}', "ok") for i in range(6)]), None),
    ("generic.doom_loop", "different arguments",
     calls([(0, "ls /a", "error"), (1, "ls /b", "error"), (2, "ls /c", "error")]), None),
    ("generic.doom_loop", "spread over 12 minutes",
     calls([(0, "ls /x", "error"), (6, "ls /x", "error"), (12, "ls /x", "error")]), None),
    ("generic.tool_hang", "2 min against 1 s", durations([1000] * 5 + [120000]), "warn"),
    ("generic.tool_hang", "17 minutes pages without a norm", durations([1020000]), "page"),
    ("generic.tool_hang", "boundary 50 s is under a minute", durations([1000] * 5 + [50000]), None),
    ("generic.tool_hang", "no norm from 4 durations", durations([1000] * 3 + [120000]), None),
    ("generic.tool_hang", "slow session, nothing far above it",
     durations([100000] * 5 + [300000]), None),
    ("generic.denials", "3 denied calls", burst(3, "tool.result", outcome="denied"), "warn"),
    ("generic.denials", "3 policy denials", burst(3, "policy.denied"), "warn"),
    ("generic.denials", "boundary 2", burst(2, "tool.result", outcome="denied"), None),
    ("generic.denials", "3 in 22 minutes",
     burst(3, "tool.result", outcome="denied", every=11), None),
    ("generic.denials", "deferred to the Jido rules", burst(3, "policy.denied", system="jido"),
     None),
    ("generic.sandbox_violation", "security event", burst(1, "security.sandbox_violation"),
     "page"),
    ("generic.sandbox_violation", "outside-root code",
     burst(1, "tool.result", outcome="denied", error_code="outside_root"), "page"),
    ("generic.sandbox_violation", "a sandbox that denied is no violation",
     burst(1, "tool.result", outcome="denied", error_code="sandbox_denied",
           error_category="policy"), None),
    ("generic.limits_reached", "limit event", burst(1, "limit.turns_exceeded"), "warn"),
    ("generic.limits_reached", "OpenHands max iterations",
     burst(1, "error", outcome="error", severity="error", message=MAX_ITER), "warn"),
    ("generic.limits_reached", "SWE-agent exit_cost",
     burst(1, "run.end", outcome="error", name="exit_cost", message="exit_status=exit_cost"),
     "warn"),
    ("generic.limits_reached", "a finished run that mentions steps",
     burst(1, "run.end", outcome="ok", message="done: max steps was never reached"), None),
    ("generic.limits_reached", "a tool call's max_steps argument",
     burst(1, "tool.call", message='{"max_steps": 5}'), None),
    ("generic.compaction_then_failure", "failure 10 min after", compaction(10), "warn"),
    ("generic.compaction_then_failure", "boundary 31 min after", compaction(31), None),
    ("generic.compaction_then_failure", "failure in another session",
     compaction(10, other_stream=True), None),
    ("generic.compaction_then_failure", "no failure", compaction(None), None),
    ("generic.stuck_test", "one stuck", loop_tests({"loop-a": None}), "warn"),
    ("generic.stuck_test", "two stuck", loop_tests({"loop-a": None, "loop-b": None}), "critical"),
    ("generic.stuck_test", "boundary passed at 29 min", loop_tests({"loop-a": 29}), None),
    ("generic.test_command_failing", "failing for 31 minutes",
     calls([(t, PYTEST, "error") for t in (0, 10, 20, 31)]), "warn"),
    ("generic.test_command_failing", "a pass in between resets it",
     calls([(0, PYTEST, "error"), (10, PYTEST, "error"), (20, PYTEST, "ok"),
            (31, PYTEST, "error")]), None),
    ("generic.test_command_failing", "boundary 30 minutes",
     calls([(0, PYTEST, "error"), (30, PYTEST, "error")]), None),
    ("generic.test_command_failing", "not a test command",
     calls([(t, '{"command": "make build"}', "error") for t in (0, 20, 40)]), None),
]


@pytest.mark.parametrize(("rule_id", "case", "rows", "expected"), CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_generic_rule(tmp_path, rule_id, case, rows, expected):
    con = make_db(tmp_path)
    inserted = {r["event_id"]: r for r in insert(con, rows)}
    alerts = evaluate_rules(con, rules=[RULES[rule_id]])
    assert max_level(alerts) == expected, alerts
    for row in alerts.iter_rows(named=True):
        assert row["event_ids"] and set(row["event_ids"]) <= set(inserted)
        first = row["event_ids"][0]
        assert row["evidence"].startswith(f"{first} @ {inserted[first]['ts'].isoformat()}")
        assert row["system"] == inserted[first]["system"]
        assert row["runbook"].startswith(RULES[rule_id]["runbook"])


def test_every_generic_rule_has_a_firing_and_a_quiet_case():
    assert {r for r in RULES if not RULES[r].get("system")} == GENERIC
    assert {c[0] for c in CASES if c[3]} >= GENERIC
    assert {c[0] for c in CASES if c[3] is None} >= GENERIC


def test_a_clean_session_fires_no_generic_rule(tmp_path):
    """Calls that succeed, a retried read, model usage, one user turn: nothing to alert."""
    con = make_db(tmp_path)
    insert(con, [ev("chat.turn", 0, actor="user"), ev("llm.usage", 0.1),
                 *calls([(1, "ls", "ok"), (2, "cat a.py", "ok"), (3, "cat a.py", "ok"),
                         (4, PYTEST, "ok")], duration=800),
                 ev("context.compacted", 5), ev("tool.result", 6, outcome="ok"),
                 ev("session.end", 7, outcome="ok")])
    assert evaluate_rules(con, rules=[RULES[r] for r in sorted(GENERIC)]).height == 0
    assert classify(con).modes.height == 0


def test_generic_rules_defer_to_the_runbook_rules_of_their_systems(tmp_path):
    defer = {r["id"]: r["_defer_systems"] for r in ALL_RULES if r["id"] in GENERIC}
    assert defer["generic.llm_rate_limited"] == ["codingbuddy"]
    assert defer["generic.tool_failure_ratio"] == ["codingbuddy", "jido"]
    assert defer["generic.provider_misconfiguration"] == []
    # Without the per-system rule loaded nothing is deferred: the generic rule covers the system.
    con = make_db(tmp_path)
    insert(con, burst(3, "llm.rate_limited", system="codingbuddy"))
    fired = evaluate_rules(con, rules=[{**RULES["generic.llm_rate_limited"],
                                        "_defer_systems": []}])
    assert fired["rule"].to_list() == ["generic.llm_rate_limited"]
    assert evaluate_rules(con, rules=[RULES["generic.llm_rate_limited"]]).height == 0


def test_rules_file_include_and_its_cycle(tmp_path):
    (tmp_path / "a.toml").write_text('include = ["b.toml"]\n[[rule]]\nid = "a"\nkind = "count"\n'
                                     'levels = [{level = "warn", at_least = 1}]\n')
    (tmp_path / "b.toml").write_text('[[rule]]\nid = "b"\nkind = "count"\n'
                                     'defer_to = ["a", "missing"]\n'
                                     'levels = [{level = "warn", at_least = 1}]\n')
    rules = load_rules(tmp_path / "a.toml")
    assert [r["id"] for r in rules] == ["a", "b"] and rules[1]["_defer_systems"] == []
    (tmp_path / "b.toml").write_text('include = ["a.toml"]\n')
    with pytest.raises(UsageError, match="includes itself"):
        load_rules(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('[[rule]]\nid = "c"\nkind = "sequence"\n'
                                     'levels = [{level = "warn", at_least = 1}]\n')
    with pytest.raises(UsageError, match="needs `anchor`"):
        load_rules(tmp_path / "c.toml")


# ---------------------------------------------------------------- failure modes

MODE_CASES: list[tuple[str, list, str, str | None]] = [
    # case, rows, mode, expected severity (None: the mode does not match)
    ("one rate limit", burst(1, "llm.rate_limited"), "generic.llm_rate_limit", "SEV2"),
    ("429 in token counts", burst(1, "llm.usage", message="output_tokens=429"),
     "generic.llm_rate_limit", None),
    ("server error", burst(1, "llm.error", outcome="error", message="502 Bad Gateway"),
     "generic.llm_outage", "SEV2"),
    ("auth error", burst(1, "llm.error", outcome="error", message=AUTH),
     "generic.provider_misconfiguration", "SEV2"),
    ("auth errors in 3 projects",
     [ev("llm.error", i, outcome="error", message=AUTH, project=f"p{i}") for i in range(3)],
     "generic.provider_misconfiguration", "SEV1"),
    ("an info line about keys", burst(1, "error", message="api key rotated"),
     "generic.provider_misconfiguration", None),
    ("an sshd authentication line", burst(1, "error", severity="error", message=SSHD),
     "generic.provider_misconfiguration", None),
    ("denied call", burst(1, "tool.result", outcome="denied"), "generic.tool_denied", "SEV3"),
    ("a review gate asking for changes denies no tool",
     burst(1, "decision.resolved", outcome="denied"), "generic.tool_denied", None),
    ("nor does a code review asking for them",
     burst(1, "review.end", outcome="denied"), "generic.tool_denied", None),
    ("CodingBuddy denial is its runbook's",
     burst(1, "policy.denied", system="codingbuddy"), "generic.tool_denied", None),
    ("sandbox violation", burst(1, "security.sandbox_violation"), "generic.sandbox_violation",
     "SEV1"),
    ("sandbox denied", burst(1, "tool.result", outcome="denied", error_code="sandbox_denied"),
     "generic.sandbox_violation", None),
    ("max iterations", burst(1, "error", outcome="error", severity="error", message=MAX_ITER),
     "generic.limits_reached", "SEV2"),
    ("one failed run", burst(1, "run.end", outcome="error"), "generic.session_failures", "SEV2"),
    ("failed runs in 3 sessions",
     [ev("run.end", i, outcome="error", stream=f"s{i}") for i in range(3)],
     "generic.session_failures", "SEV1"),
    ("a turn the user interrupted",
     burst(1, "run.end", outcome="error", error_code="interrupted"),
     "generic.session_failures", None),
    ("timed out call", burst(1, "tool.result", outcome="timeout"), "generic.tool_timeouts", "SEV3"),
    ("edit did not apply",
     burst(1, "patch.applied", outcome="error", error_code="patch_conflict"),
     "generic.patch_failed", "SEV3"),
    ("doom loop", calls([(0, "ls /x", "error"), (1, "ls /x", "error"), (2, "ls /x", "error")]),
     "generic.doom_loop", "SEV2"),
    ("two failing calls are no loop", calls([(0, "ls /x", "error"), (1, "ls /x", "error")]),
     "generic.doom_loop", None),
    ("failure ratio", results(4, 6), "generic.tool_failures", "SEV3"),
    ("a few failures", results(9, 1), "generic.tool_failures", None),
    ("hang", durations([1000] * 5 + [120000]), "generic.tool_hang", "SEV2"),
    ("compaction then failure", compaction(10), "generic.compaction_failure", "SEV2"),
    ("compaction, failure much later", compaction(45), "generic.compaction_failure", None),
    ("stuck test", calls([(t, PYTEST, "error") for t in (0, 10, 20, 31)]), "generic.stuck_test",
     "SEV2"),
]


@pytest.mark.parametrize(("case", "rows", "mode", "severity"), MODE_CASES,
                         ids=[f"{c[2]}:{c[0]}" for c in MODE_CASES])
def test_generic_mode(tmp_path, case, rows, mode, severity):
    con = make_db(tmp_path)
    inserted = {r["event_id"]: r for r in insert(con, rows)}
    found = {r["mode"]: r for r in classify(con).modes.iter_rows(named=True)}
    if severity is None:
        assert mode not in found, found.get(mode)
        return
    row = found[mode]
    assert row["severity"] == severity
    assert row["recovery_steps"] and row["runbook_section"].startswith(CATALOG[mode]["runbook"])
    assert set(row["evidence_event_ids"]) <= set(inserted)
    first = row["evidence_event_ids"][0]
    assert row["evidence"].startswith(f"{first} @ {inserted[first]['ts'].isoformat()}")
    assert row["system"] == "claude_code" and row["first_seen"] == inserted[first]["ts"]


def test_every_generic_mode_has_a_match_and_cites_a_runbook():
    generic = {m for m in CATALOG if m.startswith("generic.")}
    assert generic <= {c[2] for c in MODE_CASES if c[3]}
    for mode in generic:
        assert CATALOG[mode]["recovery"] and CATALOG[mode].get("runbook"), mode


def test_severity_reason_cites_the_first_event_and_its_time(tmp_path):
    con = make_db(tmp_path)
    rows = insert(con, burst(1, "security.sandbox_violation", start=2))
    result = classify(con)
    assert result.severity == "SEV1"
    assert f"first {rows[0]['event_id']} @ {at(minutes=2).isoformat()}" in result.severity_reason


# ---------------------------------------------------------------- real slices


def _alerts(result) -> dict[tuple[str, str], dict]:
    fired = evaluate_rules(result.con, rules=[RULES[r] for r in sorted(GENERIC)])
    return {(r["rule"], r["level"]): r for r in fired.iter_rows(named=True)}


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_aider_misconfigured_provider_and_rate_limits(ingest_into):
    """tests/fixtures/aider/Monochromatic (lines 1-459), read first: sessions 11:49:34 "LLM
    Provider NOT provided", 12:02:21 "not a valid model ID", 12:27:34 two "default credentials
    were not found" (retried), 12:33:18 a 404 "Publisher Model ... not found"; then 3 Vertex 429
    quota errors in the 12:40:59 session and 3 in the 12:45:49 one. aider writes no time per
    line: every event carries its session header's time (ts_quality derived)."""
    result = ingest_into(FIXTURES / "aider" / "Monochromatic", tz="UTC")
    alerts = _alerts(result)
    assert {k for k in alerts} == {
        ("generic.provider_misconfiguration", "warn"), ("generic.provider_misconfiguration", "page"),
        ("generic.llm_rate_limited", "warn"), ("generic.llm_rate_limited", "page")}
    assert alerts[("generic.provider_misconfiguration", "warn")]["first_fired"] == _utc(
        2025, 6, 2, 12, 27, 34)
    assert alerts[("generic.provider_misconfiguration", "page")]["first_fired"] == _utc(
        2025, 6, 2, 12, 33, 18)
    assert alerts[("generic.llm_rate_limited", "warn")]["first_fired"] == _utc(
        2025, 6, 2, 12, 40, 59)
    page = alerts[("generic.llm_rate_limited", "page")]
    assert page["first_fired"] == _utc(2025, 6, 2, 12, 45, 49) and page["peak"] == 6
    assert len(page["event_ids"]) == 6
    assert page["evidence"].split("; ")[0].endswith(" @ 2025-06-02T12:40:59+00:00 (derived time)")
    modes = {r["mode"]: r for r in classify(result.con).modes.iter_rows(named=True)}
    assert set(modes) == {"generic.provider_misconfiguration", "generic.llm_rate_limit"}
    assert modes["generic.provider_misconfiguration"]["n_events"] == 5
    assert modes["generic.provider_misconfiguration"]["first_seen"] == _utc(2025, 6, 2, 11, 49, 34)
    assert modes["generic.llm_rate_limit"]["n_events"] == 6
    assert classify(result.con).severity == "SEV2"


def test_aider_one_auth_error_fixed_at_once(ingest_into):
    """generic_rules/aider/mozgoslav (lines 1-79): one AuthenticationError ("fake-api-key") at
    22:40:12, the next session (22:40:47) answered. Not repeated: no alert; the mode says what
    happened."""
    result = ingest_into(FIXTURES / "generic_rules" / "aider" / "mozgoslav", tz="UTC")
    assert _alerts(result) == {}
    modes = classify(result.con).modes
    assert modes["mode"].to_list() == ["generic.provider_misconfiguration"]
    assert modes["first_seen"][0] == _utc(2026, 4, 22, 22, 40, 12)


def test_claude_code_doom_loop_and_failure_after_compaction(ingest_into):
    """generic_rules/claude_code: three identical `mix test ... project_review_live_test.exs`
    calls (timeout 30000) failed at 21:06:43.351 (exit 1), 21:07:52.357 and 21:08:52.556 (exit
    2); a run with another description passed at 21:11:37.519; the context was compacted at
    21:18:41.543; a Read of a background task's output file (from before the compaction) failed
    "File does not exist" at 21:36:46.138."""
    result = ingest_into(FIXTURES / "generic_rules" / "claude_code", tz="UTC")
    alerts = _alerts(result)
    assert set(alerts) == {("generic.doom_loop", "warn"),
                           ("generic.compaction_then_failure", "warn")}
    loop = alerts[("generic.doom_loop", "warn")]
    assert loop["first_fired"] == _utc(2026, 2, 11, 21, 8, 52, 556000)
    times = [t for (t,) in result.con.execute(
        "SELECT ts FROM events WHERE event_id IN (SELECT unnest(?)) ORDER BY ts",
        [loop["event_ids"]]).fetchall()]
    assert times == [_utc(2026, 2, 11, 21, 6, 43, 351000), _utc(2026, 2, 11, 21, 7, 52, 357000),
                     _utc(2026, 2, 11, 21, 8, 52, 556000)]
    after = alerts[("generic.compaction_then_failure", "warn")]
    assert after["first_fired"] == _utc(2026, 2, 11, 21, 36, 46, 138000)
    assert after["evidence"].split("; ")[0].endswith("2026-02-11T21:18:41.543000+00:00")
    modes = classify(result.con)
    assert set(modes.modes["mode"].to_list()) == {"generic.doom_loop",
                                                  "generic.compaction_failure"}
    assert modes.severity == "SEV2"


def test_openhands_run_that_hit_max_iterations(ingest_into):
    """openhands/evaluation (the loader's slice): the run ended with "Agent reached maximum
    iteration in headless mode. Current iteration: 50, max iteration: 50"; its last history item
    is at 18:04:10.527941; 4 of its last 5 commands failed (too few results for a ratio)."""
    result = ingest_into(FIXTURES / "openhands" / "evaluation", tz="UTC")
    alerts = _alerts(result)
    assert set(alerts) == {("generic.limits_reached", "warn")}
    assert alerts[("generic.limits_reached", "warn")]["first_fired"] == _utc(
        2025, 4, 30, 18, 4, 10, 527941)
    verdict = classify(result.con)
    assert set(verdict.modes["mode"].to_list()) == {"generic.limits_reached",
                                                    "generic.session_failures"}
    assert verdict.severity == "SEV2" and "generic.limits_reached" in verdict.severity_reason


@pytest.mark.parametrize("path", [
    "openhands/basic.json", "codex_cli/localpush", "claude_code/spotter-hooks",
    "generic_rules/codex_cli"])
def test_clean_sessions_are_silent(ingest_into, path):
    """Sessions that did their task without a failing call; generic_rules/codex_cli polls a
    running `npm run build` six times with identical write_stdin calls until it exits 0."""
    result = ingest_into(FIXTURES / path, tz="UTC")
    assert _alerts(result) == {}
    verdict = classify(result.con)
    assert verdict.modes.height == 0 and verdict.severity is None


REALDATA = Path("/work/shared/realdata")


@pytest.mark.skipif(not REALDATA.exists(), reason="../shared/realdata not available")
def test_realdata_agents_in_one_database(ingest_into):
    """aider, Claude Code, Codex and OpenHands folders together (read first): aider has 5
    provider errors in Monochromatic and 1 in mozgoslav, 6 Vertex 429s and 7 "did not conform to
    the edit format" (Monochromatic); Claude Code has the failing `mix test` loop and the failure
    after compaction of session 258c7280 and 4 tool calls the user rejected (3 sessions); the
    Codex rollouts and OpenHands trajectories have no burst, loop or failed run (one OpenHands
    command timed out: a foreground `http.server`)."""
    result = ingest_into(*(REALDATA / a for a in ("aider", "claude-code", "codex-cli",
                                                  "openhands")), tz="UTC")
    fired = evaluate_rules(result.con)
    assert sorted(set(zip(fired["rule"], fired["group"], strict=True))) == [
        ("generic.compaction_then_failure", "claude_code/258c7280-ae70-4798-800f-63464d01a85d"),
        ("generic.doom_loop", "claude_code/258c7280-ae70-4798-800f-63464d01a85d"),
        ("generic.llm_rate_limited", f"aider/{REALDATA}/aider/Monochromatic"),
        ("generic.provider_misconfiguration", f"aider/{REALDATA}/aider/Monochromatic"),
    ]
    verdict = classify(result.con)
    modes = dict(zip(verdict.modes["mode"], verdict.modes["n_events"], strict=True))
    assert modes == {"generic.provider_misconfiguration": 6, "generic.llm_rate_limit": 6,
                     "generic.patch_failed": 7, "generic.tool_denied": 4,
                     "generic.doom_loop": 3, "generic.compaction_failure": 2,
                     "generic.tool_timeouts": 1}
    assert verdict.severity == "SEV2"


def test_firings_given_by_the_caller_classify_the_same(ingest_into):
    """The report passes the firings it already has: modes built on rules match the same."""
    result = ingest_into(FIXTURES / "generic_rules" / "claude_code", tz="UTC")
    own = classify(result.con)
    given = classify(result.con, alerts=evaluate_rules(result.con))
    assert "generic.doom_loop" in own.modes["mode"].to_list()
    assert own.modes.equals(given.modes)
    assert (own.severity, own.severity_reason) == (given.severity, given.severity_reason)
