"""`incidentlab check` exits 1 when a run has a finding at or above --fail-on; `findings` lists them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_findings import EDIT_PY, PYTEST, READ_A, call, steps

from incidentlab.cli import main
from incidentlab.commands.output import EXIT_OK, EXIT_PROBLEMS

from analysis_helpers import insert, make_db

DETECTORS = ["--detector", "unverified_edits", "--detector", "orphan_tool_call"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    con = make_db(tmp_path)
    # s1: an edit never verified (warning); s2: edited and tested (no finding)
    insert(con, [*steps(READ_A, EDIT_PY), *steps(EDIT_PY, PYTEST, stream="s2")])
    con.close()
    return str(tmp_path / "x.duckdb")


@pytest.mark.parametrize(("fail_on", "code"), [("info", EXIT_PROBLEMS), ("warning", EXIT_PROBLEMS),
                                               ("error", EXIT_OK), ("critical", EXIT_OK)])
def test_check_exit_code_follows_the_level(db: str, fail_on: str, code: int) -> None:
    result = CliRunner().invoke(main, ["check", "--db", db, "--fail-on", fail_on, *DETECTORS])
    assert result.exit_code == code, result.output
    assert ("FAIL  claude_code s1" in result.output) == (code == EXIT_PROBLEMS)
    assert "s2" not in result.output.split("PASS:")[0].split("FAIL:")[0]


def test_check_json_and_scope(db: str) -> None:
    result = CliRunner().invoke(main, ["check", "--db", db, "--fail-on", "warning", "--json", *DETECTORS])
    assert result.exit_code == EXIT_PROBLEMS
    data = json.loads(result.output)
    assert data["verdict"] == "fail" and data["fail_on"] == "warning"
    assert data["runs"] == [{"system": "claude_code", "stream": "s1", "verdict": "fail", "info": 0,
                             "warning": 1, "error": 0, "critical": 0}]
    scoped = CliRunner().invoke(main, ["check", "--db", db, "--fail-on", "info", "--stream", "s2",
                                       "--json", *DETECTORS])
    assert scoped.exit_code == EXIT_OK and json.loads(scoped.output)["runs"] == []


def test_check_exits_on_a_problem_without_detector_filter(tmp_path: Path) -> None:
    con = make_db(tmp_path)
    insert(con, [*call(0, *READ_A, 0.0), *call(1, *READ_A, 1.0, outcome=None)])  # an orphan call
    con.close()
    result = CliRunner().invoke(main, ["check", "--db", str(tmp_path / "x.duckdb"), "--fail-on",
                                       "warning", "--detector", "orphan_tool_call"])
    assert result.exit_code == EXIT_PROBLEMS


def test_findings_lists_code_link_time_and_evidence(db: str) -> None:
    result = CliRunner().invoke(main, ["findings", "--db", db, "--json", *DETECTORS])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)["findings"]
    assert row["code"] == "FM-3.2" and row["code_url"] == "https://arxiv.org/abs/2503.13657"
    assert row["event_ids"] == ["s1-call1", "s1-result1"] and row["ts"].startswith("2026-03-01T09:01")
    listed = CliRunner().invoke(main, ["findings", "--db", db, "--detector", "list"])
    assert "unverified_edits" in listed.output and "FM-3.2" in listed.output
    unknown = CliRunner().invoke(main, ["findings", "--db", db, "--detector", "nope"])
    assert unknown.exit_code != 0 and "unknown detector" in unknown.output


def test_timeline_lists_the_findings_of_its_scope(db: str) -> None:
    """s1 edits and never verifies (one finding); a scope of s2 alone holds none."""
    out = json.loads(CliRunner().invoke(main, ["timeline", "--db", db, "--findings", "--json"]).output)
    [finding] = [f for f in out["findings"] if f["detector"] == "unverified_edits"]
    assert finding["stream"] == "s1" and finding["code"] == "FM-3.2"
    assert set(finding["event_ids"]) <= {e["event_id"] for e in out["events"]}
    only_s2 = json.loads(CliRunner().invoke(
        main, ["timeline", "--db", db, "--findings", "--stream", "s2", "--json"]).output)
    assert only_s2["findings"] == []
    text = CliRunner().invoke(main, ["timeline", "--db", db, "--findings", "--stream", "s2"]).output
    assert "No findings in scope" in text
