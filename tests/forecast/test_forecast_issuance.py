"""One issuance and a hindcast, with a small real simulation per member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from _forecast_twin import make_twin, straight_track, toy_member
from rescity.forecast import ensemble as ens
from rescity.forecast import indicators as ind
from rescity.forecast import issuance as iss
from rescity.forecast import warning as wl

ISSUED = pd.Timestamp("2019-08-08 12:00", tz="UTC")


@pytest.fixture(scope="module")
def twin():
    return make_twin()


@pytest.fixture(scope="module")
def track():
    # heads north along 121.1°E from 26°N at 0.1°/h: reaches Linhai (28.9°N) about 29 h after 00 UTC
    return straight_track("2019-08-08 00:00", lat0=26.0, lon0=121.1, dlat_per_h=0.1, hours=96)


@pytest.fixture(scope="module")
def table(twin, track):
    e = ens.perturb_track(track, ISSUED, members=8, seed=4)
    return iss.run_issuance(twin, e, realisations=3, seed=4, simulate_member=toy_member)


def test_table_shape_and_columns(twin, table):
    assert list(table.columns) == list(iss.COLUMNS)
    assert set(table["lead_h"]) == {24, 48, 72}
    inds = set(table["indicator"])
    assert {
        "relocate",
        "homes_damaged",
        "roads_impassable",
        "people_cut_off",
        "economic_loss_cny",
        "composite",
    } <= inds
    assert len(table) == 3 * len(inds) * twin.n_units
    assert set(table["level"]) == {"province", "prefecture", "county", "cell"}
    assert table["change"].isna().all()  # first issuance


def test_additive_indicators_sum_over_levels(twin, table):
    t = table[(table["lead_h"] == 72) & (table["indicator"] == "relocate")].set_index("unit_id")
    cells = twin.units.loc[twin.units["level"] == "cell", "unit_id"]
    # the mean of sums is the sum of means: province mean = Σ cell means
    assert t.loc["330000", "mean"] == pytest.approx(t.loc[cells, "mean"].sum(), rel=1e-9)
    assert t.loc["331082", "mean"] == pytest.approx(
        t.loc[[c for c in cells if c.startswith("331082")], "mean"].sum()
    )
    assert (t["p05"] <= t["mean"] + 1e-9).all() and (t["mean"] <= t["p95"] + 1e-9).all()


def test_samples_match_a_direct_computation(twin, track):
    e = ens.perturb_track(track, ISSUED, members=5, seed=8)
    s = iss.simulate_issuance(twin, e, realisations=2, seed=8, simulate_member=toy_member, leads=(48,))
    # redo member by member by hand: window the track, run the simulation with the member's seed, roll up
    tracks = ens.member_tracks(e)
    rows = []
    for m, tr in enumerate(tracks):
        w = ens.window(tr, ISSUED, ISSUED + pd.Timedelta(hours=48))
        out = toy_member(twin, w, 2, iss.member_seed(8, ISSUED, m))
        rows.append(out["homes_damaged"])
    from rescity.forecast.indicators import rollup

    direct = rollup(twin, np.concatenate(rows))
    np.testing.assert_allclose(s.values[48]["homes_damaged"], direct)


def test_longer_windows_see_more_of_the_storm(table):
    t = table[(table["indicator"] == "relocate") & (table["unit_id"] == "330102")].set_index("lead_h")
    # at issuance the storm is at 27.2°N; the 24-h window ends at 29.6°N, before its closest approach to
    # Hangzhou (30.25°N), which the 48-h window includes: stronger peak wind, more people to relocate
    assert t.loc[24, "mean"] < t.loc[48, "mean"] <= t.loc[72, "mean"] + 1e-9
    # Linhai (28.9°N) is passed within the first 24 h by most members: the longer windows add little there
    t = table[(table["indicator"] == "relocate") & (table["unit_id"] == "331082")].set_index("lead_h")
    assert t.loc[24, "mean"] > 0.7 * t.loc[72, "mean"]


def test_warnings_follow_the_thresholds(twin, table):
    u = twin.units.set_index("unit_id")
    for k in ("relocate", "homes_damaged", "economic_loss_cny"):
        t = table[(table["indicator"] == k) & (table["lead_h"] == 72)]
        expect = wl.warning_level(
            t["mean"].to_numpy(),
            k,
            t["level"].to_numpy(),
            u.loc[t["unit_id"], "population"].to_numpy(),
            u.loc[t["unit_id"], "households"].to_numpy(),
        )
        np.testing.assert_array_equal(t["warning"].to_numpy(), expect)
    comp = table[(table["indicator"] == "composite") & (table["lead_h"] == 72)]
    assert (comp["warning"] == np.floor(np.clip(comp["mean"], 0, 4))).all()
    # the composite is at least every indicator's score at the unit (per sample, hence in mean)
    rel = table[(table["indicator"] == "relocate") & (table["lead_h"] == 72)].set_index("unit_id")
    s_rel = wl.score(
        rel["mean"], "relocate", rel["level"].to_numpy(), u.loc[rel.index, "population"].to_numpy()
    )
    assert (comp.set_index("unit_id").loc[rel.index, "mean"].to_numpy() >= s_rel - 1e-9).all()


def test_change_since_previous_issuance(twin, track, table):
    t2 = ISSUED + pd.Timedelta(hours=6)
    e2 = ens.perturb_track(track, t2, members=8, seed=4)
    nxt = iss.run_issuance(twin, e2, realisations=3, seed=4, simulate_member=toy_member, previous=table)
    m = nxt.merge(table, on=["lead_h", "unit_id", "indicator"], suffixes=("", "_prev"))
    np.testing.assert_allclose(m["change"], m["mean"] - m["mean_prev"])
    assert (m["warning_change"].astype(int) == m["warning"] - m["warning_prev"]).all()


def test_results_do_not_depend_on_workers(twin, track):
    e = ens.perturb_track(track, ISSUED, members=4, seed=2)
    a = iss.run_issuance(twin, e, realisations=2, seed=2, simulate_member=toy_member, leads=(24,), workers=1)
    b = iss.run_issuance(twin, e, realisations=2, seed=2, simulate_member=toy_member, leads=(24,), workers=2)
    pd.testing.assert_frame_equal(a, b)


def test_short_forecasts_keep_only_the_windows_they_reach(twin):
    tr = straight_track("2019-08-08 00:00", lat0=27.5, lon0=121.1, dlat_per_h=0.1, hours=42)
    e = ens.perturb_track(tr, ISSUED, members=3, seed=1)
    out = iss.run_issuance(twin, e, realisations=1, seed=1, simulate_member=toy_member)
    assert set(out["lead_h"]) == {24}


def test_landfall_time_by_hand():
    # a square of land north of 28.5°N; the storm crosses it at 0.1°/h from 26°N → 25 h after start
    land = shapely.box(120.0, 28.5, 123.0, 31.0)
    tr = straight_track("2019-08-08 00:00", lat0=26.0, lon0=121.1, dlat_per_h=0.1, hours=48)
    lf = iss.landfall_time(tr, land)
    assert abs((lf - pd.Timestamp("2019-08-09 01:00", tz="UTC")).total_seconds()) <= 600
    # never over land: closest approach (the track's northern end)
    far = straight_track("2019-08-08 00:00", lat0=20.0, lon0=121.1, dlat_per_h=0.1, hours=24)
    assert iss.landfall_time(far, land) == pd.Timestamp("2019-08-09 00:00", tz="UTC")


def test_issuance_times_are_synoptic_and_stop_at_landfall():
    tr = straight_track("2019-08-05 00:00", hours=150)
    times = iss.issuance_times(tr, "2019-08-09 17:45", start_h=72, end_h=0, step_h=6)
    assert times[0] == pd.Timestamp("2019-08-06 18:00", tz="UTC")
    assert times[-1] == pd.Timestamp("2019-08-09 12:00", tz="UTC")
    assert len(times) == 12


def test_hindcast_never_sees_the_future(twin):
    best = straight_track("2019-08-07 00:00", lat0=24.0, lon0=121.1, dlat_per_h=0.1, hours=96)
    hc = iss.hindcast(
        twin,
        best,
        landfall="2019-08-09 00:00",
        start_h=12,
        members=4,
        realisations=1,
        seed=3,
        simulate_member=toy_member,
        leads=(24,),
    )
    assert sorted(hc.issuances["issued"].unique()) == [
        "2019-08-08T12:00Z",
        "2019-08-08T18:00Z",
        "2019-08-09T00:00Z",
    ]
    assert hc.issuances.groupby("issued")["change"].apply(lambda s: s.isna().all()).tolist() == [
        True,
        False,
        False,
    ]
    off = hc.tracks[hc.tracks["member"] == -1]
    # the official forecast after each issuance departs from the best track (error, not foreknowledge)
    for issued, g in off.groupby("issued"):
        ts = pd.Timestamp(issued)
        later = g[pd.to_datetime(g["time"], utc=True) > ts]
        h = (pd.to_datetime(best["time"], utc=True) - ts) / pd.Timedelta(hours=1)
        hl = (pd.to_datetime(later["time"], utc=True) - ts) / pd.Timedelta(hours=1)
        dist = ens.haversine_km(
            later["lat"], later["lon"], np.interp(hl, h, best["lat"]), np.interp(hl, h, best["lon"])
        )
        assert (dist > 0.01).all()
    assert hc.meta["landfall"] == "2019-08-09T00:00Z"


def test_issuance_through_the_real_pipeline(twin, track):
    """The default member function runs hazard → engine → indicators on the twin, reproducibly."""
    e = ens.perturb_track(track, ISSUED, members=2, seed=1)
    a = iss.run_issuance(twin, e, ISSUED, realisations=2, leads=(24,), seed=3)
    b = iss.run_issuance(twin, e, ISSUED, realisations=2, leads=(24,), seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["indicator"]) >= {"relocate", "homes_damaged", "economic_loss_cny", "composite"}
    prov = a[(a["level"] == "province") & (a["indicator"] == "homes_damaged")]
    assert (
        len(prov) == 1
        and (prov["p05"] <= prov["mean"] + 1e-9).all()
        and (prov["mean"] <= prov["p95"] + 1e-9).all()
    )



def _per_window_pipeline(twin, track, realisations, seed, params=None):
    """The default pipeline as a custom member function (called once per window)."""
    return iss.member_indicators(twin, track, realisations, seed, params)


def test_members_windows_in_one_task_equal_the_per_window_pipeline(twin, track):
    """The default pipeline runs a member's lead windows together (one hazard pass): the same
    samples, bit for bit, as the pipeline called window by window, with 1 or 2 workers."""
    e = ens.perturb_track(track, ISSUED, members=3, seed=5)
    kw = dict(realisations=2, seed=5, leads=(24, 48, 72), params={"drainage_rp_yr": 5.0})
    together = iss.simulate_issuance(twin, e, ISSUED, **kw)
    alone = iss.simulate_issuance(twin, e, ISSUED, simulate_member=_per_window_pipeline, **kw)
    two = iss.simulate_issuance(twin, e, ISSUED, workers=2, **kw)
    assert list(together.values) == list(alone.values) == [24, 48, 72]
    assert together.values[72]["homes_damaged"].max() > together.values[24]["homes_damaged"].min()
    for L in together.values:
        for k, x in together.values[L].items():
            assert np.array_equal(x, alone.values[L][k]) and np.array_equal(x, two.values[L][k]), (L, k)
    w = [ens.window(ens.member_tracks(e)[0], ISSUED, ISSUED + pd.Timedelta(hours=L)) for L in (24, 48)]
    many = iss.member_windows(twin, w, 2, 11)
    for win, got in zip(w, many, strict=True):
        one = iss.member_indicators(twin, win, 2, 11)
        assert got.keys() == one.keys() and all(np.array_equal(got[k], one[k]) for k in one)


@pytest.mark.parametrize(
    "sn, reported_utc",
    [
        # CMA: Lekima landed at Wenling about 01:45 Beijing time on 10 Aug 2019 (= 17:45 UTC on the 9th);
        # Chan-hom at Zhujiajian, Zhoushan, about 16:40 Beijing time on 11 Jul 2015 (= 08:40 UTC)
        (201910, "2019-08-09 17:45"),
        (201509, "2015-07-11 08:40"),
    ],
)
def test_landfall_of_packaged_storms_matches_the_reported_time(sn, reported_utc):
    from rescity.data import path

    z = pd.read_csv(path("jtwc_wp_best_track_1945_2020.csv.gz"))
    z = z[z["SN"] == sn]
    tr = pd.DataFrame(
        {
            "time": pd.to_datetime(dict(year=z.Year, month=z.Month, day=z.Day, hour=z.Hour), utc=True),
            "lat": z["Lat"].to_numpy(),
            "lon": z["Lon"].to_numpy(),
            "vmax_ms": z["VMax"].to_numpy() * 0.514444,
        }
    )
    lf = iss.landfall_time(tr)  # packaged Zhejiang county polygons, 6-hourly JTWC positions
    assert abs((lf - pd.Timestamp(reported_utc, tz="UTC")).total_seconds()) <= 90 * 60


def test_land_geometry_prefers_the_twins_coarsest_shapes(twin):
    t = type(twin)(twin.units, twin.assets, twin.edges, twin.dependencies, twin.service)
    t.geometry = [shapely.box(120, 28, 122, 31) if lv == "province" else None for lv in t.units["level"]]
    assert iss.land_geometry(t).bounds == (120.0, 28.0, 122.0, 31.0)
    assert iss.land_geometry(None).bounds[0] == pytest.approx(118.0, abs=0.1)  # packaged Zhejiang


def _hindcast(twin, best, **kw):
    args = dict(
        landfall="2019-08-09 00:00",
        members=4,
        realisations=1,
        seed=3,
        simulate_member=toy_member,
        leads=(24,),
    )
    args.update(kw)
    return iss.hindcast(twin, best, **args)


def test_an_issuance_is_unchanged_by_later_or_earlier_issuances(twin):
    """No look-ahead: an issuance is the same whether the hindcast stops there or goes on, and
    whichever issuance it starts from (only ``change`` refers to the previous issuance)."""
    best = straight_track("2019-08-07 00:00", lat0=24.0, lon0=121.1, dlat_per_h=0.1, hours=96)
    short = _hindcast(twin, best, start_h=12, end_h=0)  # 12:00, 18:00, 00:00
    long = _hindcast(twin, best, start_h=24, end_h=12)  # 00:00 … 12:00 next day
    assert set(short.issuances["issued"]) < set(long.issuances["issued"])
    cols = [c for c in iss.COLUMNS if c not in ("change", "warning_change")]
    for issued in short.issuances["issued"].unique():
        a = short.issuances[short.issuances["issued"] == issued][cols].reset_index(drop=True)
        b = long.issuances[long.issuances["issued"] == issued][cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
        ta = short.tracks[short.tracks["issued"] == issued].reset_index(drop=True)
        tb = long.tracks[long.tracks["issued"] == issued].reset_index(drop=True)
        pd.testing.assert_frame_equal(ta, tb)
    # and the official forecast at an issuance is the one official_forecast gives alone
    ts = pd.Timestamp("2019-08-08 18:00", tz="UTC")
    off = ens.official_forecast(best, ts, ens.OFFICIAL_SEED, max_lead_h=24.0)
    got = short.tracks[(short.tracks["issued"] == "2019-08-08T18:00Z") & (short.tracks["member"] == -1)]
    np.testing.assert_allclose(got["lat"].to_numpy(), off["lat"].to_numpy())


def test_hindcast_determinism_by_seed_and_official_seed(twin):
    best = straight_track("2019-08-07 00:00", lat0=24.0, lon0=121.1, dlat_per_h=0.1, hours=96)
    a = _hindcast(twin, best, start_h=6)
    b = _hindcast(twin, best, start_h=6)
    pd.testing.assert_frame_equal(a.issuances, b.issuances)
    pd.testing.assert_frame_equal(a.tracks, b.tracks)

    def official(h):
        return h.tracks[h.tracks["member"] == -1][["lat", "lon", "vmax_ms"]].to_numpy()

    def members(h):
        return h.tracks[h.tracks["member"] >= 0][["lat", "lon"]].to_numpy()

    # another seed: other members and damage samples around the same official forecasts
    c = _hindcast(twin, best, start_h=6, seed=4)
    np.testing.assert_array_equal(official(a), official(c))
    assert not np.allclose(members(a), members(c))
    # another official seed: other official forecasts
    d = _hindcast(twin, best, start_h=6, official_seed=11)
    assert not np.allclose(official(a), official(d))
    assert a.meta["official_seed"] == ens.OFFICIAL_SEED and d.meta["official_seed"] == 11
    assert a.meta["official_decorrelation_h"] == ens.ISSUANCE_DECORRELATION_H


def _summarise_frame_by_frame(twin, samples, thresholds=None, previous=None):
    """``summarise`` as first written (one frame per lead and indicator, ``numpy.quantile``,
    the thresholds looked up per call): the reference the column-wise form must equal."""
    units = twin.units
    lv = units["level"].to_numpy(object)
    pop = units["population"].to_numpy(float)
    hh = units["households"].to_numpy(float)
    warned = wl.indicators_with_thresholds(thresholds)
    frames = []
    for L, vals in samples.values.items():
        scores = {k: wl.score(vals[k], k, lv, pop, hh, thresholds) for k in warned if k in vals}
        allv = dict(vals)
        allv["composite"] = wl.composite(scores) if scores else np.zeros_like(next(iter(vals.values())))
        for k, x in allv.items():
            mean = x.mean(axis=0)
            p05, p95 = np.quantile(x, [0.05, 0.95], axis=0)
            warn = (
                wl.warning_level(mean, k, lv, pop, hh, thresholds) if (k in warned or k == "composite") else 0
            )
            frames.append(
                pd.DataFrame(
                    {
                        "issued": samples.issued.strftime("%Y-%m-%dT%H:%MZ"),
                        "lead_h": int(L),
                        "unit_id": units["unit_id"].to_numpy(),
                        "level": lv,
                        "indicator": k,
                        "mean": mean,
                        "p05": p05,
                        "p95": p95,
                        "warning": np.broadcast_to(np.asarray(warn, np.int8), mean.shape),
                        "name_zh": units["name_zh"].to_numpy(),
                        "name_en": units["name_en"].to_numpy(),
                        "population": units["population"].to_numpy(),
                    }
                )
            )
    out = iss.add_change(pd.concat(frames, ignore_index=True), previous)
    return out[list(iss.COLUMNS)]


def _same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for c in a.columns:
        if a[c].dtype.kind == "f":
            assert a[c].to_numpy().tobytes() == b[c].to_numpy().tobytes(), c
    assert a.to_csv() == b.to_csv()


def test_summary_and_rollup_equal_the_frame_by_frame_table(twin, track, table):
    e = ens.perturb_track(track, ISSUED, members=5, seed=6)
    s = iss.simulate_issuance(twin, e, realisations=3, seed=6, simulate_member=toy_member)
    _same_table(iss.summarise(twin, s), _summarise_frame_by_frame(twin, s))
    prev = table.assign(issued="2019-08-08T06:00Z")
    _same_table(iss.summarise(twin, s, previous=prev), _summarise_frame_by_frame(twin, s, previous=prev))
    # rolled up from the members' blocks: the numbers and memory order of rollup(concatenate)
    u = iss.ancestors(twin)
    rng = np.random.default_rng(1)
    blocks = [rng.exponential(1.0, (r, twin.n_units)) for r in (3, 1, 4, 7, 2, 9, 4)]  # > ROLLUP_SAMPLES
    blocks[1][0, ::3] = -0.0
    new, ref = iss.rollup_blocks(u, blocks), ind.rollup(twin, np.concatenate(blocks), u)
    assert new.tobytes("A") == ref.tobytes("A") and new.flags.f_contiguous == ref.flags.f_contiguous


def test_windows_of_a_member_equal_window_by_window(track):
    tr = ens.member_tracks(ens.perturb_track(track, ISSUED, members=2, seed=3))[1]
    ends = [ISSUED + pd.Timedelta(hours=h) for h in (-30, 0.5, 24, 47.5, 72, 500)]
    for start in (ISSUED, ISSUED - pd.Timedelta(hours=2), "2019-08-20 00:00"):
        for w, e in zip(ens.windows(tr, start, ends), ends, strict=True):
            one = ens.window(tr, start, e)
            pd.testing.assert_frame_equal(w, one, check_exact=True)
            assert w.attrs == one.attrs


def test_first_member_runs_here_so_forked_workers_inherit_the_set_up(track):
    """With a local pool the first member of the default pipeline runs in this process (its
    engine set-up kept on the twin, inherited by the forked workers): the same samples."""
    t = make_twin()
    e = ens.perturb_track(track, ISSUED, members=3, seed=2)
    two = iss.simulate_issuance(t, e, ISSUED, realisations=2, seed=2, leads=(24,), workers=2)
    assert any(k[0] == "engine" for k in t.__dict__["_derived"] if isinstance(k, tuple))
    one = iss.simulate_issuance(make_twin(), e, ISSUED, realisations=2, seed=2, leads=(24,), workers=1)
    for k, x in one.values[24].items():
        assert x.tobytes("A") == two.values[24][k].tobytes("A"), k
