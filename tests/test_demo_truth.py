"""The analysis finds every anomaly the demo planted, where it was planted, and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from incidentlab.analysis import classify, metrics, replay, timeline
from incidentlab.analysis.redact import Redactor
from incidentlab.demo.run import run_demo
from incidentlab.store import connect

WARN_OR_WORSE = ("warning", "error", "critical")


@pytest.fixture(scope="module", params=[7, 23])
def analysed(request, tmp_path_factory):
    demo = run_demo(tmp_path_factory.mktemp(f"truth-{request.param}"), seed=request.param,
                    render=False)
    con = connect(demo.db, read_only=True)
    yield demo.bundle.manifest, con
    con.close()


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_replay_violations_are_exactly_the_planted_ones(analysed):
    manifest, con = analysed
    report = replay.check(con)
    found = report.violations.filter(report.violations["severity"].is_in(WARN_OR_WORSE))
    assert sorted((r["system"], r["stream"], r["rule"]) for r in found.iter_rows(named=True)) == \
        sorted((v["system"], v["stream"], v["rule"]) for v in manifest["replay_violations"])
    for planted in manifest["replay_violations"]:
        (row,) = found.filter((found["stream"] == planted["stream"])
                              & (found["rule"] == planted["rule"])).iter_rows(named=True)
        seq = con.execute("SELECT seq FROM events WHERE event_id = ?",
                          [row["event_id"]]).fetchone()[0]
        assert seq == planted["seq"], (planted, row)
    session = next(v for v in manifest["replay_violations"] if v["system"] == "codingbuddy")
    tool_view = report.codingbuddy.filter(report.codingbuddy["session_id"] == session["stream"])
    assert tool_view["missing_tool_results"][0].to_list() == [session["invocation_id"]]
    assert tool_view["passed"][0] is False
    failing = set(report.verdicts.filter(~report.verdicts["passed"])["stream"].to_list())
    assert failing == {v["stream"] for v in manifest["replay_violations"]}


def test_alerts_fire_where_planted_and_nowhere_else(analysed):
    manifest, con = analysed
    fired = metrics.evaluate_rules(con)
    found = {(r["rule"], r["group"], r["level"]): r["first_fired"]
             for r in fired.iter_rows(named=True)}
    planted = {(a["rule"], a["group"], a["level"]): _ts(a["first_window"])
               for a in manifest["alerts"]}
    assert set(found) == set(planted), {"missing": set(planted) - set(found),
                                        "false alarms": set(found) - set(planted)}
    for key, window in planted.items():
        assert window - timedelta(minutes=1) <= found[key] <= window + timedelta(minutes=15), key


def test_failure_modes_are_the_planted_ones(analysed):
    manifest, con = analysed
    modes = set(classify.classify(con).modes["mode"].to_list())
    assert modes == {m["mode"] for m in manifest["failure_modes"]}


def test_milestones(analysed):
    manifest, con = analysed
    found = {r["milestone"]: r["ts"] for r in timeline.milestones(con).iter_rows(named=True)}
    started = _ts(manifest["milestones"]["started"])
    assert abs(found["started"] - started) <= timedelta(minutes=1)
    assert abs(found["detected"] - started) <= timedelta(minutes=5)
    assert found["detected"] < found["mitigated"] < found["resolved"] <= _ts(
        manifest["window"]["end"])
    assert timeline.durations(timeline.milestones(con))["in_order"] is True


def test_nothing_else_is_anomalous_in_the_background(analysed):
    """Every warning-or-worse event belongs to the incident window or to a planted anomaly."""
    manifest, con = analysed
    started = _ts(manifest["milestones"]["started"])
    early = con.execute(
        "SELECT system, event_type, message FROM timeline_events "
        "WHERE severity IN ('warning', 'error', 'critical') AND ts < ?", [started]).fetchall()
    assert early == []


def test_secrets_are_masked_in_what_a_person_sees(analysed):
    """The raw frame keeps the evidence; what is shown (CLI, notebooks, report) goes through redact."""
    manifest, con = analysed
    raw = timeline.timeline(con)
    raw_text = " ".join(str(v) for row in raw.iter_rows() for v in row)
    assert all(secret in raw_text for secret in manifest["secrets"])
    redactor = Redactor()
    shown = redactor.frame(raw)
    text = " ".join(str(v) for row in shown.iter_rows() for v in row)
    for secret in manifest["secrets"]:
        assert secret not in text
    assert redactor.count >= len(manifest["secrets"])


@pytest.mark.slow
def test_rendered_demo_postmortem_is_safe_and_complete(tmp_path):
    demo = run_demo(tmp_path / "demo-out", seed=7, render=True)
    html = demo.report.read_text(encoding="utf-8")
    manifest = demo.bundle.manifest
    for secret in manifest["secrets"]:
        assert secret not in html
    assert "<script>alert('pwned')</script>" not in html
    assert "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(" in html
    for heading in ("Summary", "Impact", "Trigger", "Root cause and contributing factors",
                    "Detection", "Response and mitigation", "Resolution", "Timeline",
                    "Action items", "Lessons learned", "Supporting data: replay integrity",
                    "Provenance", "Appendix: runbook sections cited"):
        assert heading in html, heading
    con = connect(demo.db, read_only=True)
    try:
        sha = con.execute("SELECT sha256 FROM _loads WHERE loader = 'codingbuddy.events_jsonl'"
                          ).fetchone()[0]
    finally:
        con.close()
    assert sha in html
