from __future__ import annotations

import pytest
from vitalsign.core import ConfigError
from vitalsign.core.config import instantiate, load_config


def test_env_reference_resolves_into_a_secret(toy, toy_config):
    config = load_config(toy_config(records=3))
    connector = instantiate(config.connector("toy"), config)
    assert connector.settings.token.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(connector.settings)


def test_literal_secret_is_refused_naming_the_setting(toy, tmp_path):
    path = tmp_path / "vitalsign.toml"
    path.write_text('[connectors.toy]\ntoken = "sk_live_literal"\n')
    config = load_config(path)
    with pytest.raises(ConfigError) as err:
        instantiate(config.connector("toy"), config)
    message = str(err.value)
    assert "connectors.toy.token" in message
    assert "sk_live_literal" not in message


def test_missing_environment_variable_names_setting_and_variable(toy, toy_config, monkeypatch):
    monkeypatch.delenv("TOY_TOKEN")
    config = load_config(toy_config())
    with pytest.raises(
        ConfigError, match=r"connectors\.toy\.token: environment variable TOY_TOKEN is not set"
    ):
        instantiate(config.connector("toy"), config)


def test_bad_value_and_unknown_setting_are_one_line_each(toy, toy_config):
    config = load_config(toy_config(records="many"))
    with pytest.raises(ConfigError, match=r"^connectors\.toy\.records: ") as err:
        instantiate(config.connector("toy"), config)
    assert "\n" not in str(err.value)
    config = load_config(toy_config(recrods=3))
    with pytest.raises(ConfigError, match=r"connectors\.toy\.recrods: unknown setting"):
        instantiate(config.connector("toy"), config)


def test_unknown_connector_type_lists_installed(toy, tmp_path):
    path = tmp_path / "vitalsign.toml"
    path.write_text('[connectors.crm]\ntype = "nosuch"\n')
    config = load_config(path)
    with pytest.raises(
        ConfigError, match=r"connectors\.crm: unknown connector type 'nosuch' \(installed: .*toy"
    ):
        instantiate(config.connector("crm"), config)


def test_store_url_precedence(tmp_path, monkeypatch):
    path = tmp_path / "vitalsign.toml"
    path.write_text('[store]\nurl = "sqlite:///from-file.db"\n')
    assert load_config(path).store_url == "sqlite:///from-file.db"
    monkeypatch.setenv("VITALSIGN_STORE", "sqlite:///from-env.db")
    assert load_config(path).store_url == "sqlite:///from-env.db"
    assert load_config(path, store_url="sqlite:///from-flag.db").store_url == "sqlite:///from-flag.db"


def test_config_discovery(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config().path is None  # defaults without a file
    (tmp_path / "vitalsign.toml").write_text("[metrics]\ncurrency = 'eur'\n")
    assert load_config().metrics["currency"] == "eur"
    other = tmp_path / "other.toml"
    other.write_text("[metrics]\ncurrency = 'gbp'\n")
    monkeypatch.setenv("VITALSIGN_CONFIG", str(other))
    assert load_config().metrics["currency"] == "gbp"
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_invalid_toml_and_unknown_section(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    odd = tmp_path / "odd.toml"
    odd.write_text("[stores]\nurl='x'\n")
    with pytest.raises(ConfigError, match=r"unknown config section \[stores\]"):
        load_config(odd)
