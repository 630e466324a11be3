"""The rules behind claims against reality: what a success claim looks like in an agent's own
words, and how a verification (test, build, lint, git, file write) reads in tool calls and results.

Claims are read in Python (sections, quotes and negation need line state); the evidence
patterns are RE2 expressions for DuckDB's regexp functions, applied in SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- the agent's text ------------------------------------------------------------------------

# Where the full text of an agent message lives in attrs, per loader (message is cut at 300
# characters). The paths do not overlap between loaders; `message` is the last resort.
MESSAGE_TEXT_SQL = """coalesce(
  {a}.attrs->>'$.block.text',
  {a}.attrs->>'$.message.content[0].text',
  CASE WHEN json_type({a}.attrs->'$.message.content') = 'VARCHAR'
       THEN {a}.attrs->>'$.message.content' END,
  nullif(array_to_string(json_extract_string({a}.attrs, '$.payload.content[*].text'),
                         chr(10)), ''),
  {a}.attrs->>'$.payload.message',
  CASE WHEN json_type({a}.attrs->'$.content') = 'VARCHAR' THEN {a}.attrs->>'$.content' END,
  nullif(array_to_string(json_extract_string({a}.attrs, '$.content[*].text'), chr(10)), ''),
  {a}.attrs->>'$.text',
  {a}.attrs->>'$.args.content',
  {a}.attrs->>'$.args.final_thought',
  {a}.attrs->>'$.args.thought',
  {a}.attrs->>'$.thought',
  {a}.message)"""

# A coarse RE2 prefilter: messages that may hold a claim (the Python reader decides).
CANDIDATE_RE2 = (
    r"(?i)(pass(es|ed|ing)?\b|succeed|success|green|\bclean\b|0 failures|committed|pushed|"
    r"\bfixed|\bresolved|created|\bwrote\b|written|compiles|no (lint|type) errors)")

KINDS = ("tests", "checks", "build", "commit", "push", "file", "fixed")
KIND_LABEL = {
    "tests": "tests pass", "checks": "checks green", "build": "build succeeds",
    "commit": "committed", "push": "pushed", "file": "created / wrote a file",
    "fixed": "fixed",
}

_N = r"(?:\d+|all|every|the|both)"
_TESTS = r"(?:unit |integration |e2e |end-to-end |resource |live ?view |new |remaining |relevant )?"
# Each kind: phrases that assert success in the present or past (never "will pass", "to commit").
CLAIM_PATTERNS: dict[str, re.Pattern[str]] = {
    "tests": re.compile(
        rf"\b(?:(?:{_N}\s+)*{_TESTS}(?:tests?|specs?|test suites?|test cases?|test files?|suite)"
        r"(?:\s+(?:now|all|still|also|again|successfully|have|has|had|been))*\s+"
        r"(?:pass(?:es|ed|ing)?|succeed(?:s|ed)?|(?:are|is|were|was|now)\s+(?:now\s+|all\s+)?"
        r"(?:passing|green|successful)|(?:ran|run)\s+successfully)"
        r"|\b\d+\s+(?:tests?\s+)?passed\b(?!\s*,\s*[1-9]\d*\s+failed)"
        r"|\b\d+\s+(?:tests?|examples?|specs?)(?:\s*\+\s*\d+\s+doctests?)?,\s*0\s+failures?\b"
        r"|\b(?:pytest|jest|vitest|mix test|go test|cargo test|npm test|rspec)\s+"
        r"(?:now\s+)?(?:pass(?:es|ed)?|succeed(?:s|ed)?|is green|(?:is\s+)?clean))",
        re.IGNORECASE),
    "checks": re.compile(
        r"\b(?:all\s+(?:checks?\s+|quality checks\s+|ci\s+)?(?:are\s+|is\s+)?green"
        r"|(?:all\s+)?(?:the\s+)?(?:ci|checks?|quality checks|quality gates?|pre-commit(?: hooks?)?)"
        r"\s+(?:now\s+|all\s+)?(?:pass(?:es|ed|ing)?|(?:is|are)\s+(?:now\s+)?(?:green|passing|clean))"
        r"|(?:credo|ruff|eslint|mypy|pyright|flake8|pylint|clippy|lint(?:er|ing)?|type[- ]?check(?:s|ing)?"
        r"|dialyzer|rubocop|golangci-lint|tsc)\s+(?:is\s+|are\s+|now\s+|also\s+)*(?:clean|green|"
        r"pass(?:es|ed|ing)?|happy|succeeds?)"
        r"|no (?:lint|linting|type|typing|credo) (?:errors|issues|warnings)"
        r"|verification (?:passed|succeeded|is green))\b",
        re.IGNORECASE),
    "build": re.compile(
        r"\b(?:(?:the\s+)?(?:clean\s+|production\s+)?build\s+(?:now\s+)?(?:succeed(?:s|ed)?|pass(?:es|ed)?|"
        r"(?:is|was)\s+(?:now\s+)?(?:green|successful|clean)|works)"
        r"|(?:it|everything|the (?:code|project|app))\s+(?:now\s+)?compiles(?:\s+(?:cleanly|fine|"
        r"successfully|without (?:errors|warnings)))?"
        r"|compil(?:es|ed|ation (?:succeeds|succeeded|is clean))\s+(?:cleanly|successfully|"
        r"without (?:errors|warnings)))\b",
        re.IGNORECASE),
    "commit": re.compile(
        r"\b(?:(?:i|i've|we|we've|have|has|had|was|were|is|are|been|all|and|changes?|everything|"
        r"work|it|now)\s+)?committed\b"
        r"|\b(?:created|made)\s+(?:a|the|one|two|\d+)\s+(?:new\s+)?commits?\b",
        re.IGNORECASE),
    "push": re.compile(r"\bpushed\b", re.IGNORECASE),
    "file": re.compile(
        r"\b(?:created|wrote|written|saved|added)\b", re.IGNORECASE),
    "fixed": re.compile(
        r"\b(?:(?:i|i've|we|we've|has|have|is|are|was|were|been|now)\s+)+(?:fixed|resolved)\b"
        r"|^\s*(?:fixed|resolved)\b",
        re.IGNORECASE),
}

# Words that turn a success phrase into something else when they come shortly before it.
NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|neither|nor|cannot|can't|couldn't|didn't|don't|doesn't|"
    r"isn't|aren't|wasn't|weren't|haven't|hasn't|hadn't|won't|without|fail(?:s|ed|ing)?|"
    r"unable|instead of|rather than)\b", re.IGNORECASE)
NEGATION_WORDS = 5  # how many words before the phrase a negation still governs it
# Words anywhere earlier in the clause that make it a plan, a condition or a hedge.
NOT_ASSERTED = re.compile(
    r"\b(?:will|would|should|could|might|may|must|shall|need(?:s|ed)? to|let me|let's|lets|"
    r"going to|want(?:s|ed)? to|try(?:ing)? to|plan(?:s|ned)? to|about to|to (?:make sure|ensure|"
    r"verify|check|confirm|see)|ensure|make sure|verify|check (?:if|whether|that)|if|once|"
    r"until|unless|whether|expect(?:s|ed)?|hope(?:fully)?|seems?|appears?|suggests?|likely|"
    r"probably|presumably|assuming|so that|in order to|i'll|we'll|you'll|it'll|when)\b",
    re.IGNORECASE)
AFTER_NEGATION = re.compile(r"^\W*(?:yet|anymore|any more)\b", re.IGNORECASE)
# Section labels whose lines are a plan, criteria or a to-do list, not a report of what was done.
PLAN_LABEL = re.compile(
    r"\b(?:criteria|definition of done|requirements?|to-?do|to do|next steps?|plan|pending|goals?|"
    r"expected|acceptance|checklist|steps?|phase|testing strategy|rollback|estimate[sd]?|"
    r"optional|proposal|proposed|approach|success metrics?|milestones?|remaining|"
    r"open questions?|recommendations?|how to|instructions?)\b", re.IGNORECASE)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+(?P<h>.+?)|\*\*(?P<b>[^*]{1,80}?):?\*\*:?(?P<rest>.*)"
                      r"|(?P<l>[A-Z][\w /-]{1,60}):)\s*$")
_CHECKBOX = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[[ xX]\]")
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`([^`\n]*)`")
_QUOTED = re.compile(r"\"[^\"\n]*\s[^\"\n]*\"|“[^”\n]*”")
_CLAUSES = re.compile(r"(?<=[.!?;])\s+|\s+[-–—]\s+|\s+but\s+|\s+however,?\s+", re.IGNORECASE)
# A file named in a claim: a path with a directory or an extension.
_PATH = re.compile(r"(?<![\w/.-])((?:~|\.{1,2})?/?(?:[\w@.+-]+/)*[\w@+-][\w@.+-]*\.[A-Za-z][\w]{0,7}"
                   r"|(?:[\w@.+-]+/)+[\w@.+-]+)(?![\w/-])")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")
_SOURCE_OF = re.compile(r"\b(?:by|from|using|based on|via|copying|copied|out of)\b", re.IGNORECASE)
# Not files: abbreviations, versions, framework names (Vue.js), issue ids (gqc.6).
_NOT_PATHS = re.compile(r"^(?:(?i:e\.g|i\.e|etc|vs)|v?\d+(?:\.\d+)*|[A-Z][a-z]+\.js|[\w-]+\.\d+)$")


@dataclass(frozen=True)
class Claim:
    """One success claim found in a message: its kind, the quoted clause and named files."""

    kind: str
    quote: str
    targets: tuple[str, ...] = ()


def _strip(text: str) -> list[str]:
    """The message's own lines: fenced blocks, block quotes and quoted text removed.

    Inline code without spaces (a name or a path) is kept as plain text; inline code or
    double quotes around text with spaces are somebody else's words and are dropped.
    """
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            lines.append("")
            continue
        if fenced or line.lstrip().startswith(">"):
            lines.append("")
            continue
        line = _INLINE_CODE.sub(lambda m: m.group(1) if not re.search(r"\s", m.group(1)) else " ",
                                line)
        lines.append(_QUOTED.sub(" ", line))
    return lines


def _paths(text: str) -> list[str]:
    found = []
    for match in _PATH.finditer(text.replace("*", " ")):
        path = match.group(1).rstrip(".,:;")
        if path.startswith(("http", "www.")) or _NOT_PATHS.match(path):
            continue
        if path.endswith("/") or _EXTENSION.search(path):
            found.append(path)
    return found


def names_a_file(text: str) -> bool:
    """True when the text (a tool call's arguments) names a file path."""
    return bool(_paths(text))


def _targets(clause: str, following: list[str]) -> tuple[str, ...]:
    """The files a file claim names: in its clause, or (a clause ending in ':') the next line
    or the list that follows."""
    clause = _SOURCE_OF.split(clause, maxsplit=1)[0]  # "created b.txt by copying a.txt"
    own = _paths(clause)
    if own or not clause.rstrip().endswith(":"):
        return tuple(dict.fromkeys(own))
    listed: list[str] = []
    for line in following:
        if not line.strip():
            if listed:
                break
            continue
        if not _LIST.match(line):
            if not listed:
                listed.extend(_paths(line))
            break
        listed.extend(_paths(line)[:1])
    return tuple(dict.fromkeys(listed))


def _asserted(clause: str, start: int, end: int) -> bool:
    before = clause[:start]
    words = re.findall(r"[\w'’]+", before)
    if NEGATION.search(" ".join(words[-NEGATION_WORDS:]).replace("’", "'")):
        return False
    if NOT_ASSERTED.search(before.replace("’", "'")):
        return False
    return not AFTER_NEGATION.match(clause[end:])


def extract_claims(text: str | None) -> list[Claim]:
    """The success claims the text asserts: one per kind, in the order first made."""
    if not text:
        return []
    lines = _strip(text)
    found: list[Claim] = []
    plan = False
    blank_before = False
    for index, line in enumerate(lines):
        if not line.strip():
            blank_before = True
            continue
        heading = _HEADING.match(line)
        body = line
        if heading:
            label = heading.group("h") or heading.group("b") or heading.group("l") or ""
            plan = PLAN_LABEL.search(label) is not None
            # A label can be a claim itself ("**Tests passed**: 43 tests, 0 failures").
            body = "" if plan else f"{label}: {heading.group('rest') or ''}"
        elif blank_before and not _LIST.match(line):
            plan = False  # a new paragraph ends a labelled list
        blank_before = False
        if plan or _CHECKBOX.match(line):
            continue
        body = _LIST.sub("", body).replace("**", "").replace("__", "")
        for clause in _CLAUSES.split(body):
            clause = clause.strip()
            if not clause or clause.endswith("?"):
                continue
            for kind, pattern in CLAIM_PATTERNS.items():
                for match in pattern.finditer(clause):
                    if not _asserted(clause, match.start(), match.end()):
                        continue
                    targets = _targets(clause[match.start():], lines[index + 1:index + 12]) \
                        if kind == "file" else ()
                    if kind == "file" and not targets:
                        continue
                    found.append(Claim(kind, clause[:300], targets))
                    break
    # One claim per kind and message (the first clause; a file claim names every file).
    unique: dict[str, Claim] = {}
    for claim in found:
        first = unique.get(claim.kind)
        if first is None:
            unique[claim.kind] = claim
        elif claim.targets:
            unique[claim.kind] = Claim(claim.kind, first.quote,
                                       tuple(dict.fromkeys(first.targets + claim.targets)))
    return list(unique.values())


# --- the evidence ----------------------------------------------------------------------------

# Systems whose transcripts record every tool call the agent makes: a run of theirs without a
# test run is evidence that none ran. An aider history, for one, records no tool calls.
RECORDS_TOOL_CALLS = frozenset({"claude_code", "codex_cli", "gemini_cli", "openhands",
                                "swe_agent", "mini_swe_agent", "codingbuddy"})

# Streams that summarise their parent (Claude Code's compaction agent): their claims are about
# the parent run, so its evidence is looked for there (the suffix is cut off the stream).
SUMMARY_STREAM = r"/agent-acompact[^/]*$"

# The text of a tool call (command, arguments, patch) and of its result, per loader.
CALL_TEXT_SQL = """coalesce(
  ({a}.attrs->'$.block.input')::VARCHAR,
  ({a}.attrs->'$.message.content[0].input')::VARCHAR,
  {a}.attrs->>'$.payload.arguments',
  {a}.attrs->>'$.payload.input',
  ({a}.attrs->'$.payload.action')::VARCHAR,
  ({a}.attrs->'$.args')::VARCHAR,
  {a}.attrs->>'$.action',
  {a}.attrs->>'$.command',
  {a}.attrs->>'$.code',
  {a}.message, '')"""
RESULT_TEXT_SQL = """coalesce(
  CASE WHEN json_type({a}.attrs->'$.block.content') = 'VARCHAR' THEN {a}.attrs->>'$.block.content'
  END,
  nullif(array_to_string(json_extract_string({a}.attrs, '$.block.content[*].text'), chr(10)), ''),
  CASE WHEN json_type({a}.attrs->'$.message.content[0].content') = 'VARCHAR'
       THEN {a}.attrs->>'$.message.content[0].content' END,
  nullif(array_to_string(json_extract_string({a}.attrs, '$.message.content[0].content[*].text'),
                         chr(10)), ''),
  {a}.attrs->>'$.payload.output',
  nullif(array_to_string(json_extract_string({a}.attrs,
         '$.result[*].functionResponse.response.output'), chr(10)), ''),
  {a}.attrs->>'$.resultDisplay',
  CASE WHEN json_type({a}.attrs->'$.content') = 'VARCHAR' THEN {a}.attrs->>'$.content' END,
  {a}.message, '')"""

_GIT = r"\bgit\s+(?:-[Cc]\s+\S+\s+|--?[\w-]+(?:=\S+)?\s+)*"
TEST_COMMAND = (
    r"(?i)(\bpy\.?test\b|python3?\s+-m\s+(pytest|unittest)|\btox\b|\bnox\b|"
    r"\b(npm|pnpm|yarn|bun)\s+(run\s+)?test\b|\bnpx\s+(jest|vitest|mocha|playwright\s+test)|"
    r"\b(jest|vitest|mocha)\b|\bgo\s+test\b|\bcargo\s+(test|nextest)\b|\bmix\s+test\b|\brspec\b|"
    r"\brake\s+test\b|\bphpunit\b|\bdotnet\s+test\b|\bgradlew?\s+\S*test|\bmvn\s+\S*test|"
    r"\bmake\s+(test|check)\b|\bctest\b|\bdeno\s+test\b|\bbun\s+test\b|\bmix\s+quality\b)")
BUILD_COMMAND = (
    r"(?i)(\b(npm|pnpm|yarn|bun)\s+(run\s+)?build\b|\btsc\b|\bcargo\s+build\b|\bgo\s+build\b|"
    r"\bmix\s+compile\b|\bgradlew?\s+(build|assemble)|\bmvn\s+(package|compile|install)|"
    r"\bdotnet\s+build\b|\bvite\s+build\b|\bnext\s+build\b|\bpython3?\s+-m\s+build\b|"
    r"\bcmake\s+--build\b|\bmake\b)")
LINT_COMMAND = (
    r"(?i)(\bruff\b|\bflake8\b|\bpylint\b|\bmypy\b|\bpyright\b|\beslint\b|"
    r"\b(npm|pnpm|yarn)\s+(run\s+)?(lint|typecheck|type-check|check)\b|\bcredo\b|\bdialyzer\b|"
    r"\bgolangci-lint\b|\bgo\s+vet\b|\bcargo\s+clippy\b|\brubocop\b|\bmix\s+format\s+--check|"
    r"\bprettier\s+--check|\bbiome\s+(check|lint)|\bpre-commit\s+run\b)")
# A script the agent ran itself (its own asserts may be its tests): not a test runner's verdict.
SCRIPT_RUN = (r"(?i)(\b(python3?|node|ruby|perl|bash|sh|tsx|ts-node|php)\s+(-\w+\s+)*\S+\."
              r"(py|js|mjs|cjs|ts|rb|pl|sh|php)\b|\b(deno|bun)\s+run\b|\bgo\s+run\b|"
              r"\bcargo\s+run\b|^\s*\./\S+)")
COMMIT_COMMAND = _GIT + r"commit\b"
PUSH_COMMAND = _GIT + r"push\b"
# Tools that write a file (name as the loaders store it), and shell that writes one.
WRITE_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit", "write_file", "replace", "edit",
               "create", "insert", "str_replace_editor", "str_replace_based_edit_tool",
               "apply_patch", "edit_file", "write", "create_file", "FileWriteAction",
               "FileEditAction")
SHELL_WRITE = r"(>|\btee\b|\btouch\b|\bcp\b|\bmv\b|\bsed\s+-i|\binstall\b|\bln\b)"


def writes_file(tool: str | None, arguments: str, command: str, name: str) -> bool:
    """True when a write tool's arguments name the file, or a shell command writes it (a
    redirection, tee, touch, sed -i, or the destination of cp / mv / install / ln); a file
    merely mentioned in a command (a commit message, a cat) is not written by it."""
    if tool in WRITE_TOOLS:
        return name in arguments or name in command
    target = rf"[\"']?(?:[^\s\"'|;&]*/)?{re.escape(name)}[\"']?(?=$|[\s|;&)])"
    pattern = (rf"(?:(?<![0-9&<])>>?\s*|\btee\s+(?:-a\s+)?|\btouch\s+(?:\S+\s+)*|"
               rf"\bsed\s+-i\S*\s+(?:\S+\s+)*|"
               rf"\b(?:cp|mv|install|ln)\s+(?:-\S+\s+)*(?:\S+\s+)+){target}")
    return re.search(pattern, command, re.MULTILINE) is not None

# Test summaries as runners print them: failures first (a summary with any failure is red).
TEST_FAILED = (
    r"(?im)(\b[1-9]\d*\s+(failures?|failed|failing|errors?)\b|^FAILED\b|^FAIL\b|--- FAIL|"
    r"test result: FAILED|Tests?:\s+[1-9]\d*\s+failed|Test Files\s+[1-9]\d*\s+failed|"
    r"== Compilation error|\bCompileError\b|^ERROR:|SyntaxError|ERRORS? =+|collection errors?)")
TEST_PASSED = (
    r"(?im)(\b\d+\s+(tests?|examples?|specs?|doctests?)(,\s*\d+\s+\w+)*,\s*0\s+failures?\b|"
    r"\b\d+\s+passed\b|test result: ok\b|^ok\s+\S+|Tests?:\s+\d+\s+passed|\b\d+\s+passing\b|"
    r"^OK(\s+\(.*\))?\s*$|\ball tests passed\b)")
BACKGROUND = r"(?i)(running in background|process running with session id|still running)"
SESSION_RUNNING = r"Process running with session ID (\d+)"
SESSION_EXITED = r"Process exited with code -?\d+"
COMMIT_DONE = r"(?m)(^\[[^\]\n]+ [0-9a-f]{7,40}\]|^\s*\d+ files? changed\b)"
COMMIT_NOTHING = r"(?i)(nothing to commit|nothing added to commit|no changes added to commit)"
PUSH_FAILED = r"(?i)(\[rejected\]|\[remote rejected\]|failed to push|error: src refspec|" \
              r"permission denied|could not read from remote)"
PUSH_DONE = r"(?im)(^\s*[0-9a-f]{7,40}\.\.\.?[0-9a-f]{7,40}\s+\S+\s+->\s+\S+|\[new branch\]|" \
            r"everything up-to-date|^\s*\+?\s*\S+\s+\S+\s+->\s+\S+\s*$)"
# Summaries specific enough to count as a test result whatever printed them (a TaskOutput or a
# `tail` of a background run's log): ExUnit, pytest, unittest, jest/vitest, cargo, go.
TEST_SUMMARY_FAILED = (
    r"(?im)(\b\d+\s+tests?(,\s*\d+\s+\w+)*,\s*[1-9]\d*\s+failures?\b|"
    r"^=+ .*\b[1-9]\d*\s+(failed|errors?)\b.* in [\d.]+s.*=+\s*$|^FAILED \((failures|errors)=|"
    r"^\s*Tests?:?\s+[1-9]\d*\s+failed|^\s*Test Files\s+[1-9]\d*\s+failed|test result: FAILED\.|"
    r"^FAIL\s+\S+\s+[\d.]+s\s*$|== Compilation error in file \S*test)")
TEST_SUMMARY_PASSED = (
    r"(?im)(\b\d+\s+tests?(,\s*\d+\s+\w+)*,\s*0\s+failures?\b|"
    r"^=+ [^=\n]*\b\d+\s+passed\b[^=\n]* in [\d.]+s[^=\n]*=+\s*$|^Ran \d+ tests? in [\d.]+s\s+OK|"
    r"^Tests?:\s+\d+\s+passed,\s+\d+\s+total|^\s*Tests\s+\d+\s+passed\b(\s*\|\s*\d+\s+skipped)?"
    r"\s+\(\d+\)|test result: ok\.|^ok\s+\S+\s+[\d.]+s\s*$)")
LINT_CLEAN = (r"(?i)(found no issues|no issues found|all checks passed|\b0 errors\b|"
              r"found 0 errors|no problems|success: no issues)")
