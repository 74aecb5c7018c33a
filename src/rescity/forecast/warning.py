"""Four-colour warning levels and the composite risk score.

Levels are ``int8``: 0 none, 1 blue (蓝), 2 yellow (黄), 3 orange (橙), 4 red (红) — the colours
of China's Emergency Response Law (突发事件应对法, 2007, Art. 42) for response levels IV…I.

Thresholds are a packaged table (``warning_thresholds.csv``, one row per indicator and unit level,
with its source). ``basis`` says how a row's four numbers are read:

``count``
    absolute numbers (people, households, CNY) — the province rows, from the State Council's
    national natural-disaster relief plan (国家自然灾害救助应急预案, 2016 and 2024): a province
    reaching 100 000 / 500 000 / 1 000 000 / 2 000 000 people relocated triggers a level IV / III /
    II / I response;
``per_capita``
    numbers per resident, multiplied by the unit's population — prefecture, county and cell rows,
    the province criteria divided by Zhejiang's 2020 census population (so a county reaching the
    same share of its residents as the province criterion gets the same colour);
``per_household``
    numbers per household, multiplied by the unit's households;
``score``
    the composite score itself (thresholds 1, 2, 3, 4).

A value equal to a threshold reaches it (the plans' "以上（含本数）").

Composite risk score
--------------------
Each indicator with thresholds gets a piecewise-linear score ``s``: 0 at 0, 1 at the blue
threshold, 2 at yellow, 3 at orange, 4 at red, rising beyond red with the orange-to-red slope up
to 5. The composite score is the highest indicator score, ``C = max_i s_i`` — the plans start a
response when *any one* criterion is met — so ``floor(C)`` is the composite warning level.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from rescity.errors import InputError

COLOURS: tuple[str, ...] = ("none", "blue", "yellow", "orange", "red")
COLOURS_ZH: tuple[str, ...] = ("无", "蓝色", "黄色", "橙色", "红色")
#: Hex colours for maps (none, blue, yellow, orange, red).
HEX: tuple[str, ...] = ("#d9d9d9", "#2b83ba", "#ffd92f", "#fd8d3c", "#d7191c")
SCORE_CAP = 5.0


@lru_cache(maxsize=4)
def _packaged() -> pd.DataFrame:
    return pd.read_csv(str(files("rescity.forecast.data") / "warning_thresholds.csv"))


def thresholds(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The threshold table (packaged default, or ``table`` checked for its columns)."""
    t = _packaged() if table is None else table
    need = {"indicator", "level", "basis", "blue", "yellow", "orange", "red"}
    missing = need - set(t.columns)
    if missing:
        raise InputError(f"threshold table lacks columns {sorted(missing)}", field="thresholds")
    vals = t[["blue", "yellow", "orange", "red"]].to_numpy(float)
    if not (np.diff(vals, axis=1) > 0).all():
        bad = t.loc[~(np.diff(vals, axis=1) > 0).all(axis=1), "indicator"].tolist()
        raise InputError("thresholds must increase from blue to red", field="thresholds", value=bad)
    return t


def indicators_with_thresholds(table: pd.DataFrame | None = None) -> list[str]:
    """Indicators that have warning thresholds (``composite`` excluded)."""
    t = thresholds(table)
    return [i for i in dict.fromkeys(t["indicator"]) if i != "composite"]


def unit_thresholds(
    indicator: str,
    level,
    population=None,
    households=None,
    table: pd.DataFrame | None = None,
) -> np.ndarray:
    """Absolute thresholds ``(n, 4)`` (blue, yellow, orange, red) for units at ``level``.

    ``level`` is one level name or an array of them; ``population``/``households`` (arrays or
    scalars) are needed for ``per_capita``/``per_household`` rows. Units whose level has no row
    get ``nan`` thresholds (never warned).
    """
    t = thresholds(table)
    rows = t[t["indicator"] == indicator]
    if rows.empty:
        raise InputError(
            f"no warning thresholds for indicator {indicator!r}", field="indicator", value=indicator
        )
    lv = np.atleast_1d(np.asarray(level, dtype=object))
    n = len(lv)
    if population is not None:
        pop = np.broadcast_to(np.asarray(population, float), (n,))
    if households is not None:
        hh = np.broadcast_to(np.asarray(households, float), (n,))
    out = np.full((n, 4), np.nan)
    for _, r in rows.iterrows():  # at most one row per level (4)
        m = lv == r["level"]
        if not m.any():
            continue
        base = np.array([r["blue"], r["yellow"], r["orange"], r["red"]], float)
        basis = r["basis"]
        if basis in ("count", "score"):
            out[m] = base
        elif basis == "per_capita":
            if population is None:
                raise InputError(
                    f"{indicator} thresholds at level {r['level']} need the population", field="population"
                )
            out[m] = pop[m, None] * base[None, :]
        elif basis == "per_household":
            if households is None:
                raise InputError(
                    f"{indicator} thresholds at level {r['level']} need households", field="households"
                )
            out[m] = hh[m, None] * base[None, :]
        else:
            raise InputError(f"unknown threshold basis {basis!r}", field="basis", value=basis)
    return out


def warning_level(
    values,
    indicator: str,
    level,
    population=None,
    households=None,
    table: pd.DataFrame | None = None,
) -> np.ndarray:
    """Warning level 0…4 (``int8``) of ``values`` for ``indicator`` at unit ``level``.

    ``values`` has shape ``(n,)`` (one per unit) or ``(r, n)``; the level ``k`` is reached when
    ``value ≥ threshold_k``. Units without thresholds (or a ``nan`` value) get 0.
    """
    v = np.asarray(values, float)
    n = v.shape[-1] if v.ndim else 1
    lv = np.broadcast_to(np.asarray(level, dtype=object), (n,))
    return level_of(v, unit_thresholds(indicator, lv, population, households, table))


def level_of(values: np.ndarray, th: np.ndarray) -> np.ndarray:
    """:func:`warning_level` of float ``values`` ``(…, n)`` against the thresholds ``th``
    ``(n, 4)`` of :func:`unit_thresholds` (computed once for several arrays)."""
    v = np.asarray(values, float)
    with np.errstate(invalid="ignore"):
        reached = v[..., None] >= th  # nan thresholds compare False
        # positive thresholds only: a zero threshold from a zero population never warns
        reached &= th > 0
    return reached.sum(axis=-1).astype(np.int8)


def score(
    values,
    indicator: str,
    level,
    population=None,
    households=None,
    table: pd.DataFrame | None = None,
) -> np.ndarray:
    """Piecewise-linear warning score (0 at 0, k at threshold k, capped at 5); 0 without thresholds."""
    v = np.asarray(values, float)
    n = v.shape[-1] if v.ndim else 1
    lv = np.broadcast_to(np.asarray(level, dtype=object), (n,))
    return score_of(v, unit_thresholds(indicator, lv, population, households, table))


def score_of(values: np.ndarray, th: np.ndarray) -> np.ndarray:
    """:func:`score` of float ``values`` ``(…, n)`` against the thresholds ``th`` ``(n, 4)`` of
    :func:`unit_thresholds`. The same numbers, bit for bit, as the earlier form with
    ``(…, n, 5)`` comparisons and ``take_along_axis`` gathers (``tests/forecast`` keeps it to
    compare): the segment index counts the knots reached one knot at a time and its ends are
    read from the flat knot table, the same comparisons and arithmetic without the temporaries,
    in blocks that stay in the CPU caches (a pool of samples × units is walked in its own
    memory order: units × samples for the transposed view an issuance's roll-up returns)."""
    v = np.asarray(values, float)
    n = th.shape[0]
    ok = np.isfinite(th).all(axis=1) & (th[:, 0] > 0)
    thz = np.where(ok[:, None], th, 1.0)
    knots = np.concatenate([np.zeros((n, 1)), thz], axis=1)  # (n, 5)
    if v.ndim != 2 or v.shape[1] != n:
        return _score_block(v, knots, ok)
    if v.flags.f_contiguous and not v.flags.c_contiguous:  # units × samples, unit rows in blocks
        vt = v.T
        out = np.empty(vt.shape)
        step = max(1, _BLOCK // max(vt.shape[1], 1))
        for a in range(0, n, step):
            b = min(a + step, n)
            out[a:b] = _score_block(vt[a:b], knots[a:b], ok[a:b], units_first=True)
        return out.T
    out = np.empty(v.shape)
    step = max(1, _BLOCK // max(n, 1))
    for a in range(0, v.shape[0], step):
        out[a : a + step] = _score_block(v[a : a + step], knots, ok)
    return out


#: Values per block of :func:`score_of` (64 Ki float64: a block's temporaries stay in L2).
_BLOCK = 1 << 16


def _score_block(v: np.ndarray, knots: np.ndarray, ok: np.ndarray, units_first: bool = False) -> np.ndarray:
    """Scores of ``v`` ``(…, m)`` (or ``(m, S)`` with ``units_first``) against the knots
    ``(m, 5)`` (0 and the four thresholds) of its ``m`` units."""
    m = knots.shape[0]

    def per_unit(a: np.ndarray) -> np.ndarray:
        return a[:, None] if units_first else a

    vv = np.clip(np.nan_to_num(v, nan=0.0), 0.0, None)
    # segment index per value: number of knots ≤ v (1…5, as knot 0 is 0), clipped to 1…4
    k = np.zeros(vv.shape, np.int64)
    for j in range(knots.shape[1]):
        k += vv >= per_unit(knots[:, j])
    np.clip(k, 1, 4, out=k)
    at = k + per_unit(5 * np.arange(m))  # position of the knot above in the flat table
    flat = knots.ravel()
    hi = flat[at]
    at -= 1
    lo = flat[at]
    # a zero-width segment (two equal thresholds) is passed as soon as it is reached
    width = hi - lo
    frac = np.divide(vv - lo, width, out=np.ones_like(vv, dtype=float), where=width > 0)
    s = np.clip((k - 1) + frac, 0.0, SCORE_CAP)
    return np.where(per_unit(ok), s, 0.0)


def composite(scores: dict[str, np.ndarray]) -> np.ndarray:
    """Composite risk score: the highest indicator score (same shapes in, one array out)."""
    if not scores:
        raise InputError("no indicator scores to combine", field="indicators")
    return np.maximum.reduce([np.asarray(s, float) for s in scores.values()])


def colour(level) -> np.ndarray:
    """Colour names for warning levels."""
    return np.asarray(COLOURS, dtype=object)[np.clip(np.asarray(level, int), 0, 4)]
