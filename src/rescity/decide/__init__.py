"""Decisions from a risk forecast (see docs/decide.md).

Modules: :mod:`~rescity.decide.network` (road travel times), :mod:`~rescity.decide.relocate`
(people to shelters, min-cost flow), :mod:`~rescity.decide.preposition` (capacitated facility
location of relief supplies), :mod:`~rescity.decide.plan` (before/during/after actions),
:mod:`~rescity.decide.spof` (single points of failure, N-1), :mod:`~rescity.decide.redundancy`
(budgeted redundancy investment), :mod:`~rescity.decide.repair_opt` (optimised repair
sequencing, INDP-style MILP).
"""
