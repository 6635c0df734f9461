"""Every table of the hub's database, in one place: the log, its projections, webhooks, the
attacks ledger. Times are integer microseconds since the epoch, UTC: exact, portable between
SQLite and PostgreSQL, and cheap to scan for statistics.

The Alembic migrations (`migrations/versions/`) are the only way these tables are created; this
module describes what they build, and `tests/test_store_schema.py` holds the two to each other on
both databases. A new column or table therefore goes in twice: here, and in a new migration.
"""

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
    UniqueConstraint,
    false,
    text,
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
    Column("reason", Text),
    Column("correction", Text),
    Column("proposal_id", BigInteger),
    Column("proposed_by", String(200)),
    Column("deadline", BigInteger),
    # Migration h_history_keys: a row of a data set is imported once.
    Index(
        "ux_events_imported_key",
        "source",
        "idempotency_key",
        unique=True,
        sqlite_where=text("source <> 'live' AND idempotency_key IS NOT NULL"),
        postgresql_where=text("source <> 'live' AND idempotency_key IS NOT NULL"),
    ),
    # Migration s_events_by_alert: an alert's events (CAP references) without walking the log
    # between its declaration and its last change.
    Index("ix_events_alert", "alert_id", "id"),
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
    Column("retracted", Boolean, nullable=False, default=False, server_default=false()),
    Column("proposed_by", String(200)),
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

event_quarantine = Table(
    "event_quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, nullable=False),
    Column("original", Text, nullable=False),
    Column("problem", Text, nullable=False),
    Column("changes", Text, nullable=False),
    Column("quarantined_at", BigInteger, nullable=False),
    Index("ix_event_quarantine_event", "event_id"),
)
"""Migration `log_quarantine`: the original of every row `tryvoha log repair` rewrote, for audit."""

# Webhooks (migration 0501_webhooks): subscriptions and their durable delivery outbox.

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("regions", Text, nullable=False),
    Column("threats", Text, nullable=False),
    Column("statuses", Text, nullable=False),
    Column("description", Text),
    Column("secret", String(100), nullable=False),
    Column("after_event_id", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription_id", Integer, nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("committed_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("last_attempt_at", BigInteger),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered_at", BigInteger),
    UniqueConstraint("subscription_id", "event_id", name="uq_webhook_outbox_sub_event"),
    Index("ix_webhook_outbox_state_sub", "state", "subscription_id", "id"),
    Index("ix_webhook_outbox_event", "event_id"),
)

compat_webhooks = Table(
    "compat_webhooks",
    metadata,
    Column("token_id", Integer, primary_key=True, autoincrement=False),
    Column("url", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
"""Migration `0601_compat_webhooks`: the ukrainealarm API's one webhook URL per API key."""

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
