"""SWE-agent output: `.traj` trajectories, `all_preds.jsonl` predictions and the console log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, ToolRole, Usage, iter_lines
from .checks import CHECKS
from .common import (
    Collector,
    clip,
    has_key,
    head_lines,
    iter_json_lines,
    json_document,
    local_ts_fields,
    object_items,
)

STATS_METRICS = {
    "tokens_sent": ("input_tokens", "tokens"),
    "tokens_received": ("output_tokens", "tokens"),
    "instance_cost": ("cost", "usd"),
    "api_calls": ("api_calls", "calls"),
}
_LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$"
)
_USAGE = re.compile(r"^input_tokens=([\d,]+), output_tokens=([\d,]+), instance_cost=([\d.]+), "
                    r"cost=([\d.]+)")
LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warning", "ERROR": "error",
          "CRITICAL": "critical"}


def _command_name(action: Any) -> str | None:
    if not action or not isinstance(action, str):
        return None
    words = action.strip().split()
    return words[0] if words else None


# What each tool does, for the findings detectors (loaders.base.ToolRole): SWE-agent names a
# call after its command's first word, so any other command is a shell command.
TOOL_ROLES: tuple[ToolRole, ...] = (
    ToolRole("finish", ("submit", "exit_forfeit", "exit_cost")),
    ToolRole("edit", ("edit", "create", "insert", "append", "str_replace_editor")),
    ToolRole("explore", ("open", "goto", "scroll_up", "scroll_down", "find_file", "search_dir",
                         "search_file")),
    ToolRole("shell"),
)
# The whole action text (the message has its white space collapsed).
TOOL_ARGUMENTS = "coalesce(attrs ->> 'action', message)"


class SweAgentTrajLoader:
    name: ClassVar[str] = "swe_agent.traj"
    system: ClassVar[str] = "swe_agent"
    source: ClassVar[str] = "traj"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "SWE-agent trajectory (*.traj: trajectory steps, history, info)"
    # info.model_stats: the instance's whole usage, one point each.
    usage: ClassVar[tuple[Usage, ...]] = (
        Usage("input_tokens", "input_tokens", counting="session_total"),
        Usage("output_tokens", "output_tokens", counting="session_total"),
        Usage("cost", "cost_usd", counting="session_total"),
    )

    def detect(self, path: Path, head: bytes) -> bool:
        return path.suffix == ".traj" and (has_key(head, "trajectory") or has_key(head, "history"))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        document = json_document(col)
        if not document.ok:
            return col.result()
        doc = document.value
        if not isinstance(doc, dict):
            col.records_read += 1
            col.bad(None, "trajectory is not a JSON object", doc)
            return col.result()
        stream = ctx.path.stem
        base = {"stream": stream, "project": doc.get("environment"), "ts": None,
                "ts_quality": "missing"}
        # No per-step times in .traj files: order lives in `position` only.
        col.facts["timestamps"] = "none in source (order kept in position)"
        history = _member_list(col, doc, "history")
        for index, msg in object_items(col, history, "history entry"):
            with col.record(index, msg):
                self._history(col, index, msg, base)
        offset = len(history)
        trajectory = _member_list(col, doc, "trajectory")
        for index, step in object_items(col, trajectory, "trajectory step"):
            with col.record(index, step):
                self._step(col, index, step, base, offset + index)
        info = doc.get("info")
        col.records_read += 1
        if isinstance(info, dict):
            with col.record(None, info):
                self._info(col, info, base, offset + len(trajectory) + 1)
        else:
            col.bad(None, "trajectory has no 'info' object", info)
        return col.result()

    @staticmethod
    def _history(col: Collector, index: int, msg: dict, base: dict) -> None:
        role = msg.get("role")
        ids = msg.get("tool_call_ids")
        # The conversation view; tool calls and results come from the trajectory steps.
        col.event(
            index, "chat.turn", **base, event_key="history", actor=role,
            name=msg.get("message_type"), event_type_raw=f"history.{role}",
            correlation_id=ids[0] if isinstance(ids, list) and ids else None, position=index,
            message=clip(msg.get("content")), attrs=msg,
        )

    @staticmethod
    def _step(col: Collector, index: int, step: dict, base: dict, position: int) -> None:
        action = step.get("action")
        seconds = step.get("execution_time")
        try:
            duration = float(seconds) * 1000 if seconds is not None else None
        except (TypeError, ValueError, OverflowError):
            duration = None
        link = f"{base['stream']}:step-{index}"
        common = {**base, "correlation_id": link, "position": position,
                  "name": _command_name(action)}
        col.event(index, "tool.call", **common, event_key="step.call", actor="assistant",
                  event_type_raw="trajectory.action", message=clip(action), attrs=step)
        col.event(
            index, "tool.result", **common, event_key="step.result", actor="environment",
            event_type_raw="trajectory.observation", duration_ms=duration,
            message=clip(step.get("observation")),
            attrs={"step": index, "observation_chars": len(str(step.get("observation")))},
        )

    def _info(self, col: Collector, info: dict, base: dict, position: int) -> None:
        status = info.get("exit_status")
        submitted = isinstance(status, str) and status.startswith("submitted")
        slim = {k: v for k, v in info.items() if k not in ("submission",)}
        col.event(
            0, "run.end", **base, event_key="info", position=position, name=status,
            outcome="ok" if submitted else ("error" if status else None),
            message=clip(f"exit_status={status}"),
            attrs={**slim, "submission": info.get("submission")},
        )
        stats = info.get("model_stats")
        if isinstance(stats, dict):
            col.event(
                0, "llm.usage", **base, event_key="usage", position=position,
                message=", ".join(f"{k}={v}" for k, v in stats.items()), attrs=stats,
            )
            for raw_name, (name, unit) in STATS_METRICS.items():
                col.metric(0, name, stats.get(raw_name), unit=unit, ts=None,
                           ts_quality="missing", stream=base["stream"], project=base["project"])


def _member_list(col: Collector, doc: dict, key: str) -> list[Any]:
    """A member that should be a list: absent is empty, anything else one quarantined record."""
    value = doc.get(key)
    if value is None or isinstance(value, list):
        return value or []
    col.records_read += 1
    col.bad(None, f"'{key}' is not a list", value)
    return []


class SweAgentPredsLoader:
    name: ClassVar[str] = "swe_agent.preds_jsonl"
    system: ClassVar[str] = "swe_agent"
    source: ClassVar[str] = "preds_jsonl"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "SWE-agent predictions (all_preds.jsonl: one model patch per instance)"

    def detect(self, path: Path, head: bytes) -> bool:
        return path.name in ("all_preds.jsonl", "preds.jsonl") and has_key(
            head, "instance_id", "model_patch")

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        for number, rec, raw in iter_json_lines(col):
            patch = rec.get("model_patch")
            lines = len(patch.splitlines()) if isinstance(patch, str) else 0
            with col.record(number, raw):
                col.event(
                    number, "run.end", stream=rec.get("instance_id"),
                    project=rec.get("model_name_or_path"), ts=None, ts_quality="missing",
                    name="prediction", outcome="ok" if patch else "error",
                    message=f"prediction: {lines}-line model patch" if patch
                    else "empty prediction",
                    attrs=rec,
                )
        return col.result()


class SweAgentLogLoader:
    name: ClassVar[str] = "swe_agent.console_log"
    system: ClassVar[str] = "swe_agent"
    source: ClassVar[str] = "console_log"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "SWE-agent console log (YYYY-MM-DD HH:MM:SS,mmm LEVEL ...)"
    # Per call: tokens, and a cost printed rounded to cents each time; the instance_cost on the
    # same line is the running total (cumulative), rounded once: that is the cost counted.
    usage: ClassVar[tuple[Usage, ...]] = (
        Usage("input_tokens", "input_tokens"),
        Usage("output_tokens", "output_tokens"),
        Usage("instance_cost", "cost_usd", counting="cumulative",
              note="cost printed by SWE-agent rounded to cents"),
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if path.suffix not in (".log", ".txt"):
            return False
        # Records span many lines (config dumps): a damaged first one leaves the next to match.
        if not any(_LOG_LINE.match(line) for line in head_lines(head, None)):
            return False
        text = head.decode("utf-8", "replace")
        return any(mark in text for mark in ("sweagent", "SWE-agent", "🤖 MODEL INPUT",
                                             "💽 Loaded dataset", "📙 Arguments"))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        record: dict[str, Any] | None = None
        for number, text in iter_lines(ctx.path):
            match = _LOG_LINE.match(text)
            if match:
                if record:
                    self._emit(col, record)
                record = {"line": number, "ts": match.group(1), "level": match.group(2),
                          "lines": [match.group(3)]}
                col.records_read += 1
            elif record is None:
                col.records_read += 1
                col.bad(number, "text before the first timestamped log line", text)
            else:
                record["lines"].append(text)
        if record:
            self._emit(col, record)
        return col.result()

    def _emit(self, col: Collector, record: dict[str, Any]) -> None:
        with col.record(record["line"], "\n".join(record["lines"])):
            self._event(col, record)

    def _event(self, col: Collector, record: dict[str, Any]) -> None:
        first = record["lines"][0]
        body = "\n".join(record["lines"])
        level = record["level"]
        when = local_ts_fields(col, record["ts"])
        base = {"stream": col.ctx.path.stem, **when, "event_type_raw": level,
                "severity": LEVELS[level], "attrs": {"level": level, "text": body}}
        number = record["line"]
        usage = _USAGE.match(first)
        if usage:
            tokens_in, tokens_out = (int(usage.group(i).replace(",", "")) for i in (1, 2))
            col.event(number, "llm.usage", **base, message=clip(first))
            for name, value, unit in (("input_tokens", tokens_in, "tokens"),
                                      ("output_tokens", tokens_out, "tokens"),
                                      ("cost", float(usage.group(4)), "usd"),
                                      ("instance_cost", float(usage.group(3)), "usd")):
                col.metric(number, name, value, unit=unit, ts=when["ts"],
                           ts_quality=when["ts_quality"], stream=base["stream"])
            return
        event_type, name, actor = "log", None, None
        if level in ("ERROR", "CRITICAL") or "Traceback (most recent call last)" in body:
            event_type = "error"
        elif "MODEL INPUT" in first:
            event_type, actor = "llm.request", "agent"
        elif "THOUGHT (" in first:
            event_type, actor = "chat.turn", "assistant"
        elif "ACTION (" in first:
            event_type, actor = "tool.call", "assistant"
            action = "\n".join(record["lines"][1:]).strip()
            name = _command_name(action)
        elif first.startswith("SYSTEM (") or first.startswith("DEMONSTRATION"):
            event_type, actor = "chat.turn", "system"
        message = first
        if event_type in ("chat.turn", "tool.call") and len(record["lines"]) > 1:
            message = "\n".join(record["lines"][1:])
        col.event(number, event_type, **base, actor=actor, name=name, message=clip(message))
