"""Fencing: a writer that lost its lock appends nothing, even before it knows it lost it.

The writer lock (`tryvoha.store.writer`) says who may write, but a writer learns that it lost
the lock only when it looks, and between two looks a standby may already have taken over. So
every writer also claims an epoch: on taking the lock it adds one to the `writer.epoch` row of
`meta` and remembers the number; every append transaction first reads that row with a share lock
and goes on only if it still holds that number. A successor's claim (which locks the row for
update) and an old writer's append queue on the same row lock:

- the old writer's append committed first: the successor reads the log after its claim and sees
  the event (no gap, no duplicate id);
- the successor's claim committed first: the old append matches no row and is rolled back with
  `NotTheWriter`; nothing is written.

Beside the epoch, a writer checks `WriterLock.held` before each append, so a writer whose lock
went with its connection (pg_terminate_backend, a restarted database) stops at its next write
even when no successor has claimed yet.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from tryvoha.store.schema import meta

EPOCH_KEY = "writer.epoch"


class NotTheWriter(Exception):
    """This process does not hold the writer lock (any more): nothing was written."""


def claim_epoch(engine: Engine) -> int:
    """With the writer lock just taken: the next epoch, committed before anything is read, so
    every append of an earlier writer is either visible from now on or refused."""
    with engine.begin() as conn:
        query = select(meta.c.value).where(meta.c.key == EPOCH_KEY).with_for_update()
        current = conn.execute(query).scalar()
        epoch = int(current or 0) + 1
        if current is None:
            conn.execute(insert(meta).values(key=EPOCH_KEY, value=str(epoch)))
        else:
            conn.execute(update(meta).where(meta.c.key == EPOCH_KEY).values(value=str(epoch)))
    return epoch


def check_epoch(conn: Connection, epoch: int) -> None:
    """Inside an append transaction, first: share-lock the epoch row and check it still holds
    `epoch`, else `NotTheWriter` (the transaction is rolled back by the caller's context)."""
    query = select(meta.c.value).where(meta.c.key == EPOCH_KEY).with_for_update(read=True)
    if conn.execute(query).scalar() != str(epoch):
        raise NotTheWriter(f"another writer took over the log (this one had epoch {epoch})")


def current_epoch(engine: Engine) -> int | None:
    """The epoch of the latest writer to claim one (None: none has)."""
    with engine.connect() as conn:
        value = conn.execute(select(meta.c.value).where(meta.c.key == EPOCH_KEY)).scalar()
    return None if value is None else int(value)
