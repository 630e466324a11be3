"""Every default alert rule: a case that fires, one that does not, and the boundary (table-driven)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from incidentlab.analysis.metrics import evaluate_rules, load_rules, max_level, trend
from incidentlab.errors import UsageError

from analysis_helpers import at, insert, insert_metrics, make_db

RULES = {r["id"]: r for r in load_rules()}
SEEDS = Path("/work/shared/seeds")
MB = 1024 * 1024


def ev(event_type: str, t: float, **kw: Any) -> dict[str, Any]:
    """One event at t minutes after T0."""
    return {"event_type": event_type, "ts": at(minutes=t), **kw}


def burst(n: int, event_type: str, *, every: float = 0.1, start: float = 0, **kw: Any) -> list:
    return [ev(event_type, start + i * every, **kw) for i in range(n)]


J = {"system": "jido", "project": "p1", "stream": "c1"}
CL = {"system": "coding_loops", "project": "loops"}
CB = {"system": "codingbuddy", "stream": "sess-1"}
TA = {"system": "tapps", "stream": "wf-1"}


def results(ok: int, failed: int) -> list:
    rows = burst(ok, "tool.result", outcome="ok", **J)
    rows += burst(failed, "tool.result", start=ok * 0.1, outcome="error", severity="error", **J)
    return rows


def denials(per_bucket: list[int]) -> list:
    rows = []
    for bucket, n in enumerate(per_bucket):
        rows += burst(n, "policy.denied", start=bucket * 5 + 0.5, every=0.01, **J)
    return [*rows, ev("log", len(per_bucket) * 5, **J)]


def passes(times: list[float], until: float) -> list:
    rows = [ev("log", 0, **CL)] + [ev("test.pass", t, name=f"T-{i}", **CL)
                                    for i, t in enumerate(times)]
    return [*rows, ev("log", until, **CL)]


def stuck(loops: int, pass_after: float | None, until: float = 40) -> list:
    rows = []
    for i in range(loops):
        rows.append(ev("test.start", 0, actor=f"loop-{i}", name="CP-1", **CL))
        if pass_after is not None:
            rows.append(ev("test.pass", pass_after, actor=f"loop-{i}", name="CP-1", **CL))
    return [*rows, ev("log", until, **CL)]


def decisions(pending: int, resolved: int = 0, until: float = 5) -> list:
    rows = [ev("decision.request", i * 0.1, correlation_id=f"DEC-{i}", **CL)
            for i in range(pending)]
    for i in range(resolved):  # answered one at a time: never more than one open
        rows.append(ev("decision.request", 2 + i, correlation_id=f"R-{i}", **CL))
        rows.append(ev("decision.resolved", 2.5 + i, correlation_id=f"R-{i}", **CL))
    return [*rows, ev("log", until, **CL)]


def heartbeats(times: list[float], until: float) -> list:
    return [ev("heartbeat", t, actor="monitor", **CL) for t in times] + [
        ev("log", until, actor="pm", **CL)]


def proposals(args: list[str]) -> list:
    return [ev("tool.proposed", i * 0.1, name="bash.run", correlation_id=f"inv-{i}",
               attrs={"kind": {"payload": {"proposal": {"call": {"args": {"cmd": a}}}}}}, **CB)
            for i, a in enumerate(args)]


def tool_outcomes(outcomes: list[str]) -> list:
    rows = []
    for i, outcome in enumerate(outcomes):
        rows.append(ev("tool.proposed", i, name="fs.edit", correlation_id=f"inv-{i}", **CB))
        rows.append(ev("tool.result", i + 0.5, outcome=outcome, correlation_id=f"inv-{i}", **CB))
    return rows


def step_fail(**metadata: Any) -> list:
    return [ev("step.start", 0, name="impl", **TA),
            ev("step.fail", 1, name="impl", attrs={"metadata": metadata}, **TA)]


def step_run(finish_after: float | None, until: float = 20) -> list:
    rows = [ev("workflow.start", 0, **TA), ev("step.start", 0.1, name="impl", **TA)]
    if finish_after is not None:
        rows.append(ev("step.finish", finish_after, name="impl", **TA))
    return [*rows, ev("log", until, system="tapps", stream="other")]


def step_rows(steps: list[tuple[str, float, str | None]], until: float = 20) -> list:
    """A workflow's step events (type, minute, step name or None) and later evidence."""
    rows = [ev("workflow.start", 0, **TA)]
    rows += [ev(t, at_min, **({"name": name} if name else {}), **TA) for t, at_min, name in steps]
    return [*rows, ev("log", until, system="tapps", stream="other")]


def workflow(gap: float, ended: bool) -> list:
    rows = [ev("workflow.start", 0, **TA), ev("step.start", 1, name="a", **TA)]
    if ended:
        rows.append(ev("workflow.end", 2, **TA))
    return [*rows, ev("workflow.start", 2 + gap, system="tapps", stream="wf-2")]


CASES: list[tuple[str, str, Any, str | None]] = [
    # rule, case, rows (or metrics with "metrics:"), expected highest level
    ("jido.tool_failure_ratio", "fires 2/20", results(18, 2), "page"),
    ("jido.tool_failure_ratio", "boundary 1/20 = 5%", results(19, 1), None),
    ("jido.tool_failure_ratio", "guard 1/2", results(1, 1), None),
    ("jido.tool_timeouts", "fires 11", burst(11, "tool.timeout", **J), "page"),
    ("jido.tool_timeouts", "boundary 10", burst(10, "tool.timeout", **J), None),
    ("jido.tool_timeouts", "spread out", burst(11, "tool.timeout", every=3, **J), None),
    ("jido.repeated_timeout_failures", "fires first",
     burst(1, "security.repeated_timeout_failures", **J), "page"),
    ("jido.repeated_timeout_failures", "quiet", burst(3, "tool.timeout", **J), None),
    ("jido.repeated_timeout_failures_multi_project", "two projects",
     [ev("security.repeated_timeout_failures", 0, system="jido", project="p1"),
      ev("security.repeated_timeout_failures", 9, system="jido", project="p2")], "critical"),
    ("jido.repeated_timeout_failures_multi_project", "boundary one project twice",
     burst(2, "security.repeated_timeout_failures", **J), None),
    ("jido.policy_denied_spike", "fires 5x", denials([1, 1, 1, 1, 1, 1, 5]), "warn"),
    ("jido.policy_denied_spike", "boundary 3x", denials([2, 2, 2, 2, 2, 2, 6]), None),
    ("jido.policy_denied_spike", "no history", denials([9]), None),
    ("jido.policy_denied_spike", "below min count", denials([0, 0, 0, 0, 4]), None),
    ("jido.sandbox_violation", "fires", burst(1, "security.sandbox_violation", **J), "page"),
    ("jido.sandbox_violation", "quiet", burst(1, "policy.denied", **J), None),
    ("jido.sandbox_exception_used", "first warns",
     burst(1, "security.sandbox_exception_used", **J), "warn"),
    ("jido.sandbox_exception_used", "3 in 10 min page",
     burst(3, "security.sandbox_exception_used", every=4, **J), "page"),
    ("jido.sandbox_exception_used", "boundary 3 over 30 min",
     burst(3, "security.sandbox_exception_used", every=11, **J), "warn"),
    ("jido.sensitive_path_denied", "fires",
     burst(1, "security.sensitive_path_denied", **J), "page"),
    ("jido.sensitive_path_denied", "quiet", burst(2, "policy.allowed", **J), None),
    ("jido.sensitive_artifact_detected", "first warns",
     burst(1, "security.sensitive_artifact_detected", **J), "warn"),
    ("jido.sensitive_artifact_detected", "frequent",
     burst(3, "security.sensitive_artifact_detected", **J), "page"),
    ("jido.sensitive_artifact_detected", "boundary 2", burst(
        2, "security.sensitive_artifact_detected", **J), "warn"),
    ("jido.network_denied", "first warns", burst(1, "security.network_denied", **J), "warn"),
    ("jido.network_denied", "repeated", burst(3, "security.network_denied", **J), "page"),
    ("jido.network_denied", "quiet", burst(3, "policy.allowed", **J), None),
    ("jido.watcher_reload_failed", "first warns",
     burst(1, "watcher.reload", outcome="error", **J), "warn"),
    ("jido.watcher_reload_failed", "3 in 10 min",
     burst(3, "telemetry", event_type_raw="project.watcher_reload_failed", outcome="error",
           every=4.5, **J), "page"),
    ("jido.watcher_reload_failed", "boundary 3 in 11 min",
     burst(3, "watcher.reload", outcome="error", every=5.5, **J), "warn"),
    ("jido.watcher_reload_failed", "completed reloads",
     burst(3, "watcher.reload", outcome="ok", **J), None),
    ("jido.assets_reload_errors", "3 successive",
     burst(3, "assets.reloaded", severity="warning", **J), "page"),
    ("jido.assets_reload_errors", "via error_count",
     burst(3, "assets.reloaded", attrs={"payload": {"error_count": 2}}, **J), "page"),
    ("jido.assets_reload_errors", "boundary interrupted",
     burst(2, "assets.reloaded", severity="warning", **J)
     + burst(1, "assets.reloaded", start=1, **J)
     + burst(1, "assets.reloaded", start=2, severity="warning", **J), None),
    ("coding_loops.tests_passed_per_hour", "steady", passes([20, 50, 80, 110], 130), None),
    ("coding_loops.tests_passed_per_hour", "warn 90 min", passes([10], 100), "warn"),
    ("coding_loops.tests_passed_per_hour", "none for 2.5 h", passes([], 150), "critical"),
    ("coding_loops.tests_passed_per_hour", "boundary exactly 60", passes([60, 120], 180), None),
    ("coding_loops.conflicts_per_hour", "warn 6", burst(6, "conflict", every=5, **CL), "warn"),
    ("coding_loops.conflicts_per_hour", "boundary 5", burst(5, "conflict", every=5, **CL), None),
    ("coding_loops.conflicts_per_hour", "critical 11",
     burst(11, "telemetry", event_type_raw="file_conflict", every=5, **CL), "critical"),
    ("coding_loops.stuck_loop", "one loop", stuck(1, None), "warn"),
    ("coding_loops.stuck_loop", "two loops", stuck(2, None), "critical"),
    ("coding_loops.stuck_loop", "boundary passed at 29 min", stuck(2, 29), None),
    ("coding_loops.stuck_loop", "evidence ends before 30 min", stuck(1, None, until=25), None),
    ("coding_loops.stuck_detected", "fires",
     burst(1, "alert", event_type_raw="stuck_detected", actor="monitor", **CL), "warn"),
    ("coding_loops.stuck_detected", "quiet", burst(1, "alert", **CL), None),
    ("coding_loops.decisions_pending", "warn 4", decisions(4), "warn"),
    ("coding_loops.decisions_pending", "boundary 3", decisions(3), None),
    ("coding_loops.decisions_pending", "critical 6", decisions(6), "critical"),
    ("coding_loops.decisions_pending", "oldest over 1 h", decisions(1, until=61), "critical"),
    ("coding_loops.decisions_pending", "resolved", decisions(0, resolved=5), None),
    ("coding_loops.database_size", "warn", "metrics:600", "warn"),
    ("coding_loops.database_size", "critical", "metrics:2000", "critical"),
    ("coding_loops.database_size", "boundary 500 MB", "metrics:500", None),
    ("coding_loops.stale_heartbeat", "steady", heartbeats([0, 5, 10, 15], 18), None),
    ("coding_loops.stale_heartbeat", "warn after 15", heartbeats([0], 15), "warn"),
    ("coding_loops.stale_heartbeat", "page after 31", heartbeats([0], 31), "page"),
    ("coding_loops.stale_heartbeat", "boundary 10", heartbeats([0], 10), None),
    ("coding_loops.component_unhealthy", "dead",
     burst(1, "heartbeat", actor="monitor", attrs={"status": "dead"}, **CL), "warn"),
    ("coding_loops.component_unhealthy", "healthy",
     burst(1, "heartbeat", actor="monitor", attrs={"status": "healthy"}, **CL), None),
    ("codingbuddy.rate_limits", "one warns", burst(1, "llm.rate_limited", **CB), "warn"),
    ("codingbuddy.rate_limits", "five page", burst(5, "llm.rate_limited", **CB), "page"),
    ("codingbuddy.rate_limits", "boundary four", burst(4, "llm.rate_limited", **CB), "warn"),
    ("codingbuddy.rate_limits", "five spread out",
     burst(5, "llm.rate_limited", every=1.5, **CB), "warn"),
    ("codingbuddy.rate_limits", "quiet", burst(3, "llm.usage", **CB), None),
    ("codingbuddy.doom_loop", "3 identical", proposals(["ls", "ls", "ls"]), "warn"),
    ("codingbuddy.doom_loop", "boundary 2 identical", proposals(["ls", "ls", "pwd"]), None),
    ("codingbuddy.doom_loop", "alternating", proposals(["ls", "pwd", "ls", "pwd"]), None),
    ("codingbuddy.doom_loop_detected", "fires", burst(1, "agent.doom_loop", **CB), "warn"),
    ("codingbuddy.doom_loop_detected", "quiet", burst(1, "agent.nudge", **CB), None),
    ("codingbuddy.circuit_breaker", "3 failures", tool_outcomes(["error"] * 3), "warn"),
    ("codingbuddy.circuit_breaker", "boundary broken run",
     tool_outcomes(["error", "ok", "error", "timeout"]), None),
    ("codingbuddy.circuit_breaker_tripped", "fires",
     burst(1, "agent.circuit_breaker", **CB), "warn"),
    ("codingbuddy.circuit_breaker_tripped", "quiet", burst(1, "tool.result", **CB), None),
    ("codingbuddy.limits_exceeded", "budget", burst(1, "limit.budget_exceeded", **CB), "warn"),
    ("codingbuddy.limits_exceeded", "turns", burst(1, "limit.turns_exceeded", **CB), "warn"),
    ("codingbuddy.limits_exceeded", "quiet", burst(1, "llm.cost", **CB), None),
    ("codingbuddy.patch_conflict", "conflict",
     burst(1, "patch.applied", outcome="error", error_code="patch_conflict", **CB), "warn"),
    ("codingbuddy.patch_conflict", "applied", burst(1, "patch.applied", outcome="ok", **CB),
     None),
    ("curriculum_builder.structured_output_failures", "once",
     burst(1, "error", message="codex_exec mode failed to return valid structured JSON.",
           system="curriculum_builder", stream="run-1"), "warn"),
    ("curriculum_builder.structured_output_failures", "repeated",
     burst(2, "error", message="codex_exec mode failed to return valid structured JSON.",
           system="curriculum_builder", stream="run-1"), "page"),
    ("curriculum_builder.structured_output_failures", "other error",
     burst(2, "error", message="[stage_conflict] topic spec not ready",
           system="curriculum_builder", stream="run-1"), None),
    ("tapps.unrecoverable_step_failure", "behavior fail", step_fail(behavior="fail"), "page"),
    ("tapps.unrecoverable_step_failure", "behavior retry", step_fail(behavior="retry"), None),
    ("tapps.unrecoverable_step_failure", "envelope not recoverable",
     burst(1, "error", attrs={"error": {"code": "agent_error"}}, **TA), "page"),
    ("tapps.unrecoverable_step_failure", "envelope recoverable",
     burst(1, "error", attrs={"error": {"code": "timeout_error", "recoverable": True}}, **TA),
     None),
    ("tapps.step_timeout", "open 20 min", step_run(None), "warn"),
    ("tapps.step_timeout", "boundary finished at 14 min", step_run(14), None),
    ("tapps.step_timeout", "finished at 16 min", step_run(16.2), "warn"),
    # an item's first closer is before its opener: that closer does not close it
    ("tapps.step_timeout", "finished before it started",
     step_rows([("step.finish", 0.05, "impl"), ("step.start", 0.1, "impl")]), "warn"),
    ("tapps.step_timeout", "started twice, finished",
     step_rows([("step.start", 0.1, "impl"), ("step.start", 1, "impl"),
                ("step.finish", 5, "impl")]), None),
    ("tapps.step_timeout", "restarted after finishing, open",
     step_rows([("step.start", 0.1, "impl"), ("step.finish", 1, "impl"),
                ("step.start", 2, "impl")]), "warn"),
    ("tapps.step_timeout", "no name, open", step_rows([("step.start", 0.1, None)]), "warn"),
    ("tapps.step_timeout", "no name, finished",
     step_rows([("step.start", 0.1, None), ("step.finish", 5, None)]), None),
    ("tapps.retries_exhausted", "3 of 3", step_fail(behavior="retry", attempt=3, max=3), "page"),
    ("tapps.retries_exhausted", "boundary 2 of 3",
     step_fail(behavior="retry", attempt=2, max=3), None),
    ("tapps.workflow_no_progress", "stalled", workflow(20, ended=False), "warn"),
    ("tapps.workflow_no_progress", "ended", workflow(20, ended=True), None),
    ("tapps.workflow_no_progress", "boundary 14 min", workflow(13, ended=False), None),
]


@pytest.mark.parametrize(("rule_id", "case", "rows", "expected"), CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_rule(tmp_path, rule_id, case, rows, expected):
    con = make_db(tmp_path)
    if isinstance(rows, str):
        size = float(rows.split(":")[1]) * MB
        insert(con, [ev("log", 0, **CL)])
        insert_metrics(con, [{"system": "coding_loops", "name": "db_size_bytes", "value": size,
                              "unit": "bytes", "ts": at(minutes=0)}])
    else:
        insert(con, rows)
    alerts = evaluate_rules(con, rules=[RULES[rule_id]])
    assert max_level(alerts) == expected, alerts
    if expected:
        top = alerts.filter(alerts["level"] == expected).row(0, named=True)
        assert top["first_fired"] <= top["last_fired"]
        assert top["runbook"].startswith(RULES[rule_id]["runbook"])
        assert top["peak"] is not None


def test_every_rule_has_a_firing_and_a_quiet_case():
    """The runbooks' per-system rules here; the generic rules in test_generic_rules.py."""
    fired = {c[0] for c in CASES if c[3]}
    quiet = {c[0] for c in CASES if c[3] is None or c[1].startswith("boundary")}
    per_system = {rid for rid in RULES if not rid.startswith("generic.")}
    assert per_system <= fired
    assert per_system <= quiet


@pytest.mark.skipif(not SEEDS.exists(), reason="runbooks not available")
def test_every_rule_quotes_its_runbook_line():
    for rule in RULES.values():
        lines = (SEEDS / rule["runbook"]).read_text(encoding="utf-8").splitlines()
        assert rule["quote"] in lines[rule["line"] - 1], rule["id"]


def test_fired_rule_reports_evidence_and_clearing(tmp_path):
    con = make_db(tmp_path)
    rows = insert(con, [*burst(11, "tool.timeout", **J), ev("log", 30, **J)])
    alerts = evaluate_rules(con, rules=[RULES["jido.tool_timeouts"]])
    row = alerts.row(0, named=True)
    assert row["group"] == "p1" and row["level"] == "page" and row["peak"] == 11
    assert row["first_fired"] == at(minutes=1.0) and row["last_fired"] == at(minutes=1.0)
    assert row["cleared"] == at(minutes=6.0)  # the 5-minute window ran out
    assert row["event_ids"] == [rows[10]["event_id"]]


def test_a_connection_in_another_time_zone_gives_the_same_firings(tmp_path):
    con = make_db(tmp_path)
    insert(con, [*burst(11, "tool.timeout", **J), ev("log", 30, **J)])
    rules = [RULES["jido.tool_timeouts"]]
    expected = evaluate_rules(con, rules=rules)
    con.execute("SET TimeZone = 'Etc/UTC'")  # a bare duckdb.connect() on many machines
    assert evaluate_rules(con, rules=rules).equals(expected)
    assert expected.row(0, named=True)["cleared"] == at(minutes=6.0)


def test_still_firing_at_end_of_evidence_is_not_cleared(tmp_path):
    con = make_db(tmp_path)
    insert(con, burst(11, "tool.timeout", **J))
    row = evaluate_rules(con, rules=[RULES["jido.tool_timeouts"]]).row(0, named=True)
    assert row["cleared"] is None


def test_window_restricts_evaluation(tmp_path):
    con = make_db(tmp_path)
    insert(con, [*burst(1, "security.sandbox_violation", start=30, **J), ev("log", 0, **J)])
    rules = [RULES["jido.sandbox_violation"]]
    assert evaluate_rules(con, rules=rules, end=at(minutes=10)).height == 0
    assert evaluate_rules(con, rules=rules, start=at(minutes=20)).height == 1


def test_bad_rules_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text('[[rule]]\nid = "x"\nkind = "magic"\nlevels = [{level="warn", above=1}]\n')
    with pytest.raises(UsageError, match="kind"):
        load_rules(bad)
    broken = tmp_path / "s.toml"
    broken.write_text('[[rule]]\nid = "y"\nkind = "count"\nwhere = "no_such_column = 1"\n'
                      'levels = [{level="warn", at_least=1}]\n')
    con = make_db(tmp_path)
    insert(con, [ev("log", 0)])
    with pytest.raises(UsageError, match="rule y"):
        evaluate_rules(con, rules_path=broken)


def test_trend_buckets_errors_and_baseline(tmp_path):
    con = make_db(tmp_path)
    insert(con, burst(4, "tool.result", outcome="ok", **J)
           + burst(2, "tool.result", start=10, outcome="error", **J))
    out = trend(con, every="5 minutes", by="system")
    assert out["count"].to_list() == [4, 0, 2]
    assert out["errors"].to_list() == [0, 0, 2]
    assert out["error_ratio"].to_list() == [0.0, None, 1.0]
    assert out["baseline"].to_list() == [None, 4.0, 2.0]


def test_cli_alerts_fail_on_levels(tmp_path):
    import json

    from click.testing import CliRunner

    from incidentlab.cli import main

    con = make_db(tmp_path)
    insert(con, burst(1, "security.sandbox_exception_used", **J))
    con.close()
    db = str(tmp_path / "x.duckdb")
    run = CliRunner().invoke
    out = run(main, ["alerts", "--db", db, "--json"])
    assert out.exit_code == 0, out.output  # warn < page (the default --fail-on)
    data = json.loads(out.output)
    assert data["max_level"] == "warn" and data["alerts"][0]["rule"] == "jido.sandbox_exception_used"
    assert run(main, ["alerts", "--db", db, "--fail-on", "warn"]).exit_code == 1
    assert run(main, ["alerts", "--db", db, "--fail-on", "warning"]).exit_code == 1
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nid = "any.log"\nkind = "count"\nevent_types = ["security.*"]\n'
                     'window = "all"\nlevels = [{level = "critical", at_least = 1}]\n')
    custom = run(main, ["alerts", "--db", db, "--rules", str(rules), "--json"])
    assert custom.exit_code == 1 and json.loads(custom.output)["max_level"] == "critical"
    bad = run(main, ["alerts", "--db", db, "--rules", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 2


def test_trend_rejects_unknown_grouping(tmp_path):
    con = make_db(tmp_path)
    with pytest.raises(UsageError, match="group by"):
        trend(con, by="attrs")
    with pytest.raises(UsageError, match="duration"):
        trend(con, every="5 fortnights")


def test_duration_rule_temp_tables_are_dropped(tmp_path):
    con = make_db(tmp_path)
    insert(con, stuck(1, None))
    evaluate_rules(con, rules=[RULES["coding_loops.stuck_loop"]])
    left = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_il_spans%'")
    assert left.fetchall()[0][0] == 0


def test_cited_events_are_the_first_in_time_order(tmp_path):
    """More than MAX_EVIDENCE_IDS events cited by one firing: the first 50 by event time (a
    crossing cites its whole window at one firing time; their ids' text order is not time)."""
    con = make_db(tmp_path)
    rows = insert(con, [ev("x.burst", i / 60) for i in range(60)])
    rule = {"id": "t.burst", "kind": "count", "event_types": ["x.burst"], "window": "10 minutes",
            "cite": "window", "levels": [{"level": "warn", "at_least": 60}]}
    row = evaluate_rules(con, rules=[rule]).row(0, named=True)
    assert row["event_ids"] == [r["event_id"] for r in rows[:50]]
    assert row["evidence"].startswith(f"{rows[0]['event_id']} @ ")


@pytest.mark.parametrize(("cited", "more"), [(1, ""), (4, ""), (5, ""), (6, "; +1 more"),
                                            (60, "; +45 more")])
def test_evidence_spells_out_the_first_five_cited_events(tmp_path, cited, more):
    """The evidence text names the first five cited events, "id @ time" each, and how many
    more the firing cites (up to MAX_EVIDENCE_IDS); a rule bound to no system takes the
    systems of its evidence."""
    con = make_db(tmp_path)
    rows = insert(con, [ev("x.burst", i / 60, system="jido" if i % 2 else "tapps")
                        for i in range(cited)])
    rule = {"id": "t.burst", "kind": "count", "event_types": ["x.burst"], "window": "10 minutes",
            "cite": "window", "levels": [{"level": "warn", "at_least": cited}]}
    row = evaluate_rules(con, rules=[rule]).row(0, named=True)
    shown = "; ".join(f"{r['event_id']} @ {r['ts'].isoformat()}" for r in rows[:5])
    assert row["evidence"] == shown + more
    assert row["system"] == ("tapps" if cited == 1 else "jido,tapps")


def test_a_metric_firing_cites_its_row_by_path_and_record(tmp_path):
    """A metric point is no event: its evidence is the metric row's path:record, with no time."""
    con = make_db(tmp_path)
    insert(con, [ev("log", 0, **CL)])
    insert_metrics(con, [{"system": "coding_loops", "name": "db_size_bytes", "value": 600 * MB,
                          "unit": "bytes", "ts": at(minutes=0)}])
    row = evaluate_rules(con, rules=[RULES["coding_loops.database_size"]]).row(0, named=True)
    assert row["event_ids"] == ["m.db:1"] and row["evidence"] == "m.db:1"


def test_rules_of_one_kind_share_a_pass_with_the_same_firings(tmp_path):
    """All rules evaluated together fire exactly as each rule evaluated alone."""
    con = make_db(tmp_path)
    insert(con, [*results(18, 2), *burst(11, "tool.timeout", **J), *heartbeats([0, 5, 50], 60),
                 *stuck(2, None), *proposals(["ls", "ls", "ls"]), *workflow(20, ended=False),
                 *burst(6, "llm.rate_limited", **CB)])
    together = evaluate_rules(con).drop("evidence")
    alone = pl.concat([evaluate_rules(con, rules=[rule]) for rule in load_rules()]).drop("evidence")
    key = ["rule", "level", "group"]
    assert together.height >= 6
    assert together.sort(key).equals(alone.sort(key))


EDGE_COUNT = {"id": "t.count", "kind": "count", "event_types": ["x.hit"], "window": "5 minutes",
              "levels": [{"level": "warn", "at_least": 3}]}
EDGE_RATIO = {"id": "t.ratio", "kind": "ratio", "event_types": ["x.hit", "x.ok"],
              "numerator": "event_type = 'x.hit'", "window": "5 minutes", "min_count": 3,
              "levels": [{"level": "warn", "at_least": 0.75}]}
US = timedelta(microseconds=1)


@pytest.mark.parametrize(("first", "rule", "types", "fires"), [
    (at(), EDGE_COUNT, ["x.hit"] * 3, True),  # exactly one window before: inside
    (at() - US, EDGE_COUNT, ["x.hit"] * 3, False),  # a microsecond more: outside
    (at(), EDGE_RATIO, ["x.hit", "x.hit", "x.ok", "x.hit"], True),  # 3 of 4
    (at() - US, EDGE_RATIO, ["x.hit", "x.hit", "x.ok", "x.hit"], False),  # 2 of 3
], ids=["count-inside", "count-outside", "ratio-inside", "ratio-outside"])
def test_sliding_window_edges_and_events_at_one_instant(tmp_path, first, rule, types, fires):
    """A window holds [t - window, t], and every event at t, even those stored after the row:
    the first event at `first`, the others together five minutes after T0."""
    con = make_db(tmp_path)
    times = [first] + [at(minutes=5)] * (len(types) - 1)
    insert(con, [{"event_type": t, "ts": ts, "system": "generic", "stream": "s"}
                 for t, ts in zip(types, times, strict=True)])
    alerts = evaluate_rules(con, rules=[rule])
    assert (alerts.height == 1) is fires, alerts
    if fires:  # the first of the events at one instant already sees the others
        assert alerts["first_fired"][0] == at(minutes=5)
        assert alerts["peak"][0] == (3 if rule is EDGE_COUNT else 0.75)


@pytest.mark.parametrize("broken", [
    {"key": "no_such_column"},
    {"with_call": True, "call_where": "no_such_column IS NULL"},
], ids=["key", "call_where"])
def test_a_rule_whose_types_never_occur_is_still_checked(tmp_path, broken):
    """Rules whose event types are absent skip reading the events, not the binding of their SQL:
    a broken expression fails the same with or without rows."""
    rule = {**EDGE_COUNT, "id": "t.broken", **broken}
    for rows in ([], [{"event_type": "x.hit", "ts": at(), "system": "generic", "stream": "s"}]):
        con = make_db(tmp_path, f"b{len(rows)}.duckdb")
        insert(con, [ev("log", 0), *rows])
        with pytest.raises(UsageError, match=r"rule t\.broken"):
            evaluate_rules(con, rules=[rule])


def test_a_rule_whose_types_never_occur_fires_nothing_and_the_others_alike(tmp_path):
    """Skipping the rules with no row of their types changes no firing: every default rule
    over events of only some types, evaluated together and alone."""
    con = make_db(tmp_path)
    insert(con, [*results(18, 2), *burst(6, "llm.rate_limited", **CB)])
    together = evaluate_rules(con).drop("evidence")
    assert set(together["rule"]) == {"jido.tool_failure_ratio", "codingbuddy.rate_limits"}


EDGE_RUNS = {"id": "t.runs", "kind": "consecutive", "event_types": ["x.run"],
             "group_by": ["stream"], "partition_by": ["lower(name)"], "key": "'failing'",
             "run_where": "outcome = 'error'", "levels": [{"level": "warn", "at_least": 3}]}


@pytest.mark.parametrize(("runs", "cited"), [
    ("A:error a:error A:error", ["e1", "e2", "e3"]),  # one partition: lower() of the names
    ("A:error B:error A:error B:ok A:error B:error", ["e1", "e3", "e5"]),  # B's run is broken
    ("A:error A:ok A:error A:error", None),  # a success ends the run
    ("A:error B:error A:error B:error", None),  # two runs of 2, in two partitions
])
def test_consecutive_runs_are_counted_per_partition_expression(tmp_path, runs, cited):
    """A run of a consecutive rule is counted within its partition (an SQL expression, here
    lower(name)); the firing cites the run's first rows, in order."""
    con = make_db(tmp_path)
    insert(con, [ev("x.run", i, name=name, outcome=outcome)
                 for i, (name, outcome) in enumerate(p.split(":") for p in runs.split())])
    alerts = evaluate_rules(con, rules=[EDGE_RUNS])
    if cited is None:
        assert alerts.is_empty(), alerts
    else:
        assert alerts.height == 1, alerts
        assert alerts["event_ids"][0].to_list() == cited
        assert alerts["first_fired"][0] == at(minutes=int(cited[-1][1:]) - 1)
