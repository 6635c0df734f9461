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
    false,
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
