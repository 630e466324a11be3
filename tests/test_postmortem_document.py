"""The rendered postmortem read as a document: header, one severity reason, cited runbooks, runs."""

from __future__ import annotations

import re
from html import unescape

import pytest

from incidentlab.runbooks import cited, reference

import conftest_reports

incident_db = conftest_reports.incident_db
rendered_postmortem = conftest_reports.rendered_postmortem


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


def test_a_real_data_report_reads_as_a_draft(mixed, tmp_path):
    """The Codex rollout slice of the mixed database (real evidence, not the demo)."""
    from incidentlab.reports.render import render_report

    _con, db, _rules = mixed
    result = render_report(db, tmp_path, {"incident": "20260511-083458Z-codex_cli"})
    html = result.html.read_text(encoding="utf-8")
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
