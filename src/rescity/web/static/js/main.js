// The rescity dashboard: sign-in, map of units coloured by warning level or an indicator, assets,
// decisions, the live alerts feed and Q(t) curves of a selected unit.
import { startFeed, stopFeed, renderFeed } from "./alerts.js";
import { api, clearToken, login, setUnauthorizedHandler, token } from "./api.js";
import { drawQt } from "./chart.js";
import {
  applyStatic, formatNumber, formatTime, getLang, loadDictionary, onLangChange, placeName, t, toggleLang,
} from "./i18n.js";
import * as M from "./map.js";
import { initRunPanel } from "./runs.js";

const $ = (id) => document.getElementById(id);
const LEVELS = ["none", "blue", "yellow", "orange", "red"];

// The lifeline systems come from the system registry through the overview (``system_list``,
// registry order; ``systems``: the ones this user may see).
function systemList() {
  return (S.overview && S.overview.system_list) || [];
}

function systemName(s) {
  const k = `sys_${s}`;
  const v = t(k);
  if (v !== k) return v;
  const e = systemList().find((x) => x.name === s);
  return e ? (getLang() === "zh" ? e.label_zh : e.label_en) : s;
}

function systemColour(s) {
  const e = systemList().find((x) => x.name === s);
  return M.SYSTEM_COLOURS[s] || (e && e.color) || "#000000";
}

const S = {
  me: null,
  twin: null,
  overview: null,
  config: {},
  level: "county",
  geo: {}, // level -> GeoJSON
  mode: "warning",
  forecastId: null,
  frames: [],
  frameIdx: 0,
  indicator: "composite",
  indicators: [],
  runId: null,
  runIndicator: null,
  values: null, // {values: {unit_id: {...}}, range}
  breaks: null,
  alertLevels: null,
  selected: null,
  decisionId: "",
  decisionInfo: null,
  systems: new Set(),
  playTimer: null,
  started: false,
};

// -- helpers ----------------------------------------------------------------------------------
function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function indicatorName(key) {
  const k = `ind_${key}`;
  const s = t(k);
  if (s !== k) return s;
  // hazard summary columns are named by the hazard registry (GET /api/v1/hazards)
  for (const h of (S.overview && S.overview.hazards) || []) {
    const m = h.measures.find((x) => x.column === key);
    if (m) return m.label || `${m.description} (${m.unit})`;
  }
  return key.replaceAll("_", " ");
}

// the status line keeps its message key, so that it follows the language toggle
function setMapStatus(text, key = null) {
  S.statusKey = key;
  $("map-status").textContent = text || "";
}

function setMapStatusKey(key) {
  setMapStatus(t(key), key);
}

/** Nearest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^n at or above (up) or below x ≥ 0. */
export function niceNumber(x, up = true) {
  if (!(x > 0) || !Number.isFinite(x)) return 0;
  const e = Math.pow(10, Math.floor(Math.log10(x)));
  const steps = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * e);
  if (up) return steps.find((s) => s >= x * (1 - 1e-12));
  return [...steps].reverse().find((s) => s <= x * (1 + 1e-12)) || steps[0];
}

// legend classes: round ("nice") numbers near the 20/40/60/80 % quantiles; 0 as the floor of
// non-negative data, so that the first class reads "0 – 5,000", never "1.98 – 6,050"
function quantileBreaks(values) {
  const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * (v.length - 1)))];
  const max = v[v.length - 1];
  const nonneg = v[0] >= 0;
  const nice = (x) => (nonneg && max >= 10 ? niceNumber(x, false) : x);
  const b = [q(0.2), q(0.4), q(0.6), q(0.8)].map(nice);
  for (let k = 1; k < b.length; k++) b[k] = Math.max(b[k], b[k - 1]);
  return { min: nonneg ? 0 : v[0], max: nonneg && max >= 10 ? niceNumber(max) : max, breaks: b };
}

function classOf(x, br) {
  if (x === null || x === undefined || !Number.isFinite(x) || !br) return -1;
  let k = 0;
  while (k < br.breaks.length && x > br.breaks[k]) k++;
  return k;
}

// -- colouring --------------------------------------------------------------------------------
function unitStyle(uid) {
  if (S.mode === "alerts") {
    const v = S.alertLevels && S.alertLevels[uid];
    return { fill: M.WARNING_COLOURS[v ? v.warning : "none"] };
  }
  const v = S.values && S.values.values[uid];
  if (!v) return { fill: M.NO_DATA };
  if (S.mode === "warning" && v.warning) return { fill: M.WARNING_COLOURS[v.warning] || M.NO_DATA };
  const k = classOf(v.value, S.breaks);
  return { fill: k < 0 ? M.NO_DATA : M.CLASS_COLOURS[k] };
}

function renderLegend() {
  const body = $("legend-body");
  body.replaceChildren();
  const row = (swatchStyle, text, cls = "swatch") => {
    const r = document.createElement("div");
    r.className = "legend-row";
    const sw = document.createElement("span");
    sw.className = cls;
    Object.assign(sw.style, swatchStyle);
    sw.setAttribute("aria-hidden", "true");
    r.append(sw, document.createTextNode(text));
    body.append(r);
  };
  const title = document.createElement("p");
  title.className = "note";
  if (S.mode === "warning" || S.mode === "alerts") {
    title.textContent = S.mode === "alerts" ? t("mode_alerts") : `${t("warning_level")} · ${indicatorName(S.indicator)}`;
    body.append(title);
    for (const lv of [...LEVELS].reverse()) {
      const note = lv === "none" ? "" : ` — ${t(`warn_${lv}_note`)}`;
      row({ background: M.WARNING_COLOURS[lv] }, `${t(`warn_${lv}`)}${note}`);
    }
  } else {
    title.textContent = S.mode === "run" ? indicatorName(S.runIndicator || "") : indicatorName(S.indicator);
    body.append(title);
    const br = S.breaks;
    if (br) {
      const edges = [br.min, ...br.breaks, br.max];
      for (let k = M.CLASS_COLOURS.length - 1; k >= 0; k--) {
        row({ background: M.CLASS_COLOURS[k] }, `${formatNumber(edges[k])} – ${formatNumber(edges[k + 1])}`);
      }
    }
    row({ background: M.NO_DATA }, t("no_data"));
  }
  if (S.systems.size) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = t("assets");
    body.append(p);
    for (const s of S.systems) row({ background: "#ffffff", border: `3px solid ${systemColour(s)}` }, systemName(s), "swatch round");
    for (const st of ["down", "up", "unknown"]) row({ background: M.STATUS_COLOURS[st] }, t(`status_${st}`), "swatch round");
  }
  if (S.decisionId) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = t("decisions");
    body.append(p);
    row({ background: "#0b5cad" }, t("assignment"), "swatch line");
    row({ background: "#009e73" }, t("shelter"), "swatch round");
    row({ background: "#6a3d9a" }, t("depot"), "swatch round");
  }
}

function recolour() {
  if (S.values && S.mode !== "warning") {
    S.breaks = quantileBreaks(Object.values(S.values.values).map((v) => v.value));
  } else {
    S.breaks = null;
  }
  M.restyle(unitStyle);
  renderLegend();
  renderUnitPanel();
}

// -- data loading -----------------------------------------------------------------------------
async function loadUnits(level, { fit = false } = {}) {
  if (!S.geo[level]) {
    setMapStatus(t("loading"));
    S.geo[level] = await api(`/api/v1/dashboard/twins/${encodeURIComponent(S.twin)}/units.geojson`, { params: { level } });
    setMapStatus("");
  }
  M.setUnits(S.geo[level], level, unitStyle, { fit });
  fillUnitSelect();
}

async function loadOutline() {
  const byLevel = S.overview.twin.units_by_level || {};
  if (!byLevel.prefecture) return;
  const g = await api(`/api/v1/dashboard/twins/${encodeURIComponent(S.twin)}/units.geojson`, { params: { level: "prefecture" } });
  M.setOutline(g);
}

async function loadForecast() {
  if (!S.forecastId) return;
  const f = await api(`/api/v1/dashboard/forecasts/${S.forecastId}/frames`);
  S.frames = f.frames;
  S.indicators = f.indicators;
  if (!S.indicators.includes(S.indicator)) S.indicator = S.indicators[0];
  fillIndicatorSelect();
  // the current warning: the latest issuance, its shortest lead window
  const latest = S.frames.reduce((a, b) => (b.issued > a.issued ? b : a), S.frames[0]);
  const firstOfLatest = S.frames.filter((fr) => fr.issued === latest.issued).sort((a, b) => a.lead_h - b.lead_h)[0];
  S.frameIdx = Math.max(0, S.frames.indexOf(firstOfLatest));
  const sl = $("frame-slider");
  sl.max = String(Math.max(0, S.frames.length - 1));
  sl.value = String(S.frameIdx);
  sl.disabled = S.frames.length < 2;
  $("play").disabled = S.frames.length < 2;
  updateFrameLabel();
}

function updateFrameLabel() {
  const fr = S.frames[S.frameIdx];
  const text = fr ? t("frame_label", { issued: formatTime(fr.issued), lead: fr.lead_h, valid: formatTime(fr.valid_to) }) : "";
  $("frame-label").textContent = text;
  $("frame-slider").setAttribute("aria-valuetext", text);
}

let valuesSeq = 0;
async function loadValues() {
  const seq = ++valuesSeq;
  let v = null;
  if (S.mode === "alerts") {
    S.alertLevels = (await api(`/api/v1/dashboard/twins/${encodeURIComponent(S.twin)}/alert-levels`, { params: { level: S.level } })).values;
  } else if (S.mode === "run") {
    if (S.runId) {
      v = await api(`/api/v1/dashboard/runs/${S.runId}/values`, { params: { indicator: S.runIndicator, level: S.level } });
      if (!S.runIndicator || !v.indicators.includes(S.runIndicator)) {
        S.runIndicator = v.indicator;
      }
      fillRunIndicatorSelect(v.indicators);
    }
  } else if (S.forecastId && S.frames.length) {
    const fr = S.frames[S.frameIdx];
    v = await api(`/api/v1/dashboard/forecasts/${S.forecastId}/values`, {
      params: { indicator: S.indicator, issued: fr.issued, lead_h: fr.lead_h, level: S.level },
    });
  }
  if (seq !== valuesSeq) return; // a newer request has been made
  S.values = v;
  recolour();
}

async function loadAssets() {
  if (!S.systems.size) {
    M.setAssets(null);
    $("asset-note").textContent = "";
    return;
  }
  const { bbox, zoom } = M.mapView();
  const fc = await api(`/api/v1/dashboard/twins/${encodeURIComponent(S.twin)}/assets`, {
    params: { bbox, zoom, system: [...S.systems], status: $("asset-status").value || undefined },
  });
  M.setAssets(fc);
  const notes = [t(fc.mode === "points" ? "assets_points" : "assets_clusters", { n: formatNumber(fc.total) })];
  if (fc.features.some((f) => f.properties.approx)) notes.push(t("assets_approx"));
  $("asset-note").textContent = notes.join(" ");
}

async function loadDecision() {
  M.setDecision(null);
  $("decision-note").textContent = "";
  if (!S.decisionId) {
    renderLegend();
    return;
  }
  const fc = await api(`/api/v1/dashboard/decisions/${S.decisionId}/layer`);
  M.setDecision(fc);
  const notes = [];
  if (fc.skipped) notes.push(t("decision_skipped", { n: fc.skipped }));
  if (fc.features.some((f) => f.properties.approx)) notes.push(t("decision_approx"));
  $("decision-note").textContent = notes.join(" ");
  renderLegend();
}

// -- controls ---------------------------------------------------------------------------------
function fillForecastSelect() {
  const sel = $("forecast-select");
  sel.replaceChildren(...S.overview.forecasts.map((f) => option(String(f.id), `${f.title} · ${formatTime(f.issued_at)}`)));
  if (S.forecastId) sel.value = String(S.forecastId);
}

function fillIndicatorSelect() {
  const sel = $("indicator-select");
  sel.replaceChildren(...S.indicators.map((i) => option(i, indicatorName(i))));
  sel.value = S.indicator;
}

function fillRunSelect() {
  const runs = S.overview.runs.filter((r) => r.results.includes("units"));
  const sel = $("run-select");
  sel.replaceChildren(...runs.map((r) => option(r.id, `${r.kind} · ${formatTime(r.finished_at)}`)));
  if (S.runId) sel.value = S.runId;
}

function fillRunIndicatorSelect(names) {
  const sel = $("run-indicator");
  sel.replaceChildren(...names.map((i) => option(i, indicatorName(i))));
  if (S.runIndicator) sel.value = S.runIndicator;
}

function fillDecisionSelect() {
  const sel = $("decision-select");
  const withLayers = S.overview.decisions.filter((d) => d.layers.length);
  sel.replaceChildren(option("", t("decision_none")), ...withLayers.map((d) => option(String(d.id), `${d.title} (${d.kind})`)));
  sel.value = S.decisionId;
}

function fillSystemBoxes() {
  const box = $("system-boxes");
  box.replaceChildren();
  for (const s of systemList().map((x) => x.name)) {
    const access = S.overview.systems[s];
    if (!access) continue;
    const id = `sys-${s}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.id = id;
    cb.value = s;
    cb.checked = S.systems.has(s);
    cb.addEventListener("change", () => {
      if (cb.checked) S.systems.add(s);
      else S.systems.delete(s);
      loadAssets().catch(showError);
      renderLegend();
    });
    const sw = document.createElement("span");
    sw.className = "swatch round";
    sw.style.border = `3px solid ${systemColour(s)}`;
    sw.setAttribute("aria-hidden", "true");
    label.append(cb, sw, document.createTextNode(`${systemName(s)}${access === "status" ? " " + t("access_status_only") : ""}`));
    box.append(label);
  }
}

function fillUnitSelect() {
  const g = S.geo[S.level];
  const sel = $("unit-select");
  if (!g) return;
  const items = g.features.map((f) => f.properties).sort((a, b) => placeName(a).localeCompare(placeName(b), getLang() === "zh" ? "zh-CN" : "en"));
  sel.replaceChildren(option("", t("unit_choose")), ...items.map((p) => option(p.unit_id, placeName(p))));
  sel.value = S.selected && M.hasUnit(S.selected) ? S.selected : "";
}

function syncModeControls() {
  $("colour-mode").value = S.mode;
  $("forecast-controls").hidden = !(S.mode === "warning" || S.mode === "indicator");
  $("run-controls").hidden = S.mode !== "run";
}

// -- the selected unit ------------------------------------------------------------------------
function qtRun() {
  const r = S.overview && S.overview.runs.find((x) => x.has_qt);
  return r ? r.id : null;
}

async function selectUnit(uid, { pan = false } = {}) {
  S.selected = uid || null;
  $("unit-select").value = uid && M.hasUnit(uid) ? uid : "";
  M.selectOnMap(S.selected, { pan });
  renderUnitPanel();
  await renderQt();
}

function renderUnitPanel() {
  const body = $("unit-body");
  const p = S.selected ? M.unitFeature(S.selected) : null;
  if (!p) {
    body.replaceChildren(Object.assign(document.createElement("p"), { className: "note", textContent: t("select_unit_help") }));
    return;
  }
  const other = getLang() === "zh" ? p.name_en : p.name_zh;
  const h = document.createElement("p");
  h.innerHTML = "";
  const strong = document.createElement("strong");
  strong.textContent = placeName(p);
  h.append(strong);
  if (other && other !== placeName(p)) {
    const span = document.createElement("span");
    span.lang = getLang() === "zh" ? "en" : "zh-CN";
    span.textContent = ` (${other})`;
    h.append(span);
  }
  const dl = document.createElement("dl");
  const add = (k, v, node) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    if (node) dd.append(node);
    else dd.textContent = v;
    dl.append(dt, dd);
  };
  add(t("level"), t(`lvl_${p.level}`));
  if (S.mode === "alerts") {
    const a = S.alertLevels && S.alertLevels[S.selected];
    const lv = a ? a.warning : "none";
    const b = Object.assign(document.createElement("span"), { className: `badge lvl-${lv}`, textContent: t(`warn_${lv}`) });
    add(t("warning_level"), "", b);
    add(t("open_alerts"), formatNumber(a ? a.alerts : 0));
  } else if (S.values) {
    const v = S.values.values[S.selected];
    const name = S.mode === "run" ? indicatorName(S.runIndicator || "") : indicatorName(S.indicator);
    add(name, v ? formatNumber(v.value) : t("no_data"));
    if (v && v.p05 !== null && v.p95 !== null) add(t("interval90"), `${formatNumber(v.p05)} – ${formatNumber(v.p95)}`);
    if (v && v.warning) {
      const b = Object.assign(document.createElement("span"), { className: `badge lvl-${v.warning}`, textContent: t(`warn_${v.warning}`) });
      add(t("warning_level"), "", b);
    }
  }
  body.replaceChildren(h, dl);
}

let qtSeq = 0;
async function renderQt() {
  const host = $("qt-chart");
  const seq = ++qtSeq;
  const note = (key) => host.replaceChildren(Object.assign(document.createElement("p"), { className: "note", textContent: t(key) }));
  if (!S.selected) return note("qt_choose");
  const run = qtRun();
  if (!run) return note("qt_none");
  const q = await api(`/api/v1/dashboard/runs/${run}/qt`, { params: { unit_id: S.selected } });
  if (seq !== qtSeq) return;
  if (!q.available) return note("qt_none");
  drawQt(host, q.t_h, q.series, placeName(M.unitFeature(S.selected)));
}

// -- sign-in and start ------------------------------------------------------------------------
function renderUser() {
  if (!S.me) return;
  const d = (S.departments || {})[S.me.department];
  const dept = d ? (getLang() === "zh" ? d.name_zh : d.name_en) : S.me.department;
  $("user-name").textContent = `${S.me.full_name || S.me.username} · ${dept}`;
}

function showError(e) {
  if (e && e.status === 401) return;
  setMapStatus(`${t("server_error")}${e && e.message ? e.message : e}`);
}

function showLogin(messageKey) {
  stopFeed();
  clearInterval(S.playTimer);
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  $("logout").hidden = true;
  $("user-name").textContent = "";
  $("login-error").textContent = messageKey ? t(messageKey) : "";
  $("username").focus();
}

// a run started from the page has finished: put it on the map (scenario: its units and Q(t);
// forecast or hindcast: the new forecast's warning levels)
async function showFinishedRun(run) {
  S.overview = await api(`/api/v1/dashboard/twins/${encodeURIComponent(S.twin)}`);
  if (run.kind === "forecast") {
    const f = S.overview.forecasts.find((x) => x.run_id === run.id) || S.overview.forecasts[0];
    if (f) S.forecastId = f.id;
    S.mode = "warning";
    fillForecastSelect();
    if (S.forecastId) await loadForecast();
  } else {
    S.runId = run.id;
    S.mode = "run";
    fillRunSelect();
  }
  syncModeControls();
  setMapStatus("");
  await loadValues();
  $("run-status").textContent = t("run_shown", { kind: t(run.kind === "forecast" ? "run_kind_forecast_short" : "run_kind_scenario_short") });
  if (S.selected) await renderQt();
}

async function start() {
  S.me = await api("/api/v1/auth/me");
  const twins = await api("/api/v1/twins");
  const wanted = new URLSearchParams(window.location.search).get("twin");
  const names = (Array.isArray(twins) ? twins : twins.items || []).map((x) => x.name);
  S.twin = names.includes(wanted) ? wanted : names[0];
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("logout").hidden = false;
  try {
    S.departments = Object.fromEntries((await api("/api/v1/departments")).map((d) => [d.department, d]));
  } catch (e) {
    S.departments = {};
  }
  renderUser();
  // the sign-in form is gone: start keyboard navigation from the top of the page (the skip links)
  document.body.setAttribute("tabindex", "-1");
  document.body.focus({ preventScroll: true });
  if (!S.twin) {
    setMapStatusKey("no_twin");
    return;
  }
  $("twin-name").textContent = S.twin;
  S.overview = await api(`/api/v1/dashboard/twins/${encodeURIComponent(S.twin)}`);
  if (!S.started) {
    M.initMap(S.config, { onSelect: (uid, o) => selectUnit(uid, o).catch(showError), onMove: () => loadAssets().catch(showError) });
    S.started = true;
  }
  M.invalidate();
  if (!S.runPanel) {
    initRunPanel({ twin: () => S.twin, onDone: (run) => showFinishedRun(run).catch(showError) });
    S.runPanel = true;
  }
  S.forecastId = S.overview.forecasts.length ? S.overview.forecasts[0].id : null;
  S.runId = (S.overview.runs.find((r) => r.results.includes("units")) || {}).id || null;
  S.mode = S.forecastId ? "warning" : "alerts";
  fillForecastSelect();
  fillRunSelect();
  fillDecisionSelect();
  fillSystemBoxes();
  syncModeControls();
  await loadUnits(S.level, { fit: true });
  loadOutline().catch(showError);
  if (S.forecastId) await loadForecast();
  else setMapStatusKey("no_forecast");
  await loadValues();
  await renderQt();
  await startFeed(S.twin, {
    onChange: () => {
      if (S.mode === "alerts") loadValues().catch(showError);
    },
    onLocate: (a) => {
      const uid = (a.units_up || []).find((u) => M.hasUnit(u));
      if (uid) selectUnit(uid, { pan: true }).catch(showError);
    },
  });
}

function wire() {
  $("lang-toggle").addEventListener("click", toggleLang);
  $("logout").addEventListener("click", () => {
    clearToken();
    showLogin();
  });
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const u = $("username").value.trim(), pw = $("password").value;
    if (!u || !pw) {
      $("login-error").textContent = t("login_missing");
      return;
    }
    $("login-submit").disabled = true;
    $("login-error").textContent = t("signing_in");
    try {
      await login(u, pw);
      $("password").value = "";
      $("login-error").textContent = "";
      await start();
    } catch (e) {
      $("login-error").textContent = e.status === 401 ? t("login_failed") : `${t("server_error")}${e.message}`;
    } finally {
      $("login-submit").disabled = false;
    }
  });
  $("colour-mode").addEventListener("change", async (ev) => {
    S.mode = ev.target.value;
    syncModeControls();
    if ((S.mode === "warning" || S.mode === "indicator") && !S.forecastId) setMapStatusKey("no_forecast");
    else if (S.mode === "run" && !S.runId) setMapStatusKey("no_runs");
    else setMapStatus("");
    await loadValues().catch(showError);
  });
  $("forecast-select").addEventListener("change", async (ev) => {
    S.forecastId = Number(ev.target.value);
    await loadForecast().catch(showError);
    await loadValues().catch(showError);
  });
  $("indicator-select").addEventListener("change", (ev) => {
    S.indicator = ev.target.value;
    loadValues().catch(showError);
  });
  $("frame-slider").addEventListener("input", (ev) => {
    S.frameIdx = Number(ev.target.value);
    updateFrameLabel();
    loadValues().catch(showError);
  });
  $("play").addEventListener("click", () => {
    const btn = $("play");
    if (S.playTimer) {
      clearInterval(S.playTimer);
      S.playTimer = null;
      btn.setAttribute("aria-pressed", "false");
      btn.textContent = t("play");
      return;
    }
    btn.setAttribute("aria-pressed", "true");
    btn.textContent = t("pause");
    S.playTimer = setInterval(() => {
      S.frameIdx = (S.frameIdx + 1) % Math.max(1, S.frames.length);
      $("frame-slider").value = String(S.frameIdx);
      updateFrameLabel();
      loadValues().catch(showError);
    }, 1500);
  });
  $("run-select").addEventListener("change", (ev) => {
    S.runId = ev.target.value;
    loadValues().catch(showError);
  });
  $("run-indicator").addEventListener("change", (ev) => {
    S.runIndicator = ev.target.value;
    loadValues().catch(showError);
  });
  $("level-select").addEventListener("change", async (ev) => {
    S.level = ev.target.value;
    await loadUnits(S.level).catch(showError);
    await loadValues().catch(showError);
  });
  $("asset-status").addEventListener("change", () => loadAssets().catch(showError));
  $("decision-select").addEventListener("change", (ev) => {
    S.decisionId = ev.target.value;
    loadDecision().catch(showError);
  });
  $("unit-select").addEventListener("change", (ev) => selectUnit(ev.target.value, { pan: true }).catch(showError));
  onLangChange(() => {
    renderUser();
    if (S.statusKey) setMapStatusKey(S.statusKey);
    if (!S.overview) return;
    const keep = { decision: $("decision-select").value };
    fillForecastSelect();
    fillIndicatorSelect();
    fillRunSelect();
    S.decisionId = keep.decision;
    fillDecisionSelect();
    fillSystemBoxes();
    fillUnitSelect();
    updateFrameLabel();
    $("play").textContent = t(S.playTimer ? "pause" : "play");
    M.refreshTooltips();
    renderLegend();
    renderUnitPanel();
    renderFeed();
    renderQt().catch(showError);
  });
  setUnauthorizedHandler(() => {
    clearToken();
    showLogin("session_expired");
  });
}

async function boot() {
  await loadDictionary();
  applyStatic();
  wire();
  try {
    S.config = await (await fetch("/dashboard-config.json", { cache: "no-cache" })).json();
  } catch (e) {
    S.config = {};
  }
  if (token()) {
    try {
      await start();
      return;
    } catch (e) {
      if (e.status !== 401) showError(e);
      return;
    }
  }
  showLogin();
}

window.addEventListener("DOMContentLoaded", () => {
  boot().catch((e) => showError(e));
});
