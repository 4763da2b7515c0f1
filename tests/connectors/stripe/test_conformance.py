"""The Stripe connector passes the connector conformance kit, like any third-party plugin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import respx
from vitalsign.testing import ConnectorConformance, ConnectorHarness
from vitalsign.testing.fakes.stripe import FakeStripe, ts

KEY = "sk_test_51ConformanceKitKey000000"
BASE_URL = "https://conformance.stripe.test"


class StripeHarness(ConnectorHarness):
    connector_type = "stripe"

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        env["STRIPE_CONFORMANCE_KEY"] = KEY
        return {
            "api_key": "${STRIPE_CONFORMANCE_KEY}",
            "base_url": BASE_URL,
            "page_size": 2,
            "rate_limit": 0,
            "account_key": "metadata.account_id",
        }

    @contextmanager
    def source(self) -> Iterator[FakeStripe]:
        fake = FakeStripe(KEY, clock=lambda: ts("2026-06-01"), seed=3)
        product = fake.create_product("Team")
        price = fake.create_price(product["id"], 1500, nickname="Seat")
        fake.create_coupon(percent_off=10, duration="once")
        for i in range(12):  # 6 pages of 2: more than one batch, so the resume check can interrupt
            cus = fake.create_customer(
                email=f"ops@company{i}.com", name=f"Company {i}", metadata={"account_id": f"A{i}"}
            )
            fake.create_subscription(cus["id"], [(price["id"], i + 1)], start=ts("2026-01-01"))
        fake.advance(ts("2026-03-01"))
        with respx.mock(assert_all_called=False) as router:
            router.route(host="conformance.stripe.test").mock(side_effect=fake.httpx_handler)
            yield fake


class TestStripeConformance(ConnectorConformance):
    @pytest.fixture
    def harness(self) -> ConnectorHarness:
        return StripeHarness()
