"""Webhook targets never reach inside the operator's network.

Refused at subscription (operator API, CLI, ukrainealarm `/api/v3/webhook`) in every notation,
and again on the address actually connected to (DNS rebinding, subscriptions stored before the
rules), with real sockets listening where a refused delivery would have gone. Failures are
stored and logged in the hub's own words, never with a byte of the receiver's answer. A
deployment's explicit allow-list lets its own networks through; metadata services stay refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner

from tryvoha.alerts.model import AlertStatus
from tryvoha.api.app import create_app
from tryvoha.channels.webhooks import WebhookConfig
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.cli import app as cli
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.netguard import AddressPolicy, literal_address, parse_networks
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import auth
from .test_webhooks import LOOPBACK, Env, running_hub, settled
from .waiting import until

TIMING = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 2, "poll_interval": 0.2}
STRICT = WebhookConfig(**TIMING, give_up_after=120, allow_networks=())
"""No network allowed: the default of a deployment that sets nothing."""
PUBLIC = "93.184.215.14"
"""A public address the test resolver hands out at subscription only: never connected to."""


# Every class of address that is not a public one, in many spellings -------------------------

REFUSED = [
    # loopback
    ("http://127.0.0.1/hook", "address 127.0.0.1 is loopback"),
    ("http://127.8.9.10:8080/hook", "address 127.8.9.10 is loopback"),
    ("http://127.1/", "address 127.0.0.1 is loopback"),
    ("http://2130706433/", "address 127.0.0.1 is loopback"),
    ("http://0x7f.1/", "address 127.0.0.1 is loopback"),
    ("http://0X7F000001/", "address 127.0.0.1 is loopback"),
    ("http://0177.0.0.1/", "address 127.0.0.1 is loopback"),
    ("http://0177.1/", "address 127.0.0.1 is loopback"),
    ("http://127.0.0.1./", "address 127.0.0.1 is loopback"),
    ("http://127。0。0。1/", "address 127.0.0.1 is loopback"),
    ("http://１２７.０.０.１/", "address 127.0.0.1 is loopback"),
    ("http://[::1]/", "address ::1 is loopback"),
    ("http://[0:0:0:0:0:0:0:1]:9000/", "address ::1 is loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv6 form of 127.0.0.1, which is loopback"),
    ("http://[::FFFF:7F00:1]/", "IPv6 form of 127.0.0.1, which is loopback"),
    ("http://[::127.0.0.1]/", "IPv6 form of 127.0.0.1, which is loopback"),
    ("http://[::ffff:0:127.0.0.1]/", "IPv6 form of 127.0.0.1, which is loopback"),
    ("http://localhost/", "is loopback"),
    ("http://LocalHost/", "is loopback"),
    # private networks (RFC 1918, RFC 4193)
    ("http://10.0.0.5/", "address 10.0.0.5 is in a private network"),
    ("https://10.0.0.5:8443/hook?x=1", "address 10.0.0.5 is in a private network"),
    ("http://167772165/", "address 10.0.0.5 is in a private network"),
    ("http://0xa.0.0.5/", "address 10.0.0.5 is in a private network"),
    ("http://012.0.0.05/", "address 10.0.0.5 is in a private network"),
    ("http://172.16.3.4/", "address 172.16.3.4 is in a private network"),
    ("http://172.31.255.255/", "address 172.31.255.255 is in a private network"),
    ("http://192.168.1.1/", "address 192.168.1.1 is in a private network"),
    ("http://[fd12:3456::1]/", "address fd12:3456::1 is in a private network"),
    ("http://[FC00::1]/", "address fc00::1 is in a private network"),
    ("http://[::ffff:10.0.0.5]/", "IPv6 form of 10.0.0.5, which is in a private network"),
    ("http://[64:ff9b::a00:5]/", "IPv6 form of 10.0.0.5, which is in a private network"),
    ("http://[2002:c0a8:101::1]/", "IPv6 form of 192.168.1.1, which is in a private network"),
    ("http://[64:ff9b:1::1]/", "in a local-use NAT64 network"),
    # link-local
    ("http://169.254.1.1/", "address 169.254.1.1 is link-local"),
    ("http://[fe80::1]/", "address fe80::1 is link-local"),
    ("http://[FE80::1%25eth0]/", "address fe80::1 is link-local"),
    ("http://[fec0::1]/", "address fec0::1 is site-local"),
    # multicast, unspecified, broadcast
    ("http://224.0.0.1/", "address 224.0.0.1 is multicast"),
    ("http://239.255.255.250:1900/", "address 239.255.255.250 is multicast"),
    ("http://[ff02::1]/", "address ff02::1 is multicast"),
    ("http://[ff0e::1]/", "address ff0e::1 is multicast"),
    ("http://0.0.0.0/", "address 0.0.0.0 is unspecified"),
    ("http://0/", "address 0.0.0.0 is unspecified"),
    ("http://0.1.2.3/", "address 0.1.2.3 is unspecified"),
    ("http://[::]/", "address :: is unspecified"),
    ("http://255.255.255.255/", "address 255.255.255.255 is broadcast"),
    ("http://4294967295/", "address 255.255.255.255 is broadcast"),
    # carrier-grade NAT, reserved, benchmarking, documentation
    ("http://100.64.0.1/", "address 100.64.0.1 is in the carrier-grade NAT range"),
    ("http://100.127.255.254/", "carrier-grade NAT"),
    ("http://240.0.0.1/", "address 240.0.0.1 is reserved"),
    ("http://192.0.0.8/", "reserved for protocol assignments"),
    ("http://198.18.0.1/", "reserved for benchmarking"),
    ("http://192.0.2.10/", "reserved for documentation"),
    ("http://198.51.100.7/", "reserved for documentation"),
    ("http://203.0.113.9/", "reserved for documentation"),
    ("http://[2001:db8::1]/", "reserved for documentation"),
    ("http://[100::1]/", "discard-only"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "IPv6 form of 192.0.2.45"),
    # cloud metadata
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata service"),
    ("http://2852039166/", "169.254.169.254 is a cloud metadata service"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254 is a cloud metadata service"),
    ("http://[::ffff:169.254.169.254]/", "IPv6 form of 169.254.169.254, a cloud metadata"),
    ("http://[fd00:ec2::254]/", "address fd00:ec2::254 is a cloud metadata service"),
    ("http://100.100.100.200/", "100.100.100.200 is a cloud metadata service"),
    ("http://192.0.0.192/", "192.0.0.192 is a cloud metadata service"),
    ("http://metadata.google.internal/computeMetadata/v1/", "is a cloud metadata service"),
    ("http://METADATA.GOOGLE.INTERNAL./", "host metadata.google.internal is a cloud metadata"),
    ("http://metadata/", "host metadata is a cloud metadata service"),
    ("http://instance-data/", "host instance-data is a cloud metadata service"),
]


@pytest.fixture
async def strict(catalogue: Catalogue, sqlite_url: str) -> AsyncIterator[Env]:
    async with running_hub(catalogue, sqlite_url, STRICT) as env:
        yield env


async def listed(env: Env, token: str | None = None) -> list[dict]:
    r = await env.client.get("/api/v1/webhooks", headers=auth(token or env.admin))
    assert r.status_code == 200
    return r.json()["webhooks"]


async def test_every_class_and_spelling_is_refused_at_subscription(strict: Env) -> None:
    failures = []
    for url, reason in REFUSED:
        r = await strict.client.post(
            "/api/v1/webhooks", json={"url": url}, headers=auth(strict.admin)
        )
        error = r.json().get("error", {})
        if r.status_code != 422 or error.get("code") != "destination_not_allowed":
            failures.append((url, r.status_code, r.text))
        elif reason not in error["message"]:
            failures.append((url, "reason", error["message"]))
    assert failures == []
    assert await listed(strict) == []


async def test_spellings_the_url_parser_cannot_read_are_refused_too(strict: Env) -> None:
    """Hosts that are neither a valid name nor an address never reach the resolver."""
    for url in ("http://%31%32%37.0.0.1/", "http://[fe80::1%eth0]/", "http://①②⑦.0.0.1/"):
        r = await strict.client.post(
            "/api/v1/webhooks", json={"url": url}, headers=auth(strict.admin)
        )
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["code"] in {"invalid_url", "destination_not_allowed"}, url
    assert await listed(strict) == []


def test_literal_spellings_mean_what_the_resolver_would_read() -> None:
    """The guard's reading of numeric hosts agrees with the system's own `getaddrinfo`."""
    for host in ("2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0", "0xa.0.0.5", "10.1"):
        system = socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        assert str(literal_address(host)) == system, host
    assert literal_address("example.org") is None
    assert literal_address("deadbeef.cafe") is None
    assert literal_address("1.2.3.4.5") is None


class Names:
    """A resolver the test points: names → addresses, changeable between calls."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = dict(table)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        try:
            return list(self.table[host.lower().rstrip(".")])
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


async def test_every_address_of_a_name_is_checked_at_subscription(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    names = Names(
        {
            "mixed.example": [PUBLIC, "10.1.2.3"],
            "inside.example": ["fd00::5"],
            "public.example": [PUBLIC],
        }
    )
    config = WebhookConfig(**TIMING, give_up_after=120, allow_networks=(), resolve=names)
    async with running_hub(catalogue, sqlite_url, config) as env:
        cases = [
            ("http://mixed.example/h", 422, "destination_not_allowed", "10.1.2.3 is in a private"),
            ("http://inside.example/h", 422, "destination_not_allowed", "fd00::5 is in a private"),
            ("http://nowhere.example/h", 422, "host_not_found", "nowhere.example does not resolve"),
        ]
        for url, status, code, reason in cases:
            r = await env.client.post(
                "/api/v1/webhooks", json={"url": url}, headers=auth(env.admin)
            )
            assert r.status_code == status and r.json()["error"]["code"] == code, r.text
            assert reason in r.json()["error"]["message"]
        assert await listed(env) == []
        made = await env.subscribe("https://public.example/h")
        assert made["url"] == "https://public.example/h"
        assert names.asked == [
            "mixed.example",
            "inside.example",
            "nowhere.example",
            "public.example",
        ]


async def test_the_allow_list_lets_its_networks_through_but_never_metadata(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    config = WebhookConfig(
        **TIMING, give_up_after=120, allow_networks=parse_networks("127.0.0.0/8, 10.0.0.0/8")
    )
    async with running_hub(catalogue, sqlite_url, config) as env:
        for url in ("http://127.0.0.1:9/a", "http://0x7f.1:9/b", "http://10.9.8.7/c"):
            assert (await env.subscribe(url))["url"] == url
        for url, reason in [
            ("http://192.168.1.1/", "192.168.1.1 is in a private network"),
            ("http://[::1]/", "::1 is loopback"),
            ("http://169.254.169.254/", "cloud metadata"),
            ("http://metadata.google.internal/", "cloud metadata"),
        ]:
            r = await env.client.post(
                "/api/v1/webhooks", json={"url": url}, headers=auth(env.admin)
            )
            assert r.status_code == 422 and reason in r.json()["error"]["message"], url
        assert len(await listed(env)) == 3
    everything = AddressPolicy(parse_networks("0.0.0.0/0,::/0"))
    assert everything.judge(literal_address("10.0.0.1")) is None  # type: ignore[arg-type]
    assert "metadata" in everything.judge(literal_address("169.254.169.254"))  # type: ignore[arg-type,operator]


# At the connection: the address actually connected to ----------------------------------------


class Listener:
    """A real TCP server that counts connections and answers 204 to each request."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            await writer.drain()
        writer.close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def failed_head(env: Env, sub_id: int, timeout: float = 10) -> dict:
    """The subscription's head delivery once it has been tried at least once."""

    async def tried() -> dict | None:
        head = (await env.webhook(sub_id))["deliveries"]["head"]
        return head if head is not None and head["attempts"] >= 1 else None

    return await until(tried, f"subscription {sub_id} tried", timeout)


async def test_stored_subscriptions_to_inside_addresses_are_refused_at_connect(
    strict: Env, catalogue: Catalogue
) -> None:
    """Subscriptions that skipped the subscription check (made before these rules, or written
    to the database by other means) still reach nothing inside: every spelling is read as the
    address it means at the moment of connecting, with a listener there to prove it."""
    listener = Listener()
    port = await listener.start()
    try:
        spellings = {
            f"http://127.0.0.1:{port}/": "address 127.0.0.1 is loopback",
            f"http://2130706433:{port}/": "address 127.0.0.1 is loopback",
            f"http://0x7f.1:{port}/": "address 127.0.0.1 is loopback",
            f"http://localhost:{port}/": "address 127.0.0.1 is loopback",
            f"http://[::ffff:127.0.0.1]:{port}/": (
                "address ::ffff:7f00:1 is an IPv6 form of 127.0.0.1, which is loopback"
            ),
            f"http://0.0.0.0:{port}/": "address 0.0.0.0 is unspecified (this network)",
        }
        subs = {}
        for url in spellings:
            sub = await strict.dispatcher.create(
                "token:admin", url, [catalogue.country.id], [], [AlertStatus.ACTUAL]
            )
            subs[url] = sub.id
        await strict.declare(catalogue.oblasts[0].id)
        for url, reason in spellings.items():
            head = await failed_head(strict, subs[url])
            assert head["last_error"] == reason, url
            assert head["last_status"] is None
        assert listener.connections == 0
    finally:
        listener.stop()


async def test_a_name_that_rebinds_inside_after_subscribing_is_refused(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    names = Names({"hooks.example": [PUBLIC]})
    config = WebhookConfig(**TIMING, give_up_after=120, allow_networks=(), resolve=names)
    listener = Listener()
    port = await listener.start()
    try:
        async with running_hub(catalogue, sqlite_url, config) as env:
            sub = await env.subscribe(f"http://hooks.example:{port}/h")
            names.table["hooks.example"] = ["127.0.0.1"]  # the attacker's DNS answer changes
            await env.declare(catalogue.oblasts[0].id)
            head = await failed_head(env, sub["id"])
            assert head["last_error"] == "address 127.0.0.1 is loopback"
            assert names.asked.count("hooks.example") >= 2  # resolved again for the delivery
        assert listener.connections == 0
    finally:
        listener.stop()


async def test_the_hub_connects_only_to_the_allowed_addresses_of_a_name(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    """A name resolving to an allowed and a forbidden address: the forbidden one is dropped and
    the delivery goes to the checked address, with the name kept in the Host header."""
    receiver = Receiver()
    url = await receiver.start("127.0.0.1")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    decoy = Listener()
    await decoy.start("127.0.0.2", port)  # same port, an address the policy does not allow
    names = Names({"receiver.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    config = WebhookConfig(
        **TIMING,
        give_up_after=120,
        allow_networks=parse_networks("127.0.0.1/32"),
        resolve=names,
    )
    try:
        async with running_hub(catalogue, sqlite_url, config) as env:
            sub = await env.subscribe(f"http://receiver.example:{port}/hook")
            names.table["receiver.example"] = ["127.0.0.2", "127.0.0.1"]
            declared = await env.declare(catalogue.oblasts[0].id)
            await receiver.wait_for(lambda r: len(r.acknowledged()) == 1)
            got = receiver.acknowledged()[0]
            assert got.event_id == declared["event"]["id"]
            assert got.headers["host"] == f"receiver.example:{port}"
            health = await settled(env, sub["id"], 1)
            assert health["delivered"] == 1 and not health["failing"]
            # Only forbidden addresses (a name with no open connection to reuse): refused, and
            # the reason names the address.
            other = await env.subscribe(f"http://other.example:{port}/hook")
            names.table["other.example"] = ["127.0.0.2"]
            await env.declare(catalogue.oblasts[1].id)
            head = await failed_head(env, other["id"])
            assert head["last_error"] == "address 127.0.0.2 is loopback"
        assert decoy.connections == 0
    finally:
        decoy.stop()
        await receiver.stop()


async def test_the_allow_list_delivers_to_loopback(catalogue: Catalogue, sqlite_url: str) -> None:
    receiver = Receiver()
    await receiver.start()
    config = WebhookConfig(**TIMING, give_up_after=120, allow_networks=LOOPBACK)
    try:
        async with running_hub(catalogue, sqlite_url, config) as env:
            await env.subscribe(receiver.url.replace("127.0.0.1", "0x7f.1"))
            await env.subscribe(receiver.url.replace("127.0.0.1", "localhost"))
            await env.declare(catalogue.oblasts[0].id)
            await receiver.wait_for(lambda r: len(r.acknowledged()) == 2)
    finally:
        await receiver.stop()


# What is kept of a failure: the hub's own words ----------------------------------------------

SECRET = "TOPSECRET-internal-admin-password"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> None:
    with contextlib.suppress(Exception):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(raw)
            await writer.drain()
    writer.close()


ANSWERS = {
    "error with a body": (
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n"
        b"x-debug: "
        + SECRET.encode()
        + b"\r\ncontent-length: "
        + str(len(SECRET)).encode()
        + b"\r\n\r\n"
        + SECRET.encode(),
        "HTTP 500",
    ),
    "redirect inside": (
        b"HTTP/1.1 302 Found\r\nlocation: http://10.0.0.1/"
        + SECRET.encode()
        + b"\r\ncontent-length: 0\r\n\r\n",
        "HTTP 302: redirects are not followed",
    ),
    "not HTTP at all": (
        b"SSH-2.0-OpenSSH_9.6 " + SECRET.encode() + b"\r\n\r\n",
        "the answer is not valid HTTP",
    ),
    "a reason phrase": (
        b"HTTP/1.1 418 " + SECRET.encode() + b"\r\ncontent-length: 0\r\n\r\n",
        "HTTP 418",
    ),
}


async def test_last_error_never_repeats_the_receivers_answer(
    catalogue: Catalogue, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    servers = []
    for raw, _ in ANSWERS.values():
        servers.append(
            await asyncio.start_server(lambda r, w, raw=raw: _answer(r, w, raw), "127.0.0.1", 0)
        )
    config = WebhookConfig(**TIMING, give_up_after=0.5, allow_networks=LOOPBACK)
    caplog.set_level(logging.INFO)
    try:
        async with running_hub(catalogue, sqlite_url, config) as env:
            subs = {}
            for (name, (_, _)), server in zip(ANSWERS.items(), servers, strict=True):
                port = server.sockets[0].getsockname()[1]
                subs[name] = (await env.subscribe(f"http://127.0.0.1:{port}/hook"))["id"]
            await env.declare(catalogue.oblasts[0].id)
            seen = []
            for name, (_, expected) in ANSWERS.items():
                # Retried until it expires (and is logged), then kept as expired.
                path = f"/api/v1/webhooks/{subs[name]}/deliveries"

                async def expired(path: str = path) -> httpx.Response | None:
                    r = await env.client.get(
                        path, params={"state": "expired"}, headers=auth(env.admin)
                    )
                    return r if r.json()["deliveries"] else None

                r = await until(expired, f"the delivery to {name} expired")
                assert r.json()["deliveries"][0]["last_error"] == expected, name
                seen.append(r.text)
            for path in ("/api/v1/webhooks", *(f"/api/v1/webhooks/{i}" for i in subs.values())):
                seen.append((await env.client.get(path, headers=auth(env.admin))).text)
        shown = "\n".join(seen)
        assert "HTTP 500" in shown and "HTTP 302" in shown
        assert SECRET not in shown
        assert "expired: HTTP 500" in caplog.text
        assert SECRET not in caplog.text
    finally:
        for server in servers:
            server.close()


# The CLI ----------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:

        def started() -> bool:
            assert not task.done(), "the hub did not start"
            return server.started

        await until(started, "the hub started", poll=0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def test_cli_add_is_refused_with_the_reason(catalogue: Catalogue, sqlite_url: str) -> None:
    hub = Hub(catalogue, SqlStore(sqlite_url))
    hub.load()
    token, _ = hub.store.create_token("cli-admin", None)
    app = create_app(hub, Settings(db=sqlite_url, load_history=False, mqtt=None, webhooks=STRICT))
    runner = CliRunner()
    try:
        async with serving(app) as base:
            common = ["--url", base, "--token", token]
            cases = [
                ("http://127.1:9000/hook", "address 127.0.0.1 is loopback"),
                ("http://0x0a.0.0.5/", "address 10.0.0.5 is in a private network"),
                ("http://[::ffff:192.168.0.1]/", "which is in a private network"),
                ("http://169.254.169.254/", "cloud metadata service"),
                ("http://[fe80::1]/", "link-local"),
                ("http://localhost:8080/", "is loopback"),
            ]
            for url, reason in cases:
                done = await asyncio.to_thread(runner.invoke, cli, ["webhook", "add", url, *common])
                assert done.exit_code == 1, (url, done.output)
                assert "422" in done.output and reason in " ".join(done.output.split()), url
            after = await asyncio.to_thread(
                runner.invoke, cli, ["webhook", "list", "--json", *common]
            )
            assert orjson.loads(after.output)["webhooks"] == []
    finally:
        hub.close()


# The per-token limit ---------------------------------------------------------------------------


async def test_a_token_holds_at_most_its_limit_of_subscriptions(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    config = WebhookConfig(**TIMING, give_up_after=120, allow_networks=LOOPBACK, max_per_token=3)
    async with running_hub(catalogue, sqlite_url, config) as env:
        oblast = catalogue.oblasts[2]
        alice, _ = env.hub.store.create_token("alice", [oblast.id])
        bob, _ = env.hub.store.create_token("bob", [oblast.id])
        answers = await asyncio.gather(
            *(
                env.client.post(
                    "/api/v1/webhooks",
                    json={"url": f"http://127.0.0.1:9/{i}"},
                    headers=auth(alice),
                )
                for i in range(8)
            )
        )
        assert sorted(r.status_code for r in answers) == [201] * 3 + [409] * 5
        over = next(r for r in answers if r.status_code == 409).json()["error"]
        assert over["code"] == "too_many_webhooks" and "3" in over["message"]
        mine = await listed(env, alice)
        assert len(mine) == 3
        # Another token has its own allowance; deleting one makes room again.
        assert (await env.subscribe("http://127.0.0.1:9/bob", bob))["owner"] == "token:bob"
        r = await env.client.delete(f"/api/v1/webhooks/{mine[0]['id']}", headers=auth(alice))
        assert r.status_code == 200
        assert (await env.subscribe("http://127.0.0.1:9/again", alice))["owner"] == "token:alice"
        assert len(await listed(env, alice)) == 3


# The ukrainealarm surface ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def compat_hub(
    hub: Hub, config: WebhookConfig
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(hub, Settings(load_history=False, mqtt=None, webhooks=config))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),  # the ways out, the ukrainealarm delivery among them
        httpx.AsyncClient(transport=transport, base_url="http://hub") as client,
    ):
        yield app, client


async def test_compat_subscriptions_follow_the_same_rules(hub: Hub) -> None:
    key, _ = hub.store.create_token("compat-key", [])
    async with compat_hub(hub, STRICT) as (app, api):
        for method in ("POST", "PATCH"):
            for url, reason in REFUSED[::4]:
                r = await api.request(
                    method,
                    "/api/v3/webhook",
                    json={"webHookUrl": url},
                    headers={"Authorization": key},
                )
                assert r.status_code == 422, (method, url, r.text)
                assert r.json()["error"]["code"] == "destination_not_allowed"
                assert reason in r.json()["error"]["message"], (method, url)
        assert app.state.compat_webhooks.store.all() == []


async def test_compat_delivery_is_refused_at_connect_and_logged_in_our_words(
    hub: Hub, catalogue: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    admin, _ = hub.store.create_token("admin", None)
    _, inside_key = hub.store.create_token("inside-key", [])
    _, noisy_key = hub.store.create_token("noisy-key", [])
    listener = Listener()
    port = await listener.start()
    noisy = await asyncio.start_server(
        lambda r, w: _answer(r, w, ANSWERS["error with a body"][0]), "127.0.0.2", 0
    )
    names = Names({"noisy.example": ["127.0.0.2"], "localhost": ["127.0.0.1"]})
    config = WebhookConfig(
        **TIMING, give_up_after=120, allow_networks=parse_networks("127.0.0.2"), resolve=names
    )
    caplog.set_level(logging.WARNING)
    try:
        async with compat_hub(hub, config) as (app, api):
            delivery = app.state.compat_webhooks
            noisy_port = noisy.sockets[0].getsockname()[1]
            # Stored directly, as a subscription made before these rules would be.
            delivery.store.put(inside_key.id, f"http://localhost:{port}/hook", False)
            delivery.store.put(noisy_key.id, f"http://noisy.example:{noisy_port}/hook", False)
            oblast = catalogue.oblasts[0]
            r = await api.post(
                "/api/v1/alerts",
                json={"region_id": oblast.id, "threat": "air_raid"},
                headers=auth(admin),
            )
            assert r.status_code == 201
            await until(
                lambda: delivery.failed >= 2 and not delivery.tasks, "both deliveries failed"
            )
        assert listener.connections == 0
        assert f"key {inside_key.id} failed: address 127.0.0.1 is loopback" in caplog.text
        assert f"key {noisy_key.id} failed: HTTP 500" in caplog.text
        assert SECRET not in caplog.text
        assert delivery.delivered == 0
    finally:
        listener.stop()
        noisy.close()


# Configuration -------------------------------------------------------------------------------


def test_allow_list_setting_is_read_and_checked() -> None:
    env = {
        "TRYVOHA_WEBHOOK_ALLOW_NETWORKS": " 10.0.0.0/8, fd00::/8 ,192.168.1.20",
        "TRYVOHA_WEBHOOK_MAX_PER_TOKEN": "50",
    }
    config = Settings.from_env(env).webhooks
    assert [str(n) for n in config.allow_networks] == [
        "10.0.0.0/8",
        "fd00::/8",
        "192.168.1.20/32",
    ]
    assert config.max_per_token == 50
    assert config.policy.judge(literal_address("10.1.2.3")) is None  # type: ignore[arg-type]
    for bad in ("10.0.0.0/33", "10.1.2.3/8", "intranet", "10.0.0.0/8;192.168.0.0/16"):
        with pytest.raises(
            ValueError, match=r"TRYVOHA_WEBHOOK_ALLOW_NETWORKS: .* is not a network"
        ):
            Settings.from_env({"TRYVOHA_WEBHOOK_ALLOW_NETWORKS": bad})
    assert Settings.from_env({}).webhooks.allow_networks == ()
    for bad in ("0", "-1", "lots", "10001"):
        with pytest.raises(ValueError, match="TRYVOHA_WEBHOOK_MAX_PER_TOKEN"):
            Settings.from_env({"TRYVOHA_WEBHOOK_MAX_PER_TOKEN": bad})


def test_serve_refuses_to_start_with_a_bad_allow_list(tmp_path: Path) -> None:
    env = {**os.environ, "TRYVOHA_WEBHOOK_ALLOW_NETWORKS": "10.0.0.0/8,192.168.0.0/33"}
    done = subprocess.run(
        [sys.executable, "-m", "tryvoha.cli", "serve", "--db", str(tmp_path / "x.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    message = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr
    assert "Cannot start: TRYVOHA_WEBHOOK_ALLOW_NETWORKS: '192.168.0.0/33' is not a network" in (
        message
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.db").exists()
