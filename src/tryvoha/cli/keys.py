"""`tryvoha keys`: list, rotate and export the hub's signing keys (in its key directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tryvoha.cli.common import DbOption, err, hub_settings, require_database, shown
from tryvoha.signing.keys import KeyFileError, Keyring, device_keys_text
from tryvoha.signing.verify import fetch_key_document

app = typer.Typer(
    help="Signing keys. The hub signs every event with its active Ed25519 key; retired keys stay "
    "published so everything they signed stays verifiable.",
    no_args_is_help=True,
)
console = Console()
KeysOption = Annotated[
    str | None,
    typer.Option(
        "--keys",
        envvar="TRYVOHA_KEYS",
        help="Key directory (default: the hub's, beside its database: tryvoha.keys beside "
        "tryvoha.db).",
    ),
]


def _directory(keys: str | None, db: str | None) -> Path:
    """The hub's key directory (said on stderr): `--keys`, else the one beside its database,
    which must exist (keys beside a database no hub uses would sign for nobody)."""
    from tryvoha.signing.hub import key_directory

    settings = hub_settings(db, keys=keys)
    beside = "" if keys else f" (database {shown(require_database(settings))})"
    directory = key_directory(settings)
    err.print(f"[dim]Keys: {escape(f'{directory}{beside}')}[/]", soft_wrap=True)
    return directory


def _open(directory: Path, create: bool = False) -> Keyring:
    try:
        return Keyring.open(directory, create=create)
    except KeyFileError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


@app.command("list")
def list_keys(keys: KeysOption = None, db: DbOption = None) -> None:
    """Every key of the hub, newest first, with the window in which it signs."""
    ring = _open(_directory(keys, db))
    table = Table(title=f"hub {ring.hub_id} — {ring.directory}")
    for column in ("key id", "algorithm", "valid from", "valid until", "active"):
        table.add_column(column)
    for key in ring.published()["keys"]:
        table.add_row(
            key["key_id"],
            key["algorithm"],
            key["valid_from"],
            key["valid_until"] or "—",
            "yes" if key["active"] else "",
        )
    console.print(table)


@app.command("rotate")
def rotate(
    keys: KeysOption = None,
    db: DbOption = None,
    grace: Annotated[
        int,
        typer.Option(
            min=0,
            max=3600,
            help="Seconds the old key may still sign (a running hub switches at its next "
            "signature).",
        ),
    ] = 60,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="When the new key starts signing (ISO time with a zone); it is published at "
            "once, so devices can learn it first. Default: now.",
        ),
    ] = None,
) -> None:
    """Make a new signing key. The old key's public half stays published, so what it signed stays
    verifiable; its private half is deleted once its window is over. Devices refuse a key they do
    not know: give them the new one first (--at a date weeks ahead, then tryvoha keys export).

    Example: tryvoha keys rotate --keys /var/lib/tryvoha/tryvoha.keys --at 2027-01-01T00:00Z
    """
    from datetime import datetime, timedelta

    start = None
    if at is not None:
        try:
            start = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            start = None
        if start is None or start.tzinfo is None:
            raise typer.BadParameter("--at is an ISO time with a zone, e.g. 2027-01-01T00:00Z")

    directory = _directory(keys, db)
    if not (directory / "keys.json").exists():
        ring = _open(directory, create=True)
        console.print(f"made the first key {ring.active_id} of hub {ring.hub_id} in {directory}")
        return
    ring = _open(directory)
    old = ring.active_id
    try:
        new = ring.rotate(grace=timedelta(seconds=grace), at=start)
    except KeyFileError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"new key {new.key_id} signs from {new.valid_from.isoformat(timespec='seconds')}; "
        f"key {old} signs nothing recorded after {grace} s later"
    )


@app.command("export")
def export(
    keys: KeysOption = None,
    db: DbOption = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Fetch the keys a running hub publishes instead.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="json (as /.well-known/tryvoha-keys) or text (for the C verifier and devices).",
        ),
    ] = "json",
) -> None:
    """Print the public keys, to pin in devices or to give `tryvoha verify --keys-file`."""
    if fmt not in ("json", "text"):
        raise typer.BadParameter("--format is json or text")
    if url is not None:
        try:
            doc = fetch_key_document(url)
        except ValueError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
    else:
        doc = _open(_directory(keys, db)).published()
    if fmt == "text":
        typer.echo(device_keys_text(doc), nl=False)
    else:
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
