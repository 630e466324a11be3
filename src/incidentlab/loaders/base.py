"""The loader contract: what a loader declares, what it receives, and what it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

from .. import coerce
from ..coerce import Dropped
from ..timeparse import parse_ts
from .reading import JsonLines, excerpt, iter_lines
from .reading.head import DETECT_BYTES
from .reading.quarantine import Quarantine

__all__ = ["DETECT_BYTES", "JsonLines", "Quarantine", "excerpt", "iter_lines"]

# Rows come as Python dicts (small files), an Arrow table, or a DuckDB relation built on ctx.con
# (the fast path for big files: ingest inserts it with one parallel INSERT ... SELECT, so such a
# relation must not depend on row order: its rows carry their line numbers, e.g. from LineBlocks).
Rows = list[dict[str, Any]] | pa.Table | duckdb.DuckDBPyRelation


class LoadContext:
    """What ingest hands a loader: the file, the --tz zone, and `con`, the ingest connection.

    Loaders only read through `con` (and may stage temp tables). Asking for it first writes the
    loads still pending, so a loader that looks at the store sees every earlier file.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection | None = None,
        path: Path | None = None,
        tz: ZoneInfo | None = None,
        *,
        connect: Callable[[], duckdb.DuckDBPyConnection] | None = None,
        year: int | None = None,
    ) -> None:
        if path is None:
            raise TypeError("LoadContext needs a path")
        self.path = path
        self.tz = tz
        self.year = year  # --year: for times that carry none (syslog dates)
        self._con = con
        self._connect = connect
        self.used_store = False

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        self.used_store = True
        if self._connect is not None:
            self._con = self._connect()
        assert self._con is not None, "this LoadContext has no connection"
        return self._con

    @property
    def tz_name(self) -> str | None:
        return self.tz.key if self.tz else None

    def parse_ts(self, raw: object, *, naive: str = "utc") -> tuple[datetime | None, str]:
        return parse_ts(raw, naive=naive, tz=self.tz)


@dataclass
class LoadResult:
    """A loader's output for one file. records_read = records_loaded + len(quarantine)."""

    records_read: int
    events: Rows | None = None
    metrics: Rows | None = None
    tables: dict[str, Rows] = field(default_factory=dict)
    quarantine: list[Quarantine] | duckdb.DuckDBPyRelation = field(default_factory=list)
    records_loaded: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    # A loader whose events stream from the file learns its counts only as the writer reads them:
    # after writing the events, the writer calls settle(events written) for (records_read,
    # quarantine), so a file is read once when no record is bad.
    settle: Callable[[int], tuple[int, Rows | list[Quarantine]]] | None = None


@runtime_checkable
class Loader(Protocol):
    """A loader reads one artifact kind. It never writes to the database and never raises in detect."""

    name: ClassVar[str]
    system: ClassVar[str]
    source: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]

    # Optional traits that tell replay integrity how to read the rows (defaults in ORDER_TRAITS):
    # positions "file" (one file order) or "grouped" (numbered per table or snapshot); sequence
    # "dense" (1..N) or "sparse" (monotonic, skips numbers); snapshot True for bounded lists.

    def detect(self, path: Path, head: bytes) -> bool: ...

    def load(self, ctx: LoadContext) -> LoadResult: ...

    # Optional: `declines(path, head) -> str | None`, for a file no loader claimed, why this one
    # leaves it (a table with no time, a log parser's output of a log); one line, never raises.


ORDER_TRAITS: dict[str, Any] = {"positions": "file", "sequence": "dense", "snapshot": False}


def trait(loader: Loader, name: str) -> Any:
    """A loader's order trait, or its default when the loader does not declare it."""
    return getattr(loader, name, ORDER_TRAITS[name])


# Usage: what each token / cost metric a loader writes means. The loader that writes a metric
# declares it (class attribute `usage`, a tuple of Usage); analysis/usage.py reads only these.
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
                "reasoning_tokens", "estimated_tokens", "cost_usd")
# per_call: each point is one call's own count (summed); cumulative: each point is the session's
# running total so far (only its growth counts: the last value of a session); session_total: one
# point holds the session's whole count (its largest point per session counts).
USAGE_COUNTING = ("per_call", "cumulative", "session_total")


@dataclass(frozen=True)
class Usage:
    """One usage metric a loader writes: which canonical field it is and how its points add up.

    `metric` is the metric name; `where` (label, value) narrows it to points whose label has that
    value (one loader writing one name with two meanings). `within` names the field this count is
    already part of (Codex's cached input is inside its input_tokens), so totals do not add it
    twice. `key` is a label identifying the call (message id): a call seen in two files counts
    once. `note` is what a reader of the figure must know (rounded, estimated by the source).
    """

    metric: str
    field: str
    counting: str = "per_call"
    within: str | None = None
    where: tuple[str, str] | None = None
    key: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.field not in USAGE_FIELDS or self.counting not in USAGE_COUNTING or (
                self.within is not None and self.within not in USAGE_FIELDS):
            raise ValueError(f"bad usage declaration {self!r}")


def usage_of(loader: Loader) -> tuple[Usage, ...]:
    """The usage metrics a loader declares (none when it writes no tokens or costs)."""
    return tuple(getattr(loader, "usage", ()))


# Tool roles: what a system's tool calls do, for the findings detectors (analysis/findings):
# "edit" changes files, "verify" tests, builds or runs the code, "explore" reads or searches,
# "shell" runs its arguments as a shell command (the detectors read the command to tell which),
# "finish" submits the run's answer (the run ends there; no result follows by design).
# The loader that writes the tool.call events declares them (class attribute `tool_roles`).
TOOL_ROLES = ("edit", "verify", "explore", "shell", "finish")


@dataclass(frozen=True)
class ToolRole:
    """Calls of `tools` (tool.call event names; empty: every tool of the system) that satisfy
    `where` (SQL over the call's event row) have `role`; the first declaration matching a call
    wins. `command` (SQL over the row, role "shell" only) is the shell command the call ran;
    by default its message, or the message's JSON `cmd` / `command`."""

    role: str
    tools: tuple[str, ...] = ()
    where: str = "true"
    command: str | None = None

    def __post_init__(self) -> None:
        if self.role not in TOOL_ROLES or (self.command is not None and self.role != "shell"):
            raise ValueError(f"bad tool role declaration {self!r}")


def tool_roles_of(loader: Loader) -> tuple[ToolRole, ...]:
    """The tool roles a loader declares (none when it writes no tool calls)."""
    return tuple(getattr(loader, "tool_roles", ()))


def tool_call_types_of(loader: Loader) -> tuple[str, ...]:
    """The event types of the tool calls a loader writes (class attribute `tool_call_types`):
    `tool.call` unless the system names its calls otherwise (CodingBuddy's `tool.proposed`)."""
    return tuple(getattr(loader, "tool_call_types", ("tool.call",)))


def tool_output_of(loader: Loader) -> str | None:
    """SQL over a tool.result row giving the result's whole output as text (class attribute
    `tool_output`), where its message only summarizes it; None: the message is the output."""
    return getattr(loader, "tool_output", None)


def tool_arguments_of(loader: Loader) -> str | None:
    """SQL over a tool.call row giving the call's whole arguments as text (class attribute
    `tool_arguments`), where its message holds a shortened copy; None: the message is whole."""
    return getattr(loader, "tool_arguments", None)


def read_head(path: Path, size: int = DETECT_BYTES) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def path_has(path: Path, *parts: str) -> bool:
    """True when the path's folders include any of `parts` (e.g. '.codingbuddy', '.deepseek')."""
    return any(part in path.parts for part in parts)


def typed_table(rows: list[dict[str, Any]], schema: dict[str, str]) -> pa.Table:
    """Rows as an Arrow table with a declared schema (str, int, float, bool, ts, json), so column
    types never depend on which values happened to be NULL; a value of the wrong type becomes
    NULL (the record keeps it), never an error; json values are serialized."""
    kinds = {"str": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
             "ts": "TIMESTAMPTZ", "json": "JSON"}
    record_nos = [row.get("record_no") for row in rows]
    dropped = Dropped()
    arrays = [coerce.column(name, kinds[kind], [row.get(name) for row in rows], record_nos, dropped)
              for name, kind in schema.items()]
    return pa.Table.from_arrays(arrays, names=list(schema))


def first_value(record: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in record and record[key] not in (None, ""):
            return record[key]
    return None


# Replay checks: what a system's events must satisfy, declared as data by its loaders (class
# attribute `checks`, a tuple of the kinds below; loaders of one system may share one tuple) and
# evaluated together by analysis/replay.py. A check applies to every event of the declaring
# loader's system; conditions, keys and texts are SQL over one event row. Sequence and time order
# need no declaration: every stream gets them, read through the order traits above.
PAIR_ORDERS = ("file", "any")


@dataclass(frozen=True)
class Pairing:
    """Openers closed by closers of the same key (timeline events, snapshot sources left out).

    order "file": per source and stream, the k-th opener of a key (file order) pairs with its
    k-th closer; an opener left over is `rule`, a closer left over `orphan`, a k-th closer at an
    earlier position than its opener `early` (defaults: rule with `_unclosed` -> `_orphan`,
    `_closed_before_open`). order "any": per stream (any source), a key with an opener needs a
    closer (`rule`, expected `wanted` + key) and one with a closer an opener (`orphan`, expected
    `wanted_opener` + key), each reported once at its first row. `where` narrows both sides.
    """

    rule: str
    opener: str
    closer: str
    key: str
    order: str = "file"
    where: str = "true"
    orphan: str = ""
    early: str = ""
    wanted: str = "a closing event for "
    wanted_opener: str = "an opening event before it"

    def __post_init__(self) -> None:
        if self.order not in PAIR_ORDERS:
            raise ValueError(f"bad pairing order {self.order!r}")
        stem = self.rule.removesuffix("_unclosed")
        object.__setattr__(self, "orphan", self.orphan or f"{stem}_orphan")
        object.__setattr__(self, "early", self.early or f"{stem}_closed_before_open")


@dataclass(frozen=True)
class StateMachine:
    """Rows `where` each record a transition `from_` -> `to`: it must be one of `allowed`
    ((state, (next, ...)), ...; same -> same always allowed) else `rule`, and start where the one
    before it in file order (per source and stream) ended, else `discontinuity` (a warning)."""

    rule: str
    discontinuity: str
    where: str
    from_: str
    to: str
    allowed: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Progression:
    """Rows `where` name a `state` that only moves forward through `order` (per source and
    stream, file order). A state not in `order` is `unknown`; going back (or staying) is
    `regression`, unless the row is a `reset`, which must name the state it left (`reset_names`)
    else `reset_rule` (expected `reset_expected` + the state before it)."""

    where: str
    state: str
    order: tuple[str, ...]
    unknown: str
    regression: str
    reset: str
    reset_names: str
    reset_rule: str
    reset_expected: str


@dataclass(frozen=True)
class Bounds:
    """In a stream of one source where some row satisfies `applies`, the first row in file order
    is a `first` event (else `first_rule`) and nothing follows a `last` event (else `last_rule`)."""

    applies: str
    first: str
    last: str
    first_rule: str
    last_rule: str


@dataclass(frozen=True)
class Mirror:
    """Two records of one history (over all events, mirrors included), matched 1:1 per stream,
    `match` columns and occurrence in file order: rows `reference` (r) against rows `copy` (c).
    `compare` expressions must agree. Outcomes `mirror_missing` (no c), `mirror_extra` (no r),
    `mirror_mismatch`, each with its (expected, found) SQL over r and c; `report` names the side
    ("r" or "c") whose position and event a violation shows. when "copies": only when some copy
    row exists at all; "both": only in streams that have both sides."""

    where: str
    reference: str
    copy: str
    match: tuple[str, ...]
    compare: tuple[str, ...]
    columns: tuple[str, ...]
    missing: tuple[str, str]
    extra: tuple[str, str]
    mismatch: tuple[str, str]
    report: str = "r"
    when: str = "copies"


@dataclass(frozen=True)
class Listed:
    """Rows `where` (all events) list `items` (a VARCHAR[] expression); each item, at the first
    row listing it per stream, needs a timeline row `proof` whose `log_key` equals it, in streams
    that have `log` rows at all; else `rule` (expected `expected` + item)."""

    rule: str
    where: str
    items: str
    log: str
    log_key: str
    proof: str
    expected: str


Check = Pairing | StateMachine | Progression | Bounds | Mirror | Listed


def checks_of(loader: Loader) -> tuple[Check, ...]:
    """The replay checks a loader declares for its system (none by default)."""
    return tuple(getattr(loader, "checks", ()))
