"""Property tests for CodingBuddy events.jsonl: any bytes, any values, nothing lost, lines exact."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentlab.ingest import ingest
from incidentlab.store import connect

import fuzzing
from conftest import FIXTURES

GOOD = (FIXTURES / "codingbuddy" / "ws" / ".codingbuddy" / "events.jsonl").read_bytes().splitlines()

line = st.one_of(
    st.sampled_from(GOOD),
    st.builds(lambda seed, source: fuzzing.mutate_value(json.loads(source), random.Random(seed))
              .encode("utf-8", "surrogatepass"), st.integers(0, 2**32), st.sampled_from(GOOD)),
    st.builds(lambda seed, source: fuzzing.mutate_bytes(source, random.Random(seed)),
              st.integers(0, 2**32), st.sampled_from(GOOD)),
    st.binary(max_size=40),
    st.sampled_from([b"", b"   ", b"\r", b"\xef\xbb\xbf", b"\x00"]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, min_size=1, max_size=12), st.sampled_from([b"\n", b"\r\n"]))
def test_any_lines_lose_nothing(lines, newline):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ws" / ".codingbuddy" / "events.jsonl"
        path.parent.mkdir(parents=True)
        path.write_bytes(newline.join(lines) + newline)
        summary = ingest([path], Path(folder) / "i.duckdb")
        (outcome,) = summary.files
        assert outcome.status == "loaded", outcome.message
        expected = fuzzing.nonblank_lines(path)
        assert outcome.records_read == len(expected)
        con = connect(Path(folder) / "i.duckdb", read_only=True)
        try:
            events = con.execute("SELECT record_no FROM events").fetchall()
            warnings = con.execute("SELECT record_no, raw FROM _load_warnings").fetchall()
            con.execute("SELECT * FROM events").fetchall()  # every stored value converts
        finally:
            con.close()
        assert len(events) + len(warnings) == len(expected)
        assert {no for (no,) in events} | {no for no, _ in warnings} == expected
        raw_lines = path.read_bytes().split(b"\n")
        for number, raw in warnings:
            original = raw_lines[number - 1].rstrip(b"\r\n")
            if number == 1:
                original = original.removeprefix(b"\xef\xbb\xbf")
            assert raw == original.rstrip(b"\r").decode("utf-8", "backslashreplace") or raw == \
                original.decode("utf-8", "backslashreplace")
