"""Streaming statistics: running moments and quantile sketches against the full arrays, their
error bound, their independence of the chunking, bounded memory, and the runner's keep modes."""

from __future__ import annotations

import numpy as np
import pytest

from _engine_twins import storm_fields as fields
from rescity.engine import runner, simulate
from rescity.engine.streaming import Moments, QuantileSketch, StreamedMetric
from rescity.engine.tables import unit_table
from rescity.errors import InputError
from rescity.fragility.library import load_library
from rescity.twin.toy import toy_twin

Q = (0.0, 0.05, 0.25, 0.5, 0.9, 0.95, 1.0)


def streams(seed: int = 0, r: int = 300) -> np.ndarray:
    """float32 ``(r, 8)`` streams of the kinds the engine makes: mostly zero, discrete, spanning
    decades, constant, all NaN, heavy tailed, tiny and huge."""
    rng = np.random.default_rng(seed)
    out = np.zeros((r, 8), np.float32)
    out[:, 0] = (rng.random(r) < 0.2) * rng.choice([120.0, 450.0, 3000.0], r)
    out[:, 1] = rng.lognormal(3.0, 2.5, r)  # many decades: the lowest bucket holds the smallest
    out[:, 2] = 7.25
    out[:, 3] = np.nan
    out[:, 4] = rng.pareto(1.2, r) * 50
    out[:, 5] = rng.integers(0, 9, r) / 8  # a damaged share over 8 assets
    out[:, 6] = rng.random(r) * 1e-6
    out[:, 7] = rng.random(r) * 6e7 + 1e7
    return out


def chunks(x: np.ndarray, sizes: list[int]):
    s = 0
    for b in sizes:
        yield s, x[s : s + b]
        s += b
    if s < len(x):
        yield s, x[s:]


def sketch_of(x: np.ndarray, sizes: list[int], **kw) -> QuantileSketch:
    sk = QuantileSketch(x.shape[1], **kw)
    for _, c in chunks(x, sizes):
        sk.update(c)
    return sk


def bound(x: np.ndarray, q: float, sk: QuantileSketch) -> np.ndarray:
    """The documented bound max(α·x_(⌈h⌉), floor) per stream."""
    s = np.sort(x.astype(np.float64), axis=0)
    h = q * (len(x) - 1)
    return np.maximum(sk.alpha * s[int(np.ceil(h))], sk.floor())


def test_moments_equal_the_full_array_and_do_not_depend_on_the_chunks():
    x = streams(1)
    ref = Moments(8)
    ref.update(x)
    assert np.array_equal(ref.mean, x.astype(np.float64).mean(axis=0), equal_nan=True)
    assert np.allclose(ref.var(), x.astype(np.float64).var(axis=0), rtol=1e-12, equal_nan=True)
    assert np.allclose(ref.var(1), x.astype(np.float64).var(axis=0, ddof=1), rtol=1e-12, equal_nan=True)
    for sizes in ([1] * 300, [7, 13, 100], [299]):
        m = Moments(8)
        for _, c in chunks(x, sizes):
            m.update(c)
        assert np.array_equal(m.sum, ref.sum, equal_nan=True)
        assert np.array_equal(m.m2, ref.m2, equal_nan=True)
    a, b = Moments(8), Moments(8)
    a.update(x[:120])
    b.update(x[120:])
    a.merge(b)
    assert a.count == 300
    assert np.allclose(a.mean, ref.mean, rtol=1e-12, equal_nan=True)
    assert np.allclose(a.var(), ref.var(), rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("bits,buckets", [(5, 256), (3, 40), (7, 64)])
def test_sketch_quantiles_within_the_documented_bound(seed, bits, buckets):
    x = streams(seed)
    sk = sketch_of(x, [17, 64, 3], bits=bits, buckets=buckets)
    assert sk.alpha == pytest.approx(1 / (2 ** (bits + 1) + 1))
    est = sk.quantile(Q)
    with np.errstate(invalid="ignore"):
        exact = np.quantile(x.astype(np.float64), Q, axis=0)
    for i, q in enumerate(Q):
        err = np.abs(est[i] - exact[i])
        ok = ~np.isnan(exact[i])
        assert np.array_equal(np.isnan(est[i]), np.isnan(exact[i]))  # the NaN stream, as numpy
        assert np.all(err[ok] <= bound(x, q, sk)[ok] * (1 + 1e-9)), (q, err, bound(x, q, sk))
    # exact at the ends, for zeros and for a constant stream
    assert np.array_equal(est[0], exact[0], equal_nan=True) and np.array_equal(est[-1], exact[-1], equal_nan=True)
    assert np.all(est[:, 2] == 7.25)
    assert est[Q.index(0.5), 0] == 0.0
    # the floor is no more than max · 2^−⌊(m − 2)/2^b⌋
    hi = np.fmax.reduce(x, axis=0)
    assert np.all(sk.floor()[~np.isnan(hi)] <= hi[~np.isnan(hi)] * 2.0 ** -((buckets - 2) // 2**bits))


def test_sketch_does_not_depend_on_the_chunks_and_merges_exactly():
    x = streams(3)
    x[:, 4] = np.sort(x[:, 4])  # the maximum grows with every value: the window slides each time
    ref = sketch_of(x, [300])
    for sizes in ([1] * 300, [5, 50, 11]):
        sk = sketch_of(x, sizes)
        for a in ("counts", "top", "zeros", "nans", "lo", "hi"):
            assert np.array_equal(getattr(sk, a), getattr(ref, a)), a
    a, b = sketch_of(x[:100], [100]), sketch_of(x[100:], [7, 93])
    a.merge(b)
    for attr in ("counts", "top", "zeros", "nans", "lo", "hi"):
        assert np.array_equal(getattr(a, attr), getattr(ref, attr)), attr
    assert np.array_equal(a.quantile(Q), ref.quantile(Q), equal_nan=True)


def test_sketch_memory_does_not_grow_with_the_realisations():
    rng = np.random.default_rng(5)
    sk = QuantileSketch(1000, max_count=20_000)
    size = sk.nbytes
    for _ in range(40):
        sk.update(rng.lognormal(2, 2, (500, 1000)).astype(np.float32))
    assert sk.count == 20_000 and sk.nbytes == size
    assert QuantileSketch(1000, max_count=70_000).counts.dtype == np.uint32  # counters never wrap
    m = StreamedMetric(50, 10_000, kept=[0, 1, 2])
    assert m.nbytes - m.values.nbytes == StreamedMetric(50, 10, kept=[0, 1, 2]).nbytes - 3 * 10 * 4


def test_sketch_refuses_negative_or_infinite_values():
    sk = QuantileSketch(2)
    with pytest.raises(InputError):
        sk.update(np.array([[1.0, -1.0]], np.float32))
    with pytest.raises(InputError):
        sk.update(np.array([[np.inf, 1.0]], np.float32))
    with pytest.raises(InputError):
        sk.quantile(1.5)


# ---------------------------------------------------------------------------------------------
# the runner's keep modes


@pytest.fixture(scope="module")
def twin():
    return toy_twin(counties=3, cells_per_county=4, feeders_per_cell=3, base_stations_per_cell=2)


@pytest.fixture(scope="module")
def runs(twin):
    lib = load_library()
    ai, ci = fields(twin)
    kw = {"library": lib, "seed": 11}
    full = simulate(twin, ai, ci, 60, keep="all", chunk_size=60, **kw)
    summ = [
        simulate(twin, ai, ci, 60, keep="summary", chunk_size=c, workers=w, **kw)
        for c, w in ((7, 1), (60, 1), (5, 2))
    ]
    return full, summ


def test_summary_mode_means_exact_kept_units_exact_cells_within_the_bound(twin, runs):
    full, (summ, *_) = runs
    assert (full.keep, summ.keep) == ("all", "summary")
    lv = twin.units["level"].to_numpy()
    assert np.array_equal(summ.kept_units, np.flatnonzero(lv != "cell"))
    cells = lv == "cell"
    for name in full.output_names:
        a = full.metric(name).astype(np.float64)
        assert np.array_equal(summ.mean(name), full.mean(name), equal_nan=True), name
        assert np.allclose(summ.var(name), full.var(name), rtol=1e-9, atol=1e-9, equal_nan=True), name
        qs = summ.quantile(name, Q)
        exact = full.quantile(name, Q)
        assert np.array_equal(qs[:, ~cells], exact[:, ~cells], equal_nan=True), name
        sk = summ.streamed[name].sketch
        for i, q in enumerate(Q):
            with np.errstate(invalid="ignore"):
                b = bound(a[:, cells].astype(np.float32), q, sk)
            err = np.abs(qs[i, cells] - exact[i, cells])
            ok = ~np.isnan(exact[i, cells])
            assert np.all(err[ok] <= b[ok] * (1 + 1e-9)), (name, q)
        assert np.array_equal(summ.metric(name, units=summ.kept_units), full.metric(name)[:, summ.kept_units])
    with pytest.raises(InputError, match="keep='all'"):
        _ = summ.affected
    with pytest.raises(InputError):
        summ.metric("no_power", units=np.flatnonzero(cells)[:2])
    assert full.affected.shape == (60, twin.n_units) and full.no_power.dtype == np.float32


def test_summaries_do_not_depend_on_chunks_or_workers(runs):
    _, (a, *others) = runs
    ref = a.summary(q=(0.05, 0.5, 0.95))
    for b in others:
        assert b.summary(q=(0.05, 0.5, 0.95)).equals(ref)


def test_unit_table_of_a_streamed_run(twin, runs):
    full, (summ, *_) = runs
    t_all, t_sum = unit_table(twin, full, {}), unit_table(twin, summ, {})
    assert list(t_all.columns) == list(t_sum.columns)
    above = (t_all["level"] != "cell").to_numpy()
    assert t_all[above].equals(t_sum[above])
    means = [c for c in t_all.columns if c.endswith("_mean")]
    assert t_all[means].equals(t_sum[means])


def test_outputs_memory_bounded_in_summary_mode(twin, monkeypatch):
    lib = load_library()
    ai, ci = fields(twin)
    small, big = (simulate(twin, ai, ci, r, seed=1, keep="summary", library=lib) for r in (10, 40))
    n_kept, n_out = len(small.kept_units), len(small.output_names)
    grew = (big.meta["outputs_mb"] - small.meta["outputs_mb"]) * 2**20
    assert grew == pytest.approx(4 * 30 * n_kept * n_out)  # only the kept units' values grow
    # auto keeps everything while it fits KEEP_ALL_MB, and streams beyond
    assert simulate(twin, ai, ci, 10, seed=1, library=lib).keep == "all"
    monkeypatch.setattr(runner, "KEEP_ALL_MB", 0)
    assert simulate(twin, ai, ci, 10, seed=1, library=lib).keep == "summary"
    with pytest.raises(InputError, match="keep"):
        simulate(twin, ai, ci, 10, seed=1, library=lib, keep="some")
