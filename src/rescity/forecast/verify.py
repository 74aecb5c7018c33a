"""Verification of issuances against observed impacts.

Observations are a table ``region, metric, value`` (extra columns such as ``as_of`` and
``source`` are kept): ``region`` is a unit id or a Chinese or English name; ``metric`` one of
:data:`METRICS` (or a forecast indicator name).

Scores
------
accuracy
    ``1 − |pred − obs| / obs`` per metric and region (1 is perfect; negative when the forecast
    is off by more than the observation; undefined for ``obs = 0``), with the forecast mean.
interval
    whether the observation lies in the forecast's 90 % interval ``[p05, p95]``.
warning levels
    the observed value's warning level (same thresholds as the forecast) against the forecast
    level: for each level k (blue+, yellow+, orange+, red+), hits (both ≥ k), misses, false
    alarms (forecast ≥ k, observed < k) and correct negatives; hit rate ``H/(H+M)`` and
    false-alarm ratio ``F/(H+F)`` (WMO/WWRP joint working group on forecast verification
    definitions).
skill of each issuance
    the same scores for every issuance in the file (mean accuracy, median |log10(pred/obs)|,
    interval coverage, warning agreement), showing how the forecast converged.

Default scoring rule (stated in the output): the last issuance at or before landfall (landfall
from ``--landfall``, else from the hindcast's ``forecast_meta.json`` beside the predictions; if
neither is known, the last issuance in the file), its longest lead window (the whole-event totals
that reports give are compared with the longest window), at the largest administrative level
the observations name (province before prefecture, county, cell).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.forecast import warning as wl

#: Observation metrics and the forecast indicator each is compared with.
METRICS: dict[str, str] = {
    "affected_population": "affected",
    "relocated": "relocate",
    "economic_loss_cny": "economic_loss_cny",
    "power_outage_households": "power_outage_households",
    "homes_damaged": "homes_damaged",
    "people_cut_off": "people_cut_off",
    "roads_impassable": "roads_impassable",
}
_LEVEL_RANK = {"province": 0, "prefecture": 1, "county": 2, "cell": 3}
PRED_REQUIRED = ("issued", "lead_h", "unit_id", "level", "indicator", "mean", "p05", "p95", "warning")


def read_observations(path) -> pd.DataFrame:
    """Read an observations CSV (``region, metric, value``); bad rows raise :class:`InputError`."""
    from rescity.safeio import read_csv_table

    p = Path(path)
    if not p.exists():
        raise InputError("observations file not found", file=p)
    obs = read_csv_table(p, dtype={"region": str})
    return check_observations(obs, p)


def check_observations(obs: pd.DataFrame, file=None) -> pd.DataFrame:
    """Check columns, metrics and values of an observations table."""
    for c in ("region", "metric", "value"):
        if c not in obs.columns:
            raise InputError(f"observations need a {c!r} column (region, metric, value)", file=file, field=c)
    if not len(obs):
        raise InputError("has no observations (only a header); add rows of region, metric, value", file=file)
    o = obs.copy()
    o["region"] = o["region"].astype(str).str.strip()
    o["metric"] = o["metric"].astype(str).str.strip()
    known = set(METRICS) | set(METRICS.values())
    bad = o.loc[~o["metric"].isin(known), "metric"]
    if len(bad):
        raise InputError(
            f"unknown metric; use one of {sorted(METRICS)}", file=file, field="metric", value=bad.iloc[0]
        )
    v = pd.to_numeric(o["value"], errors="coerce")
    bad = v.isna() | (v < 0) | ~np.isfinite(v.fillna(0.0).astype(float))
    if bad.any():
        raise InputError(
            "values must be finite numbers ≥ 0",
            file=file,
            field="value",
            value=o.loc[bad, "value"].iloc[0],
        )
    o["value"] = v.astype(float)
    o["indicator"] = o["metric"].map(lambda m: METRICS.get(m, m))
    return o


def read_issuances(path) -> pd.DataFrame:
    """Read an issuances CSV written by ``rescity forecast``."""
    from rescity.safeio import read_csv_table

    p = Path(path)
    if not p.exists():
        raise InputError("issuances file not found", file=p)
    pred = read_csv_table(p, dtype={"unit_id": str, "issued": str})
    for c in PRED_REQUIRED:
        if c not in pred.columns:
            raise InputError(f"issuances lack the {c!r} column", file=p, field=c)
    if not len(pred):
        raise InputError("has no issuances (only a header)", file=p)
    t = pd.to_datetime(pred["issued"].astype(str).str.strip(), utc=True, errors="coerce", format="mixed")
    if t.isna().any():
        raise InputError(
            "not a date and time", file=p, field="issued", value=str(pred.loc[t.isna(), "issued"].iloc[0])
        )
    for c in ("mean", "p05", "p95"):
        if c in pred.columns:
            x = pd.to_numeric(pred[c], errors="coerce")
            if x.isna().all():
                raise InputError(f"every {c!r} value is missing or not a number", file=p, field=c)
            if np.isinf(x).any():
                raise InputError(
                    "values must be finite", file=p, field=c, value=pred.loc[np.isinf(x), c].iloc[0]
                )
    return pred


def _norm(s: str) -> str:
    s = str(s).strip().lower()
    s = re.sub(r"(省|市|县|区|自治县)$", "", s)
    s = re.sub(r"\s+(province|city|county|district|prefecture)$", "", s)
    return s.replace("'", "").replace("’", "").replace(" ", "")


def match_regions(regions, units: pd.DataFrame, file=None) -> pd.DataFrame:
    """Match region ids or names to units (``unit_id``, ``level``, ``name_zh``, ``name_en``).

    Exact id, then exact Chinese or English name (case-insensitive), then the name without the
    administrative suffix (省/市/县/区, Province/City/County/District). Where a name fits several
    units the highest level wins. Returns ``region, unit_id, level``.
    """
    u = units.drop_duplicates("unit_id").copy()
    for c in ("name_zh", "name_en"):
        if c not in u.columns:
            u[c] = ""
    u["_rank"] = u["level"].map(_LEVEL_RANK).fillna(9)
    u = u.sort_values("_rank")
    keys = [
        ("exact", u["unit_id"].astype(str).str.lower()),
        ("exact", u["name_zh"].astype(str).str.strip().str.lower()),
        ("exact", u["name_en"].astype(str).str.strip().str.lower()),
        ("norm", u["name_zh"].map(_norm)),
        ("norm", u["name_en"].map(_norm)),
    ]
    rows = []
    for r in dict.fromkeys(regions):
        hit = None
        for kind, col in keys:
            q = str(r).strip().lower() if kind == "exact" else _norm(r)
            m = u[col.to_numpy() == q]
            if len(m):
                hit = m.iloc[0]
                break
        if hit is None:
            raise InputError(
                "region matches no unit id or name in the forecast", file=file, field="region", value=r
            )
        rows.append({"region": r, "unit_id": hit["unit_id"], "level": hit["level"]})
    return pd.DataFrame(rows)


def _landfall_from_meta(pred_path) -> str | None:
    if pred_path is None:
        return None
    meta = Path(pred_path).with_name("forecast_meta.json")
    if meta.exists():
        try:
            return json.loads(meta.read_text(encoding="utf-8")).get("landfall")
        except (OSError, ValueError):
            return None
    return None


def _scores(sub: pd.DataFrame) -> dict:
    o = sub["observed"].to_numpy(float)
    p = sub["predicted"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.where(o > 0, 1 - np.abs(p - o) / o, np.nan)
        lr = np.where((o > 0) & (p > 0), np.abs(np.log10(p / o)), np.nan)
    inside = (sub["p05"].to_numpy(float) <= o) & (o <= sub["p95"].to_numpy(float))
    has_w = sub["has_thresholds"].to_numpy(bool)
    agree = (sub["warning_pred"].to_numpy() == sub["warning_obs"].to_numpy())[has_w]
    return {
        "pairs": int(len(sub)),
        "mean_accuracy": _f(np.nanmean(acc)) if np.isfinite(acc).any() else None,
        "median_abs_log10_ratio": _f(np.nanmedian(lr)) if np.isfinite(lr).any() else None,
        "interval_coverage": _f(inside.mean()) if len(sub) else None,
        "warning_agreement": _f(agree.mean()) if len(agree) else None,
    }


def _f(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 6)


def _pairs(pred_i: pd.DataFrame, obs: pd.DataFrame) -> pd.DataFrame:
    """Observation rows joined to one issuance+lead's forecast rows."""
    p = pred_i[["unit_id", "indicator", "mean", "p05", "p95", "warning", "level"]].copy()
    if "population" in pred_i.columns:
        p["population"] = pred_i["population"].to_numpy()
    m = obs.merge(p, on=["unit_id", "indicator"], how="left", suffixes=("", "_pred"))
    m = m.rename(columns={"value": "observed", "mean": "predicted", "warning": "warning_pred"})
    have = set(wl.indicators_with_thresholds())
    m["has_thresholds"] = m["indicator"].isin(have)
    wobs = np.zeros(len(m), np.int8)
    for ind, g in m[m["has_thresholds"]].groupby("indicator"):
        pop = g["population"].to_numpy(float) if "population" in g.columns else None
        wobs[g.index.to_numpy()] = wl.warning_level(
            g["observed"].to_numpy(float), ind, g["level"].to_numpy(object), pop
        )
    m["warning_obs"] = wobs
    m["warning_pred"] = m["warning_pred"].fillna(0).astype(int)
    return m


def _warning_table(m: pd.DataFrame) -> list[dict]:
    sub = m[m["has_thresholds"]]
    wp = sub["warning_pred"].to_numpy(int)
    wo = sub["warning_obs"].to_numpy(int)
    out = []
    for k in range(1, 5):
        h = int(((wp >= k) & (wo >= k)).sum())
        mi = int(((wp < k) & (wo >= k)).sum())
        fa = int(((wp >= k) & (wo < k)).sum())
        cn = int(((wp < k) & (wo < k)).sum())
        out.append(
            {
                "level": k,
                "colour": wl.COLOURS[k],
                "hits": h,
                "misses": mi,
                "false_alarms": fa,
                "correct_negatives": cn,
                "hit_rate": _f(h / (h + mi)) if h + mi else None,
                "false_alarm_ratio": _f(fa / (h + fa)) if h + fa else None,
            }
        )
    return out


def verify(
    pred: pd.DataFrame,
    obs: pd.DataFrame,
    *,
    issued=None,
    lead_h: int | None = None,
    landfall=None,
    scope: str = "largest",
    pred_path=None,
    obs_path=None,
) -> dict:
    """Score forecast issuances against observations (see the module docstring).

    Parameters
    ----------
    pred, obs:
        Issuance table and observations table.
    issued:
        Issuance to score (default: the last one at or before landfall).
    lead_h:
        Lead window (default: the longest of that issuance).
    landfall:
        Landfall time (UTC) for the default rule.
    scope:
        ``largest`` (regions at the largest level observed) or ``all``.

    Returns
    -------
    dict
        ``rule``, ``issued``, ``lead_h``, ``scope_level``, ``accuracy`` (rows), ``by_metric``,
        ``warnings`` (per level), ``issuances`` (skill per issuance), ``unmatched`` (pairs without
        a forecast).
    """
    o = check_observations(obs, obs_path)
    units = pred[["unit_id", "level"] + [c for c in ("name_zh", "name_en") if c in pred.columns]]
    reg = match_regions(o["region"].unique(), units, obs_path)
    o = o.merge(reg, on="region", how="left")
    times = pd.to_datetime(pred["issued"], utc=True, format="mixed")
    all_times = sorted(times.unique())
    rule = []
    if issued is not None:
        ts = pd.Timestamp(issued)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        if ts not in set(all_times):
            raise InputError("no issuance at that time in the predictions", field="issued", value=str(ts))
        rule.append(f"issuance {ts:%Y-%m-%dT%H:%MZ} (chosen)")
    else:
        lf = landfall if landfall is not None else _landfall_from_meta(pred_path)
        if lf is not None:
            lft = pd.Timestamp(lf)
            lft = lft.tz_localize("UTC") if lft.tzinfo is None else lft.tz_convert("UTC")
            before = [t for t in all_times if t <= lft]
            if not before:
                raise InputError("no issuance at or before landfall", field="landfall", value=str(lft))
            ts = before[-1]
            rule.append(
                f"the last issuance before landfall ({ts:%Y-%m-%dT%H:%MZ}; landfall {lft:%Y-%m-%dT%H:%MZ})"
            )
        else:
            ts = all_times[-1]
            rule.append(f"the last issuance in the file ({ts:%Y-%m-%dT%H:%MZ}; landfall unknown)")
    p_i = pred[times == ts]
    leads = sorted(p_i["lead_h"].unique())
    if lead_h is None:
        L = int(leads[-1])
        rule.append(f"its longest lead window ({L} h)")
    else:
        if lead_h not in set(int(x) for x in leads):
            raise InputError(f"that issuance has lead windows {leads}", field="lead_h", value=lead_h)
        L = int(lead_h)
        rule.append(f"lead window {L} h (chosen)")
    if scope == "largest":
        top = min(o["level"].map(_LEVEL_RANK).fillna(9))
        level = next(k for k, v in _LEVEL_RANK.items() if v == top)
        o_s = o[o["level"] == level]
        names = ", ".join(dict.fromkeys(o_s["region"]))
        rule.append(f"at the largest region observed ({level}: {names})")
    elif scope == "all":
        level = "all"
        o_s = o
        rule.append("at every region observed")
    else:
        raise InputError("scope must be 'largest' or 'all'", field="scope", value=scope)

    m = _pairs(p_i[p_i["lead_h"] == L], o_s)
    unmatched = m[m["predicted"].isna()][["region", "metric"]].to_dict("records")
    m = m[m["predicted"].notna()].reset_index(drop=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.where(m["observed"] > 0, 1 - np.abs(m["predicted"] - m["observed"]) / m["observed"], np.nan)
    m["accuracy"] = acc
    m["in_interval"] = (m["p05"] <= m["observed"]) & (m["observed"] <= m["p95"])
    rows = [
        {
            "region": r.region,
            "unit_id": str(r.unit_id),
            "level": r.level,
            "metric": r.metric,
            "indicator": r.indicator,
            "observed": float(r.observed),
            "predicted": float(r.predicted),
            "p05": float(r.p05),
            "p95": float(r.p95),
            "accuracy": _f(r.accuracy),
            "in_interval": bool(r.in_interval),
            "warning_pred": wl.COLOURS[int(r.warning_pred)] if r.has_thresholds else None,
            "warning_obs": wl.COLOURS[int(r.warning_obs)] if r.has_thresholds else None,
        }
        for r in m.itertuples()
    ]
    by_metric = {
        metric: _f(np.nanmean(g["accuracy"])) if np.isfinite(g["accuracy"]).any() else None
        for metric, g in m.groupby("metric")
    }
    skill = []
    for t in all_times:
        p_t = pred[times == t]
        lt = sorted(p_t["lead_h"].unique())
        use = L if L in set(int(x) for x in lt) else int(lt[-1])
        mt = _pairs(p_t[p_t["lead_h"] == use], o_s)
        mt = mt[mt["predicted"].notna()]
        s = _scores(mt)
        s.update({"issued": f"{t:%Y-%m-%dT%H:%MZ}", "lead_h": use})
        skill.append(s)
    return {
        "rule": "Scored " + ", ".join(rule) + ".",
        "issued": f"{ts:%Y-%m-%dT%H:%MZ}",
        "lead_h": L,
        "scope_level": level,
        "accuracy": rows,
        "by_metric": by_metric,
        "warnings": {"pairs": int(m["has_thresholds"].sum()), "by_level": _warning_table(m)},
        "issuances": skill,
        "unmatched": unmatched,
    }
