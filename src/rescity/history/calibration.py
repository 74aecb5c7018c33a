"""Calibration across storms: joint fit of the observation operators on training storms,
leave-one-storm-out (LOSO) cross-validation, and a predictive distribution that covers the truth.

Fit
---
For each metric ``m`` with parameters ``θ`` (:data:`rescity.history.operators.OPERATOR_PARAMS`),
minimise over the training storms ``S``

``L(θ) = Σ_{s∈S} [ ln(max(ŷ_s(θ), 1) / y_s) ]²``

at province level (``scipy.optimize.least_squares`` on ``ln θ``, bounded), every storm weighing
alike. ``Cov(ln θ) = σ̂² (JᵀJ)⁻¹`` (Gauss–Newton), ``σ̂²`` the residual variance.

Uncertainty
-----------
Each predictive draw ``d`` takes

* hazard error: the gust field × ``exp(σ_G z)`` (landfall intensity, ``σ_G = 0.10``: best-track
  intensity uncertainty of about 10 %, Torn & Snyder 2012, *Wea. Forecasting* 27, 715) and the rain
  field × ``exp(σ_R z')`` (``σ_R = 0.30``: parametric storm-total rain against gauges, Lonfat et
  al. 2007, *Mon. Wea. Rev.* 135, 3086); in hindcasts, also a random ensemble member track;
* operator parameters from ``N(0, Cov)`` deviations ``z`` of ``ln θ`` — a rate ``θ̂ e^z``, an
  exponent ``θ̂ (1 + z)`` (:func:`rescity.history.operators.params_at`), so that draws of
  ``ln ŷ`` are symmetric about the fitted prediction;
* model error ``exp(σ_m ε)``, ``ε ~ N(0, 1)``, with
  ``σ_m² = max(mean(e_j²) − mean(v_j), 0.3²)``: ``e_j`` the *nested* leave-one-out log residuals of
  the training storms (each predicted by a fit on the other training storms), ``v_j`` the variance
  of ``ln ŷ_j`` that the hazard and parameter draws already give, and 0.3 the ±30 % disagreement
  between reporting bodies. The spread is fitted on training storms only.

The normal deviations come in antithetic pairs (``z`` and ``−z`` in every source at once; a pair
shares its ensemble member), a variance reduction (Hammersley & Morton 1956, *Proc. Camb. Phil.
Soc.* 52, 449): ``ln ŷ`` is close to linear in the deviations, so the median of 400 draws sits
at the fitted prediction instead of moving ±3 % with the seed. The point forecast is the median
of the draws (the central value under multiplicative error); the 90 % interval the 5th–95th
percentiles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from rescity.errors import InputError
from rescity.history import operators as op
from rescity.history import records
from rescity.seeds import DEFAULT_SEED

#: Lognormal spreads of the hazard error per predictive draw (see the module doc).
HAZARD_SPREAD: dict[str, float] = {"gust": 0.10, "rain": 0.30}
DEFAULT_DRAWS = 400
#: Draws used to measure the hazard and parameter spread of each nested prediction.
SPREAD_DRAWS = 100
#: Smallest model error (log): the ±30 % disagreement between reporting bodies.
MIN_SIGMA = 0.3
CALIBRATION_FILE = "calibration_zhejiang_typhoons.json"


@dataclass
class StormData:
    """What the fit needs of one storm: its year, cell exposure (best track), the region matrix
    (province and prefectures × cells) and, for hindcasts, ensemble member hazard fields."""

    sn: str
    year: int
    exposure: op.Exposure
    region_ids: list[str]
    regions: np.ndarray
    members: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def region_matrix(state: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Province then each prefecture: ids and 0/1 membership ``(n_regions, n_cells)``."""
    prefs = sorted(state["prefecture_id"].astype(str).unique())
    ids = [records.PROVINCE, *prefs]
    m = np.zeros((len(ids), len(state)))
    m[0] = 1.0
    pid = state["prefecture_id"].astype(str).to_numpy()
    for i, p in enumerate(prefs, start=1):
        m[i] = pid == p
    return ids, m


def storm_data(sn: str, state: pd.DataFrame, year: int | None = None, members=None) -> StormData:
    """Bundle a state table for fitting and prediction."""
    year = int(year if year is not None else str(sn)[:4])
    ids, m = region_matrix(state)
    return StormData(str(sn), year, op.Exposure.from_state(state, year), ids, m, list(members or []))


def _province(metric: str, sd: StormData, theta) -> np.ndarray:
    return op.predict(metric, sd.exposure, theta, sd.regions[:1])[..., 0]


@dataclass
class MetricFit:
    """A fitted operator: ``theta`` (natural units), ``cov_log`` (covariance of ``ln θ``),
    ``sigma_model`` (log model error) and the storms it was fitted on."""

    metric: str
    theta: np.ndarray
    cov_log: np.ndarray
    sigma_model: float
    storms: list[str]
    rms_log: float

    def as_dict(self) -> dict:
        names = [p.name for p in op.OPERATOR_PARAMS.get(self.metric, ())]
        return {
            "params": {n: float(v) for n, v in zip(names, self.theta, strict=True)},
            "units": {p.name: p.unit for p in op.OPERATOR_PARAMS.get(self.metric, ())},
            "cov_log": np.asarray(self.cov_log).tolist(),
            "sigma_model": float(self.sigma_model),
            "rms_log_in_sample": float(self.rms_log),
            "storms": list(self.storms),
        }

    @classmethod
    def from_dict(cls, metric: str, d: dict) -> MetricFit:
        names = [p.name for p in op.OPERATOR_PARAMS.get(metric, ())]
        return cls(
            metric,
            np.array([d["params"][n] for n in names], float),
            np.asarray(d["cov_log"], float).reshape(len(names), len(names)),
            float(d["sigma_model"]),
            list(d.get("storms", [])),
            float(d.get("rms_log_in_sample", np.nan)),
        )


def observed_province(metric: str, sns) -> dict[str, float]:
    """Province observations of ``metric`` for the storms that report it."""
    o = records.observations()
    o = o[(o["metric"] == metric) & (o["region"] == records.PROVINCE) & o["sn"].isin(list(sns))]
    return dict(zip(o["sn"], o["value"].astype(float), strict=True))


def _least_squares(
    metric: str, data: dict[str, StormData], obs: dict[str, float], starts=(0.0, -2.0, 2.0), x0=None
):
    pars = op.OPERATOR_PARAMS[metric]
    sns = [s for s in obs if s in data]
    y = np.log(np.array([obs[s] for s in sns], float))
    lo = np.log([p.lower for p in pars])
    hi = np.log([p.upper for p in pars])
    ex, idx = op.stack([data[s].exposure for s in sns])

    def resid(x):
        cells = op.per_cell(metric, ex, np.exp(x)[None, :])[0]
        return np.log(np.maximum(np.bincount(idx, weights=cells, minlength=len(sns)), 1.0)) - y

    x0 = np.clip(np.log([p.initial for p in pars]) if x0 is None else np.log(x0), lo + 1e-9, hi - 1e-9)
    best = None
    # a few starts: the collapse fragility has flat regions where one start can stall
    for shift in starts:
        r = least_squares(resid, np.clip(x0 + shift, lo + 1e-9, hi - 1e-9), bounds=(lo, hi), method="trf")
        if best is None or r.cost < best.cost:
            best = r
    res = best.fun
    dof = max(len(sns) - len(pars), 1)
    s2 = float(res @ res) / dof
    jtj = best.jac.T @ best.jac
    cov = s2 * np.linalg.pinv(jtj)
    # a parameter at a bound or not constrained by the data: cap its spread at one e-fold
    cov = np.where(np.isfinite(cov), cov, 0.0)
    d = np.sqrt(np.clip(np.diag(cov), 0, None))
    cap = np.minimum(d, 1.0) / np.where(d > 0, d, 1.0)
    cov = cov * np.outer(cap, cap)
    return np.exp(best.x), cov, float(np.sqrt(np.mean(res**2))) if len(res) else np.nan, sns


def fit_metric(
    metric: str, data: dict[str, StormData], obs: dict[str, float], nested: bool = True
) -> MetricFit:
    """Fit ``metric``'s operator on the storms in ``obs`` (all must be in ``data``).

    ``sigma_model`` is the RMS of the nested leave-one-out log residuals over those storms
    (``nested=False``: the in-sample RMS, used inside the nesting).
    """
    if metric == "power_outage_households":
        return MetricFit(metric, np.zeros(0), np.zeros((0, 0)), np.nan, sorted(obs), np.nan)
    if len(obs) < len(op.OPERATOR_PARAMS[metric]) + 1:
        raise InputError(f"too few storms to fit {metric}", field="storms", value=sorted(obs))
    theta, cov, rms, sns = _least_squares(metric, data, obs)
    sigma = rms
    if nested and len(sns) > len(op.OPERATOR_PARAMS[metric]) + 1:
        e, v = [], []
        for s in sns:
            rest = {k: v for k, v in obs.items() if k != s}
            th_s, cov_s, _, _ = _least_squares(metric, data, rest, starts=(0.0,), x0=theta)
            e.append(np.log(max(float(_province(metric, data[s], th_s)), 1.0) / obs[s]))
            # the spread hazard error and parameter draws already give this storm's prediction
            x = _draw_values(
                metric,
                data[s],
                MetricFit(metric, th_s, cov_s, 0.0, [], 0.0),
                SPREAD_DRAWS,
                _rng(0, s, metric),
            )
            v.append(np.var(np.log(np.maximum(x[:, 0], 1.0))))
        # model error: what the nested residuals show beyond that spread (at least MIN_SIGMA)
        sigma = float(np.sqrt(max(np.mean(np.square(e)) - np.mean(v), MIN_SIGMA**2)))
    return MetricFit(metric, theta, cov, sigma, sorted(sns), rms)


def fit_all(data: dict[str, StormData], train: list[str], metrics=op.FITTED_METRICS) -> dict[str, MetricFit]:
    """Every operator fitted on the ``train`` storms only."""
    out = {}
    for m in metrics:
        out[m] = fit_metric(m, data, observed_province(m, train))
    return out


def mirrored(z: np.ndarray, draws: int) -> np.ndarray:
    """Antithetic pairs: the ``ceil(draws / 2)`` rows of ``z`` then their negatives, ``draws``
    rows in all (draw ``i`` and ``i + ceil(draws / 2)`` are mirror images)."""
    return np.concatenate([z, -z])[:draws]


def _half(draws: int) -> int:
    return (draws + 1) // 2


def _draw_values(metric: str, sd: StormData, fit: MetricFit | None, draws: int, rng) -> np.ndarray:
    """``(draws, n_regions)`` values with hazard error, member tracks and parameter draws (no
    model error), in antithetic pairs (:func:`mirrored`; a pair shares its member track)."""
    ex = sd.exposure
    h = _half(draws)
    zg, zr = (mirrored(z, draws) for z in rng.standard_normal((2, h, 1)))
    if sd.members:
        k = np.tile(rng.integers(0, len(sd.members), h), 2)[:draws]
        g = np.stack([m[0] for m in sd.members])[k]
        r = np.stack([m[1] for m in sd.members])[k]
    else:
        g, r = ex.gust_ms[None, :], ex.rain_mm[None, :]
    gust = g * np.exp(HAZARD_SPREAD["gust"] * zg)
    rain = r * np.exp(HAZARD_SPREAD["rain"] * zr)
    # the engine's damaged homes stay the state's (best track, or the official forecast's track)
    pert = op.Exposure(
        ex.population,
        ex.households,
        ex.urban_share,
        gust,
        rain,
        ex.no_power,
        ex.year,
        homes_damaged=ex.homes_damaged,
    )
    if fit is not None and len(fit.theta):
        z = rng.multivariate_normal(np.zeros(len(fit.theta)), fit.cov_log, size=h, method="eigh")
        theta = op.params_at(metric, fit.theta, mirrored(z, draws))
    else:
        theta = np.zeros((draws, max(len(op.OPERATOR_PARAMS.get(metric, ())), 1)))
    return np.einsum("dc,rc->dr", op.per_cell(metric, pert, theta), sd.regions)


def _rng(seed: int, sn: str, metric: str) -> np.random.Generator:
    key = [int(x) for x in str(sn).encode()] + [int(x) for x in metric.encode()]
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def predictive(
    metric: str,
    sd: StormData,
    fit: MetricFit | None,
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    sigma_fallback: float = 1.0,
) -> pd.DataFrame:
    """Predictive distribution of ``metric`` for one storm in every region of ``sd``.

    Returns ``region, median, mean, p05, p95`` (draws described in the module doc). Streams are
    seeded from ``(seed, sn, metric)`` so results do not depend on the order storms are run in.
    """
    rng = _rng(seed, sd.sn, metric)
    vals = _draw_values(metric, sd, fit, draws, rng)
    sigma = fit.sigma_model if fit is not None and np.isfinite(fit.sigma_model) else sigma_fallback
    vals = vals * np.exp(sigma * mirrored(rng.standard_normal((_half(draws), 1)), draws))
    return pd.DataFrame(
        {
            "region": sd.region_ids,
            "median": np.median(vals, axis=0),
            "mean": vals.mean(axis=0),
            "p05": np.quantile(vals, 0.05, axis=0),
            "p95": np.quantile(vals, 0.95, axis=0),
        }
    )


# ---------------------------------------------------------------------------------------------
# the shipped calibration


def packaged_path() -> Path:
    """Where the default calibration lives in the package."""
    from rescity import data

    return Path(str(data.__file__)).parent / CALIBRATION_FILE


def save(cal: dict, path: str | Path) -> Path:
    """Write a calibration dict as JSON."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(cal, ensure_ascii=False, indent=1), encoding="utf-8")
    return p


def load(path: str | Path | None = None) -> dict:
    """A calibration JSON (default: the packaged one)."""
    p = Path(path) if path is not None else packaged_path()
    if not p.exists():
        raise InputError("no calibration file", file=p, field="calibration")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except ValueError as e:
        raise InputError(f"not a calibration file: {e}", file=p) from None


def fits_of(cal: dict) -> dict[str, MetricFit]:
    """The operator fits of a calibration dict."""
    return {m: MetricFit.from_dict(m, d) for m, d in cal.get("operators", {}).items()}


def describe(cal: dict) -> str:
    """One line naming a calibration: name, date, storms, twin fingerprint."""
    return (
        f"calibration {cal.get('name', '?')} ({cal.get('created', '?')[:10]}; "
        f"{len(cal.get('storms', []))} storms; twin {cal.get('twin_fingerprint', '?')}; "
        f"tracks {cal.get('track_source', '?')})"
    )


def build(
    data: dict[str, StormData],
    storms: list[str],
    *,
    twin_fingerprint: str,
    track_source: str,
    scores: dict | None = None,
    name: str = "zhejiang-typhoons",
) -> dict:
    """Fit every operator on ``storms`` and return the calibration dict (with provenance)."""
    from rescity.history.state import MODEL_VERSION

    fits = fit_all(data, storms)
    sig = [f.sigma_model for f in fits.values() if np.isfinite(f.sigma_model)]
    return {
        "name": name,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "storms": list(storms),
        "twin_fingerprint": twin_fingerprint,
        "model_version": MODEL_VERSION,
        "track_source": track_source,
        "hazard_spread": dict(HAZARD_SPREAD),
        "sigma_unfitted_metrics": float(np.median(sig)) if sig else 1.0,
        "operators": {m: f.as_dict() for m, f in fits.items()},
        "fixed": {
            "w_ref_ms": op.W_REF_MS,
            "r_ref_mm": op.R_REF_MM,
            "rooms_per_household": op.ROOMS_PER_HOUSEHOLD,
        },
        "loso_scores": scores or {},
        "notes": "fit: least squares of ln(pred/obs) at province level; sigma_model: nested "
        "leave-one-out RMS log residual; see docs/calibration.md",
    }
