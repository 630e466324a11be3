"""Drain3 template mining for log messages, and the query for templates new in a time window."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

TEMPLATE_TABLE = "textlog_templates"

# One setting for every file (never per dataset), chosen on the Loghub 2k samples through the
# product path (benchmarks/loghub.py): Drain's similarity threshold and tree depth, and masks in
# the spirit of Drain's preprocessing (variables of any log: ids, addresses, host names, times,
# numbers standing alone or as a `key=` value). Every mask writes Drain's own wildcard `<*>`.
SIM_TH = 0.5
DEPTH = 5
MAX_CHILDREN = 100
_MON = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
DEFAULT_MASKS: tuple[tuple[str, str], ...] = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "*"),
    (r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?" + _MON
     + r" +\d{1,2} \d\d:\d\d:\d\d(?: \d{4})?", "*"),
    (r"(?<![\w.])/?(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?(?![\w.])", "*"),
    (r"\b0x[0-9a-fA-F]+\b", "*"),
    (r"\b[0-9a-fA-F]{16,}\b", "*"),
    (r"(?<![\w/.-])(?:[\w-]+\.){2,}[A-Za-z][\w-]*(?::\d+)?(?![\w/.])", "*"),
    (r"\b\d{1,2}:\d\d(?::\d\d)?(?:[.,]\d+)?\b", "*"),
    (r"(?<![^\s(\[/#,:])[-+]?\d+(?:\.\d+)?(?=$|[\s)\],:;])", "*"),
    (r"(?<==)[-+]?\d+(?:\.\d+)?(?=$|[\s,;)\]])", "*"),
)


@dataclass(frozen=True)
class MinerSettings:
    sim_th: float = SIM_TH
    depth: int = DEPTH
    max_children: int = MAX_CHILDREN
    masks: Sequence[tuple[str, str]] = DEFAULT_MASKS
    extra_delimiters: Sequence[str] = ()
    parametrize_numeric_tokens: bool = True


def make_miner(settings: MinerSettings | None = None) -> TemplateMiner:
    """A TemplateMiner with in-memory state only (no persistence handler, no snapshots)."""
    s = settings or MinerSettings()
    config = TemplateMinerConfig()
    config.drain_sim_th = s.sim_th
    config.drain_depth = s.depth
    config.drain_max_children = s.max_children
    config.drain_extra_delimiters = list(s.extra_delimiters)
    config.parametrize_numeric_tokens = s.parametrize_numeric_tokens
    config.masking_instructions = [MaskingInstruction(rx, mask) for rx, mask in s.masks]
    config.profiling_enabled = False
    return TemplateMiner(persistence_handler=None, config=config)


def template_id(template: str) -> str:
    """Stable across files and runs: the same template text always gets the same id."""
    return "t" + hashlib.sha1(template.encode("utf-8")).hexdigest()[:12]


def mine(messages: Iterable[str], settings: MinerSettings | None = None) -> list[tuple[int, str]]:
    """(Drain cluster id, final template text) per message, after all messages were seen."""
    miner = make_miner(settings)
    clusters = [miner.add_log_message(text)["cluster_id"] for text in messages]
    final = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return [(cid, final[cid]) for cid in clusters]


def template_rows(
    assigned: Sequence[tuple[str, str]], times: Sequence[datetime | None]
) -> list[dict[str, Any]]:
    """One row per template: id, text, count, first_seen, last_seen (times may be missing)."""
    rows: dict[str, dict[str, Any]] = {}
    for (tid, text), ts in zip(assigned, times, strict=True):
        row = rows.setdefault(
            tid, {"template_id": tid, "template": text, "count": 0,
                  "first_seen": None, "last_seen": None}
        )
        row["count"] += 1
        if ts is not None:
            if row["first_seen"] is None or ts < row["first_seen"]:
                row["first_seen"] = ts
            if row["last_seen"] is None or ts > row["last_seen"]:
                row["last_seen"] = ts
    return list(rows.values())


def new_templates(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    settings: MinerSettings | None = None,
) -> list[dict[str, Any]]:
    """Templates first seen at or after `start` and before `end`, over every loaded text log.

    The messages of all files are mined again together, in time order, with the settings and
    order each file's own mining used (time, then file order): for one file the result is that
    file's templates exactly (the ids in events.event_type_raw, the text in events.name). Across
    files one file's miner may keep a literal that another file's generalizes; the same message
    kind must not count as new just because it was mined in a different file, so the kinds are
    the joint mining's, and `file_template_ids` lists the per-file ids each one covers.
    """
    messages = con.execute(
        """SELECT ts, split_part(message, chr(10), 1), source_path, event_type_raw FROM events
           WHERE system = 'generic' AND source = 'textlog' AND NOT is_mirror
           ORDER BY ts NULLS LAST, source_path, record_no"""
    ).fetchall()
    mined = mine((text for _, text, _, _ in messages), settings)
    assigned = [(template_id(text), text) for _, text in mined]
    paths: dict[str, set[str]] = {}
    per_file: dict[str, set[str]] = {}
    for (tid, _), (_, _, path, own) in zip(assigned, messages, strict=True):
        paths.setdefault(tid, set()).add(path)
        per_file.setdefault(tid, set()).add(own or tid)
    fresh = [
        {**row, "source_paths": sorted(paths[row["template_id"]]),
         "file_template_ids": sorted(per_file[row["template_id"]])}
        for row in template_rows(assigned, [m[0] for m in messages])
        if row["first_seen"] is not None and start <= row["first_seen"] < end
    ]
    return sorted(fresh, key=lambda r: (r["first_seen"], r["template_id"]))
