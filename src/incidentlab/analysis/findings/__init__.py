"""Findings: coded observations about agent runs (MAST / TRAIL codes), each citing its events.

The contract (docs/findings.md): `FINDING_SCHEMA`, the `Detector` protocol, the `DETECTORS`
registry and `find()`. Detector modules in this package import the contract from `.base`, not
from this package (this module imports them: importing it back would be a cycle).
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from ...errors import UsageError
from ...scope import Scope
from .base import FINDING_SCHEMA, LEVEL_RANK, LEVELS, MAST_URL, TRAIL_URL, Detector, conform, empty
from .claims import DETECTORS as _CLAIMS
from .detectors import DETECTORS as _GENERIC
from .detectors import SqlDetector
from .steps import steps_sql

__all__ = ["DETECTORS", "FINDING_SCHEMA", "LEVELS", "LEVEL_RANK", "MAST_URL", "TRAIL_URL",
           "Detector", "detector_names", "find"]


DETECTORS: tuple[Detector, ...] = (*_GENERIC, *_CLAIMS)
STEPS_TABLE = "_il_finding_steps"


def detector_names() -> list[str]:
    return [d.name for d in DETECTORS]


def find(con: duckdb.DuckDBPyConnection, scope: Scope | dict[str, Any] | None = None, *,
         detectors: Any = None, min_level: str | None = None, **fields: Any) -> pl.DataFrame:
    """Every detector (or the named ones) over the scope, concatenated in FINDING_SCHEMA,
    sorted by (ts nulls last, system, stream, detector); `min_level` keeps that level and up."""
    scope = Scope.of(scope, **fields)
    wanted = DETECTORS
    if detectors is not None:
        names = [detectors] if isinstance(detectors, str) else list(detectors)
        unknown = set(names) - set(detector_names())
        if unknown:
            raise UsageError(f"unknown detector(s): {', '.join(sorted(unknown))}",
                             hint=f"detectors are {', '.join(detector_names())}")
        wanted = tuple(d for d in DETECTORS if d.name in names)
    if min_level is not None and min_level not in LEVEL_RANK:
        raise UsageError(f"unknown level {min_level!r}", hint=f"levels are {', '.join(LEVELS)}")
    shared = [d for d in wanted if isinstance(d, SqlDetector)]
    if shared:  # the tool steps of the scope, computed once for every detector that reads them
        con.execute(f"CREATE OR REPLACE TEMP TABLE {STEPS_TABLE} AS WITH {steps_sql(scope)} "
                    "FROM steps")
    try:
        frames = [conform(d.run(con, scope, steps=STEPS_TABLE) if d in shared
                          else d.run(con, scope), d) for d in wanted]
    finally:
        if shared:
            con.execute(f"DROP TABLE IF EXISTS {STEPS_TABLE}")
    out = pl.concat([f for f in frames if not f.is_empty()] or [empty()], how="vertical")
    if min_level is not None:
        out = out.filter(pl.col("level").replace_strict(LEVEL_RANK, return_dtype=pl.Int64)
                         >= LEVEL_RANK[min_level])
    return out.sort(["ts", "system", "stream", "detector", "finding_id"], nulls_last=True)
