"""Token roles: `operator` (writes within its scopes) or `read_only` (reads, never writes).

Tokens made before roles existed were all operators and stay operators.

Revision ID: 0701_token_roles
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0701_token_roles"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tokens",
        sa.Column("role", sa.String(16), nullable=False, server_default="operator"),
    )


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("role")
