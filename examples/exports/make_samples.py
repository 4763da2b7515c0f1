"""Regenerate the sample exports in this folder (seeded: the same files every time).

    .venv/bin/python examples/exports/make_samples.py

A small B2B product used by a handful of accounts from January to March 2026, seen through each
analytics source in its own export format:

- ``amplitude/``: Export API zips (one per month, gzipped JSON-lines members per upload hour);
- ``mixpanel/``: raw-export JSON lines, ``time`` in epoch seconds;
- ``segment/``: a warehouse dump of track, identify and group calls (gzipped JSON lines);
- ``files/``: a CSV written by an in-house tool, mapped with ``columns`` in the config.

Each source covers different accounts (a real company uses one tool per product). The files
hold the faults real exports have: re-delivered events (Amplitude, Mixpanel, Segment; loaded
once) and a cut line in the Mixpanel export (quarantined with its file and line).
"""

from __future__ import annotations

import csv
import gzip
import random
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from vitalsign.testing.fakes.usage import amplitude_event, amplitude_zip, write_jsonl

HERE = Path(__file__).parent
START = datetime(2026, 1, 5)
DAYS = 85
FEATURES = {
    "Dashboard Viewed": "dashboards",
    "Report Exported": "reports",
    "Alert Configured": "alerts",
    "Integration Connected": "integrations",
    "Comment Added": "collaboration",
}


def activity(
    rng: random.Random, accounts: dict[str, int], events: int
) -> list[tuple[datetime, str, str, str]]:
    """(time, account, user, event name) for ``events`` events, busier on weekdays."""
    out = []
    while len(out) < events:
        day = START + timedelta(days=rng.randrange(DAYS))
        if day.weekday() >= 5 and rng.random() < 0.8:
            continue
        account = rng.choice(list(accounts))
        user = f"{account.split('_')[1]}_u{rng.randrange(accounts[account])}"
        when = day + timedelta(hours=rng.uniform(8, 18))
        name = rng.choices(list(FEATURES), weights=[10, 5, 2, 1, 3])[0]
        out.append((when, account, user, name))
    return sorted(out)


def amplitude(rng: random.Random) -> None:
    rows = []
    for i, (when, account, user, name) in enumerate(activity(rng, {"acct_acme": 8, "acct_globex": 5}, 300)):
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
        upload = (when + timedelta(seconds=rng.uniform(0.5, 3))).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows.append(
            amplitude_event(
                f"amp-{i:05d}",
                event_type=name,
                user_id=user,
                event_time=stamp,
                upload_time=upload,
                company=account,
                properties={"feature": FEATURES[name]},
                device_id=f"dev-{user}",
            )
        )
    rows.append(rows[10])  # re-delivered in a later export
    folder = HERE / "amplitude"
    folder.mkdir(exist_ok=True)
    for month in (1, 2, 3):
        chosen = [r for r in rows if datetime.fromisoformat(r["server_upload_time"]).month == month]
        (folder / f"424242_2026-{month:02d}.zip").write_bytes(amplitude_zip(chosen))


def mixpanel(rng: random.Random) -> None:
    lines: list[object] = []
    for when, account, user, name in activity(rng, {"acct_initech": 6, "acct_umbrella": 4}, 250):
        lines.append(
            {
                "event": name,
                "properties": {
                    "time": int(when.timestamp()),
                    "distinct_id": user,
                    "$user_id": user,
                    "$insert_id": f"{rng.getrandbits(80):020x}",
                    "mp_processing_time_ms": int(when.timestamp() * 1000) + 1500,
                    "account_id": account,
                    "feature": FEATURES[name],
                    "mp_lib": "web",
                },
            }
        )
    lines.insert(40, lines[39])  # the export re-delivers an event
    lines.insert(120, '{"event": "Dashboard Viewed", "properties": {"time": 17')  # a cut line
    write_jsonl(HERE / "mixpanel" / "export_2026-Q1.jsonl", lines)


def segment(rng: random.Random) -> None:
    calls: list[object] = []
    people = {"acct_hooli": 5}
    for n in range(5):
        user = f"hooli_u{n}"
        calls.append(
            {
                "type": "identify",
                "userId": user,
                "messageId": f"idf-{n}",
                "timestamp": (START - timedelta(days=1)).isoformat() + "Z",
                "traits": {"email": f"user{n}@hooli.example", "name": f"Hooli User {n}"},
            }
        )
        calls.append(
            {
                "type": "group",
                "userId": user,
                "groupId": "acct_hooli",
                "messageId": f"grp-{n}",
                "timestamp": (START - timedelta(days=1)).isoformat() + "Z",
                "traits": {"name": "Hooli", "website": "hooli.example", "plan": "growth", "employees": 120},
            }
        )
    for i, (when, account, user, name) in enumerate(activity(rng, people, 200)):
        call = {
            "type": "track",
            "event": name,
            "userId": user,
            "messageId": f"api-{i:05d}",
            "timestamp": when.isoformat(timespec="milliseconds") + "Z",
            "properties": {"feature": FEATURES[name]},
            "context": {"library": {"name": "analytics.js", "version": "4.1.0"}},
        }
        if i % 3:  # most calls carry the group; the others rely on the group calls above
            call["context"]["groupId"] = account  # type: ignore[index]
        calls.append(call)
    calls.append(calls[30])
    write_jsonl(HERE / "segment" / "segment-2026-Q1.jsonl.gz", calls)


def files(rng: random.Random) -> None:
    folder = HERE / "files"
    folder.mkdir(exist_ok=True)
    with open(folder / "app_events.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["event_id", "happened_at", "action", "member", "workspace", "feature"])
        for i, (when, account, user, name) in enumerate(activity(rng, {"acct_stark": 4}, 150)):
            out.writerow(
                [f"csv-{i:05d}", when.strftime("%d/%m/%Y %H:%M"), name, user, account, FEATURES[name]]
            )


def main() -> None:
    rng = random.Random(2026)
    amplitude(rng)
    mixpanel(rng)
    segment(rng)
    files(rng)
    gzip_check = gzip.decompress((HERE / "segment" / "segment-2026-Q1.jsonl.gz").read_bytes())
    assert orjson.loads(gzip_check.splitlines()[0])["type"] == "identify"


if __name__ == "__main__":
    main()
