// Q(t) curves as an SVG line chart with a text summary and a data table (no chart library).
import { formatNumber, t } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
// Okabe & Ito (2008) colour-blind-safe palette
const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];

function s(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function pct(v, asShare) {
  return asShare ? `${formatNumber(v * 100, 0)} %` : formatNumber(v, 2);
}

/**
 * Draw the curves `series` ({name: [values]}) over `tH` (hours) into `host`.
 * Values in 0–1.5 are read as shares and shown in per cent.
 */
export function drawQt(host, tH, series, unitName) {
  host.replaceChildren();
  const names = Object.keys(series);
  const all = names.flatMap((n) => series[n]).filter((v) => v !== null && Number.isFinite(v));
  if (!tH.length || !all.length) {
    host.append(Object.assign(document.createElement("p"), { className: "note", textContent: t("qt_none") }));
    return;
  }
  const asShare = Math.max(...all) <= 1.5;
  const W = 340, H = 200, L = 44, R = 10, T = 10, B = 34;
  const x0 = Math.min(...tH), x1 = Math.max(...tH) || 1;
  const y0 = asShare ? 0 : Math.min(0, ...all), y1 = asShare ? 1 : Math.max(...all);
  const X = (v) => L + ((v - x0) / (x1 - x0 || 1)) * (W - L - R);
  const Y = (v) => H - B - ((v - y0) / (y1 - y0 || 1)) * (H - T - B);
  const first = series[names[0]];
  const firstIdx = first.findIndex((v) => v !== null);
  let lastIdx = first.length - 1;
  while (lastIdx > 0 && first[lastIdx] === null) lastIdx--;
  const summary = t("qt_summary", {
    unit: unitName,
    a: pct(first[firstIdx], asShare),
    t0: formatNumber(tH[firstIdx], 1),
    b: pct(first[lastIdx], asShare),
    t1: formatNumber(tH[lastIdx], 1),
  });
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary });
  svg.append(s("title", {}, summary));
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    svg.append(s("line", { class: "grid", x1: L, x2: W - R, y1: Y(v), y2: Y(v) }));
    svg.append(s("text", { x: L - 4, y: Y(v) + 4, "text-anchor": "end" }, pct(v, asShare)));
  }
  for (let i = 0; i <= 4; i++) {
    const v = x0 + ((x1 - x0) * i) / 4;
    svg.append(s("text", { x: X(v), y: H - B + 14, "text-anchor": "middle" }, formatNumber(v, 0)));
  }
  svg.append(s("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, `t (${t("hours")})`));
  svg.append(s("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  svg.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  names.forEach((name, k) => {
    let d = "";
    series[name].forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      d += `${d ? "L" : "M"}${X(tH[i]).toFixed(1)},${Y(v).toFixed(1)}`;
    });
    const dashed = /p05|p95|lo|hi/.test(name);
    svg.append(
      s("path", {
        d,
        fill: "none",
        stroke: COLOURS[k % COLOURS.length],
        "stroke-width": dashed ? 1.2 : 2,
        "stroke-dasharray": dashed ? "4 3" : "none",
      }),
    );
  });
  host.append(svg);
  if (names.length > 1) {
    const leg = document.createElement("div");
    names.forEach((name, k) => {
      const row = document.createElement("div");
      row.className = "legend-row";
      const sw = document.createElement("span");
      sw.className = "swatch line";
      sw.style.background = COLOURS[k % COLOURS.length];
      row.append(sw, document.createTextNode(name));
      leg.append(row);
    });
    host.append(leg);
  }
  const det = document.createElement("details");
  const sum = document.createElement("summary");
  sum.textContent = t("qt_data");
  const table = document.createElement("table");
  const head = document.createElement("tr");
  for (const h of [`t (${t("hours")})`, ...names]) head.append(Object.assign(document.createElement("th"), { textContent: h, scope: "col" }));
  table.append(head);
  tH.forEach((tv, i) => {
    const tr = document.createElement("tr");
    tr.append(Object.assign(document.createElement("td"), { textContent: formatNumber(tv, 1) }));
    for (const n of names) tr.append(Object.assign(document.createElement("td"), { textContent: series[n][i] === null ? "—" : pct(series[n][i], asShare) }));
    table.append(tr);
  });
  det.append(sum, table);
  host.append(det);
}
