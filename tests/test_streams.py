"""Live streams: snapshot then live, filters, resume from ring and log, drops, heartbeats, WS."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import websockets

from tryvoha.alerts.model import AlertStatus, EventDraft, EventKind, Threat
from tryvoha.channels.streams import StreamConfig
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue

from .test_streams_support import SSEClient, declare, end, serving
from .waiting import until


def live_ids(hub: Hub, after: int = 0, keep=lambda e: True) -> list[int]:
    return [e.id for e in hub.store.events_after(after) if e.is_broadcast and keep(e)]


@pytest.mark.parametrize("fast", [True, False], ids=["fastpath", "asgi"])
async def test_snapshot_then_live(hub: Hub, settings: Settings, catalogue: Catalogue, fast) -> None:
    oblast = catalogue.oblasts[3]
    first = await declare(hub, oblast.id, notes="before")
    async with serving(hub, settings, fast) as port:
        sub = await SSEClient.open(port)
        assert sub.status == 200 and sub.headers["content-type"].startswith("text/event-stream")
        snap = await sub.next()
        assert snap.kind == "snapshot" and snap.id == hub.last_event_id == snap.data["log_id"]
        assert [a["id"] for a in snap.data["open_alerts"]] == [first.alert_id]
        assert snap.data["threats"]["air_raid"]["alerts"] == [oblast.id]
        second = await declare(hub, catalogue.oblasts[4].id)
        (alert,) = await sub.alerts(1)
        assert alert.id == second.id and alert.data["id"] == second.id
        assert (
            alert.data["region_id"] == catalogue.oblasts[4].id and alert.data["kind"] == "declared"
        )
        ended = await end(hub, first.alert_id)
        (alert,) = await sub.alerts(1)
        assert (alert.id, alert.data["kind"]) == (ended.id, "ended")
        sub.close()


async def test_filters_roll_up_and_drills(hub: Hub, settings: Settings, catalogue: Catalogue):
    oblast, other = catalogue.oblasts[6], catalogue.oblasts[7]
    raion = catalogue.children(oblast.id)[0]
    hromada = catalogue.children(raion.id)[0]
    async with serving(hub, settings) as port:
        by_oblast = await SSEClient.open(port, f"regions={oblast.id}")
        by_hromada = await SSEClient.open(port, f"regions={hromada.id}&threats=air_raid")
        shelling = await SSEClient.open(port, "threats=artillery_shelling")
        drills = await SSEClient.open(port, f"regions={other.id}&drills=true")
        for s in (by_oblast, by_hromada, shelling, drills):
            assert (await s.next()).kind == "snapshot"
        e_hromada = await declare(hub, hromada.id)
        e_other = await declare(hub, other.id)
        e_oblast = await declare(hub, oblast.id)
        e_shell = await declare(hub, raion.id, threat=Threat.ARTILLERY_SHELLING)
        e_drill = await declare(hub, other.id, status=AlertStatus.EXERCISE)
        e_drill_in = await declare(hub, hromada.id, status=AlertStatus.TEST)
        marker = await declare(hub, catalogue.oblasts[8].id, threat=Threat.ARTILLERY_SHELLING)
        got = [m.id for m in await by_oblast.alerts(3)]
        assert got == [e_hromada.id, e_oblast.id, e_shell.id]
        got = [m.id for m in await by_hromada.alerts(2)]
        assert got == [e_hromada.id, e_oblast.id]  # its own and its oblast's (which covers it)
        assert [m.id for m in await shelling.alerts(2)] == [e_shell.id, marker.id]
        assert [m.id for m in await drills.alerts(2)] == [e_other.id, e_drill.id]
        # nothing else was sent to the filtered ones: the next event they get is the next match
        tail = await declare(hub, oblast.id, threat=Threat.URBAN_FIGHTS)
        assert [m.id for m in await by_oblast.alerts(1)] == [tail.id]
        assert e_drill_in.id < tail.id
        for s in (by_oblast, by_hromada, shelling, drills):
            s.close()


async def test_bad_requests_are_json_400(hub: Hub, settings: Settings) -> None:
    async with serving(hub, settings) as port:
        for query, headers, code in [
            ("regions=UA99", None, "unknown_region"),
            ("threats=meteor", None, "unknown_threat"),
            ("since=abc", None, "invalid_since"),
            ("since=-4", None, "invalid_since"),
            ("drills=maybe", None, "invalid_drills"),
            ("", {"Last-Event-ID": "x1"}, "invalid_since"),
            ("regions=,", None, "empty_regions"),
            ("regions=%20,%20", None, "empty_regions"),
            ("threats=,", None, "empty_threats"),
            ("since=5_000", None, "invalid_since"),
            ("since=%D9%A3", None, "invalid_since"),
            ("since=9007199254740992", None, "invalid_since"),
            ("", {"Last-Event-ID": "1_0"}, "invalid_since"),
        ]:
            sub = await SSEClient.open(port, query, headers)
            assert sub.status == 400, query
            assert sub.json()["error"]["code"] == code
            assert "message" in sub.json()["error"]
            sub.close()


@pytest.mark.parametrize("ring", [1000, 3])
async def test_resume_exactly_once_from_ring_or_log(
    hub: Hub, settings: Settings, catalogue: Catalogue, ring: int
) -> None:
    """With a ring of 3, a resume point 10 events back is served from the log, then the ring."""
    settings = replace(settings, streams=StreamConfig(ring_size=ring, page=4))
    regions = [o.id for o in catalogue.oblasts[:12]]
    async with serving(hub, settings) as port:
        sub = await SSEClient.open(port)
        await sub.next()
        declared = [await declare(hub, r) for r in regions[:2]]
        seen = [m.id for m in await sub.alerts(2)]
        assert seen == [e.id for e in declared]
        sub.close()
        missed = [await declare(hub, r) for r in regions[2:]]
        back = await SSEClient.open(port, headers={"Last-Event-ID": str(seen[-1])})
        first = await back.next()
        assert first.kind == "alert"  # a resuming client gets no snapshot
        back.buffer.insert(0, first)
        got = [m.id for m in await back.alerts(len(missed))]
        assert got == [e.id for e in missed]
        live = await end(hub, missed[0].alert_id)
        assert [m.id for m in await back.alerts(1)] == [live.id]
        # `since` from the very start gives every live event, in order
        again = await SSEClient.open(port, "since=0")
        all_ids = [m.id for m in await again.alerts(len(live_ids(hub)))]
        assert all_ids == live_ids(hub)
        for s in (back, again):
            s.close()


async def test_history_is_never_streamed_as_live(hub: Hub, settings: Settings, catalogue) -> None:
    oblast = catalogue.oblasts[2]
    past = datetime(2023, 5, 1, tzinfo=UTC)
    drafts = [
        EventDraft(
            EventKind.DECLARED,
            oblast.id,
            Threat.AIR_RAID,
            AlertStatus.ACTUAL,
            past,
            "import",
            alert_id=-1,
            source="import:official",
        ),
        EventDraft(
            EventKind.ENDED,
            oblast.id,
            Threat.AIR_RAID,
            AlertStatus.ACTUAL,
            past + timedelta(hours=1),
            "import",
            alert_id=-1,
            source="import:official",
        ),
    ]
    async with serving(hub, settings) as port:
        sub = await SSEClient.open(port)
        await sub.next()
        before = await declare(hub, catalogue.oblasts[1].id)
        imported = await hub.append_history(drafts)
        after = await declare(hub, catalogue.oblasts[3].id)
        assert [m.id for m in await sub.alerts(2)] == [before.id, after.id]
        resumed = await SSEClient.open(port, f"since={before.id}")
        assert [m.id for m in await resumed.alerts(1)] == [after.id]
        # The imported events sit in the log between the two, and the stream skipped them.
        assert [e.id for e in imported] == list(range(before.id + 1, after.id))
        sub.close()
        resumed.close()


async def test_resume_beyond_head_gets_a_snapshot(hub: Hub, settings: Settings, catalogue):
    await declare(hub, catalogue.oblasts[0].id)
    async with serving(hub, settings) as port:
        sub = await SSEClient.open(port, "since=999")
        snap = await sub.next()
        assert snap.kind == "snapshot" and snap.data["log_id"] == hub.last_event_id
        sub.close()


async def test_slow_consumer_is_dropped_and_others_are_not_slowed(
    hub: Hub, settings: Settings, catalogue: Catalogue
) -> None:
    settings = replace(settings, streams=StreamConfig(max_buffer=32 * 1024))
    regions = [o.id for o in catalogue.oblasts]
    async with serving(hub, settings) as port:
        slow = await SSEClient.open(port, rcvbuf=4096)
        fast = await SSEClient.open(port)
        await fast.next()
        notes = "x" * 1900
        events = []
        for round_ in range(12):
            for region in regions[:20]:
                events.append(await declare(hub, region, notes=f"{round_} {notes}"))
            for e in events[-20:]:
                events.append(await end(hub, e.alert_id))
            got = await fast.alerts(40)
            assert [m.id for m in got] == [e.id for e in events[-40:]]
        # the slow one now reads what it was sent: a prefix of the events, then `dropped`
        messages = []
        while True:
            m = await slow.next()
            messages.append(m)
            if m.kind == "dropped":
                break
        alerts = [m.id for m in messages if m.kind == "alert"]
        assert alerts == [e.id for e in events[: len(alerts)]] and len(alerts) < len(events)
        dropped = messages[-1].data
        assert dropped["reason"] == "slow_consumer"
        assert dropped["resume_from"] == (alerts[-1] if alerts else 0)
        with pytest.raises(ConnectionError):
            await slow.next()
        back = await SSEClient.open(port, f"since={dropped['resume_from']}")
        rest = [m.id for m in await back.alerts(len(events) - len(alerts))]
        assert alerts + rest == [e.id for e in events]
        back.close()
        fast.close()


async def test_heartbeats(hub: Hub, settings: Settings) -> None:
    settings = replace(settings, streams=StreamConfig(heartbeat=0.05))
    async with serving(hub, settings) as port:
        sub = await SSEClient.open(port)
        await sub.next()

        async def beats_and_nothing_else() -> bool:
            with pytest.raises(asyncio.TimeoutError):  # heartbeats are comments, not messages
                await sub.next(timeout=0.1)
            return sub.heartbeats >= 2

        await until(beats_and_nothing_else, "two heartbeats")
        async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws") as ws:
            assert orjson.loads(await ws.recv())["type"] == "snapshot"
            beat = orjson.loads(await asyncio.wait_for(ws.recv(), 2))
            assert beat == {"type": "heartbeat", "log_id": hub.last_event_id}
        sub.close()


async def test_websocket_dead_peer_is_closed(hub: Hub, settings: Settings) -> None:
    """A WebSocket peer that never answers pings is disconnected after three heartbeats."""
    settings = replace(settings, streams=StreamConfig(heartbeat=0.05))
    async with serving(hub, settings) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /api/v1/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert b" 101 " in head and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head

        async def drain() -> None:
            while await reader.read(65536):
                pass

        await asyncio.wait_for(drain(), 3)  # returns once the server closed the connection
        writer.close()


def read_server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame in `data`."""
    frames, i = [], 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        frames.append((opcode, data[i : i + length]))
        i += length
    return frames


BAD_CLIENT_FRAMES = {
    "a ping of 126 bytes": (0x89, b"p" * 126),
    "a fragmented ping": (0x09, b"p"),
    "a continuation with no message": (0x80, b"x"),
    "a reserved bit": (0xC1, b"x"),
}


@pytest.mark.parametrize("first, payload", BAD_CLIENT_FRAMES.values(), ids=BAD_CLIENT_FRAMES)
async def test_websocket_protocol_errors_close_with_1002(
    hub: Hub, settings: Settings, first: int, payload: bytes
) -> None:
    """A frame RFC 6455 forbids fails the connection with 1002; a bad ping gets no pong."""
    async with serving(hub, settings) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /api/v1/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        mask = b"\x01\x02\x03\x04"
        n = len(payload)
        length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        writer.write(bytes([first]) + length + mask + masked)
        received = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        writer.close()
    opcodes = [opcode for opcode, _ in read_server_frames(received)]
    assert 0xA not in opcodes, "a pong answered a forbidden frame"
    assert opcodes[-1] == 0x8
    close = read_server_frames(received)[-1][1]
    assert int.from_bytes(close[:2], "big") == 1002 and len(close) <= 125


@pytest.mark.parametrize("fast", [True, False], ids=["fastpath", "asgi"])
async def test_websocket_contract_and_resume(hub: Hub, settings: Settings, catalogue, fast):
    oblast = catalogue.oblasts[9]
    async with serving(hub, settings, fast) as port:
        url = f"ws://127.0.0.1:{port}/api/v1/ws?regions={oblast.id}"
        async with websockets.connect(url) as ws:
            snap = orjson.loads(await ws.recv())
            assert snap["type"] == "snapshot" and snap["log_id"] == hub.last_event_id
            assert snap["open_alerts"] == []
            await declare(hub, catalogue.oblasts[10].id)  # filtered out
            e1 = await declare(hub, oblast.id)
            msg = orjson.loads(await ws.recv())
            assert msg["type"] == "alert" and msg["id"] == e1.id
            await ws.ping()
        e2 = await end(hub, e1.alert_id)
        async with websockets.connect(url + f"&since={e1.id}") as ws:
            msg = orjson.loads(await ws.recv())
            assert (msg["type"], msg["id"], msg["kind"]) == ("alert", e2.id, "ended")
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws?regions=nowhere"):
                pass
        response = refused.value.response
        if fast:  # the fast path answers the upgrade request itself, with the JSON error
            assert response.status_code == 400
            assert orjson.loads(response.body)["error"]["code"] == "unknown_region"
        else:  # ASGI can only refuse an upgrade with 403
            assert response.status_code == 403


@pytest.mark.parametrize("fast", [True, False], ids=["fastpath", "asgi"])
async def test_a_refusal_naming_non_ascii_input_is_not_a_server_error(
    hub: Hub, settings: Settings, fast: bool
) -> None:
    """The refusal's text is cut to fit a close reason between characters, never inside one."""
    async with serving(hub, settings, fast) as port:
        for n in range(68, 76):  # the 120th byte falls inside a character for some of these
            url = f"ws://127.0.0.1:{port}/api/v1/ws?regions=x" + "%D1%97" * n
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url):
                    pass
            assert refused.value.response.status_code == (400 if fast else 403), n


async def test_random_disconnects_and_resumes(hub: Hub, settings: Settings, catalogue) -> None:
    """1,000 abrupt disconnects and resumes while events stream: no gap, no duplicate."""
    settings = replace(
        settings, streams=StreamConfig(ring_size=8, page=5)
    )  # many resumes come from the log
    rng = random.Random(5)
    regions = [o.id for o in catalogue.oblasts]
    total_events = 400
    reconnects = 0

    async def producer() -> None:
        open_ = {}
        for i in range(total_events):
            region = regions[i % len(regions)]
            if region in open_:
                await end(hub, open_.pop(region))
            else:
                open_[region] = (await declare(hub, region)).alert_id
            if i % 4 == 0:
                await asyncio.sleep(0)

    async def subscriber(port: int, cuts: int) -> list[int]:
        nonlocal reconnects
        seen: list[int] = []
        for attempt in range(cuts + 1):
            headers = {"Last-Event-ID": str(seen[-1])} if seen else {}
            sub = await SSEClient.open(port, "" if seen else "since=0", headers)
            budget = rng.randint(1, 12) if attempt < cuts else None
            while budget is None or budget > 0:
                if budget is None and seen and seen[-1] >= hub.last_event_id and done.is_set():
                    break
                try:
                    m = await sub.next(timeout=0.5)
                except TimeoutError:
                    continue
                if m.kind == "alert":
                    seen.append(m.id)
                    if budget is not None:
                        budget -= 1
            sub.close()
            reconnects += 1
        return seen

    done = asyncio.Event()
    async with serving(hub, settings) as port:
        subs = [asyncio.create_task(subscriber(port, 20)) for _ in range(50)]
        await producer()
        done.set()
        results = await asyncio.wait_for(asyncio.gather(*subs), 60)
    expected = live_ids(hub)
    assert len(expected) == total_events
    for seen in results:
        assert seen == expected
    assert reconnects >= 1000


async def test_bursts_reach_every_slice_and_late_joiners(hub: Hub, settings: Settings, catalogue):
    """Events committed while a pass is half-way, and subscribers joining meanwhile, all arrive.

    Tiny slices make every pass span many loop turns, so commits and joins land mid-pass.
    """
    settings = replace(settings, streams=StreamConfig(chunk=3, slice_time=0))
    regions = [o.id for o in catalogue.oblasts[:25]]
    async with serving(hub, settings) as port:
        subs = [await SSEClient.open(port) for _ in range(40)]
        for s in subs:
            assert (await s.next()).kind == "snapshot"
        joiners, sinces = [], []
        for _ in range(2):
            declared = asyncio.gather(*(declare(hub, r) for r in regions))
            joiners.append(await SSEClient.open(port, "since=0"))
            sinces.append(0)
            events = await declared
            sinces.append(min(e.id for e in events))
            joiners.append(await SSEClient.open(port, f"since={sinces[-1]}"))
            await asyncio.gather(*(end(hub, e.alert_id) for e in events))
        expected = live_ids(hub)
        assert len(expected) == 100
        for s in subs:
            assert [m.id for m in await s.alerts(len(expected))] == expected
        for s, since in zip(joiners, sinces, strict=True):
            got = [m.id for m in await s.alerts(len([i for i in expected if i > since]))]
            assert got == [i for i in expected if i > since]
        for s in subs + joiners:
            s.close()
