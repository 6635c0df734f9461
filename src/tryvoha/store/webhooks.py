"""Webhook subscriptions and their delivery outbox in the hub's database, blocking calls.

The dispatcher's follower keeps its position in the log in `meta` and moves it in the same
transaction that writes the outbox rows for the events it passed, so a crash can neither lose nor
repeat a row. The rows' ids (the delivery ids a receiver sees) are given by the dispatcher, not by
the database, and the next one is kept beside the position: a first attempt can go out before
its row is written, under the id the row will have.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.store.schema import meta
from tryvoha.store.schema import webhook_outbox as outbox
from tryvoha.store.schema import webhook_subscriptions as subscriptions
from tryvoha.store.sql import SqlStore, put_meta
from tryvoha.store.timeutil import from_us, to_us

POSITION_KEY = "webhooks.position"
NEXT_ID_KEY = "webhooks.next_delivery_id"
PENDING, DELIVERED, EXPIRED = "pending", "delivered", "expired"


class LimitReached(Exception):
    """The owner already holds as many subscriptions as one may."""


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    owner: str
    url: str
    regions: tuple[str, ...]
    threats: tuple[Threat, ...]
    """Empty: every threat."""
    statuses: tuple[AlertStatus, ...]
    description: str | None
    secret: str
    after_event_id: int
    """Only events after this log id are delivered: the log head when the subscription was made."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscription_id: int
    event_id: int
    state: str
    payload: bytes
    committed_at: datetime
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    expires_at: datetime
    """Retried until then; after it the delivery is `expired` (an operator can retry it)."""
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class SubscriptionHealth:
    """What an operator needs to see why deliveries are stuck."""

    pending: int
    delivered: int
    expired: int
    head: Delivery | None
    """The oldest pending delivery: the one being retried, holding the others back."""
    last_delivered_at: datetime | None


class WebhookStore:
    """The webhook tables of one store's database."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.engine = store.engine

    # Subscriptions ------------------------------------------------------------------------------

    def create(
        self,
        owner: str,
        url: str,
        regions: Sequence[str],
        threats: Sequence[Threat],
        statuses: Sequence[AlertStatus],
        description: str | None,
        secret: str,
        after_event_id: int,
        now: datetime,
        limit: int | None = None,
    ) -> Subscription:
        """Store a subscription; LimitReached (nothing written) when `owner` already holds
        `limit` of them."""
        values = {
            "owner": owner,
            "url": url,
            "regions": ",".join(regions),
            "threats": ",".join(t.value for t in threats),
            "statuses": ",".join(s.value for s in statuses),
            "description": description,
            "secret": secret,
            "after_event_id": after_event_id,
            "created_at": to_us(now),
        }
        with self.engine.begin() as conn:
            if limit is not None:
                held = conn.execute(
                    select(func.count())
                    .select_from(subscriptions)
                    .where(subscriptions.c.owner == owner)
                ).scalar_one()
                if held >= limit:
                    raise LimitReached(
                        f"this token already holds {held} webhook subscriptions, the most one "
                        f"may (TRYVOHA_WEBHOOK_MAX_PER_TOKEN={limit}); delete one first"
                    )
            inserted = conn.execute(insert(subscriptions).values(**values)).inserted_primary_key
            assert inserted is not None
            query = select(subscriptions).where(subscriptions.c.id == inserted[0])
            row = conn.execute(query).one()
        return _subscription(row)

    def get(self, subscription_id: int) -> Subscription | None:
        query = select(subscriptions).where(subscriptions.c.id == subscription_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _subscription(row)

    def all(self, owner: str | None = None) -> list[Subscription]:
        query = select(subscriptions).order_by(subscriptions.c.id)
        if owner is not None:
            query = query.where(subscriptions.c.owner == owner)
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(query)]

    def delete(self, subscription_id: int) -> int:
        """Remove a subscription with its outbox; returns how many pending deliveries went."""
        with self.engine.begin() as conn:
            pending = _count(conn, subscription_id, PENDING)
            conn.execute(delete(outbox).where(outbox.c.subscription_id == subscription_id))
            conn.execute(delete(subscriptions).where(subscriptions.c.id == subscription_id))
        return pending

    # The follower's side ------------------------------------------------------------------------

    def position(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == POSITION_KEY)).scalar()
        return None if value is None else int(value)

    def next_delivery_id(self) -> int:
        """The id the next outbox row gets: kept with the position, so a follower that starts
        again from that position gives the same rows the same ids; in a database from before
        it was kept, one past the highest row."""
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == NEXT_ID_KEY)).scalar()
            if value is not None:
                return int(value)
            highest = conn.execute(select(func.max(outbox.c.id))).scalar()
        return (highest or 0) + 1

    def enqueue(self, rows: Sequence[Delivery], position: int, next_id: int) -> None:
        """Write outbox rows (with the ids they were given) and move the position past the
        events they came from and the next id past them, atomically; only while this store's
        writer is the active one (`NotTheWriter` otherwise), so a writer that lost its lock
        neither adds rows nor moves the position back."""
        with self.store.fenced() as conn:
            if rows:
                values = [
                    {
                        "id": r.id,
                        "subscription_id": r.subscription_id,
                        "event_id": r.event_id,
                        "state": r.state,
                        "payload": r.payload.decode(),
                        "committed_at": to_us(r.committed_at),
                        "created_at": to_us(r.created_at),
                        "attempts": r.attempts,
                        "next_attempt_at": to_us(r.next_attempt_at),
                        "expires_at": to_us(r.expires_at),
                    }
                    for r in rows
                ]
                conn.execute(insert(outbox), values)
            put_meta(conn, POSITION_KEY, str(position))
            put_meta(conn, NEXT_ID_KEY, str(next_id))

    # The senders' side --------------------------------------------------------------------------

    def with_pending(self) -> list[int]:
        query = select(outbox.c.subscription_id).where(outbox.c.state == PENDING).distinct()
        with self.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    def pending(self, subscription_id: int, limit: int) -> list[Delivery]:
        """The oldest pending deliveries of a subscription, in the order they must be sent."""
        query = (
            select(outbox)
            .where(outbox.c.subscription_id == subscription_id, outbox.c.state == PENDING)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def record_delivered(self, done: Sequence[tuple[int, datetime, int]]) -> int:
        """Mark (delivery id, when, status) rows delivered in one transaction; returns how many
        rows were still there."""
        count = 0
        with self.engine.begin() as conn:
            for delivery_id, at, status in done:
                query = (
                    update(outbox)
                    .where(outbox.c.id == delivery_id, outbox.c.state == PENDING)
                    .values(
                        state=DELIVERED,
                        attempts=outbox.c.attempts + 1,
                        last_attempt_at=to_us(at),
                        delivered_at=to_us(at),
                        last_status=status,
                        last_error=None,
                    )
                )
                count += conn.execute(query).rowcount
        return count

    def record_attempt(
        self,
        delivery_id: int,
        at: datetime,
        state: str,
        status: int | None,
        error: str | None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Store one attempt's outcome; False when the row is gone (subscription deleted)."""
        values: dict[str, object] = {
            "attempts": outbox.c.attempts + 1,
            "last_attempt_at": to_us(at),
            "last_status": status,
            "last_error": error,
            "state": state,
        }
        if state == DELIVERED:
            values["delivered_at"] = to_us(at)
        if next_attempt_at is not None:
            values["next_attempt_at"] = to_us(next_attempt_at)
        query = update(outbox).where(outbox.c.id == delivery_id).values(**values)
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0

    def retry_now(self, subscription_id: int, now: datetime, expires_at: datetime) -> int:
        """Bring expired deliveries back and make every pending one due now."""
        query = (
            update(outbox)
            .where(
                outbox.c.subscription_id == subscription_id,
                outbox.c.state.in_([PENDING, EXPIRED]),
            )
            .values(state=PENDING, next_attempt_at=to_us(now), expires_at=to_us(expires_at))
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount

    # Reading for operators ----------------------------------------------------------------------

    def backlog(self) -> int:
        query = select(func.count()).select_from(outbox).where(outbox.c.state == PENDING)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def health(self, subscription_ids: Iterable[int]) -> dict[int, SubscriptionHealth]:
        ids = list(subscription_ids)
        if not ids:
            return {}
        counts = (
            select(
                outbox.c.subscription_id,
                outbox.c.state,
                func.count(),
                func.max(outbox.c.delivered_at),
            )
            .where(outbox.c.subscription_id.in_(ids))
            .group_by(outbox.c.subscription_id, outbox.c.state)
        )
        heads = (
            select(func.min(outbox.c.id))
            .where(outbox.c.subscription_id.in_(ids), outbox.c.state == PENDING)
            .group_by(outbox.c.subscription_id)
        )
        tally: dict[int, dict[str, int]] = {i: {} for i in ids}
        last: dict[int, datetime | None] = dict.fromkeys(ids)
        with self.engine.connect() as conn:
            for sub_id, state, n, delivered in conn.execute(counts):
                tally[sub_id][state] = int(n)
                if state == DELIVERED and delivered is not None:
                    last[sub_id] = from_us(delivered)
            head_rows = conn.execute(select(outbox).where(outbox.c.id.in_(heads))).all()
        head_of = {r.subscription_id: _delivery(r) for r in head_rows}
        return {
            i: SubscriptionHealth(
                pending=tally[i].get(PENDING, 0),
                delivered=tally[i].get(DELIVERED, 0),
                expired=tally[i].get(EXPIRED, 0),
                head=head_of.get(i),
                last_delivered_at=last[i],
            )
            for i in ids
        }

    def for_event(self, event_id: int, limit: int = 10_000) -> list[Delivery]:
        """Every subscription's delivery of one event (its receipt), oldest row first."""
        query = (
            select(outbox).where(outbox.c.event_id == event_id).order_by(outbox.c.id).limit(limit)
        )
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def deliveries(
        self, subscription_id: int, state: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """Newest first."""
        conditions = [outbox.c.subscription_id == subscription_id]
        if state is not None:
            conditions.append(outbox.c.state == state)
        query = select(outbox).where(and_(*conditions)).order_by(outbox.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]


def _count(conn: Connection, subscription_id: int, state: str) -> int:
    query = (
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.subscription_id == subscription_id, outbox.c.state == state)
    )
    return int(conn.execute(query).scalar_one())


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def _subscription(r: Any) -> Subscription:
    return Subscription(
        id=r.id,
        owner=r.owner,
        url=r.url,
        regions=tuple(_split(r.regions)),
        threats=tuple(Threat(t) for t in _split(r.threats)),
        statuses=tuple(AlertStatus(s) for s in _split(r.statuses)),
        description=r.description,
        secret=r.secret,
        after_event_id=r.after_event_id,
        created_at=from_us(r.created_at),
    )


def _opt(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def _delivery(r: Any) -> Delivery:
    return Delivery(
        id=r.id,
        subscription_id=r.subscription_id,
        event_id=r.event_id,
        state=r.state,
        payload=r.payload.encode(),
        committed_at=from_us(r.committed_at),
        created_at=from_us(r.created_at),
        attempts=r.attempts,
        next_attempt_at=from_us(r.next_attempt_at),
        expires_at=from_us(r.expires_at),
        last_attempt_at=_opt(r.last_attempt_at),
        last_status=r.last_status,
        last_error=r.last_error,
        delivered_at=_opt(r.delivered_at),
    )
