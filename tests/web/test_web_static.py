"""The dashboard's page and static files: served without sign-in and holding no data, offline
(no third-party URL), vendored map library with its licence and version, both languages
complete, colours with WCAG AA contrast."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from rescity.web import static_dir  # noqa: E402

STATIC = static_dir()
OWN_FILES = [p for p in STATIC.rglob("*") if p.is_file() and "vendor" not in p.parts]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from rescity.api import create_app
    from rescity.store import open_store

    st = open_store(f"sqlite:///{tmp_path_factory.mktemp('web-static') / 'rescity.db'}")
    app = create_app(store=st, workers=1)
    with TestClient(app) as c:
        yield c
    st.close()


# -- serving ----------------------------------------------------------------------------------
def test_page_and_static_files_need_no_sign_in(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="login-form"' in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "connect-src 'self'" in csp
    assert re.search(r"img-src 'self' data:;", csp)  # no tile server by default
    for path in (
        "/static/js/main.js",
        "/static/css/app.css",
        "/static/vendor/leaflet/leaflet.js",
        "/static/i18n.json",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/static/../rescity.db").status_code == 404
    assert client.get("/dashboard-config.json").json() == {"tiles": None, "tiles_attribution": ""}


def test_a_configured_tile_layer_is_announced_and_allowed(client):
    app = client.app
    app.state.tiles_url = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    try:
        assert client.get("/dashboard-config.json").json()["tiles"] == app.state.tiles_url
        assert (
            "img-src 'self' data: https://*.tiles.example.org;"
            in client.get("/").headers["content-security-policy"]
        )
    finally:
        app.state.tiles_url = None


def route_paths(routes, prefix: str = ""):
    """Paths of routes, through included routers (a list of routes, or FastAPI ≥ 0.16x's
    included-router entries that keep the original router and its prefix)."""
    for r in routes:
        sub = getattr(r, "original_router", None)
        if sub is not None:
            yield from route_paths(sub.routes, prefix + r.include_context.prefix)
        else:
            yield prefix + r.path


def test_only_the_page_and_its_files_are_outside_the_api_document(client):
    """Every route that can answer with data is in the OpenAPI document (where the platform's
    tests check that it refuses anonymous callers); the rest is the page, its settings, its
    static files and the API docs."""
    app = client.app
    documented = set(app.openapi()["paths"])
    undocumented = {p for p in route_paths(app.routes) if p not in documented}
    assert undocumented == {
        "/",
        "/dashboard-config.json",
        "/fonts/rescity-cjk.ttf",
        "/static",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
    }
    dash = {p for p in documented if p.startswith("/api/v1/dashboard") or p == "/api/v1/alerts/stream"}
    assert len(dash) == 11
    for path in dash:
        ops = app.openapi()["paths"][path]
        assert all(op["x-rescity-access"]["authenticated"] for op in ops.values()), path
    # /alerts/stream is matched before /alerts/{alert_id}
    assert client.get("/api/v1/alerts/stream").status_code == 401


# -- offline ----------------------------------------------------------------------------------
def test_no_third_party_urls_in_the_page_or_scripts():
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith(("/", "#", "data:")) for r in refs), refs
    for p in OWN_FILES:
        if p.suffix in (".js", ".css", ".html"):
            urls = set(re.findall(r"https?://[^\s\"'`)]+", p.read_text(encoding="utf-8")))
            assert urls <= {"http://www.w3.org/2000/svg"}, (p.name, urls)
    vendor = (STATIC / "vendor" / "leaflet" / "leaflet.js").read_text(encoding="utf-8")
    assert "{z}/{x}/{y}" not in vendor and "tile.openstreetmap" not in vendor


def test_vendored_leaflet_is_the_version_its_sources_note_names():
    d = STATIC / "vendor" / "leaflet"
    note = (d / "SOURCES.md").read_text(encoding="utf-8")
    version = re.search(r"# Leaflet (\d+\.\d+\.\d+)", note).group(1)
    assert (
        f"Leaflet {version}, a JS library for interactive maps"
        in (d / "leaflet.js").read_text(encoding="utf-8")[:300]
    )
    assert f"leaflet@{version}" in note and re.search(r"sha256 [0-9a-f]{64}", note)
    assert "BSD 2-Clause License" in (d / "LICENSE").read_text(encoding="utf-8")
    script = Path(__file__).resolve().parents[2] / "scripts" / "update_vendor.sh"
    assert script.exists() and "npm pack" in script.read_text()


# -- languages --------------------------------------------------------------------------------
def used_keys() -> set[str]:
    keys = set()
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    keys |= set(re.findall(r'data-i18n(?:-aria)?="([a-z0-9_]+)"', html))
    for p in (STATIC / "js").glob("*.js"):
        src = p.read_text(encoding="utf-8")
        keys |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']""", src))
    # keys built from data values
    for prefix, values in {
        "warn_": ("none", "blue", "yellow", "orange", "red"),
        "sys_": ("power", "water", "road", "telecom", "facility"),
        "status_": ("up", "down", "unknown"),
        "lvl_": ("province", "prefecture", "county", "cell"),
        "alert_status_": ("open", "acknowledged", "closed"),
        "feed_": ("live", "connecting", "reconnecting"),
    }.items():
        keys |= {prefix + v for v in values}
    keys |= {f"warn_{x}_note" for x in ("blue", "yellow", "orange", "red")}
    keys |= {"ind_composite", "ind_relocate", "assets_points", "assets_clusters", "pause", "play"}
    return keys


def test_every_text_is_in_both_languages():
    d = json.loads((STATIC / "i18n.json").read_text(encoding="utf-8"))
    assert set(d["en"]) == set(d["zh"])
    missing = used_keys() - set(d["en"])
    assert not missing, sorted(missing)
    han = re.compile(r"[\u4e00-\u9fff]")
    for k, v in d["zh"].items():
        assert v.strip() and d["en"][k].strip(), k
        assert han.search(v) or k in {"qt_title"}, (k, v)  # Chinese text, except formula-only labels
    for k in ("frame_label", "qt_summary", "cluster_tip"):
        assert set(re.findall(r"\{\w+\}", d["en"][k])) == set(re.findall(r"\{\w+\}", d["zh"][k])), k


# -- contrast ---------------------------------------------------------------------------------
def _lin(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_: str) -> float:
    """Relative luminance (WCAG 2.1, definition of relative luminance; sRGB)."""
    h = hex_.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.2126 * _lin(r) + 0.7152 * _lin(g) + 0.0722 * _lin(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_against_published_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic AA near-miss
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the lightest AA grey on white


def test_dashboard_colours_meet_wcag_aa():
    css = (STATIC / "css" / "app.css").read_text(encoding="utf-8")
    v = dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})", css))
    text_pairs = [
        ("fg", "bg"), ("fg", "panel"), ("muted", "bg"), ("muted", "panel"), ("accent-fg", "accent"),
        ("accent", "bg"), ("header-fg", "header-bg"), ("error", "bg"), ("error", "panel"), ("fg", "map-bg"),
    ] + [(f"badge-{x}-fg", f"badge-{x}-bg") for x in ("blue", "yellow", "orange", "red", "none")]  # fmt: skip
    for a, b in text_pairs:
        assert contrast(v[a], v[b]) >= 4.5, (a, b, round(contrast(v[a], v[b]), 2))
    # focus ring and control borders: non-text contrast ≥ 3 (WCAG 2.1 SC 1.4.11)
    for a, b in [("focus", "bg"), ("focus", "panel"), ("line", "bg")]:
        assert contrast(v[a], v[b]) >= 3.0, (a, b, round(contrast(v[a], v[b]), 2))
    for cls in ("up", "down", "unknown"):
        m = re.search(rf"\.cluster-{cls} \{{ background: (#[0-9a-f]{{6}}); color: (#[0-9a-f]{{6}})", css)
        assert contrast(m.group(1), m.group(2)) >= 4.5, cls


def test_serve_tiles_option_reaches_the_page(tmp_path):
    import httpx

    import web_support as ws

    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    with ws.serve(
        f"sqlite:///{tmp_path / 'rescity.db'}", tmp_path, tmp_path / "serve.log", ("--tiles", url)
    ) as base:
        assert httpx.get(f"{base}/dashboard-config.json").json()["tiles"] == url
        csp = httpx.get(f"{base}/").headers["content-security-policy"]
        assert "img-src 'self' data: https://tiles.example.org;" in csp
    assert "dashboard at http://127.0.0.1:" in (tmp_path / "serve.log").read_text()


def test_the_packaged_chinese_font_is_served_without_sign_in(client):
    from rescity.report.fonts import font_path

    r = client.get("/fonts/rescity-cjk.ttf")
    assert r.status_code == 200 and r.headers["content-type"].startswith("font/ttf")
    assert r.content == font_path().read_bytes()
    css = client.get("/static/css/app.css").text
    assert 'font-family: "rescity-cjk"' in css and "/fonts/rescity-cjk.ttf" in css
