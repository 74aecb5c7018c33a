"""Health, sign-in (OAuth2 password flow → JWT) and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request

import rescity
from rescity.api.errors import ApiError
from rescity.api.routers._common import ERRORS
from rescity.api.schemas import Health, Me, TokenOut
from rescity.api.security import Context, context, principal
from rescity.govern import auth
from rescity.govern.principal import Principal
from rescity.twin.systems import systems

router = APIRouter(tags=["auth"])

#: Objects and actions listed by ``GET /auth/me``.
OBJECTS: dict[str, tuple[str, ...]] = {
    "twins": ("read", "write"),
    "units": ("read",),
    "assets": ("read", "write_status"),
    **{f"assets/{s}": ("read", "read_status", "write_status") for s in systems()},
    "population/aggregate": ("read",),
    "population/microdata": ("read",),
    "runs": ("read", "write"),
    "forecasts": ("read", "write"),
    "observations": ("read", "write"),
    "alerts": ("read", "write"),
    "decisions": ("read", "write", "decide"),
    "metrics": ("read",),
    "reports": ("read",),
    "grants": ("read", "request", "decide"),
    "users": ("read", "write"),
    "tokens": ("write",),
    "audit": ("read",),
    "departments": ("read",),
}


@router.get("/health", response_model=Health, summary="Service health (no sign-in needed)")
def health(ctx: Context = Depends(context)) -> dict:
    return {
        "status": "ok",
        "version": rescity.__version__,
        "store": ctx.store.backend,
        "schema_version": ctx.store.schema_version(),
    }


@router.post(
    "/auth/token",
    response_model=TokenOut,
    responses={401: ERRORS[401], 422: ERRORS[422]},
    summary="Sign in with username and password; returns a bearer access token (JWT)",
)
def login(
    username: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")],
    password: Annotated[str, Form(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")],
    ctx: Context = Depends(context),
) -> dict:
    user = ctx.store.check_login(username, password)
    if user is None:
        raise ApiError(
            401,
            "wrong username or password, or the account is disabled or has no password (use an API token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    p = Principal(user["username"], user["department"], user["role"])
    ctx.store.audit(p, "auth.login", f"users/{p.username}", {"method": "password"})
    token = auth.issue_jwt(ctx.store.secret("jwt_secret"), p.username, ttl_s=ctx.jwt_ttl_s, dept=p.department)
    return {"access_token": token, "token_type": "bearer", "expires_in": ctx.jwt_ttl_s}


@router.get(
    "/auth/me",
    response_model=Me,
    responses={401: ERRORS[401]},
    summary="The signed-in user and what they may do",
)
def me(request: Request, p: Principal = Depends(principal), ctx: Context = Depends(context)) -> dict:
    pol = ctx.policy  # refreshed when the caller was authenticated
    user = ctx.store.get_user(p.username)
    perms = {}
    for obj, acts in OBJECTS.items():
        ok = [a for a in acts if pol.allows(p.role, p.department, obj, a)]
        if ok:
            perms[obj] = ok
    return {**{k: user[k] for k in ("username", "department", "role", "full_name")}, "permissions": perms}
