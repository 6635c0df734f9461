"""Rows of the log that cannot be read back: the hub names them and will not start; `tryvoha log
check` lists them; `tryvoha log repair` rewrites them, keeps the originals, and loses nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End, Update
from tryvoha.alerts.model import AlertStatus, EventKind, Threat
from tryvoha.alerts.state import fold
from tryvoha.cli import app as cli
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore, UnreadableEvent, repair
from tryvoha.store.schema import alerts, event_quarantine, events

from .conftest import start_live_hub

YEAR_1_US = -62135614800000000  # 0001-01-01T00:00+05:00: before year 1 in UTC
ACTOR = Actor("token:ops")


async def write_log(url: str, catalogue: Catalogue) -> list[int]:
    """Five events: declare A, declare B, update A, end A, declare C; returns their ids."""
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    a, b, c = (o.id for o in catalogue.oblasts[:3])
    try:
        first = await hub.submit(Declare(a, Threat.AIR_RAID, notes="перша"), ACTOR)
        await hub.submit(Declare(b, Threat.AIR_RAID), ACTOR)
        await hub.submit(Update(AlertRef(alert_id=first.alert_id), notes="друга"), ACTOR)
        await hub.submit(End(AlertRef(alert_id=first.alert_id)), ACTOR)
        await hub.submit(Declare(c, Threat.AIR_RAID), ACTOR)
        return [e.id for e in hub.store.events_after(0)]
    finally:
        hub.close()


def poison(store: SqlStore) -> None:
    """What a log written by an older hub, or by hand, may hold."""
    with store.engine.begin() as conn:
        conn.execute(update(events).where(events.c.id == 1).values(occurred_at=YEAR_1_US))
        conn.execute(
            update(events).where(events.c.id == 2).values(status="bogus", details="drones,ufo")
        )
        conn.execute(update(events).where(events.c.id == 4).values(kind="withdrawn"))
        conn.execute(update(events).where(events.c.id == 5).values(notes="bell\x07"))


async def test_repair_rewrites_each_unreadable_row_and_keeps_the_original(
    db_url: str, catalogue: Catalogue
) -> None:
    assert await write_log(db_url, catalogue) == [1, 2, 3, 4, 5]
    store = SqlStore(db_url)
    poison(store)
    with store.engine.connect() as conn:
        before = {r.id: r._asdict() for r in conn.execute(select(events))}

    hub = Hub(catalogue, store)
    with pytest.raises(UnreadableEvent) as info:
        hub.load()
    assert info.value.event_id == 1 and info.value.column == "occurred_at"

    found = repair.unreadable(store.engine)
    assert [(p.event_id, p.column) for p in found] == [
        (1, "occurred_at"),
        (2, "status"),
        (2, "details"),
        (4, "kind"),
        (5, "notes"),
    ]
    planned = repair.repair(store.engine, dry_run=True)
    assert [r.event_id for r in planned] == [1, 2, 4, 5]
    assert len(repair.unreadable(store.engine)) == 5  # a dry run writes nothing

    done = repair.repair(store.engine)
    assert [r.event_id for r in done] == [1, 2, 4, 5] and all(r.event for r in done)
    changes = {r.event_id: " | ".join(r.changes) for r in done}
    assert "occurred_at" in changes[1] and "→ recorded_at" in changes[1]
    assert "status 'bogus' → test" in changes[2] and "dropped 'ufo'" in changes[2]
    assert "kind 'withdrawn' → updated" in changes[4]
    assert "notes" in changes[5]
    assert repair.unreadable(store.engine) == []

    with store.engine.connect() as conn:
        kept = {r.event_id: r for r in conn.execute(select(event_quarantine))}
        after = {r.id: r._asdict() for r in conn.execute(select(events))}
        projected = {r.id: r for r in conn.execute(select(alerts))}
    assert set(kept) == {1, 2, 4, 5}
    for event_id, row in kept.items():
        assert orjson.loads(row.original) == before[event_id]  # the original, column for column
        assert row.problem.startswith(f"event {event_id}: column ")
    assert after[3] == before[3]  # readable rows are untouched
    assert after[1]["occurred_at"] == after[1]["recorded_at"]
    assert after[2]["status"] == "test" and after[2]["details"] == "drones"
    assert after[5]["notes"] == "bell"

    hub.load()  # starts now, and the fold of the repaired log is the projection
    state = fold(store.iter_events())
    assert hub.state.canonical() == state.canonical()
    assert set(hub.state.open_alerts) == {1, 2, 5}
    assert hub.state.open_alerts[2].status is AlertStatus.TEST
    assert projected[1].started_at == after[1]["recorded_at"] and projected[1].ended_at is None
    assert projected[1].last_event_id == 4 and projected[2].status == "test"
    assert [e.kind for e in store.events_after(0)] == [
        EventKind.DECLARED,
        EventKind.DECLARED,
        EventKind.UPDATED,
        EventKind.UPDATED,
        EventKind.DECLARED,
    ]
    assert repair.repair(store.engine) == []  # nothing left to do
    hub.close()


async def test_a_row_that_cannot_be_repaired_changes_nothing(
    sqlite_url: str, catalogue: Catalogue
) -> None:
    await write_log(sqlite_url, catalogue)
    store = SqlStore(sqlite_url)
    with store.engine.begin() as conn:
        # The end of alert 1 with an unknown kind, after alert 1 already ended (event 4).
        conn.execute(update(events).where(events.c.id == 4).values(kind="ended"))
        conn.execute(update(events).where(events.c.id == 5).values(kind="withdrawn", alert_id=1))
    done = repair.repair(store.engine)
    assert done[-1].event is None and "cannot be repaired" in done[-1].changes[-1]
    assert [p.event_id for p in repair.unreadable(store.engine)] == [5]
    with store.engine.connect() as conn:
        assert conn.execute(select(event_quarantine)).first() is None
    store.close()


async def test_text_that_is_not_utf8_is_named_not_crashed_on(
    sqlite_url: str, catalogue: Catalogue
) -> None:
    await write_log(sqlite_url, catalogue)
    store = SqlStore(sqlite_url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET notes = X'41FF00' WHERE id = 3"))
    hub = Hub(catalogue, store)
    with pytest.raises(UnreadableEvent) as info:
        hub.load()
    assert (info.value.event_id, info.value.column) == (3, "notes")
    assert "not UTF-8" in info.value.reason
    assert [r.event_id for r in repair.repair(store.engine)] == [3]
    hub.load()
    assert set(hub.state.open_alerts) == {2, 5}
    assert store.events_after(2, 1)[0].notes == "A\ufffd"  # the undecodable byte, marked
    hub.close()


def test_hub_refuses_to_start_with_one_line_then_repair_lets_it_start(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    import asyncio

    db = str(tmp_path / "poisoned.db")
    asyncio.run(write_log(f"sqlite:///{db}", catalogue))
    store = SqlStore(f"sqlite:///{db}")
    poison(store)
    store.close()

    serve = [sys.executable, "-m", "tryvoha.cli", "serve", "--db", db, "--no-history"]
    refused = subprocess.run(
        [*serve, "--port", "9"], capture_output=True, text=True, timeout=120, check=False
    )
    assert refused.returncode == 1
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    line = lines[0]
    assert "event 1: column occurred_at" in line and "not a time" in line
    assert f"tryvoha log repair --db {db}" in line and "nothing was skipped" in line

    runner = CliRunner()
    checked = runner.invoke(cli, ["log", "check", "--db", db, "--json"])
    assert checked.exit_code == 1
    assert {(p["event_id"], p["column"]) for p in orjson.loads(checked.stdout)} >= {
        (1, "occurred_at"),
        (4, "kind"),
    }
    dry = runner.invoke(cli, ["log", "repair", "--db", db, "--dry-run"])
    assert dry.exit_code == 0 and "dry run" in dry.output
    assert runner.invoke(cli, ["log", "check", "--db", db]).exit_code == 1
    fixed = runner.invoke(cli, ["log", "repair", "--db", db])
    assert fixed.exit_code == 0 and "4 rows rewritten" in fixed.output, fixed.output
    again = runner.invoke(cli, ["log", "check", "--db", db])
    assert again.exit_code == 0 and "Every row of the log reads back" in again.output

    hub = start_live_hub(db, "--no-history")
    try:
        log = httpx.get(f"{hub.url}/api/v1/log").json()
        assert [e["id"] for e in log["events"]] == [1, 2, 3, 4, 5]  # nothing lost
        assert httpx.get(f"{hub.url}/api/v1/alerts/active").status_code == 200
        assert httpx.get(f"{hub.url}/api/v1/stats/summary").status_code == 200
    finally:
        hub.proc.terminate()  # type: ignore[attr-defined]
        hub.proc.wait(timeout=10)  # type: ignore[attr-defined]
