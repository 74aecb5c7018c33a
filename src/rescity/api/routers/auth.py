"""Health, sign-in (OAuth2 password flow → JWT) and who-am-I."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request

import rescity
from rescity.api.errors import ApiError
from rescity.api.routers._common import ERRORS, TOO_MANY
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


_ANON = Principal("anonymous", "none", "none")


def _refused(ctx: Context, username: str, address: str, reason: str) -> None:
    ctx.store.audit(_ANON, "auth.login_failed", f"users/{username}", {"address": address, "reason": reason})


def _sign_in(ctx: Context, username: str, password: str, address: str) -> dict | None:
    """The blocking part of a sign-in (scrypt, store): runs in the hashing pool."""
    user = ctx.store.check_login(username, password)
    if user is None:
        _refused(ctx, username, address, "wrong username or password")
        return None
    p = Principal(user["username"], user["department"], user["role"])
    ctx.store.audit(p, "auth.login", f"users/{p.username}", {"method": "password", "address": address})
    token = auth.issue_jwt(
        ctx.store.secret("jwt_secret"),
        p.username,
        ttl_s=ctx.jwt_ttl_s,
        dept=p.department,
        cv=ctx.store.credentials_version(p.username),
    )
    return {"access_token": token, "token_type": "bearer", "expires_in": ctx.jwt_ttl_s}


@router.post(
    "/auth/token",
    response_model=TokenOut,
    responses={401: ERRORS[401], 422: ERRORS[422], **TOO_MANY},
    summary="Sign in with username and password; returns a bearer access token (JWT)",
    description="Failed sign-ins are audited and throttled per account and per client address with "
    "exponential back-off: while an account or address is locked, every attempt gets 429 with "
    "Retry-After, the right password included.",
)
async def login(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")],
    password: Annotated[str, Form(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")],
    ctx: Context = Depends(context),
) -> dict:
    address = request.client.host if request.client else "unknown"
    keys = (f"user:{username.casefold()}", f"addr:{address}")
    loop = asyncio.get_running_loop()
    wait = ctx.throttle.retry_after(*keys)
    if wait > 0:
        raise ApiError(
            429,
            f"too many failed sign-ins for this account or address; try again in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    out = await loop.run_in_executor(ctx.hasher, _sign_in, ctx, username, password, address)
    if out is None:
        lock = ctx.throttle.failed(*keys)
        if lock > 0:
            await loop.run_in_executor(
                ctx.hasher, _refused, ctx, username, address, f"locked for {lock:g} s after repeated failures"
            )
        raise ApiError(
            401,
            "wrong username or password, or the account is disabled or has no password (use an API token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    ctx.throttle.succeeded(keys[0])
    return out


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
