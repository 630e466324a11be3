"""LineBlocks gives exactly the lines iter_raw_lines gives, whatever the bytes and block size."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentlab.loaders.reading import LineBlocks, escaped, iter_raw_lines

# Bytes that decide how a line is read: newlines, CR, whitespace, a BOM's, invalid UTF-8, text.
PIECES = [b"\n", b"\r", b"\r\n", b" ", b"\t", b"\x0b", b"\xef\xbb\xbf", b"\xff", b"\xc3",
          b"\xc3\xa9", b"{", b"}", b"ab", b'{"a":1}']


def _expected(path: Path) -> list[tuple[int, str]]:
    return [(number, escaped(raw)) for number, raw in iter_raw_lines(path)]


def _read(path: Path, block: int) -> tuple[list[tuple[int, str]], int | None]:
    blocks = LineBlocks(path, block_bytes=block)
    table = blocks.reader().read_all()
    return list(zip(table["rn"].to_pylist(), table["line"].to_pylist(), strict=True)), blocks.lines


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join),
       block=st.integers(min_value=1, max_value=64))
def test_same_lines_as_iter_raw_lines(tmp_path: Path, data: bytes, block: int) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    lines, count = _read(path, block)
    assert lines == _expected(path)
    assert count == len(lines)


@pytest.mark.parametrize("data", [
    b"",
    b"\n\n",
    b'{"a":1}\n{"b":2}\n',                 # plain: no loop over the lines
    b'{"a":1}\n{"b":2}',                   # no final newline
    b'\xef\xbb\xbf{"a":1}\n{"b":2}\n',     # BOM on the first line only
    b'{"a":1}\r\n\n  \n{"b":"\xff"}\n',     # CR, blank lines, an invalid byte
])
def test_line_numbers_are_physical(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    for block in (1, 7, 1 << 20):
        lines, count = _read(path, block)
        assert lines == _expected(path)
        assert count == len(lines)


def test_plain_blocks_are_cut_without_a_loop(tmp_path: Path, monkeypatch) -> None:
    from incidentlab.loaders.reading import lineblocks

    def refuse(block: bytes, first: int):
        raise AssertionError("a plain block went line by line")

    monkeypatch.setattr(lineblocks, "_line_by_line", refuse)
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(b'{"n":%d,"s":"\xc3\xa9"}\n' % i for i in range(1000)))
    lines, count = _read(path, 4096)
    assert count == 1000
    assert lines[-1] == (1000, '{"n":999,"s":"é"}')
