"""Live sensing over HTTP: post NGSI-LD entities, read dead letters and the nowcast.

``POST /sense/entities`` takes what MQTT takes (one entity or an array) and gives it the same
treatment: validation (refused entities become dead letters, with the reason), the warning
rules (their memory rebuilt from the store for the stations in the request), asset status, and
a nowcast when a status changed. Alerts raised here go out on MQTT through the outbox of a
running ``rescity sense``.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from rescity.api.errors import ApiError, respond
from rescity.api.routers._common import ERRORS, Limit, Offset, page
from rescity.api.schemas import Page
from rescity.api.security import Context, allows, context, require
from rescity.govern.departments import asset_resource
from rescity.govern.principal import Principal

router = APIRouter(tags=["sense"], responses=ERRORS)

TwinQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="the stored twin (Device entities name its assets)",
    ),
]

#: Largest request body, bytes, and most entities in one request.
MAX_BYTES = 8 * 1024 * 1024
MAX_ENTITIES = 10_000

_ENTITY_SCHEMA = {
    "type": "object",
    "description": "An NGSI-LD entity (WeatherObserved, WaterObserved, FloodMonitoring, Device), normalized "
    "or key-values; see docs/sense.md",
    "required": ["id", "type"],
    "properties": {"id": {"type": "string"}, "type": {"type": "string"}},
    "additionalProperties": True,
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _ENTITY_SCHEMA,
                        {"type": "array", "items": _ENTITY_SCHEMA, "maxItems": MAX_ENTITIES},
                    ]
                },
                "example": {
                    "id": "urn:ngsi-ld:WeatherObserved:W331082",
                    "type": "WeatherObserved",
                    "precipitation": {
                        "type": "Property",
                        "value": 12.5,
                        "unitCode": "MMT",
                        "observedAt": "2019-08-09T14:00:00Z",
                    },
                    "windSpeed": {
                        "type": "Property",
                        "value": 24.0,
                        "unitCode": "MTS",
                        "observedAt": "2019-08-09T14:00:00Z",
                    },
                },
            }
        },
    }
}


class DeadLetterIn(BaseModel):
    index: int | None
    reason: str
    detail: str
    field: str | None
    entity_id: str | None


class IngestOut(BaseModel):
    entities: int
    stored: int
    duplicates: int
    dead_letters: list[DeadLetterIn]
    alerts: list[int]
    closed_alerts: list[int]
    status_changed: bool
    nowcast: int | None


class DeadLetterOut(BaseModel):
    id: int
    received_at: str
    source: str
    topic: str
    reason: str
    detail: str
    field: str | None
    entity_id: str | None
    entity_type: str | None
    payload: str


class DeadLetterPage(Page[DeadLetterOut]):
    counts: dict[str, int]


class NowcastOut(BaseModel):
    id: int
    twin: str
    created_at: str
    observed_at: str
    horizon_h: float
    down_assets: int
    totals: dict[str, Any]
    units: list[dict[str, Any]]
    assets: dict[str, Any]
    created_by: str


_PROCESSORS: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def _processor(store: Any, twin: str):
    """A processor per store and twin (its station table, rules and asset ids read once)."""
    from rescity.sense.processor import Processor

    key = (id(store), twin, store.twin_key(twin)[:2] if store.has_twin(twin) else None)
    p = _PROCESSORS.get(key)
    if p is None or p.store is not store:
        p = Processor(store, twin)
        if len(_PROCESSORS) > 16:
            _PROCESSORS.clear()
        _PROCESSORS[key] = p
    return p


def _ingest(request: Request, p: Principal, ctx: Context, raw: bytes, twin: str) -> dict[str, Any]:
    import json

    store = ctx.store
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        data = None
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_ENTITIES:
        raise ApiError(413, f"at most {MAX_ENTITIES} entities per request; split the array")
    with _LOCK:
        proc = _processor(store, twin)
        # first pass: who may post what (asset status needs write_status on the asset's system)
        pre = proc.normalise(raw, source="http")
        assets = sorted({o.asset_id for o in pre.observations if o.asset_id})
        if assets:
            systems = store.asset_systems(twin, assets)
            for s in sorted(set(systems.values())):
                if not allows(request, p, asset_resource(s), "write_status"):
                    raise ApiError(
                        403,
                        f"role {p.role!r} in department {p.department!r} may not report the status of {s} assets; "
                        "the department owning them (or its sensor accounts) may",
                    )
        proc.actor = Principal(p.username, p.department, p.role)
        proc.reset()
        sensors = sorted({o.sensor_id for o in pre.observations if o.asset_id is None})
        if sensors:
            proc.warm(sensors=sensors, until_t=max(o.t for o in pre.observations if o.asset_id is None))
        res = proc.process([(raw, "", "http")])
        nc = None
        if res.status_changed:
            out = proc.nowcast(res.status_t)
            nc = out["id"] if out else None
    dead = []
    # the dead letters of this request, in order (the first pass saw the same entities)
    for i, d in enumerate(pre.dead):
        dead.append(
            {
                "index": i if len(items) > 1 else None,
                "reason": d.reason,
                "detail": d.detail,
                "field": d.field,
                "entity_id": d.entity_id,
            }
        )
    return {
        "entities": res.entities,
        "stored": res.stored,
        "duplicates": res.duplicates,
        "dead_letters": dead,
        "alerts": res.alert_ids,
        "closed_alerts": res.closed_ids,
        "status_changed": res.status_changed,
        "nowcast": nc,
    }


@router.post(
    "/sense/entities",
    response_model=IngestOut,
    status_code=201,
    summary="Post NGSI-LD sensor entities (one or an array): validated, stored, rules applied",
    description="Refused entities are stored as dead letters and listed in the answer; when none is accepted the "
    "answer is 422. Duplicates (same station, quantity and time) are stored once. A Device status needs "
    "write_status on the asset's system.",
    openapi_extra=_BODY,
)
async def post_entities(
    request: Request,
    twin: TwinQuery = "zhejiang",
    p: Principal = Depends(require("sense", "write")),
    ctx: Context = Depends(context),
):
    raw = await request.body()
    if len(raw) > MAX_BYTES:
        raise ApiError(413, f"the body is larger than {MAX_BYTES // (1024 * 1024)} MiB; split it")
    out = await run_in_threadpool(_ingest, request, p, ctx, raw, twin)
    if out["stored"] == 0 and out["duplicates"] == 0 and out["dead_letters"]:
        first = out["dead_letters"][0]
        return respond(
            422,
            f"no entity was accepted: {first['reason']}: {first['detail']} (stored as a dead letter)",
            field=first["field"],
            details=out["dead_letters"],
        )
    return out


@router.get(
    "/sense/dead-letters",
    response_model=DeadLetterPage,
    summary="Refused sensor messages with the reason, newest first",
)
def dead_letters(
    reason: str | None = Query(None, min_length=1, max_length=64, pattern=r"^[a-z_]+$"),
    source: Literal["mqtt", "http"] | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("sense", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.list_dead_letters(reason=reason, source=source, limit=limit, offset=offset)
    return page(rows, total, limit, offset, counts=ctx.store.dead_letter_counts())


@router.get(
    "/nowcast",
    response_model=NowcastOut,
    summary="The latest nowcast: people without each service now, from the assets reported down",
)
def latest_nowcast(
    twin: TwinQuery = "zhejiang",
    p: Principal = Depends(require("nowcast", "read")),
    ctx: Context = Depends(context),
):
    nc = ctx.store.latest_nowcast(twin)
    if nc is None:
        raise ApiError(
            404,
            f"no nowcast for twin {twin!r} yet: asset status messages (rescity sense, or POST /api/v1/sense/entities) "
            "trigger one",
        )
    return nc
