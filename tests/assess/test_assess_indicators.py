"""The indicator system, user-data validation and the census (society) indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rescity.assess.indicators import (
    UNDRR_ESSENTIALS,
    default_system,
    load_system,
    read_indicator_data,
    resolve_units,
)
from rescity.assess.infrastructure import TWIN_INDICATORS
from rescity.assess.maturity import load_criteria
from rescity.assess.scoring import ahp_indicator_weights, default_ahp_path, read_pairwise
from rescity.assess.society import census_indicators, county_units, load_counties
from rescity.errors import InputError


def test_default_system_shape_and_mappings():
    s = default_system()
    assert s.dimensions == ["organisation", "socioeconomic", "infrastructure", "institution"]
    assert s.dimension_names()["infrastructure"] == "基础设施韧性"
    assert 20 <= len(s.table) <= 40
    assert set(s.table["direction"]) == {"benefit", "cost"}
    m = s.mapping()
    assert m["undrr"].between(1, 10).all()
    assert set(m["undrr_essential"]) <= set(UNDRR_ESSENTIALS.values())
    assert m.groupby("indicator").size().reindex(s.ids).notna().all()  # every indicator mapped
    theme = s.table["iso37123"].str.extract(r"^(\d+) ")[0].astype(int)
    assert theme.between(5, 23).all()  # ISO 37123:2019 clauses 5 (economy) … 23 (water)
    # every twin indicator in the system has a function, and vice versa
    twin_ids = set(s.table.loc[s.table["source"] == "twin", "indicator"])
    assert twin_ids == set(TWIN_INDICATORS)
    assert set(load_criteria()["indicator"]) <= set(s.ids)


def test_default_ahp_judgements_are_consistent():
    s = default_system()
    a, labels = read_pairwise(default_ahp_path())
    w, res, _ = ahp_indicator_weights(s, s.ids, a, labels)
    assert res.cr < 0.1
    assert w.sum() == pytest.approx(1.0)


def test_bad_system_file(tmp_path):
    p = tmp_path / "sys.csv"
    p.write_text("indicator,dimension,name_zh,name_en,unit,direction,source\nx,d,甲,X,%,up,user\n")
    with pytest.raises(InputError, match="benefit, cost") as e:
        load_system(p)
    assert e.value.field == "direction" and e.value.value == "up"


def _write(tmp_path, rows: str):
    p = tmp_path / "data.csv"
    p.write_text("unit,year,indicator,value,measure\n" + rows, encoding="utf-8")
    return p


def test_user_data_ok(tmp_path):
    s = default_system()
    p = _write(
        tmp_path,
        "330102,2022,om_drills_per_year,4,drills/year\n上城区,2023,es_gdp_per_capita,150000,CNY/person\n",
    )
    v = read_indicator_data(p, s)
    assert list(v["indicator"]) == ["om_drills_per_year", "es_gdp_per_capita"]
    assert list(v["year"]) == [2022.0, 2023.0]
    r = resolve_units(v, county_units(), file=p)
    assert list(r["unit_id"]) == ["330102", "330102"]


@pytest.mark.parametrize(
    "rows, field, match",
    [
        ("330102,2022,om_nonsense,4,drills/year\n", "indicator", "line 2: unknown indicator"),
        ("330102,2022,om_drills_per_year,4,drills/month\n", "measure", "expected 'drills/year'"),
        (
            "330102,2022,om_drills_per_year,4,drills/year\n330103,2022,om_drills_per_year,,drills/year\n",
            "value",
            "line 3: missing value",
        ),
        ("330102,2022,om_drills_per_year,four,drills/year\n", "value", "not a number"),
        ("330102,22.5,om_drills_per_year,4,drills/year\n", "year", "integer"),
        (
            "330102,2022,om_drills_per_year,4,drills/year\n330102,2022,om_drills_per_year,5,drills/year\n",
            "indicator",
            "given twice",
        ),
    ],
)
def test_user_data_errors(tmp_path, rows, field, match):
    with pytest.raises(InputError, match=match) as e:
        read_indicator_data(_write(tmp_path, rows), default_system())
    assert e.value.field == field
    assert e.value.file.endswith("data.csv")


def test_unknown_unit_named(tmp_path):
    p = _write(tmp_path, "Atlantis,2022,om_drills_per_year,4,drills/year\n")
    with pytest.raises(InputError, match="not a known unit") as e:
        resolve_units(read_indicator_data(p, default_system()), county_units(), file=p)
    assert e.value.value == "Atlantis"


def test_census_indicators_from_packaged_data():
    g = load_counties()
    v = census_indicators(g)
    assert v.groupby("indicator").size().eq(91).all()
    w = v.pivot(index="unit_id", columns="indicator", values="value")
    hz = g.set_index("county_code").loc["330102"]
    assert w.loc["330102", "es_elderly_share"] == pytest.approx(hz["share_age_65_plus"])
    assert w.loc["330102", "es_household_size"] == pytest.approx(hz["mean_household_size"])
    # density against an independent geodesic area (pyproj.Geod on the WGS84 ellipsoid)
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    for code in ("330102", "331082", "330921"):
        geom = g.set_index("county_code").loc[code, "geometry"]
        area_km2 = abs(geod.geometry_area_perimeter(geom)[0]) / 1e6
        pop = g.set_index("county_code").loc[code, "population_2020"]
        assert w.loc[code, "es_population_density"] == pytest.approx(pop / area_km2, rel=5e-3)
    # Zhejiang's 91 counties: the province sums to 64,567,588 residents (2020 census)
    assert county_units()["population"].sum() == 64_567_588
    assert np.isfinite(w.to_numpy()).all()
    assert isinstance(w, pd.DataFrame)
