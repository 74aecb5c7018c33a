"""Data sharing between departments: request, approve or reject, revoke."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends

from rescity.api.errors import ApiError
from rescity.api.routers._common import ERRORS, RecordId
from rescity.api.schemas import GrantIn, GrantOut, NoteIn
from rescity.api.security import Context, context, require
from rescity.govern.principal import Principal

router = APIRouter(tags=["grants"], responses=ERRORS)


@router.get("/grants", response_model=list[GrantOut], summary="Grants your department gives or receives")
def list_grants(
    status: Literal["pending", "approved", "rejected", "revoked"] | None = None,
    p: Principal = Depends(require("grants", "read")),
    ctx: Context = Depends(context),
):
    return ctx.store.list_grants(department=None if p.is_platform_admin else p.department, status=status)


@router.post(
    "/grants",
    response_model=GrantOut,
    status_code=201,
    summary="Ask the owning department to let your department read its data in full",
)
def request_grant(
    body: GrantIn, p: Principal = Depends(require("grants", "request")), ctx: Context = Depends(context)
):
    return ctx.store.request_grant(body.resource, body.reason, actor=p)


@router.get("/grants/{grant_id}", response_model=GrantOut, summary="One grant")
def get_grant(
    grant_id: RecordId, p: Principal = Depends(require("grants", "read")), ctx: Context = Depends(context)
):
    g = ctx.store.get_grant(grant_id)
    if not p.is_platform_admin and p.department not in (g["owner"], g["grantee"]):
        raise ApiError(403, f"grant {grant_id} is between {g['owner']} and {g['grantee']}")
    return g


@router.post("/grants/{grant_id}/approve", response_model=GrantOut, summary="Approve a pending grant (owner)")
def approve(
    grant_id: RecordId,
    body: NoteIn,
    p: Principal = Depends(require("grants", "decide")),
    ctx: Context = Depends(context),
):
    return ctx.store.decide_grant(grant_id, True, body.note, actor=p)


@router.post("/grants/{grant_id}/reject", response_model=GrantOut, summary="Reject a pending grant (owner)")
def reject(
    grant_id: RecordId,
    body: NoteIn,
    p: Principal = Depends(require("grants", "decide")),
    ctx: Context = Depends(context),
):
    return ctx.store.decide_grant(grant_id, False, body.note, actor=p)


@router.post(
    "/grants/{grant_id}/revoke", response_model=GrantOut, summary="Revoke a grant (owner or grantee)"
)
def revoke(
    grant_id: RecordId,
    body: NoteIn,
    p: Principal = Depends(require("grants", "request")),
    ctx: Context = Depends(context),
):
    return ctx.store.revoke_grant(grant_id, body.note, actor=p)
