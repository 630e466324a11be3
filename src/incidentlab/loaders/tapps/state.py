"""Tapps workflow state JSON, every variant (executor, cursor, advanced .json[.gz], history)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, Quarantine, excerpt, typed_table
from ..records import RECORD_ERRORS, dumped, number, read_object, value_problem
from .checks import CHECKS
from .checksum import state_checksum
from .common import (
    STEP_END,
    SYSTEM,
    content_sha,
    duration_ms,
    existing_keys,
    gzip_head,
    in_tapps,
    local_ts,
    outcome_of,
    raw_text,
)

VALID_STATUSES = ("running", "paused", "completed", "failed")
TIMESTAMPED = re.compile(r"-\d{8}-\d{6}\.json(\.gz)?$")
NOT_STATE = ("last.json",)
STEP_SCHEMA = {
    "workflow_id": "str",
    "step_id": "str",
    "agent": "str",
    "action": "str",
    "status": "str",
    "started_at": "str",
    "completed_at": "str",
    "started_ts": "ts",
    "completed_ts": "ts",
    "ts_quality": "str",
    "duration_seconds": "float",
    "error": "str",
    "list_index": "int",
    "variant": "str",
    "content_sha": "str",
    "is_mirror": "bool",
}
IDENTITY = ("stream", "event_type", "name", "ts_raw", "outcome", "message")
MIRROR_SQL = (
    "SELECT stream, event_type, name, ts_raw, outcome, message FROM events "
    "WHERE system = 'tapps' AND source = 'workflow_state' AND NOT is_mirror"
)


def variant_of(path: Path, workflow_id: str | None) -> str:
    """Which writer left this file (FORMATS §5.1); workflow ids end in a timestamp themselves."""
    name = path.name
    stem = name.removesuffix(".gz").removesuffix(".json")
    gz = "_gz" if name.endswith(".gz") else ""
    if name == "current_state.json":
        return "current_state"
    advanced = bool(TIMESTAMPED.search(name)) and (
        workflow_id is None or stem.startswith(f"{workflow_id}-")
    )
    if path.parent.name == "history":
        return ("history_advanced" if advanced else "history_cursor") + gz
    if advanced:
        return "advanced" + gz
    if name.startswith("workflow-") and stem != workflow_id:
        return "executor" + gz
    return "cursor" + gz


def state_problem(doc: dict[str, Any]) -> str | None:
    """StateValidator.validate_state without the checksum (that one is reported on its own)."""
    for field in ("workflow_id", "started_at", "status"):
        if field not in doc:
            return f"Missing required field: {field}"
    if doc.get("status") not in VALID_STATUSES:
        return f"Invalid status: {doc.get('status')}"
    return None


class WorkflowStateLoader:
    name: ClassVar[str] = "tapps.workflow_state"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "workflow_state"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    positions: ClassVar[str] = "grouped"  # rows numbered per table / snapshot, not one file order
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Tapps workflow state (workflow-<id>.json, <id>.json, history/, -<ts>.json[.gz], "
        "current_state.json): steps, artifacts, checksum"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        name = path.name
        if not (name.endswith(".json") or name.endswith(".json.gz")):
            return False
        if name.endswith(".meta.json") or name in NOT_STATE or "events" in path.parts[-2:-1]:
            return False
        sample = gzip_head(head) or head
        looks = b'"workflow_id"' in sample and (
            b'"completed_steps"' in sample or b'"step_executions"' in sample
        )
        if name == "current_state.json":  # the runbook's name; no Tapps code writes it
            return looks or in_tapps(path)
        # everything else a state folder holds is state, even when unreadable (then quarantined)
        folder = path.parent.name if path.parent.name != "history" else path.parent.parent.name
        return (folder == "workflow-state" and in_tapps(path)) or (
            looks and "workflow-state" in path.parts
        )

    def load(self, ctx: LoadContext) -> LoadResult:
        document, problem = read_object(ctx.path, 0)
        if problem is not None:
            return LoadResult(1, quarantine=[problem])
        return _StateReader(ctx, document.value).read()


def step_problem(step: object) -> str | None:
    """Why a step_executions item is not a step (it needs an object with a string step_id)."""
    if not isinstance(step, dict):
        return "not an object"
    if "step_id" not in step or step["step_id"] is None:
        return "step_id missing"
    if not isinstance(step["step_id"], str):
        return f"step_id is {type(step['step_id']).__name__}, not a string"
    return None


class _StateReader:
    """Turns one parsed state document into events, step rows, quarantine and facts."""

    def __init__(self, ctx: LoadContext, doc: dict[str, Any]) -> None:
        self.ctx = ctx
        self.doc = doc
        wid = doc.get("workflow_id")
        self.workflow_id = wid if isinstance(wid, str) and wid else _id_from_name(ctx.path)
        self.variant = variant_of(ctx.path, wid if isinstance(wid, str) else None)
        self.events: list[dict[str, Any]] = []
        self.bad: list[Quarantine] = []
        self.steps: list[dict[str, Any]] = []
        self.zone_unknown: list[str] = []
        self.seen = existing_keys(ctx.con, MIRROR_SQL)

    def read(self) -> LoadResult:
        doc = self.doc
        executions = doc.get("step_executions")
        executions = executions if isinstance(executions, list) else []
        artifacts = doc.get("artifacts")
        artifacts = artifacts if isinstance(artifacts, dict) else {}
        facts = self._guarded(0, _header_of(doc), self._header) or self._basic_facts()
        for index, step in enumerate(executions, start=1):
            self._guarded(index, step, self._step, index, step)
        for record_no, (key, artifact) in enumerate(artifacts.items(), start=len(executions) + 1):
            self._guarded(record_no, artifact, self._artifact, record_no, key, artifact)
        facts.update(
            {
                "timezone_unknown": bool(self.zone_unknown),
                "naive_local_timestamps": len(self.zone_unknown),
                "naive_example": self.zone_unknown[0] if self.zone_unknown else None,
                "tz": self.ctx.tz_name,
                "step_executions": len(executions),
                "artifacts": len(artifacts),
                "mirrored_events": sum(1 for e in self.events if e["is_mirror"]),
            }
        )
        return LoadResult(
            records_read=1 + len(executions) + len(artifacts),
            events=self.events,
            tables={"tapps_steps": typed_table(self.steps, STEP_SCHEMA)},
            quarantine=self.bad,
            facts=facts,
        )

    def _guarded(self, record_no: int, raw: object, build: Callable[..., Any], *args: Any) -> Any:
        """Run one record's build; if a value breaks it, undo its rows and quarantine it instead."""
        marks = (len(self.events), len(self.steps), len(self.zone_unknown), len(self.bad))
        try:
            return build(*args)
        except RECORD_ERRORS as exc:
            for row in self.events[marks[0]:]:
                if not row["is_mirror"]:
                    self.seen.discard(_identity(row))
            del self.events[marks[0]:], self.steps[marks[1]:], self.zone_unknown[marks[2]:]
            del self.bad[marks[3]:]
            self.bad.append(value_problem(record_no, dumped(raw), exc))
            return None

    def _time(self, raw: object) -> tuple[Any, str]:
        ts, quality, unknown = local_ts(self.ctx, raw)
        if unknown:
            self.zone_unknown.append(str(raw))
        return ts, quality

    def _emit(self, record_no: int, key: str, **columns: Any) -> dict[str, Any]:
        """Add an event; copies of an event already stored from another state file are mirrors."""
        row = {"stream": self.workflow_id, "record_no": record_no, **columns}
        identity = _identity(row)
        row["event_key"] = f"{key}:{content_sha(*identity)}"
        row["is_mirror"] = identity in self.seen
        self.seen.add(identity)
        self.events.append(row)
        return row

    def _basic_facts(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "variant": self.variant,
            "status": self.doc.get("status"),
            "current_step": self.doc.get("current_step"),
        }

    def _header(self) -> dict[str, Any]:
        doc = self.doc
        problem = state_problem(doc)
        expected = doc.get("_checksum")
        computed = state_checksum(doc) if isinstance(expected, str) else None
        checksum_ok = None if computed is None else computed == expected
        facts: dict[str, Any] = {
            **self._basic_facts(),
            "state_valid": problem is None,
            "state_error": problem,
            "checksum_present": expected is not None,
            "checksum_ok": checksum_ok,
            "checksum_expected": expected,
            "checksum_computed": computed,
            "state_sha": content_sha({k: v for k, v in doc.items() if k != "_checksum"}),
        }
        header = _header_of(doc)
        if problem:
            self.bad.append(
                Quarantine(
                    0,
                    f"invalid workflow state: {problem}",
                    excerpt(dumped(header)),
                )
            )
            return facts
        ts, quality = self._time(doc.get("started_at"))
        self._emit(
            0,
            "start",
            ts=ts,
            ts_raw=raw_text(doc.get("started_at")),
            ts_quality=quality,
            position=0,
            event_type="workflow.start",
            event_type_raw="state.started_at",
            name=self.workflow_id,
            message="workflow started",
            attrs=header,
        )
        status = doc.get("status")
        if status in ("completed", "failed"):
            error = doc.get("error") if isinstance(doc.get("error"), str) else None
            self._emit(
                0,
                "end",
                ts=None,
                ts_quality="missing",
                position=0,
                event_type="workflow.end",
                event_type_raw=f"state.status={status}",
                name=self.workflow_id,
                outcome=outcome_of(status),
                severity="error" if status == "failed" else "info",
                message=error or f"workflow {status}",
                attrs=header,
            )
        if checksum_ok is False:
            self._emit(
                0,
                "checksum",
                ts=None,
                ts_quality="missing",
                position=0,
                event_type="error",
                event_type_raw="_checksum",
                name=self.workflow_id,
                severity="warning",
                error_code="checksum_mismatch",
                error_category="integrity",
                message=f"state _checksum {expected[:12]}... does not match computed "
                f"{computed[:12]}... (state edited after save?)",
                attrs={"expected": expected, "computed": computed},
            )
        return facts

    def _step(self, index: int, step: Any) -> None:
        if problem := step_problem(step):
            reason = f"step_executions item: {problem}"
            self.bad.append(Quarantine(index, reason, excerpt(dumped(step))))
            return
        step_id, status = step["step_id"], step.get("status")
        started, start_q = self._time(step.get("started_at"))
        completed, end_q = self._time(step.get("completed_at"))
        common = {
            "position": index,
            "actor": step.get("agent"),
            "name": step_id,
            "correlation_id": step_id,
            "attrs": step,
        }
        start = self._emit(
            index,
            "start",
            ts=started,
            ts_raw=raw_text(step.get("started_at")),
            ts_quality=start_q,
            event_type="step.start",
            event_type_raw="step_execution",
            message=f"{step.get('agent')} {step.get('action')}",
            **common,
        )
        if isinstance(status, str) and status in STEP_END:
            error = step.get("error") if isinstance(step.get("error"), str) else None
            self._emit(
                index,
                "end",
                ts=completed,
                ts_raw=raw_text(step.get("completed_at")),
                ts_quality=end_q if step.get("completed_at") else "missing",
                event_type=STEP_END[status],
                event_type_raw=f"step_execution.{status}",
                outcome=outcome_of(status),
                severity="error" if status == "failed" else "info",
                duration_ms=duration_ms(step.get("duration_seconds")),
                message=error or f"step {status}",
                **common,
            )
        self.steps.append(
            {
                "workflow_id": self.workflow_id,
                "step_id": step_id,
                "agent": raw_text(step.get("agent")),
                "action": raw_text(step.get("action")),
                "status": raw_text(status),
                "started_at": raw_text(step.get("started_at")),
                "completed_at": raw_text(step.get("completed_at")),
                "started_ts": started,
                "completed_ts": completed,
                "ts_quality": start_q,
                "duration_seconds": number(step.get("duration_seconds")),
                "error": raw_text(step.get("error")),
                "list_index": index,
                "variant": self.variant,
                "content_sha": content_sha(self.workflow_id, step),
                "is_mirror": start["is_mirror"],
            }
        )

    def _artifact(self, record_no: int, key: str, artifact: object) -> None:
        if not isinstance(artifact, dict):
            self.bad.append(
                Quarantine(
                    record_no,
                    f"artifact {key!r} is not an object",
                    excerpt(dumped(artifact)),
                )
            )
            return
        ts, quality = self._time(artifact.get("created_at"))
        status = artifact.get("status")
        self._emit(
            record_no,
            "artifact",
            ts=ts,
            ts_raw=raw_text(artifact.get("created_at")),
            ts_quality=quality if artifact.get("created_at") else "missing",
            position=record_no,
            event_type="artifact.created",
            event_type_raw=f"artifact.{status}",
            actor=artifact.get("created_by"),
            name=artifact.get("name") or key,
            correlation_id=artifact.get("created_by"),
            outcome=outcome_of(status),
            severity="error" if status == "failed" else "info",
            message=f"artifact {artifact.get('name') or key} ({status}) at {artifact.get('path')}",
            attrs=artifact,
        )


def _header_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("step_executions", "artifacts")}


def _identity(row: dict[str, Any]) -> tuple:
    """What makes two events copies of each other (any JSON value made hashable)."""
    return tuple(
        raw_text(value) if isinstance(value, dict | list) else value
        for value in (row.get(c) for c in IDENTITY)
    )


def _id_from_name(path: Path) -> str:
    name = path.name.removesuffix(".gz").removesuffix(".json")
    return name.removeprefix("workflow-")
