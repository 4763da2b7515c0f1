"""The Stripe streams: a full read of each list, then incremental reads of ``/v1/events``.

Cursor (JSON, written by the engine with every batch so a crash resumes where it stopped):

- ``{"phase": "full", "starting_after": "cus_...", "started": 1767225600, "retire_from": "..."}``
  while the first (or a fallback) full read pages through the list; ``started`` is when it began
  (the connector's clock), ``retire_from`` the same moment on the engine's ``synced_at`` clock;
- ``{"phase": "events", "since": 1767225300, "seen": ["evt_..."]}`` afterwards: the next run lists
  events with ``created >= since`` (``seen`` are the ones at that second already applied).

A full read ends with ``since`` a little before it started, so changes made while it paged are
replayed from the events. Stripe lists events of the last 30 days only: an older ``since`` makes
the stream read everything again, and the run log says so. A run with nothing new costs one
request per stream (the events page).

An object deleted while a sync was more than 30 days behind is neither listed any more nor
announced by a ``*.deleted`` event still kept. So a full read that completes retires what it did
not list: its last batch asks the engine to mark deleted the stream's stored rows not written
since ``retire_from`` (every listed object was rewritten after it, in this run or, when the read
was interrupted and resumed, in the one before). Only a read that listed everything does: a
failed one retires nothing, and neither does one that quarantined an object (its stored row
would look unlisted) or one resumed from a cursor without ``retire_from``. Subscriptions are
never retired: Stripe cannot delete them, and ``status=all`` lists the canceled ones.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from vitalsign.core import Batch, QuarantineItem, SourceRequestError, Stream
from vitalsign.core.store import utcnow

from .client import StripeApi
from .settings import StripeSettings

log = logging.getLogger("vitalsign.connectors.stripe")

DAY = 86_400
EVENT_WINDOW = 30 * DAY
"""How far back Stripe lists events."""
WINDOW_MARGIN = 3_600
"""Fall back to a full read this long before the window closes, not at the last second."""
EVENT_LAG = 300
"""``since`` never moves closer than this to now, for events stamped just before a read."""
EVENT_CHUNK = 500


# The streams are ``validated``: the engine trusts their rows instead of running each through the
# table's SQLModel (which costs more than the rest of the sync). These helpers are that validation:
# each checks one value's type and names the field, and a failure quarantines the object with it.


def _ts(value: Any, name: str = "timestamp") -> int | None:
    """A Unix timestamp, kept as the integer Stripe sends: timestamp columns
    (:class:`~vitalsign.core.types.UTCDateTime`) take Unix seconds, and on SQLite the store
    formats a batch of them in SQL, so no datetime is built per value."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected a Unix timestamp, got {type(value).__name__}")
    return value


def _iso(value: Any, name: str = "timestamp") -> str | None:
    seconds = _ts(value, name)
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an integer, got {type(value).__name__}")
    return value


def _num(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


def _str(value: Any, name: str, max_length: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{name}: longer than {max_length} characters")
    return value


def _bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{name}: expected true or false, got {type(value).__name__}")


def _req(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: missing")
    return value


def _id(value: Any) -> str | None:
    """An expandable field: the id whether it came expanded or not."""
    if isinstance(value, dict):
        return value.get("id")
    return value


_KINDS: dict[str, tuple[tuple[type, ...] | None, str]] = {
    "id": ((str,), "expected a string"),
    "string": ((str, type(None)), "expected a string"),
    "integer": ((int, type(None)), "expected an integer"),
    "timestamp": ((int, type(None)), "expected a Unix timestamp"),
    "boolean": ((bool, type(None)), "expected true or false"),
    "any": (None, ""),
}


class RowShape:
    """The checks of the rows one mapping builds: per row key, the Stripe field it came from and
    its kind (``id``: a non-empty string; ``string``, ``integer``, ``timestamp`` (Unix seconds),
    ``boolean``: that type or null; ``any``: built here, not checked). A failure names the Stripe
    field, and the object is quarantined.

    A row's *shape* is the tuple of its value types. The first row of each shape is checked
    field by field; later rows of a known shape cost one ``map(type, ..)`` and a set lookup
    (Stripe objects come in a handful of shapes): at 240k invoices and their lines, a checking
    call per field was most of the mapping's cost. Lengths (``currency``) and non-empty ids are
    checked on every row: the shape cannot tell them."""

    def __init__(self, fields: Mapping[str, tuple[str, str]], *, max_lengths: Mapping[str, int] = {}) -> None:
        self.fields = {key: (name, *_KINDS[kind]) for key, (name, kind) in fields.items()}
        self.ids = [key for key, (_, kind) in fields.items() if kind == "id"]
        self.max_lengths = [(key, fields[key][0], limit) for key, limit in max_lengths.items()]
        self.known: set[tuple[type, ...]] = set()

    def check(self, row: dict[str, Any]) -> dict[str, Any]:
        shape = tuple(map(type, row.values()))
        if shape not in self.known:
            for key, value in row.items():
                name, types, problem = self.fields[key]
                if types is not None and type(value) not in types:
                    if value is None:
                        raise ValueError(f"{name}: missing")
                    raise ValueError(f"{name}: {problem}, got {type(value).__name__}")
            if len(self.known) < 4096:
                self.known.add(shape)
        for key in self.ids:
            if not row[key]:
                raise ValueError(f"{self.fields[key][0]}: missing")
        for key, name, limit in self.max_lengths:
            value = row[key]
            if value is not None and len(value) > limit:
                raise ValueError(f"{name}: longer than {limit} characters")
        return row


def lookup(obj: Mapping[str, Any], dotted: str) -> Any:
    """``metadata.account_id`` -> ``obj["metadata"]["account_id"]`` (None when missing)."""
    value: Any = obj
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class StripeStream(Stream):
    """A Stripe list endpoint with its event types; subclasses map objects to rows."""

    path: ClassVar[str]
    object_name: ClassVar[str]
    event_types: ClassVar[tuple[str, ...]]
    """Default: ``<object>.created``, ``.updated`` and ``.deleted``."""
    deleted_events: ClassVar[frozenset[str]] = frozenset()
    list_params: ClassVar[Mapping[str, Any]] = {}
    retrieve_params: ClassVar[Mapping[str, Any]] = {}
    cursor_field = "events.created"
    validated: ClassVar[bool] = True
    """Rows are type-checked by the mapping below (failures are quarantined with the field named),
    so the engine skips its per-row model validation."""
    prefetch: ClassVar[int] = 2
    """Batches read ahead while the engine writes the previous one."""
    read_in_process: ClassVar[bool] = True
    """In a child process: the client's CPU (HTTP through stripe and httpx, JSON, mapping) is
    what limits a sync, and there it runs on the other core than the SQLite writes (full
    benchmark: see bench/bench_stripe.py). The shared rate limit holds across processes."""
    pages_per_batch: ClassVar[int] = 5
    retire_unseen: ClassVar[bool] = True
    """A completed full read marks deleted the stored rows it did not list (see the module doc)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Objects with the plain lifecycle events need not spell them out."""
        super().__init_subclass__(**kwargs)
        if "object_name" in cls.__dict__ and "event_types" not in cls.__dict__:
            name = cls.object_name
            cls.event_types = (f"{name}.created", f"{name}.updated", f"{name}.deleted")
            cls.deleted_events = frozenset({f"{name}.deleted"})

    def __init__(
        self,
        api: StripeApi,
        settings: StripeSettings,
        *,
        source: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.settings = settings
        self.source = source
        self.clock = clock

    # ---------------------------------------------------------------- mapping (per stream)

    def record(self, obj: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def children(self, obj: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {}

    def complete(self, obj: dict[str, Any], *, from_event: bool) -> dict[str, Any] | None:
        """The object with everything :meth:`record` needs (refetch or page what is missing)."""
        return obj

    # ---------------------------------------------------------------- reading

    def read(self, cursor: Any) -> Iterator[Batch]:
        state = cursor if isinstance(cursor, dict) else {}
        now = int(self.clock())
        if state.get("phase") == "events":
            since = int(state["since"])
            age = now - since
            if age <= EVENT_WINDOW - WINDOW_MARGIN:
                yield from self._read_events(since, set(state.get("seen") or ()), now)
                return
            notice = (
                f"{self.name}: the events cursor is {age / DAY:.1f} days old and Stripe lists events "
                f"for 30 days only: reading everything again"
            )
            log.warning("%s/%s", self.source, notice)
            yield from self._read_full(None, now, _synced_clock(), [notice])
            return
        started = int(state.get("started") or now)
        if now - started > EVENT_WINDOW - WINDOW_MARGIN:
            notice = (
                f"{self.name}: the interrupted full read began {(now - started) / DAY:.1f} days ago, "
                f"beyond Stripe's 30 days of events: starting it again"
            )
            log.warning("%s/%s", self.source, notice)
            yield from self._read_full(None, now, _synced_clock(), [notice])
            return
        if not state:
            retire_from: str | None = _synced_clock()
        else:  # resumed: rows it wrote before the interruption are stamped after its retire_from
            retire_from = state.get("retire_from")
        yield from self._read_full(state.get("starting_after"), started, retire_from, [])

    def _read_full(
        self, starting_after: str | None, started: int, retire_from: str | None, notes: list[str]
    ) -> Iterator[Batch]:
        params = {**self.list_params}
        if starting_after is not None:
            try:
                first = self.api.get(
                    self.path, {**params, "limit": self.api.page_size, "starting_after": starting_after}
                )
            except SourceRequestError as exc:
                if exc.status_code not in (400, 404):
                    raise
                # the object the read stopped after was deleted since: Stripe cannot page from it
                notes = [*notes, f"{self.name}: cannot resume after {starting_after} ({exc}); reading again"]
                starting_after = None
            else:
                yield from self._full_pages(
                    itertools.chain([first], self._more(first, params)), started, retire_from, notes
                )
                return
        yield from self._full_pages(self.api.pages(self.path, params), started, retire_from, notes)

    def _more(self, page: dict[str, Any], params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        data = page.get("data") or []
        if page.get("has_more") and data:
            yield from self.api.pages(self.path, params, starting_after=data[-1]["id"])

    def _full_pages(
        self, pages: Iterator[dict[str, Any]], started: int, retire_from: str | None, notes: list[str]
    ) -> Iterator[Batch]:
        """One batch per ``pages_per_batch`` pages: fewer, larger transactions (the engine's cost per
        batch is a commit, a cursor write and a children check), resumable at each. The last one
        retires the stored rows the read did not list."""
        done = {"phase": "events", "since": started - EVENT_LAG, "seen": []}
        if not self.retire_unseen:
            retire_from = None
        emitted = False
        objects: list[dict[str, Any]] = []
        held = 0
        for page in pages:
            data = page.get("data") or []
            objects.extend(data)
            held += 1
            more = bool(page.get("has_more")) and bool(data)
            if more and held < self.pages_per_batch:
                continue
            batch = self._batch([(obj, False) for obj in objects])
            if batch.quarantine and retire_from is not None:
                retire_from = None
                batch.log.append(
                    f"{self.name}: objects quarantined, so this full read marks no unlisted row deleted"
                )
            if more:
                batch.cursor = {"phase": "full", "starting_after": data[-1]["id"], "started": started}
                if retire_from is not None:
                    batch.cursor["retire_from"] = retire_from
            else:
                batch.cursor = done
                batch.retire_unseen_before = _parse_instant(retire_from)
            if not emitted:
                batch.log = [*notes, *batch.log]
                emitted = True
            objects, held = [], 0
            yield batch
        if not emitted:
            yield Batch(cursor=done, log=notes, retire_unseen_before=_parse_instant(retire_from))

    def _read_events(self, since: int, seen: set[str], now: int) -> Iterator[Batch]:
        params = {"types": list(self.event_types), "created": {"gte": since}}
        newest_first: list[dict[str, Any]] = []
        for page in self.api.pages("/v1/events", params):
            newest_first.extend(e for e in page.get("data") or [] if e["id"] not in seen)
        events = sorted(reversed(newest_first), key=lambda e: int(e["created"]))
        if not events:
            yield Batch(cursor=_events_cursor(since, seen, [], now))
            return
        for start in range(0, len(events), EVENT_CHUNK):
            chunk = events[start : start + EVENT_CHUNK]
            latest: dict[str, dict[str, Any]] = {}
            for event in chunk:
                obj = event["data"]["object"]
                latest.pop(obj["id"], None)  # keep the order of last change
                latest[obj["id"]] = event
            deleted = [oid for oid, e in latest.items() if e["type"] in self.deleted_events]
            changed = [
                (e["data"]["object"], True) for e in latest.values() if e["type"] not in self.deleted_events
            ]
            batch = self._batch(changed)
            batch.deleted.extend(deleted)
            last = chunk[-1] if start + EVENT_CHUNK < len(events) else None
            if last is not None:
                at = int(last["created"])
                batch.cursor = {
                    "phase": "events",
                    "since": at,
                    "seen": [e["id"] for e in events[: start + EVENT_CHUNK] if int(e["created"]) == at],
                }
            else:
                batch.cursor = _events_cursor(since, seen, events, now)
            yield batch

    def _batch(self, objects: list[tuple[dict[str, Any], bool]]) -> Batch:
        batch = Batch()
        for raw, from_event in objects:
            try:
                obj = self.complete(raw, from_event=from_event)
                if obj is None:
                    continue
                if obj.get("deleted") is True:
                    batch.deleted.append(obj["id"])
                    continue
                record, children = self.record(obj), self.children(obj)
                batch.records.append(record)  # only once its children mapped too: all or nothing
                for child, rows in children.items():
                    batch.children.setdefault(child, []).extend(rows)
            except (KeyError, TypeError, ValueError) as exc:
                batch.quarantine.append(
                    QuarantineItem(
                        reason=f"{self.object_name} could not be mapped: {type(exc).__name__}: {exc}",
                        payload=_dump(raw),
                        source_id=raw.get("id") if isinstance(raw, dict) else None,
                    )
                )
        for child in self.child_tables:
            batch.children.setdefault(child, [])
        return batch


def _synced_clock() -> str:
    """Now on the engine's ``synced_at`` clock, for the cursor (see :class:`Batch`)."""
    return utcnow().isoformat()


def _parse_instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _events_cursor(since: int, seen: set[str], events: list[dict[str, Any]], now: int) -> dict[str, Any]:
    """After applying ``events``: ``since`` moves up to ``now - EVENT_LAG`` (events stamped earlier
    than that are all listed by now); ``seen`` keeps the applied events at or after it, which the
    next ``created >= since`` listing returns again."""
    cut = max(since, now - EVENT_LAG)
    kept = {e["id"] for e in events if int(e["created"]) >= cut}
    if cut == since:
        kept |= seen
    return {"phase": "events", "since": cut, "seen": sorted(kept)}


def _dump(obj: Any) -> str:
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        return repr(obj)


# ==================================================================== the streams


class CustomerStream(StripeStream):
    name = "customers"
    table = "source_accounts"
    path = "/v1/customers"
    object_name = "customer"

    def record(self, obj: dict[str, Any]) -> dict[str, Any]:
        get = obj.get
        email = _str(get("email"), "email")
        domain = email.rsplit("@", 1)[1].strip().lower() if email and "@" in email else None
        key = lookup(obj, self.settings.account_key) if self.settings.account_key else None
        return _CUSTOMER.check(
            {
                "source_id": get("id"),
                "deleted": False,
                "kind": "customer",
                "name": get("name"),
                "email": email,
                "domain": domain or None,
                "account_key": str(key) if key not in (None, "") else None,
                "currency": get("currency"),
                "delinquent": get("delinquent"),
                "created_at": get("created"),
                "properties": {"metadata": get("metadata") or {}, "description": get("description")},
            }
        )


class ProductStream(StripeStream):
    name = "products"
    table = "products"
    path = "/v1/products"
    object_name = "product"

    def record(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "source_id": _req(obj.get("id"), "id"),
            "deleted": False,
            "name": _str(obj.get("name"), "name"),
            "active": _bool(obj.get("active"), "active"),
            "created_at": _ts(obj.get("created"), "created"),
        }


class PriceStream(StripeStream):
    name = "prices"
    table = "prices"
    path = "/v1/prices"
    object_name = "price"

    def record(self, obj: dict[str, Any]) -> dict[str, Any]:
        return price_record(obj)


def price_record(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A price; a decimal-only unit amount (sub-cent prices) is rounded to whole minor units."""
    recurring = obj.get("recurring") or {}
    unit = _int(obj.get("unit_amount"), "unit_amount")
    if unit is None and obj.get("unit_amount_decimal") not in (None, ""):
        unit = round(float(obj["unit_amount_decimal"]))
    return {
        "source_id": _req(obj.get("id"), "id"),
        "deleted": False,
        "product_id": _str(_id(obj.get("product")), "product"),
        "nickname": _str(obj.get("nickname"), "nickname"),
        "currency": _str(obj.get("currency"), "currency", 3),
        "unit_amount": unit,
        "type": _str(obj.get("type"), "type"),
        "billing_scheme": _str(obj.get("billing_scheme"), "billing_scheme"),
        "recurring_interval": _str(recurring.get("interval"), "recurring.interval"),
        "recurring_interval_count": _int(recurring.get("interval_count"), "recurring.interval_count"),
        "usage_type": _str(recurring.get("usage_type"), "recurring.usage_type"),
        "active": _bool(obj.get("active"), "active"),
        "created_at": _ts(obj.get("created"), "created"),
    }


class CouponStream(StripeStream):
    name = "coupons"
    table = "coupons"
    path = "/v1/coupons"
    object_name = "coupon"

    def record(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "source_id": _req(obj.get("id"), "id"),
            "deleted": False,
            "name": _str(obj.get("name"), "name"),
            "percent_off": _num(obj.get("percent_off"), "percent_off"),
            "amount_off": _int(obj.get("amount_off"), "amount_off"),
            "currency": _str(obj.get("currency"), "currency", 3),
            "duration": _str(obj.get("duration"), "duration"),
            "duration_in_months": _int(obj.get("duration_in_months"), "duration_in_months"),
            "created_at": _ts(obj.get("created"), "created"),
        }


def _discounts(values: list[Any] | None) -> list[dict[str, Any]]:
    out = []
    for value in values or []:
        if not isinstance(value, dict):
            out.append({"id": _str(value, "discounts[]"), "coupon_id": None, "start": None, "end": None})
            continue
        source = value.get("source") or {}
        coupon = _id(source.get("coupon")) or _id(value.get("coupon"))
        out.append(
            {
                "id": value.get("id"),
                "coupon_id": coupon,
                "start": _iso(value.get("start"), "discount.start"),
                "end": _iso(value.get("end"), "discount.end"),
            }
        )
    return out


class SubscriptionStream(StripeStream):
    name = "subscriptions"
    table = "subscriptions"
    path = "/v1/subscriptions"
    object_name = "subscription"
    child_tables = {"subscription_items": "subscription_id"}
    list_params = {"status": "all", "expand": ["data.discounts", "data.items.data.discounts"]}
    retrieve_params = {"expand": ["discounts", "items.data.discounts"]}
    event_types = (
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
        "customer.subscription.trial_will_end",
    )
    # customer.subscription.deleted means *ended*: the subscription stays, with status canceled.
    retire_unseen = False

    def complete(self, obj: dict[str, Any], *, from_event: bool) -> dict[str, Any] | None:
        items = obj.get("items") or {}
        unexpanded = any(not isinstance(d, dict) for d in obj.get("discounts") or []) or any(
            not isinstance(d, dict) for i in items.get("data") or [] for d in i.get("discounts") or []
        )
        if from_event and unexpanded:
            obj = self.api.get(f"{self.path}/{obj['id']}", self.retrieve_params)
            items = obj.get("items") or {}
        if items.get("has_more"):
            data = list(items.get("data") or [])
            pages = self.api.pages(
                "/v1/subscription_items",
                {"subscription": obj["id"], "expand": ["data.discounts"]},
                starting_after=data[-1]["id"] if data else None,
            )
            for page in pages:
                data.extend(page.get("data") or [])
            obj = {**obj, "items": {**items, "data": data, "has_more": False}}
        return obj

    def record(self, obj: dict[str, Any]) -> dict[str, Any]:
        get = obj.get
        items = (get("items") or {}).get("data") or []
        starts = [i["current_period_start"] for i in items if i.get("current_period_start")]
        ends = [i["current_period_end"] for i in items if i.get("current_period_end")]
        return _SUBSCRIPTION.check(
            {
                "source_id": get("id"),
                "deleted": False,
                "source_account_id": _id(get("customer")),
                "status": get("status"),
                "currency": get("currency"),
                "collection_method": get("collection_method"),
                "created_at": get("created"),
                "start_date": get("start_date"),
                "trial_start": get("trial_start"),
                "trial_end": get("trial_end"),
                "current_period_start": _ts(min(starts), "items.current_period_start") if starts else None,
                "current_period_end": _ts(max(ends), "items.current_period_end") if ends else None,
                "cancel_at_period_end": get("cancel_at_period_end"),
                "cancel_at": get("cancel_at"),
                "canceled_at": get("canceled_at"),
                "ended_at": get("ended_at"),
                "discounts": _discounts(get("discounts")),
            }
        )

    def children(self, obj: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        check = _SUBSCRIPTION_ITEM.check
        rows = [
            check(
                {
                    "source_id": item.get("id"),
                    "deleted": False,
                    "subscription_id": obj["id"],
                    "price_id": _id(item.get("price")),
                    "quantity": item.get("quantity"),
                    "current_period_start": item.get("current_period_start"),
                    "current_period_end": item.get("current_period_end"),
                    "discounts": _discounts(item.get("discounts")),
                    "created_at": item.get("created"),
                }
            )
            for item in (obj.get("items") or {}).get("data") or []
        ]
        return {"subscription_items": rows}


class InvoiceStream(StripeStream):
    name = "invoices"
    table = "invoices"
    path = "/v1/invoices"
    object_name = "invoice"
    child_tables = {"invoice_lines": "invoice_id"}
    event_types = (
        "invoice.created",
        "invoice.updated",
        "invoice.deleted",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.payment_action_required",
        "invoice.marked_uncollectible",
        "invoice.voided",
        "invoice.overdue",
        "invoice.sent",
    )
    deleted_events = frozenset({"invoice.deleted"})  # only drafts can be deleted

    def complete(self, obj: dict[str, Any], *, from_event: bool) -> dict[str, Any] | None:
        lines = obj.get("lines") or {}
        if not lines.get("has_more"):
            return obj
        data = list(lines.get("data") or [])
        for page in self.api.pages(
            f"/v1/invoices/{obj['id']}/lines", starting_after=data[-1]["id"] if data else None
        ):
            data.extend(page.get("data") or [])
        return {**obj, "lines": {**lines, "data": data, "has_more": False}}

    def record(self, obj: dict[str, Any]) -> dict[str, Any]:
        get = obj.get
        parent = get("parent") or {}
        subscription = _id((parent.get("subscription_details") or {}).get("subscription")) or _id(
            get("subscription")
        )
        taxes = get("total_taxes")
        tax = sum(_int(t.get("amount"), "total_taxes.amount") or 0 for t in taxes) if taxes else get("tax")
        return _INVOICE.check(
            {
                "source_id": get("id"),
                "deleted": False,
                "source_account_id": _id(get("customer")),
                "subscription_id": subscription,
                "status": get("status"),
                "billing_reason": get("billing_reason"),
                "currency": get("currency"),
                "subtotal": get("subtotal"),
                "tax": tax,
                "total": get("total"),
                "amount_due": get("amount_due"),
                "amount_paid": get("amount_paid"),
                "created_at": get("created"),
                "period_start": get("period_start"),
                "period_end": get("period_end"),
                "due_date": get("due_date"),
                "paid_at": (get("status_transitions") or {}).get("paid_at"),
            }
        )

    def children(self, obj: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        invoice = obj["id"]
        return {
            "invoice_lines": [
                line_record(invoice, line) for line in (obj.get("lines") or {}).get("data") or []
            ]
        }


def line_record(invoice_id: str, line: Mapping[str, Any]) -> dict[str, Any]:
    """One invoice line (basil+ shape: ``parent``, ``pricing``, ``taxes``)."""
    get = line.get
    parent = get("parent") or {}
    item_details = parent.get("subscription_item_details") or {}
    details = item_details or parent.get("invoice_item_details") or {}
    pricing = (get("pricing") or {}).get("price_details") or {}
    period = get("period") or {}
    inclusive = exclusive = discount = 0
    for tax in get("taxes") or ():
        amount = _int(tax.get("amount"), "lines.taxes.amount") or 0
        if tax.get("tax_behavior") == "inclusive":
            inclusive += amount
        else:
            exclusive += amount
    for off in get("discount_amounts") or ():
        discount += _int(off.get("amount"), "lines.discount_amounts.amount") or 0
    return _LINE.check(
        {
            "source_id": get("id"),
            "deleted": False,
            "invoice_id": invoice_id,
            "subscription_id": _id(details.get("subscription")) or _id(get("subscription")),
            "subscription_item_id": item_details.get("subscription_item") or get("subscription_item"),
            "price_id": _id(pricing.get("price")) or _id(get("price")),
            "kind": "subscription" if parent.get("type") == "subscription_item_details" else "invoiceitem",
            "currency": get("currency"),
            "amount": get("amount"),
            "discount_amount": discount,
            "inclusive_tax_amount": inclusive,
            "exclusive_tax_amount": exclusive,
            "quantity": get("quantity"),
            "proration": bool(details.get("proration")),
            "period_start": period.get("start"),
            "period_end": period.get("end"),
            "description": get("description"),
        }
    )


_CUSTOMER = RowShape(
    {
        "source_id": ("id", "id"),
        "deleted": ("deleted", "boolean"),
        "kind": ("object", "string"),
        "name": ("name", "string"),
        "email": ("email", "string"),
        "domain": ("email", "string"),
        "account_key": ("account key", "string"),
        "currency": ("currency", "string"),
        "delinquent": ("delinquent", "boolean"),
        "created_at": ("created", "timestamp"),
        "properties": ("metadata", "any"),
    },
    max_lengths={"currency": 3},
)
_SUBSCRIPTION = RowShape(
    {
        "source_id": ("id", "id"),
        "deleted": ("deleted", "boolean"),
        "source_account_id": ("customer", "string"),
        "status": ("status", "string"),
        "currency": ("currency", "string"),
        "collection_method": ("collection_method", "string"),
        "created_at": ("created", "timestamp"),
        "start_date": ("start_date", "timestamp"),
        "trial_start": ("trial_start", "timestamp"),
        "trial_end": ("trial_end", "timestamp"),
        "current_period_start": ("items.current_period_start", "timestamp"),
        "current_period_end": ("items.current_period_end", "timestamp"),
        "cancel_at_period_end": ("cancel_at_period_end", "boolean"),
        "cancel_at": ("cancel_at", "timestamp"),
        "canceled_at": ("canceled_at", "timestamp"),
        "ended_at": ("ended_at", "timestamp"),
        "discounts": ("discounts", "any"),
    },
    max_lengths={"currency": 3},
)
_SUBSCRIPTION_ITEM = RowShape(
    {
        "source_id": ("items.id", "id"),
        "deleted": ("deleted", "boolean"),
        "subscription_id": ("id", "id"),
        "price_id": ("items.price", "string"),
        "quantity": ("items.quantity", "integer"),
        "current_period_start": ("items.current_period_start", "timestamp"),
        "current_period_end": ("items.current_period_end", "timestamp"),
        "discounts": ("items.discounts", "any"),
        "created_at": ("items.created", "timestamp"),
    }
)
_INVOICE = RowShape(
    {
        "source_id": ("id", "id"),
        "deleted": ("deleted", "boolean"),
        "source_account_id": ("customer", "string"),
        "subscription_id": ("parent.subscription_details.subscription", "string"),
        "status": ("status", "string"),
        "billing_reason": ("billing_reason", "string"),
        "currency": ("currency", "string"),
        "subtotal": ("subtotal", "integer"),
        "tax": ("tax", "integer"),
        "total": ("total", "integer"),
        "amount_due": ("amount_due", "integer"),
        "amount_paid": ("amount_paid", "integer"),
        "created_at": ("created", "timestamp"),
        "period_start": ("period_start", "timestamp"),
        "period_end": ("period_end", "timestamp"),
        "due_date": ("due_date", "timestamp"),
        "paid_at": ("status_transitions.paid_at", "timestamp"),
    },
    max_lengths={"currency": 3},
)
_LINE = RowShape(
    {
        "source_id": ("lines.id", "id"),
        "deleted": ("deleted", "boolean"),
        "invoice_id": ("id", "id"),
        "subscription_id": ("lines.parent.subscription", "string"),
        "subscription_item_id": ("lines.subscription_item", "string"),
        "price_id": ("lines.pricing.price", "string"),
        "kind": ("lines.parent.type", "string"),
        "currency": ("lines.currency", "string"),
        "amount": ("lines.amount", "integer"),
        "discount_amount": ("lines.discount_amounts.amount", "integer"),
        "inclusive_tax_amount": ("lines.taxes.amount", "integer"),
        "exclusive_tax_amount": ("lines.taxes.amount", "integer"),
        "quantity": ("lines.quantity", "integer"),
        "proration": ("lines.proration", "boolean"),
        "period_start": ("lines.period.start", "timestamp"),
        "period_end": ("lines.period.end", "timestamp"),
        "description": ("lines.description", "string"),
    },
    max_lengths={"currency": 3},
)


STREAMS: tuple[type[StripeStream], ...] = (
    CustomerStream,
    ProductStream,
    PriceStream,
    CouponStream,
    SubscriptionStream,
    InvoiceStream,
)
