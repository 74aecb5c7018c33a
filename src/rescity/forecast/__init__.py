"""Rolling risk forecasts for every administrative level (see docs/forecast.md).

Modules: :mod:`~rescity.forecast.ensemble` (member tracks, official forecasts for hindcasts),
:mod:`~rescity.forecast.indicators` (indicators and economic loss of one simulation),
:mod:`~rescity.forecast.warning` (four-colour warnings, composite score),
:mod:`~rescity.forecast.issuance` (one issuance, hindcasts), :mod:`~rescity.forecast.verify`,
:mod:`~rescity.forecast.calibrate`, :mod:`~rescity.forecast.report`.
"""
