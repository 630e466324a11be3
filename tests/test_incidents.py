"""Incidents in a mixed database: a Loghub log, a Codex session and a plainly copied demo bundle.

Expectations come from reading the fixture files (tests/fixtures/incidents, see their NOTICE):
line numbers are the slices' own, times are the lines' own (the Loghub log read as UTC).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from incidentlab.analysis.incidents import incident_id, incidents, select
from incidentlab.cli import main
from incidentlab.errors import UsageError

from mixed_incidents import utc


def test_separate_incidents_are_found_with_their_first_and_last_evidence(mixed):
    con, _db, rules = mixed
    found = incidents(con, rules_path=rules)
    rows = {(r["first_system"], r["first_record_no"]): r for r in found.iter_rows(named=True)}
    # Loghub: WARN lines 3-24 (19 of them, lines 7, 13, 20 are INFO), then 36 minutes of quiet.
    a = rows[("generic", 3)]
    assert (a["first_ts"], a["last_ts"], a["last_record_no"], a["signals"]) == (
        utc("2015-07-29 19:04:29.071"), utc("2015-07-29 19:15:37.647"), 24, 19)
    assert a["end_ts"] == a["last_ts"]  # the next line (19:52:04) comes after a quiet gap
    assert a["start_ts"] == utc("2015-07-29 19:04:12.394")  # line 2; line 1 is 83 min earlier
    # line 26 (WARN 19:52:05.118) alone; lines 27-29 follow within 3 minutes, line 30 at 21:01
    b = rows[("generic", 26)]
    assert (b["signals"], b["start_ts"], b["end_ts"]) == (
        1, utc("2015-07-29 19:52:04.792"), utc("2015-07-29 19:54:45.337"))
    c = rows[("generic", 36)]  # the ERROR at 23:44:28.903; lines 37-40 until 23:52:09.785
    assert (c["signals"], c["errors"], c["end_ts"]) == (1, 1, utc("2015-07-29 23:52:09.785"))
    d = rows[("generic", 53)]  # WARN lines 53..72: 9 of them, gaps up to 27 minutes
    assert (d["signals"], d["last_record_no"], d["end_ts"]) == (
        9, 72, utc("2015-07-30 18:18:30.005"))
    assert d["start_ts"] == utc("2015-07-30 14:42:40.474")  # line 42; line 41 is 55 min earlier
    # Codex: failed tool results from line 9 (08:34:58.673) to line 17 (08:42:13.170); the
    # session continues until the turn completes (line 26, 08:44:58.544).
    x = rows[("codex_cli", 9)]
    assert (x["first_ts"], x["last_record_no"], x["last_ts"], x["end_ts"]) == (
        utc("2026-05-11 08:34:58.673"), 17, utc("2026-05-11 08:42:13.170"),
        utc("2026-05-11 08:44:58.544"))
    assert (x["signals"], x["systems"], x["start_ts"]) == (
        4, ["codex_cli"], utc("2026-05-11 08:27:17.490"))
    # The demo: the storm starts with observe.log line 1 at 10:00:00 (its manifest says so).
    demo = next(r for r in found.iter_rows(named=True) if r["first_system"] == "codingbuddy")
    assert (demo["first_ts"], demo["first_source"], demo["first_record_no"]) == (
        utc("2026-03-01 10:00:00"), "observe_log", 1)
    assert found.height == 6


def test_windows_never_overlap_and_mtime_times_make_no_incident(mixed):
    con, _db, rules = mixed
    found = incidents(con, rules_path=rules).sort("start_ts")
    spans = list(zip(found["start_ts"], found["end_ts"], strict=True))
    assert all(s <= e for s, e in spans)
    assert all(e1 < s2 for (_, e1), (s2, _) in itertools.pairwise(spans))
    today = datetime.now(UTC) - timedelta(days=2)
    # the copy moved the demo's mtime-timed files (a tapps envelope with an error among them)
    [(moved,)] = con.execute("SELECT count(*) FROM timeline_events WHERE ts_quality = 'derived' "
                             "AND ts_raw IS NULL AND ts > ?", [today]).fetchall()
    assert moved > 0
    assert found.filter(found["end_ts"] > today).is_empty()


def test_quiet_time_and_partitions(mixed):
    con, _db, rules = mixed
    loose = incidents(con, rules_path=rules, quiet_minutes=60, systems=["generic"])
    # 36 minutes between line 24 and line 25/26: one incident at a 60-minute quiet time
    assert loose.filter(loose["first_record_no"] == 3)["last_record_no"].to_list() == [26]
    per_system = incidents(con, rules_path=rules, by="system")
    assert set(per_system["partition"].to_list()) == {"generic", "codex_cli", "codingbuddy",
                                                      "jido", "coding_loops", "tapps"}
    with pytest.raises(UsageError, match="cannot split"):
        incidents(con, by="colour")


def test_ids_ranks_and_selection(mixed):
    con, _db, rules = mixed
    found = incidents(con, rules_path=rules)
    assert sorted(found["rank"].to_list()) == list(range(1, found.height + 1))
    largest = select(found)
    assert largest is not None and largest["signals"] == found["signals"].max()
    assert largest["first_system"] == "codingbuddy"  # the demo storm is the largest
    codex = found.filter(found["first_system"] == "codex_cli").row(0, named=True)
    assert codex["incident_id"] == "20260511-083458Z-codex_cli"
    assert select(found, codex["incident_id"])["first_record_no"] == 9
    assert incident_id(utc("2026-03-01 10:00:00"), ["a", "b", "c"]) == "20260301-100000Z-a+2"
    assert codex["title"] == "codex_cli: 4 failure signals, 2026-05-11 08:34 .. 08:42 UTC"
    with pytest.raises(UsageError, match="no incident 'nope'"):
        select(found, "nope")


def test_cli_lists_incidents(mixed):
    _con, db, rules = mixed
    runner = CliRunner()
    result = runner.invoke(main, ["incidents", "--db", str(db), "--rules", str(rules), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["count"] == 6 and data["quiet_minutes"] == 30
    scoped = runner.invoke(main, ["incidents", "--db", str(db), "--system", "codex_cli",
                                  "--no-alerts", "--json"])
    [codex] = json.loads(scoped.output)["incidents"]
    assert (codex["incident_id"], codex["first_record_no"]) == ("20260511-083458Z-codex_cli", 9)
    table = runner.invoke(main, ["incidents", "--db", str(db), "--system", "codex_cli"])
    assert table.exit_code == 0 and "Candidate incidents (1;" in table.output
