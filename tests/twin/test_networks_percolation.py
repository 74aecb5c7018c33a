"""The cascade engine reproduces interdependent percolation (Buldyrev et al. 2010).

Two Erdős–Rényi networks A and B of N nodes and mean degree k, node A_i depending on B_i and B_i on
A_i (one-to-one, no buffer). Removing a fraction 1 − p of A's nodes, the share of nodes left in the
giant mutually connected cluster is, for N → ∞ (Buldyrev et al. 2010, *Nature* 464:1025–1028,
eqs. for two ER networks of equal mean degree),

    P∞ = x g(x),  x = p g(x),  g = 1 − exp(−k x g)   ⇔   P∞ = p (1 − e^{−k P∞})²,

with a discontinuous collapse at p_c = 2.4554 / k, where P∞ jumps from about 0.34 (k = 4) to 0.

In the engine "functional" means connected to a source: a few random sources stand in for the
giant cluster (they miss it with probability (1 − P∞)^S, and finite clusters that happen to
hold a source add at most S × (mean finite cluster size) / N). Finite-size fluctuations of P∞
are of order N^{-1/2} ≈ 0.005 at N = 40,000 away from p_c; the tolerance 0.02 is about four of
those plus the source bias.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rescity.engine.cascade import build_cascade_model, functional
from rescity.twin.model import Twin, conform

N = 40_000
K = 4.0
SOURCES = 12


def p_infinity(p: float, k: float) -> float:
    """Largest root of μ = p (1 − e^{−kμ})² by fixed-point iteration from μ = 1."""
    mu = 1.0
    for _ in range(100_000):
        new = p * (1 - np.exp(-k * mu)) ** 2
        if abs(new - mu) < 1e-13:
            break
        mu = new
    return float(mu)


def interdependent_er(n: int, k: float, seed: int) -> Twin:
    rng = np.random.default_rng(seed)
    m = int(round(k * n / 2))
    units = conform(pd.DataFrame([dict(unit_id="1", level="province", population=1)]), "units")
    src = rng.choice(n, SOURCES, replace=False)
    is_src = np.zeros(n, bool)
    is_src[src] = True
    assets = pd.DataFrame(
        {
            "asset_id": [f"a{i}" for i in range(n)] + [f"b{i}" for i in range(n)],
            "system": ["power"] * n + ["telecom"] * n,
            "kind": ["bus"] * n + ["base_station"] * n,
            "unit_id": "1",
            "is_source": np.r_[is_src, is_src],
        }
    )
    ea = rng.integers(0, n, (m, 2))
    eb = rng.integers(0, n, (m, 2))
    edges = pd.DataFrame(
        {
            "system": ["power"] * m + ["telecom"] * m,
            "src": np.r_[ea[:, 0], n + eb[:, 0]],
            "dst": np.r_[ea[:, 1], n + eb[:, 1]],
        }
    )
    i = np.arange(n)
    deps = pd.DataFrame(
        {
            "dependent": np.r_[i, n + i],
            "supplier": np.r_[n + i, i],
            "kind": ["telecom"] * n + ["power"] * n,
            "buffer_h": 0.0,
        }
    )
    return Twin(
        units,
        conform(assets, "assets"),
        conform(edges, "edges"),
        conform(deps, "dependencies"),
        conform(pd.DataFrame(columns=["terminal", "unit", "system", "people"]), "service"),
    )


def test_analytic_threshold():
    # the collapse: a positive solution exists just above p_c = 2.4554 / k and none just below
    pc = 2.4554 / K
    assert p_infinity(pc * 1.002, K) > 0.2
    assert p_infinity(pc * 0.998, K) < 1e-6


@pytest.mark.parametrize("p", [0.70, 0.80, 0.95])
def test_giant_mutual_cluster_matches_buldyrev(p):
    twin = interdependent_er(N, K, seed=int(p * 100))
    model = build_cascade_model(twin, horizon_h=12.0)
    rng = np.random.default_rng(7)
    states = np.zeros((2, twin.n_assets), np.int8)
    for r in range(2):
        removed = rng.random(N) >= p  # attack on A only
        states[r, :N][removed] = 4
    f = functional(model, states)
    share = f[:, :N].mean(axis=1)  # functional A nodes over N
    expected = p_infinity(p, K)
    np.testing.assert_allclose(share, expected, atol=0.02)
    # the clusters are mutual: A_i works exactly when B_i works
    np.testing.assert_array_equal(f[:, :N], f[:, N:])


def test_collapse_below_the_threshold():
    twin = interdependent_er(N, K, seed=5)
    model = build_cascade_model(twin, horizon_h=12.0)
    rng = np.random.default_rng(8)
    states = np.zeros((1, twin.n_assets), np.int8)
    states[0, :N][rng.random(N) >= 0.55] = 4  # p = 0.55 < p_c ≈ 0.614
    assert functional(model, states)[0, :N].mean() < 0.01
