"""Per-role limits on what one run may ask for, read from the packaged ``rules/limits.csv``.

The table bounds the size of a run (realisations, ensemble members, horizon) before it is queued,
the memory of the worker process that executes it, and how many runs one user may have waiting or
running at once. A platform administrator has the ``admin`` row like any other administrator.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from rescity.errors import InputError


@dataclass(frozen=True)
class RoleLimits:
    """Limits of one role: counts, hours (``horizon_h``) and MiB (``memory_mib``)."""

    role: str
    realisations: int
    members: int
    horizon_h: float
    memory_mib: int
    queued: int


def read_limits(path: str | Path | None = None) -> dict[str, RoleLimits]:
    """``role -> RoleLimits`` from ``path`` (the packaged table by default)."""
    text = (
        Path(path).read_text(encoding="utf-8")
        if path is not None
        else (files("rescity.govern") / "rules" / "limits.csv").read_text(encoding="utf-8")
    )
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    out = {}
    for r in csv.DictReader(rows):
        role = r["role"].strip()
        out[role] = RoleLimits(
            role,
            int(r["realisations"]),
            int(r["members"]),
            float(r["horizon_h"]),
            int(r["memory_mib"]),
            int(r["queued"]),
        )
    return out


@lru_cache(maxsize=1)
def default_limits() -> dict[str, RoleLimits]:
    """The packaged table."""
    return read_limits()


class LimitExceeded(InputError):
    """A run asks for more than the role may have (answered 422 by the API)."""


def _number(config: dict[str, Any], key: str) -> float | None:
    v = config.get(key)
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        return None  # the job's own checks name the bad type
    if math.isnan(x):
        raise InputError("must be a number", field=f"config.{key}", value=v)
    return x


def check_run(config: dict[str, Any], lim: RoleLimits) -> None:
    """Refuse a run configuration that exceeds ``lim`` (:class:`LimitExceeded`, naming the field)."""
    for key, most, what in (
        ("realisations", lim.realisations, "realisations"),
        ("members", lim.members, "ensemble members"),
        ("horizon_h", lim.horizon_h, "hours of horizon"),
    ):
        x = _number(config or {}, key)
        if x is None:
            continue
        if x < 0:
            raise InputError("must not be negative", field=f"config.{key}", value=config[key])
        if x > most:
            raise LimitExceeded(
                f"role {lim.role!r} may ask for at most {most:g} {what} per run",
                field=f"config.{key}",
                value=config[key],
            )


__all__ = ["LimitExceeded", "RoleLimits", "check_run", "default_limits", "read_limits"]
