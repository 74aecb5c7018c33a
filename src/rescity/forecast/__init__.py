"""Rolling risk forecasts for every administrative level (see docs/forecast.md).

Modules: :mod:`~rescity.forecast.ensemble` (member tracks, official forecasts for hindcasts),
:mod:`~rescity.forecast.indicators` (indicators and economic loss of one simulation),
:mod:`~rescity.forecast.warning` (four-colour warnings, composite score),
:mod:`~rescity.forecast.issuance` (one issuance, hindcasts), :mod:`~rescity.forecast.verify`,
:mod:`~rescity.forecast.calibrate`, :mod:`~rescity.forecast.report`.
"""

#: Default ensemble members of an issuance: with 250 (stratified) members the province means of
#: Lekima's issuance 24 h before landfall vary by 4–6 % (coefficient of variation over 8 seeds)
#: in the 24 h window, the hardest one (``benchmarks/bench_forecast_stability.py``;
#: docs/forecast.md).
#: Here rather than in :mod:`~rescity.forecast.issuance`, so the CLI starts without the engine.
DEFAULT_MEMBERS = 250
