"""Report sections and figures of a recovery run: Q(t) with uncertainty bands and a metrics table."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.metrics.tables import column_quantiles
from rescity.report.html import Section, png_img, table_html
from rescity.twin.systems import get_system


def system_label(system: str) -> str:
    """How Q(t) of a system is named (``road`` → "road access"), from the system registry."""
    try:
        return get_system(system).label_service or system
    except InputError:
        return system

RECOVERY_NOTE = (
    "Q(t): share of the people of a unit served through the system, from the evaluation horizon "
    "(t = 0, the service reported above) to 14 days; mean and 90 % band over the realisations. "
    "Resilience loss: area above Q(t), hours of complete outage (Bruneau et al. 2003). "
    "Robustness: the lowest Q. t90/t100: hours until 90 % / 100 % of the people are served again "
    "(a realisation not recovered within the horizon counts as the horizon). Customer-hours lost: "
    "people × hours without the service within the horizon."
)


def qt_figures(rec, max_units: int = 6) -> dict[str, bytes]:
    """PNG figures: ``qt_<unit_id>.png`` of the first unit (province) with every system, and
    ``qt_<system>.png`` with the prefectures of the largest resilience loss."""
    return start_qt_figures(rec, max_units)()


def start_qt_figures(rec, max_units: int = 6, drawer=None) -> Callable[[], dict[str, bytes]]:
    """Start drawing the figures of :func:`qt_figures` (in the background when ``drawer``, a
    :class:`~rescity.report.drawing.FigureDrawer`, has a worker; here at once otherwise) and
    return a function that waits for them: ``{file name: PNG bytes}``."""
    from rescity.report.drawing import FigureDrawer

    drawer = drawer if drawer is not None else FigureDrawer(background=False)
    figs = {}
    hours = rec.hours
    days = hours / 24.0
    units = rec.units
    if not len(units):
        return dict
    bands = "rescity.report.figures:bands"
    top = 0
    means, los, his = [], [], []
    for sv in rec.systems:
        a = rec.qt(sv, top)
        means.append(a.mean(axis=0))
        lo, hi = column_quantiles(a, (0.05, 0.95))
        los.append(lo)
        his.append(hi)
    name = str(units["name_en"].iloc[top] or units["unit_id"].iloc[top])  # figures: Latin script only
    figs[f"qt_{units['unit_id'].iloc[top]}.png"] = drawer.submit(
        bands,
        days,
        np.array(means),
        np.array(los),
        np.array(his),
        f"Service restored — {name}",
        "days after the evaluation horizon",
        "Q(t): share of people served",
        labels=[system_label(s) for s in rec.systems],
    )
    pref = np.flatnonzero(units["level"].to_numpy() == "prefecture")
    if len(pref):
        for sv in rec.systems:
            a = rec.qt(sv, pref)  # (R, P, H)
            loss = (1 - a.mean(axis=0)).sum(axis=1)
            pick = np.argsort(-loss)[:max_units]
            sub = a[:, pick, :]
            lo, hi = column_quantiles(sub, (0.05, 0.95))
            labels = [str(units["name_en"].iloc[pref[i]] or units["unit_id"].iloc[pref[i]]) for i in pick]
            figs[f"qt_{sv}.png"] = drawer.submit(
                bands,
                days,
                sub.mean(axis=0),
                lo,
                hi,
                f"{system_label(sv).capitalize()} restored — prefectures with the largest loss",
                "days after the evaluation horizon",
                "Q(t)",
                labels=labels,
            )
    return lambda: {name: png.result() for name, png in figs.items()}


def _interval(mean: np.ndarray, lo: np.ndarray, hi: np.ndarray, fmt: str) -> list[str]:
    """``mean [lo–hi]``; a mean outside its own interval (skewed: a few realisations far off) is
    marked † and explained under the table."""
    out = []
    for m, a, b in zip(mean, lo, hi, strict=True):
        if not np.isfinite(m):
            out.append("–")
            continue
        fm, fa, fb = fmt.format(m), fmt.format(a), fmt.format(b)
        skew = "†" if (m < a or m > b) and fm not in (fa, fb) else ""
        out.append(f"{fm}{skew} [{fa}–{fb}]")
    return out


METRICS_NOTE = (
    "Mean [90 % interval] over the realisations. † The mean lies outside the interval when the "
    "distribution is skewed: t100 of 335 h with an interval of 336–336 h means that in at least 95 % "
    "of the realisations some customers are still out at the end of the 14-day horizon (336 h, "
    "censored) while in a few everyone is back sooner."
)


def metrics_display(
    metrics: pd.DataFrame, levels: tuple[str, ...] = ("province", "prefecture")
) -> pd.DataFrame:
    """A readable metrics table (mean [90 % interval]) for the given levels."""
    t = metrics[metrics["level"].isin(levels)]
    return pd.DataFrame(
        {
            "name": (t["name_zh"] + " " + t["name_en"]).to_numpy(),
            "code": t["unit_id"].to_numpy(),
            "system": t["system"].to_numpy(),
            "resilience loss (h)": _interval(
                t["resilience_loss_h"].to_numpy(),
                t["resilience_loss_h_p05"].to_numpy(),
                t["resilience_loss_h_p95"].to_numpy(),
                "{:.1f}",
            ),
            "robustness (%)": _interval(
                100 * t["robustness"].to_numpy(),
                100 * t["robustness_p05"].to_numpy(),
                100 * t["robustness_p95"].to_numpy(),
                "{:.1f}",
            ),
            "t90 (h)": _interval(
                t["t90_h"].to_numpy(), t["t90_h_p05"].to_numpy(), t["t90_h_p95"].to_numpy(), "{:.0f}"
            ),
            "t100 (h)": _interval(
                t["t100_h"].to_numpy(), t["t100_h_p05"].to_numpy(), t["t100_h_p95"].to_numpy(), "{:.0f}"
            ),
            "not 100 % in horizon": [f"{100 * x:.0f} %" for x in t["t100_censored"].to_numpy()],
            "customer-hours lost": _interval(
                t["customer_hours_lost"].to_numpy() / 1e6,
                t["customer_hours_lost_p05"].to_numpy() / 1e6,
                t["customer_hours_lost_p95"].to_numpy() / 1e6,
                "{:.2f}M",
            ),
        }
    )


def recovery_sections(
    rec, metrics: pd.DataFrame, figs: dict[str, bytes], extra_html: str = ""
) -> list[Section]:
    """The "Recovery" and "Resilience metrics" sections of the scenario report."""
    cfg = rec.config
    pools = rec.pools
    crews = pools.groupby("system")["crews"].sum()
    jobs = pools.groupby("system")["jobs_mean"].sum()
    lines = "".join(
        f"<li><b>{html.escape(s)}</b>: {int(crews[s]):,} crews, {jobs[s]:,.0f} repair jobs per realisation on average</li>"
        for s in crews.index
    )
    body = (
        f"<p>Restoration over {cfg.horizon_days:g} days (hourly), policy <b>{html.escape(rec.policy)}</b>, "
        f"{rec.realisations} realisations. Crews per system and prefecture travel from relief depots on the "
        "road network; an asset behind damaged road is reached once the road is repaired.</p>"
        f"<ul>{lines}</ul>"
        "<div class='figs'>"
        + "".join(
            f"<figure>{png_img(png, name)}<figcaption>{html.escape(name)}</figcaption></figure>"
            for name, png in figs.items()
        )
        + "</div>"
        f"<p class='note'>{html.escape(RECOVERY_NOTE)}</p>" + extra_html
    )
    out = [Section("Recovery", body)]
    out.append(
        Section(
            "Resilience metrics",
            table_html(metrics_display(metrics), css="data sticky") + f"<p class='note'>{html.escape(METRICS_NOTE)}</p>",
        )
    )
    return out


def write_figures(figs: dict[str, bytes], out: Path) -> dict[str, Path]:
    """Write the PNGs into ``out``."""
    paths = {}
    for name, png in figs.items():
        p = Path(out) / name
        p.write_bytes(png)
        paths[name] = p
    return paths
