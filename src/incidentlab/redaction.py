"""The one redactor: masks secrets and personal data in everything incidentlab shows or writes.

Every output goes through `Redactor` (CLI tables and `--json`, exports, notebooks and reports,
their parameters): report `-p redact=false` or `--no-redact` is the only way to see evidence
verbatim. Detection is built on detect-secrets' regex plugins (AWS, Azure storage, Basic auth,
Discord, GitHub, GitLab, IBM, JWT, Mailchimp, npm, OpenAI, private keys, PyPI, SendGrid, Slack,
Square, Stripe, Telegram, Twilio, ...) used to find values, plus the shapes it lacks (`RULES`
below). Its entropy plugin is used only on long tokens (`_LONG_TOKEN`): scanned ad hoc it flags
ordinary words. Each found value is replaced by `MASK`; `count` and `by_pattern` say how many
values each detector masked.

Own ids and digests are evidence, not secrets: event ids (`db6b4d091d903b5a:945:0`), trace ids
(32 hex), commits (40 hex) and sha256 digests (64 hex, shown in provenance) stay; a hex run of
another length of 32 or more, or any hex run of 32 or more after a credential word, is masked.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

MASK = "[REDACTED]"
# Keys Jido's telemetry redaction treats as secret (FORMATS §2.2), as substrings of a key name.
SECRET_KEYS = (
    "token", "secret", "password", "passwd", "api_key", "apikey", "authorization",
    "credential", "private_key", "access_key",
)
_KEY = r"[\w.-]*(?:" + "|".join(SECRET_KEYS) + r")[\w.-]*"
_NOT_MASKED = r"(?!\[REDACTED\])"
# Environment-variable style names: MY_SERVICE_KEY, DEPLOY_TOKEN, STRIPE_SECRET, DB_PASSWORD.
_ENV_NAME = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|PASS|CREDENTIALS?)"
_ENV_KEY = re.compile(rf"^{_ENV_NAME}$")
_TOKEN_CHARS = "A-Za-z0-9_-"
_JWT_CHARS = "A-Za-z0-9_.+/=-"
_BASE64_CHARS = "A-Za-z0-9+/="

# (name, pattern): group 1 (may be empty) is kept in front of the mask, the rest of the match is
# masked. Order matters: whole key/value pairs first, so a token inside them is counted once.
DEFAULT_PATTERNS: list[tuple[str, str]] = [
    # "api_key": "value"  /  'token': 'value'  (JSON and Python reprs)
    ("json_secret", r"""(?i)(["'](?:""" + _KEY + r""")["']\s*:\s*)(?!["']\[REDACTED\]["'])"""
                    r"""(?:"[^"]*"|'[^']*')"""),
    # api_key=value, password: value, Authorization: Basic xyz (key=value secrets)
    ("kv_secret", r"""(?i)(\b""" + _KEY + r"""\s*[=:]\s*["']?)""" + _NOT_MASKED
                  + r"""(?:Bearer\s+|Basic\s+)?[^\s"',;&}]+"""),
    # MY_SERVICE_KEY=value, export DEPLOY_TOKEN="value", DB_PASSWORD: value
    ("env_secret", r"""(\b""" + _ENV_NAME + r"""\s*[=:]\s*["']?)""" + _NOT_MASKED
                   + r"""[^\s"',;&}]+"""),
    ("bearer", r"(?i)(\bBearer\s+)" + _NOT_MASKED + r"[A-Za-z0-9._~+/=-]{8,}"),
    # postgres://user:pass@10.0.0.5/db, redis://:pass@host (passwords Basic auth misses: @ $ !)
    ("dsn_password", r"""(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@"'<>]*:)""" + _NOT_MASKED
                     + r"""[^\s/"'<>]+(?=@(?:<\*>|[A-Za-z0-9.\-\[\]:_]+))"""),
    # curl -u user:pass, curl --user=user:pass
    ("curl_user", r"""(\bcurl\b[^\n]*?\s(?:-u|--user)(?:\s+|=)["']?[^\s:"']*:)""" + _NOT_MASKED
                  + r"""[^\s"']+"""),
    ("azure_account_key", r"(?i)(\bAccountKey\s*=\s*)" + _NOT_MASKED + r"[A-Za-z0-9+/=]{16,}"),
    ("github_pat", r"()\bgithub_pat_[A-Za-z0-9_]{20,}"),
    ("github_token", r"()\bgh[pousr]_[A-Za-z0-9]{20,}"),
    ("openai_key", r"()\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"),
    ("stripe_key", r"()\b[rsp]k_(?:live|test)_[A-Za-z0-9]{10,}"),
    ("google_api_key", r"()\bAIza[0-9A-Za-z_-]{30,}"),
    ("huggingface_token", r"()\bhf_[A-Za-z0-9]{20,}"),
    ("npm_token", r"()\bnpm_[A-Za-z0-9]{30,}"),
    ("slack_token", r"()\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("jwt", r"()\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    # (a log template's `<*>` stands for a mined-away domain: the local part is still personal)
    ("email", r"()\b[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b|<\*>)"),
]
_QUOTED = {"json_secret"}  # masked as "[REDACTED]" with its quotes: JSON text stays valid

# A PEM private key, to its END marker or, when the text was cut before it, to the end.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
    r"|PuTTY-User-Key-File-\d[\s\S]*?(?:Private-MAC: *[0-9a-f]+|\Z)")

# Long hex runs; the lengths of ids and digests (trace ids, commits, sha256, sha512) are kept
# unless a credential word stands right before them.
_HEX = re.compile(r"(?<![\w-])(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{32,}(?![\w-])")
_DIGEST_LENGTHS = (32, 40, 64, 128)
_CREDENTIAL_BEFORE = re.compile(
    r"(?i)(?:token|secret|passw(?:or)?d|api[_ -]?key|access[_ -]?key|\bauth(?!or)\w*|credentials?"
    r"|bearer|\bkey)[\"']?\s*(?:[:=]|\bis\b)?\s*[\"']?$")

# Long opaque tokens for the entropy check: base64 / url-safe alphabet, 40 characters or more.
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{40,}(?![A-Za-z0-9+/=_-])")
ENTROPY_MIN_LENGTH = 40
ENTROPY_LIMIT = 4.5  # bits per character, detect-secrets' default for base64


@dataclass
class _Rule:
    """One detector: `mode` is `prefix` (group 1 kept, the rest masked), `group` (only group 1
    masked) or `token` (the match masked, grown over adjacent `grow` characters)."""

    name: str
    regex: re.Pattern[str]
    mode: str = "prefix"
    grow: str = ""
    check: Callable[[re.Match[str]], bool] | None = None
    detector: str = "incidentlab"


# detect-secrets plugins used to find values: (module, class, mode). `group`
# plugins capture the secret in group 1; `token` plugins match the token itself (grown over the
# token's characters, since some of their patterns stop short, e.g. Slack's lower-case tail).
_DS_PLUGINS: list[tuple[str, str, str]] = [
    ("aws", "AWSKeyDetector", "group?"),
    ("azure_storage_key", "AzureStorageKeyDetector", "token"),
    ("basic_auth", "BasicAuthDetector", "group"),
    ("cloudant", "CloudantDetector", "group"),
    ("discord", "DiscordBotTokenDetector", "token"),
    ("github_token", "GitHubTokenDetector", "token"),
    ("gitlab_token", "GitLabTokenDetector", "token"),
    ("ibm_cloud_iam", "IbmCloudIamDetector", "group"),
    ("ibm_cos_hmac", "IbmCosHmacDetector", "group"),
    ("jwt", "JwtTokenDetector", "token"),
    ("mailchimp", "MailchimpDetector", "token"),
    ("npm", "NpmDetector", "group"),
    ("openai", "OpenAIDetector", "token"),
    ("pypi_token", "PypiTokenDetector", "token"),
    ("sendgrid", "SendGridDetector", "token"),
    ("slack", "SlackDetector", "token"),
    ("softlayer", "SoftlayerDetector", "group"),
    ("square_oauth", "SquareOAuthDetector", "token"),
    ("stripe", "StripeDetector", "token"),
    ("telegram_token", "TelegramBotTokenDetector", "token"),
    ("twilio", "TwilioKeyDetector", "token"),
]
_EXACT = {"TelegramBotTokenDetector", "TwilioKeyDetector"}
_BASE64 = {"AzureStorageKeyDetector"}
# Left out: ArtifactoryDetector's `AP[0-9A-F]...` (matches upper-case words), IPPublicDetector
# (addresses are evidence), KeywordDetector (replaced by the key/value rules above) and the
# entropy plugins in ad-hoc mode (they flag "and", "export").


def _ds_name(cls: type) -> str:
    return "ds:" + re.sub(r"[^a-z0-9]+", "_", str(cls.secret_type).lower()).strip("_")


def _bounded(m: re.Match[str]) -> bool:
    """A token-shaped match that starts inside a longer word is not that token."""
    start = m.start()
    return start == 0 or not m.string[start - 1].isalnum()


def _exact(m: re.Match[str]) -> bool:
    """Bounded at both ends: for fixed-length shapes that ordinary text can hold (Telegram's
    `<digits>:<35 characters>`, Twilio's `SK<32>`), a longer token is something else."""
    end = m.end()
    return _bounded(m) and (end == len(m.string) or not re.match(r"[\w-]", m.string[end]))


@lru_cache(maxsize=1)
def _ds_rules() -> tuple[_Rule, ...]:
    import importlib

    from detect_secrets.plugins.jwt import JwtTokenDetector

    rules: list[_Rule] = []
    for module, cls_name, mode in _DS_PLUGINS:
        cls = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls_name)
        for regex in cls.denylist:
            this_mode = mode
            if mode.startswith("group"):
                this_mode = "group" if regex.groups else "token"
            check: Callable[[re.Match[str]], bool] | None = (
                _exact if cls_name in _EXACT else _bounded)
            grow = _BASE64_CHARS if cls_name in _BASE64 else _TOKEN_CHARS
            if cls is JwtTokenDetector:
                grow = _JWT_CHARS

                def check(m: re.Match[str]) -> bool:
                    return _bounded(m) and JwtTokenDetector.is_formally_valid(
                        _grown(m.string, m.start(), m.end(), _JWT_CHARS)[2])
            if this_mode == "group":
                check, grow = None, ""
            rules.append(_Rule(_ds_name(cls), regex, this_mode, grow, check, "detect-secrets"))
    return tuple(rules)


@lru_cache(maxsize=8)
def _char_class(chars: str) -> re.Pattern[str]:
    return re.compile(f"[{chars}]")


def _grown(text: str, start: int, end: int, chars: str) -> tuple[int, int, str]:
    """The match grown forward over the token's characters (its start is a boundary)."""
    allowed = _char_class(chars)
    while end < len(text) and allowed.match(text[end]):
        end += 1
    return start, end, text[start:end]


def _entropy(data: str) -> float:
    """Shannon entropy per character, as detect-secrets' high-entropy plugins compute it."""
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    return float(Base64HighEntropyString().calculate_shannon_entropy(data))


def _long_token_is_secret(m: re.Match[str]) -> bool:
    token = m.group(0)
    if not (re.search(r"[A-Z]", token) and re.search(r"[a-z]", token)
            and re.search(r"[0-9]", token)):
        return False
    if "/" in token and any(re.fullmatch(r"[a-z][a-z._-]{2,}", part)
                            for part in token.split("/")):
        return False  # a path (src/agents/plugins/...), not a key
    if re.fullmatch(r"[0-9a-fA-F_-]+", token):
        return False  # hex ids and digests: the hex rule decides
    return _entropy(token) >= ENTROPY_LIMIT


def _hex_is_secret(m: re.Match[str]) -> bool:
    if len(m.group(0)) not in _DIGEST_LENGTHS:
        return True
    return bool(_CREDENTIAL_BEFORE.search(m.string[max(0, m.start() - 40):m.start()]))


@lru_cache(maxsize=1)
def _own_rules() -> tuple[_Rule, ...]:
    return tuple(_Rule(name, re.compile(p)) for name, p in DEFAULT_PATTERNS)


def _rules(defaults: bool) -> list[_Rule]:
    if not defaults:
        return []
    own = list(_own_rules())
    email = own.pop()  # last: after every rule that could see an @ (DSNs, curl -u)
    return [
        _Rule("private_key", _PRIVATE_KEY, "token", detector="detect-secrets marker, own span"),
        *_ds_rules(), *own,
        _Rule("high_entropy_token", _LONG_TOKEN, "token", check=_long_token_is_secret,
              detector="detect-secrets entropy"),
        _Rule("hex_token", _HEX, "token", check=_hex_is_secret),
        email,
    ]


def rules_patterns(path: str | Path | None = None) -> list[str]:
    """User redaction patterns of a rules file's [redaction] table (default: the shipped one)."""
    from .errors import UsageError

    source = (Path(path) if path is not None
              else Path(str(resources.files("incidentlab") / "rules" / "default_rules.toml")))
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read rules file {source}: {exc}", hint="check --rules") from exc
    return list(data.get("redaction", {}).get("patterns", []))


class Redactor:
    """Masks the built-in detectors plus user regular expressions: `patterns`, or when None the
    [redaction] patterns of the rules file (`rules_path`, default the shipped one). `count` is
    the number of values masked so far, `by_pattern` the same per detector name."""

    _CACHE_SIZE = 50_000

    def __init__(
        self, patterns: Iterable[str] | None = None, *, rules_path: Any = None,
        defaults: bool = True,
    ) -> None:
        if patterns is None:
            patterns = rules_patterns(rules_path)
        self._rules = _rules(defaults)
        for i, pattern in enumerate(patterns or []):
            self._rules.append(_Rule(f"user_{i + 1}", re.compile(f"(){pattern}")))
        self.count = 0
        self.by_pattern: dict[str, int] = {}
        self._cache: dict[str, tuple[str, dict[str, int]]] = {}

    def text(self, s: str | None) -> str | None:
        if not s:
            return s
        cached = self._cache.get(s)
        if cached is None:
            cached = self._scan(s)
            if len(self._cache) >= self._CACHE_SIZE:
                self._cache.clear()
            self._cache[s] = cached
        out, hits = cached
        for name, n in hits.items():
            self.count += n
            self.by_pattern[name] = self.by_pattern.get(name, 0) + n
        return out

    def _scan(self, s: str) -> tuple[str, dict[str, int]]:
        hits: dict[str, int] = {}
        for rule in self._rules:
            # Most strings match no rule: a search skips the substitution and its callback.
            if rule.regex.search(s) is None:
                continue
            n = 0

            def mask(m: re.Match[str], rule: _Rule = rule) -> str:
                nonlocal n
                if rule.check is not None and not rule.check(m):
                    return m.group(0)
                if rule.mode == "prefix":
                    if _is_counter(m.group(1)):
                        return m.group(0)
                    n += 1
                    return m.group(1) + (f'"{MASK}"' if rule.name in _QUOTED else MASK)
                if rule.mode == "group":
                    if not m.group(1) or m.group(1) == MASK:
                        return m.group(0)
                    n += 1
                    start, end = m.start(1) - m.start(), m.end(1) - m.start()
                    whole = m.group(0)
                    return whole[:start] + MASK + whole[end:]
                n += 1
                return MASK

            grown = rule.mode == "token" and rule.grow
            s = _sub_grown(rule, s, mask) if grown else rule.regex.sub(mask, s)
            if n:
                hits[rule.name] = hits.get(rule.name, 0) + n
        return s, hits

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

    def frame(self, df: pl.DataFrame, columns: Iterable[str] | None = None, *,
              escape: bool = False) -> pl.DataFrame:
        """Every string and list-of-string column (or the given ones) redacted; JSON-looking
        text parsed first so its structure stays valid. `escape`: control characters written
        as `\\xNN` too (text exports)."""
        return transform_frame(df, self, escape=escape, columns=columns)

    def _cell(self, value: str | None) -> str | None:
        return _cell(value, self, False)


def _sub_grown(rule: _Rule, s: str, mask: Callable[[re.Match[str]], str]) -> str:
    """regex.sub, but a token match masks the whole token it sits in."""
    out: list[str] = []
    pos = 0
    for m in rule.regex.finditer(s):
        if m.start() < pos:
            continue
        replaced = mask(m)
        if replaced == m.group(0):
            continue
        start, end, _ = _grown(s, m.start(), m.end(), rule.grow)
        start = max(start, pos)
        out.append(s[pos:start])
        out.append(MASK)
        pos = end
    if not out:
        return s
    out.append(s[pos:])
    return "".join(out)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    if _ENV_KEY.match(key):
        return True
    return any(k in lowered for k in SECRET_KEYS) and not _is_counter(key)


def _is_counter(key: str) -> bool:
    """`input_tokens`, `max_tokens`, `token_count`, `tokens_sent`: numbers about tokens, not
    secrets (unless the name also says secret, password, ...)."""
    name = key.strip().strip("\"':= ").lower()
    if any(k in name for k in SECRET_KEYS if k != "token"):
        return False
    return (name.endswith(("tokens", "_count", "token_count")) or name in ("tokenizer",)
            or _TOKENS_PART.search(name) is not None)


_TOKENS_PART = re.compile(r"(?:^|[_.-])tokens[_.-]")  # tokens_sent, n.tokens.in


def redact_text(s: str | None, patterns: Iterable[str] | None = None) -> str | None:
    return Redactor(patterns).text(s)


# --- control characters ---------------------------------------------------------------------

# C0 controls but tab and newline, DEL and C1: ESC starts ANSI / OSC sequences, CR overwrites a
# terminal line, BEL ends OSC 8 links, 0x9b is the one-byte CSI.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(value: Any) -> Any:
    """Control characters of a string (or of the strings in a JSON-like value) as `\\xNN`."""
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", value)
    if isinstance(value, dict):
        return {k: escape_controls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_controls(v) for v in value]
    return value


def _cell(value: str | None, redactor: Redactor | None, escape: bool) -> str | None:
    if not value:
        return value
    if value[:1] in "{[":
        try:
            parsed = json.loads(value)
        except ValueError:
            pass
        else:
            if redactor is not None:
                parsed = redactor.value(parsed)
            if escape:
                parsed = escape_controls(parsed)
            return json.dumps(parsed, ensure_ascii=False)
    if redactor is not None:
        value = redactor.text(value)
    return escape_controls(value) if escape else value


def transform_frame(df: pl.DataFrame, redactor: Redactor | None, *, escape: bool = False,
                    columns: Iterable[str] | None = None) -> pl.DataFrame:
    """String and list-of-string columns redacted (when a redactor is given) and escaped."""
    if (redactor is None and not escape) or df.is_empty():
        return df
    text_cols = list(columns) if columns is not None else [
        c for c, t in df.schema.items() if t == pl.String]
    list_cols = [] if columns is not None else [
        c for c, t in df.schema.items() if t == pl.List(pl.String)]
    replacements = [pl.Series(c, [_cell(v, redactor, escape) for v in df[c].to_list()],
                              dtype=pl.String) for c in text_cols]
    replacements += [pl.Series(c, [None if xs is None else [_cell(x, redactor, escape)
                                                            for x in xs]
                                   for xs in df[c].to_list()],
                               dtype=pl.List(pl.String)) for c in list_cols]
    return df.with_columns(replacements) if replacements else df


# --- the names reports use ------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"(?i)(secret|token|passw|api[_-]?key|credential|auth(?!or)|private[_-]?key)")


def make_redactor(enabled: bool, rules_path: Any = None) -> Redactor | None:
    """The redactor for an output, or None when redaction was turned off."""
    return Redactor(rules_path=rules_path) if enabled else None


def looks_secret(name: str, value: Any) -> bool:
    """A parameter that must not be echoed: a secret-like name, or a value a redactor masks."""
    if value is None or value == "" or isinstance(value, bool | int | float):
        return False
    if _SECRET_NAME.search(name) and not _is_counter(name):
        return True
    text = value if isinstance(value, str) else str(value)
    return Redactor().text(text) != text


def mask_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: MASK if looks_secret(k, v) else v for k, v in params.items()}


def clean_text(redactor: Redactor | None, value: Any) -> Any:
    if redactor is None or not isinstance(value, str):
        return value
    return redactor.text(value)


def clean_frame(redactor: Redactor | None, df: pl.DataFrame) -> pl.DataFrame:
    """Redact every string and list-of-string column (JSON columns arrive as strings too)."""
    return transform_frame(df, redactor)


__all__ = [
    "DEFAULT_PATTERNS", "ENTROPY_LIMIT", "ENTROPY_MIN_LENGTH", "MASK", "SECRET_KEYS", "Redactor",
    "clean_frame", "clean_text", "escape_controls", "looks_secret", "make_redactor",
    "mask_params", "redact_text", "rules_patterns", "transform_frame",
]
