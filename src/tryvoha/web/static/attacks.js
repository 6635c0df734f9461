// The night's Air Force tally beside the alerts, in history mode.
//
// When the hub has the attacks ledger imported, the map in history mode shows what the national
// reports counted for the night on screen (launched and neutralised, by class), with the data
// set's licence and attribution. The night is the 06:00–06:00 Kyiv cycle holding the moment
// shown, named by its first date: the same night the ledger files an attack under.
// The panel follows the map through the DOM it already updates (no changes to app.js); all data
// is written as text, never as HTML.

import { getJson } from "./feed.js";
import { getLang } from "./i18n.js";

const STRINGS = {
  uk: {
    title: "Атака за даними Повітряних сил",
    night: "Ніч",
    launched: "випущено",
    neutralised: "знешкоджено",
    none: "Для цієї ночі в даних немає атак.",
    note: "Лише національні звіти; знешкоджено = збито + локаційно втрачено.",
    date_only: "лише дата",
    data: "Дані:",
    classes: {
      attack_drone: "Шахеди та дрони-імітатори",
      strike_drone: "ударні тактичні дрони",
      recon_drone: "розвідувальні дрони",
      unknown_drone: "дрони невідомого типу",
      cruise: "крилаті та керовані ракети",
      anti_ship: "протикорабельні ракети",
      ballistic: "балістичні ракети",
      aeroballistic: "аеробалістичні ракети (Кинджал)",
      sam_ground_attack: "ракети С-300/С-400 по наземних цілях",
      unknown_missile: "ракети невідомого типу",
      guided_bomb: "керовані авіабомби",
      mixed: "кілька класів в одному рядку",
      unknown: "не класифіковано",
    },
  },
  en: {
    title: "The attack in the Air Force reports",
    night: "Night of",
    launched: "launched",
    neutralised: "neutralised",
    none: "No attacks in the data for this night.",
    note: "National reports only; neutralised = shot down + locationally lost.",
    date_only: "date only",
    data: "Data:",
    classes: {},
  },
};

const $ = (id) => document.getElementById(id);
const kyivParts = new Intl.DateTimeFormat("en-US", {
  timeZone: "Europe/Kyiv", hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit",
});

const tally = { available: null, night: null, lang: null, cache: new Map() };
// `available`: a promise of whether the hub has a ledger, asked once (`/attacks/source` answers
// 200 either way, so a hub without one sees no failed request).

function s(key) {
  return (STRINGS[getLang()] ?? STRINGS.en)[key];
}

/** The night a moment is filed under: Kyiv wall time minus six hours, as a date. */
export function nightOf(ms) {
  const p = Object.fromEntries(kyivParts.formatToParts(ms).map((x) => [x.type, x.value]));
  const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute) - 6 * 3600_000;
  return new Date(wall).toISOString().slice(0, 10);
}

function el(tag, cls, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  for (const child of children) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function link(href, text) {
  const a = el("a", null, text);
  if (/^https:\/\//.test(href ?? "")) {
    a.href = href;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
  }
  return a;
}

function panel() {
  let box = $("attack-tally");
  if (!box) {
    box = el("section", "tally");
    box.id = "attack-tally";
    box.setAttribute("aria-live", "polite");
    box.hidden = true;
    $("history").after(box);
  }
  return box;
}

function count(value) {
  return value == null ? "–" : Number(value).toLocaleString(getLang() === "uk" ? "uk-UA" : "en-GB");
}

function nightLabel(night) {
  const start = new Date(`${night}T12:00:00Z`);
  const end = new Date(start.getTime() + 86400_000);
  const locale = getLang() === "uk" ? "uk-UA" : "en-GB";
  const day = (d, opts) => d.toLocaleDateString(locale, { timeZone: "UTC", ...opts });
  return `${s("night")} ${day(start, { day: "numeric" })}→${day(end, { day: "numeric", month: "long", year: "numeric" })}`;
}

function className(row) {
  return s("classes")[row.key] ?? row.label ?? row.key;
}

function render(doc) {
  const box = panel();
  box.textContent = "";
  box.dataset.night = doc.night;
  box.append(el("h2", null, s("title")), el("div", "tally-night", nightLabel(doc.night)));
  if (!doc.attacks.length) {
    box.append(el("p", "tally-empty", s("none")));
  } else {
    box.append(
      el("p", "tally-sum",
        el("b", "tally-launched", count(doc.total.launched)), ` ${s("launched")} · `,
        el("b", "tally-neutralised", count(doc.total.neutralised)), ` ${s("neutralised")}`),
    );
    const list = el("ul", "tally-classes");
    for (const row of doc.classes) {
      const item = el("li", null, el("span", null, className(row)),
        el("span", "n", `${count(row.launched)} / ${count(row.neutralised)}`));
      item.dataset.class = row.key;
      list.append(item);
    }
    box.append(list);
    const windows = el("ol", "tally-attacks");
    for (const attack of doc.attacks) {
      const w = attack.window;
      const when = w.date_only
        ? `${w.as_reported} (${s("date_only")})`
        : `${w.start_local.slice(11, 16)}–${w.end_local.slice(11, 16)}`;
      windows.append(el("li", null, `${when} · ${attack.reporter}`));
    }
    box.append(windows, el("p", "tally-note", s("note")));
  }
  box.append(
    el("p", "tally-licence", `${s("data")} `, link(doc.source_url, doc.attribution), " · ",
      link(doc.licence_url, doc.licence)),
  );
  box.hidden = false;
  document.documentElement.dataset.attackTally = "shown";
}

async function load(night) {
  if (!tally.cache.has(night)) {
    tally.cache.set(night, getJson(`/api/v1/attacks/nights/${night}`));
  }
  try {
    return await tally.cache.get(night);
  } catch {
    tally.cache.delete(night);
    return null;
  }
}

async function available() {
  if (tally.available === null) {
    tally.available = getJson("/api/v1/attacks/source").then((d) => d.imported, () => false);
    tally.available.then((yes) => {
      if (!yes) document.documentElement.dataset.attackTally = "unavailable";
    });
  }
  return tally.available;
}

async function update() {
  const map = window.tryvohaMap;
  if (!map || !(await available())) return;
  const box = panel();
  if (map.state.mode !== "history") {
    box.hidden = true;
    tally.night = null;
    document.documentElement.dataset.attackTally = "hidden";
    return;
  }
  const night = nightOf(map.state.history.time);
  if (night === tally.night && getLang() === tally.lang) return;
  tally.night = night;
  tally.lang = getLang();
  const doc = await load(night);
  if (doc && tally.night === night) render(doc);
  else if (!doc) box.hidden = true;
}

function start() {
  const watch = new MutationObserver(() => update());
  watch.observe($("history-time"), { childList: true, characterData: true, subtree: true });
  watch.observe($("history-banner"), { attributes: true, attributeFilter: ["class"] });
  watch.observe(document.documentElement, { attributes: true, attributeFilter: ["lang", "data-ready"] });
}

start();
