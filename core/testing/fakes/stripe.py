"""A stateful fake of the Stripe API: tests, benchmarks and ``vitalsign demo`` share it.

Three layers, kept apart so each use takes only what it needs:

- **state**: Stripe-shaped objects (API version :data:`API_VERSION`) in insertion order, plus the
  events their changes emit, with a small *billing simulator* on top (``create_subscription``,
  ``advance``, ``update_item``, ``cancel_subscription``...) that issues invoices period by period the
  way Stripe does: trial invoices of 0, coupons (``once``/``repeating``/``forever``), inclusive or
  exclusive tax, proration credit/debit lines, cancellation at period end, failed payments;
- **app**: :meth:`FakeStripe.handle` turns one request (method, path, query, headers) into a
  response: API key check, list pagination (``limit``/``starting_after``/``ending_before``/
  ``has_more``, newest first), ``/v1/events`` with ``type``/``types[]``/``created`` filters and the
  30-day retention window, invoice line and subscription item pagination, ``expand[]`` of
  discounts, deleted objects, and injectable failures (429 with ``Retry-After``, 5xx);
- **adapters**: :meth:`FakeStripe.httpx_handler` (a ``respx`` side effect or an
  ``httpx.MockTransport`` handler) and :meth:`FakeStripe.serve` (a loopback HTTP server, for
  benchmarks and the demo). ``python -m vitalsign.testing.fakes.stripe --customers N ...`` serves a
  generated company from its own process.

Timestamps are integer Unix seconds like Stripe's. Objects' business times (periods, ``created``)
come from the simulation; events are stamped with :attr:`FakeStripe.clock` (wall time by default),
which is what the 30-day event window is measured against.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import functools
import itertools
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

__all__ = ["API_VERSION", "FakeStripe", "RecordedRequest", "add_months", "ts"]

API_VERSION = "2026-10-28.endive"
DAY = 86_400
EVENT_RETENTION = 30 * DAY
_EMBEDDED = 10  # lines / items embedded in an invoice / subscription before has_more
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LIST_PATHS = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "coupons": "coupon",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "events": "event",
}
_PREFIX = {
    "customer": "cus",
    "product": "prod",
    "price": "price",
    "subscription": "sub",
    "subscription_item": "si",
    "invoice": "in",
    "line_item": "il",
    "invoice_item": "ii",
    "discount": "di",
    "event": "evt",
    "tax_rate": "txr",
}
_EVENT_PREFIX = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "coupon": "coupon",
    "subscription": "customer.subscription",
    "invoice": "invoice",
}


def fake_api_key(tag: str) -> str:
    """A test-mode-shaped key for the fake, e.g. ``fake_api_key("sandbox")``.

    Assembled at run time with a body that says it is fake, so no literal in the repository
    looks like a real Stripe key to a reader or a secret scanner. The ``sk_test_`` shape is kept
    because the connector redacts key-shaped text from Stripe's messages and tests check that."""
    return "sk_" + "test_" + f"FAKE{tag}"


def ts(value: str) -> int:
    """``"2025-03-15"`` or ``"2025-03-15T12:00:00"`` (UTC) as Unix seconds."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def add_months(when: int, months: int, *, anchor_day: int | None = None) -> int:
    """``when`` plus calendar months, the day clamped to the month's length (Jan 31 + 1 = Feb 28)."""
    moment = datetime.fromtimestamp(when, UTC)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(anchor_day or moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def add_interval(when: int, interval: str, count: int, *, anchor_day: int | None = None) -> int:
    if interval == "month":
        return add_months(when, count, anchor_day=anchor_day)
    if interval == "year":
        return add_months(when, 12 * count, anchor_day=anchor_day)
    if interval == "week":
        return when + 7 * DAY * count
    if interval == "day":
        return when + DAY * count
    raise ValueError(f"unknown interval {interval!r}")


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    status: int


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: float | None
    path: str | None


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Collection:
    """Objects of one kind in insertion order; a value may be a compact record rendered on read."""

    def __init__(
        self,
        render: Callable[[Any], dict[str, Any]] | None = None,
        render_json: Callable[[Any], bytes] | None = None,
    ) -> None:
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.items: dict[str, Any] = {}
        self.render = render
        self.render_json = render_json  # a fast path for unfiltered lists of compact records

    def put(self, obj_id: str, value: Any) -> None:
        if obj_id not in self.pos:
            self.pos[obj_id] = len(self.ids)
            self.ids.append(obj_id)
        self.items[obj_id] = value

    def get(self, obj_id: str) -> dict[str, Any] | None:
        value = self.items.get(obj_id)
        if value is None or isinstance(value, dict):
            return value
        assert self.render is not None
        return self.render(value)

    def remove(self, obj_id: str) -> None:
        self.items.pop(obj_id, None)

    def __len__(self) -> int:
        return len(self.items)

    def newest_first(self, starting_after: str | None = None) -> Iterator[dict[str, Any]]:
        start = len(self.ids) - 1 if starting_after is None else self.pos[starting_after] - 1
        for i in range(start, -1, -1):
            obj = self.get(self.ids[i])
            if obj is not None:
                yield obj

    def page_ids(self, starting_after: str | None, count: int) -> list[str]:
        start = len(self.ids) - 1 if starting_after is None else self.pos[starting_after] - 1
        out: list[str] = []
        for i in range(start, -1, -1):
            if self.ids[i] in self.items:
                out.append(self.ids[i])
                if len(out) == count:
                    break
        return out

    def oldest_first(self, ending_before: str) -> Iterator[dict[str, Any]]:
        for i in range(self.pos[ending_before] + 1, len(self.ids)):
            obj = self.get(self.ids[i])
            if obj is not None:
                yield obj


class FakeStripe:
    """The fake Stripe account. See the module docstring for the three layers."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        seed: int = 7,
    ) -> None:
        self.api_key = api_key or fake_api_key("vitalsign")
        self.clock = clock
        self.requests: list[RecordedRequest] = []
        self.record_requests = True
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._counter = itertools.count(1)  # coupon codes
        self._rng = random.Random(seed)
        self.objects: dict[str, _Collection] = {
            kind: _Collection() for kind in ("customer", "product", "price", "coupon", "subscription")
        }
        self.objects["invoice"] = _Collection()
        self.objects["event"] = _Collection()
        self.deleted: dict[str, dict[str, Any]] = {}
        # billing simulator state
        self._pending_items: dict[str, list[dict[str, Any]]] = {}  # subscription -> proration lines
        self._fail_payments: set[str] = set()  # subscriptions whose next invoice payment fails
        self._tax: dict[str, tuple[float, str]] = {}  # subscription -> (rate, inclusive|exclusive)

    # ================================================================ ids, events, lookups

    def new_id(self, kind: str) -> str:
        """A Stripe-looking id (``cus_Q3xk...``), deterministic for a given seed."""
        return f"{_PREFIX[kind]}_{''.join(self._rng.choices(_ID_CHARS, k=14))}"

    def get(self, kind: str, obj_id: str) -> dict[str, Any]:
        obj = self.objects[kind].get(obj_id)
        if obj is None:
            raise KeyError(f"no {kind} {obj_id}")
        return obj

    def _emit(self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        kind = obj["object"]
        name = f"{_EVENT_PREFIX[kind]}.{event_type}"
        snapshot = orjson.loads(orjson.dumps(self._render(obj, expand=())))
        data: dict[str, Any] = {"object": snapshot}
        if previous is not None:
            data["previous_attributes"] = previous
        event_id = self.new_id("event")
        self.objects["event"].put(
            event_id,
            {
                "id": event_id,
                "object": "event",
                "api_version": API_VERSION,
                "created": int(self.clock()),
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None},
                "type": name,
            },
        )

    def _save(self, obj: dict[str, Any], event: str | None, previous: dict[str, Any] | None = None) -> None:
        self.objects[obj["object"]].put(obj["id"], obj)
        if event:
            self._emit(event, obj, previous)

    def update(self, kind: str, obj_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a stored object and emit ``<kind>.updated`` with previous attributes."""
        with self._lock:
            obj = self.get(kind, obj_id)
            previous = {k: obj.get(k) for k in changes}
            obj.update(changes)
            self._save(obj, "updated", previous)
            return obj

    def delete(self, kind: str, obj_id: str) -> None:
        """Delete a customer, product, price or coupon (lists stop showing it; retrieve says deleted)."""
        with self._lock:
            obj = self.get(kind, obj_id)
            if kind == "customer":
                at = int(self.clock())
                for sub in list(self.objects["subscription"].newest_first()):
                    if sub["customer"] == obj_id and sub["status"] not in ("canceled", "incomplete_expired"):
                        self.cancel_subscription(sub["id"], at=at, at_period_end=False)
            self.objects[kind].remove(obj_id)
            self.deleted[obj_id] = {"id": obj_id, "object": kind, "deleted": True}
            self._emit("deleted", obj)

    # ================================================================ catalogue and customers

    def create_customer(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        currency: str | None = "usd",
        created: int | None = None,
        delinquent: bool = False,
        emit: bool = True,
    ) -> dict[str, Any]:
        with self._lock:
            cid = self.new_id("customer")
            obj: dict[str, Any] = {
                "id": cid,
                "object": "customer",
                "address": None,
                "balance": 0,
                "created": created or int(self.clock()),
                "currency": currency,
                "default_source": None,
                "delinquent": delinquent,
                "description": None,
                "discount": None,
                "email": email,
                "invoice_prefix": cid[-7:].upper(),
                "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
                "livemode": False,
                "metadata": dict(metadata or {}),
                "name": name,
                "next_invoice_sequence": 1,
                "phone": None,
                "preferred_locales": [],
                "shipping": None,
                "tax_exempt": "none",
                "test_clock": None,
            }
            self._save(obj, "created" if emit else None)
            return obj

    def create_product(self, name: str, *, created: int | None = None, emit: bool = True) -> dict[str, Any]:
        with self._lock:
            obj = {
                "id": self.new_id("product"),
                "object": "product",
                "active": True,
                "created": created or int(self.clock()),
                "default_price": None,
                "description": None,
                "images": [],
                "livemode": False,
                "marketing_features": [],
                "metadata": {},
                "name": name,
                "package_dimensions": None,
                "shippable": None,
                "statement_descriptor": None,
                "tax_code": None,
                "unit_label": None,
                "updated": created or int(self.clock()),
                "url": None,
            }
            self._save(obj, "created" if emit else None)
            return obj

    def create_price(
        self,
        product: str,
        unit_amount: int | None,
        *,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        usage_type: str = "licensed",
        nickname: str | None = None,
        tax_behavior: str = "exclusive",
        created: int | None = None,
        emit: bool = True,
    ) -> dict[str, Any]:
        """A per-unit price; ``interval=None`` makes a one-time price."""
        with self._lock:
            recurring = (
                None
                if interval is None
                else {
                    "interval": interval,
                    "interval_count": interval_count,
                    "meter": None,
                    "usage_type": usage_type,
                    "trial_period_days": None,
                }
            )
            obj: dict[str, Any] = {
                "id": self.new_id("price"),
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": created or int(self.clock()),
                "currency": currency,
                "custom_unit_amount": None,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": nickname,
                "product": product,
                "recurring": recurring,
                "tax_behavior": tax_behavior,
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "one_time" if interval is None else "recurring",
                "unit_amount": unit_amount,
                "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
            }
            self._save(obj, "created" if emit else None)
            return obj

    def create_coupon(
        self,
        *,
        percent_off: float | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        duration: str = "forever",
        duration_in_months: int | None = None,
        name: str | None = None,
        coupon_id: str | None = None,
        created: int | None = None,
        emit: bool = True,
    ) -> dict[str, Any]:
        with self._lock:
            obj: dict[str, Any] = {
                "id": coupon_id or f"CPN{next(self._counter):05d}",
                "object": "coupon",
                "amount_off": amount_off,
                "created": created or int(self.clock()),
                "currency": currency,
                "duration": duration,
                "duration_in_months": duration_in_months,
                "livemode": False,
                "max_redemptions": None,
                "metadata": {},
                "name": name or (f"{percent_off:g}% off" if percent_off else f"{amount_off} off"),
                "percent_off": percent_off,
                "redeem_by": None,
                "times_redeemed": 0,
                "valid": True,
            }
            self._save(obj, "created" if emit else None)
            return obj

    # ================================================================ the billing simulator

    def create_subscription(
        self,
        customer: str,
        items: Sequence[tuple[str, int]],
        *,
        start: int,
        trial_days: int = 0,
        coupon: str | None = None,
        tax_rate: float = 0.0,
        collection_method: str = "charge_automatically",
        emit: bool = True,
    ) -> dict[str, Any]:
        """Subscribe ``customer`` to ``items`` (price id, quantity) from ``start``; the first invoice
        (a 0 one for a trial) is issued at once. ``tax_rate`` (0.2 = 20 %) is applied with each
        price's ``tax_behavior``."""
        with self._lock:
            sid = self.new_id("subscription")
            trial_end = add_interval(start, "day", trial_days) if trial_days else None
            first_price = self.get("price", items[0][0])
            rec = first_price["recurring"]
            period_end = trial_end or add_interval(start, rec["interval"], rec["interval_count"])
            sub_items: list[dict[str, Any]] = []
            for price_id, quantity in items:
                sub_items.append(
                    {
                        "id": self.new_id("subscription_item"),
                        "object": "subscription_item",
                        "billing_thresholds": None,
                        "created": start,
                        "current_period_end": period_end,
                        "current_period_start": start,
                        "discounts": [],
                        "metadata": {},
                        "price": self.get("price", price_id),
                        "quantity": quantity,
                        "subscription": sid,
                        "tax_rates": [],
                    }
                )
            discounts = []
            if coupon:
                discounts.append(self._discount(coupon, customer, sid, start))
            sub = {
                "id": sid,
                "object": "subscription",
                "application": None,
                "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
                "billing_cycle_anchor": trial_end or start,
                "billing_mode": {"type": "classic"},
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "collection_method": collection_method,
                "created": start,
                "currency": first_price["currency"],
                "customer": customer,
                "days_until_due": None if collection_method == "charge_automatically" else 30,
                "default_payment_method": None,
                "description": None,
                "discounts": discounts,
                "ended_at": None,
                "items": sub_items,
                "latest_invoice": None,
                "livemode": False,
                "metadata": {},
                "pause_collection": None,
                "schedule": None,
                "start_date": start,
                "status": "trialing" if trial_end else "active",
                "test_clock": None,
                "trial_end": trial_end,
                "trial_start": start if trial_end else None,
            }
            if tax_rate:
                self._tax[sid] = (tax_rate, "")
            self._save(sub, "created" if emit else None)
            self._invoice_period(
                sub, start, period_end, "subscription_create", trial=bool(trial_end), emit=emit
            )
            return sub

    def _discount(self, coupon: str, customer: str, sub: str, start: int) -> dict[str, Any]:
        cpn = self.get("coupon", coupon)
        end = None
        if cpn["duration"] == "repeating":
            end = add_months(start, cpn["duration_in_months"])
        elif cpn["duration"] == "once":
            end = start + 1
        return {
            "id": self.new_id("discount"),
            "object": "discount",
            "checkout_session": None,
            "customer": customer,
            "end": end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"coupon": coupon, "type": "coupon"},
            "start": start,
            "subscription": sub,
            "subscription_item": None,
        }

    def fail_next_payment(self, subscription: str) -> None:
        """The next invoice of ``subscription`` stays open (payment fails): it goes past_due."""
        self._fail_payments.add(subscription)

    def advance(self, to: int, *, emit: bool = True) -> None:
        """Move billing time to ``to``: renew every live subscription period by period (issuing its
        invoices), end trials, and end subscriptions scheduled to cancel."""
        with self._lock:
            for sub in list(self.objects["subscription"].newest_first()):
                while sub["status"] not in ("canceled", "incomplete_expired"):
                    period_end = sub["items"][0]["current_period_end"]
                    if period_end > to:
                        break
                    self._renew(sub, period_end, emit=emit)

    def _renew(self, sub: dict[str, Any], at: int, *, emit: bool) -> None:
        if sub["cancel_at_period_end"] or (sub["cancel_at"] and sub["cancel_at"] <= at):
            ended = {"status": sub["status"], "ended_at": None}
            sub.update(status="canceled", ended_at=at)
            self._save(sub, "deleted" if emit else None, ended)
            return
        price = sub["items"][0]["price"]["recurring"]
        anchor_day = datetime.fromtimestamp(sub["billing_cycle_anchor"], UTC).day
        end = add_interval(at, price["interval"], price["interval_count"], anchor_day=anchor_day)
        previous: dict[str, Any] = {}
        if sub["status"] == "trialing":
            previous["status"] = "trialing"
            sub["status"] = "active"
        self._invoice_period(sub, at, end, "subscription_cycle", trial=False, emit=emit)
        if emit:
            self._emit("updated", sub, previous or {"items": None})

    def _invoice_period(
        self, sub: dict[str, Any], start: int, end: int, reason: str, *, trial: bool, emit: bool
    ) -> dict[str, Any]:
        lines = self._pending_items.pop(sub["id"], [])
        for item in sub["items"]:
            item["current_period_start"], item["current_period_end"] = start, end
            price = item["price"]
            unit = price["unit_amount"] or 0
            metered = price["recurring"] and price["recurring"]["usage_type"] == "metered"
            amount = 0 if (trial or metered) else unit * item["quantity"]
            label = price.get("nickname") or "plan"
            description = f"Trial period for {label}" if trial else f"{item['quantity']} x {label}"
            lines.append(
                self._line(
                    sub,
                    item,
                    amount=amount,
                    quantity=item["quantity"],
                    start=start,
                    end=end,
                    proration=False,
                    description=description,
                    parent="subscription_item_details",
                )
            )
        return self._issue_invoice(sub, lines, at=start, reason=reason, emit=emit)

    def _line(
        self,
        sub: dict[str, Any],
        item: dict[str, Any],
        *,
        amount: int,
        quantity: int,
        start: int,
        end: int,
        proration: bool,
        description: str,
        parent: str,
        price: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        price = price or item["price"]
        if parent == "subscription_item_details":
            parent_obj: dict[str, Any] = {
                "type": parent,
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None,
                    "proration": proration,
                    "proration_details": {"credited_items": None},
                    "subscription": sub["id"],
                    "subscription_item": item["id"],
                },
            }
        else:
            parent_obj = {
                "type": parent,
                "invoice_item_details": {
                    "invoice_item": self.new_id("invoice_item"),
                    "proration": proration,
                    "proration_details": {"credited_items": None},
                    "subscription": sub["id"],
                },
                "subscription_item_details": None,
            }
        return {
            "id": self.new_id("line_item"),
            "object": "line_item",
            "amount": amount,
            "currency": price["currency"],
            "description": description,
            "discount_amounts": [],
            "discountable": True,
            "discounts": [],
            "invoice": None,
            "livemode": False,
            "metadata": {},
            "parent": parent_obj,
            "period": {"end": end, "start": start},
            "pretax_credit_amounts": [],
            "pricing": {
                "price_details": {"price": price["id"], "product": price["product"]},
                "type": "price_details",
                "unit_amount_decimal": price["unit_amount_decimal"],
            },
            "quantity": quantity,
            "quantity_decimal": str(quantity),
            "subtotal": amount,
            "taxes": [],
        }

    def _issue_invoice(
        self, sub: dict[str, Any], lines: list[dict[str, Any]], *, at: int, reason: str, emit: bool
    ) -> dict[str, Any]:
        iid = self.new_id("invoice")
        live_discounts = [
            d for d in sub["discounts"] if d["start"] <= at and (d["end"] is None or at < d["end"])
        ]
        rate, _ = self._tax.get(sub["id"], (0.0, ""))
        for line in lines:
            line["invoice"] = iid
            remaining = line["amount"]
            for discount in live_discounts:
                cpn = self.objects["coupon"].get(discount["source"]["coupon"])
                if cpn is None:
                    continue
                if cpn["percent_off"]:  # credit lines get a (negative) share of the discount too
                    off = round(line["amount"] * cpn["percent_off"] / 100)
                elif remaining > 0:
                    off = min(cpn["amount_off"] or 0, remaining)
                else:
                    continue
                remaining -= off
                line["discount_amounts"].append({"amount": off, "discount": discount["id"]})
                line["discounts"].append(discount["id"])
            price = self.objects["price"].get(line["pricing"]["price_details"]["price"]) or {}
            if rate:
                behavior = price.get("tax_behavior") or "exclusive"
                tax = (
                    round(remaining * rate / (1 + rate))
                    if behavior == "inclusive"
                    else round(remaining * rate)
                )
                line["taxes"].append(
                    {
                        "amount": tax,
                        "tax_behavior": behavior,
                        "tax_rate_details": {"tax_rate": "txr_fake_standard"},
                        "taxability_reason": "standard_rated",
                        "taxable_amount": remaining - tax if behavior == "inclusive" else remaining,
                        "type": "tax_rate_details",
                    }
                )
        subtotal = sum(line["amount"] for line in lines)
        discount_total = sum(d["amount"] for line in lines for d in line["discount_amounts"])
        taxes = [t for line in lines for t in line["taxes"]]
        exclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
        total = subtotal - discount_total + exclusive
        paid = sub["id"] not in self._fail_payments
        self._fail_payments.discard(sub["id"])
        due_date = at + 30 * DAY if sub["collection_method"] == "send_invoice" else None
        invoice = self._invoice_object(
            iid,
            sub["customer"],
            sub["id"],
            sub["currency"],
            lines,
            at=at,
            reason=reason,
            subtotal=subtotal,
            discount_total=discount_total,
            taxes=taxes,
            total=total,
            paid=paid,
            due_date=due_date,
        )
        sub["latest_invoice"] = iid
        if not paid and sub["status"] == "active":
            sub["status"] = "past_due"
        self._save(invoice, "created" if emit else None)
        if emit and paid:
            self._emit("paid", invoice)
        return invoice

    def _invoice_object(
        self,
        iid: str,
        customer: str,
        subscription: str | None,
        currency: str,
        lines: list[dict[str, Any]],
        *,
        at: int,
        reason: str,
        subtotal: int,
        discount_total: int,
        taxes: list[dict[str, Any]],
        total: int,
        paid: bool,
        due_date: int | None,
    ) -> dict[str, Any]:
        period_start = min((ln["period"]["start"] for ln in lines), default=at)
        period_end = max((ln["period"]["end"] for ln in lines), default=at)
        exclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
        return {
            "id": iid,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Vitalsign Fake Inc.",
            "amount_due": total,
            "amount_paid": total if paid else 0,
            "amount_remaining": 0 if paid else total,
            "amount_shipping": 0,
            "attempt_count": 1,
            "attempted": True,
            "auto_advance": not paid,
            "automatic_tax": {"enabled": False, "liability": None, "status": None, "disabled_reason": None},
            "billing_reason": reason,
            "collection_method": "charge_automatically" if due_date is None else "send_invoice",
            "created": at,
            "currency": currency,
            "customer": customer,
            "customer_email": None,
            "customer_name": None,
            "default_payment_method": None,
            "description": None,
            "discounts": [],
            "due_date": due_date,
            "effective_at": at,
            "ending_balance": 0,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "issuer": {"type": "self"},
            "lines": {"object": "list", "data": lines, "has_more": False, "url": f"/v1/invoices/{iid}/lines"},
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": None if paid else at + 3 * DAY,
            "number": f"{customer[-6:].upper()}-{iid[-4:]}",
            "parent": (
                {
                    "quote_details": None,
                    "subscription_details": {"metadata": {}, "subscription": subscription},
                    "type": "subscription_details",
                }
                if subscription
                else None
            ),
            "period_end": period_end,
            "period_start": period_start,
            "starting_balance": 0,
            "status": "paid" if paid else "open",
            "status_transitions": {
                "finalized_at": at,
                "marked_uncollectible_at": None,
                "paid_at": at if paid else None,
                "voided_at": None,
            },
            "subtotal": subtotal,
            "subtotal_excluding_tax": subtotal,
            "test_clock": None,
            "total": total,
            "total_discount_amounts": [
                {"amount": d["amount"], "discount": d["discount"]}
                for ln in lines
                for d in ln["discount_amounts"]
            ],
            "total_excluding_tax": total - exclusive,
            "total_pretax_credit_amounts": [],
            "total_taxes": [dict(t) for t in taxes],
            "webhooks_delivered_at": at,
        }

    def pay_invoice(self, invoice: str, *, at: int) -> None:
        with self._lock:
            inv = self.get("invoice", invoice)
            inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0)
            inv["status_transitions"]["paid_at"] = at
            self._save(inv, "paid", {"status": "open"})
            sub_id = ((inv["parent"] or {}).get("subscription_details") or {}).get("subscription")
            sub = self.objects["subscription"].get(sub_id or "")
            if sub and sub["status"] == "past_due":
                self.update("subscription", sub["id"], status="active")

    def update_item(
        self,
        subscription: str,
        *,
        at: int,
        quantity: int | None = None,
        price: str | None = None,
        proration_behavior: str = "create_prorations",
        item_index: int = 0,
    ) -> None:
        """Change an item's quantity or price at ``at`` within its current period.

        ``create_prorations`` adds a credit line (unused time at the old terms) and a debit line
        (remaining time at the new terms) as pending invoice items, billed with the next renewal;
        ``always_invoice`` bills them at once; ``none`` only changes the item.
        """
        with self._lock:
            sub = self.get("subscription", subscription)
            item = sub["items"][item_index]
            old_price, old_qty = item["price"], item["quantity"]
            new_price = self.get("price", price) if price else old_price
            new_qty = quantity if quantity is not None else old_qty
            start, end = item["current_period_start"], item["current_period_end"]
            previous = {"items": {"data": [{"id": item["id"], "quantity": old_qty}]}}
            item["price"], item["quantity"] = new_price, new_qty
            if proration_behavior != "none" and sub["status"] != "trialing":
                fraction = (end - at) / (end - start)
                old_amount = round((old_price["unit_amount"] or 0) * old_qty * fraction)
                new_amount = round((new_price["unit_amount"] or 0) * new_qty * fraction)
                when = datetime.fromtimestamp(at, UTC).strftime("%d %b %Y")
                old_name = old_price.get("nickname") or "plan"
                new_name = new_price.get("nickname") or "plan"
                immediate = proration_behavior == "always_invoice"
                parent = "subscription_item_details" if immediate else "invoice_item_details"
                credit = self._line(
                    sub,
                    item,
                    amount=-old_amount,
                    quantity=old_qty,
                    start=at,
                    end=end,
                    proration=True,
                    description=f"Unused time on {old_qty} x {old_name} after {when}",
                    parent=parent,
                    price=old_price,
                )
                debit = self._line(
                    sub,
                    item,
                    amount=new_amount,
                    quantity=new_qty,
                    start=at,
                    end=end,
                    proration=True,
                    description=f"Remaining time on {new_qty} x {new_name} after {when}",
                    parent=parent,
                    price=new_price,
                )
                if immediate:
                    self._issue_invoice(sub, [credit, debit], at=at, reason="subscription_update", emit=True)
                else:
                    self._pending_items.setdefault(subscription, []).extend([credit, debit])
            self._save(sub, "updated", previous)

    def add_invoice_item(self, subscription: str, price: str, *, quantity: int = 1) -> None:
        """A one-time charge (setup fee, overage) billed with the subscription's next invoice."""
        with self._lock:
            sub = self.get("subscription", subscription)
            one_time = self.get("price", price)
            at = sub["items"][0]["current_period_end"]
            line = self._line(
                sub,
                sub["items"][0],
                amount=(one_time["unit_amount"] or 0) * quantity,
                quantity=quantity,
                start=at,
                end=at,
                proration=False,
                description=one_time.get("nickname") or "one-time charge",
                parent="invoice_item_details",
                price=one_time,
            )
            self._pending_items.setdefault(subscription, []).append(line)

    def cancel_subscription(self, subscription: str, *, at: int, at_period_end: bool = True) -> None:
        """Cancel: at the end of the current period (default), or at once (no refund)."""
        with self._lock:
            sub = self.get("subscription", subscription)
            if at_period_end:
                previous = {"cancel_at_period_end": False, "canceled_at": None}
                sub.update(
                    cancel_at_period_end=True,
                    canceled_at=at,
                    cancel_at=sub["items"][0]["current_period_end"],
                )
                self._save(sub, "updated", previous)
            else:
                previous = {"status": sub["status"], "canceled_at": None, "ended_at": None}
                sub.update(status="canceled", canceled_at=at, ended_at=at)
                self._save(sub, "deleted", previous)

    def add_discount(self, subscription: str, coupon: str, *, at: int) -> None:
        with self._lock:
            sub = self.get("subscription", subscription)
            sub["discounts"].append(self._discount(coupon, sub["customer"], subscription, at))
            self._save(sub, "updated", {"discounts": []})

    # ================================================================ bulk generation (benchmarks)

    def generate(
        self,
        *,
        customers: int,
        subscriptions: int,
        invoices: int,
        start: int = 1_704_067_200,  # 2024-01-01
        seed: int = 11,
    ) -> None:
        """A synthetic company for benchmarks and the demo, without events.

        Subscriptions and invoices are kept as compact records rendered on read, so 240k invoices
        cost tens of megabytes rather than gigabytes. Invoices are spread evenly over the
        subscriptions (monthly, or yearly for one in ten), one line each plus an add-on line on
        one invoice in five.
        """
        rng = random.Random(seed)
        products = [self.create_product(n, created=start, emit=False) for n in ("Starter", "Team", "Add-on")]
        prices = [
            self.create_price(products[0]["id"], 2900, nickname="Starter monthly", created=start, emit=False),
            self.create_price(products[1]["id"], 1200, nickname="Team seat", created=start, emit=False),
            self.create_price(
                products[1]["id"],
                12000,
                interval="year",
                nickname="Team seat annual",
                created=start,
                emit=False,
            ),
            self.create_price(products[2]["id"], 500, nickname="Add-on", created=start, emit=False),
        ]
        self.create_coupon(
            percent_off=20, duration="forever", coupon_id="FOREVER20", created=start, emit=False
        )
        customer_ids = []
        for i in range(customers):
            c = self.create_customer(
                email=f"billing@company{i}.example.com",
                name=f"Company {i}",
                metadata={"account_id": f"ACC-{i:06d}"},
                created=start + i * 60,
                emit=False,
            )
            customer_ids.append(c["id"])
        self._gen_prices = {p["id"]: p for p in prices}
        subs_coll = _Collection(render=self._render_generated_subscription)
        inv_coll = _Collection(
            render=self._render_generated_invoice, render_json=self._generated_invoice_json
        )
        self._templates: dict[tuple[str, bool], str] = {}
        per_sub, extra = divmod(invoices, max(1, subscriptions))
        for s in range(subscriptions):
            sid = f"sub_gen{s:010d}"
            customer = customer_ids[s % len(customer_ids)] if customer_ids else "cus_none"
            annual = s % 10 == 9
            price = prices[2] if annual else prices[s % 2]
            qty = 1 if price is prices[0] else rng.randint(2, 40)
            sub_start = add_months(start, s % 12)
            n_inv = per_sub + (1 if s < extra else 0)
            subs_coll.put(sid, (sid, customer, price["id"], qty, sub_start, annual, n_inv))
            for k in range(n_inv):
                iid = f"in_gen{s:08d}{k:04d}"
                inv_coll.put(iid, (iid, sid, customer, price["id"], qty, sub_start, annual, k))
        self.objects["subscription"] = subs_coll
        self.objects["invoice"] = inv_coll

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _gen_period(sub_start: int, annual: bool, k: int) -> tuple[int, int]:
        months = 12 if annual else 1
        return add_months(sub_start, months * k), add_months(sub_start, months * (k + 1))

    def _generated_invoice_json(self, rec: tuple[Any, ...]) -> bytes:
        """The same JSON as :meth:`_render_generated_invoice`, from a cached text template:
        building 240k invoices as dicts would make the fake, not the client, the bottleneck."""
        iid, sid, customer, price_id, qty, sub_start, annual, k = rec
        addon = k % 5 == 4
        template = self._templates.get((price_id, addon))
        if template is None:
            template = self._templates[(price_id, addon)] = self._invoice_template(price_id, addon)
        start, end = self._gen_period(sub_start, annual, k)
        amount = (self._gen_prices[price_id]["unit_amount"] or 0) * qty
        values = {
            "iid": iid,
            "iidtail": iid[3:],
            "cus": customer,
            "sid": sid,
            "si": "si_" + sid[4:],
            "si2": "si_addon" + sid[7:],
            "number": f"{customer[-6:].upper()}-{iid[-4:]}",
            "qtys": str(qty),
            "qty": qty,
            "amount": amount,
            "total": amount + (500 if addon else 0),
            "start": start,
            "end": end,
        }
        return (template % values).encode()

    def _invoice_template(self, price_id: str, addon: bool) -> str:
        price = self._gen_prices[price_id]
        addon_price = next(p for p in self._gen_prices.values() if p["nickname"] == "Add-on")
        sub = {"id": "@sid@"}
        lines = [
            self._line(sub, {"id": "@si@"}, amount=0, quantity=0, start=0, end=0, proration=False,
                       description="", parent="subscription_item_details", price=price),
        ]  # fmt: skip
        if addon:
            lines.append(
                self._line(sub, {"id": "@si2@"}, amount=500, quantity=1, start=0, end=0, proration=False,
                           description="1 x Add-on", parent="subscription_item_details", price=addon_price)
            )  # fmt: skip
        for n, line in enumerate(lines):
            line.update(id=f"il_@iidtail@{n}", invoice="@iid@", period={"end": "@end@", "start": "@start@"})
        lines[0].update(
            amount="@amount@", subtotal="@amount@", quantity="@qty@", quantity_decimal="@qtys@",
            description=f"@qtys@ x {price['nickname']}",
        )  # fmt: skip
        inv = self._invoice_object(
            "@iid@", "@cus@", "@sid@", "usd", [], at=0, reason="subscription_cycle", subtotal=0,
            discount_total=0, taxes=[], total=0, paid=True, due_date=None,
        )  # fmt: skip
        inv["lines"] = {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": "/v1/invoices/@iid@/lines",
        }
        for key in (
            "amount_due",
            "amount_paid",
            "subtotal",
            "subtotal_excluding_tax",
            "total",
            "total_excluding_tax",
        ):
            inv[key] = "@total@"
        for key in ("created", "effective_at", "period_start", "webhooks_delivered_at"):
            inv[key] = "@start@"
        inv["period_end"] = "@end@"
        inv["number"] = "@number@"
        inv["status_transitions"].update(finalized_at="@start@", paid_at="@start@")
        text = orjson.dumps(inv).decode().replace("%", "%%")
        for name in ("amount", "total", "start", "end", "qty"):
            text = text.replace(f'"@{name}@"', f"%({name})d")
        for name in ("iidtail", "iid", "cus", "sid", "si2", "si", "number", "qtys"):
            text = text.replace(f"@{name}@", f"%({name})s")
        return text

    def _render_generated_subscription(self, rec: tuple[Any, ...]) -> dict[str, Any]:
        sid, customer, price_id, qty, sub_start, annual, n_inv = rec
        last_start, last_end = self._gen_period(sub_start, annual, max(0, n_inv - 1))
        item = {
            "id": "si_" + sid[4:],
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": sub_start,
            "current_period_end": last_end,
            "current_period_start": last_start,
            "discounts": [],
            "metadata": {},
            "price": self._gen_prices[price_id],
            "quantity": qty,
            "subscription": sid,
            "tax_rates": [],
        }
        return {
            "id": sid,
            "object": "subscription",
            "billing_cycle_anchor": sub_start,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "collection_method": "charge_automatically",
            "created": sub_start,
            "currency": "usd",
            "customer": customer,
            "discounts": [],
            "ended_at": None,
            "items": [item],
            "latest_invoice": None,
            "livemode": False,
            "metadata": {},
            "start_date": sub_start,
            "status": "active",
            "trial_end": None,
            "trial_start": None,
        }

    def _render_generated_invoice(self, rec: tuple[Any, ...]) -> dict[str, Any]:
        iid, sid, customer, price_id, qty, sub_start, annual, k = rec
        price = self._gen_prices[price_id]
        start, end = self._gen_period(sub_start, annual, k)
        sub = {"id": sid}
        item = {"id": "si_" + sid[4:], "price": price}
        amount = (price["unit_amount"] or 0) * qty
        lines = [
            self._gen_line(iid, sub, item, price, amount, qty, start, end, 0),
        ]
        if k % 5 == 4:
            addon = next(p for p in self._gen_prices.values() if p["nickname"] == "Add-on")
            lines.append(self._gen_line(iid, sub, {"id": "si_addon" + sid[7:]}, addon, 500, 1, start, end, 1))
        subtotal = sum(ln["amount"] for ln in lines)
        return self._invoice_object(
            iid,
            customer,
            sid,
            "usd",
            lines,
            at=start,
            reason="subscription_cycle",
            subtotal=subtotal,
            discount_total=0,
            taxes=[],
            total=subtotal,
            paid=True,
            due_date=None,
        )

    def _gen_line(
        self,
        iid: str,
        sub: dict[str, Any],
        item: dict[str, Any],
        price: dict[str, Any],
        amount: int,
        qty: int,
        start: int,
        end: int,
        n: int,
    ) -> dict[str, Any]:
        line = self._line(
            sub,
            item,
            amount=amount,
            quantity=qty,
            start=start,
            end=end,
            proration=False,
            description=f"{qty} x {price['nickname']}",
            parent="subscription_item_details",
            price=price,
        )
        line["id"] = f"il_{iid[3:]}{n}"
        line["invoice"] = iid
        return line

    # ================================================================ failures

    def fail(
        self, status: int, *, times: int = 1, retry_after: float | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``times`` requests (to paths starting with ``path``) with ``status``."""
        with self._lock:
            self._failures.append(_Failure(status, times, retry_after, path))

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """The conformance kit's knob (:class:`vitalsign.testing.FakeSource`): any path."""
        self.fail(status, times=times, retry_after=retry_after)

    def reject_credentials(self) -> None:
        """From now on every request is answered 401, as Stripe answers a revoked key."""
        self.api_key = fake_api_key(f"revoked{self._rng.getrandbits(64):x}")

    def count(self, path: str | None = None) -> int:
        """Requests served (failures included) whose path starts with ``path``."""
        return sum(1 for r in self.requests if path is None or r.path.startswith(path))

    # ================================================================ the request -> response app

    def handle(
        self, method: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request (``target`` = path with query string) -> (status, headers, body)."""
        parts = urlsplit(target)
        params = _parse_params(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            response = self._dispatch(method.upper(), parts.path, params, headers)
            if self.record_requests:
                self.requests.append(RecordedRequest(method.upper(), parts.path, params, response.status))
        out_headers = {"Content-Type": "application/json", "Request-Id": f"req_{len(self.requests):08d}"}
        out_headers.update(response.headers)
        return response.status, out_headers, response.body

    def _dispatch(
        self, method: str, path: str, params: dict[str, Any], headers: Mapping[str, str]
    ) -> _Response:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if auth != f"Bearer {self.api_key}":
            shown = auth.removeprefix("Bearer ")
            masked = f"{shown[:8]}{'*' * 8}{shown[-4:]}" if len(shown) > 12 else "****"
            return _error(401, "invalid_request_error", f"Invalid API Key provided: {masked}")
        for failure in self._failures:
            if failure.times > 0 and (failure.path is None or path.startswith(failure.path)):
                failure.times -= 1
                self._failures = [f for f in self._failures if f.times > 0]
                if failure.status == 429:
                    response = _error(
                        429,
                        "invalid_request_error",
                        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                        code="rate_limit",
                    )
                else:
                    response = _error(failure.status, "api_error", "Something went wrong on Stripe's end.")
                if failure.retry_after is not None:
                    response.headers["Retry-After"] = f"{failure.retry_after:g}"
                return response
        if method != "GET":
            return _error(405, "invalid_request_error", f"the fake serves reads only, not {method}")
        segments = [s for s in path.split("/") if s]
        if len(segments) < 2 or segments[0] != "v1":
            return _unrecognized(method, path)
        resource = segments[1]
        expand = set(params.get("expand") or [])
        if len(segments) == 2 and resource in _LIST_PATHS:
            return self._list(resource, params, expand)
        if len(segments) == 2 and resource == "subscription_items":
            return self._list_subscription_items(params)
        if len(segments) == 3 and resource in _LIST_PATHS:
            return self._retrieve(_LIST_PATHS[resource], segments[2], expand)
        if len(segments) == 4 and resource == "invoices" and segments[3] == "lines":
            return self._list_lines(segments[2], params)
        return _unrecognized(method, path)

    def _retrieve(self, kind: str, obj_id: str, expand: set[str]) -> _Response:
        obj = self.objects[kind].get(obj_id)
        if obj is None:
            if obj_id in self.deleted and self.deleted[obj_id]["object"] == kind:
                return _ok(self.deleted[obj_id])
            return _error(
                404,
                "invalid_request_error",
                f"No such {kind}: '{obj_id}'",
                code="resource_missing",
                param="id",
            )
        nested = {e.removeprefix("data.") for e in expand}
        return _ok(self._render(obj, expand=nested))

    def _list(self, resource: str, params: dict[str, Any], expand: set[str]) -> _Response:
        kind = _LIST_PATHS[resource]
        try:
            limit = int(params.get("limit", 10))
        except ValueError:
            return _error(400, "invalid_request_error", "Invalid integer: limit", param="limit")
        if not 1 <= limit <= 100:
            return _error(400, "invalid_request_error", "limit must be between 1 and 100", param="limit")
        checks = self._checks(kind, params)
        if isinstance(checks, _Response):
            return checks
        collection = self.objects[kind]
        for key in ("starting_after", "ending_before"):
            ref = params.get(key)
            if ref is not None and ref not in collection.pos:
                return _error(400, "invalid_request_error", f"No such {kind}: '{ref}'", param=key)
        if not checks and collection.render_json is not None and not params.get("ending_before"):
            ids = collection.page_ids(params.get("starting_after"), limit + 1)
            data = b",".join(collection.render_json(collection.items[i]) for i in ids[:limit])
            more = b"true" if len(ids) > limit else b"false"
            url = f"/v1/{resource}".encode()
            return _Response(
                200, b'{"object":"list","data":[' + data + b'],"has_more":' + more + b',"url":"' + url + b'"}'
            )

        def predicate(obj: dict[str, Any]) -> bool:
            return all(check(obj) for check in checks)

        if params.get("ending_before"):
            found = list(
                itertools.islice(
                    filter(predicate, collection.oldest_first(params["ending_before"])), limit + 1
                )
            )
            has_more = len(found) > limit
            page = list(reversed(found[:limit]))
        else:
            found = list(
                itertools.islice(
                    filter(predicate, collection.newest_first(params.get("starting_after"))), limit + 1
                )
            )
            has_more = len(found) > limit
            page = found[:limit]
        nested = {e.removeprefix("data.") for e in expand if e.startswith("data.")}
        body = {
            "object": "list",
            "data": [self._render(obj, expand=nested) for obj in page],
            "has_more": has_more,
            "url": f"/v1/{resource}",
        }
        return _ok(body)

    def _checks(
        self, kind: str, params: dict[str, Any]
    ) -> list[Callable[[dict[str, Any]], bool]] | _Response:
        checks: list[Callable[[dict[str, Any]], bool]] = []
        created = params.get("created")
        if isinstance(created, dict):
            ops = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
            for op, raw in created.items():
                if op not in ops:
                    return _error(400, "invalid_request_error", f"Invalid created[{op}]", param="created")
                checks.append(_compare("created", ops[op], int(raw)))
        elif created is not None:
            checks.append(_compare("created", int.__eq__, int(created)))
        if params.get("customer"):
            checks.append(_equals("customer", params["customer"]))
        if kind == "subscription":
            status = params.get("status")
            if status is None:
                checks.append(lambda o: o["status"] not in ("canceled", "incomplete_expired"))
            elif status != "all":
                checks.append(_equals("status", status))
        if kind == "invoice" and params.get("status"):
            checks.append(_equals("status", params["status"]))
        if kind == "event":
            oldest = int(self.clock()) - EVENT_RETENTION
            checks.append(lambda o: o["created"] >= oldest)
            types: list[str] = list(params.get("types") or [])
            if len(types) > 20:
                return _error(400, "invalid_request_error", "types: at most 20 event types", param="types")
            if params.get("type"):
                types.append(params["type"])
            if types:
                exact = {t for t in types if "*" not in t}
                wild = [re.compile(re.escape(t).replace(r"\*", ".*") + "$") for t in types if "*" in t]
                checks.append(lambda o: o["type"] in exact or any(w.match(o["type"]) for w in wild))
        return checks

    def _list_lines(self, invoice_id: str, params: dict[str, Any]) -> _Response:
        invoice = self.objects["invoice"].get(invoice_id)
        if invoice is None:
            return _error(
                404, "invalid_request_error", f"No such invoice: '{invoice_id}'", code="resource_missing"
            )
        return _ok(_paginate(invoice["lines"]["data"], params, f"/v1/invoices/{invoice_id}/lines"))

    def _list_subscription_items(self, params: dict[str, Any]) -> _Response:
        sub_id = params.get("subscription")
        sub = self.objects["subscription"].get(sub_id or "")
        if sub is None:
            return _error(
                400, "invalid_request_error", "Missing or unknown subscription", param="subscription"
            )
        expand = {e.removeprefix("data.") for e in params.get("expand") or []}
        items = [self._render_item(i, expand) for i in sub["items"]]
        return _ok(_paginate(items, params, f"/v1/subscription_items?subscription={sub_id}"))

    # ---------------------------------------------------------------- rendering

    def _render(self, obj: dict[str, Any], *, expand: set[str] | tuple[()]) -> dict[str, Any]:
        kind = obj["object"]
        if kind == "subscription":
            out = dict(obj)
            out["discounts"] = [d if "discounts" in expand else d["id"] for d in obj["discounts"]]
            item_expand = {e.removeprefix("items.data.") for e in expand if e.startswith("items.data.")}
            items = [self._render_item(i, item_expand) for i in obj["items"]]
            out["items"] = {
                "object": "list",
                "data": items[:_EMBEDDED],
                "has_more": len(items) > _EMBEDDED,
                "total_count": len(items),
                "url": f"/v1/subscription_items?subscription={obj['id']}",
            }
            return out
        if kind == "invoice":
            out = dict(obj)
            lines = obj["lines"]["data"]
            out["lines"] = {
                "object": "list",
                "data": lines[:_EMBEDDED],
                "has_more": len(lines) > _EMBEDDED,
                "total_count": len(lines),
                "url": f"/v1/invoices/{obj['id']}/lines",
            }
            return out
        return obj

    def _render_item(self, item: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        out = dict(item)
        out["discounts"] = [d if "discounts" in expand else d["id"] for d in item["discounts"]]
        return out

    # ================================================================ adapters

    def httpx_handler(self, request: Any) -> Any:
        """An ``httpx.Request`` -> ``httpx.Response``: a respx side effect or MockTransport handler."""
        import httpx

        target = request.url.raw_path.decode("ascii")
        status, headers, body = self.handle(request.method, target, request.headers)
        return httpx.Response(status, headers=headers, content=body)

    def mock_transport(self) -> Any:
        import httpx

        return httpx.MockTransport(self.httpx_handler)

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve the fake on loopback in a background thread; yields the base URL."""
        server = make_server(self, host, port)
        thread = threading.Thread(target=server.serve_forever, name="fake-stripe", daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def make_server(fake: FakeStripe, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connection
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._serve()

        def _serve(self) -> None:
            status, headers, body = fake.handle(self.command, self.path, dict(self.headers.items()))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _compare(key: str, op: Callable[[int, int], bool], bound: int) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: op(obj[key], bound)


def _equals(key: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: obj.get(key) == value


def _parse_params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``expand[0]=x``, ``created[gte]=1``) back into lists and dicts."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[]+)\[([^\]]*)\]", key)
        if not match:
            params[key] = value
            continue
        name, inner = match.groups()
        if inner == "" or inner.isdigit():
            params.setdefault(name, []).append(value)
        else:
            params.setdefault(name, {})[inner] = value
    return params


def _paginate(items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    limit = int(params.get("limit", 10))
    start = 0
    if params.get("starting_after"):
        ids = [i["id"] for i in items]
        start = ids.index(params["starting_after"]) + 1 if params["starting_after"] in ids else len(ids)
    page = items[start : start + limit]
    return {"object": "list", "data": page, "has_more": start + limit < len(items), "url": url}


def _ok(body: Any) -> _Response:
    return _Response(200, orjson.dumps(body))


def _error(
    status: int, kind: str, message: str, *, code: str | None = None, param: str | None = None
) -> _Response:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return _Response(status, orjson.dumps({"error": error}))


def _unrecognized(method: str, path: str) -> _Response:
    return _error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a generated company: ``python -m vitalsign.testing.fakes.stripe --customers 20000``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--invoices", type=int, default=12000)
    parser.add_argument("--api-key", default=fake_api_key("vitalsign"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    fake = FakeStripe(args.api_key)
    fake.record_requests = False
    fake.generate(customers=args.customers, subscriptions=args.subscriptions, invoices=args.invoices)
    server = make_server(fake, args.host, args.port)
    print(f"ready http://{args.host}:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
