"""Rolling risk forecasts for every administrative level (see docs/forecast.md).

Modules: :mod:`~rescity.forecast.ensemble` (member tracks, official forecasts for hindcasts),
:mod:`~rescity.forecast.indicators` (indicators and economic loss of one simulation),
:mod:`~rescity.forecast.warning` (four-colour warnings, composite score),
:mod:`~rescity.forecast.issuance` (one issuance, hindcasts), :mod:`~rescity.forecast.verify`,
:mod:`~rescity.forecast.calibrate`, :mod:`~rescity.forecast.report`.
"""

#: Default ensemble members of an issuance: the province means of Lekima's issuance 24 h before
#: landfall vary by 2–4 % (coefficient of variation) with the seed in the 48 and 72 h windows,
#: 12–14 % in the 24 h window (``benchmarks/bench_forecast_stability.py``; docs/forecast.md).
#: Here rather than in :mod:`~rescity.forecast.issuance`, so the CLI starts without the engine.
DEFAULT_MEMBERS = 150
