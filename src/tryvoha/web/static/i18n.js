// Interface strings in Ukrainian and English. Data (region names, notes) is never put here:
// it is rendered with textContent wherever it appears.

const STRINGS = {
  uk: {
    title: "Тривога",
    map: "Мапа тривог",
    map_help: "Стрілки — рух, + і − — масштаб, 0 — уся країна, Tab — області, Esc — закрити картку.",
    skip_to_list: "До списку тривог",
    threat: "Загроза",
    legend: "Легенда",
    st_active: "Тривога",
    st_partial: "Частково (тривога в частині регіону)",
    st_none: "Немає тривоги",
    st_drill: "Навчання / тест — не справжня тривога",
    zoom_in: "Наблизити",
    zoom_out: "Віддалити",
    zoom_reset: "Уся країна",
    where_label: "Громада, район або область",
    where_ph: "Громада, район, область",
    find: "Знайти",
    where_am_i: "Де я?",
    history: "Історія",
    date: "Дата",
    time_kyiv: "Час (Київ)",
    show: "Показати",
    play: "▶ Відтворити",
    pause: "⏸ Пауза",
    speed: "Швидкість",
    back_live: "● Наживо",
    scrub: "Час відтворення",
    history_at: "Історія:",
    replay_at: "Повтор:",
    record: "Архів: {first} – {last}",
    record_none: "Архіву тривог немає",
    live_since: "наживо з {since}",
    no_data: "Для {when} немає даних: поза архівом і до запису наживо. Сірий колір тут не означає «без тривоги».",
    replay_banner: "ПОВТОР, не наживо: {from} – {to} (Київ), швидкість ×{speed}",
    show_drills: "Показувати навчальні й тестові тривоги",
    drill_banner: "Показано навчальні й тестові тривоги — це НЕ справжні тривоги",
    retracted_title: "Тривогу скасовано: її оголошено помилково",
    retracted_reason: "Причина:",
    dismiss: "Закрити повідомлення",
    active_alerts: "Активні тривоги",
    no_alerts: "Тривог немає",
    live: "Наживо",
    connecting: "З'єднання…",
    reconnecting: "Перепідключення… дані можуть бути застарілі",
    log: "журнал №",
    in_history: "Режим історії",
    oblasts_active: "областей під тривогою",
    oblasts_partial: "частково",
    of27: "з 27",
    since: "З",
    for: "триває",
    details: "Деталі",
    today: "Тривог сьогодні",
    exercise: "НАВЧАННЯ",
    test: "ТЕСТ",
    drill_note: "Це не справжня тривога",
    locating: "Визначаю місце…",
    geo_denied: "Не вдалося визначити місце",
    outside: "Ця точка поза межами України",
    not_found: "Не знайдено",
    did_you_mean: "Можливо:",
    you_are_in: "Ви тут:",
    partial_why: "тривога в частині регіону",
    level_oblast: "область",
    level_raion: "район",
    level_hromada: "громада",
    h: "год",
    m: "хв",
    s: "с",
    y: "р",
    mo: "міс",
    d: "дн",
    permanent: "Постійна тривога",
    permanent_note: "Постійна тривога: без перерви 7 днів і довше — окуповані або прифронтові території (Луганщина з 04.04.2022, Крим з 11.12.2022, за київським часом).",
    threats: {
      air_raid: "Повітряна тривога",
      artillery_shelling: "Загроза артобстрілу",
      urban_fights: "Вуличні бої",
      chemical: "Хімічна загроза",
      nuclear: "Радіаційна загроза",
    },
    detail_names: {
      drones: "БпЛА",
      cruise_missile: "крилаті ракети",
      ballistic_missile: "балістика",
      guided_bombs: "КАБи",
      aviation: "авіація",
    },
  },
  en: {
    title: "Tryvoha",
    map: "Alert map",
    map_help: "Arrows pan, + and − zoom, 0 shows the whole country, Tab moves between oblasts, Esc closes the card.",
    skip_to_list: "Skip to the alert list",
    threat: "Threat",
    legend: "Legend",
    st_active: "Alert",
    st_partial: "Partial (alert in part of the region)",
    st_none: "No alert",
    st_drill: "Exercise / test — not a real alert",
    zoom_in: "Zoom in",
    zoom_out: "Zoom out",
    zoom_reset: "Whole country",
    where_label: "Hromada, raion or oblast",
    where_ph: "Hromada, raion, oblast",
    find: "Find",
    where_am_i: "Where am I?",
    history: "History",
    date: "Date",
    time_kyiv: "Time (Kyiv)",
    show: "Show",
    play: "▶ Play",
    pause: "⏸ Pause",
    speed: "Speed",
    back_live: "● Live",
    scrub: "Playback time",
    history_at: "History:",
    replay_at: "Replay:",
    record: "Record: {first} – {last}",
    record_none: "No alert record",
    live_since: "live since {since}",
    no_data: "No data for {when}: outside the record and before live recording. Grey here does not mean “no alert”.",
    replay_banner: "REPLAY, not live: {from} – {to} (Kyiv), speed ×{speed}",
    show_drills: "Show exercise and test alerts",
    drill_banner: "Exercise and test alerts are shown — these are NOT real alerts",
    retracted_title: "Alert withdrawn: it was issued in error",
    retracted_reason: "Reason:",
    dismiss: "Dismiss notice",
    active_alerts: "Active alerts",
    no_alerts: "No alerts",
    live: "Live",
    connecting: "Connecting…",
    reconnecting: "Reconnecting… the map may be out of date",
    log: "log #",
    in_history: "History mode",
    oblasts_active: "oblasts under alert",
    oblasts_partial: "partially",
    of27: "of 27",
    since: "Since",
    for: "for",
    details: "Details",
    today: "Alerts today",
    exercise: "EXERCISE",
    test: "TEST",
    drill_note: "This is not a real alert",
    locating: "Finding your place…",
    geo_denied: "Could not get your location",
    outside: "This point is outside Ukraine",
    not_found: "Not found",
    did_you_mean: "Did you mean:",
    you_are_in: "You are in:",
    partial_why: "alert in part of the region",
    level_oblast: "oblast",
    level_raion: "raion",
    level_hromada: "hromada",
    h: "h",
    m: "min",
    s: "s",
    y: "y",
    mo: "mo",
    d: "d",
    permanent: "Permanent alert",
    permanent_note: "Permanent alert: without a break for 7 days or more — occupied or front-line territory (Luhansk oblast since 04/04/2022, Crimea since 11/12/2022, Kyiv time).",
    threats: {
      air_raid: "Air raid",
      artillery_shelling: "Artillery shelling",
      urban_fights: "Urban fights",
      chemical: "Chemical threat",
      nuclear: "Nuclear threat",
    },
    detail_names: {
      drones: "drones",
      cruise_missile: "cruise missiles",
      ballistic_missile: "ballistic missiles",
      guided_bombs: "guided bombs",
      aviation: "aviation",
    },
  },
};

let lang = "uk";

export function setLang(value) {
  lang = STRINGS[value] ? value : "uk";
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  for (const el of document.querySelectorAll("[data-i18n-ph]")) el.setAttribute("placeholder", t(el.dataset.i18nPh));
  document.title = lang === "uk" ? "Тривога — мапа повітряних тривог" : "Tryvoha — air-raid alert map";
}

export function getLang() {
  return lang;
}

export function t(key) {
  return STRINGS[lang][key] ?? STRINGS.uk[key] ?? key;
}

export function threatName(threat) {
  return STRINGS[lang].threats[threat] ?? threat;
}

export function detailName(detail) {
  return STRINGS[lang].detail_names[detail] ?? detail;
}

const timeFormats = new Map();

/** A time as Kyiv wall clock: "06:00", or with the date when `withDate`. */
export function kyivTime(ms, withDate = false) {
  const key = `${lang}:${withDate}`;
  if (!timeFormats.has(key)) {
    const opts = { timeZone: "Europe/Kyiv", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withDate) Object.assign(opts, { day: "2-digit", month: "2-digit", year: "numeric" });
    timeFormats.set(key, new Intl.DateTimeFormat(lang === "uk" ? "uk-UA" : "en-GB", opts));
  }
  return timeFormats.get(key).format(ms);
}

/** "2 год 05 хв" / "2 h 05 min"; seconds only under ten minutes, so timers visibly tick. */
export function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  if (total >= 86400) return longDuration(total / 86400);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} ${t("h")} ${String(m).padStart(2, "0")} ${t("m")}`;
  if (m >= 10) return `${m} ${t("m")}`;
  return `${m} ${t("m")} ${String(s).padStart(2, "0")} ${t("s")}`;
}

const DAYS_A_YEAR = 365.2425;
const DAYS_A_MONTH = DAYS_A_YEAR / 12;

/** "3 р 8 міс" / "3 y 8 mo", "2 mo 4 d", "4 d 3 h": never "40830 h". */
function longDuration(days) {
  if (days >= DAYS_A_YEAR) {
    const years = Math.floor(days / DAYS_A_YEAR);
    const months = Math.floor((days - years * DAYS_A_YEAR) / DAYS_A_MONTH);
    return months ? `${years} ${t("y")} ${months} ${t("mo")}` : `${years} ${t("y")}`;
  }
  if (days >= DAYS_A_MONTH) {
    const months = Math.floor(days / DAYS_A_MONTH);
    const rest = Math.floor(days - months * DAYS_A_MONTH);
    return rest ? `${months} ${t("mo")} ${rest} ${t("d")}` : `${months} ${t("mo")}`;
  }
  return `${Math.floor(days)} ${t("d")} ${Math.floor((days % 1) * 24)} ${t("h")}`;
}

export const PERMANENT_MS = 7 * 86400_000;

/** A start as the list shows it: the time today, with the date before today, the date alone
 * for a permanent alert (its hour says nothing). */
export function sinceText(ms, now) {
  if (now - ms >= PERMANENT_MS) return kyivTime(ms, true).split(/,?\s+/)[0];
  const day = (x) => kyivTime(x, true).split(/,?\s+/)[0];
  return day(ms) === day(now) ? kyivTime(ms) : kyivTime(ms, true);
}
