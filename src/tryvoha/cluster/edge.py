"""An edge node: the log followed from NATS JetStream into a `LogView`, every read surface served
from it, no write path.

`EdgeNode` builds the view (folded from the database when `--db` is given, else empty with a
private replica, `tryvoha.cluster.replica`), follows the stream with the follower core
(`tryvoha.cluster.follower`) and tells its health. `serve_edge` is the composition root: the
very app `tryvoha serve` runs (`tryvoha.api.app.create_app`) over the view, with every command
refused as `503 not_the_writer` before anything else is read, and `/api/v1/health` reporting
the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape
from starlette.types import ASGIApp, Receive, Scope, Send

from tryvoha.alerts.model import Event
from tryvoha.api.app import create_app
from tryvoha.api.errors import ApiError
from tryvoha.bus.jetstream import LogFollowerFeed
from tryvoha.cluster.follower import LogFollower
from tryvoha.cluster.health import EdgeHealth
from tryvoha.cluster.replica import Replica
from tryvoha.config import Settings, nats_servers
from tryvoha.readmodel import LogView
from tryvoha.regions import Catalogue, load_catalogue
from tryvoha.serve import PortTaken, check_port, uvicorn_config
from tryvoha.signing.hub import Signing, open_signing
from tryvoha.signing.keys import KeyFileError
from tryvoha.store import DatabaseError, SqlStore, UnreadableEvent
from tryvoha.store.url import database_of

log = logging.getLogger(__name__)
T = TypeVar("T")
READS = frozenset({"GET", "HEAD", "OPTIONS"})
COPY_BATCH = 5000
COPY_BACKLOG = 50_000
"""Events applied but not yet in the replica before the feed waits for the copy (a bound)."""


class Copier:
    """Copies applied events to the replica off the event loop, in batches, in order; reads that
    need the store wait until it holds what the view holds (`synced`)."""

    def __init__(self, replica: Replica, backlog: int = COPY_BACKLOG) -> None:
        self.replica = replica
        self.backlog = backlog
        self.pending: list[Event] = []
        self.failed: str | None = None
        self._more = asyncio.Event()
        self._copied = asyncio.Event()

    def add(self, event: Event) -> None:
        self.pending.append(event)
        self._more.set()

    async def run(self) -> None:
        try:
            while True:
                await self._more.wait()
                self._more.clear()
                while self.pending:
                    batch, self.pending = self.pending[:COPY_BATCH], self.pending[COPY_BATCH:]
                    await asyncio.to_thread(self.replica.copy, batch)
                    self._copied.set()
        except Exception as exc:  # e.g. the disk is full: reads must fail, not wait forever
            self.failed = f"the edge's copy of the log failed: {exc}"
            self._copied.set()
            raise

    async def room(self) -> None:
        """Wait while `backlog` events or more wait for the replica (the feed calls this)."""
        while len(self.pending) >= self.backlog:
            self._check()
            self._copied.clear()
            await self._copied.wait()

    async def synced(self, log_id: int) -> None:
        """Return once the replica holds `log_id`; `ReplicaFailed` if it never will."""
        while self.replica.last_id < log_id:
            self._check()
            self._copied.clear()
            await self._copied.wait()

    def _check(self) -> None:
        if self.failed is not None:
            raise ReplicaFailed(self.failed)


class ReplicaFailed(ApiError):
    """The replica can no longer be written: reads that need it answer 503 `replica_failed`;
    restart the edge (it folds the stream again)."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "replica_failed", message)


class ReplicaView(LogView):
    """A `LogView` over the replica: store reads (`read`, which every async read of `LogView`
    goes through) see every event the view has applied."""

    def __init__(self, catalogue: Catalogue, replica: Replica) -> None:
        super().__init__(catalogue, replica.store)
        self.copier = Copier(replica)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        await self.copier.synced(self.last_event_id)
        return await super().read(fn, *args)


class EdgeNode:
    """The view, the feed, and the follower that joins them."""

    def __init__(self, settings: Settings, catalogue: Catalogue, db_url: str | None) -> None:
        assert settings.nats, "an edge follows NATS"
        self.replica: Replica | None = None
        if db_url is not None:
            store = SqlStore(db_url)  # a reader: no writer lock
            self.view = LogView(catalogue, store)
            try:
                self.view.load()
            except BaseException:
                store.close()
                raise
            self.follower = LogFollower(self.view, fill=store.events_after)
        else:
            self.replica = Replica()
            view = ReplicaView(catalogue, self.replica)
            self.view = view
            self.follower = LogFollower(view, copy=view.copier.add)
        self.feed = LogFollowerFeed(
            nats_servers(settings.nats), name=f"tryvoha-edge-{settings.host}:{settings.port}"
        )

    @contextlib.asynccontextmanager
    async def following(self) -> AsyncIterator[None]:
        """Follow the stream (and copy to the replica) until the block ends; every stop bounded."""
        room = self.view.copier.room if isinstance(self.view, ReplicaView) else None
        following = self.follower.follow_stream(self.feed, room=room)
        tasks = [asyncio.create_task(following, name="edge-feed")]
        if isinstance(self.view, ReplicaView):
            tasks.append(asyncio.create_task(self.view.copier.run(), name="edge-replica"))
        for task in tasks:
            task.add_done_callback(_report_end)
        try:
            yield
        finally:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self.feed.close()
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)

    def close(self) -> None:
        self.view.close()
        if self.replica is not None:
            self.replica.close()


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("edge: %s stopped: %s", task.get_name(), task.exception())


class NotTheWriter:
    """Every request that would change something answers 503 `not_the_writer` at once, before
    its body, token or path is looked at: an edge has no write path at all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(
            {
                "error": {
                    "code": "not_the_writer",
                    "message": "this node is an edge: it follows the log and takes no commands; "
                    "send them to the hub's writer",
                }
            }
        )
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"0")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def edge_app(node: EdgeNode, settings: Settings, signing: Signing) -> FastAPI:
    """The app `tryvoha serve` runs, over the edge's view, following the stream while it runs."""
    app = create_app(node.view, settings, signing)
    app.state.edge_health = EdgeHealth(node.feed, settings.max_lag)
    app.add_middleware(NotTheWriter)
    outlets = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with node.following(), outlets(app):
            yield

    app.router.lifespan_context = lifespan
    return app


def nats_reachable(servers: Sequence[str], timeout: float = 1.0) -> bool:
    """Whether any server accepts a TCP connection now (to say so at start; the feed retries)."""
    for server in servers:
        parts = urlsplit(server)
        try:
            with socket.create_connection((parts.hostname or "", parts.port or 4222), timeout):
                return True
        except OSError:
            continue
    return False


def serve_edge(settings: Settings, db_url: str | None, console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    assert settings.nats
    try:
        check_port(settings.host, settings.port)
        if db_url is None and settings.read_token_required:
            raise ValueError("--read-token-required needs --db: the tokens live in the database")
        with console.status("Opening the hub's signing keys…"):
            signing = open_signing(settings, create=False)  # an edge signs as the hub does
        with console.status("Loading regions and the log…"):
            node = EdgeNode(settings, load_catalogue(), db_url)
    except (ValueError, KeyFileError, PortTaken, UnreadableEvent) as exc:
        console.print(f"[bold red]Cannot start the edge:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(2) from None
    except DatabaseError as exc:
        shown = database_of(db_url).shown if db_url else "its replica"
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        console.print(
            f"[bold red]Cannot start the edge:[/] cannot read the database {escape(shown)}: "
            f"{escape(first)}",
            soft_wrap=True,
        )
        raise SystemExit(2) from None
    servers = nats_servers(settings.nats)
    if not nats_reachable(servers):
        console.print(
            f"[yellow]NATS at {escape(settings.nats)} does not answer: serving the log as loaded "
            f"(event {node.view.last_event_id}), stale, and retrying until it does[/]",
            soft_wrap=True,
        )
    app = edge_app(node, settings, signing)
    base = f"http://{settings.host}:{settings.port}"
    source = "database then stream" if db_url else "stream (private replica)"
    console.print(
        f"[bold green]tryvoha edge[/] follows {escape(settings.nats)} from event "
        f"{node.view.last_event_id} ({source}); no write path"
    )
    console.print(f"  map:    {base}/")
    console.print(f"  health: {base}/api/v1/health")
    config = uvicorn_config(app, settings.host, settings.port)
    try:
        uvicorn.Server(config).run()
    finally:
        node.close()
