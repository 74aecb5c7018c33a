"""Casualties of an earthquake per unit from housing damage under ground shaking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rescity.twin.model import Twin


def quake_casualties(
    twin: Twin, cell_pga_g: np.ndarray, q: tuple[float, float] = (0.05, 0.95)
) -> pd.DataFrame:
    """Deaths, injuries and displaced people per unit from housing damage under ground shaking.

    ``cell_pga_g`` is ``(R, n_cells)``. Per realisation and cell, the expected casualties of the
    HAZUS-MH building classes mixed by urban share (:func:`rescity.fragility.buildings.earthquake_building_impacts`,
    night-time occupancy), summed to every level; columns ``<q>_mean``, ``_p05``, ``_p95`` for
    ``deaths``, ``injured`` (severities 1–3) and ``displaced``.
    """
    from rescity.fragility.buildings import earthquake_building_impacts

    cells = np.flatnonzero((twin.units["level"] == "cell").to_numpy())
    u = twin.units
    imp = earthquake_building_impacts(
        np.asarray(cell_pga_g, float),
        u["urban_share"].to_numpy(float)[cells],
        u["population"].to_numpy(float)[cells],
    )
    per_cell = {
        "deaths": imp["deaths"],
        "injured": imp["casualties"][..., :3].sum(axis=-1),
        "displaced": imp["displaced"],
    }
    m = twin.membership("cell")[:, cells]  # units × cells
    out: dict[str, np.ndarray] = {}
    for name, x in per_cell.items():
        by_unit = np.asarray(m @ np.atleast_2d(x).T).T  # (R, n_units)
        out[f"{name}_mean"] = by_unit.mean(axis=0)
        lo, hi = np.quantile(by_unit, q, axis=0)
        out[f"{name}_p05"], out[f"{name}_p95"] = lo, hi
    return pd.DataFrame(out)
