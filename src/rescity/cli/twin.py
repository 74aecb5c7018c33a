"""``rescity twin``: build, inspect and validate digital twins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from rescity.cli._common import SETTINGS, console, err_console


def _twin_at(path: Optional[Path], seed: Optional[int], synthetic: bool):
    """The twin saved at ``path``, or the (cached) default twin built with ``seed``."""
    if path is not None:
        from rescity.twin.io import read

        return read(path)
    seed, _, _ = SETTINGS.pick(seed, None, None)
    return _progress_build(seed, 5.0, cached=True, synthetic=synthetic)


def _progress_build(seed: int, cell_km: float, cached: bool = False, synthetic: bool = False):
    """Build (or fetch from the cache) the Zhejiang twin behind a rich progress bar."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from rescity.twin.zhejiang import build_zhejiang, default_twin

    with Progress(
        TextColumn("[bold]twin[/] {task.description:<12}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("start", total=1.0)

        def tick(stage: str, frac: float) -> None:
            bar.update(task, completed=frac, description=stage)

        kw = {"synthetic": True} if synthetic else {}
        if cached:
            return default_twin(seed=seed, cell_km=cell_km, progress=tick, **kw)
        return build_zhejiang(seed=seed, cell_km=cell_km, progress=tick, **kw)


_SYNTHETIC_HELP = (
    "Generate the whole power grid from population and geography instead of the real backbone "
    "(OpenStreetMap/GridKit/WRI) at 220 kV and above."
)


def register(app: typer.Typer) -> None:
    twin_app = typer.Typer(
        help="Digital twin: build the Zhejiang default, show counts, validate.", no_args_is_help=True
    )

    @twin_app.command("build")
    def build(
        out: Optional[Path] = typer.Option(
            None, "--out", "-o", help="Output folder; the twin goes to <out>/twin."
        ),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the lifeline generator."),
        cell_km: float = typer.Option(5.0, "--cell-km", help="Side of the grid cells, km."),
        synthetic: bool = typer.Option(False, "--synthetic", help=_SYNTHETIC_HELP),
    ) -> None:
        """Build the Zhejiang twin and save it as GeoParquet in <out>/twin."""
        from rescity.errors import InputError
        from rescity.twin.io import save

        if not cell_km > 0:
            raise InputError("cell size must be positive", field="--cell-km", value=cell_km)
        seed, _, out = SETTINGS.pick(seed, None, out)
        twin = _progress_build(seed, cell_km, synthetic=synthetic)
        path = save(twin, Path(out) / "twin")
        s = twin.summary()
        console.print(
            f"twin {s['name']}: {s['units']['cell']} cells, {s['population']:,} people, "
            f"{s['assets']['total']:,} assets → {path}",
            highlight=False,
        )

    @twin_app.command("info")
    def info(
        path: Optional[Path] = typer.Argument(
            None, help="Saved twin folder, GeoJSON folder or GeoPackage; omitted: the default twin."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print Twin.summary() as JSON."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the default twin."),
        synthetic: bool = typer.Option(False, "--synthetic", help=_SYNTHETIC_HELP),
    ) -> None:
        """Counts of units by level and assets by system and kind."""
        s = _twin_at(path, seed, synthetic).summary()
        if as_json:
            typer.echo(json.dumps(s, ensure_ascii=False, indent=1))
            return
        from rich.table import Table

        console.print(f"[bold]{s['name']}[/]  population {s['population']:,}", highlight=False)
        t = Table("level", "units")
        for lv, n in s["units"].items():
            t.add_row(lv, f"{n:,}")
        console.print(t)
        t = Table("system/kind", "assets")
        for k, n in s["assets"]["by_kind"].items():
            t.add_row(k, f"{n:,}")
        t.add_row("[bold]total[/]", f"[bold]{s['assets']['total']:,}[/]")
        console.print(t)
        console.print(
            f"edges {sum(s['edges'].values()):,}, dependencies {s['dependencies']:,}, "
            f"service rows {s['service_rows']:,}",
            highlight=False,
        )

    @twin_app.command("stats")
    def stats(
        path: Optional[Path] = typer.Argument(
            None, help="Saved twin folder, GeoJSON folder or GeoPackage; omitted: the default twin."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the table as JSON records."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the default twin."),
        synthetic: bool = typer.Option(False, "--synthetic", help=_SYNTHETIC_HELP),
    ) -> None:
        """The twin's power-grid totals beside State Grid Zhejiang's published figures."""
        from rescity.twin.stats import TOLERANCE, grid_stats

        twin = _twin_at(path, seed, synthetic)
        df = grid_stats(twin)
        if as_json:
            typer.echo(df.to_json(orient="records", force_ascii=False, indent=1))
            return
        from rich.table import Table

        t = Table("", "unit", "twin", "published", "twin / pub.", "source / assets")
        for r in df.itertuples():
            pub = "" if r.published != r.published else f"{r.published:,.0f}"
            ratio = ""
            if r.ratio == r.ratio:
                ok = "green" if r.within_15pct else "red"
                ratio = f"[{ok}]{r.ratio:.2f}[/]"
            t.add_row(r.label, r.unit, f"{r.twin:,.0f}", pub, ratio, r.source)
        console.print(t)
        console.print(
            f"Published totals: State Grid Zhejiang, as quoted in the project's sources; the default twin "
            f"is held to ±{TOLERANCE:.0%}. The twin has no separate 35 kV layer: its line total sums the "
            "500, 220 and 110 kV lines (route length). Real locations: OpenStreetMap, GridKit, WRI.",
            highlight=False,
        )

    @twin_app.command("validate")
    def validate_cmd(
        path: Path = typer.Argument(..., help="Saved twin folder, GeoJSON folder or GeoPackage."),
    ) -> None:
        """Print every problem of a twin; exit 2 when there is any error."""
        from rescity.twin.validate import validate

        problems = validate(path)
        for p in problems:
            typer.echo(str(p))
        n_err = sum(p.severity == "error" for p in problems)
        n_warn = len(problems) - n_err
        err_console.print(f"{n_err} errors, {n_warn} warnings", highlight=False)
        if n_err:
            raise typer.Exit(2)

    app.add_typer(twin_app, name="twin")
