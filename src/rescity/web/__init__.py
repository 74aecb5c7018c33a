"""The web dashboard served by ``rescity serve`` (see docs/dashboard.md).

The front end is plain HTML, CSS and JavaScript modules in ``static/`` (no build step), with the
map library (Leaflet) vendored from the npm registry under ``static/vendor/``. The data behind it
comes from the API (``rescity.api.routers.dashboard``); this package holds the helpers those
endpoints use:

:mod:`~rescity.web.geo`
    unit polygons as simplified GeoJSON; assets in a map view as points or per-cell counts.
:mod:`~rescity.web.layers`
    forecast and run values per unit, Q(t) curves, decisions as map layers.
:mod:`~rescity.web.plain`
    alerts in plain language (who, what, where, what to do) in Chinese and English.
:mod:`~rescity.web.feed`
    the live alerts feed (new and changed alerts, polled from the store and fanned out).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def static_dir() -> Path:
    """Folder of the dashboard's static files (HTML, CSS, JS, the vendored map library)."""
    return Path(str(files(__name__) / "static"))
