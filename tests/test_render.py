"""Report rendering: parameters, failures, and the end-to-end postmortem HTML."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import nbformat
import pytest

from incidentlab.errors import DatabaseNotFoundError, UsageError
from incidentlab.reports.paths import notebook_path, resolve_db
from incidentlab.reports.render import (
    ReportError,
    _engine,
    ensure_kernel,
    known_parameters,
    parse_parameters,
    render_report,
    shown_parameters,
)

import conftest_reports
from conftest_reports import SECRET

incident_db = conftest_reports.incident_db
rendered_postmortem = conftest_reports.rendered_postmortem

POSTMORTEM_SECTIONS = [
    "Summary", "Impact", "Trigger", "Root cause and contributing factors", "Findings", "Detection",
    "Response and mitigation", "Resolution", "Timeline", "Action items", "Lessons learned",
    "Supporting data: alerts", "Supporting data: replay", "Supporting data: tokens", "Provenance",
    "Appendix: runbook sections", "Appendix: events",
]


@pytest.fixture(scope="module")
def known() -> dict:
    return known_parameters(notebook_path("postmortem"))


def test_parameters_are_typed_by_the_notebook(known: dict) -> None:
    values = parse_parameters(
        ["span_minutes=15", "redact=false", "systems=codingbuddy,jido", "title=2026-03-01 outage",
         'milestones={"detected": "2026-03-01T09:20:00Z"}', "streams=[a, b]"], known)
    assert values == {
        "span_minutes": 15, "redact": False, "systems": ["codingbuddy", "jido"],
        "title": "2026-03-01 outage", "milestones": {"detected": "2026-03-01T09:20:00Z"},
        "streams": ["a", "b"],
    }
    with pytest.raises(UsageError, match="expected int"):
        parse_parameters(["span_minutes=soon"], known)


def test_unknown_parameter_is_an_error_listing_the_known_ones(known: dict, incident_db: Path,
                                                              tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown parameter: colour.*display_tz"):
        parse_parameters(["colour=red"], known)
    with pytest.raises(UsageError, match="unknown parameters: a, b"):
        render_report(incident_db, tmp_path, {"a": 1, "b": 2})
    assert not list(tmp_path.iterdir()), "nothing is executed when a name is wrong"


def test_secret_looking_values_are_not_echoed() -> None:
    shown = shown_parameters({"title": f"key {SECRET}", "api_token": "x1", "span_minutes": 5})
    assert shown == {"title": "[REDACTED]", "api_token": "[REDACTED]", "span_minutes": 5}


def test_missing_demo_database_names_make_demo(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatabaseNotFoundError, match="make demo"):
        resolve_db("demo-out/demo.duckdb")


def test_relative_db_resolves_from_parent_dirs(incident_db: Path, monkeypatch) -> None:
    root = incident_db.parent.parent
    (root / "notebooks").mkdir(exist_ok=True)
    monkeypatch.chdir(root / "notebooks")
    assert resolve_db("demo-out/demo.duckdb") == incident_db.resolve()


@pytest.mark.slow
def test_failing_cell_names_the_cell_and_the_partial_notebook(incident_db: Path,
                                                              tmp_path: Path) -> None:
    with pytest.raises(ReportError) as info:
        render_report(incident_db, tmp_path, {"display_tz": "Mars/Olympus_Mons"},
                      notebook="03_replay")
    message = str(info.value)
    assert "cell [" in message and "sections.context" in message
    assert "unknown time zone 'Mars/Olympus_Mons'" in message
    partial = tmp_path / "03_replay.ipynb"
    assert str(partial) in message and partial.is_file()
    assert not (tmp_path / "03_replay.html").exists()


def test_a_dead_kernel_leaves_the_partial_notebook_written_once_at_the_end(
        tmp_path: Path, monkeypatch) -> None:
    """The notebook is not rewritten at every cell (SAVE_EVERY_S apart at most), yet a run that
    dies still leaves the cells it ran, with their outputs."""
    import papermill as pm

    from incidentlab.reports import render

    monkeypatch.setattr(render, "SAVE_EVERY_S", 1e9)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('ran first')"),
        nbformat.v4.new_code_cell("print('ran second')"),
        nbformat.v4.new_code_cell("import os; os._exit(1)"),
        nbformat.v4.new_code_cell("print('never')"),
    ])
    source, out = tmp_path / "dies.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    writes = []
    real = pm.iorw.write_ipynb
    monkeypatch.setattr("papermill.engines.write_ipynb",
                        lambda nb, path: (writes.append(path), real(nb, path)))
    with pytest.raises(Exception, match=r"(?i)dead|died"):
        pm.execute_notebook(str(source), str(out), kernel_name=ensure_kernel(), progress_bar=False,
                            request_save_on_cell_execute=True, engine_name=_engine(False))
    assert len(writes) == 2  # the start and the end, not two per cell
    partial = nbformat.read(out, as_version=4)
    texts = ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in partial.cells]
    assert texts[:2] == ["ran first\n", "ran second\n"] and texts[3] == ""


@pytest.mark.slow
def test_postmortem_end_to_end(rendered_postmortem, incident_db: Path) -> None:
    html = rendered_postmortem.html.read_text(encoding="utf-8")
    ipynb = rendered_postmortem.ipynb.read_text(encoding="utf-8")
    headings = re.findall(r"<h2[^>]*>(.*?)<", html)
    for section in POSTMORTEM_SECTIONS:
        assert any(h.startswith(section) for h in headings), (section, headings)
    assert html.count("TO WRITE") >= 6, "places a person must write are marked"
    # provenance footer: evidence file, its sha256, loader, toolkit version, parameters
    evidence = next(incident_db.parent.parent.joinpath("evidence").rglob("events.jsonl"))
    digest = hashlib.sha256(evidence.read_bytes()).hexdigest()
    assert digest in html and str(evidence) in html
    assert "codingbuddy.events_jsonl" in html and "incidentlab 0.1.0" in html
    assert "Report parameters" in html and "Europe/Berlin" in html
    # safety: the planted secret appears nowhere, the planted markup is inert text
    assert SECRET not in html and SECRET not in ipynb
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html
    assert "onerror=alert(2)" not in re.sub(r"&lt;.*?&gt;", "", html)
    # offline and without code: plotly.js inline once (the partial bundle, in the head), nothing
    # fetched, no source shown
    assert len(re.findall(r"<script[^>]*\bsrc=", html)) == 0
    assert html.count("Plotly.newPlot(") >= 1
    assert len(re.findall(r"\* plotly\.js (?:\(basic - minified\) )?v\d", html)) == 1
    assert re.search(r"\* plotly\.js \(basic - minified\) v\d", html.split("</head>")[0])
    assert len(html.encode()) < 3_000_000
    assert "sections.pm_summary" not in html and "injected-parameters" not in html
    assert not re.search(r"<link[^>]*href=\"?https?:|@import\s+url\(\"?https?:", html)
    # times carry their zone
    assert re.search(r"2026-03-01 1\d:\d\d:\d\d CET", html)


@pytest.mark.slow
def test_executed_notebook_keeps_no_secret_parameter(rendered_postmortem) -> None:
    nb = nbformat.read(rendered_postmortem.ipynb, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "[REDACTED]" in injected[0].source
    assert nb.metadata.papermill.parameters["title"] == "[REDACTED]"
    assert rendered_postmortem.summary["incident_id"] == "inc-test"


def test_sections_run_in_process_and_degrade_without_analysis(incident_db: Path,
                                                              monkeypatch) -> None:
    from incidentlab.reports import sections

    names = ["header", "sources", "coverage", "time_quality", "quarantine", "swimlane",
             "key_moments", "event_table", "silences", "replay", "trends", "alerts", "findings",
             "pm_summary",
             "pm_impact", "pm_detection", "pm_timeline", "pm_contributing", "pm_actions",
             "pm_lessons", "provenance"]
    for missing in (False, True):
        if missing:
            for module in ("timeline", "replay", "metrics", "classify", "redact"):
                monkeypatch.setitem(sys.modules, f"incidentlab.analysis.{module}", None)
        ctx = sections.context(db=str(incident_db), title="t", display_tz="Asia/Tokyo")
        for name in names:
            section = getattr(sections, name)(ctx)
            assert section.parts, name
        assert sections.summary(ctx).data["events"] == 20
    notes = [p.text for p in sections.replay(ctx).parts]
    assert notes == ["[missing] analysis.replay is not available in this installation; "
                     "section skipped."]


def test_figures_and_tables_escape_evidence(incident_db: Path) -> None:
    from incidentlab.reports import sections
    from incidentlab.reports.display import Figure

    ctx = sections.context(db=str(incident_db), redact=False)
    table_html = sections.event_table(ctx).parts[1].markup
    assert "&lt;script&gt;alert(" in table_html and "<script>" not in table_html
    assert SECRET in table_html, "redact=false shows evidence verbatim"
    figure = next(p for p in sections.swimlane(ctx).parts if isinstance(p, Figure))
    bundle = figure._repr_mimebundle_()
    assert "<script>alert" not in bundle["text/html"] and "<img src=x" not in bundle["text/html"]
    assert "application/vnd.plotly.v1+json" in bundle


def test_report_command_usage_errors(incident_db: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from incidentlab.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["report", "--db", str(incident_db), "--out", str(tmp_path),
                                  "-p", "colour=red"])
    assert result.exit_code == 2 and "unknown parameter: colour" in result.output
    result = runner.invoke(main, ["report", "--db", str(tmp_path / "demo-out" / "demo.duckdb"),
                                  "--out", str(tmp_path)])
    assert result.exit_code == 2 and "make demo" in result.output
    listed = runner.invoke(main, ["report", "--db", "x", "--out", "y", "--list-params"])
    assert listed.exit_code == 0 and "display_tz" in listed.output


@pytest.mark.slow
def test_report_command_does_not_echo_secrets(incident_db: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from incidentlab.cli import main

    result = CliRunner().invoke(main, [
        "report", "--db", str(incident_db), "--out", str(tmp_path), "--notebook", "replay",
        "-p", f"title=leak {SECRET}", "--json"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "[REDACTED]" in result.output
    assert SECRET not in (tmp_path / "03_replay.ipynb").read_text(encoding="utf-8")
    assert SECRET not in (tmp_path / "03_replay.html").read_text(encoding="utf-8")
