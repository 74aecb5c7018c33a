"""Resilience metrics of a service curve ``Q(t)`` (share of people served, 0–1).

``Q(t)`` is a right-continuous step function: an asset or terminal restored at ``τ`` counts from
``t = τ`` on. Sampled on a grid ``t_0 < t_1 < …`` (hours) it is held from each sample to the
next, which is exact when restorations fall on grid times (as on the hourly grid of
:mod:`rescity.engine.recovery`, where a restoration at ``τ`` is counted from the first grid hour
``≥ τ``).

Resilience loss (Bruneau et al. 2003, *Earthquake Spectra* 19(4):733–752), the area above the curve,
in hours of complete outage:

    RL = ∫_{t_0}^{t_end} (1 − Q(t)) dt = Σ_i (1 − Q(t_i)) (t_{i+1} − t_i)

Customer-hours lost: ``people · RL`` (equivalently ``Σ_terminal people · min(τ, t_end)`` from
restoration times, :func:`loss_from_times`). Robustness: ``min_t Q(t)`` (the lowest service
level, Bruneau's robustness). Rapidity: the first time ``Q`` reaches a level (90 %, 95 %, 100 %);
``inf`` when it does not within the horizon.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rescity.errors import InputError


def _grid(hours: np.ndarray, n: int) -> np.ndarray:
    h = np.asarray(hours, dtype=np.float64)
    if h.ndim != 1 or len(h) != n:
        raise InputError(f"hours must be a 1-D grid of {n} times", field="hours", value=h.shape)
    if len(h) > 1 and not (np.diff(h) > 0).all():
        raise InputError("hours must increase", field="hours")
    return h


def qt_from_times(tau: np.ndarray, weights: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """``Q(t) = Σ_i w_i [τ_i ≤ t] / Σ_i w_i`` on the grid ``hours``.

    ``tau``: restoration (functional-from) times ``(…, n_items)``, hours (``inf``: never);
    ``weights``: people per item ``(n_items,)``. Returns ``(…, n_hours)``.
    """
    tau = np.asarray(tau, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    h = np.asarray(hours, dtype=np.float64)
    if tau.shape[-1] != len(w):
        raise InputError("one weight per item", field="weights", value=w.shape)
    tot = w.sum()
    if tot <= 0:
        return np.ones(tau.shape[:-1] + (len(h),))
    return ((tau[..., None, :] <= h[:, None]) * w).sum(axis=-1) / tot


def resilience_loss(q: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Area above ``Q(t)`` over the grid, hours: ``Σ_i (1 − q_i)(t_{i+1} − t_i)`` (Bruneau 2003).

    ``q``: ``(…, n_hours)``. The last sample closes the interval (it carries no width).
    """
    q = np.asarray(q, dtype=np.float64)
    h = _grid(hours, q.shape[-1])
    dt = np.diff(h)
    return ((1.0 - q[..., :-1]) * dt).sum(axis=-1)


def robustness(q: np.ndarray) -> np.ndarray:
    """Lowest service level ``min_t Q(t)`` (Bruneau 2003)."""
    return np.asarray(q, dtype=np.float64).min(axis=-1)


def rapidity(q: np.ndarray, hours: np.ndarray, level: float | Sequence[float] = 0.9) -> np.ndarray:
    """First grid time at which ``Q ≥ level``; ``inf`` if not reached. A sequence of levels adds
    a trailing axis. A small tolerance (1e-9) absorbs rounding, so ``level = 1`` means full."""
    q = np.asarray(q, dtype=np.float64)
    h = _grid(hours, q.shape[-1])
    levels = np.atleast_1d(np.asarray(level, dtype=np.float64))
    if ((levels < 0) | (levels > 1)).any():
        raise InputError("levels must lie in [0, 1]", field="level", value=level)
    hit = q[..., None, :] >= levels[:, None] - 1e-9  # (…, n_levels, n_hours)
    first = hit.argmax(axis=-1)
    out = np.where(hit.any(axis=-1), h[first], np.inf)
    return out if np.ndim(level) else out[..., 0]


def customer_hours_lost(q: np.ndarray, hours: np.ndarray, people: np.ndarray | float) -> np.ndarray:
    """People-hours without service: ``people · resilience_loss``."""
    return np.asarray(people, dtype=np.float64) * resilience_loss(q, hours)


def loss_from_times(tau: np.ndarray, weights: np.ndarray, horizon_h: float) -> np.ndarray:
    """Customer-hours lost from restoration times: ``Σ_i w_i · min(τ_i, horizon)`` (exact for the
    step curve; the grid is not needed)."""
    tau = np.asarray(tau, dtype=np.float64)
    return (np.minimum(tau, float(horizon_h)) * np.asarray(weights, dtype=np.float64)).sum(axis=-1)
