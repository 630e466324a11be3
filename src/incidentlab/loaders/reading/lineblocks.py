"""A text file's lines as Arrow batches of (rn, line), read in blocks: iter_raw_lines, vectorized.

DuckDB's own JSON reader numbers records only in a single-threaded pass (WITH ORDINALITY); these
batches carry each line's physical number, so the SQL over them runs on every core.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .text import clean_line, escaped

SCHEMA = pa.schema([("rn", pa.int64()), ("line", pa.large_string())])  # a line may pass 2 GiB
# The same lines typed as Arrow's JSON extension, which DuckDB reads as its JSON type without
# parsing them: for SQL that checks every line itself and stores the good ones as JSON.
JSON_TEXT = pa.json_(pa.large_string())
JSON_SCHEMA = pa.schema([("rn", pa.int64()), ("line", JSON_TEXT)])
BLOCK_BYTES = 8 << 20
_CR = 13
# What bytes.strip() strips: a line that starts with one of these may be blank.
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[list(b" \t\n\r\x0b\x0c")] = True


class LineBlocks:
    """Every non-blank line of a file once, as `iter_raw_lines` gives it, in Arrow batches.

    A block whose lines are all plain (valid UTF-8, no CR before the newline, none starting with
    whitespace, no BOM) is cut up without a Python loop over its lines; any other block goes line
    by line through the same rules. `lines` counts the rows the last reader gave, once it is done.
    """

    def __init__(self, path: Path, block_bytes: int = BLOCK_BYTES) -> None:
        self.path = path
        self.block_bytes = block_bytes
        self.lines: int | None = None

    def reader(self, as_json: bool = False) -> pa.RecordBatchReader:
        """A fresh single-use reader of the whole file, for DuckDB to scan like a table (not a
        pyarrow Scanner over the same batches: that reads ahead without bound, its memory
        growing with the file). `as_json` types the lines JSON_TEXT, unchecked (no copy)."""
        self.lines = None
        if not as_json:
            return pa.RecordBatchReader.from_batches(SCHEMA, self._batches())
        typed = (pa.record_batch([batch.column(0),
                                  pa.ExtensionArray.from_storage(JSON_TEXT, batch.column(1))],
                                 schema=JSON_SCHEMA) for batch in self._batches())
        return pa.RecordBatchReader.from_batches(JSON_SCHEMA, typed)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        count, first = 0, 1
        for data, size in _blocks(self.path, self.block_bytes):
            bom = first == 1 and data.startswith(b"\xef\xbb\xbf")
            batch = None if bom else _plain(data, size, first)
            if batch is None:
                batch, lines = _line_by_line(data[:size], first)
            else:
                lines = batch.num_rows
            count += batch.num_rows
            first += lines
            yield batch
        self.lines = count


def _blocks(path: Path, size: int) -> Iterator[tuple[bytes, int]]:
    """The file in pieces of whole lines: (bytes, how many of them are whole lines, each ending
    with a newline). What follows the last newline is read again with the next piece (no copy
    of the piece); one newline is added after a last line that has none."""
    with path.open("rb") as handle:
        while data := handle.read(size):
            cut = data.rfind(b"\n") + 1
            if not cut:  # a line longer than a piece: gather its pieces, join them once
                parts = [data]
                while not cut:
                    more = handle.read(size)
                    if not more:
                        data = b"".join(parts)
                        yield data + b"\n", len(data) + 1
                        return
                    parts.append(more)
                    cut = more.rfind(b"\n") + 1
                data = b"".join(parts)
                cut += len(data) - len(more)
            if cut < len(data):
                handle.seek(cut - len(data), 1)
            yield data, cut


def _plain(data: bytes, size: int, first: int) -> pa.RecordBatch | None:
    """The lines in data[:size] without a loop over them, or None when one needs the line rules."""
    # Arrow cuts the block at its newlines (bytes past `size` are never referenced) and checks
    # the UTF-8 without holding the GIL, so DuckDB's threads run while the next block is cut.
    block = pa.Array.from_buffers(pa.large_binary(), 1, [
        None, pa.py_buffer(np.array([0, size], dtype=np.int64)), pa.py_buffer(data)])
    pieces = pc.split_pattern(block, b"\n").values
    pieces = pieces.slice(0, len(pieces) - 1)  # what follows the last newline: nothing
    start = pieces.offset  # the buffers are the unsliced array's
    offsets = np.frombuffer(pieces.buffers()[1], dtype=np.int64)[start:start + len(pieces) + 1]
    codes = np.frombuffer(pieces.buffers()[2], dtype=np.uint8)
    if (offsets[1:] == offsets[:-1]).any():
        return None  # an empty line
    if _WHITESPACE[codes[offsets[:-1]]].any() or (codes[offsets[1:] - 1] == _CR).any():
        return None  # a whitespace-led line (blank?), or a CR to strip
    try:
        lines = pieces.cast(pa.large_string())  # UTF-8: an invalid byte is kept as a \xNN escape
    except pa.ArrowInvalid:
        return None
    numbers = np.arange(first, first + len(lines), dtype=np.int64)
    return pa.record_batch([pa.array(numbers), lines], schema=SCHEMA)


def _line_by_line(block: bytes, first: int) -> tuple[pa.RecordBatch, int]:
    """The block's non-blank lines by iter_raw_lines' rules, and how many lines it holds."""
    numbers, texts = [], []
    pieces = block.split(b"\n")[:-1]
    for number, raw in enumerate(pieces, start=first):
        line = clean_line(number, raw)
        if line is not None:
            numbers.append(number)
            texts.append(escaped(line))
    batch = pa.record_batch([pa.array(numbers, pa.int64()), pa.array(texts, pa.large_string())],
                            schema=SCHEMA)
    return batch, len(pieces)
