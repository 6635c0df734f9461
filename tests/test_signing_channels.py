"""The signature on every channel, checked with `tryvoha verify` as a receiver would: SSE and
WebSocket from a real hub process (with a stream follower process), webhook deliveries to a real
receiver, and MQTT payloads through the real Mosquitto."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import httpx
import orjson
import pytest
from typer.testing import CliRunner
from websockets.sync.client import connect as ws_connect

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End
from tryvoha.alerts.model import Threat
from tryvoha.channels.mqtt import MqttPublisher
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.cli import app as cli
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue, load_catalogue
from tryvoha.signing import KeySet, ReplayGuard, verify_event, verify_webhook
from tryvoha.store import SqlStore

from .conftest import auth, need_service, start_live_hub
from .test_webhooks import running_hub

pytestmark = pytest.mark.slow


def run_verify(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["verify", *args])
    return result.exit_code, [line for line in result.stdout.splitlines() if line]


# A real hub process ---------------------------------------------------------------------------


@dataclass
class Captured:
    url: str
    keys_dir: Path
    sse: list[bytes]
    """One capture per SSE connection (two: one is served by the follower process)."""
    ws: list[str]
    events: list[dict]


def _capture_sse(url: str, alerts: int, ready: threading.Event) -> bytes:
    buffer = b""
    with httpx.stream("GET", f"{url}/api/v1/stream?since=0", timeout=30) as response:
        for chunk in response.iter_raw():
            buffer += chunk
            ready.set()
            if buffer.count(b"event: alert") >= alerts and buffer.endswith(b"\n\n"):
                return buffer
    return buffer


def _capture_ws(url: str, alerts: int, ready: threading.Event) -> list[str]:
    lines = []
    with ws_connect(url.replace("http", "ws") + "/api/v1/ws?since=0", open_timeout=10) as ws:
        ready.set()
        while sum('"type":"alert"' in line for line in lines) < alerts:
            lines.append(ws.recv(timeout=30))
    return lines


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    """A hub with a stream follower; two SSE and one WebSocket subscriber see three events."""
    directory = tmp_path_factory.mktemp("live")
    db = directory / "hub.db"
    store = SqlStore(f"sqlite:///{db}")
    token, _ = store.create_token("dispatch", None)
    store.close()
    hub = start_live_hub(str(db), "--no-history", "--workers", "2", "--hub-id", "hub.test")
    try:
        with ThreadPoolExecutor(3) as pool:
            flags = [threading.Event() for _ in range(3)]
            sse = [pool.submit(_capture_sse, hub.url, 3, flags[i]) for i in range(2)]
            ws = pool.submit(_capture_ws, hub.url, 3, flags[2])
            for flag in flags:
                assert flag.wait(20)
            region = load_catalogue().resolve("Odeska oblast").id
            with httpx.Client(base_url=hub.url, headers=auth(token)) as c:
                r = c.post("/api/v1/alerts", json={"region_id": region, "notes": "шахеди з моря"})
                assert r.status_code == 201, r.text
                alert_id = r.json()["alert"]["id"]
                updated = c.patch(f"/api/v1/alerts/{alert_id}", json={"details": ["drones"]})
                ended = c.post(f"/api/v1/alerts/{alert_id}/end")
            events = [r.json()["event"], updated.json()["event"], ended.json()["event"]]
            yield Captured(
                hub.url,
                directory / "hub.keys",
                [f.result(timeout=30) for f in sse],
                ws.result(timeout=30),
                events,
            )
    finally:
        hub.proc.terminate()  # type: ignore[attr-defined]
        hub.proc.wait(timeout=10)  # type: ignore[attr-defined]


def _sse_alerts(capture: bytes) -> list[dict]:
    docs, kind = [], None
    for line in capture.decode().splitlines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind == "alert":
            docs.append(orjson.loads(line[6:]))
    return docs


def test_streams_from_the_hub_and_its_follower_carry_the_same_signatures(
    captured: Captured,
) -> None:
    keys = KeySet.fetch(captured.url)
    assert keys.hub == "hub.test"
    first, second = (_sse_alerts(c) for c in captured.sse)
    over_ws = [orjson.loads(line) for line in captured.ws]
    over_ws = [m for m in over_ws if m["type"] == "alert"]
    assert (
        [d["id"] for d in first] == [d["id"] for d in second] == [e["id"] for e in captured.events]
    )
    for a, b, w, answer in zip(first, second, over_ws, captured.events, strict=True):
        assert a["sig"] == b["sig"] == w["sig"]  # signed once; the follower signs identically
        assert {k: v for k, v in a.items() if k != "sig"} == answer
    guard = ReplayGuard()
    assert [verify_event(d, keys, guard=guard).event.kind for d in first] == [
        "declared",
        "updated",
        "ended",
    ]


def test_tryvoha_verify_accepts_the_capture_and_refuses_tampering(
    captured: Captured, tmp_path: Path
) -> None:
    capture = tmp_path / "night.sse"
    capture.write_bytes(captured.sse[0])
    code, lines = run_verify(str(capture), "--hub", captured.url)
    assert code == 0, lines
    assert len(lines) == 3 and all(": OK log " in line for line in lines)
    assert "declared air_raid/actual" in lines[0] and "ended" in lines[2]

    ws = tmp_path / "night.ws"
    ws.write_text("\n".join(captured.ws) + "\n")
    code, lines = run_verify(str(ws), "--hub", captured.url)
    assert code == 0 and len(lines) == 3, lines

    altered = tmp_path / "altered.sse"
    altered.write_bytes(captured.sse[0].replace(b'"kind":"ended"', b'"kind":"declared"'))
    code, lines = run_verify(str(altered), "--hub", captured.url)
    assert code == 1 and "REFUSED log 3: mismatch" in lines[2], lines

    replayed = tmp_path / "replayed.sse"
    replayed.write_bytes(captured.sse[0] + captured.sse[0].split(b"\n\n", 1)[1])
    code, lines = run_verify(str(replayed), "--hub", captured.url)
    assert code == 1 and lines[3].endswith("already accepted up to 3"), lines
    assert "replayed" in lines[3]

    code, lines = run_verify(str(capture), "--hub", captured.url, "--at", "2099-01-01T00:00Z")
    assert code == 1 and all("expired" in line for line in lines)
    code, lines = run_verify(str(capture), "--hub", captured.url, "--last-seen", "2")
    assert code == 1 and [line.split(": ")[1].split()[0] for line in lines] == [
        "REFUSED",
        "REFUSED",
        "OK",
    ]

    # The keys of another hub: nothing verifies.
    other = tmp_path / "other.json"
    result = CliRunner().invoke(cli, ["keys", "export", "--keys", str(tmp_path / "other.keys")])
    assert result.exit_code == 2  # no keys there yet: nothing is made by export
    CliRunner().invoke(cli, ["keys", "rotate", "--keys", str(tmp_path / "other.keys")])
    result = CliRunner().invoke(cli, ["keys", "export", "--keys", str(tmp_path / "other.keys")])
    other.write_text(result.stdout)
    code, lines = run_verify(str(capture), "--keys-file", str(other))
    assert code == 1 and all("unknown_key" in line for line in lines)


def test_the_cap_file_of_an_event_verifies_against_the_published_certificate(
    captured: Captured, tmp_path: Path
) -> None:
    message = tmp_path / "alert.xml"
    message.write_bytes(httpx.get(f"{captured.url}/api/v1/cap/1.xml").content)
    code, lines = run_verify(str(message), "--hub", captured.url)
    assert code == 0 and "OK CAP urn:tryvoha:hub.test:event:1 Alert/Actual" in lines[0]
    forged = tmp_path / "forged.xml"
    forged.write_bytes(message.read_bytes().replace(b">Actual<", b">Exercise<"))
    code, lines = run_verify(str(forged), "--hub", captured.url)
    assert code == 1 and "bad_signature" in lines[0]


def test_keys_list_and_export_read_the_hub_directory(captured: Captured) -> None:
    result = CliRunner().invoke(cli, ["keys", "list", "--keys", str(captured.keys_dir)])
    assert result.exit_code == 0 and "hub.test" in result.output and "yes" in result.output
    local = CliRunner().invoke(
        cli, ["keys", "export", "--format", "text", "--keys", str(captured.keys_dir)]
    )
    remote = CliRunner().invoke(cli, ["keys", "export", "--format", "text", "--url", captured.url])
    assert local.exit_code == remote.exit_code == 0
    assert local.stdout == remote.stdout and "hub hub.test\nkey " in local.stdout


# Webhooks -------------------------------------------------------------------------------------


async def test_webhook_deliveries_carry_the_ed25519_header_beside_the_hmac(
    catalogue: Catalogue, sqlite_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with running_hub(catalogue, sqlite_url) as env:
            sub = await env.client.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "regions": [catalogue.oblasts[4].id]},
                headers=auth(env.admin),
            )
            assert sub.status_code == 201, sub.text
            receiver.secret = sub.json()["secret"]
            declared = await env.declare(catalogue.oblasts[4].id)
            await env.client.post(
                f"/api/v1/alerts/{declared['alert']['id']}/end", headers=auth(env.admin)
            )
            await receiver.wait_for(lambda r: len(r.acknowledged()) == 2)
            keys_doc = (await env.client.get("/.well-known/tryvoha-keys")).content
    finally:
        await receiver.stop()
    keys = KeySet.from_json(keys_doc)
    guard = ReplayGuard()
    got = receiver.acknowledged()
    for delivery in got:
        assert delivery.verified is True  # the HMAC still holds
        assert "keyid=" in delivery.headers["tryvoha-signature-ed25519"]
        verify_webhook(delivery.body, delivery.headers, keys, guard=guard)

    keys_file = tmp_path / "keys.json"
    keys_file.write_bytes(keys_doc)
    request = tmp_path / "delivery.http"
    head = "".join(f"{k}: {v}\r\n" for k, v in got[0].headers.items())
    request.write_bytes(f"POST {got[0].path} HTTP/1.1\r\n{head}\r\n".encode() + got[0].body)
    code, lines = run_verify(str(request), "--keys-file", str(keys_file))
    assert code == 0 and "OK log 1 declared" in lines[0], lines

    body, headers = tmp_path / "body.json", tmp_path / "headers.txt"
    body.write_bytes(got[1].body.replace(b'"kind":"ended"', b'"kind":"updated"'))
    headers.write_text(head)
    code, lines = run_verify(str(body), "--headers", str(headers), "--keys-file", str(keys_file))
    assert code == 1 and "bad_signature" in lines[0]


# MQTT -----------------------------------------------------------------------------------------


async def test_mqtt_event_payloads_are_signed(
    hub: Hub, client: httpx.AsyncClient, catalogue: Catalogue, tmp_path: Path
) -> None:
    need_service(1883, "Mosquitto")
    prefix = f"test-signing-{uuid.uuid4().hex[:8]}"
    oblast = catalogue.oblasts[6]
    payloads: list[bytes] = []
    async with (
        MqttPublisher(
            hub,
            "mqtt://127.0.0.1:1883",
            prefix=prefix,
            signing=client._transport.app.state.signing,  # type: ignore[attr-defined]
        ).running() as publisher,
        aiomqtt.Client("127.0.0.1", 1883, identifier=f"device-{prefix}") as device,
    ):
        await device.subscribe(f"{prefix}/events/{oblast.id}/#", qos=1)
        declared = await hub.submit(Declare(oblast.id, Threat.AIR_RAID), Actor("dispatch"))
        await hub.submit(End(AlertRef(alert_id=declared.event.id)), Actor("dispatch"))
        await publisher.wait_published(hub.last_event_id)
        async with asyncio.timeout(10):
            async for message in device.messages:
                payloads.append(bytes(message.payload))
                if len(payloads) == 2:
                    break
    keys_file = tmp_path / "keys.json"
    keys_file.write_bytes((await client.get("/.well-known/tryvoha-keys")).content)
    for i, payload in enumerate(payloads):
        (tmp_path / f"event{i}.json").write_bytes(payload)
    code, lines = run_verify(
        str(tmp_path / "event0.json"), str(tmp_path / "event1.json"), "--keys-file", str(keys_file)
    )
    assert code == 0 and len(lines) == 2, lines
    doc = orjson.loads(payloads[0])
    doc["region_id"] = catalogue.oblasts[7].id  # re-addressed to another oblast
    (tmp_path / "moved.json").write_bytes(orjson.dumps(doc))
    code, lines = run_verify(str(tmp_path / "moved.json"), "--keys-file", str(keys_file))
    assert code == 1 and "mismatch" in lines[0] and lines[0].endswith(": region_id")
