"""`tryvoha regions`: browse the region catalogue from a terminal, as tables or JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from tryvoha.regions.catalogue import Catalogue, load_catalogue, region_dict
from tryvoha.regions.model import AmbiguousRegion, Level, Region, UnknownRegion

_EXAMPLES = """
Every oblast, raion and hromada of Ukraine: ids, names, other systems' ids, boundaries.

[bold]Examples[/bold]

  tryvoha regions                          the tree down to raions
  tryvoha regions --depth hromada --root "Kyivska oblast"
  tryvoha regions --at 50.45,30.52         which hromada/raion/oblast holds a point
  tryvoha regions search Pokrovska         every unit with that name, with its parents
  tryvoha regions search "Покровська" --within "Нікопольський район"
  tryvoha regions show 31                  by id, ukrainealarm id, KATOTTG code or name
  tryvoha regions search Kharkiv --json    machine-readable output (any command)
"""

app = typer.Typer(
    name="regions",
    help=_EXAMPLES,
    rich_markup_mode="rich",
    invoke_without_command=True,
    no_args_is_help=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
LevelOpt = Annotated[
    Level | None,
    typer.Option("--level", "-l", help="Only units of this level.", show_default=False),
]


def _console() -> Console:
    return Console()


def _emit(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _with_parents(cat: Catalogue, r: Region) -> dict[str, Any]:
    out = region_dict(r)
    out["parents"] = [a.id for a in cat.ancestors(r.id)]
    chain = [*reversed(cat.ancestors(r.id)), r][1:]  # without the country
    out["path_uk"] = [a.label("uk") for a in chain]
    out["path_en"] = [a.label("en") for a in chain]
    qualifier = cat.qualifier(r.id)
    if qualifier:
        out["qualifier"] = qualifier
    return out


def _parse_point(text: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.replace(" ", "").split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        msg = f"expected LAT,LON in degrees, e.g. 50.45,30.52; got {text!r}"
        raise typer.BadParameter(msg) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise typer.BadParameter(f"{text!r} is not a latitude,longitude pair")
    return lat, lon


def _lookup(cat: Catalogue, ref: str) -> Region:
    """An id of ours, a ukrainealarm / alerts.in.ua id, a KATOTTG code, a pcode or a name."""
    ref = ref.strip()
    if ref.isdigit():
        for getter in (cat.by_ukrainealarm_id, cat.by_alerts_in_ua_uid):
            try:
                return getter(ref)
            except UnknownRegion:
                pass
    return cat.resolve(ref)


def _fail(exc: LookupError, as_json: bool, cat: Catalogue) -> None:
    if as_json:
        others: tuple[Region, ...] = ()
        if isinstance(exc, AmbiguousRegion):
            others = exc.candidates
        elif isinstance(exc, UnknownRegion):
            others = exc.suggestions
        key = "candidates" if isinstance(exc, AmbiguousRegion) else "closest"
        _emit({"error": str(exc), key: [_with_parents(cat, r) for r in others]})
    else:
        typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


def _show_point(cat: Catalogue, lat: float, lon: float, as_json: bool) -> None:
    hromada = cat.at(lat, lon)
    chain = [hromada, *cat.ancestors(hromada.id)] if hromada else []
    by_level = {r.level: r for r in chain}
    if as_json:
        _emit(
            {
                "lat": lat,
                "lon": lon,
                "found": hromada is not None,
                **{
                    str(lv): (region_dict(by_level[lv]) if lv in by_level else None)
                    for lv in (Level.HROMADA, Level.RAION, Level.OBLAST)
                },
            }
        )
        return
    console = _console()
    if hromada is None:
        console.print(f"{lat}, {lon}: not in any region (outside Ukraine or in the sea)")
        raise typer.Exit(1)
    table = Table(title=f"{lat}, {lon}")
    for col in ("level", "id", "name (uk)", "name (en)", "ukrainealarm", "alerts.in.ua"):
        table.add_column(col, no_wrap=col == "id")
    for lv in (Level.HROMADA, Level.RAION, Level.OBLAST):
        r = by_level[lv]
        table.add_row(
            str(lv), r.id, r.label("uk"), r.label("en"), r.ukrainealarm_id or "",
            "" if r.alerts_in_ua_uid is None else str(r.alerts_in_ua_uid),
        )  # fmt: skip
    console.print(table)


_DEPTHS = {Level.COUNTRY: 0, Level.OBLAST: 1, Level.RAION: 2, Level.HROMADA: 3}


def _tree_json(cat: Catalogue, r: Region, depth: int) -> dict[str, Any]:
    node = region_dict(r)
    if _DEPTHS[r.level] < depth:
        node["children"] = [_tree_json(cat, c, depth) for c in cat.children(r.id)]
    return node


def _tree_text(r: Region) -> str:
    ids = [f"ua:{r.ukrainealarm_id}" if r.ukrainealarm_id else ""]
    ids.append(f"aiu:{r.alerts_in_ua_uid}" if r.alerts_in_ua_uid is not None else "")
    extra = " ".join(i for i in ids if i)
    return f"[bold]{r.label('uk')}[/bold] / {r.label('en')} [dim]{r.id} {extra}[/dim]"


@app.callback()
def regions(
    ctx: typer.Context,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="LAT,LON", help="Show the hromada, raion and oblast there."),
    ] = None,
    depth: Annotated[
        Level, typer.Option("--depth", "-d", help="How deep to draw the tree.")
    ] = Level.RAION,
    root: Annotated[
        str | None, typer.Option("--root", "-r", help="Draw only this unit's subtree.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw the region tree (default), or with --at say which region holds a point."""
    if ctx.invoked_subcommand is not None:
        return
    cat = load_catalogue()
    if at is not None:
        lat, lon = _parse_point(at)
        _show_point(cat, lat, lon, as_json)
        return
    try:
        top = _lookup(cat, root) if root else cat.country
    except LookupError as exc:
        _fail(exc, as_json, cat)
        return
    limit = _DEPTHS[depth]
    if as_json:
        _emit(_tree_json(cat, top, limit))
        return
    tree = Tree(_tree_text(top))
    stack = [(tree, top)]
    while stack:
        node, r = stack.pop()
        if _DEPTHS[r.level] >= limit:
            continue
        for child in cat.children(r.id):
            stack.append((node.add(_tree_text(child)), child))
    _console().print(tree)


@app.command("at")
def at_cmd(
    point: Annotated[str, typer.Argument(metavar="LAT,LON", help="e.g. 49.99,36.23")],
    as_json: JsonOpt = False,
) -> None:
    """Which hromada, raion and oblast hold a point (none outside Ukraine or in the sea)."""
    lat, lon = _parse_point(point)
    _show_point(load_catalogue(), lat, lon, as_json)


@app.command("search")
def search_cmd(
    name: Annotated[str, typer.Argument(help="A name in Ukrainian or English (any case).")],
    level: LevelOpt = None,
    within: Annotated[
        str | None, typer.Option("--within", "-w", help="Only inside this unit (id or name).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every unit a name can mean, each with its parents; the closest names if none.

    Exits with status 1 when nothing matches.
    """
    cat = load_catalogue()
    try:
        found = cat.find(name, level=level, within=within)
    except LookupError as exc:
        _fail(exc, as_json, cat)
        return
    if not found:
        close = cat.closest(name, level=level, within=within)
        if as_json:
            _emit({"query": name, "matches": [], "closest": [_with_parents(cat, r) for r in close]})
        else:
            typer.echo(f"no region named {name!r}", err=True)
            if close:
                typer.echo("closest:", err=True)
                for r in close:
                    typer.echo(f"  {cat.describe(r)}", err=True)
        raise typer.Exit(1)
    if as_json:
        _emit({"query": name, "matches": [_with_parents(cat, r) for r in found]})
        return
    table = Table(title=f"{len(found)} match{'es' if len(found) > 1 else ''} for {name!r}")
    for col in ("id", "level", "name (uk)", "name (en)", "in", "ukrainealarm", "alerts.in.ua"):
        table.add_column(col, no_wrap=col == "id")
    for r in found:
        parents = ", ".join(a.label() for a in cat.ancestors(r.id) if a.level is not Level.COUNTRY)
        qualifier = cat.qualifier(r.id)
        table.add_row(
            r.id, str(r.level), r.label("uk") + (f"\n«{qualifier}»" if qualifier else ""),
            r.label("en"), parents, r.ukrainealarm_id or "",
            "" if r.alerts_in_ua_uid is None else str(r.alerts_in_ua_uid),
        )  # fmt: skip
    _console().print(table)


@app.command("show")
def show_cmd(
    ref: Annotated[
        str, typer.Argument(help="Our id, a ukrainealarm/alerts.in.ua id, KATOTTG, pcode or name.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Everything about one unit: ids, names, parents, children, other names."""
    cat = load_catalogue()
    try:
        r = _lookup(cat, ref)
    except LookupError as exc:
        _fail(exc, as_json, cat)
        return
    info = _with_parents(cat, r)
    info["children"] = [c.id for c in cat.children(r.id)]
    info["aliases"] = list(cat.aliases(r.id))
    if as_json:
        _emit(info)
        return
    table = Table(title=cat.describe(r), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key in ("id", "level", "name_uk", "name_en", "katottg", "pcode", "ukrainealarm_id",
                "alerts_in_ua_uid", "oblast_id"):  # fmt: skip
        value = info[key]
        table.add_row(key, "" if value is None else str(value))
    table.add_row("in", " → ".join(info["path_uk"][:-1]))
    table.add_row("children", str(len(info["children"])))
    table.add_row("also known as", "; ".join(info["aliases"]))
    _console().print(table)
