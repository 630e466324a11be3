"""The mixed incident database of the incident and milestone tests: a Loghub log slice, a Codex
rollout slice and the demo bundle copied without keeping mtimes."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.demo import build_bundle
from incidentlab.demo.story import LOCAL_TZ
from incidentlab.ingest import ingest

from conftest import FIXTURES

SLICES = FIXTURES / "incidents"
LOGHUB = SLICES / "loghub" / "Zookeeper_2k_slice.log"
CODEX = next((SLICES / "codex").glob("rollout-*.jsonl"))
# Only failed tool results count, 2 within 2 minutes pages: independent of the shipped rules.
TEST_RULES = """
[[rule]]
id = "test.tool_failures"
title = "two failed tool results within 2 minutes"
kind = "count"
event_types = ["tool.result"]
where = "outcome = 'error'"
window = "2 minutes"
levels = [{ level = "page", at_least = 2 }]
"""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build_mixed(root: Path) -> Path:
    """Loghub (naive times, read as UTC), Codex, and the demo copied without keeping mtimes."""
    demo = build_bundle(root / "demo")
    copied = root / "copied-evidence"
    shutil.copytree(demo.root / "evidence", copied, copy_function=shutil.copy)  # like `cp -r`
    db = root / "mixed.duckdb"
    assert ingest([LOGHUB], db, tz="UTC").ok
    assert ingest([CODEX, copied], db, tz=LOCAL_TZ).ok
    return db
