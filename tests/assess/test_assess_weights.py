"""Standardisation and weights, checked against the published formulas and against pymcdm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rescity.assess.weights import (
    SAATY_RI,
    ahp_weights,
    combine_weights,
    critic_weights,
    entropy_weights,
    parse_judgement,
    standardise,
)
from rescity.errors import InputError

pymcdm = pytest.importorskip("pymcdm")


def _matrix(seed: int = 7, m: int = 12, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 3.0, size=(m, n))
    x[:, 1] = 100 - x[:, 1]  # a cost indicator with a different scale
    d = np.array([1, -1, 1, 1, -1])
    return x, d


def test_standardise_minmax_with_shift_by_hand():
    x = np.array([[1.0, 10.0], [3.0, 30.0], [2.0, 20.0]])
    y = standardise(x, np.array([1, -1]), shift=0.01)
    # benefit: (x - min)/(max - min) -> 0, 1, 0.5; cost: (max - x)/(max - min) -> 1, 0, 0.5
    expect = 0.01 + 0.99 * np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(y, expect, rtol=0, atol=1e-15)
    assert y.min() == pytest.approx(0.01) and y.max() == pytest.approx(1.0)


def test_entropy_weights_by_hand():
    y = np.array([[0.2, 1.0, 0.5], [0.4, 1.0, 0.01], [0.9, 1.0, 1.0], [0.5, 1.0, 0.3]])
    m, n = y.shape
    d = []
    for j in range(n):  # Shannon entropy of each column, written out
        col = [y[i][j] for i in range(m)]
        s = sum(col)
        e = -sum((v / s) * math.log(v / s) for v in col) / math.log(m)
        d.append(1 - e)
    expect = np.array(d) / sum(d)
    np.testing.assert_allclose(entropy_weights(y), expect, rtol=1e-12)
    assert entropy_weights(y)[1] == pytest.approx(0.0, abs=1e-12)  # a constant column carries no information


def test_entropy_needs_positive_scores():
    with pytest.raises(InputError, match="strictly positive"):
        entropy_weights(np.array([[0.0, 1.0], [1.0, 0.5]]))


def test_entropy_and_critic_match_pymcdm():
    from pymcdm.weights import critic_weights as pm_critic
    from pymcdm.weights import entropy_weights as pm_entropy

    x, d = _matrix()
    y = standardise(x, d, shift=0.01)
    np.testing.assert_allclose(entropy_weights(y), pm_entropy(y), rtol=1e-10)
    np.testing.assert_allclose(critic_weights(y), pm_critic(y), rtol=1e-10)


def test_critic_by_hand_and_shift_invariant():
    y = np.array([[0.0, 1.0, 0.3], [0.5, 0.2, 0.9], [1.0, 0.0, 0.1], [0.25, 0.6, 1.0]])
    sd = y.std(axis=0, ddof=1)
    r = np.corrcoef(y, rowvar=False)
    c = sd * (1 - r).sum(axis=0)  # Diakoulaki et al. 1995, eq. for C_j
    np.testing.assert_allclose(critic_weights(y), c / c.sum(), rtol=1e-12)
    np.testing.assert_allclose(critic_weights(0.01 + 0.99 * y), critic_weights(y), rtol=1e-12)


def test_saaty_random_index_table():
    assert [SAATY_RI[n] for n in range(3, 11)] == [0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49]


def test_ahp_consistent_matrix_recovers_weights():
    w = np.array([0.4, 0.3, 0.2, 0.1])
    a = w[:, None] / w[None, :]
    r = ahp_weights(a)
    np.testing.assert_allclose(r.weights, w, rtol=1e-12)
    assert r.lambda_max == pytest.approx(4.0, abs=1e-10)
    assert r.cr == pytest.approx(0.0, abs=1e-10)


def test_ahp_three_by_three_closed_form():
    # For a 3x3 reciprocal matrix λmax = 1 + r^(1/3) + r^(-1/3), r = a12 a23 / a13, and the
    # principal eigenvector is the normalised row geometric mean (Crawford & Williams 1985).
    a12, a13, a23 = 3.0, 5.0, 2.0
    a = np.array([[1, a12, a13], [1 / a12, 1, a23], [1 / a13, 1 / a23, 1]])
    r = a12 * a23 / a13
    lam = 1 + r ** (1 / 3) + r ** (-1 / 3)
    gm = np.prod(a, axis=1) ** (1 / 3)
    res = ahp_weights(a)
    assert res.lambda_max == pytest.approx(lam, rel=1e-12)
    np.testing.assert_allclose(res.weights, gm / gm.sum(), rtol=1e-10)
    assert res.ci == pytest.approx((lam - 3) / 2, rel=1e-10)
    assert res.cr == pytest.approx((lam - 3) / 2 / 0.58, rel=1e-10)


def test_ahp_matches_pymcdm_weights():
    from pymcdm.weights.subjective import AHP

    a = np.array([[1, 3, 5, 7], [1 / 3, 1, 3, 5], [1 / 5, 1 / 3, 1, 3], [1 / 7, 1 / 5, 1 / 3, 1]])
    np.testing.assert_allclose(ahp_weights(a).weights, AHP(matrix=a)(), rtol=1e-8)


def test_ahp_inconsistent_is_an_error():
    # a12 = 9, a13 = 1/9, a23 = 9: r = 729, λmax = 1 + 9 + 1/9, CR ≈ 6.1
    a = np.array([[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]])
    with pytest.raises(InputError, match=r"CR = 6\.1") as e:
        ahp_weights(a)
    assert e.value.field == "CR"


def test_ahp_rejects_non_reciprocal_and_big_matrices():
    a = np.array([[1, 3, 5], [1 / 3, 1, 2], [1 / 5, 2, 1]])
    with pytest.raises(InputError, match="not reciprocal"):
        ahp_weights(a, labels=["a", "b", "c"])
    with pytest.raises(InputError, match="n ≤ 10"):
        ahp_weights(np.ones((11, 11)))


def test_parse_judgement():
    assert parse_judgement("1/3") == pytest.approx(1 / 3)
    assert parse_judgement(" 5 ") == 5.0


def test_combined_weights():
    s = np.array([0.5, 0.3, 0.2])
    o = np.array([0.2, 0.2, 0.6])
    np.testing.assert_allclose(combine_weights(s, o, alpha=0.4), 0.4 * s + 0.6 * o)
    np.testing.assert_allclose(combine_weights(s, o, method="multiplicative"), s * o / (s * o).sum())
    with pytest.raises(InputError):
        combine_weights(s, o, alpha=1.5)
