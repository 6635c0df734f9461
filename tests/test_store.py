"""The store contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tryvoha.alerts.model import AlertStatus, Detail, EventDraft, EventKind, Threat
from tryvoha.alerts.state import fold
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import AlertQuery, SqlStore

T0 = datetime(2023, 3, 9, 2, 0, 0, 123456, tzinfo=UTC)


def declared(region: str, at: datetime, placeholder: int | None = None) -> EventDraft:
    return EventDraft(
        EventKind.DECLARED,
        region,
        Threat.AIR_RAID,
        AlertStatus.ACTUAL,
        at,
        "token:t",
        details=(Detail.BALLISTIC_MISSILE,),
        notes="пуски",
        alert_id=placeholder,
    )


def ended(region: str, at: datetime, alert_id: int) -> EventDraft:
    return EventDraft(
        EventKind.ENDED,
        region,
        Threat.AIR_RAID,
        AlertStatus.ACTUAL,
        at,
        "token:t",
        details=(Detail.BALLISTIC_MISSILE,),
        notes="пуски",
        alert_id=alert_id,
    )


def test_append_assigns_gapless_ids_and_round_trips(store: SqlStore, catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[0].id
    first = store.append(declared(oblast, T0), T0)
    second = store.append(ended(oblast, T0 + timedelta(hours=1), first.id), T0)
    assert (first.id, second.id) == (1, 2)
    assert second.alert_id == first.id
    events = store.events_after(0)
    assert events == [first, second]  # microsecond times, details and Ukrainian notes survive
    alert = store.get_alert(first.id)
    assert alert is not None and alert.ended_at == T0 + timedelta(hours=1)
    assert alert.details == (Detail.BALLISTIC_MISSILE,)


def test_append_many_pairs_placeholders(store: SqlStore, catalogue: Catalogue) -> None:
    regions = [o.id for o in catalogue.oblasts[:3]]
    drafts = []
    for n, region in enumerate(regions, 1):
        drafts += [declared(region, T0, -n), ended(region, T0 + timedelta(minutes=n), -n)]
    events = store.append_many(drafts, T0)
    assert [e.id for e in events] == list(range(1, 7))
    assert [e.alert_id for e in events] == [1, 1, 3, 3, 5, 5]
    assert not fold(store.iter_events(chunk=2)).open_alerts


def change(kind: EventKind, region: str, at: datetime, alert_id: int, notes: str) -> EventDraft:
    return EventDraft(
        kind, region, Threat.AIR_RAID, AlertStatus.ACTUAL, at, "token:t", notes=notes,
        alert_id=alert_id,
    )  # fmt: skip


def test_changes_of_several_alerts_in_one_transaction_leave_each_alert_as_in_sequence(
    store: SqlStore, catalogue: Catalogue
) -> None:
    """A batch of commands changes several alerts, some more than once (updated, then ended):
    each alert's row ends as the changes one after another would leave it."""
    a, b, c, d = (o.id for o in catalogue.oblasts[:4])
    first = store.append_many([declared(r, T0) for r in (a, b, c, d)], T0)
    ids = {e.region_id: e.alert_id for e in first}
    t1, t2, t3 = (T0 + timedelta(minutes=n) for n in (1, 2, 3))
    batch = store.append_many(
        [
            change(EventKind.UPDATED, a, t1, ids[a], "a updated"),
            change(EventKind.UPDATED, c, t1, ids[c], "c first"),
            change(EventKind.ENDED, a, t2, ids[a], "a ended"),
            change(EventKind.UPDATED, b, t2, ids[b], "b updated"),
            change(EventKind.UPDATED, c, t3, ids[c], "c second"),
            change(EventKind.RETRACTED, d, t3, ids[d], "d in error"),
        ],
        T0,
    )
    last = {e.region_id: e.id for e in batch}  # the last event of each region in the batch
    rows = {r: store.get_alert(ids[r]) for r in (a, b, c, d)}
    assert all(row is not None for row in rows.values())
    got = {
        r: (row.notes, row.updated_at, row.ended_at, row.retracted, row.last_event_id)
        for r, row in rows.items()
        if row is not None
    }
    assert got == {
        a: ("a ended", t2, t2, False, last[a]),
        b: ("b updated", t2, None, False, last[b]),
        c: ("c second", t3, None, False, last[c]),
        d: ("d in error", t3, t3, True, last[d]),
    }
    assert rows[a] is not None and rows[a].ended_by == "token:t"


def test_query_alerts_filters_and_pages(store: SqlStore, catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[0]
    raion = catalogue.children(oblast.id)[0]
    drafts = []
    for n in range(1, 6):
        start = T0 + timedelta(hours=n)
        drafts += [
            declared(raion.id, start, -n),
            ended(raion.id, start + timedelta(minutes=30), -n),
        ]
    store.append_many(drafts, T0)
    page = store.query_alerts(AlertQuery(region_ids=[raion.id], limit=2))
    assert [a.id for a in page] == [9, 7]
    nxt = store.query_alerts(AlertQuery(region_ids=[raion.id], limit=2, before_id=page[-1].id))
    assert [a.id for a in nxt] == [5, 3]
    window = store.query_alerts(
        AlertQuery(since=T0 + timedelta(hours=2, minutes=10), until=T0 + timedelta(hours=4))
    )
    assert [a.id for a in window] == [5, 3]
    assert store.query_alerts(AlertQuery(region_ids=[catalogue.oblasts[1].id])) == []


def test_reopen_keeps_log_and_tokens(db_url: str, catalogue: Catalogue) -> None:
    s = SqlStore(db_url)
    s.append(declared(catalogue.oblasts[0].id, T0), T0)
    plain, _ = s.create_token("ops", [catalogue.oblasts[0].id])
    s.close()
    again = SqlStore(db_url)
    assert again.last_event_id == 1
    found = again.token_by_plaintext(plain)
    assert found is not None and found.scopes == (catalogue.oblasts[0].id,)
    assert again.token_by_plaintext(plain + "x") is None
    assert again.revoke_token("ops") and not again.revoke_token("ops")
    again.close()


def test_token_plaintext_is_not_stored(store: SqlStore) -> None:
    plain, _ = store.create_token("ops", None)
    from sqlalchemy import text

    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT * FROM tokens"))]
    assert plain not in repr(rows)


@pytest.mark.parametrize("count", [3])
async def test_restart_rebuilds_same_state(db_url: str, catalogue: Catalogue, count: int) -> None:
    from tryvoha.alerts.commands import Actor, Declare

    hub = Hub(catalogue, SqlStore(db_url))
    hub.load()
    for oblast in catalogue.oblasts[:count]:
        await hub.submit(Declare(oblast.id, Threat.AIR_RAID), Actor("token:t"))
    before = hub.state.canonical()
    hub.close()
    reopened = Hub(catalogue, SqlStore(db_url))
    reopened.load()
    assert reopened.state.canonical() == before
    reopened.close()


async def test_restart_property_over_random_commands(sqlite_url: str, catalogue: Catalogue) -> None:
    """Random valid and invalid commands through a real hub; reopening folds the same state."""
    import random

    from tryvoha.alerts.commands import Actor, AlertRef, Declare, End, Rejected, Update

    rng = random.Random(20240224)
    regions = [catalogue.oblasts[4].id]
    for raion in catalogue.children(regions[0])[:3]:
        regions += [raion.id, *(h.id for h in catalogue.children(raion.id)[:2])]
    hub = Hub(catalogue, SqlStore(sqlite_url))
    hub.load()
    accepted = rejected = 0
    for _ in range(300):
        region = rng.choice(regions)
        threat = rng.choice([Threat.AIR_RAID, Threat.ARTILLERY_SHELLING])
        command = rng.choice(
            [
                Declare(region, threat),
                End(AlertRef(region_id=region, threat=threat)),
                Update(AlertRef(alert_id=rng.randint(1, 50)), details=(Detail.DRONES,)),
            ]
        )
        try:
            await hub.submit(command, Actor("token:prop"))
            accepted += 1
        except Rejected:
            rejected += 1
    assert accepted > 50 and rejected > 50
    before = hub.state.canonical()
    assert fold(hub.store.iter_events()).canonical() == before
    hub.close()
    reopened = Hub(catalogue, SqlStore(sqlite_url))
    reopened.load()
    assert reopened.state.canonical() == before
    reopened.close()


def test_a_log_written_before_retractions_reads_and_grows(db_url: str, tmp_path) -> None:
    """A database at the first schema, with events and alerts in it, upgraded by opening the
    store: its rows read as before (no reason, no proposal), and a retraction can follow."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from tryvoha.store.migrate import MIGRATIONS

    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'old.db'}"  # not the migrated template
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    us = int(T0.timestamp() * 1_000_000)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO events (id, kind, alert_id, region_id, threat, status, details, "
                "occurred_at, recorded_at, originator, source) VALUES (1, 'declared', 1, 'UA80', "
                "'air_raid', 'actual', 'drones', :at, :at, 'token:t', 'live')"
            ),
            {"at": us},
        )
        connection.execute(
            text(
                "INSERT INTO alerts (id, region_id, threat, status, started_at, originator, "
                "details, source, last_event_id) VALUES (1, 'UA80', 'air_raid', 'actual', :at, "
                "'token:t', 'drones', 'live', 1)"
            ),
            {"at": us},
        )
    engine.dispose()
    store = SqlStore(db_url)
    try:
        (event,) = store.iter_events()
        assert (event.kind, event.reason, event.correction) == (EventKind.DECLARED, None, None)
        assert (event.proposal_id, event.proposed_by, event.deadline) == (None, None, None)
        alert = store.get_alert(1)
        assert alert is not None and (alert.retracted, alert.proposed_by) == (False, None)
        retraction = EventDraft(
            EventKind.RETRACTED,
            "UA80",
            Threat.AIR_RAID,
            AlertStatus.ACTUAL,
            T0 + timedelta(minutes=1),
            "token:t",
            details=(Detail.DRONES,),
            alert_id=1,
            reason="помилка",
            correction="Скасовано …",
        )
        (appended,) = store.append_many([retraction], T0 + timedelta(minutes=1))
        assert list(store.iter_events())[1] == appended
        alert = store.get_alert(1)
        assert alert is not None and alert.retracted and alert.ended_by == "token:t"
        assert fold(store.iter_events()).open_alerts == {}
    finally:
        store.close()
