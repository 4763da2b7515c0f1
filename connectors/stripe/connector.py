"""The Stripe connector: settings in, one shared API client (rate limit, retries), six streams."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from vitalsign.core import Connector, RateLimiter, Stream

from .client import API_VERSION, StripeApi
from .settings import StripeSettings
from .streams import STREAMS

StreamClasses: TypeAlias = list[type[Stream]]  # here: inside the class `type` is the type name


class StripeConnector(Connector):
    """Stripe Billing: customers, products, prices, coupons, subscriptions (+ items) and invoices
    (+ lines). ``options`` may carry ``sleep`` and ``clock`` callables (tests inject them)."""

    type = "stripe"
    settings_model = StripeSettings
    description = "Stripe Billing: customers, catalogue, coupons, subscriptions and invoices"
    default_rate_limit = 25.0

    def __init__(
        self, name: str, settings: StripeSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, settings, options=options)
        self.settings: StripeSettings = settings
        self._api: StripeApi | None = None
        self.clock: Callable[[], float] = self.options.get("clock") or time.time

    @classmethod
    def stream_classes(cls) -> StreamClasses:
        return list(STREAMS)

    @property
    def api(self) -> StripeApi:
        if self._api is None:
            retry = self.settings.retry_policy()
            sleep = self.options.get("sleep")
            if sleep is not None:
                retry = dataclasses.replace(retry, sleep=sleep)
            self._api = StripeApi(
                self.settings,
                source=self.name,
                rate_limiter=RateLimiter(self.settings.rate_limit, sleep=sleep or time.sleep),
                retry=retry,
            )
        return self._api

    def check(self) -> str:
        self.api.get("/v1/customers", {"limit": 1})
        return f"Stripe API at {self.settings.base_url} (API version {API_VERSION}): key accepted"

    def streams(self) -> list[Stream]:
        return [cls(self.api, self.settings, source=self.name, clock=self.clock) for cls in STREAMS]

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
