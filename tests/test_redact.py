"""Redaction of secrets and personal data, with a count of what was masked."""

from __future__ import annotations

import json

import polars as pl
import pytest

from incidentlab.analysis.redact import MASK, Redactor, redact_text
from incidentlab.redaction import (
    escape_controls,
    looks_secret,
    make_redactor,
    mask_params,
    rules_patterns,
)
from incidentlab.reports import secrets

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
    ("tokens_password=hunter2", "tokens_password=" + MASK),
    ("aws AKIAIOSFODNN7EXAMPLE here", "aws " + MASK + " here"),
    ("slack xoxb-123456789012-abcdefghij", "slack " + MASK),
    ("mail alice.smith+ops@example.co.uk now", "mail " + MASK + " now"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", MASK),
]
CLEAN = [
    "input_tokens=5120 output_tokens=310 max_tokens: 4096",
    # SWE-agent's usage line (shared/realdata swe-agent logs): counts, not secrets
    "total_cost=0.53839, instance_cost=0.53839, tokens_sent=52861, tokens_received=326",
    "ToolResult success=false: command blocked by policy",
    "sk-short",
    "see ASK-123 and the skeleton key story",
    "",
    # ordinary words detect-secrets' ad-hoc entropy scan flags
    "and export the report, then run the tests and commit",
    "/work/main/src/incidentlab/analysis/replay.py:120 and ~/projects/app/.codingbuddy/events.jsonl",
    "src/agents/plugins/codex/__tests__/fixtures/rollout-2026-05-11T11-26-55-019e1625-789d.jsonl",
    "event db6b4d091d903b5a:945:0 mirrors 3273b5fbf02b4af2:12:1",
    "at 2026-03-01T09:04:12.345678+00:00 (ts_raw 1709283852.345) until 2026-03-01 09:05:00Z",
    "model claude-3-5-sonnet-20241022, gpt-4o-mini-2024-07-18, gemini-2.5-pro-preview-05-06",
    "tool mcp__github__create_pull_request, Bash, str_replace_based_edit_tool, TodoWrite",
    "toolu_bdrk_01AE52DNTFXnbYCYZbNxhzWc msg_bdrk_0123PinQPTX8hVMAsUpLZEeW "
    "chatcmpl-Aw30O6Ka8n1X3F6F7YUh91NxXBE0y resp_07aff6ffa00269d50069821220f35c819dbbabe49b6cc82791",
    "session 01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01 trace 4bf92f3577b34da6a3ce929d0e0e4736",
    # digests are shown on purpose: commits, sha256 of evidence files (provenance), sha512
    "commit 8e8d4ce5ad2dfae14cb26caf5d3cddebee929990",
    "sha256 907f20644716c92a8309a8b7c1ceec79d422233ff220b7fdb8772b360bd8273f",
    "907f20644716c92a8309a8b7c1ceec79d422233ff220b7fdb8772b360bd8273f",
    "docker run -u 1000:1000 app; git push -u origin main; pip install -U ruff",
    "APIConnectionError: timeout after 30s; SORTING 12345678901234567890123456789012345",
    "1709283600:session-abcdefghijklmnopqrstuvwxyz123456789 and TASKabcdefghijklmnopqrstuvwxyz012345",
    "https://github.com/acme/app/pull/12 and postgres://db.internal:5432/prod (no password)",
]

# (text, what must disappear, detector): the shapes detect-secrets lacks and a few it has.
SHAPES = [
    ("maps AIzaSyD3k9Lm2Np8Qr4St6Uv0Wx2Yz4Ab6Cd8Ef ok", "AIzaSyD3k9Lm", "google_api_key"),
    ("login hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234567890", "hf_QwErTy", "huggingface_token"),
    ("npm_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz", "npm_Ab1Cd2", "npm_token"),
    ("clone glpat-x9Yz8Wv7Ut6Sr5Qp4On3M", "glpat-x9Yz", "ds:gitlab_token"),
    ("sk_live_51HxQk2LmNoPqRsTuVwXyZ0a1b2c3d4e5f6", "51HxQk2Lm", "ds:stripe_access_key"),
    ("sk-ant-api03-Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd9Ss8Aa7Qq6Ww5Ee4Rr3-AbCdEfAA", "Zx9Cv8Bn7",
     "openai_key"),
    ("xoxb-2048163264128-4096819212345-Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7", "Ab3Cd5Ef7", "ds:slack_token"),
    ("AccountName=a;AccountKey=q8Wz3Lk9Mn2Bv7Cx4Zl1==;EndpointSuffix=x", "q8Wz3Lk9",
     "azure_account_key"),
    ("postgres://app:Pg$ecr3t!x@10.0.0.5:5432/prod", "Pg$ecr3t!x", "dsn_password"),
    ("mysql://root:hunter2hunter2@192.168.1.20/db", "hunter2hunter2", "ds:basic_auth_credentials"),
    ("redis://:s3cretpass@10.1.2.3:6379", "s3cretpass", "dsn_password"),  # no user
    ("curl -s -u deploy:cUrlPa55word https://ci", "cUrlPa55word", "curl_user"),
    ("curl --user=deploy:cUrlPa55word https://ci", "cUrlPa55word", "curl_user"),
    ("export MY_SERVICE_KEY=svc_9f8e7d6c5b4a", "svc_9f8e7d6c5b4a", "env_secret"),
    ('DEPLOY_TOKEN="tok-123456"', "tok-123456", "kv_secret"),  # "token" in the name
    ("webhook 7f3a9c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a5c7e set", "7f3a9c2e4b6d", "hex_token"),
    ("auth 907f20644716c92a8309a8b7c1ceec79d422233ff220b7fdb8772b360bd8273f", "907f2064",
     "hex_token"),
    ("cookie=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "SflKxwRJ", "ds:json_web_token"),
    ("jwt eyJhbGciOiJub25lIn0xx.eyJzdWIiOjF9.sig", "eyJhbGciOiJub25lIn0xx", "jwt"),
    ("paged ops.oncall@<*> at <*>", "ops.oncall", "email"),
    ("blob gAAAAABqAZLpDBVX3heq9f5RwzU7LNkny4dZ7BOgfOxEx3IWEQ25omWhOOAUra9jvlVP3M end",
     "gAAAAABqAZLp", "high_entropy_token"),
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
    assert rules_patterns() == []  # the shipped rules file has none


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


@pytest.mark.parametrize(("text", "secret", "detector"), SHAPES, ids=[s[2] for s in SHAPES])
def test_shapes_and_their_detector(text, secret, detector):
    r = Redactor()
    out = r.text(text)
    assert secret not in out and MASK in out
    assert list(r.by_pattern) == [detector]


def test_private_key_without_end_marker_is_masked_to_the_end():
    cut = "key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
    assert Redactor().text(cut) == "key: " + MASK
    whole = "a -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- b"
    assert Redactor().text(whole) == f"a {MASK} b"


def test_json_secret_not_counted_twice_and_env_keys():
    r = Redactor()
    assert r.text('{"access_key": "AKIAABCDEFGHIJKLMNOP"}') == '{"access_key": "' + MASK + '"}'
    assert r.count == 1
    out = Redactor().value({"MY_SERVICE_KEY": "x", "PRIMARY": "y", "max_tokens": 5})
    assert out == {"MY_SERVICE_KEY": MASK, "PRIMARY": "y", "max_tokens": 5}


def test_escape_controls():
    text = "\x1b[31mred\x1b[0m \x1b]8;;https://x\x07l\x1b]8;;\x07 \x9b2J a\rb\tc\nd"
    assert escape_controls(text) == ("\\x1b[31mred\\x1b[0m \\x1b]8;;https://x\\x07l"
                                     "\\x1b]8;;\\x07 \\x9b2J a\\x0db\tc\nd")
    assert escape_controls({"a": ["\x1b"], "n": 1}) == {"a": ["\\x1b"], "n": 1}
    frame = Redactor().frame(pl.DataFrame({"m": ["\x1b[1m bob@x.org"]}), escape=True)
    assert frame["m"][0] == "\\x1b[1m " + MASK


def test_one_redactor_for_reports_and_cli():
    assert secrets.Redactor is Redactor and secrets.MASK == MASK
    assert make_redactor(False) is None and isinstance(make_redactor(True), Redactor)
    assert secrets.clean_text(make_redactor(True), "a bob@x.org") == f"a {MASK}"
    assert mask_params({"authors": "Ann, Bob", "api_token": "t", "title": "ghp_" + "a" * 36,
                        "max_tokens": 5, "reviewers": "Cy"}) == {
        "authors": "Ann, Bob", "api_token": MASK, "title": MASK, "max_tokens": 5,
        "reviewers": "Cy"}
    assert not looks_secret("author", "Ann") and looks_secret("auth_header", "x")
    frame = secrets.clean_frame(make_redactor(True), pl.DataFrame(
        {"ids": [["a", "bob@x.org"], None], "n": [1, 2]}))
    assert frame["ids"].to_list() == [["a", MASK], None]
