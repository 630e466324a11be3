"""curriculum-builder `outputs/reviews/validation_report.md`: verdict, findings, totals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt, iter_lines
from .common import SYSTEM, derived_event, mtime_of, mtime_or_none, run_dir_of, run_id_for

VERDICT = re.compile(r"^-\s*Verdict:\s*\*\*(?P<verdict>[^*]*)\*\*\s*$")
CHECK = re.compile(r"^\s*(?P<level>OK|WARN|ERR)\s+(?P<message>\S.*)$")
COUNT = re.compile(r"^\s*(?P<what>PASSED|WARNINGS|FAILED):\s*(?P<n>.*?)\s*$")
TOTAL = re.compile(r"^\s*Total:")
TOTAL_FULL = re.compile(
    r"^\s*Total:\s*(?P<passed>\d+) passed,\s*(?P<warnings>\d+) warnings?,"
    r"\s*(?P<failed>\d+) failed\s*$"
)
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
        events: list[dict[str, Any]] = []
        bad: list[Quarantine] = []
        totals: dict[str, int] = {}
        counts = {"OK": 0, "WARN": 0, "ERR": 0}
        verdict: str | None = None
        records = 0
        fenced = False
        for number, line in iter_lines(ctx.path):
            if line.strip().startswith("```"):
                fenced = not fenced
                continue
            row: dict[str, Any] | None = None
            if match := VERDICT.match(line):
                records += 1
                found = match["verdict"].strip().upper()
                if found not in ("PASS", "FAIL"):
                    bad.append(Quarantine(number, f"unknown verdict {found!r}", excerpt(line)))
                    continue
                verdict = found
                row = {
                    "name": "verdict",
                    "event_type_raw": "Verdict",
                    "outcome": "ok" if verdict == "PASS" else "error",
                    "severity": "info" if verdict == "PASS" else "error",
                    "message": f"Verdict: {verdict}",
                }
            elif not fenced or BANNER.match(line):
                continue
            elif match := CHECK.match(line):
                records += 1
                counts[match["level"]] += 1
                severity, outcome = SEVERITY[match["level"]]
                row = {
                    "event_type_raw": match["level"],
                    "severity": severity,
                    "outcome": outcome,
                    "message": match["message"].strip(),
                }
            elif TOTAL.match(line):
                records += 1
                if not (match := TOTAL_FULL.match(line)):
                    bad.append(Quarantine(number, "unparseable Total line", excerpt(line)))
                    continue
                totals.update({k: int(v) for k, v in match.groupdict().items()})
                row = {"event_type": "log", "event_type_raw": "Total", "message": line.strip()}
            elif match := COUNT.match(line):
                records += 1
                if not match["n"].isdigit():
                    bad.append(Quarantine(number, f"{match['what']} count is not a number", line))
                    continue
                totals.setdefault(COUNT_METRIC[match["what"]], int(match["n"]))
                row = {
                    "event_type": "log",
                    "event_type_raw": match["what"],
                    "message": line.strip(),
                }
            else:
                records += 1  # other validator / stderr output: kept as a plain log line
                row = {"event_type": "log", "event_type_raw": "output", "message": line.strip()}
            events.append(
                {
                    **base,
                    "event_type": "validation.check",
                    "record_no": number,
                    "position": number,
                    **row,
                    "attrs": {"line": line, "line_no": number},
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
                "labels": {"verdict": verdict},
            }
            for name, value in sorted(totals.items())
        ]
        return LoadResult(
            records_read=records,
            events=events,
            metrics=metrics,
            quarantine=bad,
            facts=self._facts(ctx.path, verdict, totals, counts),
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
