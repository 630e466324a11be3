"""mini-swe-agent trajectories (`*.traj.json`): a message list, or {info, messages} in newer versions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, ToolRole, Usage
from ..reading.head import document_start
from .checks import CHECKS
from .common import Collector, as_dict, clip, has_key, json_document, ts_fields

_COMMAND = re.compile(r"```(?:mswea_bash_command|bash)\s*\n(.*?)```", re.DOTALL)
_RETURNCODE = re.compile(r"<returncode>\s*(-?\d+)\s*</returncode>")
STATS_METRICS = {"instance_cost": ("cost", "usd"), "api_calls": ("api_calls", "calls")}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


# Every mini-swe-agent action is a shell command (loaders.base.ToolRole, findings detectors); the
# one echoing the submission marker ends the run (its output is the submission, no observation).
TOOL_ROLES: tuple[ToolRole, ...] = (
    ToolRole("finish", (), "regexp_matches(message, '^\\s*echo\\s+COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT')"),
    ToolRole("shell"),
)


class MiniSweAgentLoader:
    name: ClassVar[str] = "mini_swe_agent.traj_json"
    system: ClassVar[str] = "mini_swe_agent"
    source: ClassVar[str] = "traj_json"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "mini-swe-agent trajectory (*.traj.json)"
    # info.model_stats.instance_cost: the run's whole cost, one point.
    usage: ClassVar[tuple[Usage, ...]] = (Usage("cost", "cost_usd", counting="session_total"),)

    def detect(self, path: Path, head: bytes) -> bool:
        if not path.name.endswith(".traj.json"):
            return False
        start = document_start(head)
        if start == b"[":
            return has_key(head, "role", "content")
        return start == b"{" and has_key(head, "messages") and (
            b"mini-swe-agent" in head or has_key(head, "info"))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        doc = json_document(col)
        if not doc.ok:
            return col.result()
        info: dict[str, Any] = {}
        if isinstance(doc.value, dict):
            info = as_dict(doc.value.get("info"))
            messages = doc.value.get("messages")
        else:
            messages = doc.value
        if not isinstance(messages, list):
            col.records_read += 1
            col.bad(None, "no message list found", doc.text)
            return col.result()
        self.stream = ctx.path.name.removesuffix(".traj.json")
        col.facts["timestamps"] = "none in source (order kept in position)"
        self.pending: str | None = None
        self.step = 0
        for index, msg in enumerate(messages, start=1):
            col.records_read += 1
            if not isinstance(msg, dict) or "role" not in msg:
                col.bad(index, "message is not an object with a 'role'", msg)
                continue
            with col.record(index, msg):
                self._message(col, index, msg)
        if info:
            col.records_read += 1
            with col.record(None, info):
                self._info(col, info, len(messages) + 1)
        return col.result()

    def _message(self, col: Collector, index: int, msg: dict) -> None:
        role = msg.get("role")
        text = _text(msg.get("content"))
        # Newer versions may stamp messages; older ones have no times at all.
        stamp = msg.get("timestamp") or as_dict(msg.get("extra")).get("timestamp")
        base = {"stream": self.stream, **ts_fields(col.ctx, stamp), "event_type_raw": role}
        col.event(index, "chat.turn", **base, actor=role, message=clip(text), attrs=msg)
        command = _COMMAND.search(text) if role == "assistant" else None
        if command:
            body = command.group(1).strip()
            link = f"{self.stream}:step-{self.step + 1}"
            col.event(index, "tool.call", **base, event_key="call", actor="assistant",
                      name=(body.split() or [None])[0], correlation_id=link,
                      message=clip(body), attrs={"command": body})
            self.step, self.pending = self.step + 1, link
            return
        code = _RETURNCODE.search(text) if role == "user" else None
        if code and self.pending:
            rc = int(code.group(1))
            col.event(index, "tool.result", **base, event_key="result", actor="environment",
                      correlation_id=self.pending, outcome="ok" if rc == 0 else "error",
                      error_code=None if rc == 0 else f"returncode {rc}",
                      severity="info" if rc == 0 else "warning",
                      message=clip(text), attrs={"returncode": rc})
            self.pending = None

    def _info(self, col: Collector, info: dict, position: int) -> None:
        status = info.get("exit_status")
        col.event(0, "run.end", stream=self.stream, ts=None, ts_quality="missing",
                  event_key="info", position=position, name=status,
                  outcome=None if status is None else (
                      "ok" if str(status).lower() in ("submitted", "success") else "error"),
                  message=clip(f"exit_status={status}"), attrs=info)
        stats = as_dict(info.get("model_stats"))
        for raw_name, (name, unit) in STATS_METRICS.items():
            col.metric(0, name, stats.get(raw_name), unit=unit, ts=None,
                       ts_quality="missing", stream=self.stream)
