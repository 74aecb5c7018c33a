"""``rescity verify suite``: every storm of the history, scored leave-one-storm-out.

For each storm ``s`` of the history and each scenario — the best track and hindcast issuances
48, 24 and 12 h before landfall (the official forecast an operational centre could have issued
then, :func:`rescity.forecast.ensemble.official_forecast`, with an ensemble of member tracks
around it) — every operator is fitted on the *other* storms (:mod:`rescity.history.calibration`)
and the predictive distribution of each official statistic is scored against what was reported:

accuracy
    ``1 − |p − o| / o`` with ``p`` the predictive median (1 perfect, ≤ 0 off by ``o`` or more).
log ratio
    ``ln(p / o)``.
in 90 %
    ``p05 ≤ o ≤ p95``.
skill against a baseline
    ``1 − mean|ln(p/o)| / mean|ln(b/o)|`` over storms (> 0: better than the baseline), for two
    baselines fitted without the scored storm: *climatology*, the median of the other storms'
    observations, and *exposure-only*, the people in cells with peak gust ≥ 17.2 m/s or storm
    rain ≥ 100 mm times a rate (the geometric mean of observed / exposed over the other storms).

Province figures are scored for every storm; prefecture figures where reported (no baselines).
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.engine.executor import Executor, imap_chunks
from rescity.history import calibration as cal
from rescity.history import operators as op
from rescity.history import records
from rescity.history import state as st

DEFAULT_LEADS: tuple[int, ...] = (48, 24, 12)
DEFAULT_MEMBERS = 8
#: Province accuracy goals of the issue (median over storms).
GOALS = {"affected_population": 0.7, "relocated_or_evacuated": 0.6, "economic_loss_cny": 0.6}


def _suite_home(home=None) -> Path:
    base = Path(home) if home is not None else Path(os.environ.get("RESCITY_HOME", Path.home() / ".rescity"))
    return base / "verify_suite"


def load_storms(
    twin,
    sns: list[str],
    *,
    leads: tuple[int, ...] = DEFAULT_LEADS,
    members: int = DEFAULT_MEMBERS,
    realisations: int = st.DEFAULT_REALISATIONS,
    seed: int = st.DEFAULT_SEED,
    progress=None,
    workers: int | Executor = 1,
) -> tuple[dict[str, cal.StormData], dict[tuple[str, int], cal.StormData], str]:
    """States of every storm (best track) and of every hindcast issuance, as :class:`StormData`.

    The tracks (best track, official forecasts, ensemble members) are drawn here; the model runs
    (:func:`rescity.history.state.run_storm` for states not in the cache, member hazard fields)
    go through the executor, one storm per chunk (``workers``: local worker processes or an
    executor, :func:`rescity.engine.executor.resolve_executor`); new states are cached here.
    ``progress(done, total, sn)`` after each storm.

    Returns ``(best, hindcasts, track_source)``; hindcast keys are ``(sn, lead_h)``.
    """
    from rescity.forecast.ensemble import member_tracks, official_forecast, perturb_track

    lf = records.storms().set_index("sn")["landfall"]
    sources = set()
    plans = []  # per storm: [(state key, lead or None, track)], {lead: member tracks}
    for sn in sns:
        track = st.best_track(sn)
        sources.add(str(track.attrs.get("source", "?")).split(" ")[0])
        scen: list[tuple[str, int | None, pd.DataFrame]] = [(sn, None, track)]
        mem: dict[int, list[pd.DataFrame]] = {}
        for lead in leads:
            issued = (lf[sn] - pd.Timedelta(hours=lead)).floor("6h")
            if issued < track["time"].iloc[0]:
                continue
            fc = official_forecast(track, issued, seed=seed)
            scen.append((f"{sn}-h{lead}", lead, fc))
            if members > 0:
                ens = perturb_track(fc, issued, members=members, seed=seed)
                mem[lead] = []
                for m in member_tracks(ens):
                    full = pd.concat([fc[fc["time"] < issued], m[m["time"] >= issued]], ignore_index=True)
                    full.attrs.update(fc.attrs)
                    mem[lead].append(full)
        plans.append((sn, scen, mem))
    kw = {"realisations": realisations, "seed": seed}
    cached = {key: st.cached_state(twin, key, **kw) for _, scen, _ in plans for key, _, _ in scen}
    chunks = [([(key, tr) for key, _, tr in scen if cached[key] is None], mem) for _, scen, mem in plans]
    runs = imap_chunks(_storm_runs, chunks, shared=(twin, realisations, seed), workers=workers)
    best: dict[str, cal.StormData] = {}
    hind: dict[tuple[str, int], cal.StormData] = {}
    for i, ((sn, scen, _), (new, fields)) in enumerate(zip(plans, runs, strict=True)):
        for key, state in new.items():
            st.save_state(state, twin, key, **kw)
        states = {key: cached[key] if cached[key] is not None else new[key] for key, _, _ in scen}
        best[sn] = cal.storm_data(sn, states[sn])
        for key, lead, _ in scen[1:]:
            hind[(sn, lead)] = cal.storm_data(sn, states[key], members=fields.get(lead, []))
        if progress:
            progress(i + 1, len(sns), sn)
    return best, hind, "+".join(sorted(sources))


def _storm_runs(
    shared: tuple, states: list[tuple[str, pd.DataFrame]], members: dict[int, list[pd.DataFrame]]
) -> tuple[dict[str, pd.DataFrame], dict[int, list[tuple[np.ndarray, np.ndarray]]]]:
    """One storm's model runs (a chunk; ``shared`` = twin, realisations, seed): the state of each
    ``(key, track)`` and the peak gust and storm rain of each member track, per lead."""
    twin, realisations, seed = shared
    new = {key: st.run_storm(twin, track, realisations, seed) for key, track in states}
    fields = {}
    for lead, tracks in members.items():
        fields[lead] = []
        for tr in tracks:
            h = st.hazard_fields(twin, tr)
            fields[lead].append((h["gust_ms"], h["rain_mm"]))
    return new, fields


def _score_row(p: float, o: float) -> tuple[float, float]:
    return 1 - abs(p - o) / o, float(np.log(max(p, 1.0) / o))


def loso(
    best: dict[str, cal.StormData],
    hind: dict[tuple[str, int], cal.StormData] | None = None,
    *,
    metrics=op.SCORED_METRICS,
    draws: int = cal.DEFAULT_DRAWS,
    seed: int = st.DEFAULT_SEED,
    observations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Leave-one-storm-out predictions and scores: one row per (storm, scenario, region, metric)
    observed. ``observations`` defaults to :func:`records.observations` (tests perturb it)."""
    obs = records.observations() if observations is None else observations
    obs = obs[obs["sn"].isin(list(best))]
    hind = hind or {}
    rows = []
    for s in best:
        train = [k for k in best if k != s]
        o_s = obs[obs["sn"] == s]
        if o_s.empty:
            continue
        for m in metrics:
            om = o_s[o_s["metric"] == m]
            if om.empty:
                continue
            tr_obs = _province_obs(obs, m, train)
            fit = None
            if m in op.OPERATOR_PARAMS and len(tr_obs) > len(op.OPERATOR_PARAMS[m]) + 1:
                fit = cal.fit_metric(m, best, tr_obs)
            if m in op.OPERATOR_PARAMS and fit is None:
                continue  # too few training storms to fit this operator
            clim = float(np.median(list(tr_obs.values()))) if tr_obs else np.nan
            rate = _exposure_rate(best, tr_obs)
            sig_fallback = 1.0
            scen = [("best_track", best[s])] + [
                (f"h{lead}", hind[(s, lead)])
                for lead in sorted({k[1] for k in hind}, reverse=True)
                if (s, lead) in hind
            ]
            for name, sd in scen:
                pred = cal.predictive(m, sd, fit, draws=draws, seed=seed, sigma_fallback=sig_fallback)
                pred = pred.set_index("region")
                expo = rate * op.exposed_people(sd.exposure) if np.isfinite(rate) else np.nan
                for r in om.itertuples(index=False):
                    if r.region not in pred.index:
                        continue
                    p = pred.loc[r.region]
                    acc, lr = _score_row(float(p["median"]), float(r.value))
                    prov = r.region == records.PROVINCE
                    rows.append(
                        {
                            "sn": s,
                            "storm": r.storm,
                            "scenario": name,
                            "region": r.region,
                            "level": r.level,
                            "metric": m,
                            "observed": float(r.value),
                            "median": float(p["median"]),
                            "mean": float(p["mean"]),
                            "p05": float(p["p05"]),
                            "p95": float(p["p95"]),
                            "accuracy": acc,
                            "log_ratio": lr,
                            "in_90": bool(p["p05"] <= r.value <= p["p95"]),
                            "climatology": clim if prov else np.nan,
                            "exposure_only": expo if prov else np.nan,
                            "fitted": fit is not None,
                        }
                    )
    return pd.DataFrame(rows)


def _province_obs(obs: pd.DataFrame, metric: str, sns) -> dict[str, float]:
    o = obs[(obs["metric"] == metric) & (obs["region"] == records.PROVINCE) & obs["sn"].isin(list(sns))]
    return dict(zip(o["sn"], o["value"].astype(float), strict=True))


def _exposure_rate(best: dict[str, cal.StormData], tr_obs: dict[str, float]) -> float:
    """Geometric-mean rate observed / exposed people over the training storms with exposure."""
    lr = []
    for sn, y in tr_obs.items():
        e = op.exposed_people(best[sn].exposure)
        if e > 0:
            lr.append(np.log(y / e))
    return float(np.exp(np.mean(lr))) if lr else np.nan


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and metric at province level: storms, median and worst accuracy, median
    |log ratio|, 90 % coverage, skill against both baselines."""
    out = []
    prov = rows[rows["region"] == records.PROVINCE]

    def skill(g: pd.DataFrame, col: str) -> float:
        b = g[col].to_numpy(float) if col in g else np.full(len(g), np.nan)
        ok = np.isfinite(b)
        if not ok.any():
            return np.nan
        lb = np.abs(np.log(np.maximum(b[ok], 1.0) / g["observed"].to_numpy(float)[ok])).mean()
        return float(1 - np.abs(g["log_ratio"].to_numpy()[ok]).mean() / lb) if lb > 0 else np.nan

    for (scen, m), g in prov.groupby(["scenario", "metric"], sort=False):
        a_model = np.abs(g["log_ratio"]).mean()

        out.append(
            {
                "scenario": scen,
                "metric": m,
                "storms": int(len(g)),
                "median_accuracy": float(g["accuracy"].median()),
                "worst_accuracy": float(g["accuracy"].min()),
                "worst_storm": str(g.loc[g["accuracy"].idxmin(), "storm"]),
                "median_abs_log_ratio": float(np.abs(g["log_ratio"]).median()),
                "mean_abs_log_ratio": float(a_model),
                "coverage_90": float(g["in_90"].mean()),
                "skill_vs_climatology": skill(g, "climatology"),
                "skill_vs_exposure_only": skill(g, "exposure_only"),
            }
        )
    return pd.DataFrame(out)


def run_suite(
    twin=None,
    storms: str | None = "all",
    *,
    leads: tuple[int, ...] = DEFAULT_LEADS,
    members: int = DEFAULT_MEMBERS,
    draws: int = cal.DEFAULT_DRAWS,
    realisations: int = st.DEFAULT_REALISATIONS,
    seed: int = st.DEFAULT_SEED,
    progress=None,
    workers: int | Executor = 1,
) -> dict:
    """Run the whole suite; returns ``{"rows", "summary", "meta"}`` (tables as DataFrames).
    ``workers``: as for :func:`load_storms` (the results do not depend on it)."""
    t0 = time.perf_counter()
    if twin is None:
        from rescity.twin.zhejiang import default_twin

        twin = default_twin(seed=seed)
    sns = records.select_storms(storms)
    best, hind, source = load_storms(
        twin, sns, leads=leads, members=members, realisations=realisations, seed=seed, progress=progress,
        workers=workers,
    )
    t1 = time.perf_counter()
    rows = loso(best, hind, draws=draws, seed=seed)
    summary = summarise(rows)
    meta = {
        "storms": sns,
        "leads_h": list(leads),
        "members": members,
        "draws": draws,
        "realisations": realisations,
        "seed": seed,
        "twin_fingerprint": st.twin_fingerprint(twin),
        "model_version": st.MODEL_VERSION,
        "track_source": source,
        "seconds_states": round(t1 - t0, 1),
        "seconds_total": round(time.perf_counter() - t0, 1),
        "created": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return {"rows": rows, "summary": summary, "meta": meta, "best": best}


def plain_words(summary: pd.DataFrame, meta: dict | None = None) -> str:
    """How well the model did on past storms, in plain words (best-track scenario, province)."""
    s = summary[summary["scenario"] == "best_track"].set_index("metric")
    parts = []
    names = {
        "affected_population": "people affected",
        "relocated_or_evacuated": "people relocated or evacuated",
        "economic_loss_cny": "direct economic loss",
        "collapsed_houses": "collapsed houses",
    }
    for m, label in names.items():
        if m in s.index:
            r = s.loc[m]
            within = float(np.exp(r["median_abs_log_ratio"]))
            parts.append(
                f"{label}: typically within a factor {within:.1f} of the official figure, "
                f"the 90 % range held it for {r['coverage_90']:.0%} of {int(r['storms'])} storms"
            )
    n = len((meta or {}).get("storms", [])) or int(s["storms"].max() if len(s) else 0)
    head = f"Tested on {n} past Zhejiang typhoons (2004–2019), each predicted without using its own figures. "
    return head + "; ".join(parts) + "."


def to_json(result: dict) -> dict:
    """JSON-ready form of a suite result."""
    rows = result["rows"].replace({np.nan: None})
    summ = result["summary"].replace({np.nan: None})
    return {
        "meta": result["meta"],
        "summary": summ.to_dict(orient="records"),
        "rows": rows.to_dict(orient="records"),
        "plain_words": plain_words(result["summary"], result["meta"]),
    }


def _plot_png(rows: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prov = rows[(rows["region"] == records.PROVINCE) & (rows["scenario"] == "best_track")]
    metrics = list(dict.fromkeys(prov["metric"]))
    fig, axes = plt.subplots(1, max(len(metrics), 1), figsize=(3.6 * max(len(metrics), 1), 3.6))
    axes = np.atleast_1d(axes)
    for ax, m in zip(axes, metrics, strict=False):
        g = prov[prov["metric"] == m]
        o = g["observed"].to_numpy(float)
        p = np.maximum(g["median"].to_numpy(float), 1.0)
        lo = np.maximum(g["p05"].to_numpy(float), 1.0)
        hi = np.maximum(g["p95"].to_numpy(float), 1.0)
        ax.errorbar(o, p, yerr=[p - lo, hi - p], fmt="o", ms=4, capsize=2)
        for x, y, name in zip(o, p, g["storm"], strict=True):
            ax.annotate(str(name).split(" ")[0], (x, y), fontsize=6)
        a = min(o.min(), lo.min()) / 2
        b = max(o.max(), hi.max()) * 2
        ax.plot([a, b], [a, b], "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("observed")
        ax.set_ylabel("predicted (median, 90 %)")
        ax.set_title(m, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda x: f"{x:,.3g}", na_rep="", border=0)


def verified_record(result: dict) -> dict:
    """The record reports show as the model's verified skill (:mod:`rescity.report.skill`): the
    plain-words summary, the best-track province predictions of every storm (scored
    leave-one-storm-out) and the provenance of the run."""
    rows = result["rows"]
    best = rows[(rows["scenario"] == "best_track") & (rows["region"] == records.PROVINCE)]
    storms = [
        {
            "storm": r.storm,
            "metric": r.metric,
            "observed": float(r.observed),
            "predicted (median)": float(round(r.median, -2)),
            "90 % interval": f"{r.p05:,.0f} – {r.p95:,.0f}",
            "accuracy": round(float(r.accuracy), 2),
        }
        for r in best.itertuples(index=False)
    ]
    meta = result["meta"]
    return {
        "summary": plain_words(result["summary"], meta),
        "storms": storms,
        "verified": {k: meta.get(k) for k in ("created", "track_source", "twin_fingerprint", "model_version")},
    }


def write(result: dict, out: str | Path, home=None, ship: bool = False) -> dict[str, Path]:
    """Write ``suite.json``, ``suite_rows.csv`` and ``suite.html`` to ``out``; keep a copy of the
    JSON summary as the last run (read by reports and the dashboard). ``ship``: also write
    :func:`verified_record` as the package's ``verified_skill.json``, the record every report
    shows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js = to_json(result)
    pj = out / "suite.json"
    pj.write_text(json.dumps(js, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    pc = out / "suite_rows.csv"
    result["rows"].to_csv(pc, index=False)
    png = _plot_png(result["rows"])
    meta = result["meta"]
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>rescity verification suite</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:1em auto}}table{{border-collapse:collapse;font-size:12px}}
td,th{{padding:2px 6px;border-bottom:1px solid #ddd;text-align:right}}</style></head><body>
<h1>How well rescity did on past typhoons (leave-one-storm-out)</h1>
<p>{plain_words(result["summary"], meta)}</p>
<p>Storms {", ".join(meta["storms"])}; tracks {meta["track_source"]}; twin {meta["twin_fingerprint"]};
model {meta["model_version"]}; {meta["draws"]} predictive draws, {meta["members"]} hindcast members;
{meta["seconds_total"]} s. Every prediction uses parameters fitted without the storm scored.</p>
<img alt="predicted against observed, log-log, with 90 % intervals" src="data:image/png;base64,{png}">
<h2>Province, per scenario and metric</h2>{_table_html(result["summary"])}
<h2>Every prediction</h2>{_table_html(result["rows"])}
</body></html>"""
    ph = out / "suite.html"
    ph.write_text(html, encoding="utf-8")
    last = _suite_home(home)
    last.mkdir(parents=True, exist_ok=True)
    (last / "last.json").write_text(
        json.dumps(
            {k: js[k] for k in ("meta", "summary", "plain_words")}, ensure_ascii=False, indent=1, default=str
        ),
        encoding="utf-8",
    )
    paths = {"json": pj, "csv": pc, "html": ph}
    if ship:
        from rescity import data

        pv = Path(str(data.__file__)).parent / "verified_skill.json"
        pv.write_text(json.dumps(verified_record(result), ensure_ascii=False, indent=1), encoding="utf-8")
        paths["verified_skill"] = pv
    return paths


def last_run(home=None) -> dict | None:
    """The summary of the suite's last run (``meta``, ``summary``, ``plain_words``), else the LOSO
    scores shipped with the packaged calibration, else ``None``."""
    p = _suite_home(home) / "last.json"
    if p.exists():
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            pass
    try:
        c = cal.load()
    except Exception:  # noqa: BLE001 - no packaged calibration yet
        return None
    sc = c.get("loso_scores") or {}
    return sc or None


def track_record(home=None) -> dict | None:
    """What reports and the dashboard show next to a forecast: how well the model did on past
    storms, in plain words, and the calibration in use. ``None`` when nothing is known."""
    last = last_run(home)
    try:
        calib = cal.describe(cal.load())
    except Exception:  # noqa: BLE001 - no packaged calibration
        calib = None
    if not last and calib is None:
        return None
    words = (last or {}).get(
        "plain_words"
    ) or "Not yet verified against past storms (run 'rescity verify suite')."
    return {
        "plain_words": words,
        "calibration": calib,
        "verified": ((last or {}).get("meta") or {}).get("created"),
    }
