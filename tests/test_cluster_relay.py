"""`tryvoha serve --nats`: the writer relays its log to a real nats-server's JetStream, keeps
accepting while NATS is down, and the relay catches up after, with no gap and no duplicate."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from typer.testing import CliRunner

from tryvoha.api.app import create_app
from tryvoha.bus.codec import decode_event
from tryvoha.bus.jetstream import DEFAULT_STREAM
from tryvoha.cli import app as cli
from tryvoha.cluster.relay import position_key
from tryvoha.config import Settings, SettingsError
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import auth
from .nats_server import NatsServer
from .waiting import until

pytestmark = pytest.mark.nats


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    s = NatsServer(tmp_path / "nats")
    s.start()
    yield s
    s.kill()


class Writer:
    def __init__(self, hub: Hub, client: httpx.AsyncClient, admin: str, oblast: str) -> None:
        self.hub, self.client, self.admin, self.oblast = hub, client, admin, oblast
        self.headers = auth(admin)

    async def declare_and_end(self) -> None:
        """Two events: an alert declared over the oblast, then ended."""
        r = await self.client.post(
            "/api/v1/alerts", json={"region_id": self.oblast}, headers=auth(self.admin)
        )
        assert r.status_code == 201, r.text
        alert_id = r.json()["alert"]["id"]
        r = await self.client.post(f"/api/v1/alerts/{alert_id}/end", headers=auth(self.admin))
        assert r.status_code == 200, r.text


@contextlib.asynccontextmanager
async def writer(catalogue: Catalogue, db: str, nats_url: str) -> AsyncIterator[Writer]:
    hub = Hub(catalogue, SqlStore(db))
    hub.load()
    app = create_app(hub, Settings(db=db, load_history=False, nats=nats_url))
    admin, _ = hub.store.create_token(f"admin-{hub.last_event_id}", None)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                yield Writer(hub, client, admin, catalogue.oblasts[0].id)
    finally:
        hub.close()


async def stream_events(url: str) -> list:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(DEFAULT_STREAM)
        out = []
        for seq in range(1, info.state.last_seq + 1):
            msg = await js.get_msg(DEFAULT_STREAM, seq, direct=True)
            assert (msg.headers or {}).get("Nats-Msg-Id") == str(seq)
            out.append(decode_event(msg.data))
        return out
    finally:
        await nc.close()


async def test_serve_with_nats_relays_every_commit_and_catches_up_after_an_outage(
    catalogue: Catalogue, sqlite_url: str, server: NatsServer
) -> None:
    async with writer(catalogue, sqlite_url, server.url) as w:
        for _ in range(5):
            await w.declare_and_end()
        relay = w.client._transport.app.state.relay  # type: ignore[attr-defined]
        await until(lambda: relay.status().position == 10, "relay acknowledged 10")

        server.kill()
        for _ in range(10):  # the writer keeps accepting while NATS is down
            await w.declare_and_end()
        assert w.hub.last_event_id == 30
        await until(lambda: relay.status().last_error is not None, "relay noticed the outage")
        assert relay.status().position < 30

        server.start()
        await until(lambda: relay.status().position == 30, "relay caught up", timeout=30)
        await until(
            lambda: w.hub.store.get_meta(position_key(DEFAULT_STREAM)) == "30",
            "position saved in the database",
        )
        log = w.hub.store.events_after(0, None)
    assert await stream_events(server.url) == log


async def test_a_new_writer_continues_from_the_saved_position(
    catalogue: Catalogue, sqlite_url: str, server: NatsServer
) -> None:
    async with writer(catalogue, sqlite_url, server.url) as w:
        await w.declare_and_end()
        relay = w.client._transport.app.state.relay  # type: ignore[attr-defined]
        await until(lambda: relay.status().position == 2, "relay acknowledged")
    async with writer(catalogue, sqlite_url, server.url) as w:
        relay = w.client._transport.app.state.relay  # type: ignore[attr-defined]
        await until(lambda: relay.status().position == 2, "relay loaded its position")
        await w.declare_and_end()
        await until(lambda: relay.status().position == 4, "relay went on")
        assert relay.status().republished == 0
        log = w.hub.store.events_after(0, None)
    assert await stream_events(server.url) == log


@pytest.mark.parametrize(
    "value",
    ["127.0.0.1:4222", "http://127.0.0.1:4222", "nats://", ",", "nats://a," * 17],
)
def test_a_nats_url_out_of_its_range_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="TRYVOHA_NATS"):
        Settings.from_env({"TRYVOHA_NATS": value})
    result = CliRunner().invoke(cli, ["serve", "--nats", value])
    assert result.exit_code == 2
    assert "--nats" in result.output


def test_nats_urls_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"TRYVOHA_NATS": "nats://a:4222, tls://b:4222"})
    assert settings.nats == "nats://a:4222,tls://b:4222"
