"""Packaged data (see SOURCES.md beside this file)."""

from importlib.resources import files
from pathlib import Path


def path(name: str) -> Path:
    """Path of a packaged data file by name, e.g. ``path("zhejiang_counties.geojson")``."""
    p = Path(str(files(__name__) / name))
    if not p.exists():
        raise FileNotFoundError(f"packaged data file {name!r} is missing from {p.parent}")
    return p
