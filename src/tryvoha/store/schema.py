"""Tables of the log and its projections. Times are integer microseconds since the epoch, UTC:
exact, portable between SQLite and PostgreSQL, and cheap to scan for statistics."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("alert_id", BigInteger, nullable=False),
    Column("region_id", String(32), nullable=False),
    Column("threat", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("details", String(200), nullable=False, default=""),
    Column("notes", Text),
    Column("occurred_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("originator", String(200), nullable=False),
    Column("source", String(64), nullable=False),
    Column("idempotency_key", String(200)),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("region_id", String(32), nullable=False),
    Column("threat", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger),
    Column("updated_at", BigInteger),
    Column("originator", String(200), nullable=False),
    Column("ended_by", String(200)),
    Column("details", String(200), nullable=False, default=""),
    Column("notes", Text),
    Column("source", String(64), nullable=False),
    Column("last_event_id", BigInteger, nullable=False),
    Index("ix_alerts_region_started", "region_id", "started_at"),
    Index("ix_alerts_started", "started_at"),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("originator", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response_status", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("event_id", BigInteger, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    Column("drills_only", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
    Column("role", String(16), nullable=False, default="operator", server_default="operator"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# The attacks ledger (migration a_attacks_ledger): the Air Force tallies of drones and missiles,
# imported from a data set under its own licence (recorded per import). Windows are µs UTC;
# `*_day` columns are Kyiv dates (YYYY-MM-DD) so totals group the same way on every database.

attack_imports = Table(
    "attack_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("imported_at", BigInteger, nullable=False),
    Column("dataset", String(200), nullable=False),
    Column("file_name", String(300), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("weapons_file_name", String(300), nullable=False),
    Column("weapons_sha256", String(64), nullable=False),
    Column("records", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("problems", Integer, nullable=False),
    Column("licence", String(100), nullable=False),
    Column("licence_url", String(300), nullable=False),
    Column("attribution", Text, nullable=False),
    Column("source_url", String(300), nullable=False),
)

attack_models = Table(
    "attack_models",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("category", String(100), nullable=False),
    Column("weapon_class", String(32), nullable=False),
    Column("details", Text, nullable=False),
)

attacks = Table(
    "attacks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(32), nullable=False, unique=True),
    Column("starts_at", BigInteger, nullable=False),
    Column("ends_at", BigInteger, nullable=False),
    Column("start_text", String(20), nullable=False),
    Column("end_text", String(20), nullable=False),
    Column("date_only", Boolean, nullable=False),
    Column("channel", String(200), nullable=False),
    Column("reporter", String(200), nullable=False),
    Column("level", String(16), nullable=False),
    Column("report_day", String(10), nullable=False),
    Column("start_day", String(10), nullable=False),
    Column("night_day", String(10), nullable=False),
    Index("ix_attacks_starts", "starts_at"),
    Index("ix_attacks_report_day", "report_day"),
    Index("ix_attacks_night_day", "night_day"),
)

attack_rows = Table(
    "attack_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(32), nullable=False, unique=True),
    Column("attack_id", Integer, nullable=False),
    Column("line", Integer, nullable=False),
    Column("digest", String(40), nullable=False),
    Column("model", String(200), nullable=False),
    Column("weapon_class", String(32), nullable=False),
    Column("classes", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("split", Boolean, nullable=False),
    Column("launched", Integer),
    Column("destroyed", Integer),
    Column("lost", Integer),
    Column("in_air", Integer),
    Column("shaheds", Integer),
    Column("hit_places", Integer),
    Column("debris_places", Integer),
    Column("turbojet", Integer),
    Column("turbojet_destroyed", Integer),
    Column("launch_place", Text),
    Column("target", Text),
    Column("target_main", Text),
    Column("carrier", Text),
    Column("affected_regions", Text),
    Column("border_crossing", Text),
    Column("destroyed_details", Text),
    Column("launched_details", Text),
    Column("launch_place_details", Text),
    Column("post", Text, nullable=False),
    Column("covered_by", Integer),
    Index("ix_attack_rows_attack", "attack_id"),
)

attack_parts = Table(
    "attack_parts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("row_id", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("weapon_class", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("launched", Integer, nullable=False),
    Column("launch_place", Text),
    Index("ix_attack_parts_row", "row_id"),
)
