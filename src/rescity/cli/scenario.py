"""``rescity demo``, ``rescity run`` and ``rescity config schema``: scenario runs from the command line.

The options build a :class:`rescity.run.config.RunConfig` (or ``--config FILE`` reads one) and
:func:`rescity.run.scenario.run_scenario` runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from rescity.cli._common import SETTINGS, console, err_console
from rescity.errors import InputError
from rescity.hazard.registry import DEFAULT_TYPHOON_HAZARDS, TYPHOON_HAZARDS, summary_columns


def _short(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.2f}M"
    if a >= 1e4:
        return f"{x / 1e3:.0f}k"
    if a >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def _iv(row: pd.Series, q: str, pct: bool = False) -> str:
    m, lo, hi = row[f"{q}_mean"], row[f"{q}_p05"], row[f"{q}_p95"]
    if pct:
        return f"{100 * m:.1f} [{100 * lo:.1f}–{100 * hi:.1f}]"
    return f"{_short(m)} [{_short(lo)}–{_short(hi)}]"


def print_level(units: pd.DataFrame, level: str, title: str, out: Console) -> None:
    """One rich table per administrative level: hazard, damage and people without service."""
    t = Table(title=title, show_lines=False, header_style="bold", title_justify="left", pad_edge=False)
    t.add_column("unit", no_wrap=True)
    shown = units[units["level"] == level]
    hazard_cols = [
        (col, _label(col), "{:.3f}" if col.endswith("_g") else "{:.2f}" if col.endswith("_m") else "{:.1f}")
        for col in summary_columns()
        if col in shown and np.isfinite(shown[col].to_numpy(float)).any()
    ]
    for _, label, _ in hazard_cols:
        t.add_column(label, justify="right", no_wrap=True)
    systems = [s for s in ("power", "water", "telecom", "road") if f"damaged_{s}_mean" in units]
    for s in systems:
        t.add_column(f"{s} dmg %", justify="right", no_wrap=True)
    for lab in ("no power", "no water", "no telecom", "no road", "affected"):
        t.add_column(lab, justify="right", no_wrap=True)
    for _, r in shown.iterrows():
        cells = [f"{r['unit_id']} {r['name_zh']} {r['name_en']}"]
        cells += [fmt.format(r[col]) for col, _, fmt in hazard_cols]
        cells += [_iv(r, f"damaged_{s}", pct=True) for s in systems]
        cells += [_iv(r, q) for q in ("no_power", "no_water", "no_telecom", "no_road", "affected")]
        t.add_row(*cells)
    out.print(t)


def _label(col: str) -> str:
    """``wind_max_ms`` → ``wind m/s``: a table heading from a summary column."""
    from rescity.hazard.registry import measures

    measure = summary_columns()[col][0]
    m = measures()[measure]
    return f"{col.split('_')[0]} {m.unit}"


def print_recovery(metrics: pd.DataFrame, out: Console) -> None:
    """Province and prefecture resilience metrics, one row per unit and system."""
    t = Table(
        title="Recovery — mean [90 % interval] over the realisations",
        header_style="bold",
        title_justify="left",
        pad_edge=False,
    )
    for c in (
        "unit",
        "system",
        "resilience loss h",
        "robustness %",
        "t90 h",
        "t100 h",
        "customer-hours lost",
    ):
        t.add_column(c, justify="left" if c in ("unit", "system") else "right", no_wrap=True)
    m = metrics[metrics["level"].isin(("province", "prefecture"))]
    for _, r in m.iterrows():
        t.add_row(
            f"{r['unit_id']} {r['name_zh']} {r['name_en']}",
            str(r["system"]),
            f"{r['resilience_loss_h']:.1f} [{r['resilience_loss_h_p05']:.1f}–{r['resilience_loss_h_p95']:.1f}]",
            f"{100 * r['robustness']:.1f} [{100 * r['robustness_p05']:.1f}–{100 * r['robustness_p95']:.1f}]",
            f"{r['t90_h']:.0f} [{r['t90_h_p05']:.0f}–{r['t90_h_p95']:.0f}]",
            f"{r['t100_h']:.0f} [{r['t100_h_p05']:.0f}–{r['t100_h_p95']:.0f}]",
            f"{_short(r['customer_hours_lost'])} [{_short(r['customer_hours_lost_p05'])}–{_short(r['customer_hours_lost_p95'])}]",
        )
    out.print(t)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed:>6.0f}/{task.total:<6.0f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        # on stderr and erased when done, so no half-drawn bar is left on stdout after an error
        console=err_console,
        transient=True,
    )


def run_cli(
    config,
    print_tables: bool = True,
    optimise: bool = False,
    prefecture: Optional[str] = None,
):
    """Run a scenario (:class:`~rescity.run.config.RunConfig`) with progress bars, print the
    tables by level and write the outputs.

    ``optimise``: also optimise one prefecture's repair order (``rescity repair-plan``) and add
    the comparison to the report."""
    from rescity.run.outputs import write_outputs
    from rescity.run.scenario import run_scenario

    out = Path(config.outputs.dir)
    if config.sn is not None and config.track_file is None and config.quake is None:
        from rescity.hazard.cma import resolve_storm

        typer.echo(resolve_storm(config.sn, source=config.track_source).describe(), err=True)
    with _progress() as prog:
        tasks: dict[str, int] = {}

        def cb(stage: str, done: float, total: float) -> None:
            if stage not in tasks:
                tasks[stage] = prog.add_task(stage, total=max(total, 1))
            prog.update(tasks[stage], completed=done, total=max(total, 1))

        if optimise and config.recovery.enabled:
            from rescity.cli.repairs import repair_plan_run, repair_plan_section

            res = run_scenario(config, progress=cb, write=False)
            task = prog.add_task("repair plan", total=1)
            plan, cmp = repair_plan_run(res, prefecture, None, 120.0, 5)
            out.mkdir(parents=True, exist_ok=True)
            cmp.to_csv(out / "repair_compare.csv", index=False, float_format="%.6g")
            prog.update(task, completed=1)
            write_outputs(res, out, extra_sections=[repair_plan_section(plan, cmp, res.recovery.units)])
            res.files["repair_compare.csv"] = out / "repair_compare.csv"
        else:
            res = run_scenario(config, progress=cb)
    if print_tables:
        wide = Console(width=max(console.width, 300), soft_wrap=False)
        for level, title in (
            ("province", "Province"),
            ("prefecture", "Prefecture-level cities"),
            ("county", "Counties"),
        ):
            print_level(
                res.units,
                level,
                f"{title} — mean [90 % interval] over {config.realisations} realisations",
                wide,
            )
        if res.metrics is not None:
            print_recovery(res.metrics, wide)
    for name, p in res.files.items():
        console.print(f"wrote {name}: {p}")
    return res


# Recovery options shared by ``demo`` and ``run``.
NO_RECOVERY = typer.Option(False, "--no-recovery", help="Skip restoration and resilience metrics.")
SCENARIO = typer.Option(
    None, "--scenario", help="Recovery scenario file (YAML or TOML): crews, policy, horizon, repair times."
)
OPTIMISE_REPAIRS = typer.Option(
    False,
    "--optimise-repairs",
    help="Also optimise a prefecture's repair order (MILP) and compare it in the report.",
)
PREFECTURE = typer.Option(
    None, "--prefecture", help="Prefecture for --optimise-repairs (default: the largest loss)."
)


TWIN_SEED = typer.Option(
    None, "--twin-seed", help="Seed of the default twin's generated lifelines (default: the default seed)."
)
SYNTHETIC = typer.Option(
    False, "--synthetic", help="Default twin with a wholly generated power grid (no open-data backbone)."
)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        realisations: Optional[int] = typer.Option(
            None, "--realisations", "-n", min=1, help="Monte Carlo realisations (default 500)."
        ),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of every Monte Carlo stream."),
        out: Optional[Path] = typer.Option(
            None, "--out", "-o", help="Output folder (default ./rescity-out)."
        ),
        workers: int = typer.Option(
            1, "--workers", min=1, help="Worker processes; results do not depend on it."
        ),
        twin_seed: Optional[int] = TWIN_SEED,
        synthetic: bool = SYNTHETIC,
        no_recovery: bool = NO_RECOVERY,
        scenario: Optional[Path] = SCENARIO,
        optimise_repairs: bool = OPTIMISE_REPAIRS,
        prefecture: Optional[str] = PREFECTURE,
    ) -> None:
        """Zhejiang twin + typhoon Lekima (CMA 1909, JTWC 201910): hazard, damage, cascade, people without service, recovery."""
        from rescity.run.config import DEFAULT_SEED, RunConfig

        seed_, n, out_ = SETTINGS.pick(seed, realisations, out)
        cfg = RunConfig.from_options(
            sn="201910", realisations=n, seed=seed_, workers=workers, recovery=not no_recovery,
            scenario=scenario, out=out_, twin_seed=DEFAULT_SEED if twin_seed is None else twin_seed, synthetic=synthetic,
        )  # fmt: skip
        run_cli(cfg, optimise=optimise_repairs, prefecture=prefecture)

    @app.command()
    def run(
        sn: Optional[str] = typer.Option(
            None, "--sn", help="Storm: CMA number (1909), JTWC number (201910) or name (Lekima, "
            "'Haitang 2005') in the packaged best tracks; with --track, the id within the file."
        ),
        source: str = typer.Option("cma", "--source", help="Packaged best track for --sn: cma (default) or jtwc."),
        track: Optional[Path] = typer.Option(
            None, "--track", help="Track file (JTWC CSV, CMA text, IBTrACS CSV or generic CSV)."
        ),
        fmt: str = typer.Option("auto", "--format", help="Track format: auto, jtwc, cma, ibtracs, generic."),
        model: str = typer.Option("holland1980", "--model", help="Wind profile: holland1980 or holland2008."),
        hazards: str = typer.Option(
            ",".join(DEFAULT_TYPHOON_HAZARDS), "--hazards",
            help=f"Comma-separated typhoon hazards: {', '.join(TYPHOON_HAZARDS)}.",
        ),  # fmt: skip
        twin: Optional[Path] = typer.Option(
            None, "--twin", help="A saved twin (rescity twin build); default: Zhejiang."
        ),
        twin_seed: Optional[int] = TWIN_SEED,
        synthetic: bool = SYNTHETIC,
        horizon_h: float = typer.Option(
            12.0, "--horizon-h", min=0.0, help="Hours after the storm at which service is evaluated."
        ),
        realisations: Optional[int] = typer.Option(None, "--realisations", "-n", min=1),
        seed: Optional[int] = typer.Option(None, "--seed"),
        out: Optional[Path] = typer.Option(None, "--out", "-o"),
        workers: int = typer.Option(1, "--workers", min=1),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print the tables."),
        quake: Optional[str] = typer.Option(
            None, "--quake", help='Earthquake instead of a storm: "lat,lon,depth_km,Mw".'
        ),
        aftershock: list[str] = typer.Option(
            [], "--aftershock", help='An aftershock "lat,lon,depth_km,Mw" (repeat for several).'
        ),
        dem: Optional[Path] = typer.Option(
            None, "--dem", help="Elevation GeoTIFF (m) for flood and surge; default: a documented proxy."
        ),
        stations: Optional[Path] = typer.Option(
            None, "--stations", help="River stations CSV: lon, lat, water_level_m, warning_level_m."
        ),
        catalogue: Optional[Path] = typer.Option(
            None, "--catalogue", help="Earthquake from a catalogue CSV (with --event ID when it has several)."
        ),
        event: Optional[str] = typer.Option(None, "--event", help="event_id of the catalogue row."),
        vs30: Optional[str] = typer.Option(
            None, "--vs30", help="Vs30 (m/s) everywhere, or a CSV/GeoTIFF; default from urbanisation."
        ),
        config: Optional[Path] = typer.Option(
            None, "--config", help="A run configuration (YAML, TOML or JSON; see docs/run-config.md)."
        ),
        no_recovery: bool = NO_RECOVERY,
        scenario: Optional[Path] = SCENARIO,
        optimise_repairs: bool = OPTIMISE_REPAIRS,
        prefecture: Optional[str] = PREFECTURE,
    ) -> None:
        """Run a scenario for any storm (packaged CMA or JTWC best track, or a track file) or an earthquake."""
        from rescity.run.config import DEFAULT_SEED, RunConfig

        seed_, n, out_ = SETTINGS.pick(seed, realisations, out)
        if config is not None:
            cfg = RunConfig.from_file(config, realisations=realisations, seed=seed)
            if out is not None or cfg.outputs.dir is None:
                cfg = cfg.model_copy(update={"outputs": cfg.outputs.model_copy(update={"dir": out_})})
            run_cli(cfg, print_tables=not quiet, optimise=optimise_repairs, prefecture=prefecture)
            return
        quake_event = None
        if catalogue is not None:
            from rescity.hazard.earthquake import catalogue_event

            if quake is not None:
                raise InputError(
                    "give --quake or --catalogue, not both", field="--catalogue", value=str(catalogue)
                )
            ev = catalogue_event(catalogue, event)
            quake = f"{ev.lat},{ev.lon},{ev.depth_km},{ev.mw}"
            quake_event = {
                "strike": ev.strike, "dip": ev.dip, "rake": ev.rake, "mechanism": ev.mechanism, "name": ev.name,
            }  # fmt: skip
        elif event is not None:
            raise InputError("--event needs --catalogue", field="--event", value=event)
        cfg = RunConfig.from_options(
            sn=sn, source=source, track=track, fmt=fmt, model=model, hazards=hazards if quake is None else DEFAULT_TYPHOON_HAZARDS,
            quake=quake, aftershocks=tuple(aftershock), quake_event=quake_event, vs30=_vs30(vs30), dem=dem,
            stations=stations, twin=twin, realisations=n, seed=seed_,
            twin_seed=DEFAULT_SEED if twin_seed is None else twin_seed, synthetic=synthetic, workers=workers, horizon_h=horizon_h,
            recovery=not no_recovery, scenario=scenario, out=out_,
        )  # fmt: skip
        run_cli(cfg, print_tables=not quiet, optimise=optimise_repairs, prefecture=prefecture)

    config_app = typer.Typer(help="The run configuration (one schema for CLI, API and scenario files).")
    app.add_typer(config_app, name="config")

    @config_app.command("schema")
    def schema() -> None:
        """Print the JSON Schema of a run configuration."""
        import json

        from rescity.run.config import json_schema

        typer.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))

    @config_app.command("show")
    def show(path: Path = typer.Argument(..., help="A run configuration file (YAML, TOML or JSON).")) -> None:
        """Validate a run configuration file and print it in full (defaults filled in)."""
        import json

        from rescity.run.config import RunConfig

        typer.echo(json.dumps(RunConfig.from_file(path).as_dict(), indent=2, ensure_ascii=False))

    def _vs30(text: Optional[str]):
        if text is None:
            return None
        try:
            return float(text)
        except ValueError:
            return text
