"""Mutation fuzzing of loaders: damage valid evidence byte by byte or value by value, ingest it
through the product's own path, and count what was lost (the tests and benchmarks/fuzz_ingest.py)."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incidentlab.ingest import detect_paths, ingest
from incidentlab.loaders.reading.sqlite import is_sqlite
from incidentlab.store import connect

FIXTURES = Path(__file__).parent / "fixtures"

# Values that have broken loaders: wrong types, out-of-range numbers and times, bad text.
NASTY: list[Any] = [
    None, 42, -1, 0, 5.5, 2**70, -(2**70), 2**63, 1e300, -1e21, float("nan"), float("inf"),
    True, "", "\ud800", "infinity", "-infinity", "epoch", "NaN", "99999-01-01T00:00:00Z",
    "2026-03-01T10:00:00+99:99", "1969-12-31T23:59:59Z", 1772355600, "1772355600", [], {},
    [1, "a", None], {"nested": {"x": [1, 2]}}, "x" * 70_000, "line\nbreak\r\u0000nul",
    "\u202e\ufeff", "2026-13-45T99:99:99Z", -0.0, 1e-300,
]
BYTES = [b"\xff", b"\xc3", b"\x00", b"\r", b"\n", b"\n\n", b"  \n", b"\xef\xbb\xbf", b"{", b"}",
         b'"', b"\\", b"\xed\xa0\x80", b"\x80\x80", b"\t\r\n"]


@dataclass
class Seed:
    """A valid evidence file and the loader that claims it."""

    path: Path
    relative: Path
    loader: str
    kind: str  # jsonl | document | sqlite | text


@dataclass
class Tally:
    cases: int = 0
    files_failed: int = 0
    records_lost: int = 0
    bad_record_no: int = 0
    unusable_db: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.cases += other.cases
        self.files_failed += other.files_failed
        self.records_lost += other.records_lost
        self.bad_record_no += other.bad_record_no
        self.unusable_db += other.unusable_db
        self.problems += other.problems

    @property
    def clean(self) -> bool:
        return not (self.files_failed or self.records_lost or self.bad_record_no or self.unusable_db)


def kind_of(path: Path) -> str:
    data = path.read_bytes()
    if is_sqlite(data[:16]):
        return "sqlite"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    text = data.decode("utf-8", "replace").strip()
    try:
        json.loads(text)
        return "document"
    except ValueError:
        pass
    lines = [ln for ln in text.splitlines() if ln.strip()]
    parsed = 0
    for line in lines:
        with contextlib.suppress(ValueError):
            parsed += isinstance(json.loads(line), dict)
    return "jsonl" if lines and parsed >= len(lines) * 0.8 else "text"


def seeds(roots: list[Path]) -> list[Seed]:
    """Every file under `roots` that a loader claims, with its kind."""
    found = []
    for root in roots:
        for item in detect_paths([root]):
            if item.get("companion") or not item["loaders"]:
                continue
            path = Path(item["path"])
            if path.stat().st_size > 2_000_000:
                continue
            found.append(Seed(path, path.relative_to(root), item["loaders"][0], kind_of(path)))
    return found


# ---- mutations ---------------------------------------------------------------------------------


def _dump(value: Any) -> str:
    return json.dumps(value)  # NaN / Infinity are written as the bare words, lone surrogates escaped


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:20]):
            yield from _paths(item, (*prefix, index))


def _set(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    value[head] = _set(value[head], rest, new)
    return value


def mutate_value(value: Any, rng: random.Random) -> str:
    """JSON text of `value` with one member replaced (or removed, or buried deep)."""
    candidates = list(_paths(value))
    target = rng.choice(candidates[1:] or candidates)
    choice = rng.random()
    if choice < 0.08:
        text = _dump(_set(value, target, "__DEEP__"))
        return text.replace('"__DEEP__"', _deep(rng.choice([250, 1100, 5000])))
    if choice < 0.15 and target:
        parent = value
        for step in target[:-1]:
            parent = parent[step]
        if isinstance(parent, dict):
            del parent[target[-1]]
            return _dump(value)
    return _dump(_set(value, target, rng.choice(NASTY)))


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return rng.choice(BYTES)
    at = rng.randrange(len(data))
    choice = rng.random()
    if choice < 0.35:
        return data[:at] + rng.choice(BYTES) + data[at:]
    if choice < 0.6:
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
    if choice < 0.7:
        return data[:at]
    if choice < 0.8:
        return b"\xef\xbb\xbf" + data
    if choice < 0.9:
        return data[:at] + data[at + rng.randrange(1, 64):]
    lines = data.split(b"\n")
    pick = rng.randrange(len(lines))
    lines.insert(pick, lines[rng.randrange(len(lines))])
    return b"\n".join(lines)


def mutate_lines(data: bytes, rng: random.Random) -> bytes:
    """Value-level damage to one or two JSON lines."""
    lines = data.split(b"\n")
    for _ in range(rng.choice([1, 1, 2])):
        index = rng.randrange(len(lines))
        try:
            value = json.loads(lines[index])
        except (ValueError, RecursionError):
            continue
        lines[index] = mutate_value(value, rng).encode("utf-8", "surrogatepass")
    return b"\n".join(lines)


def mutate_document(data: bytes, rng: random.Random) -> bytes:
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return mutate_bytes(data, rng)
    return mutate_value(value, rng).encode("utf-8", "surrogatepass")


SQLITE_VALUES: list[Any] = [
    None, 42, 2**63 - 1, -(2**63), 1e300, "", "infinity", "epoch", "2026-03-01T10:00:00+99:99",
    "{", _deep(1100), "[" * 300 + "]" * 300, "x" * 70_000, b"\xff\xfe", "1772355600", "\ud800",
]


def mutate_sqlite(path: Path, rng: random.Random) -> None:
    """In place: set cells to nasty values, or break bytes inside a page after the first."""
    if rng.random() < 0.25:
        data = bytearray(path.read_bytes())
        page = 4096
        if len(data) > 2 * page:
            at = rng.randrange(page, len(data))
            for offset in range(rng.randrange(1, 64)):
                if at + offset < len(data):
                    data[at + offset] = rng.randrange(256)
            path.write_bytes(bytes(data))
            return
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        for _ in range(rng.randrange(1, 4)):
            if not tables:
                break
            table = rng.choice(tables)
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            rowids = [r[0] for r in con.execute(f'SELECT rowid FROM "{table}" LIMIT 200')]
            if not columns or not rowids:
                continue
            value = rng.choice(SQLITE_VALUES)
            column, rowid = rng.choice(columns), rng.choice(rowids)
            if isinstance(value, str) and "\ud800" in value:
                sql, params = f'UPDATE "{table}" SET "{column}" = CAST(? AS TEXT) WHERE rowid = ?', [
                    b"\xed\xa0\x80", rowid]
            elif isinstance(value, bytes):
                sql, params = f'UPDATE "{table}" SET "{column}" = CAST(? AS TEXT) WHERE rowid = ?', [
                    value, rowid]
            else:
                sql, params = f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = ?', [value, rowid]
            try:
                con.execute(sql, params)
            except sqlite3.Error:
                continue
        con.commit()
    finally:
        con.close()


def mutate(seed: Seed, target: Path, rng: random.Random) -> None:
    """Write a damaged copy of `seed` at `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if seed.kind == "sqlite":
        shutil.copy(seed.path, target)
        mutate_sqlite(target, rng)
        return
    data = seed.path.read_bytes()
    if rng.random() < 0.5 or seed.kind in ("text", "gzip"):
        damaged = mutate_bytes(data, rng)
    elif seed.kind == "jsonl":
        damaged = mutate_lines(data, rng)
    else:
        damaged = mutate_document(data, rng)
    target.write_bytes(damaged)


# ---- checking ----------------------------------------------------------------------------------


def nonblank_lines(path: Path) -> set[int]:
    found = set()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if raw.strip():
                found.add(number)
    return found


def run_cases(seed: Seed, count: int, work: Path, rng: random.Random) -> Tally:
    """`count` damaged copies of one seed, ingested in one run with the seed's loader forced."""
    tally = Tally(cases=count)
    if work.exists():
        shutil.rmtree(work)
    files: list[Path] = []
    for index in range(count):
        target = work / "cases" / f"c{index}" / seed.relative
        mutate(seed, target, rng)
        files.append(target)
    db = work / "fuzz.duckdb"
    summary = ingest([work / "cases"], db, loader=seed.loader, tz="UTC")
    outcomes = {Path(f.path): f for f in summary.files}
    con = connect(db, read_only=True)
    try:
        for path in files:
            outcome = outcomes.get(path.resolve())
            if outcome is None or outcome.status in ("failed", "needs_tz"):
                tally.files_failed += 1
                tally.problems.append(f"{seed.loader} {path}: {outcome and outcome.message}")
                continue
            if seed.kind == "jsonl":
                expected = nonblank_lines(path)
                if outcome.records_read != len(expected):
                    tally.records_lost += abs(len(expected) - outcome.records_read)
                    tally.problems.append(
                        f"{seed.loader} {path}: read {outcome.records_read} of {len(expected)} lines")
                numbers = {r[0] for r in con.execute(
                    "SELECT record_no FROM events WHERE load_id = ? UNION "
                    "SELECT record_no FROM _load_warnings WHERE load_id = ? AND record_no IS NOT NULL",
                    [outcome.load_id, outcome.load_id]).fetchall()}
                stray = numbers - expected - {None}
                if stray:
                    tally.bad_record_no += 1
                    tally.problems.append(f"{seed.loader} {path}: record_no {sorted(stray)[:5]} "
                                          "is not a non-blank line")
        try:
            con.execute("SELECT * FROM events").fetchall()
            con.execute("SELECT * FROM metrics").fetchall()
        except Exception as exc:  # a value Python cannot hold breaks every analysis
            tally.unusable_db += 1
            tally.problems.append(f"{seed.loader}: database unusable: {type(exc).__name__}: {exc}")
    finally:
        con.close()
    return tally


# ---- direct loads (no store), for property tests of one loader ---------------------------------


def load_direct(loader: str, path: Path, tz: Any = None) -> Any:
    """A loader's LoadResult for `path`, relations materialized (they die with the connection)."""
    import duckdb

    from incidentlab.loaders import get_loader
    from incidentlab.loaders.base import LoadContext
    from incidentlab.timeparse import register_macros

    con = duckdb.connect()
    register_macros(con)
    try:
        result = get_loader(loader).load(LoadContext(con=con, path=path, tz=tz))
        result.events = _materialized(result.events)
        if result.settle is not None:  # a streaming loader's counts, as the writer asks for them
            result.records_read, result.quarantine = result.settle(len(result.events or []))
        result.quarantine = _materialized(result.quarantine)
        return result
    finally:
        con.close()


def _materialized(rows: Any) -> Any:
    import duckdb

    if isinstance(rows, duckdb.DuckDBPyRelation):
        return [dict(zip(rows.columns, r, strict=True)) for r in rows.fetchall()]
    return rows


def record_nos(rows: Any) -> list[Any]:
    return [r.get("record_no") if isinstance(r, dict) else r.record_no for r in rows or []]


def assert_accounted(loader: str, path: Path, result: Any, kind: str,
                     shared_numbers: frozenset[str] = frozenset()) -> None:
    """Every record counted once; a quarantined record leaves no rows; line numbers are real.

    `shared_numbers`: loaders whose record numbers restart per list or table (then a row and a
    quarantined record may share a number).
    """
    quarantined = [n for n in record_nos(result.quarantine) if n is not None]
    assert len(quarantined) <= result.records_read
    rows = set(record_nos(result.events)) - {None}
    if loader not in shared_numbers:
        assert len(set(quarantined)) == len(quarantined), "a record quarantined twice"
        assert not rows & set(quarantined), f"rows of quarantined records {rows & set(quarantined)}"
    if kind == "jsonl":
        lines = nonblank_lines(path)
        assert result.records_read == len(lines)
        assert (rows | set(quarantined)) <= lines


def damaged_copy(seed: Seed, folder: Path, rng_seed: int) -> Path:
    """A damaged copy of `seed` in a fresh subfolder of `folder`."""
    target = folder / uuid.uuid4().hex[:8] / seed.relative
    mutate(seed, target, random.Random(rng_seed))
    return target
