"""OpenAI Codex CLI rollouts (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, ToolRole, Usage
from ..reading import parse_json
from ..reading.head import head_objects
from .checks import CHECKS
from .common import (
    Collector,
    as_dict,
    as_key,
    as_list,
    as_text,
    clip,
    first_line,
    iter_json_lines,
    ts_fields,
)

TOOL_CALLS = {"function_call", "custom_tool_call", "local_shell_call", "web_search_call",
              "tool_search_call"}
TOOL_OUTPUTS = {"function_call_output", "custom_tool_call_output", "local_shell_call_output",
                "tool_search_output"}
# event_msg records that repeat what a response_item already says: kept, flagged is_mirror.
MIRRORED = {"user_message": "user", "agent_message": "assistant", "agent_reasoning": "assistant"}
TOOL_ENDS = {"exec_command_end", "patch_apply_end", "web_search_end", "mcp_tool_call_end"}
USAGE_METRICS = {
    "input_tokens": "input_tokens",
    "cached_input_tokens": "cache_read_tokens",
    "output_tokens": "output_tokens",
    "reasoning_output_tokens": "reasoning_output_tokens",
    "total_tokens": "total_tokens",
}
_EXIT = re.compile(r"(?:Process exited with code|Exit code:)\s*(-?\d{1,20})(?!\d)")
# The unified exec output (CLI 0.1xx): "Wall time: 1.0037 seconds"; older / other spellings too.
_WALL = re.compile(r"^Wall time:\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|min|"
                   r"minutes?)\s*$", re.MULTILINE | re.IGNORECASE)
_UNIT_MS = {"ms": 1.0, "millisecond": 1.0, "milliseconds": 1.0, "m": 60000.0, "min": 60000.0,
            "minute": 60000.0, "minutes": 60000.0}
_RUNNING = re.compile(r"^Process running with session ID", re.MULTILINE)
# Refusals Codex itself writes as a call's output (approval, guardian, sandbox, policy).
_DENIED = (
    (re.compile(r"^(?:exec command|patch) rejected by user", re.IGNORECASE), "user_rejected"),
    (re.compile(r"rejected due to unacceptable risk", re.IGNORECASE), "guardian_rejected"),
    (re.compile(r"^(?:sandbox denied|failed in sandbox)|\bSandbox\(Denied", re.IGNORECASE),
     "sandbox_denied"),
    (re.compile(r"\b(?:blocked|denied|rejected|disallowed|forbidden|not allowed)\b[^\n]{0,60}"
                r"\bpolicy\b|\bpolicy\b[^\n]{0,40}\b(?:blocked|denied|rejected|disallows?|"
                r"forbids?)\b", re.IGNORECASE), "policy_blocked"),
)
_TOOL_FAILED = re.compile(r"^\w+ failed: ")
_REDACTED = re.compile(r"^\[REDACTED_[A-Z_]+ (len=\d+ sha=[0-9a-f]+)\]$")


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(
            str(c.get("text") or "") for c in content if isinstance(c, dict) and c.get("text")
        )
    return "" if content is None else str(content)


def _output_outcome(output: Any) -> tuple[str | None, float | None, str | None]:
    """(outcome, duration ms, denial reason) from a tool output; None where it does not say."""
    text = (output if isinstance(output, str) else json.dumps(output, default=str)) or ""
    meta: dict[str, Any] = {}
    if isinstance(output, str) and output.startswith("{"):
        parsed, _ = parse_json(output)
        meta = as_dict(as_dict(parsed).get("metadata"))
    head = text[:2000]
    first = head.split("\n", 1)[0]
    # Only Codex's own one-line verdicts: a command's output may mention a policy.
    denial = next((reason for pattern, reason in _DENIED if pattern.search(first)), None)
    if denial is not None and not first.startswith("Chunk ID") and not _EXIT.search(head):
        return "denied", None, denial
    code = meta.get("exit_code")
    if code is None:
        match = _EXIT.search(text)
        code = int(match.group(1)) if match else None
    seconds = meta.get("duration_seconds")
    seconds = _number(seconds) if isinstance(seconds, int | float) else None
    duration = seconds * 1000 if seconds is not None else _wall_ms(head)
    if code is None:
        failed = _TOOL_FAILED.match(head) is not None
        # A still-running process: its chunk's wall time is not the command's duration.
        return ("error" if failed else None), (None if _RUNNING.search(head) else duration), None
    return ("ok" if code == 0 else "error"), duration, None


def _wall_ms(text: str) -> float | None:
    match = _WALL.search(text)
    if match is None:
        return None
    value = _number(match.group(1))
    unit = match.group(2).lower()
    return None if value is None else value * _UNIT_MS.get(unit, 1000.0)


def _mirror_key(text: Any) -> str | None:
    """What an event_msg and its response_item share: the text, or the author's redaction tag."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    redacted = _REDACTED.match(text)
    return f"redacted {redacted.group(1)}" if redacted else text


def _is_envelope(record: dict[str, Any]) -> bool:
    return isinstance(record.get("type"), str) and isinstance(record.get("payload"), dict) and (
        "timestamp" in record)


# What each tool does, for the findings detectors (loaders.base.ToolRole); write_stdin feeds
# or polls a running process (no role).
TOOL_ROLES: tuple[ToolRole, ...] = (
    ToolRole("edit", ("apply_patch",)),
    ToolRole("explore", ("web_search", "view_image", "list_mcp_resources",
                         "list_mcp_resource_templates", "read_mcp_resource")),
    ToolRole("shell", ("exec_command", "shell", "local_shell", "container.exec")),
)
# The arguments string the model wrote (the message holds its first 300 characters).
TOOL_ARGUMENTS = "coalesce(attrs -> 'payload' ->> 'arguments', attrs -> 'payload' ->> 'input')"


class CodexRolloutLoader:
    name: ClassVar[str] = "codex_cli.rollout_jsonl"
    system: ClassVar[str] = "codex_cli"
    source: ClassVar[str] = "rollout_jsonl"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "OpenAI Codex CLI rollout JSONL (~/.codex/sessions/**/rollout-*.jsonl)"
    # Metrics come from each token_count's last_token_usage (one turn's own counts; repeated
    # snapshots skipped), never its cumulative total_token_usage. OpenAI counts cached input
    # inside input_tokens and reasoning inside output_tokens; total_tokens is their sum.
    usage: ClassVar[tuple[Usage, ...]] = (
        Usage("input_tokens", "input_tokens"),
        Usage("cache_read_tokens", "cache_read_tokens", within="input_tokens"),
        Usage("output_tokens", "output_tokens"),
        Usage("reasoning_output_tokens", "reasoning_tokens", within="output_tokens"),
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if not (path.name.startswith("rollout-") and path.suffix == ".jsonl"):
            return False
        records = head_objects(head, 3)
        if records and records[0].get("type") == "session_meta":
            return True
        # A damaged first line: the records after it must still be rollout envelopes.
        if len(records) > 1 and all(_is_envelope(r) for r in records):
            return True
        # A first line longer than the head: judge the envelope written before "payload".
        envelope = first_line(head).split('"payload"', 1)[0]
        return re.search(r'"type"\s*:\s*"session_meta"', envelope) is not None

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        self.open_results: dict[str, dict[str, Any]] = {}
        self.mirrors: list[tuple[dict[str, Any], str, str | None]] = []
        self.originals: dict[str, list[str]] = {"user": [], "assistant": [], "reasoning": []}
        state: dict[str, Any] = {"stream": ctx.path.stem, "project": None, "model": None,
                                 "last_total": None, "calls": {}}
        for number, rec, raw in iter_json_lines(col):
            kind = rec.get("type")
            payload = rec.get("payload")
            if not isinstance(kind, str) or not isinstance(payload, dict):
                col.bad(number, "record lacks a string 'type' and an object 'payload'", raw)
                continue
            with col.record(number, raw):
                self._record(col, number, rec, kind, payload, state)
        self._resolve_mirrors()
        return col.result()

    def _resolve_mirrors(self) -> None:
        """An event_msg copy is a mirror only when the response_item it repeats is in the file."""
        left = {role: list(keys) for role, keys in self.originals.items()}
        for row, kind, key in self.mirrors:
            if kind == "agent_reasoning":
                # One reasoning item's summary is streamed as several agent_reasoning events.
                found = key is not None and any(key in text for text in left["reasoning"])
            else:
                pool = left[MIRRORED[kind]]
                found = key in pool
                if found:
                    pool.remove(key)
            row["is_mirror"] = found

    def _record(self, col: Collector, number: int, rec: dict, kind: str, payload: dict,
                state: dict[str, Any]) -> None:
        base = {
            "stream": state["stream"],
            "project": state["project"],
            "event_type_raw": kind if kind != "event_msg" and kind != "response_item"
            else f"{kind}.{payload.get('type')}",
            **ts_fields(col.ctx, rec.get("timestamp")),
        }
        if kind == "session_meta":
            state["stream"] = as_text(payload.get("id")) or state["stream"]
            state["project"] = payload.get("cwd")
            base.update(stream=state["stream"], project=state["project"])
            col.facts.setdefault("cli_version", payload.get("cli_version"))
            col.event(
                number, "session.start", **base, name=payload.get("originator"),
                message=clip(f"codex {payload.get('cli_version')} in {payload.get('cwd')}"),
                attrs=rec,
            )
        elif kind == "turn_context":
            self._turn_context(col, number, rec, payload, base, state)
        elif kind == "response_item":
            self._response_item(col, number, rec, payload, base, state["calls"])
        elif kind == "event_msg":
            self._event_msg(col, number, rec, payload, base, state)
        elif kind == "compacted":
            col.event(
                number, "context.compacted", **base, name="compacted",
                message=clip(payload.get("message")), attrs=rec,
            )
        else:
            col.event(number, "unknown", **base, name=kind, attrs=rec)

    def _turn_context(self, col: Collector, number: int, rec: dict, payload: dict, base: dict,
                      state: dict) -> None:
        model = payload.get("model")
        if model and model != state["model"]:
            previous, state["model"] = state["model"], model
            col.event(
                number, "model.change", **base, name=model, correlation_id=payload.get("turn_id"),
                message=f"{previous} -> {model}" if previous else f"model {model}", attrs=rec,
            )
        else:
            col.event(
                number, "telemetry", **base, name="turn_context",
                correlation_id=payload.get("turn_id"), message=clip(model), attrs=rec,
            )

    def _response_item(self, col: Collector, number: int, rec: dict, payload: dict,
                       base: dict, calls: dict[Any, Any]) -> None:
        kind = as_key(payload.get("type"))
        if kind == "message":
            text = _content_text(payload.get("content"))
            role = payload.get("role")
            for part in _parts(payload.get("content")) if role in ("user", "assistant") else ():
                self.originals[role].append(part)
            col.event(
                number, "chat.turn", **base, actor=role, message=clip(text), attrs=rec,
            )
        elif kind == "reasoning":
            summary = _content_text(payload.get("summary")) or (
                "[encrypted reasoning]" if payload.get("encrypted_content") else None)
            self.originals["reasoning"].extend(_parts(payload.get("summary")))
            col.event(
                number, "chat.turn", **base, actor="assistant", name="reasoning",
                message=clip(summary), attrs=rec,
            )
        elif kind in TOOL_CALLS:
            name = payload.get("name") or kind.removesuffix("_call")
            detail = payload.get("arguments") or payload.get("input") or payload.get("action")
            link = payload.get("call_id") or payload.get("id")
            if payload.get("call_id"):
                calls[as_key(payload["call_id"])] = name
            col.event(
                number, "tool.call", **base, actor="assistant", name=name,
                correlation_id=link or f"{base['stream']}:line-{number}",
                outcome=None, message=clip(detail), attrs=rec,
            )
            if not link and payload.get("status"):
                # Server-side calls (web search) carry their own status and get no output record.
                status = str(payload["status"])
                col.event(
                    number, "tool.result", **base, event_key="status", actor="tool", name=name,
                    correlation_id=f"{base['stream']}:line-{number}",
                    outcome="ok" if status == "completed" else "error",
                    message=f"status {status}", attrs={"status": status},
                )
        elif kind in TOOL_OUTPUTS:
            outcome, duration, denial = _output_outcome(payload.get("output"))
            row = col.event(
                number, "tool.result", **base, actor="tool", correlation_id=payload.get("call_id"),
                name=calls.get(as_key(payload.get("call_id"))),
                outcome=outcome, duration_ms=duration, message=clip(payload.get("output")),
                severity="info" if outcome in (None, "ok") else "warning",
                error_code=denial, error_category="policy" if denial else None, attrs=rec,
            )
            if outcome is None and payload.get("call_id"):
                self.open_results[as_key(payload["call_id"])] = row
        else:
            col.event(number, "telemetry", **base, name=kind, attrs=rec)

    def _event_msg(self, col: Collector, number: int, rec: dict, payload: dict, base: dict,
                   state: dict) -> None:
        kind = as_key(payload.get("type"))
        if kind == "token_count":
            self._token_count(col, number, rec, payload, base, state)
        elif kind in MIRRORED:
            text = payload.get("message") or payload.get("text")
            row = col.event(
                number, "chat.turn", **base, actor=MIRRORED[kind],
                name="reasoning" if kind == "agent_reasoning" else None,
                message=clip(text), attrs=rec,
            )
            self.mirrors.append((row, kind, _mirror_key(text)))
        elif kind == "task_started":
            col.event(number, "run.start", **base, name="turn",
                      correlation_id=payload.get("turn_id"), attrs=rec)
        elif kind in ("task_complete", "turn_aborted"):
            aborted = kind == "turn_aborted"
            col.event(
                number, "run.end", **base, name="turn", correlation_id=payload.get("turn_id"),
                outcome="error" if aborted else "ok", duration_ms=payload.get("duration_ms"),
                error_code=payload.get("reason") if aborted else None,
                message=clip(payload.get("last_agent_message") or payload.get("reason")),
                attrs=rec,
            )
        elif kind in TOOL_ENDS:
            outcome = _end_outcome(payload)
            duration = _duration_ms(payload.get("duration"))
            primary = self.open_results.pop(as_key(payload.get("call_id")), None)
            if primary is not None and outcome is not None:
                # The output record said only "still running"; the end event has the exit code
                # and the command's whole duration.
                primary["outcome"] = outcome
                primary["severity"] = "info" if outcome == "ok" else "warning"
                if outcome == "denied":
                    primary.update(error_code="declined", error_category="policy")
                if primary.get("duration_ms") is None:
                    primary["duration_ms"] = duration
                primary["attrs"] = {**primary["attrs"], "_outcome_from": f"line {number} ({kind})"}
            col.event(
                number, "tool.result", **base, actor="tool", is_mirror=True, name=kind,
                correlation_id=payload.get("call_id"),
                outcome=outcome,
                duration_ms=duration,
                message=clip(payload.get("stderr") or payload.get("aggregated_output")
                             or payload.get("stdout") or payload.get("query")),
                attrs=rec,
            )
        elif kind == "context_compacted":
            col.event(number, "context.compacted", **base, is_mirror=True, attrs=rec)
        elif kind in ("error", "stream_error"):
            message = payload.get("message")
            denial = next((reason for pattern, reason in _DENIED
                           if isinstance(message, str) and pattern.search(message)), None)
            if denial:
                col.event(number, "policy.denied", **base, severity="warning", outcome="denied",
                          error_code=denial, error_category="policy", message=clip(message),
                          attrs=rec)
                return
            col.event(
                number, "llm.error" if kind == "stream_error" else "error", **base,
                severity="error", outcome="error", message=clip(message),
                error_code=payload.get("codex_error_info") and str(payload["codex_error_info"]),
                attrs=rec,
            )
        else:
            col.event(number, "telemetry", **base, name=kind, attrs=rec)

    def _token_count(self, col: Collector, number: int, rec: dict, payload: dict, base: dict,
                     state: dict) -> None:
        info = payload.get("info")
        if not isinstance(info, dict):
            col.event(number, "telemetry", **base, name="rate_limits", attrs=rec)
            return
        total = info.get("total_token_usage")
        last = as_dict(info.get("last_token_usage"))
        # The CLI re-emits the same cumulative snapshot (e.g. after rate-limit updates): a repeat
        # is kept as an event but adds nothing to the metrics.
        repeat = total is not None and total == state["last_total"]
        state["last_total"] = total
        col.event(
            number, "llm.usage", **base, name=state["model"],
            message=("repeat of previous total; " if repeat else "")
            + ", ".join(f"{k}={v}" for k, v in last.items()),
            attrs={**rec, "repeat": repeat},
        )
        if repeat:
            return
        for raw_name, name in USAGE_METRICS.items():
            col.metric(
                number, name, last.get(raw_name), ts=base["ts"], ts_quality=base["ts_quality"],
                stream=base["stream"], project=base["project"], labels={"model": state["model"]},
            )


def _parts(content: Any) -> list[str]:
    """The mirror keys of a message's content parts (each may be mirrored on its own)."""
    texts = [str(c.get("text")) for c in as_list(content) if isinstance(c, dict) and c.get("text")]
    whole = "\n".join(texts)
    keys = [_mirror_key(t) for t in [*texts, whole] if t]
    return [k for k in dict.fromkeys(keys) if k is not None]


def _end_outcome(payload: dict[str, Any]) -> str | None:
    """An exec / patch end event's outcome: declined (by user or policy), failed or ok."""
    if str(payload.get("status") or "").lower() in ("declined", "denied", "rejected"):
        return "denied"
    code, success = payload.get("exit_code"), payload.get("success")
    if code is None and success is None:
        return None
    return "error" if (code not in (None, 0)) or success is False else "ok"


def _duration_ms(value: Any) -> float | None:
    if isinstance(value, dict) and "secs" in value:
        secs, nanos = _number(value.get("secs", 0)), _number(value.get("nanos", 0))
        return None if secs is None or nanos is None else secs * 1000 + nanos / 1e6
    if isinstance(value, int | float):
        return _number(value)
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None
