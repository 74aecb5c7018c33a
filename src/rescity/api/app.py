"""The FastAPI application: :func:`create_app`."""

from __future__ import annotations

import contextlib
import logging
import os
import socket

from fastapi import FastAPI

import rescity
from rescity.api import errors
from rescity.api.jobs import JobRunner
from rescity.api.security import Context
from rescity.govern.policy import Policy
from rescity.govern.privacy import privacy_k
from rescity.store import Store, open_store

log = logging.getLogger("rescity.api")

PREFIX = "/api/v1"

DESCRIPTION = """\
The rescity platform API: twins and their assets, scenario and forecast runs, forecasts,
observations, alerts, decisions, metrics and reports, shared between city departments.

Sign in with `POST /api/v1/auth/token` (username and password) or use an API token; send
`Authorization: Bearer <token>` on every other request. What you may see and do depends on your
department and role (see `GET /api/v1/auth/me`). Every error has the body
`{"error": {"status", "code", "message", "field", "value", "details"}}`.
"""


def _alive(worker: str) -> bool:
    """Whether the process named ``host:pid`` still runs (other hosts: assume it does)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def create_app(
    store_url: str | None = None,
    *,
    store: Store | None = None,
    policy: Policy | None = None,
    workers: int = 2,
    privacy_threshold: int | None = None,
    jwt_ttl_s: int = 3600,
    threads: int = 16,
    max_queue: int = 32,
    isolation: str = "process",
    limits: dict | None = None,
    max_body_bytes: int = 8 * 2**20,
) -> FastAPI:
    """Build the API app.

    Parameters
    ----------
    store_url:
        Store to open (see :func:`rescity.store.open_store`); ignored when ``store`` is given.
    store:
        An open store to use (the caller closes it).
    policy:
        Access policy; the packaged casbin model and policy by default.
    workers:
        Runs executed at once, each in a worker process the service starts and supervises.
    privacy_threshold:
        k of the small-cell rule (default ``RESCITY_PRIVACY_K`` or 10).
    jwt_ttl_s:
        Lifetime of access tokens from the password flow, seconds.
    threads:
        Threads that serve requests (each holds a store connection while it works).
    max_queue:
        Runs that may wait for a worker; more are refused with 429.
    isolation:
        ``"process"`` (runs in worker processes) or ``"thread"`` (in this process; embedding only).
    limits:
        ``role -> RoleLimits`` on runs (default the packaged ``govern/rules/limits.csv``).
    max_body_bytes:
        Largest request body accepted; larger ones get 413 before any authentication work.
    """
    own_store = store is None
    st = store if store is not None else open_store(store_url)
    ctx = Context(
        store=st,
        policy=policy or Policy(),
        runner=JobRunner(st, workers=workers, max_queue=max_queue, isolation=isolation, limits=limits),
        privacy_k=privacy_k(privacy_threshold),
        jwt_ttl_s=jwt_ttl_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio.to_thread

        # Route handlers run in a thread pool; as many threads as pooled store connections keeps
        # them from queueing on the GIL and on the pool (the default is 40 threads).
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        gone = st.fail_orphan_runs(_alive)
        if gone:
            log.warning("marked %d interrupted run(s) as failed", len(gone))
        yield
        ctx.runner.shutdown(wait=False)
        if own_store:
            st.close()

    app = FastAPI(
        title="rescity",
        version=rescity.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app)
    from rescity.api.bodylimit import BodyLimit

    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    from rescity.api.routers import assets, audit, auth, grants, ops, reports, runs, sense, twins, users
    from rescity.api.security import annotate

    for r in (
        auth.router,
        users.router,
        twins.router,
        assets.router,
        runs.router,
        ops.forecasts,
        ops.observations,
        ops.alerts,
        ops.decisions,
        reports.metrics,
        reports.reports,
        grants.router,
        audit.router,
        sense.router,
    ):
        annotate(r)
        app.include_router(r, prefix=PREFIX)
    from rescity.api.routers.web import install as install_dashboard

    install_dashboard(app, PREFIX)
    return app
