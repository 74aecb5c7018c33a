"""``rescity network import|export``: pandapower nets and EPANET files in and out of a twin."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rescity.cli._common import SETTINGS, console
from rescity.errors import InputError

network_app = typer.Typer(
    help="Real networks in and out: pandapower nets (power) and EPANET .inp files (water). Needs the networks extra (pip install 'rescity\\[networks]').",
    no_args_is_help=True,
)


@network_app.command("import")
def import_(
    pandapower: Optional[str] = typer.Option(
        None,
        "--pandapower",
        help="A pandapower JSON file, or a network of pandapower.networks (e.g. mv_oberrhein).",
    ),
    epanet: Optional[Path] = typer.Option(None, "--epanet", help="An EPANET .inp file."),
    origin: str = typer.Option(
        "0,0", "--origin", help="EPANET: lon,lat of the coordinates' origin (metres east, north)."
    ),
    crs: Optional[str] = typer.Option(
        None, "--crs", help="EPANET: CRS of projected coordinates, e.g. EPSG:32651."
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder; the twin goes to OUT/twin."),
) -> None:
    """Build a twin from a real power or water network and save it (for rescity run --twin, spof --twin)."""
    from rescity.twin.io import save

    _, _, out_ = SETTINGS.pick(None, None, out)
    if (pandapower is None) == (epanet is None):
        raise InputError("give one of --pandapower or --epanet", field="--pandapower")
    if pandapower is not None:
        from rescity.twin.pandapower_io import import_pandapower, load_pandapower_json

        p = Path(pandapower)
        if p.suffix.lower() == ".json":
            if not p.exists():
                raise InputError("pandapower file not found", file=p)
            net = load_pandapower_json(p)
        else:
            import pandapower.networks as pn

            fn = getattr(pn, pandapower, None)
            if fn is None or not callable(fn):
                raise InputError("not a pandapower.networks network", field="--pandapower", value=pandapower)
            net = fn()
        twin = import_pandapower(net, name=p.stem if p.suffix else pandapower)
    else:
        from rescity.twin.epanet_io import import_epanet

        try:
            lon0, lat0 = (float(x) for x in origin.split(","))
        except ValueError:
            raise InputError("origin must be lon,lat", field="--origin", value=origin) from None
        if not (-180.0 <= lon0 <= 360.0 and -90.0 <= lat0 <= 90.0):  # also refuses nan and inf
            raise InputError(
                "origin must be lon,lat in degrees (lon −180…360, lat −90…90)", field="--origin", value=origin
            )
        if crs is not None:
            try:
                from pyproj import CRS

                CRS.from_user_input(crs)
            except Exception as e:  # noqa: BLE001 - pyproj's CRSError and friends
                msg = " ".join(str(e).split())[:120]
                raise InputError(
                    f"not a coordinate reference system pyproj knows ({msg})", field="--crs", value=crs
                ) from None
        twin = import_epanet(epanet, origin=(lon0, lat0), crs=crs)
    path = save(twin, Path(out_) / "twin")
    s = twin.summary()
    console.print(
        f"{s['name']}: {s['assets']['total']:,} assets {s['assets']['by_system']}, "
        f"{sum(s['edges'].values()):,} edges, {s['population']:,} people served"
    )
    console.print(f"wrote twin: {path}")


@network_app.command("export")
def export(
    twin: Path = typer.Argument(..., help="A saved twin."),
    fmt: str = typer.Option(..., "--format", help="pandapower (JSON) or epanet (.inp)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file."),
) -> None:
    """Write a twin's power system as a pandapower JSON net or its water system as an EPANET file."""
    from rescity.twin.io import load

    tw = load(twin)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pandapower":
        from rescity.twin.pandapower_io import _pp, to_pandapower

        _pp().to_json(to_pandapower(tw), str(out))
    elif fmt == "epanet":
        import wntr

        from rescity.twin.epanet_io import to_epanet

        wntr.network.write_inpfile(to_epanet(tw), str(out))
    else:
        raise InputError("format must be pandapower or epanet", field="--format", value=fmt)
    console.print(f"wrote {fmt}: {out}")


@network_app.command("physics")
def physics(
    twin: Path = typer.Argument(..., help="A saved twin imported from pandapower or EPANET."),
    outage: float = typer.Option(
        0.05, "--outage", min=0.0, max=1.0, help="Share of link assets out in each realisation."
    ),
    realisations: int = typer.Option(5, "--realisations", "-n", min=1, help="Realisations to check."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", "-o"),
) -> None:
    """Physics against topology on chosen realisations: AC power flow (power) and pressure-driven
    hydraulics (water), each realisation a random outage of link assets; physics.csv, physics_assets.csv."""
    import numpy as np
    import pandas as pd
    from rich.table import Table

    from rescity.engine.damage import realisation_rng
    from rescity.engine.physics import PhysicsError, compare, hydraulics, power_flow
    from rescity.twin.io import load

    seed_, _, out_ = SETTINGS.pick(seed, None, out)
    tw = load(twin)
    kinds = {"power": "pandapower", "water": "epanet"}
    systems = [s for s, m in kinds.items() if m in tw.meta]
    if not systems:
        raise InputError(
            "the twin was not imported from pandapower or EPANET (no network model kept)", file=twin
        )
    a = tw.assets
    rows, per_asset = [], []
    for r in range(realisations):  # a few chosen realisations
        rng = realisation_rng(seed_, r)
        for s in systems:
            link = (a["system"] == s).to_numpy() & (a["length_km"].to_numpy(float) > 0)
            states = np.zeros(tw.n_assets, np.int8)
            states[link & (rng.random(tw.n_assets) < outage)] = 4
            try:
                t = power_flow(tw, states) if s == "power" else hydraulics(tw, states)
            except PhysicsError as e:
                rows.append({"realisation": r, "system": s, "error": e.message})
                continue
            rows.append(
                {
                    "realisation": r,
                    "system": s,
                    "assets_out": int((states > 0).sum()),
                    **compare(t),
                    "error": "",
                }
            )
            d = t[t["differs"]].copy()
            d.insert(0, "system", s)
            d.insert(0, "realisation", r)
            per_asset.append(d)
    out_ = Path(out_)
    out_.mkdir(parents=True, exist_ok=True)
    summary = pd.DataFrame(rows)
    summary.to_csv(out_ / "physics.csv", index=False)
    (pd.concat(per_asset, ignore_index=True) if per_asset else pd.DataFrame()).to_csv(
        out_ / "physics_assets.csv", index=False
    )
    tab = Table(title="Topology against physics", title_justify="left")
    for c in summary.columns:
        tab.add_column(str(c), no_wrap=True)
    for _, x in summary.iterrows():
        tab.add_row(*(str(v) for v in x.to_numpy()))
    from rich.console import Console

    Console(width=max(console.width, 140), soft_wrap=False).print(tab)
    console.print(f"wrote physics.csv, physics_assets.csv: {out_}")


def register(app: typer.Typer) -> None:
    app.add_typer(network_app, name="network")
