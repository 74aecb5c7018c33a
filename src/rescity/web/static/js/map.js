// The map (Leaflet, vendored): unit polygons, prefecture outlines, assets, decisions.
// No online tiles unless the server was started with a tile URL (rescity serve --tiles).
import { formatNumber, placeName, t } from "./i18n.js";

const L = window.L;
export const WARNING_COLOURS = {
  none: "#d9d9d9",
  blue: "#2b83ba",
  yellow: "#ffd92f",
  orange: "#fd8d3c",
  red: "#d7191c",
};
// ColorBrewer YlGnBu, 5 classes (Brewer 2003; colour-blind safe)
export const CLASS_COLOURS = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"];
export const NO_DATA = "#f2f2f2";
// Okabe & Ito (2008) palette for systems
export const SYSTEM_COLOURS = {
  power: "#e69f00",
  water: "#0072b2",
  road: "#4d4d4d",
  telecom: "#cc79a7",
  facility: "#009e73",
};
export const STATUS_COLOURS = { up: "#1a9850", down: "#d7191c", unknown: "#bdbdbd" };

const m = {
  map: null,
  units: null, // L.GeoJSON
  byId: new Map(), // unit_id -> layer
  outline: null,
  assets: null,
  decision: null,
  selected: null,
  style: () => ({}),
  onSelect: () => {},
  renderers: {},
};

export function initMap(config, { onSelect, onMove }) {
  m.onSelect = onSelect;
  const map = L.map("map", { zoomSnap: 0.5, minZoom: 4, maxZoom: 17, keyboard: true, preferCanvas: false });
  map.attributionControl.setPrefix(false);
  for (const [name, z] of [["units", 400], ["outline", 410], ["labels", 420], ["decisions", 440], ["assets", 450]]) {
    const p = map.createPane(name);
    p.style.zIndex = String(z);
    if (name === "outline" || name === "labels") p.style.pointerEvents = "none";
  }
  m.renderers = {
    unitsSvg: L.svg({ pane: "units" }),
    unitsCanvas: L.canvas({ pane: "units" }),
    outline: L.svg({ pane: "outline" }),
    decisions: L.svg({ pane: "decisions" }),
    assets: L.canvas({ pane: "assets" }),
  };
  if (config && config.tiles) {
    L.tileLayer(config.tiles, { attribution: config.tiles_attribution || "", maxZoom: 19 }).addTo(map);
  }
  map.setView([29.2, 120.1], 7);
  map.on("zoomend", syncLabels);
  let timer = null;
  map.on("moveend", () => {
    clearTimeout(timer);
    timer = setTimeout(() => onMove && onMove(), 250);
  });
  m.map = map;
  window.rescityMap = map; // for scripts and tests driving the page
  return map;
}

export function mapView() {
  const b = m.map.getBounds();
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  return {
    bbox: [clamp(b.getWest(), -180, 179.9), clamp(b.getSouth(), -90, 89.9), clamp(b.getEast(), -179.9, 180), clamp(b.getNorth(), -89.9, 90)]
      .map((x) => x.toFixed(5))
      .join(","),
    zoom: m.map.getZoom(),
  };
}

function tooltipText(p) {
  return placeName(p);
}

// place names on the map: prefecture cities always, counties from zoom COUNTY_LABEL_ZOOM on
export const COUNTY_LABEL_ZOOM = 8;

function labelLayer(items, cls) {
  return L.layerGroup(
    items.map(([latlng, props]) => {
      const mk = L.marker(latlng, {
        pane: "labels", interactive: false, keyboard: false,
        icon: L.divIcon({ className: `map-label ${cls}`, html: "", iconSize: null }),
      });
      mk.props = props;
      return mk;
    }),
  );
}

function labelText(props) {
  const s = document.createElement("span");
  s.textContent = placeName(props);
  return s.outerHTML;
}

function refreshLabels() {
  for (const g of [m.countyLabels, m.prefLabels]) {
    if (!g) continue;
    g.eachLayer((mk) => mk.setIcon(L.divIcon({ className: mk.options.icon.options.className, html: labelText(mk.props), iconSize: null })));
  }
}

function syncLabels() {
  if (!m.map || !m.countyLabels) return;
  const show = m.map.getZoom() >= COUNTY_LABEL_ZOOM;
  if (show && !m.map.hasLayer(m.countyLabels)) m.countyLabels.addTo(m.map);
  if (!show && m.map.hasLayer(m.countyLabels)) m.countyLabels.remove();
}

/** Draw the units of one level (GeoJSON features); `style(unit_id)` gives the fill. */
export function setUnits(geojson, level, style, { fit = false } = {}) {
  if (m.units) m.units.remove();
  m.byId.clear();
  m.style = style;
  const renderer = level === "cell" ? m.renderers.unitsCanvas : m.renderers.unitsSvg;
  m.units = L.geoJSON(geojson, {
    pane: "units",
    renderer,
    // className (set once, when the path is made) names the unit: u-<unit_id>
    style: (f) => ({ ...baseStyle(f.properties.unit_id), className: `unit u-${f.properties.unit_id}` }),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 6, pane: "units", renderer }),
    onEachFeature: (f, layer) => {
      m.byId.set(f.properties.unit_id, layer);
      layer.feature = f;
      layer.bindTooltip(() => tooltipText(f.properties), { sticky: true });
      layer.on("click", () => m.onSelect(f.properties.unit_id, { pan: false }));
    },
  }).addTo(m.map);
  if (fit && m.units.getLayers().length) m.map.fitBounds(m.units.getBounds(), { padding: [10, 10] });
  if (m.countyLabels) m.countyLabels.remove();
  m.countyLabels = null;
  if (level === "county") {
    m.countyLabels = labelLayer(
      m.units.getLayers().map((l) => [l.getBounds ? l.getBounds().getCenter() : l.getLatLng(), l.feature.properties]),
      "county-label",
    );
    refreshLabels();
    syncLabels();
  }
  restyle();
}

function baseStyle(uid) {
  const s = m.style(uid) || {};
  const sel = uid === m.selected;
  return {
    color: sel ? "#000000" : "#3d4a57",
    weight: sel ? 3 : 0.8,
    fillColor: s.fill || NO_DATA,
    fillOpacity: 0.82,
    opacity: 1,
  };
}

export function restyle(style) {
  if (style) m.style = style;
  if (!m.units) return;
  for (const [uid, layer] of m.byId) layer.setStyle(baseStyle(uid));
  const sel = m.byId.get(m.selected);
  if (sel && sel.bringToFront) sel.bringToFront();
}

export function refreshTooltips() {
  refreshLabels();
  for (const layer of m.byId.values()) {
    if (layer.getTooltip()) layer.setTooltipContent(tooltipText(layer.feature.properties));
  }
}

export function unitFeature(uid) {
  const l = m.byId.get(uid);
  return l ? l.feature.properties : null;
}

export function hasUnit(uid) {
  return m.byId.has(uid);
}

export function selectOnMap(uid, { pan = false } = {}) {
  m.selected = uid;
  restyle();
  const l = m.byId.get(uid);
  if (l && pan) panTo(l);
}

function panTo(l) {
  // Leaflet drops a view change asked for during a zoom animation: ask again when it has ended
  if (m.map._animatingZoom) {
    m.map.once("zoomend", () => panTo(l));
    return;
  }
  if (l.getBounds) m.map.fitBounds(l.getBounds(), { maxZoom: 10, padding: [30, 30] });
  else m.map.setView(l.getLatLng(), Math.max(m.map.getZoom(), 10));
}

/** Prefecture (or other) outlines above the units, not interactive. */
export function setOutline(geojson) {
  if (m.outline) m.outline.remove();
  m.outline = L.geoJSON(geojson, {
    pane: "outline",
    renderer: m.renderers.outline,
    interactive: false,
    style: () => ({ color: "#1b1b1b", weight: 1.6, fill: false, opacity: 0.9 }),
    pointToLayer: () => null,
  }).addTo(m.map);
  if (m.prefLabels) m.prefLabels.remove();
  m.prefLabels = labelLayer(
    m.outline.getLayers().filter((l) => l.getBounds).map((l) => [l.getBounds().getCenter(), l.feature.properties]),
    "prefecture-label",
  ).addTo(m.map);
  refreshLabels();
}

/** Where a real location comes from (the asset's ``source``); other sources are modelled. */
const REAL_SOURCES = { osm: "OpenStreetMap", gridkit: "GridKit/OSM", wri: "WRI GPPD" };
const SOURCES_CREDIT = "Power grid: © OpenStreetMap contributors (ODbL), GridKit, WRI GPPD (CC BY 4.0)";

/** Assets in view: points (circle per asset) or counts per cell. */
export function setAssets(fc) {
  if (m.assets) m.assets.remove();
  m.assets = null;
  if (!fc) return;
  const layers = [];
  for (const f of fc.features) {
    const [lon, lat] = f.geometry.coordinates;
    const p = f.properties;
    if (p.asset_id) {
      const mk = L.circleMarker([lat, lon], {
        pane: "assets",
        renderer: m.renderers.assets,
        radius: 5,
        color: SYSTEM_COLOURS[p.system] || "#000",
        weight: 2,
        fillColor: STATUS_COLOURS[p.status] || "#bdbdbd",
        fillOpacity: 1,
      });
      const where = REAL_SOURCES[p.source] ? t("loc_real", { src: REAL_SOURCES[p.source] }) : p.source ? t("loc_modelled") : "";
      mk.bindTooltip(() => `${p.name || p.asset_id} · ${t(`sys_${p.system}`)} · ${p.kind} · ${t(`status_${p.status}`)}${where ? " · " + where : ""}`);
      layers.push(mk);
    } else {
      const n = p.count;
      const size = Math.round(22 + 6 * Math.log10(Math.max(n, 1)));
      const cls = p.down > 0 ? "down" : p.up === n ? "up" : "unknown";
      const icon = L.divIcon({
        className: `cluster cluster-${cls}`,
        html: `<span>${n >= 10000 ? Math.round(n / 1000) + "k" : n}</span>`,
        iconSize: [size, size],
      });
      const mk = L.marker([lat, lon], { icon, pane: "assets", keyboard: false });
      mk.bindTooltip(() => t("cluster_tip", { n: formatNumber(n), down: formatNumber(p.down), up: formatNumber(p.up), unknown: formatNumber(p.unknown) }));
      layers.push(mk);
    }
  }
  m.assets = L.layerGroup(layers).addTo(m.map);
  if (!m.creditedSources && fc.features.some((f) => REAL_SOURCES[f.properties.source])) {
    m.map.attributionControl.addAttribution(SOURCES_CREDIT);
    m.creditedSources = true;
  }
}

/** A decision's features: assignment and flow lines, shelters and depots. */
export function setDecision(fc) {
  if (m.decision) m.decision.remove();
  m.decision = null;
  if (!fc) return;
  const maxPeople = Math.max(1, ...fc.features.filter((f) => f.properties.layer === "assignment").map((f) => f.properties.people || 0));
  m.decision = L.geoJSON(fc, {
    pane: "decisions",
    renderer: m.renderers.decisions,
    style: (f) => {
      const p = f.properties;
      if (p.layer === "assignment") return { color: "#0b5cad", weight: 1 + 4 * Math.sqrt((p.people || 0) / maxPeople), opacity: 0.7 };
      if (p.layer === "flow") return { color: "#6a3d9a", weight: 2, opacity: 0.7, dashArray: "5 4" };
      return {};
    },
    pointToLayer: (f, latlng) => {
      const shelter = f.properties.layer === "shelter";
      return L.circleMarker(latlng, {
        pane: "decisions",
        renderer: m.renderers.decisions,
        radius: shelter ? 6 : 8,
        color: "#1b1b1b",
        weight: 1.5,
        fillColor: shelter ? "#009e73" : "#6a3d9a",
        fillOpacity: 1,
      });
    },
    onEachFeature: (f, layer) => {
      const p = f.properties;
      layer.bindTooltip(() => {
        if (p.layer === "assignment") return `${t("assignment")}: ${formatNumber(p.people)} ${t("people")} · ${formatNumber(p.minutes, 0)} ${t("minutes")}`;
        if (p.layer === "shelter") return `${t("shelter")} ${p.shelter_id}: ${formatNumber(p.assigned)} / ${formatNumber(p.capacity)} ${t("people")}`;
        if (p.layer === "depot") return `${t("depot")} ${p.depot_id}: ${formatNumber(p.volume_m3, 0)} / ${formatNumber(p.capacity_m3, 0)} m³`;
        return `${t("flow")}: ${p.commodity} ${formatNumber(p.amount)}`;
      });
    },
  }).addTo(m.map);
}

export function invalidate() {
  if (m.map) m.map.invalidateSize();
}
