// Region status, by the hub's rule (tryvoha.alerts.status): a region is ACTIVE when it or an
// ancestor has an open alert of the threat, PARTIAL when it is not active but a descendant has.

export const NONE = 0;
export const ACTIVE = 1;
export const PARTIAL = 2;

/**
 * @param geo decoded asset (tree order, `end` = subtree bounds, `byId`)
 * @param alerts open alerts (alert docs) already filtered to one threat and status kind
 * @returns Uint8Array of NONE / ACTIVE / PARTIAL per region index
 */
export function computeStatus(geo, alerts) {
  const status = new Uint8Array(geo.n);
  const roots = [];
  for (const alert of alerts) {
    const region = geo.byId.get(alert.region_id);
    if (region) roots.push(region.i);
  }
  for (const r of roots) status.fill(ACTIVE, r, geo.end[r]);
  for (const r of roots) {
    for (let p = geo.regions[r].parent; p >= 0; p = geo.regions[p].parent) {
      if (status[p] === ACTIVE) break;
      status[p] = PARTIAL;
    }
  }
  return status;
}

/** The alerts that make region `i` active (its own and its ancestors'), earliest first. */
export function coveringAlerts(geo, alerts, i) {
  const chain = new Set();
  for (let j = i; j >= 0; j = geo.regions[j].parent) chain.add(geo.regions[j].id);
  return alerts.filter((a) => chain.has(a.region_id)).sort(byStart);
}

/** The alerts inside region `i` (its descendants'), earliest first: why it is partial. */
export function alertsWithin(geo, alerts, i) {
  return alerts
    .filter((a) => {
      const r = geo.byId.get(a.region_id);
      return r && r.i > i && r.i < geo.end[i];
    })
    .sort(byStart);
}

export function byStart(a, b) {
  return Date.parse(a.started_at) - Date.parse(b.started_at) || a.id - b.id;
}

export const DRILL_STATUSES = new Set(["exercise", "test"]);
