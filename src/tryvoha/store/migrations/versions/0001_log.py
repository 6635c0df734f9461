"""The alert log, the alerts projection, idempotency records, tokens and meta.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("alert_id", sa.BigInteger, nullable=False),
        sa.Column("region_id", sa.String(32), nullable=False),
        sa.Column("threat", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("details", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("occurred_at", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.Column("originator", sa.String(200), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("region_id", sa.String(32), nullable=False),
        sa.Column("threat", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("ended_at", sa.BigInteger),
        sa.Column("updated_at", sa.BigInteger),
        sa.Column("originator", sa.String(200), nullable=False),
        sa.Column("ended_by", sa.String(200)),
        sa.Column("details", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("last_event_id", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alerts_region_started", "alerts", ["region_id", "started_at"])
    op.create_index("ix_alerts_started", "alerts", ["started_at"])
    op.create_table(
        "idempotency",
        sa.Column("originator", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response_status", sa.Integer, nullable=False),
        sa.Column("response_body", sa.Text, nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("drills_only", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("meta", "tokens", "idempotency", "alerts", "events"):
        op.drop_table(table)
