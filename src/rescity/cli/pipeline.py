"""``rescity demo`` and ``rescity run``: the scenario pipeline from the command line."""

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

HAZARDS = ("wind", "rain", "flood")


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
        (col, label, fmt)
        for col, label, fmt in (
            ("wind_max_ms", "wind m/s", "{:.1f}"),
            ("gust_max_ms", "gust m/s", "{:.1f}"),
            ("rain_mm", "rain mm", "{:.0f}"),
            ("flood_depth_max_m", "flood m", "{:.2f}"),
            ("pga_max_g", "PGA g", "{:.3f}"),
        )
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
    settings,
    out: Path,
    twin_path: Optional[Path],
    print_tables: bool = True,
    optimise: bool = False,
    prefecture: Optional[str] = None,
):
    """Run a scenario with progress bars, print the tables by level and write the outputs.

    ``optimise``: also optimise one prefecture's repair order (``rescity repair-plan``) and add
    the comparison to the report."""
    from rescity.pipeline import run_scenario, write_outputs

    twin = None
    if twin_path is not None:
        from rescity.twin.io import load

        twin = load(twin_path)
        settings.twin = str(twin_path)
    labels = {
        "twin": "twin",
        "hazard": "hazard",
        "simulate": "simulate",
        "recovery": "recovery",
        "report": "report",
    }
    with _progress() as prog:
        tasks: dict[str, int] = {}

        def cb(stage: str, done: float, total: float) -> None:
            if stage not in tasks:
                tasks[stage] = prog.add_task(labels.get(stage, stage), total=max(total, 1))
            prog.update(tasks[stage], completed=done, total=max(total, 1))

        if optimise and settings.recovery:
            from rescity.cli.recovery import repair_plan_run, repair_plan_section

            res = run_scenario(settings, None, twin=twin, progress=cb)
            task = prog.add_task("repair plan", total=1)
            plan, cmp = repair_plan_run(res, prefecture, None, 120.0, 5)
            Path(out).mkdir(parents=True, exist_ok=True)
            cmp.to_csv(Path(out) / "repair_compare.csv", index=False, float_format="%.6g")
            prog.update(task, completed=1)
            write_outputs(res, Path(out), extra_sections=[repair_plan_section(plan, cmp, res.recovery.units)])
            res.files["repair_compare.csv"] = Path(out) / "repair_compare.csv"
        else:
            res = run_scenario(settings, out, twin=twin, progress=cb)
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
                f"{title} — mean [90 % interval] over {settings.realisations} realisations",
                wide,
            )
        if res.metrics is not None:
            print_recovery(res.metrics, wide)
    for name, p in res.files.items():
        console.print(f"wrote {name}: {p}")
    return res


def _parse_hazards(hazards: str) -> tuple[str, ...]:
    hs = tuple(h.strip() for h in hazards.split(",") if h.strip())
    bad = [h for h in hs if h not in HAZARDS]
    if bad or not hs:
        raise InputError(
            f"unknown hazard; choose from {', '.join(HAZARDS)}", field="--hazards", value=hazards
        )
    return hs


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


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        realisations: Optional[int] = typer.Option(
            None, "--realisations", "-n", min=1, help="Monte Carlo realisations (default 500)."
        ),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of every random stream."),
        out: Optional[Path] = typer.Option(
            None, "--out", "-o", help="Output folder (default ./rescity-out)."
        ),
        workers: int = typer.Option(
            1, "--workers", min=1, help="Worker processes; results do not depend on it."
        ),
        no_recovery: bool = NO_RECOVERY,
        scenario: Optional[Path] = SCENARIO,
        optimise_repairs: bool = OPTIMISE_REPAIRS,
        prefecture: Optional[str] = PREFECTURE,
    ) -> None:
        """Zhejiang twin + typhoon Lekima (JTWC 201910): hazard, damage, cascade, people without service, recovery."""
        from rescity.pipeline import ScenarioSettings

        seed_, n, out_ = SETTINGS.pick(seed, realisations, out)
        st = ScenarioSettings(
            sn="201910",
            realisations=n,
            seed=seed_,
            workers=workers,
            recovery=not no_recovery,
            scenario_file=str(scenario) if scenario else None,
        )
        run_cli(st, out_, None, optimise=optimise_repairs, prefecture=prefecture)

    @app.command()
    def run(
        sn: Optional[str] = typer.Option(
            None, "--sn", help="Storm id (JTWC SN, e.g. 201910) in the packaged best track or in --track."
        ),
        track: Optional[Path] = typer.Option(
            None, "--track", help="Track file (JTWC CSV, CMA text, IBTrACS CSV or generic CSV)."
        ),
        fmt: str = typer.Option("auto", "--format", help="Track format: auto, jtwc, cma, ibtracs, generic."),
        model: str = typer.Option("holland1980", "--model", help="Wind profile: holland1980 or holland2008."),
        hazards: str = typer.Option(
            "wind,rain,flood", "--hazards", help="Comma-separated hazards: wind, rain, flood."
        ),
        twin: Optional[Path] = typer.Option(
            None, "--twin", help="A saved twin (rescity twin build); default: Zhejiang."
        ),
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
            None, "--dem", help="Elevation GeoTIFF (m) for the flood model; default: a documented proxy."
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
        no_recovery: bool = NO_RECOVERY,
        scenario: Optional[Path] = SCENARIO,
        optimise_repairs: bool = OPTIMISE_REPAIRS,
        prefecture: Optional[str] = PREFECTURE,
    ) -> None:
        """Run the pipeline for any storm (packaged JTWC id or a track file) or an earthquake."""
        from rescity.pipeline import ScenarioSettings

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
        if quake is not None and (sn is not None or track is not None):
            raise InputError(
                "a run is either a storm (--sn/--track) or an earthquake (--quake)",
                field="--quake",
                value=quake,
            )
        if sn is None and track is None and quake is None:
            raise InputError(
                "give a storm with --sn ID or --track FILE, or an earthquake with --quake", field="--sn"
            )
        for path, opt in ((dem, "--dem"), (stations, "--stations")):
            if path is not None and not path.is_file():
                raise InputError("no such file", file=path, field=opt)
        if aftershock and quake is None:
            raise InputError("--aftershock needs --quake", field="--aftershock", value=aftershock[0])
        if model not in ("holland1980", "holland2008"):
            raise InputError(
                "unknown wind model; choose holland1980 or holland2008", field="--model", value=model
            )
        seed_, n, out_ = SETTINGS.pick(seed, realisations, out)
        st = ScenarioSettings(
            sn=sn,
            track_file=str(track) if track else None,
            track_format=fmt,
            model=model,
            hazards=_parse_hazards(hazards),
            realisations=n,
            seed=seed_,
            horizon_h=horizon_h,
            workers=workers,
            quake=quake,
            quake_event=quake_event,
            aftershocks=tuple(aftershock),
            vs30=_vs30(vs30),
            dem=str(dem) if dem else None,
            stations=str(stations) if stations else None,
            recovery=not no_recovery,
            scenario_file=str(scenario) if scenario else None,
        )
        run_cli(st, out_, twin, print_tables=not quiet, optimise=optimise_repairs, prefecture=prefecture)

    def _vs30(text: Optional[str]):
        if text is None:
            return None
        try:
            return float(text)
        except ValueError:
            return text
