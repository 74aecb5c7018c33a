// Chinese/English text of the dashboard: a dictionary (i18n.json), the chosen language, helpers.
const STORE_KEY = "rescity.lang";
let dict = { en: {}, zh: {} };
let lang = "en";
const listeners = [];

export async function loadDictionary() {
  const r = await fetch("/static/i18n.json", { cache: "no-cache" });
  dict = await r.json();
  const saved = localStorage.getItem(STORE_KEY);
  const browser = (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  setLang(saved === "zh" || saved === "en" ? saved : browser, false);
}

export function getLang() {
  return lang;
}

/** Text of `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  let s = (dict[lang] && dict[lang][key]) ?? (dict.en && dict.en[key]) ?? key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** The name of a place in the current language (name_zh / name_en of a unit). */
export function placeName(u) {
  if (!u) return "";
  const zh = u.name_zh || "", en = u.name_en || "";
  const name = lang === "zh" ? zh || en : en || zh;
  return name || u.unit_id || "";
}

export function onLangChange(fn) {
  listeners.push(fn);
}

/** Apply the language to the static page (data-i18n: text, data-i18n-aria: aria-label). */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = lang === "zh" ? "rescity 韧性城市大脑" : "rescity — resilient city dashboard";
  const btn = document.getElementById("lang-toggle");
  if (btn) {
    // the button names the other language, in that language
    const other = lang === "zh" ? "en" : "zh";
    btn.textContent = other === "zh" ? "中文" : "English";
    btn.setAttribute("lang", other === "zh" ? "zh-CN" : "en");
    btn.setAttribute("aria-label", other === "zh" ? "切换到中文" : "Switch to English");
  }
}

export function setLang(next, notify = true) {
  lang = next === "zh" ? "zh" : "en";
  localStorage.setItem(STORE_KEY, lang);
  applyStatic();
  if (notify) for (const fn of listeners) fn(lang);
}

export function toggleLang() {
  setLang(lang === "zh" ? "en" : "zh");
}

/** Date and time in the current language, in the browser's time zone. */
export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
  }).format(d);
}

export function formatNumber(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  const abs = Math.abs(x);
  const d = abs !== 0 && abs < 10 && digits === 0 ? 2 : digits;
  return new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB", { maximumFractionDigits: d }).format(x);
}
