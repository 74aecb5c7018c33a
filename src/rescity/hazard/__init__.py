"""Hazards: typhoon wind and rain, flood, storm surge, landslide, earthquake.

Every hazard model returns intensities at sites as a ``dict[str, numpy.ndarray]`` keyed by an
intensity measure from :data:`MEASURES`. An array has shape ``(n_sites,)`` (one deterministic
field) or ``(n_realisations, n_sites)`` (a field sampled per realisation). Sites are whatever
points the caller passes (usually asset positions, or unit centroids). The hazards and their
measures are declared once, in :mod:`rescity.hazard.registry`.
"""

from rescity.hazard.registry import measures as _measures

#: Intensity measures and their units. Names carry the unit.
MEASURES: dict[str, str] = {m.name: f"{m.description}, {m.unit}" for m in _measures().values()}
