"""The shared HTTP layer, through httpx with respx standing in for the API."""

from __future__ import annotations

import httpx
import pytest
import respx
from vitalsign.core import AuthenticationError, SourceRequestError, SourceUnavailableError
from vitalsign.core.http import HttpClient, RateLimiter, RetryPolicy, parse_retry_after

BASE = "https://api.example.test"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> HttpClient:
    policy = RetryPolicy(attempts=4, backoff=0.5, sleep=sleeps)
    return HttpClient(
        base_url=BASE, source="example", retry=policy, headers={"Authorization": "Bearer tok_secret"}
    )


@respx.mock
def test_429_waits_what_retry_after_says_then_succeeds(client, sleeps):
    route = respx.get(f"{BASE}/items").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}),
            httpx.Response(200, json={"data": [1, 2]}),
        ]
    )
    assert client.get_json("/items") == {"data": [1, 2]}
    assert route.call_count == 2
    assert sleeps.calls == [7.0]


@respx.mock
def test_5xx_backs_off_exponentially_and_gives_up(client, sleeps):
    route = respx.get(f"{BASE}/items").mock(return_value=httpx.Response(503, json={"message": "down"}))
    with pytest.raises(SourceUnavailableError, match="gave up after 4 attempts"):
        client.get_json("/items")
    assert route.call_count == 4
    assert len(sleeps.calls) == 3
    # jittered in [0.5, 1] x 0.5 * 2**n
    assert 0.25 <= sleeps.calls[0] <= 0.5
    assert 0.5 <= sleeps.calls[1] <= 1.0
    assert 1.0 <= sleeps.calls[2] <= 2.0


@respx.mock
def test_connection_errors_are_retried(client, sleeps):
    respx.get(f"{BASE}/items").mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={})])
    assert client.get_json("/items") == {}
    assert len(sleeps.calls) == 1


@respx.mock
def test_other_4xx_fails_at_once_with_the_api_message(client, sleeps):
    respx.get(f"{BASE}/items").mock(
        return_value=httpx.Response(400, json={"error": {"message": "No such parameter: colour"}})
    )
    with pytest.raises(SourceRequestError, match="No such parameter: colour") as err:
        client.get_json("/items")
    assert err.value.status_code == 400
    assert sleeps.calls == []


@respx.mock
def test_401_is_an_authentication_error_without_the_secret(client):
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(401, json={"message": "Invalid API key"}))
    with pytest.raises(AuthenticationError) as err:
        client.get_json("/items")
    assert "Invalid API key" in str(err.value)
    assert "tok_secret" not in str(err.value)


@respx.mock
def test_ok_statuses_are_returned(client):
    respx.get(f"{BASE}/export").mock(return_value=httpx.Response(404, text="no data"))
    assert client.request("GET", "/export", ok=(404,)).status_code == 404


@respx.mock
def test_stream_checks_status_before_reading_body(client, sleeps):
    respx.get(f"{BASE}/big").mock(
        side_effect=[
            httpx.Response(500, text="oops"),
            httpx.Response(200, content=b"line1\nline2\n"),
        ]
    )
    with client.stream("GET", "/big") as response:
        assert list(response.iter_lines()) == ["line1", "line2"]
    assert len(sleeps.calls) == 1


def test_rate_limiter_spaces_requests():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(10.0, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(12):
        limiter.acquire()
    # two free in the burst, then ten more at 10/s = 1 s of waiting
    assert sum(waits) == pytest.approx(1.0, abs=1e-6)


def test_parse_retry_after():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert parse_retry_after("soon") is None
