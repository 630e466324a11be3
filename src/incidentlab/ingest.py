"""The only writer: walk -> detect -> load -> validate -> insert, one transaction per file."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from .errors import IncidentLabError, NeedsTimezoneError, UsageError
from .loaders import all_loaders, get_loader
from .loaders.base import LoadContext, Loader, Quarantine, read_head
from .store import connect
from .timeparse import resolve_tz
from .writer import delete_loads, drop_temp_objects, write_result

# SQLite keeps these beside a database; they belong to it and are read with it.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
SKIPPED_DIRS = {".git", "__pycache__", ".ipynb_checkpoints"}


@dataclass
class FileOutcome:
    path: str
    loader: str | None
    status: str  # loaded | replaced | unchanged | failed | needs_tz
    load_id: str | None = None
    records_read: int = 0
    event_rows: int = 0
    metric_rows: int = 0
    table_rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    ts_min: str | None = None
    ts_max: str | None = None
    message: str | None = None
    seconds: float = 0.0


@dataclass
class IngestSummary:
    db: str
    files: list[FileOutcome] = field(default_factory=list)
    unclaimed: list[str] = field(default_factory=list)
    companions: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def event_rows(self) -> int:
        return sum(f.event_rows for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    @property
    def ok(self) -> bool:
        return not any(f.status in ("failed", "needs_tz") for f in self.files)

    @property
    def ts_range(self) -> tuple[str | None, str | None]:
        lows = [f.ts_min for f in self.files if f.ts_min]
        highs = [f.ts_max for f in self.files if f.ts_max]
        return (min(lows) if lows else None, max(highs) if highs else None)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.ts_range
        return {
            "db": self.db,
            "totals": {
                "files": len(self.files),
                "loaded": self.count("loaded") + self.count("replaced"),
                "unchanged": self.count("unchanged"),
                "failed": self.count("failed") + self.count("needs_tz"),
                "event_rows": self.event_rows,
                "quarantined": self.quarantined,
                "unclaimed": len(self.unclaimed),
                "ts_min": low,
                "ts_max": high,
            },
            "files": [asdict(f) for f in self.files],
            "unclaimed": self.unclaimed,
            "companions": self.companions,
        }


ProgressFn = Callable[[int, int, str], None]


def _files_under(root: Path) -> Iterable[Path]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            yield Path(folder) / name


def walk(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into (candidate files, SQLite companion files), sorted."""
    files: list[Path] = []
    companions: list[Path] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise UsageError(f"no such file or folder: {root}", hint="check the path and retry")
        for path in [root] if root.is_file() else _files_under(root):
            if path.name.endswith(COMPANION_SUFFIXES):
                companions.append(path)
            elif path.is_file():
                files.append(path)
    return files, companions


def claimers(path: Path, loaders: Sequence[Loader]) -> list[Loader]:
    head = read_head(path)
    found = []
    for loader in loaders:
        try:
            if loader.detect(path, head):
                found.append(loader)
        except Exception:  # detect must never raise; a loader that does simply does not claim
            continue
    return found


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def ingest(
    paths: Sequence[str | Path],
    db: str | Path,
    *,
    loader: str | None = None,
    tz: str | None = None,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Ingest files and folders into the database at `db`; see IngestSummary for what happened."""
    zone = resolve_tz(tz)
    forced = get_loader(loader) if loader else None
    loaders = all_loaders()
    files, companions = walk(paths)
    summary = IngestSummary(db=str(db), companions=[str(p) for p in companions])
    routed: list[tuple[Path, Loader]] = []
    for path in files:
        found = [forced] if forced else claimers(path, loaders)
        if found:
            routed.append((path, found[0]))
        else:
            summary.unclaimed.append(str(path))
    con = connect(db)
    try:
        with ThreadPoolExecutor(max_workers=1) as hasher:
            for index, (path, chosen) in enumerate(routed):
                if progress:
                    progress(index, len(routed), str(path))
                summary.files.append(_ingest_file(con, hasher, path, chosen, zone, force))
        if progress:
            progress(len(routed), len(routed), "")
    finally:
        con.close()
    return summary


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    hasher: ThreadPoolExecutor,
    path: Path,
    loader: Loader,
    zone: Any,
    force: bool,
) -> FileOutcome:
    started = time.perf_counter()
    resolved = str(path.resolve())
    outcome = FileOutcome(path=resolved, loader=loader.name, status="loaded")
    # hashlib releases the GIL: the sha256 of a big file is computed while the loader reads it,
    # unless the file looks unchanged since its last load (then the hash decides before any work).
    digest = hasher.submit(file_sha256, path)
    if (
        not force
        and _looks_unchanged(con, loader, path, resolved)
        and _skip_if_ingested(con, loader, digest.result(), resolved, outcome)
    ):
        return outcome
    load_id = uuid.uuid4().hex[:16]
    ctx = LoadContext(con=con, path=path, tz=zone)
    started_at = datetime.now(UTC)
    in_transaction = False
    try:
        # Loaders only read (they may stage temp tables, and may try a fast reader that fails),
        # so they run before the transaction; every write happens inside it.
        result = loader.load(ctx)
        sha = digest.result()
        if not force and _skip_if_ingested(con, loader, sha, resolved, outcome):
            drop_temp_objects(con)
            return outcome
        previous = con.execute(
            "SELECT load_id FROM _loads WHERE loader = ? AND (sha256 = ? OR path = ?)",
            [loader.name, sha, resolved],
        ).fetchall()
        con.begin()
        in_transaction = True
        replaced = delete_loads(con, [row[0] for row in previous])
        write_result(con, load_id, loader, path, resolved, sha, zone, result, started_at, outcome)
        con.commit()
    except BaseException as exc:
        if in_transaction:
            con.rollback()
            con.execute("RESET preserve_insertion_order")
        drop_temp_objects(con)
        if isinstance(exc, NeedsTimezoneError):
            outcome.status, outcome.message = "needs_tz", str(exc)
        elif isinstance(exc, IncidentLabError):
            outcome.status, outcome.message = "failed", str(exc)
        elif isinstance(exc, Exception):
            outcome.status = "failed"
            outcome.message = f"{type(exc).__name__}: {exc} (nothing from this file was written)"
        else:
            raise  # KeyboardInterrupt / SystemExit: the rollback above kept the database as it was
        outcome.seconds = time.perf_counter() - started
        return outcome
    drop_temp_objects(con)
    if replaced:
        outcome.status = "replaced"
    outcome.load_id = load_id
    outcome.seconds = time.perf_counter() - started
    return outcome


def _looks_unchanged(con: duckdb.DuckDBPyConnection, loader: Loader, path: Path, resolved: str) -> bool:
    stat = path.stat()
    rows = con.execute(
        "SELECT load_id FROM _loads WHERE loader = ? AND path = ? AND size_bytes = ? AND mtime = ?",
        [loader.name, resolved, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)],
    ).fetchall()  # fetchall: DuckDB refuses new work while a result is only partly fetched
    return bool(rows)


def _skip_if_ingested(
    con: duckdb.DuckDBPyConnection, loader: Loader, sha: str, resolved: str, outcome: FileOutcome
) -> bool:
    """Idempotency by content: the same bytes already loaded by this loader are not loaded again."""
    same_content = con.execute(
        "SELECT load_id, path FROM _loads WHERE loader = ? AND sha256 = ? ORDER BY path = ? DESC",
        [loader.name, sha, resolved],
    ).fetchall()
    if not same_content:
        return False
    outcome.status = "unchanged"
    outcome.load_id, first_path = same_content[0]
    where = "" if first_path == resolved else f" as {first_path}"
    outcome.message = f"already ingested{where} (same sha256); use --force to reload"
    return True


def detect_paths(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """For each file: which loaders claim it (the first one wins at ingest)."""
    loaders = all_loaders()
    files, companions = walk(paths)
    report = [
        {"path": str(p), "loaders": [loader.name for loader in claimers(p, loaders)]}
        for p in files
    ]
    report += [{"path": str(p), "loaders": [], "companion": True} for p in companions]
    return report


__all__ = [
    "FileOutcome",
    "IngestSummary",
    "Quarantine",
    "detect_paths",
    "ingest",
    "walk",
]
