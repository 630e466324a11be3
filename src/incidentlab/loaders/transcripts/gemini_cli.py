"""Gemini CLI chat sessions (`~/.gemini/tmp/<hash>/chats/session-*.json`) and `logs.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, ToolRole, Usage
from ..reading.head import document_start
from .checks import CHECKS
from .common import Collector, as_text, clip, has_key, json_document, keyed_items, ts_fields

USAGE_METRICS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cached": "cache_read_tokens",
    "thoughts": "thoughts_tokens",
    "tool": "tool_tokens",
    "total": "total_tokens",
}
ACTORS = {"user": "user", "gemini": "assistant", "model": "assistant"}
STATUS = {"success": "ok", "error": "error", "cancelled": "skipped", "canceled": "skipped"}
SEVERITY = {"error": "error", "warning": "warning"}


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


# What each tool does, for the findings detectors (loaders.base.ToolRole).
TOOL_ROLES: tuple[ToolRole, ...] = (
    ToolRole("edit", ("write_file", "replace", "edit")),
    ToolRole("explore", ("read_file", "read_many_files", "list_directory", "glob",
                         "search_file_content", "google_web_search", "web_fetch")),
    ToolRole("shell", ("run_shell_command",)),
)
# The call's args object (the message may be shortened).
TOOL_ARGUMENTS = "(attrs -> 'args')::VARCHAR"


class GeminiSessionLoader:
    name: ClassVar[str] = "gemini_cli.session_json"
    system: ClassVar[str] = "gemini_cli"
    source: ClassVar[str] = "session_json"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Gemini CLI chat session (chats/session-*.json) and prompt log (logs.json)"
    # One point per model message. Gemini counts cached input inside the prompt (input) count
    # and thoughts beside the output (total = input + output + thoughts + tool); the tool-use
    # prompt count has no canonical field and is not declared.
    usage: ClassVar[tuple[Usage, ...]] = (
        Usage("input_tokens", "input_tokens"),
        Usage("cache_read_tokens", "cache_read_tokens", within="input_tokens"),
        Usage("output_tokens", "output_tokens"),
        Usage("thoughts_tokens", "reasoning_tokens"),
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if path.suffix != ".json":
            return False
        if path.name.startswith("session-"):
            return has_key(head, "sessionId", "messages") and (
                has_key(head, "projectHash") or has_key(head, "startTime"))
        if path.name == "logs.json":
            return document_start(head) == b"[" and has_key(head, "sessionId", "messageId")
        return False

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        doc = json_document(col)
        if isinstance(doc.value, list):
            self._prompt_log(col, doc.value)
        elif isinstance(doc.value, dict):
            self._session(col, doc.value)
        elif doc.ok:
            col.records_read += 1
            col.bad(None, "neither a session object nor a prompt-log list", doc.text)
        return col.result()

    def _prompt_log(self, col: Collector, entries: list) -> None:
        for index, entry in enumerate(entries, start=1):
            col.records_read += 1
            if not isinstance(entry, dict) or "sessionId" not in entry:
                col.bad(index, "prompt-log entry without sessionId", entry)
                continue
            message_id = entry.get("messageId")
            # logs.json repeats the user prompts of the chat file: kept, flagged as a mirror.
            with col.record(index, entry):
                col.event(
                    index, "chat.turn", stream=entry.get("sessionId"), actor="user",
                    is_mirror=True, seq=message_id if isinstance(message_id, int) else None,
                    event_type_raw=entry.get("type"), message=clip(entry.get("message")),
                    **ts_fields(col.ctx, entry.get("timestamp")), attrs=entry,
                )

    def _session(self, col: Collector, doc: dict) -> None:
        stream = as_text(doc.get("sessionId")) or col.ctx.path.stem
        project = doc.get("projectHash")
        messages = doc.get("messages")
        col.records_read += 1
        header = {k: v for k, v in doc.items() if k != "messages"}
        with col.record(0, header):
            col.event(
                0, "session.start", stream=stream, project=project, event_type_raw="session",
                message=clip(f"gemini session {stream}"),
                **ts_fields(col.ctx, doc.get("startTime")), attrs=header,
            )
        if not isinstance(messages, list):
            col.records_read += 1
            col.bad(None, "session has no 'messages' list", header)
            return
        self.model = None
        for index, msg in keyed_items(col, messages, "type", "message"):
            with col.record(index, msg):
                self._message(col, index, msg, stream, project)

    def _message(self, col: Collector, index: int, msg: dict, stream: str, project: Any) -> None:
        base = {"stream": stream, "project": project, "event_type_raw": msg["type"],
                **ts_fields(col.ctx, msg.get("timestamp"))}
        kind = msg["type"]
        actor = ACTORS.get(kind, "system")
        if kind in SEVERITY:
            col.event(index, "error", **base, actor=actor, severity=SEVERITY[kind],
                      message=clip(_content_text(msg.get("content"))), attrs=msg)
        else:
            col.event(index, "chat.turn", **base, actor=actor,
                      message=clip(_content_text(msg.get("content"))), attrs=msg)
        model = self.model
        if msg.get("model") and msg["model"] != model:
            col.event(
                index, "model.change", **base, event_key="model", name=msg["model"],
                message=f"{model} -> {msg['model']}" if model else f"model {msg['model']}",
                attrs={"id": msg.get("id"), "from": model, "to": msg["model"]},
            )
            model = msg["model"]
        self._tool_calls(col, index, msg, base)
        tokens = msg.get("tokens")
        if isinstance(tokens, dict):
            col.event(
                index, "llm.usage", **base, event_key="usage", actor="assistant", name=model,
                correlation_id=msg.get("id"),
                message=", ".join(f"{k}={v}" for k, v in tokens.items()),
                attrs={"id": msg.get("id"), "tokens": tokens},
            )
            for raw_name, name in USAGE_METRICS.items():
                col.metric(index, name, tokens.get(raw_name), ts=base["ts"],
                           ts_quality=base["ts_quality"], stream=stream, project=project,
                           labels={"model": model})
        self.model = model  # only a record that mapped whole changes the model

    def _tool_calls(self, col: Collector, index: int, msg: dict, base: dict) -> None:
        calls = msg.get("toolCalls")
        if not isinstance(calls, list):
            return
        for number, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            when = ts_fields(col.ctx, call.get("timestamp")) if call.get("timestamp") else {}
            common = {**base, **when, "correlation_id": call.get("id"), "name": call.get("name")}
            col.event(
                index, "tool.call", **{**common, "event_type_raw": "toolCall"},
                event_key=f"call{number}", actor="assistant",
                message=clip(call.get("args")),
                attrs={"id": call.get("id"), "name": call.get("name"), "args": call.get("args")},
            )
            status = call.get("status")
            if status is None and call.get("result") is None:
                continue
            outcome = STATUS.get(str(status).lower()) if status else None
            col.event(
                index, "tool.result", **{**common, "event_type_raw": f"toolCall.{status}"},
                event_key=f"result{number}", actor="tool", outcome=outcome,
                severity="warning" if outcome == "error" else "info",
                message=clip(call.get("resultDisplay") or call.get("result")), attrs=call,
            )
