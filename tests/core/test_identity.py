from __future__ import annotations

from sqlalchemy import select
from vitalsign.core import identity
from vitalsign.core.store import table, upsert


def add_source_accounts(conn, rows):
    upsert(
        conn,
        "source_accounts",
        [
            {"deleted": False, "name": None, "email": None, "domain": None, "account_key": None, **r}
            for r in rows
        ],
    )


def links(conn):
    t = table("identity_links")
    return {(r.source, r.external_id): (r.account_id, r.method) for r in conn.execute(select(t))}


def test_key_then_domain_then_freemail(store):
    with store.begin() as conn:
        add_source_accounts(
            conn,
            [
                {
                    "source": "stripe",
                    "source_id": "cus_1",
                    "kind": "customer",
                    "email": "ap@acme.com",
                    "account_key": "ACME",
                },
                {"source": "hubspot", "source_id": "101", "kind": "company", "domain": "www.acme.com"},
                {"source": "amplitude", "source_id": "ACME", "kind": "group", "account_key": "ACME"},
                {"source": "stripe", "source_id": "cus_2", "kind": "customer", "email": "jo@gmail.com"},
                {"source": "hubspot", "source_id": "102", "kind": "company", "domain": "gmail.com"},
            ],
        )
        stats = identity.resolve(conn)
        result = links(conn)
    acme = result[("stripe", "cus_1")][0]
    assert result[("stripe", "cus_1")] == (acme, "key")
    assert result[("amplitude", "ACME")] == (acme, "key")
    assert result[("hubspot", "101")] == (acme, "domain")
    assert ("stripe", "cus_2") not in result
    assert ("hubspot", "102") not in result
    assert stats.unlinked == 2
    with store.connect() as conn:
        assert identity.unlinked_count(conn) == 2


def test_manual_links_survive_resolution(store):
    with store.begin() as conn:
        add_source_accounts(
            conn,
            [
                {"source": "stripe", "source_id": "cus_1", "kind": "customer", "email": "a@acme.com"},
                {"source": "stripe", "source_id": "cus_9", "kind": "customer", "email": "x@other.io"},
            ],
        )
        identity.resolve(conn)
        acme = links(conn)[("stripe", "cus_1")][0]
        identity.link(conn, source="stripe", kind="customer", external_id="cus_9", account_id=acme)
        identity.unlink(conn, source="stripe", kind="customer", external_id="cus_1")
        identity.resolve(conn)
        identity.resolve(conn)
        result = links(conn)
    assert result[("stripe", "cus_9")] == (acme, "manual")
    assert result[("stripe", "cus_1")] == (None, "manual")


def test_an_unchanged_link_keeps_its_linked_at_and_a_moved_one_is_restamped(store):
    stamp = "2020-01-01 00:00:00.000000"
    with store.begin() as conn:
        add_source_accounts(
            conn,
            [
                {"source": "stripe", "source_id": "cus_1", "kind": "customer", "account_key": "ACME"},
                {"source": "stripe", "source_id": "cus_2", "kind": "customer", "account_key": "BETA"},
            ],
        )
        identity.resolve(conn)
        conn.exec_driver_sql(f"UPDATE identity_links SET linked_at = '{stamp}'")
        add_source_accounts(
            conn,
            [{"source": "stripe", "source_id": "cus_2", "kind": "customer", "account_key": "ACME"}],
        )
        stats = identity.resolve(conn)
        t = table("identity_links")
        linked_at = {
            r.external_id: r.linked_at.strftime("%Y-%m-%d")
            for r in conn.execute(select(t.c.external_id, t.c.linked_at))
        }
        result = links(conn)
    assert stats.linked == 2
    assert result[("stripe", "cus_2")] == result[("stripe", "cus_1")]
    assert linked_at["cus_1"] == "2020-01-01"  # same account, same method: not rewritten
    assert linked_at["cus_2"] != "2020-01-01"  # moved to ACME: linked again, now


def test_free_mail_domains_are_configurable(store):
    with store.begin() as conn:
        add_source_accounts(
            conn, [{"source": "s", "source_id": "1", "kind": "customer", "email": "a@corp-mail.net"}]
        )
        identity.resolve(conn, {"free_mail_domains": ["corp-mail.net"]})
        assert links(conn) == {}


def test_normalise_domain():
    assert identity.normalise_domain("https://www.Acme.com/pricing") == "acme.com"
    assert identity.normalise_domain("Jo@Sub.Acme.com") == "sub.acme.com"
    assert identity.normalise_domain("") is None
