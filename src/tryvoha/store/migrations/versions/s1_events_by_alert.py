"""An index of the log by alert: an alert's events (the references of a CAP message) are read
directly instead of walking every event between its declaration and its last change.

Revision ID: s_events_by_alert
Revises: 0001
"""

from alembic import op

revision = "s_events_by_alert"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_alert", "events", ["alert_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_alert", table_name="events")
