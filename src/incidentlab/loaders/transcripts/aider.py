"""aider `.aider.chat.history.md`: sessions, user / assistant turns, edits, errors, token lines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Usage
from ..reading import decode
from .common import Collector, clip, derived_ts, head_lines, local_ts_fields

_HEADER = re.compile(r"^# aider chat started at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$")
_TOKENS = re.compile(
    r"^Tokens: (?P<sent>[\d.]+k?) sent(?:, (?P<write>[\d.]+k?) cache write)?"
    r"(?:, (?P<hit>[\d.]+k?) cache hit)?, (?P<received>[\d.]+k?) received\."
    r"(?: Cost: \$(?P<cost>[\d.]+) message, \$(?P<session>[\d.]+) session\.)?"
)
_APPLIED = re.compile(r"^Applied edit to (.+)$")
_COMMIT = re.compile(r"^Commit ([0-9a-f]{7,40}) (.*)$")
_MODEL = re.compile(r"^(?:Main model|Model): (\S+)")
_VERSION = re.compile(r"^Aider v(\S+)")
_AIDER_LINE = re.compile(r"^> (?:Aider v\S|Main model: |Model: |Tokens: [\d.]+k? sent)")
_LITELLM = re.compile(r"^litellm\.(\w+):")
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))\b:?")
_EDIT_FAILED = re.compile(r"Failed to apply edit|did not conform to the edit format")
_EDIT_MISMATCH = re.compile(r"SEARCH/REPLACE blocks? failed to match")
TOKEN_FIELDS = (("sent", "input_tokens"), ("received", "output_tokens"),
                ("write", "cache_creation_tokens"), ("hit", "cache_read_tokens"))


def _count(text: str | None) -> float | None:
    if text is None:
        return None
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)


class AiderHistoryLoader:
    name: ClassVar[str] = "aider.chat_history_md"
    system: ClassVar[str] = "aider"
    source: ClassVar[str] = "chat_history_md"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "aider .aider.chat.history.md (markdown chat log)"
    # Tokens are per message (aider prints them rounded: 9.7k); "sent" is the prompt as the
    # provider counts it, cache writes and hits included. The message cost is rounded to cents
    # each time, so the cost counted is the session's running "$Y session" figure (cumulative).
    usage: ClassVar[tuple[Usage, ...]] = (
        Usage("input_tokens", "input_tokens", note="tokens rounded by aider (k)"),
        Usage("output_tokens", "output_tokens", note="tokens rounded by aider (k)"),
        Usage("cache_creation_tokens", "cache_creation_tokens", within="input_tokens",
              note="tokens rounded by aider (k)"),
        Usage("cache_read_tokens", "cache_read_tokens", within="input_tokens",
              note="tokens rounded by aider (k)"),
        Usage("session_cost", "cost_usd", counting="cumulative"),
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if not path.name.endswith(".aider.chat.history.md"):
            return False
        # A damaged (or cut) session header: aider's own status lines still say what it is.
        return b"# aider chat started at" in head or any(
            _AIDER_LINE.match(line) for line in head_lines(head, 20))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        self.col = col
        self.session: dict[str, Any] = {"stream": "aider (before first session)", "model": None,
                                        "when": derived_ts({}, "")}
        self.block: dict[str, Any] | None = None
        self.streams: dict[str, int] = {}
        in_fence = False
        with ctx.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                text = decode(raw).rstrip("\r\n")
                stripped = text.rstrip()
                if self.block and self.block["kind"] == "assistant" and in_fence:
                    self.block["lines"].append(text)
                    in_fence = not stripped.lstrip().startswith("```")
                    continue
                header = _HEADER.match(stripped)
                if header:
                    self._flush()
                    self._start_session(number, header.group(1))
                elif stripped.startswith("####"):
                    if not (self.block and self.block["kind"] == "user"):
                        self._flush()
                        self.block = {"kind": "user", "start": number, "lines": []}
                    self.block["lines"].append(stripped[4:].strip())
                elif stripped.startswith(">"):
                    self._status_line(number, stripped[1:].strip())
                elif not stripped:
                    if self.block and self.block["kind"] == "user":
                        self._flush()
                    elif self.block and self.block["kind"] == "assistant":
                        self.block["lines"].append("")
                else:
                    if not (self.block and self.block["kind"] == "assistant"):
                        self._flush()
                        self.block = {"kind": "assistant", "start": number, "lines": []}
                    self.block["lines"].append(text)
                    if stripped.lstrip().startswith("```"):
                        in_fence = True
        self._flush()
        col.facts["sessions"] = col.facts.get("sessions", 0)
        col.facts["turn_times"] = (
            "none in source: every event carries its session header's time (ts_quality derived, "
            "order in position)")
        return col.result()

    def _base(self) -> dict[str, Any]:
        # Only session headers carry a time: the session's events share it, in file order.
        return {"stream": self.session["stream"], "project": str(self.col.ctx.path.resolve().parent),
                **self.session["when"]}

    def _start_session(self, number: int, raw: str) -> None:
        col = self.col
        col.records_read += 1
        col.facts["sessions"] = col.facts.get("sessions", 0) + 1
        stream = f"aider {raw}"
        self.streams[stream] = self.streams.get(stream, 0) + 1
        if self.streams[stream] > 1:
            stream = f"{stream} #{self.streams[stream]}"
        header = local_ts_fields(col, raw)
        self.session = {"stream": stream, "model": None,
                        "when": derived_ts(header, "session header")}
        col.event(number, "session.start", **{**self._base(), **header},
                  event_type_raw="chat started", message=f"aider chat started at {raw}",
                  attrs={"header": raw, "line": number})

    def _flush(self) -> None:
        block, self.block = self.block, None
        if not block:
            return
        if block["kind"] == "status":
            self._emit_status(block)
            return
        lines = block["lines"]
        while lines and not lines[-1].strip():
            lines.pop()
        text = "\n".join(lines)
        self.col.records_read += 1
        actor = block["kind"]
        name = text.split()[0] if actor == "user" and text.startswith("/") else None
        with self.col.record(block["start"], text):
            self.col.event(block["start"], "chat.turn", **self._base(), actor=actor, name=name,
                           event_type_raw="####" if actor == "user" else "text",
                           message=clip(text), attrs={"text": text, "lines": len(lines)})

    def _status_line(self, number: int, content: str) -> None:
        block = self.block
        if block and block["kind"] == "status" and block.get("traceback"):
            if content:
                block["lines"].append(content)
            if _EXCEPTION.match(content):
                self._flush()
            return
        if block and block["kind"] != "status":
            self._flush()
        if not content:  # aider's empty "> " spacer lines carry nothing
            return
        self.block = {"kind": "status", "start": number, "lines": [content],
                      "traceback": content.startswith("Traceback (most recent call last)")}
        if not self.block["traceback"]:
            self._flush()

    def _emit_status(self, block: dict[str, Any]) -> None:
        self.col.records_read += 1
        with self.col.record(block["start"], "\n".join(block["lines"])):
            self._status(block)

    def _status(self, block: dict[str, Any]) -> None:
        col = self.col
        number = block["start"]
        first = block["lines"][0]
        text = "\n".join(block["lines"])
        base = {**self._base(), "actor": "aider", "event_type_raw": ">",
                "attrs": {"text": text}}
        if block.get("traceback"):
            last = block["lines"][-1]
            match = _EXCEPTION.match(last)
            col.event(number, "error", **base, severity="error", outcome="error",
                      error_code=match.group(1) if match else None,
                      error_category="traceback", message=clip(last))
            return
        tokens = _TOKENS.match(first)
        if tokens:
            col.event(number, "llm.usage", **base, name=self.session["model"],
                      message=clip(first))
            labels = {"model": self.session["model"], "rounded_by_aider": True}
            for group, name in TOKEN_FIELDS:
                col.metric(number, name, _count(tokens.group(group)), ts=base["ts"],
                           ts_quality=base["ts_quality"], stream=base["stream"], labels=labels)
            col.metric(number, "cost", _count(tokens.group("cost")), unit="usd", ts=base["ts"],
                       ts_quality=base["ts_quality"], stream=base["stream"], labels=labels)
            col.metric(number, "session_cost", _count(tokens.group("session")), unit="usd",
                       ts=base["ts"], ts_quality=base["ts_quality"], stream=base["stream"],
                       labels=labels)
            return
        litellm = _LITELLM.match(first)
        exception = _EXCEPTION.match(first)
        if litellm:
            kind = litellm.group(1)
            event_type = "llm.rate_limited" if kind == "RateLimitError" else "llm.error"
            col.event(number, event_type, **base, severity="error", outcome="error",
                      error_code=kind, error_category="litellm", message=clip(first))
        elif exception and not first.startswith("^C"):
            col.event(number, "error", **base, severity="error", outcome="error",
                      error_code=exception.group(1), message=clip(first))
        elif (applied := _APPLIED.match(first)) is not None:
            col.event(number, "patch.applied", **base, name=applied.group(1), outcome="ok",
                      message=clip(first))
        elif _EDIT_FAILED.search(first):
            col.event(number, "patch.applied", **base, outcome="error",
                      error_code="patch_conflict", severity="warning", message=clip(first))
        elif _EDIT_MISMATCH.search(first):
            col.event(number, "log", **base, name="edit_mismatch", severity="warning",
                      message=clip(first))
        elif (commit := _COMMIT.match(first)) is not None:
            col.event(number, "log", **base, name="commit", correlation_id=commit.group(1),
                      message=clip(first))
        elif (model := _MODEL.match(first)) is not None:
            previous = self.session["model"]
            self.session["model"] = model.group(1)
            event_type = "model.change" if model.group(1) != previous else "log"
            col.event(number, event_type, **base, name=model.group(1), message=clip(first))
        elif first.startswith("Error") or first.startswith("Warning"):
            col.event(number, "error" if first.startswith("Error") else "log", **base,
                      severity="warning", message=clip(first))
        elif "KeyboardInterrupt" in first:
            col.event(number, "log", **base, name="interrupt", severity="warning",
                      message=clip(first))
        else:
            version = _VERSION.match(first)
            col.event(number, "log", **base, name="version" if version else None,
                      message=clip(first))
