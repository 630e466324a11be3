"""Milestones cite their evidence and carry exactly its time; durations never span incidents.

Expectations come from reading the fixture files (tests/fixtures/incidents, the demo bundle):
each derived milestone's time must be the `timestamp` written on the line it cites.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from incidentlab.analysis.incidents import incidents, select
from incidentlab.analysis.milestones import NO_SIGNAL, durations, milestones
from incidentlab.cli import main
from incidentlab.demo.run import run_demo
from incidentlab.durations import fmt_duration
from incidentlab.reports import sections
from incidentlab.store import connect

from analysis_helpers import at, insert, make_db
from mixed_incidents import CODEX, utc


def _by_name(frame: pl.DataFrame) -> dict[str, dict]:
    return {r["milestone"]: r for r in frame.iter_rows(named=True)}


def _raw_time(path: Path, record_no: int) -> datetime:
    line = path.read_text(encoding="utf-8").splitlines()[record_no - 1]
    return datetime.fromisoformat(json.loads(line)["timestamp"].replace("Z", "+00:00"))


def _incident(con, rules, system: str, record_no: int) -> dict:
    found = incidents(con, rules_path=rules)
    return found.filter((pl.col("first_system") == system)
                        & (pl.col("first_record_no") == record_no)).row(0, named=True)


def test_codex_milestones_are_the_lines_they_cite(mixed):
    con, _db, rules = mixed
    m = _by_name(milestones(con, incident=_incident(con, rules, "codex_cli", 9),
                            rules_path=rules))
    # started: line 9, the first output of the `rg` whose process exits 2 (line 12)
    # detected: line 11, the second failed result within 2 minutes (the test rule pages at 2)
    # mitigated: the rule last fired on line 17 (08:42:13.170) and clears 2 minutes later;
    #   line 23 (agent_message) mirrors line 24 (the message), so line 24 is the first evidence
    # resolved: line 26, task_complete (run.end ok)
    expected = {"started": 9, "detected": 11, "mitigated": 24, "resolved": 26}
    for name, record_no in expected.items():
        row = m[name]
        assert (row["basis"], row["system"], row["record_no"]) == ("evidence", "codex_cli",
                                                                   record_no), name
        assert row["ts"] == _raw_time(CODEX, record_no), name
        assert row["source"] == "rollout_jsonl" and row["event_id"], name
    assert "test.tool_failures" in m["detected"]["evidence"]
    assert m["mitigated"]["ts"] >= utc("2026-05-11 08:44:13.170")  # the rule's clearing
    d = durations(milestones(con, incident="20260511-083458Z-codex_cli", rules_path=rules))
    assert d["time_to_detect"] == pytest.approx(7.124)  # 08:34:58.673 -> 08:35:05.797
    assert d["time_to_resolve"] == pytest.approx(599.871)  # -> 08:44:58.544
    assert d["in_order"] is True and fmt_duration(d["time_to_resolve"]) == "10m 00s"


def test_loghub_milestones_and_what_is_not_determined(mixed):
    con, _db, rules = mixed
    d_inc = _incident(con, rules, "generic", 53)
    m = _by_name(milestones(con, incident=d_inc, rules_path=rules))
    assert (m["started"]["ts"], m["started"]["record_no"]) == (utc("2015-07-30 16:12:01.554"), 53)
    assert m["detected"]["basis"] == "not determined"
    assert "no alert rule fired" in m["detected"]["evidence"]
    # the last WARN is line 72 (17:55:26.200); line 73 (INFO, 18:18:01.981) is the next line
    assert (m["mitigated"]["ts"], m["mitigated"]["record_no"]) == (
        utc("2015-07-30 18:18:01.981"), 73)
    assert m["resolved"]["basis"] == "not determined"  # a log line is no recovery evidence
    d = durations(milestones(con, incident=d_inc, rules_path=rules))
    assert d["time_to_mitigate"] == pytest.approx(2 * 3600 + 6 * 60 + 0.427)
    assert d["time_to_detect"] is None and d["time_to_resolve"] is None
    assert d["notes"]["time_to_detect"].startswith("detected: no alert rule fired")
    # Cluster A ends on its last WARN (line 24): nothing healthy follows inside it.
    a = _by_name(milestones(con, incident=_incident(con, rules, "generic", 3), rules_path=rules))
    assert a["mitigated"]["basis"] == "not determined"
    assert "no healthy event" in a["mitigated"]["evidence"]


def test_no_milestone_lies_outside_its_incident(mixed):
    con, _db, rules = mixed
    found = incidents(con, rules_path=rules)
    for inc in found.iter_rows(named=True):
        m = milestones(con, incident=inc, rules_path=rules)
        assert set(m["incident_id"].to_list()) == {inc["incident_id"]}
        for row in m.filter(pl.col("ts").is_not_null()).iter_rows(named=True):
            assert inc["first_ts"] <= row["ts"] <= inc["end_ts"], (inc["incident_id"], row)
            [(ts,)] = con.execute("SELECT ts FROM events WHERE event_id = ?",
                                  [row["event_id"]]).fetchall()
            assert ts == row["ts"]
        d = durations(m)
        longest = (inc["end_ts"] - inc["first_ts"]).total_seconds()
        assert all(v is None or 0 <= v <= longest for k, v in d.items() if k.startswith("time"))
    # without an incident: the largest one (the demo storm), never a chain from 2015 to 2026
    default = _by_name(milestones(con, rules_path=rules))
    assert default["started"]["ts"] == utc("2026-03-01 10:00:00")
    assert default["started"]["incident_id"] == select(found)["incident_id"]


def test_demo_ttd_is_first_impact_to_first_page(tmp_path):
    demo = run_demo(tmp_path / "demo", seed=7, render=False)
    log = (demo.bundle.root / "evidence" / "app" / ".codingbuddy" / "observe.log").read_text()
    times = [datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
             for line in log.splitlines()[:5]]
    con = connect(demo.db, read_only=True)
    try:
        m = _by_name(milestones(con))
        # the first 429 (line 1) starts it; the fifth in 5 minutes (line 5) pages
        assert (m["started"]["source"], m["started"]["record_no"]) == ("observe_log", 1)
        assert (m["detected"]["source"], m["detected"]["record_no"]) == ("observe_log", 5)
        assert m["started"]["ts"] == times[0] and m["detected"]["ts"] == times[4]
        assert "codingbuddy.rate_limits (page" in m["detected"]["evidence"]
        d = durations(milestones(con))
        assert d["time_to_detect"] == (times[4] - times[0]).total_seconds() > 0
        warn = _by_name(milestones(con, detect_level="warn"))
        assert warn["detected"]["ts"] == times[0]  # the warn level fires on the first 429
    finally:
        con.close()


def test_overrides_are_recorded_and_order_is_checked(tmp_path):
    con = make_db(tmp_path)
    insert(con, [
        {"ts": at(0), "event_type": "session.start"},
        {"ts": at(60), "event_type": "tool.result", "outcome": "error", "severity": "error",
         "event_id": "bad"},
        {"ts": at(120), "event_type": "tool.result", "outcome": "ok", "event_id": "ok1"},
        {"ts": at(180), "event_type": "test.pass", "outcome": "ok", "event_id": "green"},
    ])
    m = _by_name(milestones(con))
    assert [m[k]["event_id"] for k in ("started", "mitigated", "resolved")] == [
        "bad", "ok1", "green"]
    assert m["detected"]["basis"] == "not determined"  # no shipped rule fires on this
    early = milestones(con, overrides={"resolved": "2026-03-01T08:00:00Z"})
    row = _by_name(early)["resolved"]
    assert (row["basis"], row["ts"]) == ("override", at(-3600))
    assert "the evidence gives" in row["evidence"] and row["event_id"] is None
    d = durations(early)
    assert d["in_order"] is False and d["time_to_resolve"] is None
    assert d["violations"] == [f"resolved ({at(-3600)}) is before mitigated ({at(120)})"]
    assert d["time_to_mitigate"] is None  # mitigated is part of the broken pair
    later = _by_name(milestones(con, overrides={"mitigated": at(150)}))
    assert later["resolved"]["event_id"] == "green"  # searched from the override


def test_no_signal_means_nothing_determined(tmp_path):
    con = make_db(tmp_path)
    insert(con, [{"ts": at(0)}, {"ts": at(5), "event_type": "test.pass", "outcome": "ok"}])
    m = milestones(con)
    assert m["basis"].to_list() == ["not determined"] * 4
    assert m["evidence"].to_list() == [NO_SIGNAL] * 4
    d = durations(m)
    assert [d[k] for k in ("time_to_detect", "time_to_mitigate", "time_to_resolve")] == [
        None, None, None]


def test_mtime_times_are_no_evidence(tmp_path):
    con = make_db(tmp_path)
    insert(con, [
        {"ts": at(0), "severity": "warning", "event_id": "w"},
        {"ts": at(30), "event_type": "log", "event_id": "fine"},
        # a file's mtime after `cp -r`: a day later, no raw time text
        {"ts": at(86400), "ts_quality": "derived", "severity": "error", "event_id": "moved"},
        {"ts": at(86460), "ts_quality": "derived", "event_type": "test.pass", "outcome": "ok"},
    ])
    assert incidents(con, with_alerts=False)["incident_id"].to_list() == [
        "20260301-090000Z-generic"]
    m = _by_name(milestones(con))
    assert m["mitigated"]["event_id"] == "fine" and m["resolved"]["basis"] == "not determined"


def test_cli_timeline_milestones_for_one_incident(mixed):
    _con, db, rules = mixed
    runner = CliRunner()
    result = runner.invoke(main, ["timeline", "--db", str(db), "--milestones", "--rules",
                                  str(rules), "--incident", "20260511-083458Z-codex_cli",
                                  "--json", "--limit", "5"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["incidents_in_scope"] == 6
    assert [m["record_no"] for m in data["milestones"]] == [9, 11, 24, 26]
    assert data["hidden"]["mtime"] > 0 and data["hidden"]["mtime_files"]
    table = runner.invoke(main, ["timeline", "--db", str(db), "--milestones", "--rules",
                                 str(rules), "--system", "generic", "--start",
                                 "2015-07-30T00:00:00Z", "--end", "2015-07-31T00:00:00Z"])
    assert table.exit_code == 0, table.output
    assert "time to detect not determined" in table.output
    assert "time to mitigate 2h 06m 00s" in table.output


def test_report_covers_one_incident_and_names_the_others(mixed):
    _con, db, rules = mixed
    ctx = sections.context(db=str(db), rules_path=str(rules))
    try:
        assert ctx.incident is not None and ctx.incidents is not None
        assert ctx.title.startswith("codingbuddy") and "Demo" not in ctx.title
        assert ctx.incident_id == ctx.incident["incident_id"] != "demo"
        start, end = ctx.scope.start, ctx.scope.end
        assert (start, end) == (ctx.incident["start_ts"], ctx.incident["end_ts"])
        notice = sections.header(ctx).parts[-1].text
        assert "The scope holds 6 candidate incidents" in notice
        assert "20260511-083458Z-codex_cli" in notice and "<- this report" in notice
        events = sections.events(ctx)
        assert events["ts"].min() >= start and events["ts"].max() <= end
        assert "Files whose event times come from file mtime" in repr(sections.time_quality(ctx))
        summary = sections.summary(ctx).data
        assert summary["incidents_in_scope"] == 6
        assert summary["durations"]["time_to_resolve"] is None or (
            summary["durations"]["time_to_resolve"]
            <= (end - start + timedelta(seconds=1)).total_seconds())
    finally:
        ctx.con.close()
    codex = sections.context(db=str(db), rules_path=str(rules),
                             incident="20260511-083458Z-codex_cli")
    try:
        assert codex.title == "codex_cli: 4 failure signals, 2026-05-11 08:34 .. 08:42 UTC"
        moments = repr(sections.key_moments(codex))
        assert "time to detect: 0m 07s" in moments
        assert "time to resolve: 10m 00s" in moments
    finally:
        codex.con.close()
