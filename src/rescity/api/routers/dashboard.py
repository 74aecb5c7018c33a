"""Data for the web dashboard: map layers, values per unit, Q(t), decisions, the live alerts feed.

Every route needs a signed-in user with the permission named in its dependency, like the rest
of the API; the dashboard's own HTML, CSS and scripts (``routers.web``) hold no data.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from rescity.api.errors import ApiError
from rescity.api.routers._common import ERRORS, Filter, RecordId, RunId, TwinName
from rescity.api.routers.assets import access_levels
from rescity.api.security import (
    Context,
    allows,
    authenticate,
    context,
    oauth2,
    release_table,
    require,
    via_grant_only,
)
from rescity.govern.departments import asset_resource
from rescity.govern.principal import Principal
from rescity.hazard.registry import as_table as hazard_table
from rescity.store.base import NotFound, clean
from rescity.twin.systems import all_systems
from rescity.twin.systems import systems as system_names
from rescity.web import feed, geo, layers, plain

router = APIRouter(tags=["dashboard"], responses=ERRORS)

Level = Literal["province", "prefecture", "county", "cell"]
StatusFilter = Literal["up", "down", "unknown"]
GEOJSON = "application/geo+json"


class _LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self._d: OrderedDict = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key, value):
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self._size:
                self._d.popitem(last=False)
        return value


class _Caches:
    """Derived data the dashboard reuses, keyed by what it was derived from."""

    def __init__(self) -> None:
        self.twin = _LRU(16)  # units, geometry, asset index, places: per (twin, created_at)
        self.status = _LRU(8)  # live status codes: per (twin, created_at, version)
        self.geojson = _LRU(32)  # GeoJSON bytes: per (twin, created_at, level)
        self.tables = _LRU(4)  # run result tables (issuances, units, qt): per (run_id, name)


def _caches(request: Request) -> _Caches:
    st = request.app.state
    c = getattr(st, "dashboard_caches", None)
    if c is None:
        c = st.dashboard_caches = _Caches()
    return c


def _twin_part(request: Request, ctx: Context, twin: str, part: str):
    """``units``, ``geometry``, ``assets`` (AssetIndex) or ``places`` of a stored twin, cached."""
    key = ctx.store.twin_key(twin)[:2]
    c = _caches(request).twin
    hit = c.get((key, part))
    if hit is not None:
        return hit[0]
    if part == "units":
        val = geo.twin_units(ctx.store, twin)
    elif part == "geometry":
        val = geo.twin_geometry(ctx.store, twin)
    elif part == "assets":
        val = geo.asset_index(ctx.store, twin, _twin_part(request, ctx, twin, "units"))
    elif part == "places":
        val = plain.Places(_twin_part(request, ctx, twin, "units"))
    elif part == "asset_unit":
        idx = _twin_part(request, ctx, twin, "assets")
        val = dict(zip(idx.asset_id.tolist(), idx.unit_id.tolist(), strict=True))
    else:  # pragma: no cover - programming error
        raise KeyError(part)
    c.put((key, part), (val,))
    return val


def _status(request: Request, ctx: Context, twin: str, n: int):
    key = ctx.store.twin_key(twin)
    c = _caches(request).status
    hit = c.get(key)
    if hit is None:
        hit = c.put(key, geo.asset_status_codes(ctx.store, twin, n))
    return hit


def _result(request: Request, ctx: Context, run_id: str, name: str):
    c = _caches(request).tables
    hit = c.get((run_id, name))
    if hit is None:
        run = ctx.store.get_run(run_id)
        if run["status"] != "done":
            raise ApiError(409, f"run {run_id} is {run['status']}; its results come when it is done")
        hit = c.put((run_id, name), (ctx.store.get_result(run_id, name),))
    return hit[0]


def _issuances(request: Request, ctx: Context, forecast_id: int) -> tuple[dict, pd.DataFrame]:
    f = ctx.store.get_forecast(forecast_id)
    if not f.get("run_id"):
        raise ApiError(
            404,
            f"forecast {forecast_id} has no run, so no issuance table to map; publish it from a forecast run",
        )
    try:
        t = _result(request, ctx, f["run_id"], "issuances")
    except NotFound:
        raise ApiError(404, f"the run of forecast {forecast_id} has no 'issuances' result") from None
    if not isinstance(t, pd.DataFrame):
        raise ApiError(404, f"the 'issuances' result of forecast {forecast_id} is not a table")
    return f, t


# -- overview -------------------------------------------------------------------------------
@router.get("/dashboard/twins/{twin}", summary="What the dashboard can show for a twin")
def overview(
    request: Request,
    twin: TwinName,
    p: Principal = Depends(require("twins", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Counts of the twin, the asset systems you may see (``full`` or ``status``), the latest
    forecasts (with ``track_record``: how well the model did on past storms, in plain words, and
    the calibration in use), finished runs with their result names, and decisions with their map
    layers (each list only when your role may read it)."""
    info = ctx.store.twin_info(twin)
    out: dict[str, Any] = {
        "twin": {k: info[k] for k in ("name", "n_units", "n_assets", "units_by_level")},
        "systems": access_levels(request, p),
        "assets_by_system": {s: v["by_status"] for s, v in info["assets_by_system"].items()},
        "forecasts": [],
        "runs": [],
        "decisions": [],
        "hazards": hazard_table(),
        "system_list": [
            {"name": x.name, "label_en": x.label_en, "label_zh": x.label_zh, "color": x.color}
            for x in all_systems()
        ],
    }
    if allows(request, p, "forecasts", "read"):
        rows, _ = ctx.store.list_forecasts(twin=twin, limit=20)
        out["forecasts"] = [
            {k: r[k] for k in ("id", "title", "hazard", "issued_at", "valid_from", "valid_to", "run_id")}
            for r in rows
        ]
        from rescity.history.suite import track_record

        out["track_record"] = track_record()
    if allows(request, p, "runs", "read"):
        rows, _ = ctx.store.list_runs(twin=twin, status="done", limit=20)
        for r in rows:
            names = [x["name"] for x in ctx.store.list_results(r["id"])]
            out["runs"].append(
                {
                    "id": r["id"],
                    "kind": r["kind"],
                    "finished_at": r["finished_at"],
                    "results": names,
                    "has_qt": "qt" in names,
                }
            )
    if allows(request, p, "decisions", "read"):
        rows, _ = ctx.store.list_decisions(twin=twin, limit=50)
        out["decisions"] = [
            {
                "id": r["id"],
                "kind": r["kind"],
                "title": r["title"],
                "status": r["status"],
                "created_at": r["created_at"],
                "layers": layers.layer_kinds(r["body"]),
            }
            for r in rows
        ]
    return out


# -- units ----------------------------------------------------------------------------------
@router.get(
    "/dashboard/twins/{twin}/units.geojson",
    summary="Unit polygons (simplified) as GeoJSON, optionally with a forecast indicator",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}, "description": "a GeoJSON FeatureCollection"}},
)
def units_geojson(
    request: Request,
    twin: TwinName,
    level: Level = "county",
    forecast_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    indicator: Filter = None,
    lead_h: Annotated[int | None, Query(ge=0, le=10_000)] = None,
    issued: Filter = None,
    p: Principal = Depends(require("units", "read")),
    ctx: Context = Depends(context),
):
    """Polygons of the units of ``level`` (points at the centroid where a unit has none), with
    ``unit_id``, ``level``, ``parent_id``, ``name_zh``, ``name_en``, ``lon``, ``lat``. With
    ``forecast_id`` each feature also gets ``value``, ``p05``, ``p95`` and ``warning`` of
    ``indicator`` (default ``composite``) for one frame (needs forecasts · read)."""
    key = ctx.store.twin_key(twin)[:2]
    if forecast_id is None:
        c = _caches(request).geojson
        data = c.get((key, level))
        if data is None:
            units = _twin_part(request, ctx, twin, "units")
            data = c.put(
                (key, level), geo.units_geojson(units, _twin_part(request, ctx, twin, "geometry"), level)
            )
        return Response(data, media_type=GEOJSON)
    if not allows(request, p, "forecasts", "read"):
        raise ApiError(403, f"role {p.role!r} in department {p.department!r} may not read forecasts")
    _, t = _issuances(request, ctx, forecast_id)
    if level == "cell":
        t = release_table(request, p, t, f"forecasts/{forecast_id}/values/cell", cells=True)
    else:
        t = release_table(request, p, t[t["level"].astype(str) != "cell"], f"forecasts/{forecast_id}/values")
    vals = layers.issuance_values(
        t, issued=issued, lead_h=lead_h, indicator=indicator or "composite", level=level
    )
    units = _twin_part(request, ctx, twin, "units")
    data = geo.units_geojson(units, _twin_part(request, ctx, twin, "geometry"), level, values=vals["values"])
    return Response(data, media_type=GEOJSON)


@router.get("/dashboard/forecasts/{forecast_id}/frames", summary="Frames of a forecast for the time slider")
def forecast_frames(
    request: Request,
    forecast_id: RecordId,
    p: Principal = Depends(require("forecasts", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Issuances × lead windows of the forecast in order of valid time, its indicators and levels."""
    f, t = _issuances(request, ctx, forecast_id)
    return {
        "forecast": {k: f[k] for k in ("id", "title", "twin", "issued_at", "run_id")},
        **layers.issuance_frames(t),
    }


@router.get("/dashboard/forecasts/{forecast_id}/values", summary="One forecast frame's values per unit")
def forecast_values(
    request: Request,
    forecast_id: RecordId,
    indicator: Filter = None,
    issued: Filter = None,
    lead_h: Annotated[int | None, Query(ge=0, le=10_000)] = None,
    level: Level = "county",
    p: Principal = Depends(require("forecasts", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """``values``: ``{unit_id: {value, p05, p95, warning}}`` of ``indicator`` (default
    ``composite``) at ``level`` for the issuance ``issued`` (default the latest) and lead window
    ``lead_h`` (default its shortest); ``warning`` is none, blue, yellow, orange or red."""
    _, t = _issuances(request, ctx, forecast_id)
    if level == "cell":
        t = release_table(request, p, t, f"forecasts/{forecast_id}/values/cell", cells=True)
    else:
        t = release_table(request, p, t[t["level"].astype(str) != "cell"], f"forecasts/{forecast_id}/values")
    return layers.issuance_values(
        t, issued=issued, lead_h=lead_h, indicator=indicator or "composite", level=level
    )


@router.get("/dashboard/runs/{run_id}/values", summary="A scenario run's quantity per unit")
def run_values(
    request: Request,
    run_id: RunId,
    indicator: Filter = None,
    level: Level = "county",
    p: Principal = Depends(require("runs", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """A quantity of the run's ``units`` result (default ``affected``) per unit, with its 90 %
    interval and, where the forecast has thresholds for it, the warning colour."""
    units = _result(request, ctx, run_id, "units")
    if not isinstance(units, pd.DataFrame):
        raise ApiError(404, f"the 'units' result of run {run_id} is not a table")
    if level == "cell":
        units = release_table(request, p, units, f"runs/{run_id}/values/cell", cells=True)
    else:
        units = release_table(
            request, p, units[units["level"].astype(str) != "cell"], f"runs/{run_id}/values"
        )
    run = ctx.store.get_run(run_id)
    hh = None
    if run.get("twin"):
        try:
            tu = _twin_part(request, ctx, run["twin"], "units")
            hh = dict(zip(tu["unit_id"].astype(str), tu["households"].astype(float), strict=True))
        except NotFound:
            hh = None
    names = layers.run_indicators(units)
    out = layers.run_values(units, indicator or ("affected" if "affected" in names else names[0]), level, hh)
    return {**out, "indicators": names}


@router.get("/dashboard/runs/{run_id}/qt", summary="Q(t) recovery curves of a unit")
def run_qt(
    request: Request,
    run_id: RunId,
    unit_id: Filter = None,
    p: Principal = Depends(require("runs", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """The run's ``qt`` result for ``unit_id``: ``{available: true, t_h: [...], series: {name:
    [...]}}``; ``{available: false, reason}`` when the run has no recovery results."""
    try:
        res = _result(request, ctx, run_id, "qt")
    except NotFound:
        return {"available": False, "reason": "no recovery results in this run", "run_id": run_id}
    return {**layers.qt_series(res, unit_id), "run_id": run_id}


# -- assets ---------------------------------------------------------------------------------
def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        w, s, e, n = (float(x) for x in text.split(","))
    except ValueError:
        raise ApiError(422, "bbox is west,south,east,north in degrees", field="bbox", value=text) from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise ApiError(
            422, "bbox must have west < east and south < north, in degrees", field="bbox", value=text
        )
    return w, s, e, n


@router.get("/dashboard/twins/{twin}/assets", summary="Assets in a map view: points, or counts per cell")
def assets_view(
    request: Request,
    twin: TwinName,
    bbox: Annotated[str, Query(max_length=120, pattern=r"^[-0-9.,eE ]+$")] = "-180,-90,180,90",
    zoom: Annotated[float, Query(ge=0, le=24)] = 7,
    system: Annotated[list[str] | None, Query(description="systems (see rescity.twin.systems)")] = None,
    status: StatusFilter | None = None,
    max_points: Annotated[int, Query(ge=0, le=5000)] = 2000,
    p: Principal = Depends(require("assets", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Assets inside ``bbox`` as points when at most ``max_points`` are in view, else counts per
    grid cell (about 48 screen pixels at ``zoom``) by live status and system. Systems you see only
    as status are counted at their unit's centroid, never sent one by one."""
    box = _bbox(bbox)
    levels = access_levels(request, p)
    if system:
        unknown = sorted(set(system) - set(system_names()))
        if unknown:
            raise ApiError(422, f"unknown system (use {', '.join(system_names())})", field="system", value=unknown[0])
        bad = sorted(set(system) - set(levels))
        if bad:
            raise ApiError(403, f"department {p.department!r} may not see {', '.join(bad)} assets")
    idx = _twin_part(request, ctx, twin, "assets")
    codes = _status(request, ctx, twin, len(idx))
    out = geo.assets_in_view(
        idx, codes, levels, box, zoom, systems=system, only_status=status, max_points=max_points
    )
    shared = sorted(
        {f["properties"]["system"] for f in out["features"] if "system" in f["properties"]}
        & {s for s in levels if via_grant_only(request, p, asset_resource(s), "read")}
    )
    if shared:
        ctx.store.audit(p, "read.shared", f"twins/{twin}/assets", {"systems": shared, "view": bbox})
    return out


# -- decisions ------------------------------------------------------------------------------
@router.get("/dashboard/decisions/{decision_id}/layer", summary="A decision as map features")
def decision_layer(
    request: Request,
    decision_id: RecordId,
    p: Principal = Depends(require("decisions", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Shelter assignments (lines unit → shelter, shelters in use) and depots (open depots,
    supply flows) of a decision, as GeoJSON. Facilities are placed at their unit's centroid
    (``approx``) for users who may not see facility positions."""
    d = ctx.store.get_decision(decision_id)
    if not d.get("twin"):
        raise ApiError(404, f"decision {decision_id} names no twin, so it cannot be placed on a map")
    units = _twin_part(request, ctx, d["twin"], "units")
    idx = _twin_part(request, ctx, d["twin"], "assets")
    unit_xy = dict(
        zip(units["unit_id"].astype(str), zip(units["lon"], units["lat"], strict=True), strict=True)
    )
    exact = allows(request, p, asset_resource("facility"), "read")
    fac = idx.system == "facility"
    asset_xy = (
        dict(
            zip(
                idx.asset_id[fac].tolist(),
                zip(idx.lon[fac].tolist(), idx.lat[fac].tolist(), strict=True),
                strict=True,
            )
        )
        if exact
        else {}
    )
    out = layers.decision_layer(
        d["body"], unit_xy, asset_xy, _twin_part(request, ctx, d["twin"], "asset_unit"), exact_assets=exact
    )
    return {**out, "decision": {k: d[k] for k in ("id", "kind", "title", "status", "twin")}}


# -- alerts ---------------------------------------------------------------------------------
_LEVEL_RANK = {x: i + 1 for i, x in enumerate(plain.LEVELS)}


def _enricher(request: Request, ctx: Context):
    """A function adding ``plain`` (plain-language text in en and zh) to alert rows."""

    def enrich(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            places = asset_unit = None
            uid = r.get("unit_id")
            if r.get("twin"):
                try:
                    places = _twin_part(request, ctx, r["twin"], "places")
                    if r.get("asset_id") and not uid:
                        asset_unit = _twin_part(request, ctx, r["twin"], "asset_unit")
                        uid = asset_unit.get(r["asset_id"])
                except NotFound:
                    places = None
            up = places.ancestors(uid) if places is not None else []
            out.append({**r, "plain": plain.plain_alert(r, places, asset_unit), "units_up": up})
        return clean(out)

    return enrich


@router.get("/dashboard/alerts", summary="Latest alerts with plain-language text")
def latest_alerts(
    request: Request,
    twin: Filter = None,
    status: Literal["open", "acknowledged", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    p: Principal = Depends(require("alerts", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """The newest alerts (of ``twin`` and of no twin), each with ``plain``: ``{en|zh: {headline,
    who, what, where, todo}, source}``; ``last_id`` is where the live feed (``/alerts/stream``)
    continues from."""
    rows, _ = ctx.store.list_alerts(twin=None, status=status, limit=limit if twin is None else 1000)
    if twin is not None:
        rows = [r for r in rows if r.get("twin") in (None, twin)][:limit]
    last_id, _ = feed.watermark(ctx.store)
    return {"items": _enricher(request, ctx)(rows), "last_id": last_id}


@router.get("/dashboard/twins/{twin}/alert-levels", summary="Highest open alert level per unit")
def alert_levels(
    request: Request,
    twin: TwinName,
    level: Level = "county",
    p: Principal = Depends(require("alerts", "read")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """For each unit of ``level``: the highest level among the open alerts placed in it or in a
    unit below it (an alert on an asset counts in the asset's unit), and their number."""
    units = _twin_part(request, ctx, twin, "units")
    parent = dict(zip(units["unit_id"].astype(str), units["parent_id"].astype(str), strict=True))
    lv = dict(zip(units["unit_id"].astype(str), units["level"].astype(str), strict=True))
    rows, _ = ctx.store.list_alerts(twin=twin, status="open", limit=10_000)
    asset_unit = None
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        uid = r.get("unit_id")
        if not uid and r.get("asset_id"):
            asset_unit = asset_unit or _twin_part(request, ctx, twin, "asset_unit")
            uid = asset_unit.get(r["asset_id"])
        seen = set()
        while uid and uid in lv and lv[uid] != level and uid not in seen:
            seen.add(uid)
            uid = parent.get(uid)
        if not uid or lv.get(uid) != level:
            continue
        o = out.setdefault(uid, {"warning": "none", "alerts": 0})
        o["alerts"] += 1
        if _LEVEL_RANK.get(r["level"], 0) > _LEVEL_RANK.get(o["warning"], 0):
            o["warning"] = r["level"]
    return {"level": level, "values": out}


def _stream_principal(
    request: Request,
    token: str | None = Depends(oauth2),
    access_token: Annotated[
        str | None, Query(max_length=4000, description="the token, for clients that cannot send headers")
    ] = None,
) -> Principal:
    p = authenticate(request, token or access_token)
    if not allows(request, p, "alerts", "read"):
        raise ApiError(403, f"role {p.role!r} in department {p.department!r} may not read alerts")
    request.state.stream_token = token or access_token
    return p


_stream_principal.permission = ("alerts", "read")  # type: ignore[attr-defined]
_stream_principal.authenticates = True  # type: ignore[attr-defined]


@router.get(
    "/alerts/stream",
    tags=["alerts"],
    summary="Live alerts: server-sent events (or, without Accept: text/event-stream, one JSON poll)",
    responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
)
async def alerts_stream(
    request: Request,
    after: Annotated[int | None, Query(ge=0, le=2**53, description="last alert id the client has")] = None,
    twin: Filter = None,
    max_s: Annotated[
        float, Query(gt=0, le=3600, description="seconds before the server ends the stream")
    ] = 300,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    p: Principal = Depends(_stream_principal),
    ctx: Context = Depends(context),
):
    """New alerts (``event: alert``) and status changes (``event: alert-update``) as they reach
    the store, each with the plain-language text (``plain``), heartbeats every 15 s, ending after
    ``max_s``. Send the token as ``Authorization: Bearer …`` (or ``access_token=`` for clients
    that cannot set headers). A client that asks for anything but ``text/event-stream`` gets one
    JSON answer instead: ``{items: alerts after `after`, last_id}`` (polling)."""
    import anyio.to_thread

    start = after
    if last_event_id and last_event_id.strip().isdigit():
        start = int(last_event_id.strip())
    enrich = _enricher(request, ctx)
    if "text/event-stream" not in (accept or ""):

        def poll() -> dict[str, Any]:
            last_id, _ = feed.watermark(ctx.store)
            rows = feed.alerts_after(ctx.store, start if start is not None else last_id, twin=twin, limit=200)
            return {"items": enrich(rows), "last_id": max([last_id, *[int(r["id"]) for r in rows]])}

        return await anyio.to_thread.run_sync(poll)
    if start is None:
        start, _ = await anyio.to_thread.run_sync(feed.watermark, ctx.store)
    hub = getattr(request.app.state, "alert_hub", None)
    if hub is None:
        hub = request.app.state.alert_hub = feed.AlertHub(ctx.store)
    token = request.state.stream_token

    def still_allowed() -> bool:
        try:
            q = authenticate(request, token)
        except ApiError:
            return False
        return allows(request, q, "alerts", "read")

    body = feed.stream(
        hub,
        start,
        twin=twin,
        enrich=enrich,
        still_allowed=still_allowed,
        max_s=max_s,
        heartbeat_s=feed.HEARTBEAT_S,
        auth_every_s=feed.HEARTBEAT_S,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
