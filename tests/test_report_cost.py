"""Reports cost what they show: only shown rows are redacted, firings are evaluated once when the
incident's window holds the asked scope's evidence, bounded listings say so, progress lines."""

from __future__ import annotations

import polars as pl
import pytest

from incidentlab.reports import context as report
from incidentlab.reports import sections
from incidentlab.reports.display import table
from incidentlab.reports.render import render_report
from incidentlab.reports.secrets import make_redactor

import conftest_reports
from conftest_reports import SECRET

incident_db = conftest_reports.incident_db
demo_db = conftest_reports.demo_db


@pytest.fixture
def ctx(demo_db):
    ctx = sections.context(db=str(demo_db))
    yield ctx
    ctx.con.close()


def test_a_table_redacts_only_the_rows_it_shows(ctx):
    df = pl.DataFrame({"n": list(range(300)),
                       "text": [f"row {i} token {SECRET}" if i in (5, 250) else f"row {i}"
                                for i in range(300)]})
    ctx.redactor = make_redactor(True)
    shown = ctx.table(df, "rows", max_rows=200)
    assert ctx.redactor.count == 1, "row 250 is not shown, so it is not scanned"
    whole = table(report.clean_frame(make_redactor(True), df), ctx.tz, caption="rows",
                  max_rows=200)
    assert (shown.markup, shown.text) == (whole.markup, whole.text)
    assert "100 more rows not shown" in shown.markup and SECRET not in shown.markup
    small = ctx.table(df.head(10), "rows")
    assert small.markup == table(report.clean_frame(make_redactor(True), df.head(10)), ctx.tz,
                                 caption="rows").markup


def test_sections_redact_what_they_draw(ctx):
    raw = report.raw_events(ctx)
    assert raw.height and report.events(ctx).height == raw.height
    shown = repr(sections.swimlane(ctx)) + repr(sections.event_table(ctx))
    assert SECRET not in shown


def test_the_incident_firings_are_reused_when_the_window_holds_the_same_evidence(demo_db):
    from incidentlab.analysis.metrics import evaluate_rules

    whole = sections.context(db=str(demo_db), incident="all")
    try:
        assert whole.scope == whole.asked and report.same_evidence(whole)
        assert report.raw_alerts(whole) is whole.cache["asked_alerts"]
    finally:
        whole.con.close()
    narrowed = sections.context(db=str(demo_db))
    try:
        assert narrowed.scope != narrowed.asked
        fired = report.raw_alerts(narrowed)
        fresh = evaluate_rules(narrowed.con, narrowed.scope)
        keys = ["rule", "level", "first_fired"]
        assert fired.drop("event_ids").sort(keys).equals(fresh.drop("event_ids").sort(keys))
        if not report.same_evidence(narrowed):
            assert fired is not narrowed.cache["asked_alerts"]
    finally:
        narrowed.con.close()


def test_same_evidence_when_only_the_bounds_differ_and_the_evaluation_window_is_the_same(demo_db):
    """Events without a time do not make the windows differ (no rule reads them in a window),
    and then the reused firings are exactly a fresh evaluation's."""
    import dataclasses

    from incidentlab.analysis.metrics import evaluate_rules, evaluation_window

    ctx = sections.context(db=str(demo_db), incident="all")
    try:
        [(untimed,)] = ctx.con.execute("SELECT count(*) FROM events WHERE ts IS NULL").fetchall()
        assert untimed > 0, "the demo holds events without a time: the case this covers"
        start, end, _last = evaluation_window(ctx.con, ctx.asked)
        ctx.scope = ctx.asked.narrowed(start, end)
        assert ctx.scope != ctx.asked and report.same_evidence(ctx)
        keys = ["rule", "group", "level", "first_fired"]
        assert (evaluate_rules(ctx.con, ctx.scope).sort(keys)
                .equals(evaluate_rules(ctx.con, ctx.asked).sort(keys)))
        ctx.scope = ctx.asked.narrowed(start, start)
        assert not report.same_evidence(ctx)
        ctx.scope = dataclasses.replace(ctx.asked.narrowed(start, end), systems=("jido",))
        assert not report.same_evidence(ctx), "a scope with other systems reads other rows"
    finally:
        ctx.con.close()


def test_a_window_beyond_the_event_limit_says_what_it_lists(ctx, monkeypatch):
    monkeypatch.setattr(report, "EVENT_LIMIT", 50)
    monkeypatch.setattr(sections, "EVENT_LIMIT", 50)
    ctx.cache.pop("raw_events", None)
    assert report.raw_events(ctx).height == 50
    total = report.counts(ctx)["events"]
    for section in (sections.swimlane(ctx), sections.event_table(ctx)):
        text = repr(section)
        assert f"The window holds {total:,} events" in text
        assert "use the latest 50 of them" in text


def _cell_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("03_replay [")]


def test_progress_lines_name_each_cell_and_are_off_without_a_terminal(incident_db, tmp_path,
                                                                        capfd):
    render_report(incident_db, tmp_path / "on", {"incident_id": "p"}, notebook="03_replay",
                  progress=True)
    lines = _cell_lines(capfd.readouterr().err)
    assert lines and lines[0].startswith("03_replay [1/")
    assert any("sections.replay(ctx)" in ln for ln in lines)
    n = lines[0].split("/")[1].split("]")[0]
    assert lines[-1].startswith(f"03_replay [{n}/{n}]")
    render_report(incident_db, tmp_path / "off", {"incident_id": "p"}, notebook="03_replay")
    assert _cell_lines(capfd.readouterr().err) == []


def test_the_replay_chart_shows_the_streams_with_the_most_violations(ctx, monkeypatch):
    from incidentlab.analysis.replay import VIOLATION_SCHEMA, ReplayReport
    from incidentlab.reports.display import Figure

    # stream s<i> has i + 1 violations: the 30 charted are s44 .. s15
    rows = [{"stream": f"s{i}", "system": "jido", "rule": "seq_gap" if k % 2 else "seq_start",
             "severity": "error", "position": k, "record_no": k, "expected": "1", "found": "2",
             "event_id": f"e{i}-{k}", "source": "x"} for i in range(45) for k in range(i + 1)]
    violations = pl.DataFrame(rows, schema=VIOLATION_SCHEMA)
    verdicts = pl.DataFrame({"stream": [f"s{i}" for i in range(45)], "system": ["jido"] * 45,
                             "passed": [False] * 45, "violations": [i + 1 for i in range(45)]})
    monkeypatch.setattr(sections, "replay_report",
                        lambda _ctx: ReplayReport(violations, verdicts, pl.DataFrame()))
    section = sections.replay(ctx)
    [figure] = [p for p in section.parts if isinstance(p, Figure)]
    charted = {x for trace in figure.fig.data for x in trace.x}
    assert charted == {f"s{i}" for i in range(15, 45)}
    assert sum(sum(trace.y) for trace in figure.fig.data) == sum(range(16, 46))
    assert "the 30 with the most, of 45" in figure.fig.layout.title.text
    assert any("15 more streams with violations are not charted" in getattr(p, "text", "")
               for p in section.parts)
