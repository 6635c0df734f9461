"""The official record shipped with the package, loaded into an empty log on first start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from tryvoha.config import Settings
from tryvoha.history.importer import ImportReport, has_imported_history, import_file
from tryvoha.history.sources import OFFICIAL
from tryvoha.hub import Hub

OFFICIAL_DATA = Path(__file__).with_name("data") / "official_data_en.csv.gz"


def progress_bar(console: Console) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def import_with_progress(
    hub: Hub, dataset: str, path: Path | str, console: Console, label: str
) -> ImportReport:
    with progress_bar(console) as bar:
        task = bar.add_task(label, total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return asyncio.run(import_file(hub, dataset, path, step))


def load_bundled_history(hub: Hub, settings: Settings, console: Console) -> ImportReport | None:
    """At start-up: import the official record once, when the log has no imported history."""
    if not settings.load_history or not OFFICIAL_DATA.exists() or has_imported_history(hub):
        return None
    report = import_with_progress(
        hub, OFFICIAL, OFFICIAL_DATA, console, "Loading the official alert record 2022–2023"
    )
    console.print(
        f"Loaded {report.imported} past alerts (+{report.permanent} permanent) from the official "
        f"record; log now at event {hub.last_event_id}"
    )
    return report
