"""Webhook subscriptions and their durable delivery outbox.

Revision ID: 0501_webhooks
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0501_webhooks"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("regions", sa.Text, nullable=False),
        sa.Column("threats", sa.Text, nullable=False),
        sa.Column("statuses", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("after_event_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("committed_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("last_attempt_at", sa.BigInteger),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.BigInteger),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_outbox_sub_event"),
    )
    op.create_index(
        "ix_webhook_outbox_state_sub", "webhook_outbox", ["state", "subscription_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_state_sub", "webhook_outbox")
    op.drop_table("webhook_outbox")
    op.drop_table("webhook_subscriptions")
