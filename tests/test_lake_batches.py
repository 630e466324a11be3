"""A lake in bounded batches (lake/batches.py): the files a stream links stay in one batch, and
replay run batch by batch equals one run over the whole, row for row, in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from incidentlab import lake, store
from incidentlab.analysis import replay
from incidentlab.lake import batches

import conftest_reports

demo_db = conftest_reports.demo_db


def assert_same_report(found: replay.ReplayReport, expected: replay.ReplayReport) -> None:
    for part in ("violations", "verdicts", "codingbuddy"):
        assert_frame_equal(getattr(found, part), getattr(expected, part))


@pytest.fixture(scope="module")
def demo_lake(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("batches") / "lake"
    lake.write_lake(demo_db, out)
    return out


def _plan(con, limit: int) -> list[list[str]]:
    base, manifest = batches.opened(con)
    return batches.stream_batches(con, base, manifest, limit)


@pytest.mark.parametrize("limit", [1, 300, 10**9], ids=["one-group-each", "packed", "whole"])
def test_batched_replay_is_the_whole_lakes(demo_db: Path, demo_lake: Path, limit: int) -> None:
    db = store.connect(demo_db, read_only=True)
    con = lake.connect(demo_lake)
    try:
        expected = replay.check(db)
        seen: list[tuple[int, int, int]] = []
        parts = batches.parts(con, limit, progress=lambda *a: seen.append(a))
        found = replay.check(con, parts=parts)
        # the views are the whole lake's again afterwards
        assert con.execute("SELECT count(*) FROM events").fetchone() == \
            db.execute("SELECT count(*) FROM events").fetchone()
    finally:
        db.close()
        con.close()
    assert expected.violations.height and expected.verdicts.height
    assert_same_report(found, expected)
    if limit == 10**9:
        assert parts is None and not seen
    else:
        assert parts is not None and len(parts) > 1
        assert [n for n, _t, _r in seen] == list(range(1, len(parts) + 1))


def test_a_streams_files_share_one_batch_and_batches_keep_to_the_limit(demo_lake: Path) -> None:
    con = lake.connect(demo_lake)
    try:
        plan = _plan(con, 300)
        base, manifest = batches.opened(con)
        rows = {e["path"]: e["rows"] for e in manifest.tables["events"]["files"]}
        batch_of = {f"{base}/{path}": i for i, files in enumerate(plan) for path in files}
        assert sorted(batch_of) == sorted(f"{base}/{p}" for p in rows)  # every file, once
        pairs = con.execute(
            "SELECT DISTINCT coalesce(stream, ''), filename FROM read_parquet(?, filename = true)",
            [sorted(batch_of)]).fetchall()
    finally:
        con.close()
    by_stream: dict[str, set[int]] = {}
    for stream, filename in pairs:
        by_stream.setdefault(stream, set()).add(batch_of[filename])
    assert all(len(found) == 1 for found in by_stream.values())
    assert any(len(files) > 1 for files in plan)  # some batch packs more than one file
    for files in plan:
        assert len(files) == 1 or sum(rows[f] for f in files) <= 300


def test_the_stream_index_links_the_files_the_events_do(demo_db: Path, tmp_path: Path) -> None:
    """lake write keeps a (stream, file) index per append; the links read from it are the ones
    a scan of the events finds, across appends too (a lake without it is scanned)."""
    from mixed_incidents import build_mixed

    out = tmp_path / "lake"
    lake.write_lake(demo_db, out)
    lake.write_lake(build_mixed(tmp_path / "mixed"), out)
    con = lake.connect(out)
    try:
        base, manifest = batches.opened(con)
        assert len(manifest.stream_index()) == 2  # one per append
        paths = manifest.files("events")
        from_index = batches._links(con, base, manifest, paths)
        unindexed = type(manifest)({k: v for k, v in manifest.data.items() if k != "stream_index"})
        scanned = batches._links(con, base, unindexed, paths)
        [(pairs,)] = con.execute("SELECT count(*) FROM read_parquet(?)",
                                 [[f"{base}/{p}" for p in manifest.stream_index()]]).fetchall()
    finally:
        con.close()
    assert pairs > 0
    assert sorted(map(sorted, from_index)) == sorted(map(sorted, scanned))
    assert any(len({p.split("/")[-1].split("_")[0] for p in names}) > 1 for names in scanned), \
        "some stream spans both appends"


def test_a_lake_written_before_the_index_is_planned_by_scanning(demo_lake: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from click.testing import CliRunner

    from incidentlab.cli import main

    old = tmp_path / "old"
    shutil.copytree(demo_lake, old)
    data = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    batch = data.pop("stream_index")[0]["batch"]
    shutil.rmtree(old / "_stream_index")
    (old / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    out = CliRunner().invoke(main, ["lake", "info", str(old), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["stream_index"] == {"files": 0, "appends_without": [batch]}
    text = CliRunner().invoke(main, ["lake", "info", str(old)]).output
    assert "1 append(s) predate the stream index" in text
    con, new = lake.connect(old), lake.connect(demo_lake)
    try:
        assert _plan(con, 300) == _plan(new, 300)
    finally:
        con.close()
        new.close()


def _event(i: int, stream: str, day: int, seq: int, **values) -> dict:
    row = {c: None for c, _t in store.EVENT_COLUMNS}
    row.update(event_id=f"e{i}", load_id="l1", system="codingbuddy", source="events_jsonl",
               source_path=f"{stream}/events.jsonl", record_no=seq, position=seq, seq=seq,
               ts=f"2026-03-0{day} 10:00:0{seq}+00", ts_quality="exact", stream=stream,
               event_type="llm.usage", is_mirror=False, attrs="{}")
    row.update(values)
    return row


def test_a_mirror_checked_when_copies_exist_looks_at_the_whole_lake(tmp_path: Path) -> None:
    """Session A has store.sqlite copies of its events, session B (another day, so another file
    and batch) none: B's lines miss their copies only because A's copies exist somewhere."""
    rows = [_event(1, "A", 1, 1), _event(2, "A", 1, 2),
            _event(3, "A", 1, 1, source="store_sqlite", is_mirror=True, source_path="store.sqlite"),
            _event(4, "A", 1, 2, source="store_sqlite", is_mirror=True, source_path="store.sqlite"),
            _event(5, "B", 2, 1), _event(6, "B", 2, 2)]
    db_path = tmp_path / "two.duckdb"
    db = store.connect(db_path)
    columns = [c for c, _t in store.EVENT_COLUMNS]
    db.executemany(f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                   [[r[c] for c in columns] for r in rows])
    db.execute("INSERT INTO _loads (load_id, loader, system, path, sha256, status, event_rows) "
               "VALUES ('l1', 'codingbuddy.events', 'codingbuddy', 'x', 'abc', 'ok', 6)")
    expected = replay.check(db)
    db.close()
    assert expected.violations.filter(expected.violations["stream"] == "B")["rule"].to_list() == \
        ["mirror_missing", "mirror_missing"]
    lake.write_lake(db_path, tmp_path / "lake")
    con = lake.connect(tmp_path / "lake")
    try:
        assert len(_plan(con, 1)) == 2
        assert_same_report(replay.check(con, parts=batches.parts(con, 1)), expected)
    finally:
        con.close()


def test_a_database_or_a_lake_of_one_batch_has_no_parts(demo_db: Path, demo_lake: Path) -> None:
    db = store.connect(demo_db, read_only=True)
    con = lake.connect(demo_lake)
    try:
        assert batches.parts(db, 1) is None
        assert batches.parts(con) is None  # the demo is far below the default limit
    finally:
        db.close()
        con.close()
