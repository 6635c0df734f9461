"""Quarantine of log rows rewritten by `tryvoha log repair`: each original, kept for audit.

Revision ID: log_quarantine
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "log_quarantine"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("original", sa.Text, nullable=False),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("quarantined_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_event_quarantine_event", "event_quarantine", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_event_quarantine_event", "event_quarantine")
    op.drop_table("event_quarantine")
