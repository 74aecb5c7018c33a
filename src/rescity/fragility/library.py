"""The fragility library: load, validate, map assets to curves, evaluate exceedance.

A curve gives ``P[DS ≥ ds | x]`` for the damage states ``ds = 1 … 4`` of
:data:`rescity.fragility.DAMAGE_STATES` as a function of one intensity measure ``x``:

* lognormal (``curves*.csv``): ``P[DS ≥ ds | x] = Φ(ln(x / θ_ds) / β_ds)`` with median ``θ_ds``
  and log standard deviation ``β_ds`` (the usual fragility form, e.g. FEMA 2003 HAZUS-MH
  Technical Manual; Porter 2021, *A Beginner's Guide to Fragility, Vulnerability, and Risk*);
* tabulated (``tables*.csv``): piecewise-linear in ``x`` through the rows ``(x, p)``, flat
  outside the table (``numpy.interp``).

A curve may define only some damage states. A state it leaves out takes the probability of
the next higher state it defines (damage jumps straight to that state), or 0 when no higher
state is defined. So a curve with a single ``ds = 2`` row says "either undamaged or at least
moderate": the usual way to write a functionality threshold (e.g. a road that becomes
impassable).

Every curve of a hazard can be shifted for calibration by ``median_scale``: all medians (and
the ``x`` of tabulated curves) of that hazard are multiplied by the factor, which is the same as
dividing the intensity by it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr  # the standard normal CDF (what scipy.stats.norm.cdf evaluates)

from rescity.errors import InputError
from rescity.fragility import DAMAGE_STATES
from rescity.hazard import MEASURES
from rescity.hazard.registry import FRAGILITY_HAZARDS
from rescity.twin.systems import systems

#: Hazards a curve may belong to (from :mod:`rescity.hazard.registry`).
HAZARDS: tuple[str, ...] = FRAGILITY_HAZARDS
#: Number of damage states above "none".
N_DS = len(DAMAGE_STATES) - 1
#: ``curve_id`` that marks an asset as explicitly invulnerable to a hazard in a mapping row.
NO_CURVE = "none"
#: Systems a mapping row may name: the asset systems plus ``building`` (the housing stock,
#: kind ``housing``, fragility_class = structure class; see :mod:`rescity.engine.service`).
#: Systems a mapping row may name: the lifeline systems (:mod:`rescity.twin.systems`) and homes.
MAPPING_SYSTEMS: tuple[str, ...] = (*systems(), "building")

_CURVE_COLS = ("curve_id", "hazard", "measure", "ds", "median", "beta", "description", "source")
_TABLE_COLS = ("curve_id", "hazard", "measure", "ds", "x", "p", "source")
_MAP_COLS = ("system", "kind", "fragility_class", "hazard", "curve_id", "source")


def data_dir() -> Path:
    """Folder of the packaged library (``rescity/fragility/data``)."""
    return Path(__file__).with_name("data")


# ---------------------------------------------------------------------------------------------
# compiled curves
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """One compiled curve: all four damage states filled in.

    ``kind`` is ``lognormal`` (``median``, ``beta`` arrays of length 4; ``inf`` median = state
    never reached) or ``table`` (``x`` list of 4 arrays, ``p`` list of 4 arrays; an empty array
    = state never reached).
    """

    curve_id: str
    hazard: str
    measure: str
    kind: str
    median: np.ndarray | None = None
    beta: np.ndarray | None = None
    x: tuple[np.ndarray, ...] | None = None
    p: tuple[np.ndarray, ...] | None = None
    source: str = ""
    description: str = ""

    def exceedance(self, x: np.ndarray, scale: float = 1.0, ds: int | None = None) -> np.ndarray:
        """``P[DS ≥ ds | x]`` for ds = 1 … 4: array of shape ``x.shape + (4,)``; with ``ds``,
        that state's column alone (shape ``x.shape``; each state is computed on its own)."""
        x = np.asarray(x, dtype=np.float64) / scale
        states = range(N_DS) if ds is None else (int(ds) - 1,)
        out = np.zeros(x.shape + (len(states),), dtype=np.float64)
        if self.kind == "lognormal":
            with np.errstate(divide="ignore"):
                lx = np.log(x)
            for i, k in enumerate(states):
                if np.isfinite(self.median[k]):
                    out[..., i] = ndtr((lx - np.log(self.median[k])) / self.beta[k])
        else:
            for i, k in enumerate(states):
                if len(self.x[k]):
                    out[..., i] = np.interp(x, self.x[k], self.p[k])
        return out if ds is None else out[..., 0]


@dataclass
class FragilityLibrary:
    """Curves and mapping rules, validated.

    Attributes
    ----------
    curves:
        The lognormal rows (columns of ``curves*.csv`` plus ``file``, ``row``).
    tables:
        The tabulated rows (columns of ``tables*.csv`` plus ``file``, ``row``).
    mapping:
        The mapping rows (columns of ``mapping*.csv`` plus ``file``, ``row``, ``order``: files
        read later win ties).
    compiled:
        ``curve_id`` → :class:`Curve`.
    """

    curves: pd.DataFrame
    tables: pd.DataFrame
    mapping: pd.DataFrame
    compiled: dict[str, Curve] = field(default_factory=dict)

    def curve(self, curve_id: str) -> Curve:
        """The compiled curve ``curve_id`` (``KeyError`` if unknown)."""
        return self.compiled[curve_id]

    def hazards(self) -> tuple[str, ...]:
        """Hazards that have at least one mapping row, in :data:`HAZARDS` order."""
        present = set(self.mapping["hazard"])
        return tuple(h for h in HAZARDS if h in present)

    def measures(self, hazard: str) -> tuple[str, ...]:
        """Intensity measures used by the curves mapped for ``hazard``."""
        ids = self.mapping.loc[self.mapping["hazard"] == hazard, "curve_id"]
        return tuple(sorted({self.compiled[c].measure for c in ids if c != NO_CURVE}))

    def describe(self) -> pd.DataFrame:
        """One row per curve: id, hazard, measure, form, the states it defines, source."""
        rows = []
        for c in self.compiled.values():
            if c.kind == "lognormal":
                g = self.curves[self.curves["curve_id"] == c.curve_id].sort_values("ds")
                params = ", ".join(f"ds{r.ds}: θ={r.median:g} β={r.beta:g}" for r in g.itertuples())
            else:
                g = self.tables[self.tables["curve_id"] == c.curve_id]
                params = ", ".join(
                    f"ds{ds}: {len(h)} points, x {h['x'].min():g}–{h['x'].max():g}"
                    for ds, h in g.groupby("ds")
                )
            rows.append(
                {
                    "curve_id": c.curve_id,
                    "hazard": c.hazard,
                    "measure": c.measure,
                    "form": c.kind,
                    "parameters": params,
                    "source": c.source,
                }
            )
        return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# loading and validation
# ---------------------------------------------------------------------------------------------
def _read(path: Path, required: Sequence[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, comment=None)
    except pd.errors.ParserError as e:
        raise InputError(f"cannot parse CSV: {e}", file=path) from e
    df.columns = [c.strip() for c in df.columns]
    for c in required:
        if c not in df.columns:
            raise InputError(f"missing column {c!r}", file=path, field=c)
    df = df.apply(lambda s: s.str.strip())
    df["file"] = str(path)
    df["row"] = np.arange(len(df)) + 2  # line number in the file (header is line 1)
    return df


def _where(df: pd.DataFrame, i) -> str:
    return f"{df.at[i, 'file']}, row {df.at[i, 'row']}"


def _check_str(df: pd.DataFrame, col: str, allowed: Iterable[str] | None = None) -> None:
    allowed = None if allowed is None else set(allowed)
    for i, v in df[col].items():
        if v == "" or (allowed is not None and v not in allowed):
            msg = "empty value" if v == "" else f"must be one of {sorted(allowed)}"
            raise InputError(msg, file=_where(df, i), field=col, value=v)


def _check_num(df: pd.DataFrame, col: str, kind: str = "float") -> pd.Series:
    out = pd.to_numeric(df[col], errors="coerce")
    for i, v in out.items():
        raw = df.at[i, col]
        if not np.isfinite(v):
            raise InputError("not a finite number", file=_where(df, i), field=col, value=raw)
        if kind == "ds" and (v != int(v) or not 1 <= v <= N_DS):
            raise InputError(
                f"damage state must be an integer 1…{N_DS}", file=_where(df, i), field=col, value=raw
            )
    return out.astype(int) if kind == "ds" else out.astype(float)


def _validate_common(df: pd.DataFrame) -> None:
    _check_str(df, "curve_id")
    _check_str(df, "hazard", HAZARDS)
    _check_str(df, "measure", MEASURES)
    _check_str(df, "source")
    df["ds"] = _check_num(df, "ds", "ds")
    # one hazard and measure per curve
    for cid, g in df.groupby("curve_id", sort=False):
        for col in ("hazard", "measure"):
            if g[col].nunique() > 1:
                i = g.index[g[col] != g[col].iloc[0]][0]
                raise InputError(
                    f"curve {cid!r} mixes {col}s {sorted(g[col].unique())}",
                    file=_where(df, i),
                    field=col,
                    value=df.at[i, col],
                )


def _validate_curves(df: pd.DataFrame) -> None:
    if df.empty:
        return
    _validate_common(df)
    df["median"] = _check_num(df, "median")
    df["beta"] = _check_num(df, "beta")
    for col in ("median", "beta"):
        bad = df.index[df[col] <= 0]
        if len(bad):
            i = bad[0]
            raise InputError("must be > 0", file=_where(df, i), field=col, value=df.at[i, col])
    dup = df.duplicated(["curve_id", "ds"], keep="first")
    if dup.any():
        i = df.index[dup][0]
        raise InputError(
            f"damage state {df.at[i, 'ds']} of curve {df.at[i, 'curve_id']!r} given twice",
            file=_where(df, i),
            field="ds",
            value=int(df.at[i, "ds"]),
        )
    for _cid, g in df.groupby("curve_id", sort=False):
        g = g.sort_values("ds")
        med = g["median"].to_numpy()
        beta = g["beta"].to_numpy()
        # Medians may not decrease; equal medians are allowed when the dispersions are equal too
        # (HAZUS gives some bridge classes the same median for slight and moderate damage), so
        # that the exceedance curves never cross.
        bad = (np.diff(med) < 0) | ((np.diff(med) == 0) & (np.diff(beta) != 0))
        if len(med) > 1 and np.any(bad):
            j = int(np.flatnonzero(bad)[0]) + 1
            i = g.index[j]
            raise InputError(
                f"medians must increase with the damage state (equal medians need equal "
                f"betas) (ds {g['ds'].iloc[j - 1]}: {med[j - 1]:g}, ds {g['ds'].iloc[j]}: {med[j]:g})",
                file=_where(df, i),
                field="median",
                value=float(df.at[i, "median"]),
            )


def _validate_tables(df: pd.DataFrame) -> None:
    if df.empty:
        return
    _validate_common(df)
    df["x"] = _check_num(df, "x")
    df["p"] = _check_num(df, "p")
    bad = df.index[(df["p"] < 0) | (df["p"] > 1)]
    if len(bad):
        i = bad[0]
        raise InputError("probability must lie in [0, 1]", file=_where(df, i), field="p", value=df.at[i, "p"])
    bad = df.index[df["x"] < 0]
    if len(bad):
        i = bad[0]
        raise InputError("intensity must be ≥ 0", file=_where(df, i), field="x", value=df.at[i, "x"])
    for (cid, ds), g in df.groupby(["curve_id", "ds"], sort=False):
        x = g["x"].to_numpy()
        p = g["p"].to_numpy()
        if np.any(np.diff(x) <= 0):
            i = g.index[int(np.flatnonzero(np.diff(x) <= 0)[0]) + 1]
            raise InputError(
                f"x must increase strictly within curve {cid!r} ds {ds}",
                file=_where(df, i),
                field="x",
                value=df.at[i, "x"],
            )
        if np.any(np.diff(p) < 0):
            i = g.index[int(np.flatnonzero(np.diff(p) < 0)[0]) + 1]
            raise InputError(
                f"P[DS ≥ {ds}] must not decrease as x grows (curve {cid!r})",
                file=_where(df, i),
                field="p",
                value=df.at[i, "p"],
            )


def _validate_mapping(df: pd.DataFrame, known: Mapping[str, Curve]) -> None:
    from rescity.twin.model import KINDS

    if df.empty:
        return
    _check_str(df, "system", (*systems(), "building"))
    _check_str(df, "hazard", HAZARDS)
    _check_str(df, "source")
    _check_str(df, "curve_id")
    _check_str(df, "fragility_class")
    for i in df.index:
        system, kind = df.at[i, "system"], df.at[i, "kind"]
        allowed = set(KINDS.get(system, ())) | {"*"} | ({"housing"} if system == "building" else set())
        if kind not in allowed:
            raise InputError(
                f"unknown kind for system {system!r}", file=_where(df, i), field="kind", value=kind
            )
        cid = df.at[i, "curve_id"]
        if cid == NO_CURVE:
            continue
        if cid not in known:
            raise InputError("no such curve in the library", file=_where(df, i), field="curve_id", value=cid)
        if known[cid].hazard != df.at[i, "hazard"]:
            raise InputError(
                f"curve {cid!r} is a {known[cid].hazard} curve, the row says {df.at[i, 'hazard']!r}",
                file=_where(df, i),
                field="hazard",
                value=df.at[i, "hazard"],
            )
    key = ["system", "kind", "fragility_class", "hazard", "order"]
    dup = df.duplicated(key, keep="first")
    if dup.any():
        i = df.index[dup][0]
        raise InputError(
            "the same (system, kind, fragility_class, hazard) is mapped twice in one folder",
            file=_where(df, i),
            field="fragility_class",
            value=df.at[i, "fragility_class"],
        )


def _compile(curves: pd.DataFrame, tables: pd.DataFrame) -> dict[str, Curve]:
    out: dict[str, Curve] = {}
    for cid, g in curves.groupby("curve_id", sort=False):
        med = np.full(N_DS, np.inf)
        beta = np.ones(N_DS)
        ds = g["ds"].to_numpy() - 1
        med[ds] = g["median"].to_numpy()
        beta[ds] = g["beta"].to_numpy()
        # fill a missing state from the next higher defined one
        for k in range(N_DS - 2, -1, -1):
            if not np.isfinite(med[k]) and np.isfinite(med[k + 1]):
                med[k], beta[k] = med[k + 1], beta[k + 1]
        out[cid] = Curve(
            cid,
            g["hazard"].iloc[0],
            g["measure"].iloc[0],
            "lognormal",
            median=med,
            beta=beta,
            source="; ".join(dict.fromkeys(g["source"])),
            description="; ".join(dict.fromkeys(d for d in g["description"] if d)),
        )
    for cid, g in tables.groupby("curve_id", sort=False):
        xs: list[np.ndarray] = [np.empty(0)] * N_DS
        ps: list[np.ndarray] = [np.empty(0)] * N_DS
        for ds, h in g.groupby("ds"):
            xs[ds - 1] = h["x"].to_numpy(float)
            ps[ds - 1] = h["p"].to_numpy(float)
        for k in range(N_DS - 2, -1, -1):
            if not len(xs[k]) and len(xs[k + 1]):
                xs[k], ps[k] = xs[k + 1], ps[k + 1]
        desc = g["description"] if "description" in g else pd.Series([], dtype=str)
        out[cid] = Curve(
            cid,
            g["hazard"].iloc[0],
            g["measure"].iloc[0],
            "table",
            x=tuple(xs),
            p=tuple(ps),
            source="; ".join(dict.fromkeys(g["source"])),
            description="; ".join(dict.fromkeys(d for d in desc if d)),
        )
    return out


def _check_monotone_tables(compiled: Mapping[str, Curve], tables: pd.DataFrame) -> None:
    """P[DS ≥ ds] must not increase with ds at any x (checked on the union of the x grids)."""
    for c in compiled.values():
        if c.kind != "table":
            continue
        grid = np.unique(np.concatenate([x for x in c.x if len(x)]))
        p = c.exceedance(grid)
        bad = np.diff(p, axis=-1) > 1e-12
        if bad.any():
            j, k = np.argwhere(bad)[0]
            g = tables[(tables["curve_id"] == c.curve_id) & (tables["ds"] == k + 2)]
            i = g.index[0]
            raise InputError(
                f"P[DS ≥ {k + 2}] exceeds P[DS ≥ {k + 1}] at x = {grid[j]:g} in curve {c.curve_id!r}",
                file=_where(tables, i),
                field="p",
                value=tables.at[i, "p"],
            )


def _read_dir(folder: Path, order: int) -> tuple[list[pd.DataFrame], list[pd.DataFrame], list[pd.DataFrame]]:
    if not folder.is_dir():
        raise InputError("fragility folder does not exist", file=folder)
    cs, ts, ms = [], [], []
    for p in sorted(folder.glob("curves*.csv")):
        cs.append(_read(p, _CURVE_COLS))
    for p in sorted(folder.glob("tables*.csv")):
        ts.append(_read(p, _TABLE_COLS))
    for p in sorted(folder.glob("mapping*.csv")):
        m = _read(p, _MAP_COLS)
        m["order"] = order
        ms.append(m)
    return cs, ts, ms


def load_library(extra_dirs: Sequence[str | Path] = ()) -> FragilityLibrary:
    """Read and validate the packaged library plus any ``extra_dirs``.

    The packaged library alone is read once per process and shared (treat it as read-only).

    Parameters
    ----------
    extra_dirs:
        Folders with more ``curves*.csv``, ``tables*.csv`` and ``mapping*.csv`` files. A curve
        id defined again in a later folder replaces the earlier curve; a mapping row of a later
        folder wins over an equally specific earlier one.

    Raises
    ------
    InputError
        Naming the file, row and field of the first problem: a missing column, an unknown
        hazard or measure, a damage state outside 1…4, a median or β ≤ 0, medians not
        increasing with the damage state, tabulated probabilities outside [0, 1], decreasing in
        x or increasing with the damage state, a mapping row naming an unknown curve.
    """
    if not extra_dirs:
        return _packaged_library()
    return _load_library(tuple(str(d) for d in extra_dirs))


@functools.lru_cache(maxsize=1)
def _packaged_library() -> FragilityLibrary:
    return _load_library(())


def _load_library(extra_dirs: tuple[str, ...]) -> FragilityLibrary:
    folders = [data_dir(), *[Path(d) for d in extra_dirs]]
    curves: list[pd.DataFrame] = []
    tables: list[pd.DataFrame] = []
    maps: list[pd.DataFrame] = []
    for order, folder in enumerate(folders):
        cs, ts, ms = _read_dir(folder, order)
        c = pd.concat(cs, ignore_index=True) if cs else pd.DataFrame(columns=[*_CURVE_COLS, "file", "row"])
        t = pd.concat(ts, ignore_index=True) if ts else pd.DataFrame(columns=[*_TABLE_COLS, "file", "row"])
        _validate_curves(c)
        _validate_tables(t)
        both = set(c["curve_id"]) & set(t["curve_id"])
        if both:
            cid = sorted(both)[0]
            i = t.index[t["curve_id"] == cid][0]
            raise InputError(
                "curve id is both lognormal and tabulated", file=_where(t, i), field="curve_id", value=cid
            )
        # later folders replace whole curves
        new_ids = set(c["curve_id"]) | set(t["curve_id"])
        curves = [d[~d["curve_id"].isin(new_ids)] for d in curves] + ([c] if len(c) else [])
        tables = [d[~d["curve_id"].isin(new_ids)] for d in tables] + ([t] if len(t) else [])
        maps.extend(ms)
    cdf = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=[*_CURVE_COLS, "file", "row"])
    )
    tdf = (
        pd.concat(tables, ignore_index=True)
        if tables
        else pd.DataFrame(columns=[*_TABLE_COLS, "file", "row"])
    )
    if "description" not in tdf:
        tdf["description"] = ""
    tdf["description"] = tdf["description"].fillna("")
    mdf = (
        pd.concat(maps, ignore_index=True)
        if maps
        else pd.DataFrame(columns=[*_MAP_COLS, "file", "row", "order"])
    )
    compiled = _compile(cdf, tdf)
    _check_monotone_tables(compiled, tdf)
    _validate_mapping(mdf, compiled)
    return FragilityLibrary(curves=cdf, tables=tdf, mapping=mdf, compiled=compiled)


# ---------------------------------------------------------------------------------------------
# mapping assets to curves
# ---------------------------------------------------------------------------------------------
@dataclass
class CurveSet:
    """Which curve applies to each asset, per hazard.

    Attributes
    ----------
    hazards:
        The hazards assigned, in order.
    curve_ids:
        The distinct curves used (position = curve code).
    codes:
        ``hazard`` → ``int32`` array (n_assets,) of positions in ``curve_ids``; ``-1`` = the
        asset has no curve for that hazard (invulnerable to it).
    library:
        The library the curves come from.
    median_scale:
        ``hazard`` → factor multiplying every median of that hazard (default 1).
    counts:
        One row per (hazard, system, kind): assets, with a curve, invulnerable.
    """

    hazards: tuple[str, ...]
    curve_ids: tuple[str, ...]
    codes: dict[str, np.ndarray]
    library: FragilityLibrary
    median_scale: dict[str, float]
    counts: pd.DataFrame
    # per hazard, what :func:`exceedance` gathers from the assignment alone (built on first use),
    # and the (curve, site) pairs of its lognormal curves for the last ``sites`` array seen
    _plans: dict[str, _HazardPlan] = field(default_factory=dict, init=False, repr=False, compare=False)
    _site_plans: dict[str, _SitePlan] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_assets(self) -> int:
        return len(next(iter(self.codes.values()))) if self.codes else 0

    def measures(self) -> dict[str, tuple[str, ...]]:
        """``hazard`` → the intensity measures its assigned curves need."""
        return {h: tuple(sorted(self.plan(h).measures)) for h in self.hazards}

    def plan(self, hazard: str) -> _HazardPlan:
        """What :func:`exceedance` needs of ``hazard`` that depends only on the assignment and
        the median scale: the curves used, the assets of each measure's lognormal curves with
        ``ln θ`` and ``β`` gathered per asset, the assets of each tabulated curve. Built once per
        curve set (an ensemble evaluates the same assignment for every member); the codes are
        treated as read-only."""
        if hazard not in self._plans:
            self._plans[hazard] = _hazard_plan(self, hazard)
        return self._plans[hazard]

    def site_plan(self, hazard: str, sites: np.ndarray) -> _SitePlan:
        """The distinct (curve, site) pairs of each lognormal group of :meth:`plan` for the site
        of every asset, ``sites`` (kept while the same array is passed)."""
        sp_ = self._site_plans.get(hazard)
        if sp_ is None or sp_.sites is not sites:
            sp_ = self._site_plans[hazard] = _site_plan(self, hazard, sites)
        return sp_


@dataclass(frozen=True)
class _HazardPlan:
    """Per-hazard gathers of a :class:`CurveSet` (see :meth:`CurveSet.plan`)."""

    measures: tuple[str, ...]  # the measures the curves need, in the order of the curves used
    curves: tuple[Curve, ...]  # the curves used, in code order
    lognormal: tuple[tuple[str, np.ndarray, np.ndarray, np.ndarray], ...]  # (measure, sel, ln θ, β)
    tables: tuple[tuple[Curve, np.ndarray], ...]  # (tabulated curve, its assets)


def _hazard_plan(curveset: CurveSet, h: str) -> _HazardPlan:
    lib = curveset.library
    code = curveset.codes[h]
    used = np.unique(code[code >= 0])
    curves = [lib.compiled[curveset.curve_ids[c]] for c in used]
    measures = tuple(dict.fromkeys(c.measure for c in curves))
    scale = curveset.median_scale.get(h, 1.0)
    lognormal = []
    for measure in measures:
        ln = [
            (c_code, c)
            for c_code, c in zip(used, curves, strict=True)
            if c.kind == "lognormal" and c.measure == measure
        ]
        if ln:
            med = np.full((len(curveset.curve_ids), N_DS), np.inf)
            beta = np.ones((len(curveset.curve_ids), N_DS))
            for c_code, c in ln:
                med[c_code], beta[c_code] = c.median * scale, c.beta
            sel = np.flatnonzero(np.isin(code, [cc for cc, _ in ln]))
            lognormal.append((measure, sel, np.log(med[code[sel]]), beta[code[sel]]))
    tables = tuple(
        (c, np.flatnonzero(code == c_code)) for c_code, c in zip(used, curves, strict=True) if c.kind == "table"
    )
    for _, *arrays in lognormal:
        for a in arrays:
            a.flags.writeable = False
    for _, a in tables:
        a.flags.writeable = False
    return _HazardPlan(measures, tuple(curves), tuple(lognormal), tables)


@dataclass(frozen=True)
class _SitePlan:
    """(curve, site) pairs of a hazard's lognormal groups (see :meth:`CurveSet.site_plan`)."""

    sites: np.ndarray  # the array it was built for (compared by identity)
    first: np.ndarray  # one asset per site present (positions of the compact sites)
    compact: np.ndarray  # compact site (0 … len(first) − 1) of every asset
    groups: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]  # (site, ln θ, β, inverse)

    def per_site(self, x: np.ndarray) -> np.ndarray | None:
        """``x`` per compact site when every asset of a site has the same bits, else ``None``."""
        xs = x[self.first]
        return xs if np.array_equal(xs[self.compact].view(np.int64), x.view(np.int64)) else None


def _site_plan(curveset: CurveSet, h: str, sites: np.ndarray) -> _SitePlan:
    n = curveset.n_assets
    s = np.asarray(sites)
    if s.shape != (n,) or s.dtype.kind not in "iu":
        raise InputError(f"sites must be integers, one per asset ({n})", field="sites", value=s.shape)
    _, first, compact = np.unique(s, return_index=True, return_inverse=True)
    code = curveset.codes[h]
    groups = []
    for _, sel, log_median, beta in curveset.plan(h).lognormal:
        key = code[sel].astype(np.int64) * len(first) + compact[sel]
        _, one, inverse = np.unique(key, return_index=True, return_inverse=True)
        groups.append((compact[sel][one], log_median[one], beta[one], inverse))
    return _SitePlan(sites, first, compact, tuple(groups))


def _as_scale(median_scale: float | Mapping[str, float], hazards: Sequence[str]) -> dict[str, float]:
    if isinstance(median_scale, Mapping):
        out = {h: float(median_scale.get(h, 1.0)) for h in hazards}
    else:
        out = {h: float(median_scale) for h in hazards}
    for h, s in out.items():
        if not np.isfinite(s) or s <= 0:
            raise InputError("median_scale must be a finite number > 0", field=f"median_scale[{h}]", value=s)
    return out


def assign(
    library: FragilityLibrary,
    assets: pd.DataFrame,
    hazards: Sequence[str] | None = None,
    *,
    median_scale: float | Mapping[str, float] = 1.0,
) -> CurveSet:
    """Map every asset to its curve for each hazard.

    For each asset and hazard the most specific mapping row wins: (system, kind,
    fragility_class) over (system, kind, ``*``) over (system, ``*``, ``*``); among equally
    specific rows, the one from the folder read last. An asset with no matching row, or whose
    row names the curve ``none``, is invulnerable to that hazard.

    Parameters
    ----------
    library:
        From :func:`load_library`.
    assets:
        Table with at least ``system``, ``kind``, ``fragility_class`` (e.g. ``Twin.assets``).
    hazards:
        Hazards to assign (default: every hazard the mapping covers).
    median_scale:
        One factor for all hazards, or ``hazard`` → factor; multiplies all medians.

    Returns
    -------
    CurveSet
        With counts of assets with and without a curve per (hazard, system, kind).
    """
    hazards = tuple(library.hazards() if hazards is None else hazards)
    for h in hazards:
        if h not in HAZARDS:
            raise InputError(f"unknown hazard; expected one of {list(HAZARDS)}", field="hazard", value=h)
    for c in ("system", "kind", "fragility_class"):
        if c not in assets.columns:
            raise InputError("asset table lacks a column", field=c)
    n = len(assets)
    a = pd.DataFrame(
        {
            "system": assets["system"].astype(str).to_numpy(),
            "kind": assets["kind"].astype(str).to_numpy(),
            "fragility_class": assets["fragility_class"].fillna("").astype(str).to_numpy(),
            "pos": np.arange(n),
        }
    )
    used: dict[str, int] = {}
    codes: dict[str, np.ndarray] = {}
    count_rows = []
    m_all = library.mapping
    for h in hazards:
        m = m_all[m_all["hazard"] == h]
        code = np.full(n, -1, dtype=np.int32)
        best = np.full(n, -1, dtype=np.int64)  # specificity*1000 + order of the chosen row
        chosen = np.full(n, "", dtype=object)
        for spec, (on_kind, on_class) in enumerate(((False, False), (True, False), (True, True))):
            sel = m[(m["kind"] != "*") == on_kind]
            sel = (
                sel[(sel["fragility_class"] != "*") == on_class]
                if on_kind
                else sel[sel["fragility_class"] == "*"]
            )
            if sel.empty:
                continue
            keys = ["system"] + (["kind"] if on_kind else []) + (["fragility_class"] if on_class else [])
            sel = sel.sort_values("order").drop_duplicates(keys, keep="last")
            j = a.merge(sel[[*keys, "curve_id", "order"]], on=keys, how="inner")
            if j.empty:
                continue
            score = spec * 1000 + j["order"].to_numpy()
            pos = j["pos"].to_numpy()
            win = score > best[pos]
            best[pos[win]] = score[win]
            chosen[pos[win]] = j["curve_id"].to_numpy()[win]
        for cid in pd.unique(chosen[chosen != ""]):
            if cid == NO_CURVE:
                continue
            k = used.setdefault(cid, len(used))
            code[chosen == cid] = k
        codes[h] = code
        df = pd.DataFrame({"system": a["system"], "kind": a["kind"], "has": code >= 0})
        g = df.groupby(["system", "kind"], sort=True)["has"].agg(["size", "sum"]).reset_index()
        for _, r in g.iterrows():
            count_rows.append(
                {
                    "hazard": h,
                    "system": r["system"],
                    "kind": r["kind"],
                    "assets": int(r["size"]),
                    "with_curve": int(r["sum"]),
                    "invulnerable": int(r["size"] - r["sum"]),
                }
            )
    counts = pd.DataFrame(
        count_rows, columns=["hazard", "system", "kind", "assets", "with_curve", "invulnerable"]
    )
    return CurveSet(
        hazards=hazards,
        curve_ids=tuple(used),
        codes=codes,
        library=library,
        median_scale=_as_scale(median_scale, hazards),
        counts=counts,
    )


# ---------------------------------------------------------------------------------------------
# exceedance
# ---------------------------------------------------------------------------------------------
def _intensity(intensities: Mapping[str, np.ndarray], measure: str, n: int) -> np.ndarray:
    if measure not in intensities:
        raise InputError(
            f"no intensities given for measure {measure!r}, which the assigned curves need",
            field="intensities",
            value=measure,
        )
    x = np.asarray(intensities[measure], dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[-1] != n:
        raise InputError(
            f"intensity array must have shape (n_sites,) or (R, n_sites) with n_sites = {n}",
            field=measure,
            value=x.shape,
        )
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        bad = np.flatnonzero(~(np.isfinite(x) & (x >= 0)).reshape(-1, n).all(axis=0))[0]
        raise InputError("intensities must be finite and ≥ 0", field=f"{measure}[site {bad}]")
    return x


def exceedance(
    curveset: CurveSet,
    intensities: Mapping[str, np.ndarray],
    hazard: str | None = None,
    *,
    sites: np.ndarray | None = None,
) -> dict[str, np.ndarray] | np.ndarray:
    """``P[DS ≥ ds]`` per asset for ds = 1 … 4.

    Each curve is evaluated once per (asset, intensity), grouped by curve: one vectorised
    ``scipy.special.ndtr`` (the normal CDF) over all lognormal assets of a measure and one ``numpy.interp`` per
    tabulated curve and state; no loop over assets.

    Parameters
    ----------
    curveset:
        From :func:`assign`.
    intensities:
        Measure name (see :data:`rescity.hazard.MEASURES`) → array of shape ``(n_assets,)`` or
        ``(R, n_assets)``, in the measure's unit.
    hazard:
        Return only this hazard's array.
    sites:
        Optional site of every asset, integers ``(n_assets,)`` (e.g. the cell whose wind and
        rain an asset takes, :func:`rescity.hazard.event.asset_cells`). For a measure whose
        intensities have the same bits at every asset of a site (checked at each call), each
        lognormal curve is evaluated once per (curve, site) and copied to its assets: the same
        numbers, a fraction of the normal CDFs. Other measures, and intensities given per
        realisation, are evaluated per asset.

    Returns
    -------
    dict or numpy.ndarray
        ``hazard`` → float64 array ``(n_assets, 4)`` or ``(R, n_assets, 4)`` (the latter when
        any measure the hazard needs is given per realisation); assets without a curve get 0.
    """
    hs = curveset.hazards if hazard is None else (hazard,)
    n = curveset.n_assets
    out: dict[str, np.ndarray] = {}
    for h in hs:
        plan = curveset.plan(h)  # θ, β and the assets of each curve: gathered once per curve set
        xs = {m: _intensity(intensities, m, n) for m in plan.measures}
        lead = next((x.shape[:-1] for x in xs.values() if x.ndim == 2), ())
        p = np.zeros((*lead, n, N_DS), dtype=np.float64)
        scale = curveset.median_scale.get(h, 1.0)
        by_site = curveset.site_plan(h, sites) if sites is not None and not lead else None
        on_sites: dict[str, np.ndarray | None] = {}
        # lognormal: θ and β gathered per asset, one ndtr call per measure
        for g, (measure, sel, log_median, beta) in enumerate(plan.lognormal):
            if by_site is not None:
                if measure not in on_sites:
                    on_sites[measure] = by_site.per_site(xs[measure])
                xs_site = on_sites[measure]
                if xs_site is not None:  # once per (curve, site): the same operands, fewer ndtr
                    site, log_median_1, beta_1, inverse = by_site.groups[g]
                    with np.errstate(divide="ignore"):
                        z = (np.log(xs_site[site])[:, None] - log_median_1) / beta_1
                    p[sel, :] = ndtr(z)[inverse]
                    continue
            xm = np.broadcast_to(xs[measure], (*lead, n))[..., sel]
            with np.errstate(divide="ignore"):
                z = (np.log(xm)[..., None] - log_median) / beta
            p[..., sel, :] = ndtr(z)
        for c, sel in plan.tables:
            xm = np.broadcast_to(xs[c.measure], (*lead, n))[..., sel]
            p[..., sel, :] = c.exceedance(xm, scale)
        out[h] = p
    return out[hazard] if hazard is not None else out


def exceedance_by_class(
    library: FragilityLibrary,
    system: str,
    kind: str,
    classes: Sequence[str],
    intensities: Mapping[str, np.ndarray],
    hazards: Sequence[str],
    *,
    median_scale: float | Mapping[str, float] = 1.0,
    ds: int | None = None,
) -> dict[str, np.ndarray]:
    """``P[DS ≥ ds]`` of each class at each site (e.g. the housing stock of every cell).

    Buildings are not assets; they are mapped with ``system="building"``, ``kind="housing"`` and
    the structure class as ``fragility_class``.

    Returns
    -------
    dict
        ``hazard`` → array ``(…, n_sites, n_classes, 4)``, leading ``R`` when an intensity is
        given per realisation; a class without a curve for a hazard gets 0. With ``ds`` (1 … 4)
        only that state: ``(…, n_sites, n_classes)``, the same numbers as its column.
    """
    if ds is not None and not 1 <= int(ds) <= N_DS:
        raise InputError(f"ds must be 1…{N_DS}", field="ds", value=ds)
    # the assignment of a few classes is the same for every call (e.g. once per forecast member):
    # kept on the library, like the engine keeps its set-up on the twin
    memo = library.__dict__.setdefault("_class_assignments", {})
    key = (system, kind, tuple(classes), tuple(hazards), repr(median_scale))
    if key not in memo:
        fake = pd.DataFrame({"system": system, "kind": kind, "fragility_class": list(classes)})
        memo[key] = assign(library, fake, hazards, median_scale=median_scale)
    cs = memo[key]
    if not intensities:
        raise InputError("no intensities given", field="intensities")
    shapes = [np.shape(v) for v in intensities.values()]
    n_sites = shapes[0][-1]
    out = {}
    for h in cs.hazards:
        code = cs.codes[h]
        curves = {j: library.compiled[cs.curve_ids[code[j]]] for j in range(len(classes)) if code[j] >= 0}
        xs = {c.measure: _intensity(intensities, c.measure, n_sites) for c in curves.values()}
        lead = next((x.shape[:-1] for x in xs.values() if x.ndim == 2), ())
        p = np.zeros((*lead, n_sites, len(classes), N_DS if ds is None else 1))
        for j, c in curves.items():
            x = np.broadcast_to(xs[c.measure], (*lead, n_sites))
            pj = c.exceedance(x, cs.median_scale[h], ds)
            p[..., j, :] = pj if ds is None else pj[..., None]
        out[h] = p if ds is None else p[..., 0]
    return out
