"""Resilience evaluation: indicator systems, weights, TOPSIS, obstacle degree, maturity, policy DiD.

Indicator values from every source (twin, simulation results, census, user CSV) are one long
table (``unit_id``, ``year``, ``indicator``, ``value``, ``unit``); :func:`build_matrix` pivots it,
:func:`evaluate` weights, scores, ranks and diagnoses, :func:`maturity_levels` places each unit on
the L1–L4 ladder. :func:`did` estimates staggered difference-in-differences (policy evaluation of
the smart-city pilots); it needs the ``assess`` extra.
"""

from rescity.assess.did import DidResult, aggregate_cells, did, plot_event_study
from rescity.assess.indicators import (
    IndicatorSystem,
    default_system,
    load_system,
    read_indicator_data,
    resolve_units,
)
from rescity.assess.infrastructure import simulation_indicators, twin_indicators
from rescity.assess.maturity import load_criteria, maturity_levels
from rescity.assess.pilots import add_cohorts, load_pilots, unit_cohorts
from rescity.assess.scoring import Evaluation, build_matrix, evaluate, obstacle_degree, topsis
from rescity.assess.society import census_indicators
from rescity.assess.weights import (
    ahp_weights,
    combine_weights,
    critic_weights,
    entropy_weights,
    standardise,
)

__all__ = [
    "DidResult",
    "Evaluation",
    "IndicatorSystem",
    "add_cohorts",
    "aggregate_cells",
    "ahp_weights",
    "build_matrix",
    "census_indicators",
    "combine_weights",
    "critic_weights",
    "default_system",
    "did",
    "entropy_weights",
    "evaluate",
    "load_criteria",
    "load_pilots",
    "load_system",
    "maturity_levels",
    "obstacle_degree",
    "plot_event_study",
    "read_indicator_data",
    "resolve_units",
    "simulation_indicators",
    "standardise",
    "topsis",
    "twin_indicators",
    "unit_cohorts",
]
