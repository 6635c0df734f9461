"""MQTT with the real Mosquitto: retained statuses for late subscribers, statuses and events right
after each change, and correct retained statuses after the broker restarts under load."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import httpx
import orjson
import pytest

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End
from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.api.app import create_app
from tryvoha.channels.mqtt import MqttPublisher, parse_broker_url
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store.positions import MQTT_POSITION_KEY, StoredPosition

from .conftest import need_service
from .waiting import until

pytestmark = pytest.mark.mqtt
ACTOR = Actor("test-dispatch")


@pytest.fixture
def prefix() -> Iterator[str]:
    """A topic prefix of this test's own; its retained messages are cleared afterwards."""
    need_service(1883, "Mosquitto")
    name = f"tryvoha-test/{uuid.uuid4().hex[:10]}"
    yield name
    asyncio.run(clear_retained("127.0.0.1", 1883, name))


async def clear_retained(host: str, port: int, prefix: str) -> None:
    topics = {t for t, _ in await retained(host, port, f"{prefix}/#", idle=0.3)}
    async with aiomqtt.Client(host, port) as client:
        for topic in topics:
            client._client.publish(topic, b"", qos=0, retain=True)
        await client.publish(f"{prefix}/cleared", b"", qos=1, retain=True)


async def retained(
    host: str, port: int, pattern: str, expect: int | None = None, idle: float = 1.0
) -> list[tuple[str, bytes]]:
    """What a device that connects now receives: every retained message under `pattern`."""
    got: list[tuple[str, bytes]] = []
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(pattern, qos=1)
        with contextlib.suppress(TimeoutError):
            while expect is None or len(got) < expect:
                async with asyncio.timeout(idle):
                    message = await anext(client.messages)
                if message.retain:
                    got.append((str(message.topic), bytes(message.payload)))
    return got


async def statuses_from_broker(port: int, prefix: str, catalogue: Catalogue) -> dict[str, dict]:
    got = await retained("127.0.0.1", port, f"{prefix}/status/+", expect=len(catalogue))
    return {topic.rsplit("/", 1)[1]: orjson.loads(payload) for topic, payload in got}


async def statuses_from_api(client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """Per region, per threat, from the public HTTP API (another rendering of the same fold)."""
    result: dict[str, dict[str, str]] = {}
    for threat in Threat:
        doc = (await client.get("/api/v1/status", params={"threat": threat.value})).json()
        for region in doc["regions"]:
            result.setdefault(region["id"], {})[threat.value] = region["status"]
    return result


async def assert_broker_agrees_with_api(
    port: int, prefix: str, hub: Hub, client: httpx.AsyncClient
) -> None:
    broker = await statuses_from_broker(port, prefix, hub.catalogue)
    api = await statuses_from_api(client)
    assert broker.keys() == api.keys() == {r.id for r in hub.catalogue}
    assert {k: v["threats"] for k, v in broker.items()} == api
    assert {v["log_id"] for v in broker.values()} <= set(range(hub.last_event_id + 1))
    head = await retained("127.0.0.1", port, f"{prefix}/head", expect=1)
    assert orjson.loads(head[0][1])["log_id"] == hub.last_event_id


async def test_late_subscriber_gets_every_region_status_at_once(
    hub: Hub, client: httpx.AsyncClient, catalogue: Catalogue, prefix: str
) -> None:
    kharkiv, lviv = catalogue.oblasts[20], catalogue.oblasts[13]
    raion = catalogue.children(lviv.id)[1]
    await hub.submit(Declare(kharkiv.id, Threat.AIR_RAID), ACTOR)
    await hub.submit(Declare(raion.id, Threat.AIR_RAID), ACTOR)
    await hub.submit(Declare(raion.id, Threat.ARTILLERY_SHELLING), ACTOR)
    await hub.submit(Declare(kharkiv.id, Threat.AIR_RAID, status=AlertStatus.EXERCISE), ACTOR)

    async with MqttPublisher(hub, "mqtt://127.0.0.1:1883", prefix=prefix).running() as publisher:
        await publisher.wait_published(hub.last_event_id)
    # The hub is gone; a device connecting now still gets every region from the retained store.
    await assert_broker_agrees_with_api(1883, prefix, hub, client)
    broker = await statuses_from_broker(1883, prefix, catalogue)
    assert broker[raion.id]["status"] == "active"
    assert broker[lviv.id]["status"] == "partial"
    hromada = catalogue.children(raion.id)[0]
    assert broker[hromada.id]["threats"]["artillery_shelling"] == "active"
    plain = dict(await retained("127.0.0.1", 1883, f"{prefix}/status/{hromada.id}/+", expect=5))
    assert {t.rsplit("/", 1)[1]: p.decode() for t, p in plain.items()} == broker[hromada.id][
        "threats"
    ]
    online = await retained("127.0.0.1", 1883, f"{prefix}/online", expect=1)
    assert online == [(f"{prefix}/online", b"false")]  # said by the broker when we left


async def test_statuses_and_events_follow_each_change(
    hub: Hub, client: httpx.AsyncClient, catalogue: Catalogue, prefix: str
) -> None:
    oblast = catalogue.oblasts[8]
    raion = catalogue.children(oblast.id)[0]
    hromada = catalogue.children(raion.id)[0]
    async with (
        MqttPublisher(hub, "mqtt://127.0.0.1:1883", prefix=prefix).running() as publisher,
        aiomqtt.Client("127.0.0.1", 1883) as device,
    ):
        await publisher.wait_published(0)
        await device.subscribe(f"{prefix}/status/{hromada.id}/air_raid", qos=1)
        await device.subscribe(f"{prefix}/events/{oblast.id}/#", qos=1)
        await device.subscribe(f"{prefix}/drills/events/#", qos=1)
        await device.subscribe(f"{prefix}/head", qos=1)
        messages = device.messages

        async def next_on(suffix: str) -> aiomqtt.Message:
            async with asyncio.timeout(5):
                async for m in messages:
                    if str(m.topic) == f"{prefix}/{suffix}" and not m.retain:
                        return m
            raise AssertionError(suffix)

        declared = await hub.submit(Declare(raion.id, Threat.AIR_RAID), ACTOR)
        event = await next_on(f"events/{oblast.id}/{raion.id}")
        assert orjson.loads(event.payload)["id"] == declared.event.id
        status = await next_on(f"status/{hromada.id}/air_raid")
        assert status.payload == b"active"
        head = await next_on("head")
        assert orjson.loads(head.payload)["log_id"] == declared.event.id
        await assert_broker_agrees_with_api(1883, prefix, hub, client)

        drill = await hub.submit(
            Declare(hromada.id, Threat.AIR_RAID, status=AlertStatus.TEST), ACTOR
        )
        path = f"drills/events/{oblast.id}/{raion.id}/{hromada.id}"
        assert orjson.loads((await next_on(path)).payload)["id"] == drill.event.id

        ended = await hub.submit(End(AlertRef(alert_id=declared.event.alert_id)), ACTOR)
        event = await next_on(f"events/{oblast.id}/{raion.id}")
        assert orjson.loads(event.payload)["kind"] == "ended"
        assert (await next_on(f"status/{hromada.id}/air_raid")).payload == b"none"
        head = await next_on("head")
        assert orjson.loads(head.payload)["log_id"] == ended.event.id
        await assert_broker_agrees_with_api(1883, prefix, hub, client)


# A private broker, restarted under load ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A Mosquitto of this test's own on another port, so the shared one is never disturbed."""

    def __init__(self, directory: Path, persistence: bool) -> None:
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "user root"]
        # As docs/mqtt.md advises: past 1,000 messages queued for a session (Mosquitto's
        # default) the broker drops QoS 1 messages for a device that is away or slow, which a
        # device catching up after a restart under load can reach.
        lines += ["max_queued_messages 100000"]
        if persistence:
            lines += ["persistence true", f"persistence_location {directory}/"]
        self.conf.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.conf)])
        await until(self._listening, f"mosquitto listening on port {self.port}")

    def _listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
            return True
        return False

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            await asyncio.to_thread(self.process.wait, 5)
        self.process = None


@pytest.fixture
async def private_broker(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if subprocess.run(["which", "mosquitto"], capture_output=True).returncode != 0:
        pytest.skip("the mosquitto binary is not installed")
    broker = Broker(tmp_path, persistence=request.param)
    await broker.start()
    yield broker
    await broker.stop(signal.SIGKILL)


async def load(hub: Hub, catalogue: Catalogue, stop: asyncio.Event) -> None:
    """Declare and end alerts across the oblasts as fast as the hub takes them."""
    open_ids: list[int] = []
    i = 0
    while not stop.is_set():
        oblast = catalogue.oblasts[i % len(catalogue.oblasts)]
        if len(open_ids) > 10:
            await hub.submit(End(AlertRef(alert_id=open_ids.pop(0))), ACTOR)
        outcome = await hub.submit(Declare(oblast.id, Threat.AIR_RAID), ACTOR)
        if outcome.event is not None:
            open_ids.append(outcome.event.alert_id)
        i += 1
        await asyncio.sleep(0.005)


@pytest.mark.slow
@pytest.mark.parametrize("private_broker", [False], indirect=True)
async def test_broker_killed_under_load_retained_statuses_are_repaired(
    hub: Hub, client: httpx.AsyncClient, catalogue: Catalogue, private_broker: Broker
) -> None:
    """kill -9 with no persistence: the restarted broker knows nothing; the publisher reconnects
    and publishes every status again, so a device connecting afterwards sees the truth."""
    prefix = "tryvoha"
    url = f"mqtt://127.0.0.1:{private_broker.port}"
    stop = asyncio.Event()
    async with MqttPublisher(hub, url, prefix=prefix, reconnect_max=0.3).running() as publisher:
        await publisher.wait_published(0)
        loader = asyncio.create_task(load(hub, catalogue, stop))
        await until(lambda: publisher.published_log_id > 5, "statuses published under load")
        await private_broker.stop(signal.SIGKILL)
        at_kill = hub.last_event_id
        await until(  # events keep coming while the broker is away
            lambda: not publisher.connected and hub.last_event_id > at_kill + 5,
            "the broker missed while events were committed",
        )
        await private_broker.start()
        at_start = hub.last_event_id
        await until(
            lambda: publisher.connections == 2 and publisher.published_log_id > at_start,
            "published again under load after the restart",
        )
        stop.set()
        await loader
        assert hub.last_event_id > at_kill + 5
        await publisher.wait_published(hub.last_event_id)
        assert publisher.connections == 2
    await assert_broker_agrees_with_api(private_broker.port, prefix, hub, client)


@pytest.mark.slow
@pytest.mark.parametrize("private_broker", [True], indirect=True)
async def test_broker_restarted_under_load_loses_no_event(
    hub: Hub, client: httpx.AsyncClient, catalogue: Catalogue, private_broker: Broker
) -> None:
    """A device with a persistent session gets every live event published through a broker
    restart, in log order, and the retained statuses are right afterwards."""
    prefix = "tryvoha"
    port = private_broker.port
    url = f"mqtt://127.0.0.1:{port}"
    seen: list[int] = []

    async def device(ready: asyncio.Event) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", port, identifier="siren-7", clean_session=False
                ) as c:
                    await c.subscribe(f"{prefix}/events/#", qos=1)
                    ready.set()
                    async for m in c.messages:
                        seen.append(orjson.loads(m.payload)["id"])
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    ready = asyncio.Event()
    listener = asyncio.create_task(device(ready))
    await ready.wait()
    stop = asyncio.Event()
    first_id = hub.last_event_id + 1
    try:
        async with MqttPublisher(hub, url, prefix=prefix, reconnect_max=0.3).running() as pub:
            await pub.wait_published(0)
            loader = asyncio.create_task(load(hub, catalogue, stop))
            await until(lambda: len(seen) > 5, "events reach the device under load")
            await private_broker.stop(signal.SIGTERM)
            at_stop = hub.last_event_id
            await until(
                lambda: not pub.connected and hub.last_event_id > at_stop + 5,
                "the broker missed while events were committed",
            )
            await private_broker.start()
            at_start = hub.last_event_id
            await until(
                lambda: pub.connections >= 2 and pub.published_log_id > at_start,
                "published again under load after the restart",
            )
            stop.set()
            await loader
            await pub.wait_published(hub.last_event_id)
            expected = list(range(first_id, hub.last_event_id + 1))
            await until(lambda: set(expected) <= set(seen), "every event at the device")
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert set(seen) == set(expected)
    firsts = list(dict.fromkeys(seen))
    assert firsts == expected  # in log order (a repeat after reconnect only repeats)
    await assert_broker_agrees_with_api(port, prefix, hub, client)


def test_broker_urls() -> None:
    a = parse_broker_url("mqtt://user:p%40ss@broker.example.org")
    assert (a.host, a.port, a.username, a.password, a.tls) == (
        "broker.example.org",
        1883,
        "user",
        "p@ss",
        False,
    )
    assert parse_broker_url("mqtts://h").port == 8883 and parse_broker_url("mqtts://h").tls
    assert parse_broker_url("127.0.0.1:1884").port == 1884
    with pytest.raises(ValueError, match="mqtt://"):
        parse_broker_url("http://h")


@pytest.mark.parametrize("port", ["0", "65536"])
async def test_a_hub_given_a_broker_port_out_of_range_refuses_to_start(
    hub: Hub, sqlite_url: str, port: str
) -> None:
    """Port 0 used to become 1883 silently: the hub would publish to whatever listens there."""
    settings = Settings(db=sqlite_url, load_history=False, mqtt=f"mqtt://siren:pw@127.0.0.1:{port}")
    app = create_app(hub, settings)
    with pytest.raises(ValueError, match=f"port must be 1 to 65535, not '{port}'") as refused:
        async with app.router.lifespan_context(app):
            pass
    assert "pw" not in str(refused.value)


async def test_a_publisher_taking_over_sends_what_the_last_one_did_not(
    hub: Hub, catalogue: Catalogue, prefix: str
) -> None:
    """The durable position (`mqtt.position`): a publisher that starts on a log the last one
    published up to event 1 sends events 2 and 3 first, in order, then stores 3."""
    oblasts = catalogue.oblasts[:3]
    for oblast in oblasts:  # committed while no publisher runs (the writer died)
        await hub.submit(Declare(oblast.id, Threat.AIR_RAID), ACTOR)
    hub.store.set_meta(MQTT_POSITION_KEY, "1")
    position = StoredPosition(hub, MQTT_POSITION_KEY)
    async with aiomqtt.Client("127.0.0.1", 1883) as device:
        await device.subscribe(f"{prefix}/events/#", qos=1)
        async with MqttPublisher(
            hub, "mqtt://127.0.0.1:1883", prefix=prefix, position=position
        ).running() as publisher:
            got: list[int] = []
            async with asyncio.timeout(10):
                async for m in device.messages:
                    got.append(orjson.loads(m.payload)["id"])
                    if len(got) == 2:
                        break
            assert got == [2, 3]
            await publisher.wait_published(3)
            await until(lambda: hub.store.get_meta(MQTT_POSITION_KEY) == "3", "position stored")


async def test_a_late_will_of_an_earlier_publisher_is_answered_with_true(
    hub: Hub, prefix: str
) -> None:
    """An earlier writer's will (`online` = `false`) reaching the broker after this publisher
    said `true` (its machine vanished, the keepalive ran out later) does not stay: devices
    converge on `true` while this publisher is connected."""
    async with MqttPublisher(hub, "mqtt://127.0.0.1:1883", prefix=prefix).running() as publisher:
        await publisher.wait_published(0)
        async with aiomqtt.Client("127.0.0.1", 1883) as old_writer:
            await old_writer.publish(f"{prefix}/online", b"false", qos=1, retain=True)

        async def online() -> bool:
            got = await retained("127.0.0.1", 1883, f"{prefix}/online", expect=1)
            return got == [(f"{prefix}/online", b"true")]

        await until(online, "online back to true", poll=0.1)
        assert publisher.connections == 1


async def test_the_connection_to_the_broker_sends_small_messages_at_once(
    hub: Hub, prefix: str
) -> None:
    """Nagle off (TCP_NODELAY): the statuses and head that follow an event are not held back
    until the broker acknowledges the event (paho leaves Nagle on)."""
    async with MqttPublisher(hub, "mqtt://127.0.0.1:1883", prefix=prefix).running() as publisher:
        await publisher.wait_published(hub.last_event_id)
        live = publisher._live
        assert live is not None
        sock = live._client.socket()
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_statuses_are_written_without_a_report_per_message(
    hub: Hub, catalogue: Catalogue, prefix: str
) -> None:
    """paho reports every QoS 0 message it writes to `on_publish`, building a reason code and a
    properties object each time; the statuses go out unreported, while the head (QoS 1,
    awaited) is still answered, so the flush completes."""
    async with MqttPublisher(hub, "mqtt://127.0.0.1:1883", prefix=prefix).running() as publisher:
        await publisher.wait_published(hub.last_event_id)
        live = publisher._live
        assert live is not None
        reports: list[int] = []
        report = live._client.on_publish

        def counted(client, userdata, mid, *rest):
            reports.append(mid)
            return report(client, userdata, mid, *rest)

        live._client.on_publish = counted
        declared = await hub.submit(Declare(catalogue.oblasts[4].id, Threat.AIR_RAID), ACTOR)
        await publisher.wait_published(declared.event.id)
        assert 1 <= len(reports) <= 2  # the event's and the head's acknowledgements (QoS 1)


async def test_an_idle_publisher_leaves_the_event_loop_asleep(
    hub: Hub, catalogue: Catalogue, prefix: str
) -> None:
    """Once what was handed over is written, nothing watches the socket for writability: a
    writable socket watched would wake the loop on every turn (a whole CPU while idle)."""
    async with MqttPublisher(hub, "mqtt://127.0.0.1:1883", prefix=prefix).running() as publisher:
        declared = await hub.submit(Declare(catalogue.oblasts[5].id, Threat.AIR_RAID), ACTOR)
        await publisher.wait_published(declared.event.id)
        live = publisher._live
        assert live is not None
        paho_client = live._client
        await until(lambda: not paho_client.want_write(), "paho's queue written")
        writes = 0
        write = paho_client.loop_write

        def counted():
            nonlocal writes
            writes += 1
            return write()

        paho_client.loop_write = counted
        for _ in range(200):  # loop turns, not time: each would run a watched writer once
            await asyncio.sleep(0)
        assert writes == 0


async def test_a_publisher_stops_without_an_error_on_the_event_loop(
    hub: Hub, catalogue: Catalogue, prefix: str
) -> None:
    """The goodbye (`online` = `false`) and the disconnect are written before the socket closes,
    and no registration lands on the closed socket afterwards."""
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        async with MqttPublisher(hub, "mqtt://127.0.0.1:1883", prefix=prefix).running() as pub:
            declared = await hub.submit(Declare(catalogue.oblasts[6].id, Threat.AIR_RAID), ACTOR)
            await pub.wait_published(declared.event.id)
        for _ in range(50):
            await asyncio.sleep(0)
        said = await retained("127.0.0.1", 1883, f"{prefix}/online", expect=1)
        assert said == [(f"{prefix}/online", b"false")]
        assert errors == []
    finally:
        loop.set_exception_handler(None)
