"""Figures as PNG bytes (matplotlib, Agg backend)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rescity.report.fonts import use_in_matplotlib  # noqa: E402

use_in_matplotlib()  # Chinese names draw with the packaged font, with or without a system CJK font


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def choropleth(
    geometry,
    values: np.ndarray,
    title: str,
    label: str,
    cmap: str = "viridis",
    track: tuple[np.ndarray, np.ndarray] | None = None,
) -> bytes:
    """Map of polygons (a GeoSeries in lon/lat) coloured by ``values``; optional storm track."""
    import geopandas as gpd

    gdf = gpd.GeoDataFrame({"v": np.asarray(values, dtype=float)}, geometry=list(geometry), crs="EPSG:4326")
    fig, ax = plt.subplots(figsize=(6.2, 6.0))
    gdf.plot(
        column="v",
        ax=ax,
        cmap=cmap,
        legend=True,
        edgecolor="#555555",
        linewidth=0.25,
        legend_kwds={"label": label, "shrink": 0.7},
        missing_kwds={"color": "#dddddd"},
    )
    if track is not None:
        xmin, ymin, xmax, ymax = gdf.total_bounds
        ax.plot(track[0], track[1], "-o", color="#c0392b", ms=2.5, lw=1.2, label="storm track")
        ax.set_xlim(xmin - 0.3, xmax + 0.3)
        ax.set_ylim(ymin - 0.3, ymax + 0.3)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_aspect(1 / np.cos(np.deg2rad(np.nanmean(gdf.total_bounds[[1, 3]]))))
    return _png(fig)


def bands(
    x: np.ndarray,
    mean: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
    labels: list[str] | None = None,
) -> bytes:
    """Lines with shaded uncertainty bands; ``mean``/``lo``/``hi`` are (n_lines, n_x) or (n_x,)."""
    mean, lo, hi = (np.atleast_2d(a) for a in (mean, lo, hi))
    fig, ax = plt.subplots(figsize=(7, 4))
    for i in range(mean.shape[0]):
        lab = labels[i] if labels else None
        (line,) = ax.plot(x, mean[i], lw=1.6, label=lab)
        ax.fill_between(x, lo[i], hi[i], color=line.get_color(), alpha=0.2, lw=0)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if labels:
        ax.legend(fontsize=8)
    return _png(fig)


def barh(names: list[str], values: np.ndarray, title: str, xlabel: str) -> bytes:
    """Horizontal bar chart, largest on top."""
    order = np.argsort(values)
    fig, ax = plt.subplots(figsize=(6.5, max(2.5, 0.22 * len(names))))
    ax.barh(np.asarray(names)[order], np.asarray(values)[order], color="#2e86c1")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
