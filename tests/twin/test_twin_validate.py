"""validate() reports every problem class, each with its table and field."""

from __future__ import annotations

import numpy as np
import pytest

from rescity.twin.validate import Problem, errors, validate
from twin_support import tiny, write_layers


def _pos(t, asset_id):
    return int(np.flatnonzero(t.assets["asset_id"] == asset_id)[0])


def test_clean_twin_has_no_problems():
    assert validate(tiny()) == []


def _unknown_system(t):
    t.assets.loc[0, "system"] = "gas"


def _unknown_kind(t):
    t.assets.loc[_pos(t, "S1"), "kind"] = "substation_66kv"


def _dangling_edge(t):
    t.edges.loc[0, "dst"] = 999


def _negative_edge(t):
    t.edges.loc[1, "src"] = -1


def _missing_coords(t):
    t.assets.loc[_pos(t, "BS1"), "lon"] = np.nan


def _invalid_coords(t):
    t.assets.loc[_pos(t, "BS2"), "lat"] = 123.0


def _unit_coords(t):
    t.units.loc[2, "lon"] = np.nan


def _duplicate_asset(t):
    t.assets.loc[_pos(t, "BS2"), "asset_id"] = "BS1"


def _duplicate_unit(t):
    t.units.loc[3, "unit_id"] = "C-c0001"


def _no_source(t):
    t.assets.loc[t.assets["system"] == "water", "is_source"] = False


def _parent_missing(t):
    t.units.loc[1, "parent_id"] = "Q"


def _service_to_county(t):
    t.service.loc[0, "unit"] = 1


def _service_sum(t):
    t.service.loc[t.service["system"] == "telecom", "people"] *= 0.5


def _dependency_missing(t):
    t.dependencies.loc[0, "supplier"] = 500


def _dependency_kind(t):
    t.dependencies.loc[3, "kind"] = "power"  # supplier DN1 is water


def _edge_cross_system(t):
    t.edges.loc[0, "dst"] = _pos(t, "DN1")


def _unknown_level(t):
    t.units.loc[2, "level"] = "district"


def _service_wrong_system(t):
    t.service.loc[0, "terminal"] = _pos(t, "DN1")


CASES = [
    (_unknown_system, "assets", "system", "unknown system"),
    (_unknown_kind, "assets", "kind", "unknown kind"),
    (_dangling_edge, "edges", "dst", "dangling edge"),
    (_negative_edge, "edges", "src", "dangling edge"),
    (_missing_coords, "assets", "lon", "coordinates"),
    (_invalid_coords, "assets", "lon", "coordinates"),
    (_unit_coords, "units", "lon", "coordinates"),
    (_duplicate_asset, "assets", "asset_id", "duplicate"),
    (_duplicate_unit, "units", "unit_id", "duplicate"),
    (_no_source, "assets", "is_source", "no source"),
    (_parent_missing, "units", "parent_id", "parent unit missing"),
    (_service_to_county, "service", "unit", "non-cell"),
    (_service_sum, "service", "people", "not its population"),
    (_dependency_missing, "dependencies", "supplier", "missing asset"),
    (_dependency_kind, "dependencies", "kind", "not of this system"),
    (_edge_cross_system, "edges", "system", "another system"),
    (_unknown_level, "units", "level", "unknown level"),
    (_service_wrong_system, "service", "system", "not of this system"),
]


@pytest.mark.parametrize("mutate,table,field,text", CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_each_problem_class_is_reported(mutate, table, field, text):
    t = tiny()
    mutate(t)
    probs = validate(t)
    hits = [p for p in errors(probs) if p.table == table and p.field == field and text in p.message]
    assert hits, [str(p) for p in probs]
    assert all(isinstance(p, Problem) for p in probs)


def test_reports_every_problem_not_just_the_first():
    t = tiny()
    for mutate, *_ in CASES[:6]:
        mutate(t)
    probs = errors(validate(t))
    kinds = {(p.table, p.field) for p in probs}
    assert {
        ("assets", "system"),
        ("assets", "kind"),
        ("edges", "dst"),
        ("edges", "src"),
        ("assets", "lon"),
    } <= kinds
    # both bad coordinates, each on its own row
    rows = {p.row for p in probs if p.table == "assets" and p.field == "lon"}
    assert rows == {_pos(t, "BS1"), _pos(t, "BS2")}


def test_service_sum_problem_names_the_cell_and_system():
    t = tiny()
    _service_sum(t)
    p = [p for p in validate(t) if p.field == "people"]
    assert len(p) == 2  # both cells, telecom only
    assert "telecom" in p[0].message and "C-c0001" in p[0].message and p[0].value == 50.0


def test_unreachable_terminal_is_a_warning():
    t = tiny()
    t.edges = t.edges[~((t.edges["system"] == "telecom") & (t.edges["dst"] == _pos(t, "BS2")))]
    probs = validate(t)
    assert not errors(probs)
    assert [(p.severity, p.value) for p in probs] == [("warning", "BS2")]


def test_population_of_parent_checked():
    t = tiny()
    t.units.loc[1, "population"] = 151
    probs = validate(t)
    # the county no longer matches its cells, and the province no longer matches the county
    assert sorted((p.severity, p.table, p.field, p.row) for p in probs) == [
        ("warning", "units", "population", 0),
        ("warning", "units", "population", 1),
    ]


def test_unknown_asset_id_on_import(tmp_path):
    t = tiny()
    write_layers(t, tmp_path / "l")
    edges = (tmp_path / "l" / "edges.csv").read_text().replace("PP,L1", "PP,L9")
    (tmp_path / "l" / "edges.csv").write_text(edges)
    probs = validate(tmp_path / "l")
    hit = [p for p in probs if p.table == "edges" and p.field == "dst"]
    assert len(hit) == 1 and hit[0].value == "L9" and "unknown asset id" in hit[0].message
    assert hit[0].severity == "error"


def test_zhejiang_twin_is_clean():
    from twin_support import zhejiang

    assert validate(zhejiang()) == []
