"""Filtered event slices out of the store: Timesketch JSONL, JSONL, CSV or partitioned Parquet.

Every format is redacted by default (the one redactor, `incidentlab.redaction`; `redact=False`
/ `--no-redact` opts out), and the text formats write control characters (ANSI / OSC escape
sequences, CR, BEL, C1) as visible `\\xNN` text, redacted or not.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import UsageError
from ..store import EVENT_COLUMNS, connect
from .paths import resolve_db
from .query import Filters, events_sql
from .secrets import make_redactor, transform_frame

FORMATS = ("timesketch", "jsonl", "csv", "parquet")
TEXT_FORMATS = ("timesketch", "jsonl", "csv")  # read by people and terminals: controls escaped
_BATCH_ROWS = 20_000
_ISO = "strftime(ts, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"
_CANONICAL = [name for name, _ in EVENT_COLUMNS]

# Timesketch needs message, datetime (ISO 8601) and timestamp_desc; extra columns are kept as
# fields. attrs goes in as a JSON string: nested objects of varying shape break index mappings.
_TIMESKETCH = f"""
SELECT
    coalesce(nullif(trim(message), ''), concat_ws(' ', event_type, name)) AS message,
    {_ISO} AS datetime,
    CASE ts_quality WHEN 'exact' THEN 'Event time'
                    ELSE 'Event time (' || ts_quality || ')' END AS timestamp_desc,
    epoch_us(ts) AS timestamp,
    {", ".join(f'"{c}"' for c in _CANONICAL if c not in ("ts", "message", "attrs"))},
    CAST(attrs AS VARCHAR) AS attrs_json
FROM _il_export WHERE ts IS NOT NULL"""

_PLAIN = f"""
SELECT {", ".join(f"{_ISO} AS ts" if c == "ts" else f'"{c}"' for c in _CANONICAL if c != "attrs")},
       {{attrs}} AS attrs
FROM _il_export"""


@dataclass
class ExportResult:
    format: str
    path: Path
    rows: int
    skipped_no_time: int
    redacted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "path": str(self.path), "rows": self.rows,
                "skipped_no_time": self.skipped_no_time, "redacted": self.redacted}


def _check_target(fmt: str, out: Path, overwrite: bool) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint=f"choose one of: {', '.join(FORMATS)}")
    if fmt == "timesketch" and out.suffix != ".jsonl":
        raise UsageError(f"{out}: --format timesketch writes JSON Lines, which Timesketch "
                         "imports only from a file named *.jsonl",
                         hint="name the output e.g. incident.jsonl (--format csv writes a CSV)")
    if out.exists() and not overwrite:
        raise UsageError(f"{out} exists", hint="pass --overwrite or choose another --out")


def export_events(
    db: str | Path,
    fmt: str,
    out: str | Path,
    filters: Filters | None = None,
    *,
    redact: bool = True,
    overwrite: bool = False,
    rules_path: str | Path | None = None,
) -> ExportResult:
    """Write the events matching `filters` (all, by default) to `out` in format `fmt`.

    Redacted unless `redact=False` (user patterns from `rules_path`'s [redaction] table too).
    """
    out = Path(out)
    _check_target(fmt, out, overwrite)
    filters = filters or Filters()
    con = connect(resolve_db(db), read_only=True)
    try:
        reader = con.cursor()
        sql, params = events_sql(filters)
        relation = reader.sql(sql, params=params or None)
        redactor = make_redactor(redact, rules_path)
        escape = fmt in TEXT_FORMATS
        con.execute(f"CREATE TEMP TABLE _il_rows AS SELECT * FROM ({sql}) LIMIT 0",
                    params or None)
        batches = relation.to_arrow_reader(_BATCH_ROWS)
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            con.register("_il_batch", transform_frame(frame, redactor, escape=escape))
            con.execute("INSERT INTO _il_rows BY NAME SELECT * FROM _il_batch")
            con.unregister("_il_batch")
        con.execute("CREATE TEMP VIEW _il_export AS SELECT * FROM _il_rows")
        total = con.execute("SELECT count(*) FROM _il_rows").fetchall()[0][0]
        undated = con.execute("SELECT count(*) FROM _il_rows WHERE ts IS NULL").fetchall()[0][0]
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        out.parent.mkdir(parents=True, exist_ok=True)
        target = str(out).replace("'", "''")
        if fmt == "timesketch":
            con.execute(f"COPY ({_TIMESKETCH}) TO '{target}' (FORMAT json)")
            written, skipped = total - undated, undated
        elif fmt == "jsonl":
            query = _PLAIN.format(attrs="CAST(attrs AS JSON)")
            con.execute(f"COPY ({query}) TO '{target}' (FORMAT json)")
            written, skipped = total, 0
        elif fmt == "csv":
            query = _PLAIN.format(attrs="CAST(attrs AS VARCHAR)")
            con.execute(f"COPY ({query}) TO '{target}' (FORMAT csv, HEADER)")
            written, skipped = total, 0
        else:
            query = ("SELECT * EXCLUDE (attrs), CAST(attrs AS VARCHAR) AS attrs, "
                     "coalesce(strftime(ts, '%Y-%m-%d'), 'undated') AS date FROM _il_export")
            con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, "
                        "PARTITION_BY (system, date), OVERWRITE_OR_IGNORE)")
            written, skipped = total, 0
        return ExportResult(fmt, out, written, skipped, redact)
    finally:
        con.close()
