"""``rescity wind`` and ``rescity rain``: typhoon wind and rain at points, as CSV on stdout."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from rescity.errors import InputError

if TYPE_CHECKING:
    import numpy as np

_AT_HELP = 'Sites as "lat,lon;lat,lon" in degrees, e.g. "28.37,121.37;30.27,120.15".'


def parse_at(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``"lat,lon;lat,lon"`` into latitude and longitude arrays (degrees)."""
    import numpy as np
    lats: list[float] = []
    lons: list[float] = []
    parts = [p.strip() for p in str(text).split(";")]
    if not any(parts):
        raise InputError('no sites; expected "lat,lon;lat,lon"', field="--at", value=text)
    for p in parts:
        if not p:
            continue
        xy = [s.strip() for s in p.split(",")]
        if len(xy) != 2:
            raise InputError('each site must be "lat,lon" (sites separated by ";")', field="--at", value=p)
        try:
            la, lo = float(xy[0]), float(xy[1])
        except ValueError:
            raise InputError(
                "latitude and longitude must be numbers in degrees", field="--at", value=p
            ) from None
        if not (math.isfinite(la) and -90.0 <= la <= 90.0):
            raise InputError("latitude must be in [-90, 90]", field="--at", value=p)
        if not (math.isfinite(lo) and -180.0 <= lo <= 360.0):
            raise InputError("longitude must be in [-180, 360]", field="--at", value=p)
        lats.append(la)
        lons.append(lo)
    return np.array(lats), np.array(lons)


def _load(track: Optional[Path], sn: Optional[str], fmt: str, source: str = "cma"):
    """The track of ``--track FILE`` or of ``--sn`` in the packaged best tracks; for ``--sn`` the
    storm and source chosen are printed on stderr (stdout carries the CSV)."""
    from rescity.hazard.track import packaged_track, read_track

    if track is None:
        if not sn:
            raise InputError(
                "give --track FILE, or --sn for a packaged best track: a CMA number (1909), "
                "a JTWC number (201910) or a name (Lekima, 'Haitang 2005')",
                field="--track",
            )
        tr = packaged_track(sn, source=source)
        typer.echo(tr.attrs["storm"].describe(), err=True)
        return tr
    return read_track(track, fmt=fmt, sn=sn)


_SN_HELP = ("Storm: CMA number (1909), JTWC number (201910) or name (Lekima, 利奇马, 'Haitang 2005'); "
            "with --track, the id within the file.")
_SOURCE_HELP = "Packaged best track for --sn: cma (default; 2-min winds turned to 1-min) or jtwc."


def _rain_model(model: str) -> str:
    from rescity.hazard.rain import RAIN_MODELS

    m = model.strip().lower()
    if m not in RAIN_MODELS:
        raise InputError(f"unknown rain model; use one of {', '.join(RAIN_MODELS)}", field="--model", value=model)
    return m


def _land(exposure: str) -> bool:
    e = exposure.strip().lower()
    if e not in ("land", "sea"):
        raise InputError("exposure must be land or sea", field="--exposure", value=exposure)
    return e == "land"


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def wind(
    track: Optional[Path] = typer.Option(None, "--track", "-t", help="Track file (default: the packaged best track of --sn)."),
    sn: Optional[str] = typer.Option(None, "--sn", help=_SN_HELP),
    source: str = typer.Option("cma", "--source", help=_SOURCE_HELP),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, jtwc, cma, ibtracs or generic."),
    model: str = typer.Option("holland1980", "--model", "-m", help="holland1980 or holland2008."),
    at: str = typer.Option(..., "--at", help=_AT_HELP),
    dt_h: float = typer.Option(1.0, "--dt-h", help="Time step of the interpolated track, hours."),
    exposure: str = typer.Option("land", "--exposure", help="land (open terrain) or sea, for every site."),
) -> None:
    """Peak 1-min 10-m wind and 3-s gust (m/s) of a typhoon at points: CSV lat,lon,wind_max_ms,gust_max_ms."""
    from rescity.hazard.typhoon import peak_wind

    lat, lon = parse_at(at)
    land = _land(exposure)
    tr = _load(track, sn, fmt, source)
    out = peak_wind(tr, lon, lat, model=model, dt_h=dt_h, land=land)
    typer.echo("lat,lon,wind_max_ms,gust_max_ms")
    for la, lo, w, g in zip(lat, lon, out["wind_ms"], out["gust_ms"], strict=True):
        typer.echo(f"{la:g},{lo:g},{_fmt(w)},{_fmt(g)}")


def rain(
    track: Optional[Path] = typer.Option(None, "--track", "-t", help="Track file (default: the packaged best track of --sn)."),
    sn: Optional[str] = typer.Option(None, "--sn", help=_SN_HELP),
    source: str = typer.Option("cma", "--source", help=_SOURCE_HELP),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, jtwc, cma, ibtracs or generic."),
    at: str = typer.Option(..., "--at", help=_AT_HELP),
    dt_h: float = typer.Option(1.0, "--dt-h", help="Time step of the interpolated track, hours."),
    model: str = typer.Option(
        "phram", "--model", "-m",
        help="phram (R-CLIPER + shear + terrain, default) or rcliper (axisymmetric R-CLIPER alone).",
    ),
) -> None:
    """Storm-total rain (mm) and peak rain rate (mm/h) of a typhoon at points: CSV
    lat,lon,rain_mm,rain_rate_mmh."""
    from rescity.hazard.rain import storm_rain

    lat, lon = parse_at(at)
    model = _rain_model(model)
    tr = _load(track, sn, fmt, source)
    out = storm_rain(tr, lon, lat, dt_h=dt_h, model=model)
    typer.echo("lat,lon,rain_mm,rain_rate_mmh")
    for la, lo, r, rr in zip(lat, lon, out["rain_mm"], out["rain_rate_mmh"], strict=True):
        typer.echo(f"{la:g},{lo:g},{_fmt(r)},{_fmt(rr)}")


def rain_check(
    storm: Optional[list[str]] = typer.Option(
        None, "--storm", help="Storm name(s) to check (Lekima, Rananim, Haitang, Matsa, Krosa, Morakot); default all."
    ),
    model: str = typer.Option("phram", "--model", "-m", help="phram (default) or rcliper."),
) -> None:
    """Modelled storm-total rain against published totals in Zhejiang (cited table): CSV."""
    from rescity.hazard.rain_check import rain_check as check

    df = check(storm or None, model=_rain_model(model))
    if df.empty:
        raise InputError("no published totals for these storms", field="--storm", value=",".join(storm or []))
    cols = ["storm", "year", "what", "place_en", "observed_mm", "model_mm", "ratio", "model_peak_mmh", "within",
            "source_title"]
    typer.echo(df[cols].to_csv(index=False), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``wind``, ``rain`` and ``rain-check`` to the ``rescity`` command."""
    app.command("wind")(wind)
    app.command("rain")(rain)
    app.command("rain-check")(rain_check)
