"""Webhook subscriptions of the ukrainealarm-compatible API: one URL per API key.

Revision ID: 0601_compat_webhooks
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0601_compat_webhooks"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compat_webhooks",
        sa.Column("token_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("compat_webhooks")
