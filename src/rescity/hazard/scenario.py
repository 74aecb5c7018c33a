"""Scenarios that combine hazards, and the rule that combines their damage.

A :class:`Scenario` holds one hazard description:

* :class:`TyphoonScenario` — a storm (JTWC ``sn`` or a track file) and the hazards to model from
  it, any of ``wind``, ``rain``, ``flood`` (pluvial from the rain, plus rivers when a stations file
  is given) and ``surge``. Wind, rain and tracks are computed elsewhere (``rescity.hazard.typhoon``);
  this module only takes their arrays (:func:`flood_fields`).
* :class:`EarthquakeScenario` — a mainshock and optional aftershocks, each a :class:`QuakeEvent`.

Combining damage (:func:`combine_damage`)
    Each hazard (and each earthquake of a sequence) is evaluated against its own fragility with
    its own independent uniform draws; an asset's state in a realisation is the **maximum** over
    hazards. With independent draws this is exactly the union rule
    ``P(DS ≥ k) = 1 − Π_h (1 − P_h(DS ≥ k))`` (the HAZUS-MH multi-hazard combination of
    independent damage). Damage does not accumulate: an aftershock does not weaken an asset
    already damaged by the mainshock (a lower bound; state-dependent fragility is not modelled).
    :func:`damage_drivers` says which hazard produced each asset's state and, per unit, which
    hazard drove most of the damage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rescity.errors import InputError

TYPHOON_HAZARDS: tuple[str, ...] = ("wind", "rain", "flood", "landslide", "surge")


def parse_hazards(text: Union[str, Sequence[str]]) -> list[str]:
    """``"wind,rain,flood"`` → ``["wind", "rain", "flood"]``; flood and landslide bring rain with them."""
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if not items:
        raise InputError("give at least one hazard", field="hazards", value=text)
    for h in items:
        if h not in TYPHOON_HAZARDS:
            raise InputError(f"unknown hazard; use any of {', '.join(TYPHOON_HAZARDS)}", field="hazards",
                             value=h)
    for needs_rain in ("flood", "landslide"):
        if needs_rain in items and "rain" not in items:
            items.insert(items.index(needs_rain), "rain")
    return list(dict.fromkeys(items))


class QuakeEvent(BaseModel):
    """One earthquake of a scenario (units: degrees, km, hours after the mainshock)."""

    model_config = ConfigDict(extra="forbid")

    lat: float
    lon: float
    depth_km: float
    mw: float
    strike: Optional[float] = None
    dip: Optional[float] = None
    rake: Optional[float] = None
    mechanism: str = "unspecified"
    name: str = ""
    delay_h: float = Field(0.0, ge=0.0)

    @classmethod
    def parse(cls, text: str, **kwargs: Any) -> QuakeEvent:
        """``"lat,lon,depth_km,Mw"`` (the ``--quake`` form)."""
        from rescity.hazard.earthquake import EarthquakeSource

        s = EarthquakeSource.parse(text)
        return cls(lat=s.lat, lon=s.lon, depth_km=s.depth_km, mw=s.mw, **kwargs)

    def source(self) -> Any:
        """The :class:`rescity.hazard.earthquake.EarthquakeSource` (validated)."""
        from rescity.hazard.earthquake import EarthquakeSource

        return EarthquakeSource(lon=self.lon, lat=self.lat, depth_km=self.depth_km, mw=self.mw,
                                strike=self.strike, dip=self.dip, rake=self.rake, mechanism=self.mechanism,
                                name=self.name)


class EarthquakeScenario(BaseModel):
    """A mainshock with optional aftershocks.

    ``region`` defaults to BSSA14's ``china_turkey`` anelastic attenuation for a scenario in China
    (the low-level functions and ``rescity quake`` default to the model's ``global`` form).
    ``vs30``: a number, a CSV/GeoTIFF path, or ``None`` for the per-unit default from urban share.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["earthquake"] = "earthquake"
    mainshock: QuakeEvent
    aftershocks: list[QuakeEvent] = Field(default_factory=list)
    gmpe: str = "bssa14"
    region: str = "china_turkey"
    vs30: Union[float, str, None] = None
    correlation: Literal["jb2009", "none"] = "jb2009"
    grid_km: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> EarthquakeScenario:
        from rescity.hazard import gmpe as models

        model = models.get(self.gmpe)
        if self.region not in model.REGIONS:
            raise InputError(f"unknown region for {self.gmpe}; use one of {', '.join(model.REGIONS)}",
                             field="region", value=self.region)
        for ev in self.events():
            src = ev.source()
            model.check_source(src.mw, src.mechanism)
        return self

    def events(self) -> list[QuakeEvent]:
        """Mainshock first, then aftershocks in time order."""
        return [self.mainshock] + sorted(self.aftershocks, key=lambda e: e.delay_h)


class TyphoonScenario(BaseModel):
    """A typhoon and the hazards computed from it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["typhoon"] = "typhoon"
    sn: Optional[str] = None
    track_file: Optional[Path] = None
    hazards: list[str] = Field(default_factory=lambda: ["wind", "rain"])
    drainage_rp: float = Field(1.0, gt=0, description="design return period of drains, years")
    dem: Optional[Path] = None
    stations_file: Optional[Path] = None
    river_reach_km: float = Field(5.0, gt=0)
    surge_shelf_depth_m: float = Field(30.0, gt=0)

    @field_validator("hazards", mode="before")
    @classmethod
    def _hazards(cls, v: Any) -> list[str]:
        return parse_hazards(v)

    @model_validator(mode="after")
    def _one_track(self) -> TyphoonScenario:
        if (self.sn is None) == (self.track_file is None):
            raise InputError("give exactly one of a storm number (sn) or a track file", field="sn",
                             value=self.sn)
        return self


class Scenario(BaseModel):
    """A named scenario of one hazard family; damage combined by :func:`combine_damage`."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    hazard: Annotated[Union[TyphoonScenario, EarthquakeScenario], Field(discriminator="kind")]
    combine: Literal["max"] = "max"

    @classmethod
    def from_cli(
        cls,
        *,
        sn: Optional[str] = None,
        track_file: Optional[Path] = None,
        hazards: Optional[str] = None,
        quake: Optional[str] = None,
        aftershocks: Sequence[str] = (),
        **options: Any,
    ) -> Scenario:
        """Build from ``rescity run`` options: ``--sn/--track --hazards`` or ``--quake [--aftershock…]``.

        Bad input raises :class:`InputError` (never a pydantic error), so the CLI prints one line.
        """
        try:
            return cls._from_cli(sn=sn, track_file=track_file, hazards=hazards, quake=quake,
                                 aftershocks=aftershocks, **options)
        except ValidationError as e:
            raise as_input_error(e) from None

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Scenario:
        """Validate a scenario from a mapping (e.g. parsed YAML); errors as :class:`InputError`."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise as_input_error(e) from None

    @classmethod
    def _from_cli(
        cls,
        *,
        sn: Optional[str],
        track_file: Optional[Path],
        hazards: Optional[str],
        quake: Optional[str],
        aftershocks: Sequence[str],
        **options: Any,
    ) -> Scenario:
        if quake is not None:
            if sn is not None or track_file is not None:
                raise InputError("a run is either a typhoon (--sn/--track) or an earthquake (--quake)",
                                 field="quake", value=quake)
            ev = EarthquakeScenario(
                mainshock=QuakeEvent.parse(quake, name="mainshock"),
                aftershocks=[QuakeEvent.parse(a, name=f"aftershock{i + 1}", delay_h=float(i + 1))
                             for i, a in enumerate(aftershocks)],
                **options,
            )
            return cls(name=f"quake M{ev.mainshock.mw:g}", hazard=ev)
        ty = TyphoonScenario(sn=sn, track_file=track_file, hazards=hazards or "wind,rain", **options)
        return cls(name=f"typhoon {sn or Path(str(track_file)).stem}", hazard=ty)


def as_input_error(e: ValidationError) -> InputError:
    """The first problem of a pydantic validation error, as an :class:`InputError`."""
    err = e.errors()[0]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, InputError):
        return inner
    loc = ".".join(str(p) for p in err.get("loc", ()))
    value = err.get("input")
    return InputError(err.get("msg", str(e)), field=loc or None,
                      value=value if isinstance(value, (str, int, float)) else None)


def _event_seed(seed: int, index: int) -> int:
    """Independent integer seed for event ``index`` of a sequence."""
    return int(np.random.SeedSequence(seed, spawn_key=(0x51A4E, index)).generate_state(1)[0])


def earthquake_fields(
    scenario: EarthquakeScenario,
    lon: np.ndarray,
    lat: np.ndarray,
    realisations: int,
    seed: int,
    *,
    urban_share: Optional[np.ndarray] = None,
    first: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Sampled ground-motion fields of every event (mainshock first), each ``(R, n_sites)``.

    Events use independent streams derived from ``seed`` and their position in
    :meth:`EarthquakeScenario.events`; realisation ``r`` of an event does not depend on chunking.
    """
    from rescity.hazard.earthquake import sample_ground_motion

    out = []
    for i, ev in enumerate(scenario.events()):
        out.append(sample_ground_motion(
            ev.source(), lon, lat, scenario.vs30, realisations, _event_seed(seed, i), scenario.correlation,
            gmpe=scenario.gmpe, region=scenario.region, urban_share=urban_share, grid_km=scenario.grid_km,
            first=first,
        ))
    return out


def flood_fields(
    scenario: TyphoonScenario,
    rain_mm: np.ndarray,
    rain_rate_mmh: np.ndarray,
    cells: pd.DataFrame,
    *,
    cell_elevation_m: Optional[np.ndarray] = None,
) -> dict[str, Any]:
    """Flood depth per cell from precomputed typhoon rain (and rivers when a stations file is set).

    ``rain_mm``/``rain_rate_mmh`` are the storm total and peak hourly rate per cell (from the
    typhoon rain model). Returns the :func:`rescity.hazard.flood.pluvial_depth` result with
    ``flood_depth_m`` the maximum of pluvial, gauged-river and rain-river
    (:func:`rescity.hazard.flood.rain_river_depth`) depths, plus ``pluvial_depth_m``,
    ``river_depth_m`` and ``rain_river_depth_m``; ``proxy`` is True when either part used a proxy.
    """
    from rescity.hazard import flood

    res = flood.pluvial_depth(rain_mm, rain_rate_mmh, cells, drainage_rp=scenario.drainage_rp,
                              dem=scenario.dem)
    res["pluvial_depth_m"] = res["flood_depth_m"]
    river = np.zeros(len(cells))
    if scenario.stations_file is not None:
        stations = pd.read_csv(scenario.stations_file)
        z = cell_elevation_m
        if z is None and scenario.dem is not None:
            z = flood.sample_dem(scenario.dem, cells["lon"].to_numpy(float), cells["lat"].to_numpy(float))
        rv = flood.river_depth(cells["lon"], cells["lat"], stations, z, scenario.river_reach_km)
        river = rv["flood_depth_m"]
        res["proxy"] = bool(res["proxy"] or rv["proxy"])
    res["river_depth_m"] = river
    res["rain_river_depth_m"] = flood.rain_river_depth(rain_mm, rain_rate_mmh, cells)["flood_depth_m"]
    res["flood_depth_m"] = flood.combine_depths(res["pluvial_depth_m"], river, res["rain_river_depth_m"])
    return res


def combine_damage(states: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Combine damage states (int8, same shape, e.g. ``(R, n_assets)``) of several hazards/events.

    Returns ``(combined, driver)``: the per-element maximum state, and the index (into the order
    of ``states``) of the hazard that produced it — the first one on ties — or −1 where no hazard
    did any damage.
    """
    if not states:
        raise InputError("no damage states to combine", field="states")
    names = list(states)
    stack = np.stack([np.asarray(states[h], dtype=np.int8) for h in names])
    combined = stack.max(axis=0)
    driver = np.argmax(stack, axis=0).astype(np.int8)
    driver[combined == 0] = -1
    return combined, driver


def damage_drivers(
    states: Mapping[str, np.ndarray],
    asset_unit: np.ndarray,
    n_units: int,
) -> pd.DataFrame:
    """Which hazard drove the damage in each unit.

    For each unit, the share of its damage (sum over realisations and assets of the combined
    damage state) attributed to each hazard, and the hazard with the largest share (``""`` where
    nothing was damaged). ``asset_unit`` gives the unit position of each asset (last axis of the
    state arrays).
    """
    names = list(states)
    combined, driver = combine_damage(states)
    unit = np.broadcast_to(np.asarray(asset_unit, dtype=np.int64), combined.shape)
    hit = driver >= 0
    flat = unit[hit] * len(names) + driver[hit].astype(np.int64)
    w = np.bincount(flat, weights=combined[hit].astype(float), minlength=n_units * len(names))
    w = w.reshape(n_units, len(names))
    total = w.sum(axis=1)
    share = np.divide(w, total[:, None], out=np.zeros_like(w), where=total[:, None] > 0)
    top = np.where(total > 0, np.array(names, dtype=object)[np.argmax(w, axis=1)], "")
    df = pd.DataFrame(share, columns=[f"share_{h}" for h in names])
    df.insert(0, "driver", top)
    df.insert(1, "damage_points", total)
    return df
