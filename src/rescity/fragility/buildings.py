"""Buildings of a unit: earthquake damage, casualties and displaced people; flood loss ratios.

Buildings are not assets of the twin; each unit holds a building stock described by shares of
Chinese structure types (``data/building_stock_earthquake.csv``), each mapped to a HAZUS model
building type and design level (equivalent-PGA structural fragility, FEMA 2003 HAZUS-MH MR4
Tables 5.16a–d, β = 0.64). A unit's mix is ``u · urban_mix + (1 − u) · rural_mix`` with ``u`` its
urban share. The mixes are assumptions (the 2020 census long form reports housing by structure
but is not packaged); replace them with local survey shares where known.

Casualties (HAZUS-MH MR4 Ch. 13): indoor casualty rates by damage state and severity (1 injury
needing basic aid … 4 killed), with complete damage split into collapse
(``collapse_given_complete``) and no collapse. Displaced people (HAZUS-MH MR4 Ch. 14):
uninhabitable dwellings are all completely damaged ones and, in multi-family buildings, 90 % of
extensively damaged ones (single-family: 0 %); moderate damage displaces no one.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr

from rescity.errors import InputError

#: HAZUS-MH MR4 Ch. 14 weights of damage states in uninhabitable dwellings (moderate, extensive, complete).
UNINHABITABLE_WEIGHTS = {"single_family": (0.0, 0.0, 1.0), "multi_family": (0.0, 0.9, 1.0)}
JRC_USES = ("residential", "commercial", "industrial", "transport", "infrastructure_roads", "agriculture")


def _data(name: str) -> Path:
    return Path(str(files("rescity.fragility") / "data" / name))


@lru_cache(maxsize=1)
def building_stock() -> pd.DataFrame:
    """Structure types with their HAZUS curve, urban and rural mixes (shares sum to 1)."""
    return pd.read_csv(_data("building_stock_earthquake.csv"))


@lru_cache(maxsize=1)
def _curves() -> pd.DataFrame:
    return pd.read_csv(_data("curves_earthquake.csv"))


@lru_cache(maxsize=1)
def casualty_rates() -> pd.DataFrame:
    """HAZUS indoor casualty rates (% of occupants) by class, damage state (5 = collapse) and severity."""
    return pd.read_csv(_data("casualty_rates_earthquake.csv"))


def _medians_betas(curve_id: str) -> tuple[np.ndarray, np.ndarray]:
    c = _curves()
    rows = c[c["curve_id"] == curve_id].sort_values("ds")
    if len(rows) != 4:
        raise InputError("building curve must have four damage states", field="curve_id", value=curve_id)
    return rows["median"].to_numpy(float), rows["beta"].to_numpy(float)


def lognormal_exceedance(x: np.ndarray, medians: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """P[DS ≥ ds | x] = Φ(ln(x/median)/β) for each damage state, on a new last axis."""
    x = np.asarray(x, dtype=float)[..., None]
    with np.errstate(divide="ignore"):
        z = np.log(np.maximum(x, 1e-12) / medians) / betas
    p = ndtr(z)
    return np.maximum.accumulate(p[..., ::-1], axis=-1)[..., ::-1]  # keep P[≥ds] non-increasing


def stock_shares(urban_share: np.ndarray) -> np.ndarray:
    """Share of each structure type (columns in :func:`building_stock` order) per unit."""
    u = np.clip(np.asarray(urban_share, dtype=float), 0.0, 1.0)[..., None]
    s = building_stock()
    return u * s["urban_mix"].to_numpy(float) + (1.0 - u) * s["rural_mix"].to_numpy(float)


def earthquake_building_impacts(
    pga_g: np.ndarray,
    urban_share: np.ndarray,
    population: np.ndarray,
    occupancy: float = 1.0,
) -> dict[str, np.ndarray]:
    """Expected building damage, casualties and displaced people per unit.

    Parameters
    ----------
    pga_g:
        PGA at each unit (g), shape ``(n_units,)`` or ``(realisations, n_units)``.
    urban_share, population:
        Per unit, shape ``(n_units,)``.
    occupancy:
        Share of the population indoors (1.0: a night-time event, HAZUS' residential 2 a.m. case).

    Returns
    -------
    dict
        ``p_ds``: (…, n_units, 5) stock-weighted probability of damage states 0–4;
        ``casualties``: (…, n_units, 4) people by severity 1–4; ``deaths`` (severity 4);
        ``displaced``: people in uninhabitable dwellings.
    """
    pga = np.asarray(pga_g, dtype=float)
    pop = np.asarray(population, dtype=float)
    shares = stock_shares(urban_share)  # (n, T)
    stock = building_stock()
    rates = casualty_rates().set_index(["hazus_class", "ds"])
    p_ds = np.zeros(pga.shape + (5,))
    cas = np.zeros(pga.shape + (4,))
    unhab = np.zeros(pga.shape)
    sev_cols = ["severity1_pct", "severity2_pct", "severity3_pct", "severity4_pct"]
    for t, row in enumerate(stock.itertuples(index=False)):
        med, beta = _medians_betas(row.curve_id)
        exc = lognormal_exceedance(pga, med, beta)  # (..., n, 4)
        p = np.concatenate([1.0 - exc[..., :1], exc[..., :-1] - exc[..., 1:], exc[..., -1:]], axis=-1)
        w = shares[..., t]
        p_ds += w[..., None] * p
        r = np.array([rates.loc[(row.hazus_class, ds), sev_cols].to_numpy(float) for ds in range(1, 6)])
        r = r / 100.0
        pc = float(rates.loc[(row.hazus_class, 4), "collapse_given_complete"])
        per_ds = np.vstack([r[:3], (1.0 - pc) * r[3] + pc * r[4]])  # (4 ds, 4 severities)
        cas += w[..., None] * (p[..., 1:] @ per_ds)
        wm, we, wc = UNINHABITABLE_WEIGHTS["multi_family" if row.multi_family else "single_family"]
        unhab += w * (wm * p[..., 2] + we * p[..., 3] + wc * p[..., 4])
    people = pop * occupancy
    casualties = cas * people[..., None]
    return {
        "p_ds": p_ds,
        "casualties": casualties,
        "deaths": casualties[..., 3],
        "displaced": unhab * pop,
    }


@lru_cache(maxsize=1)
def _jrc() -> pd.DataFrame:
    t = pd.read_csv(_data("tables_flood_jrc.csv"))
    return t[t["ds"] == 1]


def flood_building_loss_ratio(depth_m: np.ndarray, use: str = "residential") -> np.ndarray:
    """Mean damage ratio (0–1) of buildings of ``use`` at flood depth ``depth_m``.

    JRC global flood depth–damage functions for Asia (Huizinga, de Moel & Szewczyk 2017), linear
    interpolation between the tabulated depths 0, 0.5, 1, 1.5, 2, 3, 4, 5, 6 m, flat beyond 6 m.
    """
    if use not in JRC_USES:
        raise InputError(f"unknown building use; use one of {', '.join(JRC_USES)}", field="use", value=use)
    t = _jrc()
    t = t[t["curve_id"] == f"jrc_fl_asia_{use}"].sort_values("x")
    d = np.asarray(depth_m, dtype=float)
    return np.interp(np.maximum(d, 0.0), t["x"].to_numpy(float), t["p"].to_numpy(float))
