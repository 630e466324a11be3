"""Batch rendering: parallel processes, one folder per incident, failures isolated and reported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from incidentlab.cli import main
from incidentlab.errors import UsageError
from incidentlab.reports.batch import load_spec

import conftest_reports

incident_db = conftest_reports.incident_db

SPEC = {
    "defaults": {"db": "demo-out/demo.duckdb", "display_tz": "UTC"},
    "incidents": [
        {"incident_id": "inc-all", "title": "Whole incident"},
        {"incident_id": "inc-slice", "title": "Around the loop", "pivot": "2026-03-01T09:05:00Z",
         "span_minutes": 5, "display_tz": "America/New_York"},
        {"incident_id": "inc-sev", "title": "Author overrides", "severity": "SEV1",
         "systems": ["codingbuddy"], "milestones": {"detected": "2026-03-01T09:03:00Z"}},
        {"incident_id": "inc-broken", "title": "Broken on purpose", "display_tz": "Mars/Phobos"},
    ],
}


def test_spec_formats_and_errors(tmp_path: Path) -> None:
    toml = tmp_path / "spec.toml"
    toml.write_text('notebook = "03_replay"\n[defaults]\ndb = "x.duckdb"\n\n'
                    '[[incidents]]\nincident_id = "a/b c"\n\n[[incidents]]\ntitle = "t"\n')
    jobs, meta = load_spec(toml)
    assert [j.folder for j in jobs] == ["a_b_c", "incident-2"]
    assert meta["notebook"] == "03_replay" and jobs[1].params["db"] == "x.duckdb"
    dup = tmp_path / "dup.yaml"
    dup.write_text(yaml.safe_dump({"incidents": [{"incident_id": "x"}, {"incident_id": "x"}]}))
    with pytest.raises(UsageError, match="used twice"):
        load_spec(dup)
    (tmp_path / "bad.yaml").write_text("incidents: 3\n")
    with pytest.raises(UsageError, match="needs a list"):
        load_spec(tmp_path / "bad.yaml")


@pytest.mark.slow
def test_batch_in_parallel_isolates_the_broken_incident(incident_db, tmp_path: Path) -> None:
    spec = incident_db.parent.parent / "batch.yaml"
    spec.write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["batch", str(spec), "--out", str(out), "--jobs", "2"])
    assert result.exit_code == 1, result.output
    assert "3 of 4 incidents rendered" in result.output
    assert "failed inc-broken" in result.output and "Mars/Phobos" in result.output
    for ok in ("inc-all", "inc-slice", "inc-sev"):
        assert (out / ok / "05_postmortem.html").is_file(), ok
    assert not (out / "inc-broken" / "05_postmortem.html").exists()
    # The unknown zone is refused before a kernel starts: no partial notebook to look at.
    assert not (out / "inc-broken" / "05_postmortem.ipynb").exists()
    assert "UsageError: display_tz: unknown time zone 'Mars/Phobos'" in result.output
    outcomes = {o["incident_id"]: o for o in json.loads((out / "batch.json").read_text())}
    assert [o["status"] for o in outcomes.values()] == ["ok", "ok", "ok", "failed"]
    assert outcomes["inc-sev"]["summary"]["severity"] == "SEV1"
    assert outcomes["inc-sev"]["summary"]["milestones"]["detected"].startswith(
        "2026-03-01T09:03:00")
    index = (out / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr class=\"(ok|failed)\"><td>([^<]+)</td>", index)
    assert rows == [("ok", "inc-all"), ("ok", "inc-slice"), ("ok", "inc-sev"),
                    ("failed", "inc-broken")]
    assert 'href="inc-all/05_postmortem.html"' in index and "SEV1" in index
    assert "<script" not in index
    # Milestones in incident order with the report's zone, TTx as columns, never "None".
    for th in ("<th>TTD</th>", "<th>TTM</th>", "<th>TTR</th>"):
        assert th in index
    listed = re.findall(r"<li>(started|detected|mitigated|resolved): ", index)
    assert listed and all(listed[i:i + 4] == ["started", "detected", "mitigated", "resolved"]
                          for i in range(0, len(listed), 4))
    assert re.search(r"<li>detected: 2026-03-01 \d\d:\d\d:\d\d \w+", index)
    assert "T09:03:00" not in index and ">None<" not in index
    slice_html = (out / "inc-slice" / "05_postmortem.html").read_text(encoding="utf-8")
    assert "America/New_York" in slice_html and re.search(r"\d\d:\d\d:\d\d EST", slice_html)
