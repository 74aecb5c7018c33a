"""Background jobs the service runs (``POST /api/v1/runs``): a scenario and a forecast issuance.

Each job has the signature ``fn(twin, config, progress) -> dict of results`` expected by
:mod:`rescity.api.jobs`: ``config`` is the run's JSON configuration, checked here with the same
rules as the CLI, and ``progress(fraction, message)`` reports 0–1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from rescity.errors import InputError

SCENARIO_KEYS = {
    "sn": str, "model": str, "hazards": list, "realisations": int, "seed": int, "horizon_h": float,
    "quake": str, "aftershocks": list, "vs30": float,
}  # fmt: skip
FORECAST_KEYS = {
    "sn": str, "track": list, "issued": str, "members": int, "realisations": int, "seed": int,
    "leads": list, "errors": str,
}  # fmt: skip


def _checked(config: dict[str, Any], allowed: dict[str, type]) -> dict[str, Any]:
    out = {}
    for k, v in (config or {}).items():
        if k not in allowed:
            raise InputError(
                f"unknown key; allowed: {', '.join(sorted(allowed))}", field=f"config.{k}", value=k
            )
        t = allowed[k]
        try:
            out[k] = t(v) if t is not list else list(v)
        except (TypeError, ValueError):
            raise InputError(f"expected {t.__name__}", field=f"config.{k}", value=v) from None
    return out


def scenario_job(twin, config: dict[str, Any], progress: Callable[..., None]) -> dict[str, Any]:
    """One scenario through :func:`rescity.pipeline.run_scenario`; results: ``units`` (the
    ``units.csv`` table) and ``settings``. Config keys: ``sn`` or ``quake`` (+ ``aftershocks``,
    ``vs30``), ``model``, ``hazards``, ``realisations`` (default 100), ``seed``, ``horizon_h``."""
    from rescity.pipeline import ScenarioSettings, run_scenario

    c = _checked(config, SCENARIO_KEYS)
    if "sn" not in c and "quake" not in c:
        raise InputError("a scenario needs a storm (sn) or an earthquake (quake)", field="config.sn")
    st = ScenarioSettings(
        sn=c.get("sn"),
        model=c.get("model", "holland1980"),
        hazards=tuple(c.get("hazards", ("wind", "rain", "flood"))),
        realisations=c.get("realisations", 100),
        seed=c.get("seed", 20190809),
        horizon_h=c.get("horizon_h", 12.0),
        quake=c.get("quake"),
        aftershocks=tuple(c.get("aftershocks", ())),
        vs30=c.get("vs30"),
        twin="stored twin",
    )
    weights = {"twin": (0.0, 0.02), "hazard": (0.02, 0.3), "simulate": (0.3, 0.98)}

    def cb(stage: str, done: float, total: float) -> None:
        lo, hi = weights.get(stage, (0.98, 1.0))
        progress(lo + (hi - lo) * (done / max(total, 1)), stage)

    res = run_scenario(st, None, twin=twin, progress=cb)
    return {"units": res.units, "settings": st.as_dict()}


def forecast_job(twin, config: dict[str, Any], progress: Callable[..., None]) -> dict[str, Any]:
    """One forecast issuance (:func:`rescity.forecast.issuance.run_issuance`) from an official
    track — ``track``: rows of the generic track CSV as objects — or, for a hindcast, the packaged
    best track ``sn`` perturbed as an operational forecast issued at ``issued``. Results:
    ``issuances`` (the ``issuances.csv`` table)."""
    from rescity.forecast import ensemble as ens
    from rescity.forecast.issuance import run_issuance
    from rescity.hazard.track import packaged_track, read_generic

    c = _checked(config, FORECAST_KEYS)
    if "issued" not in c:
        raise InputError("a forecast needs its issuance time", field="config.issued")
    issued = ens._to_utc(c["issued"])
    seed = c.get("seed", 20190809)
    leads = tuple(int(x) for x in c.get("leads", (24, 48, 72)))
    if "track" in c:
        official = read_generic("config.track", text=pd.DataFrame(c["track"]).to_csv(index=False))
    elif "sn" in c:
        official = ens.official_forecast(packaged_track(c["sn"]), issued, seed, c.get("errors", "cma"))
    else:
        raise InputError("a forecast needs a track (rows) or a storm id (sn)", field="config.track")
    progress(0.05, "ensemble")
    members = c.get("members", 50)
    e = ens.perturb_track(
        official, issued, members, seed, c.get("errors", "cma"), max_lead_h=float(max(leads))
    )
    progress(0.1, "simulating members")
    per_member = max(1, c.get("realisations", 200) // members)
    table = run_issuance(twin, e, issued, leads=leads, realisations=per_member, seed=seed)
    return {"issuances": table}
