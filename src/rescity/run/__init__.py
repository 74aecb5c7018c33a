"""The composition layer: one configuration (:class:`RunConfig`) and one scenario run
(:func:`run_scenario`) wiring twin → hazard → engine → metrics → outputs; no domain logic."""

from rescity.run.config import DEFAULT_SEED, RunConfig
from rescity.run.scenario import RunResult, run_scenario

__all__ = ["DEFAULT_SEED", "RunConfig", "RunResult", "run_scenario"]
