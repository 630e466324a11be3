"""`lake info`: what a lake holds, from its manifest (no data file is read)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .manifest import MANIFEST, STAGING, read_manifest


def lake_info(directory: str | Path) -> dict[str, Any]:
    """Tables (rows, files, partitions, bytes), systems, time range, loads, databases, size."""
    folder = Path(directory)
    manifest = read_manifest(folder)
    tables = []
    on_disk = (folder / MANIFEST).stat().st_size
    missing: list[str] = []
    for name, spec in manifest.tables.items():
        files = spec["files"]
        size = 0
        for entry in files:
            path = folder / entry["path"]
            if path.exists():
                size += path.stat().st_size
            else:
                missing.append(entry["path"])
        on_disk += size
        partitions = {tuple(sorted(e.get("partition", {}).items())) for e in files if e.get("partition")}
        lows = [e["ts_min"] for e in files if e.get("ts_min")]
        highs = [e["ts_max"] for e in files if e.get("ts_max")]
        tables.append({"table": name, "rows": spec["rows"], "files": len(files),
                       "partitions": len(partitions),
                       "partition_by": spec.get("partition_by", []), "bytes": size,
                       "ts_min": min(lows) if lows else None, "ts_max": max(highs) if highs else None})
    for relative in manifest.stream_index():
        path = folder / relative
        if path.exists():
            on_disk += path.stat().st_size
        else:
            missing.append(relative)
    systems: dict[str, dict[str, Any]] = defaultdict(lambda: {"loads": 0, "events": 0, "metrics": 0})
    for load in manifest.loads:
        entry = systems[load.get("system") or "none"]
        entry["loads"] += 1
        entry["events"] += load.get("rows", {}).get("events", 0)
        entry["metrics"] += load.get("rows", {}).get("metrics", 0)
    events = next((t for t in tables if t["table"] == "events"), None)
    failed = sum(1 for load in manifest.loads if load.get("status") not in (None, "ok"))
    return {
        "lake": str(folder.resolve()),
        "lake_format": manifest.data["lake_format"],
        "schema_version": manifest.data["schema_version"],
        "created_at": manifest.data.get("created_at"),
        "updated_at": manifest.data.get("updated_at"),
        "tables": tables,
        "systems": [{"system": name, **counts} for name, counts in sorted(systems.items())],
        "ts_min": events["ts_min"] if events else None,
        "ts_max": events["ts_max"] if events else None,
        "loads": len(manifest.loads),
        "failed_loads": failed,
        "databases": manifest.databases,
        "bytes": on_disk,
        "missing_files": missing,
        # appends whose events no stream index covers (written before it): replay over the lake
        # then finds its batches by scanning the events' streams (lake/batches.py)
        "stream_index": {"files": len(manifest.stream_index()),
                         "appends_without": manifest.unindexed_batches()},
        "unfinished_append": (folder / STAGING).is_dir(),
    }
