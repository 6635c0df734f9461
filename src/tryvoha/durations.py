"""Long spans of time as people read them: "3 y 8 mo", not "40830 h".

Two alerts have run since 2022 (Luhansk oblast, Crimea): the first thing a newcomer sees. An alert
open for `PERMANENT` or longer is a *permanent* alert (the statistics leave such alerts out of
the nationwide count for the same reason): occupied or front-line territory, never lifted.
"""

from __future__ import annotations

from datetime import timedelta

PERMANENT = timedelta(days=7)
PERMANENT_NOTE = (
    "permanent: under alert without a break for 7 days or more (occupied or front-line "
    "territory; Luhansk oblast since 2022-04-04, Crimea since 2022-12-10)"
)
DAYS_A_YEAR = 365.2425
DAYS_A_MONTH = DAYS_A_YEAR / 12


def readable(span: timedelta) -> str:
    """The two largest units that matter: "3 y 8 mo", "2 mo 5 d", "4 d 3 h", "5 h 20 min",
    "12 min"; a negative span (clocks apart) reads as 0 min."""
    seconds = max(0, int(span.total_seconds()))
    days = seconds / 86_400
    if days >= DAYS_A_YEAR:
        years = int(days // DAYS_A_YEAR)
        months = int((days - years * DAYS_A_YEAR) // DAYS_A_MONTH)
        return f"{years} y {months} mo" if months else f"{years} y"
    if days >= DAYS_A_MONTH:
        months = int(days // DAYS_A_MONTH)
        rest = int(days - months * DAYS_A_MONTH)
        return f"{months} mo {rest} d" if rest else f"{months} mo"
    if seconds >= 86_400:
        return f"{seconds // 86_400} d {seconds % 86_400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min"


def is_permanent(span: timedelta) -> bool:
    return span >= PERMANENT
