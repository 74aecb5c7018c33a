"""Risk indicators of one simulated event, per unit.

From an engine result (people without service, homes damaged, per-asset damage states) and the
hazard at the cells, this module derives the forecast indicators:

``relocate``
    people to relocate (population risk): residents of damaged homes plus pre-emptive
    relocation, ``P · s_max · max(Φ(ln(w/w50)/β_w), Φ(ln(r/r50)/β_r)) + H · h``, capped at the
    population ``P``; ``w`` the peak 1-min wind (m/s), ``r`` the storm rain (mm), ``H`` homes
    damaged, ``h`` people per household. The lognormal response curves mirror fragility curves;
    their defaults (:class:`IndicatorParams`) are rescity assumptions to be calibrated
    (``rescity calibrate``).
``homes_damaged``
    homes (households) damaged, from the engine.
``roads_impassable``
    road segments, bridges and tunnels in damage state ≥ ``impassable_ds`` (moderate: HAZUS
    functionality of bridges and roads drops to closed or restricted for days at moderate damage).
``people_cut_off``
    people without road access, from the engine.
``power_outage_households``
    people without power divided by people per household.
``affected``
    people affected (受灾人口), from the engine.
``economic_loss_cny``
    direct economic loss: ``Σ_a replacement_cost_a · DR(ds_a)`` over assets (damage ratios per
    damage state, packaged ``damage_ratios.csv``, HAZUS) plus homes damaged × home value × home
    damage ratio.

All arrays are ``(R, n_units)``. Engine arrays are read on the rows of the twin's base level
(the finest level present, normally ``cell``) and rolled up to every ancestor with the one unit roll-up of :mod:`rescity.engine.aggregate`
(:func:`~rescity.engine.aggregate.rollup`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from rescity.engine.aggregate import asset_unit_matrix as asset_unit_matrix
from rescity.engine.aggregate import rollup as rollup
from rescity.errors import InputError

#: Indicators produced per member, in output order (``composite`` is added by the issuance).
INDICATORS: tuple[str, ...] = (
    "relocate",
    "homes_damaged",
    "roads_impassable",
    "people_cut_off",
    "power_outage_households",
    "affected",
    "economic_loss_cny",
)
#: Road asset kinds that are links a vehicle crosses (counted by ``roads_impassable``).
ROAD_LINK_KINDS: tuple[str, ...] = ("expressway", "national_road", "local_road", "bridge", "tunnel")
_LEVEL_ORDER = ("province", "prefecture", "county", "cell")


@dataclass
class IndicatorParams:
    """Documented parameters of the indicator models (defaults are rescity assumptions).

    Attributes
    ----------
    relocate_max_share:
        Largest share of residents relocated pre-emptively (people in weak housing, low-lying and
        coastal areas), 0–1.
    relocate_wind_median_ms, relocate_wind_beta:
        Peak 1-min wind (m/s) at which half that share is relocated (24.5 m/s is Beaufort force
        10), and the lognormal dispersion.
    relocate_rain_median_mm, relocate_rain_beta:
        Storm rain (mm) at which half that share is relocated (250 mm in 24 h is China's
        "extraordinary rainstorm" class, GB/T 28592-2012), and the dispersion.
    gust_factor:
        Peak gust / 1-min mean wind, used only when the hazard gives gusts and no mean wind.
    impassable_ds:
        Damage state from which a road link is impassable (2 = moderate).
    home_value_cny:
        Replacement cost of one home, CNY (assumption: about 100 m² at about 3 000 CNY/m²).
    home_damage_ratio:
        Mean repair-cost ratio of a damaged home (the HAZUS moderate range 0.10–0.40).
    """

    relocate_max_share: float = 0.08
    relocate_wind_median_ms: float = 25.0
    relocate_wind_beta: float = 0.25
    relocate_rain_median_mm: float = 250.0
    relocate_rain_beta: float = 0.35
    gust_factor: float = 1.4
    impassable_ds: int = 2
    home_value_cny: float = 300_000.0
    home_damage_ratio: float = 0.25

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> IndicatorParams:
        """Parameters from a dict (unknown keys are ignored; they may belong to the engine)."""
        if not d:
            return cls()
        known = set(asdict(cls()))
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------------------------------------
# unit helpers


def base_level(twin) -> str:
    """The finest unit level present in the twin (``cell`` normally)."""
    present = set(twin.units["level"])
    for lv in reversed(_LEVEL_ORDER):
        if lv in present:
            return lv
    raise InputError("the twin has no units", field="units")


def people_per_household(twin) -> np.ndarray:
    """People per household per unit (population / households; 2.5 where households are 0)."""
    pop = twin.units["population"].to_numpy(float)
    hh = twin.units["households"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(hh > 0, pop / np.maximum(hh, 1), 2.5)
    return h


# ---------------------------------------------------------------------------------------------
# damage ratios and economic loss


@lru_cache(maxsize=2)
def _packaged_ratios() -> pd.DataFrame:
    return pd.read_csv(str(files("rescity.forecast.data") / "damage_ratios.csv"))


def damage_ratio_matrix(twin, ratios: pd.DataFrame | None = None) -> np.ndarray:
    """``(n_assets, 5)`` damage ratios per asset and damage state (column 0 = none = 0).

    The most specific row of ``ratios`` wins: (system, kind) over (system, ``*``) over (``*``, ``*``).
    With the packaged table it is kept on the twin (:meth:`~rescity.twin.model.Twin.derived`).
    """
    if ratios is None:
        return twin.derived(("forecast", "damage_ratios"), lambda: _damage_ratio_matrix(twin, _packaged_ratios())).copy()
    return _damage_ratio_matrix(twin, ratios)


def _damage_ratio_matrix(twin, r: pd.DataFrame) -> np.ndarray:
    need = {"system", "kind", "ds1", "ds2", "ds3", "ds4"}
    if need - set(r.columns):
        raise InputError(f"damage-ratio table lacks {sorted(need - set(r.columns))}", field="ratios")
    a = twin.assets
    out = np.full((len(a), 5), np.nan)
    out[:, 0] = 0.0
    vals = {
        (s, k): row[["ds1", "ds2", "ds3", "ds4"]].to_numpy(float)
        for (s, k), row in r.set_index(["system", "kind"]).iterrows()
    }
    sys_ = a["system"].to_numpy(object)
    kind = a["kind"].to_numpy(object)
    for key in (
        [("*", "*")] + [k for k in vals if k[0] != "*" and k[1] == "*"] + [k for k in vals if k[1] != "*"]
    ):
        if key not in vals:
            continue
        s, k = key
        m = np.ones(len(a), bool)
        if s != "*":
            m &= sys_ == s
        if k != "*":
            m &= kind == k
        out[m, 1:] = vals[key]
    if np.isnan(out).any():
        raise InputError("some assets have no damage ratio (add a '*,*' row)", field="ratios")
    return out


def economic_loss(
    twin,
    states: np.ndarray,
    ratios: pd.DataFrame | None = None,
    *,
    rollup_levels: bool = True,
) -> np.ndarray:
    """Direct economic loss of damaged assets, CNY, ``(R, n_units)``.

    ``loss_u = Σ_{a in u} replacement_cost_cny_a · DR_a(ds_a)`` with ``states`` an ``(R,
    n_assets)`` int8 array of damage states 0…4 and DR the damage ratios
    (:func:`damage_ratio_matrix`). Summed into the unit each asset stands in and, when
    ``rollup_levels``, into every ancestor unit.
    """
    s = np.asarray(states)
    if s.ndim == 1:
        s = s[None, :]
    if s.shape[1] != twin.n_assets:
        raise InputError(
            f"damage states have {s.shape[1]} assets, the twin {twin.n_assets}", field="states", value=s.shape
        )
    if s.size and (s.min() < 0 or s.max() > 4):
        raise InputError("damage states must be 0…4", field="states")
    p = asset_unit_matrix(twin)
    if s.size:
        # cost × ratio of every (asset, state), then each asset's state picked: (n_assets, R),
        # the C-ordered layout the sparse product reads (the same products as cost × picked ratio)
        table = _loss_by_state(twin) if ratios is None else _cost_times(twin, damage_ratio_matrix(twin, ratios))
        at = 5 * np.arange(s.shape[1])[:, None] + s.T.astype(np.int64)
        by_unit = np.asarray((p @ table.ravel()[at]).T)
    else:
        by_unit = np.asarray((p @ np.zeros_like(s, float).T).T)
    return rollup(twin, by_unit) if rollup_levels else by_unit


def _cost_times(twin, dr: np.ndarray) -> np.ndarray:
    """``(n_assets, 5)`` replacement cost (CNY) × damage ratio of each damage state."""
    return twin.assets["replacement_cost_cny"].to_numpy(float)[:, None] * dr


def _loss_by_state(twin) -> np.ndarray:
    """:func:`_cost_times` of the packaged damage ratios, kept on the twin; read-only."""

    def build() -> np.ndarray:
        t = _cost_times(twin, damage_ratio_matrix(twin))
        t.flags.writeable = False
        return t

    return twin.derived(("forecast", "loss_by_state"), build)


def road_link_mask(twin) -> np.ndarray:
    """Assets that are road links (segments, bridges, tunnels), kept on the twin; read-only."""

    def build() -> np.ndarray:
        a = twin.assets
        m = ((a["system"] == "road") & a["kind"].isin(ROAD_LINK_KINDS)).to_numpy()
        m.flags.writeable = False
        return m

    return twin.derived(("forecast", "road_links"), build)


def road_links_impassable(twin, states: np.ndarray, impassable_ds: int = 2) -> np.ndarray:
    """Road links (segments, bridges, tunnels) in damage state ≥ ``impassable_ds``, ``(R, n_units)``."""
    link = road_link_mask(twin)
    s = np.asarray(states)
    if s.ndim == 1:
        s = s[None, :]
    # counted per unit: sums of ones are exact in any order, so these are the numbers of the
    # sparse product ``(P @ x.T).T`` (asset_unit_matrix), in its memory layout
    r, a = np.nonzero((s >= impassable_ds) & link[None, :])
    n_u = twin.n_units
    counts = np.bincount(_asset_unit(twin)[a] * s.shape[0] + r, minlength=n_u * s.shape[0])
    return counts.reshape(n_u, s.shape[0]).astype(float).T


def _asset_unit(twin) -> np.ndarray:
    """Row of the unit each asset stands in (the nonzero of its column of
    :func:`asset_unit_matrix`), kept on the twin; read-only."""

    def build() -> np.ndarray:
        p = asset_unit_matrix(twin).tocsc()
        p.sort_indices()
        if not np.array_equal(np.diff(p.indptr), np.ones(p.shape[1], np.int64)):
            raise InputError("an asset stands in no unit or several", field="unit_id")
        u = p.indices.astype(np.int64)
        u.flags.writeable = False
        return u

    return twin.derived(("forecast", "asset_unit"), build)


# ---------------------------------------------------------------------------------------------
# indicators of one simulation


def _get(result, name: str):
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def _on_units(twin, arr, base_mask: np.ndarray, name: str) -> np.ndarray:
    """An intensity or engine array as ``(…, n_units)``: accepts ``n_units`` or base-unit length."""
    x = np.asarray(arr, float)
    n = twin.n_units
    nb = int(base_mask.sum())
    if x.shape[-1] == n:
        return x
    if x.shape[-1] == nb:
        out = np.zeros(x.shape[:-1] + (n,))
        out[..., base_mask] = x
        return out
    raise InputError(f"{name} has {x.shape[-1]} columns; expected {n} units or {nb} base units", field=name)


def relocation_share(
    cell_intensity: dict[str, np.ndarray] | None, params: IndicatorParams
) -> np.ndarray | float:
    """Pre-emptive relocation share ``s_max · max(Φ_wind, Φ_rain)`` from peak wind and storm rain."""
    if not cell_intensity:
        return 0.0
    p = params
    parts = []
    w = cell_intensity.get("wind_ms")
    if w is None and cell_intensity.get("gust_ms") is not None:
        w = np.asarray(cell_intensity["gust_ms"], float) / p.gust_factor
    if w is not None:
        w = np.asarray(w, float)
        with np.errstate(divide="ignore"):
            parts.append(ndtr(np.log(np.maximum(w, 1e-9) / p.relocate_wind_median_ms) / p.relocate_wind_beta))
    r = cell_intensity.get("rain_mm")
    if r is not None:
        r = np.asarray(r, float)
        with np.errstate(divide="ignore"):
            parts.append(ndtr(np.log(np.maximum(r, 1e-9) / p.relocate_rain_median_mm) / p.relocate_rain_beta))
    if not parts:
        return 0.0
    return p.relocate_max_share * np.maximum.reduce(np.broadcast_arrays(*parts))


def indicators_from_result(
    twin,
    result,
    cell_intensity: dict[str, np.ndarray] | None = None,
    params: IndicatorParams | dict | None = None,
    ratios: pd.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """Indicators ``{name: (R, n_units)}`` on base-level rows (others 0), not yet rolled up.

    ``result`` is an engine result (attributes or dict keys ``no_power``, ``no_road``,
    ``homes_damaged``, ``affected`` of shape ``(R, n_units)``, optional ``states`` ``(R,
    n_assets)`` and ``damaged_share`` ``{system: (R, n_units)}``); ``cell_intensity`` the hazard
    at the units (``wind_ms``/``gust_ms``, ``rain_mm``) with ``n_units`` or base-unit columns.
    """
    p = params if isinstance(params, IndicatorParams) else IndicatorParams.from_dict(params)
    lv = base_level(twin)
    base = (twin.units["level"] == lv).to_numpy()
    pop = twin.units["population"].to_numpy(float) * base
    hh_size = people_per_household(twin)

    def eng(name: str) -> np.ndarray | None:
        x = _get(result, name)
        if x is None:
            return None
        x = _on_units(twin, x, base, name)
        if x.ndim == 1:
            x = x[None, :]
        return x * base  # read on base rows only

    homes = eng("homes_damaged")
    no_road = eng("no_road")
    no_power = eng("no_power")
    affected = eng("affected")
    states = _get(result, "states")
    shapes = [x.shape[0] for x in (homes, no_road, no_power, affected) if x is not None]
    if states is not None:
        states = np.asarray(states)
        shapes.append(states.shape[0] if states.ndim == 2 else 1)
    r = max(shapes) if shapes else 1
    z = np.zeros((r, twin.n_units))

    def full(x):
        return z.copy() if x is None else np.broadcast_to(x, z.shape).astype(float)

    homes, no_road, no_power, affected = full(homes), full(no_road), full(no_power), full(affected)

    ci = None
    if cell_intensity:
        ci = {
            k: _on_units(twin, v, base, f"cell_intensity[{k}]")
            for k, v in cell_intensity.items()
            if k in ("wind_ms", "gust_ms", "rain_mm")
        }
    share = np.nan_to_num(relocation_share(ci, p))  # NaN on non-base rows (no intensity there)
    relocate = np.minimum(pop * share + homes * hh_size, pop) * base
    relocate = np.broadcast_to(relocate, z.shape).astype(float)

    if states is not None and states.size:
        st = states if states.ndim == 2 else states[None, :]
        roads = road_links_impassable(twin, st, p.impassable_ds)
        asset_loss = economic_loss(twin, st, ratios, rollup_levels=False)
    else:
        ds = _get(result, "damaged_share")
        road_share = None if ds is None else (ds.get("road") if isinstance(ds, dict) else None)
        if road_share is not None:
            link = road_link_mask(twin).astype(float)
            n_links = np.asarray(asset_unit_matrix(twin) @ link).ravel()
            roads = _on_units(twin, road_share, base, "damaged_share[road]") * n_links
        else:
            roads = z.copy()
        asset_loss = z.copy()
    roads = np.broadcast_to(roads, z.shape).astype(float)
    asset_loss = np.broadcast_to(asset_loss, z.shape).astype(float)
    econ = asset_loss + homes * p.home_value_cny * p.home_damage_ratio
    power_hh = no_power / hh_size[None, :]
    return {
        "relocate": relocate,
        "homes_damaged": homes,
        "roads_impassable": roads,
        "people_cut_off": no_road,
        "power_outage_households": power_hh,
        "affected": affected,
        "economic_loss_cny": econ,
    }
