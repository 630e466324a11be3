"""`info` redacts quarantined records and load errors by default, before it cuts them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from incidentlab.cli import main

TOKEN = "ghp_" + "Z" * 16 + "0123456789abcdef0123"
# A bad line whose secret starts before the 120-character cut and ends after it.
PEM = ("-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEpAIBAAKCAQEA" * 12
       + "\n-----END RSA PRIVATE KEY-----")


def _log(tmp_path: Path) -> Path:
    path = tmp_path / "app.jsonl"
    good = {"time": "2026-03-01T10:00:00Z", "level": "error", "msg": "ok line"}
    lines = [json.dumps(good), json.dumps(good),
             '{"time": "2026-03-01T10:00:01Z", "msg": "token ' + TOKEN + '", broken',
             '{"pad": "' + "x" * 80 + '", "key": ' + json.dumps(PEM) + ', oops']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_info_masks_quarantined_text_by_default(ingest_into, tmp_path):
    result = ingest_into(_log(tmp_path), tz="UTC")
    assert result.scalar("SELECT count(*) FROM _load_warnings") == 2
    shown = CliRunner().invoke(main, ["info", "--db", str(result.db), "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    raws = [w["raw"] for w in data["warnings"]]
    assert len(raws) == 2 and all(len(r) <= 120 for r in raws)
    assert TOKEN not in shown.output and "MIIEpAIBAAKCAQEA" not in shown.output
    assert any("[REDACTED]" in r for r in raws)
    table = CliRunner().invoke(main, ["info", "--db", str(result.db)])
    assert table.exit_code == 0 and TOKEN not in table.output
    plain = CliRunner().invoke(main, ["info", "--db", str(result.db), "--json", "--no-redact"])
    assert TOKEN in plain.output
