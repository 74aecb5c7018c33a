"""Values kept on a twin (Twin.derived) are built once and dropped when the tables change."""

from __future__ import annotations

import numpy as np

from rescity.hazard.event import asset_cells
from rescity.twin.toy import toy_twin


def test_derived_is_built_once_and_rebuilt_after_a_change():
    twin = toy_twin(counties=2, cells_per_county=3)
    calls = []

    def build():
        calls.append(1)
        return float(twin.assets["lon"].sum())

    first = twin.derived(("test", "lon_sum"), build)
    assert twin.derived(("test", "lon_sum"), build) == first and len(calls) == 1
    twin.assets.loc[0, "lon"] += 0.5  # a table changes: everything kept is rebuilt
    assert twin.derived(("test", "lon_sum"), build) == first + 0.5 and len(calls) == 2


def test_asset_cells_kept_read_only_and_follow_a_moved_asset():
    twin = toy_twin(counties=2, cells_per_county=3)
    where = asset_cells(twin)
    assert asset_cells(twin) is where and not where.flags.writeable
    cells = np.flatnonzero((twin.units["level"] == "cell").to_numpy())
    other = cells[(where[0] + 1) % len(cells)]
    twin.assets.loc[0, ["unit_id", "lon", "lat"]] = [
        twin.units["unit_id"].iloc[other], twin.units["lon"].iloc[other], twin.units["lat"].iloc[other],
    ]  # fmt: skip
    assert asset_cells(twin)[0] == (where[0] + 1) % len(cells)
