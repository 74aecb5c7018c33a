"""The hazards rescity models, each declared once.

A :class:`Hazard` says what a hazard is called, which intensity measures it produces (with
units), where it is evaluated (the sites it needs), which fragility hazard and measure it feeds,
and how its measures are summarised per unit in tables, reports and maps. The CLI's
``--hazards`` choices, the run configuration, the fragility library, the scenario tables and the
dashboard read :data:`HAZARDS` instead of keeping their own lists.

Adding a hazard: write its model (a module in :mod:`rescity.hazard`), add one entry here, add
its evaluation to :func:`rescity.hazard.event.typhoon_event` (or its own event function) and,
when it brings a new measure, the fragility curves that use it (packaged library data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

from rescity.errors import InputError


@dataclass(frozen=True)
class Measure:
    """An intensity measure: name (carries the unit), unit, description, its per-unit summary
    column in ``units.csv`` with the aggregation over a unit's cells (``max``/``mean``), and how
    reports show that column, ``(label, digits, colour map)`` (``None``: not shown)."""

    name: str
    unit: str
    description: str
    column: str | None = None
    how: str = "max"
    display: tuple[str, int, str] | None = None


@dataclass(frozen=True)
class Hazard:
    """One hazard.

    ``family``: the event that causes it (``typhoon`` or ``earthquake``); ``sites``: where it is
    evaluated (``assets+cells``: every asset and every cell centroid); ``needs``: hazards whose
    fields it is computed from; ``fragility_hazard``/``fragility_measure``: the fragility curves it
    feeds (the ``hazard``/``measure`` columns of the fragility library) — surge feeds the flood
    depth–damage curves through ``flood_depth_m``; ``exposure``: the measure (share 0–1 of a site
    that the hazard reaches, e.g. ``flood_fraction``) that the engine takes as the probability
    that an asset is exposed to its fragility hazard, instead of an intensity.
    """

    name: str
    family: str
    measures: tuple[Measure, ...]
    fragility_hazard: str
    fragility_measure: str | tuple[str, ...]
    description: str
    sites: str = "assets+cells"
    needs: tuple[str, ...] = field(default_factory=tuple)
    colour: str = "#888888"
    exposure: str | None = None

    @property
    def measure_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.measures)


HAZARDS: dict[str, Hazard] = {
    h.name: h
    for h in (
        Hazard(
            "wind",
            "typhoon",
            (
                Measure("wind_ms", "m/s", "peak 1-min mean wind at 10 m", "wind_max_ms",
                        display=("peak 1-min wind (m/s)", 1, "YlOrRd")),
                Measure("gust_ms", "m/s", "peak 3-s gust at 10 m", "gust_max_ms",
                        display=("peak 3-s gust (m/s)", 1, "YlOrRd")),
            ),
            "wind",
            ("gust_ms", "wind_ms"),
            "typhoon wind, Holland (1980/2008) profile with translation asymmetry and gust factor",
            colour="#1f77b4",
        ),
        Hazard(
            "rain",
            "typhoon",
            (
                Measure("rain_mm", "mm", "storm total rainfall", "rain_mm", "mean",
                        display=("storm rain, areal mean (mm)", 0, "Blues")),
                Measure("rain_rate_mmh", "mm/h", "peak hourly rain rate"),
            ),
            "rain",
            ("rain_mm", "rain_rate_mmh"),
            "parametric typhoon rain",
            colour="#2ca02c",
        ),
        Hazard(
            "flood",
            "typhoon",
            (
                Measure("flood_depth_m", "m", "peak flood depth above ground", "flood_depth_max_m",
                        display=("peak flood depth (m)", 2, "PuBu")),
                Measure("flood_fraction", "1", "share of the site that floods"),
            ),
            "flood",
            "flood_depth_m",
            "pluvial flood from the storm rain (SCS-CN runoff, drainage capacity) and rivers above warning stage",
            needs=("rain",),
            colour="#17becf",
            exposure="flood_fraction",
        ),
        Hazard(
            "landslide",
            "typhoon",
            (
                Measure("landslide_ratio", "1",
                        "storm mean rain intensity over the landslide intensity-duration threshold of its duration",
                        "landslide_ratio_max",
                        display=("landslide threshold exceedance I/I_c", 2, "Oranges")),
                Measure("landslide_share", "1", "share of the site's assets that a triggered slide can reach"),
            ),
            "landslide",
            "landslide_ratio",
            "rain-triggered landslides and debris flows: Caine (1980) intensity-duration threshold, "
            "susceptible share by terrain class (mountain, hilly, plain counties) and asset kind",
            needs=("rain",),
            colour="#8c564b",
            exposure="landslide_share",
        ),
        Hazard(
            "surge",
            "typhoon",
            (Measure("surge_depth_m", "m", "peak storm-surge depth above ground", "surge_depth_max_m",
                     display=("peak storm-surge depth (m)", 2, "PuBu")),),
            "flood",
            "flood_depth_m",
            "storm surge: inverse barometer + wind setup at landfall, decaying along and inland from the "
            "packaged coastline (Natural Earth 1:10m)",
            colour="#9467bd",
        ),
        Hazard(
            "earthquake",
            "earthquake",
            (
                Measure("pga_g", "g", "peak ground acceleration", "pga_max_g",
                        display=("PGA, median (g)", 3, "OrRd")),
                Measure("pgv_cms", "cm/s", "peak ground velocity", "pgv_max_cms"),
                Measure("sa03_g", "g", "5 %-damped spectral acceleration at 0.3 s", "sa03_max_g"),
                Measure("sa10_g", "g", "5 %-damped spectral acceleration at 1.0 s", "sa10_max_g",
                        display=("SA(1.0 s), median (g)", 3, "OrRd")),
                Measure("pipe_repairs", "count", "expected repairs on a pipe segment (ALA 2001)"),
            ),
            "earthquake",
            ("pga_g", "pgv_cms", "sa03_g", "sa10_g", "pipe_repairs"),
            "ground shaking: finite-fault source, BSSA14 ground motion with spatial correlation",
            colour="#d62728",
        ),
    )
}

#: Hazards that follow from a typhoon track, in display order.
TYPHOON_HAZARDS: tuple[str, ...] = tuple(n for n, h in HAZARDS.items() if h.family == "typhoon")
#: Default hazards of a typhoon run.
DEFAULT_TYPHOON_HAZARDS: tuple[str, ...] = ("wind", "rain", "flood", "landslide")
#: Hazards a fragility curve may belong to (the ``hazard`` column of the fragility library).
FRAGILITY_HAZARDS: tuple[str, ...] = tuple(dict.fromkeys(h.fragility_hazard for h in HAZARDS.values()))


def get(name: str) -> Hazard:
    """The hazard called ``name``; an :class:`InputError` listing the known ones otherwise."""
    try:
        return HAZARDS[name]
    except KeyError:
        raise InputError(f"unknown hazard; choose from {', '.join(HAZARDS)}", field="hazards",
                         value=name) from None


def parse_hazards(text: Union[str, Sequence[str]], family: str = "typhoon", field: str = "hazards") -> tuple[str, ...]:
    """``"wind,rain,flood"`` (or a list) → ``("wind", "rain", "flood")``, checked against the
    registry and the event ``family``; duplicates dropped, order kept."""
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if str(t).strip()]
    allowed = tuple(n for n, h in HAZARDS.items() if h.family == family)
    if not items:
        raise InputError(f"give at least one hazard of {', '.join(allowed)}", field=field,
                         value=text if isinstance(text, str) else ",".join(text))
    for h in items:
        if h not in allowed:
            raise InputError(f"unknown hazard; choose from {', '.join(allowed)}", field=field, value=h)
    return tuple(dict.fromkeys(items))


def exposure_measures() -> dict[str, str]:
    """Exposure measures → the fragility hazard whose exposure they are
    (``{"flood_fraction": "flood", "landslide_share": "landslide"}``)."""
    return {h.exposure: h.fragility_hazard for h in HAZARDS.values() if h.exposure}


def measures() -> dict[str, Measure]:
    """Every intensity measure of every hazard, by name."""
    return {m.name: m for h in HAZARDS.values() for m in h.measures}


def summary_columns() -> dict[str, tuple[str, str]]:
    """Per-unit hazard summary of ``units.csv``: column → (measure, ``max``/``mean`` over cells)."""
    return {m.column: (m.name, m.how) for h in HAZARDS.values() for m in h.measures if m.column}


def display_columns() -> dict[str, tuple[str, int, str]]:
    """Summary columns reports show in tables and maps: column → (label, digits, colour map)."""
    return {m.column: m.display for h in HAZARDS.values() for m in h.measures if m.column and m.display}


def as_table() -> list[dict[str, object]]:
    """The registry as plain rows (for the API and the dashboard)."""
    return [
        {
            "name": h.name,
            "family": h.family,
            "description": h.description,
            "sites": h.sites,
            "needs": list(h.needs),
            "fragility_hazard": h.fragility_hazard,
            "exposure": h.exposure,
            "colour": h.colour,
            "measures": [
                {"name": m.name, "unit": m.unit, "description": m.description, "column": m.column,
                 "label": m.display[0] if m.display else None}
                for m in h.measures
            ],
        }
        for h in HAZARDS.values()
    ]
