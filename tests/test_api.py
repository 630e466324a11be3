"""The public API: incidentlab.open(db) answers as the CLI does, in DataFrames, redacted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import incidentlab
from incidentlab.analysis import metrics, replay, timeline
from incidentlab.errors import UsageError
from incidentlab.scope import Scope
from incidentlab.store import connect

import conftest_reports

incident_db = conftest_reports.incident_db
SECRET = conftest_reports.SECRET


def test_import_is_cheap_and_names_load_lazily() -> None:
    code = ("import sys, incidentlab; heavy = [m for m in ('polars', 'duckdb', 'pyarrow', "
            "'incidentlab.api') if m in sys.modules]; print(heavy); "
            "assert not heavy; incidentlab.open; assert 'incidentlab.api' in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(incidentlab.__all__) <= set(dir(incidentlab))
    with pytest.raises(AttributeError):
        incidentlab.no_such_name  # noqa: B018


def test_three_lines_in_a_notebook_cell(incident_db: Path) -> None:
    inc = incidentlab.open(incident_db)
    timeline_df, verdicts, alerts = inc.timeline(), inc.replay().verdicts, inc.alerts()
    for df in (timeline_df, verdicts, alerts):
        assert isinstance(df, pl.DataFrame)
    assert timeline_df.height and verdicts.height and alerts.height
    assert timeline_df.to_pandas().shape == timeline_df.shape
    inc.close()


def test_answers_match_the_analysis_functions(incident_db: Path) -> None:
    con = connect(incident_db, read_only=True)
    try:
        with incidentlab.open(incident_db, redact=False) as inc:
            assert inc.timeline().equals(timeline.timeline(con))
            found = inc.replay()
            expected = replay.check(con)
            assert found.verdicts.equals(expected.verdicts)
            assert found.violations.equals(expected.violations)
            assert found.passed == expected.passed
            assert inc.alerts().equals(metrics.evaluate_rules(con))
    finally:
        con.close()


def test_one_scope_for_every_question(incident_db: Path) -> None:
    scope = Scope.build(start="2026-03-01T09:00:00Z", end="2026-03-01T09:05:00Z")
    with incidentlab.open(incident_db, start="2026-03-01T09:00:00Z",
                          end="2026-03-01T09:05:00Z") as inc:
        assert inc.scope == scope
        inside = inc.timeline()
        assert inside.height and inside["ts"].max() <= scope.end
        assert inc.timeline().equals(inc.timeline(scope))  # the default scope is the given one
        assert inc.timeline(Scope()).height > inside.height  # a call may widen it
        assert inc.timeline(pivot="2026-03-01T09:02:00Z", span_minutes=1).height <= inside.height
        wide = inc.scoped()
        assert wide.scope == Scope() and wide.timeline().height > inside.height
        for answer in (inc.classify().modes, inc.incidents(), inc.milestones(), inc.usage(),
                       inc.replay().violations):
            assert isinstance(answer, pl.DataFrame)
        with pytest.raises(UsageError):
            inc.timeline(nonsense=1)
        with pytest.raises(UsageError, match="cannot read"):
            inc.timeline(start="yesterday-ish")


def test_redacted_by_default(incident_db: Path) -> None:
    with incidentlab.open(incident_db) as inc:
        assert SECRET not in inc.timeline().write_csv()
        info = inc.info()
        assert info.events > 0 and info.loads.height >= 1
        assert isinstance(info.systems, pl.DataFrame)
    with incidentlab.open(incident_db, redact=False) as inc:
        assert SECRET in inc.timeline().write_csv()
        assert SECRET not in inc.timeline(redact=True).write_csv()


def test_milestones_and_durations(incident_db: Path) -> None:
    with incidentlab.open(incident_db) as inc:
        marks = inc.milestones()
        assert set(marks["milestone"]) == {"started", "detected", "mitigated", "resolved"}
        spans = inc.durations(marks)
        assert set(spans) >= {"time_to_detect", "time_to_mitigate", "time_to_resolve"}


def test_ingest_and_report_arguments(tmp_path: Path, incident_db: Path) -> None:
    source = incident_db.parent.parent / "evidence" / "app" / ".codingbuddy" / "events.jsonl"
    db = tmp_path / "again.duckdb"
    summary = incidentlab.ingest(source, db)
    assert summary.count("loaded") == 1 and summary.quarantined >= 1
    assert incidentlab.ingest([source], db).count("unchanged") == 1
    with pytest.raises(UsageError, match="unknown time zone"):
        incidentlab.report(db, tmp_path / "out", display_tz="Mars/Phobos")
    with pytest.raises(UsageError, match="unknown parameter"):
        incidentlab.report(db, tmp_path / "out", colour="blue")
    with pytest.raises(UsageError, match="unknown milestone"):
        incidentlab.report(db, tmp_path / "out", milestones={"fixed": "2026-03-01T10:00:00Z"})
    assert not (tmp_path / "out").exists()  # nothing started
