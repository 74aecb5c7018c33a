"""The city model: units, assets, networks, dependencies and service areas."""

from rescity.twin.model import KINDS, LEVELS, SERVICES, SYSTEMS, Twin, conform, empty_table

__all__ = ["KINDS", "LEVELS", "SERVICES", "SYSTEMS", "Twin", "conform", "empty_table"]
