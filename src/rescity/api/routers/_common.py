"""Shared pieces of the routers: error responses, paging parameters, row conversion."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from fastapi import Path, Query

from rescity.api.schemas import ErrorResponse
from rescity.store.base import clean

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "not signed in, or the token is invalid"},
    403: {"model": ErrorResponse, "description": "signed in, but the role or department may not do this"},
    404: {"model": ErrorResponse, "description": "no such record"},
    422: {"model": ErrorResponse, "description": "the request is invalid; the message says which field"},
}
#: Answered when a queue or a throttle is full (with Retry-After).
TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorResponse, "description": "too many requests or runs; retry after Retry-After seconds"}
}

Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page (at most 1000)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="rows to skip")]
TwinName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
RecordId = Annotated[int, Path(ge=1, le=2**53, description="record id")]
RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]{1,64}$")]
IdText = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Filter = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts (NaN → null, NumPy scalars → Python)."""
    return clean(df.to_dict(orient="records"))


def page(items: list[Any], total: int, limit: int, offset: int, **extra: Any) -> dict[str, Any]:
    return {"items": items, "total": int(total), "limit": limit, "offset": offset, **extra}
