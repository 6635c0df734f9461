#!/usr/bin/env python3
"""The alarm map's speed in the test browser (Debian's Chromium, headless) against a real hub.

    .venv/bin/python bench/bench_map.py [--runs 5]

Measures, per run on a fresh page:
- interactive: navigation start → the first full paint of all 1,769 hromadas with statuses
  (the page's own `performance.now()` at the end of its first render), and → the first hover
  card shown for a hromada (the page answers input);
- burst (client): 25 declared events, one per oblast, handed to the live feed in one task →
  the frame after the repaint (two animation frames later);
- burst (end to end): 25 declarations POSTed at once → every oblast's hromadas painted red
  (includes the hub's durable commits and the stream);
- transferred bytes of the page and everything it loads (compressed, with headers).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_map_browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    hromadas_of,
    make_server,
)
from tryvoha.regions import load_catalogue  # noqa: E402

BURST_JS = """
async (oblastIds) => {
  const { state } = window.tryvohaMap;
  const base = state.logId;
  const now = new Date().toISOString();
  const events = oblastIds.map((region_id, k) => ({
    id: base + k + 1, kind: "declared", alert_id: base + k + 1, region_id, threat: "air_raid",
    details: ["ballistic_missile"], status: "actual", notes: null, occurred_at: now,
    recorded_at: now, originator: "bench", source: "live",
  }));
  const t0 = performance.now();
  for (const e of events) state.feed.accept(e);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const painted = document.querySelectorAll("path.h.a").length;
  return { ms: performance.now() - t0, render_ms: state.lastRenderMs, painted };
}
"""


def run(runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    catalogue = load_catalogue()
    oblasts = [o.id for o in catalogue.oblasts][:25]
    all_cells = [i for o in oblasts for i in hromadas_of(catalogue, o)]
    results: dict[str, list[float]] = {
        "first_paint_ms": [],
        "first_hover_ms": [],
        "burst_client_ms": [],
        "burst_render_ms": [],
        "burst_e2e_ms": [],
        "transfer_bytes": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = make_server(Path(tmp))
        server.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for _ in range(runs):
                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    page = context.new_page()
                    page.goto(server.url + "/?lang=uk")
                    page.wait_for_selector("html[data-ready='1']")
                    page.wait_for_selector("#conn[data-state='live']")
                    page.wait_for_function("window.tryvohaMap.state.firstRenderAt > 0")
                    results["first_paint_ms"].append(
                        page.evaluate("window.tryvohaMap.state.firstRenderAt")
                    )
                    box = page.locator('path.h[data-i="100"]').bounding_box()
                    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                    page.wait_for_selector("#card:not([hidden])")
                    results["first_hover_ms"].append(page.evaluate("performance.now()"))
                    page.wait_for_timeout(300)
                    transferred = page.evaluate(
                        """() => [...performance.getEntriesByType('navigation'),
                                  ...performance.getEntriesByType('resource')]
                                 .reduce((s, e) => s + (e.transferSize || 0), 0)"""
                    )
                    results["transfer_bytes"].append(transferred)
                    burst = page.evaluate(BURST_JS, oblasts)
                    assert burst["painted"] >= len(all_cells), burst
                    results["burst_client_ms"].append(burst["ms"])
                    results["burst_render_ms"].append(burst["render_ms"])
                    context.close()

                # End to end, with the real hub: 25 declarations at once.
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                page = context.new_page()
                page.goto(server.url + "/?lang=uk")
                page.wait_for_selector("#conn[data-state='live']")
                for _ in range(runs):
                    started = time.monotonic()
                    ids = post_all(server, oblasts)
                    page.wait_for_function(
                        "n => document.querySelectorAll('path.h.a').length >= n",
                        arg=len(all_cells),
                        timeout=10_000,
                    )
                    results["burst_e2e_ms"].append((time.monotonic() - started) * 1000)
                    for alert_id in ids:
                        server.end(alert_id)
                    page.wait_for_function("document.querySelectorAll('path.h.a').length === 0")
                context.close()
                browser.close()
        finally:
            server.stop()
    return results


def post_all(server, region_ids: list[str]) -> list[int]:
    async def go() -> list[int]:
        headers = {"Authorization": f"Bearer {server.token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/api/v1/alerts", json={"region_id": r, "threat": "air_raid"})
                    for r in region_ids
                )
            )
        return [a.json()["alert"]["id"] for a in answers]

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = run(args.runs)
    print(f"{'measure':<22}{'median':>10}{'max':>10}")
    for name, values in results.items():
        print(f"{name:<22}{statistics.median(values):>10.0f}{max(values):>10.0f}")


if __name__ == "__main__":
    main()
