"""MQTT for siren controllers and LED maps: one retained topic per region with its current status,
and the live events on a topic tree that follows the region tree.

Topics (the prefix is `tryvoha` unless configured):
- `<prefix>/status/<region_id>` retained JSON `{"region_id", "status", "threats", "log_id"}`;
- `<prefix>/status/<region_id>/<threat>` retained plain text `active`, `partial` or `none`;
- `<prefix>/head` retained JSON `{"log_id", "updated_at"}`: the log id every retained status
  reflects, published after the statuses;
- `<prefix>/online` retained `true`, or `false` (the broker sends it as our will when we vanish;
  a publisher that sees `false` while connected, an earlier writer's late will, says `true`);
- `<prefix>/events/<oblast>/<raion>/<hromada>` live actual events (`event_doc`), and
  `<prefix>/drills/events/…` exercise and test events.

Statuses come from `hub.statuses()`, the same fold every other interface renders, and only changed
regions are republished. On every (re)connect every region's status is published again, so a broker
that lost its retained messages is repaired; live events are queued while the broker is away.

One publisher runs cluster-wide, on the active writer. Given a `position` (the writer's
`meta`), it stores the log id the broker acknowledged after every flush, and a publisher that
starts (a standby taking over, a restart) first sends the live events after the stored id that
the last one did not get out, then every retained status: devices converge and no event is
skipped (one may come twice across a takeover: receivers tell a repeat by the event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import orjson
import paho.mqtt.client as paho
from prometheus_client import Counter, Gauge

from tryvoha.alerts.model import AlertStatus, Event, RegionStatus, Threat
from tryvoha.alerts.status import ThreatStatus
from tryvoha.alerts.wire import iso
from tryvoha.channels.receipts import DeliveryReceipts
from tryvoha.metrics import mqtt_registry as registry
from tryvoha.metrics import observe_handover
from tryvoha.readmodel import ReadModel
from tryvoha.signing.hub import UNSIGNED, Signing
from tryvoha.store.positions import Position

log = logging.getLogger(__name__)
CHANNEL = "mqtt"
DEFAULT_URL = "mqtt://127.0.0.1:1883"
MAX_QUEUED_EVENTS = 100_000
STATUS_CHUNK = 32
"""Status messages written in one go between two turns of the event loop: an oblast's alert
changes about 140 topics and a fresh connection sends every one (~12,000); in between, an event
fired meanwhile and every other channel get their turn."""

mqtt_connected = Gauge(
    "tryvoha_mqtt_connected", "1 while connected to the MQTT broker.", registry=registry
)
mqtt_published = Counter(
    "tryvoha_mqtt_messages_total",
    "MQTT messages published, by kind (status, event, head).",
    ["kind"],
    registry=registry,
)
mqtt_reconnects = Counter(
    "tryvoha_mqtt_reconnects_total", "Connections made to the MQTT broker.", registry=registry
)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://[user:password@]host[:1883]` or `mqtts://…[:8883]` (TLS).

    Errors show the URL without its password. A port must be 1 to 65535 in ASCII digits: port 0
    is no port, and must not quietly become the default.
    """
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    shown = _without_password(url)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
        raise ValueError(f"MQTT broker URL must start with mqtt:// or mqtts://, not {shown!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT broker URL has no host: {shown!r}")
    tls = parts.scheme in {"mqtts", "ssl"}
    port = _port(parts.netloc.rpartition("@")[2], shown)
    return BrokerAddress(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def _port(hostport: str, shown: str) -> int | None:
    """The port written after the host (None when there is none)."""
    text = hostport.rpartition("]")[2] if hostport.startswith("[") else hostport
    if ":" not in text:
        return None
    digits = text.rpartition(":")[2]
    if not digits:
        return None
    if (
        not (digits.isascii() and digits.isdigit())
        or len(digits) > 5
        or not 1 <= int(digits) <= 65535
    ):
        raise ValueError(f"MQTT broker URL port must be 1 to 65535, not {digits[:12]!r}: {shown!r}")
    return int(digits)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    netloc, path = rest[:end], rest[end:]
    userinfo, at, hostport = netloc.rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return scheme + sep + userinfo + at + hostport + path


def overall(threats: dict[str, str]) -> str:
    """One colour for an LED: active if any threat is active, else partial if any is."""
    values = set(threats.values())
    for status in (RegionStatus.ACTIVE.value, RegionStatus.PARTIAL.value):
        if status in values:
            return status
    return RegionStatus.NONE.value


def region_threats(statuses: dict[Threat, ThreatStatus], region_id: str) -> dict[str, str]:
    return {t.value: s.of(region_id).value for t, s in statuses.items()}


def changed_regions(
    before: dict[Threat, ThreatStatus] | None, after: dict[Threat, ThreatStatus]
) -> dict[Threat, frozenset[str]] | None:
    """Per threat, the regions whose status for it differs; None means everything."""
    if before is None:
        return None
    return {
        threat: (now.active ^ before[threat].active) | (now.partial ^ before[threat].partial)
        for threat, now in after.items()
    }


class MqttPublisher:
    def __init__(
        self,
        hub: ReadModel,
        url: str = DEFAULT_URL,
        prefix: str = "tryvoha",
        reconnect_max: float = 5.0,
        per_threat_topics: bool = True,
        signing: Signing = UNSIGNED,
        position: Position | None = None,
        receipts: DeliveryReceipts | None = None,
    ) -> None:
        self.hub = hub
        self.signing = signing
        self.position = position
        self.receipts = receipts
        """Where each event's hand-over to the broker is noted (the operators' receipts)."""
        self.address = parse_broker_url(url)
        self.prefix = prefix.rstrip("/")
        self.reconnect_max = reconnect_max
        self.per_threat_topics = per_threat_topics
        self.connected = False
        self.published_log_id = -1
        """The log id the broker's retained statuses reflect (after `<prefix>/head` went out)."""
        self.connections = 0
        self._events: deque[Event] = deque()
        self._fired_upto = 0
        """Events up to this id were handed to the current connection already."""
        self._live: aiomqtt.Client | None = None
        self._wake = asyncio.Event()
        self._sent: dict[Threat, ThreatStatus] | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._caught_up = asyncio.Event()
        self._saved_log_id = -1
        self._save_wake = asyncio.Event()
        self._saver: asyncio.Task[None] | None = None

    # Life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._unsubscribe = self.hub.subscribe(self._on_event)
        if self.position is not None:
            await self._resume(self.position)
            self._saver = asyncio.create_task(self._save_positions(), name="mqtt-position")
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in (self._task, self._saver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.position is not None and self.published_log_id > self._saved_log_id:
            with contextlib.suppress(Exception):  # the next publisher sends a few again
                await self.position.save(self.published_log_id)
        self._set_connected(False)
        self._live = None

    async def _resume(self, position: Position) -> None:
        """Queue the live events after the stored position that the last publisher did not
        get acknowledged, ahead of those arriving on the bus meanwhile."""
        stored = await position.load()
        if stored is None or stored >= self.hub.last_event_id:
            return
        found = await self.hub.events_after(stored, MAX_QUEUED_EVENTS, public_only=True)
        first_live = self._events[0].id if self._events else None
        missed = [e for e in found if e.is_broadcast and (first_live is None or e.id < first_live)]
        self._events.extendleft(reversed(missed))
        if missed:
            log.warning(
                "MQTT: sending %d events from log id %d on that the last publisher did not",
                len(missed),
                missed[0].id,
            )

    async def _save_positions(self) -> None:
        """Store the acknowledged log id after flushes, the latest one at a time, off the
        publishing path."""
        assert self.position is not None
        while True:
            await self._save_wake.wait()
            self._save_wake.clear()
            log_id = self.published_log_id
            if log_id <= self._saved_log_id:
                continue
            try:
                await self.position.save(log_id)
                self._saved_log_id = log_id
            except Exception:
                log.exception("MQTT: could not store the published position %d", log_id)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MqttPublisher]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def wait_published(self, log_id: int, timeout: float = 10.0) -> None:
        """Until the broker holds the statuses of `log_id` (or later): for tests and benchmarks."""
        async with asyncio.timeout(timeout):
            while self.published_log_id < log_id or self._events:
                self._caught_up.clear()
                await self._caught_up.wait()

    # Topics -------------------------------------------------------------------------------------

    def status_topic(self, region_id: str) -> str:
        return f"{self.prefix}/status/{region_id}"

    def event_topic(self, event: Event) -> str:
        catalogue = self.hub.catalogue
        path = [r.id for r in reversed(catalogue.ancestors(event.region_id))]
        path = [p for p in path if p != catalogue.country.id] + [event.region_id]
        root = "events" if event.status is AlertStatus.ACTUAL else "drills/events"
        return f"{self.prefix}/{root}/" + "/".join(path)

    # Work ---------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if self._events and event.id <= self._events[-1].id:
            return  # read from the log while resuming already
        if len(self._events) >= MAX_QUEUED_EVENTS:
            log.error("MQTT event queue full: event %d not published", self._events[0].id)
            self._events.popleft()
        self._events.append(event)
        earlier_out = len(self._events) == 1 or self._events[-2].id <= self._fired_upto
        if self._live is not None and earlier_out:
            # A siren waits for this: hand the event to the connection now, not after the
            # statuses of the previous flush were acknowledged. It stays queued until then.
            try:
                self._fire_event(self._live, event)
            except aiomqtt.MqttError:
                log.warning("MQTT: event %d not handed over; it goes out after reconnect", event.id)
        self._wake.set()

    def _client(self) -> aiomqtt.Client:
        a = self.address
        return _Client(
            a.host,
            a.port,
            username=a.username,
            password=a.password,
            identifier=f"tryvoha-{uuid.uuid4().hex[:12]}",
            keepalive=15,
            timeout=10,
            max_inflight_messages=1000,
            tls_context=ssl.create_default_context() if a.tls else None,
            will=aiomqtt.Will(f"{self.prefix}/online", b"false", qos=1, retain=True),
        )

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self._client() as client:
                    _no_delay(client)
                    self.connections += 1
                    mqtt_reconnects.inc()
                    self._set_connected(True)
                    delay = 0.1
                    await client.publish(f"{self.prefix}/online", b"true", qos=1, retain=True)
                    await client.subscribe(f"{self.prefix}/online", qos=1)
                    watcher = asyncio.create_task(self._stay_online(client), name="mqtt-online")
                    self._sent = None  # the broker may have lost what it held: send everything
                    self._fired_upto = 0  # and every queued event goes out again
                    self._live = client
                    try:
                        while True:
                            self._wake.clear()
                            await self._flush(client)
                            await _unless_lost(client, self._wake.wait())
                    except asyncio.CancelledError:
                        watcher.cancel()
                        # A clean goodbye: the broker sends the will only when we vanish.
                        with contextlib.suppress(Exception):
                            await client.publish(
                                f"{self.prefix}/online", b"false", qos=1, retain=True, timeout=1
                            )
                        raise
                    finally:
                        watcher.cancel()
            except aiomqtt.MqttError as exc:
                self._live = None
                self._set_connected(False)
                log.warning(
                    "MQTT broker %s:%d: %s; retrying in %.1f s",
                    self.address.host,
                    self.address.port,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(self.reconnect_max, delay * 2)

    async def _stay_online(self, client: aiomqtt.Client) -> None:
        """Say `online` = `true` again when `false` arrives while connected: the will of an
        earlier publisher (a writer whose machine vanished, before a standby took over) that
        the broker sent only when its keepalive ran out, after this one said `true`."""
        topic = f"{self.prefix}/online"
        try:
            async for message in client.messages:
                if str(message.topic) == topic and bytes(message.payload) == b"false":
                    log.warning("MQTT: %s went false (an earlier publisher's will)", topic)
                    await client.publish(topic, b"true", qos=1, retain=True, timeout=10)
        except aiomqtt.MqttError:
            return  # the connection ended: the next one says true again

    async def _flush(self, client: aiomqtt.Client) -> None:
        """Queued events, then the statuses at the hub's current log id, then the head.

        Messages are handed to the connection without waiting for each one; the head is sent with
        QoS 1 and awaited last. A broker handles one connection's messages in order, so its ack
        means everything before it is stored. Only then are the events dropped from the queue: if
        the connection breaks first they are sent again after reconnecting (receivers tell a
        repeat by the event id), and a reconnect republishes every status anyway.
        """
        while True:
            log_id = self.hub.last_event_id
            batch = list(self._events)
            if not batch and log_id == self.published_log_id and self._sent is not None:
                self._caught_up.set()
                return
            unsent = [e for e in batch if e.id > self._fired_upto]
            for event in unsent:
                self._fire_event(client, event)
            if unsent:
                await asyncio.sleep(0)  # let the events reach the socket before the statuses
            statuses = self.hub.statuses()  # at `log_id`: nothing awaited since it was read
            messages = self._status_messages(statuses, log_id)
            for start in range(0, len(messages), STATUS_CHUNK):
                with _corked(client):
                    for topic, payload in messages[start : start + STATUS_CHUNK]:
                        self._fire(client, topic, payload, 0, retain=True)
                await asyncio.sleep(0)  # the other channels deliver meanwhile
            mqtt_published.labels("status").inc(len(messages))
            head = {"log_id": log_id, "updated_at": iso(self.hub.last_recorded_at)}
            await _unless_lost(
                client,
                client.publish(
                    f"{self.prefix}/head", orjson.dumps(head), qos=1, retain=True, timeout=10
                ),
            )
            mqtt_published.labels("head").inc()
            for _ in batch:
                self._events.popleft()
            self._sent = statuses
            self.published_log_id = log_id
            self._save_wake.set()

    def _status_messages(
        self, statuses: dict[Threat, ThreatStatus], log_id: int
    ) -> list[tuple[str, bytes]]:
        """Every region's JSON status whose status changed (all on a fresh connection), and the
        plain per-threat topics that changed: (topic, payload) to publish, retained."""
        changed = changed_regions(self._sent, statuses)
        if changed is None:
            regions: Iterable[str] = (r.id for r in self.hub.catalogue)
        else:
            regions = sorted(set().union(*changed.values()))
        messages: list[tuple[str, bytes]] = []
        for region_id in regions:
            threats = region_threats(statuses, region_id)
            doc = {
                "region_id": region_id,
                "status": overall(threats),
                "threats": threats,
                "log_id": log_id,
            }
            topic = self.status_topic(region_id)
            messages.append((topic, orjson.dumps(doc)))
            if not self.per_threat_topics:
                continue
            for threat in Threat:
                if changed is None or region_id in changed[threat]:
                    messages.append((f"{topic}/{threat.value}", threats[threat.value].encode()))
        return messages

    def _fire_event(self, client: aiomqtt.Client, event: Event) -> None:
        payload = orjson.dumps(self.signing.signed_event_doc(event))  # signed once, at commit
        self._fire(client, self.event_topic(event), payload, 1)
        self._fired_upto = event.id
        observe_handover(CHANNEL, event)
        if self.receipts is not None:
            self.receipts.handed(CHANNEL, event.id, event.recorded_at.timestamp())
        mqtt_published.labels("event").inc()

    @staticmethod
    def _fire(
        client: aiomqtt.Client, topic: str, payload: bytes, qos: int, retain: bool = False
    ) -> None:
        """Hand one message to the connection without awaiting it (aiomqtt's `publish` waits for
        every single message, which makes a full snapshot of ~12,000 topics take seconds)."""
        info = client._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, f"could not publish to {topic}")

    def _set_connected(self, value: bool) -> None:
        self.connected = value
        mqtt_connected.set(1 if value else 0)


class _Client(aiomqtt.Client):
    """aiomqtt's client, except that a write asked for on the event loop's own thread is
    registered at once. aiomqtt defers every registration by a loop turn (paho may ask from the
    thread that connects). When the hub writes paho's queue itself (`_write_unreported`), paho
    asks and withdraws within that call, and the deferred registration landed afterwards and
    stayed: the writable socket then woke the loop on every turn, a whole CPU spent while idle;
    and at shutdown it landed on the closed socket (a traceback on every stop)."""

    def _on_socket_register_write(
        self, client: paho.Client, userdata: Any, sock: socket.socket | Any
    ) -> None:
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # paho's connecting thread
            on_loop = False
        if not on_loop:
            super()._on_socket_register_write(client, userdata, sock)
            return

        def write() -> None:
            try:
                client.loop_write()
            except Exception as exc:  # a broken pipe: the connection is gone
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        self._loop.add_writer(sock.fileno(), write)


def _no_delay(client: aiomqtt.Client) -> None:
    """Send each message as soon as it is written (TCP_NODELAY; paho leaves Nagle on): the
    statuses and the head follow an event at once, and with Nagle each of those small writes
    would wait for the broker's acknowledgement of the one before."""
    sock = client._client.socket()  # a plain or TLS socket (ssl.SSLSocket is a socket)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@contextlib.contextmanager
def _corked(client: aiomqtt.Client) -> Iterator[None]:
    """Write the messages handed over inside the block in as few TCP segments as fit (TCP_CORK,
    Linux): an oblast's alert changes the statuses of a hundred regions, and a segment each
    cost the event loop (and the broker) several milliseconds right when every other channel
    is delivering the same event. Nothing is awaited inside, so nothing else waits behind it.

    A connection lost meanwhile closes the socket under it: the client reports the loss as
    usual (the next hand-over fails with `MqttError`), so the uncorking has nothing to add."""
    sock = client._client.socket()
    cork = getattr(socket, "TCP_CORK", None)
    if cork is None or not isinstance(sock, socket.socket):
        yield
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    try:
        yield
        _write_unreported(client)  # now, while corked, not from the next writable callback
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, cork, 0)


def _write_unreported(client: aiomqtt.Client) -> None:
    """Write what is queued without reporting each QoS 0 message written: paho builds a reason
    code and a properties object per message for the `on_publish` callback (a third of the
    statuses' cost), and the only callback there is aiomqtt's, which wakes a `publish` awaiting
    that message. The hub awaits only QoS 1 messages (their report comes with the broker's
    acknowledgement, read elsewhere), so no QoS 0 message written here has anyone waiting."""
    paho_client = client._client
    report = paho_client.on_publish
    paho_client.on_publish = None
    try:
        paho_client.loop_write()
    finally:
        paho_client.on_publish = report


async def _unless_lost(client: aiomqtt.Client, awaitable: Awaitable[object]) -> None:
    """Await `awaitable`, but raise at once when the connection drops meanwhile: a publish waiting
    for its ack would otherwise wait out its timeout, and an idle publisher would not notice a
    restarted broker that has lost the retained statuses."""
    task = asyncio.ensure_future(awaitable)
    lost = client._disconnected  # aiomqtt's own "connection ended" future
    try:
        either: set[asyncio.Future[Any]] = {task, lost}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        task.result()
        return
    raise aiomqtt.MqttError("the connection to the broker was lost")
