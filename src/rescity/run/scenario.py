"""``run_scenario(config)``: twin → hazard → engine → metrics → outputs, and nothing else.

Each stage is a call into the package that owns it:

=========  ===============================================================================
twin       :func:`rescity.twin.zhejiang.default_twin` (seed ``config.twin.seed``) or a saved twin
hazard     :func:`rescity.hazard.event.typhoon_event` / :func:`~rescity.hazard.event.earthquake_event`
simulate   :func:`rescity.engine.event.simulate_event` (damage, cascade, service)
tables     :func:`rescity.engine.tables.unit_table`, :func:`rescity.engine.casualties.quake_casualties`
recovery   :func:`rescity.engine.recovery.simulate_recovery`, :func:`rescity.metrics.metrics_table`
outputs    :func:`rescity.run.outputs.write_outputs`
=========  ===============================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.engine.executor import Executor, resolve_executor
from rescity.errors import InputError
from rescity.report.drawing import FigureDrawer
from rescity.run.config import RunConfig
from rescity.twin.model import Twin

Progress = Callable[[str, float, float], None]


@dataclass
class RunResult:
    """Everything one scenario run produced."""

    config: RunConfig
    twin: Twin
    track: pd.DataFrame | None
    asset_intensity: dict[str, np.ndarray]
    cell_intensity: dict[str, np.ndarray]
    sim: Any
    units: pd.DataFrame
    timings_s: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)
    recovery: Any = None
    metrics: pd.DataFrame | None = None
    recovery_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> RunConfig:
        """The run's configuration (the name the report and decision commands use)."""
        return self.config


def load_track(config: RunConfig) -> pd.DataFrame:
    """The storm track the configuration names: a file, or a storm (CMA number, JTWC number or
    name) in the packaged best tracks of ``config.track_source`` (CMA by default)."""
    from rescity.hazard.track import packaged_track, read_track

    if config.track_file:
        return read_track(config.track_file, fmt=config.track_format, sn=config.sn)
    return packaged_track(str(config.sn), source=config.track_source)


def load_twin(config: RunConfig) -> Twin:
    """The twin the configuration names: a saved one, or the default Zhejiang twin."""
    if config.twin.path is not None:
        from rescity.twin.io import load

        return load(config.twin.path)
    from rescity.twin.zhejiang import default_twin

    return default_twin(seed=config.twin.seed, synthetic=config.twin.synthetic)


def run_scenario(
    config: RunConfig,
    *,
    twin: Twin | None = None,
    progress: Progress | None = None,
    write: bool = True,
    background_figures: bool = True,
) -> RunResult:
    """Run a scenario end to end and, when ``config.outputs.dir`` is set and ``write``, write its
    outputs there. ``progress(stage, done, total)`` is called as stages advance.
    ``background_figures``: draw the report's figures in a background process while the run goes
    on (:class:`~rescity.report.drawing.FigureDrawer`; the same figures, drawn here when False)."""
    from rescity.engine.casualties import quake_casualties
    from rescity.engine.event import simulate_event, split_params
    from rescity.engine.tables import unit_table
    from rescity.fragility.pipes import pipe_repairs
    from rescity.hazard.event import earthquake_event, typhoon_event

    def tick(stage: str, done: float, total: float) -> None:
        if progress is not None:
            progress(stage, done, total)

    timings: dict[str, float] = {}
    rcfg = config.recovery.engine_config() if config.recovery.enabled else None  # bad files fail first
    hazard_kw, sim_kw = split_params(config.params)

    t0 = time.perf_counter()
    tick("twin", 0, 1)
    twin = twin if twin is not None else load_twin(config)
    tick("twin", 1, 1)
    timings["twin"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tick("hazard", 0, 1)
    if config.quake is not None:
        track = None
        asset_int, cell_int, cell_summary = earthquake_event(twin, config.quake, config.realisations, config.seed)
        pipes = pipe_repairs(twin.assets, asset_int["pgv_cms"])  # ALA (2001) repairs on trunk mains
        if pipes is not None:
            asset_int["pipe_repairs"] = pipes
    else:
        track = load_track(config)
        asset_int, cell_int = typhoon_event(
            twin, track, model=config.model, hazards=config.hazards, dt_h=config.dt_h,
            dem=config.dem, stations=config.stations, **hazard_kw,
        )  # fmt: skip
        cell_summary = cell_int
    tick("hazard", 1, 1)
    timings["hazard"] = time.perf_counter() - t0

    sim_kw = {**sim_kw, "keep": config.outputs.keep_realisations}
    if rcfg is not None:
        sim_kw = {**sim_kw, "keep_states": True, "keep_functional": True}
    out = Path(config.outputs.dir) if write and config.outputs.dir is not None else None
    report = out is not None and getattr(config.outputs, "report", True)
    # the report's figures are drawn in a background process while the run goes on (the maps
    # during the recovery, the Q(t) figures while the tables are written)
    with FigureDrawer(background=report and background_figures) as drawer:
        with executor(config) as ex:  # one executor (one Dask cluster) for the simulation and recovery
            t0 = time.perf_counter()
            sim = simulate_event(
                twin, (asset_int, cell_int), config.realisations, config.seed, horizon_h=config.horizon_h,
                workers=ex, progress=lambda d, t: tick("simulate", d, t), simulate_kw=sim_kw,
            )  # fmt: skip
            timings["simulate"] = time.perf_counter() - t0

            units = unit_table(twin, sim, cell_summary)
            if config.quake is not None:
                units = pd.concat([units, quake_casualties(twin, cell_int["pga_g"])], axis=1)
            res = RunResult(config, twin, track, asset_int, cell_summary, sim, units, timings)
            maps = None
            if drawer.background:
                from rescity.report.scenario import start_maps

                maps = start_maps(res, drawer)
            if rcfg is not None:
                t0 = time.perf_counter()
                res.recovery_settings = rcfg.as_dict()
                res.recovery, res.metrics = run_recovery(
                    twin, sim, config, progress=lambda d, t: tick("recovery", d, t), recovery=rcfg, workers=ex
                )
                timings["recovery"] = time.perf_counter() - t0
        if out is not None:
            from rescity.run.outputs import write_outputs

            t0 = time.perf_counter()
            tick("report", 0, 1)
            write_outputs(res, out, maps=maps, drawer=drawer)
            tick("report", 1, 1)
            timings["report"] = time.perf_counter() - t0
    return res


def executor(config: RunConfig) -> Executor:
    """The executor of the run's ensembles (``workers``, ``scheduler``; see
    :func:`rescity.engine.executor.resolve_executor`). Use it as a context manager."""
    return resolve_executor(config.workers, config.scheduler)


def run_recovery(
    twin: Twin,
    sim: Any,
    config: RunConfig,
    progress: Callable[[int, int], None] | None = None,
    recovery: Any = None,
    workers: int | Executor | None = None,
) -> tuple[Any, pd.DataFrame]:
    """Restoration of every realisation of ``sim`` (which must keep ``states``) and its metrics.
    ``workers``: an executor to run on (default: the run's, :func:`executor`).

    Returns ``(RecoveryResult, metrics table)``.
    """
    from rescity.engine.recovery import simulate_recovery
    from rescity.metrics import metrics_table

    if getattr(sim, "states", None) is None:
        raise InputError(
            "recovery needs the damage states: run the simulation with keep_states=True", field="sim"
        )
    with executor(config) if workers is None else nullcontext(workers) as ex:
        rec = simulate_recovery(
            twin,
            sim.states,
            config=recovery if recovery is not None else config.recovery.engine_config(),
            seed=config.seed,
            horizon_h=config.horizon_h,
            functional0=getattr(sim, "functional", None),
            workers=ex,
            progress=progress,
        )
    return rec, metrics_table(rec)
