// The alerts feed: the latest alerts, then live ones from the server-sent event stream
// (/api/v1/alerts/stream, read with fetch so that the token travels in the Authorization header).
import { api, token, unauthorized } from "./api.js";
import { formatTime, getLang, t } from "./i18n.js";

const MAX_ITEMS = 100;
const state = {
  twin: null,
  alerts: new Map(), // id -> alert (with .plain)
  lastId: 0,
  controller: null,
  retryMs: 2000,
  onChange: () => {},
  onLocate: () => {},
  stopped: true,
};

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function setStatus(key) {
  const s = document.getElementById("feed-status");
  s.dataset.state = key;
  s.textContent = t(`feed_${key}`);
}

function card(a, isNew) {
  const p = (a.plain && a.plain[getLang()]) || { headline: a.title, who: "", what: a.message, where: "", todo: [] };
  const lvl = ["blue", "yellow", "orange", "red"].includes(a.level) ? a.level : "none";
  const li = el("li", { class: `alert-card lvl-${lvl}${isNew ? " is-new" : ""}`, "data-alert-id": String(a.id) });
  const hid = `alert-${a.id}-h`;
  li.setAttribute("aria-labelledby", hid);
  li.append(
    el("span", { class: `badge lvl-${lvl}`, text: t(`warn_${lvl}`) }),
    el("h3", { id: hid, text: p.headline }),
    // stamped with the time of the observation that raised it, when there is one
    el("p", {
      class: "alert-meta",
      text: `${a.observed_at ? t("observed_at") : t("issued_at")} ${formatTime(a.observed_at || a.created_at)} · ${t(`alert_status_${a.status}`)}`,
    }),
  );
  const dl = el("dl");
  const todo = el("ul");
  for (const item of p.todo || []) todo.append(el("li", { text: item }));
  for (const [k, v] of [["who", p.who], ["what", p.what], ["where", p.where]]) {
    if (!v) continue;
    dl.append(el("dt", { text: t(k) }), el("dd", { text: v }));
  }
  if ((p.todo || []).length) dl.append(el("dt", { text: t("todo") }), el("dd", {}, todo));
  li.append(dl);
  if (a.plain && a.plain.source) li.append(el("p", { class: "src", text: t("advice_source") + a.plain.source }));
  if (a.unit_id || a.asset_id) {
    const b = el("button", { type: "button", class: "secondary", text: t("show_on_map") });
    b.addEventListener("click", () => state.onLocate(a));
    li.append(b);
  }
  return li;
}

/** Render the whole feed (newest first) in the current language. */
export function renderFeed(newIds = new Set()) {
  const ol = document.getElementById("alert-feed");
  const items = [...state.alerts.values()].sort((a, b) => b.id - a.id).slice(0, MAX_ITEMS);
  ol.replaceChildren(...items.map((a) => card(a, newIds.has(a.id))));
  document.getElementById("feed-empty").hidden = items.length > 0;
  if (!state.stopped) setStatus(document.getElementById("feed-status").dataset.state || "connecting");
}

function announce(a) {
  const p = (a.plain && a.plain[getLang()]) || { headline: a.title, where: "" };
  document.getElementById("alert-announcer").textContent = `${t("new_alert")}: ${p.headline}${p.where ? " — " + p.where : ""}`;
}

function accept(ev, a) {
  if (state.twin && a.twin && a.twin !== state.twin) return;
  state.alerts.set(a.id, a);
  if (ev === "alert") {
    state.lastId = Math.max(state.lastId, a.id);
    renderFeed(new Set([a.id]));
    announce(a);
  } else {
    renderFeed();
  }
  state.onChange(ev, a);
}

function parseEvent(chunk) {
  let event = "message", data = "", id = null;
  for (const line of chunk.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data += (data ? "\n" : "") + value;
    else if (field === "id") id = value;
    else if (field === "retry" && /^\d+$/.test(value)) state.retryMs = Number(value);
  }
  return { event, data, id };
}

async function connect() {
  if (state.stopped) return;
  state.controller = new AbortController();
  const url = new URL("/api/v1/alerts/stream", window.location.origin);
  url.searchParams.set("after", String(state.lastId));
  if (state.twin) url.searchParams.set("twin", state.twin);
  try {
    const r = await fetch(url, {
      headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" },
      signal: state.controller.signal,
      cache: "no-store",
    });
    if (r.status === 401) {
      state.stopped = true;
      unauthorized();
      return;
    }
    if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
    setStatus("live");
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const ev = parseEvent(chunk);
        if (ev.event === "alert" || ev.event === "alert-update") accept(ev.event, JSON.parse(ev.data));
      }
    }
  } catch (e) {
    if (state.stopped) return;
  }
  if (state.stopped) return;
  setStatus("reconnecting");
  setTimeout(connect, state.retryMs);
}

/** Load the latest alerts and follow the live stream. */
export async function startFeed(twin, { onChange, onLocate } = {}) {
  stopFeed();
  state.twin = twin;
  state.onChange = onChange || (() => {});
  state.onLocate = onLocate || (() => {});
  state.alerts.clear();
  state.stopped = false;
  setStatus("connecting");
  const j = await api("/api/v1/dashboard/alerts", { params: { twin, limit: 50 } });
  for (const a of j.items) state.alerts.set(a.id, a);
  state.lastId = j.last_id;
  renderFeed();
  connect();
}

export function stopFeed() {
  state.stopped = true;
  if (state.controller) state.controller.abort();
  state.controller = null;
}
