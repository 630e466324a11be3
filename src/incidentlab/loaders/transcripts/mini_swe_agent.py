"""mini-swe-agent trajectories (`*.traj.json`): a message list, or {info, messages} in newer versions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from .common import Collector, clip, has_key, load_json_document, ts_fields

_COMMAND = re.compile(r"```(?:mswea_bash_command|bash)\s*\n(.*?)```", re.DOTALL)
_RETURNCODE = re.compile(r"<returncode>\s*(-?\d+)\s*</returncode>")
STATS_METRICS = {"instance_cost": ("cost", "usd"), "api_calls": ("api_calls", "calls")}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


class MiniSweAgentLoader:
    name: ClassVar[str] = "mini_swe_agent.traj_json"
    system: ClassVar[str] = "mini_swe_agent"
    source: ClassVar[str] = "traj_json"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "mini-swe-agent trajectory (*.traj.json)"

    def detect(self, path: Path, head: bytes) -> bool:
        if not path.name.endswith(".traj.json"):
            return False
        text = head.lstrip()
        if text.startswith(b"["):
            return has_key(head, "role", "content")
        return text.startswith(b"{") and has_key(head, "messages") and (
            b"mini-swe-agent" in head or has_key(head, "info"))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        doc = load_json_document(col)
        if doc is None:
            return col.result()
        info: dict[str, Any] = {}
        if isinstance(doc, dict):
            info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
            messages = doc.get("messages")
        else:
            messages = doc
        if not isinstance(messages, list):
            col.records_read += 1
            col.bad(None, "no message list found", str(doc)[:500])
            return col.result()
        stream = ctx.path.name.removesuffix(".traj.json")
        col.facts["timestamps"] = "none in source (order kept in position)"
        pending: str | None = None
        step = 0
        for index, msg in enumerate(messages, start=1):
            col.records_read += 1
            if not isinstance(msg, dict) or "role" not in msg:
                col.bad(index, "message is not an object with a 'role'", msg)
                continue
            role = msg.get("role")
            text = _text(msg.get("content"))
            # Newer versions may stamp messages; older ones have no times at all.
            when = ts_fields(ctx, msg.get("timestamp") or (msg.get("extra") or {}).get("timestamp"))
            base = {"stream": stream, **when, "event_type_raw": role}
            col.event(index, "chat.turn", **base, actor=role, message=clip(text), attrs=msg)
            command = _COMMAND.search(text) if role == "assistant" else None
            if command:
                step += 1
                pending = f"{stream}:step-{step}"
                body = command.group(1).strip()
                col.event(index, "tool.call", **base, event_key="call", actor="assistant",
                          name=(body.split() or [None])[0], correlation_id=pending,
                          message=clip(body), attrs={"command": body})
                continue
            code = _RETURNCODE.search(text) if role == "user" else None
            if code and pending:
                rc = int(code.group(1))
                col.event(index, "tool.result", **base, event_key="result", actor="environment",
                          correlation_id=pending, outcome="ok" if rc == 0 else "error",
                          error_code=None if rc == 0 else f"returncode {rc}",
                          severity="info" if rc == 0 else "warning",
                          message=clip(text), attrs={"returncode": rc})
                pending = None
        if info:
            col.records_read += 1
            status = info.get("exit_status")
            col.event(0, "run.end", stream=stream, ts=None, ts_quality="missing",
                      event_key="info", position=len(messages) + 1, name=status,
                      outcome=None if status is None else (
                          "ok" if str(status).lower() in ("submitted", "success") else "error"),
                      message=clip(f"exit_status={status}"), attrs=info)
            stats = info.get("model_stats") or {}
            for raw_name, (name, unit) in STATS_METRICS.items():
                col.metric(0, name, stats.get(raw_name), unit=unit, ts=None,
                           ts_quality="missing", stream=stream)
        return col.result()
