"""The packaged Chinese font (a Noto Sans SC subset, OFL-1.1) for figures and pages.

Figures and reports draw 浙江省 or 利奇马 with it whether or not the system has a CJK font:
:func:`use_in_matplotlib` registers it with matplotlib as a fallback after DejaVu Sans, and
:func:`font_face_css` embeds in a page a further subset holding only that page's characters.
"""

from __future__ import annotations

import base64
import functools
import io
from importlib import resources
from pathlib import Path

#: Family name of the packaged font.
FAMILY = "Noto Sans SC"
#: CSS family name under which pages embed it (distinct from any installed "Noto Sans SC").
CSS_FAMILY = "rescity-cjk"


def font_path() -> Path:
    """Path of the packaged TTF."""
    return Path(str(resources.files("rescity.report.fonts") / "NotoSansSC-rescity.ttf"))


@functools.cache
@functools.lru_cache(maxsize=1)
def _add_to_matplotlib() -> None:
    """Add the packaged font to matplotlib's font list, once per process (each ``addfont``
    appends another entry and empties matplotlib's font lookup cache)."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(font_path()))


def use_in_matplotlib() -> str:
    """Register the packaged font with matplotlib as the fallback after DejaVu Sans (Latin text is
    unchanged; Chinese glyphs come from the packaged font); returns the family name."""
    import matplotlib as mpl

    _add_to_matplotlib()
    # matplotlib falls back glyph by glyph only across the families named in font.family
    mpl.rcParams["font.family"] = ["DejaVu Sans", FAMILY]
    return FAMILY


@functools.lru_cache(maxsize=64)
def _subset_bytes(chars: str) -> bytes:
    from fontTools import subset

    opts = subset.Options()
    opts.flavor = None
    opts.notdef_outline = True
    opts.hinting = False
    font = subset.load_font(str(font_path()), opts)
    sub = subset.Subsetter(opts)
    sub.populate(text=chars)
    sub.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, opts)
    return buf.getvalue()


#: Code points the embedded face serves (CJK punctuation, ideographs, full-width forms); the
#: page's other text keeps the system's Latin font.
UNICODE_RANGES: tuple[tuple[int, int], ...] = ((0x3000, 0x303F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xFF00, 0xFFEF))


UNICODE_CSS = ", ".join(f"U+{a:04X}-{b:04X}" for a, b in UNICODE_RANGES)


def cjk_chars(text: str) -> str:
    """The distinct CJK characters of ``text`` (see :data:`UNICODE_RANGES`), sorted."""
    return "".join(sorted(c for c in set(text) if any(a <= ord(c) <= b for a, b in UNICODE_RANGES)))


def font_face_css(text: str) -> str:
    """An ``@font-face`` rule embedding (as a data URI) the glyphs of ``text``'s CJK characters
    under the family :data:`CSS_FAMILY`, limited to :data:`UNICODE_RANGES`; empty when there
    are none. Pages list the family first: as the primary font of those characters (rather
    than a fallback after the Latin font) Chromium draws them once it has loaded, never boxes."""
    chars = cjk_chars(text)
    if not chars:
        return ""
    data = base64.b64encode(_subset_bytes(chars)).decode("ascii")
    return (
        f"@font-face {{ font-family: '{CSS_FAMILY}'; font-style: normal; font-weight: 100 900; "
        f"unicode-range: {UNICODE_CSS}; src: url(data:font/ttf;base64,{data}) format('truetype'); }}"
    )
