"""CodingBuddy events.jsonl: the one-pass vectorized reader gives the line-by-line path's rows.

The fast path reads every record once at write time (read_json_objects WITH ORDINALITY, one
json_transform per record) and keeps the record's own text as attrs. Each file below is ingested
as it is and again with a blank first line, which sends it line by line; every column but the
line-number ones must be the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES

GOOD = (FIXTURES / "codingbuddy" / "ws" / ".codingbuddy" / "events.jsonl").read_text().splitlines()
AT = '"2026-03-01T09:15:01.481516Z"'
KIND = '{"type":"ToolResult","payload":{"result":{"invocation_id":"i-1","success":false,' \
       '"output":{"error":"boom \\u00e9 \\"q\\""}}}}'

VARIANTS = {
    "compact": [json.dumps(json.loads(line), separators=(",", ":")) for line in GOOD],
    "spaced": GOOD,
    "extra top-level keys": [line[:-1] + ', "trace_id": "t-1", "n": [1, 2.50]}' for line in GOOD],
    "escapes in the envelope": [
        f'{{"seq_no":1,"at":{AT},"session_id":"s\\u00e9\\/\\"x\\"","kind":{KIND}}}',
        f'{{"seq_no":"2","at":"2026-03-01T09:15:02+00:00","session_id":"a\\\\b","kind":{KIND}}}',
    ],
    "numbers where text is expected": [
        f'{{"seq_no":3,"at":{AT},"session_id":1.5E+300,"kind":{KIND}}}',
        f'{{"seq_no":4.0,"at":{AT},"session_id":12345678901234567890123,"kind":{KIND}}}',
        f'{{"seq_no":1e3,"at":{AT},"session_id":true,"kind":{{"type":"X","payload":{{"model":7}}}}}}',
    ],
    "duplicate keys and odd kinds": [
        f'{{"seq_no":1,"seq_no":2,"at":{AT},"session_id":"s","kind":{KIND},"kind":{{"type":"Y"}}}}',
        f'{{"seq_no":5,"at":{AT},"session_id":"s","kind":{{"type":{{"a":1}},"payload":[1]}}}}',
        f'{{"seq_no":6,"at":{AT},"session_id":"s","kind":{{"type":"ChatTurn","payload":'
        f'{{"message":{{"role":"user","content":{{"parts":["a","b"]}}}}}}}}}}',
    ],
    "a record with an inner CR and no final newline": [
        f'{{"seq_no":1,\r"at":{AT},"session_id":"s","kind":{KIND}}}', *GOOD[:2]],
}
COLUMNS = ("ts, ts_raw, ts_quality, stream, seq, project, correlation_id, event_type, "
           "event_type_raw, actor, name, outcome, severity, duration_ms, message, error_code, "
           "error_category, is_mirror, attrs")


def _write(folder: Path, data: bytes) -> Path:
    folder = folder / "ws" / ".codingbuddy"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_bytes(data)
    return folder / "events.jsonl"


def _reader(result) -> str:
    return json.loads(result.scalar("SELECT facts FROM _loads"))["reader"]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_fast_and_line_by_line_rows_agree(ingest_into, tmp_path, name):
    lines = [line.encode() for line in VARIANTS[name]]
    data = b"\n".join(lines) + (b"" if "no final newline" in name else b"\n")
    fast = ingest_into(_write(tmp_path / "a", data), db=tmp_path / "a.duckdb")
    assert _reader(fast) == "vectorized"
    fast_rows = fast.rows(f"SELECT record_no, {COLUMNS} FROM events ORDER BY record_no")
    slow = ingest_into(_write(tmp_path / "b", b"\n" + data), db=tmp_path / "b.duckdb")
    assert _reader(slow) == "line by line (blank lines)"
    slow_rows = slow.rows(f"SELECT record_no - 1 AS record_no, {COLUMNS} FROM events "
                          "ORDER BY record_no")
    assert fast_rows == slow_rows
    assert [row["record_no"] for row in fast_rows] == list(range(1, len(lines) + 1))
    # attrs is the line itself, byte for byte
    assert [row["attrs"] for row in fast_rows] == [line.decode() for line in lines]


@pytest.mark.parametrize("data, why", [
    (b"\xef\xbb\xbf" + "\n".join(GOOD).encode() + b"\n", "byte for byte"),
    ("\r\n".join(GOOD).encode() + b"\r\n", "byte for byte"),
    (b"  " + "\n".join(GOOD).encode() + b"\n", "byte for byte"),
    ("\n".join(GOOD).encode() + b"\n" + GOOD[0].encode() + GOOD[1].encode() + b"\n",
     "JSON reader refused"),
])
def test_files_the_json_reader_would_not_give_back_exactly_go_line_by_line(
        ingest_into, tmp_path, data, why):
    result = ingest_into(_write(tmp_path, data))
    assert why in _reader(result)
    assert result.summary.files[0].quarantined == (1 if why == "JSON reader refused" else 0)


def test_blank_line_scan_agrees_with_the_whole_file_pattern_across_chunk_edges(
        tmp_path, monkeypatch):
    """has_blank_lines reads in chunks (no mapping: mapped pages count in RSS); a blank line
    cut by a chunk edge is found as in one pass over the whole file."""
    import random
    import re

    from incidentlab.loaders.codingbuddy import events

    whole = re.compile(rb"\n[ \t\r\f\v]*\n(?=[^\n])|\n[ \t\r\f\v]+\Z")
    first = re.compile(rb"[ \t\r\f\v]*(?:\n|\Z)")
    rng = random.Random(5)
    path = tmp_path / "events.jsonl"
    for chunk in (1, 2, 3, 7):
        monkeypatch.setattr(events, "_CHUNK", chunk)
        for _ in range(1500):
            data = bytes(rng.choice(b"ab \n\n\r\t") for _ in range(rng.randrange(0, 16)))
            path.write_bytes(data)
            expected = bool(data) and bool(first.match(data) or whole.search(data))
            assert events.has_blank_lines(path) is expected, (chunk, data)
