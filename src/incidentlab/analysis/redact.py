"""Mask secrets and personal data in anything shown to a person; count what was masked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import polars as pl

MASK = "[REDACTED]"
# Keys Jido's telemetry redaction treats as secret (FORMATS §2.2), as substrings of a key name.
SECRET_KEYS = (
    "token", "secret", "password", "passwd", "api_key", "apikey", "authorization",
    "credential", "private_key", "access_key",
)
_KEY = r"[\w.-]*(?:" + "|".join(SECRET_KEYS) + r")[\w.-]*"

# (name, pattern, group to keep before the mask). Order matters: whole key/value pairs first,
# so a token inside them is counted once.
DEFAULT_PATTERNS: list[tuple[str, str]] = [
    # "api_key": "value"  /  'token': 'value'  (JSON and Python reprs)
    ("json_secret", r"""(?i)(["'](?:""" + _KEY + r""")["']\s*:\s*)(?:"[^"]*"|'[^']*')"""),
    # api_key=value, password: value, Authorization: Basic xyz (key=value secrets)
    ("kv_secret", r"""(?i)(\b""" + _KEY + r"""\s*[=:]\s*)(?!\[REDACTED\])"""
                  r"""(?:Bearer\s+|Basic\s+)?[^\s"',;&}]+"""),
    ("bearer", r"(?i)(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    ("github_pat", r"()\bgithub_pat_[A-Za-z0-9_]{20,}"),
    ("github_token", r"()\bgh[pousr]_[A-Za-z0-9]{20,}"),
    ("openai_key", r"()\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"),
    ("aws_access_key", r"()\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("slack_token", r"()\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("private_key_block", r"()-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    ("email", r"()\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
]


class Redactor:
    """Masks the built-in patterns plus user regular expressions: `patterns`, or when None the
    [redaction] patterns of the rules file (`rules_path`, default the shipped one). `count` is
    the number of values masked so far, `by_pattern` the same per pattern name."""

    def __init__(
        self, patterns: Iterable[str] | None = None, *, rules_path: Any = None,
        defaults: bool = True,
    ) -> None:
        if patterns is None:
            from .metrics import redaction_patterns

            patterns = redaction_patterns(rules_path)
        compiled = [(name, re.compile(p)) for name, p in DEFAULT_PATTERNS] if defaults else []
        for i, pattern in enumerate(patterns or []):
            compiled.append((f"user_{i + 1}", re.compile(f"(){pattern}")))
        self._patterns = compiled
        self.count = 0
        self.by_pattern: dict[str, int] = {}

    def text(self, s: str | None) -> str | None:
        if not s:
            return s
        for name, regex in self._patterns:
            hits = 0

            def mask(m: re.Match[str], name: str = name) -> str:
                nonlocal hits
                if _is_counter(m.group(1)):
                    return m.group(0)
                hits += 1
                quoted = name == "json_secret"  # keep JSON text valid
                return m.group(1) + (f'"{MASK}"' if quoted else MASK)

            s = regex.sub(mask, s)
            if hits:
                self.count += hits
                self.by_pattern[name] = self.by_pattern.get(name, 0) + hits
        return s

    def value(self, obj: Any) -> Any:
        """Redact a JSON-like value: secret-named keys are masked whole, strings scanned."""
        if isinstance(obj, dict):
            out = {}
            for key, val in obj.items():
                if isinstance(key, str) and _is_secret_key(key) and val not in (None, "", MASK):
                    out[key] = MASK
                    self.count += 1
                    self.by_pattern["secret_key"] = self.by_pattern.get("secret_key", 0) + 1
                else:
                    out[key] = self.value(val)
            return out
        if isinstance(obj, list):
            return [self.value(v) for v in obj]
        if isinstance(obj, str):
            return self.text(obj)
        return obj

    def frame(self, df: pl.DataFrame, columns: Iterable[str] | None = None) -> pl.DataFrame:
        """Every string column (or the given ones) redacted; JSON-looking text parsed first."""
        names = list(columns) if columns is not None else [
            c for c, t in df.schema.items() if t == pl.Utf8]
        replacements = []
        for name in names:
            values = df[name].to_list()
            replacements.append(pl.Series(name, [self._cell(v) for v in values], dtype=pl.Utf8))
        return df.with_columns(replacements) if replacements else df

    def _cell(self, value: str | None) -> str | None:
        if value and value[:1] in "{[":
            try:
                parsed = json.loads(value)
            except ValueError:
                return self.text(value)
            return json.dumps(self.value(parsed), ensure_ascii=False)
        return self.text(value)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(k in lowered for k in SECRET_KEYS) and not _is_counter(key)


def _is_counter(key: str) -> bool:
    """`input_tokens`, `max_tokens`, `token_count`: numbers about tokens, not secrets."""
    name = key.strip().strip("\"':= ").lower()
    return name.endswith(("tokens", "_count", "token_count")) or name in ("tokenizer",)


def redact_text(s: str | None, patterns: Iterable[str] | None = None) -> str | None:
    return Redactor(patterns).text(s)
