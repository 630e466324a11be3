"""The scope of a question: window, systems, projects, streams, correlation id, as one value."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import UsageError
from .membership import one_of
from .timeparse import parse_ts

FIELDS = ("start", "end", "pivot", "span_minutes", "systems", "projects", "streams",
          "correlation_id")
DEFAULT_SPAN_MINUTES = 30.0


def parse_time(value: Any, what: str) -> datetime | None:
    """ISO 8601 (or a datetime) -> aware UTC datetime; naive input is read as UTC; '' -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    parsed, _quality = parse_ts(str(value).strip())
    if parsed is None:
        raise UsageError(f"{what}: cannot read {value!r} as a time",
                         hint="use ISO 8601, e.g. 2026-03-01T09:15:00Z")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def as_list(value: Any) -> list[str]:
    """A list parameter given as a list, a comma-separated string or nothing."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _time_literal(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"


@dataclass(frozen=True)
class Scope:
    """What every analysis looks at. Built once (from CLI options, notebook parameters or a
    batch job) and passed as is to the timeline, incidents, milestones, replay, alerts,
    classification, usage, charts and counts, so all of them answer about the same evidence.

    A pivot is resolved into the window when the scope is built: `start`/`end` are the
    effective window (None: open). Empty tuples mean "all".
    """

    start: datetime | None = None
    end: datetime | None = None
    systems: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()
    correlation_id: str | None = None

    @classmethod
    def build(cls, *, start: Any = None, end: Any = None, pivot: Any = None,
              span_minutes: Any = None, systems: Any = None, projects: Any = None,
              streams: Any = None, correlation_id: Any = None) -> Scope:
        """Validate user-given values (ISO times, lists or comma-separated text)."""
        lo, hi = parse_time(start, "start"), parse_time(end, "end")
        center = parse_time(pivot, "pivot")
        if center is not None:
            try:
                minutes = DEFAULT_SPAN_MINUTES if span_minutes in (None, "") else float(
                    span_minutes)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"span_minutes: {span_minutes!r} is not a number",
                                 hint="give minutes either side of the pivot, e.g. 45") from exc
            if not minutes > 0:
                raise UsageError(f"span_minutes must be above 0, not {span_minutes!r}")
            span = timedelta(minutes=minutes)
            lo = max(lo, center - span) if lo else center - span
            hi = min(hi, center + span) if hi else center + span
        if lo is not None and hi is not None and lo > hi:
            raise UsageError(f"the window starts after it ends ({lo.isoformat()} > "
                             f"{hi.isoformat()})", hint="swap start and end")
        values = {name: tuple(as_list(v)) for name, v in
                  (("systems", systems), ("projects", projects), ("streams", streams))}
        cid = None if correlation_id in (None, "") else str(correlation_id)
        for text in [*values["systems"], *values["projects"], *values["streams"], cid or ""]:
            if "\x00" in text:
                raise UsageError(f"scope value {text!r} holds a NUL character")
        return cls(start=lo, end=hi, correlation_id=cid, **values)

    @classmethod
    def of(cls, scope: Scope | dict[str, Any] | None = None, **fields: Any) -> Scope:
        """A scope from a Scope, a dict of build() fields, or keyword fields (not both)."""
        given = {k: v for k, v in fields.items() if v is not None}
        unknown = set(given) - set(FIELDS)
        if unknown:
            raise UsageError(f"unknown scope field(s): {', '.join(sorted(unknown))}",
                             hint=f"a scope has {', '.join(FIELDS)}")
        if isinstance(scope, Scope):
            if given:
                raise UsageError("give a scope or scope fields, not both",
                                 hint="narrow a scope with scope.narrowed(...)")
            return scope
        return cls.build(**{**(scope or {}), **given})

    # --- derived scopes ---------------------------------------------------------------------

    def narrowed(self, start: datetime | None = None, end: datetime | None = None) -> Scope:
        """This scope with its window cut to [start, end] (the intersection)."""
        lo = max((t for t in (self.start, start) if t is not None), default=None)
        hi = min((t for t in (self.end, end) if t is not None), default=None)
        return dataclasses.replace(self, start=lo, end=hi)

    def unwindowed(self) -> Scope:
        """The same systems, projects, streams and correlation id, at any time."""
        return dataclasses.replace(self, start=None, end=None)

    @property
    def windowed(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def is_everything(self) -> bool:
        return self == Scope()

    # --- SQL ----------------------------------------------------------------------------------

    def sql(self, alias: str = "", *, window: bool = True, correlation: bool = True) -> str:
        """The scope as one SQL condition over an events-like table ("true" when it is open).

        Values are written as escaped literals, so the condition composes into any query
        without parameters. `window=False` leaves the time bounds out; `correlation=False` the
        correlation id (for tables that have none, such as metrics: see `metrics_sql`).
        """
        col = f"{alias}." if alias else ""
        parts = []
        if window and self.start is not None:
            parts.append(f"{col}ts >= {_time_literal(self.start)}")
        if window and self.end is not None:
            parts.append(f"{col}ts <= {_time_literal(self.end)}")
        for column, values in (("system", self.systems), ("project", self.projects),
                               ("stream", self.streams)):
            if values:
                parts.append(one_of(f"{col}{column}", [_literal(v) for v in values]))
        if correlation and self.correlation_id is not None:
            parts.append(f"{col}correlation_id = {_literal(self.correlation_id)}")
        return " AND ".join(f"({p})" for p in parts) or "true"

    def metrics_sql(self, alias: str = "", *, window: bool = True) -> str:
        """The scope over the metrics table: metric points carry no correlation id, so a
        scope narrowed to one correlation id holds none of them."""
        if self.correlation_id is not None:
            return "false"
        return self.sql(alias, window=window, correlation=False)

    # --- output -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO times with offset, lists; what `--json` outputs carry."""
        return {"start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "systems": list(self.systems), "projects": list(self.projects),
                "streams": list(self.streams), "correlation_id": self.correlation_id}

    def describe(self) -> str:
        """One line for headers and notices: what is in scope."""
        if self.is_everything:
            return "everything in the database"
        parts = []
        if self.windowed:
            lo = self.start.isoformat() if self.start else "first event"
            hi = self.end.isoformat() if self.end else "last event"
            parts.append(f"{lo} .. {hi}")
        for name, values in (("systems", self.systems), ("projects", self.projects),
                             ("streams", self.streams)):
            if values:
                parts.append(f"{name} {', '.join(values)}")
        if self.correlation_id is not None:
            parts.append(f"correlation id {self.correlation_id}")
        return "; ".join(parts)
