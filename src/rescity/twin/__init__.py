"""The city model: units, assets, networks, dependencies and service areas.

Build the default Zhejiang twin with :func:`build_zhejiang` (or the cached :func:`default_twin`),
save and load it with :func:`save` / :func:`load`, import others' layers with
:func:`import_layers`, and check any twin with :func:`validate`.
"""

from rescity.twin.io import import_layers, load, read, save
from rescity.twin.lifelines import GENERATOR_VERSION, LifelineParams
from rescity.twin.model import KINDS, LEVELS, SERVICES, SYSTEMS, Twin, conform, empty_table
from rescity.twin.validate import Problem, validate
from rescity.twin.zhejiang import build_zhejiang, default_twin

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
