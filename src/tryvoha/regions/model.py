"""The region types every other layer speaks in: levels, units and lookup errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """Where a unit sits in the administrative tree."""

    COUNTRY = "country"
    OBLAST = "oblast"  # the 27 oblast-level units: 24 oblasts, AR Crimea, Kyiv, Sevastopol
    RAION = "raion"
    HROMADA = "hromada"


@dataclass(frozen=True, slots=True)
class Region:
    """One administrative unit.

    `id` is the full KATOTTG code where the unit has one, else its COD-AB pcode (the pseudo-units
    Kyiv `UA8000`, Sevastopol `UA8500`, Chornobyl zone `UA3200` and their single hromadas), and
    "UA" for the country. External ids are strings for ukrainealarm (it sends "31") and ints for
    alerts.in.ua, as those services use them.
    """

    id: str
    level: Level
    parent_id: str | None
    name_uk: str
    name_en: str
    katottg: str | None
    pcode: str
    ukrainealarm_id: str | None
    alerts_in_ua_uid: int | None
    oblast_id: str | None

    @property
    def is_pseudo(self) -> bool:
        """True for the COD-AB units with no KATOTTG code (city raions, the Chornobyl zone)."""
        return self.katottg is None and self.level is not Level.COUNTRY

    def label(self, lang: str = "uk") -> str:
        """A readable name with its level word, e.g. "Харківська область" / "Kharkivska oblast"."""
        name = self.name_uk if lang == "uk" else self.name_en
        if self.level is Level.COUNTRY or self.is_pseudo:
            return name
        if self.level is Level.OBLAST and self.pcode in ("UA01", "UA80", "UA85"):
            return (
                name if self.pcode == "UA01" else ("м. " + name if lang == "uk" else name + " City")
            )
        words = {
            Level.OBLAST: ("область", "oblast"),
            Level.RAION: ("район", "raion"),
            Level.HROMADA: ("громада", "hromada"),
        }[self.level]
        return f"{name} {words[0] if lang == 'uk' else words[1]}"


class UnknownRegion(LookupError):
    """No unit has this id or name. `suggestions` holds the closest matches for names."""

    def __init__(self, message: str, suggestions: Sequence[Region] = ()) -> None:
        super().__init__(message)
        self.suggestions: tuple[Region, ...] = tuple(suggestions)

    def __str__(self) -> str:
        return str(self.args[0])


class AmbiguousRegion(LookupError):
    """A name fits several units; `candidates` lists every one so the caller can choose."""

    def __init__(self, message: str, candidates: Sequence[Region]) -> None:
        super().__init__(message)
        self.candidates: tuple[Region, ...] = tuple(candidates)

    def __str__(self) -> str:
        return str(self.args[0])
