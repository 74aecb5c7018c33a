"""Damage, cascade and service of one event's intensities, and the calibration parameters that
reach the hazard and the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rescity.engine.executor import Executor
from rescity.twin.model import Twin

#: Calibration parameters a scenario run understands (see :mod:`rescity.forecast.calibrate`).
CALIBRATION_PARAMS: tuple[str, ...] = ("fragility_scale_wind", "fragility_scale_rain", "drainage_rp_yr")


def split_params(params: dict[str, float] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Calibration parameters → keyword arguments of :func:`rescity.hazard.event.typhoon_event` and of the engine.

    ``fragility_scale_wind`` / ``fragility_scale_rain`` multiply the medians of every wind /
    flood fragility curve (``median_scale`` of :func:`rescity.engine.runner.simulate`);
    ``drainage_rp_yr`` is the design return period (years) of urban drainage in the pluvial
    flood model (:func:`rescity.hazard.flood.pluvial_depth`). Other keys are ignored here.
    """
    params = dict(params or {})
    hazard_kw: dict[str, Any] = {}
    if "drainage_rp_yr" in params:
        hazard_kw["drainage_rp"] = float(params["drainage_rp_yr"])
    scale = {}
    if "fragility_scale_wind" in params:
        scale["wind"] = float(params["fragility_scale_wind"])
    if "fragility_scale_rain" in params:
        scale["flood"] = float(params["fragility_scale_rain"])
    sim_kw: dict[str, Any] = {"median_scale": scale} if scale else {}
    return hazard_kw, sim_kw


def simulate_event(
    twin: Twin,
    intensities: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
    realisations: int,
    seed: int,
    *,
    horizon_h: float = 12.0,
    workers: int | Executor = 1,
    progress: Callable[[int, int], None] | None = None,
    simulate_kw: dict[str, Any] | None = None,
):
    """Damage, cascade and service for one event's ``(asset, cell)`` intensities over
    ``realisations`` Monte Carlo draws. The registry's exposure measures
    (:func:`rescity.hazard.registry.exposure_measures`: ``flood_fraction``, ``landslide_share``)
    become the exposure of their fragility hazard (the probability that an asset is reached).

    Returns the engine's :class:`~rescity.engine.runner.SimulationResult`.
    """
    from rescity.engine.runner import simulate
    from rescity.hazard.registry import exposure_measures

    asset_int, cell_int = intensities
    asset_int, cell_int = dict(asset_int), dict(cell_int)
    exposure, cell_exposure = {}, {}
    for measure, hazard in exposure_measures().items():
        if measure in asset_int:
            exposure[hazard] = asset_int.pop(measure)
        if measure in cell_int:
            cell_exposure[hazard] = cell_int.pop(measure)
    return simulate(
        twin,
        asset_int,
        cell_int,
        realisations,
        seed,
        horizon_h=horizon_h,
        workers=workers,
        progress=progress,
        exposure=exposure,
        cell_exposure=cell_exposure,
        **(simulate_kw or {}),
    )
