"""Re-enact a past period as live events, sped up, so streams and the map show a real night.

A replay declares and ends alerts through the same path an operator uses (`Hub.submit`), at the
replay's own clock time, with the original time in the notes. It writes only into a demo log:
a fresh database, or one an earlier replay marked as demo; anything else needs `force`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End, Rejected
from tryvoha.alerts.model import Threat
from tryvoha.alerts.wire import iso
from tryvoha.history.sources import HistoryRow
from tryvoha.hub import Hub
from tryvoha.store import SqlStore

DEMO_KEY = "demo"
DEMO_VALUE = "replay"
ACTOR = Actor("replay")


class NotADemoLog(Exception):
    """The target log holds real data; replaying into it would mix a past night with today."""


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    declare: bool
    row: HistoryRow


def steps(rows: Iterable[HistoryRow], since: datetime, until: datetime) -> list[Step]:
    """Declarations and ends inside [since, until); alerts already running at `since` are
    declared first, alerts still running at `until` stay open."""
    out: list[Step] = []
    for row in rows:
        if row.started_at >= until or row.ended_at <= since:
            continue
        out.append(Step(max(row.started_at, since), True, row))
        if row.ended_at < until:
            out.append(Step(row.ended_at, False, row))
    # Ends before declarations at the same instant: a place can end and start again.
    out.sort(key=lambda s: (s.at, s.declare, s.row.line))
    return out


def claim_demo_log(store: SqlStore, force: bool = False) -> None:
    """Mark the log as a demo; refuse a log with real events unless forced."""
    if store.get_meta(DEMO_KEY) == DEMO_VALUE:
        return
    if store.last_event_id > 0 and not force:
        raise NotADemoLog(
            f"the log at {store.url.render_as_string(hide_password=True)} already holds "
            f"{store.last_event_id} events and is not a demo log; replay into a fresh database "
            "(the default) or pass --force"
        )
    store.set_meta(DEMO_KEY, DEMO_VALUE)


@dataclass(frozen=True, slots=True)
class ReplayClock:
    """What a demo hub's map needs to show a replay as one: the period, the speed, and the wall
    time the replay began, from which it tells the replayed time of any moment."""

    since: datetime
    until: datetime
    speed: float
    began: datetime

    def replayed(self, wall: datetime) -> datetime:
        """The replayed time at wall-clock `wall`, within the period."""
        played = (wall - self.began) * self.speed
        return min(max(self.since + played, self.since), self.until)

    def doc(self) -> dict[str, object]:
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "speed": self.speed,
            "began": iso(self.began),
        }


@dataclass(slots=True)
class ReplayReport:
    declared: int = 0
    ended: int = 0
    skipped: int = 0


async def replay(
    hub: Hub,
    plan: list[Step],
    since: datetime,
    speed: float,
    on_step: Callable[[Step, int], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayReport:
    """Submit each step when its (sped-up) time comes; `speed` 60 plays an hour in a minute."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    report = ReplayReport()
    started = clock()
    for k, step in enumerate(plan, 1):
        wait = (step.at - since).total_seconds() / speed - (clock() - started)
        if wait > 0:
            await sleep(wait)
        row = step.row
        note = f"replay of {row.started_at.isoformat()}–{row.ended_at.isoformat()}"
        command = (
            Declare(region_id=row.region_id, threat=Threat.AIR_RAID, notes=note)
            if step.declare
            else End(AlertRef(region_id=row.region_id, threat=Threat.AIR_RAID))
        )
        try:
            await hub.submit(command, ACTOR)
        except Rejected:
            report.skipped += 1
            continue
        if step.declare:
            report.declared += 1
        else:
            report.ended += 1
        if on_step is not None:
            on_step(step, k)
    return report
