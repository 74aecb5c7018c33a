"""Assets: filtered, paged lists with per-system access levels; live status updates."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from rescity.api.errors import ApiError
from rescity.api.routers._common import ERRORS, Filter, IdText, Limit, Offset, TwinName, page
from rescity.api.schemas import AssetOut, AssetStatus, Page, StatusBatch, StatusIn, StatusResult, System
from rescity.api.security import Context, allows, context, require, via_grant_only
from rescity.govern.departments import asset_resource
from rescity.govern.principal import Principal
from rescity.twin.systems import systems as system_names

router = APIRouter(tags=["assets"], responses=ERRORS)

STATUS_ONLY = ("asset_id", "system", "kind", "unit_id", "status", "status_at")


def access_levels(request: Request, p: Principal) -> dict[str, str]:
    """``system -> 'full' | 'status'`` for the systems ``p`` may see at all."""
    out = {}
    for s in system_names():
        if allows(request, p, asset_resource(s), "read"):
            out[s] = "full"
        elif allows(request, p, asset_resource(s), "read_status"):
            out[s] = "status"
    return out


def shape(row: dict, level: str) -> dict:
    if level == "full":
        return {"access": "full", **row}
    return {"access": "status", **{k: row[k] for k in STATUS_ONLY}}


def _audit_shared(request: Request, p: Principal, ctx: Context, twin: str, systems: set[str], n: int) -> None:
    shared = sorted(s for s in systems if via_grant_only(request, p, asset_resource(s), "read"))
    if shared:
        ctx.store.audit(p, "read.shared", f"twins/{twin}/assets", {"systems": shared, "rows": n})


@router.get(
    "/twins/{twin}/assets",
    response_model=Page[AssetOut],
    response_model_exclude_unset=True,
    summary="Assets, filtered by system, kind, unit and status; paged",
    description="Rows of systems your department owns (or was granted) come in full; others as status only.",
)
def list_assets(
    request: Request,
    twin: TwinName,
    system: System | None = None,
    kind: Filter = None,
    unit_id: Filter = None,
    status: AssetStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("assets", "read")),
    ctx: Context = Depends(context),
):
    levels = access_levels(request, p)
    if system is not None and system not in levels:
        raise ApiError(403, f"department {p.department!r} may not see {system} assets")
    systems = system if system is not None else (None if len(levels) == len(system_names()) else list(levels))
    found, total = ctx.store.asset_rows(
        twin, system=systems, kind=kind, unit_id=unit_id, status=status, limit=limit, offset=offset
    )
    rows = [shape(r, levels[r["system"]]) for r in found]
    _audit_shared(request, p, ctx, twin, {r["system"] for r in rows if r["access"] == "full"}, len(rows))
    return page(rows, total, limit, offset)


@router.get(
    "/twins/{twin}/assets/{asset_id}",
    response_model=AssetOut,
    response_model_exclude_unset=True,
    summary="One asset",
)
def get_asset(
    request: Request,
    twin: TwinName,
    asset_id: IdText,
    p: Principal = Depends(require("assets", "read")),
    ctx: Context = Depends(context),
):
    row = ctx.store.get_asset(twin, asset_id)
    levels = access_levels(request, p)
    if row["system"] not in levels:
        raise ApiError(403, f"department {p.department!r} may not see {row['system']} assets")
    if levels[row["system"]] == "full":
        _audit_shared(request, p, ctx, twin, {row["system"]}, 1)
    return shape(row, levels[row["system"]])


def _check_write(request: Request, p: Principal, systems: set[str]) -> None:
    bad = sorted(s for s in systems if not allows(request, p, asset_resource(s), "write_status"))
    if bad:
        raise ApiError(
            403,
            f"department {p.department!r} may not set the status of {', '.join(bad)} assets; the owning "
            "department's operators do",
        )


@router.put(
    "/twins/{twin}/assets/{asset_id}/status",
    response_model=StatusResult,
    summary="Set one asset's live status",
)
def put_status(
    request: Request,
    twin: TwinName,
    asset_id: IdText,
    body: StatusIn,
    p: Principal = Depends(require("assets", "write_status")),
    ctx: Context = Depends(context),
):
    system = ctx.store.asset_systems(twin, [asset_id]).get(asset_id)
    if system is None:
        raise ApiError(404, f"twin {twin!r} has no asset {asset_id!r}")
    _check_write(request, p, {system})
    upd = {"asset_id": asset_id, "status": body.status, "at": body.at, "source": body.source}
    return ctx.store.set_asset_status(twin, [upd], actor=p, source=body.source or p.username)


@router.post(
    "/twins/{twin}/assets/status",
    response_model=StatusResult,
    summary="Set the live status of many assets at once",
)
def post_status(
    request: Request,
    twin: TwinName,
    body: StatusBatch,
    p: Principal = Depends(require("assets", "write_status")),
    ctx: Context = Depends(context),
):
    systems = ctx.store.asset_systems(twin, [u.asset_id for u in body.updates])
    _check_write(request, p, set(systems.values()))
    return ctx.store.set_asset_status(
        twin, [u.model_dump() for u in body.updates], actor=p, source=p.username
    )
