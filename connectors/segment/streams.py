"""The Segment ``events`` stream: track, page and screen calls become usage events; identify
and group calls become contacts and groups, and place later calls of their user in the account.

A user's account comes from the call's ``context.groupId`` first, else from the latest group
call (or identify ``traits.company.id``) of that user read so far in this run, else, in the
writer, from the contacts earlier runs stored (``contacts.source_account_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vitalsign.connectors.files.events import (
    EventMapper,
    EventStream,
    Extras,
    event_stream,
    key_value,
    parse_iso,
)

from .settings import SegmentSettings

EVENT_TYPES = ("track", "page", "screen")


def segment_event(obj: Mapping[str, Any]) -> Any:
    """``event`` of a track call; page and screen calls are named like Segment's destinations
    name them: "Viewed <name> Page" (or "Loaded a Page" without a name)."""
    kind = obj.get("type")
    if kind is None or kind == "track":
        return obj.get("event")
    noun = "Page" if kind == "page" else "Screen"
    name = obj.get("name") or (obj.get("properties") or {}).get("name")
    return f"Viewed {name} {noun}" if name else f"Loaded a {noun}"


def segment_time(obj: Mapping[str, Any]) -> Any:
    return obj.get("timestamp") or obj.get("receivedAt")


class SegmentCalls:
    """Handles identify and group calls (and ignores alias): contacts and groups for the
    store, and the user -> account map the mapper uses for calls without a groupId."""

    def __init__(self, extras: Extras, user_accounts: dict[str, str]) -> None:
        self.extras = extras
        self.user_accounts = user_accounts
        self.users: dict[str, dict[str, Any]] = {}

    def __call__(self, obj: Mapping[str, Any]) -> bool:
        kind = obj.get("type")
        if kind is None or kind in EVENT_TYPES:
            return False
        if kind == "identify":
            self._identify(obj)
        elif kind == "group":
            self._group(obj)
        return True

    def _identify(self, obj: Mapping[str, Any]) -> None:
        user = key_value(obj.get("userId"))
        if user is None:
            return
        traits = obj.get("traits") if isinstance(obj.get("traits"), dict) else {}
        assert isinstance(traits, dict)
        company = traits.get("company") if isinstance(traits.get("company"), dict) else {}
        assert isinstance(company, dict)
        account = key_value(traits.get("groupId")) or key_value(company.get("id"))
        contact = self._contact(user)
        if isinstance(traits.get("email"), str):
            contact["email"] = traits["email"]
        name = traits.get("name") or " ".join(
            str(p) for p in (traits.get("firstName"), traits.get("lastName")) if p
        )
        if name:
            contact["name"] = str(name)
        if isinstance(traits.get("createdAt"), str):
            contact["created_at"] = traits["createdAt"]
        if account:
            self._member(user, account)
            if company.get("name"):
                self._account(account, {"name": str(company["name"])})

    def _group(self, obj: Mapping[str, Any]) -> None:
        account = key_value(obj.get("groupId"))
        if account is None:
            return
        traits = obj.get("traits") if isinstance(obj.get("traits"), dict) else {}
        assert isinstance(traits, dict)
        fields: dict[str, Any] = {}
        if traits.get("name"):
            fields["name"] = str(traits["name"])
        domain = traits.get("website") or traits.get("domain")
        if isinstance(domain, str) and domain:
            fields["domain"] = domain
        if isinstance(traits.get("email"), str):
            fields["email"] = traits["email"]
        if isinstance(traits.get("createdAt"), str):
            fields["created_at"] = traits["createdAt"]
        kept = {k: v for k, v in traits.items() if k in ("plan", "employees", "industry")}
        if kept:
            fields["properties"] = kept
        self._account(account, fields)
        user = key_value(obj.get("userId"))
        if user is not None:
            self._contact(user)
            self._member(user, account)

    def _contact(self, user: str) -> dict[str, Any]:
        contact = self.users.setdefault(user, {"source_id": user})
        self.extras.contacts[user] = contact
        return contact

    def _member(self, user: str, account: str) -> None:
        self.user_accounts[user] = account
        self._contact(user)["source_account_id"] = account

    def _account(self, account: str, fields: dict[str, Any]) -> None:
        row = self.extras.accounts.setdefault(
            account, {"source_id": account, "kind": "group", "account_key": account}
        )
        row.update(fields)


def segment_stream(source: object, settings: SegmentSettings) -> EventStream:
    extras = Extras()
    user_accounts: dict[str, str] = {}
    mapper = EventMapper(
        event=segment_event,
        user="userId",
        time=segment_time,
        parse_time=parse_iso,
        account=settings.account_key if settings.account_key else None,
        dedup_keys=["messageId"],
        anonymous="anonymousId",
        email=settings.email_property if settings.email_property else None,
        properties_root="properties",
        properties=list(settings.properties),
        feature=settings.feature_property,
        require_user=True,
        side=SegmentCalls(extras, user_accounts),
        user_accounts=user_accounts,
    )
    return event_stream(source, mapper, batch_size=settings.batch_size, extras=extras)
