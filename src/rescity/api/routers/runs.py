"""Runs: start a scenario or forecast as a background job, poll it, fetch its results."""

from __future__ import annotations

import io
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from rescity.api.errors import ApiError
from rescity.api.jobs import job_kinds
from rescity.api.routers._common import ERRORS, TOO_MANY, Filter, IdText, Limit, Offset, RunId, page, records
from rescity.api.schemas import JsonResult, Page, ResultInfo, RunIn, RunKindOut, RunOut, TableOut
from rescity.api.security import Context, context, release_table, require
from rescity.govern.principal import Principal

router = APIRouter(tags=["runs"], responses=ERRORS)

RunStatus = Literal["queued", "running", "done", "failed", "cancelled"]


@router.get("/runs/kinds", response_model=list[RunKindOut], summary="The kinds of run this server can start")
def kinds(p: Principal = Depends(require("runs", "read"))):
    return [
        {"kind": k.kind, "needs_twin": k.needs_twin, "description": k.description}
        for k in job_kinds().values()
    ]


@router.post(
    "/runs",
    response_model=RunOut,
    status_code=202,
    responses=TOO_MANY,
    summary="Start a run (scenario, forecast …) in the background",
    description="Returns at once with the queued run; poll GET /api/v1/runs/{id} for status and progress.",
)
def start_run(body: RunIn, p: Principal = Depends(require("runs", "write")), ctx: Context = Depends(context)):
    if body.kind == "scenario":  # refuse a bad run configuration now, naming the field
        from rescity.jobs import scenario_config

        scenario_config(body.config)
    return ctx.runner.submit(body.kind, body.twin, body.config, actor=p)


@router.get("/runs/config-schema", summary="JSON Schema of a scenario run's configuration (RunConfig)")
def config_schema(p: Principal = Depends(require("runs", "read"))) -> dict:
    from rescity.run.config import json_schema

    return json_schema()


@router.get("/hazards", summary="The hazards a scenario run can model, with their intensity measures")
def hazards(p: Principal = Depends(require("runs", "read"))) -> list[dict]:
    from rescity.hazard.registry import as_table

    return as_table()


@router.get("/runs", response_model=Page[RunOut], summary="Runs, newest first")
def list_runs(
    twin: Filter = None,
    kind: Filter = None,
    status: RunStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("runs", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.list_runs(twin=twin, kind=kind, status=status, limit=limit, offset=offset)
    return page(rows, total, limit, offset)


@router.get("/runs/{run_id}", response_model=RunOut, summary="A run's status and progress")
def get_run(run_id: RunId, p: Principal = Depends(require("runs", "read")), ctx: Context = Depends(context)):
    return ctx.store.get_run(run_id)


@router.post("/runs/{run_id}/cancel", response_model=RunOut, summary="Cancel a queued or running run")
def cancel_run(
    run_id: RunId, p: Principal = Depends(require("runs", "write")), ctx: Context = Depends(context)
):
    run = ctx.store.get_run(run_id)
    if not (p.is_platform_admin or p.department == run["department"]):
        raise ApiError(
            403,
            f"run {run_id} belongs to department {run['department']!r}; only that department or a platform "
            f"administrator may cancel it, not {p.department!r}",
        )
    return ctx.runner.cancel(run_id, actor=p)


@router.get(
    "/runs/{run_id}/results", response_model=list[ResultInfo], summary="Names and shapes of a run's results"
)
def list_results(
    run_id: RunId, p: Principal = Depends(require("runs", "read")), ctx: Context = Depends(context)
):
    ctx.store.get_run(run_id)
    return ctx.store.list_results(run_id)


@router.get(
    "/runs/{run_id}/results/{name}",
    response_model=TableOut | JsonResult,
    summary="One result: a table (paged rows, or CSV with format=csv) or a JSON value",
    responses={200: {"content": {"text/csv": {}}}},
)
def get_result(
    request: Request,
    run_id: RunId,
    name: IdText,
    format: Annotated[
        Literal["json", "csv"], Query(description="json rows, or the whole table as CSV")
    ] = "json",
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("runs", "read")),
    ctx: Context = Depends(context),
):
    ctx.store.get_run(run_id)
    value = ctx.store.get_result(run_id, name)
    if not isinstance(value, pd.DataFrame):
        return {"name": name, "value": value}
    # population-derived counts: the privacy rule, the microdata permission, the audit
    value = release_table(request, p, value, f"runs/{run_id}/results/{name}", audit_always=True)
    if format == "csv":
        buf = io.StringIO()
        value.to_csv(buf, index=False)
        return Response(buf.getvalue(), media_type="text/csv")
    part = value.iloc[offset : offset + limit]
    return {
        "name": name,
        "columns": [str(c) for c in value.columns],
        "rows": records(part),
        "total": len(value),
        "limit": limit,
        "offset": offset,
    }
