"""Ukraine's administrative regions: every oblast, raion and hromada, with ids, names,
boundaries and point lookup.

    from tryvoha.regions import load_catalogue, Level
    cat = load_catalogue()
    cat.resolve("Kharkivska oblast")          # by name, Ukrainian or English
    cat.by_ukrainealarm_id("31")              # Kyiv (city)
    cat.at(50.45, 30.52)                      # the hromada holding a point, or None

Ids are full KATOTTG codes (COD-AB pcodes for the pseudo-units without one). How each external id
maps, and the few names that needed evidence, is written up in docs/regions.md:

- ukrainealarm: states → oblast-level units (31 → Kyiv city), districts → raions, communities →
  hromadas. Same-named hromadas in one raion (353/354, 969/970, 1180/1181) were told apart by
  their seat settlements, never by order.
- alerts.in.ua: uids equal ukrainealarm ids where both exist; 29 → AR Crimea, 30 → Sevastopol
  (the oblast-level unit), 1801–1804 → the occupied Luhansk raions UA4406/UA4408/UA4402/UA4404,
  1293 / 564 → the Kharkiv / Zaporizhzhia city hromadas (not their raions or oblasts).
- Kyiv and Sevastopol each appear as an oblast-level unit with a pseudo-raion and one pseudo-
  hromada (the same territory); a name search without a level returns the oblast-level unit.
"""

from tryvoha.regions.catalogue import Catalogue, load_catalogue, region_dict
from tryvoha.regions.model import AmbiguousRegion, Level, Region, UnknownRegion

__all__ = [
    "AmbiguousRegion",
    "Catalogue",
    "Level",
    "Region",
    "UnknownRegion",
    "load_catalogue",
    "region_dict",
]
