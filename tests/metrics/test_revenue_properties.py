"""Property tests over random subscription histories (SQLite; few examples, kept fast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vitalsign.core.compute import compute_metrics
from vitalsign.core.metric import Month
from vitalsign.core.store import table

MONTHS = 8  # Jan..Aug 2025
START = datetime(2025, 1, 1, tzinfo=UTC)

interval = st.tuples(
    st.integers(0, 4),  # customer
    st.integers(0, 200),  # start, days after Jan 1
    st.one_of(st.none(), st.integers(1, 150)),  # length in days, None = still running
    st.integers(1, 50),  # MRR in dollars
    st.sampled_from(["prod_a", "prod_b"]),
)
histories = st.lists(interval, min_size=1, max_size=12)
links = st.lists(st.one_of(st.none(), st.integers(1, 3)), min_size=5, max_size=5)  # customer -> account


def month_end(i: int) -> datetime:
    """The last second of month ``i`` (0 = January 2025, -1 = December 2024)."""
    first = Month(2025, 1).shift(i + 1).first_day()
    return datetime(first.year, first.month, 1, tzinfo=UTC) - timedelta(seconds=1)


def load(data, history, link_of):
    with data.store.begin() as conn:
        for name in (
            "revenue_timeline",
            "identity_links",
            "source_accounts",
            "owners",
            "accounts",
            "products",
        ):
            conn.execute(table(name).delete())
    data.product("prod_a", "A")
    data.product("prod_b", "B")
    for account in sorted({a for a in link_of if a is not None}):
        data.account(account, customer=None, company=f"co{account}", owner=f"owner{account % 2}")
    data.insert(
        "identity_links",
        [
            {
                "source": "stripe",
                "source_kind": "customer",
                "external_id": f"c{c}",
                "account_id": a,
                "method": "key",
            }
            for c, a in enumerate(link_of)
            if a is not None
        ],
    )
    rows = []
    for n, (customer, start, length, dollars, product) in enumerate(history):
        begin = START + timedelta(days=start, hours=n)
        end = None if length is None else begin + timedelta(days=length)
        rows.append(data.mrr(f"c{customer}", begin, end, dollars, product=product, subscription=f"s{n}"))
    data.timeline(*rows)
    return rows


def oracle(rows, link_of):
    """Month-end MRR (cents) per account, straight from the definition."""
    levels = []
    for i in range(-1, MONTHS):
        t = month_end(i)
        by_account: dict[str, int] = {}
        for row in rows:
            if row["valid_from"] <= t and (row["valid_to"] is None or row["valid_to"] > t):
                customer = int(row["source_account_id"][1:])
                key = f"a{link_of[customer]}" if link_of[customer] is not None else row["source_account_id"]
                by_account[key] = by_account.get(key, 0) + row["mrr"]
        levels.append({k: v for k, v in by_account.items() if v > 0})
    return levels


SETTINGS = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(history=histories, link_of=links)
def test_bridge_holds_and_churn_matches_the_definition(sqlite_data, history, link_of):
    rows = load(sqlite_data, history, link_of)
    levels = oracle(rows, link_of)
    mrr = [r["value"] for r in sqlite_data.run("mrr", "2024-12", "2025-08")]
    moves = sqlite_data.run("mrr_movements", "2025-01", "2025-08")
    churn = sqlite_data.run("logo_churn_rate", "2025-01", "2025-08")
    for i, (move, lost) in enumerate(zip(moves, churn, strict=True)):
        assert round(mrr[i + 1] - mrr[i], 2) == move["net"]
        assert move["net"] == round(
            move["new"] + move["reactivation"] + move["expansion"] - move["contraction"] - move["churn"], 2
        )
        before, after = levels[i], levels[i + 1]
        assert mrr[i + 1] == sum(after.values()) / 100
        # churned = paying before and paying nothing now: an account with another live subscription is not
        assert lost["churned"] == sum(1 for k in before if k not in after)
        assert lost["start"] == len(before)


@settings(SETTINGS, max_examples=6)
@given(history=histories, link_of=links)
def test_segment_values_add_up_to_the_total(sqlite_data, history, link_of):
    load(sqlite_data, history, link_of)
    names = ["mrr", "paying_accounts", "mrr_movements"]
    columns = {"mrr": ["value"], "paying_accounts": ["value"], "mrr_movements": ["new", "churn", "net"]}
    first, last = Month(2025, 1), Month(2025, 8)
    total = {
        (r["metric"], r["period"], c): r[c]
        for r in compute_metrics(sqlite_data.store, names, start=first, end=last)
        for c in columns[r["metric"]]
    }
    for by in ("plan", "owner", "cohort"):
        sums = dict.fromkeys(total, 0.0)
        for r in compute_metrics(sqlite_data.store, names, start=first, end=last, by=by):
            for c in columns[r["metric"]]:
                sums[(r["metric"], r["period"], c)] += r[c]
        assert {k: round(v, 2) for k, v in sums.items()} == total
