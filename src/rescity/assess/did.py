"""Staggered difference-in-differences for policy evaluation (e.g. the smart-city pilots).

Estimators
----------
``cs``   Callaway & Sant'Anna (2021): group-time average treatment effects ATT(g, t), doubly
         robust (Sant'Anna & Zhao 2020), never-treated or not-yet-treated controls, varying base
         period, analytic influence-function standard errors — the defaults of R's ``did``
         (``att_gt``/``aggte``), computed with ``moderndid``.
``sa``   Sun & Abraham (2021) interaction-weighted estimator: a two-way fixed-effects regression
         (``pyfixest``) of the outcome on cohort × relative-period indicators (reference period
         −1) with the never-treated (or, with ``notyet``, the last-treated) cohort as control;
         the cohort-specific effects CATT(g, e) are aggregated with cohort-size weights, standard
         errors by the delta method from the unit-clustered covariance (weights held fixed).
``twfe`` The conventional two-way fixed-effects DiD and event-study regressions (``pyfixest``),
         unit-clustered; biased under heterogeneous staggered effects (Goodman-Bacon 2021), kept
         as the familiar benchmark.

Aggregations (Callaway & Sant'Anna 2021, section 3): with cohort sizes n_g,

* simple    θ = Σ_{g, t ≥ g} n_g ATT(g, t) / Σ_{g, t ≥ g} n_g
* group     θ(g) = mean_{t ≥ g} ATT(g, t);  θ = Σ_g n_g θ(g) / Σ_g n_g
* dynamic   θ(e) = Σ_g n_g ATT(g, g + e) / Σ_g n_g (cohorts observed at e);  θ = mean_{e ≥ 0} θ(e)
* calendar  θ(t) = Σ_{g ≤ t} n_g ATT(g, t) / Σ_{g ≤ t} n_g;  θ = mean_t θ(t)

Pre-trend test: Wald χ² that every pre-treatment effect is zero (CS: ATT(g, t), t < g, with the
influence-function covariance; SA: CATT(g, e ≤ −2); TWFE: event coefficients e ≤ −2).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from rescity.errors import InputError

ESTIMATORS: tuple[str, ...] = ("cs", "sa", "twfe")
CONTROLS: tuple[str, ...] = ("never", "notyet")
AGGREGATIONS: tuple[str, ...] = ("simple", "group", "dynamic", "calendar")


def require(module: str):
    """Import an optional dependency of the ``assess`` extra or raise a one-line InputError."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"{module} is not installed; install the policy-evaluation extra: pip install 'rescity[assess]'"
        ) from None


@dataclass
class Aggregate:
    """An aggregated effect: overall ``att`` and ``se``, and the per-key effects in ``by``."""

    att: float
    se: float
    by: pd.DataFrame | None = None  # columns: key (g, e or t), att, se

    def to_dict(self, key: str | None = None) -> dict:
        out: dict = {"att": _f(self.att), "se": _f(self.se)}
        if self.by is not None and key is not None:
            out["by"] = [
                {key: _num(k), "att": _f(a), "se": _f(s)}
                for k, a, s in self.by[[key, "att", "se"]].itertuples(index=False)
            ]
        return out


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _num(x):
    x = float(x)
    return int(x) if x.is_integer() else x


@dataclass
class DidResult:
    """Estimates of one DiD run; :meth:`to_dict` gives the JSON the CLI prints."""

    estimator: str
    control: str
    outcome: str
    cohort_coding: str
    aggregates: dict[str, Aggregate | None]
    event: pd.DataFrame  # e, att, se (the event-study curve)
    att_gt: pd.DataFrame | None  # group, time, att, se
    pretrend: dict | None
    n_units: int
    n_obs: int
    cohorts: dict[int, int]
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        keys = {"simple": None, "group": "g", "dynamic": "e", "calendar": "t"}
        out: dict = {}
        for name in AGGREGATIONS:
            a = self.aggregates.get(name)
            out[name] = None if a is None else a.to_dict(keys[name])
        out["estimator"] = self.estimator
        out["control"] = self.control
        out["outcome"] = self.outcome
        out["cohort_coding"] = self.cohort_coding
        out["pretrend"] = self.pretrend
        out["n_units"] = self.n_units
        out["n_obs"] = self.n_obs
        out["cohorts"] = {str(k): v for k, v in self.cohorts.items()}
        if self.att_gt is not None:
            out["att_gt"] = [
                {"g": _num(g), "t": _num(t), "att": _f(a), "se": _f(s)}
                for g, t, a, s in self.att_gt[["group", "time", "att", "se"]].itertuples(index=False)
            ]
        out["notes"] = self.notes
        return out

    def table(self) -> str:
        """A plain-text summary: aggregations with confidence intervals, the event study, pre-trends."""
        z = stats.norm.ppf(1 - self.alpha / 2)
        names = {"cs": "Callaway–Sant'Anna", "sa": "Sun–Abraham", "twfe": "two-way fixed effects"}
        lines = [
            f"{names[self.estimator]} DiD of {self.outcome!r}; control: {self.control}; "
            f"{self.n_units} units, {self.n_obs} observations",
            f"cohorts: {self.cohort_coding}; units per cohort: "
            + ", ".join(f"{'never' if g == 0 else g}: {n}" for g, n in self.cohorts.items()),
            "",
            f"{'aggregation':<12}{'ATT':>11}{'SE':>11}   {int(100 * (1 - self.alpha))}% CI",
        ]
        for name in AGGREGATIONS:
            a = self.aggregates.get(name)
            if a is None:
                lines.append(f"{name:<12}{'—':>11}{'—':>11}   (not defined for this estimator)")
            else:
                lo, hi = a.att - z * a.se, a.att + z * a.se
                lines.append(f"{name:<12}{a.att:>11.6f}{a.se:>11.6f}   [{lo:.6f}, {hi:.6f}]")
        lines += ["", f"{'event time':<12}{'ATT':>11}{'SE':>11}"]
        for e, a, s in self.event[["e", "att", "se"]].itertuples(index=False):
            lines.append(f"{int(e):<12}{a:>11.6f}{s:>11.6f}")
        if self.pretrend:
            p = self.pretrend
            lines += ["", f"pre-trend test: Wald χ²({p['df']}) = {p['stat']:.4f}, p = {p['p']:.4f}"]
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)


# -- panel ------------------------------------------------------------------------------------
def prepare_panel(
    panel: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    covariates: list[str] | None = None,
    file: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Check a panel and return it as columns ``id`` (int), ``t``, ``y``, ``g`` (0 = never) + covariates.

    Units treated after the last period count as never treated and units treated in or before
    the first period are dropped (nothing is observed before their treatment), as R's ``did`` does.
    """
    covariates = covariates or []
    for role, col in [("outcome", outcome), ("unit", unit), ("time", time), ("cohort", cohort)] + [
        ("covariate", c) for c in covariates
    ]:
        if col not in panel.columns:
            raise InputError(
                f"no {role} column {col!r} in the panel (columns: {', '.join(map(str, panel.columns))})",
                file=file,
                field=role,
                value=col,
            )
    notes = []
    df = pd.DataFrame({"unit": panel[unit].to_numpy()})
    for name, col in (("t", time), ("y", outcome), ("g", cohort)):
        v = pd.to_numeric(panel[col], errors="coerce")
        if name != "y" and name != "g" and v.isna().any():
            raise InputError("time must be numeric", file=file, field=col, value=panel[col][v.isna()].iloc[0])
        df[name] = v.to_numpy()
    for c in covariates:
        v = pd.to_numeric(panel[c], errors="coerce")
        df[c] = v.to_numpy()
    bad = df["t"] != np.round(df["t"])
    if bad.any():
        raise InputError(
            "time must be whole periods (years)", file=file, field=time, value=df.loc[bad, "t"].iloc[0]
        )
    df["t"] = df["t"].astype(int)
    df["g"] = df["g"].fillna(0.0)
    if (df["g"] != np.round(df["g"])).any() or (df["g"] < 0).any():
        raise InputError(
            "cohort must be a whole first-treatment period, 0 or empty for never treated",
            file=file,
            field=cohort,
            value=df.loc[(df["g"] != np.round(df["g"])) | (df["g"] < 0), "g"].iloc[0],
        )
    df["g"] = df["g"].astype(int)
    if df.duplicated(["unit", "t"]).any():
        r = df[df.duplicated(["unit", "t"])].iloc[0]
        raise InputError(
            f"unit {r['unit']!r} appears twice in period {r['t']}", file=file, field=unit, value=r["unit"]
        )
    varies = df.groupby("unit")["g"].nunique()
    if (varies > 1).any():
        raise InputError(
            "cohort must be constant within a unit",
            file=file,
            field=cohort,
            value=varies[varies > 1].index[0],
        )
    miss = df[["y"] + covariates].isna().any(axis=1)
    if miss.any():
        notes.append(f"dropped {int(miss.sum())} observation(s) with a missing outcome or covariate")
        df = df[~miss]
    tmin, tmax = df["t"].min(), df["t"].max()
    late = df["g"] > tmax
    if late.any():
        notes.append(
            f"{df.loc[late, 'unit'].nunique()} unit(s) first treated after {tmax} count as never treated"
        )
        df.loc[late, "g"] = 0
    early = (df["g"] > 0) & (df["g"] <= tmin)
    if early.any():
        notes.append(
            f"dropped {df.loc[early, 'unit'].nunique()} unit(s) already treated in the first period {tmin}"
        )
        df = df[~early]
    df["id"] = pd.factorize(df["unit"])[0] + 1
    if df["g"].eq(0).sum() == 0 and df["g"].nunique() < 2:
        raise InputError(
            "every unit is treated at the same time: no comparison group", file=file, field=cohort
        )
    if not (df["g"] > 0).any():
        raise InputError("no treated unit in the panel", file=file, field=cohort)
    return df.reset_index(drop=True), notes


def _cohort_sizes(df: pd.DataFrame) -> pd.Series:
    return df.drop_duplicates("id").groupby("g").size()


# -- aggregation of cell effects ----------------------------------------------------------------
def aggregate_cells(
    cells: pd.DataFrame, sizes: pd.Series, vcov: np.ndarray | None = None
) -> dict[str, Aggregate]:
    """Simple, group, dynamic and calendar aggregations of cell effects (see the module docstring).

    ``cells``: columns ``group``, ``time``, ``att``; ``sizes``: units per cohort; ``vcov``: the
    covariance of the cell effects (delta-method SEs with fixed weights), or None for no SEs.
    """
    g = cells["group"].to_numpy(float)
    t = cells["time"].to_numpy(float)
    b = cells["att"].to_numpy(float)
    e = t - g
    n = sizes.reindex(g.astype(int)).to_numpy(float)
    post = e >= 0

    def lin(a: np.ndarray) -> tuple[float, float]:
        se = float(np.sqrt(max(a @ vcov @ a, 0.0))) if vcov is not None else np.nan
        return float(a @ b), se

    def wmean(mask: np.ndarray) -> np.ndarray:
        w = np.where(mask, n, 0.0)
        return w / w.sum()

    out: dict[str, Aggregate] = {}
    out["simple"] = Aggregate(*lin(wmean(post)))

    def family(keys: np.ndarray, members, overall) -> Aggregate:
        rows, vecs = [], []
        for k in np.unique(keys[members]):
            a = (
                wmean(members & (keys == k))
                if overall != "group"
                else np.where(members & (keys == k), 1.0, 0.0)
            )
            a = a / a.sum()
            vecs.append((k, a))
            rows.append((k, *lin(a)))
        by = pd.DataFrame(rows, columns=["key", "att", "se"])
        if overall == "group":
            wk = np.array([sizes[int(k)] for k, _ in vecs], float)
            a = sum(w * v for w, (_, v) in zip(wk / wk.sum(), vecs, strict=True))
        elif overall == "dynamic":
            post_vecs = [v for k, v in vecs if k >= 0]
            a = sum(post_vecs) / len(post_vecs)
        else:
            a = sum(v for _, v in vecs) / len(vecs)
        return Aggregate(*lin(a), by=by)

    grp = family(g, post, "group")
    out["group"] = Aggregate(grp.att, grp.se, grp.by.rename(columns={"key": "g"}))
    dyn = family(e, np.ones_like(post), "dynamic")
    out["dynamic"] = Aggregate(dyn.att, dyn.se, dyn.by.rename(columns={"key": "e"}))
    cal = family(t, post, "calendar")
    out["calendar"] = Aggregate(cal.att, cal.se, cal.by.rename(columns={"key": "t"}))
    return out


def wald_test(b: np.ndarray, v: np.ndarray) -> dict | None:
    """Wald χ² test of b = 0 with covariance v (pseudo-inverse; df = rank)."""
    if len(b) == 0:
        return None
    vi = np.linalg.pinv(v)
    stat = float(b @ vi @ b)
    df = int(np.linalg.matrix_rank(v))
    return {"stat": stat, "df": df, "p": float(stats.chi2.sf(stat, df)) if df > 0 else float("nan")}


# -- estimators -------------------------------------------------------------------------------
def _callaway_santanna(df: pd.DataFrame, control: str, covariates: list[str], notes: list[str]):
    md = require("moderndid")
    n_units = df["id"].nunique()
    balanced = len(df) == n_units * df["t"].nunique()
    if not balanced:
        notes.append("unbalanced panel: estimated as repeated cross-sections (allow_unbalanced_panel)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = md.att_gt(
            data=df,
            yname="y",
            tname="t",
            idname="id",
            gname="g",
            xformla=("~ " + " + ".join(covariates)) if covariates else None,
            control_group="nevertreated" if control == "never" else "notyettreated",
            est_method="dr",
            base_period="varying",
            boot=False,
            allow_unbalanced_panel=not balanced,
        )
        aggs = {k: md.aggte(r, type=k, cband=False) for k in AGGREGATIONS}
    for w in {str(w.message) for w in caught if "bootstrap" not in str(w.message).lower()}:
        notes.append(f"moderndid: {w}")
    cells = pd.DataFrame(
        {
            "group": np.asarray(r.groups, float),
            "time": np.asarray(r.times, float),
            "att": np.asarray(r.att_gt, float),
            "se": np.asarray(r.se_gt, float),
        }
    )
    keys = {"group": "g", "dynamic": "e", "calendar": "t"}
    out: dict[str, Aggregate | None] = {
        "simple": Aggregate(float(aggs["simple"].overall_att), float(aggs["simple"].overall_se))
    }
    for k, col in keys.items():
        a = aggs[k]
        by = pd.DataFrame(
            {
                col: np.asarray(a.event_times, float),
                "att": np.asarray(a.att_by_event, float),
                "se": np.asarray(a.se_by_event, float),
            }
        )
        out[k] = Aggregate(float(a.overall_att), float(a.overall_se), by)
    event = out["dynamic"].by
    pre = (cells["time"] < cells["group"]).to_numpy()
    pretrend = None
    if r.wald_stat is not None and np.isfinite(float(r.wald_stat)):
        df_pre = int((pre & (cells["se"].to_numpy() > 0)).sum())
        pretrend = {"stat": float(r.wald_stat), "df": df_pre, "p": float(r.wald_pvalue)}
    return out, event, cells, pretrend


def _fit(df: pd.DataFrame, regressors: list[str], covariates: list[str]):
    pf = require("pyfixest")
    fml = "y ~ " + " + ".join(regressors + covariates) + " | id + t"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = pf.feols(fml, data=df, vcov={"CRV1": "id"})
    names = [str(c) for c in fit._coefnames]
    b = pd.Series(np.asarray(fit.coef(), float), index=names)
    v = pd.DataFrame(np.asarray(fit._vcov, float), index=names, columns=names)
    dropped = [r for r in regressors if r not in names]
    return b, v, dropped, [str(w.message) for w in caught]


def _sun_abraham(df: pd.DataFrame, control: str, covariates: list[str], notes: list[str]):
    if control == "never":
        if not (df["g"] == 0).any():
            raise InputError(
                "no never-treated units: use --control notyet (the last-treated cohort as control)",
                field="control",
                value=control,
            )
        ctrl = 0
    else:
        ctrl = int(df.loc[df["g"] > 0, "g"].max())
        n_before = len(df)
        df = df[df["t"] < ctrl]
        notes.append(
            f"Sun–Abraham with the last-treated cohort {ctrl} as control: periods from {ctrl} on dropped "
            f"({n_before - len(df)} observations)"
        )
        if (df["g"] == 0).any():
            notes.append("never-treated units are kept in the control group as well")
    df = df.reset_index(drop=True)
    treated = ((df["g"] > 0) & (df["g"] != ctrl)).to_numpy()
    e = np.where(treated, df["t"] - df["g"], np.nan)
    cell = pd.DataFrame({"group": np.where(treated, df["g"], np.nan), "e": e})
    keep = treated & (e != -1)
    cells = cell[keep].drop_duplicates().sort_values(["group", "e"]).reset_index(drop=True)
    names = [f"sa_g{int(g)}_e{'m' if k < 0 else 'p'}{abs(int(k))}" for g, k in cells.itertuples(index=False)]
    code = pd.MultiIndex.from_frame(cells).get_indexer(pd.MultiIndex.from_frame(cell))
    dummies = np.zeros((len(df), len(names)))
    hit = code >= 0
    dummies[np.flatnonzero(hit), code[hit]] = 1.0
    data = pd.concat([df.reset_index(drop=True), pd.DataFrame(dummies, columns=names)], axis=1)
    b, v, dropped, warns = _fit(data, names, covariates)
    if dropped:
        notes.append(
            f"{len(dropped)} cohort × period cell(s) not identified and dropped: {', '.join(dropped[:6])}"
        )
    ok = [i for i, nm in enumerate(names) if nm not in dropped]
    cells = cells.iloc[ok].reset_index(drop=True)
    names = [names[i] for i in ok]
    cells["time"] = cells["group"] + cells["e"]
    cells["att"] = b[names].to_numpy()
    vc = v.loc[names, names].to_numpy()
    cells["se"] = np.sqrt(np.diag(vc))
    sizes = _cohort_sizes(df)
    out = aggregate_cells(cells, sizes, vc)
    # event curve incl. the reference period −1 at zero
    event = out["dynamic"].by.copy()
    if not (event["e"] == -1).any():
        event = pd.concat([event, pd.DataFrame({"e": [-1.0], "att": [0.0], "se": [0.0]})]).sort_values("e")
    pre = (cells["e"] <= -2).to_numpy()
    pretrend = wald_test(cells.loc[pre, "att"].to_numpy(), vc[np.ix_(pre, pre)])
    return out, event.reset_index(drop=True), cells[["group", "time", "att", "se"]], pretrend


def _twfe(df: pd.DataFrame, control: str, covariates: list[str], notes: list[str]):
    if control == "notyet":
        notes.append(
            "the TWFE regressions use every not-yet- and never-treated observation as control; "
            "--control has no effect"
        )
    d = df.assign(treat_post=((df["g"] > 0) & (df["t"] >= df["g"])).astype(float))
    b, v, _, _ = _fit(d, ["treat_post"], covariates)
    simple = Aggregate(float(b["treat_post"]), float(np.sqrt(v.loc["treat_post", "treat_post"])))
    rel = np.where(df["g"] > 0, df["t"] - df["g"], np.nan)
    es = sorted(int(k) for k in np.unique(rel[~np.isnan(rel)]) if k != -1)
    names = [f"ev_{'m' if k < 0 else 'p'}{abs(k)}" for k in es]
    dummies = pd.DataFrame((rel[:, None] == np.array(es)[None, :]).astype(float), columns=names)
    data = pd.concat([df.reset_index(drop=True), dummies], axis=1)
    b, v, dropped, _ = _fit(data, names, covariates)
    if dropped:
        notes.append(f"event-time indicator(s) not identified and dropped: {', '.join(dropped)}")
    keep = [(k, nm) for k, nm in zip(es, names, strict=True) if nm not in dropped]
    ks = np.array([k for k, _ in keep], float)
    nm = [n for _, n in keep]
    bb = b[nm].to_numpy()
    vv = v.loc[nm, nm].to_numpy()
    event = pd.DataFrame({"e": ks, "att": bb, "se": np.sqrt(np.diag(vv))})
    post = ks >= 0
    a = post / post.sum()
    dyn = Aggregate(float(a @ bb), float(np.sqrt(a @ vv @ a)), event.copy())
    event = pd.concat([event, pd.DataFrame({"e": [-1.0], "att": [0.0], "se": [0.0]})]).sort_values("e")
    pre = ks <= -2
    pretrend = wald_test(bb[pre], vv[np.ix_(pre, pre)])
    aggs = {"simple": simple, "group": None, "dynamic": dyn, "calendar": None}
    return aggs, event.reset_index(drop=True), None, pretrend


def did(
    panel: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    estimator: str = "cs",
    control: str = "never",
    covariates: list[str] | None = None,
    cohort_coding: str = "as given",
    alpha: float = 0.05,
    file: str | None = None,
) -> DidResult:
    """Estimate a staggered DiD on a unit–time panel.

    Parameters
    ----------
    panel:
        One row per unit and period.
    outcome, unit, time, cohort:
        Column names; ``cohort`` is the first period of treatment (0 or empty: never treated).
    estimator:
        ``cs`` (Callaway & Sant'Anna 2021), ``sa`` (Sun & Abraham 2021) or ``twfe``.
    control:
        ``never`` (never-treated units) or ``notyet`` (never- and not-yet-treated units for
        ``cs``; the last-treated cohort for ``sa``).
    covariates:
        Covariate columns (``cs``: the doubly robust outcome and propensity models; ``sa`` and
        ``twfe``: linear regressors).
    cohort_coding:
        A description of how the cohort column was coded, repeated in the output.
    """
    if estimator not in ESTIMATORS:
        raise InputError(
            f"estimator must be one of {', '.join(ESTIMATORS)}", field="estimator", value=estimator
        )
    if control not in CONTROLS:
        raise InputError(f"control must be one of {', '.join(CONTROLS)}", field="control", value=control)
    covariates = list(covariates or [])
    df, notes = prepare_panel(panel, outcome, unit, time, cohort, covariates, file)
    fn = {"cs": _callaway_santanna, "sa": _sun_abraham, "twfe": _twfe}[estimator]
    aggs, event, cells, pretrend = fn(df, control, covariates, notes)
    sizes = _cohort_sizes(df)
    return DidResult(
        estimator=estimator,
        control=control,
        outcome=outcome,
        cohort_coding=cohort_coding,
        aggregates=aggs,
        event=event,
        att_gt=cells,
        pretrend=pretrend,
        n_units=int(df["id"].nunique()),
        n_obs=int(len(df)),
        cohorts={int(g): int(n) for g, n in sizes.items()},
        alpha=alpha,
        notes=notes,
    )


def plot_event_study(result: DidResult, path: str | Path) -> Path:
    """Event-study plot: effect by event time with pointwise (1 − α) confidence intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = stats.norm.ppf(1 - result.alpha / 2)
    ev = result.event
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    pre = ev["e"] < 0
    for mask, colour, label in ((pre, "#4c72b0", "pre-treatment"), (~pre, "#c44e52", "post-treatment")):
        d = ev[mask]
        ax.errorbar(d["e"], d["att"], yerr=z * d["se"], fmt="o", color=colour, capsize=3, label=label)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axvline(-0.5, color="0.6", lw=0.8, ls="--")
    names = {"cs": "Callaway–Sant'Anna", "sa": "Sun–Abraham", "twfe": "TWFE event study"}
    title = f"{names[result.estimator]} ({result.control} controls): {result.outcome}"
    if result.pretrend:
        title += f"\npre-trend Wald p = {result.pretrend['p']:.3f}"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("periods since treatment (e)")
    ax.set_ylabel(f"ATT, {int(100 * (1 - result.alpha))}% CI")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
