"""Imported history: one row of a data set is imported once (unique source + row key).

Revision ID: h_history_keys
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "h_history_keys"
down_revision = "0001"
branch_labels = None
depends_on = None

_IMPORTED = "source <> 'live' AND idempotency_key IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ux_events_imported_key",
        "events",
        ["source", "idempotency_key"],
        unique=True,
        sqlite_where=sa.text(_IMPORTED),
        postgresql_where=sa.text(_IMPORTED),
    )


def downgrade() -> None:
    op.drop_index("ux_events_imported_key", table_name="events")
