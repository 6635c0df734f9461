"""Webhooks: subscriptions through the operator API, signed ordered deliveries from a durable
outbox, retries with backoff, restarts, limits on what a receiver can cost us."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.machinery
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from tryvoha.alerts.model import AlertStatus, EventDraft, EventKind, Threat
from tryvoha.api.app import create_app
from tryvoha.channels.webhooks import (
    WebhookConfig,
    WebhookDispatcher,
    dispatcher,
    sender,
    verify,
)
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.netguard import parse_networks
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore
from tryvoha.store.fencing import claim_epoch
from tryvoha.store.schema import webhook_outbox

from .conftest import auth
from .waiting import until

LOOPBACK = parse_networks("127.0.0.0/8,::1")
"""Test receivers listen on loopback: allowed explicitly, as a deployment would allow its LAN."""
FAST = WebhookConfig(
    backoff_base=0.01,
    backoff_max=0.08,
    give_up_after=120,
    timeout=2,
    poll_interval=0.2,
    allow_networks=LOOPBACK,
)


@dataclass
class Env:
    hub: Hub
    client: httpx.AsyncClient
    dispatcher: WebhookDispatcher
    admin: str

    async def declare(self, region: str, token: str | None = None, **extra) -> dict:
        r = await self.client.post(
            "/api/v1/alerts", json={"region_id": region, **extra}, headers=auth(token or self.admin)
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def end(self, alert_id: int) -> dict:
        r = await self.client.post(f"/api/v1/alerts/{alert_id}/end", headers=auth(self.admin))
        assert r.status_code == 200, r.text
        return r.json()

    async def subscribe(self, url: str, token: str | None = None, **body) -> dict:
        r = await self.client.post(
            "/api/v1/webhooks", json={"url": url, **body}, headers=auth(token or self.admin)
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def webhook(self, sub_id: int) -> dict:
        r = await self.client.get(f"/api/v1/webhooks/{sub_id}", headers=auth(self.admin))
        assert r.status_code == 200, r.text
        return r.json()


@contextlib.asynccontextmanager
async def running_hub(
    catalogue: Catalogue, url: str, config: WebhookConfig = FAST, admin: str | None = None
) -> AsyncIterator[Env]:
    """A hub with its app's lifespan running (the webhook dispatcher), as `tryvoha serve` has."""
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    app = create_app(hub, Settings(db=url, load_history=False, mqtt=None, webhooks=config))
    if admin is None:
        admin, _ = hub.store.create_token("admin", None)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                yield Env(hub, client, app.state.webhooks, admin)
    finally:
        hub.close()


@pytest.fixture
async def env(catalogue: Catalogue, sqlite_url: str) -> AsyncIterator[Env]:
    async with running_hub(catalogue, sqlite_url) as e:
        yield e


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def settled(env: Env, sub_id: int, delivered: int) -> dict:
    """The subscription's delivery health once `delivered` deliveries are recorded (a receiver
    has its delivery before the hub has read the answer and recorded it)."""

    async def recorded() -> dict | None:
        health = (await env.webhook(sub_id))["deliveries"]
        return health if health["delivered"] >= delivered else None

    return await until(recorded, f"{delivered} deliveries recorded")


def a_raion(catalogue: Catalogue, oblast_index: int = 3):
    oblast = catalogue.oblasts[oblast_index]
    return oblast, catalogue.children(oblast.id)[0]


# Subscriptions --------------------------------------------------------------------------------


BAD_URLS = [
    ("ftp://example.org/hook", "scheme must be http or https"),
    ("http://user:pw@example.org/hook", "credentials"),
    ("https://token@example.org/hook", "credentials"),
    ("http:///hook", "no host"),
    ("http://example.org/hook#x", "fragment"),
    ("http://exa mple.org/", "spaces"),
    ("example.org/hook", "scheme"),
    ("http://example.org:99999/", "does not parse"),
    ("http://example.org/" + "a" * 2000, "at most 2000 characters"),
]


async def test_bad_urls_get_422_naming_the_problem(env: Env) -> None:
    for url, problem in BAD_URLS:
        r = await env.client.post("/api/v1/webhooks", json={"url": url}, headers=auth(env.admin))
        assert r.status_code == 422, (url, r.text)
        assert problem in r.json()["error"]["message"], url
    listed = await env.client.get("/api/v1/webhooks", headers=auth(env.admin))
    assert listed.json()["webhooks"] == []


async def test_subscription_regions_stay_inside_the_token_scope(env: Env, catalogue) -> None:
    oblast, raion = a_raion(catalogue)
    other = catalogue.oblasts[7]
    scoped, _ = env.hub.store.create_token("oblast-dispatch", [oblast.id])

    r = await env.client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "regions": [other.id]},
        headers=auth(scoped),
    )
    assert r.status_code == 403 and other.id in r.json()["error"]["message"]
    r = await env.client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "regions": ["UA_NO_SUCH"]},
        headers=auth(scoped),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_region"
    r = await env.client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x"})
    assert r.status_code == 401

    inside = await env.subscribe("http://127.0.0.1:9/x", scoped, regions=[raion.id])
    default = await env.subscribe("http://127.0.0.1:9/y", scoped)
    assert inside["regions"] == [raion.id]
    assert default["regions"] == [oblast.id]
    everywhere = await env.subscribe("http://127.0.0.1:9/z")
    assert everywhere["regions"] == [catalogue.country.id]


async def test_secret_shown_once_and_only_owners_see_a_subscription(env: Env, catalogue) -> None:
    oblast, _ = a_raion(catalogue)
    alice, _ = env.hub.store.create_token("alice", [oblast.id])
    bob, _ = env.hub.store.create_token("bob", [oblast.id])
    made = await env.subscribe("http://127.0.0.1:9/alice", alice, description="sirens")
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 30
    assert made["owner"] == "token:alice"

    mine = await env.client.get(f"/api/v1/webhooks/{made['id']}", headers=auth(alice))
    assert mine.status_code == 200 and "secret" not in mine.json()
    assert mine.json()["description"] == "sirens"
    assert (
        await env.client.get(f"/api/v1/webhooks/{made['id']}", headers=auth(bob))
    ).status_code == 404
    bobs = await env.client.get("/api/v1/webhooks", headers=auth(bob))
    assert bobs.json()["webhooks"] == []
    admins = await env.client.get("/api/v1/webhooks", headers=auth(env.admin))
    assert [w["id"] for w in admins.json()["webhooks"]] == [made["id"]]

    r = await env.client.delete(f"/api/v1/webhooks/{made['id']}", headers=auth(bob))
    assert r.status_code == 404
    r = await env.client.delete(f"/api/v1/webhooks/{made['id']}", headers=auth(alice))
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert (
        await env.client.get(f"/api/v1/webhooks/{made['id']}", headers=auth(alice))
    ).status_code == 404


# Deliveries -----------------------------------------------------------------------------------


async def test_delivery_is_the_api_answer_signed_with_the_secret(
    env: Env, receiver: Receiver, catalogue
) -> None:
    oblast, raion = a_raion(catalogue)
    sub = await env.subscribe(receiver.url, regions=[oblast.id])
    receiver.secret = sub["secret"]

    declared = await env.declare(raion.id, details=["drones"], notes="з півночі")
    patched = await env.client.patch(
        f"/api/v1/alerts/{declared['alert']['id']}",
        json={"details": ["drones", "cruise_missile"]},
        headers=auth(env.admin),
    )
    ended = await env.end(declared["alert"]["id"])
    answers = [declared, patched.json(), ended]
    await receiver.wait_for(lambda r: len(r.acknowledged()) == 3)

    got = receiver.acknowledged()
    assert [orjson.loads(r.body) for r in got] == answers
    for r, answer in zip(got, answers, strict=True):
        assert r.verified is True
        assert r.headers["content-type"] == "application/json"
        assert r.event_id == answer["event"]["id"]
        assert r.headers["x-tryvoha-subscription-id"] == str(sub["id"])
        assert r.headers["x-tryvoha-attempt"] == "1"
        assert verify(sub["secret"], r.headers["x-tryvoha-signature"], r.body)
        assert not verify("whsec_wrong", r.headers["x-tryvoha-signature"], r.body)
        assert not verify(sub["secret"], r.headers["x-tryvoha-signature"], r.body + b" ")
    health = await settled(env, sub["id"], 3)
    assert health["delivered"] == 3 and health["pending"] == 0 and not health["failing"]


async def test_only_matching_live_events_are_delivered(
    env: Env, receiver: Receiver, catalogue
) -> None:
    oblast, raion = a_raion(catalogue)
    hromada = catalogue.children(raion.id)[0]
    elsewhere = catalogue.oblasts[9]
    await env.subscribe(receiver.url, regions=[hromada.id], threats=["air_raid"])
    drills = Receiver()
    await drills.start()
    await env.subscribe(drills.url, regions=[hromada.id], statuses=["exercise"])

    wanted = []
    wanted.append(await env.declare(oblast.id))  # covers the hromada
    await env.declare(elsewhere.id)
    await env.declare(raion.id, threat="artillery_shelling")
    wanted.append(await env.declare(hromada.id, threat="air_raid", status="test"))
    exercise = await env.declare(raion.id, status="exercise")
    wanted.append(await env.end(wanted[0]["alert"]["id"]))
    # Imported history is never announced as live.
    past = datetime(2023, 1, 1, tzinfo=UTC)
    drafts = [
        EventDraft(
            EventKind.DECLARED,
            hromada.id,
            Threat.AIR_RAID,
            AlertStatus.ACTUAL,
            past,
            "import:test",
            alert_id=-1,
            source="import:test",
        ),
        EventDraft(
            EventKind.ENDED,
            hromada.id,
            Threat.AIR_RAID,
            AlertStatus.ACTUAL,
            past + timedelta(hours=1),
            "import:test",
            alert_id=-1,
            source="import:test",
        ),
    ]
    await env.hub.append_history(drafts)
    last = await env.declare(hromada.id)
    await receiver.wait_for(lambda r: any(x.event_id == last["event"]["id"] for x in r.received))
    await drills.wait_for(lambda r: len(r.received) >= 1)
    await drills.stop()

    # "test" status is neither actual nor asked for: only the actual events arrive.
    expected = [wanted[0]["event"]["id"], wanted[2]["event"]["id"], last["event"]["id"]]
    assert [r.event_id for r in receiver.received] == expected
    assert [r.event_id for r in drills.received] == [exercise["event"]["id"]]


async def test_receiver_down_ten_minutes_then_back_gets_everything_in_order_once(
    catalogue, sqlite_url: str, receiver: Receiver
) -> None:
    """The clock at 1/1000: the default backoff (1 s doubling to an hour, given up after three
    days) scaled down, and a receiver that answers 503, then refuses connections, for 0.6 s
    (ten minutes at that scale)."""
    defaults = WebhookConfig()
    scale = 1 / 1000
    config = WebhookConfig(
        backoff_base=defaults.backoff_base * scale,
        backoff_max=defaults.backoff_max * scale,
        give_up_after=defaults.give_up_after * scale,
        timeout=2,
        poll_interval=0.2,
        allow_networks=LOOPBACK,
    )
    async with running_hub(catalogue, sqlite_url, config) as env:
        await _down_then_back(env, receiver, catalogue, down_for=600 * scale)


async def _down_then_back(env: Env, receiver: Receiver, catalogue, down_for: float) -> None:
    down = True
    receiver.answer = lambda _r: 503 if down else 200
    sub = await env.subscribe(receiver.url)
    started = asyncio.get_running_loop().time()
    alerts = [await env.declare(o.id) for o in catalogue.oblasts[:6]]
    ids = [a["event"]["id"] for a in alerts]

    await receiver.wait_for(lambda r: len(r.received) >= 5)
    failing = await env.webhook(sub["id"])
    head = failing["deliveries"]["head"]
    assert failing["deliveries"]["failing"] is True
    assert head["event_id"] == ids[0] and head["attempts"] >= 1
    assert head["last_status"] == 503 and head["last_error"].startswith("HTTP 503")
    assert failing["deliveries"]["pending"] == len(ids)
    # While the first is not acknowledged, nothing after it was sent.
    assert {r.event_id for r in receiver.received} == {ids[0]}

    # Gone entirely: connection refused.
    await receiver.stop()

    async def refused_now() -> dict | None:
        doc = await env.webhook(sub["id"])
        return doc if doc["deliveries"]["head"]["last_error"] == "connection refused" else None

    refused = await until(refused_now, "a retry refused while the receiver is gone")
    assert refused["deliveries"]["head"]["last_error"] == "connection refused"
    later = [await env.declare(o.id) for o in catalogue.oblasts[6:9]]
    ids += [a["event"]["id"] for a in later]

    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    await asyncio.sleep(max(0.0, started + down_for - asyncio.get_running_loop().time()))
    down = False
    await receiver.start(port=port)
    await receiver.wait_for(lambda r: len(r.acknowledged()) == len(ids))

    acked = receiver.acknowledged()
    assert [r.event_id for r in acked] == ids
    assert len({r.headers["x-tryvoha-delivery-id"] for r in acked}) == len(ids)
    retried = {r.headers["x-tryvoha-delivery-id"] for r in receiver.received if r.status == 503}
    assert retried <= {r.headers["x-tryvoha-delivery-id"] for r in acked[:1]}
    assert int(acked[0].headers["x-tryvoha-attempt"]) >= 8
    # Every repeat of one delivery carried the same body and event id.
    for r in receiver.received:
        same = next(
            a
            for a in acked
            if a.headers["x-tryvoha-delivery-id"] == r.headers["x-tryvoha-delivery-id"]
        )
        assert r.body == same.body and r.event_id == same.event_id
    health = await settled(env, sub["id"], len(ids))
    assert health == {**health, "pending": 0, "delivered": len(ids), "failing": False}


async def test_outbox_survives_restart_and_a_crash_before_the_outbox(
    catalogue, db_url: str, receiver: Receiver
) -> None:
    """Events committed while no dispatcher ran (a crash between commit and outbox) and
    deliveries pending at shutdown all arrive after a restart."""
    down = True
    receiver.answer = lambda _r: 503 if down else 200
    async with running_hub(catalogue, db_url) as env:
        admin = env.admin
        sub = await env.subscribe(receiver.url)
        first = await env.declare(catalogue.oblasts[0].id)
        await receiver.wait_for(lambda r: len(r.received) >= 2)
    # The hub is down; another process commits to the log meanwhile (no bus, no dispatcher).
    hub = Hub(catalogue, SqlStore(db_url))
    hub.load()
    from tryvoha.alerts.commands import Actor, Declare

    missed = await hub.submit(Declare(catalogue.oblasts[1].id, Threat.AIR_RAID), Actor("cli"))
    hub.close()
    down = False
    async with running_hub(catalogue, db_url, admin=admin) as env:
        last = await env.declare(catalogue.oblasts[2].id)
        ids = [first["event"]["id"], missed.event.id, last["event"]["id"]]
        await receiver.wait_for(lambda r: len(r.acknowledged()) == 3)
        assert [r.event_id for r in receiver.acknowledged()] == ids
        health = await settled(env, sub["id"], 3)
        assert health["delivered"] == 3 and health["pending"] == 0


async def test_a_new_subscription_starts_after_the_log_head(
    env: Env, receiver: Receiver, catalogue
) -> None:
    before = await env.declare(catalogue.oblasts[0].id)
    sub = await env.subscribe(receiver.url)
    assert sub["after_event_id"] == before["event"]["id"]
    after = await env.declare(catalogue.oblasts[1].id)
    await receiver.wait_for(lambda r: len(r.received) == 1)
    # Deliveries go in log order: had `before` been sent, it would arrive before a later event.
    fence = await env.declare(catalogue.oblasts[2].id)
    await receiver.wait_for(lambda r: len(r.received) == 2)
    assert [r.event_id for r in receiver.received] == [after["event"]["id"], fence["event"]["id"]]


async def test_once_the_outbox_is_empty_rows_are_sent_as_written_not_read_back(
    env: Env, receiver: Receiver, catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the sender found its outbox empty, the next rows go out straight from the commit
    that wrote them, still in log order and once each, with the ids the outbox gave them."""
    await env.subscribe(receiver.url)
    first = await env.declare(catalogue.oblasts[0].id)
    await receiver.wait_for(lambda r: len(r.acknowledged()) == 1)
    reads: list[int] = []
    read = env.dispatcher.store.pending
    monkeypatch.setattr(env.dispatcher.store, "pending", lambda *a: reads.append(1) or read(*a))
    burst = await asyncio.gather(*(env.declare(o.id) for o in catalogue.oblasts[1:9]))
    ids = [first["event"]["id"], *sorted(a["event"]["id"] for a in burst)]
    await receiver.wait_for(lambda r: len(r.acknowledged()) == len(ids))
    acked = receiver.acknowledged()
    assert [r.event_id for r in acked] == ids
    assert reads == []
    with env.hub.store.engine.connect() as conn:
        rows = dict(conn.execute(select(webhook_outbox.c.id, webhook_outbox.c.event_id)).all())
    assert {int(r.headers["x-tryvoha-delivery-id"]): r.event_id for r in acked} == rows


def outbox_rows(env: Env) -> dict[int, tuple[int, int, str]]:
    """Delivery id → (subscription, event, state), as stored."""
    query = select(
        webhook_outbox.c.id,
        webhook_outbox.c.subscription_id,
        webhook_outbox.c.event_id,
        webhook_outbox.c.state,
    )
    with env.hub.store.engine.connect() as conn:
        return {r.id: (r.subscription_id, r.event_id, r.state) for r in conn.execute(query)}


async def test_an_attempt_searches_the_disk_for_no_module(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt is on the alert path: none may pay for an import that fails each time."""
    client = sender.new_client(FAST)
    try:
        assert (await sender.post(client, receiver.url, b"{}", {}, FAST)).ok  # connected
        searches: list[str] = []
        find_spec = importlib.machinery.PathFinder.find_spec

        def counted(name: str, *args, **kwargs):
            searches.append(name)
            return find_spec(name, *args, **kwargs)

        monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counted)
        for _ in range(3):
            assert (await sender.post(client, receiver.url, b"{}", {}, FAST)).ok
        assert searches == []
    finally:
        await client.aclose()


async def test_a_first_attempt_goes_out_while_its_row_is_being_written(
    env: Env, receiver: Receiver, catalogue
) -> None:
    """The event is durable in the log before the dispatcher sees it, so its first attempt does
    not wait for the outbox write; it carries the id the row is then written with, and its
    outcome is recorded on that row (not sent again)."""
    sub = await env.subscribe(receiver.url)
    release = threading.Event()
    write = env.dispatcher.store.enqueue

    def held_write(*args):
        release.wait(30)
        return write(*args)

    env.dispatcher.store.enqueue = held_write  # type: ignore[method-assign]
    try:
        alert = await env.declare(catalogue.oblasts[0].id)
        await receiver.wait_for(lambda r: len(r.acknowledged()) == 1)
        assert outbox_rows(env) == {}  # posted and acknowledged before the row was written
    finally:
        release.set()
    first = receiver.acknowledged()[0]
    delivery_id = int(first.headers["x-tryvoha-delivery-id"])
    assert first.event_id == alert["event"]["id"]

    async def delivered() -> dict | None:
        doc = await env.webhook(sub["id"])
        return doc if doc["deliveries"]["delivered"] == 1 else None

    await until(delivered, "the first attempt recorded on its row")
    assert outbox_rows(env) == {delivery_id: (sub["id"], first.event_id, "delivered")}
    fence = await env.declare(catalogue.oblasts[1].id)
    await receiver.wait_for(lambda r: len(r.received) == 2)
    assert [r.event_id for r in receiver.received] == [first.event_id, fence["event"]["id"]]


async def test_an_events_row_is_with_its_sender_within_the_commits_own_turn(
    env: Env, receiver: Receiver, catalogue
) -> None:
    """An idle follower at the log's head leaves the next event's row to the bus listener,
    which hands it to the sender at once: the listeners after it (the other channels) already
    find it there, a turn of the event loop before the follower would have handed it. The
    follower then writes it under the id it was sent with."""
    sub = await env.subscribe(receiver.url)
    await env.declare(catalogue.oblasts[0].id)
    await settled(env, sub["id"], 1)  # the follower idle, at the head of the log
    pending = env.dispatcher._pending[sub["id"]]
    seen: list[list[int]] = []

    def next_listener(_event) -> None:
        seen.append([row.event_id for row in pending.handed])

    unsubscribe = env.hub.bus.subscribe(next_listener, whole_log=True)
    try:
        alert = await env.declare(catalogue.oblasts[1].id)
    finally:
        unsubscribe()
    assert seen == [[alert["event"]["id"]]]
    await settled(env, sub["id"], 2)
    second = receiver.acknowledged()[1]
    assert second.event_id == alert["event"]["id"]
    delivery_id = int(second.headers["x-tryvoha-delivery-id"])
    assert outbox_rows(env)[delivery_id] == (sub["id"], second.event_id, "delivered")


async def test_a_first_attempt_sent_before_a_crash_comes_again_with_its_delivery_id(
    catalogue, sqlite_url: str, receiver: Receiver
) -> None:
    """The hub stops after a first attempt went out and before its row was written (the write
    fails): the next hub follows the log from the stored position and sends it again, under the
    same delivery id, and then records it."""
    async with running_hub(catalogue, sqlite_url) as env:
        admin = env.admin
        sub = await env.subscribe(receiver.url)
        warm = await env.declare(catalogue.oblasts[0].id)
        await settled(env, sub["id"], 1)  # its row written and its delivery recorded

        def failing_write(*_args):
            raise OSError("disk I/O error")

        env.dispatcher.store.enqueue = failing_write  # type: ignore[method-assign]
        lost = await env.declare(catalogue.oblasts[1].id)
        await receiver.wait_for(lambda r: len(r.acknowledged()) == 2)
    sent = receiver.acknowledged()[1]
    assert sent.event_id == lost["event"]["id"]
    async with running_hub(catalogue, sqlite_url, admin=admin) as env:
        await receiver.wait_for(lambda r: len(r.acknowledged()) == 3)
        again = receiver.acknowledged()[2]
        assert again.event_id == sent.event_id
        assert again.headers["x-tryvoha-delivery-id"] == sent.headers["x-tryvoha-delivery-id"]

        async def delivered() -> dict | None:
            doc = await env.webhook(sub["id"])
            return doc if doc["deliveries"]["delivered"] == 2 else None

        await until(delivered, "the repeat recorded on its row")
        rows = outbox_rows(env)
        assert rows[int(sent.headers["x-tryvoha-delivery-id"])] == (
            sub["id"],
            sent.event_id,
            "delivered",
        )
        assert sorted(event for _, event, _ in rows.values()) == [
            warm["event"]["id"],
            sent.event_id,
        ]


async def test_a_subscription_deleted_while_rows_wait_to_be_written_moves_no_delivery_id(
    catalogue, sqlite_url: str, receiver: Receiver
) -> None:
    """Two subscriptions get one event; the write of its rows fails after both first attempts
    went out, and the first subscription is deleted before the follower tries again. The
    second one's row is still written under the id its attempt carried, and recorded there."""
    slow_retry = dataclasses.replace(FAST, poll_interval=60)
    async with running_hub(catalogue, sqlite_url, slow_retry) as env:
        first = await env.subscribe(receiver.url)
        second = await env.subscribe(receiver.url)
        write = env.dispatcher.store.enqueue
        failed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def failing_once(*args):
            env.dispatcher.store.enqueue = write  # type: ignore[method-assign]
            loop.call_soon_threadsafe(failed.set)
            raise OSError("disk I/O error")

        env.dispatcher.store.enqueue = failing_once  # type: ignore[method-assign]
        alert = await env.declare(catalogue.oblasts[0].id)
        await receiver.wait_for(lambda r: len(r.acknowledged()) == 2)
        await asyncio.wait_for(failed.wait(), 30)
        r = await env.client.delete(f"/api/v1/webhooks/{first['id']}", headers=auth(env.admin))
        assert r.status_code == 200, r.text

        def sent_to(sub: dict) -> list:
            return [
                got
                for got in receiver.acknowledged()
                if got.headers["x-tryvoha-subscription-id"] == str(sub["id"])
            ]

        [kept] = sent_to(second)
        assert kept.event_id == alert["event"]["id"]

        async def delivered() -> dict | None:
            doc = await env.webhook(second["id"])
            return doc if doc["deliveries"]["delivered"] == 1 else None

        await until(delivered, "the second subscription's attempt recorded on its row")
        assert outbox_rows(env) == {
            int(kept.headers["x-tryvoha-delivery-id"]): (second["id"], kept.event_id, "delivered")
        }
        assert len(sent_to(second)) == 1


async def test_a_backlog_past_what_is_kept_in_memory_is_read_from_the_outbox(
    env: Env, receiver: Receiver, catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher, "HANDED_MAX", 2)
    down = True
    receiver.answer = lambda _r: 503 if down else 200
    sub = await env.subscribe(receiver.url)
    ids = [(await env.declare(o.id))["event"]["id"] for o in catalogue.oblasts[:6]]
    await receiver.wait_for(lambda r: len(r.received) >= 2)
    down = False
    await env.client.post(f"/api/v1/webhooks/{sub['id']}/retry", headers=auth(env.admin))
    await receiver.wait_for(lambda r: len(r.acknowledged()) == len(ids))
    assert [r.event_id for r in receiver.acknowledged()] == ids


async def test_a_delivery_retried_over_a_thousand_times_keeps_its_schedule(
    catalogue, sqlite_url: str, receiver: Receiver
) -> None:
    """A receiver down long enough for attempt 1025 (about 17 minutes with a 1 s backoff cap)
    still gets each failed attempt recorded and retried on schedule, then its event once back."""
    config = WebhookConfig(
        backoff_base=0.01,
        backoff_max=0.05,
        give_up_after=120,
        timeout=2,
        poll_interval=0.2,
        allow_networks=LOOPBACK,
    )
    down = True
    receiver.answer = lambda _r: 503 if down else 204
    async with running_hub(catalogue, sqlite_url, config) as env:
        sub = await env.subscribe(receiver.url)
        alert = await env.declare(catalogue.oblasts[0].id)

        async def failed_once() -> dict | None:  # recorded: the row is written
            head = (await env.webhook(sub["id"]))["deliveries"]["head"]
            return head if head and head["attempts"] >= 1 else None

        await until(failed_once, "the first failed attempt recorded")
        with env.hub.store.engine.begin() as conn:  # as if it had failed 1100 times already
            conn.execute(
                update(webhook_outbox)
                .where(webhook_outbox.c.subscription_id == sub["id"])
                .values(attempts=webhook_outbox.c.attempts + 1100)
            )

        async def retried_past_1100() -> dict | None:
            head = (await env.webhook(sub["id"]))["deliveries"]["head"]
            return head if head and head["attempts"] >= 1103 else None

        head = await until(retried_past_1100, "attempts past 1100 recorded")
        assert head["last_status"] == 503
        down = False
        await receiver.wait_for(lambda r: len(r.acknowledged()) == 1)
        (acked,) = receiver.acknowledged()
        assert acked.event_id == alert["event"]["id"]
        assert int(acked.headers["x-tryvoha-attempt"]) > 1103


async def test_expired_deliveries_are_visible_and_can_be_retried(
    catalogue, sqlite_url: str, receiver: Receiver
) -> None:
    config = WebhookConfig(
        backoff_base=0.01,
        backoff_max=0.05,
        give_up_after=0.3,
        timeout=2,
        poll_interval=0.2,
        allow_networks=LOOPBACK,
    )
    down = True
    receiver.answer = lambda _r: 500 if down else 204
    async with running_hub(catalogue, sqlite_url, config) as env:
        sub = await env.subscribe(receiver.url)
        one = await env.declare(catalogue.oblasts[0].id)
        two = await env.declare(catalogue.oblasts[1].id)

        # Each is retried until it expires; then the next one gets its turn.
        async def both_expired() -> dict | None:
            health = (await env.webhook(sub["id"]))["deliveries"]
            return health if health["expired"] == 2 else None

        health = await until(both_expired, "both deliveries expired")
        assert health["pending"] == 0
        rows = await env.client.get(
            f"/api/v1/webhooks/{sub['id']}/deliveries",
            params={"state": "expired"},
            headers=auth(env.admin),
        )
        expired = rows.json()["deliveries"]
        assert [d["event_id"] for d in expired] == [two["event"]["id"], one["event"]["id"]]
        # The second waited behind the first past its own expiry: one attempt, then expired.
        assert expired[1]["attempts"] >= 2 and expired[0]["attempts"] >= 1
        assert all(d["last_error"].startswith("HTTP 500") for d in expired)

        down = False
        r = await env.client.post(f"/api/v1/webhooks/{sub['id']}/retry", headers=auth(env.admin))
        assert r.json()["requeued"] == 2
        await receiver.wait_for(lambda r: len(r.acknowledged()) == 2)
        assert [x.event_id for x in receiver.acknowledged()] == [
            one["event"]["id"],
            two["event"]["id"],
        ]


async def test_slow_huge_and_redirecting_receivers_cost_bounded_time(
    catalogue, sqlite_url: str
) -> None:
    config = WebhookConfig(
        backoff_base=0.01,
        backoff_max=0.05,
        give_up_after=60,
        timeout=0.5,
        poll_interval=0.2,
        allow_networks=LOOPBACK,
    )
    received = asyncio.Event()
    redirect_seen = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        received.set()
        await asyncio.sleep(30)  # never answers

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(100_000):  # a 2xx with an endless body: read up to the cap only
                writer.write(b"x" * 4096)
                await writer.drain()

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        redirect_seen.set()
        writer.write(
            b"HTTP/1.1 301 Moved\r\nlocation: http://elsewhere/\r\ncontent-length: 0\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    servers = [await asyncio.start_server(h, "127.0.0.1", 0) for h in (silent, endless, redirect)]
    urls = [f"http://127.0.0.1:{s.sockets[0].getsockname()[1]}/h" for s in servers]
    try:
        async with running_hub(catalogue, sqlite_url, config) as env:
            subs = [await env.subscribe(u) for u in urls]
            await env.declare(catalogue.oblasts[0].id)
            await asyncio.wait_for(received.wait(), 5)
            await asyncio.wait_for(redirect_seen.wait(), 5)

            async def state(i: int) -> dict:
                async def tried() -> dict | None:
                    d = (await env.webhook(subs[i]["id"]))["deliveries"]
                    return d if d["delivered"] or (d["head"] and d["head"]["attempts"]) else None

                return await until(tried, f"subscription {i} delivered or tried")

            slow = await state(0)
            assert slow["head"]["last_error"] == "timeout after 0.5 s"
            assert (await state(1))["delivered"] == 1
            moved = await state(2)
            # The receiver's Location is not repeated: only the hub's own words are stored.
            assert moved["head"]["last_error"] == "HTTP 301: redirects are not followed"
            assert moved["head"]["last_status"] == 301
    finally:
        for s in servers:
            s.close()


async def test_webhooks_api_answers_503_when_delivery_is_not_running(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    r = await client.get("/api/v1/webhooks", headers=auth(admin_token))
    assert r.status_code == 503 and r.json()["error"]["code"] == "webhooks_unavailable"


async def test_a_subscription_change_on_a_writer_fenced_off_meanwhile_answers_503(
    env: Env, receiver: Receiver, catalogue
) -> None:
    """A writer that another writer fenced off (its lock not yet seen lost) cannot store the
    follower's position before a deletion: 503 `not_the_writer` with Retry-After, nothing
    deleted."""
    oblast, raion = a_raion(catalogue)
    sub = await env.subscribe(receiver.url, regions=[raion.id])
    env.hub.store.epoch = claim_epoch(env.hub.store.engine)
    elsewhere = (
        catalogue.oblasts[0] if catalogue.oblasts[0].id != oblast.id else catalogue.oblasts[1]
    )
    await env.declare(elsewhere.id)  # matches nothing: the position moves, unstored
    claim_epoch(env.hub.store.engine)  # a newer writer
    r = await env.client.delete(f"/api/v1/webhooks/{sub['id']}", headers=auth(env.admin))
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "not_the_writer"
    assert r.headers["retry-after"] == "1"
    assert env.dispatcher.store.get(sub["id"]) is not None
