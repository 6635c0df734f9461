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


def _render(fig: Any, fmt: str, rights: str | None = None) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown chart format {fmt!r}; use png or svg")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=110, metadata=_metadata(fmt, rights))
    plt.close(fig)
    return buf.getvalue()


def _metadata(fmt: str, rights: str | None = None) -> dict[str, Any]:
    # No creation date: the same numbers give the same bytes (cacheable, testable).
    found: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    if rights:
        found["Rights" if fmt == "svg" else "Copyright"] = rights
    return found


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


def attacks_monthly_chart(data: dict[str, Any], title: str, fmt: str = "png") -> bytes:
    """Drones and missiles launched (solid) and neutralised (hatched) per month by class group,
    beside the alert hours of the same months; the caption carries definitions and licence
    (as text in SVG, and in the file's rights metadata)."""
    with plt.rc_context({"svg.fonttype": "none"}):
        return _attacks_monthly(data, title, fmt)


def _attacks_monthly(data: dict[str, Any], title: str, fmt: str) -> bytes:
    months = data["months"]
    x = np.arange(len(months))
    fig, axes = plt.subplots(
        3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]}
    )
    colours = ["#c0392b", "#e59866", "#1f3b73", "#7d3c98", "#117a65", "#7f8c8d"]
    width = 0.4
    for ax, panel, unit in ((axes[0], "drones", "drones"), (axes[1], "missiles", "missiles")):
        below_l, below_n = np.zeros(len(months)), np.zeros(len(months))
        for colour, group in zip(colours, data["groups"], strict=True):
            if group["panel"] != panel:
                continue
            launched = np.array(group["launched"], dtype=float)
            neutral = np.array(group["neutralised"], dtype=float)
            ax.bar(
                x - width / 2,
                launched,
                width,
                bottom=below_l,
                color=colour,
                label=f"{group['label']}: launched",
            )
            ax.bar(
                x + width / 2,
                neutral,
                width,
                bottom=below_n,
                color=colour,
                alpha=0.45,
                hatch="//",
                edgecolor="white",
                linewidth=0,
                label=f"{group['label']}: neutralised",
            )
            below_l += launched
            below_n += neutral
        ax.set_ylabel(f"{unit} per month")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    hours = data["alert_oblast_hours"]
    known = np.array([h is not None for h in hours])
    partial = np.array([c == "partial" for c in data["alert_record"]])
    values = np.array([h or 0.0 for h in hours])
    axes[2].bar(x[known & ~partial], values[known & ~partial], 0.8, color="#e5484d")
    axes[2].bar(
        x[partial],
        values[partial],
        0.8,
        color="#e5484d",
        alpha=0.4,
        hatch="..",
        label="month only partly in the alert record",
    )
    if partial.any():
        axes[2].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    for i in np.flatnonzero(~known):
        axes[2].axvspan(i - 0.5, i + 0.5, color="#dddddd", linewidth=0)
    if (~known).any():
        axes[2].text(
            0.99,
            0.9,
            "grey: no alert record",
            transform=axes[2].transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="#555555",
        )
    axes[2].set_ylabel("oblast-hours\nunder alert")
    axes[2].spines[["top", "right"]].set_visible(False)
    step = max(1, len(months) // 24)
    axes[2].set_xticks(
        x[::step], [months[i] for i in range(0, len(months), step)], rotation=90, fontsize=7
    )
    fig.suptitle(title)
    fig.text(0.01, 0.005, data["caption"], fontsize=6.5, wrap=True, ha="left", va="bottom")
    fig.subplots_adjust(bottom=0.16, hspace=0.12, right=0.78)
    return _render(fig, fmt, data.get("rights"))
