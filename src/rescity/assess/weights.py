"""Standardisation and weighting: entropy, CRITIC, AHP and combined subjective–objective weights.

Conventions
-----------
The decision matrix ``X`` has one row per alternative (a unit in a year) and one column per
indicator. :func:`standardise` turns it into ``Y`` in which larger is always better:

    x'_ij = (x_ij − min_j) / (max_j − min_j)           benefit indicator
    x'_ij = (max_j − x_ij) / (max_j − min_j)           cost indicator
    y_ij  = shift + (1 − shift) · x'_ij                 shift = 0.01 by default

The shift keeps every ``y`` strictly positive so that ``p ln p`` in the entropy method is defined
for the worst unit of every indicator (a common convention in Chinese practice, which adds 0.01
or 0.0001 to the min–max score; we rescale so that the best unit still scores 1). Entropy and
CRITIC weights are computed on ``Y``; CRITIC is invariant to the shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rescity.errors import InputError

#: Default shift of the min–max scores (see the module docstring).
SHIFT = 0.01

#: Saaty's random consistency index RI by matrix order n (Saaty 1980, table 1.2).
SAATY_RI: dict[int, float] = {
    1: 0.0,
    2: 0.0,
    3: 0.58,
    4: 0.90,
    5: 1.12,
    6: 1.24,
    7: 1.32,
    8: 1.41,
    9: 1.45,
    10: 1.49,
}
#: Largest acceptable consistency ratio (Saaty 1980).
CR_MAX = 0.1


def standardise(x: np.ndarray, directions: np.ndarray, shift: float = SHIFT) -> np.ndarray:
    """Min–max standardise each column of ``x`` to ``[shift, 1]``, larger = better.

    Parameters
    ----------
    x:
        ``(m, n)`` decision matrix, finite values.
    directions:
        ``(n,)`` array, ``+1`` for benefit and ``-1`` for cost indicators.
    shift:
        Score of the worst alternative (0 gives the plain min–max score).

    A constant column has no spread: every alternative scores 1 in it.
    """
    x = np.asarray(x, float)
    d = np.asarray(directions)
    if x.ndim != 2 or x.shape[1] != len(d):
        raise ValueError("x must be (m, n) with one direction per column")
    lo = x.min(axis=0)
    hi = x.max(axis=0)
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    z = np.where(d > 0, (x - lo) / safe, (hi - x) / safe)
    z = np.where(span > 0, z, 1.0)
    return shift + (1.0 - shift) * z


def entropy_weights(y: np.ndarray) -> np.ndarray:
    """Entropy weights of the columns of a positive standardised matrix ``y``.

    p_ij = y_ij / Σ_i y_ij;  e_j = −(1 / ln m) Σ_i p_ij ln p_ij;  d_j = 1 − e_j;  w_j = d_j / Σ d_j
    (Shannon 1948 entropy as used for objective weights, e.g. Zeleny 1982; Hwang & Yoon 1981).
    """
    y = np.asarray(y, float)
    m = y.shape[0]
    if m < 2:
        raise InputError("the entropy method needs at least two alternatives", field="units", value=m)
    if np.any(y <= 0):
        raise InputError("the entropy method needs strictly positive scores; standardise with shift > 0")
    p = y / y.sum(axis=0)
    e = -(p * np.log(p)).sum(axis=0) / np.log(m)
    d = 1.0 - e
    if d.sum() <= 0:
        return np.full(y.shape[1], 1.0 / y.shape[1])
    return d / d.sum()


def critic_weights(y: np.ndarray) -> np.ndarray:
    """CRITIC weights (Diakoulaki, Mavrotas & Papayannakis 1995).

    C_j = σ_j Σ_k (1 − r_jk), w_j = C_j / Σ C, with σ_j the standard deviation of column j of
    the standardised matrix and r_jk the Pearson correlation of columns j and k. A constant
    column (σ = 0) gets weight 0 (its correlations are taken as 0).
    """
    y = np.asarray(y, float)
    if y.shape[0] < 3:
        raise InputError(
            "the CRITIC method needs at least three alternatives", field="units", value=y.shape[0]
        )
    sd = y.std(axis=0, ddof=1)
    yc = y - y.mean(axis=0)
    norm = np.sqrt((yc**2).sum(axis=0))
    safe = np.where(norm > 0, norm, 1.0)
    r = (yc / safe).T @ (yc / safe)
    r[norm == 0, :] = 0.0
    r[:, norm == 0] = 0.0
    c = sd * (1.0 - r).sum(axis=0)
    if c.sum() <= 0:
        return np.full(y.shape[1], 1.0 / y.shape[1])
    return c / c.sum()


@dataclass(frozen=True)
class AHPResult:
    """Weights and consistency of a pairwise-comparison matrix."""

    weights: np.ndarray
    lambda_max: float
    ci: float
    cr: float
    ri: float


def check_pairwise(a: np.ndarray, file: str | None = None, labels: list[str] | None = None) -> np.ndarray:
    """Check a pairwise-comparison matrix: square, positive, unit diagonal, reciprocal (1e-2)."""
    a = np.asarray(a, float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InputError(f"a pairwise-comparison matrix must be square, got shape {a.shape}", file=file)
    names = labels or [str(i + 1) for i in range(a.shape[0])]
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        i, j = np.argwhere(~np.isfinite(a) | (a <= 0))[0]
        raise InputError(
            "judgements must be positive numbers", file=file, field=f"{names[i]}/{names[j]}", value=a[i, j]
        )
    if not np.allclose(np.diag(a), 1.0):
        i = int(np.argmax(np.abs(np.diag(a) - 1)))
        raise InputError("the diagonal must be 1", file=file, field=f"{names[i]}/{names[i]}", value=a[i, i])
    bad = np.abs(a * a.T - 1.0) > 1e-2
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(
            f"not reciprocal: a[{names[j]}, {names[i]}] must be "
            f"1/a[{names[i]}, {names[j]}] = {1 / a[i, j]:.4g}",
            file=file,
            field=f"{names[j]}/{names[i]}",
            value=a[j, i],
        )
    return a


def ahp_weights(a: np.ndarray, file: str | None = None, labels: list[str] | None = None) -> AHPResult:
    """AHP weights by the principal eigenvector (Saaty 1980), with the consistency check.

    A w = λ_max w;  CI = (λ_max − n) / (n − 1);  CR = CI / RI(n) with Saaty's random index.

    Raises
    ------
    InputError
        if the matrix is not a valid pairwise-comparison matrix, its order exceeds the RI table
        (10: structure the criteria hierarchically), or CR ≥ 0.1.
    """
    a = check_pairwise(a, file, labels)
    n = a.shape[0]
    if n not in SAATY_RI:
        raise InputError(
            f"AHP with {n} criteria is beyond Saaty's RI table (n ≤ 10); group them into dimensions",
            file=file,
        )
    vals, vecs = np.linalg.eig(a)
    k = int(np.argmax(vals.real))
    lam = float(vals[k].real)
    w = np.abs(vecs[:, k].real)
    w = w / w.sum()
    ci = (lam - n) / (n - 1) if n > 2 else 0.0
    ri = SAATY_RI[n]
    cr = ci / ri if ri > 0 else 0.0
    if cr >= CR_MAX:
        raise InputError(
            f"judgements are inconsistent: consistency ratio CR = {cr:.3f} ≥ {CR_MAX} "
            f"(λmax = {lam:.4f}, CI = {ci:.4f}, RI = {ri}); revise the comparisons",
            file=file,
            field="CR",
            value=round(cr, 4),
        )
    return AHPResult(w, lam, ci, cr, ri)


def parse_judgement(s: str) -> float:
    """A Saaty judgement as written: ``3``, ``1/5``, ``0.2``."""
    s = str(s).strip()
    if "/" in s:
        num, den = s.split("/", 1)
        return float(num) / float(den)
    return float(s)


def combine_weights(
    subjective: np.ndarray,
    objective: np.ndarray,
    alpha: float = 0.5,
    method: str = "linear",
) -> np.ndarray:
    """Combined subjective–objective weights.

    ``linear``:          w_j = α s_j + (1 − α) o_j
    ``multiplicative``:  w_j = s_j o_j / Σ_k s_k o_k
    Both inputs are normalised to sum 1 first.
    """
    s = np.asarray(subjective, float)
    o = np.asarray(objective, float)
    s = s / s.sum()
    o = o / o.sum()
    if method == "linear":
        if not 0.0 <= alpha <= 1.0:
            raise InputError("alpha must lie in [0, 1]", field="alpha", value=alpha)
        w = alpha * s + (1.0 - alpha) * o
    elif method == "multiplicative":
        w = s * o
    else:
        raise InputError("combination method must be linear or multiplicative", field="method", value=method)
    return w / w.sum()
