"""The client wrapper: errors translated at the boundary, retries only through the shared layer."""

from __future__ import annotations

import socket
import threading

import pytest
from vitalsign.connectors.hubspot.client import HubSpotClient
from vitalsign.connectors.hubspot.settings import HubSpotSettings
from vitalsign.core import AuthenticationError, SourceRequestError, SourceUnavailableError


def make_client(base_url: str, token: str, **settings) -> HubSpotClient:
    values = {"requests_per_10s": 0, "search_per_second": 0, "max_retries": 3, **settings}
    return HubSpotClient(HubSpotSettings(access_token=token, base_url=base_url, **values), source="hubspot")


def one_line(message: str) -> bool:
    return "\n" not in message.strip() and "Traceback" not in message


def test_429_burst_waits_what_retry_after_says(fake, sleeps):
    fake.add_company(1, "Acme")
    fake.throttle(2, retry_after=7)
    client = make_client(fake.base_url, fake.token)
    page = client.list_page("companies", after=None, properties=["name"])
    assert [r["id"] for r in page["results"]] == ["1"]
    assert sleeps == [7.0, 7.0]


def test_server_errors_are_retried_then_given_up_with_one_line(fake, sleeps):
    fake.fail_next(502)
    client = make_client(fake.base_url, fake.token)
    assert client.pipelines("tickets") == {"results": []}
    assert len(sleeps) == 1

    fake.fail_next(503, times=50)
    with pytest.raises(SourceUnavailableError) as failed:
        client.owners_page(after=None)
    assert one_line(str(failed.value))
    assert "gave up after 4 attempts" in str(failed.value)


def test_dropped_connections_are_retried_by_the_shared_layer_not_urllib3(sleeps):
    """A server that hangs up on every request: one connection per attempt of *our* policy.
    With urllib3's default retries each attempt would open four."""
    accepted = []
    server = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.recv(65536)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    port = server.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", "fake-hubspot-token", max_retries=2)
    try:
        with pytest.raises(SourceUnavailableError) as failed:
            client.owners_page(after=None)
    finally:
        server.close()
    assert len(sleeps) == 2
    assert len(accepted) == 3
    assert one_line(str(failed.value))


def test_a_wrong_token_is_a_clear_one_line_error_without_the_token(fake, sleeps):
    client = make_client(fake.base_url, "wrong-token-4a1b9c")
    with pytest.raises(AuthenticationError) as failed:
        client.list_page("tickets", after=None, properties=[])
    message = str(failed.value)
    assert message.startswith("hubspot: access token rejected (401): Authentication credentials not found")
    assert "wrong-token-4a1b9c" not in message
    assert one_line(message)
    assert sleeps == []  # never retried


def test_an_expired_token_says_so(fake):
    fake.reject_credentials()
    client = make_client(fake.base_url, fake.token)
    with pytest.raises(AuthenticationError, match=r"\(401\): The OAuth token used to make this call expired"):
        client.properties("tickets")


def test_a_missing_scope_names_the_problem(fake):
    fake.fail_next(403)
    client = make_client(fake.base_url, fake.token)
    with pytest.raises(AuthenticationError, match="lacks a required scope"):
        client.pipelines("tickets")


def test_a_refused_request_carries_hubspots_message(fake):
    client = make_client(fake.base_url, fake.token)
    with pytest.raises(SourceRequestError) as failed:
        client.search_page("tickets", {"limit": 500, "after": "0"})
    assert failed.value.status_code == 400
    assert "limit must be at most 200" in str(failed.value)


def test_rate_limits_follow_the_settings(fake):
    client = make_client(fake.base_url, fake.token, requests_per_10s=190, search_per_second=4)
    assert (client.limiter.rate, client.search_limiter.rate) == (19.0, 4.0)
    client = make_client(fake.base_url, fake.token, requests_per_10s=190, rate_limit=3)
    assert client.limiter.rate == 3


def test_searches_wait_on_their_own_limiter(fake):
    client = make_client(fake.base_url, fake.token)
    taken = []

    class Counting:
        def __init__(self, name):
            self.name = name

        def acquire(self):
            taken.append(self.name)

    client.limiter, client.search_limiter = Counting("general"), Counting("search")
    client.search_page("tickets", {"limit": 10, "after": "0"})
    client.list_page("tickets", after=None, properties=[])
    client.associations("tickets", "companies", ["1"])
    assert taken == ["search", "general", "general"]
