"""Request and response models (pydantic) of the API."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Text that any store column takes: no NUL or other C0 control characters except tab and
# newline in free text, and no lone surrogates.
_ID_CHARS = r"^[^\x00-\x1f\x7f]+$"
_TEXT_CHARS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Ident = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_ID_CHARS)]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]
Text = Annotated[str, StringConstraints(max_length=4000, pattern=_TEXT_CHARS)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_ID_CHARS)]
Timestamp = Annotated[
    str,
    StringConstraints(
        pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$",
        max_length=40,
    ),
]
Department = Literal[
    "platform",
    "emergency_management",
    "power_utility",
    "water_utility",
    "transport",
    "telecom",
    "health",
    "planning",
    "meteorology",
]
Role = Literal["viewer", "analyst", "operator", "admin", "sensor"]


def _registered_system(name: str) -> str:
    from rescity.twin.systems import systems

    if name not in systems():
        raise ValueError(f"unknown system {name!r}; registered: {', '.join(systems())}")
    return name


#: A lifeline system of :mod:`rescity.twin.systems` (checked against the registry at request time).
System = Annotated[str, AfterValidator(_registered_system)]
Level = Literal["province", "prefecture", "county", "cell"]
AssetStatus = Literal["up", "down", "unknown"]
AlertLevel = Literal["blue", "yellow", "orange", "red"]
Json = dict[str, Any]

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors ---------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    status: int = Field(description="HTTP status code")
    code: str = Field(
        description="machine-readable kind: unauthorized, forbidden, not_found, invalid, conflict …"
    )
    message: str = Field(description="what went wrong and what to do about it")
    field: str | None = None
    value: Any = None
    details: list[dict[str, Any]] | None = Field(None, description="one entry per invalid input")


class ErrorResponse(BaseModel):
    error: ErrorBody


# -- pages ----------------------------------------------------------------------------------
class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters, over all pages")
    limit: int
    offset: int


# -- health and auth ------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]
    version: str
    store: str
    schema_version: int


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Me(BaseModel):
    username: str
    department: str
    role: str
    full_name: str = ""
    permissions: dict[str, list[str]] = Field(description="object → actions this user may take")


# -- departments, users, tokens -------------------------------------------------------------
class DepartmentOut(BaseModel):
    department: str
    name_en: str
    name_zh: str
    owns: list[str]


class RoleOut(BaseModel):
    role: str
    rank: int
    description: str


class UserIn(Model):
    username: Name
    department: Department
    role: Role
    full_name: Text = ""
    password: Annotated[str, StringConstraints(min_length=8, max_length=200, pattern=_ID_CHARS)] | None = None


class UserPatch(Model):
    department: Department | None = None
    role: Role | None = None
    full_name: Text | None = None
    disabled: bool | None = None
    password: Annotated[str, StringConstraints(min_length=8, max_length=200, pattern=_ID_CHARS)] | None = None


class UserOut(BaseModel):
    username: str
    department: str
    role: str
    full_name: str
    disabled: bool
    created_at: str


class TokenIn(Model):
    label: Text = ""
    expires_days: float | None = Field(None, gt=0, le=3650)


class ApiTokenOut(BaseModel):
    token: str = Field(description="shown once; store it now")
    token_id: str
    username: str
    label: str
    expires_at: str | None


class TokenInfo(BaseModel):
    token_id: str
    username: str
    label: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None


# -- twins, units, assets, population -------------------------------------------------------
class TwinOut(BaseModel):
    name: str
    created_at: str
    created_by: str
    n_units: int
    n_assets: int
    meta: Json


class TwinInfo(TwinOut):
    units_by_level: dict[str, int]
    assets_by_system: dict[str, Json]
    tables: dict[str, int]


class UnitOut(BaseModel):
    unit_id: str
    level: str
    parent_id: str
    name_zh: str
    name_en: str
    lon: float
    lat: float
    area_km2: float


class AssetOut(BaseModel):
    """An asset row. ``access`` says how much you see: ``full``, or ``status`` (id, system,
    kind, unit and live status only) for systems your department does not own."""

    access: Literal["full", "status"]
    asset_id: str
    system: str
    kind: str
    unit_id: str
    status: str
    status_at: str | None = None
    status_source: str | None = None
    pos: int | None = None
    lon: float | None = None
    lat: float | None = None
    fragility_class: str | None = None
    capacity: float | None = None
    capacity_unit: str | None = None
    replacement_cost_cny: float | None = None
    backup_h: float | None = None
    length_km: float | None = None
    is_source: bool | None = None
    name: str | None = None
    source: str | None = None  # provenance of the location: osm, gridkit, wri (real) or generated


class StatusIn(Model):
    status: AssetStatus
    at: Timestamp | None = Field(
        None, description="when the status was observed (ISO 8601, UTC); now if omitted"
    )
    source: ShortText | None = Field(None, description="what reported it: a sensor id, 'field crew' …")


class StatusItem(StatusIn):
    asset_id: Ident


class StatusBatch(Model):
    updates: list[StatusItem] = Field(min_length=1, max_length=10_000)


class StatusResult(BaseModel):
    updated: int
    unknown: list[str] = Field(description="asset ids not in the twin (nothing changed for them)")


class PopulationRow(BaseModel):
    unit_id: str
    level: str
    parent_id: str
    name_zh: str
    name_en: str
    population: int | None
    households: int | None
    age_0_14: int | None
    age_65_plus: int | None
    suppressed: list[str] = Field(default_factory=list, description="columns withheld in this row")


class Privacy(BaseModel):
    suppressed: bool = Field(description="whether the small-cell rule was applied to this table")
    k: int | None = None
    withheld_values: int = 0
    owner: str
    note: str


class PopulationPage(Page[PopulationRow]):
    privacy: Privacy


# -- runs -----------------------------------------------------------------------------------
class RunIn(Model):
    kind: Ident = Field(description="a registered run kind: scenario, forecast, summary …")
    twin: Name | None = Field(None, description="stored twin to run on")
    config: Json = Field(
        default_factory=dict,
        description="configuration passed to the job; for kind scenario a run configuration "
        "(RunConfig, schema at GET /api/v1/runs/config-schema, docs/run-config.md)",
    )


class RunOut(BaseModel):
    id: str
    kind: str
    twin: str | None
    config: Json
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float
    message: str
    created_by: str
    department: str
    created_at: str
    started_at: str | None
    finished_at: str | None


class RunKindOut(BaseModel):
    kind: str
    needs_twin: bool
    description: str


class ResultInfo(BaseModel):
    name: str
    format: Literal["parquet", "json"]
    n_rows: int | None
    columns: list[str]


class TableOut(BaseModel):
    name: str
    columns: list[str]
    rows: list[Json]
    total: int
    limit: int
    offset: int


class JsonResult(BaseModel):
    name: str
    value: Any


# -- forecasts, observations, alerts, decisions ---------------------------------------------
class ForecastIn(Model):
    hazard: Ident
    title: ShortText | None = None
    twin: Name | None = None
    issued_at: Timestamp | None = None
    valid_from: Timestamp | None = None
    valid_to: Timestamp | None = None
    source: ShortText | None = None
    run_id: Ident | None = None
    data: Json = Field(default_factory=dict)


class ForecastOut(BaseModel):
    id: int
    twin: str | None
    hazard: str
    title: str
    issued_at: str
    valid_from: str | None
    valid_to: str | None
    source: str
    run_id: str | None
    data: Json
    created_by: str
    department: str
    created_at: str


class ObservationIn(Model):
    sensor_id: Ident
    quantity: Ident = Field(
        description="what was measured, with its unit in the name where ambiguous: wind_ms …"
    )
    value: float | None = None
    unit: ShortText | None = None
    observed_at: Timestamp
    twin: Name | None = None
    asset_id: Ident | None = None


class ObservationBatch(Model):
    observations: list[ObservationIn] = Field(min_length=1, max_length=10_000)


class BatchOut(BaseModel):
    batch: str
    rows: int


class ObservationOut(BaseModel):
    id: int
    twin: str | None
    sensor_id: str
    asset_id: str | None
    quantity: str
    value: float | None
    unit: str
    observed_at: str
    received_at: str
    batch: str


class AlertIn(Model):
    level: AlertLevel
    kind: Ident
    title: ShortText
    message: Text = ""
    twin: Name | None = None
    asset_id: Ident | None = None
    unit_id: Ident | None = None
    source: ShortText | None = None


class AlertOut(BaseModel):
    id: int
    twin: str | None
    level: str
    kind: str
    title: str
    message: str
    asset_id: str | None
    unit_id: str | None
    source: str
    status: Literal["open", "acknowledged", "closed"]
    created_at: str
    observed_at: str | None = None
    created_by: str
    department: str
    updated_at: str | None
    updated_by: str | None


class DecisionIn(Model):
    kind: Ident = Field(description="relocation, shelter, pre-positioning, repair_sequence …")
    title: ShortText
    body: Json = Field(default_factory=dict)
    twin: Name | None = None
    run_id: Ident | None = None


class DecisionOut(BaseModel):
    id: int
    twin: str | None
    run_id: str | None
    kind: str
    title: str
    body: Json
    status: Literal["proposed", "approved", "rejected"]
    created_by: str
    department: str
    created_at: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None


class NoteIn(Model):
    note: Text = ""


# -- metrics and reports --------------------------------------------------------------------
class MetricsOut(BaseModel):
    run_id: str
    kind: str
    twin: str | None
    finished_at: str | None
    metrics: Any


class RunReport(BaseModel):
    run: RunOut
    duration_s: float | None
    results: list[ResultInfo]
    metrics: Any = None


class TwinReport(BaseModel):
    twin: TwinInfo
    open_alerts: dict[str, int]
    decisions: dict[str, int]
    recent_runs: list[RunOut]


# -- grants and audit -----------------------------------------------------------------------
class GrantIn(Model):
    resource: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_ID_CHARS)] = Field(
        description="what to share: assets/power, assets/water, assets/road, assets/telecom, "
        "assets/facility, "
        "population/microdata"
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_TEXT_CHARS)]


class GrantOut(BaseModel):
    id: int
    resource: str
    owner: str
    grantee: str
    action: str
    reason: str
    status: Literal["pending", "approved", "rejected", "revoked"]
    requested_by: str
    requested_at: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None
    revoked_by: str | None
    revoked_at: str | None


class AuditEntry(BaseModel):
    seq: int
    ts: str
    actor: str
    department: str
    action: str
    resource: str
    detail: Any
    prev_hash: str
    hash: str


class AuditHead(BaseModel):
    seq: int
    hash: str


class AuditVerification(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[Json]
