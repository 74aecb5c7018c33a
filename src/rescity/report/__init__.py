"""Reports people read: self-contained HTML pages with embedded PNG figures and tables."""

from rescity.report.html import Section, render_page, table_html

__all__ = ["Section", "render_page", "table_html"]
