"""``rescity forecast run|hindcast``, ``rescity verify [suite]`` and ``rescity calibrate``."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from rescity.cli._common import SETTINGS, console
from rescity.errors import InputError
from rescity.forecast import DEFAULT_MEMBERS

if TYPE_CHECKING:
    import pandas as pd

forecast_app = typer.Typer(
    help="Rolling risk forecasts from a typhoon forecast track: ensembles, warnings, hindcasts.",
    no_args_is_help=True,
)


# ---------------------------------------------------------------------------------------------
# shared helpers (also used by rescity.cli.decide)


def load_twin(path: Optional[Path]):
    """The twin saved at ``path``, or the default Zhejiang twin (its own seed: the Monte Carlo
    seed never changes the twin)."""
    if path is None:
        try:
            from rescity.twin.zhejiang import default_twin
        except ImportError:
            raise InputError(
                "the default Zhejiang twin builder (rescity.twin.zhejiang) is missing; pass --twin PATH",
                field="twin",
            ) from None
        return default_twin()
    if not Path(path).exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    from rescity.twin.io import read

    return read(path)


def read_track_file(path: Path, fmt: Optional[str] = None, sn: Optional[str] = None) -> pd.DataFrame:
    """A track from a file: via :func:`rescity.hazard.track.read_track`, or a generic CSV when that is absent.

    The generic CSV has ``time`` (UTC), ``lat``, ``lon``, ``vmax_ms`` and optionally ``pcen_hpa``,
    ``penv_hpa``, ``rmax_km``, ``issued`` and ``member`` (an ensemble of tracks).
    """
    import pandas as pd
    if not Path(path).exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    try:
        from rescity.hazard.track import read_track
    except ImportError:
        read_track = None
    if read_track is not None and (fmt not in (None, "generic", "csv") or not _has_member_column(path)):
        t = read_track(path, fmt, sn)
        if "issued" not in t.attrs:
            issued = _issued_in_csv(path)
            if issued is not None:
                t.attrs["issued"] = issued
        return t
    if fmt not in (None, "generic", "csv"):
        raise InputError(
            f"reading {fmt!r} tracks needs rescity.hazard.track", file=path, field="fmt", value=fmt
        )
    try:
        t = pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 - any parse error is the user's file
        raise InputError(f"cannot read the track: {e}", file=path) from None
    for c in ("time", "lat", "lon", "vmax_ms"):
        if c not in t.columns:
            raise InputError(f"track CSV lacks the {c!r} column", file=path, field=c)
    t["time"] = pd.to_datetime(t["time"], utc=True)
    if "issued" in t.columns:
        t.attrs["issued"] = pd.Timestamp(t["issued"].dropna().iloc[0])
    t.attrs.setdefault("sn", sn or "")
    return t


def _issued_in_csv(path: Path):
    import pandas as pd
    try:
        head = pd.read_csv(path, usecols=["issued"], nrows=1)
    except Exception:  # noqa: BLE001 - not a CSV with an issued column
        return None
    return None if head.empty or pd.isna(head["issued"].iloc[0]) else pd.Timestamp(head["issued"].iloc[0])


def _has_member_column(path: Path) -> bool:
    import pandas as pd
    try:
        head = pd.read_csv(path, nrows=0)
    except Exception:  # noqa: BLE001
        return False
    return "member" in head.columns


def _leads(text: str) -> tuple[int, ...]:
    try:
        v = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(
            "leads are hours separated by commas, e.g. 24,48,72", field="leads", value=text
        ) from None
    if not v or min(v) <= 0:
        raise InputError("leads must be positive hours", field="leads", value=text)
    return v


def _params(calibration: Optional[str]) -> Optional[dict]:
    if not calibration:
        return None
    from rescity.forecast.calibrate import load_calibration

    return dict(load_calibration(calibration).params)


def _per_member(total: int, members: int) -> int:
    return max(1, math.ceil(total / members))


def _track_record() -> dict | None:
    """The model's verified skill on past storms, for the report (``None`` when not known)."""
    from rescity.history.suite import track_record

    return track_record()


def _write_meta(out: Path, meta: dict) -> None:
    p = out / "forecast_meta.json"
    old = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    old.update(meta)
    p.write_text(json.dumps(old, ensure_ascii=False, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# forecast run / hindcast


@forecast_app.command("run")
def run_cmd(
    track: Path = typer.Option(
        ...,
        "--track",
        help="Official forecast track (generic CSV, CMA or JMA text) or an ensemble CSV with 'member'.",
    ),
    issued: Optional[str] = typer.Option(
        None, "--issued", help="Issuance time, UTC (default: from the track file)."
    ),
    fmt: Optional[str] = typer.Option(
        None, "--format", help="Track format for rescity.hazard.track (generic, cma, jma …)."
    ),
    members: int = typer.Option(DEFAULT_MEMBERS, "--members", min=1, help="Ensemble members to generate."),
    leads: str = typer.Option("24,48,72", "--leads", help="Lead windows, hours."),
    errors: str = typer.Option("cma", "--errors", help="Track/intensity error table (cma, hko2019)."),
    twin_path: Optional[Path] = typer.Option(None, "--twin", help="Saved twin (default: the Zhejiang twin)."),
    calibration: Optional[str] = typer.Option(None, "--calibration", help="Named calibration to use."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new issuances.csv instead of appending."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    realisations: Optional[int] = typer.Option(
        None, "--realisations", "-n", min=1, help="Total samples (members × realisations per member)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o"),
) -> None:
    """Run one issuance: ensemble → pipeline per member → risk by unit, level and lead."""
    import pandas as pd

    from rescity.forecast import ensemble as ens
    from rescity.forecast.issuance import run_issuance
    from rescity.forecast.report import write_report

    seed, total, out = SETTINGS.pick(seed, realisations, out)
    out.mkdir(parents=True, exist_ok=True)
    tr = read_track_file(track, fmt)
    ts = (
        issued
        or tr.attrs.get("issued")
        or (tr["issued"].dropna().iloc[0] if "issued" in tr.columns else None)
    )
    if ts is None:
        raise InputError("no issuance time: pass --issued", file=track, field="issued")
    ts = ens._to_utc(ts)
    lead_t = _leads(leads)
    if "member" in tr.columns:
        e = tr
        e.attrs["issued"] = ts
        n_mem = int(tr["member"].nunique())
    else:
        e = ens.perturb_track(tr, ts, members, seed, errors, max_lead_h=float(max(lead_t)))
        n_mem = members
    per = _per_member(total, n_mem)
    prev_path = out / "issuances.csv"
    previous = None
    if prev_path.exists() and not fresh:
        from rescity.forecast.verify import read_issuances

        previous = read_issuances(prev_path)
        previous = previous[pd.to_datetime(previous["issued"], utc=True) != ts]
    tw = load_twin(twin_path)
    with SETTINGS.executor(workers) as ex:
        table = run_issuance(
            tw,
            e,
            ts,
            leads=lead_t,
            realisations=per,
            seed=seed,
            params=_params(calibration),
            previous=previous,
            workers=ex,
            progress=True,
        )
    allt = table if previous is None or previous.empty else pd.concat([previous, table], ignore_index=True)
    allt = allt.sort_values(["issued", "lead_h", "indicator"], kind="stable")
    allt.to_csv(prev_path, index=False)
    stamp = f"{ts:%Y-%m-%dT%H:%MZ}"
    tracks = e.copy()
    if "member" not in tr.columns:  # the official forecast, drawn as member -1
        off = tr.copy()
        off.insert(0, "member", -1)
        tracks = pd.concat([off, tracks], ignore_index=True)
    tracks.insert(0, "issued", stamp)
    tracks.to_csv(out / f"ensemble_{ts:%Y%m%dT%H%MZ}.csv", index=False)
    _write_meta(
        out,
        {
            "sn": tr.attrs.get("sn", ""),
            "members": n_mem,
            "realisations_per_member": per,
            "errors": errors,
            "seed": seed,
            "calibration": calibration,
        },
    )
    # tracks of every issuance in the folder, for the maps
    tr_all = pd.concat([pd.read_csv(f) for f in sorted(out.glob("ensemble_*.csv"))], ignore_index=True)
    tr_all = tr_all[tr_all["issued"].isin(set(allt["issued"]))]
    write_report(out, allt, twin=tw, tracks=tr_all, title="rescity risk forecast", track_record=_track_record())
    _summary(table, stamp)
    console.print(f"wrote {prev_path} and {out / 'report.html'}")


@forecast_app.command("hindcast")
def hindcast_cmd(
    sn: str = typer.Option(
        ..., "--sn", help="Storm: CMA number (1909), JTWC number (201910) or name (Lekima) in the packaged best tracks."
    ),
    landfall: Optional[str] = typer.Option(
        None, "--landfall", help="Landfall time, UTC (default: detected from the twin's land)."
    ),
    start_h: float = typer.Option(72.0, "--start-h", help="First issuance this many hours before landfall."),
    end_h: float = typer.Option(0.0, "--end-h", help="Last issuance this many hours after landfall."),
    step_h: float = typer.Option(6.0, "--step-h", help="Hours between issuances."),
    members: int = typer.Option(DEFAULT_MEMBERS, "--members", min=1),
    leads: str = typer.Option("24,48,72", "--leads"),
    errors: str = typer.Option("cma", "--errors"),
    official_seed: Optional[int] = typer.Option(
        None,
        "--official-seed",
        help="Seed of the official forecasts' error, shared by all issuances (default: fixed; "
        "--seed only draws the ensemble and damage samples).",
    ),
    twin_path: Optional[Path] = typer.Option(None, "--twin"),
    calibration: Optional[str] = typer.Option(None, "--calibration"),
    workers: int = typer.Option(1, "--workers", min=1),
    seed: Optional[int] = typer.Option(None, "--seed"),
    realisations: Optional[int] = typer.Option(
        None, "--realisations", "-n", min=1, help="Total samples per issuance."
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o"),
) -> None:
    """Replay a historical storm with forecasts as an operational centre would have issued them."""
    from rescity.forecast.issuance import hindcast
    from rescity.forecast.report import write_report

    try:
        from rescity.hazard.track import packaged_track
    except ImportError:
        raise InputError(
            "hindcasts need the packaged best tracks of rescity.hazard.track", field="sn"
        ) from None
    seed, total, out = SETTINGS.pick(seed, realisations, out)
    out.mkdir(parents=True, exist_ok=True)
    best = packaged_track(sn)  # CMA number, JTWC number or name (rescity.hazard.cma.resolve_storm)
    tw = load_twin(twin_path)
    with SETTINGS.executor(workers) as ex:
        hc = hindcast(
            tw,
            best,
            landfall=landfall,
            start_h=start_h,
            end_h=end_h,
            step_h=step_h,
            members=members,
            leads=_leads(leads),
            realisations=_per_member(total, members),
            seed=seed,
            errors=errors,
            official_seed=official_seed,
            params=_params(calibration),
            workers=ex,
            progress=True,
        )
    hc.issuances.to_csv(out / "issuances.csv", index=False)
    hc.tracks.to_csv(out / "tracks.csv", index=False)
    _write_meta(out, dict(hc.meta, calibration=calibration))
    name = best.attrs.get("name", "") or sn
    write_report(
        out, hc.issuances, twin=tw, tracks=hc.tracks, title=f"rescity hindcast — {name} ({sn})",
        track_record=_track_record(),
    )  # fmt: skip
    last = hc.issuances["issued"].max()
    _summary(hc.issuances[hc.issuances["issued"] == last], last)
    console.print(
        f"landfall {hc.meta['landfall']} (where the best track crosses the twin's coastline; an agency's "
        "stated time can differ by up to an hour — Lekima: CMA 17:45 UTC)"
    )
    console.print(f"wrote {out / 'issuances.csv'} and {out / 'report.html'}")


def _summary(table: pd.DataFrame, issued: str) -> None:
    """The top level's indicators: names, readable values, warning or "no threshold"."""
    import pandas as pd

    from rescity.cli._tables import print_fitted
    from rescity.forecast.report import fmt_value, indicator_label, warning_word

    prov = table[(table["level"] == table["level"].iloc[0]) & (table["lead_h"] == table["lead_h"].min())]
    first = prov.iloc[0]
    name = f"{first.get('name_zh', '')} {first.get('name_en', '')}".strip() or str(first["unit_id"])
    rows = list(prov.itertuples())
    cols = [
        ("indicator", [indicator_label(r.indicator) for r in rows], "left"),
        ("mean", [fmt_value(r.indicator, r.mean) for r in rows], "right"),
        ("90 % interval", [f"{fmt_value(r.indicator, r.p05)} – {fmt_value(r.indicator, r.p95)}" for r in rows],
         "right"),
        ("warning", [warning_word(r.indicator, r.warning) for r in rows], "left"),
        ("change", ["" if pd.isna(r.change) else f"{r.change:+,.0f}" for r in rows], "right"),
    ]
    title = f"{name}: issuance {issued}, next {int(prov['lead_h'].min())} h"
    print_fitted(console, title, cols, "issuances.csv")
    console.print(
        "warning: the composite is the worst indicator's colour; \"no threshold\" indicators are "
        "for information (docs/forecast.md)."
    )


# ---------------------------------------------------------------------------------------------
# verify


verify_app = typer.Typer(
    help="Score forecasts against observed impacts (--pred/--obs), or every past storm (suite).",
    invoke_without_command=True,
)


@verify_app.callback()
def verify_cmd(
    ctx: typer.Context,
    pred: Optional[Path] = typer.Option(None, "--pred", help="issuances.csv from rescity forecast."),
    obs: Optional[Path] = typer.Option(None, "--obs", help="Observations CSV: region, metric, value."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    issued: Optional[str] = typer.Option(
        None, "--issued", help="Issuance to score (default: last before landfall)."
    ),
    lead: Optional[int] = typer.Option(None, "--lead", help="Lead window, hours (default: the longest)."),
    landfall: Optional[str] = typer.Option(None, "--landfall", help="Landfall time, UTC."),
    scope: str = typer.Option("largest", "--scope", help="largest (default) or all regions observed."),
) -> None:
    """Score forecasts against observed impacts: accuracy, warning hits/false alarms, skill per issuance."""
    if ctx.invoked_subcommand is not None:
        return
    if pred is None or obs is None:
        raise InputError(
            "give --pred ISSUANCES.csv and --obs OBSERVATIONS.csv, or run 'rescity verify suite'",
            field="--pred" if pred is None else "--obs",
        )
    from rescity.forecast.verify import read_issuances, read_observations, verify

    p = read_issuances(pred)
    o = read_observations(obs)
    r = verify(p, o, issued=issued, lead_h=lead, landfall=landfall, scope=scope, pred_path=pred, obs_path=obs)
    if as_json:
        typer.echo(json.dumps(r, ensure_ascii=False, indent=1))
        return
    from rich.table import Table

    console.print(r["rule"])
    t = Table(title="accuracy = 1 − |pred − obs| / obs")
    for c in ("region", "metric", "observed", "forecast (90 %)", "accuracy", "in 90 %", "warning fc/obs"):
        t.add_column(c)
    for a in r["accuracy"]:
        acc = "" if a["accuracy"] is None else f"{a['accuracy']:.3f}"
        w = "" if a["warning_pred"] is None else f"{a['warning_pred']}/{a['warning_obs']}"
        t.add_row(
            a["region"],
            a["metric"],
            f"{a['observed']:,.0f}",
            f"{a['predicted']:,.0f} ({a['p05']:,.0f}–{a['p95']:,.0f})",
            acc,
            "yes" if a["in_interval"] else "no",
            w,
        )
    console.print(t)
    w = Table(title=f"warning levels ({r['warnings']['pairs']} region–metric pairs with thresholds)")
    for c in ("level", "hits", "misses", "false alarms", "hit rate", "false-alarm ratio"):
        w.add_column(c)
    for x in r["warnings"]["by_level"]:
        w.add_row(
            f"≥ {x['colour']}",
            str(x["hits"]),
            str(x["misses"]),
            str(x["false_alarms"]),
            "" if x["hit_rate"] is None else f"{x['hit_rate']:.2f}",
            "" if x["false_alarm_ratio"] is None else f"{x['false_alarm_ratio']:.2f}",
        )
    console.print(w)
    s = Table(title="skill of each issuance")
    for c in (
        "issued",
        "lead h",
        "pairs",
        "mean accuracy",
        "median |log10 ratio|",
        "in 90 %",
        "warning agreement",
    ):
        s.add_column(c)
    for x in r["issuances"]:
        s.add_row(
            x["issued"],
            str(x["lead_h"]),
            str(x["pairs"]),
            _fmt(x["mean_accuracy"]),
            _fmt(x["median_abs_log10_ratio"]),
            _fmt(x["interval_coverage"]),
            _fmt(x["warning_agreement"]),
        )
    console.print(s)
    if r["unmatched"]:
        console.print(f"no forecast for: {r['unmatched']}")


def _fmt(x) -> str:
    return "" if x is None else f"{x:.3f}"


# ---------------------------------------------------------------------------------------------
# calibrate


def _storm_of(path: Path, obs: pd.DataFrame) -> str:
    if "sn" in obs.columns and obs["sn"].notna().any():
        return str(obs["sn"].dropna().astype(str).iloc[0])
    m = re.match(r"(\d{6})", path.name)
    if not m:
        raise InputError(
            "cannot tell the storm: add an 'sn' column or start the file name with YYYYNN",
            file=path,
            field="sn",
        )
    return m.group(1)


def pipeline_storm_simulator(twin, realisations: int, seed: int):
    """``simulate(params, storm)`` for :func:`rescity.forecast.calibrate.fit`: the pipeline on the
    packaged best track of ``storm``, summed to the observed regions (fixed seed: common random numbers)."""
    from rescity.engine.aggregate import rollup
    from rescity.forecast.issuance import member_indicators
    from rescity.forecast.verify import METRICS, match_regions

    try:
        from rescity.hazard.track import packaged_track
    except ImportError:
        raise InputError(
            "calibration needs the packaged best tracks of rescity.hazard.track", field="sn"
        ) from None
    tracks: dict[str, pd.DataFrame] = {}
    units = twin.units[["unit_id", "level", "name_zh", "name_en"]]

    def simulate(params: dict, storm: str) -> dict:
        if storm not in tracks:
            tracks[storm] = packaged_track(storm)
        out = member_indicators(twin, tracks[storm], realisations, seed, params)
        return {k: rollup(twin, v).mean(axis=0) for k, v in out.items()}

    def for_obs(observations: dict[str, pd.DataFrame]):
        reg = {s: match_regions(o["region"].unique(), units) for s, o in observations.items()}
        pos = twin.unit_index()

        def sim(params: dict, storm: str) -> dict:
            means = simulate(params, storm)
            o = observations[storm]
            rmap = dict(zip(reg[storm]["region"], reg[storm]["unit_id"], strict=True))
            return {
                (r, m): float(means[METRICS.get(m, m)][pos[rmap[r]]])
                for r, m in zip(o["region"], o["metric"], strict=True)
            }

        return sim

    return for_obs


def calibrate_cmd(
    obs: Optional[list[Path]] = typer.Option(
        None,
        "--obs",
        help="Observation files of past storms (one storm each; 'sn' column or YYYYNN file name).",
    ),
    storms: Optional[str] = typer.Option(
        None,
        "--storms",
        help="Fit the observation operators on the packaged storm history: 'all' or sns/names.",
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Name to save the calibration under."),
    out_file: Optional[Path] = typer.Option(
        None, "--out-file", help="With --storms: where to write the calibration JSON."
    ),
    ship: bool = typer.Option(
        False, "--ship", help="With --storms: also write it as the package's default calibration."
    ),
    param: Optional[list[str]] = typer.Option(
        None,
        "--param",
        help="Parameter to fit (repeat); default fragility_scale_wind and drainage_rp_yr.",
    ),
    twin_path: Optional[Path] = typer.Option(None, "--twin"),
    loo: bool = typer.Option(True, "--loo/--no-loo", help="Leave-one-out report."),
    as_json: bool = typer.Option(False, "--json"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    realisations: Optional[int] = typer.Option(
        None, "--realisations", "-n", min=1, help="Realisations per simulation (default 50)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="With --storms: worker processes (one storm each)."),
) -> None:
    """Fit documented parameters to observed impacts of past storms and save them as a named calibration."""
    seed, _, _ = SETTINGS.pick(seed, None, None)
    if storms is not None:
        from rescity.cli.history import calibrate_storms

        calibrate_storms(
            storms, name or "zhejiang-typhoons", out_file, ship, seed, realisations, twin_path, as_json, workers
        )
        return
    if not obs or not name:
        raise InputError("give --storms all, or --obs FILE … with --name NAME", field="--storms")
    from rescity.forecast.calibrate import DEFAULT_FIT, fit, save_calibration
    from rescity.forecast.verify import read_observations

    n = realisations or 50
    observations = {}
    for p in obs:
        o = read_observations(p)
        observations[_storm_of(p, o)] = o
    tw = load_twin(twin_path)
    sim = pipeline_storm_simulator(tw, n, seed)(observations)
    cal = fit(observations, sim, tuple(param) if param else DEFAULT_FIT, name=name, leave_one_out=loo)
    path = save_calibration(cal)
    if as_json:
        typer.echo(json.dumps(cal.to_dict(), ensure_ascii=False, indent=1))
        return
    console.print(f"saved {path}")
    console.print({"params": cal.params, "loss": cal.loss})
    for f in cal.fit:
        console.print(f"  fit  {f['storm']}: loss {f['loss']:.4f}, mean accuracy {_fmt(f['mean_accuracy'])}")
    for f in cal.leave_one_out:
        console.print(
            f"  left out {f['storm']}: loss {f['loss']:.4f}, mean accuracy {_fmt(f['mean_accuracy'])}"
        )


def register(app: typer.Typer) -> None:
    """Add ``forecast``, ``verify`` and ``calibrate`` to the ``rescity`` command."""
    app.add_typer(forecast_app, name="forecast")
    from rescity.cli.history import verify_suite_cmd

    verify_app.command("suite")(verify_suite_cmd)
    app.add_typer(verify_app, name="verify")
    app.command("calibrate")(calibrate_cmd)
