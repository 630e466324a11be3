"""Generic JSON lines / CSV, text logs and OTel on damaged evidence: no file fails, nothing is lost."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentlab.loaders import get_loader
from incidentlab.loaders.base import LoadResult, read_head

import fuzzing

FAMILY = {"generic.jsonl", "generic.csv", "generic.textlog", "otel.otlp_json"}
SEEDS = [seed for seed in fuzzing.seeds([fuzzing.FIXTURES]) if seed.loader in FAMILY]
# OTel JSON lines: the items of one line (spans, data points) are records sharing its number.
SHARED_NUMBERS = {"otel.otlp_json"}
T = "2026-03-01T10:00:00Z"
NS = "1772359200000000000"


def load(loader: str, path: Path) -> LoadResult:
    return fuzzing.load_direct(loader, path, ZoneInfo("UTC"))


def assert_accounted(loader: str, path: Path, result: LoadResult, kind: str) -> None:
    fuzzing.assert_accounted(loader, path, result, "text" if loader in SHARED_NUMBERS else kind,
                             frozenset(SHARED_NUMBERS))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(SEEDS) - 1), rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_logs_load_whole(tmp_path: Path, index: int, rng_seed: int):
    seed = SEEDS[index]
    target = fuzzing.damaged_copy(seed, tmp_path, rng_seed)
    assert_accounted(seed.loader, target, load(seed.loader, target), seed.kind)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(SEEDS) - 1), rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_logs_ingest_cleanly(tmp_path: Path, index: int, rng_seed: int):
    tally = fuzzing.run_cases(SEEDS[index], 3, tmp_path / uuid.uuid4().hex[:8],
                              random.Random(rng_seed))
    assert tally.clean, tally.problems


# ---- one case per failure class fixed: each made the whole file fail (or read wrong) before ------


def _lines(*records: Any) -> bytes:
    return b"\n".join(r if isinstance(r, bytes) else json.dumps(r).encode() for r in records) + b"\n"


def _export(span: dict[str, Any] | None = None, **resource: Any) -> dict[str, Any]:
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "chat", "startTimeUnixNano": NS,
            **(span or {})}
    return {"resourceSpans": [{"resource": {"attributes": []}, **resource,
                               "scopeSpans": [{"scope": {"name": "s"}, "spans": [span]}]}]}


def _metric(**fields: Any) -> dict[str, Any]:
    metric = {"name": "tokens", "sum": {"dataPoints": [{"asInt": "5", "timeUnixNano": NS}]},
              **fields}
    return {"resourceMetrics": [{"resource": {}, "scopeMetrics": [{"metrics": [metric]}]}]}


LOG = {"ts": T, "msg": "started", "level": "info"}
DEEP = "[" * 5000 + "]" * 5000
PRETTY = json.dumps(_export(), indent=1).encode()

# (loader, file name, content, records read, quarantined record numbers)
FAILURES = [
    ("generic.jsonl", "app.jsonl", _lines(LOG, f'{{"ts": "{T}", "msg": {DEEP}}}'.encode()),
     2, [2]),
    ("generic.jsonl", "app.jsonl", _lines(LOG, b'{"ts": "%s", "msg": "x", "level": NaN}' % T.encode()),
     2, []),
    ("generic.jsonl", "app.jsonl", _lines(LOG, {**LOG, "level": 1e400}), 2, []),
    ("generic.jsonl", "app.jsonl", _lines(LOG, {**LOG, "level": "1" * 400}), 2, []),
    ("generic.csv", "app.csv",
     f"time,message\n{T},{'x' * 200_000}\n{T},ok\n".encode(), 2, [2]),
    ("otel.otlp_json", "t.json", _lines(_export({"startTimeUnixNano": 1e400})), 1, [1]),
    ("otel.otlp_json", "t.json", _lines(_export({"attributes": 5.5})), 1, []),
    ("otel.otlp_json", "t.json", _lines(_export({"attributes": [
        {"key": "gen_ai.usage.input_tokens", "value": {"doubleValue": [1]}}]})), 1, []),
    ("otel.otlp_json", "t.json", _lines(_export({"attributes": {
        "gen_ai.operation.name": ["chat"]}})), 1, []),
    ("otel.otlp_json", "t.json", _lines(_export(resource=5)), 1, []),
    ("otel.otlp_json", "m.json", _lines(_metric(name=5)), 1, []),
    ("otel.otlp_json", "m.json", _lines(_metric(sum={"dataPoints": 5})), 1, [1]),
    ("otel.otlp_json", "spans.json", _lines([{
        "name": "ai.toolCall", "spanContext": {"traceId": "ab" * 16, "spanId": "cd" * 8},
        "startTime": [1e300, 0], "endTime": [1e300, 5]}]), 1, [1]),
    ("otel.otlp_json", "t.json", f'{{"resourceSpans": {DEEP}}}'.encode(), 1, [None]),
    ("otel.otlp_json", "t.json", PRETTY.replace(b'"chat"', b'"chat'), 1, [None]),
    ("otel.otlp_json", "t.json", _lines({"resourceSpanz": []}), 1, [1]),
    ("generic.textlog", "app.log", b"2026-03-0", 1, [1]),
]


@pytest.mark.parametrize(("loader", "name", "content", "read", "quarantined"), FAILURES)
def test_a_bad_value_does_not_fail_the_file(
    tmp_path: Path, loader: str, name: str, content: bytes, read: int, quarantined: list
):
    path = tmp_path / name
    path.write_bytes(content)
    result = load(loader, path)
    assert result.records_read == read
    assert sorted(q.record_no for q in result.quarantine if q.record_no) == [
        n for n in quarantined if n]
    assert len(result.quarantine) == len(quarantined)
    assert_accounted(loader, path, result, "jsonl" if path.suffix == ".jsonl" else "other")


TEXT_LOG = b"".join(b"2026-03-01T10:00:%02dZ INFO worker: step %d done\n" % (n, n)
                    for n in range(10))
# (loader, file name, head): files each loader failed to claim before
DETECTION = [
    ("generic.textlog", "app.log", TEXT_LOG[:100] + b"\x00" * 4096 + b"\n" + TEXT_LOG[100:]),
    ("generic.textlog", "app.log", TEXT_LOG.replace(b"step 3", b"step\x003")),
    ("generic.jsonl", "app.jsonl", b"\xff" + _lines(LOG, LOG, LOG)),
    ("generic.jsonl", "app.jsonl", _lines(f'{{"ts": "{T}", "msg": {DEEP}}}'.encode(), LOG, LOG)),
    ("otel.otlp_json", "export.jsonl", b"garbage\n" + _lines(_export(), _metric())),
]


@pytest.mark.parametrize(("loader", "name", "head"), DETECTION)
def test_damage_at_the_start_does_not_hide_the_kind(tmp_path: Path, loader: str, name: str,
                                                     head: bytes):
    path = tmp_path / name
    path.write_bytes(head)
    assert get_loader(loader).detect(path, read_head(path))


def test_binary_files_stay_unclaimed_by_the_text_log_loader(tmp_path: Path):
    path = tmp_path / "store.bin"
    path.write_bytes(b"SQLite format 3\x00" + TEXT_LOG)
    assert not get_loader("generic.textlog").detect(path, read_head(path))
    mostly_nul = tmp_path / "core.bin"
    mostly_nul.write_bytes(b"\x00\x01\n".join(TEXT_LOG.splitlines()))
    assert not get_loader("generic.textlog").detect(mostly_nul, read_head(mostly_nul))
