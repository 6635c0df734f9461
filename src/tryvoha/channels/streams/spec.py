"""What a subscriber asked for: regions, threats, drills and where to resume from.

Parsed once from the query string (and `Last-Event-ID`), so bad input becomes a 400 naming the
problem before any stream starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from tryvoha.alerts.model import AlertStatus, Event, Threat
from tryvoha.alerts.ranges import MAX_ID
from tryvoha.regions import Catalogue

ACTUAL_ONLY = frozenset({AlertStatus.ACTUAL})
WITH_DRILLS = frozenset(AlertStatus)
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class SpecError(ValueError):
    """A subscription request that cannot be served: answered with 400 and this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A filter plus a resume point. `regions`/`threats` of `None` mean everything."""

    regions: frozenset[str] | None = None
    threats: frozenset[Threat] | None = None
    drills: bool = False
    since: int | None = None

    @property
    def statuses(self) -> frozenset[AlertStatus]:
        return WITH_DRILLS if self.drills else ACTUAL_ONLY

    @property
    def key(self) -> tuple:
        """Subscribers with equal keys see exactly the same frames: work is shared per key."""
        regions = None if self.regions is None else tuple(sorted(self.regions))
        threats = None if self.threats is None else tuple(sorted(self.threats))
        return (regions, threats, self.drills)

    def to_query(self) -> dict[str, str]:
        query: dict[str, str] = {}
        if self.regions is not None:
            query["regions"] = ",".join(sorted(self.regions))
        if self.threats is not None:
            query["threats"] = ",".join(sorted(t.value for t in self.threats))
        if self.drills:
            query["drills"] = "true"
        if self.since is not None:
            query["since"] = str(self.since)
        return query


def _ids(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _resume_id(value: str, name: str) -> int:
    """An event id as a query or header spells it: ASCII digits, 0 to `MAX_ID` (`int()` alone
    would also take `5_000`, `+5` and other scripts' digits)."""
    text = value.strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        message = f"{name} must be an event id (an integer), not {value[:40]!r}"
        raise SpecError("invalid_since", message)
    if digits != text:
        message = f"{name} must be 0 or a positive event id, not {text[:24]}"
        raise SpecError("invalid_since", message)
    if len(digits.lstrip("0")) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        message = f"{name} must be an event id from 0 to {MAX_ID}, not {text[:24]}"
        raise SpecError("invalid_since", message)
    return int(digits)


def parse_spec(
    query: str | dict[str, str], catalogue: Catalogue, last_event_id: str | None = None
) -> StreamSpec:
    """Build a spec from `regions`, `threats`, `drills`, `since` (and the `Last-Event-ID` header).

    `since` wins over `Last-Event-ID` when both are given: it is the explicit choice.
    """
    if isinstance(query, str):
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    else:
        params = dict(query)
    regions: frozenset[str] | None = None
    raw_regions = params.get("regions", "").strip()
    if raw_regions and raw_regions != "*":
        ids = _ids(raw_regions)
        if not ids:
            message = "regions names no region: give region ids separated by commas, or '*'"
            raise SpecError("empty_regions", message)
        unknown = [r for r in ids if r not in catalogue]
        if unknown:
            raise SpecError("unknown_region", f"no region with id {', '.join(map(repr, unknown))}")
        regions = frozenset(ids)
    threats: frozenset[Threat] | None = None
    raw_threats = params.get("threats", "").strip()
    if raw_threats and raw_threats != "*":
        if not _ids(raw_threats):
            message = "threats names no threat: give threats separated by commas, or '*'"
            raise SpecError("empty_threats", message)
        chosen = set()
        for name in _ids(raw_threats):
            try:
                chosen.add(Threat(name))
            except ValueError:
                known = ", ".join(t.value for t in Threat)
                message = f"unknown threat {name!r}; known: {known}"
                raise SpecError("unknown_threat", message) from None
        threats = frozenset(chosen)
    raw_drills = params.get("drills", "false").strip().lower()
    if raw_drills not in TRUE | FALSE:
        raise SpecError("invalid_drills", f"drills must be true or false, not {raw_drills!r}")
    since = None
    if params.get("since") not in (None, ""):
        since = _resume_id(params["since"], "since")
    elif last_event_id not in (None, ""):
        since = _resume_id(last_event_id, "Last-Event-ID")
    return StreamSpec(regions, threats, raw_drills in TRUE, since)


class Matcher:
    """Decides whether an event concerns a spec; answers are cached per (spec key, region).

    A region subscription receives events of the region itself, of every region within it (an
    oblast gets its raions' and hromadas' events), and of every region containing it: an alert
    for an oblast makes each of its hromadas active, so a hromada's siren must hear it.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._regions: dict[tuple[tuple | None, str], bool] = {}

    def region_matches(self, spec: StreamSpec, region_id: str) -> bool:
        if spec.regions is None:
            return True
        cache_key = (spec.key[0], region_id)
        hit = self._regions.get(cache_key)
        if hit is None:
            cat = self.catalogue
            hit = any(
                cat.is_within(region_id, wanted) or cat.is_within(wanted, region_id)
                for wanted in spec.regions
            )
            if len(self._regions) > 200_000:
                self._regions.clear()
            self._regions[cache_key] = hit
        return hit

    def matches(self, spec: StreamSpec, event: Event) -> bool:
        if event.status not in spec.statuses:
            return False
        if spec.threats is not None and event.threat not in spec.threats:
            return False
        return self.region_matches(spec, event.region_id)

    def alert_matches(self, spec: StreamSpec, region_id: str, threat: Threat, status) -> bool:
        if status not in spec.statuses:
            return False
        if spec.threats is not None and threat not in spec.threats:
            return False
        return self.region_matches(spec, region_id)
