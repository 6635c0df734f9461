"""The log and its projections: SQLite embedded by default, PostgreSQL by URL.

Every table and every SQL statement of the hub lives in this package: `sql` (the log, its
projections, tokens, meta), one module per feature beside it (`webhooks`, `compat_hooks`,
`attacks`, `repair`), one schema (`schema`) built by the migrations, and the writer lock
(`writer`) that keeps one writer per database.
"""

from sqlalchemy.exc import SQLAlchemyError as DatabaseError  # what any failed statement raises

from tryvoha.store.decode import UnreadableEvent
from tryvoha.store.fencing import NotTheWriter
from tryvoha.store.sql import (
    AlertQuery,
    IdempotencyRecord,
    SqlStore,
    StoreConflict,
    TokenInfo,
    TokenRole,
    check_token_name,
    hash_token,
)
from tryvoha.store.writer import WriterLock, WriterLocked, acquire_writer, writer_lock

__all__ = [
    "AlertQuery",
    "DatabaseError",
    "IdempotencyRecord",
    "NotTheWriter",
    "SqlStore",
    "StoreConflict",
    "TokenInfo",
    "TokenRole",
    "UnreadableEvent",
    "WriterLock",
    "WriterLocked",
    "acquire_writer",
    "check_token_name",
    "hash_token",
    "writer_lock",
]
