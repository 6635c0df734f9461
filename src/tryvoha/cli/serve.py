"""`tryvoha serve`: the hub's flags read into `Settings`, then `tryvoha.serve` runs it."""

from __future__ import annotations

from typing import Annotated

import typer

from tryvoha.cli.common import database, err, hub_settings, nats_option, prepare_database


def serve(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            show_default=False,
            help="Where the log is kept: a SQLite file (made on first start) or a URL "
            "(postgresql://host/name) [TRYVOHA_DB]. Default: tryvoha.db in ~/.local/share/tryvoha/ "
            "(or in $XDG_DATA_HOME/tryvoha/), where every other command looks for it too.",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on [TRYVOHA_HOST; 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on [TRYVOHA_PORT; 8080]."),
    ] = None,
    history: Annotated[
        bool | None,
        typer.Option(
            "--history/--no-history",
            help="On first start, load the real alert record since 2022 into an empty log "
            "[TRYVOHA_LOAD_HISTORY; on].",
            show_default=False,
        ),
    ] = None,
    read_token: Annotated[
        bool | None,
        typer.Option(
            "--read-token-required",
            help="Require a token for public reads too [TRYVOHA_READ_TOKEN_REQUIRED].",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Processes serving live streams; one holds at most ~19,000 [TRYVOHA_WORKERS; 1].",
        ),
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            help="Publish statuses and events to this MQTT broker, e.g. mqtt://127.0.0.1:1883 "
            "[TRYVOHA_MQTT].",
        ),
    ] = None,
    nats: Annotated[
        str | None,
        typer.Option(
            "--nats",
            callback=nats_option,
            help="Publish the log to this NATS server's JetStream for edge nodes (tryvoha edge), "
            "e.g. nats://127.0.0.1:4222; several comma-separated [TRYVOHA_NATS]. NATS down never "
            "stops a commit: the relay catches up. See docs/cluster.md.",
        ),
    ] = None,
    keys: Annotated[
        str | None,
        typer.Option(
            "--keys",
            help="Signing key directory (made on first start, owner-only) [TRYVOHA_KEYS]; "
            "default: beside the SQLite file (tryvoha.keys beside tryvoha.db).",
        ),
    ] = None,
    hub_id: Annotated[
        str | None,
        typer.Option(
            "--hub-id",
            help="This hub's name in signatures and CAP, e.g. alerts.example.gov.ua "
            "[TRYVOHA_HUB_ID; a random one made on first start].",
        ),
    ] = None,
    cap_key: Annotated[
        str | None, typer.Option("--cap-key", help="PEM key that signs CAP [TRYVOHA_CAP_KEY].")
    ] = None,
    cap_cert: Annotated[
        str | None,
        typer.Option("--cap-cert", help="PEM certificate of it [TRYVOHA_CAP_CERT]."),
    ] = None,
    standby: Annotated[
        bool,
        typer.Option(
            "--standby",
            help="Wait as a standby writer on a PostgreSQL --db: serve reads, answer operator "
            "writes 503 not_the_writer (with Retry-After) until the active writer dies, then "
            "take over within seconds. Run one beside the writer; see docs/standby.md.",
        ),
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="The hub's address as the world sees it, for links in CAP feeds "
            "[TRYVOHA_PUBLIC_URL].",
        ),
    ] = None,
) -> None:
    """Run the hub: API, streams and the alarm map.

    Every flag can also be set by the environment variable named beside it; a flag wins over
    the variable. docs/configuration.md lists every variable with its range.

    Example: tryvoha serve --port 8080 --db postgresql://127.0.0.1/tryvoha
    """
    from tryvoha.serve import serve as run

    settings = hub_settings(
        db,
        host=host,
        port=port,
        load_history=history,
        read_token_required=read_token,
        workers=workers,
        mqtt=mqtt,
        nats=nats,
        keys=keys,
        hub_id=hub_id,
        cap_key=cap_key,
        cap_cert=cap_cert,
        public_url=public_url,
    )
    if standby and database(settings).backend == "sqlite":
        from tryvoha.serve import STANDBY_NEEDS_POSTGRES

        err.print(f"[red]Cannot start:[/] {STANDBY_NEEDS_POSTGRES}", soft_wrap=True)
        raise typer.Exit(2)
    prepare_database(settings)
    run(settings, standby=standby)
