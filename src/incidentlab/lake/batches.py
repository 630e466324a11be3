"""A lake in bounded batches for replay: files whose events share a stream stay together, and a
batch holds at most about `limit` events, so replay (decided within each stream) needs the
memory of one batch at any size of the lake, and costs the same per event."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import duckdb

from .duckdb_engine import opened, view_sql
from .manifest import Manifest

# Events per batch: replay over 10M events needs about 1.5 GiB. Smaller batches were not faster
# (each runs its own few dozen statements): on 10M events 3 batches took 5.14 s and 5 batches
# 6.12 s, one 4.58 s and 5.70 s before and after. docs/lake.md, "Speed".
LIMIT = 10_000_000
Progress = Callable[[int, int, int], None]  # (batch number, batches, events in it)


def stream_batches(con: duckdb.DuckDBPyConnection, base: str, manifest: Manifest,
                   limit: int = LIMIT) -> list[list[str]]:
    """The events files in batches: the files linked by a stream (an event's stream, '' for
    none, as replay groups them) in one batch; such groups packed in manifest order into batches
    of at most `limit` events (a group larger than that is a batch of its own)."""
    entries = manifest.tables.get("events", {}).get("files", [])
    if sum(int(e["rows"]) for e in entries) <= limit:
        return [[e["path"] for e in entries]] if entries else []
    paths = [e["path"] for e in entries]
    number = {path: i for i, path in enumerate(paths)}
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for names in _links(con, base, manifest, paths):
        first = root(number[names[0]])
        for name in names[1:]:
            parent[root(number[name])] = first
    groups: dict[int, list[int]] = {}
    for i in range(len(paths)):
        groups.setdefault(root(i), []).append(i)
    batches: list[list[str]] = []
    size = limit + 1
    for members in sorted(groups.values()):
        rows = sum(int(entries[i]["rows"]) for i in members)
        if size + rows > limit:
            batches.append([])
            size = 0
        batches[-1].extend(paths[i] for i in members)
        size += rows
    return batches


def _links(con: duckdb.DuckDBPyConnection, base: str, manifest: Manifest,
           paths: list[str]) -> list[list[str]]:
    """The files (paths relative to the lake) of each stream found in more than one: from the
    lake's stream index when it covers every events file (lake write keeps one per append),
    else from the events themselves (lakes written before the index; a scan of `stream`)."""
    root = base.rstrip("/") + "/"
    indexed = manifest.stream_index()
    if indexed and not manifest.unindexed_batches():
        source, file = f"read_parquet({_listed(root, indexed)})", "file"
    else:
        source = f"read_parquet({_listed(root, paths)}, filename = true)"
        file = f"substr(filename, {len(root) + 1})"
    return [names for (names,) in con.execute(f"""
        SELECT list(DISTINCT {file}) FROM {source}
        GROUP BY coalesce(stream, '') HAVING count(DISTINCT {file}) > 1""").fetchall()]


def _listed(root: str, paths: list[str]) -> str:
    return "[" + ", ".join("'" + (root + p).replace("'", "''") + "'" for p in paths) + "]"


class Part(AbstractContextManager[None]):
    """One batch: inside `with`, the connection's `events` view (and so `timeline_events`)
    lists these files only; the whole lake's again after."""

    def __init__(self, con: duckdb.DuckDBPyConnection, base: str, manifest: Manifest,
                 files: list[str], say: Callable[[], None] | None = None) -> None:
        self.con, self.base, self.manifest, self.files, self.say = con, base, manifest, files, say

    def __enter__(self) -> None:
        if self.say is not None:
            self.say()
        self.con.execute(view_sql(self.base, "events", self.manifest, self.files))

    def __exit__(self, *exc: object) -> None:
        self.con.execute(view_sql(self.base, "events", self.manifest))


def parts(con: Any, limit: int = LIMIT, progress: Progress | None = None) -> list[Part] | None:
    """The batches of the lake a DuckDB connection from `lake.connect` reads, for the `parts`
    of `replay.check`; None for any other connection or when the lake is one batch."""
    lake = opened(con) if isinstance(con, duckdb.DuckDBPyConnection) else None
    if lake is None:
        return None
    base, manifest = lake
    batches = stream_batches(con, base, manifest, limit)
    if len(batches) <= 1:
        return None
    rows = {e["path"]: int(e["rows"]) for e in manifest.tables["events"]["files"]}

    def say(number: int, files: list[str]) -> Callable[[], None] | None:
        if progress is None:
            return None
        return lambda: progress(number, len(batches), sum(rows[f] for f in files))

    return [Part(con, base, manifest, files, say(n, files)) for n, files in enumerate(batches, 1)]
