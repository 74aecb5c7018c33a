"""Departments, roles, users and their API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from rescity.api.errors import ApiError
from rescity.api.routers._common import ERRORS, IdText
from rescity.api.schemas import (
    ApiTokenOut,
    DepartmentOut,
    RoleOut,
    TokenIn,
    TokenInfo,
    UserIn,
    UserOut,
    UserPatch,
)
from rescity.api.security import Context, context, require
from rescity.govern.principal import Principal

router = APIRouter(tags=["users"], responses=ERRORS)


def _same_department(p: Principal, department: str) -> None:
    if not p.is_platform_admin and p.department != department:
        raise ApiError(403, f"a {p.department} administrator manages only {p.department} users")


def _self_or_admin(p: Principal, ctx: Context, username: str) -> dict:
    user = ctx.store.get_user(username)
    if p.username != username:
        if p.role != "admin":
            raise ApiError(403, "only administrators manage other users' tokens")
        _same_department(p, user["department"])
    return user


@router.get("/departments", response_model=list[DepartmentOut], summary="Departments and the data each owns")
def departments(p: Principal = Depends(require("departments", "read")), ctx: Context = Depends(context)):
    return ctx.store.departments()


@router.get("/roles", response_model=list[RoleOut], summary="Roles, weakest first")
def roles(p: Principal = Depends(require("departments", "read")), ctx: Context = Depends(context)):
    return ctx.store.roles()


@router.get(
    "/users", response_model=list[UserOut], summary="Users (a department admin sees their own department)"
)
def list_users(p: Principal = Depends(require("users", "read")), ctx: Context = Depends(context)):
    return ctx.store.list_users(department=None if p.is_platform_admin else p.department)


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user")
def add_user(
    body: UserIn, p: Principal = Depends(require("users", "write")), ctx: Context = Depends(context)
):
    _same_department(p, body.department)
    if body.department == "platform" and not p.is_platform_admin:
        raise ApiError(403, "only platform administrators add platform users")
    return ctx.store.add_user(
        body.username, body.department, body.role, password=body.password, full_name=body.full_name, actor=p
    )


@router.get("/users/{username}", response_model=UserOut, summary="One user")
def get_user(
    username: IdText, p: Principal = Depends(require("users", "read")), ctx: Context = Depends(context)
):
    user = ctx.store.get_user(username)
    _same_department(p, user["department"])
    return user


@router.patch(
    "/users/{username}", response_model=UserOut, summary="Change a user's role, department, password or state"
)
def patch_user(
    username: IdText,
    body: UserPatch,
    p: Principal = Depends(require("users", "write")),
    ctx: Context = Depends(context),
):
    user = ctx.store.get_user(username)
    _same_department(p, user["department"])
    if body.department is not None:
        _same_department(p, body.department)
    return ctx.store.update_user(username, **body.model_dump(exclude_none=True), actor=p)


@router.get(
    "/users/{username}/tokens", response_model=list[TokenInfo], summary="A user's API tokens (no secrets)"
)
def list_tokens(
    username: IdText, p: Principal = Depends(require("tokens", "write")), ctx: Context = Depends(context)
):
    _self_or_admin(p, ctx, username)
    return ctx.store.list_tokens(username)


@router.post(
    "/users/{username}/tokens",
    response_model=ApiTokenOut,
    status_code=201,
    summary="Make an API token (shown once)",
)
def add_token(
    username: IdText,
    body: TokenIn,
    p: Principal = Depends(require("tokens", "write")),
    ctx: Context = Depends(context),
):
    _self_or_admin(p, ctx, username)
    return ctx.store.add_token(username, label=body.label, expires_days=body.expires_days, actor=p)


@router.delete("/users/{username}/tokens/{token_id}", status_code=204, summary="Revoke an API token")
def revoke_token(
    username: IdText,
    token_id: IdText,
    p: Principal = Depends(require("tokens", "write")),
    ctx: Context = Depends(context),
):
    _self_or_admin(p, ctx, username)
    ctx.store.revoke_token(username, token_id, actor=p)
    return Response(status_code=204)
