"""A self-contained HTML page (no external assets) built from sections."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

import rescity
from rescity.report.fonts import font_face_css


@dataclass
class Section:
    """One titled part of a report; ``body`` is trusted HTML made by rescity itself."""

    title: str
    body: str
    anchor: str = ""

    def __post_init__(self) -> None:
        if not self.anchor:
            self.anchor = "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def png_img(png: bytes, alt: str, width: str = "100%") -> str:
    """An ``<img>`` tag with the PNG embedded as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" style="max-width:{width}" src="data:image/png;base64,{data}">'


def table_html(df: pd.DataFrame, caption: str = "", max_rows: int | None = None, css: str = "data") -> str:
    """An HTML table of ``df`` (escaped), numbers right-aligned, in a scrolling box; ``css`` are
    the table's classes (``sticky`` keeps the first column in view when the table scrolls)."""
    if max_rows is not None and len(df) > max_rows:
        df = df.head(max_rows)
    out = df.to_html(index=False, escape=True, border=0, classes=css, na_rep="–")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    out = out.replace(f'<table border="0" class="dataframe {css}">', f'<table class="{css}">{cap}', 1)
    return f"<div class='table-box'>{out}</div>"


def render_page(title: str, sections: list[Section], path: Path, subtitle: str = "") -> Path:
    """Write the report page to ``path`` and return it."""
    env = Environment(
        loader=PackageLoader("rescity.report", "templates"), autoescape=select_autoescape(["html"])
    )
    page = env.get_template("page.html").render(
        title=title,
        subtitle=subtitle,
        sections=sections,
        version=rescity.__version__,
        created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    # the Chinese glyphs of this page, embedded: no system CJK font needed
    page = page.replace("/*font-face*/", font_face_css(page), 1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
