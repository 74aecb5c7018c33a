"""``rescity assess`` (resilience evaluation) and ``rescity policy did`` (pilot-policy DiD)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from rescity.cli._common import SETTINGS, console, err_console
from rescity.errors import InputError

policy_app = typer.Typer(
    help="Policy evaluation: staggered difference-in-differences of the smart-city pilots.",
    no_args_is_help=True,
)


def _check_extra(*modules: str) -> None:
    """Exit with one line (exit code 2) when an optional dependency of the ``assess`` extra is missing.

    Printed here rather than by the generic handler so that ``rescity[assess]`` is not taken
    for console markup.
    """
    import importlib
    import os

    from rich.markup import escape

    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError:
            if os.environ.get("RESCITY_DEBUG") == "1":
                raise
            err_console.print(
                f"[bold red]error:[/] {escape(m)} is not installed; install the policy-evaluation extra: "
                + escape("pip install 'rescity[assess]'"),
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None


def _read_table(path: Path):
    import pandas as pd

    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _load_twin(twin: Optional[Path], no_twin: bool, seed: int, notes: list[str]):
    """The twin to use, or None; explains the choice in ``notes``."""
    if no_twin:
        notes.append("Twin not used (--no-twin): infrastructure indicators only from --results and --data.")
        return None
    if twin is not None:
        try:
            from rescity.twin.io import load
        except ImportError:
            raise InputError(
                "reading a twin file needs rescity.twin.io, which this installation lacks", file=twin
            ) from None
        t = load(twin)
        notes.append(f"Twin loaded from {twin.name}: {t.n_assets} assets, {t.n_units} units.")
        return t
    try:
        from rescity.twin.zhejiang import build_zhejiang
    except ImportError:
        notes.append(
            "The Zhejiang twin builder is not available in this installation: only census-based "
            "(society) indicators and those from --results/--data are used; twin-derived "
            "infrastructure indicators are missing."
        )
        return None
    t = build_zhejiang(seed)
    notes.append(f"Default Zhejiang twin built with seed {seed}: {t.n_assets} assets, {t.n_units} units.")
    return t


def assess_cmd(
    twin: Optional[Path] = typer.Option(None, "--twin", help="Twin file (default: the Zhejiang twin)."),
    results: Optional[Path] = typer.Option(
        None,
        "--results",
        help="Per-unit simulation results (unit_id, resilience_loss_h and/or affected_mean).",
    ),
    indicators: Optional[Path] = typer.Option(
        None, "--indicators", help="Indicator system CSV (default: packaged)."
    ),
    data: Optional[Path] = typer.Option(
        None, "--data", help="User indicator values CSV: unit, year, indicator, value[, measure]."
    ),
    weights: str = typer.Option("entropy", "--weights", help="entropy | critic | ahp | combined."),
    ahp: Optional[Path] = typer.Option(
        None, "--ahp", help="AHP judgement matrix CSV (default: packaged, over dimensions)."
    ),
    objective: str = typer.Option(
        "entropy", "--objective", help="Objective part of combined weights: entropy | critic."
    ),
    alpha: float = typer.Option(0.5, "--alpha", help="Share of the AHP weights in combined weights."),
    maturity: Optional[Path] = typer.Option(
        None, "--maturity", help="Maturity criteria CSV (default: packaged)."
    ),
    year: int = typer.Option(2020, "--year", help="Evaluation year when no value is dated."),
    no_twin: bool = typer.Option(False, "--no-twin", help="Do not build or load a twin."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the twin builder."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder."),
) -> None:
    """Evaluate resilience: indicators → weights → TOPSIS ranking, obstacle degree, maturity level.

    Writes assess.html (charts embedded, PNGs beside it), ranking.csv, obstacles.csv,
    weights.csv and maturity.csv into --out.
    """
    import pandas as pd
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from rescity.assess.assessment import assess
    from rescity.assess.indicators import load_system, read_indicator_data, resolve_units
    from rescity.assess.infrastructure import simulation_indicators, twin_indicators
    from rescity.assess.scoring import WEIGHT_METHODS, read_pairwise
    from rescity.assess.society import census_indicators, county_units, unit_table_indicators

    seed, _, out = SETTINGS.pick(seed, None, out)
    if weights not in WEIGHT_METHODS:
        raise InputError(f"must be one of {', '.join(WEIGHT_METHODS)}", field="--weights", value=weights)
    if objective not in ("entropy", "critic"):
        raise InputError("must be entropy or critic", field="--objective", value=objective)
    system = load_system(indicators)
    notes: list[str] = [f"Indicator system: {system.name} ({len(system.table)} indicators)."]
    parts = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("twin", total=None)
        tw = _load_twin(twin, no_twin, seed, notes)
        progress.update(task, description="indicators")
        own_units = tw is not None and twin is not None and (tw.units["level"] == "county").any()
        if own_units:
            u = tw.units[tw.units["level"] == "county"]
            units = pd.DataFrame(
                {
                    "unit_id": u["unit_id"].astype(str),
                    "name_zh": u["name_zh"],
                    "name_en": u["name_en"],
                    "population": u["population"].astype(float),
                }
            )
            parts.append(unit_table_indicators(tw.units))
            notes.append("Society indicators from the twin's county table.")
        else:
            units = county_units()
            parts.append(census_indicators())
            notes.append("Society indicators from the 2020 census of Zhejiang's 91 counties (packaged).")
        res = _read_table(results) if results is not None else None
        if tw is not None:
            parts.append(twin_indicators(tw, res))
            notes.append(
                "Infrastructure indicators computed from the twin"
                + (
                    f" and the simulation results in {results.name}."
                    if res is not None
                    else "; no --results, so the typhoon resilience-loss indicators are missing."
                )
            )
        elif res is not None:
            pop = units.set_index("unit_id")["population"]
            parts.append(simulation_indicators(res, pop, file=str(results)))
            notes.append(f"Simulation indicators from {results.name}.")
        if data is not None:
            user = resolve_units(read_indicator_data(data, system), units, file=data)
            parts.append(user)
            years = ", ".join(map(str, sorted(user["year"].astype(int).unique())))
            notes.append(
                f"User indicators from {data.name}: {user['indicator'].nunique()} indicators, "
                f"{user['unit_id'].nunique()} units, years {years}."
            )
        values = pd.concat(parts, ignore_index=True)
        progress.update(task, description="weights, TOPSIS, report")
        judgements = read_pairwise(ahp) if ahp is not None else None
        result = assess(
            system,
            units,
            values,
            out,
            method=weights,
            ahp=judgements,
            ahp_file=str(ahp) if ahp else None,
            objective=objective,
            alpha=alpha,
            criteria=maturity,
            sources=notes,
            static_year=year,
        )
    ev = result.evaluation
    yr = int(ev.ranking["year"].max())
    top = ev.ranking[ev.ranking["year"] == yr].head(10)
    names = units.set_index("unit_id")
    console.print(f"[bold]{len(ev.weights)} indicators[/], weights: {weights}; top units in {yr}:")
    for r in top.itertuples(index=False):
        console.print(
            f"  {r.rank:>3}  {r.unit_id}  {names.at[r.unit_id, 'name_zh']} "
            f"{names.at[r.unit_id, 'name_en']}  closeness {r.closeness:.4f}"
        )
    for n in notes:
        if "not available" in n or "missing" in n:
            console.print(f"[yellow]note:[/] {n}")
    console.print(
        f"wrote {result.files['html']}, {result.files['ranking'].name}, {result.files['obstacles'].name}"
    )


@policy_app.command("did")
def did_cmd(
    panel: Path = typer.Option(..., "--panel", help="City–year panel CSV."),
    outcome: str = typer.Option(..., "--outcome", help="Outcome column."),
    unit: str = typer.Option(..., "--unit", help="Unit (city) column."),
    time: str = typer.Option(..., "--time", help="Period (year) column."),
    cohort: Optional[str] = typer.Option(
        None,
        "--cohort",
        help="First-treatment period column (0/empty = never). Without it, cohorts come from --pilots.",
    ),
    estimator: str = typer.Option(
        "cs", "--estimator", help="cs (Callaway–Sant'Anna) | sa (Sun–Abraham) | twfe."
    ),
    control: str = typer.Option("never", "--control", help="never | notyet."),
    covariates: Optional[str] = typer.Option(None, "--covariates", help="Comma-separated covariate columns."),
    pilots: Optional[Path] = typer.Option(
        None, "--pilots", help="Pilot list CSV (default: the packaged, partial list)."
    ),
    coding: str = typer.Option(
        "list", "--coding", help="Cohort from the list year (list) or announcement year."
    ),
    match: str = typer.Option(
        "prefecture", "--match", help="Panel units are prefecture-level cities or counties."
    ),
    partial: str = typer.Option(
        "exclude", "--partial", help="Units with only district/county/town pilots: exclude | treat | control."
    ),
    parent: Optional[str] = typer.Option(
        None, "--parent", help="Prefecture column of a county panel (--match county)."
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="1 − confidence level."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the event-study plot."),
) -> None:
    """Staggered DiD: ATT with simple, group, dynamic and calendar aggregations, event-study plot."""
    from rescity.assess.did import did, plot_event_study
    from rescity.assess.pilots import add_cohorts, load_pilots, packaged_pilots_path

    _, _, out = SETTINGS.pick(None, None, out)
    _check_extra("moderndid" if estimator == "cs" else "pyfixest")
    df = _read_table(panel)
    covs = [c.strip() for c in covariates.split(",") if c.strip()] if covariates else []
    if cohort is not None:
        coding_note = f"column {cohort!r} as given"
    else:
        if unit not in df.columns:
            raise InputError("no unit column in the panel", file=panel, field="unit", value=unit)
        plist = load_pilots(pilots)
        src = pilots.name if pilots is not None else packaged_pilots_path().name
        if pilots is None:
            err_console.print(
                "[yellow]warning:[/] the packaged pilot list is partial "
                "(batches 2 and 3 are mostly missing); cities left off it are coded never-treated. "
                "Supply the full lists with --pilots FILE."
            )
        df, tab = add_cohorts(df, unit, plist, coding=coding, match=match, partial=partial, parent=parent)
        cohort = "cohort"
        coding_note = (
            f"from pilot list {src}, {coding}-year coding "
            f"({'2012/2013/2014' if coding == 'list' else '2013/2013/2015'} for batches 1/2/3), "
            f"{match}-level matching, partial pilots: {partial} "
            f"({int((tab['status'] != 'never').sum())} of {len(tab)} units on the list)"
        )
    res = did(
        df,
        outcome,
        unit,
        time,
        cohort,
        estimator=estimator,
        control=control,
        covariates=covs,
        cohort_coding=coding_note,
        alpha=alpha,
        file=str(panel),
    )
    plot = plot_event_study(res, Path(out) / f"event_study_{estimator}_{control}.png")
    if json_out:
        d = res.to_dict()
        d["plot"] = str(plot)
        sys.stdout.write(json.dumps(d, ensure_ascii=False, indent=2) + "\n")
    else:
        console.print(res.table(), highlight=False, soft_wrap=True)
        console.print(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    app.command("assess")(assess_cmd)
    app.add_typer(policy_app, name="policy")
