"""Metrics of finished runs, and reports on runs and twins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from rescity.api.routers._common import ERRORS, Filter, Limit, Offset, RunId, TwinName, page, records
from rescity.api.schemas import MetricsOut, Page, RunReport, TwinReport
from rescity.api.security import Context, context, release_table, require
from rescity.govern.principal import Principal

metrics = APIRouter(tags=["metrics"], responses=ERRORS)
reports = APIRouter(tags=["reports"], responses=ERRORS)


def _json(value):
    return records(value) if isinstance(value, pd.DataFrame) else value


@metrics.get(
    "/metrics",
    response_model=Page[MetricsOut],
    summary="Resilience metrics of finished runs (their 'metrics' result), newest first",
)
def list_metrics(
    request: Request,
    twin: Filter = None,
    run_id: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-f]{1,64}$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("metrics", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.run_metrics(twin=twin, run_id=run_id, limit=limit, offset=offset)
    for r in rows:
        m = release_table(request, p, r["metrics"], f"runs/{r['run_id']}/results/metrics")
        r["metrics"] = _json(m)
    return page(rows, total, limit, offset)


def _duration(run: dict) -> float | None:
    if not run.get("started_at") or not run.get("finished_at"):
        return None
    a = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
    b = datetime.fromisoformat(run["finished_at"].replace("Z", "+00:00"))
    return (b - a).total_seconds()


def _markdown(rep: dict) -> str:
    run = rep["run"]
    lines = [
        f"# Run {run['id']}",
        "",
        f"- kind: {run['kind']}",
        f"- twin: {run['twin'] or '—'}",
        f"- status: {run['status']} ({run['progress']:.0%})",
        f"- started by: {run['created_by']} ({run['department']}) at {run['created_at']}",
        "- duration: " + ("—" if rep["duration_s"] is None else f"{rep['duration_s']:.1f} s"),
    ]
    if run["message"]:
        lines.append(f"- message: {run['message']}")
    lines += ["", "## Results", "", "| name | format | rows | columns |", "| --- | --- | --- | --- |"]
    for r in rep["results"]:
        lines.append(
            f"| {r['name']} | {r['format']} | {r['n_rows'] if r['n_rows'] is not None else ''} | "
            f"{', '.join(r['columns'])} |"
        )
    m = rep.get("metrics")
    if isinstance(m, list) and m:
        cols = list(m[0])
        lines += ["", "## Metrics", "", "| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        lines += ["| " + " | ".join(str(row.get(c, "")) for c in cols) + " |" for row in m]
    elif isinstance(m, dict):
        lines += ["", "## Metrics", ""] + [f"- {k}: {v}" for k, v in m.items()]
    return "\n".join(lines) + "\n"


@reports.get(
    "/reports/runs/{run_id}",
    response_model=RunReport,
    summary="Report on a run: status, duration, results, metrics (JSON, or Markdown with format=markdown)",
    responses={200: {"content": {"text/markdown": {}}}},
)
def run_report(
    request: Request,
    run_id: RunId,
    format: Annotated[Literal["json", "markdown"], Query()] = "json",
    p: Principal = Depends(require("reports", "read")),
    ctx: Context = Depends(context),
):
    run = ctx.store.get_run(run_id)
    results = ctx.store.list_results(run_id)
    m = None
    if any(r["name"] == "metrics" for r in results):
        m = ctx.store.get_result(run_id, "metrics")
        m = _json(release_table(request, p, m, f"runs/{run_id}/results/metrics"))
    rep = {"run": run, "duration_s": _duration(run), "results": results, "metrics": m}
    if format == "markdown":
        return PlainTextResponse(_markdown(rep), media_type="text/markdown")
    return rep


@reports.get(
    "/reports/twins/{twin}",
    response_model=TwinReport,
    summary="Report on a twin: assets by system and status, open alerts, decisions, recent runs",
)
def twin_report(
    twin: TwinName, p: Principal = Depends(require("reports", "read")), ctx: Context = Depends(context)
):
    info = ctx.store.twin_info(twin)
    open_alerts: dict[str, int] = {}
    for status in ("open", "acknowledged"):
        rows, _ = ctx.store.list_alerts(twin=twin, status=status, limit=1000)
        for a in rows:
            open_alerts[a["level"]] = open_alerts.get(a["level"], 0) + 1
    decisions = {}
    for status in ("proposed", "approved", "rejected"):
        decisions[status] = ctx.store.list_decisions(twin=twin, status=status, limit=1)[1]
    runs, _ = ctx.store.list_runs(twin=twin, limit=5)
    return {"twin": info, "open_alerts": open_alerts, "decisions": decisions, "recent_runs": runs}
