"""Demo artifacts of TappsCodingAgents: a workflow whose implementation step times out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .story import LOCAL_TZ, STORM_START, T0, Story, minutes

ZONE = ZoneInfo(LOCAL_TZ)


def _event_ts(at: datetime) -> str:
    """The event log's quirk: isoformat() of a UTC datetime plus a stray "Z"."""
    return at.isoformat() + "Z"


def _local(at: datetime) -> str:
    """Naive local ISO, as datetime.now().isoformat() writes on the workflow machine."""
    return at.astimezone(ZONE).replace(tzinfo=None).isoformat()


def _log_ts(at: datetime) -> str:
    """logging.Formatter.formatTime default: local, comma before milliseconds."""
    local = at.astimezone(ZONE)
    return local.strftime("%Y-%m-%d %H:%M:%S") + f",{local.microsecond // 1000:03d}"


class Workflow:
    STEPS = (("enhance", "enhancer", "enhance-prompt"), ("planning", "planner", "create-stories"),
             ("implementation", "implementer", "write-code"), ("review", "reviewer", "review"))

    def __init__(self, story: Story, started: datetime, *, fail_step: str | None = None) -> None:
        self.story = story
        self.started = started
        self.id = "rapid-dev-" + started.astimezone(ZONE).strftime("%Y%m%d-%H%M%S")
        self.fail_step = fail_step
        self.events: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.executions: list[dict[str, Any]] = []
        self.completed: list[str] = []

    def _event(self, at: datetime, event_type: str, **fields: Any) -> None:
        self.events.append({"event_type": event_type, "workflow_id": self.id,
                            "seq": len(self.events) + 1, "timestamp": _event_ts(at),
                            "step_id": None, "agent": None, "action": None, "status": None,
                            "error": None, "artifacts": None, "metadata": None, **fields})

    def run(self) -> datetime:
        at = self.started
        self._event(at, "workflow_start", status="running", metadata={
            "workflow_name": "rapid-dev", "workflow_version": "1.0", "step_count": 4})
        self.logs.append({"timestamp": _log_ts(at), "level": "INFO",
                          "logger": "tapps_agents.workflow.logging_helper",
                          "message": "Workflow started", "workflow_id": self.id,
                          "workflow_name": "rapid-dev", "step_count": 4, "taskName": None})
        for step_id, agent, action in self.STEPS:
            begin = at + timedelta(seconds=5)
            self._event(begin, "step_start", step_id=step_id, agent=agent, action=action,
                        status="running")
            failed = step_id == self.fail_step
            duration = 900.0 if failed else self.story.rng.uniform(40, 160)
            at = begin + timedelta(seconds=duration)
            execution = {"step_id": step_id, "agent": agent, "action": action,
                         "started_at": _local(begin), "completed_at": _local(at),
                         "duration_seconds": round(duration, 3),
                         "status": "failed" if failed else "completed",
                         "error": "TimeoutError: Step exceeded 900s" if failed else None}
            self.executions.append(execution)
            if failed:
                self._event(at, "step_fail", step_id=step_id, agent=agent, action=action,
                            status="failed", error="Step exceeded 900s",
                            metadata={"behavior": "fail", "attempt": 3, "max": 3,
                                      "suggestions": None})
                self.logs.append({"timestamp": _log_ts(at), "level": "ERROR",
                                  "logger": "tapps_agents.workflow.executor",
                                  "message": "Step failed", "workflow_id": self.id,
                                  "step_id": step_id, "agent": agent, "taskName": None,
                                  "exception": "TimeoutError: Step exceeded 900s"})
                self._event(at + timedelta(seconds=1), "workflow_end", status="failed",
                            error=f"Step {step_id} failed")
                return at
            self.completed.append(step_id)
            self._event(at, "step_finish", step_id=step_id, agent=agent, action=action,
                        status="completed")
            self.logs.append({"timestamp": _log_ts(at), "level": "INFO",
                              "logger": "tapps_agents.workflow.logging_helper",
                              "message": "Step completed", "workflow_id": self.id,
                              "step_id": step_id, "agent": agent, "action": action,
                              "duration_seconds": round(duration, 1), "artifact_count": 1,
                              "taskName": None})
        self._event(at + timedelta(seconds=1), "workflow_end", status="completed")
        return at

    def state(self) -> dict[str, Any]:
        failed = self.fail_step is not None
        return {"workflow_id": self.id, "started_at": _local(self.started),
                "current_step": self.fail_step, "completed_steps": self.completed,
                "skipped_steps": [], "artifacts": {}, "variables": {"user_prompt": "add metrics"},
                "status": "failed" if failed else "completed",
                "error": f"Step {self.fail_step} failed" if failed else None,
                "step_executions": self.executions}


def write(story: Story, root: Path) -> None:
    base = root / ".tapps-agents"
    state_dir = base / "workflow-state"
    (state_dir / "events").mkdir(parents=True, exist_ok=True)
    (base / "logs").mkdir(parents=True, exist_ok=True)
    (base / "dead-letter").mkdir(parents=True, exist_ok=True)
    workflows = [Workflow(story, T0 + minutes(15 + 70 * i)) for i in range(2 * story.scale)]
    failing = Workflow(story, STORM_START + minutes(10), fail_step="implementation")
    workflows.append(failing)
    logs: list[dict[str, Any]] = []
    for workflow in workflows:
        workflow.run()
        (state_dir / "events" / f"{workflow.id}.events.jsonl").write_text(
            "".join(json.dumps(e) + "\n" for e in workflow.events))
        (state_dir / f"workflow-{workflow.id}.json").write_text(
            json.dumps(workflow.state(), indent=2))
        logs.extend(workflow.logs)
        story.count("tapps.events", len(workflow.events))
    logs.sort(key=lambda line: line["timestamp"])
    (base / "logs" / "structured.jsonl").write_text("".join(json.dumps(x) + "\n" for x in logs))
    story.count("tapps.structured_log", len(logs))
    (base / "dead-letter" / f"{failing.id}-implementation.json").write_text(json.dumps({
        "success": False, "error": {"code": "timeout_error", "message": "Step exceeded 900s",
                                    "category": "timeout"},
        "workflow_id": failing.id, "step_id": "implementation", "agent": "implementer"}))
    story.alert("tapps.step_timeout", failing.id, STORM_START + minutes(25), "warn")
    story.alert("tapps.unrecoverable_step_failure", failing.id, STORM_START + minutes(25), "page")
    story.alert("tapps.retries_exhausted", failing.id, STORM_START + minutes(25), "page")
    for mode in ("timeout", "execution", "workflow_stuck_failed"):
        story.failure_mode("tapps", f"tapps.{mode}")
