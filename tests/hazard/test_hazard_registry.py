"""The hazard registry is the one list of hazards: CLI, configuration, fragility library, tables,
reports and the API read it."""

from __future__ import annotations

import pytest

from rescity.errors import InputError
from rescity.hazard import MEASURES
from rescity.hazard.registry import (
    DEFAULT_TYPHOON_HAZARDS,
    FRAGILITY_HAZARDS,
    HAZARDS,
    TYPHOON_HAZARDS,
    as_table,
    display_columns,
    exposure_measures,
    parse_hazards,
    summary_columns,
)


def test_every_hazard_declares_measures_sites_and_fragility():
    assert set(HAZARDS) == {"wind", "rain", "flood", "landslide", "surge", "earthquake"}
    for h in HAZARDS.values():
        assert h.measures and h.sites and h.description
        fm = (h.fragility_measure,) if isinstance(h.fragility_measure, str) else h.fragility_measure
        assert h.fragility_hazard in FRAGILITY_HAZARDS
        assert set(fm) <= set(MEASURES), h.name
        for need in h.needs:
            assert need in HAZARDS
    assert HAZARDS["surge"].fragility_hazard == "flood" and HAZARDS["surge"].fragility_measure == "flood_depth_m"
    assert MEASURES["surge_depth_m"].endswith(", m")
    ls = HAZARDS["landslide"]
    assert ls.fragility_hazard == "landslide" and ls.fragility_measure == "landslide_ratio"
    assert ls.needs == ("rain",) and ls.exposure == "landslide_share"
    assert exposure_measures() == {"flood_fraction": "flood", "landslide_share": "landslide"}
    assert DEFAULT_TYPHOON_HAZARDS == ("wind", "rain", "flood", "landslide")


def test_fragility_library_reads_the_registry():
    from rescity.fragility import library

    assert library.HAZARDS == FRAGILITY_HAZARDS == ("wind", "rain", "flood", "landslide", "earthquake")
    lib = library.load_library()
    for h in lib.hazards():
        registered = {m for x in HAZARDS.values() if x.fragility_hazard == h for m in x.measure_names}
        assert set(lib.measures(h)) <= registered, h


def test_parse_hazards():
    assert parse_hazards("wind, surge,wind") == ("wind", "surge")
    assert TYPHOON_HAZARDS == ("wind", "rain", "flood", "landslide", "surge")
    with pytest.raises(InputError) as e:
        parse_hazards("wind,lava")
    assert e.value.value == "lava" and "surge" in e.value.message
    with pytest.raises(InputError):
        parse_hazards("earthquake")  # not a typhoon hazard
    assert parse_hazards("earthquake", family="earthquake") == ("earthquake",)


def test_tables_and_reports_read_the_registry():
    from rescity.engine.tables import ALWAYS_HAZARD_COLUMNS
    from rescity.report.scenario import HAZARD_DISPLAY

    cols = summary_columns()
    assert cols["surge_depth_max_m"] == ("surge_depth_m", "max") and cols["rain_mm"] == ("rain_mm", "mean")
    assert set(ALWAYS_HAZARD_COLUMNS) <= set(cols)
    assert HAZARD_DISPLAY == display_columns() and "surge_depth_max_m" in HAZARD_DISPLAY


def test_cli_help_lists_the_registered_hazards():
    from typer.testing import CliRunner

    from rescity.cli import app

    out = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "wind, rain, flood, landslide, surge" in " ".join(out.split())


def test_registry_as_rows_for_the_api():
    rows = {r["name"]: r for r in as_table()}
    assert [m["unit"] for m in rows["earthquake"]["measures"]][:2] == ["g", "cm/s"]
    assert rows["flood"]["needs"] == ["rain"]
