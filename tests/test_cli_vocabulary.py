"""One CLI vocabulary: the same filter options everywhere, one redaction switch, ISO times and
human durations in JSON, --strict on a re-run, -p checked before a kernel, completion."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from incidentlab.cli import main
from incidentlab.commands.output import human_duration, json_ready

import conftest_reports

incident_db = conftest_reports.incident_db

SCOPE = {"start": None, "end": None, "pivot": None, "span": None, "system": True,
         "project": True, "stream": True, "correlation_id": None}
FILTERING = ("timeline", "export", "incidents", "replay", "alerts", "classify", "usage",
             "report", "batch")


def _options(command: str) -> dict[str, click.Option]:
    return {opt.lstrip("-").replace("-", "_"): p for p in main.commands[command].params
            if isinstance(p, click.Option) for opt in p.opts}


@pytest.mark.parametrize("command", FILTERING)
def test_every_filtering_command_has_the_scope_options(command: str) -> None:
    options = _options(command)
    reference = _options("timeline")
    for name, multiple in SCOPE.items():
        assert name in options, f"{command} lacks --{name.replace('_', '-')}"
        ours, theirs = options[name], reference[name]
        assert (ours.multiple, ours.default, ours.help, ours.type.name) == (
            theirs.multiple, theirs.default, theirs.help, theirs.type.name), (command, name)
        assert ours.multiple == bool(multiple)


@pytest.mark.parametrize("command", [c for c in main.commands if c not in
                                     ("demo", "detect", "loaders", "ingest", "batch", "lake")])
def test_one_redaction_switch_and_db_option(command: str) -> None:
    options = _options(command)
    assert "no_redact" in options and not options["no_redact"].hidden, command
    assert options["db"].help == "DuckDB file of the incident." or command == "report"


def test_listing_options_are_shared_and_the_old_name_is_hidden() -> None:
    timeline, export = _options("timeline"), _options("export")
    for name in ("type", "min_severity"):
        assert (timeline[name].help, timeline[name].multiple) == (
            export[name].help, export[name].multiple)
    assert export["event_type"].hidden and "event_type" not in {
        o for p in main.commands["export"].get_params(click.Context(main)) if not getattr(
            p, "hidden", False) for o in p.opts}


def test_export_type_filter_matches_timeline(incident_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(main, ["timeline", "--db", str(incident_db), "--type",
                                             "tool.*", "--json", "--limit", "1000"]).output)
    types = {e["event_type"] for e in listed["events"]}
    assert types and all(t.startswith("tool.") for t in types)
    for flag in ("--type", "--event-type"):
        out = tmp_path / f"{flag.strip('-')}.jsonl"
        result = runner.invoke(main, ["export", "--db", str(incident_db), "--format", "jsonl",
                                      "--out", str(out), flag, "tool.*", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["rows"] == listed["count"]
    bad = runner.invoke(main, ["export", "--db", str(incident_db), "--format", "timesketch",
                               "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "*.csv" not in bad.output and "*.jsonl" in bad.output


def test_json_times_are_iso_and_durations_have_a_human_form(incident_db: Path) -> None:
    result = CliRunner().invoke(main, ["timeline", "--db", str(incident_db), "--json",
                                       "--milestones"])
    data = json.loads(result.output)
    ts = next(e["ts"] for e in data["events"] if e["ts"])
    assert "T" in ts and datetime.fromisoformat(ts).tzinfo is not None
    spans = data["durations"]
    for key in ("time_to_detect", "time_to_mitigate", "time_to_resolve"):
        assert f"{key}_human" in spans
        if spans[key] is not None:
            assert spans[f"{key}_human"] == human_duration(spans[key])
    assert all("T" in m["ts"] for m in data["milestones"] if m["ts"])


def test_json_ready() -> None:
    when = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert json_ready({"ts": when, "seconds": 3723.0, "lag": timedelta(seconds=5),
                       "nested": [{"load_seconds": 0.25}]}) == {
        "ts": "2026-03-01T12:00:00+00:00", "seconds": 3723.0, "seconds_human": "1h 02m 03s",
        "lag": 5.0, "lag_human": "5s", "nested": [{"load_seconds": 0.25,
                                                   "load_seconds_human": "0.2s"}]}
    assert human_duration(None) is None and human_duration(245) == "4m 05s"
    assert human_duration(90061) == "1d 01h 01m"


def test_strict_fails_on_a_rerun_with_quarantine_held(incident_db: Path, tmp_path: Path) -> None:
    source = incident_db.parent.parent / "evidence" / "app" / ".codingbuddy" / "events.jsonl"
    db = tmp_path / "strict.duckdb"
    runner = CliRunner()
    first = runner.invoke(main, ["ingest", str(source), "--db", str(db), "--strict"])
    assert first.exit_code == 1, first.output
    again = runner.invoke(main, ["ingest", str(source), "--db", str(db), "--strict", "--json"])
    assert again.exit_code == 1, again.output
    data = json.loads(again.output)
    assert data["totals"]["quarantined"] == 0 and data["strict"]["quarantined_in_db"] >= 1
    lenient = runner.invoke(main, ["ingest", str(source), "--db", str(db)])
    assert lenient.exit_code == 0


def test_report_list_params_needs_no_database() -> None:
    result = CliRunner().invoke(main, ["report", "--list-params"])
    assert result.exit_code == 0, result.output
    assert "display_tz" in result.output and "milestones" in result.output
    as_json = json.loads(CliRunner().invoke(main, ["report", "--list-params", "--json"]).output)
    assert as_json["span_minutes"]["default"] == "30"
    missing = CliRunner().invoke(main, ["report"])
    assert missing.exit_code == 2 and "--db and --out" in missing.output


@pytest.mark.parametrize("args, message", [
    (["-p", "display_tz=Mars/Phobos"], "unknown time zone"),
    (["-p", "start=not-a-time"], "cannot read"),
    (["--pivot", "noon-ish"], "cannot read"),
    (["-p", "milestones={fixed: 2026-03-01T10:00:00Z}"], "unknown milestone"),
    (["-p", "milestones={resolved: whenever}"], "cannot read"),
    (["--system", "jido", "-p", "systems=jido"], "both as an option and as -p"),
])
def test_report_parameters_are_checked_before_a_kernel(incident_db: Path, tmp_path: Path,
                                                       monkeypatch, args, message) -> None:
    from incidentlab.reports import render

    def no_kernel(*_a, **_k):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(render, "render_report", no_kernel)
    result = CliRunner().invoke(main, ["report", "--db", str(incident_db), "--out",
                                       str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_report_scope_options_and_no_redact_become_parameters(incident_db: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    from incidentlab.reports import render

    seen: dict = {}

    def fake(db, out, values, notebook):
        seen.update(values)
        raise SystemExit(0)

    monkeypatch.setattr(render, "render_report", fake)
    CliRunner().invoke(main, ["report", "--db", str(incident_db), "--out", str(tmp_path),
                              "--system", "codingbuddy", "--system", "jido", "--pivot",
                              "2026-03-01T09:05:00Z", "--span", "5", "--no-redact"])
    assert seen == {"systems": "codingbuddy,jido", "pivot": "2026-03-01T09:05:00Z",
                    "span_minutes": 5.0, "redact": False}


def test_completion_of_loaders_and_notebooks() -> None:
    from incidentlab.commands.ingest_cmds import complete_loaders
    from incidentlab.commands.report_cmds import complete_notebooks

    loaders = [c.value for c in complete_loaders(None, None, "codingbuddy.")]
    assert "codingbuddy.events_jsonl" in loaders
    assert all(name.startswith("codingbuddy.") for name in loaders)
    notebooks = [c.value for c in complete_notebooks(None, None, "")]
    assert {"05_postmortem", "postmortem", "all"} <= set(notebooks)
    env = {"_INCIDENTLAB_COMPLETE": "bash_complete", "COMP_WORDS": "incidentlab report --notebook ",
           "COMP_CWORD": "3", "PATH": str(Path(sys.executable).parent)}
    script = Path(sys.executable).with_name("incidentlab")
    out = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert "05_postmortem" in out.stdout, out.stdout + out.stderr


def test_python_dash_m_is_the_same_command_line() -> None:
    result = subprocess.run([sys.executable, "-m", "incidentlab", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "timeline" in result.stdout
