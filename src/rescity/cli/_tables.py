"""Terminal tables that fit the terminal: columns past the width are left out, and the table
says which (they are all in the CSV files)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table


def fitted_table(
    title: str,
    columns: Sequence[tuple[str, Sequence[str], str]],
    width: int,
    where: str = "the CSV files",
) -> Table:
    """A rich table of ``columns`` (header, cell texts, justify) keeping the leading columns that
    fit in ``width`` terminal cells (Chinese characters take two; the first column always); a caption names the ones left out."""
    widths = [max([cell_len(h), *(cell_len(c) for c in cells)]) + 3 for h, cells, _ in columns]
    keep, used = 0, 0
    for w in widths:
        if keep > 0 and used + w > width:
            break
        used += w
        keep += 1
    dropped = [h for h, _, _ in columns[keep:]]
    caption = f"not shown at this terminal width: {', '.join(dropped)} (see {where})" if dropped else None
    t = Table(title=title, header_style="bold", title_justify="left", pad_edge=False, caption=caption,
              caption_justify="left")
    for h, _, justify in columns[:keep]:
        t.add_column(h, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    n = len(columns[0][1]) if columns else 0
    for i in range(n):
        t.add_row(*(cells[i] for _, cells, _ in columns[:keep]))
    return t


def print_fitted(console: Console, title: str, columns, where: str = "the CSV files") -> None:
    """Print :func:`fitted_table` at ``console``'s width."""
    console.print(fitted_table(title, columns, console.width, where))
