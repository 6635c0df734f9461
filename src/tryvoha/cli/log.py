"""`tryvoha log check` and `tryvoha log repair`: rows of the log the hub cannot read back.

The hub refuses to start on such a row (it never skips one: every later id and the fold depend
on it). `check` lists them all; `repair` rewrites each into the nearest readable form and keeps
the original in the `event_quarantine` table. Run both with the hub stopped.
"""

from __future__ import annotations

import shlex
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from tryvoha.cli.common import DbOption, JsonOption, hub_settings, open_store
from tryvoha.store import UnreadableEvent, repair

app = typer.Typer(
    help="Check the log for rows the hub cannot read back, and repair them (keeping originals).",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


def refusal(problem: UnreadableEvent, db: str, command: str = "tryvoha") -> str:
    """The one line a hub (or a command that writes its log) prints when it will not start on an
    unreadable row."""
    where = shlex.quote(db)
    return (
        f"{command} will not start: the log holds a row it cannot read ({problem}); nothing was "
        f"skipped or changed. 'tryvoha log check --db {where}' lists every such row, "
        f"'tryvoha log repair --db {where}' rewrites them and keeps the originals."
    )


@app.command()
def check(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List every row of the log that cannot be read back (exit code 1 if there is any).

    Example: tryvoha log check
    """
    settings = hub_settings(db)
    store = open_store(settings)
    try:
        with err.status("Reading every row of the log…"):
            found = repair.unreadable(store.engine)
    finally:
        store.close()
    if as_json:
        rows = [{"event_id": p.event_id, "column": p.column, "reason": p.reason} for p in found]
        typer.echo(orjson.dumps(rows).decode())
    else:
        for problem in found:
            console.print(escape(str(problem)), soft_wrap=True)
        if found:
            count = len({p.event_id for p in found})
            console.print(
                f"{count} unreadable rows; 'tryvoha log repair --db {shlex.quote(settings.db)}' "
                "rewrites them and keeps the originals.",
                soft_wrap=True,
            )
        else:
            console.print("Every row of the log reads back.")
    if found:
        raise typer.Exit(1)


@app.command("repair")
def repair_command(
    db: DbOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would change; write nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Rewrite every unreadable row into the nearest readable form, keeping the original.

    Times that cannot be read become the row's recorded time, unknown details are dropped,
    forbidden characters are removed; a declaration of unknown threat or status becomes a test
    alert. Each original goes to the table event_quarantine with what was wrong and what changed.
    Nothing is deleted, and nothing is written unless every row can be repaired.

    Example: tryvoha log repair --dry-run
    """
    store = open_store(hub_settings(db), writer=None if dry_run else "tryvoha log repair")
    try:
        with err.status("Reading every row of the log…"):
            repairs = repair.repair(store.engine, dry_run=dry_run)
    finally:
        store.close()
    failed = [r for r in repairs if r.event is None]
    if as_json:
        doc = [
            {"event_id": r.event_id, "problem": r.problem, "changes": r.changes} for r in repairs
        ]
        typer.echo(orjson.dumps(doc).decode())
    else:
        for fix in repairs:
            console.print(f"[bold]{escape(fix.problem)}[/]", soft_wrap=True)
            for change in fix.changes:
                console.print(f"  {escape(change)}", soft_wrap=True)
        if not repairs:
            console.print("Every row of the log reads back; nothing to repair.")
        elif failed:
            err.print("[red]Nothing was changed: a row cannot be repaired automatically.[/]")
        elif dry_run:
            console.print(f"{len(repairs)} rows would be rewritten (dry run: nothing written).")
        else:
            console.print(
                f"{len(repairs)} rows rewritten; their originals are in table event_quarantine."
            )
    if failed:
        raise typer.Exit(1)
