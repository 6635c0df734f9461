"""How long a dispatcher waits for a preview (`POST /api/v1/operator/preview`), by the size of the
area: a hromada, an oblast, five oblasts, the whole country.

The hub's app in process (no network between), an empty SQLite log. The first preview of an area
dissolves and simplifies its boundary (cold); later ones find the boundaries built. Targets (ours):
a cold preview within 1 s, a warm one within 200 ms at p99, whatever the area.

    .venv/bin/python bench/bench_preview.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Level, load_catalogue
from tryvoha.store import SqlStore


async def run(repeat: int) -> list[tuple[str, int, float, float, float]]:
    directory = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    url = f"sqlite:///{directory / 'hub.db'}"
    catalogue = load_catalogue()
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    token, _ = hub.store.create_token("bench", None)
    app = create_app(hub, Settings(db=url, load_history=False, keys=str(directory / "keys")))
    kharkiv = catalogue.resolve("Kharkivska oblast").id
    hromada = next(r.id for r in catalogue.descendants(kharkiv) if r.level is Level.HROMADA)
    areas = [
        ("one hromada", {"region_id": hromada}),
        ("one oblast", {"region_id": kharkiv}),
        ("five oblasts", {"region_ids": [o.id for o in catalogue.oblasts[:5]]}),
        ("the whole country", {"region_id": catalogue.country.id}),
    ]
    rows = []
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        for name, body in areas:
            times = []
            size = 0
            for _ in range(repeat + 1):
                started = time.perf_counter()
                answer = await client.post("/api/v1/operator/preview", json=body, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text
                size = len(answer.content)
            warm = sorted(times[1:])
            p99 = warm[min(len(warm) - 1, round(0.99 * (len(warm) - 1)))]
            rows.append((name, size, times[0], statistics.median(warm), p99))
    hub.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="warm previews per area")
    args = parser.parse_args()
    print("| area | answer bytes | cold ms | warm p50 ms | warm p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for name, size, cold, p50, p99 in asyncio.run(run(args.repeat)):
        print(f"| {name} | {size:,} | {cold:.0f} | {p50:.0f} | {p99:.0f} |")


if __name__ == "__main__":
    main()
