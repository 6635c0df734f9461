// The alarm map page: live status from the hub's stream, history from the log, details on demand.
// Everything that comes from data (names, notes, details) is written with textContent only.

import { LiveFeed, getJson } from "./feed.js";
import { lineage, loadGeo } from "./geo.js";
import {
  PERMANENT_MS, detailName, duration, getLang, kyivTime, setLang, sinceText, t, threatName,
} from "./i18n.js";
import { MapView } from "./mapview.js";
import { SignatureCheck } from "./verify.js";
import {
  ACTIVE, DRILL_STATUSES, PARTIAL, alertsWithin, byStart, computeStatus, coveringAlerts,
} from "./status.js";

const THREATS = ["air_raid", "artillery_shelling", "urban_fights", "chemical", "nuclear"];
const $ = (id) => document.getElementById(id);

const state = {
  geo: null,
  view: null,
  live: new Map(), // alert id → alert doc: every open alert, any threat and status
  logId: null,
  conn: "connecting",
  threat: "air_raid",
  drills: false,
  mode: "live",
  history: { alerts: [], time: 0, start: 0, end: 0, playing: false, speed: 900 },
  hovered: null,
  selected: null,
  status: null,
  drillStatus: null,
  todayCache: new Map(),
  listKey: "",
};

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function label(region) {
  return getLang() === "uk" ? region.labelUk : region.labelEn;
}

function now() {
  return state.mode === "history" ? state.history.time : shown(Date.now());
}

/** A live moment as the map shows it: on a demo hub fed by `tryvoha replay --serve`, the
 * replayed time (events are written at the hub's clock, the period plays `speed` times faster). */
function shown(ms) {
  const r = state.replay;
  if (!r || state.mode !== "live") return ms;
  return Math.min(r.until, Math.max(r.since, r.since + (ms - r.began) * r.speed));
}

function showReplay(replay) {
  if (!replay) return;
  state.replay = {
    since: Date.parse(replay.since), until: Date.parse(replay.until), began: Date.parse(replay.began), speed: replay.speed,
  };
  document.documentElement.dataset.replay = "1";
  renderReplayBanner();
}

/** What the log has a record of: the imported days (Kyiv) and live time since the first live
 * event; the history panel says so, and says when a chosen time is outside it. */
function showRecord(record) {
  if (!record) return;
  const midnight = (day) => Date.parse(`${day}T00:00:00Z`); // the data sets are cut in UTC
  const spans = [];
  if (record.first_day) {
    const [y, m, d] = record.last_day.split("-").map(Number);
    const after = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
    spans.push([midnight(record.first_day), midnight(after)]);
  }
  if (record.live_since) spans.push([Date.parse(record.live_since), Infinity]);
  state.record = { ...record, spans };
  renderRecord();
}

function dayText(day) {
  return kyivTime(Date.parse(`${day}T12:00:00Z`), true).split(/,?\s+/)[0];
}

function renderRecord() {
  const r = state.record;
  if (!r) return;
  const parts = [r.first_day ? t("record").replace("{first}", dayText(r.first_day)).replace("{last}", dayText(r.last_day)) : t("record_none")];
  if (r.live_since) parts.push(t("live_since").replace("{since}", kyivTime(Date.parse(r.live_since), true)));
  $("h-record").hidden = false;
  $("h-record").textContent = parts.join(" · ");
  const gap = $("h-gap");
  const at = state.history.time;
  const outside = state.mode === "history" && !r.spans.some(([a, b]) => a <= at && at < b);
  gap.hidden = !outside;
  gap.textContent = outside ? t("no_data").replace("{when}", kyivTime(at, true)) : "";
}

function renderReplayBanner() {
  const r = state.replay;
  if (!r) return;
  const day = (ms) => kyivTime(ms, true).split(/,?\s+/)[0];
  const sameDay = day(r.since) === day(r.until);
  $("replay-banner").hidden = false;
  $("replay-banner").textContent = t("replay_banner")
    .replace("{from}", kyivTime(r.since, true))
    .replace("{to}", sameDay ? kyivTime(r.until) : kyivTime(r.until, true))
    .replace("{speed}", String(r.speed));
}

/** Open alerts at the moment shown: the live mirror, or the log's alerts at the history time. */
function openAlerts() {
  if (state.mode === "live") return [...state.live.values()];
  const at = state.history.time;
  return state.history.alerts.filter(
    (a) => Date.parse(a.started_at) <= at && (a.ended_at == null || Date.parse(a.ended_at) > at),
  );
}

// --- rendering ------------------------------------------------------------------------------

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  if (!state.geo) return;
  const t0 = performance.now();
  const open = openAlerts().filter((a) => a.threat === state.threat);
  const actual = open.filter((a) => a.status === "actual");
  const drills = state.drills ? open.filter((a) => DRILL_STATUSES.has(a.status)) : [];
  state.actual = actual;
  state.drillAlerts = drills;
  state.status = computeStatus(state.geo, actual);
  state.drillStatus = state.drills ? computeStatus(state.geo, drills) : null;
  state.view.paint(state.status, state.drillStatus);
  renderSummary();
  renderList([...actual, ...drills].sort(byStart));
  renderCard();
  renderConn();
  document.documentElement.dataset.logId = state.logId ?? "";
  document.documentElement.dataset.rendered = String((Number(document.documentElement.dataset.rendered) || 0) + 1);
  state.lastRenderMs = performance.now() - t0;
  state.firstRenderAt ??= performance.now();
}

function renderSummary() {
  const geo = state.geo;
  let active = 0;
  let partial = 0;
  for (const i of geo.regions[0].children) {
    if (state.status[i] === ACTIVE) active++;
    else if (state.status[i] === PARTIAL) partial++;
  }
  const box = $("summary");
  box.textContent = "";
  box.append(
    h("span", { class: "n-active", id: "count-active", "data-count": active }, h("b", {}, active), ` ${t("of27")} ${t("oblasts_active")}`),
    h("span", { class: "n-partial", "data-count": partial }, h("b", {}, partial), ` ${t("oblasts_partial")}`),
    h("span", { class: "n-threat" }, `· ${threatName(state.threat)}`),
  );
}

function renderConn() {
  const box = $("conn");
  const mode = state.mode === "history" ? "history" : state.conn;
  box.className = `conn ${mode}`;
  box.dataset.state = mode;
  let text;
  if (mode === "history") text = t("in_history");
  else if (mode === "reconnecting") text = t("reconnecting");
  else if (mode === "connecting") text = t("connecting");
  else text = t("live");
  if (state.logId != null) text += ` · ${t("log")}${state.logId}`;
  $("conn-text").textContent = text;
  state.signatures?.render();
}

function renderList(alerts) {
  const key = `${getLang()}|${state.mode}|${alerts.map((a) => `${a.id}:${a.last_event_id}`).join(",")}`;
  const list = $("alert-list");
  $("list-empty").hidden = alerts.length > 0;
  if (key === state.listKey) return updateTimers();
  state.listKey = key;
  list.textContent = "";
  for (const alert of alerts) {
    const region = state.geo.byId.get(alert.region_id);
    if (!region) continue;
    const drill = DRILL_STATUSES.has(alert.status);
    const parents = lineage(state.geo, region.i).slice(1).map(label).join(", ");
    const details = alert.details.map(detailName).join(", ");
    const started = Date.parse(alert.started_at);
    const permanent = now() - shown(started) >= PERMANENT_MS;
    const button = h(
      "button",
      { type: "button", "data-region": alert.region_id, "data-alert": alert.id, onclick: () => select(region.i, true) },
      h("span", { class: "name" }, drill ? h("span", { class: "badge d" }, t(alert.status)) : null, drill ? " " : null, label(region)),
      h("span", { class: "when" }, `${t("since")} ${sinceText(shown(started), now())}`, h("br"), h("span", { class: "timer", "data-since": alert.started_at })),
      permanent ? h("span", { class: "sub permanent", title: t("permanent_note") }, t("permanent")) : null,
      parents || details ? h("span", { class: "sub" }, [parents, details].filter(Boolean).join(" · ")) : null,
    );
    list.append(h("li", { class: drill ? "drill" : "" }, button));
  }
  updateTimers();
}

function updateTimers() {
  const at = now();
  if (state.mode === "live") {
    $("history-label").textContent = state.replay ? t("replay_at") : t("live");
    $("history-time").textContent = kyivTime(at, true);
  }
  for (const node of document.querySelectorAll(".timer[data-since]")) {
    const start = Date.parse(node.dataset.since);
    node.textContent = duration(at - shown(start));
  }
}

function statusBadge(value) {
  const cls = value === ACTIVE ? "a" : value === PARTIAL ? "p" : "n";
  const text = value === ACTIVE ? t("st_active") : value === PARTIAL ? t("st_partial") : t("st_none");
  return h("span", { class: `badge ${cls}`, "data-status": cls }, text);
}

function renderCard() {
  const i = state.selected ?? state.hovered;
  const card = $("card");
  if (i == null || !state.status) {
    card.hidden = true;
    return;
  }
  const geo = state.geo;
  const region = geo.regions[i];
  card.hidden = false;
  card.textContent = "";
  card.dataset.region = region.id;
  const parents = lineage(geo, i).slice(1).map(label).join(", ");
  card.append(
    h("h3", {}, region.labelUk),
    h("div", { class: "en" }, region.labelEn),
    parents ? h("div", { class: "where" }, parents) : null,
  );
  const value = state.status[i];
  const row = h("div", { class: "row" }, statusBadge(value), h("span", {}, threatName(state.threat)));
  card.append(row);
  if (value === ACTIVE) {
    const covering = coveringAlerts(geo, state.actual, i);
    const since = Math.min(...covering.map((a) => Date.parse(a.started_at)));
    card.append(
      h("div", { class: "row" }, `${t("since")} ${sinceText(shown(since), now())}`, h("span", { class: "timer", "data-since": new Date(since).toISOString() })),
    );
    if (now() - shown(since) >= PERMANENT_MS) card.append(h("div", { class: "row permanent-note" }, t("permanent_note")));
    appendDetails(card, covering);
  } else if (value === PARTIAL) {
    const within = alertsWithin(geo, state.actual, i);
    card.append(h("div", { class: "row" }, `${t("partial_why")}: ${within.map((a) => label(geo.byId.get(a.region_id))).join(", ")}`));
    appendDetails(card, within);
  }
  if (state.drillStatus && state.drillStatus[i] === ACTIVE) {
    const drills = coveringAlerts(geo, state.drillAlerts, i);
    for (const d of drills) {
      card.append(h("div", { class: "row" }, h("span", { class: "badge d" }, t(d.status)), t("drill_note")));
      if (d.notes) card.append(h("div", { class: "notes" }, d.notes));
    }
  }
  if (state.mode === "live") {
    const today = h("div", { class: "row today" }, `${t("today")}: `);
    const count = h("b", { class: "today-count" }, "…");
    today.append(count);
    card.append(today);
    todayCount(region.id).then((n) => {
      count.textContent = n == null ? "—" : String(n);
    });
  }
  updateTimers();
}

function appendDetails(card, alerts) {
  const details = [...new Set(alerts.flatMap((a) => a.details))];
  if (details.length) card.append(h("div", { class: "row" }, `${t("details")}: ${details.map(detailName).join(", ")}`));
  for (const alert of alerts) {
    if (alert.notes) card.append(h("div", { class: "notes" }, alert.notes));
  }
}

async function todayCount(regionId) {
  const key = `${regionId}|${state.threat}|${state.logId}`;
  if (!state.todayCache.has(key)) {
    const url = `/api/v1/map/regions/${encodeURIComponent(regionId)}/today?threat=${state.threat}`;
    state.todayCache.set(key, getJson(url).then((d) => d.count, () => null));
  }
  return state.todayCache.get(key);
}

function select(i, zoom = false) {
  state.selected = i;
  state.view.highlight("select", i);
  if (zoom && i != null) state.view.zoomTo(i);
  renderCard();
}

// --- where am I -----------------------------------------------------------------------------

function showPlace(region) {
  const r = state.geo.byId.get(region.id);
  if (!r) return;
  state.view.highlight("you", r.i);
  select(r.i, true);
  const box = $("locate-result");
  box.textContent = "";
  box.append(`${t("you_are_in")} ${label(r)}`);
}

async function locateByName(q) {
  const box = $("locate-result");
  box.textContent = "…";
  try {
    const found = await getJson(`/api/v1/map/locate?q=${encodeURIComponent(q)}`);
    if (found.regions.length === 1) return showPlace(found.regions[0]);
    box.textContent = "";
    const options = found.regions.length ? found.regions : found.suggestions;
    box.append(found.regions.length ? "" : t("did_you_mean"));
    for (const region of options) {
      const where = region.ancestors.map((a) => (getLang() === "uk" ? a.name_uk : a.name_en)).join(", ");
      const r = state.geo.byId.get(region.id);
      if (!r) continue;
      box.append(h("button", { type: "button", onclick: () => showPlace(region) }, `${label(r)}${where ? ` (${where})` : ""}`));
    }
  } catch (err) {
    box.textContent = err.status === 404 ? t("not_found") : err.message;
  }
}

function locateMe() {
  const box = $("locate-result");
  if (!navigator.geolocation) {
    box.textContent = t("geo_denied");
    return;
  }
  box.textContent = t("locating");
  navigator.geolocation.getCurrentPosition(
    async (pos) => {
      try {
        const found = await getJson(`/api/v1/map/locate?lat=${pos.coords.latitude}&lon=${pos.coords.longitude}`);
        showPlace(found.regions[0]);
      } catch (err) {
        box.textContent = err.status === 404 ? t("outside") : err.message;
      }
    },
    () => {
      box.textContent = t("geo_denied");
    },
    { enableHighAccuracy: false, timeout: 15000, maximumAge: 600000 },
  );
}

// --- history --------------------------------------------------------------------------------

/** Kyiv wall-clock date and time → UTC milliseconds (DST-correct via Intl). */
export function kyivToUtc(date, time) {
  const [y, mo, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, d, hh, mm);
  let guess = wall - offsetAt(wall);
  guess = wall - offsetAt(guess);
  return guess;
}

const offsetFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "Europe/Kyiv", hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});
function offsetAt(ms) {
  const p = Object.fromEntries(offsetFormat.formatToParts(ms).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}

function historyInput() {
  const date = $("h-date").value;
  const time = $("h-time").value || "00:00";
  if (!date) return null;
  return kyivToUtc(date, time);
}

async function showHistory(at) {
  stopPlay();
  const doc = await getJson(`/api/v1/map/at?time=${new Date(at).toISOString()}`);
  Object.assign(state.history, { alerts: doc.alerts, time: at, start: at, end: at });
  enterHistory();
}

async function playHistory(at) {
  const hours = 12;
  const until = at + hours * 3600_000;
  const doc = await getJson(`/api/v1/map/alerts?since=${new Date(at).toISOString()}&until=${new Date(until).toISOString()}`);
  Object.assign(state.history, { alerts: doc.alerts, time: at, start: at, end: until, playing: true });
  const scrub = $("h-scrub");
  scrub.hidden = false;
  scrub.max = String(hours * 60);
  scrub.value = "0";
  enterHistory();
  $("h-play").textContent = t("pause");
  let last = performance.now();
  const step = (ts) => {
    if (!state.history.playing) return;
    state.history.time = Math.min(state.history.end, state.history.time + (ts - last) * state.history.speed);
    last = ts;
    scrub.value = String(Math.round((state.history.time - state.history.start) / 60000));
    enterHistory(false);
    if (state.history.time >= state.history.end) stopPlay();
    else requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

function stopPlay() {
  state.history.playing = false;
  $("h-play").textContent = t("play");
}

function enterHistory(updateHash = true) {
  state.mode = "history";
  renderRecord();
  $("history-banner").classList.add("past");
  $("history-label").textContent = t("history_at");
  $("history-time").textContent = kyivTime(state.history.time, true);
  $("history").open = true;
  if (updateHash) {
    const p = Object.fromEntries(offsetFormat.formatToParts(state.history.time).map((x) => [x.type, x.value]));
    history.replaceState(null, "", `#at=${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`);
  }
  schedule();
}

function backToLive() {
  stopPlay();
  state.mode = "live";
  renderRecord();
  $("history-banner").classList.remove("past");
  $("h-scrub").hidden = true;
  history.replaceState(null, "", location.pathname + location.search);
  schedule();
}

// --- start ----------------------------------------------------------------------------------

function setupControls() {
  const threat = $("threat");
  const fillThreats = () => {
    threat.textContent = "";
    for (const value of THREATS) threat.append(h("option", { value }, threatName(value)));
    threat.value = state.threat;
  };
  fillThreats();
  threat.addEventListener("change", () => {
    state.threat = threat.value;
    schedule();
  });
  const applyLang = (value) => {
    setLang(value);
    localStorage.setItem("tryvoha.lang", value);
    $("lang").textContent = value === "uk" ? "EN" : "УКР";
    fillThreats();
    state.view?.setLabels((r, full) => (full ? label(r) : shortName(r)));
    state.listKey = "";
    renderReplayBanner();
    renderRecord();
    $("h-play").textContent = state.history.playing ? t("pause") : t("play");
    if (state.notices) renderNotices();
    schedule();
  };
  $("lang").addEventListener("click", () => applyLang(getLang() === "uk" ? "en" : "uk"));
  const stored = localStorage.getItem("tryvoha.lang");
  const hinted = new URLSearchParams(location.search).get("lang");
  applyLang(hinted || stored || (navigator.language?.startsWith("en") ? "en" : "uk"));

  $("drills").addEventListener("change", (e) => {
    state.drills = e.target.checked;
    $("drill-banner").hidden = !state.drills;
    $("legend-drill").hidden = !state.drills;
    schedule();
  });
  $("locate").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("place").value.trim();
    if (q) locateByName(q);
  });
  $("geo").addEventListener("click", locateMe);
  $("zoom-in").addEventListener("click", () => state.view.zoom(1.5));
  $("zoom-out").addEventListener("click", () => state.view.zoom(1 / 1.5));
  $("zoom-reset").addEventListener("click", () => state.view.reset());
  $("h-show").addEventListener("click", () => {
    const at = historyInput();
    if (at != null) showHistory(at);
  });
  $("h-play").addEventListener("click", () => {
    if (state.history.playing) return stopPlay();
    const at = historyInput();
    if (at != null) playHistory(at);
  });
  $("h-speed").addEventListener("change", (e) => {
    state.history.speed = Number(e.target.value);
  });
  $("h-live").addEventListener("click", backToLive);
  $("h-scrub").addEventListener("input", (e) => {
    stopPlay();
    state.history.time = state.history.start + Number(e.target.value) * 60000;
    enterHistory(false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      state.hovered = null;
      select(null);
    }
  });
}

function shortName(region) {
  if (region.id.startsWith("UA01")) return getLang() === "uk" ? "Крим" : "Crimea";
  return getLang() === "uk" ? region.uk : region.en;
}

async function main() {
  setupControls();
  state.signatures = new SignatureCheck($("sig"), getLang);
  const [geo, config] = await Promise.all([
    loadGeo(),
    getJson("/api/v1/map/config").catch(() => ({})),
    state.signatures.loadKeys().catch(() => null), // a hub without keys still has a map
  ]);
  state.geo = geo;
  showReplay(config.replay);
  showRecord(config.record);
  state.view = new MapView($("map"), geo, {
    tileUrl: config.tile_url,
    onHover: (i) => {
      state.hovered = i;
      renderCard();
    },
    onSelect: (i) => select(i, false),
  });
  if (config.tile_url) {
    $("map").classList.add("tiled");
    $("credit").hidden = !config.tile_attribution;
    $("credit").textContent = config.tile_attribution ?? "";
  }
  state.view.setLabels((r, full) => (full ? label(r) : shortName(r)));
  const feed = new LiveFeed({
    onReset: (alerts, logId) => {
      state.live = new Map(alerts.map((a) => [a.id, a]));
      state.logId = logId;
      schedule();
    },
    onEvent: (event) => {
      state.signatures.show(event);
      applyEvent(event);
      state.logId = event.id;
      schedule();
    },
    onState: (conn) => {
      state.conn = conn;
      renderConn();
    },
  });
  state.feed = feed;
  feed.start();
  setInterval(updateTimers, 1000);
  const at = /^#at=(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(location.hash);
  if (at) {
    $("h-date").value = at[1];
    $("h-time").value = at[2];
    showHistory(kyivToUtc(at[1], at[2]));
  }
  window.tryvohaMap = { state, render, schedule, renderNotices };
  document.documentElement.dataset.ready = "1";
}

/** The same fold as the hub's AlertState.apply, on alert docs. */
function applyEvent(event) {
  if (event.kind === "declared") {
    state.live.set(event.alert_id, {
      id: event.alert_id, region_id: event.region_id, threat: event.threat, details: event.details,
      status: event.status, notes: event.notes, started_at: event.occurred_at, ended_at: null,
      updated_at: null, originator: event.originator, source: event.source, last_event_id: event.id,
    });
  } else if (event.kind === "updated") {
    const alert = state.live.get(event.alert_id);
    if (alert) {
      state.live.set(event.alert_id, {
        ...alert, details: event.details, notes: event.notes, updated_at: event.occurred_at, last_event_id: event.id,
      });
    }
  } else if (event.kind === "ended") {
    state.live.delete(event.alert_id);
  } else if (event.kind === "retracted") {
    state.live.delete(event.alert_id);
    noteRetraction(event);
  }
}

const MAX_NOTICES = 5; // the newest retractions shown; older ones are in the log

/** A retraction stays in view until dismissed: people who saw the alert must see it was false. */
function noteRetraction(event) {
  state.notices = [event, ...(state.notices ?? []).filter((e) => e.alert_id !== event.alert_id)];
  state.notices.length = Math.min(state.notices.length, MAX_NOTICES);
  renderNotices();
}

function renderNotices() {
  const box = $("retractions");
  const notices = state.notices ?? [];
  box.hidden = notices.length === 0;
  box.textContent = "";
  for (const event of notices) {
    const region = state.geo?.byId.get(event.region_id);
    const drill = DRILL_STATUSES.has(event.status);
    const close = h("button", {
      type: "button", class: "chip", "aria-label": t("dismiss"),
      onclick: () => {
        state.notices = state.notices.filter((e) => e !== event);
        renderNotices();
      },
    }, "×");
    box.append(
      h("div", { class: `notice${drill ? " drill" : ""}`, "data-alert": event.alert_id, "data-region": event.region_id },
        h("strong", {}, drill ? `${t(event.status)}: ` : "", t("retracted_title")),
        " ",
        close,
        h("p", { class: "what" }, `${threatName(event.threat)} — ${region ? label(region) : event.region_id}`),
        event.reason ? h("p", { class: "reason" }, `${t("retracted_reason")} ${event.reason}`) : null,
        event.correction ? h("p", { class: "correction", lang: "uk" }, event.correction) : null,
      ),
    );
  }
}

main().catch((err) => {
  console.error(err);
  $("conn-text").textContent = String(err.message ?? err);
});
