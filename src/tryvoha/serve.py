"""The composition root: a hub process built from its settings, and served.

`open_hub` opens the writer (the single-writer lock, the fold of the log, the signing keys, the
bundled history on first start); `serve` builds the app over it (`tryvoha.api.app.create_app`,
whose lifespan `tryvoha.outlets.running` starts every way out) and runs it with uvicorn on the
edge protocol (`uvicorn_config`). Settings are read once, by the caller (`Settings.from_env`).

With `standby=True` (PostgreSQL only) the process opens the log as a reader and serves at once,
taking over as the writer when the active one dies (`tryvoha.standby`). A writer that loses
its lock stops writing and the process exits with `LOST_LOCK_EXIT` (a supervisor restarts it,
as a standby when so configured).
"""

from __future__ import annotations

import errno
import socket
from functools import partial
from typing import Any

import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape

from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.history.bundled import load_bundled_history
from tryvoha.hub import Hub
from tryvoha.regions import load_catalogue
from tryvoha.server import Edge
from tryvoha.server.protocol import EdgeProtocol
from tryvoha.signing.hub import open_signing
from tryvoha.signing.keys import KeyFileError
from tryvoha.store import (
    SqlStore,
    UnreadableEvent,
    WriterLock,
    WriterLocked,
    acquire_writer,
    writer_lock,
)
from tryvoha.store.url import database_of

LOST_LOCK_EXIT = 3
"""The exit status of a writer that lost the writer lock (see `tryvoha.store.fencing`)."""
STANDBY_NEEDS_POSTGRES = (
    "--standby needs PostgreSQL (--db postgresql://…): a SQLite file has one writer on one "
    "machine, so there is nothing to stand by for"
)


def open_hub(settings: Settings, console: Console | None = None, standby: bool = False) -> Hub:
    """The writer of the log; with `standby`, a hub that follows the log until it takes the
    writer lock (`tryvoha.standby`), whose lock is `hub.standby_lock`."""
    console = console or Console(stderr=True)
    if standby and database_of(settings.db_url).backend == "sqlite":
        raise ValueError(STANDBY_NEEDS_POSTGRES)
    with console.status("Loading regions and the log…"):
        catalogue = load_catalogue()
        database = database_of(settings.db_url).file
        if database is not None:  # a SQLite file: its folder is made on first start
            database.parent.mkdir(parents=True, exist_ok=True)
        lock: WriterLock | None = None
        if standby:
            lock = writer_lock(settings.db_url, "tryvoha serve --standby")
            store = SqlStore(settings.db_url)  # a reader until it takes over
        else:
            writer = acquire_writer(settings.db_url, "tryvoha serve")  # WriterLocked: one writer
            store = SqlStore(settings.db_url, writer=writer)
        hub = Hub(catalogue, store, policy=settings.approvals, standby=standby)
        hub.standby_lock = lock
        try:
            hub.load()
        except UnreadableEvent as problem:
            hub.close()
            from tryvoha.cli.log import refusal

            console.print(
                refusal(problem, settings.db), markup=False, highlight=False, soft_wrap=True
            )
            raise SystemExit(1) from None
    if not standby:
        load_bundled_history(hub, settings, console)  # first start only: the record since 2022
    return hub


def uvicorn_config(app: FastAPI, host: str, port: int, **extra: Any) -> uvicorn.Config:
    """How every hub process is served: uvloop, and the edge protocol with the registry and the
    limits `create_app` put in `app.state.edge` (short cuts skip ASGI: see tryvoha.server)."""
    edge: Edge = app.state.edge
    settings: dict[str, Any] = {
        "log_level": "warning",
        "loop": "uvloop",
        "http": partial(EdgeProtocol, edge=edge),
        "ws": "websockets-sansio",
        "proxy_headers": False,
        "timeout_keep_alive": edge.limits.keepalive_timeout,
        **extra,
    }
    return uvicorn.Config(app, host=host, port=port, **settings)


def serve(settings: Settings, console: Console | None = None, standby: bool = False) -> None:
    console = console or Console(stderr=True)
    try:
        if standby and database_of(settings.db_url).backend == "sqlite":
            raise ValueError(STANDBY_NEEDS_POSTGRES)
        check_port(settings.host, settings.port)
        with console.status("Opening the signing keys…"):
            signing = open_signing(settings)  # made on first start; refuses unsafe key files
        hub = open_hub(settings, console, standby=standby)
    except (ValueError, KeyFileError, WriterLocked, PortTaken) as exc:
        console.print(f"[bold red]Cannot start:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(2) from None
    assert signing.signer is not None and signing.cap_keys is not None
    signing.cap_keys.get()  # the first CAP request waits for nothing
    console.print(
        f"Signing as hub {signing.signer.hub_id} with key {signing.signer.keyring.active_id}"
    )
    app = create_app(hub, settings, signing)
    app.state.standby_lock = hub.standby_lock
    app.state.say = lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)
    base = f"http://{settings.host}:{settings.port}"
    role = "a standby writer (reads served; writes once it takes over)" if standby else "serving"
    console.print(
        f"[bold green]tryvoha[/] is {role} {len(hub.catalogue)} regions, "
        f"log at event {hub.last_event_id}, database {settings.db_url}"
    )
    console.print(f"  map:  {base}/")
    console.print(f"  API:  {base}/docs")
    config = uvicorn_config(app, settings.host, settings.port)
    server = uvicorn.Server(config)
    lost: list[str] = []

    def exit_on_lost_lock(why: str) -> None:
        lost.append(why)
        server.should_exit = True

    hub.on_lost.append(exit_on_lost_lock)
    try:
        server.run()  # sets up uvloop, as asyncio.run would not
    finally:
        hub.close()
    if lost:
        console.print(f"[bold red]Stopped:[/] no longer the writer ({escape(lost[0])})")
        raise SystemExit(LOST_LOCK_EXIT)


class PortTaken(Exception):
    """Another program listens on the address: say so in one line, with what to do."""


def check_port(host: str, port: int, choose: str = "--port (or TRYVOHA_PORT)") -> None:
    """Before anything else, so a taken port is one clear line (uvicorn binds it once the app
    is ready: a port that answers is a hub that serves); `choose` says how to pick another."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortTaken(
                f"{host}:{port} is already in use (another tryvoha?); stop it, or choose another "
                f"port with {choose}"
            ) from None
        raise PortTaken(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.close()
