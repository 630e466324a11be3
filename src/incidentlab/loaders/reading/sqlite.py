"""SQLite evidence: read from a private copy, row by row, so one bad row or page loses only itself."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import LoaderError
from .text import escaped

SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 1000
# Past a corrupt page, rowids are probed one by one; this bounds the probing of one table.
_MAX_PROBES = 100_000


def is_sqlite(head: bytes) -> bool:
    return head.startswith(SQLITE_MAGIC)


@contextmanager
def sqlite_snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """Copy the database and its -wal/-shm companions to a temp folder and open the copy.

    Opening the original, even read-only, can create -wal/-shm files or checkpoint a pending WAL
    into it; the copy keeps the evidence byte-for-byte unchanged while still seeing WAL content.
    TEXT that is not UTF-8 is kept exactly, each invalid byte written as a \\xNN escape.
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
        con.text_factory = escaped
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            con.close()
            raise LoaderError(str(path), f"not a readable SQLite database ({exc})",
                              hint="check the file is a whole copy of the database") from exc
        try:
            yield con
        finally:
            con.close()


def table_names(con: sqlite3.Connection) -> set[str]:
    rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def integrity(con: sqlite3.Connection) -> str:
    """SQLite's own verdict on the file: 'ok', or the first problems it lists."""
    try:
        found = [row[0] for row in con.execute("PRAGMA integrity_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        return f"integrity_check failed: {exc}"
    return "ok" if found == ["ok"] else "; ".join(str(item) for item in found)


@dataclass
class TableRead:
    """The rows of one table that could be read, and what could not."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def fetch_rows(con: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    """All readable rows of a table as dicts (`_rowid` set when the table has one), rowid order."""
    return read_table(con, table).rows


def read_table(con: sqlite3.Connection, table: str) -> TableRead:
    """Rows in rowid order, read in chunks; past a corrupt page the readable rows still come."""
    out = TableRead()
    try:
        con.execute(f'SELECT rowid FROM "{table}" LIMIT 0')
    except sqlite3.OperationalError:  # WITHOUT ROWID tables
        try:
            out.rows = [dict(r) for r in con.execute(f'SELECT NULL AS _rowid, * FROM "{table}"')]
        except sqlite3.DatabaseError as exc:
            out.problems.append(f"{table}: {exc}")
        return out
    except sqlite3.DatabaseError as exc:
        out.problems.append(f"{table}: {exc}")
        return out
    last = None
    while True:
        try:
            chunk = _chunk(con, table, last)
        except sqlite3.DatabaseError as exc:
            out.problems.append(f"{table}: {exc} after rowid {last}")
            last = _probe_past(con, table, last, out)
            if last is None:
                return out
            continue
        out.rows.extend(chunk)
        if len(chunk) < _CHUNK:
            return out
        last = chunk[-1]["_rowid"]


def _chunk(con: sqlite3.Connection, table: str, after: int | None) -> list[dict[str, Any]]:
    where = "" if after is None else f"WHERE rowid > {int(after)} "
    cursor = con.execute(
        f'SELECT rowid AS _rowid, * FROM "{table}" {where}ORDER BY rowid LIMIT {_CHUNK}'
    )
    return [dict(row) for row in cursor.fetchall()]


def _probe_past(con: sqlite3.Connection, table: str, last: int | None, out: TableRead) -> int | None:
    """Point reads of the rowids after a corrupt page; the rowid to resume after, or None."""
    try:
        top = con.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0]
    except sqlite3.DatabaseError:
        top = None
    if top is None:
        return None
    start = (last or 0) + 1
    for rowid in range(start, min(int(top), start + _MAX_PROBES - 1) + 1):
        try:
            row = con.execute(
                f'SELECT rowid AS _rowid, * FROM "{table}" WHERE rowid = ?', [rowid]
            ).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row is not None:
            out.rows.append(dict(row))
            try:
                _chunk(con, table, rowid)
            except sqlite3.DatabaseError:
                continue
            return rowid
    return None
