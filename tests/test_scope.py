"""One Scope for every analysis: its SQL, its validation, and a scoped report holding nothing from outside."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest
from click.testing import CliRunner

from incidentlab.analysis import classify, incidents, metrics, replay, timeline
from incidentlab.cli import main
from incidentlab.errors import UsageError
from incidentlab.reports import context as report
from incidentlab.reports import sections
from incidentlab.scope import Scope

from conftest import rows


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("fields", "start", "end"), [
    ({}, None, None),
    ({"start": "2026-03-01T09:00:00Z"}, utc(2026, 3, 1, 9), None),
    ({"pivot": "2026-03-01T10:00:00Z"}, utc(2026, 3, 1, 9, 30), utc(2026, 3, 1, 10, 30)),
    ({"pivot": "2026-03-01T10:00:00", "span_minutes": 5}, utc(2026, 3, 1, 9, 55),
     utc(2026, 3, 1, 10, 5)),
    # A pivot inside start/end: the window is the intersection.
    ({"pivot": "2026-03-01T10:00:00Z", "start": "2026-03-01T09:50:00Z"},
     utc(2026, 3, 1, 9, 50), utc(2026, 3, 1, 10, 30)),
    ({"start": "2026-03-01T11:00:00+01:00"}, utc(2026, 3, 1, 10), None),
])
def test_build_resolves_the_window(fields, start, end):
    scope = Scope.build(**fields)
    assert (scope.start, scope.end) == (start, end)


@pytest.mark.parametrize(("fields", "message"), [
    ({"start": "yesterday-ish"}, "start: cannot read"),
    ({"pivot": "x"}, "pivot: cannot read"),
    ({"start": "2026-03-02T00:00Z", "end": "2026-03-01T00:00Z"}, "starts after it ends"),
    ({"pivot": "2026-03-01T10:00Z", "span_minutes": "ten"}, "is not a number"),
    ({"pivot": "2026-03-01T10:00Z", "span_minutes": -1}, "must be above 0"),
    ({"streams": ["a\x00b"]}, "NUL"),
])
def test_build_refuses_bad_values(fields, message):
    with pytest.raises(UsageError, match=message):
        Scope.build(**fields)


def test_sql_escapes_values_and_lists_come_from_text():
    scope = Scope.build(systems="codex_cli, jido", streams=["it's"], correlation_id="c'1")
    assert scope.systems == ("codex_cli", "jido")
    assert scope.sql("e") == ("(coalesce(e.system IN ('codex_cli', 'jido'), false)) "
                              "AND (e.stream = 'it''s') AND (e.correlation_id = 'c''1')")
    assert Scope().sql() == "true" and Scope().is_everything
    assert scope.metrics_sql() == "false"  # metric points carry no correlation id
    assert Scope(systems=("jido",)).metrics_sql() == "(system = 'jido')"


def test_of_takes_a_scope_or_fields_not_both():
    scope = Scope.build(systems="jido")
    assert Scope.of(scope) is scope
    assert Scope.of({"systems": "jido"}) == scope == Scope.of(None, systems=["jido"])
    with pytest.raises(UsageError, match="not both"):
        Scope.of(scope, systems=["codex_cli"])
    with pytest.raises(UsageError, match="unknown scope field"):
        Scope.of(None, system="jido")


def test_narrowed_is_the_intersection():
    scope = Scope.build(start="2026-03-01T09:00Z", end="2026-03-01T12:00Z", systems="jido")
    cut = scope.narrowed(utc(2026, 3, 1, 8), utc(2026, 3, 1, 10))
    assert (cut.start, cut.end, cut.systems) == (utc(2026, 3, 1, 9), utc(2026, 3, 1, 10), ("jido",))
    assert scope.unwindowed() == Scope(systems=("jido",))


# --- every analysis honours the same scope (the mixed database: Loghub, Codex, the demo) ------

SCOPE = Scope.build(start="2026-03-01T09:30:00Z", end="2026-03-01T10:30:00Z",
                    systems=["codingbuddy", "jido"])


def _systems_and_times(con, event_ids) -> list[dict]:
    ids = sorted({i for i in event_ids if i})
    if not ids:
        return []
    listed = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    return rows(con, f"SELECT event_id, system, ts FROM events WHERE event_id IN ({listed})")


def _inside(found: list[dict], scope: Scope) -> None:
    for row in found:
        assert row["system"] in scope.systems, row
        assert row["ts"] is None or scope.start <= row["ts"] <= scope.end, row


def test_each_analysis_keeps_to_the_scope(mixed):
    con, _db, _rules = mixed
    events = timeline.timeline(con, SCOPE)
    assert events.height and set(events["system"]) <= set(SCOPE.systems)
    assert events["ts"].min() >= SCOPE.start and events["ts"].max() <= SCOPE.end

    fired = metrics.evaluate_rules(con, SCOPE)
    assert fired.height  # the demo storm is in this hour
    _inside(_systems_and_times(con, [i for ids in fired["event_ids"] for i in ids]), SCOPE)

    modes = classify.classify(con, SCOPE).modes
    assert modes.height
    _inside(_systems_and_times(con, [i for ids in modes["evidence_event_ids"] for i in ids]),
            SCOPE)

    found = incidents.incidents(con, SCOPE)
    assert found.height and all(set(s) <= set(SCOPE.systems) for s in found["systems"])
    assert found["first_ts"].min() >= SCOPE.start and found["end_ts"].max() <= SCOPE.end

    marks = timeline.milestones(con, SCOPE)
    _inside(_systems_and_times(con, marks["event_id"].to_list()), SCOPE)

    trend = metrics.trend(con, SCOPE, every="5 minutes")
    assert set(trend["group"]) <= set(SCOPE.systems)
    assert trend["bucket"].min() >= SCOPE.start.replace(minute=30)


def test_replay_checks_whole_streams_and_shows_the_window(mixed):
    con, _db, _rules = mixed
    everything = replay.check(con)
    scoped = replay.check(con, SCOPE)
    assert set(scoped.verdicts["system"]) <= set(SCOPE.systems)
    in_window = {(r["system"], r["stream"] or "") for r in rows(
        con, f"SELECT DISTINCT system, stream FROM timeline_events WHERE {SCOPE.sql()}")}
    assert {(r["system"], r["stream"]) for r in scoped.verdicts.iter_rows(named=True)} == in_window
    # Streams are checked whole: the window's edges make no sequence gap or bad start.
    whole = everything.violations.join(scoped.verdicts.select("system", "stream"),
                                       on=["system", "stream"])
    kept = set(scoped.violations["event_id"])
    assert kept <= set(whole["event_id"])
    _inside(_systems_and_times(con, list(kept)), SCOPE)
    dropped = set(whole["event_id"]) - kept
    for row in _systems_and_times(con, list(dropped)):
        assert row["ts"] is not None and not SCOPE.start <= row["ts"] <= SCOPE.end, row


def test_a_scoped_report_holds_nothing_from_outside(mixed):
    _con, db, rules = mixed
    ctx = sections.context(db=str(db), rules_path=str(rules), start="2026-03-01T09:30:00Z",
                           end="2026-03-01T10:30:00Z", systems="codingbuddy,jido")
    try:
        scope = ctx.scope
        assert scope.start >= SCOPE.start and scope.end <= SCOPE.end
        assert scope.systems == SCOPE.systems
        cited = [*sections.events(ctx)["event_id"].to_list(),
                 *report.milestone_frame(ctx)["event_id"].to_list()]
        alerts = report.alert_frame(ctx)
        cited += [i for ids in alerts["event_ids"] for i in ids]
        modes = report.classification(ctx).modes
        cited += [i for ids in modes["evidence_event_ids"] for i in ids]
        replayed = report.replay_report(ctx)
        cited += replayed.violations["event_id"].to_list()
        found = _systems_and_times(ctx.con, cited)
        assert len(found) > 20
        _inside(found, scope)
        assert set(replayed.verdicts["system"]) <= set(scope.systems)
        info = report.db_info(ctx)
        assert {s["system"] for s in info["systems"]} <= set(scope.systems)
        loaded = pl.DataFrame(info["loads"])
        assert set(loaded["loader"].str.split(".").list.first()) <= {"codingbuddy", "jido"}
        assert info["database_loads"] > loaded.height
        assert "These counts are for the scope" in repr(sections.sources(ctx))
        spent = report.usage_frame(ctx)
        assert spent.height and set(spent["system"]) <= set(scope.systems)
        assert spent["first_ts"].min() >= scope.start and spent["last_ts"].max() <= scope.end
        counts = report.counts(ctx)
        assert counts["systems"] and set(counts["systems"]) <= set(scope.systems)
        assert scope.start <= counts["first_ts"] <= counts["last_ts"] <= scope.end
    finally:
        ctx.con.close()


@pytest.mark.parametrize("command", ["timeline", "incidents", "replay", "alerts", "classify"])
def test_every_command_takes_the_same_scope(mixed, command):
    _con, db, _rules = mixed
    args = [command, "--db", str(db), "--system", "jido", "--pivot", "2026-03-01T10:00:00Z",
            "--span", "30", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.output)
    assert data["scope"] == {"start": "2026-03-01T09:30:00+00:00",
                             "end": "2026-03-01T10:30:00+00:00", "systems": ["jido"],
                             "projects": [], "streams": [], "correlation_id": None}
    bad = CliRunner().invoke(main, [command, "--db", str(db), "--pivot", "noon"])
    assert bad.exit_code == 2 and "pivot: cannot read 'noon'" in bad.output
