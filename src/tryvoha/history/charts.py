"""Charts of the statistics as PNG or SVG (matplotlib, Agg: no display needed on a server)."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from tryvoha.history.kyiv import KYIV

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def _render(fig: Any, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown chart format {fmt!r}; use png or svg")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=110, metadata=_metadata(fmt))
    plt.close(fig)
    return buf.getvalue()


def _metadata(fmt: str) -> dict[str, Any]:
    # No creation date: the same numbers give the same bytes (cacheable, testable).
    return {"Date": None} if fmt == "svg" else {"Software": None}


def start_hour_chart(start_hours: list[int], title: str, fmt: str = "png") -> bytes:
    """Bars of alerts by the Kyiv hour they started, night hours (22–06) shaded darker."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    colours = ["#1f3b73" if (h >= 22 or h < 6) else "#e0a030" for h in range(24)]
    ax.bar(range(24), start_hours, color=colours)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour the alert started (Kyiv time)")
    ax.set_ylabel("alerts")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return _render(fig, fmt)


def calendar_heatmap(days: list[dict[str, Any]], title: str, fmt: str = "png") -> bytes:
    """One row per year, one cell per day (weeks across, weekdays down), hours under alert."""
    parsed = [(date.fromisoformat(d["date"]), float(d["hours"])) for d in days]
    years = sorted({d.year for d, _ in parsed}) or [datetime.now(KYIV).year]
    fig, axes = plt.subplots(len(years), 1, figsize=(11, 1.9 * len(years)), squeeze=False)
    image = None
    for ax, year in zip(axes[:, 0], years, strict=True):
        grid = np.full((7, 54), np.nan)
        for d, hours in parsed:
            if d.year == year:
                week = int(d.strftime("%W"))
                grid[d.weekday(), week] = hours
        image = ax.imshow(grid, aspect="equal", cmap="Reds", vmin=0, vmax=24)
        ax.set_yticks([0, 2, 4, 6], ["Mon", "Wed", "Fri", "Sun"], fontsize=7)
        ax.set_xticks([])
        ax.set_ylabel(str(year))
    fig.suptitle(title)
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), label="hours under alert", shrink=0.8)
    return _render(fig, fmt)
