// The dispatcher's console (docs/console.md): compose, preview, confirm; open alerts with update,
// end and retract; proposals with approve and reject; the token's own actions; delivery receipts.
// It speaks only the operator API, with a token kept in sessionStorage (gone with the tab).
// Everything that comes from data is written with textContent: the page holds no HTML strings.

import { apiCall, ApiError } from "./console-api.js";
import { detailName, getLang, setLang, threatName, tr } from "./console-i18n.js";
import { loadGeo, lineage } from "./geo.js";
import { MapView } from "./mapview.js";

const TOKEN_KEY = "tryvoha.console.token";
const THREATS = ["air_raid", "artillery_shelling", "urban_fights", "chemical", "nuclear"];
const DETAILS = ["drones", "cruise_missile", "ballistic_missile", "guided_bombs", "aviation"];
const DRILLS = new Set(["exercise", "test"]);
const SVG = "http://www.w3.org/2000/svg";
const EARTH = 6378137;
const RECEIPT_POLLS = 30;
const RECENT_PROPOSALS_MS = 15 * 60 * 1000;
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  me: null,
  geo: null,
  view: null,
  chosen: [], // region indexes in the map's tree order
  status: "actual",
  preview: null, // { body, doc, key }
  open: [],
  proposals: [],
  actions: [],
  refreshing: null,
  source: null,
  poll: null,
};

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const api = (method, path, body, headers) => apiCall(state.token, method, path, body, headers);

// Errors --------------------------------------------------------------------------------------

function showError(err) {
  const box = $("error");
  box.hidden = false;
  box.textContent = err instanceof ApiError ? `${err.message} (${err.code})` : String(err?.message ?? err);
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// Regions -------------------------------------------------------------------------------------

function label(region) {
  return getLang() === "uk" ? region.labelUk : region.labelEn;
}

function regionById(id) {
  return state.geo?.byId.get(id) ?? null;
}

function regionName(id) {
  const region = regionById(id);
  return region ? label(region) : id;
}

function parentsOf(region) {
  return lineage(state.geo, region.i).slice(1).map(label).join(", ");
}

/** Whether this token may touch alerts of `regionId` with `status`. */
function mayTouch(regionId, status) {
  const me = state.me;
  if (!me) return false;
  if (me.mode === "drills_only" && status === "actual") return false;
  if (me.scopes === null) return true;
  const region = regionById(regionId);
  if (!region) return false;
  const ids = new Set([region.id, ...lineage(state.geo, region.i).map((r) => r.id)]);
  return me.scopes.some((s) => ids.has(s.id));
}

function search(text) {
  const q = text.trim().toLowerCase();
  const list = $("search-results");
  list.textContent = "";
  if (q.length < 2 || !state.geo) return;
  const found = [];
  for (const region of state.geo.regions) {
    const names = [region.labelUk, region.labelEn, region.uk, region.en].map((n) => (n ?? "").toLowerCase());
    const at = Math.min(...names.map((n) => (n.includes(q) ? (n.startsWith(q) ? 0 : 1) : 9)));
    if (at < 9) found.push([at, region.level, region]);
  }
  found.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [, , region] of found.slice(0, 12)) {
    const parents = parentsOf(region);
    list.append(
      h("li", {}, h("button", {
        type: "button", "data-region": region.id, onclick: () => choose(region.i, true),
      }, `${tr("add")}: ${label(region)}`, parents ? h("span", { class: "sub" }, ` — ${parents}`) : null)),
    );
  }
}

function choose(i, fromSearch = false) {
  if (!state.chosen.includes(i)) {
    // A region inside a chosen one, or containing one, replaces it: the API refuses nesting.
    const inside = (a, b) => a > b && a < state.geo.end[b];
    state.chosen = state.chosen.filter((j) => !inside(j, i) && !inside(i, j));
    state.chosen.push(i);
  }
  state.preview = null;
  renderChosen();
  $("preview").hidden = true;
  if (fromSearch) {
    $("search").value = "";
    $("search-results").textContent = "";
    $("search").focus();
  }
}

function unchoose(i) {
  state.chosen = state.chosen.filter((j) => j !== i);
  state.preview = null;
  $("preview").hidden = true;
  renderChosen();
}

function onMapSelect(i) {
  if (i == null || !state.geo) return;
  const level = Number($("pick-level").value);
  let region = state.geo.regions[i];
  while (region.level > level && region.parent >= 0) region = state.geo.regions[region.parent];
  if (state.chosen.includes(region.i)) unchoose(region.i);
  else choose(region.i);
}

function renderChosen() {
  const list = $("chosen");
  list.textContent = "";
  $("chosen-empty").hidden = state.chosen.length > 0;
  for (const i of state.chosen) {
    const region = state.geo.regions[i];
    list.append(
      h("li", { "data-region": region.id },
        h("span", {}, label(region), h("span", { class: "sub" }, parentsOf(region) ? ` — ${parentsOf(region)}` : "")),
        h("button", { type: "button", class: "chip", "aria-label": `${tr("remove")}: ${label(region)}`, onclick: () => unchoose(i) }, "×"),
      ),
    );
  }
  paintChosen();
}

function paintChosen() {
  const view = state.view;
  if (!view) return;
  const covered = new Set();
  for (const i of state.chosen) {
    if (state.geo.regions[i].level === 3) covered.add(i);
    for (let j = i + 1; j < state.geo.end[i]; j++) covered.add(j);
  }
  for (const [i, node] of view.nodes) {
    const cls = covered.has(i) ? "h pick" : "h";
    if (view.classes.get(i) !== cls) {
      node.setAttribute("class", cls);
      view.classes.set(i, cls);
    }
  }
  drawArea(null);
}

/** The preview's GeoJSON area, projected as the map is (Web Mercator, the asset's grid). */
function drawArea(geometry) {
  const view = state.view;
  if (!view) return;
  if (!state.areaLayer) {
    state.areaLayer = document.createElementNS(SVG, "path");
    state.areaLayer.setAttribute("class", "pv");
    state.areaLayer.setAttribute("fill-rule", "evenodd");
    view.fills.after(state.areaLayer);
  }
  let d = "";
  if (geometry) {
    const { unit, x0, y0 } = state.geo.transform;
    const point = ([lon, lat]) => {
      const mx = (EARTH * lon * Math.PI) / 180;
      const my = EARTH * Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));
      return `${((mx - x0) / unit).toFixed(1)} ${((y0 - my) / unit).toFixed(1)}`;
    };
    const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    for (const polygon of polygons) {
      for (const ring of polygon) d += `M${ring.map(point).join("L")}Z`;
    }
  }
  state.areaLayer.setAttribute("d", d);
  state.areaLayer.dataset.drawn = d ? "1" : "0";
}

/** The hub's reason for a second operator (English), in the page's language. */
function ruleText(rule) {
  if (!rule || getLang() === "en") return rule ?? "";
  const level = { oblast: "області", raion: "району", hromada: "громади" };
  let m = /^an actual (\w+) alert needs a second operator$/.exec(rule);
  if (m) return `справжня тривога «${threatName(m[1])}» потребує другого оператора`;
  if (/^an alert for the whole country/.test(rule)) return "тривога для всієї країни потребує другого оператора";
  m = /^an alert touching (\d+) oblasts \(more than (\d+)\)/.exec(rule);
  if (m) return `тривога для ${m[1]} областей (більше ніж ${m[2]}) потребує другого оператора`;
  m = /^an alert at ([\w ]+) level needs/.exec(rule);
  if (m) return `тривога рівня ${m[1].split(" and ").map((x) => level[x] ?? x).join(" і ")} потребує другого оператора`;
  return rule;
}

// Mode ----------------------------------------------------------------------------------------

function setMode(status) {
  state.status = status;
  document.body.dataset.mode = status;
  for (const radio of document.querySelectorAll("input[name=status]")) radio.checked = radio.value === status;
  const banner = $("mode-banner");
  banner.hidden = !DRILLS.has(status);
  banner.textContent = DRILLS.has(status) ? tr(`banner_${status}`) : "";
  // Even the tab's title says so: a drill is never mistaken for the real thing.
  document.title = DRILLS.has(status) ? `${tr(`mode_${status}`).toUpperCase()} — ${tr("page_title")}` : tr("page_title");
  state.preview = null;
  $("preview").hidden = true;
}

// Compose and preview -------------------------------------------------------------------------

function fillThreats() {
  const select = $("threat");
  const current = select.value || "air_raid";
  select.textContent = "";
  for (const threat of THREATS) select.append(h("option", { value: threat }, threatName(threat)));
  select.value = current;
  const box = $("details");
  const ticked = new Set([...box.querySelectorAll("input:checked")].map((x) => x.value));
  box.textContent = "";
  for (const detail of DETAILS) {
    box.append(h("label", {}, h("input", { type: "checkbox", value: detail, checked: ticked.has(detail) }), " ", detailName(detail)));
  }
  $("details-box").hidden = select.value !== "air_raid";
}

function declarationBody() {
  const ids = state.chosen.map((i) => state.geo.regions[i].id);
  const threat = $("threat").value;
  const body = ids.length === 1 ? { region_id: ids[0] } : { region_ids: ids };
  body.threat = threat;
  body.status = state.status;
  if (threat === "air_raid") body.details = [...$("details").querySelectorAll("input:checked")].map((x) => x.value);
  const notes = $("notes").value.trim();
  if (notes) body.notes = notes;
  return body;
}

async function preview() {
  clearError();
  if (!state.chosen.length) {
    showError(new Error(tr("nothing_chosen")));
    return;
  }
  const body = declarationBody();
  try {
    const doc = await api("POST", "/api/v1/operator/preview", body);
    // One key per previewed declaration: a repeated Confirm (a lost answer) cannot send twice.
    state.preview = { body, doc, key: crypto.randomUUID() };
    renderPreview();
    $("preview").hidden = false;
    $("receipt").hidden = true;
    $("preview").focus();
  } catch (err) {
    state.preview = null;
    $("preview").hidden = true;
    showError(err);
  }
}

function renderPreview() {
  const p = state.preview;
  if (!p) return;
  const { doc, body } = p;
  $("preview-mode").textContent = tr(`line_${body.status}`);
  const names = doc.regions.map((r) => regionName(r.id)).join(", ");
  const summary = $("preview-summary");
  summary.textContent = `${threatName(body.threat)} — ${names}: ${doc.hromadas} ${tr("hromadas")}, ${doc.oblasts} ${tr("oblasts")}`;
  summary.dataset.hromadas = String(doc.hromadas);
  const rule = $("preview-rule");
  rule.hidden = !doc.second_person;
  rule.textContent = doc.second_person
    ? `${tr("second_person")} ${ruleText(doc.rule)}. ${tr("expires_in")} ${doc.expires_in_seconds} ${tr("seconds")}.`
    : "";
  const channels = $("preview-channels");
  channels.textContent = "";
  channels.className = "channels";
  channels.append(h("h3", {}, tr("channels")));
  doc.channels.forEach((payloads, n) => {
    const event = doc.events[n];
    for (const [name, payload] of Object.entries(payloads)) {
      channels.append(
        h("details", { "data-channel": name, "data-event": n },
          h("summary", {}, `${tr(`ch_${name}`)} · ${regionName(event.region_id)}${payload.topic ? ` · ${payload.topic}` : ""}`),
          h("p", { class: "hint" }, payload.note),
          h("pre", {}, payload.body),
        ),
      );
    }
  });
  const confirm = $("confirm-btn");
  confirm.textContent = doc.second_person ? tr("propose_actual") : tr(`confirm_${body.status}`);
  confirm.disabled = false;
  drawArea(doc.area);
  if (state.chosen.length) state.view?.zoomTo(state.chosen.length === 1 ? state.chosen[0] : 0);
}

async function confirmSend() {
  const p = state.preview;
  if (!p) return;
  clearError();
  const button = $("confirm-btn");
  button.disabled = true;
  button.textContent = tr("sending");
  try {
    const answer = await api("POST", "/api/v1/alerts", p.body, { "Idempotency-Key": p.key });
    state.preview = null;
    $("preview").hidden = true;
    state.chosen = [];
    renderChosen();
    $("notes").value = "";
    if (answer.proposal) showProposed(answer.proposal);
    else showReceipt(answer.events ?? [answer.event], p.body.status);
    refreshLists();
  } catch (err) {
    button.disabled = false;
    renderPreview();
    showError(err);
  }
}

// Receipts ------------------------------------------------------------------------------------

function showProposed(proposal) {
  const box = $("receipt");
  box.hidden = false;
  box.dataset.kind = "proposal";
  $("receipt-what").textContent = "";
  const until = new Date(Date.parse(proposal.expires_at)).toLocaleTimeString(getLang() === "uk" ? "uk-UA" : "en-GB");
  $("receipt-text").textContent = tr("proposed", { id: proposal.id, until });
  box.focus();
}

async function showReceipt(events, status) {
  const box = $("receipt");
  box.hidden = false;
  box.dataset.kind = "receipt";
  box.dataset.status = status;
  box.dataset.done = "0";
  const text = $("receipt-text");
  text.textContent = tr("sending");
  const kinds = tr("kinds");
  $("receipt-what").textContent = events
    .map((e) => `${kinds[e.kind] ?? e.kind}: ${threatName(e.threat)} — ${regionName(e.region_id)}`)
    .join("; ");
  box.focus();
  const ids = events.map((e) => e.id);
  for (let n = 0; n < RECEIPT_POLLS; n++) {
    let docs;
    try {
      docs = await Promise.all(ids.map((id) => api("GET", `/api/v1/events/${id}/delivery`)));
    } catch (err) {
      showError(err);
      return;
    }
    const sum = summarise(docs);
    const prefix = DRILLS.has(status) ? `${tr(`line_${status}`)}. ` : "";
    text.textContent = prefix + tr("receipt", sum);
    Object.assign(box.dataset, { reached: sum.n, acknowledged: sum.k, webhooks: sum.total });
    const settled = sum.k + sum.failing >= sum.total && sum.n >= 0 && sum.mqttSettled && n >= 2;
    if (settled) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  box.dataset.done = "1";
}

function summarise(docs) {
  let n = 0;
  let ms = 0;
  let k = 0;
  let total = 0;
  let failing = 0;
  let error = null;
  let mqttMs = null;
  let mqttOn = false;
  let mqttSettled = true;
  let cap = true;
  for (const doc of docs) {
    const c = doc.channels;
    if (!c) continue;
    n += c.streams.reached;
    ms = Math.max(ms, c.streams.after_ms ?? 0);
    k += c.webhooks.acknowledged;
    total += c.webhooks.subscriptions;
    failing += c.webhooks.retrying + c.webhooks.expired;
    error = c.webhooks.last_error ?? error;
    mqttOn = mqttOn || c.mqtt.configured;
    if (c.mqtt.configured && c.mqtt.after_ms == null) mqttSettled = false;
    if (c.mqtt.after_ms != null) mqttMs = Math.max(mqttMs ?? 0, c.mqtt.after_ms);
    cap = cap && c.cap.available;
  }
  const mqtt = !mqttOn ? tr("mqtt_off") : mqttMs == null ? tr("mqtt_waiting") : tr("mqtt_handed", { ms: Math.round(mqttMs) });
  return {
    n: n.toLocaleString(getLang() === "uk" ? "uk-UA" : "en-GB"),
    ms: Math.round(ms),
    k,
    total,
    failing,
    failed: error ? tr("receipt_failed", { error }) : "",
    mqtt,
    mqttSettled,
    cap: cap ? tr("cap_ready") : "—",
  };
}

// Lists ---------------------------------------------------------------------------------------

function tag(status) {
  return h("span", { class: `tag ${status}` }, tr("status_names")[status] ?? status);
}

function kyivTime(iso) {
  return new Date(Date.parse(iso)).toLocaleTimeString(getLang() === "uk" ? "uk-UA" : "en-GB", {
    timeZone: "Europe/Kyiv", hour: "2-digit", minute: "2-digit",
  });
}

async function refreshLists() {
  if (!state.me) return;
  if (state.refreshing) return state.refreshing;
  state.refreshing = (async () => {
    try {
      const [active, proposals, actions] = await Promise.all([
        api("GET", "/api/v1/alerts/active?status=actual&status=exercise&status=test"),
        api("GET", "/api/v1/proposals?state=all"),
        api("GET", "/api/v1/operator/actions?limit=15"),
      ]);
      state.open = active.alerts.filter((a) => mayTouch(a.region_id, a.status));
      // Pending ones, and those decided or expired in the last minutes (so they do not vanish).
      const recent = (p) => Date.now() - Date.parse(p.decided_at ?? p.expires_at) < RECENT_PROPOSALS_MS;
      state.proposals = proposals.proposals.filter((p) => p.state === "pending" || recent(p));
      state.actions = actions.events;
      renderLists();
    } catch (err) {
      if (err.status === 401) return signOut(err);
      showError(err);
    } finally {
      state.refreshing = null;
    }
  })();
  return state.refreshing;
}

function renderLists() {
  const open = $("open-list");
  open.textContent = "";
  $("open-empty").hidden = state.open.length > 0;
  for (const alert of state.open) {
    const details = alert.details.map(detailName).join(", ");
    open.append(
      h("li", { class: DRILLS.has(alert.status) ? "drill" : "", "data-alert": alert.id, "data-status": alert.status },
        h("span", { class: "what" },
          tag(alert.status), " ", `${threatName(alert.threat)} — ${regionName(alert.region_id)}`,
          h("span", { class: "sub" }, ` · ${tr("since")} ${kyivTime(alert.started_at)}${details ? ` · ${details}` : ""}${alert.notes ? ` · ${alert.notes}` : ""}`),
        ),
        h("span", { class: "actions" },
          h("button", { type: "button", "data-act": "update", onclick: () => updateAlert(alert) }, tr("update")),
          h("button", { type: "button", "data-act": "end", onclick: () => endAlert(alert) }, tr("end")),
          h("button", { type: "button", "data-act": "retract", onclick: () => retractAlert(alert) }, tr("retract")),
        ),
      ),
    );
  }

  const list = $("proposal-list");
  list.textContent = "";
  $("proposals-empty").hidden = state.proposals.length > 0;
  for (const p of state.proposals) {
    const mine = p.proposed_by === state.me.originator;
    const names = p.region_ids.map(regionName).join(", ");
    let controls;
    if (p.state !== "pending") controls = h("span", { class: "sub" }, tr("proposal_states")[p.state] ?? p.state);
    else if (p.can_approve) {
      controls = h("span", { class: "actions" },
        h("button", { type: "button", "data-act": "approve", onclick: () => decide(p, "approve") }, tr("approve")),
        h("button", { type: "button", "data-act": "reject", onclick: () => decide(p, "reject") }, tr("reject")),
      );
    } else if (mine) {
      controls = h("span", { class: "actions" },
        h("span", { class: "sub" }, tr("own_proposal")), " ",
        h("button", { type: "button", "data-act": "withdraw", onclick: () => decide(p, "reject") }, tr("withdraw")),
      );
    } else controls = h("span", { class: "sub" }, tr("not_in_scope"));
    list.append(
      h("li", { "data-proposal": p.id, "data-state": p.state, "data-can-approve": p.can_approve ? "1" : "0" },
        h("span", { class: "what" }, tag(p.status), " ", `#${p.id} ${threatName(p.threat)} — ${names}`,
          h("span", { class: "sub" }, ` · ${p.proposed_by} · ${ruleText(p.rule)} · ${tr("until")} ${kyivTime(p.expires_at)}`)),
        controls,
      ),
    );
  }

  const actions = $("action-list");
  actions.textContent = "";
  $("actions-empty").hidden = state.actions.length > 0;
  for (const e of state.actions) {
    actions.append(
      h("li", { "data-event": e.id, "data-kind": e.kind },
        h("span", { class: "what" }, `${kyivTime(e.recorded_at)} · ${tr("kinds")[e.kind] ?? e.kind} · `, tag(e.status), " ",
          `${threatName(e.threat)} — ${regionName(e.region_id)}`, e.reason ? h("span", { class: "sub" }, ` · ${e.reason}`) : null),
      ),
    );
  }
}

// Dialogs and the actions on alerts and proposals ------------------------------------------

/** One confirmation: resolves to { reason, notes, details } on OK, null on cancel. */
function ask({ title, text, ok, status, reason = false, correction = null, edit = null }) {
  const dialog = $("ask");
  dialog.dataset.mode = status;
  $("ask-title").textContent = title;
  $("ask-text").textContent = DRILLS.has(status) ? `${tr(`line_${status}`)}. ${text ?? ""}` : (text ?? "");
  $("ask-ok").textContent = ok;
  $("ask-reason-box").hidden = !reason && !edit;
  $("ask-reason-label").textContent = edit ? tr("notes_label") : tr("reason");
  $("ask-reason").value = edit ? (edit.notes ?? "") : "";
  $("ask-correction-box").hidden = correction == null;
  $("ask-correction").textContent = correction ?? "";
  $("ask-error").hidden = true;
  let detailBox = dialog.querySelector(".edit-details");
  detailBox?.remove();
  if (edit?.threat === "air_raid") {
    detailBox = h("fieldset", { class: "edit-details" }, h("legend", {}, tr("details")));
    for (const d of DETAILS) {
      detailBox.append(h("label", {}, h("input", { type: "checkbox", value: d, checked: edit.details.includes(d) }), " ", detailName(d)));
    }
    $("ask-reason-box").after(detailBox);
  }
  return new Promise((resolve) => {
    const form = $("ask-form");
    const submit = (e) => {
      if (e.submitter?.value === "ok" && reason && !$("ask-reason").value.trim()) {
        e.preventDefault();
        $("ask-error").hidden = false;
        $("ask-error").textContent = tr("reason_needed");
        $("ask-reason").focus();
      }
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("close", () => {
      form.removeEventListener("submit", submit);
      if (dialog.returnValue !== "ok") return resolve(null);
      const details = detailBox ? [...detailBox.querySelectorAll("input:checked")].map((x) => x.value) : null;
      resolve({ reason: $("ask-reason").value.trim(), notes: $("ask-reason").value.trim(), details });
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    (reason || edit ? $("ask-reason") : $("ask-cancel")).focus();
  });
}

async function act(fn) {
  clearError();
  try {
    await fn();
  } catch (err) {
    showError(err);
  }
  await refreshLists();
}

function key() {
  return { "Idempotency-Key": crypto.randomUUID() };
}

async function endAlert(alert) {
  const answer = await ask({
    title: tr("ask_end"), text: `${threatName(alert.threat)} — ${regionName(alert.region_id)}`, ok: tr("end"), status: alert.status,
  });
  if (!answer) return;
  await act(async () => {
    const done = await api("POST", `/api/v1/alerts/${alert.id}/end`, {}, key());
    showReceipt([done.event], alert.status);
  });
}

async function retractAlert(alert) {
  let correction;
  try {
    correction = (await api("GET", `/api/v1/operator/alerts/${alert.id}/correction`)).correction;
  } catch (err) {
    showError(err);
    return;
  }
  const answer = await ask({
    title: tr("ask_retract"),
    text: `${threatName(alert.threat)} — ${regionName(alert.region_id)}. ${tr("ask_retract_text")}`,
    ok: tr("retract"),
    status: alert.status,
    reason: true,
    correction,
  });
  if (!answer) return;
  await act(async () => {
    const done = await api("POST", `/api/v1/alerts/${alert.id}/retract`, { reason: answer.reason }, key());
    showReceipt([done.event], alert.status);
  });
}

async function updateAlert(alert) {
  const answer = await ask({
    title: tr("ask_update"), text: `${threatName(alert.threat)} — ${regionName(alert.region_id)}`, ok: tr("update"),
    status: alert.status, edit: alert,
  });
  if (!answer) return;
  const body = {};
  if (answer.details) body.details = answer.details;
  if (answer.notes) body.notes = answer.notes;
  else if (alert.notes) body.clear_notes = true;
  await act(async () => {
    const done = await api("PATCH", `/api/v1/alerts/${alert.id}`, body, key());
    showReceipt([done.event], alert.status);
  });
}

async function decide(proposal, verb) {
  const approve = verb === "approve";
  const answer = await ask({
    title: approve ? tr("ask_approve") : tr("ask_reject"),
    text: `#${proposal.id} ${threatName(proposal.threat)} — ${proposal.region_ids.map(regionName).join(", ")}`,
    ok: approve ? tr("approve") : tr("reject"),
    status: proposal.status,
    reason: !approve,
  });
  if (!answer) return;
  await act(async () => {
    const body = approve ? undefined : { reason: answer.reason };
    const done = await api("POST", `/api/v1/proposals/${proposal.id}/${verb}`, body, key());
    if (approve) showReceipt(done.events, proposal.status);
  });
}

// Signing in and out -------------------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  try {
    state.me = await api("GET", "/api/v1/operator/me");
  } catch (err) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showError(err);
    return false;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  clearError();
  $("sign-in").hidden = true;
  $("desk").hidden = false;
  $("sign-out").hidden = false;
  renderWho();
  const drillsOnly = state.me.mode === "drills_only";
  const actual = document.querySelector("input[name=status][value=actual]");
  actual.disabled = drillsOnly;
  $("drills-only-hint").hidden = !drillsOnly;
  setMode(drillsOnly ? "exercise" : "actual");
  if (!state.view) {
    state.geo = await loadGeo("/console/map.json");
    state.view = new MapView($("map"), state.geo, { onHover: () => {}, onSelect: onMapSelect });
    state.view.setLabels((r, full) => (full ? label(r) : getLang() === "uk" ? r.uk : r.en));
  }
  renderWho();
  renderChosen();
  await refreshLists();
  follow();
  document.documentElement.dataset.signedIn = "1";
  return true;
}

function signOut(err) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.me = null;
  state.source?.close();
  state.source = null;
  $("desk").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("who").textContent = "";
  $("token").value = "";
  document.body.dataset.mode = "signed-out";
  $("mode-banner").hidden = true;
  document.documentElement.dataset.signedIn = "0";
  if (err) showError(err);
}

function renderWho() {
  const me = state.me;
  const who = $("who");
  who.textContent = "";
  if (!me) return;
  const named = (s) => (regionById(s.id) ? regionName(s.id) : (getLang() === "uk" ? s.name_uk : s.name_en) ?? s.id);
  const scopes = me.scopes === null ? tr("all_regions") : me.scopes.map(named).join(", ");
  who.append(
    h("span", {}, `${tr("signed_in_as")}: `, h("b", { id: "who-name" }, me.name)),
    h("span", {}, `${tr("scope")} `, h("b", { id: "who-scope" }, scopes)),
    h("span", { class: `badge ${me.mode === "drills_only" ? "drills" : "all"}`, id: "who-mode" },
      me.mode === "drills_only" ? tr("mode_drills_only") : tr("mode_all")),
    h("span", { id: "who-approve" }, me.may_approve ? tr("may_approve") : tr("may_not_approve")),
  );
}

/** Lists follow the log live (the public stream); proposals and expiry also by a slow poll. */
function follow() {
  if (state.source) return;
  let timer = null;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(refreshLists, 150);
  };
  try {
    state.source = new EventSource("/api/v1/stream?drills=true");
    state.source.addEventListener("alert", soon);
  } catch {
    state.source = null;
  }
  state.poll ??= setInterval(() => state.me && refreshLists(), 5000);
}

// Language -----------------------------------------------------------------------------------

function applyLang(value) {
  setLang(value);
  localStorage.setItem("tryvoha.lang", getLang());
  $("lang").textContent = getLang() === "uk" ? "EN" : "УКР";
  fillThreats();
  setMode(state.me ? state.status : "actual");
  if (!state.me) document.body.dataset.mode = "signed-out";
  $("mode-banner").hidden = !state.me || !DRILLS.has(state.status);
  renderWho();
  if (state.geo) {
    state.view?.setLabels((r, full) => (full ? label(r) : getLang() === "uk" ? r.uk : r.en));
    renderChosen();
    renderLists();
  }
}

async function main() {
  const hinted = new URLSearchParams(location.search).get("lang");
  applyLang(hinted || localStorage.getItem("tryvoha.lang") || (navigator.language?.startsWith("en") ? "en" : "uk"));
  $("lang").addEventListener("click", () => {
    const keep = state.preview;
    applyLang(getLang() === "uk" ? "en" : "uk");
    if (keep) {
      state.preview = keep;
      renderPreview();
      $("preview").hidden = false;
    }
  });
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("token").value.trim());
  });
  $("sign-out").addEventListener("click", () => signOut());
  for (const radio of document.querySelectorAll("input[name=status]")) {
    radio.addEventListener("change", () => setMode(radio.value));
  }
  $("threat").addEventListener("change", () => {
    $("details-box").hidden = $("threat").value !== "air_raid";
    state.preview = null;
    $("preview").hidden = true;
  });
  $("search").addEventListener("input", (e) => search(e.target.value));
  $("search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      $("search-results").querySelector("button")?.click();
    }
  });
  $("preview-btn").addEventListener("click", preview);
  $("confirm-btn").addEventListener("click", confirmSend);
  $("edit-btn").addEventListener("click", () => {
    state.preview = null;
    $("preview").hidden = true;
    drawArea(null);
    $("search").focus();
  });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) await signIn(saved);
  else $("token").focus();
  window.tryvohaConsole = { state };
  document.documentElement.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  showError(err);
});
