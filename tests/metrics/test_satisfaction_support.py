"""Satisfaction and support metrics on hand-computed survey answers and tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def at(year: int, month: int, day: int = 1, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def answers(kind, scores, when, *, company=None, scale=(0, 10), prefix="r"):
    return [
        {
            "source_id": f"{prefix}{i}",
            "kind": kind,
            "score": s,
            "scale_min": scale[0],
            "scale_max": scale[1],
            "submitted_at": when,
            "source_account_id": company,
        }
        for i, s in enumerate(scores)
    ]


def test_textbook_nps_60(data):
    # 70 % promoters, 20 % passives, 10 % detractors
    scores = [9] * 40 + [10] * 30 + [7] * 10 + [8] * 10 + [6] * 5 + [0] * 5
    data.insert("survey_responses", answers("nps", scores, at(2026, 3, 12)))
    [row] = data.run("nps", "2026-03")
    assert row == {
        "metric": "nps",
        "period": "2026-03",
        "value": 60.0,
        "promoters": 70,
        "passives": 20,
        "detractors": 10,
        "responses": 100,
    }


def test_nps_on_another_scale_and_trailing_window(data):
    # a 1-5 scale maps onto 0-10: 5 -> 10 (promoter), 4 -> 7.5 (passive), 3 -> 5 (detractor)
    data.insert("survey_responses", answers("nps", [5, 5, 4, 3], at(2026, 1, 20), scale=(1, 5), prefix="a"))
    data.insert("survey_responses", answers("nps", [10], at(2026, 3, 2), prefix="b"))
    assert data.value("nps", "2026-01") == 25.0
    assert data.value("nps", "2026-02") is None
    # 90 days ending Mar 31 include the January answers
    [row] = data.run("nps", "2026-03", options={"window_days": 90})
    assert (row["responses"], row["promoters"], row["value"]) == (5, 3, 40.0)


def test_csat_and_ces(data):
    data.insert("survey_responses", answers("csat", [5, 4, 3, 1], at(2026, 2, 3), scale=(1, 5), prefix="c"))
    data.insert("survey_responses", answers("csat", [10, 7], at(2026, 2, 4), scale=(1, 10), prefix="d"))
    [csat] = data.run("csat", "2026-02")
    # 1-10 maps onto 1-5: 10 -> 5 satisfied, 7 -> 3.67 not
    assert (csat["value"], csat["satisfied"], csat["responses"]) == (50.0, 3, 6)
    data.insert("survey_responses", answers("ces", [7, 5, 3], at(2026, 2, 9), scale=(1, 7), prefix="e"))
    assert data.value("ces", "2026-02") == 5.0


def test_nps_by_owner_segment(data):
    data.account(1, company="co1", owner="Ann")
    data.account(2, company="co2", owner="Bob")
    data.insert("survey_responses", answers("nps", [10, 10], at(2026, 5, 1), company="co1", prefix="x"))
    data.insert("survey_responses", answers("nps", [0, 9], at(2026, 5, 1), company="co2", prefix="y"))
    data.insert("survey_responses", answers("nps", [8], at(2026, 5, 1), prefix="z"))
    assert data.by_segment("nps", "2026-05", "owner") == {"(none)": 0.0, "Ann": 100.0, "Bob": 0.0}
    assert data.value("nps", "2026-05", account_id=1) == 100.0


def tickets(rows):
    out = []
    for i, (created, response_h, close_h, interactions, escalated, company) in enumerate(rows):
        out.append(
            {
                "source_id": f"t{i}",
                "created_at": created,
                "first_response_at": created + timedelta(hours=response_h)
                if response_h is not None
                else None,
                "closed_at": created + timedelta(hours=close_h) if close_h is not None else None,
                "agent_interactions": interactions,
                "escalated": escalated,
                "source_account_id": company,
                "status": "closed" if close_h is not None else "open",
            }
        )
    return out


def test_support_times_median_and_p90(data):
    base = at(2026, 4, 2)
    # first responses 1..10 hours: median 5.5, p90 = 9 + 0.1 * (10 - 9) = 9.1
    rows = [(base, h, 24 * (h if h < 10 else 40), 1 if h % 2 else 2, h == 10, "co1") for h in range(1, 11)]
    rows.append((at(2026, 4, 20), None, None, None, False, None))  # open, never answered
    data.insert("tickets", tickets(rows))
    [frt] = data.run("first_response_time", "2026-04")
    assert (frt["value"], frt["p90"], frt["tickets"]) == (5.5, 9.1, 10)
    # resolution: 24..216 hours closed in April (the tenth closes in May): median 120, p90 192 + 0.2 * 24
    [res] = data.run("resolution_time", "2026-04")
    assert (res["value"], res["p90"], res["tickets"]) == (120.0, 196.8, 9)
    [fcr] = data.run("first_contact_resolution_rate", "2026-04")
    assert (fcr["value"], fcr["first_contact"], fcr["resolved"]) == (55.56, 5, 9)
    [vol] = data.run("ticket_volume", "2026-04")
    assert (vol["value"], vol["closed"]) == (11, 10)
    [esc] = data.run("escalations", "2026-04")
    assert (esc["value"], esc["rate"]) == (1, 9.09)


def test_ticket_volume_per_account(data):
    data.account(1, "Acme", company="co1")
    data.account(2, "Beta", company="co2")
    base = at(2026, 6, 3)
    data.insert(
        "tickets",
        tickets(
            [(base, 1, 2, 1, False, "co1")] * 3
            + [(base, 1, 2, 1, True, "co2")]
            + [(base, 1, 2, 1, False, "zz")]
        ),
    )
    assert data.by_segment("ticket_volume", "2026-06", "account") == {"#1 Acme": 3, "#2 Beta": 1, "(none)": 1}
    assert data.value("ticket_volume", "2026-06", account_id=2) == 1
    assert data.value("escalations", "2026-06", account_id=1) == 0
