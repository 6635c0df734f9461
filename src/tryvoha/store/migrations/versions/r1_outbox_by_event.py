"""An index of the webhook outbox by event: an event's delivery receipt (`GET
/api/v1/events/{id}/delivery`) reads its rows directly instead of scanning the outbox.

Revision ID: r_outbox_by_event
Revises: 0501_webhooks
"""

from alembic import op

revision = "r_outbox_by_event"
down_revision = "0501_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_outbox_event", "webhook_outbox", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_event", table_name="webhook_outbox")
