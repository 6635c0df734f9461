"""`tryvoha token`: make, list and revoke tokens (written straight to the database).

A token that may write anywhere in the country is only made when asked for by name
(`--all-regions`): a forgotten `--region` must not hand out the whole country.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tryvoha.cli.common import DbOption, JsonOption, hub_settings, open_store, resolve_region
from tryvoha.regions import Catalogue, Level, load_catalogue
from tryvoha.store import TokenInfo, TokenRole, check_token_name

CHOICES = (
    "--region REGION  a dispatcher: declare, update and end alerts in REGION and everything "
    "inside it (repeat for several regions)",
    "--read-only      a device or an app (LED map, Home Assistant, bot): read everything, "
    "write nothing",
    "--all-regions    the national operator: declare, update and end alerts anywhere in Ukraine",
)
EXAMPLES = (
    'tryvoha token create lviv-dispatch --region "Lvivska oblast"',
    "tryvoha token create kitchen-led-map --read-only",
    "tryvoha token create national-duty-officer --all-regions",
)
CHOOSE = "Say what the token may do, with exactly one of:"

app = typer.Typer(
    help="Tokens: operator tokens for dispatchers (scoped to regions), read-only keys for "
    "devices and apps. Each token names its holder (the originator in the log); only a hash is "
    "stored, so the token is shown once.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


def region_names(catalogue: Catalogue, region_id: str) -> dict[str, str]:
    """English and Ukrainian names of a region; below an oblast, with the oblast's name."""
    if region_id not in catalogue:
        return {"id": region_id, "name_en": "(not in this hub's catalogue)", "name_uk": ""}
    region = catalogue.get(region_id)
    oblast = catalogue.ancestor_at(region_id, Level.OBLAST)
    en, uk = region.label("en"), region.label("uk")
    if oblast is not None and oblast.id != region.id:
        en, uk = f"{en}, {oblast.label('en')}", f"{uk}, {oblast.label('uk')}"
    return {"id": region.id, "name_en": en, "name_uk": uk}


def region_label(catalogue: Catalogue, region_id: str) -> str:
    """E.g. "Kyivska oblast / Київська область (UA32000000000030281)"."""
    names = region_names(catalogue, region_id)
    both = " / ".join(n for n in (names["name_en"], names["name_uk"]) if n)
    return f"{both} ({region_id})"


def token_doc(catalogue: Catalogue, token: TokenInfo) -> dict[str, Any]:
    """A token for scripts: ids as stored, names beside them. `scopes` null: every region."""
    scopes = None if token.scopes is None else list(token.scopes)
    return {
        "name": token.name,
        "role": token.role.value,
        "scopes": scopes,
        "regions": None if scopes is None else [region_names(catalogue, s) for s in scopes],
        "drills_only": token.drills_only,
        "created_at": token.created_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def rights(catalogue: Catalogue, token: TokenInfo) -> list[str]:
    """What the token may do, in words, one line per region."""
    drills = " (exercise and test alerts only)" if token.drills_only else ""
    if token.read_only:
        return ["Read-only key: reads every region; may not declare, change or end alerts."]
    if token.scopes is None:
        return [
            f"National operator: may declare, update and end alerts anywhere in Ukraine{drills}"
        ]
    lines = [f"Operator: may declare, update and end alerts{drills} in"]
    lines += [f"  {region_label(catalogue, s)}" for s in token.scopes]
    if not token.scopes:
        lines[0] = "Operator for no region: may not declare, change or end any alert."
    return lines


def _refuse(message: str) -> NoReturn:
    """A usage error: said on stderr, exit code 2, nothing written."""
    err.print(f"[red]Error:[/] {message}", highlight=False, soft_wrap=True)
    err.print("See 'tryvoha token create --help'.", highlight=False)
    raise typer.Exit(2)


def _scopes(
    region: list[str] | None, all_regions: bool, read_only: bool, drills_only: bool
) -> tuple[TokenRole, list[str] | None]:
    """The role and scopes the options ask for; a usage error (exit 2) for anything unclear."""
    if read_only and region:
        _refuse("--read-only and --region do not go together: a read-only key reads every region.")
    if read_only and all_regions:
        _refuse("--read-only and --all-regions do not go together: --all-regions writes.")
    if read_only and drills_only:
        _refuse("--read-only and --drills-only do not go together: a read-only key writes nothing.")
    if all_regions and region:
        _refuse("--all-regions and --region do not go together: pick the regions or all of them.")
    if read_only:
        return TokenRole.READ_ONLY, None
    if all_regions:
        return TokenRole.OPERATOR, None
    if region:
        return TokenRole.OPERATOR, list(dict.fromkeys(resolve_region(r) for r in region))
    _refuse(
        "\n".join(
            [
                CHOOSE,
                *(f"  {c}" for c in CHOICES),
                "(A token that may write anywhere in Ukraine is only made with --all-regions.)",
            ]
        )
    )


@app.command(
    "create",
    help="\n\n".join(
        [
            f"Create a token. {CHOOSE}",
            "\n".join(f"• {c}" for c in CHOICES),
            "Examples:\n\n" + "\n".join(EXAMPLES),
            "The token alone goes to standard output, what it may do to standard error, so a "
            "script can keep it: export TRYVOHA_TOKEN=$(tryvoha token create NAME --region R)",
        ]
    ),
)
def create(
    name: Annotated[
        str,
        typer.Argument(
            help="Who holds it, e.g. 'kyiv-oblast-dispatch' (1 to 100 printable characters); "
            "events it writes name it as 'token:NAME'."
        ),
    ],
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            "-r",
            help="Region id or name this operator token may write to (with everything inside "
            "it). Repeat for several.",
        ),
    ] = None,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only",
            help="A key for devices and apps: reads everything (also with "
            "--read-token-required, and the alerts.in.ua / ukrainealarm APIs), writes nothing.",
        ),
    ] = False,
    all_regions: Annotated[
        bool,
        typer.Option(
            "--all-regions",
            help="An operator token that may write anywhere in Ukraine (the national operator).",
        ),
    ] = False,
    drills_only: Annotated[
        bool, typer.Option("--drills-only", help="Only exercise and test alerts.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token (the help text is built from CHOICES and EXAMPLES)."""
    try:
        check_token_name(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="NAME") from exc
    role, scopes = _scopes(region, all_regions, read_only, drills_only)
    store = open_store(hub_settings(db))
    try:
        if any(t.name == name for t in store.list_tokens()):
            raise typer.BadParameter(f"a token named {name!r} exists already", param_hint="NAME")
        plain, info = store.create_token(name, scopes, drills_only, role)
    finally:
        store.close()
    catalogue = load_catalogue()
    if as_json:
        doc = {"token": plain, **token_doc(catalogue, info)}
        typer.echo(orjson.dumps(doc).decode())
        return
    # The token alone on stdout: `export TRYVOHA_TOKEN=$(tryvoha token create …)` keeps it and
    # still shows the rest on the terminal.
    err.print(f"Token for [bold]{name}[/] (shown once, keep it safe):", highlight=False)
    typer.echo(plain)
    for line in rights(catalogue, info):
        err.print(line, highlight=False, soft_wrap=True)


@app.command("list")
def list_tokens(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List tokens: names, roles, regions and times in UTC (never the tokens themselves)."""
    store = open_store(hub_settings(db))
    try:
        tokens = store.list_tokens()
    finally:
        store.close()
    catalogue = load_catalogue()
    if as_json:
        typer.echo(orjson.dumps([token_doc(catalogue, t) for t in tokens]).decode())
        return
    table = Table("name")
    table.add_column("role", no_wrap=True)
    table.add_column("regions", overflow="fold", ratio=1)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("revoked (UTC)", no_wrap=True)
    for t in tokens:
        if t.read_only:
            role, regions = "read-only", "reads every region"
        else:
            role = "operator (drills)" if t.drills_only else "operator"
            if t.scopes is None:
                regions = "all of Ukraine"
            else:
                regions = "\n".join(region_label(catalogue, s) for s in t.scopes) or "none"
        table.add_row(
            t.name,
            role,
            regions,
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")], db: DbOption = None
) -> None:
    """Revoke a token at once; requests with it get 401 from then on."""
    store = open_store(hub_settings(db))
    try:
        done = store.revoke_token(name)
    finally:
        store.close()
    if not done:
        console.print(f"[red]No active token named {name!r}.[/]")
        raise typer.Exit(1)
    console.print(f"Revoked {name}.")
