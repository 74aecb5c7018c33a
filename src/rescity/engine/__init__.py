"""The simulation engine: damage → cascade → service → affected population → aggregation.

Public entry point: :func:`simulate` (see :mod:`rescity.engine.runner`). The stages are usable on
their own: :func:`~rescity.engine.damage.sample_damage`,
:func:`~rescity.engine.cascade.build_cascade_model` / :func:`~rescity.engine.cascade.functional`,
:mod:`rescity.engine.service`, :mod:`rescity.engine.aggregate`.
"""

from rescity.engine.cascade import build_cascade_model, functional
from rescity.engine.damage import sample_damage
from rescity.engine.runner import METRICS, SimulationResult, simulate

__all__ = ["METRICS", "SimulationResult", "build_cascade_model", "functional", "sample_damage", "simulate"]
