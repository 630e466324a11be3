"""coding-loops loop transcripts: `<test_id>/attempt-<n>.log` and `global-transcript.log` (text)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, iter_lines
from .common import file_mtime, loop_name, short

ATTEMPT_NAME = re.compile(r"^attempt-(\d+)\.log$")
GLOBAL_NAME = "global-transcript.log"
MARKERS = (b"[Tool #", b"[Session complete:", b"TEST PASSED:", b"TEST BLOCKED:", b"  [Done]")
# counts are at most 18 digits: a longer run of digits is damage (and int() refuses 4300+)
_TOOL = re.compile(r"^\[Tool #(\d{1,18}): (.+)\]\s*$")
_INPUT = re.compile(r"^\s+Input: ?(.*)$")
_DONE = re.compile(r"^\s+\[Done\](?: Preview: ?(.*))?\s*$")
_ERROR = re.compile(r"^\s+\[Error\] ?(.*)$")
_COMPLETE = re.compile(r"^\[Session complete: (\d{1,18}) turns, (\d{1,18}) tool calls\]\s*$")
_OUTCOME = re.compile(r"TEST (PASSED|BLOCKED|FAILED):\s*(\S*)")
_SESSION_ERROR = re.compile(r"^Error during session: ?(.*)$")
_HEADER = re.compile(r"^=== (.+) ===\s*$")
_RULE = re.compile(r"^(={20,}|-{20,})\s*$")
_OUTCOMES = {
    "PASSED": ("test.pass", "ok", "info", None),
    "BLOCKED": ("test.fail", "error", "error", "blocked"),
    "FAILED": ("test.fail", "error", "error", None),
}


@dataclass
class _State:
    stream: str
    test_id: str | None
    base: dict[str, Any]
    block: int = 0
    text: list[tuple[int, str]] = field(default_factory=list)
    tool: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


class LoopTranscriptLoader:
    name: ClassVar[str] = "coding_loops.transcript"
    system: ClassVar[str] = "coding_loops"
    source: ClassVar[str] = "loop_transcript"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "coding-loops loop transcripts (<test_id>/attempt-<n>.log, global-transcript.log)"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if not (ATTEMPT_NAME.match(path.name) or path.name == GLOBAL_NAME):
            return False
        return "transcripts" in path.parts or any(m in head for m in MARKERS)

    def load(self, ctx: LoadContext) -> LoadResult:
        attempt = ATTEMPT_NAME.match(ctx.path.name)
        if attempt:
            test_id: str | None = ctx.path.parent.name
            stream = f"{test_id}/attempt-{attempt.group(1)}"
        else:
            test_id, stream = None, "global-transcript"
        # No timestamps inside: every event gets the file's mtime, marked derived.
        base = {
            "ts": file_mtime(ctx.path),
            "ts_quality": "derived",
            "stream": stream,
            "project": loop_name(ctx.path),
        }
        state = _State(stream=stream, test_id=test_id, base=base)
        read = 0
        for number, line in iter_lines(ctx.path):
            read += 1
            self._line(state, number, line)
        self._flush(state)
        facts = {
            "attempt": int(attempt.group(1)) if attempt else None,
            "test_id": test_id,
            "blocks": state.block,
            "ts_source": "file mtime",
        }
        return LoadResult(records_read=read, events=state.events, facts=facts)

    def _emit(self, state: _State, number: int, **fields: Any) -> dict[str, Any]:
        attrs = {"line": number, "test_id": state.test_id, **fields.pop("attrs", {})}
        if state.block:
            attrs["block"] = state.block
        event = {**state.base, "record_no": number, "position": number, "attrs": attrs, **fields}
        state.events.append(event)
        return event

    def _flush(self, state: _State) -> None:
        if not state.text:
            return
        first = state.text[0][0]
        text = "\n".join(t for _, t in state.text)
        self._emit(
            state,
            first,
            event_type="chat.turn",
            event_type_raw="assistant_text",
            actor="assistant",
            message=short(text),
            attrs={"text": text, "lines": [first, state.text[-1][0]]},
        )
        state.text = []

    def _line(self, state: _State, number: int, line: str) -> None:
        if (match := _INPUT.match(line)) and state.tool is not None and not state.text:
            state.tool["attrs"]["input"] = match.group(1)
            state.tool["attrs"]["input_line"] = number
            return
        if _RULE.match(line):
            self._flush(state)
            return
        if match := _HEADER.match(line):
            self._flush(state)
            state.block += 1
            state.test_id = match.group(1).strip()
            state.tool = None
            self._emit(
                state,
                number,
                event_type="test.attempt",
                event_type_raw="block_header",
                name=state.test_id,
                message=f"transcript block for {state.test_id}",
            )
            return
        if match := _TOOL.match(line):
            self._flush(state)
            state.tool = self._emit(
                state,
                number,
                event_type="tool.call",
                event_type_raw="tool_call",
                name=match.group(2).strip(),
                correlation_id=self._call_id(state, match.group(1)),
                message=short(line),
                attrs={"tool_no": int(match.group(1))},
            )
            return
        done, error = _DONE.match(line), _ERROR.match(line)
        if done or error:
            self._flush(state)
            tool = state.tool or {}
            self._emit(
                state,
                number,
                event_type="tool.result",
                event_type_raw="error" if error else "done",
                name=tool.get("name"),
                correlation_id=tool.get("correlation_id"),
                outcome="error" if error else "ok",
                severity="error" if error else "info",
                message=short(line.strip()),
                attrs={"text": (error or done).group(1)},
            )
            return
        if match := _COMPLETE.match(line):
            self._flush(state)
            self._emit(
                state,
                number,
                event_type="session.end",
                event_type_raw="session_complete",
                message=line.strip(),
                attrs={"turns": int(match.group(1)), "tool_calls": int(match.group(2))},
            )
            state.tool = None
            return
        if match := _SESSION_ERROR.match(line):
            self._flush(state)
            self._emit(
                state,
                number,
                event_type="error",
                event_type_raw="session_error",
                outcome="error",
                severity="error",
                message=short(line),
                attrs={"text": match.group(1)},
            )
            return
        if match := _OUTCOME.search(line):
            self._flush(state)
            event_type, outcome, severity, code = _OUTCOMES[match.group(1)]
            self._emit(
                state,
                number,
                event_type=event_type,
                event_type_raw=f"TEST {match.group(1)}",
                name=match.group(2).rstrip(".:,") or state.test_id,
                outcome=outcome,
                severity=severity,
                error_code=code,
                message=short(line),
                attrs={"text": line},
            )
            return
        state.text.append((number, line))

    @staticmethod
    def _call_id(state: _State, number: str) -> str:
        block = f"#{state.block}" if state.block else ""
        return f"{state.stream}{block}:tool-{number}"
