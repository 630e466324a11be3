"""Cells to column types: every value stored or NULL with a reason, never an error, never rounded."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from incidentlab.coerce import Dropped, column, domain_table, json_text


@pytest.mark.parametrize(("kind", "value", "stored", "reason"), [
    ("BIGINT", 5, 5, None),
    ("BIGINT", 5.0, 5, None),
    ("BIGINT", 5.5, None, "not an integer"),
    ("BIGINT", 2**70, None, "integer beyond the 64-bit range"),
    ("BIGINT", True, None, "a boolean, not an integer"),
    ("BIGINT", "7", None, "not an integer"),
    ("DOUBLE", 10**400, None, "number beyond the range of a double"),
    ("DOUBLE", "1.5", None, "not a number"),
    ("BOOLEAN", 1, None, "not a boolean"),
    ("VARCHAR", 42, "42", None),
    ("VARCHAR", {"a": 1}, '{"a": 1}', None),
    ("VARCHAR", "a\ud800b", "a\ufffd\ufffd\ufffdb", None),
    ("TIMESTAMPTZ", "2026-03-01T10:00:00Z", None, "not a timestamp"),
])
def test_a_bad_cell_is_null_with_its_reason(kind, value, stored, reason):
    dropped = Dropped()
    values = [value, None] if kind != "VARCHAR" else [value, "plain"]
    array = column("c", kind, values, [7, 8], dropped)
    assert array.to_pylist()[0] == stored
    if reason is None:
        assert not dropped.counts
    else:
        assert dropped.as_fact() == {"c": {"count": 1, "record_no": 7,
                                           "value": (value if isinstance(value, str)
                                                     else repr(value))[:200],
                                           "reason": reason}}


def test_json_cells_are_always_valid_json():
    values = [{"x": float("nan")}, {"y": [float("inf"), "\ud800"]}, "not json", '{"ok": 1}', None]
    cells = column("attrs", "JSON", values, [1, 2, 3, 4, 5], Dropped()).to_pylist()
    parsed = [json.loads(cell) if cell is not None else None for cell in cells]
    assert parsed == [{"x": "nan"}, {"y": ["inf", "\ufffd\ufffd\ufffd"]}, "not json", {"ok": 1}, None]
    assert json_text(math.inf) == '"inf"'


def test_timestamps_and_mixed_domain_columns():
    naive = datetime(2026, 3, 1, 10, 0)
    cells = column("ts", "TIMESTAMPTZ", [naive], [1], Dropped()).to_pylist()
    assert cells == [datetime(2026, 3, 1, 10, 0, tzinfo=UTC)]
    table = domain_table([{"a": 1, "b": {"k": 1}}, {"a": "two", "b": None}], ["a", "b"])
    assert table.column("a").to_pylist() == ["1", "two"]
    assert table.column("b").to_pylist() == ['{"k": 1}', None]
