"""Chinese text in figures and pages comes from the packaged font (Noto Sans SC subset, OFL), so
浙江省 and 利奇马 render as glyphs, not boxes, on a machine with no CJK system font."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from rescity.report import fonts
from rescity.report.html import Section, render_page

PLACES = "浙江省 利奇马 温岭市 衢州市 嵊州市 缙云县 鄞州区"


def test_font_and_licence_are_packaged_and_cover_every_place_name():
    from fontTools.ttLib import TTFont

    from rescity.data import path

    p = fonts.font_path()
    assert p.is_file() and (p.parent / "OFL.txt").read_text(encoding="utf-8").count("SIL Open Font License") >= 1
    cmap = TTFont(str(p)).getBestCmap()
    names = path("zhejiang_counties.geojson").read_text(encoding="utf-8")
    han = {c for c in names if "\u4e00" <= c <= "\u9fff"}
    assert han and all(ord(c) in cmap for c in han | set(PLACES.replace(" ", "")))


def _render(text: str) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1.2, 0.6), dpi=80)
    fig.text(0.1, 0.3, text, fontsize=20)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def test_matplotlib_draws_chinese_glyphs_without_a_system_font():
    import rescity.report.figures  # noqa: F401  (registers the font)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph … missing from font(s)" would raise
        a, b, c = (_render(ch) for ch in "浙江省")
    # missing glyphs draw the same box; real glyphs differ from each other and have ink
    assert (a < 128).sum() > 20 and (b < 128).sum() > 20
    assert not np.array_equal(a, b) and not np.array_equal(b, c)


def test_page_embeds_a_font_subset_with_its_characters(tmp_path):
    import re
    from base64 import b64decode

    from fontTools.ttLib import TTFont

    p = render_page("利奇马 Lekima", [Section("浙江省", "<p>温岭市 Wenling</p>")], tmp_path / "r.html")
    html = p.read_text(encoding="utf-8")
    m = re.search(r"@font-face \{ font-family: 'rescity-cjk'.*?base64,([A-Za-z0-9+/=]+)\)", html)
    assert m
    cmap = TTFont(io.BytesIO(b64decode(m.group(1)))).getBestCmap()
    assert all(ord(c) in cmap for c in "利奇马浙江省温岭市")
    assert len(m.group(1)) < 200_000  # only the page's characters, not the whole font


def _no_system_cjk_font() -> bool:
    if not shutil.which("fc-list"):
        return True
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    return not out.strip()


@pytest.mark.slow
def test_chromium_renders_chinese_from_the_embedded_font(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = os.environ.get("RESCITY_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"no Chromium at {chromium}")
    body = "".join(f"<p><span id='c{i}' style='font-size:40px'>{ch}</span></p>" for i, ch in enumerate("浙江"))
    page_path = render_page("利奇马", [Section("浙江省", body)], tmp_path / "r.html")
    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        except Exception as e:  # noqa: BLE001
            pytest.skip(f"Chromium does not start: {e}")
        pg = b.new_page()
        pg.goto(page_path.as_uri())
        pg.evaluate("document.fonts.ready")
        status = pg.evaluate("[...document.fonts].map(f => f.family + ':' + f.status)")
        assert "rescity-cjk:loaded" in status
        assert pg.evaluate("document.fonts.check('40px rescity-cjk', '浙江')")
        a = pg.locator("#c0").screenshot(path=str(shots / "zhe.png"))
        c = pg.locator("#c1").screenshot(path=str(shots / "jiang.png"))
        b.close()
    from PIL import Image

    ia = np.asarray(Image.open(io.BytesIO(a)).convert("L"))
    ic = np.asarray(Image.open(io.BytesIO(c)).convert("L"))
    # boxes (no glyph) look alike; 浙 and 江 do not
    assert (ia < 128).sum() > 50 and (ic < 128).sum() > 50
    if ia.shape == ic.shape:
        assert np.abs(ia.astype(int) - ic.astype(int)).mean() > 5
    if _no_system_cjk_font():
        # nothing else on this machine could have drawn them
        assert "rescity-cjk:loaded" in status
