"""Drain3 template mining for log messages, and the query for templates new in a time window."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
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
# sizes and durations with their unit, hex ids, numbers standing alone or as a `key=` value).
# Every mask writes Drain's own wildcard `<*>`; masks apply in order, so a later one sees the
# wildcards of the earlier ones.
SIM_TH = 0.5
DEPTH = 5
MAX_CHILDREN = 100
# A wildcard slot of a Drain cluster whose members hold at most this many distinct words there
# (states, start/end, on/off, protocol names) is an enumeration of constants, not a variable:
# the cluster is split by that word (see `split_constants`).
MAX_CONSTANT_VALUES = 3
_MON = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_NUM = r"\d+(?:[.,]\d+)?"
DEFAULT_MASKS: tuple[tuple[str, str], ...] = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "*"),
    (r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?" + _MON
     + r" +\d{1,2} \d\d:\d\d:\d\d(?: \d{4})?", "*"),
    (r"(?<![\w.])/?(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?(?![\w.])", "*"),
    # a size or a duration with its unit is one value: `0 bytes`, `0.5 KB`, `64172MB`, `<1 sec`
    (r"(?<![\w.])[<>~]?" + _NUM + r" ?(?:[KMGTP]i?B|bytes?|B|ns|us|ms|s|secs?|seconds?|mins?"
     r"|minutes?|h|hrs?|hours?)(?!\w)", "*"),
    (r"\b0x[0-9a-fA-F]+\b", "*"),
    (r"\b[0-9a-fA-F]{16,}\b", "*"),
    # a hex id without 0x (`9f4ef63`, `c0000700`): hex digits, at least one digit and one letter
    (r"(?<![0-9A-Za-z_])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}(?![0-9A-Za-z_])",
     "*"),
    (r"(?<![\w/.-])(?:[\w-]+\.){2,}[A-Za-z][\w-]*(?::\d+)?(?![\w/.])", "*"),
    (r"\b\d{1,2}:\d\d(?::\d\d)?(?:[.,]\d+)?\b", "*"),
    (r"(?<![^\s(\[/#,:])[-+]?\d+(?:\.\d+)?(?=$|[\s)\],:;])", "*"),
    (r"(?<==)[-+]?\d+(?:\.\d+)?(?=$|[\s,;)\]])", "*"),
    # a value followed by its other rendering in parentheses, or by empty ones, is one value:
    # `<size> (<size>)`, `<ip> (<host>)`, `<ip> ()`
    (r"<\*> \((?:<\*>)?\)", "*"),
)


@dataclass(frozen=True)
class MinerSettings:
    sim_th: float = SIM_TH
    depth: int = DEPTH
    max_children: int = MAX_CHILDREN
    masks: Sequence[tuple[str, str]] = DEFAULT_MASKS
    extra_delimiters: Sequence[str] = ()
    parametrize_numeric_tokens: bool = True
    max_constant_values: int = MAX_CONSTANT_VALUES


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
    """(group number, final template text) per message, after all messages were seen.

    Drain3 clusters the masked messages; each cluster is then split by the constant words its
    wildcard slots hold (`split_constants`). Messages with the same template text are one group.
    """
    s = settings or MinerSettings()
    miner = make_miner(s)
    drain = miner.drain
    clusters: list[int] = []
    masked: list[str] = []
    for text in messages:
        content = miner.masker.mask(text)
        cluster, _ = drain.add_log_message(content)
        clusters.append(cluster.cluster_id)
        masked.append(content)
    final = {c.cluster_id: list(c.log_template_tokens) for c in drain.clusters}
    members: dict[int, list[int]] = {}
    for index, cid in enumerate(clusters):
        members.setdefault(cid, []).append(index)
    texts: list[str] = [""] * len(masked)
    for cid, indexes in members.items():
        tokens = [drain.get_content_as_tokens(masked[i]) for i in indexes]
        for (positions, template) in split_constants(final[cid], tokens, s.max_constant_values):
            for position in positions:
                texts[indexes[position]] = template
    numbers: dict[str, int] = {}
    return [(numbers.setdefault(text, len(numbers) + 1), text) for text in texts]


WILDCARD = "<*>"
_KEY = re.compile(r"([A-Za-z_][\w.-]*)=")
_DIGITS = re.compile(r"\d+")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{8,}")


def _variable(token: str) -> bool:
    """A token that is a value, never a constant: masked (in part), a path, a long hex run."""
    return (WILDCARD in token or "/" in token[1:] or "\\" in token
            or _HEX_RUN.fullmatch(token) is not None)


def _word(token: str) -> str | None:
    """What two tokens must share to be the same constant (digits aside), None for a value."""
    return None if _variable(token) else _DIGITS.sub("", token)


def _key_name(token: str) -> str:
    match = _KEY.match(token)
    return match.group(1) if match else ""


def _slot_key(values: set[str], limit: int) -> Callable[[str], str | None] | None:
    """How a wildcard slot splits its cluster (token -> constant), or None: the slot is a value.

    `key=value` tokens with different keys are different constants (`num=<*>,flags=<*>` vs
    `topActivity=...`); with one key, the values decide as plain tokens do. A slot is constant
    when every token there is a word (no wildcard, path or hex run), 2..limit words occur, and
    each word is spelled one way: words that differ only in their digits (`eth0`, `eth1`;
    `rdd_2_0`, `rdd_3_1`) are a numbered family, a variable. One masked or path-like member
    makes the whole slot a variable.
    """
    names = {_key_name(v) if _KEY.match(v) else None for v in values}
    if len(names) > 1 and None not in names:
        return _key_name if len(names) <= limit else None
    key: Callable[[str], str | None] = _value_word if len(names) == 1 and None not in names \
        else _word
    words = {key(v) for v in values}
    if None in words or not 2 <= len(words) <= limit or len(words) < len(values):
        return None
    return key


def _value_word(token: str) -> str | None:
    match = _KEY.match(token)
    return _word(token[match.end():] if match else token)


def _render(values: set[str]) -> str:
    """A slot's text in a split group: its one value, else `key=<*>` (keys split it), else `<*>`."""
    if len(values) == 1:
        return next(iter(values))
    names = {_key_name(v) for v in values}
    return f"{names.pop()}={WILDCARD}" if len(names) == 1 and "" not in names else WILDCARD


def split_constants(
    template: Sequence[str], members: Sequence[Sequence[str]], limit: int
) -> list[tuple[list[int], str]]:
    """A Drain cluster's members grouped by the constants in its wildcard slots.

    Drain merges messages that agree on most tokens: two kinds that differ in one word (`Bye
    Bye` vs `disconnected by user`, `HTTPS` vs `SOCKS5`, `Begin` vs `End`) become one template
    with a wildcard there, however rarely one kind occurs. A slot holding a few distinct words,
    at least one of them repeated, is an enumeration, so each word is its own group; a slot with
    many values, only unique ones, or any masked or path-like one is a variable and stays a
    wildcard. Returns (member positions, template text) per group.
    """
    slots: list[tuple[int, Callable[[str], str | None]]] = []
    if limit >= 2 and len(members) > 1:
        for position, token in enumerate(template):
            if token != WILDCARD:
                continue
            values = {m[position] for m in members}
            if len(values) == len(members):
                continue  # every member its own value: nothing says these are constants
            key = _slot_key(values, limit)
            if key is not None:
                slots.append((position, key))
    groups: dict[tuple[str | None, ...], list[int]] = {}
    for index, tokens in enumerate(members):
        groups.setdefault(tuple(key(tokens[p]) for p, key in slots), []).append(index)
    result = []
    for indexes in groups.values():
        text = list(template)
        for position, _ in slots:
            text[position] = _render({members[i][position] for i in indexes})
        result.append((indexes, " ".join(text)))
    return result


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
