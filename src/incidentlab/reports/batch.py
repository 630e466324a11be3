"""Render many incidents from one spec: one process and one output folder each, plus an index page."""

from __future__ import annotations

import json
import multiprocessing
import re
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .._version import __version__
from ..durations import fmt_duration
from ..errors import UsageError
from .display import esc, fmt_ts
from .params import validate_parameters
from .render import DEFAULT_NOTEBOOK, render_report, shown_parameters

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
_DURATIONS = {"time_to_detect": "TTD", "time_to_mitigate": "TTM", "time_to_resolve": "TTR"}
MILESTONES = ("started", "detected", "mitigated", "resolved")


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _when(value: Any, zone: ZoneInfo) -> str:
    """An ISO time from a summary as "2026-03-01 10:02:53 UTC" in the report's zone."""
    if not value:
        return "not determined"
    try:
        return fmt_ts(datetime.fromisoformat(str(value)), zone)
    except ValueError:
        return str(value)



@dataclass
class Job:
    incident_id: str
    folder: str
    params: dict[str, Any]
    notebook: str


@dataclass
class Outcome:
    incident_id: str
    folder: str
    status: str  # "ok" or "failed"
    seconds: float
    html: str | None = None
    ipynb: str | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    out: Path
    index: Path
    outcomes: list[Outcome]
    seconds: float

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "ok"]


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None
              ) -> tuple[list[Job], dict[str, Any]]:
    """Read a YAML or TOML spec: `incidents` (list of parameter sets), optional `defaults`
    (parameters shared by all) and `notebook`. Relative `db` paths resolve from the spec's folder.
    `overrides` (the command line's scope options, `redact`) apply over every incident."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read batch spec {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: "
                         f"{exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("incidents"), list):
        raise UsageError(f"{path}: needs a list `incidents` (each a parameter set)",
                         hint="see `incidentlab batch --help` for an example")
    defaults = data.get("defaults") or {}
    notebook = str(data.get("notebook") or DEFAULT_NOTEBOOK)
    jobs: list[Job] = []
    seen: set[str] = set()
    for n, item in enumerate(data["incidents"], start=1):
        if not isinstance(item, dict):
            raise UsageError(f"{path}: incident #{n} is not a mapping of parameters")
        params = {k: v for k, v in {**defaults, **item, **(overrides or {})}.items()
                  if k != "notebook"}
        incident_id = str(params.get("incident_id") or f"incident-{n}")
        params["incident_id"] = incident_id
        folder = _SAFE_ID.sub("_", incident_id).strip("._") or f"incident-{n}"
        if folder in seen:
            raise UsageError(f"{path}: incident id {incident_id!r} is used twice")
        seen.add(folder)
        db = params.get("db")
        if db and not Path(str(db)).is_absolute() and (path.parent / str(db)).exists():
            params["db"] = str((path.parent / str(db)).resolve())
        jobs.append(Job(incident_id, folder, params, str(item.get("notebook") or notebook)))
    return jobs, {"notebook": notebook, "defaults": defaults}


def _run_job(job: Job, out: str) -> Outcome:
    """One incident, in a worker process; every failure becomes an Outcome, never an exception."""
    started = time.monotonic()
    params = dict(job.params)
    db = params.pop("db", None)
    try:
        if not db:
            raise UsageError("no `db` given (set it per incident or in defaults)")
        validate_parameters(params)  # a bad zone, time or milestone fails before a kernel
        # no per-cell lines from parallel workers: the caller's `progress` says each incident
        result = render_report(db, Path(out) / job.folder, params, notebook=job.notebook,
                               progress=False)
        return Outcome(job.incident_id, job.folder, "ok", time.monotonic() - started,
                       html=f"{job.folder}/{result.html.name}",
                       ipynb=f"{job.folder}/{result.ipynb.name}", summary=result.summary,
                       params=shown_parameters(job.params))
    except Exception as exc:  # one broken incident must not stop the others
        return Outcome(job.incident_id, job.folder, "failed", time.monotonic() - started,
                       error=f"{type(exc).__name__}: {exc}", params=shown_parameters(job.params))


def run_batch(spec: str | Path, out: str | Path, *, jobs: int = 1,
              progress: Any = None, overrides: dict[str, Any] | None = None) -> BatchResult:
    """Render every incident of `spec` into out/<incident_id>/ with `jobs` parallel processes
    (`overrides`: parameters set on every incident, over the spec's)."""
    todo, _meta = load_spec(spec, overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    if jobs <= 1:
        for job in todo:
            outcomes.append(_run_job(job, str(out)))
            if progress:
                progress(outcomes[-1])
    else:
        # spawn: no forked copies of ZeroMQ or DuckDB state in the workers
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(_run_job, job, str(out)) for job in todo]
            for future in as_completed(futures):
                outcomes.append(future.result())
                if progress:
                    progress(outcomes[-1])
    order = {job.incident_id: n for n, job in enumerate(todo)}
    outcomes.sort(key=lambda o: order[o.incident_id])
    seconds = time.monotonic() - started
    index = write_index(out, outcomes, seconds)
    (out / "batch.json").write_text(json.dumps(
        [o.__dict__ for o in outcomes], indent=2, default=str), encoding="utf-8")
    return BatchResult(out, index, outcomes, seconds)


def write_index(out: Path, outcomes: list[Outcome], seconds: float) -> Path:
    """A static index.html (no script): every incident with its status, severity, milestones in
    incident order (times in each report's display zone) and TTD / TTM / TTR columns."""
    rows = []
    for o in outcomes:
        s = o.summary
        zone = _zone(s.get("display_tz"))
        found = s.get("milestones") or {}
        basis = s.get("milestone_basis") or {}
        milestones = "".join(
            f"<li>{esc(name)}: {esc(_when(found.get(name), zone))}"
            f"{' (override)' if basis.get(name) == 'override' else ''}</li>"
            for name in MILESTONES if name in found)
        spans = "".join(f"<td>{esc(fmt_duration((s.get('durations') or {}).get(key)))}</td>"
                        for key in _DURATIONS)
        links = (f'<a href="{esc(o.html)}">report</a> · <a href="{esc(o.ipynb)}">notebook</a>'
                 if o.status == "ok" else esc(o.error))
        severity = s.get("severity") if s.get("severity") not in (None, "", "None") else (
            "not classified" if o.status == "ok" else "")
        rows.append(
            f'<tr class="{esc(o.status)}"><td>{esc(o.incident_id)}</td>'
            f"<td>{esc(s.get('title') or o.params.get('title') or '')}</td>"
            f"<td class=\"status\">{esc(o.status)}</td><td>{esc(severity)}</td>"
            f"<td><ul>{milestones}</ul></td>{spans}"
            f"<td>{o.seconds:.1f}s</td><td>{links}</td></tr>"
        )
    failed = sum(o.status != "ok" for o in outcomes)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>incidentlab batch</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px;
vertical-align: top; text-align: left; }}
tr.failed .status {{ color: #b00020; font-weight: 600; }} tr.ok .status {{ color: #2e7d32; }}
ul {{ margin: 0; padding-left: 16px; }}
</style></head><body>
<h1>Incident reports</h1>
<p>{len(outcomes)} incidents, {len(outcomes) - failed} rendered, {failed} failed, in {seconds:.1f}s.
Generated {esc(datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC'))} by incidentlab
{esc(__version__)}.</p>
<table><thead><tr><th>incident</th><th>title</th><th>status</th><th>severity</th>
<th>milestones</th>{"".join(f"<th>{label}</th>" for label in _DURATIONS.values())}
<th>render time</th><th>output</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
