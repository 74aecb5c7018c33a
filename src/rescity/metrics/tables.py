"""Metrics tables of a recovery run: ``metrics.csv`` and ``qt.csv``.

Per reported unit (province, prefecture, county by default) and service system, over the
realisations of :func:`rescity.engine.recovery.simulate_recovery`:

``resilience_loss_h``
    Area above ``Q(t)`` over the horizon, hours (:func:`rescity.metrics.curves.resilience_loss`),
    from the exact customer-hours: ``customer_hours_lost / people_served``.
``robustness``
    ``min Q(t) = Q(0)`` (the curve only rises).
``t90_h``, ``t95_h``, ``t100_h``
    Rapidity: first hour with ``Q ≥ 90 / 95 / 100 %``. A realisation that does not get there
    within the horizon counts as the horizon (a lower bound); ``t90_censored`` … give the share of
    such realisations.
``customer_hours_lost``
    People-hours without the service within the horizon.

Each as the mean over realisations, with ``_p05`` and ``_p95`` quantiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rescity.metrics.curves import rapidity
from rescity.metrics.quantiles import quantile

METRICS_COLUMNS: tuple[str, ...] = (
    "unit_id",
    "system",
    "resilience_loss_h",
    "robustness",
    "t90_h",
    "t100_h",
    "customer_hours_lost",
)
_STATS = ("resilience_loss_h", "robustness", "t90_h", "t95_h", "t100_h", "customer_hours_lost")


def per_realisation(rec, system: str) -> dict[str, np.ndarray]:
    """Per realisation and unit ``(R, n_units)``: every metric of the table for one system."""
    hours = rec.hours
    served = rec.served[system]
    ch = rec.customer_hours[system]
    with np.errstate(invalid="ignore", divide="ignore"):
        rl = np.where(served > 0, ch / served, 0.0)
    levels = (0.9, 0.95, 1.0)
    codes = rec.q[system]
    if codes.dtype == np.uint16 and hasattr(rec, "decode"):
        t = _rapidity_of_codes(codes, rec.decode, hours, levels)
        q0 = rec.decode(codes[:, :, 0])
    else:
        q = rec.qt(system)
        t = rapidity(q, hours, levels)  # (R, U, 3)
        q0 = q[:, :, 0]
    return {
        "resilience_loss_h": rl,
        "robustness": q0.astype(np.float64),
        "t90_h": t[..., 0],
        "t95_h": t[..., 1],
        "t100_h": t[..., 2],
        "customer_hours_lost": ch,
    }


def _rapidity_of_codes(codes: np.ndarray, decode, hours: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """:func:`~rescity.metrics.curves.rapidity` of ``decode(codes)`` (``uint16`` fixed-point
    Q(t), ``(R, U, H)``) at ``levels``, read on the codes: whether ``Q ≥ level`` (with
    rapidity's tolerance) is decided once for each of the 65,536 codes, and as ``Q`` does not
    decrease with the code, it holds exactly from the first code that passes. The same hours,
    without a float64 copy of Q(t) and a (R, U, levels, H) mask."""
    h = np.asarray(hours, dtype=np.float64)
    value = decode(np.arange(1 << 16, dtype=np.uint16)).astype(np.float64)
    out = np.empty(codes.shape[:2] + (len(levels),))
    for i, level in enumerate(levels):
        passes = value >= np.float64(level) - 1e-9
        first = int(passes.argmax()) if passes.any() else len(passes)
        if not passes[first:].all():  # not monotone: fall back to the curve function
            return rapidity(decode(codes), hours, levels)
        if first == len(passes):
            out[:, :, i] = np.inf
            continue
        hit = codes >= np.uint16(first)
        k = hit.argmax(axis=-1)
        out[:, :, i] = np.where(hit.any(axis=-1), h[k], np.inf)
    return out


def metrics_table(rec, q: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
    """One row per unit and system: means and quantiles (see module docstring)."""
    frames = []
    horizon = float(rec.hours[-1])
    for sv in rec.systems:
        m = per_realisation(rec, sv)
        cols: dict[str, np.ndarray] = {}
        for name in _STATS:
            a = m[name]
            if name.startswith("t") and name.endswith("_h"):
                cols[name.replace("_h", "_censored")] = (~np.isfinite(a)).mean(axis=0)
                a = np.where(np.isfinite(a), a, horizon)
            cols[name] = a.mean(axis=0)
            lo, hi = quantile(a, q)
            cols[f"{name}_p{round(q[0] * 100):02d}"] = lo
            cols[f"{name}_p{round(q[1] * 100):02d}"] = hi
        df = pd.DataFrame(cols)
        df.insert(0, "system", sv)
        df.insert(0, "unit_id", rec.units["unit_id"].to_numpy())
        df["level"] = rec.units["level"].to_numpy()
        df["name_zh"] = rec.units["name_zh"].to_numpy()
        df["name_en"] = rec.units["name_en"].to_numpy()
        df["people_served"] = rec.served[sv]
        frames.append(df)
    t = pd.concat(frames, ignore_index=True)
    first = list(METRICS_COLUMNS)
    stats = [
        f"{n}_{s}"
        for n in ("resilience_loss_h", "robustness", "t90_h", "t100_h", "customer_hours_lost")
        for s in ("p05", "p95")
    ]
    rest = [c for c in t.columns if c not in first + stats]
    return t[first + [c for c in stats if c in t.columns] + rest]


def column_quantiles(a: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    """``numpy.quantile(a, q, axis=0)``, with only the columns that vary sorted: a column whose
    values are all equal (a unit fully served in every realisation) has that value as every
    quantile. The same numbers, much faster for Q(t), which is mostly 1 after a few days; the
    varying columns go through :func:`rescity.metrics.quantiles.quantile` (a sort, NumPy's
    arithmetic)."""
    lo, hi = a.min(axis=0), a.max(axis=0)
    vary = lo != hi
    out = np.empty((len(q), *a.shape[1:]), dtype=np.result_type(a.dtype, np.float64))
    out[:] = lo
    if vary.any():
        out[:, vary] = quantile(a[:, vary], q)
    return out


def qt_table(rec, q: tuple[float, float] = (0.05, 0.95), every_h: float | None = None) -> pd.DataFrame:
    """``unit_id, system, hour, q_mean, q_p05, q_p95`` (``every_h`` thins the grid)."""
    hours = rec.hours
    sel = np.arange(len(hours))
    if every_h:
        sel = np.flatnonzero(
            np.isclose(np.mod(hours, every_h), 0) | (np.arange(len(hours)) == len(hours) - 1)
        )
    frames = []
    ids = rec.units["unit_id"].to_numpy()
    for sv in rec.systems:
        a = rec.qt(sv)
        if len(sel) < a.shape[2]:
            a = a[:, :, sel]
        mean = a.mean(axis=0, dtype=np.float64)
        lo, hi = column_quantiles(a, q)
        u, h = np.meshgrid(np.arange(len(ids)), sel, indexing="ij")
        frames.append(
            pd.DataFrame(
                {
                    "unit_id": ids[u.ravel()],
                    "system": sv,
                    "hour": hours[h.ravel()],
                    "q_mean": mean.ravel(),
                    "q_p05": lo.ravel(),
                    "q_p95": hi.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
