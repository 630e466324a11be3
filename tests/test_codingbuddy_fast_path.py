"""CodingBuddy events.jsonl: one streaming pass reads every record as the JSON reader would.

The loader reads each line once at write time (LineBlocks batches, one json_transform per line)
and keeps the line's own text as attrs. Each file below is checked against DuckDB's `->>` on the
same lines, and again framed differently (blank lines, CR LF, a BOM): only line numbers move.
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
def test_envelope_values_read_as_the_json_reader_reads_them(ingest_into, tmp_path, name):
    """stream, seq, ts_raw and event_type_raw are the line's `->>` values, attrs the line."""
    lines = [line.encode() for line in VARIANTS[name]]
    data = b"\n".join(lines) + (b"" if "no final newline" in name else b"\n")
    result = ingest_into(_write(tmp_path / "a", data), db=tmp_path / "a.duckdb")
    assert _reader(result) == "vectorized"
    rows = result.rows("SELECT record_no, stream, seq, ts_raw, event_type_raw, attrs FROM events "
                       "ORDER BY record_no")
    expected = result.rows(
        "SELECT rn AS record_no, j->>'session_id' AS stream, CAST(j->>'seq_no' AS BIGINT) AS seq, "
        "j->>'at' AS ts_raw, j->'kind'->>'type' AS event_type_raw, line AS attrs "
        "FROM (SELECT ordinality AS rn, line, CAST(line AS JSON) AS j "
        "FROM unnest(?) WITH ORDINALITY AS u(line)) ORDER BY rn", [VARIANTS[name]])
    assert rows == expected


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("framing", ["blank first line", "CRLF", "BOM", "whitespace lines"])
def test_framing_of_the_lines_changes_no_value(ingest_into, tmp_path, name, framing):
    """A blank line, CR LF line ends, a BOM or whitespace-only lines move line numbers only."""
    lines = [line.encode() for line in VARIANTS[name]]
    query = f"SELECT {COLUMNS} FROM events ORDER BY record_no"
    plain = ingest_into(_write(tmp_path / "a", b"\n".join(lines) + b"\n"),
                        db=tmp_path / "a.duckdb").rows(query)
    framed, shift = {
        "blank first line": (b"\n" + b"\n".join(lines) + b"\n", 1),
        "CRLF": (b"\r\n".join(lines) + b"\r\n", 0),
        "BOM": (b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n", 0),
        "whitespace lines": (b"".join(line + b"\n \t\n" for line in lines), None),
    }[framing]
    other = ingest_into(_write(tmp_path / "b", framed), db=tmp_path / "b.duckdb")
    numbers = other.rows("SELECT record_no FROM events ORDER BY record_no")
    if shift is None:  # each record is followed by a whitespace line
        assert [r["record_no"] for r in numbers] == list(range(1, 2 * len(lines), 2))
    else:
        assert [r["record_no"] for r in numbers] == [n + 1 + shift for n in range(len(lines))]
    assert other.rows(query) == plain
    assert other.summary.files[0].quarantined == 0


def test_two_records_on_one_line_are_one_bad_record(ingest_into, tmp_path):
    data = "\n".join(GOOD).encode() + b"\n" + GOOD[0].encode() + GOOD[1].encode() + b"\n"
    result = ingest_into(_write(tmp_path, data))
    assert result.summary.files[0].quarantined == 1
    assert result.rows("SELECT record_no, reason FROM _load_warnings") == [
        {"record_no": len(GOOD) + 1, "reason": "malformed JSON"}]
