"""curriculum-builder `outputs/reviews/validation_report.md`: verdict, findings, totals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt
from ..reading import decode, escaped, iter_raw_lines
from ..records import RECORD_ERRORS, value_problem
from .common import SYSTEM, derived_event, mtime_of, mtime_or_none, run_dir_of, run_id_for

VERDICT = re.compile(r"^-\s*Verdict:\s*\*\*(?P<verdict>[^*]*)\*\*\s*$")
CHECK = re.compile(r"^\s*(?P<level>OK|WARN|ERR)\s+(?P<message>\S.*)$")
COUNT = re.compile(r"^\s*(?P<what>PASSED|WARNINGS|FAILED):\s*(?P<n>.*?)\s*$")
TOTAL = re.compile(r"^\s*Total:")
# ASCII digits, and few enough for a count: int() refuses other digits and thousands of them
TOTAL_FULL = re.compile(
    r"^\s*Total:\s*(?P<passed>[0-9]{1,18}) passed,\s*(?P<warnings>[0-9]{1,18}) warnings?,"
    r"\s*(?P<failed>[0-9]{1,18}) failed\s*$"
)
DIGITS = re.compile(r"[0-9]{1,18}")
BANNER = re.compile(r"^\s*(=+|CURRICULUM VALIDATION REPORT)\s*$")
SEVERITY = {"OK": ("info", "ok"), "WARN": ("warning", None), "ERR": ("error", "error")}
COUNT_METRIC = {"PASSED": "passed", "WARNINGS": "warnings", "FAILED": "failed"}


class ValidationReportLoader:
    name: ClassVar[str] = "curriculum_builder.validation_report"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "validation_report"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "curriculum-builder validation_report.md: verdict, OK/WARN/ERR lines as validation.check"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        return path.name == "validation_report.md" and b"Validation Report" in head

    def load(self, ctx: LoadContext) -> LoadResult:
        base = derived_event(ctx.path)
        report = _Report()
        events: list[dict[str, Any]] = []
        for line_no, raw in iter_raw_lines(ctx.path):
            line = decode(raw)
            try:
                found = report.line(line_no, line)
            except RECORD_ERRORS as exc:
                found = value_problem(line_no, escaped(raw), exc)
            if found is None:
                continue
            report.records += 1
            if isinstance(found, Quarantine):
                report.bad.append(found)
                continue
            events.append(
                {
                    **base,
                    "event_type": "validation.check",
                    "record_no": line_no,
                    "position": line_no,
                    **found,
                    "attrs": {"line": line, "line_no": line_no},
                }
            )
        metrics = [
            {
                "ts": base["ts"],
                "ts_quality": "derived",
                "stream": base["stream"],
                "name": f"validation.{name}",
                "value": float(value),
                "unit": "checks",
                "labels": {"verdict": report.verdict},
            }
            for name, value in sorted(report.totals.items())
        ]
        return LoadResult(
            records_read=report.records,
            events=events,
            metrics=metrics,
            quarantine=report.bad,
            facts=self._facts(ctx.path, report.verdict, report.totals, report.counts),
        )

    @staticmethod
    def _facts(
        path: Path, verdict: str | None, totals: dict[str, int], counts: dict[str, int]
    ) -> dict[str, Any]:
        run_dir = run_dir_of(path)
        marker = (run_dir or path.parent.parent.parent) / "logs" / "validation.ok"
        present = marker.is_file()
        return {
            "run_id": run_id_for(path),
            "verdict": verdict,
            "totals": totals,
            "lines_counted": {
                "passed": counts["OK"],
                "warnings": counts["WARN"],
                "failed": counts["ERR"],
            },
            "counts_match_totals": all(
                totals.get(name, count) == count
                for name, count in (
                    ("passed", counts["OK"]),
                    ("warnings", counts["WARN"]),
                    ("failed", counts["ERR"]),
                )
            ),
            "report_mtime": mtime_of(path).isoformat(),
            "validation_ok_present": present,
            "validation_ok_mtime": mtime_or_none(marker) if present else None,
            "verdict_matches_marker": None if verdict is None else (verdict == "PASS") == present,
        }


class _Report:
    """What the lines of one report said so far; `line` classifies the next one."""

    def __init__(self) -> None:
        self.bad: list[Quarantine] = []
        self.totals: dict[str, int] = {}
        self.counts = {"OK": 0, "WARN": 0, "ERR": 0}
        self.verdict: str | None = None
        self.records = 0
        self.fenced = False

    def line(self, line_no: int, line: str) -> dict[str, Any] | Quarantine | None:
        """The event columns of a record line, its quarantine, or None when it is no record."""
        if line.strip().startswith("```"):
            self.fenced = not self.fenced
            return None
        if match := VERDICT.match(line):
            return self._verdict(line_no, line, match["verdict"].strip().upper())
        if not self.fenced or BANNER.match(line):
            return None
        if match := CHECK.match(line):
            self.counts[match["level"]] += 1
            severity, outcome = SEVERITY[match["level"]]
            return {
                "event_type_raw": match["level"],
                "severity": severity,
                "outcome": outcome,
                "message": match["message"].strip(),
            }
        if TOTAL.match(line):
            if not (match := TOTAL_FULL.match(line)):
                return Quarantine(line_no, "unparseable Total line", excerpt(line))
            self.totals.update({k: int(v) for k, v in match.groupdict().items()})
            return {"event_type": "log", "event_type_raw": "Total", "message": line.strip()}
        if match := COUNT.match(line):
            if not DIGITS.fullmatch(match["n"]):
                return Quarantine(line_no, f"{match['what']} count is not a number", excerpt(line))
            self.totals.setdefault(COUNT_METRIC[match["what"]], int(match["n"]))
            return {"event_type": "log", "event_type_raw": match["what"], "message": line.strip()}
        # other validator / stderr output: kept as a plain log line
        return {"event_type": "log", "event_type_raw": "output", "message": line.strip()}

    def _verdict(self, line_no: int, line: str, found: str) -> dict[str, Any] | Quarantine:
        if found not in ("PASS", "FAIL"):
            return Quarantine(line_no, f"unknown verdict {found!r}", excerpt(line))
        self.verdict = found
        return {
            "name": "verdict",
            "event_type_raw": "Verdict",
            "outcome": "ok" if found == "PASS" else "error",
            "severity": "info" if found == "PASS" else "error",
            "message": f"Verdict: {found}",
        }
