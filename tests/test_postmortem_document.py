"""The rendered postmortem read as a document: header, one severity reason, cited runbooks, runs, findings."""

from __future__ import annotations

import re
import shutil
from html import unescape
from pathlib import Path

import pytest

from incidentlab.analysis.findings import DETECTORS
from incidentlab.runbooks import cited, reference

import conftest_reports

incident_db = conftest_reports.incident_db
rendered_postmortem = conftest_reports.rendered_postmortem

MINI_SWE = Path(__file__).parent / "fixtures" / "findings" / "mini-swe-agent"
# The postmortem's sections in order (h2 headings, by their start).
SECTION_ORDER = [
    "Summary", "Impact", "Trigger", "Root cause", "Findings", "Detection", "Response",
    "Resolution", "Timeline", "Action items", "Lessons learned", "Supporting data: alerts",
    "Supporting data: replay", "Supporting data: tokens", "Provenance",
    "Appendix: runbook sections", "Appendix: events",
]


def _text(html: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture(scope="module")
def html(rendered_postmortem) -> str:
    return rendered_postmortem.html.read_text(encoding="utf-8")


def test_header_says_date_status_authors_and_one_severity_reason(html):
    text = _text(html)
    for fact in ("incident inc-test", "date 2026-03-01", "status draft", "authors TO WRITE",
                 "reviewers TO WRITE"):
        assert fact in text, fact
    severity = re.search(r"severity (SEV\d)", text)
    assert severity, "a severity is given"
    sev = severity.group(1)
    assert f"{sev} ({sev}" not in text and f"{sev}: {sev}" not in text, "said once"
    assert "None" not in re.findall(r"severity (\w+)", text)


def test_runbook_references_name_system_and_section_and_resolve(html):
    links = re.findall(r'<a href="#(runbook-[^"]+)">([^<]+)</a>', html)
    assert links, "alerts and failure modes link their runbook lines"
    anchors = set(re.findall(r'<section class="il-runbook" id="([^"]+)"', html))
    for anchor, label in links:
        assert anchor in anchors, f"{label} links to a section shipped in the report"
        assert re.search(r"(CodingBuddy|Jido\.Code\.Server|coding-loops|curriculum-builder|"
                         r"TappsCodingAgents) runbook, .+, line \d+", unescape(label)), label
    # No opaque seed file name stands alone in the tables any more.
    text = _text(html.split('<section class="il-runbook"')[0])
    assert not re.search(r"\b00\d_[0-9a-f]{16}\.txt:\d+", text)


def test_runbook_markdown_is_rendered_and_inert():
    ref = reference("001_e006893428be93e1.txt", 25)
    assert ref is not None and ref.system == "Jido.Code.Server"
    assert ref.section == "Primary Signals and Alert Thresholds › Tool execution"
    assert ref.quote == "- alert when sustained failure ratio exceeds 5% over 5 minutes."
    assert [r.line for r in cited(["x 001_e006893428be93e1.txt:25 y", "999_nope.txt:1"])] == [25]
    assert reference("001_e006893428be93e1.txt", 10_000) is None
    from incidentlab.reports.citations import _MARKDOWN

    rendered = _MARKDOWN("`tool.failed` <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<code>tool.failed</code>" in rendered and "<script>" not in rendered
    assert "javascript:" not in rendered


def test_timeline_collapses_repeats_into_cited_runs(html):
    text = _text(html)
    runs = re.findall(r"(\d+)x (tool\.result|llm\.\w+|tool\.\w+) ", text)
    assert runs and max(int(n) for n, _ in runs) >= 5, "repeated failures are one line each"
    assert "repeated events collapsed into runs" in text
    section = text.split("Timeline", 1)[1].split("Action items", 1)[0]
    assert section.index("Milestones: each cites") < section.index("collapsed into runs")


def test_trigger_response_resolution_cite_evidence_or_say_not_determined(html):
    text = _text(html)
    for section, nxt in (("Trigger", "Root cause"), ("Response and mitigation", "Resolution"),
                         ("Resolution", "Timeline")):
        body = text.split(f"{section} ¶", 1)[1].split(nxt, 1)[0]
        assert re.search(r"event [0-9a-f]{16}:\d+", body) or "not determined" in body, section
        assert "TO WRITE" in body


@pytest.fixture(scope="module")
def codex_html(mixed, tmp_path_factory) -> str:
    """The report of the Codex rollout slice of the mixed database (real evidence, not the demo)."""
    from incidentlab.reports.render import render_report

    _con, db, _rules = mixed
    result = render_report(db, tmp_path_factory.mktemp("codex"),
                           {"incident": "20260511-083458Z-codex_cli"})
    return result.html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def mini_swe_html(tmp_path_factory) -> str:
    """The real mini-swe-agent trajectory of tests/fixtures/findings (MIT) through `incidentlab
    ingest` and `incidentlab report`: one unverified edit, its events untimed."""
    from click.testing import CliRunner

    from incidentlab.cli import main

    root = tmp_path_factory.mktemp("mini-swe")
    shutil.copytree(MINI_SWE, root / "evidence")
    db, out = root / "m.duckdb", root / "report"
    runner = CliRunner()
    ingested = runner.invoke(main, ["ingest", str(root / "evidence"), "--db", str(db)])
    assert ingested.exit_code == 0, ingested.output
    rendered = runner.invoke(main, ["report", "--db", str(db), "--out", str(out),
                                    "-p", "display_tz=Europe/Berlin"])
    assert rendered.exit_code == 0, rendered.output
    return (out / "05_postmortem.html").read_text(encoding="utf-8")


def _sections(html: str) -> dict[str, str]:
    """h2 heading -> the HTML up to the next h2."""
    parts = re.split(r"(<h2[^>]*>.*?</h2>)", html)
    return {re.sub(r"<[^>]+>|¶", "", head).strip(): body
            for head, body in zip(parts[1::2], parts[2::2], strict=True)}


def _check_order(html: str) -> None:
    headings = list(_sections(html))
    found = [next(h for h in headings if h.startswith(name)) for name in SECTION_ORDER]
    assert found == [h for h in headings if any(h.startswith(n) for n in SECTION_ORDER)]


def _finding_rows(html: str) -> list[str]:
    return re.findall(r'<tr class="il-finding[^"]*".*?</tr>', _sections(html)["Findings"], re.S)


def _appendix_events(html: str) -> dict[str, str]:
    """Rows of the events appendix that carry an id: id -> row."""
    appendix = _sections(html)["Appendix: events"]
    return {m.group(1): m.group(0) for m in re.finditer(
        r'<tr class="il-cited-event" id="([^"]+)">.*?</tr>', appendix, re.S)}


def _assert_no_findings_line(html: str) -> None:
    body = _sections(html)["Findings"]
    assert _finding_rows(html) == []
    lines = re.findall(r'<div class="il-notice il-ok">(.*?)</div>', body, re.S)
    assert len(lines) == 1 and unescape(lines[0]).startswith("No findings: "), lines
    assert all(d.name in lines[0] for d in DETECTORS), "the line names what was checked"
    assert "in scope" in lines[0]


def test_findings_section_in_order_with_the_failing_loop(html):
    """Read from conftest_reports.incident_lines: session 1 proposes `make test` six times, each
    result failing (exit 2), from 09:01:30 UTC (10:01:30 in Berlin); nothing else repeats."""
    _check_order(html)
    [row] = _finding_rows(html)
    assert '<a class="il-code" href="https://arxiv.org/abs/2503.13657">MAST FM-1.3</a>' in row
    assert "repeated 6 times" in row and "2026-03-01 10:01:30 CET" in row
    assert "make test" in unescape(row)


def test_a_real_data_report_places_findings_and_says_none_were_found(codex_html):
    _check_order(codex_html)
    _assert_no_findings_line(codex_html)
    assert "over 1 run in scope" in _text(_sections(codex_html)["Findings"])


def test_a_real_report_with_findings_cites_events_of_its_appendix(mini_swe_html):
    """Read from the trajectory (as in tests/test_findings.py): the final `cat > ... << 'EOF'`
    rewrite of tests/missing_colon.py comes after the last run, and nothing carries a time."""
    html = mini_swe_html
    _check_order(html)
    [row] = _finding_rows(html)
    assert '<a class="il-code" href="https://arxiv.org/abs/2503.13657">MAST FM-3.2</a>' in row
    assert "<td>warning</td>" in row and "<td>no time in evidence</td>" in row
    assert "mini_swe_agent · github_issue" in row
    assert "cat &gt; tests/missing_colon.py" in row and "No cited event carries a time." in row
    links = re.findall(r'<a class="il-event-link" href="#([^"]+)">([^<]+)</a>', row)
    assert len(links) == 2
    appendix = _appendix_events(html)
    for anchor, event_id in links:
        assert anchor in appendix, f"{event_id} is linked to a row of the events appendix"
        assert f"<td>{event_id}</td>" in appendix[anchor]
    call, result = (appendix[a] for a, _ in links)
    assert "<td>tool.call</td>" in call and "cat &gt; tests/missing_colon.py" in call
    assert "<td>tool.result</td>" in result
    assert "no step repetition" in _text(_sections(html)["Findings"])
    assert "not marked on the chart: 1" in _text(_sections(html)["Timeline"])


def test_a_real_data_report_reads_as_a_draft(codex_html):
    """The Codex rollout slice of the mixed database (real evidence, not the demo)."""
    html = codex_html
    headings = re.findall(r"<h2[^>]*>(.*?)<", html)
    for section in ("Summary", "Impact", "Trigger", "Root cause", "Detection", "Response",
                    "Resolution", "Timeline", "Action items", "Lessons learned", "Provenance"):
        assert any(h.startswith(section) for h in headings), (section, headings)
    text = _text(html)
    assert "codex_cli: 4 failure signals" in text and "Demo" not in text
    assert "systems involved codex_cli" in text
    for label in ("time to detect", "time to mitigate", "time to resolve"):
        value = re.search(label + r" (\d+h \d\dm \d\ds|\d+m \d\ds|not determined \([^)]*\))",
                          text)
        assert value, f"{label}: a duration or why there is none"
    assert not re.search(r"\bNone\b", text.split("Report parameters")[0])
