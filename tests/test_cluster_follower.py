"""The follower core (edges and `--workers` followers): each event applied once, in log order,
gaps filled from the store; and an edge's private replica holding exactly the applied log."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tryvoha.alerts.model import AlertStatus, Event, EventDraft, EventKind, Threat
from tryvoha.cluster.edge import Copier, ReplicaFailed
from tryvoha.cluster.follower import LogFollower, LogGap
from tryvoha.cluster.replica import Replica
from tryvoha.readmodel import LogView
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

T0 = datetime(2026, 2, 24, 4, 0, tzinfo=UTC)


def committed_log(store: SqlStore, catalogue: Catalogue, alerts: int = 20) -> list[Event]:
    """`alerts` alerts declared over different oblasts, every other one ended: a real log."""
    drafts = []
    for i in range(alerts):
        region = catalogue.oblasts[i % len(catalogue.oblasts)].id
        at = T0 + timedelta(minutes=i)
        drafts.append(
            EventDraft(EventKind.DECLARED, region, Threat.AIR_RAID, AlertStatus.ACTUAL, at, "ops")
        )
    declared = store.append_many(drafts, T0)
    ends = [
        EventDraft(
            EventKind.ENDED,
            e.region_id,
            e.threat,
            e.status,
            e.occurred_at + timedelta(seconds=30),
            "ops",
            alert_id=e.alert_id,
        )
        for e in declared[::2]
    ]
    store.append_many(ends, T0)
    return store.events_after(0)


def view_of(catalogue: Catalogue, store: SqlStore) -> LogView:
    view = LogView(catalogue, store)
    return view


def test_offer_applies_each_event_once_in_order_and_fills_gaps(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    store = SqlStore(sqlite_url)
    log = committed_log(store, catalogue)
    view = view_of(catalogue, store)
    published: list[int] = []
    view.subscribe(lambda e: published.append(e.id), whole_log=True)
    core = LogFollower(view, fill=store.events_after)

    assert core.offer(log[0])
    assert not core.offer(log[0])  # a repeat is dropped
    assert core.offer(log[5])  # 2..5 are filled from the store first
    assert core.filled == 4
    for event in log[3:]:  # a transport that redelivers what was filled
        core.offer(event)
    assert published == [e.id for e in log]
    reference = view_of(catalogue, store)
    reference.load()
    assert view.state == reference.state
    store.close()


def test_a_gap_without_a_store_is_refused_not_skipped(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    store = SqlStore(sqlite_url)
    log = committed_log(store, catalogue, alerts=4)
    core = LogFollower(view_of(catalogue, store))
    core.offer(log[0])
    with pytest.raises(LogGap, match="event 3 arrived after 1"):
        core.offer(log[2])
    assert core.last_id == 1
    store.close()


def test_the_replica_holds_exactly_the_applied_log(
    catalogue: Catalogue, sqlite_url: str, tmp_path: Path
) -> None:
    store = SqlStore(sqlite_url)
    log = committed_log(store, catalogue)
    replica = Replica(tmp_path)
    folder = replica.folder
    view = view_of(catalogue, replica.store)
    copied: list[Event] = []
    core = LogFollower(view, copy=copied.append)
    for event in log:
        core.offer(event)
    replica.copy(copied[:7])
    replica.copy(copied[3:])  # overlapping batches are taken once
    assert replica.store.events_after(0) == log
    ended = log[-1].alert_id
    assert replica.store.get_alert(ended) == store.get_alert(ended)
    with pytest.raises(ValueError, match="without a gap"):
        replica.copy([replace(log[0], id=log[-1].id + 2)])  # a gap is refused
    replica.close()
    assert not folder.exists()
    store.close()


async def test_the_copier_holds_the_feed_back_at_its_bound_and_reads_wait_for_it(
    catalogue: Catalogue, sqlite_url: str, tmp_path: Path
) -> None:
    store = SqlStore(sqlite_url)
    log = committed_log(store, catalogue)
    replica = Replica(tmp_path)
    copier = Copier(replica, backlog=3)
    for event in log[:3]:
        copier.add(event)
    held = asyncio.create_task(copier.room())
    await asyncio.sleep(0)
    assert not held.done()  # three waiting: the feed must wait
    running = asyncio.create_task(copier.run())
    await asyncio.wait_for(held, 15)  # bounds a hang only
    copier.add(log[3])
    await asyncio.wait_for(copier.synced(4), 15)
    assert [e.id for e in replica.store.events_after(0)] == [1, 2, 3, 4]
    running.cancel()
    replica.close()
    store.close()


async def test_reads_fail_rather_than_wait_when_the_replica_cannot_be_written(
    catalogue: Catalogue, sqlite_url: str, tmp_path: Path
) -> None:
    store = SqlStore(sqlite_url)
    log = committed_log(store, catalogue, alerts=2)
    replica = Replica(tmp_path)
    copier = Copier(replica)
    copier.add(replace(log[0], id=5))  # a copy it refuses (a gap), as a full disk would fail
    running = asyncio.create_task(copier.run())
    with pytest.raises(ReplicaFailed, match="copy of the log failed"):
        await asyncio.wait_for(copier.synced(5), 15)  # bounds a hang only
    with pytest.raises(ValueError, match="without a gap"):
        await running  # the copier ended with the cause, logged by the edge
    replica.close()
    store.close()
