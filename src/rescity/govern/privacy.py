"""Small-cell suppression of population tables released outside the owning department.

Rule (threshold rule of statistical disclosure control; Hundepool et al. 2012, *Statistical
Disclosure Control*, §5.2): a count of people ``x`` with ``0 < x < k`` is withheld (``null``).
Zeros are kept: they say nobody lives there and disclose no one. Secondary suppression: when a
group of sibling units (same ``parent_id``) has exactly one withheld value in a column, the
smallest other positive value of that group and column is withheld too, so the withheld value
cannot be recovered by subtracting the published siblings from the parent's total.

The default ``k`` is 10 (:data:`DEFAULT_K`); set ``RESCITY_PRIVACY_K`` or pass ``k``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

DEFAULT_K = 10


def privacy_k(k: int | None = None) -> int:
    """The suppression threshold: ``k`` if given, else ``RESCITY_PRIVACY_K``, else 10."""
    if k is None:
        k = int(os.environ.get("RESCITY_PRIVACY_K", DEFAULT_K))
    if k < 1:
        raise ValueError(f"privacy threshold k must be at least 1, got {k}")
    return int(k)


@dataclass
class Suppression:
    """What :func:`suppress` withheld."""

    k: int
    primary: int
    secondary: int

    @property
    def total(self) -> int:
        return self.primary + self.secondary


def suppress(
    table: pd.DataFrame, count_columns: list[str], k: int, *, group: str | None = "parent_id"
) -> tuple[pd.DataFrame, pd.DataFrame, Suppression]:
    """Withhold small counts.

    Parameters
    ----------
    table:
        One row per unit, with count columns (people, households).
    count_columns:
        Columns holding counts to protect.
    k:
        Threshold: counts ``0 < x < k`` are withheld.
    group:
        Column naming each row's parent, for secondary suppression; ``None`` to skip it.

    Returns
    -------
    (released, mask, Suppression)
        ``released`` has the count columns as float with withheld values NaN; ``mask`` is a
        boolean frame (True = withheld) of the same shape as the count columns.
    """
    out = table.reset_index(drop=True)
    vals = out[count_columns].astype(float)
    primary = (vals > 0) & (vals < k)
    mask = primary.copy()
    n_secondary = 0
    if group is not None and group in out.columns and len(out):
        g = out[group].to_numpy()
        for c in count_columns:
            per_group = primary[c].groupby(g).transform("sum").to_numpy()
            lonely = per_group == 1
            if not lonely.any():
                continue
            ok = (~primary[c] & (vals[c] > 0)).to_numpy() & lonely
            if ok.any():
                cand = vals[c][ok]
                pick = cand.groupby(g[ok]).idxmin().to_numpy()
                mask.loc[pick, c] = True
                n_secondary += len(pick)
    vals = vals.mask(mask)
    for c in count_columns:
        out[c] = vals[c]
    return out, mask, Suppression(int(k), int(primary.to_numpy().sum()), n_secondary)


def note(s: Suppression, owner: str) -> str:
    """The sentence that goes with a suppressed table."""
    return (
        f"Released outside the owning department ({owner}): counts of fewer than {s.k} people "
        f"(but more than 0) are withheld as null ({s.primary} values), and {s.secondary} more values "
        "are withheld so that they cannot be recovered from totals."
    )


__all__ = ["DEFAULT_K", "Suppression", "note", "privacy_k", "suppress"]
