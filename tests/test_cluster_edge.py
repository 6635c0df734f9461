"""An edge node over a real nats-server: it follows the writer's log into its own view, serves
the same reads as the writer at the same log id, takes no commands, and its health tells when
it is stale (NATS down) and when it is current again."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from typer.testing import CliRunner

from tryvoha.bus.jetstream import DEFAULT_STREAM
from tryvoha.cli import app as cli
from tryvoha.cluster.edge import EdgeNode, edge_app, nats_reachable
from tryvoha.config import Settings
from tryvoha.regions import Catalogue
from tryvoha.signing.hub import key_directory, open_signing

from .conftest import free_port
from .nats_server import NatsServer
from .test_cluster_relay import Writer, writer
from .waiting import until

pytestmark = pytest.mark.nats


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    s = NatsServer(tmp_path / "nats")
    s.start()
    yield s
    s.kill()


@contextlib.asynccontextmanager
async def edge(
    catalogue: Catalogue, db: str | None, nats_url: str, keys: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(nats=nats_url, keys=str(keys), load_history=False, max_lag=1.0)
    node = EdgeNode(settings, catalogue, db)
    app = edge_app(node, settings, open_signing(settings, create=False))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
                yield client
    finally:
        node.close()


async def health(client: httpx.AsyncClient) -> tuple[int, dict]:
    r = await client.get("/api/v1/health")
    return r.status_code, r.json()


async def same_reads(w: Writer, e: httpx.AsyncClient, alert_id: int, keyed: bool) -> None:
    """Every read the writer answers at its log id, the edge answers alike (bodies and ETags);
    `keyed`: the compatible APIs with a key, and the history API (an edge with the database)."""
    paths = [
        "/api/v1/status/compact",
        "/api/v1/status",
        "/api/v1/alerts/active",
        f"/api/v1/alerts/{alert_id}",
        "/api/v1/log?after=0",
        "/api/v3/alerts",
        "/api/v3/alerts/status",
    ]
    if keyed:
        paths += [
            f"/v1/alerts/active.json?token={w.admin}",
            f"/v1/iot/active_air_raid_alerts_by_oblast.json?token={w.admin}",
            "/api/v1/alerts/history",
        ]
    for path in paths:
        mine, theirs = await w.client.get(path), await e.get(path)
        assert mine.status_code == 200, (path, mine.text)
        assert (theirs.status_code, theirs.content) == (mine.status_code, mine.content), path
        assert theirs.headers.get("etag") == mine.headers.get("etag"), path
    etag = (await e.get("/api/v1/status/compact")).headers["etag"]
    again = await e.get("/api/v1/status/compact", headers={"If-None-Match": etag})
    assert again.status_code == 304
    page = await e.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


@pytest.mark.parametrize("with_db", [True, False], ids=["db-then-stream", "stream-only"])
async def test_an_edge_serves_the_writers_reads_and_says_when_it_is_stale(
    catalogue: Catalogue, sqlite_url: str, server: NatsServer, with_db: bool
) -> None:
    keys = key_directory(Settings(db=sqlite_url))
    async with writer(catalogue, sqlite_url, server.url) as w:
        for _ in range(3):
            await w.declare_and_end()  # before the edge starts: folded from db or stream
        async with edge(catalogue, sqlite_url if with_db else None, server.url, keys) as e:
            code, doc = await health(e)  # answers at once, current or not yet
            assert code in (200, 503) and doc["role"] == "edge"
            await w.declare_and_end()
            r = await w.client.post(
                "/api/v1/alerts", json={"region_id": catalogue.oblasts[1].id}, headers=w.headers
            )
            open_id = r.json()["alert"]["id"]

            async def caught_up() -> bool:
                code, doc = await health(e)
                return code == 200 and doc["last_applied_id"] == w.hub.last_event_id

            await until(caught_up, "edge caught up")
            code, doc = await health(e)
            assert doc["role"] == "edge" and not doc["stale"]
            assert (doc["stream_last_seq"], doc["lag_events"]) == (9, 0)
            await same_reads(w, e, open_id, with_db)
            ended_id = open_id - 2  # alert ids are their declarations' log ids
            await same_reads(w, e, ended_id, with_db)  # ended: from the store or the replica

            refused = await e.post(
                "/api/v1/alerts", json={"region_id": w.oblast}, headers=w.headers
            )
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "not_the_writer"
            assert (await e.post("/api/v1/alerts", content=b"{not json")).status_code == 503
            assert w.hub.last_event_id == 9  # nothing changed

            server.kill()

            async def stale() -> bool:
                code, doc = await health(e)
                return code == 503 and doc["stale"] and doc["stale_since"] is not None

            await until(stale, "edge says stale", timeout=20)
            await w.declare_and_end()  # the writer keeps accepting
            assert (await e.get("/api/v1/status/compact")).status_code == 200  # still reads

            server.start()
            await until(caught_up, "edge caught up after NATS came back", timeout=30)
            await same_reads(w, e, open_id, with_db)
        code, doc = await health(w.client)
        assert (code, doc["role"], doc["stale"]) == (200, "writer", False)
        assert doc["nats"]["connected"] and doc["stream_last_seq"] == 11


def test_edge_refuses_to_start_without_nats_and_on_a_taken_port(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["edge"])
    assert result.exit_code == 2 and "--nats" in result.output
    import socket

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = CliRunner().invoke(
            cli, ["edge", "--nats", "nats://127.0.0.1:1", "--port", str(port)]
        )
    assert result.exit_code == 2
    assert "already in use" in result.output


def test_an_edge_without_the_writers_keys_refuses_to_start(tmp_path: Path) -> None:
    keys, port = str(tmp_path / "none"), str(free_port())
    result = CliRunner().invoke(
        cli, ["edge", "--nats", "nats://127.0.0.1:1", "--keys", keys, "--port", port]
    )
    assert result.exit_code == 2
    assert "no signing keys" in result.output


async def test_health_is_in_the_openapi_document_with_its_503(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    answers = spec["paths"]["/api/v1/health"]["get"]["responses"]
    assert {"200", "503"} <= set(answers)
    code, doc = await health(client)  # a writer without NATS
    assert (code, doc["role"], doc["stale"], doc["nats"]) == (200, "writer", False, None)


async def test_an_edge_started_while_nats_is_down_says_stale_then_catches_up(
    catalogue: Catalogue, sqlite_url: str, tmp_path: Path
) -> None:
    late = NatsServer(tmp_path / "late")  # not started yet
    keys = key_directory(Settings(db=sqlite_url))
    try:
        async with writer(catalogue, sqlite_url, late.url) as w:
            await w.declare_and_end()  # the writer accepts while NATS is down
            assert not nats_reachable([late.url], timeout=0.2)
            async with edge(catalogue, None, late.url, keys) as e:
                code, doc = await health(e)
                assert (code, doc["stale"], doc["nats"]["connected"]) == (503, True, False)
                assert doc["reason"] == "not connected to NATS"
                assert doc["error"] == {"code": "stale", "message": "not connected to NATS"}
                late.start()

                async def caught_up() -> bool:
                    code, doc = await health(e)
                    return code == 200 and doc["last_applied_id"] == 2

                await until(caught_up, "edge caught up once NATS came", timeout=30)
    finally:
        late.kill()


def test_an_edge_whose_database_cannot_be_read_says_so_in_one_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    open_signing(Settings(keys=str(keys)))  # the writer's keys, made as on its first start
    nowhere = f"postgresql://127.0.0.1:{free_port()}/tryvoha"
    args = ["edge", "--nats", "nats://127.0.0.1:1", "--keys", str(keys), "--db", nowhere]
    result = CliRunner().invoke(cli, [*args, "--port", str(free_port())])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot read the database" in lines[0], result.output


async def test_an_edge_follows_a_stream_deleted_and_republished_by_the_writer(
    catalogue: Catalogue, sqlite_url: str, server: NatsServer
) -> None:
    keys = key_directory(Settings(db=sqlite_url))
    async with writer(catalogue, sqlite_url, server.url) as w:
        await w.declare_and_end()
        async with edge(catalogue, None, server.url, keys) as e:

            async def at(log_id: int) -> bool:
                code, doc = await health(e)
                return code == 200 and doc["last_applied_id"] == log_id

            await until(lambda: at(2), "edge at 2")
            nc = await nats.connect(server.url)
            try:
                await nc.jetstream().delete_stream(DEFAULT_STREAM)  # an operator's mistake
            finally:
                await nc.close()
            for _ in range(2):
                await w.declare_and_end()  # the relay recreates the stream, republishes 1..
            await until(lambda: at(6), "edge went on after the stream came back", timeout=30)
            assert [x["id"] for x in (await e.get("/api/v1/log?after=0")).json()["events"]] == [
                1,
                2,
                3,
                4,
                5,
                6,
            ]
