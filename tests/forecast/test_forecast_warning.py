"""Warning levels from the national relief plan's criteria, per-level scaling, composite score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rescity.errors import InputError
from rescity.forecast import warning as wl

ZJ_POP = 64_567_588  # Zhejiang, 2020 census


def test_province_relocation_levels_follow_the_national_relief_plan():
    # 国家自然灾害救助应急预案: relocated ≥ 10万 → IV (blue), 50万 → III, 100万 → II, 200万 → I (red)
    v = np.array([0, 99_999, 100_000, 499_999, 500_000, 1_000_000, 1_999_999, 2_000_000, 5_000_000])
    got = wl.warning_level(v, "relocate", "province")
    np.testing.assert_array_equal(got, [0, 0, 1, 1, 2, 3, 3, 4, 4])
    # collapsed and severely damaged homes: 3000 / 3万 / 7万 / 10万 households
    got = wl.warning_level([2_999, 3_000, 69_999, 70_000, 100_000], "homes_damaged", "province")
    np.testing.assert_array_equal(got, [0, 1, 2, 3, 4])


def test_lower_levels_scale_with_population():
    # a county of 1 million people: blue at 1e6 × 1e5 / 64,567,588 = 1548.8 people relocated
    pop = 1_000_000
    th = wl.unit_thresholds("relocate", "county", population=pop)[0]
    np.testing.assert_allclose(th, np.array([1e5, 5e5, 1e6, 2e6]) * pop / ZJ_POP, rtol=1e-5)
    got = wl.warning_level([1_548, 1_549, 15_500, 31_000], "relocate", ["county"] * 4, population=[pop] * 4)
    np.testing.assert_array_equal(got, [0, 1, 3, 4])
    # zero population: thresholds are 0 and never warn
    assert wl.warning_level([5.0], "relocate", "cell", population=[0])[0] == 0


def test_score_is_piecewise_linear_between_thresholds():
    t = np.array([1e5, 5e5, 1e6, 2e6])
    v = [0, 5e4, 1e5, 3e5, 1e6, 2e6, 3e6, 1e8]
    s = wl.score(v, "relocate", "province")
    # 0 → 0; half of blue → 0.5; blue → 1; midway blue-yellow → 1.5; orange → 3; red → 4;
    # beyond red with the orange–red slope: 2e6 + 1e6 → 5 (cap)
    np.testing.assert_allclose(s, [0, 0.5, 1.0, 1.5, 3.0, 4.0, 5.0, 5.0])
    assert t[1] == 5e5


def test_composite_is_the_highest_indicator_score_and_floors_to_the_warning():
    s_rel = wl.score([3e5, 0.0], "relocate", "province")  # 1.5, 0
    s_home = wl.score([0.0, 85_000], "homes_damaged", "province")  # 0, 3.5
    c = wl.composite({"relocate": s_rel, "homes_damaged": s_home})
    np.testing.assert_allclose(c, [1.5, 3.5])
    np.testing.assert_array_equal(wl.warning_level(c, "composite", "province"), [1, 3])


def test_two_dimensional_values_and_missing_thresholds():
    v = np.array([[1e5, 2e6], [0.0, 6e5]])
    np.testing.assert_array_equal(wl.warning_level(v, "relocate", ["province", "province"]), [[1, 4], [0, 2]])
    # a level without a row (e.g. a custom 'district') is never warned
    assert wl.warning_level([1e9], "relocate", "district")[0] == 0
    with pytest.raises(InputError, match="no warning thresholds"):
        wl.warning_level([1.0], "no_such_indicator", "province")
    with pytest.raises(InputError, match="population"):
        wl.warning_level([1.0], "relocate", "county")


def test_threshold_table_is_checked_and_sourced():
    t = wl.thresholds()
    assert t["source"].str.len().min() > 20
    bad = pd.DataFrame(
        [
            {
                "indicator": "relocate",
                "level": "province",
                "basis": "count",
                "blue": 5,
                "yellow": 4,
                "orange": 6,
                "red": 7,
            }
        ]
    )
    with pytest.raises(InputError, match="increase"):
        wl.thresholds(bad)
    assert list(wl.colour([0, 1, 4])) == ["none", "blue", "red"]


def test_units_without_thresholds_score_zero_without_numpy_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by a zero-width segment would raise here
        s = wl.score([0.0, 5e5, 3e6], "relocate", ["district", "province", "district"])
    np.testing.assert_allclose(s, [0.0, 2.0, 0.0])


def _score_with_temporaries(values, th):
    """``score_of`` as first written, with ``(…, n, 5)`` comparisons and ``take_along_axis``
    gathers: the reference the faster form must equal bit for bit."""
    v = np.asarray(values, float)
    n = th.shape[0]
    ok = np.isfinite(th).all(axis=1) & (th[:, 0] > 0)
    thz = np.where(ok[:, None], th, 1.0)
    knots = np.concatenate([np.zeros((n, 1)), thz], axis=1)
    vv = np.clip(np.nan_to_num(v, nan=0.0), 0.0, None)
    k = (vv[..., None] >= knots).sum(axis=-1)
    k = np.clip(k, 1, 4)
    lo = np.take_along_axis(np.broadcast_to(knots, vv.shape + (5,)), (k - 1)[..., None], -1)[..., 0]
    hi = np.take_along_axis(np.broadcast_to(knots, vv.shape + (5,)), k[..., None], -1)[..., 0]
    width = hi - lo
    frac = np.divide(vv - lo, width, out=np.ones_like(vv, dtype=float), where=width > 0)
    s = np.clip((k - 1) + frac, 0.0, wl.SCORE_CAP)
    return np.where(ok, s, 0.0)


def test_score_equals_the_form_with_temporaries_bit_for_bit():
    rng = np.random.default_rng(5)
    n = 300
    th = np.sort(rng.uniform(1, 100, (n, 4)), axis=1)
    th[:20] = np.nan  # no thresholds
    th[20:30, 0] = 0.0  # a zero population's thresholds
    th[30:40, 2] = th[30:40, 1]  # two equal thresholds
    th[40:50] = th[40:50, :1]  # all four equal
    v = rng.uniform(0, 150, (7, n))
    v[0, :] = th[:, 1]  # exactly on a threshold
    v[1, ::7] = np.nan
    v[2, ::5] = 0.0
    v[3, ::3] = -1.0
    v[4, ::11] = np.inf
    for values in (v, v[3], np.asfortranarray(v), v[:, 5:6].T[0]):
        t = th if values.shape[-1] == n else th[5:6]
        new, ref = wl.score_of(values, t), _score_with_temporaries(values, t)
        assert new.shape == ref.shape and new.tobytes() == ref.tobytes()
    lv = np.full(n, "county", dtype=object)
    pop = rng.uniform(0, 1e5, n)
    assert wl.score(v, "relocate", lv, pop).tobytes() == _score_with_temporaries(
        v, wl.unit_thresholds("relocate", lv, pop)
    ).tobytes()
