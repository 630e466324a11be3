"""Redaction of secrets and personal data, with a count of what was masked."""

from __future__ import annotations

import json

import polars as pl
import pytest

from incidentlab.analysis.metrics import redaction_patterns
from incidentlab.analysis.redact import MASK, Redactor, redact_text

CASES = [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.demo.payload", "Authorization: " + MASK),
    ("curl -H 'Bearer abcdefgh12345678'", "curl -H 'Bearer " + MASK + "'"),
    ("api_key=sk-demo4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c next", "api_key=" + MASK + " next"),
    ("retrying with llm.api_key=abc123", "retrying with llm.api_key=" + MASK),
    ("PASSWORD: hunter2", "PASSWORD: " + MASK),
    ('{"access_key": "AKIAABCDEFGHIJKLMNOP", "n": 1}', '{"access_key": "' + MASK + '", "n": 1}'),
    ("push with ghp_demo1234567890abcdefghijklmnopqrstuv", "push with " + MASK),
    ("token github_pat_11ABCDEFG0123456789_abcdefghij", "token " + MASK),
    ("key sk-proj-abcdefghijklmnopqrstu", "key " + MASK),
    ("aws AKIAIOSFODNN7EXAMPLE here", "aws " + MASK + " here"),
    ("slack xoxb-123456789012-abcdefghij", "slack " + MASK),
    ("mail alice.smith+ops@example.co.uk now", "mail " + MASK + " now"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", MASK),
]
CLEAN = [
    "input_tokens=5120 output_tokens=310 max_tokens: 4096",
    "ToolResult success=false: command blocked by policy",
    "sk-short",
    "see ASK-123 and the skeleton key story",
    "",
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:30] for c in CASES])
def test_masks(text, expected):
    r = Redactor()
    assert r.text(text) == expected
    assert r.count >= 1


@pytest.mark.parametrize("text", CLEAN)
def test_leaves_clean_text_alone(text):
    r = Redactor()
    assert r.text(text) == text
    assert r.count == 0


def test_user_patterns_and_count():
    r = Redactor(patterns=[r"PHI-\d{6}"])
    assert r.text("patient PHI-123456 and PHI-654321") == f"patient {MASK} and {MASK}"
    assert r.count == 2 and r.by_pattern == {"user_1": 2}
    assert redact_text("x PHI-000001", patterns=[r"PHI-\d{6}"]) == f"x {MASK}"
    assert redaction_patterns() == []  # the shipped rules file has none


def test_patterns_from_a_rules_file(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[redaction]\npatterns = ["MRN-[0-9]+"]\n')
    r = Redactor(rules_path=rules)
    assert r.text("chart MRN-4711 for bob@x.org") == f"chart {MASK} for {MASK}"
    assert r.count == 2


def test_json_values_keep_structure():
    r = Redactor()
    out = r.value({"token": "abc", "input_tokens": 5, "nested": [{"msg": "by bob@x.org"}],
                   "Authorization": None})
    assert out == {"token": MASK, "input_tokens": 5, "nested": [{"msg": f"by {MASK}"}],
                   "Authorization": None}
    assert r.count == 2


def test_frame_redacts_string_columns_and_json_text():
    df = pl.DataFrame({
        "message": ["ok", "Bearer abcdefghijklmnop", None],
        "attrs": ['{"password": "p", "n": 2}', "{not json sk-abcdefghijklmnopqrst", None],
        "n": [1, 2, 3],
    })
    r = Redactor()
    out = r.frame(df)
    assert out["message"].to_list() == ["ok", f"Bearer {MASK}", None]
    assert json.loads(out["attrs"][0]) == {"password": MASK, "n": 2}
    assert out["attrs"][1] == "{not json " + MASK
    assert out["n"].to_list() == [1, 2, 3]
    assert r.count == 3
