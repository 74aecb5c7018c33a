"""The city model: units, assets, networks, dependencies and service areas.

Build the default Zhejiang twin with :func:`build_zhejiang` (or the cached :func:`default_twin`),
save and load it with :func:`save` / :func:`load`, import others' layers with
:func:`import_layers`, and check any twin with :func:`validate`.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rescity.twin.io import import_layers, load, read, save
    from rescity.twin.lifelines import GENERATOR_VERSION, LifelineParams
    from rescity.twin.model import KINDS, LEVELS, SERVICES, SYSTEMS, Twin, conform, empty_table
    from rescity.twin.validate import Problem, validate
    from rescity.twin.zhejiang import build_zhejiang, default_twin

#: Where each name lives: imported on first use, so ``import rescity.twin.systems`` (the CLI's
#: start-up) does not pull in geopandas, SciPy's spatial module or the builders.
_LAZY = {
    **dict.fromkeys(("import_layers", "load", "read", "save"), "io"),
    **dict.fromkeys(("GENERATOR_VERSION", "LifelineParams"), "lifelines"),
    **dict.fromkeys(("KINDS", "LEVELS", "SERVICES", "SYSTEMS", "Twin", "conform", "empty_table"), "model"),
    **dict.fromkeys(("Problem", "validate"), "validate"),
    **dict.fromkeys(("build_zhejiang", "default_twin"), "zhejiang"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"rescity.twin.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rescity.twin' has no attribute {name!r}")


__all__ = [
    "GENERATOR_VERSION",
    "KINDS",
    "LEVELS",
    "SERVICES",
    "SYSTEMS",
    "LifelineParams",
    "Problem",
    "Twin",
    "build_zhejiang",
    "conform",
    "default_twin",
    "empty_table",
    "import_layers",
    "load",
    "read",
    "save",
    "validate",
]
