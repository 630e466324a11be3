"""superpowers task documents (`tasks/<date-slug>/*.json`): code reviews and their findings,
complexity scores, gate plans, review lenses.

Beside a task's events.jsonl and decisions.jsonl the pipeline writes JSON documents: each code
review round (`code-review-final.json`, `code-review-check[N].json`: the reviewer's decision, its
findings and, in a check round, the status of the earlier findings), a review lens's findings
(`lens-<name>.json`, a list), the complexity scores before and after the work
(`complexity-assessment.json`, `actual-complexity.json`) and the quality gates planned
(`gate-plan.json`). The task folder is the stream, as for the other two files.

Records: the document is record 1; in a review, record 1 + k is its k-th finding and the
statuses follow the findings; in a lens file, record k is its k-th item.

Times: a gate plan's `detected_at`, a score's `generated` (a date alone is not a time: kept in
ts_raw, the time not determined). A review and a lens carry none. A review takes the time of the
ledger's verdict on it (decisions.jsonl in the same folder), marked `derived` with that line
named in ts_raw, only when the match is unambiguous: round N of a gate (check = 1, check2 = 2,
...) is the N-th verdict of that gate (a record still pending a person is no verdict), and the
ledger holds as many verdicts of the gate as the folder holds rounds of it. Otherwise the review
has no time. That time is read from the ledger when the review is loaded: a review whose own bytes
did not change is not loaded again when only the ledger did (`ingest --force` reloads it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from ..reading import JsonLines
from ..reading.head import document_start
from .common import (
    Collector,
    as_dict,
    as_list,
    clip,
    derived_ts,
    has_key,
    json_document,
    object_items,
    ts_fields,
)
from .superpowers import is_pending, ledger_decision, ledger_time, verdict_outcome

_REVIEW = re.compile(r"code-review-(final|check)(\d*)\.json")
_LENS = re.compile(r"lens-([\w.-]+)\.json")
_SCORES = {"complexity-assessment.json": "initial", "actual-complexity.json": "actual"}
_GATE_PLAN = "gate-plan.json"
# A finding's own severity word, on the canonical scale; another word takes the store's default
# (info) and stays in the message and attrs.
_SEVERITY = {"critical": "critical", "blocker": "critical", "high": "error", "major": "error",
             "medium": "warning", "moderate": "warning", "minor": "warning", "low": "info",
             "info": "info", "trivial": "info", "nit": "info"}
_STATUS = {"resolved": ("ok", "info"), "fixed": ("ok", "info"), "unresolved": ("error", "warning"),
           "open": ("error", "warning")}


def _round(name: str) -> tuple[str, int] | None:
    """(gate id, round) a review file's name stands for: code-review-check2.json -> check, 2."""
    found = _REVIEW.fullmatch(name)
    return (f"code-review.{found.group(1)}", int(found.group(2) or 1)) if found else None


class TaskDocumentsLoader:
    name: ClassVar[str] = "superpowers.task_documents"
    system: ClassVar[str] = "superpowers"
    source: ClassVar[str] = "task_documents"
    version: ClassVar[str] = "1"
    positions: ClassVar[str] = "grouped"  # each document numbered on its own
    description: ClassVar[str] = ("superpowers task JSON documents (code reviews and findings, "
                                  "complexity scores, gate plans, review lenses)")

    def detect(self, path: Path, head: bytes) -> bool:
        start, name = document_start(head), path.name
        if _round(name):
            return start == b"{" and has_key(head, "decision")
        if name in _SCORES:
            return start == b"{" and has_key(head, "dimensions")
        if name == _GATE_PLAN:
            return start == b"{" and has_key(head, "gates")
        if _LENS.fullmatch(name):
            return start == b"[" and (has_key(head, "potential_consequence")
                                      or has_key(head, "trigger_condition"))
        return False

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        doc = json_document(col)
        if not doc.ok:
            return col.result()
        name, task = ctx.path.name, ctx.path.parent.name
        lens = _LENS.fullmatch(name)
        if lens:
            self._lens(col, doc.value, lens.group(1), task)
            return col.result()
        col.records_read += 1
        if not isinstance(doc.value, dict):
            col.bad(1, "document is not a JSON object", doc.value)
            return col.result()
        top = doc.value
        review = _round(name)
        with col.record(1, top):
            if review:
                self._review(col, top, review, task)
            elif name in _SCORES:
                self._score(col, top, _SCORES[name], task)
            else:
                self._gate_plan(col, top, task)
        return col.result()

    # ---- reviews -------------------------------------------------------------------------------

    def _review(self, col: Collector, top: dict[str, Any], review: tuple[str, int],
                task: str) -> None:
        named_gate, number = review
        gate = top["gate_id"] if isinstance(top.get("gate_id"), str) else named_gate
        when = (_verdict_time(col.ctx, gate, number) if gate == named_gate
                else ts_fields(col.ctx, None))
        decision, rationale = top.get("decision"), top.get("rationale")
        outcome, severity = verdict_outcome(decision)
        label = gate if number == 1 else f"{gate} round {number}"
        summary = {k: v for k, v in top.items() if k not in ("findings", "finding_status")}
        findings, statuses = as_list(top.get("findings")), as_list(top.get("finding_status"))
        summary["findings_count"] = len(findings) if "findings" in top else None
        col.event(1, "review.end", stream=task, event_type_raw="code_review", name=gate,
                  correlation_id=gate, outcome=outcome, severity=severity,
                  message=clip(f"{label}: {decision}" + (f" - {rationale}" if rationale else "")),
                  **when, attrs=summary)
        # Each finding and status is a record of its own: a bad one is quarantined alone.
        for at, item in object_items(col, findings, "review finding", start=2):
            with col.record(at, item):
                self._finding(col, at, item, gate, task, when)
        for at, item in object_items(col, statuses, "review status", start=2 + len(findings)):
            with col.record(at, item):
                self._status(col, at, item, gate, task, when)

    @staticmethod
    def _finding(col: Collector, number: int, item: dict[str, Any], gate: str | None, task: str,
                 when: dict[str, Any]) -> None:
        word = item.get("severity")
        severity = _SEVERITY.get(word.strip().lower()) if isinstance(word, str) else None
        title = item.get("title") or item.get("summary") or item.get("problem")
        place = item.get("file") or item.get("location")
        line = item.get("line")
        where = f" [{place}{f':{line}' if line is not None else ''}]" if place else ""
        col.event(number, "review.finding", stream=task, event_type_raw="finding",
                  name=item.get("id"), correlation_id=gate, severity=severity,
                  message=clip(f"{item.get('id')} ({word}): {title}{where}"), **when, attrs=item)

    @staticmethod
    def _status(col: Collector, number: int, item: dict[str, Any], gate: str | None, task: str,
                when: dict[str, Any]) -> None:
        status = item.get("status")
        outcome, severity = _STATUS.get(status.strip().lower(), (None, "info")) \
            if isinstance(status, str) else (None, "info")
        notes = item.get("notes")
        col.event(number, "review.finding_status", stream=task, event_type_raw="finding_status",
                  name=item.get("id"), correlation_id=gate, outcome=outcome, severity=severity,
                  message=clip(f"{item.get('id')}: {status}" + (f" - {notes}" if notes else "")),
                  **when, attrs=item)

    # ---- the other documents -------------------------------------------------------------------

    @staticmethod
    def _score(col: Collector, top: dict[str, Any], mode: str, task: str) -> None:
        parts = [f"total {top.get('total')}"] + [
            f"{key} {top[key]}" for key in ("size", "routing") if top.get(key) is not None]
        col.event(1, "complexity.assessed", stream=task, event_type_raw=mode, name=mode,
                  message=clip(f"complexity ({mode}): {', '.join(parts)}"),
                  **ts_fields(col.ctx, top.get("generated")), attrs=top)

    @staticmethod
    def _gate_plan(col: Collector, top: dict[str, Any], task: str) -> None:
        gates = [as_dict(g) for g in as_list(top.get("gates"))]
        planned = [str(g.get("id")) for g in gates]
        missing = [str(g.get("id")) for g in gates if g.get("available") is False]
        runner = clip(top.get("runner"))
        text = f"gate plan ({runner}): {', '.join(planned) or 'no gates'}"
        col.event(1, "gate.planned", stream=task, event_type_raw="gate_plan",
                  name=runner, message=clip(text + (
                      f"; not available: {', '.join(missing)}" if missing else "")),
                  **ts_fields(col.ctx, top.get("detected_at")), attrs=top)

    @staticmethod
    def _lens(col: Collector, items: Any, lens: str, task: str) -> None:
        if not isinstance(items, list):
            col.records_read += 1
            col.bad(1, "lens document is not a JSON list", items)
            return
        for number, item in object_items(col, items, "lens finding"):
            with col.record(number, item):
                text = item.get("potential_consequence") or item.get("trigger_condition")
                place = item.get("location")
                col.event(number, "review.finding", stream=task, event_type_raw=f"lens:{lens}",
                          name=lens, message=clip(f"{lens}: {text}" + (
                              f" [{place}]" if place else "")), **ts_fields(col.ctx, None),
                          attrs=item)


def _verdict_time(ctx: LoadContext, gate: str, number: int) -> dict[str, Any]:
    """The time of the ledger's verdict on round `number` of `gate`, marked derived; none when
    the folder's rounds of the gate and the ledger's verdicts on it do not match one to one."""
    folder = ctx.path.parent
    rounds = sorted(found[1] for sibling in folder.glob("code-review-*.json")
                    if (found := _round(sibling.name)) and found[0] == gate)
    verdicts = [(line, rec) for line, rec in _ledger(folder / "decisions.jsonl")
                if rec.get("gate_id") == gate and not is_pending(ledger_decision(rec))]
    if rounds != list(range(1, len(verdicts) + 1)) or number > len(verdicts):
        return ts_fields(ctx, None)
    line, rec = verdicts[number - 1]
    note = f"decisions.jsonl line {line} ({gate} verdict {number})"
    return derived_ts(ts_fields(ctx, ledger_time(rec)), note)


def _ledger(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a ledger's gate verdicts; unreadable lines are the ledger
    loader's to report, not this one's."""
    if not path.is_file():
        return
    try:
        for line, rec, _raw in JsonLines(path):
            if isinstance(rec.get("gate_id"), str):
                yield line, rec
    except OSError:
        return
