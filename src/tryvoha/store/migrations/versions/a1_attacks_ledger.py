"""The attacks ledger: imports with their licence, weapon models, attacks, rows and split parts.

Revision ID: a_attacks_ledger
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "a_attacks_ledger"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attack_imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("imported_at", sa.BigInteger, nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("file_name", sa.String(300), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("weapons_file_name", sa.String(300), nullable=False),
        sa.Column("weapons_sha256", sa.String(64), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("added", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("removed", sa.Integer, nullable=False),
        sa.Column("problems", sa.Integer, nullable=False),
        sa.Column("licence", sa.String(100), nullable=False),
        sa.Column("licence_url", sa.String(300), nullable=False),
        sa.Column("attribution", sa.Text, nullable=False),
        sa.Column("source_url", sa.String(300), nullable=False),
    )
    op.create_table(
        "attack_models",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("weapon_class", sa.String(32), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_table(
        "attacks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(32), nullable=False, unique=True),
        sa.Column("starts_at", sa.BigInteger, nullable=False),
        sa.Column("ends_at", sa.BigInteger, nullable=False),
        sa.Column("start_text", sa.String(20), nullable=False),
        sa.Column("end_text", sa.String(20), nullable=False),
        sa.Column("date_only", sa.Boolean, nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("reporter", sa.String(200), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("report_day", sa.String(10), nullable=False),
        sa.Column("start_day", sa.String(10), nullable=False),
        sa.Column("night_day", sa.String(10), nullable=False),
    )
    op.create_index("ix_attacks_starts", "attacks", ["starts_at"])
    op.create_index("ix_attacks_report_day", "attacks", ["report_day"])
    op.create_index("ix_attacks_night_day", "attacks", ["night_day"])
    op.create_table(
        "attack_rows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(32), nullable=False, unique=True),
        sa.Column("attack_id", sa.Integer, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("weapon_class", sa.String(32), nullable=False),
        sa.Column("classes", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("split", sa.Boolean, nullable=False),
        *(
            sa.Column(name, sa.Integer)
            for name in (
                "launched",
                "destroyed",
                "lost",
                "in_air",
                "shaheds",
                "hit_places",
                "debris_places",
                "turbojet",
                "turbojet_destroyed",
            )
        ),
        *(
            sa.Column(name, sa.Text)
            for name in (
                "launch_place",
                "target",
                "target_main",
                "carrier",
                "affected_regions",
                "border_crossing",
                "destroyed_details",
                "launched_details",
                "launch_place_details",
            )
        ),
        sa.Column("post", sa.Text, nullable=False),
        sa.Column("covered_by", sa.Integer),
    )
    op.create_index("ix_attack_rows_attack", "attack_rows", ["attack_id"])
    op.create_table(
        "attack_parts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("row_id", sa.Integer, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("weapon_class", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("launched", sa.Integer, nullable=False),
        sa.Column("launch_place", sa.Text),
    )
    op.create_index("ix_attack_parts_row", "attack_parts", ["row_id"])


def downgrade() -> None:
    for table in ("attack_parts", "attack_rows", "attacks", "attack_models", "attack_imports"):
        op.drop_table(table)
