"""The log and its projections: SQLite embedded by default, PostgreSQL by URL."""

from tryvoha.store.decode import UnreadableEvent
from tryvoha.store.sql import (
    AlertQuery,
    IdempotencyRecord,
    SqlStore,
    StoreConflict,
    TokenInfo,
    TokenRole,
    check_token_name,
    hash_token,
    sqlite_url,
)

__all__ = [
    "AlertQuery",
    "IdempotencyRecord",
    "SqlStore",
    "StoreConflict",
    "TokenInfo",
    "TokenRole",
    "UnreadableEvent",
    "check_token_name",
    "hash_token",
    "sqlite_url",
]
