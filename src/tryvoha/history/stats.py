"""The statistics people ask of the alert record, as functions of (engine, scope).

Definitions (docs/history.md has them in words):
- an alert *counts* for a period when it starts inside it; hours under alert are the union of all
  selected alerts' intervals clipped to the period, so overlapping alerts of a region's
  descendants are counted once; an open alert runs until `now`;
- night is 22:00–06:00 Europe/Kyiv (DST handled); a night is named by its evening's date;
- durations are whole alert lengths (not clipped) of the alerts that count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.history import kyiv
from tryvoha.history.engine import StatsEngine
from tryvoha.regions import Level
from tryvoha.store.timeutil import from_us, to_us

PERMANENT_US = 7 * 86_400 * 1_000_000
"""An alert open this long is a permanent one (occupied territory), not a raid: it is left out of
the nationwide count, and its oblast is not expected to join a nationwide night."""
US_PER_HOUR = 3_600_000_000


class StatsError(ValueError):
    """A query that cannot be answered (bad period, unknown region); its text says why."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Which alerts: one region (alone, with descendants and/or ancestors), a threat, a period."""

    region_id: str
    since: datetime
    until: datetime
    threat: Threat = Threat.AIR_RAID
    descendants: bool = True
    ancestors: bool = False
    now: datetime | None = None

    @property
    def since_us(self) -> int:
        return to_us(self.since)

    @property
    def until_us(self) -> int:
        return to_us(self.until)

    @property
    def now_us(self) -> int:
        return to_us(self.now or datetime.now(UTC))


def check_scope(engine: StatsEngine, scope: Scope) -> None:
    if scope.region_id not in engine.catalogue:
        raise StatsError(f"no region with id {scope.region_id!r}")
    if scope.since.tzinfo is None or scope.until.tzinfo is None:
        raise StatsError("times must carry a UTC offset, e.g. 2023-01-01T00:00Z")
    if scope.until <= scope.since:
        raise StatsError(
            f"the period is empty: 'to' ({scope.until.isoformat()}) is not after 'from' "
            f"({scope.since.isoformat()})"
        )


def within_record(
    engine: StatsEngine, since_us: int, until_us: int, now_us: int
) -> tuple[int, int]:
    """The part of [since, until) the record can touch: from its first alert's start to the later
    of its last end and now (an open alert runs until now). Nothing outside holds an alert, so
    work that grows with the period (the hour table, Kyiv day and night windows, calendar and
    nationwide rows) is done for this part only: a period of a century costs what the record
    costs. Empty (since == until) when the period misses the record."""
    first, last = engine.fetch("SELECT min(started), max(greatest(started, ended)) FROM alerts")[0]
    if first is None:
        return since_us, since_us
    lo = max(since_us, first)
    hi = min(until_us, max(last, now_us) + 1)
    return (lo, hi) if lo < hi else (since_us, since_us)


def _where(
    engine: StatsEngine, scope: Scope, started_within: bool = False
) -> tuple[str, list[Any]]:
    """SQL conditions selecting the scope's alerts that overlap the period (or, with
    `started_within`, that started in it: a plain range on the column the table is sorted by)."""
    regions = engine.regions
    region = engine.catalogue.get(scope.region_id)
    i = regions.index[region.id]
    parts: list[str] = []
    params: list[Any] = []
    if scope.descendants:
        column = {
            Level.COUNTRY: None,
            Level.OBLAST: "oblast",
            Level.RAION: "raion",
            Level.HROMADA: "region",
        }[region.level]
        if column is not None:
            parts.append(f"{column} = ?")
            params.append(i)
    else:
        parts.append("region = ?")
        params.append(i)
    if scope.ancestors:
        above = [regions.index[a.id] for a in engine.catalogue.ancestors(region.id)]
        if parts and above:
            parts = [f"({parts[0]} OR region IN ({', '.join(map(str, above))}))"]
    period = ["started >= ?"] if started_within else ["coalesce(ended, ?) > ?"]
    period_params = [scope.since_us] if started_within else [scope.now_us, scope.since_us]
    sql = " AND ".join(
        [
            "threat = CAST(? AS threat_t)",
            "status = CAST(? AS status_t)",
            "started < ?",
            *period,
            *parts,
        ]
    )
    return sql, [
        scope.threat.value,
        AlertStatus.ACTUAL.value,
        scope.until_us,
        *period_params,
        *params,
    ]


def _selected(engine: StatsEngine, scope: Scope, islands: bool = True) -> tuple[str, list[Any]]:
    """CTEs `sel` (the alerts, `e` = end or now) and `islands`: the union of their intervals,
    clipped to the period, as disjoint merged intervals (one row per episode under alert).
    `islands=False` gives `sel` alone, for queries that do not need the union (a materialised
    CTE is computed even when unused)."""
    where, params = _where(engine, scope)
    sel = f"""
    sel AS (
        SELECT id, region, started, ended, coalesce(ended, ?) AS e FROM alerts WHERE {where}
    )"""
    if not islands:
        return sel, [scope.now_us, *params]
    sql = (
        sel
        + """,
    clipped AS (SELECT greatest(started, ?) AS s, least(e, ?) AS e FROM sel),
    starts AS (
        SELECT s, e, s > coalesce(
            max(e) OVER (ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), -1
        ) AS fresh
        FROM clipped
    ),
    numbered AS (
        SELECT s, e, sum(fresh::INTEGER) OVER (ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
        FROM starts
    ),
    islands AS MATERIALIZED (
        SELECT min(s) AS s, max(e) AS e, true AS fresh FROM numbered GROUP BY island
    )
    """
    )
    return sql, [scope.now_us, *params, scope.since_us, scope.until_us]


@dataclass(slots=True)
class Summary:
    region_id: str
    threat: str
    since: str
    until: str
    descendants: bool
    ancestors: bool
    alerts: int
    night_alerts: int
    night_alert_share: float | None
    hours: float
    night_hours: float
    night_hour_share: float | None
    nights_with_alert: int
    nights_in_period: int
    days_with_alert: int
    episodes: int
    duration_minutes: dict[str, float | None] = field(default_factory=dict)
    start_hours: list[int] = field(default_factory=list)
    log_id: int = 0

    def doc(self) -> dict[str, Any]:
        return asdict(self)


def summary(engine: StatsEngine, scope: Scope) -> Summary:
    """Counts, hours, night shares, duration figures and start hours of one scope."""
    check_scope(engine, scope)
    lo, hi = within_record(engine, scope.since_us, scope.until_us, scope.now_us)
    engine.ensure_hours(lo, hi)
    nights = kyiv.windows("night", lo, hi)
    days = kyiv.windows("day", lo, hi)
    ctes, params = _selected(engine, scope)
    sel_only, sel_params = _selected(engine, scope, islands=False)
    with engine.snapshot():
        count, med, p90, longest_us, by_hour = engine.fetch(
            f"""WITH {sel_only},
            counted AS (SELECT started, e - started AS d FROM sel WHERE started >= ?),
            per_hour AS (
                SELECT h.local_hour AS hour, count(*) AS n FROM counted
                JOIN hours h ON h.h = counted.started // {kyiv.HOUR_US} GROUP BY 1
            )
            SELECT count(*), median(d), quantile_cont(d, 0.9), max(d),
                   (SELECT list({{'hour': hour, 'n': n}}) FROM per_hour)
            FROM counted""",
            [*sel_params, scope.since_us],
        )[0]
        union = engine.fetch(
            f"""WITH {ctes}
            SELECT (SELECT coalesce(sum(e - s), 0) FROM islands),
                   (SELECT count(*) FILTER (WHERE fresh) FROM islands),
                   (SELECT [coalesce(sum(least(e, we) - greatest(s, ws)), 0), count(DISTINCT day)]
                      FROM islands JOIN n ON s < we AND e > ws),
                   (SELECT count(DISTINCT d.day) FROM islands JOIN d ON s < we AND e > ws)""",
            params,
            n=nights,
            d=days,
        )[0]
    total_us, episodes, (night_us, nights_alerted), days_alerted = union
    total_us, episodes, night_us = int(total_us), int(episodes), int(night_us)
    start_hours = [0] * 24
    for item in by_hour or []:
        start_hours[int(item["hour"])] = int(item["n"])
    night_count = sum(n for h, n in enumerate(start_hours) if kyiv.is_night_hour(h))
    med, p90, longest_us = (None if v is None else float(v) for v in (med, p90, longest_us))
    return Summary(
        region_id=scope.region_id,
        threat=scope.threat.value,
        since=scope.since.isoformat(),
        until=scope.until.isoformat(),
        descendants=scope.descendants,
        ancestors=scope.ancestors,
        alerts=int(count),
        night_alerts=int(night_count),
        night_alert_share=None if not count else night_count / count,
        hours=total_us / US_PER_HOUR,
        night_hours=night_us / US_PER_HOUR,
        night_hour_share=None if not total_us else night_us / total_us,
        nights_with_alert=nights_alerted,
        nights_in_period=kyiv.count_windows("night", scope.since_us, scope.until_us),
        days_with_alert=days_alerted,
        episodes=episodes,
        duration_minutes={
            "median": None if med is None else med / 60e6,
            "p90": None if p90 is None else p90 / 60e6,
            "max": None if longest_us is None else longest_us / 60e6,
        },
        start_hours=start_hours,
        log_id=engine.log_id,
    )


def longest(engine: StatsEngine, scope: Scope, limit: int = 10) -> list[dict[str, Any]]:
    """The longest alerts that count for the scope (open ones measured until now)."""
    check_scope(engine, scope)
    where, params = _where(engine, scope, started_within=True)
    rows = engine.fetch(
        f"""SELECT id, region, started, ended, coalesce(ended, ?) - started AS d FROM alerts
            WHERE {where} ORDER BY d DESC, id LIMIT ?""",
        [scope.now_us, *params, limit],
    )
    out = []
    for alert_id, region, started, ended, d in rows:
        region_id = engine.regions.ids[region]
        out.append(
            {
                "alert_id": alert_id,
                "region_id": region_id,
                "region_name_en": engine.catalogue.get(region_id).name_en,
                "started_at": from_us(started).isoformat(),
                "ended_at": None if ended is None else from_us(ended).isoformat(),
                "open": ended is None,
                "hours": d / US_PER_HOUR,
            }
        )
    return out


def calendar(engine: StatsEngine, scope: Scope) -> list[dict[str, Any]]:
    """Per Kyiv calendar day: alerts that started and hours under alert (the heat map's data),
    for the days of the period within the record (`within_record`): none before its first alert
    or after now."""
    check_scope(engine, scope)
    lo, hi = within_record(engine, scope.since_us, scope.until_us, scope.now_us)
    if lo == hi:
        return []
    engine.ensure_hours(lo, hi)
    days = kyiv.windows("day", lo, hi)
    ctes, params = _selected(engine, scope)
    with engine.snapshot():
        cover = engine.fetch(
            f"""WITH {ctes}
            SELECT w.day, coalesce(sum(CASE WHEN s IS NULL THEN 0
                                       ELSE least(e, we) - greatest(s, ws) END), 0) AS us
            FROM days_w w LEFT JOIN islands ON s < we AND e > ws GROUP BY w.day ORDER BY w.day""",
            params,
            days_w=days,
        )
        sel_only, sel_params = _selected(engine, scope, islands=False)
        starts = dict(
            engine.fetch(
                f"""WITH {sel_only} SELECT h.local_day, count(*) FROM sel
                JOIN hours h ON h.h = sel.started // {kyiv.HOUR_US}
                WHERE sel.started >= ? GROUP BY 1""",
                [*sel_params, scope.since_us],
            )
        )
    return [
        {
            "date": kyiv.day_of(day).isoformat(),
            "alerts": int(starts.get(day, 0)),
            "hours": us / US_PER_HOUR,
        }
        for day, us in cover
    ]


def nationwide(
    engine: StatsEngine,
    since: datetime,
    until: datetime,
    threat: Threat = Threat.AIR_RAID,
    kind: str = "night",
    whole_oblast: bool = True,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Per Kyiv day or night: the most oblasts under alert at one moment, and whether that was
    every oblast in service (oblasts that ever had an ordinary alert, minus those under a
    permanent alert then).

    `whole_oblast`: count an oblast when the oblast itself is under alert (the map shows it
    all red); otherwise when any part of it is.
    """
    if until <= since:
        raise StatsError("the period is empty: 'to' is not after 'from'")
    if kind not in ("day", "night"):
        raise StatsError(f"kind must be 'day' or 'night', not {kind!r}")
    s_us, u_us, n_us = to_us(since), to_us(until), to_us(now or datetime.now(UTC))
    s_us, u_us = within_record(engine, s_us, u_us, n_us)  # rows only where the record is
    if s_us == u_us:
        return []
    w = kyiv.windows(kind, s_us, u_us)
    level = "AND level = 1" if whole_oblast else "AND level >= 1"
    base = "threat = CAST(? AS threat_t) AND status = 'actual' AND oblast >= 0"
    params = [n_us, threat.value, u_us, n_us, s_us, n_us, PERMANENT_US]
    with engine.snapshot():
        pieces = engine.fetch(
            f"""
            WITH ob AS (
                SELECT oblast, started AS s, coalesce(ended, ?) AS e FROM alerts
                WHERE {base} {level} AND started < ? AND coalesce(ended, ?) > ?
                  AND coalesce(ended, ?) - started < ?
            ),
            prev AS (
                SELECT oblast, s, e, max(e) OVER (PARTITION BY oblast ORDER BY s, e
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pe
                FROM ob
            ),
            islands AS (
                SELECT greatest(s, coalesce(pe, s)) AS s, e FROM prev WHERE pe IS NULL OR e > pe
            )
            SELECT w.day, greatest(s, ws) AS s, least(e, we) AS e
            FROM islands JOIN win w ON s < we AND e > ws
            """,
            params,
            numpy=True,
            win=w,
        )
        needed = engine.fetch(
            f"""
            WITH service AS (
                SELECT DISTINCT oblast FROM alerts
                WHERE {base} AND level >= 1 AND coalesce(ended, ?) - started < ?
            ),
            perm AS (
                SELECT w.day, count(DISTINCT a.oblast) AS n FROM alerts a JOIN win w
                  ON a.started <= w.ws AND coalesce(a.ended, ?) >= w.we
                WHERE a.threat = CAST(? AS threat_t) AND a.status = 'actual' AND a.level = 1
                  AND coalesce(a.ended, ?) - a.started >= ?
                  AND a.oblast IN (SELECT oblast FROM service)
                GROUP BY w.day
            )
            SELECT w.day, (SELECT count(*) FROM service) - coalesce(perm.n, 0)
            FROM win w LEFT JOIN perm USING (day) ORDER BY w.day
            """,
            [threat.value, n_us, PERMANENT_US, n_us, threat.value, n_us, PERMANENT_US],
            win=w,
        )
    peaks = _peaks(pieces["day"], pieces["s"], pieces["e"])
    out = []
    for day, in_service in needed:
        n, at = peaks.get(int(day), (0, None))
        out.append(
            {
                kind: kyiv.day_of(day).isoformat(),
                "max_oblasts": n,
                "at": None if at is None else from_us(at).isoformat(),
                "oblasts_in_service": int(in_service),
                "nationwide": in_service > 0 and n >= in_service,
            }
        )
    return out


def _peaks(day: np.ndarray, s: np.ndarray, e: np.ndarray) -> dict[int, tuple[int, int]]:
    """Per window, the most pieces open at one instant and the first instant it is reached.

    Pieces are disjoint within an oblast and clipped to their window, so a sweep over all
    windows at once (ends before starts at equal times) restarts at zero in each window."""
    if len(day) == 0:
        return {}
    days = np.concatenate([day, day]).astype(np.int64)
    times = np.concatenate([s, e]).astype(np.int64)
    delta = np.concatenate([np.ones(len(s), np.int64), -np.ones(len(e), np.int64)])
    order = np.lexsort((delta, times, days))
    days, times, level = days[order], times[order], np.cumsum(delta[order])
    bounds = np.flatnonzero(np.diff(days)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(days)]))
    out = {}
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        k = lo + int(np.argmax(level[lo:hi]))
        out[int(days[lo])] = (int(level[k]), int(times[k]))
    return out
