"""Two real processes on one database: ingest and readers wait for each other instead of failing,
long-lived readers work on a snapshot, and a lock held too long is named in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from incidentlab.ingest import ingest
from incidentlab.store import connect, connect_snapshot

from conftest import FIXTURES

HOLD = """
import sys, time
from incidentlab.store import connect
con = connect(sys.argv[1], read_only=sys.argv[2] == "read")
print("ready", flush=True)
time.sleep(float(sys.argv[3]))
con.close()
"""


def _holder(db: Path, mode: str, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(db), mode, str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "incidentlab", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    target = tmp_path / "i.duckdb"
    ingest([FIXTURES / "jido"], target)
    return target


def test_ingest_waits_for_a_reader_in_another_process(db, capsys):
    reader = _holder(db, "read", 1.5)
    summary = ingest([FIXTURES / "codingbuddy"], db)
    reader.wait(timeout=30)
    assert summary.ok
    assert f"waiting for {db}, in use by PID {reader.pid}" in capsys.readouterr().err


def test_info_waits_for_a_writer_in_another_process(db):
    # Held longer than a loaded machine takes to start the CLI, so `info` meets the lock.
    writer = _holder(db, "write", 6)
    result = _cli("info", "--db", str(db), "--json")
    writer.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    assert "in use by PID" in result.stderr


def test_a_lock_held_too_long_is_named_in_one_line(db):
    writer = _holder(db, "write", 5)
    try:
        result = _cli("info", "--db", str(db), env={"INCIDENTLAB_LOCK_WAIT": "0.3"})
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and f"in use by PID {writer.pid}" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_snapshot_leaves_no_copy_of_the_evidence_behind(db, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    snapshot = connect_snapshot(db)
    try:
        [folder] = (tmp_path / "tmp").iterdir()
        assert list(folder.iterdir()) == []  # the open copy has no name any more
        assert snapshot.execute("SELECT count(*) FROM events").fetchone()[0] > 0
    finally:
        snapshot.close()


def test_a_snapshot_reader_never_blocks_ingest(db):
    snapshot = connect_snapshot(db)
    try:
        before = snapshot.execute("SELECT count(*) FROM events").fetchone()[0]
        result = _cli("ingest", str(FIXTURES / "codingbuddy"), "--db", str(db), "--json",
                      env={"INCIDENTLAB_LOCK_WAIT": "5"})
        assert result.returncode == 0, result.stderr
        assert "in use" not in result.stderr
        assert snapshot.execute("SELECT count(*) FROM events").fetchone()[0] == before
    finally:
        snapshot.close()
    con = connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] > before
    con.close()
