"""County maps people can read: classed sequential colours whose darkest class is still a colour,
place names (prefecture cities and the worst counties), the storm track and its landfall.

Class breaks are "nice" numbers (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ) near the quantiles of the values, so that a
legend reads "10 k – 50 k people" rather than "1.98 – 6,050".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Sequential palettes of five classes, light to dark; the darkest is a saturated colour (never
#: black or near-black, which reads as "no data"). ColorBrewer YlOrRd, Blues, PuBu, OrRd, Oranges,
#: Purples (the hazard registry names one per displayed measure).
PALETTES: dict[str, tuple[str, ...]] = {
    "YlOrRd": ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
    "Blues": ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"),
    "PuBu": ("#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d"),
    "OrRd": ("#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"),
    "Oranges": ("#feedde", "#fdbe85", "#fd8d3c", "#e6550d", "#a63603"),
    "Purples": ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"),
}
NO_DATA = "#e0e0e0"
#: Fill of units whose value is exactly zero when they form a class of their own.
ZERO = "#f7f7f7"


def nice_number(x: float, up: bool = True) -> float:
    """The nearest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ at or above (``up``) or below ``x`` (x ≥ 0)."""
    if not np.isfinite(x) or x <= 0:
        return 0.0
    e = np.floor(np.log10(x))
    steps = np.array([1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]) * 10.0**e
    if up:
        return float(steps[np.searchsorted(steps, x * (1 - 1e-12))])
    return float(steps[max(np.searchsorted(steps, x * (1 + 1e-12), side="right") - 1, 0)])


def class_breaks(values: np.ndarray, k: int = 5) -> np.ndarray:
    """``k + 1`` increasing class edges: the minimum (0 for non-negative data), nice numbers near
    the 20/40/60/80 % quantiles, and a nice number at or above the maximum. Fewer classes when the
    values are too few or too alike."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.array([0.0, 1.0])
    lo = 0.0 if v.min() >= 0 else float(v.min())
    hi = nice_number(float(v.max())) if v.max() > 0 else 1.0
    inner = [nice_number(float(q), up=False) for q in np.quantile(v, np.linspace(0, 1, k + 1)[1:-1])]
    edges = np.unique(np.array([lo, *inner, hi]))
    return edges[(edges >= lo) & (edges <= hi)]


def fmt_number(x: float) -> str:
    """Readable magnitude: 950, 12 k, 1.2 M, 0.25 (no scientific notation)."""
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.3g} M"
    if a >= 1e4:
        return f"{x / 1e3:.3g} k"
    if a >= 100 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:.3g}"


def class_labels(edges: np.ndarray, unit: str = "") -> list[str]:
    """Legend labels ``"a – b unit"`` for consecutive edges."""
    u = f" {unit}" if unit else ""
    return [f"{fmt_number(a)} – {fmt_number(b)}{u}" for a, b in zip(edges[:-1], edges[1:], strict=False)]


@dataclass
class Place:
    """A labelled point on a map: ``text`` at (lon, lat); ``marker`` draws a dot under it."""

    lon: float
    lat: float
    text: str
    marker: bool = False
    bold: bool = False


@dataclass
class Landfall:
    """Where and when the storm centre crosses the coast."""

    lon: float
    lat: float
    time: str
    place: str = ""


def _no_draw(*args, **kwargs) -> None:
    """A canvas's ``draw_idle`` for a figure that is only saved (Agg draws on ``savefig``)."""


def county_map(
    geometry,
    values: np.ndarray,
    title: str,
    unit: str,
    palette: str = "YlOrRd",
    places: list[Place] | None = None,
    track: tuple[np.ndarray, np.ndarray] | None = None,
    landfall: Landfall | None = None,
    outlines=None,
) -> bytes:
    """A classed choropleth of polygons (lon/lat) with a legend of value classes, optional place
    labels, prefecture outlines, storm track and landfall star; PNG bytes."""
    import geopandas as gpd
    from matplotlib.patches import Patch

    from rescity.report.figures import _png, plt
    from rescity.report.fonts import use_in_matplotlib

    use_in_matplotlib()
    v = np.asarray(values, dtype=float)
    zero = np.isfinite(v) & (v == 0)
    # many exact zeros (no one affected) get a class of their own, so "0" never shares a colour
    # with real numbers; the classes then cover the positive values
    zero_class = bool(zero.mean() > 0.1) and bool((v[np.isfinite(v)] > 0).any())
    edges = class_breaks(v[~zero] if zero_class else v)
    colours = PALETTES[palette]
    n = len(edges) - 1
    pal = [colours[i] for i in np.round(np.linspace(0, len(colours) - 1, n)).astype(int)] if n > 1 else [colours[-1]]
    cls = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, n - 1)
    face = np.where(np.isfinite(v), np.asarray(pal, dtype=object)[cls], NO_DATA)
    if zero_class:
        face = np.where(zero, ZERO, face)
    gdf = gpd.GeoDataFrame({"c": face}, geometry=list(geometry), crs="EPSG:4326")
    fig, ax = plt.subplots(figsize=(7.4, 6.0))
    fig.canvas.draw_idle = _no_draw  # GeoPandas redraws after each layer; the PNG is drawn once
    gdf.plot(ax=ax, color=list(gdf["c"]), edgecolor="#777777", linewidth=0.25)
    if outlines is not None:
        gpd.GeoSeries(list(outlines), crs="EPSG:4326").boundary.plot(ax=ax, color="#333333", linewidth=0.7)
    xmin, ymin, xmax, ymax = gdf.total_bounds
    handles = [Patch(facecolor=ZERO, edgecolor="#777777", label="0 (none)")] if zero_class else []
    handles += [Patch(facecolor=c, edgecolor="#777777", label=lab) for c, lab in zip(pal, class_labels(edges), strict=False)]
    if not np.isfinite(v).all():
        handles.append(Patch(facecolor=NO_DATA, edgecolor="#777777", label="no data"))
    if track is not None:
        (ln,) = ax.plot(track[0], track[1], "-", color="#2c3e50", lw=1.3, label="storm track")
        ax.plot(track[0], track[1], "o", color="#2c3e50", ms=2.0)
        handles.append(ln)
    if landfall is not None:
        (lf,) = ax.plot(
            [landfall.lon], [landfall.lat], "*", color="#ffffff", mec="#000000", mew=1.0, ms=15,
            label="landfall", zorder=6,
        )
        handles.append(lf)
        ax.annotate(
            f"landfall {landfall.time}" + (f"\n{landfall.place}" if landfall.place else ""),
            (landfall.lon, landfall.lat), xytext=(12, -6), textcoords="offset points", fontsize=7.5,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#555555", "alpha": 0.9}, zorder=7,
        )
    for p in places or []:
        if p.marker:
            ax.plot([p.lon], [p.lat], "o", color="#000000", ms=2.5, zorder=5)
        ax.annotate(
            p.text, (p.lon, p.lat), xytext=(3, 3) if p.marker else (0, 0), textcoords="offset points",
            ha="left" if p.marker else "center", va="bottom" if p.marker else "center",
            fontsize=8 if p.bold else 6.8, zorder=6,
            bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.7},
        )
    ax.set_xlim(xmin - 0.25, xmax + 0.25)
    ax.set_ylim(ymin - 0.25, ymax + 0.25)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=7.5,
              title=unit or None, title_fontsize=7.5, framealpha=0.9)
    ax.set_title(title, fontsize=10.5)
    ax.set_xlabel("longitude (°E)", fontsize=8)
    ax.set_ylabel("latitude (°N)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_aspect(1 / np.cos(np.deg2rad(0.5 * (ymin + ymax))))
    return _png(fig)
