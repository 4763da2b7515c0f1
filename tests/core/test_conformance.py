"""The conformance kit proven on a connector of its own: the good one passes every check, and a
connector broken in one way each fails exactly the check that guards against it."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import respx
from vitalsign.core import (
    AuthenticationError,
    Batch,
    Connector,
    ConnectorSettings,
    HttpClient,
    SecretStr,
    Stream,
    hookimpl,
)
from vitalsign.testing import (
    CHECKS,
    ConformanceRun,
    ConnectorConformance,
    ConnectorHarness,
    FaultInjector,
    run_checks,
)

BASE_URL = "https://api.tiny.test"
TOKEN = "tiny-token-7d41c0a9e2b8"


# ----------------------------------------------------------------------------- a fake API


class FakeTinyApi:
    """A small CRM-like API: bearer auth, accounts listed by ``updated`` with keyset pages."""

    def __init__(self) -> None:
        self.faults = FaultInjector(auth_body={"error": {"message": "Invalid API token"}})
        self.accounts: list[dict[str, Any]] = [
            {
                "id": f"acc_{i:03d}",
                "name": f"Company {i}",
                "website": f"https://www.company{i}.com",
                "plan": "growth" if i % 2 else "starter",
                "created": "2025-11-02T09:00:00Z",
                "updated": 1_767_225_600 + i * 60,
            }
            for i in range(7)
        ]
        self.router = respx.mock(base_url=BASE_URL, assert_all_called=False)

    def __enter__(self) -> FakeTinyApi:
        self.router.__enter__()
        self.faults.install(self.router)
        self.router.get("/v1/me").mock(side_effect=self._me)
        self.router.get("/v1/accounts").mock(side_effect=self._accounts)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.router.__exit__(*exc)

    def _denied(self, request: httpx.Request) -> httpx.Response | None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": {"message": "Invalid API token"}})
        return None

    def _me(self, request: httpx.Request) -> httpx.Response:
        return self._denied(request) or httpx.Response(
            200, json={"workspace": "acme", "user": "ops@acme.test"}
        )

    def _accounts(self, request: httpx.Request) -> httpx.Response:
        denied = self._denied(request)
        if denied:
            return denied
        since = int(request.url.params.get("updated_since", 0))
        limit = int(request.url.params.get("limit", 100))
        after = request.url.params.get("starting_after")
        items = sorted((a for a in self.accounts if a["updated"] > since), key=lambda a: a["updated"])
        if after:
            ids = [a["id"] for a in items]
            items = items[ids.index(after) + 1 :]
        return httpx.Response(200, json={"data": items[:limit], "has_more": len(items) > limit})


# ----------------------------------------------------------------------------- a connector


class TinySettings(ConnectorSettings):
    api_token: SecretStr
    base_url: str = BASE_URL
    page_size: int = 100


class TinyClient:
    def __init__(self, settings: TinySettings, source: str) -> None:
        self.http = HttpClient(
            base_url=settings.base_url,
            source=source,
            headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"},
            retry=settings.retry_policy(),
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.get_json(path, params=params)

    def close(self) -> None:
        self.http.close()


class AccountsStream(Stream):
    name = "accounts"
    table = "source_accounts"
    cursor_field = "updated"

    def __init__(self, client: Any, page_size: int) -> None:
        self.client = client
        self.page_size = page_size

    def record(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "source_id": item["id"],
            "kind": "company",
            "name": item["name"],
            "domain": item["website"],
            "created_at": item["created"],
            "properties": {"plan": item["plan"]},
        }

    def page_cursor(self, since: int, last: dict[str, Any], has_more: bool) -> Any:
        if has_more:
            return {"updated_since": since, "starting_after": last["id"]}
        return {"updated_since": last["updated"]}

    def read(self, cursor: Any) -> Iterator[Batch]:
        state = cursor or {}
        since = int(state.get("updated_since", 0))
        after = state.get("starting_after")
        while True:
            params: dict[str, Any] = {"updated_since": since, "limit": self.page_size}
            if after:
                params["starting_after"] = after
            page = self.client.get("/v1/accounts", params)
            items = page["data"]
            if not items:
                return
            yield Batch(
                records=[self.record(i) for i in items],
                cursor=self.page_cursor(since, items[-1], page["has_more"]),
            )
            if not page["has_more"]:
                return
            after = items[-1]["id"]


class TinyConnector(Connector):
    type = "tiny"
    settings_model = TinySettings
    description = "a tiny CRM, for the conformance kit's own tests"
    stream_class: ClassVar[builtins.type[AccountsStream]] = AccountsStream

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            settings = self.settings
            assert isinstance(settings, TinySettings)
            self._client = TinyClient(settings, self.name)
        return self._client

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return [cls.stream_class]

    def check(self) -> str:
        me = self.client.get("/v1/me")
        return f"workspace {me['workspace']} as {me['user']}"

    def streams(self) -> list[Stream]:
        settings = self.settings
        assert isinstance(settings, TinySettings)
        return [self.stream_class(self.client, settings.page_size)]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# ----------------------------------------------------------------------------- broken variants


class PlainSecretSettings(TinySettings):
    api_token: str


class PlainSecretConnector(TinyConnector):
    type = "tiny_plain_secret"
    settings_model = PlainSecretSettings

    @property
    def client(self) -> Any:
        if self._client is None:
            token = self.settings.api_token
            wrapped = self.settings.model_copy(update={"api_token": SecretStr(token)})
            self._client = TinyClient(wrapped, self.name)
        return self._client


class LeakyConnector(TinyConnector):
    type = "tiny_leaky"

    def check(self) -> str:
        token = self.settings.api_token.get_secret_value()
        self.log.debug("checking with token %s", token)
        return super().check()


class OwnRetryClient:
    """Retries on its own with no wait: bypasses vitalsign.core.http."""

    def __init__(self, settings: TinySettings, source: str) -> None:
        self.source = source
        self.http = httpx.Client(
            base_url=settings.base_url,
            headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"},
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        for _ in range(5):
            response = self.http.get(path, params=params)
            if response.status_code in (429, 500, 502, 503):
                continue
            if response.status_code == 401:
                raise AuthenticationError(f"{self.source}: credentials rejected")
            return response.json()
        raise AuthenticationError(f"{self.source}: unavailable")

    def close(self) -> None:
        self.http.close()


class OwnRetryConnector(TinyConnector):
    type = "tiny_own_retry"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = OwnRetryClient(self.settings, self.name)
        return self._client


class LastBatchCursorStream(AccountsStream):
    def page_cursor(self, since: int, last: dict[str, Any], has_more: bool) -> Any:
        return None if has_more else {"updated_since": last["updated"]}


class NoResumeConnector(TinyConnector):
    type = "tiny_no_resume"
    stream_class = LastBatchCursorStream


class UnstableIdStream(AccountsStream):
    def record(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**super().record(item), "source_id": f"{item['id']}-{uuid.uuid4().hex[:6]}"}

    def read(self, cursor: Any) -> Iterator[Batch]:
        return super().read(None)


class UnstableIdConnector(TinyConnector):
    type = "tiny_unstable_ids"
    stream_class = UnstableIdStream


class RawErrorClient(TinyClient):
    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        if path == "/v1/me":
            response = self.http._client.get(path)
            response.raise_for_status()
            return response.json()
        return super().get(path, params)


class RawErrorConnector(TinyConnector):
    type = "tiny_raw_error"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = RawErrorClient(self.settings, self.name)
        return self._client


class ChattyConnector(TinyConnector):
    type = "tiny_chatty"

    def check(self) -> str:
        try:
            return super().check()
        except AuthenticationError:
            token = self.settings.api_token.get_secret_value()
            raise AuthenticationError(f"token {token} was rejected") from None


class UndeclaredCursorStream(Stream):
    """Says nothing about its cursor (inherits Stream's default)."""

    name = "accounts"
    table = "source_accounts"

    def __init__(self, client: Any, page_size: int) -> None:
        self.inner = AccountsStream(client, page_size)

    def read(self, cursor: Any) -> Iterator[Batch]:
        return self.inner.read(cursor)


class UndeclaredCursorConnector(TinyConnector):
    type = "tiny_undeclared_cursor"
    stream_class = UndeclaredCursorStream


class BadRecordStream(AccountsStream):
    def record(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**super().record(item), "created_at": "last tuesday"}


class BadRecordConnector(TinyConnector):
    type = "tiny_bad_records"
    stream_class = BadRecordStream


class SecretKeepingStream(AccountsStream):
    def record(self, item: dict[str, Any]) -> dict[str, Any]:
        record = super().record(item)
        record["properties"] = {"fetched_with": self.client.http._client.headers["Authorization"]}
        return record


class SecretKeepingConnector(TinyConnector):
    type = "tiny_keeps_secret"
    stream_class = SecretKeepingStream


class TrustedBadRecordStream(BadRecordStream):
    validated = True  # the engine skips validation: the kit must not


class TrustedBadRecordConnector(TinyConnector):
    type = "tiny_trusted_bad_records"
    stream_class = TrustedBadRecordStream


class PlanCollectingStream(AccountsStream):
    """Reads in a child process, yet leaves state on the connector for the next stream."""

    prefetch = 1
    read_in_process = True

    def __init__(self, client: Any, page_size: int, plans: set[str]) -> None:
        super().__init__(client, page_size)
        self.plans = plans

    def record(self, item: dict[str, Any]) -> dict[str, Any]:
        self.plans.add(item["plan"])
        return super().record(item)


class PlansStream(Stream):
    """One row per plan the accounts stream saw: empty when that stream read in a child."""

    name = "plans"
    table = "source_accounts"

    def __init__(self, plans: set[str]) -> None:
        self.plans = plans

    def read(self, cursor: Any) -> Iterator[Batch]:
        plans = sorted(self.plans)
        yield Batch(records=[{"source_id": f"plan:{p}", "kind": "plan", "name": p} for p in plans])


class StatefulProcessReadConnector(TinyConnector):
    type = "tiny_stateful_process_read"

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return [PlanCollectingStream, PlansStream]

    def streams(self) -> list[Stream]:
        settings = self.settings
        assert isinstance(settings, TinySettings)
        plans: set[str] = set()
        return [PlanCollectingStream(self.client, settings.page_size, plans), PlansStream(plans)]


VARIANTS: list[type[Connector]] = [
    TinyConnector,
    PlainSecretConnector,
    LeakyConnector,
    OwnRetryConnector,
    NoResumeConnector,
    UnstableIdConnector,
    RawErrorConnector,
    ChattyConnector,
    UndeclaredCursorConnector,
    BadRecordConnector,
    TrustedBadRecordConnector,
    SecretKeepingConnector,
    StatefulProcessReadConnector,
]


class TinyPlugin:
    @hookimpl
    def vitalsign_connectors(self) -> list[type[Connector]]:
        return VARIANTS


class TinyHarness(ConnectorHarness):
    connector_type = "tiny"
    plugin = TinyPlugin()

    def __init__(self, connector_type: str = "tiny") -> None:
        self.connector_type = connector_type

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        env["TINY_API_TOKEN"] = TOKEN
        return {"api_token": "${TINY_API_TOKEN}", "base_url": BASE_URL, "page_size": 3}

    @contextmanager
    def source(self) -> Iterator[FaultInjector]:
        with FakeTinyApi() as api:
            yield api.faults


# ----------------------------------------------------------------------------- the tests


class TestTinyConformance(ConnectorConformance):
    """The good connector passes the whole suite, as a plugin author's test module would."""

    @pytest.fixture
    def harness(self) -> ConnectorHarness:
        return TinyHarness()


@pytest.mark.parametrize(
    ("connector_type", "check", "message"),
    [
        ("tiny_plain_secret", "settings_declared_and_secrets_marked", "look like credentials"),
        ("tiny_leaky", "no_secret_in_logs_store_or_errors", "secret value appears in the logs"),
        ("tiny_keeps_secret", "no_secret_in_logs_store_or_errors", "secret value appears in the store"),
        ("tiny_own_retry", "rate_limits_and_server_errors_retried", "Retry-After: 7 was not honoured"),
        ("tiny_own_retry", "retries_exhausted_fail_cleanly", "not retried through vitalsign.core.http"),
        ("tiny_no_resume", "resumes_from_saved_cursor", "none before the last carries a cursor"),
        ("tiny_unstable_ids", "second_run_adds_no_rows", "changed row counts"),
        ("tiny_raw_error", "check_fails_cleanly_on_bad_credentials", "HTTPStatusError, not a ConnectorError"),
        ("tiny_chatty", "check_fails_cleanly_on_bad_credentials", "secret value appears"),
        ("tiny_undeclared_cursor", "streams_declared", "declare cursor_field"),
        ("tiny_bad_records", "records_validate", "created_at"),
        ("tiny_trusted_bad_records", "records_validate", "trusted streams"),
        ("tiny_stateful_process_read", "process_read_loads_the_same", "source_accounts: 9 vs 7 rows"),
    ],
)
def test_each_check_catches_its_fault(connector_type: str, check: str, message: str, tmp_path: Path) -> None:
    with ConformanceRun(TinyHarness(connector_type), tmp_path) as run, pytest.raises(AssertionError) as err:
        CHECKS[check](run)
    assert message in str(err.value)


def test_a_broken_connector_fails_only_its_checks(tmp_path: Path) -> None:
    names = ["streams_declared", "records_validate", "second_run_adds_no_rows", "resumes_from_saved_cursor"]
    outcome = run_checks(TinyHarness("tiny_no_resume"), tmp_path, names)
    failed = sorted(name for name, result in outcome.items() if result.startswith("failed"))
    assert failed == ["resumes_from_saved_cursor"], outcome


def test_the_run_restores_environment_and_retry_layer(tmp_path: Path) -> None:
    from vitalsign.core import http

    real = http.Retrying
    with ConformanceRun(TinyHarness(), tmp_path) as run:
        assert http.Retrying is not real
        assert run.secrets == [TOKEN]
    assert http.Retrying is real
    assert "TINY_API_TOKEN" not in os.environ


def test_importing_the_fakes_does_not_need_pytest() -> None:
    code = "import sys, vitalsign.testing.fakes; sys.exit('pytest' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
