"""Calibration: fit a few documented model parameters to the observed impacts of past storms.

Loss (mean squared log error over every storm, region and metric observed):

``L(θ) = (1/N) Σ_{s,r,m} [ln(1 + ŷ_srm(θ)) − ln(1 + y_srm)]²``

— scale-free, so people, households and CNY weigh alike, and robust to the orders of magnitude
between regions. ``ŷ(θ)`` comes from a user-supplied ``simulate(params, storm)``; the rescity CLI
passes the pipeline with fixed seeds (common random numbers), so ``L`` is a deterministic function
of ``θ``. Parameters marked ``log`` are searched on a log scale. Minimised with
``scipy.optimize.minimize`` (Powell, with bounds).

Fit is reported on the storms used and, with two storms or more, leave-one-out: each storm scored
with the parameters fitted on the others.

Named calibrations are JSON files in ``$RESCITY_HOME/calibrations/`` (default ``~/.rescity``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from rescity.errors import InputError
from rescity.forecast.verify import check_observations


@dataclass(frozen=True)
class Parameter:
    """A calibratable parameter: default, bounds, search scale and meaning."""

    name: str
    initial: float
    lower: float
    upper: float
    log: bool = True
    doc: str = ""


#: Documented parameters that :func:`fit` can calibrate.
PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter(
            "fragility_scale_wind",
            1.0,
            0.4,
            2.5,
            True,
            "multiplier of the median of every wind fragility curve (> 1: sturdier assets)",
        ),
        Parameter(
            "fragility_scale_rain",
            1.0,
            0.4,
            2.5,
            True,
            "multiplier of the median of every rain and flood fragility curve",
        ),
        Parameter(
            "drainage_rp_yr",
            1.0,
            0.5,
            10.0,
            True,
            "design return period (years) of urban drainage in the pluvial flood model",
        ),
        Parameter(
            "relocate_max_share",
            0.08,
            0.005,
            0.5,
            True,
            "largest share of residents relocated pre-emptively (forecast.indicators)",
        ),
        Parameter(
            "relocate_wind_median_ms",
            25.0,
            12.0,
            50.0,
            True,
            "peak 1-min wind at which half of that share is relocated, m/s",
        ),
    )
}
DEFAULT_FIT: tuple[str, ...] = ("fragility_scale_wind", "drainage_rp_yr")

Simulate = Callable[[dict, str], "pd.DataFrame | Mapping[tuple[str, str], float]"]


@dataclass
class Calibration:
    """A fitted calibration (what is saved as JSON)."""

    name: str
    params: dict[str, float]
    loss: float
    storms: list[str]
    parameters: list[dict] = field(default_factory=list)
    fit: list[dict] = field(default_factory=list)
    leave_one_out: list[dict] = field(default_factory=list)
    method: str = "Powell"
    created: str = ""
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _pred_lookup(pred, storm: str) -> dict[tuple[str, str], float]:
    if isinstance(pred, pd.DataFrame):
        for c in ("region", "metric", "value"):
            if c not in pred.columns:
                raise InputError(f"simulate() output for {storm} lacks {c!r}", field=c)
        return {
            (str(r), str(m)): float(v)
            for r, m, v in pred[["region", "metric", "value"]].itertuples(index=False)
        }
    return {(str(k[0]), str(k[1])): float(v) for k, v in dict(pred).items()}


def _residuals(
    theta: dict, observations: Mapping[str, pd.DataFrame], simulate: Simulate
) -> dict[str, np.ndarray]:
    out = {}
    for storm, obs in observations.items():
        look = _pred_lookup(simulate(dict(theta), storm), storm)
        keys = list(zip(obs["region"], obs["metric"], strict=True))
        missing = [k for k in keys if k not in look]
        if missing:
            raise InputError(
                f"simulate() gave no value for {missing[0]} of storm {storm}",
                field="simulate",
                value=missing[0],
            )
        yhat = np.array([look[k] for k in keys], float)
        y = obs["value"].to_numpy(float)
        out[storm] = np.log1p(np.clip(yhat, 0, None)) - np.log1p(y)
    return out


def loss(theta: dict, observations: Mapping[str, pd.DataFrame], simulate: Simulate) -> float:
    """Mean squared log error of ``simulate`` with parameters ``theta`` over all observations."""
    r = _residuals(theta, observations, simulate)
    allr = np.concatenate(list(r.values())) if r else np.zeros(0)
    return float(np.mean(allr**2)) if len(allr) else 0.0


def _storm_report(theta, observations, simulate) -> list[dict]:
    out = []
    for storm, obs in observations.items():
        look = _pred_lookup(simulate(dict(theta), storm), storm)
        yhat = np.array([look[(r, m)] for r, m in zip(obs["region"], obs["metric"], strict=True)], float)
        y = obs["value"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = np.where(y > 0, 1 - np.abs(yhat - y) / y, np.nan)
        res = np.log1p(np.clip(yhat, 0, None)) - np.log1p(y)
        out.append(
            {
                "storm": storm,
                "loss": float(np.mean(res**2)),
                "mean_accuracy": float(np.nanmean(acc)) if np.isfinite(acc).any() else None,
                "pairs": int(len(y)),
            }
        )
    return out


def _parameters(names) -> list[Parameter]:
    out = []
    for p in names:
        if isinstance(p, Parameter):
            out.append(p)
        elif p in PARAMETERS:
            out.append(PARAMETERS[p])
        else:
            raise InputError(
                f"unknown parameter; calibratable: {sorted(PARAMETERS)}", field="parameters", value=p
            )
    if not out:
        raise InputError("no parameters to fit", field="parameters")
    return out


def _optimise(pars: list[Parameter], observations, simulate, fixed: dict, maxiter: int, maxfev: int | None):
    def to_theta(x):
        th = dict(fixed)
        for p, xi in zip(pars, x, strict=True):
            th[p.name] = float(np.exp(xi)) if p.log else float(xi)
        return th

    x0 = np.array([np.log(p.initial) if p.log else p.initial for p in pars])
    lo = np.array([np.log(p.lower) if p.log else p.lower for p in pars])
    hi = np.array([np.log(p.upper) if p.log else p.upper for p in pars])
    res = minimize(
        lambda x: loss(to_theta(x), observations, simulate),
        x0,
        method="Powell",
        bounds=list(zip(lo, hi, strict=True)),
        options={"maxiter": maxiter, "maxfev": maxfev or 60 * len(pars) + 40, "xtol": 1e-4, "ftol": 1e-9},
    )
    return to_theta(res.x), float(res.fun)


def fit(
    observations: Mapping[str, pd.DataFrame],
    simulate: Simulate,
    parameters=DEFAULT_FIT,
    *,
    name: str = "calibration",
    fixed: dict | None = None,
    leave_one_out: bool = True,
    maxiter: int = 200,
    maxfev: int | None = None,
) -> Calibration:
    """Fit ``parameters`` to the observations of several storms.

    Parameters
    ----------
    observations:
        ``{storm: table(region, metric, value)}``.
    simulate:
        ``simulate(params, storm)`` → the predicted value of every observed ``(region, metric)``
        (a table ``region, metric, value`` or a mapping ``{(region, metric): value}``).
    parameters:
        Names from :data:`PARAMETERS` (or :class:`Parameter` objects).
    fixed:
        Other parameters passed unchanged to ``simulate``.
    leave_one_out:
        Also score each storm with parameters fitted on the others (needs ≥ 2 storms).
    maxiter, maxfev:
        Limits of the Powell search (default ``maxfev``: 60 per parameter + 40 simulations per storm
        set — each evaluation runs every storm once).
    """
    if not observations:
        raise InputError("no observations to calibrate on", field="observations")
    obs = {str(s): check_observations(o) for s, o in observations.items()}
    pars = _parameters(parameters)
    fixed = dict(fixed or {})
    theta, best = _optimise(pars, obs, simulate, fixed, maxiter, maxfev)
    loo = []
    if leave_one_out and len(obs) >= 2:
        for s in obs:
            rest = {k: v for k, v in obs.items() if k != s}
            th_s, _ = _optimise(pars, rest, simulate, fixed, maxiter, maxfev)
            rep = _storm_report(th_s, {s: obs[s]}, simulate)[0]
            rep["params"] = {p.name: th_s[p.name] for p in pars}
            loo.append(rep)
    return Calibration(
        name=name,
        params={p.name: theta[p.name] for p in pars},
        loss=best,
        storms=list(obs),
        parameters=[asdict(p) for p in pars],
        fit=_storm_report(theta, obs, simulate),
        leave_one_out=loo,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        notes="loss = mean squared log error, ln(1 + value)",
    )


# ---------------------------------------------------------------------------------------------
# named calibrations on disk

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def calibrations_dir(home=None) -> Path:
    """``$RESCITY_HOME/calibrations`` (default ``~/.rescity/calibrations``)."""
    base = Path(home) if home is not None else Path(os.environ.get("RESCITY_HOME", Path.home() / ".rescity"))
    return base / "calibrations"


def _check_name(name: str) -> str:
    if not _NAME.match(str(name)):
        raise InputError("calibration names use letters, digits, '_', '.', '-'", field="name", value=name)
    return str(name)


def save_calibration(cal: Calibration, name: str | None = None, home=None) -> Path:
    """Save ``cal`` as ``<name>.json`` under :func:`calibrations_dir`; returns the path."""
    n = _check_name(name or cal.name)
    cal.name = n
    d = calibrations_dir(home)
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{n}.json"
    p.write_text(json.dumps(cal.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return p


def load_calibration(name: str, home=None) -> Calibration:
    """Load the named calibration (a name, or a path to a ``.json`` file)."""
    p = Path(name)
    if not (p.suffix == ".json" and p.exists()):
        p = calibrations_dir(home) / f"{_check_name(name)}.json"
    if not p.exists():
        have = (
            sorted(x.stem for x in calibrations_dir(home).glob("*.json"))
            if calibrations_dir(home).exists()
            else []
        )
        raise InputError(f"no calibration {name!r} (saved: {have})", file=p, field="calibration", value=name)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        return Calibration(**d)
    except (ValueError, TypeError) as e:
        raise InputError(f"not a calibration file: {e}", file=p) from None


def list_calibrations(home=None) -> list[str]:
    """Names of the saved calibrations."""
    d = calibrations_dir(home)
    return sorted(x.stem for x in d.glob("*.json")) if d.exists() else []
