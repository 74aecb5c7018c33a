"""Background jobs the service runs (``POST /api/v1/runs``): a scenario and a forecast issuance.

Each job has the signature ``fn(twin, config, progress) -> dict of results`` expected by
:mod:`rescity.api.jobs`: ``config`` is the run's JSON configuration, checked here with the same
rules as the CLI, and ``progress(fraction, message)`` reports 0–1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rescity.errors import InputError
from rescity.forecast.ensemble import OFFICIAL_SEED
from rescity.forecast.issuance import DEFAULT_MEMBERS
from rescity.hazard.scenario import as_input_error
from rescity.seeds import DEFAULT_SEED


class ForecastJobConfig(BaseModel):
    """The ``config`` of a forecast run (``POST /api/v1/runs`` with kind ``forecast``)."""

    model_config = ConfigDict(extra="forbid")

    sn: Optional[str] = None
    track: Optional[list[dict[str, Any]]] = None
    issued: Optional[str] = None
    members: int = Field(DEFAULT_MEMBERS, ge=1)
    realisations: int = Field(200, ge=1)
    seed: int = DEFAULT_SEED
    official_seed: int = OFFICIAL_SEED
    leads: list[int] = Field(default_factory=lambda: [24, 48, 72])
    errors: str = "cma"


def scenario_config(config: dict[str, Any]) -> Any:
    """A scenario run's JSON ``config`` as a :class:`~rescity.run.config.RunConfig` (default 100
    realisations; the stored twin of the run replaces ``twin``); errors name ``config.<field>``.

    ``scheduler`` is refused: where runs execute is the server's setting (``RESCITY_SCHEDULER``),
    never a client's (a scheduler address chosen by a client would send it the run's data and
    receive pickled results from it)."""
    from rescity.run.config import RunConfig

    if isinstance(config, Mapping) and config.get("scheduler") is not None:
        raise InputError(
            "the scheduler is set by the server (RESCITY_SCHEDULER), not per run",
            field="config.scheduler",
            value=config["scheduler"],
        )
    return RunConfig.load({"realisations": 100, **dict(config or {})}, prefix="config.")


def scenario_job(twin, config: dict[str, Any], progress: Callable[..., None]) -> dict[str, Any]:
    """One scenario through :func:`rescity.run.scenario.run_scenario`. ``config``: a
    :class:`~rescity.run.config.RunConfig` as JSON (``sn`` or ``quake``, ``hazards``,
    ``realisations`` (default 100), ``seed``, ``recovery`` …; ``docs/run-config.md``).

    Results: ``units`` (the ``units.csv`` table), ``settings``, and with recovery ``qt`` (Q(t) per
    unit and system, the ``qt.csv`` table) and ``metrics`` (``metrics.csv``)."""
    from rescity.metrics import qt_table
    from rescity.run.scenario import run_scenario

    cfg = scenario_config(config)
    weights = {"twin": (0.0, 0.02), "hazard": (0.02, 0.3), "simulate": (0.3, 0.8), "recovery": (0.8, 0.98)}
    if not cfg.recovery.enabled:
        weights["simulate"] = (0.3, 0.98)

    def cb(stage: str, done: float, total: float) -> None:
        lo, hi = weights.get(stage, (0.98, 1.0))
        progress(lo + (hi - lo) * (done / max(total, 1)), stage)

    res = run_scenario(cfg, twin=twin, progress=cb, write=False)
    out: dict[str, Any] = {"units": res.units, "settings": {**cfg.as_dict(), "twin": {"path": "stored twin"}}}
    if res.recovery is not None:
        out["qt"] = run_qt(qt_table(res.recovery), res.units)
        out["metrics"] = res.metrics
    return out


def run_qt(qt: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """The ``qt`` result stored with an API run: ``unit_id, system, t_h, q`` (mean Q(t) over the
    realisations) for the province, prefectures and counties — what the dashboard draws; cells
    are left out to keep the stored table small (the CLI's ``qt.csv`` has every unit)."""
    keep = set(units.loc[units["level"] != "cell", "unit_id"].astype(str))
    t = qt[qt["unit_id"].astype(str).isin(keep)]
    return pd.DataFrame(
        {"unit_id": t["unit_id"].astype(str), "system": t["system"], "t_h": t["hour"].astype(float),
         "q": t["q_mean"].astype(float)}
    ).reset_index(drop=True)  # fmt: skip


def forecast_job(twin, config: dict[str, Any], progress: Callable[..., None]) -> dict[str, Any]:
    """One forecast issuance (:func:`rescity.forecast.issuance.run_issuance`) from an official
    track — ``track``: rows of the generic track CSV as objects — or, for a hindcast, the packaged
    best track ``sn`` perturbed as an operational forecast issued at ``issued``. Results:
    ``issuances`` (the ``issuances.csv`` table)."""
    from rescity.forecast import ensemble as ens
    from rescity.forecast.issuance import run_issuance
    from rescity.hazard.track import packaged_track, read_generic

    try:
        c = ForecastJobConfig.model_validate(dict(config or {})).model_dump(exclude_unset=True)
    except ValidationError as e:
        err = as_input_error(e)
        raise InputError(err.message, field=f"config.{err.field}", value=err.value) from None
    if "issued" not in c:
        raise InputError("a forecast needs its issuance time", field="config.issued")
    issued = ens._to_utc(c["issued"])
    seed = c.get("seed", DEFAULT_SEED)
    leads = tuple(int(x) for x in c.get("leads", (24, 48, 72)))
    if "track" in c:
        official = read_generic("config.track", text=pd.DataFrame(c["track"]).to_csv(index=False))
    elif "sn" in c:
        official = ens.official_forecast(
            packaged_track(c["sn"]), issued, c.get("official_seed", OFFICIAL_SEED), c.get("errors", "cma")
        )
    else:
        raise InputError("a forecast needs a track (rows) or a storm id (sn)", field="config.track")
    progress(0.05, "ensemble")
    members = c.get("members", DEFAULT_MEMBERS)
    e = ens.perturb_track(
        official, issued, members, seed, c.get("errors", "cma"), max_lead_h=float(max(leads))
    )
    progress(0.1, "simulating members")
    per_member = max(1, c.get("realisations", 200) // members)
    table = run_issuance(twin, e, issued, leads=leads, realisations=per_member, seed=seed)
    return {"issuances": table}
