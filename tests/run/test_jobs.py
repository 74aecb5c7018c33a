"""The service's background jobs run the real pipeline and check their configuration."""

from __future__ import annotations

import pandas as pd
import pytest

from _forecast_twin import make_twin
from rescity.errors import InputError
from rescity.jobs import forecast_job, scenario_job


def _quiet(*_a, **_k):
    return None


def test_forecast_job_hindcast_of_lekima_on_a_small_twin():
    seen = []
    out = forecast_job(
        make_twin(),
        {"sn": "201910", "issued": "2019-08-09T00:00Z", "members": 2, "realisations": 4, "leads": [24]},
        lambda f, m="": seen.append(f),
    )
    t = out["issuances"]
    assert set(t["lead_h"]) == {24} and set(t["level"]) >= {"province", "county", "cell"}
    linhai = t[(t["unit_id"] == "331082") & (t["indicator"] == "relocate")].iloc[0]
    shangcheng = t[(t["unit_id"] == "330102") & (t["indicator"] == "relocate")].iloc[0]
    # Lekima's 24 h from 2019-08-09 00 UTC passes Linhai (Taizhou) at landfall, Hangzhou later and weaker
    assert linhai["mean"] > shangcheng["mean"]
    assert seen and all(0 <= f <= 1 for f in seen)


def test_forecast_job_from_track_rows():
    rows = [
        {
            "time": f"2019-08-09T{h:02d}:00Z",
            "lat": 27.5 + 0.15 * h,
            "lon": 121.8 - 0.05 * h,
            "vmax_kn": 100,
            "pcen_hpa": 935,
        }
        for h in range(0, 24, 6)
    ]
    out = forecast_job(
        make_twin(),
        {"track": rows, "issued": "2019-08-09T00:00Z", "members": 2, "realisations": 2, "leads": [24]},
        _quiet,
    )
    assert isinstance(out["issuances"], pd.DataFrame) and len(out["issuances"]) > 0


@pytest.mark.parametrize(
    "job, config, field",
    [
        (scenario_job, {}, "config.sn"),
        (scenario_job, {"sn": "201910", "realisation": 3}, "config.realisation"),
        (scenario_job, {"sn": "201910", "realisations": "many"}, "config.realisations"),
        (forecast_job, {"sn": "201910"}, "config.issued"),
        (forecast_job, {"issued": "2019-08-09T00:00Z"}, "config.track"),
    ],
)
def test_bad_job_configuration_names_the_field(job, config, field):
    with pytest.raises(InputError) as e:
        job(make_twin(), config, _quiet)
    assert e.value.field == field


def test_scenario_job_runs_recovery_and_returns_qt():
    """An API scenario run asks for recovery like the CLI does; its Q(t) comes back per unit and
    system over the requested horizon, starting below 1 where the storm cut service."""
    from rescity.twin.toy import toy_twin

    twin = toy_twin(lon0=121.1, lat0=28.3, spacing_deg=0.1)  # at Lekima's landfall (Wenling)
    out = scenario_job(
        twin, {"sn": "201910", "realisations": 4, "recovery": {"horizon_days": 2, "step_h": 2}}, _quiet
    )
    qt = out["qt"]
    assert list(qt.columns) == ["unit_id", "system", "t_h", "q"]
    assert qt["t_h"].max() == 48.0 and qt["t_h"].min() == 0.0
    assert qt["q"].between(0, 1).all()
    first = qt[qt["t_h"] == 0]
    assert (first["q"] < 1).any()  # the storm cut some service
    assert out["settings"]["recovery"]["horizon_days"] == 2
    assert "metrics" in out and len(out["metrics"]) > 0
    none = scenario_job(twin, {"sn": "201910", "realisations": 2, "recovery": {"enabled": False}}, _quiet)
    assert "qt" not in none
