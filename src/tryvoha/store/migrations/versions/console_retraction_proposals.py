"""Retractions and two-person approval: the fields some events carry, and what the alerts
projection shows of them.

events: `reason` (retracted, rejected), `correction` (retracted), `proposal_id` (proposed,
rejected, expired, and declarations approved from a proposal), `proposed_by` (approved
declarations), `deadline` (proposed). alerts: `retracted`, `proposed_by`. Rows written before
have none of them, which is what they mean.

Revision ID: console_retraction_proposals
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "console_retraction_proposals"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("reason", sa.Text))
        batch.add_column(sa.Column("correction", sa.Text))
        batch.add_column(sa.Column("proposal_id", sa.BigInteger))
        batch.add_column(sa.Column("proposed_by", sa.String(200)))
        batch.add_column(sa.Column("deadline", sa.BigInteger))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("retracted", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("proposed_by", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("proposed_by")
        batch.drop_column("retracted")
    with op.batch_alter_table("events") as batch:
        for name in ("deadline", "proposed_by", "proposal_id", "correction", "reason"):
            batch.drop_column(name)
