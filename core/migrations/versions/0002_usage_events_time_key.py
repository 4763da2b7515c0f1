"""usage_events keyed by (source, occurred_at, source_id)

An event is its dedup key at its time. Putting the time first in the key makes inserts of an
export (which arrives in time order) land at the end of the key's index, instead of at random
places of an index of random dedup keys that outgrows the page cache past a few million events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME_KEY = ["source", "occurred_at", "source_id"]
DEDUP_KEY = ["source", "source_id"]


def _rekey(key: list[str]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("usage_events_pkey", "usage_events", type_="primary")
        op.create_primary_key("usage_events_pkey", "usage_events", key)
        return
    # SQLite cannot alter a primary key: copy the rows into a table like it with the new one
    current = sa.Table("usage_events", sa.MetaData(), autoload_with=op.get_bind())
    columns = [sa.Column(c.name, c.type, nullable=c.nullable) for c in current.columns]
    op.create_table("_usage_events_rekeyed", *columns, sa.PrimaryKeyConstraint(*key))
    names = ", ".join(c.name for c in current.columns)
    op.execute(f"INSERT INTO _usage_events_rekeyed ({names}) SELECT {names} FROM usage_events ORDER BY rowid")
    op.drop_table("usage_events")
    # legacy: a view of the analyst's over usage_events would fail a modern rename (it names a
    # table that is, for this statement, missing); the renamed table satisfies it again
    op.execute("PRAGMA legacy_alter_table = ON")
    op.rename_table("_usage_events_rekeyed", "usage_events")
    op.execute("PRAGMA legacy_alter_table = OFF")


def upgrade() -> None:
    _rekey(TIME_KEY)


def downgrade() -> None:
    """Fails if one dedup key was stored at two times (two events under the new key)."""
    _rekey(DEDUP_KEY)
