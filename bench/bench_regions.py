#!/usr/bin/env python3
"""Benchmark the region catalogue: load time, memory, bulk and single point lookup, names.

    .venv/bin/python bench/bench_regions.py            # 1,000,000 points
    .venv/bin/python bench/bench_regions.py --points 200000 --json

Load and memory are measured in a fresh interpreter each, so imports and caches of this
process do not flatter them. Points are uniform over Ukraine's territory (rejection-sampled
against the country polygon, which excludes sea and holes), with a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import shapely

_COLD = r"""
import json, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import numpy, shapely  # the dependencies every user of the catalogue already pays for
base = rss()
t0 = time.perf_counter()
from tryvoha.regions import load_catalogue
cat = load_catalogue()
t1 = time.perf_counter()
cat.at(50.45, 30.52)
t2 = time.perf_counter()
cat.load_geometry(prepare=True)
for r in cat:
    cat.boundary(r.id)
rng = numpy.random.default_rng(0)
cat.at_many(rng.uniform(44.3, 52.4, 200_000), rng.uniform(22.1, 40.3, 200_000))
print(json.dumps({"load_s": t1 - t0, "first_point_s": t2 - t1, "base_mb": base, "rss_mb": rss()}))
"""


def _cold(runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _COLD], capture_output=True, text=True, check=True
        )
        results.append(json.loads(out.stdout))
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def _points_inside(cat, n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    country = cat.boundary("UA")
    shapely.prepare(country)
    x0, y0, x1, y1 = country.bounds
    rng = np.random.default_rng(seed)
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    have = 0
    while have < n:
        x, y = rng.uniform(x0, x1, 2 * n), rng.uniform(y0, y1, 2 * n)
        keep = shapely.contains_xy(country, x, y)
        lons.append(x[keep])
        lats.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(lats)[:n], np.concatenate(lons)[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=100_000, help="points for the 1-by-1 loop")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    cold = _cold(args.runs)
    from tryvoha.regions import load_catalogue

    cat = load_catalogue()
    lats, lons = _points_inside(cat, args.points)

    t = time.perf_counter()
    first = cat.at_many(lats, lons)  # the first call also prepares the polygons it touches
    first_s = time.perf_counter() - t
    bulk = []
    for _ in range(args.runs):
        t = time.perf_counter()
        again = cat.at_many(lats, lons)
        bulk.append(time.perf_counter() - t)
    assert np.array_equal(first, again) and (again >= 0).mean() > 0.999
    t = time.perf_counter()
    cat.at_many(lats, lons, level="oblast")
    oblast_s = time.perf_counter() - t

    at = cat.at
    la, lo = lats[: args.single].tolist(), lons[: args.single].tolist()
    per = []
    for lat, lon in zip(la, lo, strict=True):
        t = time.perf_counter_ns()
        at(lat, lon)
        per.append(time.perf_counter_ns() - t)
    per_us = np.array(per) / 1000

    names = [r.name_en for r in cat][:2000]
    t = time.perf_counter()
    for n in names:
        cat.find(n)
    find_us = (time.perf_counter() - t) / len(names) * 1e6

    rows = {
        "catalogue load (cold process, names + ids)": f"{cold['load_s'] * 1000:.0f} ms",
        "first point query (reads boundaries + index)": f"{cold['first_point_s'] * 1000:.0f} ms",
        "load total (names + boundaries + index)": (
            f"{(cold['load_s'] + cold['first_point_s']) * 1000:.0f} ms"
        ),
        "memory, process RSS with everything loaded": f"{cold['rss_mb']:.0f} MB",
        "memory, of which catalogue (over numpy+shapely)": (
            f"{cold['rss_mb'] - cold['base_mb']:.0f} MB"
        ),
        f"bulk {args.points:,} points, first call": (
            f"{first_s:.3f} s = {args.points / first_s:,.0f} points/s"
        ),
        f"bulk {args.points:,} points, median of {args.runs}": (
            f"{statistics.median(bulk):.3f} s = "
            f"{args.points / statistics.median(bulk):,.0f} points/s"
        ),
        f"bulk {args.points:,} points → oblast": (
            f"{oblast_s:.3f} s = {args.points / oblast_s:,.0f} points/s"
        ),
        "single point cat.at(), mean": f"{per_us.mean():.2f} µs",
        "single point cat.at(), p50 / p99 / max": (
            f"{np.percentile(per_us, 50):.2f} / {np.percentile(per_us, 99):.2f} / "
            f"{per_us.max():.0f} µs"
        ),
        "name lookup cat.find(), mean": f"{find_us:.1f} µs",
    }
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tryvoha.regions benchmark")
    table.add_column("measure")
    table.add_column("result", justify="right")
    for k, v in rows.items():
        table.add_row(k, v)
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
