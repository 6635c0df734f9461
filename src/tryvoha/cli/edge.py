"""`tryvoha edge`: a read-only node that follows the log over NATS JetStream and serves it."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from tryvoha.cli.common import database, hub_settings, nats_option


def edge(
    nats: Annotated[
        str | None,
        typer.Option(
            "--nats",
            callback=nats_option,
            show_default=False,
            help="The NATS server(s) the writer relays the log to (tryvoha serve --nats), e.g. "
            "nats://10.0.0.5:4222; several comma-separated [TRYVOHA_NATS]. Required.",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            show_default=False,
            help="The writer's database, read only (postgresql://host/name, or the SQLite file "
            "on this machine) [TRYVOHA_DB]: the edge folds the log from it, then follows the "
            "stream, and serves tokens, the history API and statistics. Without it the edge "
            "folds the whole log from the stream into a private copy.",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on [TRYVOHA_HOST; 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on [TRYVOHA_PORT; 8080]."),
    ] = None,
    keys: Annotated[
        str | None,
        typer.Option(
            "--keys",
            help="A copy of the writer's signing key directory: an edge signs every event "
            "exactly as the writer does [TRYVOHA_KEYS; default: beside the --db SQLite file].",
        ),
    ] = None,
    max_lag: Annotated[
        float | None,
        typer.Option(
            "--max-lag",
            min=0.1,
            max=3600,
            help="Seconds behind the stream before /api/v1/health says stale and answers 503 "
            "[TRYVOHA_MAX_LAG; 5].",
        ),
    ] = None,
) -> None:
    """Run an edge node: every read surface (streams, polled status, both compatible APIs,
    the map, history with --db) from the log followed over NATS JetStream. No write path:
    commands answer 503 not_the_writer; send them to the writer.

    Start as many as you need, on any machine that reaches NATS. If NATS is down the edge
    keeps serving what it has, says stale on /api/v1/health (503), and catches up with no gap
    once NATS is back. docs/cluster.md explains the whole topology.

    Examples (the writer runs tryvoha serve --nats nats://10.0.0.3:4222):
      tryvoha edge --nats nats://10.0.0.3:4222 --db postgresql://10.0.0.2/tryvoha
      tryvoha edge --nats nats://10.0.0.3:4222 --keys ./writer-keys --port 8081
    """
    from tryvoha.cluster.edge import serve_edge

    given_db = db or os.environ.get("TRYVOHA_DB") or None
    settings = hub_settings(
        given_db, host=host, port=port, nats=nats, keys=keys, max_lag=max_lag, workers=1
    )
    if not settings.nats:
        raise typer.BadParameter("give the NATS server the writer relays to", param_hint="--nats")
    if given_db:
        database(settings)  # a usage error (exit 2) when it is not a database
    serve_edge(settings, settings.db_url if given_db else None)
