"""`vitalsign check hubspot`: the path a user takes first, through the real command line."""

from __future__ import annotations

import pytest
from vitalsign.core.cli import main


def run_check(tmp_path, fake, capsys) -> tuple[int, str, str]:
    config = tmp_path / "vitalsign.toml"
    config.write_text(
        f'[connectors.hubspot]\naccess_token = "${{HUBSPOT_ACCESS_TOKEN}}"\nbase_url = "{fake.base_url}"\n'
    )
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "check", "hubspot"])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_check_reports_what_it_reached(tmp_path, fake, capsys, monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", fake.token)
    code, out, _ = run_check(tmp_path, fake, capsys)
    assert code == 0
    assert out.startswith("hubspot: ok (")
    assert "tickets" in out
    assert {p for _, p in fake.requests} >= {
        "/crm/v3/objects/tickets",
        "/crm/v3/owners",
        "/crm/v3/pipelines/tickets",
    }


def test_check_with_a_wrong_token_is_one_clear_line(tmp_path, fake, capsys, monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "wrong-token-93e1f0")
    code, out, err = run_check(tmp_path, fake, capsys)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: hubspot: access token rejected (401): Authentication credentials not found")
    assert "wrong-token-93e1f0" not in err
