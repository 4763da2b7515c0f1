"""The Stripe connector through the official stripe client against the stateful fake (respx)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from vitalsign.connectors.stripe.client import API_VERSION
from vitalsign.connectors.stripe.streams import StripeStream
from vitalsign.core.errors import AuthenticationError, ConfigError
from vitalsign.core.store import table
from vitalsign.testing.fakes.stripe import fake_api_key, ts
from vitalsign.testing.stripe_sandbox import API_KEY, StripeSandbox


@pytest.fixture
def box(sqlite_store):
    with StripeSandbox(sqlite_store) as sandbox:
        yield sandbox


@pytest.fixture
def any_box(store):
    """The sandbox on SQLite and on PostgreSQL (when configured)."""
    with StripeSandbox(store) as sandbox:
        yield sandbox


def company(box):
    """Two customers on a seat plan (one with a coupon), one product catalogue, six invoices."""
    fake = box.fake
    team = fake.create_product("Team")
    seat = fake.create_price(team["id"], 1200, nickname="Team seat")
    coupon = fake.create_coupon(percent_off=20, duration="forever", name="Launch 20%")
    acme = fake.create_customer(
        email="Billing@Acme.io", name="Acme Ltd", metadata={"account_id": "ACC-1"}, created=ts("2025-01-01")
    )
    beta = fake.create_customer(email="ops@beta.dev", name="Beta", created=ts("2025-01-02"))
    s1 = fake.create_subscription(acme["id"], [(seat["id"], 5)], start=ts("2025-01-01"), coupon=coupon["id"])
    s2 = fake.create_subscription(beta["id"], [(seat["id"], 2)], start=ts("2025-01-15"))
    fake.advance(ts("2025-03-20"))
    return {"acme": acme, "beta": beta, "seat": seat, "coupon": coupon, "s1": s1, "s2": s2, "team": team}


def state(box, stream):
    sync_state = table("sync_state")
    with box.store.connect() as conn:
        return conn.execute(select(sync_state.c.cursor).where(sync_state.c.stream == stream)).scalar()


def test_full_sync_maps_every_stream_to_its_table(box):
    objs = company(box)
    summary = box.sync()
    assert summary.status == "success", summary.error
    assert {n: s.rows for n, s in summary.streams.items() if n != "invoices"} == {
        "customers": 2,
        "products": 1,
        "prices": 1,
        "coupons": 1,
        "subscriptions": 2,
    }
    [acme] = box.rows("source_accounts", source_id=objs["acme"]["id"])
    assert (acme.kind, acme.email, acme.domain, acme.account_key, acme.currency) == (
        "customer",
        "Billing@Acme.io",
        "acme.io",
        "ACC-1",
        "usd",
    )
    [beta] = box.rows("source_accounts", source_id=objs["beta"]["id"])
    assert beta.account_key is None
    [sub] = box.rows("subscriptions", source_id=objs["s1"]["id"])
    assert (sub.status, sub.source_account_id, sub.discounts[0]["coupon_id"]) == (
        "active",
        objs["acme"]["id"],
        objs["coupon"]["id"],
    )
    assert sub.current_period_start.isoformat() == "2025-03-01T00:00:00+00:00"
    [item] = box.rows("subscription_items", subscription_id=objs["s1"]["id"])
    assert (item.price_id, item.quantity) == (objs["seat"]["id"], 5)
    [price] = box.rows("prices")
    assert (
        price.recurring_interval,
        price.recurring_interval_count,
        price.usage_type,
        price.unit_amount,
    ) == (
        "month",
        1,
        "licensed",
        1200,
    )
    invoices = box.rows("invoices", subscription_id=objs["s1"]["id"])
    assert len(invoices) == 3
    assert {i.status for i in invoices} == {"paid"}
    lines = box.rows("invoice_lines", subscription_id=objs["s1"]["id"])
    assert {(ln.amount, ln.discount_amount, ln.quantity, ln.kind) for ln in lines} == {
        (6000, 1200, 5, "subscription")
    }
    assert all(ln.subscription_item_id == item.source_id for ln in lines)
    # the requests carried the pinned API version and the key, as the official client sends them
    assert box.fake.requests
    assert all(r.status == 200 for r in box.fake.requests)


def test_requests_use_the_pinned_api_version_and_expand_discounts(box):
    company(box)
    seen = []
    original = box.fake.handle

    def spy(method, target, headers):
        seen.append((target, headers.get("stripe-version")))
        return original(method, target, headers)

    box.fake.handle = spy
    box.sync()
    assert {version for _, version in seen} == {API_VERSION}
    subs = [t for t, _ in seen if t.startswith("/v1/subscriptions?")]
    assert subs
    assert "status=all" in subs[0]
    assert "expand[0]=data.discounts" in subs[0]
    assert all("limit=100" in t for t, _ in seen if "?" in t)


def test_stripe_logging_when_switched_on_still_sees_every_response(box, caplog, monkeypatch):
    """Off (the default), requests skip ``request_raw`` and its per-body log line; on, they go
    through it and stripe logs each response as it always did."""
    import logging

    from stripe._api_requestor import _APIRequestor

    company(box)
    calls = []
    original = _APIRequestor.request_raw

    def spy(self, *args, **kwargs):
        calls.append(args[1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_APIRequestor, "request_raw", spy)
    caplog.set_level(logging.WARNING, logger="stripe")
    assert box.sync().status == "success"
    assert calls == []
    caplog.set_level(logging.DEBUG, logger="stripe")
    assert box.sync().status == "success"
    assert calls
    bodies = [r for r in caplog.records if r.name == "stripe" and "API response body" in r.getMessage()]
    assert len(bodies) == len(calls)


def test_pagination_over_three_pages_resumes_from_its_cursor(box):
    for i in range(250):
        box.fake.create_customer(email=f"ops@c{i}.com", name=f"C{i}")
    summary = box.sync()
    assert summary.streams["customers"].rows == 250
    assert box.fake.count("/v1/customers") == 3
    assert [r.params.get("starting_after") is None for r in box.fake.requests[:3]] == [True, False, False]
    assert len(box.rows("source_accounts")) == 250
    assert state(box, "customers")["phase"] == "events"


def test_a_crash_mid_full_read_resumes_after_the_last_committed_page(box):
    ids = [box.fake.create_customer(email=f"ops@c{i}.com")["id"] for i in range(250)]
    newest_first = ids[::-1]
    with box.store.begin() as conn:
        box.store.upsert(
            conn,
            "sync_state",
            [
                {
                    "connector": "stripe",
                    "stream": "customers",
                    "cursor": {"phase": "full", "starting_after": newest_first[99], "started": box.clock.now},
                }
            ],
        )
    summary = box.sync()
    assert summary.streams["customers"].rows == 150
    assert box.fake.count("/v1/customers") == 2
    assert box.fake.requests[0].params["starting_after"] == newest_first[99]


def test_429_with_retry_after_then_success(box):
    company(box)
    box.fake.fail(429, retry_after=3, path="/v1/customers")
    summary = box.sync()
    assert summary.status == "success"
    assert box.sleeps == [3.0]  # Retry-After honoured, through the shared retry layer
    assert [r.status for r in box.fake.requests[:2]] == [429, 200]


def test_two_500s_then_success(box):
    company(box)
    box.fake.fail(500, times=2, path="/v1/invoices")
    summary = box.sync()
    assert summary.status == "success"
    assert len(box.sleeps) == 2
    assert box.sleeps[1] > box.sleeps[0] * 0.9
    assert summary.streams["invoices"].rows == 6


def test_retries_exhausted_fail_the_stream_with_one_clean_line(box):
    company(box)
    box.fake.fail(503, times=10, path="/v1/prices")
    summary = box.sync()
    assert summary.status == "failed"
    assert summary.streams["prices"].status == "failed"
    assert "gave up after 4 attempts" in summary.streams["prices"].error
    assert summary.streams["customers"].status == "success"
    assert "\n" not in summary.error


def test_bad_api_key_is_an_authentication_error_naming_the_setting_not_the_key(box):
    company(box)
    connector = box.connector(api_key=fake_api_key("Wrong9999"))
    with pytest.raises(AuthenticationError) as err:
        connector.check()
    message = str(err.value)
    assert "connectors.stripe.api_key" in message
    assert "9999" not in message
    assert "sk_test" not in message
    assert API_KEY not in message
    assert "key accepted" in box.connector().check()


def test_a_run_with_nothing_new_costs_one_request_per_stream(box):
    company(box)
    box.sync()
    box.clock.advance(seconds=3600)
    box.sync()  # replays the events of the first hour (changes made while the full read ran)
    box.clock.advance(seconds=3600)
    before = box.fake.count()
    summary = box.sync()
    assert summary.status == "success"
    requests = box.fake.requests[before:]
    assert len(requests) == 6
    assert {r.path for r in requests} == {"/v1/events"}
    assert summary.rows == 0


def test_incremental_sync_applies_changes_deletions_and_new_objects(box):
    objs = company(box)
    box.sync()
    box.clock.advance(seconds=3600)
    box.sync()
    box.clock.advance(days=2)
    fake = box.fake
    fake.update("customer", objs["beta"]["id"], email="finance@beta.dev", name="Beta GmbH")
    fake.delete("customer", objs["acme"]["id"])  # also cancels Acme's subscription at once
    addon = fake.create_product("Add-on")
    fake.create_price(addon["id"], 500, nickname="Add-on")
    fake.delete("coupon", objs["coupon"]["id"])
    gamma = fake.create_customer(email="hi@gamma.io", name="Gamma")
    s3 = fake.create_subscription(gamma["id"], [(objs["seat"]["id"], 1)], start=ts("2025-03-20"))
    box.clock.advance(seconds=10)
    before = fake.count()

    summary = box.sync()

    assert summary.status == "success", summary.error
    [beta] = box.rows("source_accounts", source_id=objs["beta"]["id"])
    assert (beta.email, beta.name, beta.deleted) == ("finance@beta.dev", "Beta GmbH", False)
    [acme] = box.rows("source_accounts", source_id=objs["acme"]["id"])
    assert acme.deleted is True
    [sub] = box.rows("subscriptions", source_id=objs["s1"]["id"])
    assert (sub.status, sub.ended_at is not None) == ("canceled", True)
    [coupon] = box.rows("coupons")
    assert coupon.deleted is True
    assert len(box.rows("prices")) == 2
    assert len(box.rows("products")) == 2
    assert box.rows("subscriptions", source_id=s3["id"])
    assert len(box.rows("invoices", subscription_id=s3["id"])) == 1
    paths = [r.path for r in fake.requests[before:]]
    # one events page per stream, plus one refetch of the subscription whose discounts the event
    # payload only names by id
    assert paths.count("/v1/events") == 6
    assert paths.count(f"/v1/subscriptions/{objs['s1']['id']}") == 1
    assert not [p for p in paths if p in ("/v1/customers", "/v1/invoices", "/v1/subscriptions")]


def test_events_cursor_older_than_30_days_falls_back_to_a_full_read(box):
    objs = company(box)
    box.sync()
    box.clock.advance(days=40)
    box.fake.update("customer", objs["beta"]["id"], name="Beta renamed")
    box.clock.advance(seconds=60)
    before = box.fake.count()
    summary = box.sync()
    assert summary.status == "success"
    assert any("40.0 days old" in line and "reading everything again" in line for line in summary.log)
    paths = {r.path for r in box.fake.requests[before:]}
    assert {"/v1/customers", "/v1/products", "/v1/invoices", "/v1/subscriptions"} <= paths
    assert "/v1/events" not in paths
    [beta] = box.rows("source_accounts", source_id=objs["beta"]["id"])
    assert beta.name == "Beta renamed"
    assert state(box, "customers")["phase"] == "events"


def test_deleted_customer_stays_as_a_row_marked_deleted(box):
    objs = company(box)
    box.fake.delete("customer", objs["beta"]["id"])
    box.sync()
    # a first full read never sees the deleted customer; its invoices and subscription still load
    assert box.rows("source_accounts", source_id=objs["beta"]["id"]) == []
    assert box.rows("subscriptions", source_id=objs["s2"]["id"])[0].status == "canceled"
    box.clock.advance(seconds=3600)
    box.fake.delete("customer", objs["acme"]["id"])
    box.clock.advance(seconds=3600)
    box.sync()
    [acme] = box.rows("source_accounts", source_id=objs["acme"]["id"])
    assert acme.deleted is True
    assert acme.account_key == "ACC-1"


def test_invoice_lines_and_subscription_items_beyond_the_embedded_ten_are_paged(box):
    product = box.fake.create_product("Modules")
    prices = [box.fake.create_price(product["id"], 100 * (i + 1), nickname=f"M{i}") for i in range(12)]
    cus = box.fake.create_customer(email="x@many.io")
    sub = box.fake.create_subscription(cus["id"], [(p["id"], 1) for p in prices], start=ts("2025-01-01"))
    summary = box.sync(page_size=5)
    assert summary.status == "success"
    assert len(box.rows("invoice_lines", subscription_id=sub["id"])) == 12
    assert len(box.rows("subscription_items", subscription_id=sub["id"])) == 12
    assert box.fake.count("/v1/invoices/") == 1  # the 2 lines after the embedded 10, one page of 5
    assert box.fake.count("/v1/subscription_items") == 1


def test_removed_subscription_items_are_marked_deleted_on_the_next_read(box):
    objs = company(box)
    box.sync()
    box.clock.advance(seconds=3600)
    box.sync()
    box.clock.advance(days=1)
    sub = box.fake.get("subscription", objs["s2"]["id"])
    removed = sub["items"][0]["id"]
    other = box.fake.create_price(objs["team"]["id"], 1500, nickname="Team seat v2")
    sub["items"][0] = {**sub["items"][0], "id": "si_replacement00001", "price": other}
    box.fake.update("subscription", sub["id"], metadata={"migrated": "v2"})
    box.clock.advance(seconds=10)
    box.sync()
    items = {r.source_id: r.deleted for r in box.rows("subscription_items", subscription_id=sub["id"])}
    assert items == {removed: True, "si_replacement00001": False}


def test_settings_refuse_a_literal_key_and_bad_values():
    from vitalsign.connectors.stripe.connector import StripeConnector
    from vitalsign.core.config import ConnectorConfig, build_settings

    with pytest.raises(ConfigError, match=r"connectors\.stripe\.api_key is a secret"):
        build_settings(ConnectorConfig("stripe", "stripe", {"api_key": API_KEY}), StripeConnector)
    with pytest.raises(ConfigError, match=r"connectors\.stripe\.page_size"):
        build_settings(
            ConnectorConfig("stripe", "stripe", {"api_key": "", "page_size": 500}), StripeConnector
        )
    settings = build_settings(ConnectorConfig("stripe", "stripe", {"api_key": ""}), StripeConnector)
    assert (settings.rate_limit, settings.base_url) == (25.0, "https://api.stripe.com")


def test_a_malformed_object_is_quarantined_with_the_field_named_and_the_rest_loads(box):
    objs = company(box)
    bad = dict(box.fake.get("customer", objs["beta"]["id"]), id="cus_malformed0001", created="yesterday")
    box.fake.objects["customer"].put(bad["id"], bad)
    summary = box.sync()
    assert summary.status == "success"
    assert summary.streams["customers"].rows == 2
    assert summary.streams["customers"].quarantined == 1
    [item] = box.rows("quarantine")
    assert item.source_id == "cus_malformed0001"
    assert "created: expected a Unix timestamp" in item.reason


def test_resume_after_an_object_deleted_since_restarts_the_full_read(box):
    ids = [box.fake.create_customer(email=f"ops@c{i}.com")["id"] for i in range(30)]
    with box.store.begin() as conn:
        box.store.upsert(
            conn,
            "sync_state",
            [
                {
                    "connector": "stripe",
                    "stream": "customers",
                    "cursor": {
                        "phase": "full",
                        "starting_after": "cus_gone00000001",
                        "started": box.clock.now,
                    },
                }
            ],
        )
    summary = box.sync()
    assert summary.streams["customers"].rows == len(ids)
    assert any("cannot resume after cus_gone00000001" in line for line in summary.log)


def test_the_fake_also_serves_real_http_on_loopback(sqlite_store):
    """The adapter benchmarks and the demo use: the official client over a real socket."""
    from vitalsign.connectors.stripe.connector import StripeConnector
    from vitalsign.connectors.stripe.settings import StripeSettings
    from vitalsign.core.config import Config
    from vitalsign.core.sync import SyncEngine
    from vitalsign.testing.fakes.stripe import FakeStripe

    fake = FakeStripe(API_KEY)
    fake.generate(customers=30, subscriptions=30, invoices=360)
    with fake.serve() as url:
        settings = StripeSettings.model_validate({"api_key": API_KEY, "base_url": url, "rate_limit": None})
        connector = StripeConnector("stripe", settings)
        summary = SyncEngine(sqlite_store, Config(path=None, store_url="")).sync_connector(connector)
        connector.close()
    assert summary.status == "success", summary.error
    assert (summary.streams["customers"].rows, summary.streams["invoices"].rows) == (30, 360)
    assert fake.count("/v1/invoices") == 4  # 360 invoices, 100 a page


def test_reads_freeze_the_heap_only_while_they_run_and_leave_a_frozen_heap_alone(box):
    import gc

    from vitalsign.core.sync import fewer_collections

    company(box)
    seen = []
    original = box.fake.handle

    def spy(method, target, headers):
        seen.append(gc.get_freeze_count())
        return original(method, target, headers)

    box.fake.handle = spy
    assert box.sync().status == "success"
    assert min(seen) > 0  # every request of every stream ran with the older objects frozen
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        with fewer_collections():
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # someone else's freeze is not undone
    finally:
        gc.unfreeze()


def test_row_shapes_check_every_row_even_after_learning_its_shape():
    """Rows of a known shape skip the field-by-field check; what the shape cannot tell (empty
    ids, over-long currencies) and any new type still fail, naming the Stripe field."""
    from vitalsign.connectors.stripe.streams import RowShape

    shape = RowShape(
        {
            "source_id": ("id", "id"),
            "currency": ("currency", "string"),
            "created_at": ("created", "timestamp"),
        },
        max_lengths={"currency": 3},
    )
    good = {"source_id": "in_1", "currency": "usd", "created_at": 1_700_000_000}
    assert shape.check(good) is good
    assert shape.check({**good, "currency": None, "created_at": None})["currency"] is None
    with pytest.raises(ValueError, match="id: missing"):
        shape.check({**good, "source_id": ""})
    with pytest.raises(ValueError, match="id: missing"):
        shape.check({**good, "source_id": None})
    with pytest.raises(ValueError, match="currency: longer than 3"):
        shape.check({**good, "currency": "usdx"})
    with pytest.raises(ValueError, match="created: expected a Unix timestamp, got str"):
        shape.check({**good, "created_at": "2025-01-01"})
    with pytest.raises(ValueError, match="created: expected a Unix timestamp, got bool"):
        shape.check({**good, "created_at": True})


def test_a_line_with_a_bad_amount_quarantines_its_invoice_naming_the_field(box):
    objs = company(box)
    [invoice] = [
        i for i in box.fake.objects["invoice"].items.values() if i["customer"] == objs["beta"]["id"]
    ][:1]
    invoice["lines"]["data"][0]["amount"] = "12.00"
    summary = box.sync()
    assert summary.status == "success"
    [item] = box.rows("quarantine")
    assert item.source_id == invoice["id"]
    assert "lines.amount: expected an integer, got str" in item.reason
    assert summary.streams["invoices"].rows == len(box.fake.objects["invoice"].items) - 1


def live(box, table_name):
    return {r.source_id for r in box.rows(table_name) if not r.deleted}


def deleted_while_31_days_behind(box):
    """The company synced once, then Acme and the coupon deleted at Stripe while the sync sleeps
    for 31 days: their ``*.deleted`` events are never read (the cursor is too old)."""
    objs = company(box)
    box.sync()
    box.clock.advance(days=1)
    box.fake.delete("customer", objs["acme"]["id"])
    box.fake.delete("coupon", objs["coupon"]["id"])
    box.clock.advance(days=30)
    return objs


def interrupt_after_the_first_customers_page(box, monkeypatch):
    """The next customers list page is served, then its next page fails four times: all the
    sandbox's retries (three), so the stream fails."""
    original = box.fake._list
    served = []

    def list_then_fail(resource, params, expand):
        response = original(resource, params, expand)
        if resource == "customers":
            served.append(params)
            if len(served) == 1:
                box.fake.fail(500, times=4, path="/v1/customers")
        return response

    monkeypatch.setattr(box.fake, "_list", list_then_fail)


def test_a_fallback_full_read_marks_deleted_what_stripe_no_longer_lists(any_box):
    box = any_box
    objs = deleted_while_31_days_behind(box)
    summary = box.sync()
    assert summary.status == "success", summary.error
    assert any("31.0 days old" in line for line in summary.log)
    [acme] = box.rows("source_accounts", source_id=objs["acme"]["id"])
    assert acme.deleted is True
    assert live(box, "source_accounts") == {objs["beta"]["id"]}
    [coupon] = box.rows("coupons")
    assert coupon.deleted is True
    assert live(box, "products") == {objs["team"]["id"]}
    assert live(box, "prices") == {objs["seat"]["id"]}
    # canceled subscriptions stay listed (status=all) and live
    assert live(box, "subscriptions") == {objs["s1"]["id"], objs["s2"]["id"]}
    assert summary.streams["customers"].deleted == 1
    assert "customers: 1 stored row(s) the full read did not list marked deleted" in summary.log
    assert "products: 0 stored row(s) the full read did not list marked deleted" in summary.log


def test_an_interrupted_fallback_full_read_retires_nothing_and_its_resumption_does(any_box, monkeypatch):
    box = any_box
    objs = deleted_while_31_days_behind(box)
    extra = {box.fake.create_customer(email=f"ops@c{i}.com")["id"] for i in range(4)}
    monkeypatch.setattr(StripeStream, "pages_per_batch", 1)
    interrupt_after_the_first_customers_page(box, monkeypatch)

    summary = box.sync(page_size=2)

    assert summary.streams["customers"].status == "failed"
    assert summary.streams["customers"].rows == 2
    assert not any(line.startswith("customers: ") and "did not list" in line for line in summary.log)
    [acme] = box.rows("source_accounts", source_id=objs["acme"]["id"])
    assert acme.deleted is False
    cursor = state(box, "customers")
    assert cursor["phase"] == "full"
    assert cursor["retire_from"]
    first_page = live(box, "source_accounts") & extra
    assert len(first_page) == 2

    box.clock.advance(seconds=60)
    before = box.fake.count()
    summary = box.sync(page_size=2)

    assert summary.status == "success", summary.error
    customer_reads = [r for r in box.fake.requests[before:] if r.path == "/v1/customers"]
    assert customer_reads[0].params.get("starting_after") == cursor["starting_after"]
    assert summary.streams["customers"].rows == 3  # the rest: two new customers and Beta
    [acme] = box.rows("source_accounts", source_id=objs["acme"]["id"])
    assert acme.deleted is True
    # the customers read before the interruption are not taken for unlisted ones
    assert live(box, "source_accounts") == extra | {objs["beta"]["id"]}
    assert "customers: 1 stored row(s) the full read did not list marked deleted" in summary.log


def test_a_full_read_that_quarantined_an_object_retires_nothing(box):
    objs = deleted_while_31_days_behind(box)
    beta = box.fake.get("customer", objs["beta"]["id"])
    beta["created"] = "yesterday"
    summary = box.sync()
    assert summary.streams["customers"].quarantined == 1
    assert live(box, "source_accounts") == {objs["acme"]["id"], objs["beta"]["id"]}
    assert any("customers: objects quarantined" in line for line in summary.log)
    [coupon] = box.rows("coupons")
    assert coupon.deleted is True  # other streams still retire


def test_streams_read_in_a_child_process_load_what_the_thread_loads(box, tmp_path):
    """Production reads each Stripe stream in a child process (``read_in_process``); the full
    read, then an incremental read of events with changes and deletions, store the same rows
    as the thread the other tests use."""
    from vitalsign.core.models import RAW_TABLES
    from vitalsign.core.store import Store

    threaded, forked = box.store, Store(f"sqlite:///{tmp_path / 'forked.db'}")
    forked.upgrade()

    def sync_both() -> None:
        for store, in_process in ((threaded, False), (forked, True)):
            box.store = store
            before = box.fake.count()
            summary = box.sync(read_in_process=in_process)
            assert summary.status == "success", summary.error
            # a child's requests reach its own copy of the in-process fake, never this one
            assert (box.fake.count() == before) is in_process

    objs = company(box)
    sync_both()
    box.clock.advance(days=2)
    box.fake.update("customer", objs["beta"]["id"], name="Beta GmbH")
    box.fake.delete("customer", objs["acme"]["id"])
    box.fake.delete("coupon", objs["coupon"]["id"])
    box.clock.advance(seconds=10)
    sync_both()

    def stored(store: Store) -> dict[str, list[tuple]]:
        with store.connect() as conn:
            out = {}
            for name in RAW_TABLES:
                tbl = table(name)
                columns = [c for c in tbl.columns if c.name != "synced_at"]
                out[name] = sorted((tuple(r) for r in conn.execute(select(*columns))), key=repr)
            return out

    expected, got = stored(threaded), stored(forked)
    assert expected["invoice_lines"]
    assert [t for t in expected if expected[t] != got[t]] == []
    box.store = threaded
    [acme] = box.rows("source_accounts", source_id=objs["acme"]["id"])
    assert acme.deleted is True
    forked.dispose()
