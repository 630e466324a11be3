"""coding-loops `loop-*/specs/test-state.json` (legacy, camelCase): per-test state of a loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine
from ..reading.head import object_head
from ..records import BadRecord, guarded, raw_excerpt, read_doc
from ..records import number as as_number
from .common import fits_int64, loop_name, short, typed_table

_RESULTS = {
    "pass": ("ok", "info", None),
    "fail": ("error", "error", None),
    "blocked": ("error", "error", "blocked"),
}


class TestStateLoader:
    name: ClassVar[str] = "coding_loops.test_state"
    system: ClassVar[str] = "coding_loops"
    source: ClassVar[str] = "test_state"
    positions: ClassVar[str] = "grouped"  # rows numbered per table / snapshot, not one file order
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "coding-loops loop-*/specs/test-state.json (legacy, camelCase)"

    def detect(self, path: Path, head: bytes) -> bool:
        markers = (b'"lastUpdated"', b'"loopName"', b'"lastResult"', b'"dependsOn"')
        return object_head(head) and b'"tests"' in head and sum(m in head for m in markers) >= 2

    def load(self, ctx: LoadContext) -> LoadResult:
        doc, bad = read_doc(ctx.path)
        if bad is None and not (isinstance(doc, dict) and isinstance(doc.get("tests"), list)):
            bad = Quarantine(1, "not a test-state document (no tests list)", raw_excerpt(doc))
        if bad is not None:
            return LoadResult(records_read=1, quarantine=[bad])
        project = loop_name(ctx.path)
        stream = project or doc.get("loopName") or doc.get("name")
        updated_raw = doc.get("lastUpdated")
        events: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        quarantine: list[Quarantine] = []
        for index, test in enumerate(doc["tests"], start=1):
            built = guarded(
                quarantine, index, f"tests[{index}]", test,
                self._record, ctx, index, test, project, stream, updated_raw,
            )
            if built is not None:
                rows.append(built[0])
                events.extend(built[1])
        metrics = self._summary(ctx, doc, project, stream)
        tables = {"coding_loops_test_state": typed_table(rows, _DECLARED)} if rows else {}
        return LoadResult(
            records_read=len(doc["tests"]),
            events=events,
            metrics=metrics,
            tables=tables,
            quarantine=quarantine,
            facts={
                "loop": doc.get("loopName") or doc.get("name"),
                "last_updated": updated_raw,
                "summary": doc.get("summary"),
            },
        )

    def _record(
        self, ctx: LoadContext, index: int, test: Any, project: str | None, stream: Any,
        updated: Any,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One test's table row and events, built together: a bad test leaves neither behind."""
        if not isinstance(test, dict) or not test.get("id"):
            raise BadRecord("not a test with an id")
        return self._row(test, project, updated), self._events(ctx, index, test, project, stream)

    def _row(self, test: dict[str, Any], project: str | None, updated: Any) -> dict[str, Any]:
        # typed columns keep their type in every file (the whole test stays in attrs)
        attempts, automatable = test.get("attempts"), test.get("automatable")
        return {
            "project": project,
            "test_id": test.get("id"),
            "category": test.get("category"),
            "status": test.get("status"),
            "attempts": attempts if fits_int64(attempts) else None,
            "last_result": test.get("lastResult"),
            "depends_on": test.get("dependsOn"),
            "automatable": automatable if isinstance(automatable, bool) else None,
            "notes": test.get("notes"),
            "last_attempt_at": test.get("lastAttemptAt"),
            "passed_at": test.get("passedAt"),
            "file_last_updated": updated,
            "attrs": test,
        }

    def _events(
        self,
        ctx: LoadContext,
        index: int,
        test: dict[str, Any],
        project: str | None,
        stream: Any,
    ) -> list[dict[str, Any]]:
        found = []
        outcome, severity, code = _RESULTS.get(str(test.get("lastResult")), (None, "info", None))
        for key, column, event_type in (
            ("attempt", "lastAttemptAt", "test.attempt"),
            ("passed", "passedAt", "test.pass"),
        ):
            raw = test.get(column)
            if raw in (None, ""):
                continue
            ts, quality = ctx.parse_ts(raw)
            passed = event_type == "test.pass"
            found.append(
                {
                    "record_no": index,
                    "event_key": key,
                    "ts": ts,
                    "ts_raw": str(raw),
                    "ts_quality": quality,
                    "stream": stream,
                    "position": index,
                    "project": project,
                    "event_type": event_type,
                    "event_type_raw": f"test-state.{column}",
                    "name": test.get("id"),
                    "outcome": "ok" if passed else outcome,
                    "severity": "info" if passed else severity,
                    "error_code": None if passed else code,
                    "message": short(
                        f"{test.get('id')} {test.get('status')} after "
                        f"{test.get('attempts')} attempt(s)"
                    ),
                    "attrs": test,
                }
            )
        return found

    def _summary(
        self, ctx: LoadContext, doc: dict[str, Any], project: str | None, stream: Any
    ) -> list[dict[str, Any]]:
        summary = doc.get("summary") if isinstance(doc.get("summary"), dict) else {}
        ts, quality = ctx.parse_ts(doc.get("lastUpdated"))
        return [
            {
                "ts": ts,
                "ts_quality": quality,
                "stream": stream,
                "project": project,
                "name": f"tests_{key}",
                "value": as_number(value),
                "unit": "tests",
            }
            for key, value in summary.items()
            if as_number(value) is not None
        ]


_DECLARED = {"attempts": "INTEGER", "automatable": "BOOLEAN"}
