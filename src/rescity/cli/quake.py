"""``rescity quake``: median ground motion of a scenario earthquake at given points."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from rescity.errors import InputError


def _parse_points(text: str) -> tuple[list[float], list[float]]:
    lats, lons = [], []
    for part in [p for p in text.split(";") if p.strip()]:
        xy = [v.strip() for v in part.split(",")]
        if len(xy) != 2:
            raise InputError('points must be "lat,lon;lat,lon"', field="at", value=part)
        try:
            lat, lon = float(xy[0]), float(xy[1])
        except ValueError:
            raise InputError('points must be numbers "lat,lon;lat,lon"', field="at", value=part) from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 360.0):
            raise InputError("point latitude/longitude out of range", field="at", value=part)
        lats.append(lat)
        lons.append(lon)
    if not lats:
        raise InputError('give at least one point "lat,lon"', field="at", value=text)
    return lats, lons


def quake(
    source: Optional[str] = typer.Option(None, "--source", help='Earthquake "lat,lon,depth_km,Mw".'),
    at: str = typer.Option(..., "--at", help='Points "lat,lon;lat,lon".'),
    gmpe: str = typer.Option("bssa14", "--gmpe", help="Ground-motion model."),
    vs30: str = typer.Option("760", "--vs30", help="Vs30 in m/s, or a CSV (lon,lat,vs30) or GeoTIFF."),
    mechanism: str = typer.Option(
        "unspecified", "--mechanism", help="strike-slip | normal | reverse | unspecified."
    ),
    region: str = typer.Option(
        "global", "--region", help="BSSA14 region: global | china_turkey | italy_japan."
    ),
    strike: Optional[float] = typer.Option(None, "--strike", help="Strike (deg) for a finite rupture."),
    dip: Optional[float] = typer.Option(None, "--dip", help="Dip (deg) of the finite rupture."),
    catalogue: Optional[Path] = typer.Option(
        None, "--catalogue", help="Catalogue CSV (lat, lon, depth_km, mw [, event_id, strike, dip, rake, mechanism])."
    ),
    event: Optional[str] = typer.Option(None, "--event", help="event_id of the catalogue row to use."),
) -> None:
    """Print the median PGA (g), PGV (cm/s), SA(0.3 s) and SA(1.0 s) at each point as CSV."""
    from rescity.hazard.earthquake import EarthquakeSource, catalogue_event, ground_motion

    if (source is None) == (catalogue is None):
        raise InputError("give the earthquake with --source or --catalogue (one of them)", field="--source")
    if catalogue is not None:
        src = catalogue_event(catalogue, event, gmpe)
    else:
        mech = mechanism.strip().lower().replace("_", "-")
        src = EarthquakeSource.parse(source, mechanism=mech, strike=strike, dip=dip)
    lats, lons = _parse_points(at)
    try:
        v: object = float(vs30)
    except ValueError:
        v = vs30
    gm = ground_motion(src, lons, lats, v, gmpe=gmpe, region=region.strip().lower().replace("-", "_"))
    out = sys.stdout
    out.write("lat,lon,pga_g,pgv_cms,sa03_g,sa10_g\n")
    for i, (lat, lon) in enumerate(zip(lats, lons, strict=True)):
        out.write(
            f"{lat:g},{lon:g},{gm['pga_g'][i]:.6g},{gm['pgv_cms'][i]:.6g},{gm['sa03_g'][i]:.6g},{gm['sa10_g'][i]:.6g}\n"
        )


def register(app: typer.Typer) -> None:
    """Add ``rescity quake``."""
    app.command("quake")(quake)
