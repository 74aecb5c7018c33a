"""Scoring and diagnosis: decision matrix, TOPSIS closeness, obstacle degree, rankings.

Rows of the decision matrix are (unit, year) pairs pooled over every year evaluated, so that
standardisation and weights are common to all years and scores can be compared over time;
ranks are taken within each year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.assess.indicators import IndicatorSystem, check_values
from rescity.assess.weights import (
    SHIFT,
    AHPResult,
    ahp_weights,
    combine_weights,
    critic_weights,
    entropy_weights,
    parse_judgement,
    standardise,
)
from rescity.errors import InputError

WEIGHT_METHODS: tuple[str, ...] = ("entropy", "critic", "ahp", "combined")


def topsis(
    x: np.ndarray, weights: np.ndarray, directions: np.ndarray | None = None, normalisation: str = "none"
) -> np.ndarray:
    """TOPSIS closeness to the ideal solution (Hwang & Yoon 1981).

    v_ij = w_j r_ij;  D_i^± = ‖v_i − v^±‖₂;  C_i = D_i^− / (D_i^+ + D_i^−) ∈ [0, 1].

    ``normalisation``: ``none`` — ``x`` is already standardised with larger = better (the
    ideal is the column maximum); ``minmax`` — min–max standardise with ``directions``;
    ``vector`` — r_ij = x_ij / ‖x_j‖₂ as in Hwang & Yoon, the ideal being the maximum of benefit
    and the minimum of cost columns. Closeness is unchanged by a shift or positive rescaling of a
    min–max score, so the shifted scores of :func:`standardise` give the plain min–max answer.
    """
    x = np.asarray(x, float)
    w = np.asarray(weights, float)
    d = np.ones(x.shape[1]) if directions is None else np.asarray(directions)
    if normalisation == "none":
        r, d = x, np.ones(x.shape[1])
    elif normalisation == "minmax":
        r, d = standardise(x, d, shift=0.0), np.ones(x.shape[1])
    elif normalisation == "vector":
        norm = np.sqrt((x**2).sum(axis=0))
        r = x / np.where(norm > 0, norm, 1.0)
    else:
        raise ValueError(f"unknown normalisation {normalisation!r}")
    v = r * w
    best = np.where(d > 0, v.max(axis=0), v.min(axis=0))
    worst = np.where(d > 0, v.min(axis=0), v.max(axis=0))
    dp = np.sqrt(((v - best) ** 2).sum(axis=1))
    dm = np.sqrt(((v - worst) ** 2).sum(axis=1))
    tot = dp + dm
    return np.where(tot > 0, dm / np.where(tot > 0, tot, 1.0), 0.5)


def obstacle_degree(y: np.ndarray, weights: np.ndarray, shift: float = SHIFT) -> np.ndarray:
    """Obstacle degree (障碍度) of each indicator for each alternative.

    O_ij = F_j I_ij / Σ_k F_k I_ik with factor contribution F_j = w_j and deviation
    I_ij = 1 − x'_ij (x' the min–max score in [0, 1]); rows sum to 1 (0 where an alternative is
    best in every indicator). The obstacle-degree model as used in Chinese resilience
    evaluation, e.g. the entropy-TOPSIS-obstacle studies of urban resilience.
    """
    y = np.asarray(y, float)
    dev = 1.0 - (y - shift) / (1.0 - shift)
    f = np.asarray(weights, float) * dev
    tot = f.sum(axis=1, keepdims=True)
    return np.where(tot > 0, f / np.where(tot > 0, tot, 1.0), 0.0)


def read_pairwise(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read a square pairwise-comparison CSV (first column and header: criterion ids).

    Cells may be written as fractions (``1/3``).
    """
    t = pd.read_csv(path, dtype=str, keep_default_na=False)
    labels = [c.strip() for c in t.columns[1:]]
    rows = t.iloc[:, 0].str.strip().tolist()
    if rows != labels:
        raise InputError(
            "row and column criteria must be the same, in the same order",
            file=path,
            field=t.columns[0],
            value=", ".join(rows),
        )
    try:
        a = np.array([[parse_judgement(v) for v in r] for r in t.iloc[:, 1:].to_numpy()], float)
    except (ValueError, ZeroDivisionError) as e:
        raise InputError(f"a judgement is not a number: {e}", file=path) from None
    return a, labels


def default_ahp_path() -> Path:
    from rescity.data import path as data_path

    return data_path("assess_ahp_dimensions.csv")


def ahp_indicator_weights(
    system: IndicatorSystem,
    indicators: list[str],
    matrix: np.ndarray,
    labels: list[str],
    file: str | None = None,
) -> tuple[np.ndarray, AHPResult, str]:
    """Indicator weights from an AHP judgement matrix over dimensions or over indicators.

    Dimension-level: each dimension's weight is shared equally by its indicators in use;
    dimensions without an indicator in use are left out and the rest renormalised. Returns
    (weights in the order of ``indicators``, AHP result, a note).
    """
    res = ahp_weights(matrix, file=file, labels=labels)
    dims = system.dimension_of(indicators)
    if set(labels) <= set(system.dimensions):
        wd = pd.Series(res.weights, index=labels)
        missing = [d for d in system.dimensions if d not in labels and d in set(dims)]
        if missing:
            raise InputError(
                "the AHP matrix leaves out dimensions in use", file=file, value=", ".join(missing)
            )
        count = pd.Series(dims).value_counts()
        w = np.array([wd[d] / count[d] for d in dims])
        unused = [d for d in labels if d not in set(dims)]
        note = f"AHP over dimensions (CR = {res.cr:.3f})"
        if unused:
            note += f"; dimensions without data left out and weights renormalised: {', '.join(unused)}"
        return w / w.sum(), res, note
    if set(labels) == set(indicators):
        wi = pd.Series(res.weights, index=labels)
        return wi[indicators].to_numpy(), res, f"AHP over indicators (CR = {res.cr:.3f})"
    raise InputError(
        "AHP criteria must be the dimension ids or exactly the indicators in use",
        file=file,
        value=", ".join(sorted(set(labels) - set(system.dimensions) - set(indicators))) or ", ".join(labels),
    )


def build_matrix(
    values: pd.DataFrame,
    system: IndicatorSystem,
    units: list[str] | None = None,
    static_year: int = 2020,
) -> pd.DataFrame:
    """Pivot a long value table into a wide (unit_id, year) × indicator table (NaN = missing).

    Static values (``year`` NaN) are carried to every year that has dated values, or to
    ``static_year`` when none has. ``units`` restricts (and orders) the rows.
    """
    check_values(values, system)
    v = values.copy()
    years = sorted(v["year"].dropna().unique().tolist()) or [float(static_year)]
    static = v[v["year"].isna()]
    dated = v[v["year"].notna()]
    spread = pd.concat([static.assign(year=y) for y in years], ignore_index=True) if len(static) else static
    # a dated value wins over the static one for the same unit, year and indicator
    both = pd.concat([dated, spread], ignore_index=True).drop_duplicates(["unit_id", "year", "indicator"])
    wide = both.pivot_table(index=["unit_id", "year"], columns="indicator", values="value", aggfunc="first")
    ids = units if units is not None else sorted(both["unit_id"].unique())
    idx = pd.MultiIndex.from_product([ids, years], names=["unit_id", "year"])
    cols = [i for i in system.ids if i in wide.columns]
    wide = wide.reindex(index=idx, columns=cols)
    wide.index = wide.index.set_levels(wide.index.levels[1].astype(int), level=1)
    return wide


@dataclass
class Evaluation:
    """The outcome of :func:`evaluate`."""

    system: IndicatorSystem
    matrix: pd.DataFrame  # raw values used, (unit_id, year) × indicator
    standardised: pd.DataFrame  # y in [shift, 1], larger = better
    weights: pd.Series  # indicator → weight (sums to 1)
    method: str
    ranking: pd.DataFrame  # unit_id, year, closeness, rank, score_<dimension> …
    obstacles: pd.DataFrame  # unit_id, year, rank, indicator, dimension, obstacle
    dimension_obstacles: pd.DataFrame  # unit_id, year, dimension, obstacle
    notes: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)  # indicator → reason
    ahp: AHPResult | None = None


def evaluate(
    wide: pd.DataFrame,
    system: IndicatorSystem,
    method: str = "entropy",
    ahp: tuple[np.ndarray, list[str]] | None = None,
    ahp_file: str | None = None,
    objective: str = "entropy",
    alpha: float = 0.5,
    combination: str = "linear",
    shift: float = SHIFT,
    top: int = 3,
) -> Evaluation:
    """Weight, score, rank and diagnose the units of a wide matrix from :func:`build_matrix`.

    Indicators missing for some rows, or constant over all rows, are excluded (the reasons are
    returned in :attr:`Evaluation.excluded`). ``method``: ``entropy``, ``critic``, ``ahp``
    (judgements ``ahp`` = (matrix, labels); the packaged dimension matrix when None) or
    ``combined`` (α·AHP + (1 − α)·``objective``).
    """
    if method not in WEIGHT_METHODS:
        raise InputError(
            f"weighting must be one of {', '.join(WEIGHT_METHODS)}", field="weights", value=method
        )
    excluded: dict[str, str] = {}
    notes: list[str] = []
    for ind in system.ids:
        if ind not in wide.columns or wide[ind].isna().all():
            excluded[ind] = "no data"
    use = [c for c in wide.columns if c not in excluded]
    for ind in list(use):
        miss = wide[ind].isna()
        if miss.any():
            units = sorted(wide.index[miss].get_level_values(0).unique().astype(str))
            excluded[ind] = (
                f"missing for {len(units)} unit(s): {', '.join(units[:5])}{' …' if len(units) > 5 else ''}"
            )
            use.remove(ind)
        elif np.ptp(wide[ind].to_numpy(float)) == 0:
            excluded[ind] = "same value for every unit (cannot discriminate)"
            use.remove(ind)
    if len(use) < 2:
        raise InputError(
            f"only {len(use)} usable indicator(s); at least two are needed",
            field="indicators",
            value=", ".join(use),
        )
    if len(wide) < 3:
        raise InputError("at least three units (or unit-years) are needed", field="units", value=len(wide))
    x = wide[use].to_numpy(float)
    dirs = system.directions(use)
    y = standardise(x, dirs, shift)
    ahp_res = None
    if method in ("ahp", "combined"):
        if ahp is None:
            ahp = read_pairwise(default_ahp_path())
            ahp_file = ahp_file or "packaged dimension judgements"
        subj, ahp_res, note = ahp_indicator_weights(system, use, ahp[0], ahp[1], file=ahp_file)
        notes.append(note)
    if method == "entropy":
        w = entropy_weights(y)
    elif method == "critic":
        w = critic_weights(y)
    elif method == "ahp":
        w = subj
    else:
        obj = entropy_weights(y) if objective == "entropy" else critic_weights(y)
        w = combine_weights(subj, obj, alpha=alpha, method=combination)
        notes.append(f"combined weights: {combination}, α = {alpha} AHP + {1 - alpha:g} {objective}")
    close = topsis(y, w)
    obst = obstacle_degree(y, w, shift)
    idx = wide.index
    ranking = pd.DataFrame(
        {"unit_id": idx.get_level_values(0), "year": idx.get_level_values(1), "closeness": close}
    )
    ranking["rank"] = ranking.groupby("year")["closeness"].rank(ascending=False, method="min").astype(int)
    dims = system.dimension_of(use)
    for dim in system.dimensions:
        sel = dims == dim
        if sel.any():
            ranking[f"score_{dim}"] = (y[:, sel] * w[sel]).sum(axis=1) / w[sel].sum()
    n_rows, n_ind = obst.shape
    long = pd.DataFrame(
        {
            "unit_id": np.repeat(idx.get_level_values(0).to_numpy(), n_ind),
            "year": np.repeat(idx.get_level_values(1).to_numpy(), n_ind),
            "indicator": np.tile(np.asarray(use, dtype=object), n_rows),
            "obstacle": obst.ravel(),
        }
    )
    long["dimension"] = long["indicator"].map(dict(zip(use, dims, strict=True)))
    long = long.sort_values(["year", "unit_id", "obstacle"], ascending=[True, True, False])
    long["rank"] = long.groupby(["unit_id", "year"]).cumcount() + 1
    dim_ob = long.groupby(["unit_id", "year", "dimension"], as_index=False)["obstacle"].sum()
    weakest = long[long["rank"] <= top][["unit_id", "year", "rank", "indicator", "dimension", "obstacle"]]
    ranking = ranking.sort_values(["year", "rank", "unit_id"]).reset_index(drop=True)
    return Evaluation(
        system=system,
        matrix=wide[use],
        standardised=pd.DataFrame(y, index=idx, columns=use),
        weights=pd.Series(w, index=use, name="weight"),
        method=method,
        ranking=ranking,
        obstacles=weakest.reset_index(drop=True),
        dimension_obstacles=dim_ob,
        notes=notes,
        excluded=excluded,
        ahp=ahp_res,
    )
