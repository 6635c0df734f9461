// The boundaries asset (built by scripts/build_map_assets.py) decoded into SVG path strings and
// the region tree. Shared borders are stored once, so neighbouring hromadas always line up.

import { outlineSegments } from "./labels.js";

export const LEVELS = ["country", "oblast", "raion", "hromada"];

export async function loadGeo(url = "/map/map.json") {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`map data: HTTP ${response.status}`);
  return decode(await response.json());
}

export function decode(doc) {
  const n = doc.regions.length;
  const regions = doc.regions.map(([id, level, parent, uk, en, labelUk, labelEn], i) => ({
    i, id, level, parent, uk, en, labelUk, labelEn, children: [],
  }));
  const byId = new Map(regions.map((r) => [r.id, r]));
  const end = new Int32Array(n); // tree order: a region's descendants are i+1 … end[i]-1
  const stack = [];
  for (let i = 0; i < n; i++) {
    const r = regions[i];
    while (stack.length && regions[stack[stack.length - 1]].level >= r.level) end[stack.pop()] = i;
    stack.push(i);
    if (r.parent >= 0) regions[r.parent].children.push(i);
  }
  while (stack.length) end[stack.pop()] = n;

  const arcs = doc.arcs.map((a) => {
    const pts = new Int32Array(a.length);
    let x = 0;
    let y = 0;
    for (let j = 0; j < a.length; j += 2) {
      x += a[j];
      y += a[j + 1];
      pts[j] = x;
      pts[j + 1] = y;
    }
    return pts;
  });

  const bbox = new Map(); // region index → [x0, y0, x1, y1]
  const paths = new Map(); // hromada index → path string
  for (const [key, rings] of Object.entries(doc.shapes)) {
    const i = Number(key);
    const box = [Infinity, Infinity, -Infinity, -Infinity];
    let d = "";
    for (const ring of rings) {
      d += ringPath(arcs, ring, box);
    }
    paths.set(i, d);
    bbox.set(i, box);
  }
  // Raions, oblasts and the country: the union of their hromadas' boxes.
  for (let i = n - 1; i >= 0; i--) {
    if (bbox.has(i)) continue;
    const box = [Infinity, Infinity, -Infinity, -Infinity];
    for (let j = i + 1; j < end[i]; j++) {
      const b = bbox.get(j);
      if (!b) continue;
      box[0] = Math.min(box[0], b[0]);
      box[1] = Math.min(box[1], b[1]);
      box[2] = Math.max(box[2], b[2]);
      box[3] = Math.max(box[3], b[3]);
    }
    bbox.set(i, box);
  }

  const borders = ["", "", "", ""];
  doc.arcs.forEach((_, k) => {
    borders[doc.arc_level[k]] += linePath(arcs[k]);
  });
  const outlines = new Map();
  for (const [key, list] of Object.entries(doc.outlines)) {
    outlines.set(Number(key), list.map((k) => linePath(arcs[k])).join(""));
  }
  const labels = new Map(Object.entries(doc.labels).map(([k, v]) => [Number(k), v]));
  const labelRoom = outlineSegments(doc, labels.keys());
  return { n, regions, byId, end, paths, bbox, borders, outlines, labels, labelRoom, transform: doc.transform };
}

function ringPath(arcs, ring, box) {
  let d = "";
  let first = true;
  for (const ref of ring) {
    const pts = arcs[ref >= 0 ? ref : ~ref];
    const count = pts.length / 2;
    for (let s = first ? 0 : 1; s < count; s++) {
      const j = ref >= 0 ? s : count - 1 - s;
      const x = pts[2 * j];
      const y = pts[2 * j + 1];
      if (x < box[0]) box[0] = x;
      if (y < box[1]) box[1] = y;
      if (x > box[2]) box[2] = x;
      if (y > box[3]) box[3] = y;
      d += (first && s === 0 ? "M" : "L") + x + " " + y;
    }
    first = false;
  }
  return d + "Z";
}

function linePath(pts) {
  let d = "M" + pts[0] + " " + pts[1];
  for (let j = 2; j < pts.length; j += 2) d += "L" + pts[j] + " " + pts[j + 1];
  return d;
}

/** The region and its ancestors below the country, nearest first. */
export function lineage(geo, i) {
  const out = [];
  for (let j = i; j > 0; j = geo.regions[j].parent) out.push(geo.regions[j]);
  return out;
}
