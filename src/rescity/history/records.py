"""The storm history: official impact figures of thirteen Zhejiang typhoons (2004–2019).

Two packaged files (sources in ``rescity/data/SOURCES.md``):

``zhejiang_typhoon_impacts_summary.csv``
    one best (latest official) province value per storm and metric, with the JTWC ``sn`` and the
    approximate landfall time.
``zhejiang_typhoon_impacts_history.csv``
    every sourced row (province, prefecture, county), values as reported (``万人``, ``亿元``, ``间``).

:func:`observations` turns both into one tidy table ``sn, storm, region, level, metric, value,
lower_bound, source``: the summary's province values, the province collapsed-house counts of the
history rows (the latest, i.e. largest, figure per storm), and prefecture figures where reported.
Figures by different bodies differ by up to ±30 % (the observation noise, see the data README).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from rescity.errors import InputError

SUMMARY_FILE = "zhejiang_typhoon_impacts_summary.csv"
HISTORY_FILE = "zhejiang_typhoon_impacts_history.csv"

#: Official statistics, their Chinese names and units.
METRICS: dict[str, tuple[str, str]] = {
    "affected_population": ("受灾人口", "people"),
    "relocated": ("紧急转移安置人口", "people"),
    "evacuated": ("转移 (before landfall)", "people"),
    "relocated_or_evacuated": ("紧急转移安置 or 转移", "people"),
    "economic_loss_cny": ("直接经济损失", "CNY"),
    "collapsed_houses": ("倒塌房屋", "rooms (间)"),
    "power_outage_households": ("停电户数", "households"),
}

#: Prefecture names (English) → administrative code.
PREFECTURES: dict[str, str] = {
    "Hangzhou": "330100",
    "Ningbo": "330200",
    "Wenzhou": "330300",
    "Jiaxing": "330400",
    "Huzhou": "330500",
    "Shaoxing": "330600",
    "Jinhua": "330700",
    "Quzhou": "330800",
    "Zhoushan": "330900",
    "Taizhou": "331000",
    "Lishui": "331100",
}
PROVINCE = "330000"

_HISTORY_METRIC = {
    "affected_population": "affected_population",
    "collapsed_houses": "collapsed_houses",
    "direct_economic_loss": "economic_loss_cny",
    "evacuated_before_landfall": "evacuated",
    "evacuated": "evacuated",
    "emergency_relocated": "relocated",
    "emergency_evacuated": "relocated",
    "power_outage_households": "power_outage_households",
}
_UNIT = {"万人": 1e4, "万间": 1e4, "万户": 1e4, "亿元": 1e8, "人": 1.0, "间": 1.0, "户": 1.0}


def _data(name: str):
    from rescity.data import path

    return path(name)


@lru_cache(maxsize=1)
def summary() -> pd.DataFrame:
    """The summary file: ``sn, storm, landfall_utc_approx, region, metric, value, as_reported``."""
    s = pd.read_csv(_data(SUMMARY_FILE), dtype={"sn": str, "region": str})
    s["landfall"] = pd.to_datetime(s["landfall_utc_approx"].str.rstrip("Z"), utc=True)
    return s


@lru_cache(maxsize=1)
def history_rows() -> pd.DataFrame:
    """Every sourced row of the history file, as packaged."""
    return pd.read_csv(_data(HISTORY_FILE), dtype={"sn": str, "value": str})


def storms() -> pd.DataFrame:
    """One row per storm: ``sn, name_en, name_zh, year, landfall`` (UTC, approximate)."""
    s = summary().drop_duplicates("sn")
    names = s["storm"].str.split(" ", n=1, expand=True)
    out = pd.DataFrame(
        {
            "sn": s["sn"].to_numpy(),
            "name_en": names[0].to_numpy(),
            "name_zh": names[1].to_numpy(),
            "year": s["sn"].str[:4].astype(int).to_numpy(),
            "landfall": s["landfall"].to_numpy(),
        }
    )
    return out.reset_index(drop=True)


def find_storm(key: str) -> str:
    """The JTWC ``sn`` of a history storm from its sn, English or Chinese name (case-insensitive)."""
    st = storms()
    k = str(key).strip().lower()
    for col in ("sn", "name_en", "name_zh"):
        hit = st.loc[st[col].astype(str).str.lower() == k, "sn"]
        if len(hit):
            return str(hit.iloc[0])
    raise InputError(
        f"no storm {key!r} in the history; known: {', '.join(st['name_en'] + ' ' + st['sn'])}",
        field="storm",
        value=key,
    )


def select_storms(spec: str | None) -> list[str]:
    """``all`` (or empty) → every history storm; else a comma-separated list of sns or names."""
    if spec is None or str(spec).strip().lower() in ("", "all"):
        return storms()["sn"].tolist()
    return [find_storm(x) for x in str(spec).split(",") if x.strip()]


def parse_value(value: str, unit: str) -> tuple[float, bool] | None:
    """A reported value (``">9.3"`` with unit ``亿元``) → (number in base units, lower bound?);
    ``None`` when the text is not a single number (qualitative or mixed rows)."""
    v = str(value).strip()
    lower = bool(re.match(r"^(>=|≥|>|~)", v))
    v = re.sub(r"^(>=|≥|>|~)\s*", "", v)
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*(万)?", v)
    if not m:
        return None
    x = float(m.group(1))
    u = str(unit or "").split(" ")[0]
    if m.group(2):
        x *= 1e4
    return x * _UNIT.get(u, 1.0), lower


def _history_tidy() -> pd.DataFrame:
    h = history_rows()
    rows = []
    for r in h.itertuples(index=False):
        region = str(r.region)
        base = str(r.metric).split(" ")[0]
        metric = _HISTORY_METRIC.get(base)
        if metric is None or "/" in region or "NOT" in region or region.startswith("China"):
            continue
        parsed = parse_value(r.value, r.unit)
        if parsed is None:
            continue
        name = region.split(" ")[0]
        if name == "Zhejiang":
            code, level = PROVINCE, "province"
        elif name in PREFECTURES:
            code, level = PREFECTURES[name], "prefecture"
        else:
            continue
        rows.append(
            {
                "sn": str(r.sn),
                "region": code,
                "level": level,
                "metric": metric,
                "value": parsed[0],
                "lower_bound": parsed[1],
                "source": f"{r.source_title} {r.source_url}",
            }
        )
    t = pd.DataFrame(rows)
    # the latest figure of a storm grows as counts come in: keep the largest per (storm, region, metric)
    t = t.sort_values("value").groupby(["sn", "region", "metric"], as_index=False).last()
    return t


@lru_cache(maxsize=1)
def observations() -> pd.DataFrame:
    """Tidy observations ``sn, storm, region, level, metric, value, lower_bound, source``.

    Province values of the summary; province collapsed houses and every prefecture figure from the
    history rows; and ``relocated_or_evacuated``, the relocated count where reported, else the
    evacuated count (each storm reports one of the two at province level).
    """
    s = summary()
    prov = pd.DataFrame(
        {
            "sn": s["sn"],
            "region": PROVINCE,
            "level": "province",
            "metric": s["metric"],
            "value": s["value"].astype(float),
            "lower_bound": False,
            "source": s["as_reported"],
        }
    )
    h = _history_tidy()
    extra = h[
        (h["level"] == "prefecture") | ((h["level"] == "province") & (h["metric"] == "collapsed_houses"))
    ]
    obs = pd.concat([prov, extra], ignore_index=True)
    moved = []
    for _, g in obs[obs["metric"].isin(["relocated", "evacuated"])].groupby(["sn", "region"]):
        pick = g[g["metric"] == "relocated"] if (g["metric"] == "relocated").any() else g
        row = pick.iloc[0].copy()
        row["source"] = f"{row['metric']}: {row['source']}"
        row["metric"] = "relocated_or_evacuated"
        moved.append(row)
    obs = pd.concat([obs, pd.DataFrame(moved)], ignore_index=True)
    names = dict(zip(storms()["sn"], storms()["name_en"] + " " + storms()["name_zh"], strict=True))
    obs["storm"] = obs["sn"].map(names)
    obs = obs[obs["value"] > 0]
    cols = ["sn", "storm", "region", "level", "metric", "value", "lower_bound", "source"]
    return obs[cols].sort_values(["sn", "level", "region", "metric"], ignore_index=True)


def observed(sn: str, metric: str, region: str = PROVINCE) -> float:
    """One observed value (NaN when not reported)."""
    o = observations()
    v = o.loc[(o["sn"] == sn) & (o["region"] == region) & (o["metric"] == metric), "value"]
    return float(v.iloc[0]) if len(v) else float(np.nan)
