"""Observation operators: from a storm's model state to each official statistic.

The model's own quantities (gust, rain, homes damaged, people without power at 12 h) stay as
they are; these functions translate them into the figures a provincial bureau reports. Each is
a sum over cells ``c`` with a few parameters fitted across storms
(:mod:`rescity.history.calibration`). Notation per cell: population ``P``, households ``H``,
urban share ``u``, peak 3-s gust ``G`` (m/s), storm-total rain ``R`` (mm); normalised hazard
``w = G / 30 m/s`` (force-11 gust) and ``r = R / 100 mm`` (a heavy-rain storm total); the
exposure of the storm's year ``π_y = population_y / population_2020`` and
``γ_y = GDP_y / GDP_2020``, and its income ``ι_y = γ_y / π_y`` (GDP per person relative to 2020;
Zhejiang, ``rescity/data/zhejiang_economy_by_year.csv``).

=============================  =================================================================
statistic                      operator
=============================  =================================================================
受灾人口 affected_population   ``π_y Σ P [1 − exp(−a_r ι_y^−α r^k) (1 − p_D)]``
转移/紧急转移安置              ``π_y Σ P (1 − exp(−b_w w^k))``
relocated_or_evacuated
直接经济损失 economic_loss_cny ``γ_y ι_y^−α Σ P ℓ_w w^k``   (CNY; ℓ_w in CNY per person)
倒塌房屋 collapsed_houses      ``π_y ι_y^−α ρ Σ H (1 − u) (1 − exp(−c_w w^k))``
停电户数 power_outage_hh       ``Σ no_power / (P / H)``  (engine outage at 12 h; no parameter)
=============================  =================================================================

Assumptions
-----------
* Being affected (受灾: crops, houses, traffic, livelihoods) has two causes taken as
  independent: the storm's rain, with a rate growing as a power ``k`` of the storm total, and a
  damaged home, the engine's own fragility outcome (wind, flood, landslide). A person escapes
  only if both spare them, hence the product. The second cause has no parameter: the engine's
  houses carry their own vulnerability, so the income factor is on the rain's rate alone.
  Evacuation before landfall follows the rain's form in the wind: it is ordered where strong
  wind (and surge) is expected.
* Direct loss grows as a power of the wind (wind loss ∝ v³ in the power dissipation argument of
  Emanuel 2005, *Nature* 436, 686; steeper in damage functions), scaled by the year's GDP (assets
  at risk grow with the economy; Pielke et al. 2008, *Nat. Hazards Rev.* 9, 29 normalise losses
  the same way).
* Which hazard enters each operator (:data:`OPERATOR_TERMS`) was chosen by the Bayesian
  information criterion (Schwarz 1978, *Ann. Statist.* 6, 461) of the fit on all thirteen storms,
  among wind alone, rain alone, and both (rates adding as independent hazards): rain for being
  affected, wind for evacuation, loss and collapse (docs/calibration.md gives the table). For
  being affected the union with the engine's damaged homes was chosen the same way (BIC −20.3
  against −15.4 for rain alone, the same three parameters). The rain's damage still reaches the engine's own outputs (floods,
  landslides, homes damaged); with thirteen storms it does not explain the reported loss and
  collapse beyond what the wind does.
* The exponent ``k`` of each of these is fitted with the rates: a first cross-validation
  with ``k`` fixed a priori (2 for affected and evacuated — wind pressure ∝ v² —, 3 for loss)
  over-predicted the strong-wind storms by 3–10 times and under-predicted the rain storms.
* Collapsed rooms: rural self-built houses (share ``1 − u``) collapse with the same rate form;
  ``ρ = 3`` rooms (间) per rural household (assumption; the statistic counts rooms).
* Vulnerability declines as people grow richer: the rates of being affected, of loss per unit of
  GDP and of collapse carry a factor ``ι_y^−α`` with the income elasticity ``α ≥ 0`` fitted per
  statistic (Formetta & Feyen 2019, *Global Environ. Change* 57, 101920: loss and fatality rates
  of climate hazards fall with GDP per capita; Jongman et al. 2015, *PNAS* 112, E2271, for
  floods). It stands for better houses, drainage and warnings, and for changes in how the
  statistic is counted; over 2004–2019 Zhejiang's ``ι`` grew 4.0 times. Evacuation is an
  administrative order, not damage, and has no such factor. Beyond the last tabulated year the
  index stays at that year's value (no extrapolation of the trend).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

W_REF_MS = 30.0
R_REF_MM = 100.0
ROOMS_PER_HOUSEHOLD = 3.0
REFERENCE_YEAR = 2020


@dataclass(frozen=True)
class Param:
    """A fitted operator parameter: initial value, bounds (searched on a log scale), unit, meaning.

    ``exponent``: the parameter is an exponent (``k``, ``α``), so the log of the prediction is
    linear in it, and its uncertainty is drawn on its own scale (a rate's on the log scale; see
    :func:`params_at`)."""

    name: str
    initial: float
    lower: float
    upper: float
    unit: str
    doc: str
    exponent: bool = False


#: Metric → the hazard terms of its rate (``"w"``: wind, ``"r"``: rain; see the module doc).
OPERATOR_TERMS: dict[str, tuple[str, ...]] = {
    "affected_population": ("r",),
    "relocated_or_evacuated": ("w",),
    "economic_loss_cny": ("w",),
    "collapsed_houses": ("w",),
}
_K = Param("k", 2.0, 0.25, 4.0, "1", "exponent of the hazard term", exponent=True)


def _alpha(what: str) -> Param:
    """The income elasticity ``α`` of ``what`` (the factor ``ι_y^−α``)."""
    return Param("alpha", 0.5, 1e-3, 8.0, "1", f"income elasticity: {what} × (GDP per person / 2020)^−α", exponent=True)


#: Metric → its parameters (all positive, searched on a log scale): the rate of each hazard term,
#: the exponent ``k``, then ``α`` where the income factor applies.
OPERATOR_PARAMS: dict[str, tuple[Param, ...]] = {
    "affected_population": (
        Param("a_r", 0.05, 1e-5, 50.0, "1", "affected rate per unit (R/100 mm)^k (2020 income)"),
        _K,
        _alpha("the rain's rate"),
    ),
    "relocated_or_evacuated": (
        Param("b_w", 0.01, 1e-6, 10.0, "1", "evacuation rate per unit (G/30 m/s)^k"),
        _K,
    ),
    "economic_loss_cny": (
        Param("l_w", 500.0, 1e-2, 1e6, "CNY/person", "loss per person per unit (G/30 m/s)^k (2020 GDP)"),
        _K,
        _alpha("the loss per GDP"),
    ),
    "collapsed_houses": (
        Param("c_w", 1e-3, 1e-9, 10.0, "1", "collapse rate of a rural room per unit (G/30 m/s)^k"),
        Param("k", 1.0, 0.25, 8.0, "1", "exponent of the hazard term", exponent=True),
        _alpha("the collapse rate"),
    ),
}
#: Metrics fitted (power outage has one reported storm: it is scored, not fitted).
FITTED_METRICS = tuple(OPERATOR_PARAMS)
SCORED_METRICS = (*FITTED_METRICS, "power_outage_households")


def params_at(metric: str, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Parameters ``(draws, n_params)`` at deviations ``z`` of ``ln θ`` from the fit ``theta``
    (``z ~ N(0, Cov(ln θ))``, the Gauss–Newton covariance of :mod:`rescity.history.calibration`).

    A rate moves to ``θ e^z`` and an exponent to ``θ (1 + z)`` (the same covariance to first
    order): the log of the prediction is linear in ``ln`` rate (while the rate is small) and in
    each exponent, so draws of ``ln ŷ`` stay symmetric about the fitted value and the median of
    the predictive distribution is the fitted prediction. Exponents are kept ≥ 1e-3."""
    th = np.asarray(theta, float)
    expo = np.array([p.exponent for p in OPERATOR_PARAMS[metric]], bool)
    return np.where(expo, np.maximum(th * (1 + z), 1e-3), th * np.exp(z))


@lru_cache(maxsize=1)
def economy_by_year() -> pd.DataFrame:
    """Zhejiang resident population and GDP by year (packaged, with sources)."""
    from rescity.data import path

    return pd.read_csv(path("zhejiang_economy_by_year.csv"), comment="#")


@lru_cache(maxsize=64)
def year_index(year: int) -> tuple[float, float]:
    """``(π_y, γ_y)``: population and GDP of ``year`` relative to 2020 (nearest tabulated year;
    the last one for later years)."""
    e = economy_by_year()
    ref = e.loc[e["year"] == REFERENCE_YEAR].iloc[0]
    row = e.iloc[int(np.argmin(np.abs(e["year"].to_numpy() - int(year))))]
    return float(row["population_10k"] / ref["population_10k"]), float(
        row["gdp_100m_cny"] / ref["gdp_100m_cny"]
    )


@dataclass
class Exposure:
    """Cell arrays an operator reads (``gust``/``rain`` may carry leading draw axes)."""

    population: np.ndarray
    households: np.ndarray
    urban_share: np.ndarray
    gust_ms: np.ndarray
    rain_mm: np.ndarray
    no_power: np.ndarray
    year: int
    #: per-cell exposure indices overriding the year's (for several storms stacked)
    pi: np.ndarray | None = None
    gamma: np.ndarray | None = None
    #: homes damaged to moderate or worse (households; the engine's, from the state); none: 0
    homes_damaged: np.ndarray | None = None

    def damaged_share(self) -> np.ndarray:
        """``p_D = min(D / H, 1)`` per cell (0 where no households or no damage given)."""
        if self.homes_damaged is None:
            return np.zeros(np.shape(self.households))
        H = np.asarray(self.households, float)
        return np.clip(np.asarray(self.homes_damaged, float) / np.where(H > 0, H, 1.0), 0.0, 1.0)

    def indices(self) -> tuple[np.ndarray | float, np.ndarray | float]:
        """``(π_y, γ_y)`` of the storm's year (or the per-cell arrays of a stack)."""
        if self.pi is not None and self.gamma is not None:
            return self.pi, self.gamma
        return year_index(self.year)

    @classmethod
    def from_state(cls, state: pd.DataFrame, year: int) -> Exposure:
        return cls(
            state["population"].to_numpy(float),
            state["households"].to_numpy(float),
            state["urban_share"].to_numpy(float),
            state["gust_ms"].to_numpy(float),
            state["rain_mm"].to_numpy(float),
            state["no_power"].to_numpy(float) if "no_power" in state else np.zeros(len(state)),
            int(year),
            homes_damaged=state["homes_damaged"].to_numpy(float) if "homes_damaged" in state else None,
        )


def per_cell(metric: str, ex: Exposure, theta: np.ndarray) -> np.ndarray:
    """Contribution of every cell to ``metric``; ``theta`` ``(..., n_params)`` broadcasts against
    the leading axes of ``ex.gust_ms``; returns ``(..., n_cells)``."""
    th = np.asarray(theta, float)
    w = np.asarray(ex.gust_ms, float) / W_REF_MS
    r = np.asarray(ex.rain_mm, float) / R_REF_MM
    pi_y, gamma_y = ex.indices()
    P, H = ex.population, ex.households
    if metric == "power_outage_households":
        size = np.where(H > 0, P / np.maximum(H, 1e-9), 1.0)
        return np.broadcast_to(ex.no_power / size, np.broadcast_shapes(np.shape(w), np.shape(size)))
    if metric not in OPERATOR_TERMS:
        raise KeyError(metric)
    terms = OPERATOR_TERMS[metric]
    n = len(terms)
    k = th[..., n : n + 1]
    rate = sum(th[..., i : i + 1] * (w if t == "w" else r) ** k for i, t in enumerate(terms))
    if metric == "relocated_or_evacuated":
        return pi_y * P * -np.expm1(-rate)
    # the income factor ι_y^−α of the vulnerable statistics
    vuln = (np.asarray(gamma_y) / np.asarray(pi_y)) ** -th[..., n + 1 : n + 2]
    if metric == "affected_population":
        # affected unless spared both by the rain (its rate × ι^−α) and by the engine's home damage
        p_r = -np.expm1(-vuln * rate)
        p_d = ex.damaged_share()
        return pi_y * P * (p_r + p_d * (1 - p_r))
    if metric == "economic_loss_cny":
        return gamma_y * vuln * P * rate
    if metric == "collapsed_houses":
        rural = ROOMS_PER_HOUSEHOLD * H * (1 - ex.urban_share)
        return pi_y * vuln * rural * -np.expm1(-rate)
    raise KeyError(metric)


def predict(metric: str, ex: Exposure, theta, regions: np.ndarray) -> np.ndarray:
    """``metric`` summed over each region: ``regions`` is a 0/1 matrix ``(n_regions, n_cells)``;
    returns ``(..., n_regions)``."""
    return per_cell(metric, ex, theta) @ np.asarray(regions, float).T


def exposed_people(ex: Exposure, gust_ms: float = 17.2, rain_mm: float = 100.0) -> float:
    """People in cells with peak gust ≥ 17.2 m/s (force 8) or storm rain ≥ 100 mm, in the storm's
    year (the exposure-only baseline)."""
    pi_y, _ = year_index(ex.year)
    hit = (np.asarray(ex.gust_ms) >= gust_ms) | (np.asarray(ex.rain_mm) >= rain_mm)
    return float(pi_y * ex.population[hit].sum())


def stack(exposures: list[Exposure]) -> tuple[Exposure, np.ndarray]:
    """Several storms' province exposure as one: ``(stacked, storm index of every cell)``."""
    cat = np.concatenate
    idx = cat([np.full(len(e.population), i) for i, e in enumerate(exposures)])
    pi = cat([np.full(len(e.population), e.indices()[0]) for e in exposures])
    gamma = cat([np.full(len(e.population), e.indices()[1]) for e in exposures])
    ex = Exposure(
        cat([e.population for e in exposures]),
        cat([e.households for e in exposures]),
        cat([e.urban_share for e in exposures]),
        cat([e.gust_ms for e in exposures]),
        cat([e.rain_mm for e in exposures]),
        cat([e.no_power for e in exposures]),
        0,
        pi,
        gamma,
        cat([e.damaged_share() * e.households for e in exposures]),
    )
    return ex, idx
