"""The command line: exit codes, one-line errors, JSON output, accounts and status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from vitalsign.core.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.startswith("vitalsign ")


def test_init_writes_a_starter_that_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(capsys, "init")
    assert code == 0
    text = (tmp_path / "vitalsign.toml").read_text()
    assert "${STRIPE_API_KEY}" in text
    code, _, err = run(capsys, "init")
    assert code == 2
    assert "already exists" in err
    code, _, _ = run(capsys, "--store", f"sqlite:///{tmp_path / 's.db'}", "status")
    assert code == 0


def test_config_error_is_one_line_with_exit_2(tmp_path, capsys, toy, monkeypatch):
    config = tmp_path / "vitalsign.toml"
    config.write_text('[connectors.toy]\ntoken = "${TOY_TOKEN}"\nrecords = "lots"\n')
    code, _, err = run(capsys, "--config", str(config), "--store", f"sqlite:///{tmp_path / 's.db'}", "sync")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert err.startswith("error: connectors.toy.records:")
    assert "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    code, _, err = run(capsys, "--debug", "--config", str(tmp_path / "missing.toml"), "status")
    assert code == 2
    assert "Traceback" in err


def test_sync_status_and_accounts(tmp_path, capsys, toy, toy_config):
    config = toy_config(records=5, batch_size=2, bad_every=5)
    store = f"sqlite:///{tmp_path / 's.db'}"
    code, _, err = run(capsys, "--config", str(config), "--store", store, "sync")
    assert code == 0, err
    assert "toy: success, 7 rows, 1 quarantined" in err  # 3 companies + 4 contacts

    code, out, _ = run(capsys, "--config", str(config), "--store", store, "status", "--json")
    status = json.loads(out)
    assert status["runs"][0]["status"] == "success"
    assert status["row_counts"]["contacts"] == {"toy": 4}
    assert status["quarantine"] == [{"connector": "toy", "stream": "contacts", "records": 1}]
    assert status["unlinked_records"] == 1  # the gmail.com company
    assert {c["stream"]: c["cursor"] for c in status["cursors"]}["contacts"] == 5
    assert "s3cret-value" not in out

    code, out, _ = run(capsys, "--store", store, "accounts", "list", "--format", "json")
    accounts = json.loads(out)
    assert {a["key"] for a in accounts} == {"A-1", None}
    acme = next(a for a in accounts if a["key"] == "A-1")

    code, _, _ = run(capsys, "--store", store, "accounts", "link", "toy", "co2", str(acme["id"]))
    assert code == 0
    code, out, _ = run(capsys, "--store", store, "accounts", "show", str(acme["id"]), "--format", "json")
    shown = json.loads(out)[0]
    methods = {r["external_id"]: r["method"] for r in shown["linked_records"]}
    assert methods == {"co1": "key", "co2": "manual"}

    # a re-sync keeps the manual link
    run(capsys, "--config", str(config), "--store", store, "sync")
    code, out, _ = run(capsys, "--store", store, "accounts", "show", str(acme["id"]), "--format", "json")
    assert {r["external_id"] for r in json.loads(out)[0]["linked_records"]} == {"co1", "co2"}

    code, _, err = run(capsys, "--store", store, "accounts", "show", "999")
    assert code == 2
    assert "no account with id 999" in err
    code, _, err = run(capsys, "--store", store, "accounts", "link", "toy", "nope", "1")
    assert code == 2


def test_failed_stream_exits_1(tmp_path, capsys, toy, toy_config):
    config = toy_config(records=6, batch_size=2, fail_after=1)
    code, _, err = run(capsys, "--config", str(config), "--store", f"sqlite:///{tmp_path / 's.db'}", "sync")
    assert code == 1
    assert "error: toy: contacts: RuntimeError: toy source broke" in err


def test_unknown_metric_and_bad_period_exit_2(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 's.db'}"
    code, _, err = run(capsys, "--store", store, "metrics", "no_such_metric")
    assert code == 2
    assert "unknown metric 'no_such_metric'" in err
    code, _, err = run(capsys, "--store", store, "metrics", "mrr", "--start", "2026-13")
    assert code == 2
    assert "--start/--end" in err


def test_connectors_json_lists_builtin_origin(capsys):
    code, out, _ = run(capsys, "connectors", "--json")
    assert code == 0
    rows = {row["type"]: row for row in json.loads(out)}
    for builtin in ("stripe", "hubspot", "amplitude", "mixpanel", "segment", "files"):
        assert rows[builtin]["origin"] == "builtin"
        assert rows[builtin]["streams"], builtin
        assert all(stream["table"] for stream in rows[builtin]["streams"])
    assert rows["stripe"]["settings"]["api_key"] == {"required": True, "secret": True}


def test_sync_without_a_terminal_prints_plain_lines(tmp_path, toy_config):
    config = toy_config(records=3)
    runner = Path(__file__).with_name("run_toy_cli.py")
    result = subprocess.run(
        [
            sys.executable,
            str(runner),
            "--config",
            str(config),
            "--store",
            f"sqlite:///{tmp_path / 's.db'}",
            "sync",
        ],
        capture_output=True,
        text=True,
        env={"TOY_TOKEN": "s3cret-value", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(line.endswith("toy/contacts: started") for line in lines)
    assert any("toy/contacts: success, 3 rows" in line for line in lines)
    assert "\x1b[" not in result.stderr  # no terminal control codes in a log file
