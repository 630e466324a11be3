"""Claude Code session transcripts (`~/.claude/projects/<project>/<session>.jsonl`, subagents)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, ToolRole, Usage
from .checks import CHECKS
from .common import (
    Collector,
    as_dict,
    as_key,
    as_list,
    as_text,
    clip,
    derived_ts,
    iter_json_lines,
    ts_fields,
    type_is,
)

RECORD_TYPES = ("user", "assistant", "summary", "file-history-snapshot", "progress", "system")
USAGE_METRICS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_creation_tokens",
}
SYSTEM_TYPES = {"compact_boundary": "context.compacted", "api_error": "llm.error"}
_SESSION_ID = re.compile(rb'"sessionId"\s*:\s*"([^"]+)"')
DENIED = "doesn't want to proceed with this tool use"
_UUID_NAME = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for item in content:
            if isinstance(item, dict):
                parts.append(str(item.get("text") or item.get("thinking") or ""))
            else:
                parts.append(str(item))
        return "\n".join(p for p in parts if p)
    return "" if content is None else str(content)


def _first_session(path: Path, lines: int = 50) -> str | None:
    """The file's session id, for leading records that carry none (file-history snapshots)."""
    with path.open("rb") as handle:
        for _, raw in zip(range(lines), handle, strict=False):
            match = _SESSION_ID.search(raw)
            if match:
                return match.group(1).decode("utf-8", "replace")
    return None


# What each tool does, for the findings detectors (loaders.base.ToolRole).
TOOL_ROLES: tuple[ToolRole, ...] = (
    ToolRole("edit", ("Edit", "MultiEdit", "Write", "NotebookEdit")),
    ToolRole("explore", ("Read", "Glob", "Grep", "LS", "NotebookRead", "WebFetch", "WebSearch")),
    ToolRole("shell", ("Bash",)),
)
# The call's input (the message holds its first 300 characters): the tool_use block of its id.
TOOL_ARGUMENTS = ("(list_filter(json_extract(attrs, '$.message.content[*]'), "
                  "lambda x: x ->> 'id' = correlation_id)[1] -> 'input')::VARCHAR")


class ClaudeCodeLoader:
    name: ClassVar[str] = "claude_code.session_jsonl"
    system: ClassVar[str] = "claude_code"
    source: ClassVar[str] = "session_jsonl"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Claude Code session JSONL (~/.claude/projects/*/<session>.jsonl, subagents/agent-*.jsonl)"
    )
    # One point per API message (the last streamed line's usage); Anthropic's input_tokens
    # exclude the cache reads and writes, which are counted beside them.
    usage: ClassVar[tuple[Usage, ...]] = tuple(
        Usage(name, name, key="message_id") for name in USAGE_METRICS.values())

    def detect(self, path: Path, head: bytes) -> bool:
        if path.suffix != ".jsonl":
            return False
        if b'"sessionId"' not in head:
            # Some session files hold only summary records (titles of earlier conversations).
            return bool(_UUID_NAME.match(path.stem)) and type_is(head, "summary") and (
                b'"leafUuid"' in head)
        if _UUID_NAME.match(path.stem) or path.stem.startswith("agent-") or "projects" in path.parts:
            return type_is(head, *RECORD_TYPES)
        # Other names (renamed copies): require the record shape, not just the words.
        return type_is(head, "user", "assistant") and b'"parentUuid"' in head

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        self.session = _first_session(ctx.path) or ctx.path.stem
        self.last_model: dict[str, str] = {}
        self.usage_by_message: dict[str, dict[str, Any]] = {}
        self.agents_seen: set[str] = set()
        self.tool_names: dict[Any, Any] = {}
        for number, rec, raw in iter_json_lines(col):
            kind = rec.get("type")
            if not isinstance(kind, str):
                col.bad(number, "record has no string 'type'", raw)
                continue
            with col.record(number, raw):
                self._record(col, number, rec, kind)
        self._emit_usage(col, self.usage_by_message)
        return col.result()

    def _record(self, col: Collector, number: int, rec: dict, kind: str) -> None:
        session = as_text(rec.get("sessionId")) or self.session
        agent = rec.get("agentId")
        stream = f"{session}/agent-{agent}" if agent else session
        if rec.get("isSidechain") and not agent:
            stream = f"{session}/sidechain"  # older versions kept subagents inline
        base = {
            "stream": stream,
            "project": rec.get("cwd"),
            "event_type_raw": kind,
            **ts_fields(col.ctx, rec.get("timestamp")),
        }
        if agent:
            col.facts.setdefault("agent_id", agent)
            col.facts.setdefault("parent_session", session)
        if kind == "user":
            self._user(col, number, rec, base)
        elif kind == "assistant":
            self._assistant(col, number, rec, base, self.last_model, self.usage_by_message)
        elif kind == "summary":
            col.event(
                number, "context.compacted", **base, name="summary",
                message=clip(rec.get("summary")), correlation_id=rec.get("leafUuid"),
                attrs=rec,
            )
        elif kind == "file-history-snapshot":
            self._snapshot(col, number, rec, base)
        elif kind == "progress":
            self._progress(col, number, rec, base, session, self.agents_seen)
        elif kind == "system":
            self._system(col, number, rec, base)
        elif kind == "queue-operation":
            col.event(
                number, "telemetry", **base, name=f"queue.{rec.get('operation')}",
                message=clip(rec.get("content")), attrs=rec,
            )
        else:
            col.event(number, "unknown", **base, name=kind, attrs=rec)
        self.session = session  # records without one (snapshots) belong to the last seen

    def _user(self, col: Collector, number: int, rec: dict, base: dict) -> None:
        content = as_dict(rec.get("message")).get("content")
        common = {**base, "actor": "user"}
        if not isinstance(content, list):
            name = "compact_summary" if rec.get("isCompactSummary") else None
            name = name or ("meta" if rec.get("isMeta") else None)
            col.event(number, "chat.turn", **common, name=name, message=clip(content), attrs=rec)
            return
        texts = []
        first = True
        for index, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_result":
                failed = block.get("is_error") is True
                result_text = _text_of(block.get("content"))
                outcome = "error" if failed else "ok"
                if failed and DENIED in result_text:
                    outcome = "denied"
                col.event(
                    number, "tool.result", **common, event_key=index,
                    correlation_id=block.get("tool_use_id"), outcome=outcome,
                    name=self.tool_names.get(as_key(block.get("tool_use_id"))),
                    severity="warning" if failed else "info",
                    message=clip(result_text),
                    attrs=rec if first else {"uuid": rec.get("uuid"), "block": block},
                )
                first = False
            else:
                texts.append(block)
        if texts or first:
            col.event(
                number, "chat.turn", **common, event_key="text",
                name="meta" if rec.get("isMeta") else None,
                message=clip(_text_of(texts)),
                attrs=rec if first else {"uuid": rec.get("uuid"), "blocks": texts},
            )

    def _assistant(
        self,
        col: Collector,
        number: int,
        rec: dict,
        base: dict,
        last_model: dict[str, str],
        usage_by_message: dict[str, dict[str, Any]],
    ) -> None:
        message = as_dict(rec.get("message"))
        model = message.get("model")
        common = {**base, "actor": "assistant"}
        first = True
        if rec.get("isApiErrorMessage") or rec.get("error"):
            col.event(
                number, "llm.error", **common, severity="error", outcome="error",
                name=model, error_code=str(rec.get("error") or "api_error"),
                message=clip(_text_of(message.get("content"))), attrs=rec,
            )
            first = False
        elif isinstance(model, str) and model != "<synthetic>":
            previous = last_model.get(base["stream"])
            if previous != model:
                col.event(
                    number, "model.change", **common, event_key="model", name=model,
                    message=f"{previous} -> {model}" if previous else f"model {model}",
                    attrs={"uuid": rec.get("uuid"), "from": previous, "to": model},
                )
                last_model[base["stream"]] = model
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for index, block in enumerate(blocks):
            if not isinstance(block, dict):
                continue
            attrs = rec if first else {"uuid": rec.get("uuid"), "block": block}
            first = False
            kind = block.get("type")
            if kind in ("tool_use", "server_tool_use"):
                self.tool_names[as_key(block.get("id"))] = block.get("name")
                col.event(
                    number, "tool.call", **common, event_key=index, name=block.get("name"),
                    correlation_id=block.get("id"), message=clip(block.get("input")), attrs=attrs,
                )
            elif kind in ("thinking", "redacted_thinking"):
                col.event(
                    number, "chat.turn", **common, event_key=index, name="thinking",
                    message=clip(block.get("thinking")), attrs=attrs,
                )
            else:
                col.event(
                    number, "chat.turn", **common, event_key=index,
                    message=clip(block.get("text") if kind == "text" else block), attrs=attrs,
                )
        if first:
            col.event(number, "chat.turn", **common, event_key="empty", attrs=rec)
        usage = message.get("usage")
        if isinstance(usage, dict):
            # Claude Code writes one line per content block, each repeating the message's usage
            # (growing as it streams): only the last line of a message counts.
            key = message.get("id") or rec.get("requestId") or rec.get("uuid")
            entry = usage_by_message.setdefault(str(key), {"uuids": []})
            entry["uuids"].append(rec.get("uuid"))
            entry.update(record_no=number, usage=usage, model=model, base=base, message_id=key)

    def _emit_usage(self, col: Collector, usage_by_message: dict[str, dict[str, Any]]) -> None:
        for key, entry in usage_by_message.items():
            base, usage = entry["base"], entry["usage"]
            numbers = {
                name: usage.get(raw) for raw, name in USAGE_METRICS.items() if usage.get(raw)
                is not None
            }
            col.event(
                entry["record_no"], "llm.usage", **{**base, "actor": "assistant"},
                event_key="usage", name=entry["model"], correlation_id=key,
                message=", ".join(f"{k}={v}" for k, v in numbers.items()),
                attrs={"message_id": key, "record_uuids": entry["uuids"], "usage": usage},
            )
            for name, value in numbers.items():
                col.metric(
                    entry["record_no"], name, value, ts=base["ts"],
                    ts_quality=base["ts_quality"], stream=base["stream"], project=base["project"],
                    labels={"model": entry["model"], "message_id": key},
                )

    def _snapshot(self, col: Collector, number: int, rec: dict, base: dict) -> None:
        snapshot = as_dict(rec.get("snapshot"))
        # No time of its own: the snapshot's timestamp is that of the user message it belongs to.
        when = ts_fields(col.ctx, snapshot.get("timestamp"))
        when = derived_ts(when, "snapshot.timestamp")
        files = snapshot.get("trackedFileBackups")
        files = files if isinstance(files, dict | list) else ()
        col.event(
            number, "snapshot", **{**base, **when}, name="file-history-snapshot",
            correlation_id=rec.get("messageId"),
            message=f"{len(files)} tracked file(s)" + (" (update)" if rec.get("isSnapshotUpdate")
                                                      else ""),
            attrs=rec,
        )

    def _progress(
        self, col: Collector, number: int, rec: dict, base: dict, session: str, seen: set[str]
    ) -> None:
        data = rec.get("data") or {}
        kind = data.get("type") if isinstance(data, dict) else None
        agent = as_key(data.get("agentId")) if isinstance(data, dict) else None
        if kind == "agent_progress" and agent and agent not in seen:
            seen.add(agent)
            col.event(
                number, "subagent.start", **base, name=str(agent),
                correlation_id=rec.get("parentToolUseID"),
                message=f"subagent {agent} (stream {session}/agent-{agent})",
                attrs={**rec, "subagent_stream": f"{session}/agent-{agent}"},
            )
            return
        link = rec.get("parentToolUseID") or rec.get("toolUseID")
        if kind == "hook_progress" and isinstance(data, dict):
            # A configured hook running around a tool call or the session: kept, but marked
            # debug so the timeline can hide it (it is most of a hooked session's lines).
            hook = as_text(data.get("hookName")) or as_text(data.get("hookEvent"))
            col.event(
                number, "hook.progress", **base, name=hook, severity="debug",
                correlation_id=link, message=clip(" ".join(
                    str(part) for part in (hook, data.get("command")) if part)), attrs=rec,
            )
            return
        message = None
        if isinstance(data, dict):
            message = data.get("hookName") or data.get("taskDescription") or data.get("output")
        col.event(
            number, "telemetry", **base, name=kind or "progress",
            correlation_id=link, message=clip(message), attrs=rec,
        )

    def _system(self, col: Collector, number: int, rec: dict, base: dict) -> None:
        subtype = as_key(rec.get("subtype"))
        level = as_key(rec.get("level"))
        if isinstance(subtype, str) and subtype.endswith("_hook_summary"):
            self._hook_summary(col, number, rec, base, subtype)
            return
        event_type = SYSTEM_TYPES.get(subtype, "telemetry")
        severity = {"error": "error", "warning": "warning"}.get(level, "info")
        if rec.get("hookErrors"):
            severity = "warning"
        col.event(
            number, event_type, **base, name=subtype, severity=severity,
            duration_ms=rec.get("durationMs"),
            message=clip(rec.get("content") or rec.get("stopReason") or subtype),
            outcome="error" if event_type == "llm.error" else None, attrs=rec,
        )

    @staticmethod
    def _hook_summary(col: Collector, number: int, rec: dict, base: dict, subtype: str) -> None:
        """The hooks run at a stop: debug telemetry, unless a hook failed or stopped the agent."""
        errors = as_list(rec.get("hookErrors"))
        blocked = rec.get("preventedContinuation") is True
        count = rec.get("hookCount")
        col.event(
            number, "hook.summary", **base, name=subtype,
            severity="warning" if errors or blocked else "debug",
            outcome="error" if errors else None,
            message=clip(f"{count} hook(s)" + (f", {len(errors)} failed" if errors else "")
                         + (", prevented continuation" if blocked else "")
                         + (f": {rec.get('stopReason')}" if rec.get("stopReason") else "")),
            attrs=rec,
        )
