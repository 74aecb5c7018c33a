"""What a scenario run writes: ``units.csv``, ``settings.json``, the recovery tables and Q(t)
figures, and ``report.html``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

UNITS_CSV_COLUMNS: tuple[str, ...] = (
    "unit_id", "level", "parent_id", "name_zh", "name_en", "population",
    "affected_mean", "affected_p05", "affected_p95",
    "no_power_mean", "no_water_mean", "no_telecom_mean", "no_road_mean",
    "wind_max_ms", "gust_max_ms", "rain_mm",
)  # fmt: skip


def write_units_csv(table: pd.DataFrame, path: Path) -> Path:
    """``units.csv``: the documented columns first, then every other column of the table."""
    first = list(UNITS_CSV_COLUMNS)
    rest = [c for c in table.columns if c not in first]
    from rescity.report.tables import write_csv

    return write_csv(table[first + rest], path)


def write_recovery(res: Any, out: Path, drawer: Any = None) -> tuple[dict[str, Path], list]:
    """``metrics.csv``, ``qt.csv`` and the Q(t) PNGs; returns the files and the report sections.
    ``drawer`` (a :class:`~rescity.report.drawing.FigureDrawer`) draws the PNGs while the tables
    are written."""
    from rescity.metrics import qt_table
    from rescity.report.recovery import recovery_sections, start_qt_figures, write_figures
    from rescity.report.tables import write_csv

    rec = res.recovery
    pending = start_qt_figures(rec, drawer=drawer)
    files: dict[str, Path] = {}
    p = out / "metrics.csv"
    write_csv(res.metrics, p)
    files["metrics.csv"] = p
    p = out / "qt.csv"
    write_csv(qt_table(rec), p)
    files["qt.csv"] = p
    figs = pending()
    files.update(write_figures(figs, out))
    return files, recovery_sections(rec, res.metrics, figs)


def write_outputs(
    res: Any,
    out: Path,
    extra_sections: list | None = None,
    *,
    maps: Any = None,
    drawer: Any = None,
) -> dict[str, Path]:
    """Write ``units.csv``, ``settings.json``, the recovery outputs (``metrics.csv``, ``qt.csv``,
    ``qt_*.png``) when the run has them, and ``report.html`` into ``out``. ``maps``: the report's
    maps already started (:func:`rescity.report.scenario.start_maps`); ``drawer``: a
    :class:`~rescity.report.drawing.FigureDrawer` for the other figures (else drawn here)."""
    from rescity.report.scenario import scenario_report

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "units.csv": write_units_csv(res.units, out / "units.csv"),
    }
    sections = list(extra_sections or [])
    if res.recovery is not None:
        rfiles, rsections = write_recovery(res, out, drawer=drawer)
        files.update(rfiles)
        sections = rsections + sections
    settings_path = out / "settings.json"
    settings_path.write_text(
        json.dumps(
            {**res.config.as_dict(), "recovery_settings": _jsonable(res.recovery_settings), "twin_meta": _jsonable(res.twin.meta)}, indent=2, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    files["settings.json"] = settings_path
    if getattr(getattr(res.config, "outputs", None), "report", True):
        files["report.html"] = scenario_report(res, out / "report.html", extra_sections=sections, maps=maps)
    res.files.update(files)
    return files


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)
