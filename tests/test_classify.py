"""Failure-mode classification against the runbooks' catalog, and the SEV1-3 suggestion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from incidentlab.analysis.classify import classify, load_catalog, signature_sql
from incidentlab.cli import main

from analysis_helpers import at, insert, make_db

SEEDS = Path("/work/shared/seeds")
CATALOG = load_catalog()


def test_catalog_covers_the_five_runbooks_and_any_system():
    """Per-system modes for the five runbooks, plus generic modes (no system) for the rest."""
    systems = {m.get("system") for m in CATALOG}
    assert systems == {"codingbuddy", "jido", "coding_loops", "curriculum_builder", "tapps", None}
    for mode in CATALOG:
        matches = signature_sql(mode) != "false" or mode.get("rules")
        assert mode["recovery"] and matches, mode["id"]
    assert all(m["id"].startswith("generic.") for m in CATALOG if not m.get("system"))


@pytest.mark.skipif(not SEEDS.exists(), reason="runbooks not available")
def test_every_mode_quotes_its_runbook_line():
    for mode in CATALOG:
        if not mode.get("runbook"):
            continue
        lines = (SEEDS / mode["runbook"]).read_text(encoding="utf-8").splitlines()
        assert mode["quote"] in lines[mode["line"] - 1], mode["id"]


# (rows, expected top mode, expected severity)
CASES = [
    ([{"system": "codingbuddy", "event_type": "llm.rate_limited", "severity": "warning",
       "message": "HTTP 429 Too Many Requests"}] * 3,
     "codingbuddy.llm_outage_rate_limit", "SEV2"),
    ([{"system": "jido", "event_type": "security.sandbox_violation", "severity": "error",
       "project": "p1"}], "jido.sandbox_violation", "SEV1"),
    ([{"system": "jido", "event_type": "security.repeated_timeout_failures", "project": p,
       "severity": "warning"} for p in ("p1", "p2")], "jido.repeated_timeout_failures", "SEV1"),
    ([{"system": "jido", "event_type": "security.repeated_timeout_failures", "project": "p1",
       "severity": "warning"}], "jido.repeated_timeout_failures", "SEV2"),
    ([{"system": "jido", "event_type": "tool.result", "outcome": "error", "severity": "error",
       "error_code": "conversation_max_concurrency_reached"}],
     "jido.concurrency_saturation", "SEV2"),
    ([{"system": "curriculum_builder", "event_type": "error", "severity": "error",
       "message": "[stage_conflict] topic spec not ready", "error_code": "stage_conflict"}],
     "curriculum_builder.stage_conflict", "SEV3"),
    ([{"system": "curriculum_builder", "event_type": "error", "severity": "error",
       "message": "codex_exec mode failed to return valid structured JSON."}],
     "curriculum_builder.codex_structured_json", "SEV2"),
    ([{"system": "tapps", "event_type": "error", "severity": "error",
       "error_code": "timeout_error", "error_category": "timeout"}], "tapps.timeout", "SEV2"),
    ([{"system": "coding_loops", "event_type": "alert", "event_type_raw": "stuck_detected",
       "severity": "warning", "message": "loop-1 stuck on CP-UFS-001"}],
     "coding_loops.loop_stuck", "SEV2"),
    ([{"system": "codingbuddy", "event_type": "patch.applied", "outcome": "error",
       "error_code": "patch_conflict", "severity": "warning"}],
     "codingbuddy.patch_conflict", "SEV3"),
    ([{"system": "codingbuddy", "event_type": "session.state", "stream": f"s{i}",
       "severity": "error", "attrs": {"kind": {"payload": {"from": "Planning", "to": "Failed"}}}}
      for i in range(3)], "codingbuddy.session_failures", "SEV1"),
]


@pytest.mark.parametrize(("rows", "mode", "severity"), CASES, ids=[c[1] for c in CASES])
def test_modes_and_severity(tmp_path, rows, mode, severity):
    con = make_db(tmp_path)
    inserted = insert(con, rows)
    result = classify(con)
    top = result.modes.row(0, named=True)
    assert top["mode"] == mode
    assert result.severity == severity
    assert severity in result.severity_reason and mode in result.severity_reason
    assert top["evidence_event_ids"][0] == inserted[0]["event_id"]
    assert top["recovery_steps"] and top["runbook_section"].endswith(
        next(m["quote"] for m in CATALOG if m["id"] == mode))


def test_quiet_evidence_matches_nothing(tmp_path):
    con = make_db(tmp_path)
    insert(con, [{"system": "codingbuddy", "event_type": "chat.turn"},
                 {"system": "jido", "event_type": "policy.allowed"},
                 {"system": "coding_loops", "event_type": "heartbeat", "attrs": {"status": "healthy"}}])
    result = classify(con)
    assert result.modes.height == 0 and result.severity is None


def test_ranking_by_weighted_evidence_and_window(tmp_path):
    con = make_db(tmp_path)
    insert(con, [{"system": "jido", "event_type": "policy.denied", "severity": "warning",
                  "ts": at(i)} for i in range(5)]
           + [{"system": "jido", "event_type": "security.sandbox_violation", "severity": "error",
               "ts": at(600)}])
    result = classify(con)
    assert result.modes["mode"].to_list() == ["jido.policy_denial_spike", "jido.sandbox_violation"]
    assert result.severity == "SEV1"  # the worst mode decides, not the most frequent
    early = classify(con, end=at(100))
    assert early.modes["mode"].to_list() == ["jido.policy_denial_spike"] and early.severity == "SEV3"


def test_cli_classify_json(tmp_path):
    con = make_db(tmp_path)
    insert(con, [{"system": "jido", "event_type": "security.sandbox_violation", "severity": "error"}])
    con.close()
    result = CliRunner().invoke(main, ["classify", "--db", str(tmp_path / "x.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["severity"] == "SEV1" and data["modes"][0]["mode"] == "jido.sandbox_violation"
    table = CliRunner().invoke(main, ["classify", "--db", str(tmp_path / "x.duckdb")])
    assert "suggested severity: SEV1" in table.output



def test_the_prefilter_keeps_every_event_any_mode_matches(tmp_path):
    """The scan first keeps the rows whose text meets some mode's pattern or that meet a mode's
    other terms; each mode's own condition then runs on those only. Over every case above (and
    their rows all together), no row a mode matches is left out by the prefilter."""
    from incidentlab.analysis.classify import _condition, _prefilter

    con = make_db(tmp_path)
    insert(con, [{"ts": at(minutes=i), **row} for i, row in
                 enumerate(r for rows, _mode, _sev in CASES for r in rows)])
    fired = {CATALOG[0]["id"]: ["not-an-event"]}
    every = " OR ".join(f"({_condition(m, fired.get(m['id'], []))})" for m in CATALOG)
    [(matched, lost)] = con.execute(
        f"SELECT count(*) FILTER (WHERE {every}), "
        f"count(*) FILTER (WHERE ({every}) AND NOT coalesce(({_prefilter(CATALOG, fired)}), false)) "
        "FROM timeline_events").fetchall()
    assert matched >= len(CASES) and lost == 0
