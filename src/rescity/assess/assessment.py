"""Gather indicator values from every source, evaluate, and write the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.assess.indicators import IndicatorSystem
from rescity.assess.maturity import criteria_status, load_criteria, maturity_levels
from rescity.assess.report import write_report
from rescity.assess.scoring import Evaluation, build_matrix, evaluate


@dataclass
class Assessment:
    evaluation: Evaluation
    maturity: pd.DataFrame
    status: pd.DataFrame
    files: dict[str, Path]


def assess(
    system: IndicatorSystem,
    units: pd.DataFrame,
    values: pd.DataFrame,
    out: str | Path,
    method: str = "entropy",
    ahp: tuple[np.ndarray, list[str]] | None = None,
    ahp_file: str | None = None,
    objective: str = "entropy",
    alpha: float = 0.5,
    criteria: pd.DataFrame | str | Path | None = None,
    sources: list[str] | None = None,
    static_year: int = 2020,
    title: str = "Resilience assessment (韧性评价)",
) -> Assessment:
    """Evaluate ``units`` (``unit_id``, ``name_zh``, ``name_en``) on the long ``values`` table.

    Values of indicators not in ``system`` are ignored (and listed in the report's sources);
    maturity criteria on indicators not in the system are left out.
    """
    sources = list(sources or [])
    known = values["indicator"].isin(system.ids)
    if not known.all():
        extra = sorted(values.loc[~known, "indicator"].unique())
        sources.append(f"values of indicators not in the system ignored: {', '.join(extra)}")
        values = values[known]
    ids = units["unit_id"].astype(str).tolist()
    values = values[values["unit_id"].astype(str).isin(ids)]
    wide = build_matrix(values, system, units=ids, static_year=static_year)
    ev = evaluate(wide, system, method=method, ahp=ahp, ahp_file=ahp_file, objective=objective, alpha=alpha)
    crit = criteria if isinstance(criteria, pd.DataFrame) else load_criteria(criteria)
    unknown = ~crit["indicator"].isin(system.ids)
    if unknown.any():
        sources.append(
            "maturity criteria on indicators outside the system left out: "
            + ", ".join(sorted(crit.loc[unknown, "indicator"].unique()))
        )
        crit = crit[~unknown]
    raw = wide.reindex(columns=system.ids)
    mat = maturity_levels(raw, crit)
    status = criteria_status(raw, crit)
    files = write_report(ev, mat, status, crit, units, out, sources, title=title)
    return Assessment(ev, mat, status, files)
