"""Scenarios that combine hazards, and the rule that combines their damage.

:class:`EarthquakeScenario` — a mainshock and optional aftershocks, each an
:class:`~rescity.hazard.earthquake.EarthquakeSource` (the one earthquake source type) — and
:func:`earthquake_fields`, their sampled ground motion. A whole run (typhoon or earthquake,
twin, realisations, recovery) is described by :class:`rescity.run.config.RunConfig`.

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
from typing import Any, Literal, Optional, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rescity.errors import InputError
from rescity.hazard.earthquake import EarthquakeSource


class EarthquakeScenario(BaseModel):
    """A mainshock with optional aftershocks.

    ``region`` defaults to BSSA14's ``china_turkey`` anelastic attenuation for a scenario in China
    (the low-level functions and ``rescity quake`` default to the model's ``global`` form).
    ``vs30``: a number, a CSV/GeoTIFF path, or ``None`` for the per-unit default from urban share.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["earthquake"] = "earthquake"
    mainshock: EarthquakeSource
    aftershocks: list[EarthquakeSource] = Field(default_factory=list)
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
            model.check_source(ev.mw, ev.mechanism)
        return self

    @classmethod
    def from_text(cls, quake: str, aftershocks: Sequence[str] = (), **options: Any) -> EarthquakeScenario:
        """From the ``--quake "lat,lon,depth_km,Mw"`` form and ``--aftershock`` strings (one hour
        apart, in the order given)."""
        return cls(
            mainshock=EarthquakeSource.parse(quake, name="mainshock"),
            aftershocks=[EarthquakeSource.parse(a, name=f"aftershock{i + 1}", delay_h=float(i + 1))
                         for i, a in enumerate(aftershocks)],
            **options,
        )

    def events(self) -> list[EarthquakeSource]:
        """Mainshock first, then aftershocks in time order."""
        return [self.mainshock] + sorted(self.aftershocks, key=lambda e: e.delay_h)


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
            ev, lon, lat, scenario.vs30, realisations, _event_seed(seed, i), scenario.correlation,
            gmpe=scenario.gmpe, region=scenario.region, urban_share=urban_share, grid_km=scenario.grid_km,
            first=first,
        ))
    return out


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
