"""The only writer: walk -> detect -> load -> validate -> insert, one transaction per file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
import types
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .errors import IncidentLabError, IngestStopped, NeedsTimezoneError, UsageError
from .loaders import all_loaders, get_loader
from .loaders.base import DETECT_BYTES, LoadContext, Loader, LoadResult, Quarantine, read_head
from .store import check_target, connect
from .timeparse import resolve_tz
from .writer import (
    FileOutcome,
    Load,
    delete_loads,
    drop_temp_objects,
    failed_load_row,
    insert_load_rows,
    write_loads,
)

# SQLite keeps these beside a database; they belong to it and are read with it.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
SKIPPED_DIRS = {".git", "__pycache__", ".ipynb_checkpoints"}


@dataclass
class IngestSummary:
    db: str
    files: list[FileOutcome] = field(default_factory=list)
    unclaimed: list[str] = field(default_factory=list)
    unclaimed_reasons: dict[str, str] = field(default_factory=dict)  # path -> why
    companions: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

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
        return not self.unreadable and not any(
            f.status in ("failed", "needs_tz", "unreadable", "not_loaded") for f in self.files
        )

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
                "not_loaded": self.count("not_loaded"),
                "unreadable": len(self.unreadable) + self.count("unreadable"),
                "event_rows": self.event_rows,
                "quarantined": self.quarantined,
                "unclaimed": len(self.unclaimed),
                "ts_min": low,
                "ts_max": high,
            },
            "files": [asdict(f) for f in self.files],
            "unclaimed": self.unclaimed,
            "unclaimed_reasons": self.unclaimed_reasons,
            "unreadable": self.unreadable,
            "companions": self.companions,
        }


ProgressFn = Callable[[int, int, str], None]

# Small in-memory loads are written together: one transaction and one INSERT per table per batch.
BATCH_FILES = 1000
BATCH_ROWS = 100_000
INLINE_HASH_BYTES = 1 << 20
# The write lock is released between batches at least this often, so readers are not kept waiting.
LOCK_TURN_SECONDS = 1.0
STORAGE_FULL = ("No space left on device", "File too large", "Disk quota exceeded")


def _files_under(root: Path, unreadable: list[str]) -> Iterable[Path]:
    def refused(error: OSError) -> None:
        unreadable.append(f"{error.filename}: {error.strerror or error}")

    for folder, dirs, names in os.walk(root, onerror=refused):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            yield Path(folder) / name


def walk(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path], list[str]]:
    """Expand files and folders into (candidate files, SQLite companions, unreadable), sorted."""
    files: list[Path] = []
    companions: list[Path] = []
    unreadable: list[str] = []
    for given in paths:
        root = Path(given)
        if not root.exists() and not root.is_symlink():
            raise UsageError(f"no such file or folder: {root}", hint="check the path and retry")
        for path in [root] if not root.is_dir() else _files_under(root, unreadable):
            if path.name.endswith(COMPANION_SUFFIXES):
                companions.append(path)
            elif path.is_file():
                files.append(path)
            elif path.is_symlink() or not path.exists():
                unreadable.append(f"{path}: broken symbolic link")
    return files, companions, unreadable


def claimers(path: Path, loaders: Sequence[Loader], head: bytes | None = None) -> list[Loader]:
    head = read_head(path) if head is None else head
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


def _readable_head(path: Path) -> bytes | str:
    """The detection head, or why the file cannot be read."""
    try:
        with path.open("rb") as handle:
            return handle.read(DETECT_BYTES)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"


NO_LOADER = "no loader recognizes its format"


def why_unclaimed(path: Path, loaders: Sequence[Loader], head: bytes) -> str:
    """Why no loader claimed `path` (`head`: its first bytes): the first reason a loader gives."""
    for loader in loaders:
        declines = getattr(loader, "declines", None)
        if declines is None:
            continue
        try:
            reason = declines(path, head)
        except Exception:  # like detect, declines must never raise; one that does says nothing
            continue
        if reason:
            return str(reason)
    return NO_LOADER


def ingest(
    paths: Sequence[str | Path],
    db: str | Path,
    *,
    loader: str | None = None,
    tz: str | None = None,
    force: bool = False,
    progress: ProgressFn | None = None,
    year: int | None = None,
) -> IngestSummary:
    """Ingest files and folders into the database at `db`; see IngestSummary for what happened.

    Raises IngestStopped (with the summary so far) on Ctrl-C or a full disk; what was committed
    before stays, the file or batch being written is rolled back. `year`: the year of text logs
    whose times have none (syslog `Dec 10 06:55:46`), instead of the one the file's mtime gives.
    """
    zone = resolve_tz(tz)
    if year is not None and not 1970 <= int(year) <= 9999:
        raise UsageError(f"--year {year} is out of range", hint="give a year such as 2025")
    forced = get_loader(loader) if loader else None
    loaders = all_loaders()
    check_target(Path(db), read_only=False)
    files, companions, unreadable = walk(paths)
    summary = IngestSummary(db=str(db), companions=[str(p) for p in companions],
                            unreadable=unreadable)
    routed: list[tuple[Path, Loader]] = []
    for path in files:
        head = _readable_head(path)
        if isinstance(head, str):
            summary.unreadable.append(head)
            continue
        found = [forced] if forced else claimers(path, loaders, head)
        if found:
            routed.append((path, found[0]))
        else:
            summary.unclaimed.append(str(path))
            summary.unclaimed_reasons[str(path)] = why_unclaimed(path, loaders, head)
    with _Run(Path(db), summary, zone, force, year) as run:
        for index, (path, chosen) in enumerate(routed):
            if progress:
                progress(index, len(routed), str(path))
            run.file(path, chosen)
        run.flush()
    if progress:
        progress(len(routed), len(routed), "")
    return summary


class _Run:
    """One ingest run: the known loads, the batch being gathered, and the connection.

    The connection is opened when a batch is written (or a loader asks for it) and closed after,
    so readers get the database between batches.
    """

    def __init__(self, db: Path, summary: IngestSummary, zone: Any, force: bool,
                 year: int | None = None) -> None:
        self.db, self.summary, self.zone, self.force = db, summary, zone, force
        self.year = year
        self.con: duckdb.DuckDBPyConnection | None = None
        self.opened_at = 0.0
        self.pending: list[Load] = []
        self.pending_rows = 0
        self.hasher = ThreadPoolExecutor(max_workers=1)
        con = self.connect()
        # (loader, path) -> [(load_id, sha256, size, mtime, status)]
        self.known: dict[tuple[str, str], list[tuple[str, str, int, datetime, str]]] = {}
        self.by_sha: dict[tuple[str, str], list[str]] = {}
        for load_id, name, path, sha, size, mtime, status in con.execute(
            "SELECT load_id, loader, path, sha256, size_bytes, mtime, status FROM _loads"
        ).fetchall():
            self._remember(name, path, (load_id, sha, size, mtime, status))
        self.yield_lock()  # kept open for the first files: reopening costs a catalog load

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.hasher.shutdown(wait=False, cancel_futures=True)
        if exc is not None:
            self._abandon(self.pending, "not written: the run stopped first")
        self.close()
        if isinstance(exc, KeyboardInterrupt):
            raise IngestStopped("interrupted: the file or batch being written was rolled back",
                                self.summary, exit_code=130) from None

    def _remember(self, loader: str, path: str, entry: tuple[str, str, int, datetime, str]) -> None:
        self.known.setdefault((loader, path), []).append(entry)
        if entry[4] == "ok":
            self.by_sha.setdefault((loader, entry[1]), []).append(path)

    # ---- connection ----------------------------------------------------------------------------

    def connect(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            self.con = connect(self.db)
            self.opened_at = time.monotonic()
        return self.con

    def yield_lock(self) -> None:
        """Let waiting readers in about once a second (closing checkpoints: not after each file)."""
        if self.con is not None and time.monotonic() - self.opened_at >= LOCK_TURN_SECONDS:
            self.close()

    def close(self) -> None:
        if self.con is not None:
            with contextlib.suppress(duckdb.Error):
                self.con.close()
            self.con = None

    def _for_loader(self) -> duckdb.DuckDBPyConnection:
        """A loader that reads the store must see every earlier file: write the batch first."""
        self.flush(keep_open=True)
        return self.connect()

    # ---- one file ------------------------------------------------------------------------------

    def file(self, path: Path, loader: Loader) -> None:
        started = time.perf_counter()
        resolved = str(path.resolve())
        outcome = FileOutcome(path=resolved, loader=loader.name, status="loaded")
        self.summary.files.append(outcome)
        try:
            stat = path.stat()
        except OSError as exc:
            outcome.status, outcome.message = "unreadable", f"{exc.strerror or exc}"
            return
        mtime = datetime.fromtimestamp(stat.st_mtime, UTC)
        # hashlib releases the GIL: the sha256 is computed while the loader reads the file,
        # unless the file looks unchanged since its last load (then the hash decides first).
        digest: Future[str] = Future()
        if stat.st_size < INLINE_HASH_BYTES:  # a thread hand-off costs more than hashing it
            digest.set_result(file_sha256(path))
        else:
            digest = self.hasher.submit(file_sha256, path)
        previous = self.known.get((loader.name, resolved), [])
        looks_unchanged = any(e[2] == stat.st_size and e[3] == mtime and e[4] == "ok"
                              for e in previous)
        if not self.force and looks_unchanged and self._unchanged(digest, previous, outcome):
            return
        load = Load(
            load_id=uuid.uuid4().hex[:16], loader=loader, path=path, resolved=resolved, sha="",
            size=stat.st_size, mtime=mtime, zone=self.zone, result=LoadResult(records_read=0),
            started_at=datetime.now(UTC), outcome=outcome, replaces=[e[0] for e in previous],
        )
        ctx = LoadContext(path=path, tz=self.zone, connect=self._for_loader, year=self.year)
        try:
            load.result = loader.load(ctx)
            load.sha = digest.result()
        except IngestStopped:  # the batch written for this loader hit a full disk
            raise
        except Exception as exc:
            if ctx.used_store and self.con is not None:
                drop_temp_objects(self.con)
            with contextlib.suppress(Exception):
                load.sha = digest.result()
            self._failed(load, exc)
            outcome.seconds = time.perf_counter() - started
            return
        if not self.force and self._unchanged(digest, previous, outcome):
            if ctx.used_store and self.con is not None:
                drop_temp_objects(self.con)
            return
        same = [p for p in self.by_sha.get((loader.name, load.sha), []) if p != resolved]
        if same:
            load.result.facts["same_bytes_as"] = sorted(set(same))
        if load.in_memory and not ctx.used_store:
            self.pending.append(load)
            self.pending_rows += _row_count(load)
            if len(self.pending) >= BATCH_FILES or self.pending_rows >= BATCH_ROWS:
                self.flush()
        else:  # relation-backed (or store-reading) loads are written at once, on their own
            self.flush(keep_open=True)
            self._write([load])
            drop_temp_objects(self.connect())
            self.yield_lock()
        outcome.seconds = time.perf_counter() - started

    def _unchanged(self, digest: Any, previous: list, outcome: FileOutcome) -> bool:
        """Idempotency by content: the same bytes at the same path are not loaded again."""
        sha = digest.result()
        for load_id, known_sha, *_rest, status in previous:
            if status == "ok" and known_sha == sha:
                outcome.status, outcome.load_id = "unchanged", load_id
                outcome.message = "already ingested (same path and sha256); use --force to reload"
                return True
        return False

    # ---- writing -------------------------------------------------------------------------------

    def flush(self, *, keep_open: bool = False) -> None:
        """Write the pending batch in one transaction; if that fails, each file on its own."""
        loads, self.pending, self.pending_rows = self.pending, [], 0
        if loads and not self._write(loads, quiet=len(loads) > 1):
            for load in loads:
                self._write([load])
        if not keep_open:
            self.yield_lock()

    def _write(self, loads: list[Load], *, quiet: bool = False) -> bool:
        """Write loads in one transaction. On failure: roll back; unless `quiet`, record the
        failure of the (single) load. Storage full stops the run."""
        con = self.connect()
        try:
            con.begin()
            write_loads(con, loads)
            con.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                con.rollback()
            with contextlib.suppress(Exception):
                con.execute("RESET preserve_insertion_order")
            if not isinstance(exc, Exception):
                self._abandon(loads, "not written: the run was interrupted")
                raise
            if any(marker in str(exc) for marker in STORAGE_FULL):
                self._abandon(loads, "not written: the disk is full")
                raise IngestStopped(
                    f"stopped: the disk holding {self.db} is full ({_one_line(exc)}); the batch "
                    "being written was rolled back", self.summary, exit_code=1,
                    hint="free space, then run the same ingest again (loaded files are skipped)",
                ) from None
            if not quiet:
                self._failed(loads[0], exc)
            return False
        for load in loads:
            load.outcome.load_id = load.load_id
            load.outcome.status = "replaced" if load.replaces else "loaded"
            self._remember(load.loader.name, load.resolved,
                           (load.load_id, load.sha, load.size, load.mtime, "ok"))
            self.known[(load.loader.name, load.resolved)] = [
                e for e in self.known[(load.loader.name, load.resolved)] if e[0] not in load.replaces
            ]
        return True

    def _failed(self, load: Load, exc: BaseException) -> None:
        """Mark the file failed and record it in _loads (its earlier good load stays)."""
        outcome = load.outcome
        if isinstance(exc, NeedsTimezoneError):
            outcome.status, outcome.message = "needs_tz", str(exc)
        elif isinstance(exc, IncidentLabError):
            outcome.status, outcome.message = "failed", str(exc)
        else:
            outcome.status = "failed"
            outcome.message = f"{type(exc).__name__}: {_one_line(exc)} (nothing from this file was written)"
        stale = [e[0] for e in self.known.get((load.loader.name, load.resolved), [])
                 if e[4] != "ok"]
        con = self.connect()
        try:
            con.begin()
            delete_loads(con, stale)
            insert_load_rows(con, [failed_load_row(load, outcome.message or "")])
            con.commit()
        except Exception:  # recording the failure must never hide it
            with contextlib.suppress(Exception):
                con.rollback()
            return
        key = (load.loader.name, load.resolved)
        self.known[key] = [e for e in self.known.get(key, []) if e[0] not in stale]
        self.known[key].append((load.load_id, load.sha, load.size, load.mtime, outcome.status))

    def _abandon(self, loads: list[Load], message: str) -> None:
        for load in loads:
            load.outcome.status, load.outcome.message = "not_loaded", message


def _row_count(load: Load) -> int:
    result = load.result
    return sum(len(part) for part in (result.events, result.metrics, result.quarantine)
               if isinstance(part, list | pa.Table))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def detect_paths(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """For each file: which loaders claim it (the first one wins at ingest)."""
    loaders = all_loaders()
    files, companions, _unreadable = walk(paths)
    report: list[dict[str, Any]] = []
    for path in files:
        head = read_head(path)
        found = [loader.name for loader in claimers(path, loaders, head)]
        report.append({"path": str(path), "loaders": found,
                       **({} if found else {"reason": why_unclaimed(path, loaders, head)})})
    report += [{"path": str(p), "loaders": [], "companion": True} for p in companions]
    return report


@contextlib.contextmanager
def _mapping_env(mapping: str | Path | None) -> Iterator[None]:
    """A generic-log field mapping for this call (detection reads it too: process-wide)."""
    if mapping is None:
        yield
        return
    from .loaders.generic.fields import MAPPING_ENV

    before = os.environ.get(MAPPING_ENV)
    os.environ[MAPPING_ENV] = str(Path(mapping).resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MAPPING_ENV, None)
        else:
            os.environ[MAPPING_ENV] = before


def ingest_evidence(paths: str | Path | Sequence[str | Path], db: str | Path, *,
                    loader: str | None = None, tz: str | None = None,
                    mapping: str | Path | None = None, force: bool = False,
                    year: int | None = None) -> IngestSummary:
    """`incidentlab.ingest`: one path or many, and an optional field mapping file."""
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    with _mapping_env(mapping):
        return ingest(given, db, loader=loader, tz=tz, force=force, year=year)


class _CallableModule(types.ModuleType):
    """Once this module is imported, Python binds the package attribute `incidentlab.ingest` to
    it, hiding the API function of the same name: calling the module is calling that function."""

    def __call__(self, paths: str | Path | Sequence[str | Path], db: str | Path,
                 **kwargs: Any) -> IngestSummary:
        return ingest_evidence(paths, db, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "FileOutcome",
    "IngestSummary",
    "Quarantine",
    "detect_paths",
    "ingest",
    "ingest_evidence",
    "walk",
]
