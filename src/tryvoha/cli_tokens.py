"""`tryvoha token`: make, list and revoke operator tokens (written straight to the database)."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tryvoha.config import Settings
from tryvoha.regions import AmbiguousRegion, UnknownRegion, load_catalogue
from tryvoha.store import SqlStore

app = typer.Typer(
    help="Operator tokens. Each token names its holder (the originator in the log) and the "
    "regions it may touch; only a hash is stored, so the token is shown once.",
    no_args_is_help=True,
)
console = Console()
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _store(db: str | None) -> SqlStore:
    settings = Settings() if db is None else Settings(db=db)
    return SqlStore(settings.db_url)


def resolve_region(text: str) -> str:
    """A region id, or a name resolved to exactly one region; a readable error otherwise."""
    catalogue = load_catalogue()
    if text in catalogue:
        return text
    try:
        return catalogue.resolve(text).id
    except (AmbiguousRegion, UnknownRegion) as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who holds it, e.g. 'kyiv-oblast-dispatch'.")],
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            "-r",
            help="Region id or name this token may touch (with its descendants). Repeat for "
            "several. Without it the token may touch every region.",
        ),
    ] = None,
    drills_only: Annotated[
        bool, typer.Option("--drills-only", help="Only exercise and test alerts.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token.

    Example: tryvoha token create lviv-dispatch --region "Lvivska oblast"
    """
    scopes = [resolve_region(r) for r in region] if region else None
    store = _store(db)
    try:
        if any(t.name == name for t in store.list_tokens()):
            raise typer.BadParameter(f"a token named {name!r} exists already", param_hint="NAME")
        plain, info = store.create_token(name, scopes, drills_only)
    finally:
        store.close()
    if as_json:
        doc = {"name": info.name, "token": plain, "scopes": info.scopes, "drills_only": drills_only}
        typer.echo(orjson.dumps(doc).decode())
        return
    console.print(f"Token for [bold]{name}[/] (shown once, keep it safe):")
    console.print(plain, highlight=False, soft_wrap=True)
    where = ", ".join(scopes) if scopes else "every region"
    console.print(f"May touch: {where}" + (" (exercise/test only)" if drills_only else ""))


@app.command("list")
def list_tokens(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List tokens (names and scopes; never the tokens themselves)."""
    store = _store(db)
    tokens = store.list_tokens()
    store.close()
    if as_json:
        docs = [
            {
                "name": t.name,
                "scopes": t.scopes,
                "drills_only": t.drills_only,
                "created_at": t.created_at.isoformat(),
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in tokens
        ]
        typer.echo(orjson.dumps(docs).decode())
        return
    catalogue = load_catalogue()
    table = Table("name", "regions", "drills only", "created", "revoked")
    for t in tokens:
        regions = (
            "all" if t.scopes is None else ", ".join(catalogue.get(s).name_en for s in t.scopes)
        )
        table.add_row(
            t.name,
            regions,
            "yes" if t.drills_only else "",
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")], db: DbOption = None
) -> None:
    """Revoke a token at once; requests with it get 401 from then on."""
    store = _store(db)
    done = store.revoke_token(name)
    store.close()
    if not done:
        console.print(f"[red]No active token named {name!r}.[/]")
        raise typer.Exit(1)
    console.print(f"Revoked {name}.")
