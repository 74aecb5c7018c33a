"""Quantiles from a sort equal ``numpy.quantile`` bit for bit (values, dtype, shape)."""

from __future__ import annotations

import numpy as np
import pytest

from rescity.metrics.quantiles import quantile


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _arrays():
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 20, 500):
        yield rng.random((n, 37))  # float64
        yield rng.random((n, 5, 4)).astype(np.float32)
        yield np.round(rng.random((n, 30)) * 4) / 4  # many ties
        yield (rng.integers(0, 65536, (n, 40)).astype(np.float32) / np.float32(65535.0))  # Q(t)
    x = rng.random((50, 8))
    x[3, 2] = np.nan
    x[:, 5] = np.nan
    x[7, 6] = np.inf
    x[:, 7] = 3.0
    yield x
    yield np.zeros((10, 3))


@pytest.mark.parametrize("q", [(0.05, 0.95), (0.0, 0.5, 1.0), [0.1], np.array([0.05, 0.95]), 0.05, 0.5, 1.0])
def test_equals_numpy_quantile(q):
    for a in _arrays():
        if np.ndim(q) == 0 and a.dtype == np.float32:
            continue  # NumPy's own path (checked below)
        with np.errstate(invalid="ignore"):
            assert _same(quantile(a, q), np.quantile(a, q, axis=0)), (a.shape, a.dtype, q)


def test_other_inputs_go_to_numpy():
    rng = np.random.default_rng(3)
    f32 = rng.random((40, 6)).astype(np.float32)
    assert _same(quantile(f32, 0.3), np.quantile(f32, 0.3, axis=0))  # one q of float32: float32
    ints = rng.integers(0, 100, (30, 4))
    assert _same(quantile(ints, (0.05, 0.95)), np.quantile(ints, (0.05, 0.95), axis=0))
    signed = rng.normal(size=(30, 4))
    signed[:, 0] = 0.0
    signed[::2, 0] = -0.0
    assert _same(quantile(signed, (0.05, 0.5)), np.quantile(signed, (0.05, 0.5), axis=0))
    with pytest.raises(ValueError):
        quantile(f32.astype(np.float64), (0.5, 1.5))

