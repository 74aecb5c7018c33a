"""``rescity history list|show``, and the storm-history halves of ``rescity calibrate --storms``
and ``rescity verify suite``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from rescity.cli._common import SETTINGS, console

if TYPE_CHECKING:
    pass

history_app = typer.Typer(
    help="Past typhoons and what they did in Zhejiang (official figures).", no_args_is_help=True
)


@history_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The storms of the history with their province figures."""
    from rescity.history import records

    st = records.storms()
    obs = records.observations()
    prov = obs[obs["region"] == records.PROVINCE].pivot_table(index="sn", columns="metric", values="value")
    if as_json:
        out = []
        for r in st.itertuples(index=False):
            d = {"sn": r.sn, "name_en": r.name_en, "name_zh": r.name_zh, "landfall": str(r.landfall)}
            if r.sn in prov.index:
                d.update({k: float(v) for k, v in prov.loc[r.sn].dropna().items()})
            out.append(d)
        typer.echo(json.dumps(out, ensure_ascii=False, indent=1))
        return
    from rich.table import Table

    t = Table(title="Zhejiang typhoons 2004–2019: official province figures")
    cols = ["affected_population", "relocated_or_evacuated", "economic_loss_cny", "collapsed_houses"]
    for c in (
        "sn",
        "storm",
        "landfall (UTC)",
        "affected",
        "relocated/evacuated",
        "loss (bn CNY)",
        "collapsed (间)",
    ):
        t.add_column(c)
    for r in st.itertuples(index=False):
        v = prov.loc[r.sn] if r.sn in prov.index else None

        def cell(c, scale=1.0, v=v):
            import numpy as np
            x = np.nan if v is None or c not in v.index else v[c]
            return "" if not np.isfinite(x) else f"{x / scale:,.0f}" if scale == 1 else f"{x / scale:,.2f}"

        t.add_row(
            r.sn,
            f"{r.name_en} {r.name_zh}",
            str(r.landfall)[:16],
            cell(cols[0]),
            cell(cols[1]),
            cell(cols[2], 1e9),
            cell(cols[3]),
        )
    console.print(t)


@history_app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="Storm: sn (201910), English or Chinese name (Lekima, 利奇马)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    sources: bool = typer.Option(False, "--sources", help="Every sourced row of the history file."),
) -> None:
    """One storm: its observations by region and metric, with sources."""
    from rescity.history import records

    sn = records.find_storm(name)
    obs = records.observations()
    o = obs[obs["sn"] == sn]
    if as_json:
        typer.echo(json.dumps(o.to_dict(orient="records"), ensure_ascii=False, indent=1, default=str))
        return
    from rich.table import Table

    t = Table(title=f"{o['storm'].iloc[0] if len(o) else name} ({sn})")
    for c in ("region", "level", "metric", "value", "lower bound", "source"):
        t.add_column(c)
    for r in o.itertuples(index=False):
        t.add_row(
            r.region, r.level, r.metric, f"{r.value:,.0f}", "≥" if r.lower_bound else "", str(r.source)[:70]
        )
    console.print(t)
    if sources:
        h = records.history_rows()
        for r in h[h["sn"] == sn].itertuples(index=False):
            console.print(f"{r.region} | {r.metric} | {r.value} {r.unit} | {r.source_url}")


def _params_table(calib: dict):
    from rich.table import Table

    from rescity.history import operators as op

    t = Table(title="fitted parameters (all storms named)")
    for c in ("metric", "parameter", "value", "unit", "meaning", "σ_model (log)"):
        t.add_column(c)
    for m, d in calib["operators"].items():
        docs = {p.name: p for p in op.OPERATOR_PARAMS.get(m, ())}
        for k, v in d["params"].items():
            t.add_row(m, k, f"{v:.4g}", docs[k].unit, docs[k].doc, f"{d['sigma_model']:.3f}")
    return t


_SHORT = {
    "affected_population": "affected",
    "relocated_or_evacuated": "moved",
    "economic_loss_cny": "loss",
    "collapsed_houses": "collapsed",
    "power_outage_households": "no power",
}


def summary_table(summary, title: str):
    """A rich table of a suite summary (short headers so that it fits 80 columns)."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    heads = (
        "scen.",
        "metric",
        "n",
        "median acc.",
        "worst acc.",
        "worst storm",
        "in 90 %",
        "skill clim.",
        "skill expo.",
    )
    for c in heads:
        t.add_column(c, overflow="fold")

    def f(x):
        import numpy as np
        return "" if x is None or not np.isfinite(x) else f"{x:.2f}"

    for r in summary.itertuples(index=False):
        t.add_row(
            r.scenario.replace("best_track", "best"),
            _SHORT.get(r.metric, r.metric),
            str(r.storms),
            f(r.median_accuracy),
            f(r.worst_accuracy),
            str(r.worst_storm).split(" ")[0],
            f(r.coverage_90),
            f(r.skill_vs_climatology),
            f(r.skill_vs_exposure_only),
        )
    return t


def calibrate_storms(
    storms: str,
    name: str,
    out: Optional[Path],
    ship: bool,
    seed: int,
    realisations: Optional[int],
    twin_path: Optional[Path],
    as_json: bool,
    workers: int = 1,
) -> None:
    """``rescity calibrate --storms``: fit the observation operators on the history's storms,
    score them leave-one-storm-out, save the calibration (and with ``--ship`` as the package default)."""
    import numpy as np

    from rescity.cli.forecast import load_twin
    from rescity.history import calibration as cal
    from rescity.history import records, suite
    from rescity.history import state as st

    sns = records.select_storms(storms)
    tw = load_twin(twin_path)
    with SETTINGS.executor(workers) as ex:
        best, _, source = suite.load_storms(
            tw, sns, leads=(), members=0, realisations=realisations or st.DEFAULT_REALISATIONS, workers=ex
        )
    rows = suite.loso(best)
    summ = suite.summarise(rows)
    scores = {
        "meta": {"storms": sns, "scenario": "best_track", "twin_fingerprint": st.twin_fingerprint(tw)},
        "summary": summ.replace({np.nan: None}).to_dict(orient="records"),
        "plain_words": suite.plain_words(summ, {"storms": sns}),
    }
    calib = cal.build(
        best, sns, twin_fingerprint=st.twin_fingerprint(tw), track_source=source, scores=scores, name=name
    )
    from rescity.forecast.calibrate import calibrations_dir

    path = Path(out) if out else calibrations_dir() / "operators" / f"{name}.json"
    cal.save(calib, path)
    if ship:
        cal.save(calib, cal.packaged_path())
    if as_json:
        typer.echo(json.dumps(calib, ensure_ascii=False, indent=1))
        return
    console.print(f"saved {path}" + (f" and {cal.packaged_path()}" if ship else ""))
    console.print(_params_table(calib))
    console.print(summary_table(summ, "leave-one-storm-out, province, best track"))


def verify_suite_cmd(
    storms: str = typer.Option("all", "--storms", help="all, or sns/names separated by commas."),
    leads: str = typer.Option(
        "48,24,12", "--leads", help="Hindcast issuances, hours before landfall ('' for none)."
    ),
    members: int = typer.Option(8, "--members", help="Ensemble members per hindcast issuance."),
    draws: int = typer.Option(400, "--draws", help="Predictive draws per storm and metric."),
    realisations: Optional[int] = typer.Option(
        None, "--realisations", "-n", help="Engine realisations per storm (default 20)."
    ),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default <out>/verify-suite)."
    ),
    twin_path: Optional[Path] = typer.Option(None, "--twin"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ship: bool = typer.Option(
        False, "--ship", help="Also write the result as the package's verified skill, shown in every report."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (one storm each); results do not depend on it."
    ),
) -> None:
    """Every storm of the history: best track and hindcasts, scored leave-one-storm-out against
    climatology and exposure-only baselines; writes suite.json, suite_rows.csv and suite.html."""
    from rescity.cli.forecast import _leads, load_twin
    from rescity.history import state as st
    from rescity.history import suite

    seed_, _, out_ = SETTINGS.pick(seed, None, None)
    lead_t = _leads(leads) if leads.strip() else ()
    tw = load_twin(twin_path)
    with console.status("running the storms …") as status, SETTINGS.executor(workers) as ex:
        res = suite.run_suite(
            tw,
            storms,
            leads=lead_t,
            members=members,
            draws=draws,
            realisations=realisations or st.DEFAULT_REALISATIONS,
            seed=seed_,
            progress=lambda i, n, sn: status.update(f"storm {i}/{n} ({sn}) …"),
            workers=ex,
        )
    paths = suite.write(res, out or out_ / "verify-suite", ship=ship)
    if as_json:
        typer.echo(json.dumps(suite.to_json(res)["summary"], ensure_ascii=False, indent=1))
        return
    console.print(summary_table(res["summary"], "leave-one-storm-out verification, province"))
    console.print(suite.plain_words(res["summary"], res["meta"]))
    console.print(f"{res['meta']['seconds_total']} s; wrote {paths['json']}, {paths['html']}")


def register(app: typer.Typer) -> None:
    """Add ``history`` to the ``rescity`` command."""
    app.add_typer(history_app, name="history")
