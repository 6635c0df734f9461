"""Parameters the read routes share, with the ranges of `tryvoha.alerts.ranges` stated for the
OpenAPI document and enforced before any value reaches the store or the statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query

from tryvoha.alerts import ranges
from tryvoha.api.errors import ApiError

TIME_RULE = (
    "ISO 8601 with a UTC offset ('Z' or '+02:00'), from 2000-01-01T00:00Z up to (not including) "
    "2100-01-01T00:00Z."
)

AlertIdPath = Annotated[
    int, Path(ge=1, le=ranges.MAX_ID, description=f"An alert's id, 1 to {ranges.MAX_ID}.")
]
RegionIdPath = Annotated[
    str, Path(max_length=ranges.MAX_REGION_ID, description="Region id (at most 32 characters).")
]
RegionIdQuery = Annotated[
    str | None,
    Query(max_length=ranges.MAX_REGION_ID, description="Region id (at most 32 characters)."),
]
LogAfter = Annotated[
    int,
    Query(ge=0, le=ranges.MAX_ID, description=f"Events after this log id, 0 to {ranges.MAX_ID}."),
]
Cursor = Annotated[
    int | None,
    Query(
        ge=1,
        le=ranges.MAX_ID,
        description=f"next_cursor of the previous page (1 to {ranges.MAX_ID}).",
    ),
]


def time_query(description: str, alias: str | None = None) -> object:
    """A `Query` for a time parameter; check the value with `checked_time`."""
    return Query(alias=alias, description=f"{description} {TIME_RULE}")


def checked_time(value: datetime | None, name: str) -> datetime | None:
    """`value` within the documented range, else a 422 naming the parameter and the range."""
    if value is None:
        return None
    try:
        return ranges.check_time(value, name)
    except ranges.OutOfRange as problem:
        raise ApiError(422, problem.code, problem.message) from None
