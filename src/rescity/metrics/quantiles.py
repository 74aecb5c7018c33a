"""Quantiles over realisations, the numbers of ``numpy.quantile(a, q, axis=0)`` from a sort.

``numpy.quantile`` selects the order statistics it needs with ``partition`` (introselect); on a
(realisations × units) array of 500 rows that costs several times NumPy's vectorised ``sort`` of
the same columns. :func:`quantile` sorts the columns instead and interpolates between the order
statistics with NumPy's own arithmetic (method ``linear``, Hyndman & Fan type 7: the same
indices, weights and operations, in the same dtypes), so the result is equal bit for bit;
``tests/metrics/test_quantiles.py`` checks it against ``numpy.quantile``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def quantile(a: np.ndarray, q: float | Sequence[float] | np.ndarray) -> np.ndarray:
    """``numpy.quantile(a, q, axis=0)`` (method ``linear``), bit for bit: ``(len(q), …)`` for a
    sequence of quantiles, ``a.shape[1:]`` for one. Float arrays are sorted; anything NumPy
    would treat differently (other dtypes, one ``q`` of a float32 array, no rows) goes to
    ``numpy.quantile`` itself, and so do arrays with a sign bit set anywhere: a sort may put
    ``-0.0`` where the selection puts ``0.0`` (equal values, different bytes)."""
    a = np.asarray(a)
    one = np.ndim(q) == 0
    if a.dtype not in (np.float64, np.float32) or a.ndim == 0 or a.shape[0] == 0 or (one and a.dtype != np.float64):
        return np.quantile(a, q, axis=0)
    if np.signbit(a).any():
        return np.quantile(a, q, axis=0)
    qa = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if qa.ndim != 1 or not ((qa >= 0) & (qa <= 1)).all():
        return np.quantile(a, q, axis=0)  # NumPy's error
    out = sorted_quantile(np.sort(a, axis=0), qa)
    return out[0] if one else out


def sorted_quantile(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The quantiles ``q`` (float64, in [0, 1], 1-D) of each column of ``s``, sorted along axis
    0 (NaN last, as ``numpy.sort`` leaves them), with ``numpy.quantile``'s ``linear`` arithmetic."""
    n = s.shape[0]
    virtual = (n - 1) * q
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1  # the last value
    prev[above] = -1
    nxt[above] = -1
    gamma = (virtual - prev).reshape((-1,) + (1,) * (s.ndim - 1))
    lo, hi = s[prev.astype(np.intp)], s[nxt.astype(np.intp)]
    diff = hi - lo
    out = np.add(lo, diff * gamma)
    np.subtract(hi, diff * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe", dtype=type(out.dtype))
    nan = np.isnan(s[-1])
    if nan.any():  # a column with NaN has its NaN as every quantile
        np.copyto(out, s[-1], where=nan)
    return out
