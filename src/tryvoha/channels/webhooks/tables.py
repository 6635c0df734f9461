"""The webhook tables (created by migration 0501_webhooks). Times are integer µs UTC."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

metadata = MetaData()

subscriptions = Table(
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

outbox = Table(
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
)
