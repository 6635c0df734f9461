// The SVG map: one path per hromada (the fill shows status), shared borders drawn once per
// level, oblast labels that take keyboard focus, and pan/zoom by mouse, touch and keys.
// Painting touches only the hromadas whose class changed, so a burst repaints in one frame.

import { fitLabel } from "./labels.js";
import { ACTIVE, PARTIAL } from "./status.js";

const SVG = "http://www.w3.org/2000/svg";
const TILE = 256;
const EARTH = 6378137;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

export class MapView {
  constructor(svg, geo, { onHover, onSelect, tileUrl = null }) {
    this.svg = svg;
    this.geo = geo;
    this.onHover = onHover;
    this.onSelect = onSelect;
    this.tileUrl = tileUrl;
    this.classes = new Map();
    this.full = geo.bbox.get(0);
    const [x0, y0, x1, y1] = this.full;
    const pad = (x1 - x0) * 0.02;
    this.home = [x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad];
    this.view = [...this.home];
    this.build();
    this.bind();
    this.fit();
    new ResizeObserver(() => this.fit()).observe(svg);
  }

  build() {
    const svg = this.svg;
    svg.textContent = "";
    const defs = el("defs", {}, svg);
    this.pattern(defs, "hatch-partial", "#f5a524", "#2a323c", 45);
    this.pattern(defs, "hatch-drill", "#8da2ff", "#1b2150", -45);
    this.tiles = el("g", { class: "tiles" }, svg);
    this.fills = el("g", { class: "fills" }, svg);
    this.nodes = new Map();
    for (const [i, d] of this.geo.paths) {
      const path = el("path", { d, class: "h", "data-i": i }, this.fills);
      this.nodes.set(i, path);
      this.classes.set(i, "h");
    }
    this.geo.borders.forEach((d, level) => el("path", { d, class: `b${level}` }, svg));
    this.partialLayer = el("g", { class: "partials" }, svg);
    this.hoverPath = el("path", { class: "hl hover", d: "" }, svg);
    this.selectPath = el("path", { class: "hl", d: "" }, svg);
    this.youPath = el("path", { class: "hl you", d: "" }, svg);
    this.labelLayer = el("g", { class: "labels" }, svg);
    this.labels = new Map();
    for (const [i, [x, y]] of this.geo.labels) {
      const city = this.geo.regions[i].children.length === 1; // Kyiv, Sevastopol
      const attrs = { x, y, class: city ? "lbl city" : "lbl", tabindex: 0, role: "button", "data-i": i };
      const text = el("text", attrs, this.labelLayer);
      this.labels.set(i, text);
    }
  }

  pattern(defs, id, stripe, ground, angle) {
    const p = el("pattern", {
      id, width: 8, height: 8, patternUnits: "userSpaceOnUse", patternTransform: `rotate(${angle})`,
    }, defs);
    el("rect", { width: 8, height: 8, fill: ground }, p);
    el("rect", { width: 3.2, height: 8, fill: stripe }, p);
    this.patterns = this.patterns ?? [];
    this.patterns.push(p);
  }

  setLabels(nameOf) {
    for (const [i, text] of this.labels) {
      text.textContent = nameOf(this.geo.regions[i]);
      text.setAttribute("aria-label", nameOf(this.geo.regions[i], true));
    }
    this.fittedAt = null;
    this.fitLabels();
  }

  /** Slide (and if need be shrink) each oblast name to fit inside its oblast at this zoom; run
   * when the zoom or the names change, not on a pan. */
  fitLabels() {
    const upp = this.unitsPerPx;
    if (!upp || this.labelLayer.style.display === "none" || this.fittedAt === upp) return;
    this.fittedAt = upp;
    const font = 12 * upp;
    for (const [i, text] of this.labels) {
      if (text.classList.contains("city")) continue; // Kyiv, Sevastopol: small on purpose
      const [x, y] = this.geo.labels.get(i);
      text.style.fontSize = "";
      text.setAttribute("x", x);
      text.setAttribute("y", y);
      const width = text.getComputedTextLength();
      if (!width) continue;
      const fit = fitLabel(this.geo.labelRoom.get(i) ?? [], x, y, width, font);
      text.setAttribute("x", fit.x.toFixed(0));
      text.setAttribute("y", fit.y.toFixed(0));
      if (fit.scale < 1) text.style.fontSize = `${(font * fit.scale).toFixed(2)}px`;
    }
  }

  /** status: per-region ACTIVE/PARTIAL/NONE; drills: same for drill alerts (or null). */
  paint(status, drills) {
    const geo = this.geo;
    for (const [i, node] of this.nodes) {
      let cls = "h";
      if (status[i] === ACTIVE) cls = "h a";
      else if (drills && drills[i] === ACTIVE) cls = "h d";
      else {
        const oblast = geo.regions[geo.regions[i].parent].parent;
        if (status[oblast] === PARTIAL || status[geo.regions[i].parent] === PARTIAL) cls = "h p";
      }
      if (this.classes.get(i) !== cls) {
        node.setAttribute("class", cls);
        this.classes.set(i, cls);
      }
    }
    // Dashed outlines on partial oblasts: the pattern alone would not show a partial oblast
    // whose every other hromada is hidden behind the active ones.
    let d = "";
    for (const oblast of geo.regions[0].children) {
      if (status[oblast] === PARTIAL) d += geo.outlines.get(oblast) ?? "";
    }
    if (this.partialD !== d) {
      this.partialLayer.textContent = "";
      if (d) el("path", { class: "po", d }, this.partialLayer);
      this.partialD = d;
    }
  }

  outlineOf(i) {
    const r = this.geo.regions[i];
    if (r.level === 3) return this.geo.paths.get(i) ?? "";
    if (r.level === 0) return this.geo.borders[3];
    return this.geo.outlines.get(i) ?? "";
  }

  highlight(kind, i) {
    const path = { hover: this.hoverPath, select: this.selectPath, you: this.youPath }[kind];
    path.setAttribute("d", i == null ? "" : this.outlineOf(i));
  }

  // --- view box, pan and zoom ------------------------------------------------------------

  fit() {
    const rect = this.svg.getBoundingClientRect();
    if (!rect.width || !rect.height) return;
    this.aspect = rect.width / rect.height;
    this.apply();
  }

  apply() {
    let [x, y, w, h] = this.view;
    // Keep the aspect of the element: grow the shorter side around the centre.
    const cx = x + w / 2;
    const cy = y + h / 2;
    if (w / h > this.aspect) h = w / this.aspect;
    else w = h * this.aspect;
    this.view = [cx - w / 2, cy - h / 2, w, h];
    this.svg.setAttribute("viewBox", this.view.map((v) => v.toFixed(1)).join(" "));
    const rect = this.svg.getBoundingClientRect();
    const unitsPerPx = w / Math.max(1, rect.width);
    // Oblast names only where they fit: the whole country must span at least ~650 pixels.
    const countryPx = (this.full[2] - this.full[0]) / unitsPerPx;
    this.labelLayer.style.display = countryPx < 650 ? "none" : "";
    this.svg.classList.toggle("coarse", countryPx < 900); // hromada lines would be a blur
    this.labelLayer.style.fontSize = `${(12 * unitsPerPx).toFixed(2)}px`;
    this.labelLayer.style.strokeWidth = `${(3 * unitsPerPx).toFixed(2)}px`;
    this.unitsPerPx = unitsPerPx;
    this.fitLabels();
    // Hatch stripes stay 8 screen pixels wide at every zoom.
    for (const p of this.patterns) {
      const angle = p.id === "hatch-drill" ? -45 : 45;
      p.setAttribute("patternTransform", `rotate(${angle}) scale(${unitsPerPx.toFixed(3)})`);
    }
    this.drawTiles(unitsPerPx);
  }

  zoom(factor, px = null, py = null) {
    const [x, y, w, h] = this.view;
    const rect = this.svg.getBoundingClientRect();
    const fx = px == null ? 0.5 : (px - rect.left) / rect.width;
    const fy = py == null ? 0.5 : (py - rect.top) / rect.height;
    const nw = Math.min(Math.max(w / factor, this.home[2] / 60), this.home[2] * 2);
    const nh = (nw * h) / w;
    this.view = [x + (w - nw) * fx, y + (h - nh) * fy, nw, nh];
    this.apply();
  }

  pan(dxPx, dyPx) {
    const rect = this.svg.getBoundingClientRect();
    const k = this.view[2] / rect.width;
    this.view[0] -= dxPx * k;
    this.view[1] -= dyPx * k;
    this.apply();
  }

  reset() {
    this.view = [...this.home];
    this.apply();
  }

  zoomTo(i) {
    const [x0, y0, x1, y1] = this.geo.bbox.get(i);
    const w = Math.max(x1 - x0, this.home[2] / 40);
    const h = Math.max(y1 - y0, this.home[3] / 40);
    this.view = [x0 - w * 0.4, y0 - h * 0.4, w * 1.8, h * 1.8];
    this.apply();
  }

  bind() {
    const svg = this.svg;
    const pointers = new Map();
    let moved = 0;
    let pinch = null;
    svg.addEventListener("pointerdown", (e) => {
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      moved = 0;
      if (pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        pinch = Math.hypot(a[0] - b[0], a[1] - b[1]);
      }
    });
    svg.addEventListener("pointermove", (e) => {
      const last = pointers.get(e.pointerId);
      if (!last) {
        this.hoverAt(e.target);
        return;
      }
      if (pointers.size === 2) {
        pointers.set(e.pointerId, [e.clientX, e.clientY]);
        const [a, b] = [...pointers.values()];
        const dist = Math.hypot(a[0] - b[0], a[1] - b[1]);
        if (pinch) this.zoom(dist / pinch, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
        pinch = dist;
        moved += 10;
        return;
      }
      const dx = e.clientX - last[0];
      const dy = e.clientY - last[1];
      moved += Math.abs(dx) + Math.abs(dy);
      if (moved > 4) {
        if (!svg.hasPointerCapture(e.pointerId)) svg.setPointerCapture(e.pointerId);
        svg.classList.add("dragging");
        this.pan(dx, dy);
      }
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
    });
    const up = (e) => {
      const wasClick = pointers.size === 1 && moved <= 4;
      pointers.delete(e.pointerId);
      if (pointers.size < 2) pinch = null;
      svg.classList.remove("dragging");
      if (wasClick && e.type === "pointerup") {
        const target = document.elementFromPoint(e.clientX, e.clientY);
        const i = target?.dataset?.i;
        this.onSelect(i == null ? null : Number(i));
      }
    };
    svg.addEventListener("pointerup", up);
    svg.addEventListener("pointercancel", up);
    svg.addEventListener("pointerleave", () => {
      this.onHover(null);
      this.highlight("hover", null);
    });
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoom(Math.exp(-e.deltaY * 0.0015), e.clientX, e.clientY);
    }, { passive: false });
    svg.addEventListener("keydown", (e) => {
      const step = 60;
      const keys = {
        ArrowLeft: () => this.pan(step, 0),
        ArrowRight: () => this.pan(-step, 0),
        ArrowUp: () => this.pan(0, step),
        ArrowDown: () => this.pan(0, -step),
        "+": () => this.zoom(1.4),
        "=": () => this.zoom(1.4),
        "-": () => this.zoom(1 / 1.4),
        0: () => this.reset(),
      };
      const label = e.target.closest?.(".lbl");
      if (label && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault();
        this.onSelect(Number(label.dataset.i), true);
        return;
      }
      if (keys[e.key] && (e.target === svg || label)) {
        e.preventDefault();
        keys[e.key]();
      }
    });
    this.labelLayer.addEventListener("focusin", (e) => {
      const i = Number(e.target.dataset.i);
      this.highlight("hover", i);
      this.onHover(i);
    });
  }

  hoverAt(target) {
    const i = target?.dataset?.i;
    if (i == null) return;
    if (this.hovered === i) return;
    this.hovered = i;
    this.highlight("hover", Number(i));
    this.onHover(Number(i));
  }

  // --- optional raster tiles under the map (off unless the hub configures a URL) ------------

  drawTiles(unitsPerPx) {
    if (!this.tileUrl) return;
    const { unit, x0, y0 } = this.geo.transform;
    const metresPerPx = unitsPerPx * unit;
    const z = Math.max(0, Math.min(18, Math.round(Math.log2((2 * Math.PI * EARTH) / (TILE * metresPerPx)))));
    const tileMetres = (2 * Math.PI * EARTH) / 2 ** z;
    const toTile = (gx, gy) => [
      Math.floor((gx * unit + x0 + Math.PI * EARTH) / tileMetres),
      Math.floor((Math.PI * EARTH - (y0 - gy * unit)) / tileMetres),
    ];
    const [vx, vy, vw, vh] = this.view;
    const [tx0, ty0] = toTile(vx, vy);
    const [tx1, ty1] = toTile(vx + vw, vy + vh);
    if ((tx1 - tx0 + 1) * (ty1 - ty0 + 1) > 200) return;
    this.tiles.textContent = "";
    for (let tx = tx0; tx <= tx1; tx++) {
      for (let ty = ty0; ty <= ty1; ty++) {
        const gx = (tx * tileMetres - Math.PI * EARTH - x0) / unit;
        const gy = (y0 - (Math.PI * EARTH - ty * tileMetres)) / unit;
        const href = this.tileUrl.replace("{z}", z).replace("{x}", tx).replace("{y}", ty);
        el("image", { href, x: gx, y: gy, width: tileMetres / unit, height: tileMetres / unit, opacity: 0.5 }, this.tiles);
      }
    }
  }
}
