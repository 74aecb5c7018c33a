"""The assessment report: ``ranking.csv``, ``obstacles.csv``, charts and ``assess.html``.

Charts are PNG files written beside the HTML and embedded in it (base64), so the HTML is
self-contained. Per-unit charts are radar charts of the dimension scores when three or more
dimensions have data, else of the standardised indicator scores.
"""

from __future__ import annotations

import base64
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.assess.scoring import Evaluation
from rescity.assess.weights import SHIFT

#: Units per small-multiples figure.
PER_FIGURE = 30


def _template() -> str:
    from importlib.resources import files

    return (files("rescity.assess") / "report.html").read_text(encoding="utf-8")


def _png_b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ranking_chart(ranking: pd.DataFrame, labels: pd.Series, path: Path) -> Path:
    """Horizontal bar chart of closeness, best at the top."""
    plt = _plt()
    r = ranking.sort_values("closeness")
    h = max(3.0, 0.16 * len(r) + 1)
    fig, ax = plt.subplots(figsize=(7, h), dpi=110)
    ax.barh(np.arange(len(r)), r["closeness"], color="#4c72b0")
    ax.set_yticks(np.arange(len(r)))
    ax.set_yticklabels(r["unit_id"].map(labels).fillna(r["unit_id"]), fontsize=6)
    ax.set_xlabel("TOPSIS closeness")
    ax.set_xlim(0, 1)
    ax.margins(y=0.005)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def profile_charts(scores: pd.DataFrame, labels: pd.Series, out: Path, stem: str = "profiles") -> list[Path]:
    """Small-multiples radar charts, one per unit (rows of ``scores``: units; columns: axes, 0–1).

    All radars of a figure are drawn in one plain axes, offset on a grid, with one polygon and
    one line collection: far faster than a polar axes per unit.
    """
    from matplotlib.collections import LineCollection, PolyCollection

    plt = _plt()
    axes_names = list(scores.columns)
    k = len(axes_names)
    ang = np.pi / 2 - np.linspace(0, 2 * np.pi, k, endpoint=False)
    cx, cy = np.cos(ang), np.sin(ang)
    ring = np.r_[np.arange(k), 0]
    ncol, step = 6, 3.0
    paths = []
    for part, start in enumerate(range(0, len(scores), PER_FIGURE)):
        chunk = scores.iloc[start : start + PER_FIGURE]
        nrow = int(np.ceil(len(chunk) / ncol))
        fig = plt.figure(figsize=(1.9 * ncol, 2.0 * nrow + 0.5), dpi=90)
        ax = fig.add_axes((0.0, 0.5 / (2.0 * nrow + 0.5), 1.0, 1.0 - 0.5 / (2.0 * nrow + 0.5)))
        ax.set_axis_off()
        grid, polys = [], []
        for n, (uid, row) in enumerate(chunk.iterrows()):
            ox, oy = (n % ncol) * step, -(n // ncol) * step
            v = np.clip(row.to_numpy(float), 0, 1)
            for r in (0.5, 1.0):
                grid.append(np.column_stack([ox + r * cx[ring], oy + r * cy[ring]]))
            grid.extend(np.array([[ox, oy], [ox + cx[i], oy + cy[i]]]) for i in range(k))
            polys.append(np.column_stack([ox + v * cx, oy + v * cy]))
            ax.text(ox, oy + 1.35, str(labels.get(uid, uid)), ha="center", va="bottom", fontsize=7)
            for i in range(k):
                ax.text(
                    ox + 1.15 * cx[i],
                    oy + 1.15 * cy[i],
                    str(i + 1),
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="0.45",
                )
        ax.add_collection(LineCollection(grid, colors="0.82", linewidths=0.5))
        ax.add_collection(PolyCollection(polys, facecolors="#c44e5250", edgecolors="#c44e52", linewidths=0.8))
        ax.set_xlim(-1.4, (ncol - 1) * step + 1.4)
        ax.set_ylim(-(nrow - 1) * step - 1.3, 1.7)
        ax.set_aspect("equal")
        key = "   ".join(f"{i + 1}: {n}" for i, n in enumerate(axes_names))
        fig.text(0.5, 0.005, key, ha="center", va="bottom", fontsize=6, wrap=True)
        p = out / f"{stem}_{part + 1}.png"
        fig.savefig(p)
        plt.close(fig)
        paths.append(p)
    return paths


def write_report(
    ev: Evaluation,
    maturity: pd.DataFrame,
    status: pd.DataFrame,
    criteria: pd.DataFrame,
    units: pd.DataFrame,
    out: str | Path,
    sources: list[str],
    title: str = "Resilience assessment (韧性评价)",
) -> dict[str, Path]:
    """Write ``ranking.csv``, ``obstacles.csv``, ``weights.csv``, ``maturity.csv``, PNG charts
    and ``assess.html`` into ``out``; return their paths by name.

    ``maturity`` is :func:`rescity.assess.maturity.maturity_levels`' table, ``status`` the
    :func:`~rescity.assess.maturity.criteria_status` table of the same criteria; ``units`` has
    ``unit_id``, ``name_zh``, ``name_en``; ``sources`` are lines describing where the data came from.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sys_t = ev.system.table.set_index("indicator")
    names = units.drop_duplicates("unit_id").set_index("unit_id")
    key = ["unit_id", "year"]

    weakest = (
        ev.obstacles.assign(
            txt=lambda d: d["indicator"].map(sys_t["name_zh"]) + " " + d["obstacle"].map("{:.0%}".format)
        )
        .groupby(key)["txt"]
        .agg("; ".join)
        .rename("weakest")
    )
    rk = ev.ranking.merge(maturity[key + ["level", "complete", "label"]], on=key, how="left")
    rk = rk.merge(weakest.reset_index(), on=key, how="left")
    rk.insert(1, "name_zh", rk["unit_id"].map(names["name_zh"]))
    rk.insert(2, "name_en", rk["unit_id"].map(names["name_en"]))
    rk = rk.rename(columns={"level": "maturity_level", "complete": "maturity_complete", "label": "maturity"})
    files: dict[str, Path] = {}
    files["ranking"] = out / "ranking.csv"
    rk.to_csv(files["ranking"], index=False)
    ob = ev.obstacles.copy()
    ob.insert(1, "name_zh", ob["unit_id"].map(names["name_zh"]))
    ob["indicator_zh"] = ob["indicator"].map(sys_t["name_zh"])
    files["obstacles"] = out / "obstacles.csv"
    ob.to_csv(files["obstacles"], index=False)
    w = ev.weights.rename_axis("indicator").reset_index()
    w = w.merge(ev.system.table, on="indicator", how="left")
    files["weights"] = out / "weights.csv"
    w.to_csv(files["weights"], index=False)
    files["maturity"] = out / "maturity.csv"
    maturity.to_csv(files["maturity"], index=False)

    year = int(rk["year"].max())
    latest = rk[rk["year"] == year]
    en = names["name_en"].fillna("").astype(str)
    labels = en.where(en.str.len() > 0, pd.Series(names.index, index=names.index).astype(str))
    dims_used = [d for d in ev.system.dimensions if f"score_{d}" in ev.ranking.columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing glyphs etc.
        files["ranking_png"] = ranking_chart(latest, labels, out / "ranking.png")
        if len(dims_used) >= 3:
            prof = latest.set_index("unit_id")[[f"score_{d}" for d in dims_used]]
            prof.columns = dims_used
            profile_note = (
                "Radar charts of the dimension scores (0–1, weighted mean of standardised indicators)."
            )
        else:
            y = ev.standardised.xs(year, level="year")
            prof = y.loc[latest["unit_id"]]
            profile_note = (
                "Radar charts of the standardised indicator scores (0–1, larger = better); fewer than "
                "three dimensions have data."
            )
        prof_paths = profile_charts(prof, labels, out)
    for i, p in enumerate(prof_paths):
        files[f"profiles_{i + 1}"] = p

    st = status[status["year"] == year]
    per = st.groupby(["level", "indicator"], sort=False)["met"].agg(
        n_met=lambda m: int(m.fillna(False).astype(bool).sum()), n_missing=lambda m: int(m.isna().sum())
    )
    crit_rows = criteria.merge(per.reset_index(), on=["level", "indicator"], how="left")
    counts = maturity[maturity["year"] == year]["label"].value_counts().sort_index()
    from jinja2 import Environment

    html = (
        Environment(autoescape=True)
        .from_string(_template())
        .render(
            title=title,
            units=latest["unit_id"].tolist(),
            years=sorted(rk["year"].unique().tolist()),
            year=year,
            method=ev.method + (f" ({'; '.join(ev.notes)})" if ev.notes else ""),
            weights=ev.weights,
            n_system=len(ev.system.table),
            sources=sources,
            notes=[],
            ranking=latest.to_dict("records"),
            dims=dims_used,
            dim_names=ev.system.dimension_names(),
            indicators=w.to_dict("records"),
            excluded=sorted(ev.excluded.items()),
            names_zh=sys_t["name_zh"].to_dict(),
            charts={"ranking": _png_b64(files["ranking_png"]), "profiles": [_png_b64(p) for p in prof_paths]},
            profile_note=profile_note,
            maturity_counts=list(counts.items()),
            criteria=crit_rows.to_dict("records"),
            shift=SHIFT,
        )
    )
    files["html"] = out / "assess.html"
    files["html"].write_text(html, encoding="utf-8")
    return files
