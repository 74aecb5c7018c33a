"""The dashboard's front end: ``GET /`` (the page), ``/static/…`` (scripts, styles, the vendored
map library) and ``/dashboard-config.json`` (settings of the page: an optional tile layer).

These hold no data and are served without sign-in; every data call the page makes goes to the
API with the bearer token from its sign-in form. They are left out of the OpenAPI document.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from rescity.web import static_dir

router = APIRouter(include_in_schema=False)

#: Headers of the page: no third-party origins at all (the map has no CDN and no online tiles,
#: unless a tile URL is configured, whose origin is then allowed for images).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:{tiles}; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def tiles_url(request: Request) -> str | None:
    """The configured tile URL template (``rescity serve --tiles``, or ``$RESCITY_TILES``)."""
    return getattr(request.app.state, "tiles_url", None) or os.environ.get("RESCITY_TILES") or None


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    u = urlsplit(url.replace("{s}", "a"))
    return f" {u.scheme}://{u.netloc}".replace("://a.", "://*.") if u.scheme in ("http", "https") else ""


@router.get("/")
def index(request: Request) -> FileResponse:
    """The dashboard page."""
    t = tiles_url(request)
    return FileResponse(
        static_dir() / "index.html",
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": _CSP.format(tiles=_origin(t) if t else ""),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


@router.get("/fonts/rescity-cjk.ttf")
def cjk_font() -> FileResponse:
    """The packaged Chinese font (Noto Sans SC subset, OFL-1.1) the page draws Chinese with."""
    from rescity.report.fonts import font_path

    return FileResponse(
        font_path(), media_type="font/ttf", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/dashboard-config.json")
def config(request: Request):
    """Settings of the page: ``tiles`` (URL template or null), ``tiles_attribution``."""
    return JSONResponse(
        {
            "tiles": tiles_url(request),
            "tiles_attribution": getattr(request.app.state, "tiles_attribution", None)
            or os.environ.get("RESCITY_TILES_ATTRIBUTION")
            or "",
        },
        headers={"Cache-Control": "no-cache"},
    )


def install(app: FastAPI, prefix: str = "/api/v1") -> None:
    """Serve the dashboard from ``app``: its data routes (``routers.dashboard``) under ``prefix``,
    the page, its settings and its static files."""
    from rescity.api.routers import dashboard
    from rescity.api.security import annotate

    annotate(dashboard.router)
    n = len(app.router.routes)
    app.include_router(dashboard.router, prefix=prefix)
    # The dashboard's data routes go first, so that /alerts/stream is not taken for /alerts/{alert_id}.
    app.router.routes[:] = app.router.routes[n:] + app.router.routes[:n]
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=static_dir(), check_dir=True), name="static")
