"""Calibration with a simulation whose optimum is known analytically."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.forecast import calibrate as cal

BASE = {  # storm → (people relocated and loss at the default parameters)
    "201909": (200_000.0, 3e9),
    "201910": (1_000_000.0, 1.5e10),
    "202004": (300_000.0, 5e9),
}


def simulate(params: dict, storm: str) -> pd.DataFrame:
    """Relocation falls as fragility medians rise (∝ s⁻²); loss falls with the flood threshold (∝ 1/rp)."""
    s = params.get("fragility_scale_wind", 1.0)
    thr = params.get("drainage_rp_yr", 1.0)
    rel, loss = BASE[storm]
    return pd.DataFrame(
        {
            "region": ["浙江省", "浙江省"],
            "metric": ["relocated", "economic_loss_cny"],
            "value": [rel * s**-2, loss * 1.0 / thr],
        }
    )


def observed(s_true: float, thr_true: float, storms=BASE) -> dict[str, pd.DataFrame]:
    return {
        k: simulate({"fragility_scale_wind": s_true, "drainage_rp_yr": thr_true}, k) for k in storms
    }


def test_recovers_known_parameters_and_reports_leave_one_out():
    obs = observed(1.3, 3.0)
    c = cal.fit(obs, simulate, name="test")
    assert c.params["fragility_scale_wind"] == pytest.approx(1.3, rel=1e-3)
    assert c.params["drainage_rp_yr"] == pytest.approx(3.0, rel=1e-3)
    assert c.loss < 1e-8
    assert [f["storm"] for f in c.fit] == list(BASE)
    assert all(f["mean_accuracy"] == pytest.approx(1.0, abs=1e-3) for f in c.fit)
    assert len(c.leave_one_out) == 3
    assert all(r["loss"] < 1e-8 for r in c.leave_one_out)


def test_leave_one_out_scores_each_storm_without_it():
    # storm 202004 behaves as if medians were 2.0× (the others 1.3×): the joint fit compromises, and
    # only the held-out score of 202004 reveals how poorly the others predict it
    obs = observed(1.3, 3.0)
    obs["202004"] = simulate({"fragility_scale_wind": 2.0, "drainage_rp_yr": 3.0}, "202004")
    c = cal.fit(obs, simulate)
    loo = {r["storm"]: r for r in c.leave_one_out}
    assert loo["202004"]["params"]["fragility_scale_wind"] == pytest.approx(1.3, rel=1e-3)
    # held out, 202004's relocation is over-predicted by (2.0/1.3)² → log error ln(2.37) on one of two metrics
    expect = (np.log1p(BASE["202004"][0] / 1.3**2) - np.log1p(BASE["202004"][0] / 2.0**2)) ** 2 / 2
    assert loo["202004"]["loss"] == pytest.approx(expect, rel=1e-3)
    fit = {r["storm"]: r for r in c.fit}
    assert loo["202004"]["loss"] > fit["202004"]["loss"]


def test_loss_is_the_mean_squared_log_error():
    obs = observed(1.0, 1.0)
    theta = {"fragility_scale_wind": 2.0, "drainage_rp_yr": 1.0}
    got = cal.loss(theta, {"201910": obs["201910"]}, simulate)
    expect = (np.log1p(1_000_000 / 4) - np.log1p(1_000_000)) ** 2 / 2
    assert got == pytest.approx(expect)


def test_bounds_are_respected():
    obs = observed(5.0, 1.0)  # outside the documented upper bound of 2.5
    c = cal.fit(obs, simulate, parameters=["fragility_scale_wind"], leave_one_out=False)
    assert c.params["fragility_scale_wind"] == pytest.approx(2.5, rel=1e-3)
    assert c.leave_one_out == []


def test_save_load_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("RESCITY_HOME", str(tmp_path))
    c = cal.fit(observed(1.3, 3.0), simulate, name="zj-test", leave_one_out=False)
    p = cal.save_calibration(c)
    assert p == tmp_path / "calibrations" / "zj-test.json"
    d = json.loads(p.read_text(encoding="utf-8"))
    assert d["params"]["fragility_scale_wind"] == pytest.approx(1.3, rel=1e-3)
    back = cal.load_calibration("zj-test")
    assert back.params == c.params and back.storms == list(BASE)
    assert cal.list_calibrations() == ["zj-test"]
    with pytest.raises(InputError, match="no calibration"):
        cal.load_calibration("nope")
    with pytest.raises(InputError, match="names"):
        cal.save_calibration(c, name="../evil")


def test_errors():
    with pytest.raises(InputError, match="unknown parameter"):
        cal.fit(observed(1.0, 1.0), simulate, parameters=["magic"])
    bad = lambda params, storm: pd.DataFrame({"region": ["x"], "metric": ["relocated"], "value": [1.0]})  # noqa: E731
    with pytest.raises(InputError, match="no value"):
        cal.fit(observed(1.0, 1.0), bad)
