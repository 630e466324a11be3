"""Demo artifacts of Jido.Code.Server: a `:telemetry` JSON Lines export with a timeout storm."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .story import END, SECRETS, STORM_START, T0, Story, minutes, rfc3339

PROJECT = "phase9-p1"


class TelemetryWriter:
    def __init__(self, story: Story) -> None:
        self.story = story
        self.lines: list[tuple[datetime, dict[str, Any]]] = []

    def emit(self, at: datetime, name: str, metadata: dict[str, Any],
             duration_ms: float | None = None, *, with_project: bool = True) -> None:
        measurements: dict[str, Any] = {"count": 1}
        if duration_ms is not None:
            measurements["duration_ms"] = duration_ms
        project = {"project_id": PROJECT} if with_project else {}
        meta = {**project, **metadata, "event_name": name, "emitted_at": rfc3339(at, 6)}
        self.lines.append((at, {"event": name, "emitted_at": rfc3339(at, 6),
                                "measurements": measurements, "metadata": meta}))

    def correlation(self) -> str:
        return "corr-" + f"{self.story.rng.getrandbits(80):020x}"

    def tool_call(self, at: datetime, conversation: str, tool: str, *, outcome: str = "ok",
                  reason: str | None = None) -> datetime:
        corr = self.correlation()
        base = {"conversation_id": conversation, "correlation_id": corr, "tool": tool}
        self.emit(at, "tool.started", {**base, "kind": "command", "args": {}})
        if outcome == "ok":
            done = at + timedelta(milliseconds=self.story.rng.uniform(80, 900))
            # ToolRunner's completion events carry no project_id (FORMATS §2.2)
            self.emit(done, "tool.completed", {**base, "status": "ok"},
                      (done - at).total_seconds() * 1000, with_project=False)
        else:
            done = at + timedelta(seconds=30 if outcome == "timeout" else 0.4)
            self.emit(done, "tool.failed", {**base, "status": "error",
                                            "reason": reason or outcome},
                      (done - at).total_seconds() * 1000, with_project=False)
        return done


def _background(writer: TelemetryWriter, story: Story) -> None:
    for index in range(8 * story.scale):
        start = T0 + minutes(index * 170 / (8 * story.scale)) + timedelta(
            seconds=story.rng.uniform(0, 30))
        conversation = f"conv-{index:03d}"
        writer.emit(start, "conversation.started", {"conversation_id": conversation})
        at = start
        for _ in range(3):
            corr = writer.correlation()
            writer.emit(at, "llm.started", {"conversation_id": conversation,
                                            "correlation_id": corr, "event_source": "emitted"})
            at += timedelta(seconds=story.rng.uniform(2, 6))
            writer.emit(at, "llm.completed", {"conversation_id": conversation,
                                              "correlation_id": corr, "event_source": "emitted"})
            at = writer.tool_call(at + timedelta(seconds=1), conversation, "command.run.tests")
        writer.emit(at + timedelta(seconds=5), "conversation.stopped",
                    {"conversation_id": conversation})


def _storm(writer: TelemetryWriter, story: Story) -> None:
    """10:05-10:40: rate-limited LLM calls, tool timeouts piling up, one sandbox violation."""
    conversation = "conv-incident"
    start = STORM_START + minutes(5)
    writer.emit(start, "conversation.started", {"conversation_id": conversation})
    timeouts = 0
    for index in range(80):  # a call every 10 s for ~13 minutes
        at = start + timedelta(seconds=10 * index + 5)
        if index < 16:  # 16 timeouts in the first ~2.7 minutes
            writer.tool_call(at, conversation, "command.run.build", outcome="timeout")
            timeouts += 1
            writer.emit(at + timedelta(seconds=30, milliseconds=1), "tool.timeout", {
                "conversation_id": conversation, "correlation_id": writer.correlation(),
                "tool": "command.run.build", "timeout_count": timeouts})
            if timeouts == 3:
                writer.emit(at + timedelta(seconds=30, milliseconds=2),
                            "security.repeated_timeout_failures", {
                                "conversation_id": conversation, "tool": "command.run.build",
                                "timeout_count": 3, "threshold": 3})
        elif index % 6 == 0:
            writer.tool_call(at, conversation, "command.run.fetch", outcome="error",
                             reason=("{:tool_failed, \"curl -H 'Authorization: "
                                     f"{SECRETS['bearer']}' https://api.example\"}}"))
        else:
            writer.tool_call(at, conversation, "command.run.tests")
        if index % 8 == 0:
            corr = writer.correlation()
            writer.emit(at, "llm.started", {"conversation_id": conversation,
                                            "correlation_id": corr})
            writer.emit(at + timedelta(seconds=1), "llm.failed", {
                "conversation_id": conversation, "correlation_id": corr,
                "reason": "rate_limited"})
    violation_at = STORM_START + minutes(12)
    corr = writer.correlation()
    decision = {"conversation_id": conversation, "correlation_id": corr,
                "tool_name": "command.run.example_command", "reason": "outside_root",
                "decision": "deny", "outside_root_exception_reason_codes": []}
    writer.emit(violation_at, "policy.denied", decision)
    writer.emit(violation_at + timedelta(milliseconds=1), "security.sandbox_violation", decision)
    writer.emit(STORM_START + minutes(50), "conversation.stopped",
                {"conversation_id": conversation})
    story.alert("jido.tool_timeouts", PROJECT, start, "page")
    story.alert("jido.tool_failure_ratio", PROJECT, start, "page")
    story.alert("jido.repeated_timeout_failures", PROJECT, start, "page")
    story.alert("jido.sandbox_violation", PROJECT, violation_at, "page")
    for mode in ("repeated_timeout_failures", "sandbox_violation", "policy_denial_spike"):
        story.failure_mode("jido", f"jido.{mode}")
    # The Jido runbook has no LLM signal; the generic rules see the storm's rate limits
    # (an llm.failed every 80 s: 3 within 5 minutes from 10:07:46).
    story.alert("generic.llm_rate_limited", f"jido/{PROJECT}", start, "warn")
    story.failure_mode("jido", "generic.llm_rate_limit")


def write(story: Story, root: Path) -> None:
    writer = TelemetryWriter(story)
    _background(writer, story)
    _storm(writer, story)
    writer.emit(END - minutes(1), "project.stopped", {"root_path": "/srv/phase9"})
    writer.lines.sort(key=lambda item: item[0])
    folder = root / "jido"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "telemetry.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for _, line in writer.lines))
    story.count("jido.telemetry", len(writer.lines))
