"""The findings contract: FINDING_SCHEMA, the Detector protocol, taxonomy links, frame helpers."""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

import duckdb
import polars as pl

from ...scope import Scope

LEVELS = ("info", "warning", "error", "critical")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}

MAST_URL = "https://arxiv.org/abs/2503.13657"
TRAIL_URL = "https://arxiv.org/abs/2505.08638"

FINDING_SCHEMA: dict[str, pl.DataType] = {
    "finding_id": pl.Utf8(),
    "detector": pl.Utf8(),
    "code": pl.Utf8(),
    "taxonomy": pl.Utf8(),
    "code_name": pl.Utf8(),
    "code_url": pl.Utf8(),
    "level": pl.Utf8(),
    "system": pl.Utf8(),
    "stream": pl.Utf8(),
    "project": pl.Utf8(),
    "title": pl.Utf8(),
    "detail": pl.Utf8(),
    "ts": pl.Datetime("us", "UTC"),
    "ts_end": pl.Datetime("us", "UTC"),
    "event_ids": pl.List(pl.Utf8()),
    "claim_event_id": pl.Utf8(),
    "tokens": pl.Int64(),
    "cost_usd": pl.Float64(),
    "duration_ms": pl.Float64(),
}


@runtime_checkable
class Detector(Protocol):
    """One coded detector: set-based SQL over `events` in scope, findings in FINDING_SCHEMA."""

    name: str
    code: str
    taxonomy: str
    code_name: str
    code_url: str
    level: str

    def run(self, con: duckdb.DuckDBPyConnection, scope: Scope) -> pl.DataFrame: ...


def finding_id(detector: str, stream: str | None, first_event_id: str) -> str:
    """Stable id: sha1 of detector + stream + the first cited event id, 16 hex digits."""
    text = f"{detector}\x1f{stream or ''}\x1f{first_event_id}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def empty() -> pl.DataFrame:
    """No findings, in FINDING_SCHEMA."""
    return pl.DataFrame(schema=FINDING_SCHEMA)


def conform(df: pl.DataFrame, detector: Detector | None = None) -> pl.DataFrame:
    """A detector's rows in FINDING_SCHEMA: missing columns null (the detector's own code,
    taxonomy, name, link and level filled in when it is given), `finding_id` computed when
    absent, columns in contract order. Rows without evidence are a defect: they raise."""
    if df.is_empty():
        return empty()
    if detector is not None:
        defaults = {"detector": detector.name, "code": detector.code,
                    "taxonomy": detector.taxonomy, "code_name": detector.code_name,
                    "code_url": detector.code_url, "level": detector.level}
        for column, value in defaults.items():
            if column not in df.columns:
                df = df.with_columns(pl.lit(value, dtype=pl.Utf8).alias(column))
            else:
                df = df.with_columns(pl.col(column).fill_null(value))
    for column, dtype in FINDING_SCHEMA.items():
        if column not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=dtype).alias(column))
        elif column in ("ts", "ts_end") and df.schema[column] != dtype:
            df = df.with_columns(pl.col(column).dt.convert_time_zone("UTC")
                                 .dt.cast_time_unit("us"))
        else:
            df = df.with_columns(pl.col(column).cast(dtype))
    if df.filter(pl.col("event_ids").is_null() | (pl.col("event_ids").list.len() == 0)).height:
        raise ValueError("a finding without evidence: every finding cites at least one event id")
    if df["finding_id"].null_count():
        df = df.with_columns(pl.struct("detector", "stream", "event_ids").map_elements(
            lambda r: finding_id(r["detector"], r["stream"], r["event_ids"][0]),
            return_dtype=pl.Utf8).alias("_fid")).with_columns(
            pl.coalesce("finding_id", "_fid").alias("finding_id")).drop("_fid")
    bad = set(df["level"].unique().to_list()) - set(LEVELS)
    if bad:
        raise ValueError(f"finding levels must be one of {', '.join(LEVELS)}, not {sorted(bad)}")
    return df.select(list(FINDING_SCHEMA))
