"""``rescity run`` with recovery: metrics.csv, qt.csv, Q(t) figures and report sections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rescity.metrics.tables import METRICS_COLUMNS
from rescity.twin.io import save
from rescity.twin.toy import toy_twin


def rescity(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rescity", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=600,
    )


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("toy")
    save(toy_twin(3, 4, 3, 3), d / "twin")  # near Lekima's landfall (Taizhou)
    return d


@pytest.fixture(scope="module")
def run_out(toy_dir) -> Path:
    p = rescity(
        "run",
        "--sn",
        "201910",
        "--twin",
        str(toy_dir / "twin"),
        "-n",
        "6",
        "--out",
        str(toy_dir / "o"),
        "--quiet",
        cwd=toy_dir,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return toy_dir / "o"


def test_metrics_csv(run_out):
    m = pd.read_csv(run_out / "metrics.csv", dtype={"unit_id": str})
    assert list(m.columns[: len(METRICS_COLUMNS)]) == list(METRICS_COLUMNS)
    for c in ("resilience_loss_h", "robustness", "t90_h", "t100_h", "customer_hours_lost"):
        assert f"{c}_p05" in m and f"{c}_p95" in m
        assert (m[f"{c}_p05"] <= m[c] + 1e-6).all() and (m[c] <= m[f"{c}_p95"] + 1e-6).all()
    assert set(m["system"]) == {"power", "water", "telecom", "road"}
    assert set(m["level"]) == {"province", "prefecture", "county"}
    assert m["robustness"].between(0, 1).all() and (m["resilience_loss_h"] >= 0).all()
    assert (m["resilience_loss_h"] <= 336 + 1e-6).all()
    # customer-hours = people served × resilience loss
    np.testing.assert_allclose(
        m["customer_hours_lost"], m["people_served"] * m["resilience_loss_h"], rtol=1e-4
    )
    # a storm this close does damage
    assert m.loc[m["level"] == "province", "resilience_loss_h"].max() > 0


def test_qt_csv_and_figures(run_out):
    q = pd.read_csv(run_out / "qt.csv", dtype={"unit_id": str})
    assert list(q.columns) == ["unit_id", "system", "hour", "q_mean", "q_p05", "q_p95"]
    assert q["hour"].min() == 0 and q["hour"].max() == 336
    assert q[["q_mean", "q_p05", "q_p95"]].stack().between(0, 1).all()
    for (_, _), g in q.groupby(["unit_id", "system"]):
        assert (np.diff(g.sort_values("hour")["q_mean"].to_numpy()) >= -1e-6).all()
    assert (run_out / "qt_990000.png").stat().st_size > 1000
    html = (run_out / "report.html").read_text(encoding="utf-8")
    assert "Recovery" in html and "Resilience metrics" in html


def test_no_recovery_and_scenario_files(toy_dir, tmp_path):
    p = rescity(
        "run",
        "--sn",
        "201910",
        "--twin",
        str(toy_dir / "twin"),
        "-n",
        "2",
        "--out",
        str(tmp_path / "a"),
        "--quiet",
        "--no-recovery",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert not (tmp_path / "a" / "metrics.csv").exists() and (tmp_path / "a" / "units.csv").exists()
    good = tmp_path / "s.toml"
    good.write_text(
        '[recovery]\nhorizon_days = 7\npolicy = "random"\n[recovery.crews.default]\npower = 3\n',
        encoding="utf-8",
    )
    p = rescity(
        "run",
        "--sn",
        "201910",
        "--twin",
        str(toy_dir / "twin"),
        "-n",
        "2",
        "--out",
        str(tmp_path / "b"),
        "--quiet",
        "--scenario",
        str(good),
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert pd.read_csv(tmp_path / "b" / "qt.csv")["hour"].max() == 168
    bad = tmp_path / "bad.yaml"
    bad.write_text("recovery:\n  crews:\n    default: {power: zero}\n", encoding="utf-8")
    p = rescity(
        "run",
        "--sn",
        "201910",
        "--twin",
        str(toy_dir / "twin"),
        "-n",
        "2",
        "--out",
        str(tmp_path / "c"),
        "--scenario",
        str(bad),
        cwd=tmp_path,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    err = " ".join(p.stderr.split())
    assert "bad.yaml" in err and "crews.default.power" in err and "zero" in err


def test_redundancy_and_repair_plan_commands(toy_dir, tmp_path):
    twin = str(toy_dir / "twin")
    p = rescity(
        "redundancy",
        "--twin",
        twin,
        "-n",
        "4",
        "--budget",
        "2e6",
        "--per-type",
        "3",
        "--out",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    t = pd.read_csv(tmp_path / "r" / "redundancy.csv")
    assert {"measure_id", "type", "cost_cny", "benefit_ch", "benefit_per_mcny", "selected"} <= set(t.columns)
    assert t.loc[t["selected"], "cost_cny"].sum() <= 2e6
    assert (t["benefit_ch"] >= -1e-6).all()
    p = rescity(
        "repair-plan", "--twin", twin, "-n", "4", "--random", "2", "--out", str(tmp_path / "p"), cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr[-2000:]
    c = pd.read_csv(tmp_path / "p" / "repair_compare.csv")
    assert c["policy"].iloc[0].startswith("optimised") and len(c) == 5  # plan, default, 2 random, their mean
    assert (pd.read_csv(tmp_path / "p" / "repair_plan.csv")["rank"].diff().dropna() == 1).all()
