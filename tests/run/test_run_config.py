"""RunConfig: one schema for CLI options, API job configs and scenario files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rescity.errors import InputError
from rescity.jobs import scenario_config
from rescity.run.config import DEFAULT_SEED, RunConfig, json_schema, read_mapping
from rescity.seeds import DEFAULT_SEED as SEED


def test_the_default_seed_is_defined_once():
    assert DEFAULT_SEED is SEED and SEED == 20190809
    c = RunConfig(sn="201910")
    assert c.seed == SEED and c.twin.seed == SEED  # separate settings, same default


def test_schema_is_exported_with_every_section():
    s = json_schema()
    for key in ("sn", "quake", "hazards", "twin", "realisations", "seed", "recovery", "outputs", "params"):
        assert key in s["properties"], key
    assert s["additionalProperties"] is False
    assert s["properties"]["hazards"]["items"]["enum"] == ["wind", "rain", "flood", "landslide", "surge"]  # the registry
    defs = s["$defs"]
    assert {"TwinSpec", "RecoverySpec", "EarthquakeScenario"} <= set(defs)
    assert defs["RecoverySpec"]["properties"]["mutual_aid"]["anyOf"][0]["maximum"] == 1


def test_config_schema_command_prints_the_schema():
    p = subprocess.run([sys.executable, "-m", "rescity", "config", "schema"], capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)["title"] == "RunConfig"


FULL = {
    "sn": "201910",
    "hazards": ["wind", "surge"],
    "realisations": 12,
    "seed": 3,
    "twin": {"seed": 11},
    "horizon_h": 24.0,
    "recovery": {"horizon_days": 7, "policy": "people_per_hour", "crews": {"default": {"power": 30}},
                 "mutual_aid": 0.25},
    "params": {"drainage_rp_yr": 3.0},
}  # fmt: skip


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    c = RunConfig.load(FULL)
    p = tmp_path / f"run{suffix}"
    d = c.as_dict()
    if suffix == ".json":
        p.write_text(json.dumps(d), encoding="utf-8")
    else:
        import yaml

        p.write_text(yaml.safe_dump(d), encoding="utf-8")
    again = RunConfig.from_file(p)
    assert again == c
    assert again.hazards == ("wind", "surge") and again.recovery.mutual_aid == 0.25
    assert again.twin.seed == 11 and again.seed == 3


def test_toml_written_by_hand(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text(
        'sn = "201910"\nhazards = ["wind", "surge"]\nrealisations = 12\nseed = 3\nhorizon_h = 24.0\nparams = {drainage_rp_yr = 3.0}\n'
        "[twin]\nseed = 11\n[recovery]\nhorizon_days = 7\npolicy = \"people_per_hour\"\nmutual_aid = 0.25\n"
        "[recovery.crews.default]\npower = 30\n",
        encoding="utf-8",
    )
    assert RunConfig.from_file(p) == RunConfig.load(FULL)


def test_cli_options_and_api_config_give_the_same_config():
    cli = RunConfig.from_options(sn="201910", hazards="wind,rain,flood", realisations=100, seed=7, recovery=True)
    api = scenario_config({"sn": "201910", "hazards": ["wind", "rain", "flood"], "seed": 7})
    assert cli == api
    q_cli = RunConfig.from_options(quake="30.0,120.5,10,6.0", aftershocks=["30.1,120.6,8,5.5"], realisations=100)
    q_api = scenario_config({"quake": "30.0,120.5,10,6.0"})
    assert q_cli.quake.mainshock == q_api.quake.mainshock
    q_api2 = scenario_config({"quake": q_cli.quake.model_dump()})
    assert q_api2 == q_cli


@pytest.mark.parametrize(
    "config, field, value",
    [
        ({"sn": "201910", "hazards": "wind,lava"}, "config.hazards", "lava"),
        ({"sn": "201910", "realisations": 0}, "config.realisations", 0),
        ({"sn": "201910", "colour": "red"}, "config.colour", "red"),
        ({"sn": "201910", "recovery": {"mutual_aid": 2}}, "config.recovery.mutual_aid", 2),
        ({"sn": "201910", "recovery": {"horizon_days": -1}}, "config.recovery.horizon_days", -1),
        ({"sn": "201910", "params": {"magic": 1.0}}, "config.params.magic", "magic"),
        ({"sn": "201910", "model": "rankine"}, "config.model", "rankine"),
        ({"sn": "201910", "track_source": "ibtracs"}, "config.track_source", "ibtracs"),
        ({"sn": "201910", "outputs": {"keep_realisations": "some"}}, "config.outputs.keep_realisations", "some"),
        ({"sn": "201910", "quake": "30,120,10,6"}, "config.quake", "30,120,10,6"),
        ({"quake": "30,120,10,9.9"}, "config.quake.Mw", None),
        ({}, "config.sn", None),
    ],
)
def test_bad_api_fields_name_field_and_value(config, field, value):
    with pytest.raises(InputError) as e:
        scenario_config(config)
    assert e.value.field == field
    if value is not None:
        assert e.value.value == value


def test_bad_file_names_file_field_and_value(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("sn: '201910'\nrecovery:\n  min_crews: 0\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        RunConfig.from_file(p)
    assert e.value.file == str(p) and e.value.field == "recovery.min_crews" and e.value.value == 0
    with pytest.raises(InputError) as e:
        read_mapping(tmp_path / "missing.toml")
    assert "missing.toml" in str(e.value)


def test_cli_option_errors_name_the_option():
    with pytest.raises(InputError) as e:
        RunConfig.from_options(sn="201910", hazards="wind,lava")
    assert e.value.field == "--hazards" and e.value.value == "lava"
    with pytest.raises(InputError) as e:
        RunConfig.from_options(sn="201910", quake="30,120,10,6")
    assert e.value.field == "--quake"
    with pytest.raises(InputError) as e:
        RunConfig.from_options(sn="201910", source="ibtracs")
    assert e.value.field == "--source" and e.value.value == "ibtracs"
    with pytest.raises(InputError) as e:
        RunConfig.from_options(sn="201910", keep_realisations="some")
    assert e.value.field == "--keep-realisations" and e.value.value == "some"
    assert RunConfig.from_options(sn="201910", keep_realisations="summary").outputs.keep_realisations == "summary"


def test_track_source_picks_the_packaged_best_track():
    from rescity.run.scenario import load_track

    cfg = RunConfig.from_options(sn="201910")
    assert cfg.track_source == "cma"
    cma = load_track(cfg)
    assert cma.attrs["cma"] == "1909" and cma.attrs["storm"].source == "cma"
    jtwc = load_track(RunConfig.from_options(sn="Lekima 2019", source="JTWC"))
    assert jtwc.attrs["storm"].source == "jtwc" and jtwc.attrs["jtwc"] == "201910"
    # CMA records 2-min winds, turned to 1-min means; JTWC gives its own 1-min winds: not the same track
    assert len(cma) != len(jtwc) or not np.allclose(cma["vmax_ms"].to_numpy(), jtwc["vmax_ms"].to_numpy())


def test_recovery_settings_reach_the_engine():
    c = RunConfig.load({"sn": "201910", "recovery": {"horizon_days": 3, "crews": {"default": {"power": 9}}}})
    rc = c.recovery.engine_config()
    assert rc.horizon_days == 3 and rc.crews["default"]["power"] == 9
    with pytest.raises(InputError) as e:
        RunConfig.load({"sn": "201910", "recovery": {"policy": "coin_toss"}}).recovery.engine_config()
    assert e.value.field == "policy" and e.value.value == "coin_toss"


def test_the_monte_carlo_seed_leaves_the_twin_alone(monkeypatch):
    """``--seed`` changes the random draws only; the default twin is built with ``twin.seed``."""
    import rescity.twin.zhejiang as zj
    from rescity.run.scenario import load_twin

    seen = []
    monkeypatch.setattr(zj, "default_twin", lambda seed, synthetic=False: seen.append(seed) or seed)
    load_twin(RunConfig(sn="201910", seed=7))
    load_twin(RunConfig(sn="201910", seed=7, twin={"seed": 5}))
    load_twin(RunConfig.from_options(sn="201910", seed=8, twin_seed=6))
    assert seen == [SEED, 5, 6]


def test_config_show_and_a_bad_file_on_the_command_line(tmp_path):
    good = tmp_path / "run.yaml"
    good.write_text("sn: '201910'\nhazards: [wind, surge]\nrecovery: {enabled: false}\n", encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "rescity", "config", "show", str(good)], capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    shown = json.loads(p.stdout)
    assert shown["hazards"] == ["wind", "surge"] and shown["realisations"] == 500 and shown["seed"] == SEED
    bad = tmp_path / "bad.toml"
    bad.write_text('sn = "201910"\nworkers = 0\n', encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "rescity", "run", "--config", str(bad)], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr
    err = " ".join(p.stderr.split())
    assert "bad.toml" in err and "workers" in err and "0" in err


def test_run_prints_the_storm_from_the_chosen_source(monkeypatch, capsys, tmp_path):
    from typer.testing import CliRunner

    monkeypatch.chdir(tmp_path)  # the default output folder is ./rescity-out

    import rescity.run.scenario as rs
    from rescity.cli import app

    class Stop(Exception):
        pass

    seen = []

    def fake_run(config, **kw):
        seen.append(config.track_source)
        raise Stop

    monkeypatch.setattr(rs, "run_scenario", fake_run)
    r = CliRunner().invoke(app, ["run", "--sn", "Lekima 2019", "--source", "jtwc", "-n", "2", "--no-recovery"])
    assert isinstance(r.exception, Stop) and seen == ["jtwc"]
    assert "JTWC 201910 Lekima" in r.output and "CMA 1909" in r.output
    from rescity.cli import main

    with pytest.raises(SystemExit) as e:
        main(["run", "--sn", "201910", "--source", "bogus"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--source" in err and "bogus" in err and len(err.strip().splitlines()) == 1


def test_the_scheduler_reaches_the_config_from_the_global_option_or_the_environment(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import rescity.run.scenario as rs
    from rescity.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESCITY_SCHEDULER", raising=False)

    class Stop(Exception):
        pass

    seen = []

    def fake_run(config, **kw):
        seen.append((config.scheduler, config.workers))
        raise Stop

    monkeypatch.setattr(rs, "run_scenario", fake_run)
    run = ["run", "--sn", "201910", "-n", "2", "--no-recovery", "--workers", "3"]
    for argv, env in (
        (run, None),
        (["--scheduler", "tcp://10.0.0.5:8786", *run], None),
        (run, "local-dask"),
        (["--scheduler", "local", *run], "local-dask"),  # the option wins over the environment
    ):
        r = CliRunner().invoke(app, argv, env={"RESCITY_SCHEDULER": env} if env else None)
        assert isinstance(r.exception, Stop), r.output
    assert seen == [(None, 3), ("tcp://10.0.0.5:8786", 3), ("local-dask", 3), ("local", 3)]
    # a run file's scheduler, unless the option says otherwise
    f = tmp_path / "run.yaml"
    f.write_text("sn: '201910'\nscheduler: local-dask\nworkers: 2\nrecovery: {enabled: false}\n", encoding="utf-8")
    for argv in (["run", "--config", str(f)], ["--scheduler", "host:8786", "run", "--config", str(f)]):
        r = CliRunner().invoke(app, argv)
        assert isinstance(r.exception, Stop), r.output
    assert seen[-2:] == [("local-dask", 2), ("host:8786", 2)]


def test_a_bad_scheduler_is_an_input_error_and_the_api_may_not_choose_one(tmp_path, capsys, monkeypatch):
    from rescity.cli import main

    monkeypatch.delenv("RESCITY_SCHEDULER", raising=False)
    with pytest.raises(SystemExit) as e:
        main(["--scheduler", "my laptop", "history", "list", "--json"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--scheduler" in err and "my laptop" in err
    p = tmp_path / "bad.yaml"
    p.write_text("sn: '201910'\nscheduler: 'udp:'\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        RunConfig.from_file(p)
    assert e.value.field == "scheduler" and e.value.value == "udp:"
    assert RunConfig(sn="201910", scheduler=" tcp://h:8786 ").scheduler == "tcp://h:8786"
    assert "scheduler" in json_schema()["properties"]
    with pytest.raises(InputError) as e:  # where runs execute is the server's setting
        scenario_config({"sn": "201910", "scheduler": "tcp://10.0.0.5:8786"})
    assert e.value.field == "config.scheduler" and e.value.value == "tcp://10.0.0.5:8786"
