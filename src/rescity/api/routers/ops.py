"""Forecasts, observations, alerts and decisions."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends

from rescity.api.errors import ApiError
from rescity.api.routers._common import ERRORS, Filter, Limit, Offset, RecordId, page
from rescity.api.schemas import (
    AlertIn,
    AlertLevel,
    AlertOut,
    BatchOut,
    DecisionIn,
    DecisionOut,
    ForecastIn,
    ForecastOut,
    NoteIn,
    ObservationBatch,
    ObservationOut,
    Page,
    Timestamp,
)
from rescity.api.security import Context, context, require
from rescity.govern.principal import Principal

forecasts = APIRouter(tags=["forecasts"], responses=ERRORS)
observations = APIRouter(tags=["observations"], responses=ERRORS)
alerts = APIRouter(tags=["alerts"], responses=ERRORS)
decisions = APIRouter(tags=["decisions"], responses=ERRORS)


# -- forecasts ------------------------------------------------------------------------------
@forecasts.get("/forecasts", response_model=Page[ForecastOut], summary="Forecasts, newest issue first")
def list_forecasts(
    twin: Filter = None,
    hazard: Filter = None,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("forecasts", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.list_forecasts(twin=twin, hazard=hazard, limit=limit, offset=offset)
    return page(rows, total, limit, offset)


@forecasts.post("/forecasts", response_model=ForecastOut, status_code=201, summary="Publish a forecast")
def add_forecast(
    body: ForecastIn, p: Principal = Depends(require("forecasts", "write")), ctx: Context = Depends(context)
):
    return ctx.store.add_forecast(body.model_dump(), actor=p)


@forecasts.get("/forecasts/{forecast_id}", response_model=ForecastOut, summary="One forecast")
def get_forecast(
    forecast_id: RecordId,
    p: Principal = Depends(require("forecasts", "read")),
    ctx: Context = Depends(context),
):
    return ctx.store.get_forecast(forecast_id)


# -- observations ---------------------------------------------------------------------------
@observations.get(
    "/observations", response_model=Page[ObservationOut], summary="Sensor readings, newest first"
)
def list_observations(
    twin: Filter = None,
    sensor_id: Filter = None,
    asset_id: Filter = None,
    quantity: Filter = None,
    since: Timestamp | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("observations", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.list_observations(
        twin=twin,
        sensor_id=sensor_id,
        asset_id=asset_id,
        quantity=quantity,
        since=since,
        limit=limit,
        offset=offset,
    )
    return page(rows, total, limit, offset)


@observations.post(
    "/observations",
    response_model=BatchOut,
    status_code=201,
    summary="Store a batch of sensor readings (all or none)",
)
def add_observations(
    body: ObservationBatch,
    p: Principal = Depends(require("observations", "write")),
    ctx: Context = Depends(context),
):
    return ctx.store.add_observations([o.model_dump() for o in body.observations], actor=p)


# -- alerts ---------------------------------------------------------------------------------
@alerts.get("/alerts", response_model=Page[AlertOut], summary="Alerts, newest first")
def list_alerts(
    twin: Filter = None,
    status: Literal["open", "acknowledged", "closed"] | None = None,
    level: AlertLevel | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("alerts", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.list_alerts(twin=twin, status=status, level=level, limit=limit, offset=offset)
    return page(rows, total, limit, offset)


@alerts.post("/alerts", response_model=AlertOut, status_code=201, summary="Raise an alert")
def add_alert(
    body: AlertIn, p: Principal = Depends(require("alerts", "write")), ctx: Context = Depends(context)
):
    return ctx.store.add_alert(body.model_dump(), actor=p)


@alerts.get("/alerts/{alert_id}", response_model=AlertOut, summary="One alert")
def get_alert(
    alert_id: RecordId, p: Principal = Depends(require("alerts", "read")), ctx: Context = Depends(context)
):
    return ctx.store.get_alert(alert_id)


def _own_alert(ctx: Context, p: Principal, alert_id: int, what: str) -> None:
    """403 unless ``p`` is of the alert's department or a platform administrator."""
    a = ctx.store.get_alert(alert_id)
    dept = a.get("department")
    if not (p.is_platform_admin or p.department == dept):
        raise ApiError(
            403,
            f"alert {alert_id} was raised by department {dept!r}; only that department or a platform "
            f"administrator may {what} it, not {p.department!r}",
        )


@alerts.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut, summary="Acknowledge an alert")
def ack_alert(
    alert_id: RecordId, p: Principal = Depends(require("alerts", "write")), ctx: Context = Depends(context)
):
    return ctx.store.set_alert_status(alert_id, "acknowledged", actor=p)


@alerts.post("/alerts/{alert_id}/close", response_model=AlertOut, summary="Close an alert")
def close_alert(
    alert_id: RecordId, p: Principal = Depends(require("alerts", "write")), ctx: Context = Depends(context)
):
    _own_alert(ctx, p, alert_id, "close")
    return ctx.store.set_alert_status(alert_id, "closed", actor=p)


# -- decisions ------------------------------------------------------------------------------
@decisions.get("/decisions", response_model=Page[DecisionOut], summary="Decisions, newest first")
def list_decisions(
    twin: Filter = None,
    status: Literal["proposed", "approved", "rejected"] | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    p: Principal = Depends(require("decisions", "read")),
    ctx: Context = Depends(context),
):
    rows, total = ctx.store.list_decisions(twin=twin, status=status, limit=limit, offset=offset)
    return page(rows, total, limit, offset)


@decisions.post("/decisions", response_model=DecisionOut, status_code=201, summary="Propose a decision")
def add_decision(
    body: DecisionIn, p: Principal = Depends(require("decisions", "write")), ctx: Context = Depends(context)
):
    return ctx.store.add_decision(body.model_dump(), actor=p)


@decisions.get("/decisions/{decision_id}", response_model=DecisionOut, summary="One decision")
def get_decision(
    decision_id: RecordId,
    p: Principal = Depends(require("decisions", "read")),
    ctx: Context = Depends(context),
):
    return ctx.store.get_decision(decision_id)


@decisions.post(
    "/decisions/{decision_id}/approve", response_model=DecisionOut, summary="Approve a proposed decision"
)
def approve_decision(
    decision_id: RecordId,
    body: NoteIn,
    p: Principal = Depends(require("decisions", "decide")),
    ctx: Context = Depends(context),
):
    return ctx.store.decide(decision_id, True, body.note, actor=p)


@decisions.post(
    "/decisions/{decision_id}/reject", response_model=DecisionOut, summary="Reject a proposed decision"
)
def reject_decision(
    decision_id: RecordId,
    body: NoteIn,
    p: Principal = Depends(require("decisions", "decide")),
    ctx: Context = Depends(context),
):
    return ctx.store.decide(decision_id, False, body.note, actor=p)
