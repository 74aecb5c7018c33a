"""Single points of failure: N-1 by dominator trees against answers by hand and brute force."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from _recovery_twins import coord_twin, substation_twin
from rescity.decide.spof import SPOF_COLUMNS, spof_table
from rescity.engine.cascade import build_cascade_model, functional
from rescity.engine.criticality import build_criticality, failure_sets
from rescity.twin.model import Twin, conform
from rescity.twin.toy import toy_twin


def test_a_single_substation_feeding_everything():
    """plant → substation → feeders A (600 people) and B (400); the pump depends on the
    substation with no buffer, so the substation (and the plant) take power and water from all
    1,000; a feeder takes its own cell's power; the bridge takes nobody's road access away
    except the junction's (600 + 400 behind it)."""
    twin, pos = substation_twin()
    t = spof_table(twin).set_index("asset_id")
    assert t.loc["sub", "people_lost_power"] == 1000 and t.loc["sub", "people_lost_water"] == 1000
    assert t.loc["sub", "people_lost_total"] == 2000
    assert t.loc["plant", "people_lost_total"] == 2000
    assert t.loc["fa", "people_lost_power"] == 600 and t.loc["fa", "people_lost_water"] == 0
    assert t.loc["fb", "people_lost_total"] == 400
    assert t.loc["pump", "people_lost_water"] == 1000 and t.loc["pump", "people_lost_power"] == 0
    assert t.loc["na", "people_lost_total"] == 600
    assert t.loc["bridge", "people_lost_road"] == 1000
    assert t.loc["sub", "assets_lost"] == 6  # itself, its two feeders, the pump and the two nodes behind it
    assert list(spof_table(twin).columns[: len(SPOF_COLUMNS)]) == list(SPOF_COLUMNS)
    # ranked
    assert t["people_lost_total"].is_monotonic_decreasing


def test_a_second_feed_removes_the_single_point():
    twin, pos = coord_twin(
        [
            ("plant", "power", "power_plant", None, True, 120.0, 30.0),
            ("l1", "power", "line_110kv", None, False, 120.0, 30.1),
            ("l2", "power", "line_110kv", None, False, 120.1, 30.0),
            ("sub", "power", "substation_110kv", 0, False, 120.1, 30.1),
            ("f", "power", "feeder_10kv", 0, False, 120.1, 30.1),
        ],
        [
            ("power", "plant", "l1"),
            ("power", "l1", "sub"),
            ("power", "plant", "l2"),
            ("power", "l2", "sub"),
            ("power", "sub", "f"),
        ],
        service=[("f", 0, "power", 1000.0)],
    )
    t = spof_table(twin).set_index("asset_id")
    assert t.loc["l1", "people_lost_total"] == 0 and t.loc["l2", "people_lost_total"] == 0
    assert t.loc["sub", "people_lost_total"] == 1000


def _brute(twin, horizon_h):
    m = build_cascade_model(twin, horizon_h)
    n = twin.n_assets
    base = functional(m, np.zeros(n, np.int8))
    f = functional(m, (np.eye(n) * 4).astype(np.int8))
    return m, base[None, :] & ~f


@pytest.mark.parametrize(
    ("shape", "horizon_h"), [((2, 2, 2, 2), 12.0), ((3, 5, 3, 3), 2.0), ((3, 5, 3, 3), 0.0)]
)
def test_failure_sets_equal_one_cascade_run_per_asset(shape, horizon_h):
    twin = toy_twin(*shape)
    m, lost = _brute(twin, horizon_h)
    f = failure_sets(build_criticality(m)).toarray()
    np.testing.assert_array_equal(f, lost)


def random_twin(seed: int) -> Twin:
    """Two random meshed networks (loops) with random dependencies both ways and buffers."""
    rng = np.random.default_rng(seed)
    n1, n2 = 50, 40
    units = conform(pd.DataFrame([dict(unit_id="1", level="province", population=1)]), "units")
    rows = [
        dict(asset_id=f"p{i}", system="power", kind="bus", unit_id="1", is_source=i < 2) for i in range(n1)
    ]
    rows += [
        dict(asset_id=f"w{i}", system="water", kind="distribution_node", unit_id="1", is_source=i < 2)
        for i in range(n2)
    ]
    rows.append(dict(asset_id="h", system="facility", kind="hospital", unit_id="1"))
    e = []
    for off, n, s in ((0, n1, "power"), (n1, n2, "water")):
        u, v = rng.integers(0, n, 45), rng.integers(0, n, 45)
        e += [(s, off + x, off + y) for x, y in zip(u, v, strict=True) if x != y]
        e += [(s, off + i, off + int(rng.integers(0, i))) for i in range(1, n) if rng.random() < 0.7]
    d = []
    for _ in range(35):
        if rng.random() < 0.5:
            d.append(
                (
                    n1 + int(rng.integers(0, n2)),
                    int(rng.integers(0, n1)),
                    "power",
                    float(rng.choice([0, 0, 5, 20])),
                )
            )
        else:
            d.append(
                (
                    int(rng.integers(0, n1)),
                    n1 + int(rng.integers(0, n2)),
                    "water",
                    float(rng.choice([0, 0, 5, 20])),
                )
            )
    d.append((n1 + n2, int(rng.integers(0, n1)), "power", 0.0))
    return Twin(
        units,
        conform(pd.DataFrame(rows), "assets"),
        conform(pd.DataFrame(e, columns=["system", "src", "dst"]), "edges"),
        conform(pd.DataFrame(d, columns=["dependent", "supplier", "kind", "buffer_h"]), "dependencies"),
        conform(pd.DataFrame(columns=["terminal", "unit", "system", "people"]), "service"),
    )


def test_failure_sets_on_random_interdependent_meshes():
    """Loops, several core nodes failing together through dependencies, buffers: the N-1 sets
    still equal one full cascade run per asset."""
    for seed in range(40):
        for h in (0.0, 10.0):
            twin = random_twin(seed)
            m, lost = _brute(twin, h)
            f = failure_sets(build_criticality(m)).toarray()
            np.testing.assert_array_equal(f, lost, err_msg=f"seed {seed}, horizon {h}")


def test_spof_cli_writes_table_map_and_report(tmp_path):
    from rescity.twin.io import save

    save(toy_twin(), tmp_path / "twin")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "rescity",
            "spof",
            "--twin",
            str(tmp_path / "twin"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    t = pd.read_csv(tmp_path / "o" / "spof.csv", dtype={"unit_id": str})
    assert list(t.columns[: len(SPOF_COLUMNS)]) == list(SPOF_COLUMNS)
    assert len(t) == 86
    assert t.iloc[0]["kind"] == "power_plant"  # the one plant feeds the whole toy province
    html = (tmp_path / "o" / "spof.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "Single points of failure" in html
