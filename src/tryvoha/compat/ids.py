"""How the two compatible APIs name regions, derived from the catalogue's crosswalk.

alerts.in.ua numbers locations with integer uids and ukrainealarm with string ids; both use the
same numbers where both exist, so a hromada without an alerts.in.ua uid takes its ukrainealarm
community id. Crimea has no ukrainealarm id in the catalogue; that API calls it "9999".

A region with no id of its own on a surface (the country, an oblast missing from ukrainealarm) is
shown through its nearest descendants that have one, so a client sees every alert that makes one
of its regions active. A region with no id of its own and none below it (the Kyiv pseudo-raion,
the Chornobyl zone, Crimea's raions and hromadas, occupied Luhansk hromadas) is, to that surface,
a part of the nearest region above that has an id: an alert on it covers that region only in part
(tryvoha calls it `partial`), and a surface shows it only where it can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from tryvoha.regions import Catalogue, Level, Region

OBLAST_ORDER: tuple[int, ...] = (
    29, 8, 4, 9, 28, 10, 11, 12, 13, 31, 14, 15, 16, 27,
    17, 18, 19, 5, 30, 20, 21, 22, 23, 3, 24, 26, 25,
)  # fmt: skip
"""alerts.in.ua uids in the order of the 27-character oblast string."""

CRIMEA_UKRAINEALARM_ID = "9999"
CITY_UIDS = frozenset({30, 31, 564, 1293})
UA_REGION_TYPES = {Level.OBLAST: "State", Level.RAION: "District", Level.HROMADA: "Community"}


def title_uk(region: Region) -> str:
    """The Ukrainian title as alerts.in.ua and ukrainealarm spell it ("… територіальна громада")."""
    label = region.label("uk")
    if region.level is Level.HROMADA and label.endswith(" громада"):
        return label.removesuffix(" громада") + " територіальна громада"
    return label


@dataclass(frozen=True)
class Crosswalk:
    """Both surfaces' ids for every region, and the reverse lookups."""

    catalogue: Catalogue
    uid_of: dict[str, int] = field(default_factory=dict)
    by_uid: dict[int, Region] = field(default_factory=dict)
    ua_id_of: dict[str, str] = field(default_factory=dict)
    by_ua_id: dict[str, Region] = field(default_factory=dict)

    @classmethod
    def build(cls, catalogue: Catalogue) -> Crosswalk:
        cw = cls(catalogue)
        for region in catalogue:
            uid = region.alerts_in_ua_uid
            if uid is None and region.level is Level.HROMADA and region.ukrainealarm_id:
                uid = int(region.ukrainealarm_id)
            if uid is not None and uid not in cw.by_uid:
                cw.uid_of[region.id] = uid
                cw.by_uid[uid] = region
            ua_id = region.ukrainealarm_id
            if ua_id is None and region.level is Level.OBLAST and region.alerts_in_ua_uid == 29:
                ua_id = CRIMEA_UKRAINEALARM_ID
            if ua_id is not None and ua_id not in cw.by_ua_id:
                cw.ua_id_of[region.id] = ua_id
                cw.by_ua_id[ua_id] = region
        return cw

    @property
    def max_uid(self) -> int:
        return max(self.by_uid)

    def oblast_regions(self) -> list[Region]:
        return [self.by_uid[uid] for uid in OBLAST_ORDER]

    def targets(
        self, region_id: str, ids: Mapping[str, object], within: str | None = None
    ) -> list[str]:
        """Where an alert on `region_id` shows on a surface whose ids are `ids`.

        The region itself when it has an id, else its nearest descendants that have one; when
        none has one, the nearest region above with an id, which the alert covers only in part
        (see `covers`). With `within` (a region at or below `region_id`), only the one target on
        the path to it. Empty only where the surface has no region containing `region_id`.
        """
        if within is not None and not self.catalogue.is_within(within, region_id):
            return []
        found = self._below(region_id, ids)
        if not found:
            return self._container(region_id, ids)
        if within is None or within == region_id or region_id in ids:
            return found
        path = [within, *(r.id for r in self.catalogue.ancestors(within))]
        for rid in reversed(path[: path.index(region_id)]):
            if rid in ids:
                return [rid]
        return []

    def whole_targets(
        self, region_id: str, ids: Mapping[str, object], within: str | None = None
    ) -> list[str]:
        """The targets that an alert on `region_id` covers entirely: for a surface (ukrainealarm)
        that cannot say "in part of a region", so never shows a region as more alerted than
        tryvoha's own status does."""
        found = self.targets(region_id, ids, within)
        return [t for t in found if self.covers(region_id, t)]

    def covers(self, region_id: str, target: str) -> bool:
        """Whether an alert on `region_id` covers all of `target` (it or a region below it)."""
        return self.catalogue.is_within(target, region_id)

    def _below(self, region_id: str, ids: Mapping[str, object]) -> list[str]:
        if region_id in ids:
            return [region_id]
        found: list[str] = []
        for child in self.catalogue.children(region_id):
            found.extend(self._below(child.id, ids))
        return found

    def _container(self, region_id: str, ids: Mapping[str, object]) -> list[str]:
        """The nearest region above `region_id` with an id, as a list (empty if none)."""
        for ancestor in self.catalogue.ancestors(region_id):
            if ancestor.id in ids:
                return [ancestor.id]
        return []


@cache
def crosswalk(catalogue: Catalogue) -> Crosswalk:
    return Crosswalk.build(catalogue)
