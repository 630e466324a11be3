"""Nothing secret leaves the tool: token shapes planted in evidence of several loader families
appear in no default output (exports, CLI --json, the report HTML, info), and clean text is left
exactly as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from incidentlab.cli import main
from incidentlab.redaction import MASK, Redactor

# Built from pieces so the file itself does not look like a leaked credential to scanners.
SHAPES = {
    "github_ghp": "ghp_" + "R8x2Lq9ZpT4mVb7Nc1Kd5Wf3Hy6Js0Ga2Ue9",
    "github_pat": "github_pat_11ABCDE2F0" + "Zq8Lm3Np5Rt7Vx9Bc2Df4Gh6Jk8Mn0Pq2Rs4Tu6Vw8Xy0Za2Bc4De6Fg8",
    "openai": "sk-" + "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8Qa",
    "openai_project": "sk-proj-" + "Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk1Ll2Mm3Nn4Oo5Pp6",
    "anthropic": "sk-ant-api03-" + "Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd9Ss8Aa7Qq6Ww5Ee4Rr3-AbCdEfAA",
    "aws_access_key_id": "AKIA" + "Q3ZT7XK2PLM9WRV4",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq8Tq3LmNe",
    "slack": "xoxb-" + "2048163264128-4096819212345-Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7",
    "stripe": "sk_live_" + "51HxQk2LmNoPqRsTuVwXyZ0a1b2c3d4e5f6",
    "google": "AIza" + "SyD3k9Lm2Np8Qr4St6Uv0Wx2Yz4Ab6Cd8Ef",
    "gitlab": "glpat-" + "x9Yz8Wv7Ut6Sr5Qp4On3M",
    "huggingface": "hf_" + "QwErTyUiOpAsDfGhJkLzXcVbNm1234567890",
    "npm": "npm_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz",
    "azure_account_key": "q8Wz3Lk9Mn2Bv7Cx4Zl1Pq6Rt5Ys0Uw3Xe8Ab2Cd4Ef6Gh8Ij0Kl2Mn4Op6Qr8St0Uv2"
                         + "Wx4Yz6Ab8Cd0Ef2Gh4Ij6Kl8Mn0Op2Q==",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
           + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "pem_key_body": "MIIEowIBAAKCAQEA" + "7q9XkLm2Np4Rt6Vx8Zb0Dc2Fe4Hg6Jk8Ml0On2Pq4Rs6Tu8Vw0",
    "pem_cut_key_body": "MIIEpAIBAAKCAQEA" + "3z5Yx7Wv9Ut1Sr3Qp5On7Ml9Kj1Ih3Gf5Ed7Cb9Az1",
    "dsn_password": "Pg" + "Secr3t!x",
    "dsn_plain_password": "hunter" + "2hunter2",
    "curl_password": "cUrl" + "Pa55word",
    "env_key": "svc_" + "9f8e7d6c5b4a39281706ZZqq",
    "hex_token": "7f3a9c2e4b6d8f0a1c3e5b7d9f1a3c5e" + "7b9d1f3a5c7e",
    "bearer": "Zm9vYmFyYmF6" + "cXV4LXRva2VuLTEyMzQ1",
    "email": "ops.oncall" + "@acme-corp.example.com",
}
S = SHAPES
LINES = {
    "github_ghp": f"git push https://github.com/acme/app using {S['github_ghp']}",
    "github_pat": f"GH token is {S['github_pat']} for ci",
    "openai": f"openai client with {S['openai']}",
    "openai_project": f"key {S['openai_project']}",
    "anthropic": f"ANTHROPIC key was {S['anthropic']}.",
    "aws_access_key_id": f"aws configure set aws_access_key_id {S['aws_access_key_id']}",
    "aws_secret_access_key": f"aws_secret_access_key = {S['aws_secret_access_key']}",
    "slack": f"posting to slack with {S['slack']}",
    "stripe": f"charge via {S['stripe']}",
    "google": f"maps key {S['google']} rejected",
    "gitlab": f"clone with {S['gitlab']}",
    "huggingface": f"huggingface-cli login --token {S['huggingface']}",
    "npm": f"publish with npm token {S['npm']}",
    "azure_account_key": "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey="
                         f"{S['azure_account_key']};EndpointSuffix=core.windows.net",
    "jwt": f"cookie session={S['jwt']} expired",
    "dsn_password": f"connect postgres://app:{S['dsn_password']}@10.0.0.5:5432/prod failed",
    "dsn_plain_password": f"DATABASE_URL is mysql://root:{S['dsn_plain_password']}@192.168.1.20/db",
    "curl_password": f"curl -s -u deploy:{S['curl_password']} https://ci.internal/api",
    "env_key": f"export MY_SERVICE_KEY={S['env_key']}",
    "hex_token": f"webhook {S['hex_token']} registered",
    "bearer": f"curl -H 'Authorization: Bearer {S['bearer']}' https://api.example",
    "email": f"paged {S['email']} at 10:04",
}
PEM = ("-----BEGIN RSA PRIVATE KEY-----\n" + S["pem_key_body"] + "\n" + S["pem_key_body"][::-1]
       + "\n-----END RSA PRIVATE KEY-----")
# Cut the way ingest cuts a long message: the END marker never arrives.
PEM_CUT = "wrote ~/.ssh/id_ed25519: -----BEGIN OPENSSH PRIVATE KEY-----\n" + S["pem_cut_key_body"]
ONE_LINE = " | ".join(LINES.values())
PLANT = ONE_LINE + "\n" + PEM + "\n" + PEM_CUT
# Ordinary evidence no detector may touch: prose, paths, event ids, times, models, tools, ids.
CONTROL = ("deploy finished and export ran: event db6b4d091d903b5a:945:0 at "
           "2026-03-01T09:04:12.345678+00:00 model claude-3-5-sonnet-20241022 tool "
           "mcp__github__create_pull_request path /work/main/src/incidentlab/cli.py commit "
           "8e8d4ce5ad2dfae14cb26caf5d3cddebee929990 trace 4bf92f3577b34da6a3ce929d0e0e4736 "
           "input_tokens=5120 max_tokens: 4096 toolu_bdrk_01AE52DNTFXnbYCYZbNxhzWc")

SESSION = "7d1c0a52-3f7e-4b8e-9c41-2a6f0e9b1c55"
CB_SESSION = "01955a2e-7c1d-7b3e-9a10-3f6c2d9e8b01"


def _claude_code(root: Path) -> Path:
    path = root / "claude" / "projects" / "app" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    base = {"isSidechain": False, "userType": "external", "cwd": "/work/app",
            "sessionId": SESSION, "version": "2.1.39"}
    records = [
        {**base, "parentUuid": None, "type": "user", "uuid": "u1",
         "timestamp": "2025-11-20T10:00:00.000Z",
         "message": {"role": "user", "content": "why does the deploy fail?"}},
        {**base, "parentUuid": "u1", "type": "assistant", "uuid": "a1",
         "timestamp": "2025-11-20T10:00:05.000Z",
         "message": {"role": "assistant", "model": "claude-sonnet-4-5", "id": "msg_1",
                     "content": [{"type": "text", "text": "Found in the env file: " + PLANT}],
                     "usage": {"input_tokens": 10, "output_tokens": 5}}},
        {**base, "parentUuid": "a1", "type": "user", "uuid": "u2",
         "timestamp": "2025-11-20T10:00:09.000Z",
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                                  "content": PLANT, "is_error": True}]}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _codingbuddy(root: Path) -> Path:
    path = root / "ws" / ".codingbuddy" / "events.jsonl"
    path.parent.mkdir(parents=True)
    records = [
        {"seq_no": 1, "at": "2025-11-20T10:01:00Z", "session_id": CB_SESSION,
         "kind": {"type": "SessionStarted", "payload": {"session_id": CB_SESSION,
                                                        "workspace": "/home/dev/app"}}},
        {"seq_no": 2, "at": "2025-11-20T10:01:01Z", "session_id": CB_SESSION,
         "kind": {"type": "ChatTurn", "payload": {"message": {"role": "assistant",
                                                              "content": PLANT}}}},
        {"seq_no": 3, "at": "2025-11-20T10:01:02Z", "session_id": CB_SESSION,
         "kind": {"type": "ChatTurn", "payload": {"message": {"role": "user",
                                                              "content": CONTROL}}}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _json_log(root: Path) -> Path:
    path = root / "service" / "pino.ndjson"
    path.parent.mkdir(parents=True)
    records = [
        {"time": 1763632920000, "level": 50, "msg": PLANT, "pid": 7, "reqId": "q1"},
        {"time": 1763632921000, "level": 30, "msg": CONTROL, "pid": 7},
        {"time": 1763632922000, "level": 40, "msg": "retrying", "pid": 7,
         "env": {"MY_SERVICE_KEY": S["env_key"], "password": S["dsn_password"]},
         "headers": {"authorization": "Bearer " + S["bearer"]}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _text_log(root: Path) -> Path:
    path = root / "logs" / "app.log"
    path.parent.mkdir(parents=True)
    lines = [f"2025-11-20 10:02:{i:02d},000 ERROR worker: {line}"
             for i, line in enumerate(LINES.values())]
    lines.append("2025-11-20 10:02:40,000 INFO worker: " + CONTROL)
    lines.append("2025-11-20 10:02:41,000 ERROR worker: key dump " + PEM)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from incidentlab.ingest import ingest

    root = tmp_path_factory.mktemp("planted")
    evidence = [_claude_code(root), _codingbuddy(root), _json_log(root), _text_log(root)]
    db = root / "planted.duckdb"
    summary = ingest(evidence, db, tz="UTC")
    loaders = {f.loader for f in summary.files}
    assert {"claude_code", "codingbuddy.events_jsonl"} <= {
        name.split(".")[0] if name.startswith("claude") else name for name in loaders}, loaders
    assert len(loaders) == 4, loaders
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = " ".join(str(r) for r in con.sql("SELECT message, attrs FROM events").fetchall())
    finally:
        con.close()
    for name, value in SHAPES.items():  # the evidence really is in the store, verbatim
        assert value in stored, name
    return db


def _leaks(text: str) -> list[str]:
    """Shapes whose value, or a telling middle piece of it, appears in text."""
    found = []
    for name, value in SHAPES.items():
        core = max(re.findall(r"[A-Za-z0-9]+", value), key=len)
        piece = core[len(core) // 2 - 6: len(core) // 2 + 6] if len(core) >= 16 else value
        if value in text or piece in text or (name == "email" and "ops.oncall@" in text):
            found.append(name)
    return found


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code in (0, 1), (args, result.output)
    return result.output


def test_every_export_format_by_default(planted: Path, tmp_path: Path) -> None:
    for fmt, name in (("timesketch", "ts.jsonl"), ("jsonl", "e.jsonl"), ("csv", "e.csv"),
                      ("parquet", "pq")):
        out = tmp_path / name
        meta = json.loads(_invoke("export", "--db", str(planted), "--format", fmt, "--out",
                                  str(out), "--json"))
        assert meta["rows"] >= 10 and meta["redacted"] is True
        if out.is_dir():
            text = repr(duckdb.sql(f"SELECT * FROM read_parquet('{out}/**/*.parquet', "
                                   "hive_partitioning=true)").fetchall())
        else:
            text = out.read_text(encoding="utf-8")
        assert _leaks(text) == [], fmt
        assert MASK in text
        if fmt in ("jsonl", "csv"):
            assert CONTROL in text, f"{fmt}: clean text is exported as it was"


def test_cli_json_outputs_by_default(planted: Path) -> None:
    db = str(planted)
    timeline = _invoke("timeline", "--db", db, "--json", "--limit", "1000", "--include-debug",
                       "--include-mtime")
    data = json.loads(timeline)
    assert data["redacted_values"] >= len(SHAPES)
    messages = [e["message"] for e in data["events"]]
    assert CONTROL in messages, "a clean line is shown untouched"
    assert _leaks(timeline) == []
    for command in (["alerts", "--fail-on", "never"], ["replay"], ["incidents"], ["classify"],
                    ["usage"], ["info"]):
        output = _invoke(*command, "--db", db, "--json")
        json.loads(output)
        assert _leaks(output) == [], command
    table = _invoke("timeline", "--db", db, "--limit", "1000")
    assert _leaks(table) == []
    opted_out = _invoke("timeline", "--db", db, "--json", "--limit", "1000", "--no-redact")
    assert S["github_ghp"] in opted_out, "--no-redact shows evidence verbatim"


def test_report_html_by_default(planted: Path, tmp_path: Path) -> None:
    output = _invoke("report", "--db", str(planted), "--out", str(tmp_path / "report"),
                     "--notebook", "02_timeline", "--json")
    result = json.loads(output)
    html = Path(result["html"]).read_text(encoding="utf-8")
    notebook = Path(result["ipynb"]).read_text(encoding="utf-8")
    assert _leaks(html) == []
    assert _leaks(notebook) == [], "the executed notebook's outputs and metadata too"


def test_detectors_on_each_shape_and_clean_text() -> None:
    """Each planted line is masked on its own; which detector does it is pinned."""
    expected = {
        "github_ghp": "ds:github_token", "github_pat": "github_pat", "openai": "openai_key",
        "openai_project": "openai_key", "anthropic": "openai_key",
        "aws_access_key_id": "ds:aws_access_key", "aws_secret_access_key": "kv_secret",
        "slack": "ds:slack_token", "stripe": "ds:stripe_access_key",
        "google": "google_api_key", "gitlab": "ds:gitlab_token",
        "huggingface": "huggingface_token", "npm": "npm_token",
        "azure_account_key": "ds:azure_storage_account_access_key", "jwt": "ds:json_web_token",
        "dsn_password": "dsn_password", "dsn_plain_password": "ds:basic_auth_credentials",
        "curl_password": "curl_user", "env_key": "env_secret", "hex_token": "hex_token",
        "bearer": "kv_secret", "email": "email",
    }
    for name, line in LINES.items():
        redactor = Redactor()
        out = redactor.text(line)
        assert S[name] not in out and MASK in out, name
        assert list(redactor.by_pattern) == [expected[name]], (name, redactor.by_pattern)
    for text, name in ((PEM, "pem_key_body"), (PEM_CUT, "pem_cut_key_body")):
        redactor = Redactor()
        out = redactor.text(text)
        assert S[name] not in out and redactor.by_pattern == {"private_key": 1}
    assert Redactor().text(PEM_CUT) == "wrote ~/.ssh/id_ed25519: " + MASK, "masked to the end"
    clean = Redactor()
    assert clean.text(CONTROL) == CONTROL and clean.count == 0
