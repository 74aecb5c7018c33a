"""Statistics over realisations accumulated chunk by chunk, in memory bounded by the number of
units (not the number of realisations).

:class:`Moments` keeps, per stream (a unit of one metric), the count, the sum (mean = sum / n,
added realisation by realisation in float64, so it equals ``x.astype(float64).mean(axis=0)`` of
the full array bit for bit) and the sum of squared deviations from each stream's first value
(variance = M2 / n, the shifted-data algorithm).

:class:`QuantileSketch` is a relative-error quantile sketch of many non-negative streams at once:
log-linear buckets (as in HdrHistogram, Tene 2012) in a window per stream that slides up with the
stream's largest value, collapsing the buckets it leaves into its lowest one (the memory bound of
DDSketch, Masson, Rim & Lee 2019). A value ``x > 0``, as float32, falls in the bucket given by its
exponent and the ``b`` leading bits of its mantissa (``2^b`` buckets per octave: the bit pattern
shifted right by ``23 − b``), which holds ``[u, v)`` with ``v = u(1 + 2^−b)`` at most and is
represented by ``2uv/(u + v)``, within a factor ``1 ± α`` of every value in it,
``α = 1/(2^(b+1) + 1)`` (1.5 % for the default ``b = 5``). Each stream keeps the ``m`` buckets up
to the one of its largest value; smaller values are counted in the lowest of them. Zeros, NaNs,
the minimum and the maximum are kept exactly. Every stream receives one value per realisation, so
the sketch is updated for all streams together, a chunk of realisations at a time (vectorised over
streams and realisations).

**Error bound.** For a stream without NaN whose sorted values are ``x_(0) ≤ … ≤ x_(n−1)`` and a
quantile ``q`` interpolated as in ``numpy.quantile`` (``h = q(n − 1)``, between ``x_(⌊h⌋)`` and
``x_(⌈h⌉)``), the estimate ``q̂`` satisfies

    |q̂ − q| ≤ max(α · x_(⌈h⌉), f)

where ``f`` (:meth:`QuantileSketch.floor`) is the smallest value the stream's window separates,
``f ≤ x_(n−1) · 2^−⌊(m − 2)/2^b⌋`` (with the defaults ``b = 5``, ``m = 256``: the maximum / 128),
and ``q̂`` is exact where the order statistics it interpolates are 0, the minimum or the maximum.
Counts, zeros, minima, maxima and the buckets do not depend on the order in which values arrive,
so the sketch of a run does not depend on its chunk size, and two sketches merge exactly
(:meth:`QuantileSketch.merge`). Memory: ``2m`` bytes per stream (``4m`` beyond 65,535 values)
plus 40 bytes.
"""

from __future__ import annotations

import math

import numpy as np

from rescity.errors import InputError

#: Mantissa bits ``b`` of a bucket by default: ``2^b`` buckets per octave, α = 1/(2^(b+1) + 1).
SKETCH_BITS = 5
#: Buckets ``m`` kept per stream by default (values below the maximum / 128 share the lowest).
SKETCH_BUCKETS = 256
_BLOCK = 8192  # streams per block when reading quantiles
_EMPTY = np.iinfo(np.int32).min // 4  # window top of a stream that has seen no positive value


def _rows(x: np.ndarray, n: int, what: str) -> np.ndarray:
    """``x`` as rows ``(B, n)``, each contiguous (reductions over realisations are slow on the
    column-major arrays that sparse products return)."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != n:
        raise InputError(f"expected shape (B, {n})", field=what, value=x.shape)
    return x if x.strides[-1] == x.itemsize or n <= 1 else np.ascontiguousarray(x)


class Moments:
    """Running count, sum and shifted sum of squares of ``n`` streams (float64).

    The sum is added realisation by realisation, so ``mean`` equals the full array's mean bit for
    bit. The variance comes from squares of deviations from each stream's first value ``K``
    (the shifted-data algorithm of Chan, Golub & LeVeque 1983): ``M2 = Σ(x − K)² − (Σx − nK)²/n``,
    free of the cancellation of raw sums of squares when ``K`` is a typical value.
    """

    def __init__(self, n: int) -> None:
        self.n = int(n)
        self.count = 0
        self.sum = np.zeros(self.n)
        self.shift = np.zeros(self.n)  # K: the first value of each stream
        self.sq = np.zeros(self.n)  # Σ(x − K)²

    def update(self, x: np.ndarray) -> None:
        """Add rows ``(B, n)`` (or one row ``(n,)``), one realisation after the other."""
        x = _rows(x, self.n, "values")
        if not len(x):
            return
        if self.count == 0:
            self.shift[:] = x[0]
        # one float64 copy of the chunk: the sums below add float64 to float64 (no casting loop)
        # in the same order and with the same operations as one row at a time, so the same bits
        x = x.astype(np.float64)
        for row in x:
            self.sum += row
        np.subtract(x, self.shift, out=x)
        np.multiply(x, x, out=x)
        for row in x:
            self.sq += row
        self.count += len(x)

    @property
    def m2(self) -> np.ndarray:
        """Sum of squared deviations from the mean, ``Σ(x − x̄)²``."""
        if not self.count:
            return np.zeros(self.n)
        s1 = self.sum - self.count * self.shift
        return np.maximum(self.sq - s1 * s1 / self.count, 0.0)

    def merge(self, other: Moments) -> None:
        """Add another accumulator's streams (the pairwise update of Chan, Golub & LeVeque 1983);
        equal to one pass over both up to float64 round-off."""
        if other.n != self.n:
            raise InputError("cannot merge moments of different sizes", field="n", value=other.n)
        if other.count == 0:
            return
        if self.count == 0:
            self.count, self.sum, self.shift, self.sq = (
                other.count,
                other.sum.copy(),
                other.shift.copy(),
                other.sq.copy(),
            )
            return
        n_a, n_b = self.count, other.count
        n = n_a + n_b
        delta = other.sum / n_b - self.sum / n_a
        m2 = self.m2 + other.m2 + delta**2 * (n_a * n_b / n)
        self.sum = self.sum + other.sum
        self.count = n
        dev = self.sum / n - self.shift
        self.sq = m2 + n * dev * dev  # Σ(x − K)² = M2 + n(x̄ − K)²

    @property
    def mean(self) -> np.ndarray:
        """Mean of each stream (NaN before any value)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum / self.count if self.count else np.full(self.n, np.nan)

    def var(self, ddof: int = 0) -> np.ndarray:
        """Variance of each stream, ``M2 / (n − ddof)``."""
        d = self.count - ddof
        return self.m2 / d if d > 0 else np.full(self.n, np.nan)

    @property
    def nbytes(self) -> int:
        return self.sum.nbytes + self.shift.nbytes + self.sq.nbytes


class QuantileSketch:
    """Mergeable relative-error quantile sketch of ``n`` non-negative streams (module docstring).

    ``bits``: mantissa bits ``b`` of a bucket (relative accuracy ``α = 1/(2^(b+1) + 1)``);
    ``buckets``: buckets ``m`` per stream; ``max_count``: most values one stream will hold (picks
    16- or 32-bit counters). Values are sketched as float32.
    """

    def __init__(
        self,
        n: int,
        bits: int = SKETCH_BITS,
        buckets: int = SKETCH_BUCKETS,
        max_count: int = 2**16 - 1,
    ) -> None:
        if int(bits) != bits or not 0 <= bits <= 20:
            raise InputError(
                "the sketch's mantissa bits must be an integer in [0, 20]", field="bits", value=bits
            )
        if int(buckets) != buckets or buckets < 2:
            raise InputError("the sketch needs at least 2 buckets", field="buckets", value=buckets)
        self.n = int(n)
        self.bits = int(bits)
        self.alpha = 1.0 / (2 ** (self.bits + 1) + 1)
        self.m = int(buckets)
        dtype = np.uint16 if max_count <= np.iinfo(np.uint16).max else np.uint32
        self.counts = np.zeros((self.n, self.m), dtype)
        flat = np.int32 if self.n * self.m < 2**31 else np.int64
        self._base = (np.arange(self.n) * self.m).astype(flat)  # first flat position of each stream
        self._one = dtype(1)
        self.top = np.full(self.n, _EMPTY, np.int32)
        self.zeros = np.zeros(self.n, np.int64)
        self.nans = np.zeros(self.n, np.int64)
        self.lo = np.full(self.n, np.inf, np.float32)
        self.hi = np.full(self.n, -np.inf, np.float32)
        self.count = 0

    # -- building -------------------------------------------------------------------------------
    def _key(self, v: np.ndarray) -> np.ndarray:
        """Global bucket of positive float32 values: the bit pattern without its low mantissa bits."""
        v = np.asarray(v, np.float32)
        if v.ndim and v.strides[-1] != 4:
            v = np.ascontiguousarray(v)
        return np.right_shift(v.view(np.int32), 23 - self.bits)

    def _edge(self, key: np.ndarray) -> np.ndarray:
        """Lower edge of global buckets ``key`` (float64)."""
        k = np.asarray(key, np.int64) << (23 - self.bits)
        return np.clip(k, 0, 0x7F7FFFFF).astype(np.int32).view(np.float32).astype(np.float64)

    def _raise_top(self, s: np.ndarray, new_top: np.ndarray) -> None:
        """Slide the windows of streams ``s`` up to ``new_top`` (above their tops), collapsing the
        buckets that fall below into the lowest.

        Bucket ``key`` of a stream sits at column ``key mod m`` (a ring), so sliding by ``d``
        touches only the ``d`` buckets that leave the window."""
        if not len(s):
            return
        fresh = self.top[s] == _EMPTY  # nothing counted yet: no bucket to move
        self.top[s[fresh]] = new_top[fresh]
        s, new_top = s[~fresh], new_top[~fresh]
        if not len(s):
            return
        m = self.m
        d = np.minimum(new_top.astype(np.int64) - self.top[s], m)
        starts = np.cumsum(d) - d
        old_bottom = self.top[s].astype(np.int64) - (m - 1)
        leaving = np.repeat(old_bottom - starts, d) + np.arange(int(d.sum()))
        rows = np.repeat(s, d)
        cols = leaving % m
        moved = np.add.reduceat(self.counts[rows, cols].astype(np.int64), starts)
        self.counts[rows, cols] = 0
        self.top[s] = new_top
        self.counts[s, (self.top[s].astype(np.int64) - (m - 1)) % m] += moved.astype(self.counts.dtype)

    def update(self, x: np.ndarray) -> None:
        """Add rows ``(B, n)`` (one per realisation) or one row ``(n,)``; values must be ≥ 0 or NaN."""
        x = _rows(x, self.n, "values").astype(np.float32, copy=False)
        b = len(x)
        if not b:
            return
        if not self.n:
            self.count += b
            return
        lo, hi = np.fmin.reduce(x, axis=0), np.fmax.reduce(x, axis=0)  # NaN-ignoring
        if np.fmin.reduce(lo) < 0 or np.fmax.reduce(hi) == np.inf:
            raise InputError("sketched values must be finite and ≥ 0", field="values")
        # per-stream counts of the chunk in the narrowest counter that holds b (no casting loop)
        small = np.uint8 if b <= 0xFF else np.uint16 if b <= 0xFFFF else np.int64
        pos = x > 0
        n_pos = np.add.reduce(pos.view(np.uint8), axis=0, dtype=small)
        nan = np.isnan(x)
        if nan.any():
            n_nan = np.add.reduce(nan.view(np.uint8), axis=0, dtype=small)
            self.nans += n_nan
            self.zeros += b - n_pos - n_nan
        else:
            self.zeros += b - n_pos
        np.fmin(self.lo, lo, out=self.lo)
        np.fmax(self.hi, hi, out=self.hi)
        # windows rise to the bucket of the largest value (a stream without positive values keeps
        # none); positions, not a mask (a masked write to half the streams costs 4 ns each)
        key_hi = self._key(hi)
        up = np.flatnonzero((key_hi > self.top) & (hi > 0))
        self._raise_top(up, key_hi[up])
        # position of every value in the flat counts: its stream's row, its bucket's column in the
        # ring (values below the window: the lowest bucket)
        idx = self._key(x)
        np.maximum(idx, self.top - (self.m - 1), out=idx)
        if self.m & (self.m - 1) == 0:
            np.bitwise_and(idx, self.m - 1, out=idx)
        else:
            np.remainder(idx, self.m, out=idx)
        idx = idx.astype(self._base.dtype, copy=False)
        idx += self._base
        # the positive values' positions (np.compress: a fraction of boolean indexing's time)
        np.add.at(self.counts.reshape(-1), np.compress(pos.reshape(-1), idx.reshape(-1)), self._one)
        self.count += b

    def merge(self, other: QuantileSketch) -> None:
        """Add another sketch of the same streams, ``bits`` and ``m`` (exact: the result is the
        sketch of both sets of values)."""
        if (other.n, other.m, other.bits) != (self.n, self.m, self.bits):
            raise InputError("cannot merge sketches of different shapes or accuracy", field="sketch")
        new_top = np.maximum(self.top, other.top)
        up = np.flatnonzero(new_top > self.top)
        self._raise_top(up, new_top[up])
        o = QuantileSketch.__new__(QuantileSketch)
        o.__dict__.update(other.__dict__)
        o.counts, o.top = other.counts.copy(), other.top.copy()
        up = np.flatnonzero(new_top > o.top)
        o._raise_top(up, new_top[up])
        total = self.count + other.count
        if total > np.iinfo(self.counts.dtype).max:
            self.counts, self._one = self.counts.astype(np.uint32), np.uint32(1)
        self.counts += o.counts.astype(self.counts.dtype)
        self.zeros += other.zeros
        self.nans += other.nans
        np.fmin(self.lo, other.lo, out=self.lo)
        np.fmax(self.hi, other.hi, out=self.hi)
        self.count = total

    # -- reading --------------------------------------------------------------------------------
    def floor(self) -> np.ndarray:
        """Per stream, the value below which the window no longer separates values (the upper
        edge of its lowest bucket; 0 for a stream without positive values)."""
        f = self._edge(self.top.astype(np.int64) - (self.m - 2))
        return np.where(self.top == _EMPTY, 0.0, f)

    def _order_statistics(self, ks: set[int]) -> dict[int, np.ndarray]:
        """Estimates of the ``k``-th smallest value (0-based) of every stream, for each ``k``."""
        n = self.count
        lo, hi = self.lo.astype(np.float64), self.hi.astype(np.float64)
        out = {k: lo for k in ks if k == 0} | {k: hi for k in ks if k == n - 1 and k != 0}
        inner = sorted(k for k in ks if 0 < k < n - 1)
        if not inner:
            return out
        est = {k: np.zeros(self.n) for k in inner}
        # only streams with fewer zeros than the largest rank need their buckets searched; in
        # blocks, so that the temporary arrays stay small
        need = np.flatnonzero(self.zeros <= inner[-1])
        cols = np.arange(self.m)
        for i in range(0, len(need), _BLOCK):
            s = need[i : i + _BLOCK]
            bottom = self.top[s].astype(np.int64) - (self.m - 1)
            order = (bottom[:, None] + cols) % self.m
            cum = np.cumsum(np.take_along_axis(self.counts[s], order, axis=1), axis=1, dtype=np.int32)
            cum += self.zeros[s, None].astype(np.int32)
            for k in inner:
                j = np.minimum(np.count_nonzero(cum <= k, axis=1), self.m - 1)  # first bucket past rank k
                u, v = self._edge(bottom + j), self._edge(bottom + j + 1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    est[k][s] = np.clip(2 * u * v / (u + v), lo[s], hi[s])
        for k in inner:
            est[k][k < self.zeros] = 0.0
        return out | est

    def quantile(self, q: float | tuple[float, ...] | np.ndarray) -> np.ndarray:
        """Quantiles ``q`` (in [0, 1]) of every stream, interpolated between order statistics as
        ``numpy.quantile`` does: ``(n,)`` for one ``q``, ``(len(q), n)`` for several. NaN for a
        stream that holds a NaN (as ``numpy.quantile``) or no value."""
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if np.any((qs < 0) | (qs > 1)) or np.any(np.isnan(qs)):
            raise InputError("quantiles must lie in [0, 1]", field="q", value=q)
        out = np.full((len(qs), self.n), np.nan)
        if self.count:
            n = self.count
            ranks = []
            for x in qs:
                h = n * x + (1 - x) - 1  # numpy's virtual index for "linear", q(n − 1)
                k0 = min(max(int(math.floor(h)), 0), n - 1)
                ranks.append((k0, min(k0 + 1, n - 1), h - k0))
            est = self._order_statistics({k for k0, k1, _ in ranks for k in (k0, k1)})
            for i, (k0, k1, t) in enumerate(ranks):
                a, b = est[k0], est[k1]
                with np.errstate(invalid="ignore"):
                    out[i] = a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)
            out[:, self.nans > 0] = np.nan
        return out[0] if np.ndim(q) == 0 else out

    @property
    def nbytes(self) -> int:
        """Memory held, bytes (independent of the number of values added)."""
        return sum(a.nbytes for a in (self.counts, self.top, self.zeros, self.nans, self.lo, self.hi))


def _as_index(idx: np.ndarray) -> slice | np.ndarray:
    """A contiguous run of positions as a slice (a view, no copy), else the positions."""
    idx = np.asarray(idx, np.int64)
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


class StreamedMetric:
    """One per-unit metric over ``realisations``: the exact values of the units in ``kept``
    (float32 ``(R, len(kept))``) and, for every other unit, :class:`Moments` and a
    :class:`QuantileSketch`. Memory: ``4·R·len(kept)`` bytes plus a fixed amount per other unit.

    Means are exact (equal to the mean of the full array); quantiles are exact for kept units and
    within the sketch's bound (module docstring) for the others.
    """

    def __init__(
        self,
        n_units: int,
        realisations: int,
        kept: np.ndarray,
        bits: int = SKETCH_BITS,
        buckets: int = SKETCH_BUCKETS,
    ) -> None:
        self.n_units = int(n_units)
        self.realisations = int(realisations)
        kept = np.unique(np.asarray(kept, np.int64))
        if len(kept) and (kept[0] < 0 or kept[-1] >= self.n_units):
            raise InputError("kept units must be unit positions", field="kept", value=kept)
        rest = np.setdiff1d(np.arange(self.n_units), kept)
        self.kept, self.rest = kept, rest
        self._k, self._r = _as_index(kept), _as_index(rest)
        self.values = np.zeros((self.realisations, len(kept)), np.float32)
        self.moments = Moments(len(rest))
        self.sketch = QuantileSketch(len(rest), bits, buckets, max_count=self.realisations)
        self.filled = 0

    def add(self, start: int, x: np.ndarray) -> None:
        """Add the values ``(B, n_units)`` of realisations ``start … start + B − 1`` (in order)."""
        x = _rows(x, self.n_units, "values")  # one copy of a column-major chunk, then views
        self.values[start : start + len(x)] = x[:, self._k]
        rest = x[:, self._r]
        self.moments.update(rest)
        self.sketch.update(rest)
        self.filled += len(x)

    def _combine(self, kept: np.ndarray, rest: np.ndarray) -> np.ndarray:
        out = np.empty(kept.shape[:-1] + (self.n_units,))
        out[..., self.kept] = kept
        out[..., self.rest] = rest
        return out

    def mean(self) -> np.ndarray:
        """Mean over realisations of every unit, ``(n_units,)``."""
        with np.errstate(invalid="ignore"):
            return self._combine(self.values.astype(np.float64).mean(axis=0), self.moments.mean)

    def var(self, ddof: int = 0) -> np.ndarray:
        """Variance over realisations of every unit, ``(n_units,)``."""
        with np.errstate(invalid="ignore"):
            return self._combine(
                self.values.astype(np.float64).var(axis=0, ddof=ddof), self.moments.var(ddof)
            )

    def quantile(self, q: float | tuple[float, ...]) -> np.ndarray:
        """Quantiles of every unit: ``(n_units,)`` for one ``q``, ``(len(q), n_units)`` for several."""
        with np.errstate(invalid="ignore"):
            kept = np.quantile(self.values.astype(np.float64), q, axis=0)
        return self._combine(kept, self.sketch.quantile(q))

    @property
    def nbytes(self) -> int:
        """Memory held, bytes."""
        return self.values.nbytes + self.moments.nbytes + self.sketch.nbytes
