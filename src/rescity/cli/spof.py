"""``rescity spof``: single points of failure (N-1 over every asset, cascades included)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from rescity.cli._common import SETTINGS, console


def _load_twin(path: Optional[Path], twin_seed: Optional[int] = None):
    if path is not None:
        from rescity.twin.io import load

        return load(path)
    from rescity.twin.zhejiang import default_twin

    return default_twin() if twin_seed is None else default_twin(seed=twin_seed)


def register(app: typer.Typer) -> None:
    @app.command()
    def spof(
        out: Optional[Path] = typer.Option(
            None, "--out", "-o", help="Output folder (default ./rescity-out)."
        ),
        twin: Optional[Path] = typer.Option(None, "--twin", help="A saved twin; default: Zhejiang."),
        horizon_h: float = typer.Option(
            12.0, "--horizon-h", min=0.0, help="Hours after the failure at which service is evaluated."
        ),
        top: int = typer.Option(50, "--top", min=1, help="Assets shown on the map and in the report."),
        twin_seed: Optional[int] = typer.Option(
            None, "--twin-seed", help="Seed of the default twin's generated lifelines (default: the default seed)."
        ),
    ) -> None:
        """N-1 of every asset: people losing each service when that one asset fails (spof.csv, spof.html)."""
        import time

        from rescity.decide.spof import write_spof

        _, _, out_ = SETTINGS.pick(None, None, out)
        tw = _load_twin(twin, twin_seed)
        t0 = time.perf_counter()
        files = write_spof(tw, Path(out_), horizon_h=horizon_h, top=top)
        dt = time.perf_counter() - t0
        import pandas as pd

        t = pd.read_csv(files["spof.csv"], nrows=15, dtype={"unit_id": str})
        tab = Table(
            title=f"Top single points of failure ({tw.n_assets:,} assets, {dt:.1f} s)", title_justify="left"
        )
        from rescity.twin.systems import service_systems

        for c in ("rank", "asset_id", "kind", "unit_id", *service_systems(), "total"):
            tab.add_column(
                c, justify="right" if c not in ("asset_id", "kind", "unit_id") else "left", no_wrap=True
            )
        for _, r in t.iterrows():
            tab.add_row(
                str(r["rank"]),
                str(r["asset_id"]),
                str(r["kind"]),
                str(r["unit_id"]),
                *(f"{r[f'people_lost_{s}']:,.0f}" for s in service_systems()),
                f"{r['people_lost_total']:,.0f}",
            )
        Console(width=max(console.width, 160), soft_wrap=False).print(tab)
        for name, p in files.items():
            console.print(f"wrote {name}: {p}")
