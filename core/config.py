"""Configuration: ``vitalsign.toml`` (or ``--config`` / ``VITALSIGN_CONFIG``).

Secrets enter only as ``${ENV_VAR}`` references, resolved at load time and kept in ``SecretStr``;
every error names the setting (``connectors.stripe.api_key``) and never echoes a value.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .connector import Connector, ConnectorSettings
from .errors import ConfigError
from .store import DEFAULT_STORE_URL

CONFIG_FILENAME = "vitalsign.toml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_LEVEL = {"store", "connectors", "metrics", "identity", "health"}


@dataclass(frozen=True)
class ConnectorConfig:
    """One ``[connectors.NAME]`` section before validation against the connector's settings."""

    name: str
    type: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Config:
    path: Path | None
    store_url: str
    connectors: dict[str, ConnectorConfig] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    identity: Mapping[str, Any] = field(default_factory=dict)
    health: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """Relative file paths in connector settings are resolved against this folder."""
        return self.path.parent if self.path is not None else Path.cwd()

    def connector(self, name: str) -> ConnectorConfig:
        try:
            return self.connectors[name]
        except KeyError:
            known = ", ".join(sorted(self.connectors)) or "none configured"
            raise ConfigError(f"no connector {name!r} in the config ({known})") from None


def find_config_path(explicit: str | Path | None = None) -> Path | None:
    """``--config``, else ``VITALSIGN_CONFIG``, else ``./vitalsign.toml`` if present."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    env = os.environ.get("VITALSIGN_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"VITALSIGN_CONFIG: config file {path} does not exist")
        return path
    default = Path.cwd() / CONFIG_FILENAME
    return default if default.is_file() else None


def load_config(path: str | Path | None = None, *, store_url: str | None = None) -> Config:
    """Load and check the config; ``store_url`` (``--store``) wins over everything else."""
    config_path = find_config_path(path)
    data: dict[str, Any] = {}
    if config_path is not None:
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
    unknown = set(data) - _TOP_LEVEL
    if unknown:
        raise ConfigError(
            f"unknown config section [{sorted(unknown)[0]}] (expected one of {sorted(_TOP_LEVEL)})"
        )

    store = _table(data, "store")
    url = store_url or os.environ.get("VITALSIGN_STORE") or store.get("url") or DEFAULT_STORE_URL
    if not isinstance(url, str):
        raise ConfigError("store.url must be a string")
    url = interpolate(url, "store.url")

    connectors: dict[str, ConnectorConfig] = {}
    for name, section in _table(data, "connectors").items():
        if not isinstance(section, dict):
            raise ConfigError(f"connectors.{name} must be a table")
        settings = dict(section)
        ctype = settings.pop("type", name)
        if not isinstance(ctype, str):
            raise ConfigError(f"connectors.{name}.type must be a string")
        connectors[name] = ConnectorConfig(name=name, type=ctype, settings=settings)

    return Config(
        path=config_path,
        store_url=url,
        connectors=connectors,
        metrics=_table(data, "metrics"),
        identity=_table(data, "identity"),
        health=_table(data, "health"),
    )


def _table(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def interpolate(value: Any, setting: str) -> Any:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) with the environment's value."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            env = os.environ.get(name)
            if env is None:
                if default is not None:
                    return default
                raise ConfigError(f"{setting}: environment variable {name} is not set")
            return env

        return _ENV_REF.sub(replace, value)
    if isinstance(value, list):
        return [interpolate(item, f"{setting}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {k: interpolate(v, f"{setting}.{k}") for k, v in value.items()}
    return value


def build_settings(cfg: ConnectorConfig, connector_cls: type[Connector]) -> ConnectorSettings:
    """Validate one section against the connector's settings model."""
    model = connector_cls.settings_model
    secrets = set(model.secret_fields())
    values: dict[str, Any] = {}
    for key, raw in cfg.settings.items():
        setting = f"connectors.{cfg.name}.{key}"
        if (
            key in secrets
            and raw not in (None, "")
            and not (isinstance(raw, str) and _ENV_REF.fullmatch(raw.strip()))
        ):
            raise ConfigError(
                f"{setting} is a secret: give it as an environment reference like "
                f"${{{cfg.name.upper()}_{key.upper()}}}, not as a literal value"
            )
        values[key] = interpolate(raw, setting)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_input=False, include_url=False)[0]
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        elif error["type"] == "missing":
            message = "missing required setting"
        raise ConfigError(f"connectors.{cfg.name}.{location}: {message}") from None


def instantiate(cfg: ConnectorConfig, config: Config) -> Connector:
    """Build the configured connector instance ``cfg.name``."""
    from .registry import connector_types

    types = connector_types()
    cls = types.get(cfg.type)
    if cls is None:
        known = ", ".join(types) or "none installed"
        raise ConfigError(f"connectors.{cfg.name}: unknown connector type {cfg.type!r} (installed: {known})")
    settings = build_settings(cfg, cls)
    options = {"base_dir": config.base_dir, "identity": config.identity, "metrics": config.metrics}
    return cls(cfg.name, settings, options=options)


STARTER_CONFIG = """\
# vitalsign configuration. Secrets only as ${ENV_VAR} references: never write a key here.
# Docs: README.md (configuration) and docs/schema.md.

[store]
# Any SQLAlchemy URL. Overridden by --store or VITALSIGN_STORE.
url = "sqlite:///vitalsign.db"
# url = "postgresql+psycopg://vitalsign@localhost/vitalsign"

# Each [connectors.NAME] is one source; the type defaults to NAME.
# [connectors.stripe]
# api_key = "${STRIPE_API_KEY}"
# base_url = "https://api.stripe.com"
# account_key = "metadata.account_id"     # customer field holding your shared account key

# [connectors.hubspot]
# access_token = "${HUBSPOT_ACCESS_TOKEN}"
# account_key = "account_id"              # company property holding the shared key

# [connectors.amplitude]
# path = "exports/amplitude/**/*.json.gz" # files, or api_key/secret_key for the Export API
# account_key = "groups.company"          # where an event names its account

[identity]
# Extra free-mail domains that must never link records by email domain.
# free_mail_domains = ["example-mail.com"]

[metrics]
currency = "usd"
# gross_margin = 0.8                       # for LTV

# [health.weights]
# usage_trend = 25
# license_utilization = 15
# nps = 15
# support = 15
# billing = 15
# mrr_trend = 15
"""
