"""Damage sampling: frequencies, per-realisation streams, several hazards."""

from __future__ import annotations

import numpy as np
import pytest

from rescity.engine.damage import sample_damage
from rescity.errors import InputError

P = np.array(
    [
        [0.9, 0.6, 0.3, 0.1],
        [0.5, 0.5, 0.0, 0.0],
        [0.02, 0.01, 0.005, 0.001],
        [0.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 1.0, 1.0],
    ]
)


def test_frequencies_converge_to_the_probabilities():
    r = 20_000
    s = sample_damage(P, r, seed=11)
    assert s.dtype == np.int8 and s.shape == (r, len(P))
    freq = np.stack([(s >= k).mean(axis=0) for k in (1, 2, 3, 4)], axis=1)
    # each frequency is a binomial proportion: standard error √(p(1−p)/R); 4.5 SE bounds a
    # false alarm at ~7e-6 per check (the seed is fixed, so the test is deterministic anyway)
    se = np.sqrt(P * (1 - P) / r)
    assert np.all(np.abs(freq - P) <= 4.5 * se + 1e-12)
    # certain and impossible states are exact
    assert np.all(s[:, 3] == 0) and np.all(s[:, 4] == 4)


def test_identical_for_any_chunking():
    r = 23
    full = sample_damage(P, r, seed=5)
    for size in (1, 7, r):
        parts = [sample_damage(P, min(size, r - s0), seed=5, start=s0) for s0 in range(0, r, size)]
        assert np.array_equal(np.concatenate(parts), full)


def test_stream_is_the_spawned_child_of_the_seed():
    """Realisation r uses SeedSequence(seed).spawn(...)[r]; check against a direct draw."""
    seed, r = 99, 6
    p = np.array([[0.5, 0.25, 0.1, 0.05]] * 3)
    s = sample_damage(p, r, seed)
    children = np.random.SeedSequence(seed).spawn(r)
    for i in range(r):
        u = np.random.default_rng(children[i]).random((1, 3))[0]
        assert np.array_equal(s[i], (u[:, None] < p).sum(axis=1))


def test_per_realisation_probabilities_slice_by_start():
    r = 10
    p_all = np.stack([P * (i % 2) for i in range(r)])  # odd realisations damaged, even not
    s = sample_damage(p_all, r, seed=3)
    assert np.all(s[0::2] == 0)
    block = sample_damage(p_all, 4, seed=3, start=4)  # rows 4..7 of the whole-run array
    assert np.array_equal(block, s[4:8])


def test_several_hazards_max_and_driver():
    r = 15_000
    pw = np.array([[0.6, 0.3, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    pf = np.array([[0.4, 0.4, 0.0, 0.0], [0.2, 0.2, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0]])
    s, drv = sample_damage({"wind": pw, "flood": pf}, r, seed=2, return_driver=True)
    # independent draws, max over hazards: P[DS ≥ ds] = 1 − (1 − p_w)(1 − p_f)
    comb = 1 - (1 - pw) * (1 - pf)
    freq = np.stack([(s >= k).mean(axis=0) for k in (1, 2, 3, 4)], axis=1)
    se = np.sqrt(comb * (1 - comb) / r)
    assert np.all(np.abs(freq - comb) <= 4.5 * se + 1e-12)
    assert np.all(drv[s == 0] == -1) and np.all(drv[s > 0] >= 0)
    assert np.all(drv[:, 1][s[:, 1] > 0] == 1)  # asset 1: only flood damages it
    assert np.all(drv[:, 2][s[:, 2] > 0] == 0)  # asset 2: only wind
    # the driver's own sample reaches the combined state: compare with single-hazard draws
    sw = sample_damage({"wind": pw, "flood": np.zeros_like(pf)}, r, seed=2)
    assert np.all(s >= sw)  # adding a hazard never lowers a state (same wind draws)


def test_bad_shapes():
    with pytest.raises(InputError):
        sample_damage(np.zeros((3, 4, 5, 6)), 2, 0)
    with pytest.raises(InputError):
        sample_damage(np.zeros((3, 5, 4)), 4, 0)  # 3 rows for 4 realisations


def test_active_assets_are_those_with_some_positive_probability():
    from rescity.engine.damage import _active

    rng = np.random.default_rng(0)
    b = rng.random((3, 200, 4)) * (rng.random((3, 200, 4)) < 0.2)
    b[0, 5] = np.nan
    b[1, 7, 2] = -0.0
    for x in (b, b[1], b[:, :0], b[0, :, :1]):
        ref = np.flatnonzero((x > 0).any(axis=tuple(range(x.ndim - 2)) + (-1,)))
        assert np.array_equal(_active(x), ref)
