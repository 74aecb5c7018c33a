"""Twins, their units, and population tables (with the privacy rule)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response

from rescity.api.errors import ApiError
from rescity.api.routers._common import ERRORS, Filter, Limit, Offset, TwinName, page, records
from rescity.api.schemas import Level, Page, PopulationPage, TwinInfo, TwinOut, UnitOut
from rescity.api.security import Context, allows, context, require
from rescity.govern import privacy
from rescity.govern.departments import POPULATION_AGGREGATE, POPULATION_MICRODATA, owner_of
from rescity.govern.principal import Principal

router = APIRouter(tags=["twins"], responses=ERRORS)

_UNIT_COLS = ("unit_id", "level", "parent_id", "name_zh", "name_en", "lon", "lat", "area_km2")
_COUNTS = ["population", "households", "age_0_14", "age_65_plus"]


@router.get("/twins", response_model=list[TwinOut], summary="Stored twins")
def list_twins(p: Principal = Depends(require("twins", "read")), ctx: Context = Depends(context)):
    return ctx.store.list_twins()


@router.get(
    "/twins/{twin}", response_model=TwinInfo, summary="A twin: units by level, assets by system, kind, status"
)
def get_twin(
    twin: TwinName, p: Principal = Depends(require("twins", "read")), ctx: Context = Depends(context)
):
    return ctx.store.twin_info(twin)


@router.delete("/twins/{twin}", status_code=204, summary="Delete a twin (platform administrators)")
def delete_twin(
    twin: TwinName, p: Principal = Depends(require("twins", "write")), ctx: Context = Depends(context)
):
    ctx.store.delete_twin(twin, actor=p)
    return Response(status_code=204)


@router.get(
    "/twins/{twin}/units",
    response_model=Page[UnitOut],
    summary="Administrative units and grid cells (no people)",
)
def list_units(
    twin: TwinName,
    limit: Limit = 100,
    offset: Offset = 0,
    level: Level | None = None,
    parent_id: Filter = None,
    p: Principal = Depends(require("units", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.unit_rows(
        twin, level=level, parent_id=parent_id, columns=_UNIT_COLS, limit=limit, offset=offset
    )
    return page(rows, total, limit, offset)


def _released(df, raw: bool, k: int, owner: str) -> tuple[list[dict], dict]:
    """JSON rows of a population table as released to a department, and the privacy note."""
    if raw:
        mask = np.zeros((len(df), len(_COUNTS)), bool)
        info = {
            "suppressed": False,
            "k": None,
            "withheld_values": 0,
            "owner": owner,
            "note": f"Unsuppressed: you are in the owning department ({owner}).",
        }
    else:
        df, m, s = privacy.suppress(df, _COUNTS, k)
        mask = m.to_numpy()
        info = {
            "suppressed": True,
            "k": k,
            "withheld_values": s.total,
            "owner": owner,
            "note": privacy.note(s, owner),
        }
    rows = records(df[["unit_id", "level", "parent_id", "name_zh", "name_en", *_COUNTS]])
    for row, mrow in zip(rows, mask, strict=True):
        row["suppressed"] = [c for c, hit in zip(_COUNTS, mrow, strict=True) if hit]
        for c in _COUNTS:
            if row[c] is not None:
                row[c] = int(row[c])
    return rows, info


@router.get(
    "/twins/{twin}/population",
    response_model=PopulationPage,
    summary="People per unit; small counts withheld outside the owning department",
    description="Counts of people (population, households, children 0–14, elderly 65+) per unit of one "
    "level. "
    "Grid cells (`level=cell`) are population microdata, restricted by policy and audited on every read. "
    "Released outside the owning department, counts of fewer than k people are withheld (null) and the "
    "`privacy` block says so.",
)
def population(
    request: Request,
    twin: TwinName,
    level: Annotated[Level, Query()] = "county",
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require(POPULATION_AGGREGATE, "read")),
    ctx: Context = Depends(context),
):
    micro = level == "cell"
    obj = POPULATION_MICRODATA if micro else POPULATION_AGGREGATE
    owner = owner_of(POPULATION_MICRODATA) or "planning"
    if micro and not allows(request, p, POPULATION_MICRODATA, "read"):
        raise ApiError(
            403,
            f"grid-cell population is restricted; department {p.department!r} may not read it. Ask "
            f"{owner} for "
            "access: POST /api/v1/grants with resource 'population/microdata'",
        )
    raw = p.department == owner
    key = ("population", *ctx.store.twin_key(twin)[:2], level, None if raw else ctx.privacy_k)
    hit = ctx.memo.get(key)
    if hit is None:
        hit = ctx.memo.put(key, _released(ctx.store.population(twin, level), raw, ctx.privacy_k, owner))
    all_rows, info = hit
    total = len(all_rows)
    rows = [dict(r) for r in all_rows[offset : offset + limit]]
    if micro:
        ctx.store.audit(
            p,
            "read.restricted",
            f"twins/{twin}/population/{level}",
            {"object": obj, "rows": len(rows), "offset": offset, "suppressed": not raw},
        )
    return page(rows, total, limit, offset, privacy=dict(info))
