// Oblast labels that stay inside their oblast. A name is centred on a point well inside the
// oblast, but a long name in a narrow oblast (Закарпатська) would run over its neighbour or off
// the map: each label is slid along its line, and made smaller if it must, to fit the part of
// the oblast that holds it, measured on the oblast's own outline.

/** Every outline segment of each oblast, as flat [x0, y0, x1, y1, …] in map units. */
export function outlineSegments(doc, oblasts) {
  const out = new Map();
  for (const i of oblasts) {
    const list = doc.outlines[String(i)] ?? [];
    const segs = [];
    for (const k of list) {
      const a = doc.arcs[k];
      let x = a[0];
      let y = a[1];
      for (let j = 2; j < a.length; j += 2) {
        const nx = x + a[j];
        const ny = y + a[j + 1];
        segs.push(x, y, nx, ny);
        x = nx;
        y = ny;
      }
    }
    out.set(i, segs);
  }
  return out;
}

/** The stretch [left, right] of the horizontal line at `y` that is inside the outline and holds
 * `x` (even-odd rule); null when `x` is outside. */
export function chord(segs, x, y) {
  const hits = [];
  for (let j = 0; j < segs.length; j += 4) {
    const y0 = segs[j + 1];
    const y1 = segs[j + 3];
    if ((y0 <= y) === (y1 <= y)) continue;
    const x0 = segs[j];
    const x1 = segs[j + 2];
    hits.push(x0 + ((y - y0) * (x1 - x0)) / (y1 - y0));
  }
  hits.sort((a, b) => a - b);
  for (let j = 0; j + 1 < hits.length; j += 2) {
    if (hits[j] <= x && x <= hits[j + 1]) return [hits[j], hits[j + 1]];
  }
  return null;
}

function room(segs, x, y, height) {
  let left = -Infinity;
  let right = Infinity;
  for (const dy of [-height / 2, 0, height / 2]) {
    const c = chord(segs, x, y + dy);
    if (!c) return null;
    left = Math.max(left, c[0]);
    right = Math.min(right, c[1]);
  }
  return right > left ? [left, right] : null;
}

/** Where a label of width `width` and height `height` (map units) centred near (x, y) fits:
 * {x, y, scale}. It moves along its line first, then up or down by up to a line and a half,
 * and shrinks (never below `minScale`) only when no such place is wide enough. */
export function fitLabel(segs, x, y, width, height, minScale = 0.6) {
  let best = null;
  for (const k of [0, -0.25, 0.25, -0.5, 0.5, -0.75, 0.75, -1, 1, -1.25, 1.25, -1.5, 1.5]) {
    const at = y + k * height;
    const span = room(segs, x, at, height * 1.1);
    if (!span) continue;
    const wide = (span[1] - span[0]) * 0.94;
    if (!best || wide > best.wide) best = { span, wide, y: at };
    if (wide >= width) break; // the nearest line that holds it whole
  }
  if (!best) return { x, y, scale: 1 };
  const [left, right] = best.span;
  const margin = (right - left) * 0.03;
  if (width <= best.wide) {
    return { x: Math.min(Math.max(x, left + margin + width / 2), right - margin - width / 2), y: best.y, scale: 1 };
  }
  return { x: (left + right) / 2, y: best.y, scale: Math.max(minScale, best.wide / width) };
}
