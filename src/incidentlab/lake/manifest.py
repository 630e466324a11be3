"""The lake's manifest.json: what the lake holds, written last (temp file + rename) on every append."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import IncidentLabError, SchemaMismatchError
from ..store import SCHEMA_VERSION

MANIFEST = "manifest.json"
LAKE_FORMAT = 1
STAGING = "_staging"
LOCK = ".lake.lock"
# Hive partition columns of the partitioned tables: named so they never clash with a real column
# (the real `system` and `ts` stay inside every file, with their own types).
PARTITION_COLUMNS = ("p_system", "p_date")
PARTITIONED_TABLES = ("events", "metrics")
STREAM_INDEX = "_stream_index"  # per append: its (stream, events file) pairs (lake/batches.py)
NO_PARTITION_VALUE = "none"  # p_system of a row without a system, p_date of a row without a time
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class LakeError(IncidentLabError):
    """The lake folder is missing, damaged, locked or does not fit what is written into it."""


class LakeNotFoundError(LakeError):
    """No manifest.json where a lake was expected."""


def is_url(location: str | Path) -> bool:
    """s3://, gs://, https://...: object storage, read through DuckDB's httpfs."""
    return bool(_URL.match(str(location)))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Manifest:
    """The parsed manifest. `data` is the JSON document itself (see docs/lake.md)."""

    data: dict[str, Any]

    @classmethod
    def new(cls) -> Manifest:
        stamp = now_iso()
        return cls({"lake_format": LAKE_FORMAT, "schema_version": SCHEMA_VERSION,
                    "created_at": stamp, "updated_at": stamp, "databases": [], "loads": [],
                    "tables": {}})

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return self.data["tables"]

    @property
    def loads(self) -> list[dict[str, Any]]:
        return self.data["loads"]

    @property
    def databases(self) -> list[dict[str, Any]]:
        return self.data["databases"]

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, DuckDB type) of a table, in the original order."""
        return [(name, typ) for name, typ in self.tables[table]["columns"]]

    def files(self, table: str) -> list[str]:
        """The table's data files, relative to the lake folder ('events/p_system=.../x.parquet')."""
        return [entry["path"] for entry in self.tables[table]["files"]]

    def stream_index(self) -> list[str]:
        """The stream index's files ('_stream_index/<batch>.parquet'), one per append that
        added events; lakes written before the index have none for their earlier batches."""
        return [entry["path"] for entry in self.data.get("stream_index", [])]

    def unindexed_batches(self) -> list[str]:
        """The appends whose events no stream index covers (written before it)."""
        indexed = {entry["batch"] for entry in self.data.get("stream_index", [])}
        return sorted({e.get("batch") for e in self.tables.get("events", {}).get("files", [])
                       if e.get("rows")} - indexed)

    def rows(self, table: str) -> int:
        return int(self.tables[table]["rows"])

    def load_keys(self) -> set[tuple[str, str]]:
        return {load_key(entry) for entry in self.loads}

    def check_version(self, where: str) -> None:
        fmt, version = self.data.get("lake_format"), self.data.get("schema_version")
        if fmt != LAKE_FORMAT:
            raise LakeError(f"{where} is lake format {fmt}, this incidentlab reads format {LAKE_FORMAT}",
                            hint="write the lake again with `incidentlab lake write`")
        if version != SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"{where} holds schema version {version}, this incidentlab expects {SCHEMA_VERSION}",
                hint="write the lake again from databases ingested by this version")


def load_key(load: dict[str, Any]) -> tuple[str, str]:
    """What makes two loads the same: the loader and the sha256 of the file it read (the path
    when a failed load recorded no digest)."""
    sha = load.get("sha256")
    return (str(load.get("loader")), f"sha256:{sha}" if sha else f"path:{load.get('path')}")


def read_manifest(directory: str | Path) -> Manifest:
    """The manifest of a local lake folder, version checked."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        if Path(directory).exists() and not Path(directory).is_dir():
            raise LakeNotFoundError(f"{directory} is a file, not a lake folder",
                                    hint="give the folder `incidentlab lake write --out` wrote")
        raise LakeNotFoundError(f"no lake at {directory} (no {MANIFEST})",
                                hint="write one with `incidentlab lake write --db DB --out DIR`")
    return parse_manifest(path.read_text(encoding="utf-8"), str(path))


def parse_manifest(text: str, where: str) -> Manifest:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LakeError(f"{where} is not JSON ({exc.msg} at line {exc.lineno})",
                        hint="restore it from a copy, or write the lake again") from exc
    if not isinstance(data, dict) or "tables" not in data:
        raise LakeError(f"{where} is not an incidentlab lake manifest",
                        hint="give the folder `incidentlab lake write --out` wrote")
    manifest = Manifest(data)
    manifest.check_version(where)
    return manifest


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Replace manifest.json atomically: a reader sees the old one or the new one, never half."""
    manifest.data["updated_at"] = now_iso()
    target = directory / MANIFEST
    temp = directory / f".{MANIFEST}.{os.getpid()}.tmp"
    with temp.open("w", encoding="utf-8") as handle:
        json.dump(manifest.data, handle, indent=1, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
