"""Authentication (API tokens and JWTs) and authorisation (the casbin policy) as dependencies.

Every route depends on :func:`require` (or on :func:`principal` alone), except ``/health`` and
the login itself. The permission a route needs is attached to its dependency as
``.permission = (object, action)``, so tests and docs can list it from the app.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from rescity.api.errors import ApiError
from rescity.api.jobs import JobRunner
from rescity.govern import auth
from rescity.govern.policy import Policy
from rescity.govern.principal import Principal
from rescity.govern.throttle import LoginThrottle
from rescity.store import Store
from rescity.store.base import Memo, NotFound

TOKEN_URL = "/api/v1/auth/token"

oauth2 = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    auto_error=False,
    description="Send `Authorization: Bearer <token>` with an API token (`rct_…`, from "
    "`rescity users token` or POST /api/v1/users/{username}/tokens) or an access token from "
    "POST /api/v1/auth/token.",
)


@dataclass
class Context:
    """What the routes share: the store, the policy, the job runner and settings."""

    store: Store
    policy: Policy
    runner: JobRunner
    privacy_k: int
    jwt_ttl_s: int = 3600
    memo: Memo = field(default_factory=Memo)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    #: Password hashing runs here, off the event loop and off the threads serving other requests.
    hasher: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="rescity-scrypt")
    )

    def refresh_policy(self, version: int | None = None) -> Policy:
        """The policy with the approved grants of ``version`` (read from the store if not given)."""
        if version is None:
            version = self.store.grants_version()
        self.policy.refresh(version, self.store.active_grants)
        return self.policy


async def context(request: Request) -> Context:
    """The app's :class:`Context` (async: no thread hop)."""
    return request.app.state.ctx


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request, token: str | None) -> Principal:
    """The signed-in user; 401 when the token is missing, unknown, expired or revoked."""
    if not token:
        raise _unauthorized(
            "sign in first: send 'Authorization: Bearer <token>' with an API token or an access token "
            f"from POST {TOKEN_URL}"
        )
    ctx: Context = request.app.state.ctx
    if token.startswith(auth.TOKEN_PREFIX):
        user, version = ctx.store.user_for_token_and_grants(token)
        if user is None:
            raise _unauthorized(
                "the API token is unknown, expired or revoked; make a new one with rescity users token"
            )
    else:
        claims = auth.read_jwt(ctx.store.secret("jwt_secret"), token)
        if claims is None:
            raise _unauthorized(f"the access token is invalid or expired; sign in again at POST {TOKEN_URL}")
        try:
            user = ctx.store.get_user(str(claims["sub"]))
        except NotFound:
            user = None
        if user is None or user["disabled"]:
            raise _unauthorized("the account of this access token no longer exists or is disabled")
        if int(claims.get("cv", 0) or 0) != ctx.store.credentials_version(user["username"]):
            raise _unauthorized(
                "the access token was issued before the account's password, role or department changed; "
                f"sign in again at POST {TOKEN_URL}"
            )
        version = ctx.store.grants_version()
    p = Principal(user["username"], user["department"], user["role"])
    request.state.principal = p
    ctx.refresh_policy(version)
    return p


def principal(request: Request, token: str | None = Depends(oauth2)) -> Principal:
    """Dependency: the signed-in user (any role)."""
    return authenticate(request, token)


principal.authenticates = True  # type: ignore[attr-defined]


def require(obj: str, act: str):
    """Dependency: the signed-in user, who must be allowed ``act`` on ``obj`` (else 403).

    One synchronous dependency does both steps, so a request costs one thread hop for them.
    """

    def dependency(request: Request, token: str | None = Depends(oauth2)) -> Principal:
        p = authenticate(request, token)
        ctx: Context = request.app.state.ctx
        if not ctx.policy.allows(p.role, p.department, obj, act):
            raise ApiError(
                403,
                f"role {p.role!r} in department {p.department!r} may not {act} {obj}; ask an administrator "
                "for a role that may, or request access (POST /api/v1/grants) if another department owns "
                "the data",
            )
        return p

    dependency.permission = (obj, act)  # type: ignore[attr-defined]
    dependency.authenticates = True  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{obj.replace('/', '_')}_{act}"
    return dependency


def allows(request: Request, p: Principal, obj: str, act: str) -> bool:
    """Whether ``p`` may ``act`` on ``obj`` (data-level checks inside a route)."""
    return request.app.state.ctx.policy.allows(p.role, p.department, obj, act)


def via_grant_only(request: Request, p: Principal, obj: str, act: str) -> bool:
    """True when only an approved sharing grant allows this (such reads are audited)."""
    pol = request.app.state.ctx.policy
    return pol.allows(p.role, p.department, obj, act) and not pol.allows_without_grants(
        p.role, p.department, obj, act
    )


def route_permission(route) -> tuple[str, str] | None:
    """The ``(object, action)`` a route requires, found in its dependency tree."""
    stack = list(getattr(route, "dependant", None).dependencies) if getattr(route, "dependant", None) else []
    while stack:
        d = stack.pop()
        perm = getattr(d.call, "permission", None)
        if perm is not None:
            return perm
        stack.extend(d.dependencies)
    return None


def route_authenticated(route) -> bool:
    """Whether a route requires a signed-in user."""
    stack = list(route.dependant.dependencies) if getattr(route, "dependant", None) else []
    while stack:
        d = stack.pop()
        if getattr(d.call, "authenticates", False):
            return True
        stack.extend(d.dependencies)
    return False


def annotate(router) -> None:
    """Write each route's requirement into its OpenAPI operation as ``x-rescity-access``:
    ``{"authenticated": bool, "object": str | None, "action": str | None}``."""
    for route in router.routes:
        if not hasattr(route, "dependant"):
            continue
        perm = route_permission(route)
        extra = dict(route.openapi_extra or {})
        extra["x-rescity-access"] = {
            "authenticated": route_authenticated(route),
            "object": perm[0] if perm else None,
            "action": perm[1] if perm else None,
        }
        route.openapi_extra = extra


def release_table(
    request: Request, p: Principal, df, resource: str, *, audit_always: bool = False, cells: bool = False
):
    """A per-unit table carrying population-derived counts as ``p`` may see it.

    Grid-cell rows need ``population/microdata`` read; outside the owning department small
    counts are withheld (:mod:`rescity.govern.release`). A release with grid-cell rows (or any
    release, with ``audit_always``) is audited as ``read.restricted`` of ``resource``. Tables
    without population counts pass unchanged.
    """
    from rescity.govern import release
    from rescity.govern.departments import POPULATION_AGGREGATE, POPULATION_MICRODATA, owner_of

    if not release.is_population_table(df):
        return df
    ctx: Context = request.app.state.ctx
    if not allows(request, p, POPULATION_AGGREGATE, "read"):
        raise ApiError(
            403,
            f"this result carries population counts, which department {p.department!r} may not read",
        )
    owner = owner_of(POPULATION_MICRODATA) or "planning"
    micro = allows(request, p, POPULATION_MICRODATA, "read")
    if cells and not micro:
        raise ApiError(
            403,
            f"grid-cell population is restricted; department {p.department!r} may not read it. Ask {owner} "
            "for access: POST /api/v1/grants with resource 'population/microdata'",
        )
    r = release.release(
        df,
        microdata=micro,
        raw=p.department == owner,
        k=ctx.privacy_k,
    )
    if r.restricted or audit_always:
        ctx.store.audit(
            p,
            "read.restricted",
            resource,
            {
                "object": POPULATION_MICRODATA if r.restricted else POPULATION_AGGREGATE,
                "rows": len(r.table),
                "cell_rows": r.cells_released,
                "cell_rows_withheld": r.cells_removed,
                "values_withheld": r.withheld,
                "suppressed": r.suppressed,
            },
        )
    return r.table
