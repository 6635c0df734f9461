"""Start a hub: open the store, fold the log, and serve the HTTP app with uvicorn."""

from __future__ import annotations

from functools import partial
from typing import Any

import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape

from tryvoha.api.app import create_app
from tryvoha.channels.streams.workers import start_followers
from tryvoha.channels.webhooks.config import WebhookConfig
from tryvoha.config import Settings
from tryvoha.history.bundled import load_bundled_history
from tryvoha.hub import Hub
from tryvoha.regions import load_catalogue
from tryvoha.server import Edge
from tryvoha.server.protocol import EdgeProtocol
from tryvoha.signing.hub import start_signing
from tryvoha.signing.keys import KeyFileError
from tryvoha.store import SqlStore, UnreadableEvent, WriterLocked, acquire_writer


def open_hub(settings: Settings, console: Console | None = None) -> Hub:
    console = console or Console(stderr=True)
    with console.status("Loading regions and the log…"):
        catalogue = load_catalogue()
        writer = acquire_writer(settings.db_url, "tryvoha serve")  # WriterLocked: one writer
        store = SqlStore(settings.db_url, writer=writer)
        hub = Hub(catalogue, store)
        try:
            hub.load()
        except UnreadableEvent as problem:
            hub.close()
            from tryvoha.cli.log import refusal

            console.print(
                refusal(problem, settings.db), markup=False, highlight=False, soft_wrap=True
            )
            raise SystemExit(1) from None
    with console.status("Opening the signing keys…"):
        signer = start_signing(hub, settings)  # made on first start; refuses unsafe key files
    console.print(f"Signing as hub {signer.hub_id} with key {signer.keyring.active_id}")
    load_bundled_history(hub, settings, console)  # first start only: the real record since 2022
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


def serve(settings: Settings, console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    try:
        webhook_config = WebhookConfig()  # settings from the environment, checked before start
        hub = open_hub(settings, console)
    except (ValueError, KeyFileError, WriterLocked) as exc:
        console.print(f"[bold red]Cannot start:[/] {escape(str(exc))}")
        raise SystemExit(2) from None
    app = create_app(hub, settings)
    app.state.webhook_config = webhook_config
    base = f"http://{settings.host}:{settings.port}"
    console.print(
        f"[bold green]tryvoha[/] is serving {len(hub.catalogue)} regions, "
        f"log at event {hub.last_event_id}, database {settings.db_url}"
    )
    console.print(f"  map:  {base}/")
    console.print(f"  API:  {base}/docs")
    config = uvicorn_config(app, settings.host, settings.port)
    followers = start_followers(hub, settings) if settings.workers > 1 else None
    try:
        uvicorn.Server(config).run()  # sets up uvloop, as asyncio.run would not
    finally:
        if followers is not None:
            followers.stop()
        hub.close()
