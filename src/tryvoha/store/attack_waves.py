"""The alert record beside the attacks ledger: SQL over the statistics engine's copy of the
alerts projection (DuckDB, see `tryvoha.history.engine`), so waves and alert hours come from the
same columns, enums and Kyiv-hour table as every other statistic.

Only actual air-raid alerts count, never exercises or tests; alerts open for a week or more are
the permanent alerts of occupied territory, not raids, and are left out (as in the nationwide
statistic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tryvoha.history.engine import StatsEngine

PERMANENT_US = 7 * 86_400 * 1_000_000
_BASE = (
    "threat = 'air_raid' AND status = 'actual' AND oblast >= 0 AND level >= 1 "
    "AND coalesce(ended, ?) - started < ?"
)


def alerts_around(
    engine: StatsEngine, since_us: int, until_us: int, now_us: int
) -> dict[str, np.ndarray]:
    """Every alert active at some moment of (since, until): id, region, oblast, level (1 oblast,
    2 raion, 3 hromada), started, ended (an open alert runs until now), oldest first."""
    found: dict[str, np.ndarray] = engine.fetch(
        f"""SELECT id, region, oblast, level, started, coalesce(ended, ?) AS ended FROM alerts
        WHERE {_BASE} AND started < ? AND coalesce(ended, ?) > ?
        ORDER BY started, id""",
        [now_us, now_us, PERMANENT_US, until_us, now_us, since_us],
        numpy=True,
    )
    return found


def oblast_pieces(
    engine: StatsEngine, since_us: int, until_us: int, now_us: int
) -> dict[str, np.ndarray]:
    """Each oblast's time under alert in (since, until) as disjoint pieces (`oblast`, `s`, `e`):
    its alerts of every level merged, so time covered by several counts once."""
    found: dict[str, np.ndarray] = engine.fetch(
        f"""
        WITH ob AS (
            SELECT oblast, started AS s, coalesce(ended, ?) AS e FROM alerts
            WHERE {_BASE} AND started < ? AND coalesce(ended, ?) > ?
        ),
        prev AS (
            SELECT oblast, s, e, max(e) OVER (PARTITION BY oblast ORDER BY s, e
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pe
            FROM ob
        )
        SELECT oblast, greatest(s, coalesce(pe, s)) AS s, e FROM prev WHERE pe IS NULL OR e > pe
        """,
        [now_us, now_us, PERMANENT_US, until_us, now_us, since_us],
        numpy=True,
    )
    return found
