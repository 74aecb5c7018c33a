"""Fragility curves as data.

The library is every ``*.csv`` file in ``rescity/fragility/data`` with these schemas.

``curves*.csv`` — lognormal curves, one row per curve and damage state:
    ``curve_id``, ``hazard`` (wind | rain | flood | earthquake), ``measure`` (an intensity
    measure of :data:`rescity.hazard.MEASURES`), ``ds`` (1 slight, 2 moderate, 3 extensive,
    4 complete), ``median`` (in the measure's unit), ``beta`` (log standard deviation),
    ``description``, ``source`` (citation).
``tables*.csv`` — tabulated curves: ``curve_id``, ``hazard``, ``measure``, ``ds``, ``x``,
    ``p`` (P[DS ≥ ds | x], linear interpolation, flat outside the table), ``source``.
``mapping*.csv`` — which curve applies to which asset: ``system``, ``kind``,
    ``fragility_class`` (``*`` matches any), ``hazard``, ``curve_id``, ``source``. The most
    specific row wins (an exact fragility_class over ``*``).

Damage states are ``int8``: 0 none … 4 complete.
"""

DAMAGE_STATES: tuple[str, ...] = ("none", "slight", "moderate", "extensive", "complete")
