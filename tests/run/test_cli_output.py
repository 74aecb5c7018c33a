"""The command line as an officer meets it: output folders are not silently overwritten, tables
fit the terminal, nonsense counts are refused, storm names and far-away quakes are explained."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from rich.console import Console

from rescity.cli._common import claim_output
from rescity.cli._tables import fitted_table
from rescity.errors import InputError


def rescity(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rescity", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "120"}, timeout=300,
    )  # fmt: skip


def test_run_refuses_another_commands_folder(tmp_path):
    out = tmp_path / "o"
    claim_output(out, "demo", "201910")
    (out / "report.html").write_text("demo", encoding="utf-8")
    p = rescity("run", "--sn", "201910", "-n", "2", "--out", str(out), cwd=tmp_path)
    assert p.returncode == 2 and "--force" in p.stderr and "Traceback" not in p.stderr
    assert (out / "report.html").read_text(encoding="utf-8") == "demo"
    with pytest.raises(InputError):
        claim_output(out, "run", "201910")
    claim_output(out, "run", "201910", force=True)  # --force takes it over
    claim_output(out, "run", "201910")  # the same run again may rewrite its own outputs


def test_a_folder_with_unmarked_outputs_is_refused(tmp_path):
    (tmp_path / "issuances.csv").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="another command"):
        claim_output(tmp_path, "demo", "201910")
    claim_output(tmp_path / "new", "demo", "201910")  # a new folder is fine


@pytest.mark.parametrize("n", ["0", "-5"])
def test_hindcast_refuses_nonpositive_realisations(tmp_path, n):
    p = rescity("forecast", "hindcast", "--sn", "201910", "-n", n, "--out", str(tmp_path / "h"), cwd=tmp_path)
    assert p.returncode == 2
    assert not (tmp_path / "h" / "issuances.csv").exists()


def test_storm_name_resolves_and_an_unknown_name_is_explained(tmp_path):
    p = rescity("run", "--sn", "lekima", "-n", "2", "-q", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    err = " ".join(p.stderr.split())
    assert "Lekima" in err and "2019" in err  # the packaged storm the name resolved to
    assert (tmp_path / "o" / "report.html").is_file()
    p = rescity("run", "--sn", "Nosuchstorm", "-n", "2", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "Nosuchstorm" in " ".join(p.stderr.split())


def test_tables_fit_the_terminal():
    rows = [f"{i}" * 3 for i in range(5)]
    cols = [("unit", [f"温岭市 Wenling {r}" for r in rows], "left")] + [
        (f"column {k}", ["8.14M [7.75M–8.63M]"] * 5, "right") for k in range(14)
    ]
    con = Console(width=120, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    con.print(fitted_table("Counties", cols, 120, "units.csv"))
    text = con.export_text()
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "not shown at this terminal width" in text and "units.csv" in text
    assert "column 0" in text and "column 13" in text.split("not shown")[1]


def test_far_away_quake_warns(capsys):
    from rescity.cli.scenario import warn_weak_quake
    from rescity.hazard.scenario import EarthquakeScenario

    twin_units = pd.DataFrame({"lon": [120.0, 121.0], "lat": [29.0, 30.0]})
    res = SimpleNamespace(
        units=pd.DataFrame({"pga_max_g": [0.0004, 0.0001]}),
        settings=SimpleNamespace(quake=EarthquakeScenario.from_text("35.0,139.0,10,7")),  # near Tokyo
        twin=SimpleNamespace(units=twin_units),
    )
    assert warn_weak_quake(res)
    err = " ".join(capsys.readouterr().err.split())
    assert "km from the nearest unit" in err and "zero" in err
    # distance Tokyo area – Zhejiang is more than 1,500 km
    km = int(err.split(" km from")[0].split()[-1].replace(",", ""))
    assert 1500 < km < 2500
    res.units = pd.DataFrame({"pga_max_g": [0.3, 0.1]})
    assert not warn_weak_quake(res)


def test_a_folder_left_by_a_failed_run_is_free(tmp_path):
    """A run that failed before writing outputs leaves only its mark: the next command may use it."""
    from rescity.cli._common import OUTPUT_MARK, claim_output
    from rescity.errors import InputError

    out = tmp_path / "o"
    claim_output(out, "run", "Lekima 2019")
    assert (out / OUTPUT_MARK).is_file()
    claim_output(out, "demo", "201910")  # no outputs there: free
    (out / "units.csv").write_text("unit_id\n", encoding="utf-8")
    with pytest.raises(InputError, match="--force"):
        claim_output(out, "run", "Lekima 2019")
