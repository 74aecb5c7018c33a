"""``rescity fragility``: list and check fragility curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from rescity.cli._common import console


def register(app: typer.Typer) -> None:
    frag = typer.Typer(
        help="Fragility curves: list the library, check a folder of curve files.", no_args_is_help=True
    )

    @frag.command("list")
    def list_curves(
        hazard: Optional[str] = typer.Option(None, "--hazard", help="Only this hazard (wind, flood, …)."),
        extra: list[Path] = typer.Option(
            [], "--extra", help="Extra folder of curves/tables/mapping CSV files."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List the curves of the packaged library (plus any --extra folders)."""
        from rescity.fragility.library import load_library

        lib = load_library(extra)
        df = lib.describe()
        if hazard:
            df = df[df["hazard"] == hazard]
        if as_json:
            console.print_json(json.dumps(df.to_dict(orient="records"), ensure_ascii=False))
            return
        from rich.table import Table

        t = Table("curve_id", "hazard", "measure", "form", "parameters", "source", show_lines=False)
        for r in df.itertuples():
            t.add_row(r.curve_id, r.hazard, r.measure, r.form, r.parameters, r.source[:80])
        console.print(t)

    @frag.command("check")
    def check(
        folder: Path = typer.Argument(..., help="Folder of curves*.csv, tables*.csv, mapping*.csv."),
    ) -> None:
        """Validate a folder of curve files on top of the packaged library; exit 2 on the first error."""
        from rescity.fragility.library import load_library

        lib = load_library([folder])
        console.print(
            f"ok: {len(lib.compiled)} curves, {len(lib.mapping)} mapping rows "
            f"(hazards: {', '.join(lib.hazards())})"
        )

    app.add_typer(frag, name="fragility")
