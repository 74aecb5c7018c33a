"""The audit log: read it, check its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from rescity.api.routers._common import ERRORS, Filter, Limit, Offset, page
from rescity.api.schemas import AuditEntry, AuditHead, AuditVerification, Page
from rescity.api.security import Context, context, require
from rescity.govern.principal import Principal

router = APIRouter(tags=["audit"], responses=ERRORS)


@router.get("/audit", response_model=Page[AuditEntry], summary="Audit entries, oldest first")
def entries(
    actor: Filter = None,
    action: Filter = None,
    since_seq: Annotated[int, Query(ge=0, le=2**53)] = 0,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("audit", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.audit_entries(
        actor=actor, action=action, since_seq=since_seq, limit=limit, offset=offset
    )
    ctx.store.audit(
        p, "read.restricted", "audit", {"rows": len(rows), "since_seq": since_seq, "offset": offset}
    )
    return page(rows, total, limit, offset)


@router.get(
    "/audit/head", response_model=AuditHead, summary="The chain head: publish it to detect a rewrite later"
)
def head(p: Principal = Depends(require("audit", "read")), ctx: Context = Depends(context)):
    return ctx.store.audit_head()


@router.get("/audit/verify", response_model=AuditVerification, summary="Check every link of the audit chain")
def verify(p: Principal = Depends(require("audit", "read")), ctx: Context = Depends(context)):
    return ctx.store.verify_audit().as_dict()
