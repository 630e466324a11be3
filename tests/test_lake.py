"""The Parquet lake: `lake write` appends, DuckDB over the lake answers like the database file,
crashes leave the lake as it was, `lake info`, and `--lake` on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import incidentlab
from incidentlab import lake, store
from incidentlab.analysis import metrics, replay, timeline
from incidentlab.cli import main
from incidentlab.errors import UsageError
from incidentlab.lake import write as lake_write
from incidentlab.lake.manifest import LOCK, MANIFEST, STAGING, LakeError, LakeNotFoundError, read_manifest
from incidentlab.scope import Scope

import conftest_reports
from conftest import FIXTURES

demo_db = conftest_reports.demo_db


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    """Row order aside: every column that sorts (lists and structs do not) as the key."""
    keys = [c for c, t in df.schema.items() if not isinstance(t, pl.List | pl.Struct | pl.Array)]
    return df.sort(keys, nulls_last=True) if keys and df.height else df


def assert_same(ours: pl.DataFrame, theirs: pl.DataFrame) -> None:
    assert_frame_equal(_sorted(ours), _sorted(theirs))


def _answers(con, scope: Scope) -> dict[str, pl.DataFrame]:
    found = replay.check(con, scope)
    return {"verdicts": found.verdicts, "violations": found.violations,
            "codingbuddy": found.codingbuddy,
            "alerts": metrics.evaluate_rules(con, scope),
            "timeline": timeline.timeline(con, scope, limit=200),
            "timeline_all": timeline.timeline(con, scope, include_debug=True, include_mtime=True)}


def _disk_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")
            if STAGING not in p.relative_to(folder).parts}


def _manifest_files(folder: Path) -> set[str]:
    manifest = read_manifest(folder)
    return {path for table in manifest.tables for path in manifest.files(table)} | set(
        manifest.stream_index())


def _types(con, table: str) -> list[tuple[str, str]]:
    """(column, type) in order; a view over Parquet carries no key constraints, so those aside."""
    return [(row[0], row[1]) for row in con.execute(f'DESCRIBE "{table}"').fetchall()]


def _count(con, table: str) -> int:
    return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


@pytest.fixture(scope="module")
def demo_lake(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lake") / "demo-lake"
    result = lake.write_lake(demo_db, out)
    assert result.loads_added and not result.loads_skipped
    return out


# ---- DuckDB over the lake answers like the file -------------------------------------------------


@pytest.mark.parametrize("scope", [
    Scope(),
    Scope.build(pivot="2026-03-01T10:30:00Z", span_minutes=40),
    Scope.build(systems=["codingbuddy", "jido"]),
], ids=["everything", "window", "systems"])
def test_demo_lake_answers_like_the_database(demo_db: Path, demo_lake: Path, scope: Scope) -> None:
    db = store.connect(demo_db, read_only=True)
    con = lake.connect(demo_lake, "duckdb")
    try:
        expected, found = _answers(db, scope), _answers(con, scope)
    finally:
        db.close()
        con.close()
    assert expected["violations"].height and expected["alerts"].height  # the demo plants both
    for name, frame in expected.items():
        assert_same(found[name], frame)


def test_every_table_comes_back_with_its_rows_columns_and_types(demo_db: Path, demo_lake: Path) -> None:
    db = store.connect(demo_db, read_only=True)
    con = lake.connect(demo_lake)
    try:
        tables = [t for (t,) in db.execute("SELECT table_name FROM duckdb_tables() "
                                           "WHERE schema_name = 'main' AND table_name <> '_meta'").fetchall()]
        assert {"events", "metrics", "_loads", "_load_warnings", "tapps_steps"} <= set(tables)
        for table in tables:
            assert _types(con, table) == _types(db, table), table
            assert_same(con.sql(f'SELECT * FROM "{table}"').pl(), db.sql(f'SELECT * FROM "{table}"').pl())
        # Instants survive: the same UTC times, whatever the reader's zone.
        assert con.execute("SELECT min(ts), max(ts) FROM events").fetchall() == db.execute(
            "SELECT min(ts), max(ts) FROM events").fetchall()
        assert con.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone() == (
            str(store.SCHEMA_VERSION),)
    finally:
        db.close()
        con.close()


def test_layout_is_hive_partitioned_by_system_and_utc_date(demo_lake: Path) -> None:
    events = sorted((demo_lake / "events").rglob("*.parquet"))
    assert events and all(p.parent.parent.name.startswith("p_system=")
                          and p.parent.name.startswith("p_date=") for p in events)
    assert {p.parent.name for p in events} >= {"p_date=2026-03-01"}
    # Rows without a time go to p_date=none; the real columns stay inside the files.
    con = duckdb.connect()
    try:
        got = con.execute(
            f"SELECT p_system, p_date, count(*) FILTER (WHERE ts IS NULL), count(*) FILTER "
            f"(WHERE system <> p_system) FROM read_parquet('{demo_lake}/events/**/*.parquet', "
            "hive_partitioning = true) GROUP BY ALL").fetchall()
    finally:
        con.close()
    assert all((untimed == 0) == (date != "none") and other == 0 for _s, date, untimed, other in got)
    assert (demo_lake / "_loads").is_dir() and not any((demo_lake / "_loads").glob("p_*"))


# ---- appending ------------------------------------------------------------------------------------


def test_append_adds_new_loads_once_and_skips_the_known(demo_db: Path, mixed, tmp_path: Path) -> None:
    _con, mixed_db, _rules = mixed
    out = tmp_path / "lake"
    lake.write_lake(demo_db, out)
    before = read_manifest(out)
    demo_files = _manifest_files(out)
    second = lake.write_lake(mixed_db, out)
    # The mixed database holds the demo evidence copied: those loads are skipped, Loghub and
    # Codex are added.
    db = store.connect(mixed_db, read_only=True)
    demo = store.connect(demo_db, read_only=True)
    try:
        demo_keys = set(demo.execute("SELECT loader, sha256 FROM _loads").fetchall())
        mixed_loads = db.execute("SELECT load_id, loader, sha256 FROM _loads").fetchall()
        new_ids = [lid for lid, loader, sha in mixed_loads if (loader, sha) not in demo_keys]
        assert new_ids and len(new_ids) < len(mixed_loads)
        assert sorted(x["load_id"] for x in second.loads_added) == sorted(new_ids)
        assert len(second.loads_skipped) == len(mixed_loads) - len(new_ids)
        expected_events = _count(demo, "events") + db.execute(
            "SELECT count(*) FROM events WHERE load_id IN (SELECT unnest(?))", [new_ids]).fetchone()[0]
    finally:
        db.close()
        demo.close()
    assert demo_files <= _manifest_files(out)  # nothing of the first append was rewritten
    con = lake.connect(out)
    try:
        assert _count(con, "events") == expected_events == read_manifest(out).rows("events")
        assert con.execute("SELECT count(*) - count(DISTINCT load_id) FROM _loads").fetchone() == (0,)
        assert con.execute("SELECT count(*) - count(DISTINCT event_id) FROM events").fetchone() == (0,)
    finally:
        con.close()
    manifest = read_manifest(out)
    assert [d["loads_added"] for d in manifest.databases] == [len(before.loads), len(new_ids)]
    assert len(manifest.loads) == len(before.loads) + len(new_ids)
    # Appending the same database again adds nothing and leaves the manifest as it was.
    text = (out / MANIFEST).read_bytes()
    again = lake.write_lake(mixed_db, out)
    assert again.batch is None and not again.loads_added
    assert len(again.loads_skipped) == len(mixed_loads)
    assert (out / MANIFEST).read_bytes() == text
    assert _disk_files(out) == _manifest_files(out)


def test_mixed_lake_answers_like_the_mixed_database(mixed, tmp_path: Path) -> None:
    con_db, mixed_db, rules = mixed
    out = tmp_path / "lake"
    lake.write_lake(mixed_db, out)
    con = lake.connect(out)
    try:
        for scope in (Scope(), Scope.build(systems=["codex_cli"])):
            expected, found = _answers(con_db, scope), _answers(con, scope)
            for name, frame in expected.items():
                assert_same(found[name], frame)
        assert_same(metrics.evaluate_rules(con, Scope(), rules_path=rules),
                    metrics.evaluate_rules(con_db, Scope(), rules_path=rules))
    finally:
        con.close()


def test_an_empty_table_keeps_its_columns(ingest_into, tmp_path: Path) -> None:
    small = ingest_into(FIXTURES / "codingbuddy" / "ws" / ".codingbuddy" / "events.jsonl")
    assert small.scalar("SELECT count(*) FROM _load_warnings") == 0
    small.close()
    out = tmp_path / "lake"
    lake.write_lake(small.db, out)
    con = lake.connect(out)
    db = store.connect(small.db, read_only=True)
    try:
        for table in ("_load_warnings", "metrics"):
            assert _count(con, table) == _count(db, table)
            assert _types(con, table) == _types(db, table)
    finally:
        con.close()
        db.close()


# ---- crashes ----------------------------------------------------------------------------------------


def _lake_state(out: Path) -> tuple[bytes, dict[str, int], pl.DataFrame]:
    con = lake.connect(out)
    try:
        counts = {t: _count(con, t) for t in ("events", "metrics", "_loads")}
        return (out / MANIFEST).read_bytes(), counts, replay.check(con).violations
    finally:
        con.close()


@pytest.mark.parametrize("step", ["publish", "stage"])
def test_a_crash_mid_append_leaves_the_lake_as_it_was(step: str, demo_db: Path, mixed, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _con, mixed_db, _rules = mixed
    out = tmp_path / "lake"
    lake.write_lake(demo_db, out)
    before = _lake_state(out)
    calls = []
    name = "_publish_file" if step == "publish" else "_stage_table"
    real = getattr(lake_write, name)

    def dies_on_the_third(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise OSError("disk died")
        return real(*args, **kwargs)

    monkeypatch.setattr(lake_write, name, dies_on_the_third)
    with pytest.raises(OSError, match="disk died"):
        lake.write_lake(mixed_db, out)
    monkeypatch.undo()
    if step == "publish":
        assert len(_disk_files(out)) > len(_manifest_files(out))  # two files got in before the crash
    after = _lake_state(out)
    assert after[0] == before[0] and after[1] == before[1]
    assert_same(after[2], before[2])
    assert not (out / LOCK).exists()
    # The next write rolls the dead append back and adds the database once.
    result = lake.write_lake(mixed_db, out)
    assert len(result.rolled_back) == 1 and result.loads_added
    assert _disk_files(out) == _manifest_files(out)
    assert not (out / STAGING).exists()
    con = lake.connect(out)
    try:
        assert _count(con, "_loads") == before[1]["_loads"] + len(result.loads_added)
        assert con.execute("SELECT count(*) - count(DISTINCT event_id) FROM events").fetchone() == (0,)
    finally:
        con.close()


def test_a_killed_writer_leaves_the_lake_as_it_was(demo_db: Path, mixed, tmp_path: Path) -> None:
    """A real process killed while it publishes (SIGKILL: no cleanup runs)."""
    _con, mixed_db, _rules = mixed
    out = tmp_path / "lake"
    lake.write_lake(demo_db, out)
    before = _lake_state(out)
    script = (
        "import os, signal, sys\n"
        "from incidentlab.lake import write\n"
        "real, n = write._publish_file, []\n"
        "def publish(*a):\n"
        "    n.append(1)\n"
        "    if len(n) == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    real(*a)\n"
        "write._publish_file = publish\n"
        "write.write_lake(sys.argv[1], sys.argv[2])\n")
    done = subprocess.run([sys.executable, "-c", script, str(mixed_db), str(out)], check=False)
    assert done.returncode == -9
    assert (out / LOCK).exists() and (out / STAGING).exists()
    after = _lake_state(out)
    assert after[0] == before[0] and after[1] == before[1]
    result = lake.write_lake(mixed_db, out)  # the dead writer's lock is stale: taken over
    assert result.rolled_back and _disk_files(out) == _manifest_files(out)


def test_one_writer_at_a_time(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "lake"
    out.mkdir()
    import socket

    (out / LOCK).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                        "since": "now"}))
    with pytest.raises(LakeError, match=f"being written by PID {os.getpid()}"):
        lake.write_lake(demo_db, out)
    assert not (out / MANIFEST).exists()


def test_refuses_a_folder_that_is_not_a_lake(demo_db: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LakeError, match="not empty"):
        lake.write_lake(demo_db, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(LakeNotFoundError, match="lake write"):
        lake.connect(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="unknown engine"):
        lake.connect(tmp_path, engine="oracle")


def test_an_object_storage_url_needs_httpfs_and_says_so() -> None:
    # incidentlab never downloads extensions: without httpfs installed this is the one-line error;
    # where it is installed, an unreachable bucket is.
    with pytest.raises(LakeError, match=r"httpfs|cannot read"):
        lake.connect("s3://incidentlab-no-such-bucket/lake", "duckdb")


# ---- lake info, the CLI and the API --------------------------------------------------------------------


def test_lake_info(demo_db: Path, demo_lake: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["lake", "info", str(demo_lake), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    db = store.connect(demo_db, read_only=True)
    try:
        rows = {t["table"]: t["rows"] for t in info["tables"]}
        for table in ("events", "metrics", "_loads", "_load_warnings", "tapps_steps"):
            assert rows[table] == _count(db, table), table
        lo, hi = db.execute("SELECT min(ts), max(ts) FROM events").fetchone()
        systems = dict(db.execute("SELECT system, count(*) FROM events GROUP BY 1").fetchall())
        loads = _count(db, "_loads")
    finally:
        db.close()
    assert (info["ts_min"], info["ts_max"]) == (lo.isoformat(), hi.isoformat())
    assert {s["system"]: s["events"] for s in info["systems"]} == systems
    assert info["loads"] == loads and len(info["databases"]) == 1
    events = next(t for t in info["tables"] if t["table"] == "events")
    assert events["partitions"] == len({p.parent for p in (demo_lake / "events").rglob("*.parquet")})
    assert info["bytes"] > sum(p.stat().st_size for p in demo_lake.rglob("*.parquet")) > 0
    assert info["stream_index"] == {"files": 1, "appends_without": []} and not info["missing_files"]
    table = runner.invoke(main, ["lake", "info", str(demo_lake)])
    assert table.exit_code == 0 and "Systems" in table.output and "codingbuddy" in table.output
    assert f"{loads} load(s) (0 failed) from 1 database(s)" in table.output


def test_lake_write_cli(demo_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "lake"
    first = runner.invoke(main, ["lake", "write", "--db", str(demo_db), "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["loads_added"] > 0 and data["rows"]["events"] == read_manifest(out).rows("events")
    again = runner.invoke(main, ["lake", "write", "--db", str(demo_db), "--out", str(out)])
    assert again.exit_code == 0 and "0 load(s) added" in again.output
    assert "already in the lake" in again.output


def _json(args: list[str]) -> tuple[int, dict]:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.output)


@pytest.mark.parametrize("command", [["replay"], ["alerts"], ["timeline", "--limit", "50"],
                                     ["replay", "--system", "jido"],
                                     ["timeline", "--milestones", "--pivot", "2026-03-01T10:30:00Z"]])
def test_cli_lake_json_equals_db_json(command: list[str], demo_db: Path, demo_lake: Path) -> None:
    code_db, from_db = _json([*command, "--db", str(demo_db)])
    code_lake, from_lake = _json([*command, "--lake", str(demo_lake), "--engine", "duckdb"])
    assert code_db == code_lake
    assert from_lake.pop("source") == {"lake": str(demo_lake), "engine": "duckdb"}
    assert "source" not in from_db
    assert from_lake == from_db


def test_cli_wants_db_or_lake(demo_db: Path, demo_lake: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(main, ["replay", "--db", str(demo_db), "--lake", str(demo_lake)])
    assert both.exit_code == 2 and "not both" in both.output
    neither = runner.invoke(main, ["alerts"])
    assert neither.exit_code == 2 and "--db DB" in neither.output and "--lake DIR" in neither.output
    engine = runner.invoke(main, ["timeline", "--db", str(demo_db), "--engine", "spark"])
    assert engine.exit_code == 2 and "go with --lake" in engine.output
    master = runner.invoke(main, ["replay", "--lake", str(demo_lake), "--spark-master", "local[1]"])
    assert master.exit_code == 2 and "--engine spark" in master.output
    missing = runner.invoke(main, ["replay", "--lake", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no lake at" in missing.output


def test_api_open_lake(demo_db: Path, demo_lake: Path) -> None:
    with incidentlab.open(demo_db) as inc, incidentlab.open_lake(demo_lake, engine="duckdb") as on_lake:
        assert_same(on_lake.replay().violations, inc.replay().violations)
        assert_same(on_lake.alerts(), inc.alerts())
        assert_same(on_lake.timeline(limit=20), inc.timeline(limit=20))
        assert on_lake.classify().severity == inc.classify().severity
        narrowed = on_lake.scoped(systems=["jido"])
        assert_same(narrowed.timeline(), inc.timeline(systems=["jido"]))
        with pytest.raises(UsageError, match="lake info"):
            on_lake.info()
