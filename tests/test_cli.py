"""The CLI contract: help everywhere, JSON output, exit codes 0 / 1 / 2, one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from incidentlab.cli import main
from incidentlab.loaders import all_loaders

from conftest import FIXTURES

WORKSPACE = FIXTURES / "codingbuddy" / "ws"


def _commands() -> list[str]:
    return sorted(main.commands)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert main.commands[command].help, f"{command} has no help text"
    assert "Usage:" in result.output


def test_every_loader_is_described_and_named_uniquely():
    loaders = all_loaders()
    names = [loader.name for loader in loaders]
    assert len(names) == len(set(names))
    for loader in loaders:
        assert loader.description and loader.system and loader.source and loader.version


def test_ingest_json_and_info(tmp_path):
    runner = CliRunner()
    db = tmp_path / "x.duckdb"
    result = runner.invoke(main, ["ingest", str(WORKSPACE), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["totals"]["failed"] == 0
    assert summary["totals"]["event_rows"] > 0
    info = runner.invoke(main, ["info", "--db", str(db), "--json"])
    assert info.exit_code == 0
    assert {s["system"] for s in json.loads(info.output)["systems"]} == {"codingbuddy"}


def test_ingest_exit_codes(tmp_path):
    runner = CliRunner()
    db = tmp_path / "x.duckdb"
    missing = runner.invoke(main, ["ingest", str(tmp_path / "nope"), "--db", str(db)])
    assert missing.exit_code == 2
    assert "no such file or folder" in missing.output
    broken = tmp_path / "w" / ".codingbuddy"
    shutil.copytree(WORKSPACE / ".codingbuddy", broken)
    (broken / "store.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    failed = runner.invoke(main, ["ingest", str(tmp_path / "w"), "--db", str(db)])
    assert failed.exit_code == 1
    strict = runner.invoke(main, ["ingest", str(WORKSPACE), "--db", str(tmp_path / "s.duckdb"),
                                  "--strict"])
    assert strict.exit_code == 0


def test_info_on_missing_database_says_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["info", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2
    assert "incidentlab ingest" in result.output


def test_detect_lists_claims(tmp_path):
    result = CliRunner().invoke(main, ["detect", str(WORKSPACE), "--json"])
    assert result.exit_code == 0
    claims = {item["path"].rsplit("/", 1)[1]: item["loaders"] for item in json.loads(result.output)}
    assert claims["events.jsonl"][0] == "codingbuddy.events_jsonl"
    assert claims["observe.log"][0] == "codingbuddy.observe_log"


def test_detect_says_why_a_file_is_unclaimed(tmp_path):
    (tmp_path / "README.md").write_text("# Notes\n")
    result = CliRunner().invoke(main, ["detect", str(tmp_path), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == [{"path": str(tmp_path / "README.md"), "loaders": [],
                                          "reason": "a Markdown document, not a log"}]
    table = CliRunner().invoke(main, ["detect", str(tmp_path)])
    assert "UNCLAIMED: a Markdown document, not a log" in table.output
