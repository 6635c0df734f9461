"""The second-person rule: which declarations wait for a second operator before they go out.

The gravest and widest actual alerts are the ones a tired or hijacked hand must not send alone:
a nuclear or chemical alert anywhere, an alert for the whole country, an alert for many oblasts at
once. Such a declaration becomes a proposal, which a different token with scope over its whole
area approves (or rejects) before it expires. Exercise and test alerts never wait: a drill must
be quick to run, and it never changes the public status anyway.

The policy is data (settings, below); `ApprovalPolicy.why` is pure, so `decide` stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TypeVar

from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.regions import Catalogue, Level

OBLAST_COUNT = 27
"""Oblast-level units: 24 oblasts, AR Crimea, Kyiv and Sevastopol. The country counts as all."""
MAX_OBLASTS_RANGE = (1, OBLAST_COUNT - 1)
"""A request for the whole country touches all 27, so it always waits, whatever the setting."""
TTL_RANGE = (30, 3600)
"""Seconds a proposal waits for its second operator."""
LEVEL_CHOICES = (Level.OBLAST, Level.RAION, Level.HROMADA)
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Which actual declarations need a second operator (see the module's notes).

    - `threats`: an actual alert of these threats always waits (default nuclear, chemical);
    - `max_oblasts`: a request touching more oblasts than this waits, whatever the threat (the
      country level touches all of them, so it always waits);
    - `levels`: a declaration at these levels waits, whatever the threat (default none: an air
      raid alert for an oblast or smaller never waits unless configured so);
    - `ttl`: how long a proposal waits for approval before it expires.
    """

    threats: frozenset[Threat] = frozenset({Threat.NUCLEAR, Threat.CHEMICAL})
    max_oblasts: int = 3
    levels: frozenset[Level] = field(default_factory=frozenset)
    ttl: timedelta = timedelta(seconds=120)

    def why(
        self,
        catalogue: Catalogue,
        region_ids: Sequence[str],
        threat: Threat,
        status: AlertStatus,
    ) -> str | None:
        """Why this declaration waits for a second operator, or None when it goes out at once.
        The regions must be known to the catalogue."""
        if status is not AlertStatus.ACTUAL:
            return None
        if threat in self.threats:
            return f"an actual {threat.value} alert needs a second operator"
        regions = [catalogue.get(r) for r in region_ids]
        if any(r.level is Level.COUNTRY for r in regions):
            return "an alert for the whole country needs a second operator"
        waiting = sorted({r.level.value for r in regions if r.level in self.levels})
        if waiting:
            return f"an alert at {' and '.join(waiting)} level needs a second operator"
        touched = oblasts_touched(catalogue, region_ids)
        if touched > self.max_oblasts:
            return (
                f"an alert touching {touched} oblasts (more than {self.max_oblasts}) needs a "
                "second operator"
            )
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApprovalPolicy:
        """The policy of the `TRYVOHA_APPROVAL_*` settings (README, docs/operators.md);
        ValueError naming the setting and its range for a value outside it."""
        policy = cls()
        threats, max_oblasts, levels, ttl = (
            policy.threats,
            policy.max_oblasts,
            policy.levels,
            policy.ttl,
        )
        raw = environ.get("TRYVOHA_APPROVAL_THREATS")
        if raw is not None:
            threats = frozenset(_words(raw, Threat, "TRYVOHA_APPROVAL_THREATS"))
        raw = environ.get("TRYVOHA_APPROVAL_MAX_OBLASTS")
        if raw is not None:
            max_oblasts = _whole(raw, "TRYVOHA_APPROVAL_MAX_OBLASTS", MAX_OBLASTS_RANGE)
        raw = environ.get("TRYVOHA_APPROVAL_LEVELS")
        if raw is not None:
            levels = frozenset(_words(raw, Level, "TRYVOHA_APPROVAL_LEVELS", LEVEL_CHOICES))
        raw = environ.get("TRYVOHA_APPROVAL_TTL")
        if raw is not None:
            ttl = timedelta(seconds=_whole(raw, "TRYVOHA_APPROVAL_TTL", TTL_RANGE))
        return cls(threats, max_oblasts, levels, ttl)


def oblasts_touched(catalogue: Catalogue, region_ids: Sequence[str]) -> int:
    """How many oblast-level units the regions lie in (the country: all of them)."""
    found: set[str] = set()
    for region_id in region_ids:
        oblast = catalogue.ancestor_at(region_id, Level.OBLAST)
        if oblast is None:  # the country
            return len(catalogue.oblasts)
        found.add(oblast.id)
    return len(found)


def _words(raw: str, kind: type[E], name: str, allowed: Sequence[E] | None = None) -> list[E]:
    choices: list[E] = list(allowed if allowed is not None else kind)
    text = raw.strip().lower()
    if text in ("", "none"):
        return []
    out = []
    for word in (w.strip() for w in text.split(",")):
        found = next((c for c in choices if c.value == word), None)
        if found is None:
            known = ", ".join(c.value for c in choices)
            raise ValueError(f"{name}: {word[:40]!r} is not one of {known} (or 'none')")
        out.append(found)
    return out


def _whole(raw: str, name: str, bounds: tuple[int, int]) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = bounds[0] - 1
    if not bounds[0] <= value <= bounds[1]:
        low, high = bounds
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return value
