"""The fragility mapping speaks the default twin's language: its class-specific rows name classes
the Zhejiang generator really emits, and they change which curve an asset gets."""

from __future__ import annotations

from importlib.resources import files

import pandas as pd

from rescity.fragility.library import assign, load_library
from rescity.twin.zhejiang import default_twin


def test_twin_class_rows_name_classes_the_generator_emits():
    m = pd.read_csv(files("rescity.fragility") / "data" / "mapping_twin_classes.csv")
    a = default_twin().assets
    emitted = set(zip(a["system"], a["kind"], a["fragility_class"], strict=True))
    missing = {(r.system, r.kind, r.fragility_class) for r in m.itertuples()} - emitted
    assert not missing, missing


def test_cables_and_buried_fibre_are_not_exposed_to_wind_but_overhead_lines_are():
    a = default_twin().assets
    cs = assign(load_library(), a, ("wind",))
    c = cs.counts.set_index(["hazard", "system", "kind"])
    cable = int(((a["kind"] == "feeder_10kv") & (a["fragility_class"] == "feeder_10kv_cable")).sum())
    buried = int(((a["kind"] == "fiber_link") & (a["fragility_class"] == "fiber_buried")).sum())
    assert cable > 0 and buried > 0
    assert c.loc[("wind", "power", "feeder_10kv"), "invulnerable"] == cable
    assert c.loc[("wind", "telecom", "fiber_link"), "invulnerable"] == buried
    n_feeders = int((a["kind"] == "feeder_10kv").sum())
    assert c.loc[("wind", "power", "feeder_10kv"), "with_curve"] == n_feeders - cable
