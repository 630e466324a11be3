"""Timeline slices, stable order, bounded newest-N, hidden events, silences and clock skew."""

from __future__ import annotations

import json

import polars as pl
from click.testing import CliRunner

from incidentlab.analysis.timeline import clock_skew, hidden, silences, timeline
from incidentlab.cli import main

from analysis_helpers import at, insert, make_db


def base(con):
    return insert(con, [
        {"system": "jido", "source": "telemetry", "stream": "c1", "ts": at(0), "position": 2,
         "event_type": "tool.result", "project": "p1", "correlation_id": "k1"},
        {"system": "jido", "source": "conversation", "stream": "c1", "ts": at(0), "position": 1,
         "event_type": "tool.call", "project": "p1", "correlation_id": "k1"},
        {"system": "codingbuddy", "source": "events_jsonl", "stream": "s", "ts": at(60),
         "event_type": "llm.rate_limited", "severity": "warning", "project": "app"},
        {"system": "codingbuddy", "source": "events_jsonl", "stream": "s", "ts": at(120),
         "event_type": "security.sandbox_violation", "severity": "error", "project": "app"},
        {"system": "codingbuddy", "source": "store_sqlite", "stream": "s", "ts": at(120),
         "event_type": "security.sandbox_violation", "is_mirror": True},
        {"system": "tapps", "stream": "wf", "ts": None, "event_type": "log"},
    ])


def test_order_is_time_then_source_rank_then_position(tmp_path):
    con = make_db(tmp_path)
    base(con)
    out = timeline(con)
    assert out["event_type"].to_list() == [
        "tool.call", "tool.result", "llm.rate_limited", "security.sandbox_violation", "log"]
    assert out["source"].to_list()[:2] == ["conversation", "telemetry"]  # mirror hidden


def test_filters(tmp_path):
    con = make_db(tmp_path)
    base(con)
    assert timeline(con, systems=["jido"]).height == 2
    assert timeline(con, projects="app").height == 2
    assert timeline(con, correlation_id="k1").height == 2
    assert timeline(con, event_types=["security.*"]).height == 1
    assert timeline(con, event_types=["tool.call", "log"]).height == 2
    assert timeline(con, min_severity="warning")["event_type"].to_list() == [
        "llm.rate_limited", "security.sandbox_violation"]
    assert timeline(con, start=at(30), end=at(90)).height == 1
    assert timeline(con, pivot=at(60), span_minutes=0.5).height == 1
    assert timeline(con, pivot="2026-03-01T09:01:00Z", span_minutes=1).height == 4
    assert timeline(con, streams=["nope"]).height == 0


def test_limit_keeps_newest_in_chronological_order(tmp_path):
    con = make_db(tmp_path)
    insert(con, [{"ts": at(i), "event_id": f"x{i}"} for i in range(10)])
    out = timeline(con, limit=3)
    assert out["event_id"].to_list() == ["x7", "x8", "x9"]
    insert(con, [{"ts": at(9), "event_id": "x9b"}, {"ts": None, "event_id": "untimed"}])
    # a tie at the N-th newest time: both kept, in position order (x9b is position 1)
    assert timeline(con, limit=2)["event_id"].to_list() == ["x9b", "x9"]
    assert timeline(con, limit=20)["event_id"].to_list()[-1] == "untimed"  # fills a short list


def test_debug_and_mtime_events_are_hidden_unless_asked(tmp_path):
    con = make_db(tmp_path)
    insert(con, [
        {"ts": at(0), "event_id": "a"},
        {"ts": at(10), "severity": "debug", "event_id": "hook"},
        {"ts": at(86400), "ts_quality": "derived", "event_id": "copied", "source_path": "r.md"},
        {"ts": at(20), "ts_quality": "derived", "ts_raw": "session header: 09:00",
         "event_id": "inherited"},
    ])
    assert timeline(con)["event_id"].to_list() == ["a", "inherited"]
    assert timeline(con, limit=1)["event_id"].to_list() == ["inherited"]  # not the mtime one
    assert timeline(con, include_debug=True, include_mtime=True)["event_id"].to_list() == [
        "a", "hook", "inherited", "copied"]
    assert timeline(con, min_severity="debug")["event_id"].to_list() == ["a", "hook", "inherited"]
    assert hidden(con) == {"debug": 1, "mtime": 1, "mtime_files": ["r.md"]}


def test_silences(tmp_path):
    con = make_db(tmp_path)
    insert(con, [{"ts": at(0)}, {"ts": at(60)}, {"ts": at(60 + 11 * 60)},
                 {"ts": at(0), "stream": "b"}, {"ts": at(600), "stream": "b"}])
    out = silences(con, threshold_minutes=10)
    assert out.to_dicts() == [{"stream": "s1", "system": "generic", "gap_start": at(60),
                               "gap_end": at(60 + 660), "gap_minutes": 11.0}]


def test_clock_skew_from_shared_correlation_ids(tmp_path):
    con = make_db(tmp_path)
    rows = []
    for i, lag in enumerate([2.0, 2.5, 3.0]):
        rows.append({"system": "jido", "ts": at(i * 100), "correlation_id": f"c{i}"})
        rows.append({"system": "codingbuddy", "ts": at(i * 100 + lag), "correlation_id": f"c{i}"})
    rows.append({"system": "tapps", "ts": at(5), "correlation_id": "lonely"})
    insert(con, rows)
    assert clock_skew(con).to_dicts() == [
        {"system_a": "codingbuddy", "system_b": "jido", "offset_seconds": -2.5, "n_pairs": 3}]


def test_cli_timeline_json_and_redaction(tmp_path):
    con = make_db(tmp_path)
    insert(con, [{"ts": at(0), "message": "retry with api_key=sk-abcdefghijklmnop1234 for bob@x.io"}])
    con.close()
    runner = CliRunner()
    result = runner.invoke(main, ["timeline", "--db", str(tmp_path / "x.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["count"] == 1 and data["redacted_values"] == 2
    assert "sk-" not in data["events"][0]["message"] and "bob@" not in result.output
    table = runner.invoke(main, ["timeline", "--db", str(tmp_path / "x.duckdb"), "--milestones"])
    assert table.exit_code == 0 and "Milestones" in table.output
    assert "not determined" in table.output  # one info event: no incident
    missing = runner.invoke(main, ["timeline", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "no database" in missing.output
    bad = runner.invoke(main, ["timeline", "--db", str(tmp_path / "x.duckdb"), "--start", "x"])
    assert bad.exit_code == 2 and "start: cannot read" in bad.output


def _newest_by_full_sort(con, n, **scope):
    """The reference: the whole scoped timeline in its stable order, the last n rows."""
    full = timeline(con, **scope)
    timed = full.filter(full["ts"].is_not_null())
    untimed = full.filter(full["ts"].is_null())
    # newest first is ts descending with untimed rows last, then the stable order reversed
    newest = pl.concat([timed.reverse(), untimed.reverse()]).head(n)
    return full.filter(full["event_id"].is_in(newest["event_id"].to_list()))


def test_limit_with_ties_at_the_bound_matches_the_full_order(tmp_path):
    """Many events share the N-th newest time: the bounded top-N picks the same rows, in the
    same stable order (source rank, system, source, stream, position), as the full sort."""
    con = make_db(tmp_path)
    rows = [{"system": system, "source": source, "stream": f"s{i % 3}", "ts": at(10),
             "position": i, "event_type": "log"}
            for i in range(30) for system, source in (("jido", "telemetry"),
                                                     ("codingbuddy", "events_jsonl"))]
    rows += [{"system": "tapps", "stream": "wf", "ts": at(i), "event_type": "log"}
             for i in range(10)]
    rows += [{"system": "tapps", "stream": "wf", "ts": at(20 + i), "event_type": "log"}
             for i in range(5)]
    insert(con, rows)
    for n in (1, 5, 6, 7, 40, 65, 200):
        assert timeline(con, limit=n).equals(_newest_by_full_sort(con, n)), n
    window = {"start": at(5), "end": at(22)}
    for n in (3, 12, 80):
        assert timeline(con, limit=n, **window).equals(_newest_by_full_sort(con, n, **window))


def test_limit_beyond_the_timed_rows_fills_with_untimed_ones(tmp_path):
    con = make_db(tmp_path)
    insert(con, [{"system": "tapps", "stream": "wf", "ts": at(i), "event_type": "log"}
                 for i in range(3)]
           + [{"system": s, "stream": "x", "ts": None, "event_type": "log"}
              for s in ("jido", "codingbuddy", "tapps", "jido")])
    for n in (2, 3, 4, 6, 7, 10):
        out = timeline(con, limit=n)
        assert out.equals(_newest_by_full_sort(con, n)), n
        assert out.height == min(n, 7)
