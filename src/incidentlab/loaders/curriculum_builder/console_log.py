"""Captured console of `scripts/orchestration.py`: typed errors, error signatures, exit codes."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine
from ..reading import decode, escaped, iter_raw_lines
from ..reading.text import BOM
from ..records import isolated
from .common import RUN_ID, SYSTEM, mtime_of

CODES = {
    "invalid_argument": 2,
    "not_found": 3,
    "validation_failed": 4,
    "stage_conflict": 5,
    "io_error": 6,
    "config_error": 7,
    "internal_error": 10,
}
EXIT_CODES = {number: code for code, number in CODES.items()}
TYPED = re.compile(r"\[(?P<code>" + "|".join(CODES) + r")\]\s*(?P<message>.*)$")
# The runbook's error signatures -> (error_category, the code the tool raises them with, if known).
SIGNATURES: tuple[tuple[re.Pattern[str], str, str | None], ...] = (
    (re.compile(r"topic spec not ready", re.I), "stage_conflict", "stage_conflict"),
    (
        re.compile(r"codex_exec mode failed to return valid structured JSON", re.I),
        "codex_structured_json",
        None,
    ),
    (re.compile(r"OPENAI_API_KEY is required", re.I), "openai_api_key_missing", None),
    (
        re.compile(r"OPENAI_BASE_URL is invalid|invalid OPENAI_BASE_URL", re.I),
        "openai_base_url_invalid",
        None,
    ),
    (re.compile(r"invalid run metadata", re.I), "invalid_run_metadata", "invalid_argument"),
    (re.compile(r"topic spec missing or incomplete", re.I), "topic_spec_incomplete", None),
    (re.compile(r"Verdict:\s*\**FAIL", re.I), "validation_failed", None),
)
CHECK = re.compile(r"^\s*(?P<level>OK|WARN|ERR)\s+(?P<message>\S.*)$")
# ASCII digits, at most nine: no exit status is longer, and int() refuses thousands of digits
EXIT = re.compile(
    r"\b(?:exit(?:ed)?(?:\s+with)?(?:\s+code|\s+status)?|return\s*code|rc)\s*[:=]?\s*"
    r"(?P<n>-?[0-9]{1,9})\b",
    re.I,
)
COMPLETED = re.compile(r"Orchestration run completed:")
MARKERS = (
    b"scripts/orchestration.py",
    b"Orchestration run completed",
    b"CURRICULUM VALIDATION REPORT",
)
DETECT_SIGNATURES = re.compile(
    rb"\[(?:" + "|".join(CODES).encode() + rb")\] |codex_exec mode failed|"
    rb"OPENAI_API_KEY is required|OPENAI_BASE_URL is invalid|Invalid run metadata in"
)


def classify(line: str) -> dict[str, Any]:
    """Canonical columns for one console line."""
    typed = TYPED.search(line)
    category, implied = next(
        ((cat, code) for pattern, cat, code in SIGNATURES if pattern.search(line)), (None, None)
    )
    if typed or category:
        code = typed["code"] if typed else implied
        return {
            "event_type": "error",
            "event_type_raw": "typed_error" if typed else "error_signature",
            "severity": "error",
            "outcome": "error",
            "error_code": code,
            "error_category": category or code,
            "message": (typed["message"] if typed else line).strip(),
        }
    if check := CHECK.match(line):
        level = check["level"]
        return {
            "event_type": "validation.check",
            "event_type_raw": level,
            "severity": {"OK": "info", "WARN": "warning", "ERR": "error"}[level],
            "outcome": {"OK": "ok", "WARN": None, "ERR": "error"}[level],
            "message": check["message"].strip(),
        }
    if exited := EXIT.search(line):
        number = int(exited["n"])
        return {
            "event_type": "run.end",
            "event_type_raw": "exit_code",
            "severity": "info" if number == 0 else "error",
            "outcome": "ok" if number == 0 else "error",
            "error_code": EXIT_CODES.get(number) if number else None,
            "message": line.strip(),
        }
    if COMPLETED.search(line):
        return {
            "event_type": "run.end",
            "event_type_raw": "completed",
            "outcome": "ok",
            "message": line.strip(),
        }
    return {"event_type": "log", "event_type_raw": "line", "message": line.strip()}


class OrchestrationLogLoader:
    name: ClassVar[str] = "curriculum_builder.orchestration_log"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "orchestration_log"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "captured stderr/console of scripts/orchestration.py: [code] message errors, exit codes"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if not head or _binary(head) or head.removeprefix(BOM).lstrip()[:1] in (b"{", b"["):
            return False
        return any(m in head for m in MARKERS) or DETECT_SIGNATURES.search(head) is not None

    def load(self, ctx: LoadContext) -> LoadResult:
        ts = mtime_of(ctx.path)
        lines = [(line_no, decode(raw), escaped(raw)) for line_no, raw in iter_raw_lines(ctx.path)]
        found = next((m.group(0) for _, line, _ in lines if (m := RUN_ID.search(line))), None)
        stream = found or f"orchestration:{ctx.path.name}"
        bad: list[Quarantine] = []
        events = [
            event
            for line_no, line, raw in lines
            if (event := isolated(bad, line_no, raw, _event, line_no, line, ts, stream))
        ]
        errors = [e for e in events if e["event_type"] == "error"]
        exits = [e for e in events if e["event_type_raw"] == "exit_code"]
        return LoadResult(
            records_read=len(lines),
            events=events,
            quarantine=bad,
            facts={
                "run_id": found,
                "file_mtime": ts.isoformat(),
                "error_codes": sorted({e["error_code"] for e in errors if e.get("error_code")}),
                "error_signatures": sorted(
                    {e["error_category"] for e in errors if e.get("error_category")}
                ),
                "exit_codes": [int(EXIT.search(e["message"])["n"]) for e in exits],
            },
        )


def _event(line_no: int, line: str, ts: datetime, stream: str) -> dict[str, Any]:
    return {
        "record_no": line_no,
        "ts": ts,
        "ts_quality": "derived",
        "stream": stream,
        "position": line_no,
        **classify(line),
        "attrs": {"line": line, "run_ids": RUN_ID.findall(line)},
    }


def _binary(head: bytes) -> bool:
    """Compressed or database bytes, not a console: a stray NUL in captured text is not that."""
    return head[:2] == b"\x1f\x8b" or head.startswith(b"SQLite format 3\x00") or (
        head.count(b"\x00") * 100 > len(head)
    )
