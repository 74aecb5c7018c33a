"""``rescity demo``, ``rescity run`` and ``rescity config schema``: scenario runs from the command line.

The options build a :class:`rescity.run.config.RunConfig` (or ``--config FILE`` reads one) and
:func:`rescity.run.scenario.run_scenario` runs it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rescity.cli._common import SETTINGS, claim_output, console, err_console
from rescity.errors import InputError
from rescity.hazard.registry import DEFAULT_TYPHOON_HAZARDS, TYPHOON_HAZARDS, summary_columns
from rescity.twin.systems import service_outputs, systems

if TYPE_CHECKING:
    import pandas as pd


def _short(x: float) -> str:
    import numpy as np
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
    """One table per administrative level, sorted by affected population: people affected and
    without service first, then hazard and damage — as many columns as the terminal shows."""
    import numpy as np

    from rescity.cli._tables import print_fitted

    shown = units[units["level"] == level]
    if "affected_mean" in shown:
        shown = shown.sort_values("affected_mean", ascending=False, kind="stable")
    rows = [r for _, r in shown.iterrows()]
    cols = [("unit", [f"{r['name_zh']} {r['name_en']}" for r in rows], "left")]
    for q in ("affected", *service_outputs()):
        if f"{q}_mean" in shown:
            cols.append((q.replace("_", " "), [_iv(r, q) for r in rows], "right"))
    for col in summary_columns():
        if col in shown and np.isfinite(shown[col].to_numpy(float)).any():
            fmt = _format(col)
            cols.append((_label(col), [fmt.format(r[col]) for r in rows], "right"))
    for s in systems():
        if f"damaged_{s}_mean" in units:
            cols.append((f"{s} dmg %", [_iv(r, f"damaged_{s}", pct=True) for r in rows], "right"))
    cols.append(("code", [str(r["unit_id"]) for r in rows], "left"))
    print_fitted(out, title, cols, "units.csv")


def _format(col: str) -> str:
    """Number format of a hazard summary column: the registry's display digits, else by unit."""
    from rescity.hazard.registry import display_columns

    shown = display_columns().get(col)
    if shown is not None:
        return f"{{:.{shown[1]}f}}"
    return "{:.3f}" if col.endswith("_g") else "{:.2f}" if col.endswith("_m") else "{:.1f}"


def _label(col: str) -> str:
    """``wind_max_ms`` → ``wind m/s``: a table heading from a summary column."""
    from rescity.hazard.registry import measures

    measure = summary_columns()[col][0]
    m = measures()[measure]
    if m.unit == "1":  # a ratio: named by its measure (``landslide_ratio`` → ``landslide ratio``)
        return measure.replace("_", " ")
    return f"{col.split('_')[0]} {m.unit}"


def print_recovery(metrics: pd.DataFrame, out: Console) -> None:
    """Province and prefecture resilience metrics, one row per unit and system."""
    from rescity.cli._tables import print_fitted

    m = metrics[metrics["level"].isin(("province", "prefecture"))]
    rows = [r for _, r in m.iterrows()]

    def iv(r, c, k=1.0, d=0):
        return f"{k * r[c]:.{d}f} [{k * r[c + '_p05']:.{d}f}–{k * r[c + '_p95']:.{d}f}]"

    cols = [
        ("unit", [f"{r['name_zh']} {r['name_en']}" for r in rows], "left"),
        ("system", [str(r["system"]) for r in rows], "left"),
        ("resilience loss h", [iv(r, "resilience_loss_h", d=1) for r in rows], "right"),
        ("robustness %", [iv(r, "robustness", 100.0, 1) for r in rows], "right"),
        ("t90 h", [iv(r, "t90_h") for r in rows], "right"),
        ("t100 h", [iv(r, "t100_h") for r in rows], "right"),
        (
            "customer-hours lost",
            [f"{_short(r['customer_hours_lost'])} [{_short(r['customer_hours_lost_p05'])}–"
             f"{_short(r['customer_hours_lost_p95'])}]" for r in rows],
            "right",
        ),
    ]
    print_fitted(out, "Recovery — mean [90 % interval] over the realisations", cols, "metrics.csv")


#: Peak ground acceleration (g) below which no fragility curve gives damage worth reporting.
WEAK_PGA_G = 0.02


def warn_weak_quake(res) -> bool:
    """Warn (stderr) when an earthquake shakes no unit above :data:`WEAK_PGA_G`, saying how far
    the epicentre is from the twin: a far-away event gives zeros, not an error. True if warned."""
    import numpy as np

    from rescity.cli._common import err_console

    u = res.units
    pga = u["pga_max_g"].to_numpy(float) if "pga_max_g" in u else np.array([np.nan])
    peak = float(np.nanmax(pga)) if np.isfinite(pga).any() else 0.0
    if peak >= WEAK_PGA_G:
        return False
    ev = res.settings.quake.mainshock
    lat, lon = float(ev.lat), float(ev.lon)
    tw = res.twin.units
    d = 111.2 * np.hypot((tw["lon"].to_numpy(float) - lon) * np.cos(np.radians(lat)), tw["lat"].to_numpy(float) - lat)
    err_console.print(
        f"warning: the earthquake at {lat:.2f}°N {lon:.2f}°E is {np.nanmin(d):,.0f} km from the nearest "
        f"unit of the twin; peak ground acceleration there is {peak:.3f} g (below {WEAK_PGA_G} g), so "
        "nothing is damaged and every number is zero. Check the latitude/longitude order (lat,lon,depth_km,Mw)."
    )
    return True


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
        wide = console  # tables fit the terminal; every column is in units.csv / metrics.csv
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
        workers: Optional[int] = typer.Option(
            None,
            "--workers",
            min=1,
            help="Worker processes (default: the CPUs available, at most 4); results do not depend on it.",
        ),
        twin_seed: Optional[int] = TWIN_SEED,
        synthetic: bool = SYNTHETIC,
        no_recovery: bool = NO_RECOVERY,
        scenario: Optional[Path] = SCENARIO,
        optimise_repairs: bool = OPTIMISE_REPAIRS,
        prefecture: Optional[str] = PREFECTURE,
        force: bool = typer.Option(
            False, "--force", help="Overwrite an output folder that holds another command's outputs."
        ),
    ) -> None:
        """Zhejiang twin + typhoon Lekima (CMA 1909, JTWC 201910): hazard, damage, cascade, people without service, recovery."""
        from rescity.engine.executor import available_cpus
        from rescity.run.config import DEFAULT_SEED, RunConfig

        seed_, n, out_ = SETTINGS.pick(seed, realisations, out)
        workers = available_cpus() if workers is None else workers
        cfg = RunConfig.from_options(
            sn="201910", realisations=n, seed=seed_, workers=workers, scheduler=SETTINGS.scheduler, recovery=not no_recovery,
            scenario=scenario, out=out_, twin_seed=DEFAULT_SEED if twin_seed is None else twin_seed, synthetic=synthetic,
        )  # fmt: skip
        claim_output(out_, "demo", "201910", force)
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
        force: bool = typer.Option(
            False, "--force", help="Overwrite an output folder that holds another command's outputs."
        ),
        keep_realisations: Optional[str] = typer.Option(
            None, "--keep-realisations", help="Per-unit values of every realisation: all, summary (every "
            "realisation of the province, prefectures and counties; streamed mean and quantiles of the "
            "cells: memory bounded for big twins) or auto (default: all while they take at most 1 GiB).",
        ),  # fmt: skip
    ) -> None:
        """Run a scenario for any storm (packaged CMA or JTWC best track, or a track file) or an earthquake."""
        from rescity.run.config import DEFAULT_SEED, OutputSpec, RunConfig

        seed_, n, out_ = SETTINGS.pick(seed, realisations, out)
        if config is not None:
            cfg = RunConfig.from_file(config, realisations=realisations, seed=seed, scheduler=SETTINGS.scheduler)
            if out is not None or cfg.outputs.dir is None:
                cfg = cfg.model_copy(update={"outputs": cfg.outputs.model_copy(update={"dir": out_})})
            if keep_realisations is not None:
                outputs = {**cfg.outputs.model_dump(), "keep_realisations": keep_realisations}
                cfg = cfg.model_copy(update={"outputs": _option(OutputSpec, outputs, "--keep-realisations")})
            claim_output(Path(cfg.outputs.dir), "run", cfg.event_label, force)
            res = run_cli(cfg, print_tables=not quiet, optimise=optimise_repairs, prefecture=prefecture)
            if cfg.quake is not None:
                warn_weak_quake(res)
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
            twin_seed=DEFAULT_SEED if twin_seed is None else twin_seed, synthetic=synthetic, workers=workers, scheduler=SETTINGS.scheduler, horizon_h=horizon_h,
            recovery=not no_recovery, scenario=scenario, out=out_, keep_realisations=keep_realisations or "auto",
        )  # fmt: skip
        claim_output(out_, "run", str(sn or track or quake), force)
        res = run_cli(cfg, print_tables=not quiet, optimise=optimise_repairs, prefecture=prefecture)
        if cfg.quake is not None:
            warn_weak_quake(res)

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

    def _option(model, data: dict, option: str):
        """``model`` validated from ``data``; a problem names ``option``."""
        from pydantic import ValidationError

        from rescity.hazard.scenario import as_input_error

        try:
            return model.model_validate(data)
        except ValidationError as e:
            err = as_input_error(e)
            raise InputError(err.message, field=option, value=err.value) from None

    def _vs30(text: Optional[str]):
        if text is None:
            return None
        try:
            return float(text)
        except ValueError:
            return text
