"""Read SQLite evidence without touching it: a private copy (with its WAL) is what gets opened."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite(head: bytes) -> bool:
    return head.startswith(SQLITE_MAGIC)


@contextmanager
def sqlite_snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """Copy the database and its -wal/-shm companions to a temp folder and open the copy.

    Opening the original, even read-only, can create -wal/-shm files or checkpoint a pending WAL
    into it; the copy keeps the evidence byte-for-byte unchanged while still seeing WAL content.
    """
    with tempfile.TemporaryDirectory(prefix="incidentlab-sqlite-") as folder:
        copy = Path(folder) / path.name
        shutil.copy2(path, copy)
        for suffix in ("-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                shutil.copy2(companion, copy.with_name(copy.name + suffix))
        con = sqlite3.connect(copy)
        con.row_factory = sqlite3.Row
        try:
            yield con
        finally:
            con.close()


def table_names(con: sqlite3.Connection) -> set[str]:
    rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def fetch_rows(con: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    """All rows of a table as dicts, with `rowid` when the table has one, in rowid order."""
    try:
        cursor = con.execute(f'SELECT rowid AS _rowid, * FROM "{table}" ORDER BY rowid')
    except sqlite3.OperationalError:  # WITHOUT ROWID tables
        cursor = con.execute(f'SELECT NULL AS _rowid, * FROM "{table}"')
    return [dict(row) for row in cursor.fetchall()]
