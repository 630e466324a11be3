"""OpenHands event lists (trajectory JSON) and resolver / evaluation output (`output.jsonl`)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, ToolRole, Usage
from ..reading.head import document_start, head_objects
from .checks import CHECKS
from .common import (
    Collector,
    as_dict,
    as_key,
    clip,
    derived_ts,
    has_key,
    iter_json_lines,
    json_document,
    local_ts_fields,
)

ACTION_TYPES = {
    "message": "chat.turn",
    "system": "chat.turn",
    "think": "chat.turn",
    "change_agent_state": "session.state",
    "finish": "session.end",
    "reject": "session.end",
    "recall": "telemetry",
    "condensation": "context.compacted",
    "delegate": "subagent.start",
}
OBSERVATION_TYPES = {
    "agent_state_changed": "session.state",
    "null": "telemetry",
    "recall": "telemetry",
    # AgentThinkObservation ("Your thought has been logged.") answers a think action, no tool ran.
    "think": "telemetry",
    "error": "error",
    "condense": "context.compacted",
    "delegate": "subagent.end",
}
# What OpenHands' own tools print when a call did not do its job (no exit code is written).
_TOOL_FAILED = re.compile(
    r"^\s*(?:ERROR:|\[Your proposed edit has introduced new syntax error|\[No exact match found"
    r"|\[Error:|\[Errno \d+\])")
_MAX_ITERATIONS = re.compile(r"maximum iteration", re.IGNORECASE)
USAGE_METRICS = {
    "prompt_tokens": "input_tokens",
    "completion_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_creation_tokens",
}
# One point per model response (litellm usage). litellm's prompt_tokens include the cache reads
# and writes (Anthropic's too), and completion_tokens the reasoning.
RESPONSE_USAGE = (
    Usage("input_tokens", "input_tokens", key="response_id"),
    Usage("output_tokens", "output_tokens", key="response_id"),
    Usage("cache_read_tokens", "cache_read_tokens", within="input_tokens", key="response_id"),
    Usage("cache_creation_tokens", "cache_creation_tokens", within="input_tokens",
          key="response_id"),
    Usage("reasoning_tokens", "reasoning_tokens", within="output_tokens", key="response_id"),
)


def _tool_outcome(event: dict) -> str:
    extras = event.get("extras") if isinstance(event.get("extras"), dict) else {}
    meta = extras.get("metadata") if isinstance(extras.get("metadata"), dict) else {}
    code = meta.get("exit_code", extras.get("exit_code", event.get("exit_code")))
    if event.get("observation") == "user_rejected":
        return "denied"
    if code is not None:
        try:
            code = int(code)
        except (TypeError, ValueError, OverflowError):
            return "error"
        # -1: the command did not finish within OpenHands' no-change timeout.
        return "ok" if code == 0 else ("timeout" if code == -1 else "error")
    content = event.get("content")
    if event.get("success") is False or (isinstance(content, str) and _TOOL_FAILED.match(content)):
        return "error"
    return "ok"


def _message(event: dict) -> str | None:
    args = event.get("args") if isinstance(event.get("args"), dict) else {}
    # Newer events nest parameters in `args`; resolver history (older) has them at top level.
    for source in (event, args):
        for key in ("message", "content", "command", "code", "thought"):
            if source.get(key):
                return clip(source[key])
    return None


# What each tool does, for the findings detectors (loaders.base.ToolRole). The editor tool's
# action says whether it read or edited; run_ipython edits through the agent skills' functions;
# execute_bash's message is "Running command: <command>".
TOOL_ROLES: tuple[ToolRole, ...] = (
    ToolRole("edit", ("str_replace_editor", "edit"), "attrs ->> 'action' = 'edit'"),
    ToolRole("explore", ("str_replace_editor", "read", "browse"), "attrs ->> 'action' IN ('read', 'browse')"),
    ToolRole("edit", ("run_ipython",), "regexp_matches(message, "
             "'^\\s*(edit_file_by_replace|insert_content_at_line|append_file|create_file)\\(')"),
    ToolRole("explore", ("run_ipython",), "regexp_matches(message, "
             "'^\\s*(open_file|goto_line|scroll_(up|down)|search_(dir|file)|find_file)\\(')"),
    ToolRole("shell", ("execute_bash", "run"),
             command="regexp_replace(coalesce(attrs ->> 'command', message), '^Running command: ', '')"),
)
# The action's command, code or args (the message may be its thought).
TOOL_ARGUMENTS = "coalesce(attrs ->> 'command', attrs ->> 'code', (attrs -> 'args')::VARCHAR, message)"


class _Mapper:
    """Maps OpenHands action / observation dicts to events (shared by both file kinds)."""

    def __init__(self, col: Collector, stream: str) -> None:
        self.col = col
        self.stream = stream
        self.responses: set[Any] = set()
        # action reference -> the tool call's (correlation id, name), or None for a non-tool action
        self.actions: dict[str, tuple[Any, Any] | None] = {}

    def action(self, record_no: int, event: dict, base: dict, key: str | None = None) -> None:
        kind = str(event.get("action"))
        meta = event.get("tool_call_metadata") if isinstance(
            event.get("tool_call_metadata"), dict) else {}
        event_type = ACTION_TYPES.get(kind, "tool.call")
        source = event.get("source")
        args = event.get("args") if isinstance(event.get("args"), dict) else {}
        fields: dict[str, Any] = {
            **base, "event_type_raw": f"action.{kind}", "actor": source or "agent",
            "message": _message(event), "attrs": event,
        }
        ref = self._ref(event.get("id"))
        if event_type == "tool.call":
            fields.update(name=meta.get("function_name") or kind,
                          correlation_id=meta.get("tool_call_id") or ref)
        elif event_type == "session.state":
            fields.update(name=args.get("agent_state"))
        elif event_type == "session.end":
            fields.update(outcome="error" if kind == "reject" else "ok", name=kind)
        elif kind == "think":
            fields.update(name="thinking", correlation_id=meta.get("tool_call_id"))
        if ref is not None:
            self.actions[ref] = (fields["correlation_id"], fields["name"]) if (
                event_type == "tool.call") else None
        self.col.event(record_no, event_type, event_key=key, **fields)
        self._usage(record_no, meta, base, key)

    def observation(self, record_no: int, event: dict, base: dict, link: str | None,
                    key: str | None = None) -> None:
        kind = str(event.get("observation"))
        meta = event.get("tool_call_metadata") if isinstance(
            event.get("tool_call_metadata"), dict) else {}
        event_type = OBSERVATION_TYPES.get(kind, "tool.result")
        known = link in self.actions
        call = self.actions.get(link) if known else (link, None)
        if known and call is None and event_type == "tool.result":
            event_type = "telemetry"  # the answer to a message, think or other non-tool action
        elif event_type == "error" and known and call is not None:
            event_type = "tool.result"  # an ErrorObservation is how a failed tool call ends
        answers, called = call or (None, None)
        extras = event.get("extras") if isinstance(event.get("extras"), dict) else {}
        fields: dict[str, Any] = {
            **base, "event_type_raw": f"observation.{kind}",
            "actor": event.get("source") or "environment",
            "message": _message(event), "attrs": event,
        }
        if event_type == "tool.result":
            outcome = "error" if kind == "error" else _tool_outcome(event)
            fields.update(name=meta.get("function_name") or called or kind, outcome=outcome,
                          correlation_id=meta.get("tool_call_id") or answers,
                          severity="info" if outcome == "ok" else "warning")
        elif event_type == "telemetry":
            fields.update(name=kind, correlation_id=meta.get("tool_call_id") or link)
        elif event_type == "session.state":
            fields.update(name=extras.get("agent_state"))
        elif event_type == "error":
            fields.update(severity="error", outcome="error", correlation_id=link)
        self.col.event(record_no, event_type, event_key=key, **fields)

    def _usage(self, record_no: int, meta: dict, base: dict, key: str | None) -> None:
        response = meta.get("model_response") if isinstance(meta.get("model_response"),
                                                            dict) else {}
        usage = response.get("usage")
        response_id = response.get("id")
        # One model response can issue several tool calls; its usage counts once.
        if not isinstance(usage, dict) or as_key(response_id) in self.responses:
            return
        self.responses.add(as_key(response_id))
        model = response.get("model")
        numbers = {name: usage.get(raw) for raw, name in USAGE_METRICS.items()
                   if isinstance(usage.get(raw), int | float)}
        # OpenAI-style usage says the same in its details (cached input, reasoning output).
        cached = as_dict(usage.get("prompt_tokens_details")).get("cached_tokens")
        if "cache_read_tokens" not in numbers and isinstance(cached, int | float):
            numbers["cache_read_tokens"] = cached
        reasoning = as_dict(usage.get("completion_tokens_details")).get("reasoning_tokens")
        if isinstance(reasoning, int | float):
            numbers["reasoning_tokens"] = reasoning
        self.col.event(
            record_no, "llm.usage", **base, event_key=f"{key or ''}usage", actor="agent",
            event_type_raw="model_response.usage",
            name=model, correlation_id=response_id,
            message=", ".join(f"{k}={v}" for k, v in numbers.items()),
            attrs={"response_id": response_id, "model": model, "usage": usage},
        )
        for name, value in numbers.items():
            self.col.metric(record_no, name, value, ts=base.get("ts"),
                            ts_quality=base.get("ts_quality"), stream=self.stream,
                            labels={"model": model, "response_id": response_id})

    def _ref(self, event_id: Any) -> str | None:
        return None if event_id is None else f"{self.stream}:event-{event_id}"


class OpenHandsEventsLoader:
    name: ClassVar[str] = "openhands.events_json"
    system: ClassVar[str] = "openhands"
    source: ClassVar[str] = "events_json"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    sequence: ClassVar[str] = "sparse"  # event ids are monotonic but skip numbers
    version: ClassVar[str] = "1"
    usage: ClassVar[tuple[Usage, ...]] = RESPONSE_USAGE
    description: ClassVar[str] = "OpenHands event list (trajectory JSON: actions and observations)"

    def detect(self, path: Path, head: bytes) -> bool:
        if path.suffix != ".json" or document_start(head) != b"[":
            return False
        return has_key(head, "id", "timestamp", "source") and (
            has_key(head, "action") or has_key(head, "observation"))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        doc = json_document(col)
        if not doc.ok:
            return col.result()
        if not isinstance(doc.value, list):
            col.records_read += 1
            col.bad(None, "not a JSON list of events", doc.text)
            return col.result()
        mapper = _Mapper(col, ctx.path.stem)
        for index, event in enumerate(doc.value, start=1):
            col.records_read += 1
            if not isinstance(event, dict) or not ("action" in event or "observation" in event):
                col.bad(index, "event has neither 'action' nor 'observation'", event)
                continue
            with col.record(index, event):
                self._event(col, mapper, index, event)
        return col.result()

    @staticmethod
    def _event(col: Collector, mapper: _Mapper, index: int, event: dict) -> None:
        seq = str(event.get("id"))
        # Event ids are monotonic but not contiguous (0, 3, 4, ...): kept as seq, not position.
        base = {"stream": mapper.stream,
                "seq": int(seq) if seq.isascii() and seq.isdigit() else None,
                **local_ts_fields(col, event.get("timestamp"))}
        if "action" in event:
            _offset_hint(col, event)
            mapper.action(index, event, base)
        else:
            mapper.observation(index, event, base, mapper._ref(event.get("cause")))


def _offset_hint(col: Collector, event: dict) -> None:
    """Record (as a fact only) the zone offset implied by a model response's UTC epoch."""
    if "utc_offset_hint" in col.facts:
        return
    response = as_dict(as_dict(event.get("tool_call_metadata")).get("model_response"))
    created = response.get("created")
    naive, _ = col.ctx.parse_ts(event.get("timestamp"))  # wall clock read as if UTC
    if not isinstance(created, int | float) or not math.isfinite(created) or naive is None:
        return
    quarters = round((naive.timestamp() - created) / 900)
    sign = "-" if quarters < 0 else "+"
    hours, minutes = divmod(abs(quarters) * 15, 60)
    col.facts["utc_offset_hint"] = (
        f"{sign}{hours:02d}:{minutes:02d} (event time vs model_response.created; not applied)"
    )


def _is_output(record: dict) -> bool:
    # Resolver output has `instruction` and `git_patch`; evaluation output `instance_id`, `instance`.
    return isinstance(record.get("history"), list) and (
        "instruction" in record or "instance" in record) and (
        "git_patch" in record or "instance_id" in record)


class OpenHandsOutputLoader:
    name: ClassVar[str] = "openhands.output_jsonl"
    system: ClassVar[str] = "openhands"
    source: ClassVar[str] = "output_jsonl"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_roles: ClassVar[tuple[ToolRole, ...]] = TOOL_ROLES  # findings: loaders.base.ToolRole
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "OpenHands resolver / evaluation output.jsonl (history per instance)"
    # metrics.costs holds each call's cost (their sum is accumulated_cost, kept in the event).
    usage: ClassVar[tuple[Usage, ...]] = (*RESPONSE_USAGE, Usage("cost", "cost_usd"))

    def detect(self, path: Path, head: bytes) -> bool:
        if path.suffix != ".jsonl":
            return False
        if any(_is_output(record) for record in head_objects(head, 5)):
            return True
        # Resolver records are often longer than the head: then its words decide.
        return has_key(head, "history") and (
            has_key(head, "instruction") or has_key(head, "instance")) and (
            has_key(head, "git_patch") or has_key(head, "instance_id"))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        self.timed = 0
        for number, rec, raw in iter_json_lines(col):
            history = rec.get("history")
            if not isinstance(history, list):
                col.bad(number, "record has no 'history' list", raw)
                continue
            with col.record(number, raw):
                self._instance(col, number, rec, history)
        col.facts["timestamps"] = (
            "history items' own (naive local) times; run start / end derived from the first / "
            "last item" if self.timed else "none in the history items (order kept in position)")
        return col.result()

    def _instance(self, col: Collector, number: int, rec: dict, history: list) -> None:
        issue = as_dict(rec.get("issue"))
        instance = as_dict(rec.get("instance"))
        stream = str(rec.get("instance_id") or (
            f"{issue.get('owner')}/{issue.get('repo')}#{issue.get('number')}" if issue
            else f"{col.ctx.path.stem}:{number}"))
        project = issue.get("repo") or instance.get("repo")
        stamps = [local_ts_fields(col, item.get("timestamp")) if isinstance(item, dict)
                  else derived_ts({}, "") for item in history]
        timed = [when for when in stamps if when["ts"] is not None]
        self.timed += len(timed)
        base = {"stream": stream, "project": project}
        first = derived_ts(timed[0], "first history item") if timed else derived_ts({}, "")
        last = derived_ts(timed[-1], "last history item") if timed else derived_ts({}, "")
        slim = {k: v for k, v in rec.items() if k != "history"}
        col.event(number, "run.start", **base, **first, event_key="start", position=0,
                  name=issue.get("title") or stream, message=clip(rec.get("instruction")),
                  attrs=slim)
        self._history(col, number, stream, history, stamps, base)
        self._outcome(col, number, rec, {**base, **last}, stream, len(history) + 1)

    @staticmethod
    def _history(col: Collector, number: int, stream: str, history: list,
                 stamps: list[dict[str, Any]], base: dict[str, Any]) -> None:
        mapper = _Mapper(col, stream)
        pending: str | None = None
        for index, item in enumerate(history, start=1):
            key = f"h{index}"
            here = {**base, **stamps[index - 1], "position": index}
            if not isinstance(item, dict):
                col.event(number, "unknown", **here, event_key=key, attrs={"item": item})
            elif "action" in item:
                pending = mapper._ref(item.get("id", f"h{index}"))
                # Old resolver history has no `source`: its opening message is the instruction.
                opening = index == 1 and item.get("action") == "message"
                source = item.get("source") or ("user" if opening else None)
                if "timestamp" in item:
                    _offset_hint(col, item)
                mapper.action(number, {**item, "id": item.get("id", f"h{index}"), "source": source},
                              here, key)
            elif "observation" in item:
                cause = item.get("cause")
                link = mapper._ref(cause) if cause is not None else pending
                mapper.observation(number, item, here, link, key)
                pending = None
            else:
                col.event(number, "unknown", **here, event_key=key, attrs=item)

    @staticmethod
    def _outcome(col: Collector, number: int, rec: dict, base: dict[str, Any], stream: str,
                 end: int) -> None:
        metrics = as_dict(rec.get("metrics"))
        costs = metrics.get("costs") if isinstance(metrics.get("costs"), list) else []
        for call, cost in enumerate(costs, start=1):
            model = as_dict(cost).get("model")
            cost = as_dict(cost).get("cost", cost)  # newer outputs: {"model", "cost", ...}
            col.metric(number, "cost", cost, unit="usd", ts=None, ts_quality="missing",
                       stream=stream, labels={"call": call, "model": model} if model else
                       {"call": call})
        if metrics:
            col.event(number, "llm.cost", **base, event_key="cost", position=end,
                      message=f"accumulated_cost={metrics.get('accumulated_cost')} over "
                              f"{len(costs)} call(s)", attrs=metrics)
        error = rec.get("error")
        limit = isinstance(error, str) and _MAX_ITERATIONS.search(error) is not None
        code = "max_iterations" if limit else None
        if error:
            col.event(number, "limit.turns_exceeded" if limit else "error", **base,
                      event_key="error", position=end, severity="error", outcome="error",
                      error_code=code, message=clip(error), attrs={"error": error})
        success = rec.get("success")
        # An evaluation output has no `success`: a recorded error is how the run ended.
        outcome = "error" if success is False or (success is None and error) else (
            "ok" if success else None)
        col.event(number, "run.end", **base, event_key="end", position=end, outcome=outcome,
                  severity="error" if outcome == "error" else "info", error_code=code,
                  message=clip(error if outcome == "error" and error else
                               rec.get("result_explanation")),
                  attrs={"success": success, "comment_success": rec.get("comment_success"),
                         "error": error})
