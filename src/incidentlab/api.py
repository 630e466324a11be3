"""The library as a notebook user sees it: open a database, ask questions, get DataFrames.

```python
import incidentlab
inc = incidentlab.open("incident.duckdb", pivot="2026-03-01T09:10:00Z", span_minutes=45)
timeline, replay, alerts = inc.timeline(), inc.replay(), inc.alerts()
```

Every question takes the same scope as the command line: a `Scope`, or its fields as keywords
(`start`, `end`, `pivot`, `span_minutes`, `systems`, `projects`, `streams`, `correlation_id`);
without one it uses the scope given to `open` (default: everything). Every result is a polars
DataFrame (`.to_pandas()` is one call away), or a small result object holding DataFrames where
the analysis returns several (`replay`, `classify`, `info`). Text is redacted like every other
output (secrets and e-mail addresses masked) unless `redact=False`.

This module is a thin layer: each method calls the function in `incidentlab.analysis` that the
CLI calls, so the API, the CLI and the reports answer alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .scope import Scope

if TYPE_CHECKING:
    import duckdb

    from .ingest import IngestSummary
    from .redaction import Redactor
    from .reports.render import RenderResult

__all__ = ["Classification", "Incident", "Info", "Replay", "Scope", "ingest", "open", "open_lake",
           "report"]


@dataclass
class Replay:
    """Replay integrity of the streams in scope: one verdict per stream, and the violations."""

    verdicts: pl.DataFrame
    """One row per stream: stream, system, passed, violations."""
    violations: pl.DataFrame
    """One row per broken rule: stream, system, rule, severity, position, record_no, expected,
    found, event_id, ..."""
    codingbuddy: pl.DataFrame
    """CodingBuddy's own `replay run --deterministic` validation, per session."""

    @property
    def passed(self) -> bool:
        """True when every stream in scope passed."""
        return bool(self.verdicts["passed"].all()) if self.verdicts.height else True


@dataclass
class Classification:
    """The failure modes the evidence in scope matches, and the severity they suggest."""

    modes: pl.DataFrame
    """One row per matching mode: mode, severity, score, evidence ids, runbook section,
    recovery steps."""
    severity: str | None
    """SEV1, SEV2, SEV3, or None when nothing matched."""
    severity_reason: str
    """One sentence: which mode set the severity, citing its first event."""


@dataclass
class Info:
    """What a database holds: counts, coverage per system, loads and quarantined records."""

    events: int
    metrics: int
    quarantined: int
    failed_loads: int
    systems: pl.DataFrame
    """Per system: events, streams, first and last time (file-mtime times left out)."""
    loads: pl.DataFrame
    """One row per loaded file: loader, path, sha256, records read, rows, quarantined, status,
    error."""
    warnings: pl.DataFrame
    """The first quarantined records: source_path, record_no, reason, raw (redacted)."""
    usage: pl.DataFrame
    """Tokens and cost per system (each call once)."""
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    """Everything `incidentlab info --json` prints."""


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


class Incident:
    """An incident database opened for questions; see `incidentlab.open`."""

    def __init__(self, db: str | Path, *, scope: Scope | dict[str, Any] | None = None,
                 redact: bool = True, rules: str | Path | None = None, snapshot: bool = True,
                 **fields: Any) -> None:
        from .reports.paths import resolve_db
        from .store import connect, connect_snapshot

        self.db: Path = resolve_db(db)
        self.scope: Scope = Scope.of(scope, **fields)
        self.redact = redact
        self.rules = str(rules) if rules is not None else None
        self.con: duckdb.DuckDBPyConnection = (
            connect_snapshot(self.db) if snapshot else connect(self.db, read_only=True))

    # --- plumbing ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<incidentlab.Incident {self.db} ({self.scope.describe()})>"

    def __enter__(self) -> Incident:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the snapshot is removed when the process exits)."""
        self.con.close()

    def _scope(self, scope: Scope | dict[str, Any] | None, fields: dict[str, Any]) -> Scope:
        """A call's scope: the one given, else its fields, else the scope of `open`."""
        if scope is None and not any(v is not None for v in fields.values()):
            return self.scope
        return Scope.of(scope, **fields)

    def _redactor(self, redact: bool | None) -> Redactor | None:
        from .redaction import Redactor

        return Redactor(rules_path=self.rules) if (self.redact if redact is None else redact) \
            else None

    def _clean(self, df: pl.DataFrame, redact: bool | None) -> pl.DataFrame:
        redactor = self._redactor(redact)
        return df if redactor is None else redactor.frame(df)

    def scoped(self, scope: Scope | dict[str, Any] | None = None, **fields: Any) -> Incident:
        """The same open database with another default scope (no second snapshot)."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.scope = Scope.of(scope, **fields)
        return other

    # --- questions --------------------------------------------------------------------------

    def timeline(self, scope: Scope | dict[str, Any] | None = None, *,
                 event_types: Sequence[str] | str | None = None,
                 min_severity: str | None = None, limit: int | None = None,
                 include_debug: bool = False, include_mtime: bool = False,
                 redact: bool | None = None, **fields: Any) -> pl.DataFrame:
        """All sources merged in one stable order (time, source, position).

        `event_types` ending in `.*` match a prefix (`security.*`); `limit` keeps the newest N
        (returned oldest first). Debug events and events timed by a file's mtime are left out
        unless asked for, as on the command line.
        """
        from .analysis import timeline

        df = timeline.timeline(self.con, self._scope(scope, fields), event_types=event_types,
                               min_severity=min_severity, limit=limit,
                               include_debug=include_debug, include_mtime=include_mtime)
        return self._clean(df, redact)

    def replay(self, scope: Scope | dict[str, Any] | None = None, *,
               tolerance_ms: float = 1000, redact: bool | None = None,
               **fields: Any) -> Replay:
        """Replay integrity per stream: `Replay.verdicts`, `.violations`, `.passed`.

        A stream is checked whole when one of its events is in scope; only the violations
        inside the window are returned.
        """
        from .analysis import replay

        found = replay.check(self.con, self._scope(scope, fields), tolerance_ms=tolerance_ms,
                             parts=self._parts())
        return Replay(self._clean(found.verdicts, redact), self._clean(found.violations, redact),
                      self._clean(found.codingbuddy, redact))

    def _parts(self) -> Any:
        """Parts of the streams replay runs over one at a time (a lake's batches)."""
        return None

    def alerts(self, scope: Scope | dict[str, Any] | None = None, *,
               rules: str | Path | None = None, redact: bool | None = None,
               **fields: Any) -> pl.DataFrame:
        """The alert rules that fired (one row per rule, group and level): first and last
        fired, cleared, peak, the evidence event ids and the runbook reference. `rules`: a
        rules TOML instead of the shipped runbook rules (default: the one given to `open`)."""
        from .analysis import metrics

        df = metrics.evaluate_rules(self.con, self._scope(scope, fields),
                                    rules_path=rules or self.rules)
        return self._clean(df, redact)

    def classify(self, scope: Scope | dict[str, Any] | None = None, *,
                 rules: str | Path | None = None, redact: bool | None = None,
                 **fields: Any) -> Classification:
        """The failure modes the evidence matches and the suggested SEV1-3."""
        from .analysis import classify

        found = classify.classify(self.con, self._scope(scope, fields),
                                  rules_path=rules or self.rules)
        redactor = self._redactor(redact)
        if redactor is None:
            return Classification(found.modes, found.severity, found.severity_reason)
        return Classification(redactor.frame(found.modes), found.severity,
                              redactor.text(found.severity_reason) or "")

    def incidents(self, scope: Scope | dict[str, Any] | None = None, *,
                  quiet_minutes: float = 30, by: str | None = None,
                  rules: str | Path | None = None, with_alerts: bool = True,
                  redact: bool | None = None, **fields: Any) -> pl.DataFrame:
        """Candidate incidents: failure signals (and alert evidence) cut by `quiet_minutes`
        without one; `by` = system, project or stream cuts them per partition."""
        from .analysis import incidents

        df = incidents.incidents(self.con, self._scope(scope, fields),
                                 quiet_minutes=quiet_minutes, by=by,
                                 rules_path=rules or self.rules, with_alerts=with_alerts)
        return self._clean(df, redact)

    def milestones(self, scope: Scope | dict[str, Any] | None = None, *,
                   incident: str | None = None, overrides: dict[str, Any] | None = None,
                   rules: str | Path | None = None, redact: bool | None = None,
                   **fields: Any) -> pl.DataFrame:
        """started / detected / mitigated / resolved of one incident of the scope (`incident`:
        an id from `incidents()`, default the largest), each citing the event it comes from.
        `durations(milestones)` gives TTD / TTM / TTR."""
        from .analysis import incidents as incidents_mod
        from .analysis import milestones

        chosen_scope = self._scope(scope, fields)
        rules_path = rules or self.rules
        found = incidents_mod.incidents(self.con, chosen_scope, rules_path=rules_path)
        chosen = incidents_mod.select(found, incident)
        df = milestones.milestones(self.con, chosen_scope, incident=chosen,
                                   overrides=overrides, rules_path=rules_path)
        return self._clean(df, redact)

    @staticmethod
    def durations(milestones_df: pl.DataFrame) -> dict[str, Any]:
        """TTD / TTM / TTR in seconds from a `milestones()` frame (None when undetermined)."""
        from .analysis import milestones

        return milestones.durations(milestones_df)

    def usage(self, scope: Scope | dict[str, Any] | None = None, *,
              by: Sequence[str] | str | None = None, redact: bool | None = None,
              **fields: Any) -> pl.DataFrame:
        """Tokens and cost per group (default: system, session, model), each call once; a cost
        the evidence does not hold is null, never estimated."""
        from .analysis import usage

        df = usage.usage(self.con, self._scope(scope, fields),
                         by=usage.DEFAULT_BY if by is None else by)
        return self._clean(df, redact)

    def findings(self, scope: Scope | dict[str, Any] | None = None, *,
                 detectors: Sequence[str] | str | None = None, min_level: str | None = None,
                 redact: bool | None = None, **fields: Any) -> pl.DataFrame:
        """Coded findings about agent runs (analysis.findings.FINDING_SCHEMA): MAST / TRAIL
        code and link, level, run, time and the event ids each cites; loops carry the tokens,
        cost and time spent inside them (null when the evidence has none)."""
        from .analysis import findings

        df = findings.find(self.con, self._scope(scope, fields), detectors=detectors,
                           min_level=min_level)
        return self._clean(df, redact)

    def diff(self, run_a: str, run_b: str, *, other: Incident | None = None,
             event_types: Sequence[str] | str | None = None, min_severity: str | None = None,
             redact: bool | None = None) -> Any:
        """Two runs (streams, or a unique prefix of one) aligned step by step: a
        `incidentlab.analysis.diff.RunDiff` (`.aligned()` frame, `.first_divergence()`,
        `.after_divergence()`, outcomes, usage, durations, `.to_dict()`). `other`: take run_b
        from another open database; the scope of `open` does not apply (a run is a stream)."""
        from .analysis import diff

        return diff.diff_runs(self.con, run_a, run_b, other.con if other is not None else None,
                              db_a=str(self.db), db_b=str((other or self).db),
                              event_types=event_types, min_severity=min_severity,
                              redactor=self._redactor(redact))

    def info(self, *, redact: bool | None = None) -> Info:
        """What the database holds (the whole database, whatever the scope)."""
        from .info import database_info, redacted

        raw = redacted(database_info(self.db), self._redactor(redact))
        return Info(events=raw["events"], metrics=raw["metrics"],
                    quarantined=raw["quarantined"], failed_loads=raw["failed_loads"],
                    systems=_frame(raw["systems"]), loads=_frame(raw["loads"]),
                    warnings=_frame(raw["warnings"]), usage=_frame(raw["usage"]), raw=raw)

    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Any SQL over the canonical tables (`events`, `timeline_events`, `metrics`, `_loads`,
        `_load_warnings`, domain tables), unredacted: the raw evidence."""
        return self.con.sql(query, params=params or None).pl()


def open(db: str | Path, *, scope: Scope | dict[str, Any] | None = None, redact: bool = True,
         rules: str | Path | None = None, snapshot: bool = True, **fields: Any) -> Incident:
    """Open an incident database for questions.

    `db`: a DuckDB file made by `ingest` (a relative path is looked for from the current
    folder upwards, as the notebooks do). `scope` or its fields (`start`, `end`, `pivot`,
    `span_minutes`, `systems`, `projects`, `streams`, `correlation_id`): the default scope of
    every question. `redact=False` shows secrets unmasked. `rules`: a rules TOML for alerts,
    classification and [redaction] patterns. `snapshot` (default): read a private copy, so
    `ingest` can go on writing while the object is open.
    """
    return Incident(db, scope=scope, redact=redact, rules=rules, snapshot=snapshot, **fields)


class LakeIncident(Incident):
    """A Parquet lake (`incidentlab lake write`) opened for the same questions as a database;
    see `incidentlab.open_lake`."""

    def __init__(self, directory: str | Path, *, engine: str = "duckdb",
                 spark_master: str | None = None, scope: Scope | dict[str, Any] | None = None,
                 redact: bool = True, rules: str | Path | None = None, **fields: Any) -> None:
        from . import lake

        self.lake = str(directory)
        self.engine = engine
        self.db = None  # type: ignore[assignment]
        self.scope = Scope.of(scope, **fields)
        self.redact = redact
        self.rules = str(rules) if rules is not None else None
        self.con = lake.connect(directory, engine=engine, spark_master=spark_master)

    def __repr__(self) -> str:
        return f"<incidentlab.LakeIncident {self.lake} on {self.engine} ({self.scope.describe()})>"

    def _parts(self) -> Any:
        """The lake's batches of whole streams on DuckDB (incidentlab.lake.batches)."""
        from .lake import batches

        return batches.parts(self.con)

    def info(self, *, redact: bool | None = None) -> Info:
        """Not for a lake: `incidentlab.lake.info.lake_info(dir)` (or `incidentlab lake info`)
        summarizes one."""
        from .errors import UsageError

        raise UsageError("info() reads a database file", hint="for a lake use `incidentlab lake info DIR`")


def open_lake(directory: str | Path, *, engine: str = "duckdb", spark_master: str | None = None,
              scope: Scope | dict[str, Any] | None = None, redact: bool = True,
              rules: str | Path | None = None, **fields: Any) -> LakeIncident:
    """Open a Parquet lake written by `incidentlab lake write` for questions.

    The same methods as `open` (`timeline`, `replay`, `alerts`, `classify`, `incidents`, ...),
    answered by `engine` "duckdb" (an in-memory DuckDB over the lake's Parquet files) or "spark"
    (Apache Spark; local mode unless `spark_master` or the Spark environment names a cluster).
    `directory` may be an s3:// or https:// URL on the DuckDB engine (docs/lake.md).
    """
    return LakeIncident(directory, engine=engine, spark_master=spark_master, scope=scope,
                        redact=redact, rules=rules, **fields)


def ingest(paths: str | Path | Sequence[str | Path], db: str | Path, *,
           loader: str | None = None, tz: str | None = None, mapping: str | Path | None = None,
           force: bool = False, year: int | None = None) -> IngestSummary:
    """Load evidence files and folders into `db` (created when new), as `incidentlab ingest`.

    Returns the summary: `.files` (one outcome per file: status, rows, quarantined), `.ok`,
    `.quarantined`, `.unclaimed`, `.to_dict()`. Re-running adds nothing for files already
    loaded; `force=True` reloads them. `tz`: the zone of sources that write naive local times;
    `year`: the year of text-log times written without one (default: from the file's mtime).
    `mapping`: a TOML field mapping for generic JSON/CSV logs. (Once `incidentlab.ingest` the
    module is imported, the package attribute is that module; calling it calls this.)
    """
    from .ingest import ingest_evidence

    return ingest_evidence(paths, db, loader=loader, tz=tz, mapping=mapping, force=force,
                           year=year)


def report(db: str | Path, out: str | Path, *, notebook: str = "05_postmortem",
           **params: Any) -> RenderResult:
    """Render a report notebook (default the postmortem) to out/<notebook>.html and .ipynb.

    `params` are the notebook's parameters (`title`, `display_tz`, `incident`, the scope
    fields, `redact`, `milestones`, ...; `incidentlab report --list-params` lists them), checked
    before a kernel starts. Returns the paths, the seconds it took and the report's summary.
    """
    from .errors import UsageError
    from .reports.params import validate_parameters
    from .reports.paths import notebook_path
    from .reports.render import check_names, known_parameters, render_report

    if "db" in params:
        raise UsageError("pass the database as the first argument, not db=...")
    check_names(list(params), known_parameters(notebook_path(notebook)))
    validate_parameters(params)
    return render_report(db, out, params, notebook=notebook)
