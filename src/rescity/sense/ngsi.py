"""NGSI-LD entities in, normalised observation rows or dead letters out.

Accepted entity types (FIWARE Smart Data Models shapes) and the attributes read from them:

============================  ==========================================  ==================
entity ``type``               attribute (aliases)                          quantity, unit
============================  ==========================================  ==================
``WeatherObserved``           ``precipitation``                            ``rain_mm``, mm
                              ``windSpeed``                                ``wind_ms``, m/s
                              ``gust`` (``gustSpeed``, ``windGust``)       ``gust_ms``, m/s
``WaterObserved``,            ``waterLevel`` (``height``,                  ``water_level_m``, m
``FloodMonitoring``           ``currentLevel``); stages ``warningLevel``
                              (``alertLevel``), ``guaranteedLevel``
                              (``dangerLevel``)
``Device``                    ``deviceState`` + ``controlledAsset``        ``asset_status``
============================  ==========================================  ==================

Both NGSI-LD forms are read: *normalized* (``{"type": "Property", "value": 12.5, "unitCode":
"MMT", "observedAt": "…Z"}``) and *key-values* (``"precipitation": 12.5`` with an entity-level
``dateObserved`` / ``observedAt``). Units are UN/CEFACT Recommendation 20 common codes, as FIWARE
uses them: ``MMT`` mm, ``CMT`` cm, ``MTR`` m, ``INH`` inch, ``MTS`` m/s, ``KMH`` km/h, ``KNT``
knot; a missing ``unitCode`` means the quantity's FIWARE default (mm, m/s, m).
``precipitation`` is the amount fallen in the interval that ends at the observation time (one
report covers at most an hour).

A message (one entity, or a JSON array of entities as in NGSI-LD batch operations) becomes rows
— one per observed attribute — or, per entity, a :class:`DeadLetter` with one of the reasons of
:data:`REASONS`. Nothing valid is dropped: a bad entity in an array does not spoil the others.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError

#: Dead-letter reasons.
REASONS: dict[str, str] = {
    "bad_json": "the payload is not JSON (or not UTF-8)",
    "not_an_entity": "the payload is not an NGSI-LD entity or an array of entities",
    "invalid": "the entity does not match its schema (a field is missing or of the wrong type)",
    "unknown_entity_type": "the entity type is not one rescity reads",
    "unknown_station": "the station is not in the station table",
    "unknown_asset": "the device names no asset of the twin",
    "unit_mismatch": "the unitCode is not a unit of the attribute's quantity",
    "no_time": "the observation has no observedAt / dateObserved time",
    "naive_time": "the observation time has no time zone",
    "future_time": "the observation time is further in the future than the clock allows",
    "out_of_bounds": "the value lies outside physical bounds",
    "no_observation": "the entity carries no attribute rescity reads",
}

#: Seconds an observation time may lie ahead of the receiver's clock (clock skew).
MAX_FUTURE_S: float = 300.0
#: Longest payload text kept in a dead letter, characters.
PAYLOAD_CHARS: int = 20_000

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Quantity:
    """One observed quantity: its rescity name, unit, accepted unit codes and physical bounds."""

    name: str
    unit: str
    attributes: tuple[str, ...]
    units: Mapping[str, float]  # unitCode → factor to ``unit``
    default_code: str
    bounds: tuple[float, float]
    note: str


#: Observed quantities. Bounds are physical limits, beyond any record: rain in one report
#: (≤ 1 h) 400 mm (world 1-h record 305 mm, Holt, Missouri, 1947; WMO archive); 1-min wind
#: 100 m/s and 3-s gust 120 m/s (records 95 m/s, Hurricane Patricia 2015, and 113 m/s, Barrow
#: Island 1996; WMO archive); river stage −20…500 m above the Yellow Sea (1985) datum.
QUANTITIES: dict[str, Quantity] = {
    "rain_mm": Quantity(
        "rain_mm", "mm", ("precipitation",), {"MMT": 1.0, "CMT": 10.0, "MTR": 1000.0, "INH": 25.4},
        "MMT", (0.0, 400.0), "rain in the interval ending at the observation time",
    ),
    "wind_ms": Quantity(
        "wind_ms", "m/s", ("windSpeed",), {"MTS": 1.0, "KMH": 1 / 3.6, "KNT": 1852 / 3600},
        "MTS", (0.0, 100.0), "mean wind at 10 m (1–10 min average)",
    ),
    "gust_ms": Quantity(
        "gust_ms", "m/s", ("gust", "gustSpeed", "windGust"), {"MTS": 1.0, "KMH": 1 / 3.6, "KNT": 1852 / 3600},
        "MTS", (0.0, 120.0), "3-s gust at 10 m",
    ),
    "water_level_m": Quantity(
        "water_level_m", "m", ("waterLevel", "height", "currentLevel"), {"MTR": 1.0, "CMT": 0.01, "MMT": 0.001},
        "MTR", (-20.0, 500.0), "river stage above the station datum",
    ),
}

#: Stage attributes a water entity may carry (FloodMonitoring names as aliases), in m.
STAGE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "warning_stage_m": ("warningLevel", "alertLevel", "warningStage"),
    "guaranteed_stage_m": ("guaranteedLevel", "dangerLevel", "guaranteedStage"),
}

#: Entity types and the quantities read from each.
ENTITY_TYPES: dict[str, tuple[str, ...]] = {
    "WeatherObserved": ("rain_mm", "wind_ms", "gust_ms"),
    "WaterObserved": ("water_level_m",),
    "FloodMonitoring": ("water_level_m",),
    "Device": ("asset_status",),
}

#: ``deviceState`` values → live asset status.
DEVICE_STATES: dict[str, str] = {
    **dict.fromkeys(("up", "ok", "on", "online", "normal", "running", "restored", "in service"), "up"),
    **dict.fromkeys(("down", "off", "offline", "fault", "failed", "failure", "outage", "tripped"), "down"),
    "unknown": "unknown",
}
STATUS_VALUE: dict[str, float] = {"up": 1.0, "down": 0.0, "unknown": math.nan}

_TIME_KEYS = ("observedAt", "dateObserved", "observationDateTime", "dateModified")
_STATION_KEYS = ("stationCode", "stationID", "stationId")


# -- schema ----------------------------------------------------------------------------------
Number = Union[StrictFloat, StrictInt]


class Prop(BaseModel):
    """An NGSI-LD Property (normalized form)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Property"] = "Property"
    value: Any = None
    unitCode: str | None = Field(default=None, max_length=8)
    observedAt: Any = None


class Rel(BaseModel):
    """An NGSI-LD Relationship."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Relationship"]
    object: Union[str, list[str]]


Attr = Union[Prop, Number, str, None]
RefAttr = Union[Rel, Prop, str, list[str], None]
EntityId = Annotated[str, Field(min_length=3, max_length=256, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")]


class _Entity(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    id: EntityId
    type: str
    observedAt: Attr = None
    dateObserved: Attr = None
    observationDateTime: Attr = None
    dateModified: Attr = None
    stationCode: Attr = None
    stationID: Attr = None


class WeatherObserved(_Entity):
    precipitation: Attr = None
    windSpeed: Attr = None
    gust: Attr = None
    gustSpeed: Attr = None
    windGust: Attr = None


class WaterObserved(_Entity):
    waterLevel: Attr = None
    height: Attr = None
    currentLevel: Attr = None
    warningLevel: Attr = None
    alertLevel: Attr = None
    warningStage: Attr = None
    guaranteedLevel: Attr = None
    dangerLevel: Attr = None
    guaranteedStage: Attr = None


class Device(_Entity):
    deviceState: Attr = None
    controlledAsset: RefAttr = None
    refAsset: RefAttr = None


_MODELS: dict[str, type[_Entity]] = {
    "WeatherObserved": WeatherObserved,
    "WaterObserved": WaterObserved,
    "FloodMonitoring": WaterObserved,
    "Device": Device,
}


# -- results ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Observation:
    """One normalised reading (a row of the ``observations`` table and input of the rules)."""

    entity_id: str
    entity_type: str
    sensor_id: str  # station code, or the device's id for asset status
    quantity: str
    value: float
    unit: str
    observed_at: str  # ISO 8601 UTC, microseconds (sorts as text)
    t: float  # the same time, seconds since the epoch
    asset_id: str | None = None
    status: str | None = None  # asset status (up | down | unknown) for Device entities
    stages: dict[str, float] | None = None  # stages carried by the message, m


@dataclass(slots=True)
class DeadLetter:
    """A message (or one entity of it) that was refused, with the reason."""

    reason: str
    detail: str
    payload: str
    field: str | None = None
    entity_id: str | None = None
    entity_type: str | None = None
    topic: str = ""
    source: str = "mqtt"


@dataclass
class Result:
    observations: list[Observation] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    entities: int = 0


class _Refuse(Exception):
    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.field = reason, detail, field


# -- helpers ---------------------------------------------------------------------------------
@lru_cache(maxsize=65_536)
def parse_time(text: str) -> tuple[float, str]:
    """``(epoch seconds, canonical text)`` of an ISO 8601 time with a zone; ValueError otherwise."""
    dt = datetime.fromisoformat(text.strip())
    if dt.tzinfo is None:
        raise _Refuse("naive_time", f"observation time {text!r} has no time zone (add Z or +08:00)")
    dt = dt.astimezone(UTC)
    return dt.timestamp(), dt.strftime(TIME_FORMAT)


def _time_of(raw: Any, where: str) -> tuple[float, str] | None:
    if raw is None:
        return None
    if isinstance(raw, Prop):
        raw = raw.value
    if isinstance(raw, dict):  # {"@type": "DateTime", "@value": "…"}
        raw = raw.get("@value")
    if not isinstance(raw, str):
        raise _Refuse("invalid", f"{where} must be an ISO 8601 time string", where)
    try:
        return parse_time(raw)
    except _Refuse as r:
        r.field = where
        raise
    except ValueError:
        raise _Refuse("invalid", f"{where} {raw!r} is not an ISO 8601 time", where) from None


def _text(raw: Any) -> str | None:
    if isinstance(raw, Prop):
        raw = raw.value
    if raw is None:
        return None
    return str(raw)


def _ref(raw: Any) -> str | None:
    if isinstance(raw, Rel):
        raw = raw.object
    elif isinstance(raw, Prop):
        raw = raw.value
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    if raw is None:
        return None
    s = str(raw)
    return s.rsplit(":", 1)[-1] if s.startswith("urn:") else s


def _short_id(entity_id: str) -> str:
    return entity_id.rsplit(":", 1)[-1]


def _first_error(e: ValidationError) -> tuple[str, str]:
    err = e.errors(include_url=False)[0]
    loc = ".".join(str(x) for x in err.get("loc", ()))
    return loc, f"{loc or 'entity'}: {err.get('msg', 'invalid')}"


def payload_text(payload: Any) -> str:
    """The payload as text for a dead letter (cut at :data:`PAYLOAD_CHARS`)."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        s = bytes(payload).decode("utf-8", errors="replace")
    elif isinstance(payload, str):
        s = payload
    else:
        try:
            s = json.dumps(payload, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            s = repr(payload)
    return s if len(s) <= PAYLOAD_CHARS else s[:PAYLOAD_CHARS] + "…"


# -- normalisation ---------------------------------------------------------------------------
class Normaliser:
    """Turns payloads into observations and dead letters.

    Parameters
    ----------
    stations:
        Station codes that may report weather and water entities (``None``: any).
    assets:
        Asset ids a ``Device`` may name (``None``: no twin, so every ``Device`` is refused).
    max_future_s:
        Seconds an observation time may lie ahead of the clock.
    clock:
        Returns the current time, epoch seconds (tests pass a fixed clock).
    """

    def __init__(
        self,
        stations: Iterable[str] | None = None,
        assets: Iterable[str] | None = None,
        *,
        max_future_s: float = MAX_FUTURE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stations = None if stations is None else frozenset(stations)
        self.assets = None if assets is None else frozenset(assets)
        self.max_future_s = float(max_future_s)
        self.clock = clock

    def __call__(self, payload: Any, *, topic: str = "", source: str = "mqtt") -> Result:
        """Normalise one message: bytes/str JSON, a dict (one entity) or a list of entities."""
        res = Result()
        data = payload
        if isinstance(payload, (bytes, bytearray, memoryview, str)):
            try:
                data = json.loads(payload)
            except (ValueError, UnicodeDecodeError) as e:
                res.dead.append(
                    DeadLetter("bad_json", f"not JSON: {e}", payload_text(payload), topic=topic, source=source)
                )
                return res
        items = data if isinstance(data, list) else [data]
        if not items:
            res.dead.append(
                DeadLetter("not_an_entity", "an empty array", payload_text(payload), topic=topic, source=source)
            )
            return res
        now = self.clock()
        for item in items:
            res.entities += 1
            try:
                res.observations.extend(self._entity(item, now))
            except _Refuse as r:
                eid = item.get("id") if isinstance(item, dict) else None
                etype = item.get("type") if isinstance(item, dict) else None
                res.dead.append(
                    DeadLetter(
                        r.reason,
                        r.detail,
                        payload_text(item if len(items) > 1 else payload),
                        field=r.field,
                        entity_id=str(eid)[:256] if eid is not None else None,
                        entity_type=str(etype)[:64] if etype is not None else None,
                        topic=topic,
                        source=source,
                    )
                )
        return res

    # one entity → rows
    def _entity(self, item: Any, now: float) -> list[Observation]:
        if not isinstance(item, dict) or "type" not in item or "id" not in item:
            raise _Refuse("not_an_entity", "an NGSI-LD entity is a JSON object with 'id' and 'type'")
        etype = item["type"]
        model = _MODELS.get(etype) if isinstance(etype, str) else None
        if model is None:
            known = ", ".join(ENTITY_TYPES)
            raise _Refuse("unknown_entity_type", f"entity type {etype!r} is not read (one of {known})", "type")
        try:
            ent = model.model_validate(item)
        except ValidationError as e:
            loc, msg = _first_error(e)
            raise _Refuse("invalid", msg, loc or None) from None
        base_time = None
        for k in _TIME_KEYS:
            base_time = _time_of(getattr(ent, k), k)
            if base_time is not None:
                break
        if etype == "Device":
            return [self._device(ent, base_time, now)]
        station = _text(ent.stationCode) or _text(ent.stationID) or _short_id(ent.id)
        if self.stations is not None and station not in self.stations:
            raise _Refuse("unknown_station", f"station {station!r} is not in the station table", "id")
        stages = None
        if model is WaterObserved:
            stages = {}
            for key, names in STAGE_ATTRIBUTES.items():
                for n in names:
                    v = getattr(ent, n)
                    if v is not None:
                        stages[key] = self._value(v, QUANTITIES["water_level_m"], n)[0]
                        break
        rows = []
        for qname in ENTITY_TYPES[etype]:
            q = QUANTITIES[qname]
            for attr in q.attributes:
                raw = getattr(ent, attr)
                if raw is None:
                    continue
                value, t = self._value(raw, q, attr)
                when = t or base_time
                if when is None:
                    raise _Refuse("no_time", f"{attr} has no observedAt and the entity no dateObserved", attr)
                self._check_time(when, now, attr)
                rows.append(
                    Observation(ent.id, etype, station, qname, value, q.unit, when[1], when[0], stages=stages or None)
                )
                break
        if not rows:
            names = ", ".join(a for qn in ENTITY_TYPES[etype] for a in QUANTITIES[qn].attributes)
            raise _Refuse("no_observation", f"a {etype} needs one of: {names}")
        return rows

    def _value(self, raw: Any, q: Quantity, attr: str) -> tuple[float, tuple[float, str] | None]:
        code = q.default_code
        when = None
        if isinstance(raw, Prop):
            if raw.unitCode is not None:
                code = raw.unitCode
            when = _time_of(raw.observedAt, f"{attr}.observedAt")
            raw = raw.value
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise _Refuse("invalid", f"{attr} must be a number, got {type(raw).__name__}", attr)
        factor = q.units.get(code)
        if factor is None:
            ok = ", ".join(q.units)
            raise _Refuse(
                "unit_mismatch", f"{attr} in unitCode {code!r} is not a {q.unit} quantity (use one of {ok})", attr
            )
        v = float(raw) * factor
        lo, hi = q.bounds
        if not (lo <= v <= hi):  # also refuses NaN
            raise _Refuse(
                "out_of_bounds", f"{attr} = {v:g} {q.unit} lies outside the physical bounds [{lo:g}, {hi:g}]", attr
            )
        return v, when

    def _check_time(self, when: tuple[float, str], now: float, attr: str) -> None:
        if when[0] > now + self.max_future_s:
            ahead = when[0] - now
            raise _Refuse(
                "future_time",
                f"{attr} time {when[1]} is {ahead:.0f} s ahead of the clock (at most {self.max_future_s:.0f} s)",
                attr,
            )

    def _device(self, ent: Device, base_time: tuple[float, str] | None, now: float) -> Observation:
        raw_state = ent.deviceState
        t = None
        if isinstance(raw_state, Prop):
            t = _time_of(raw_state.observedAt, "deviceState.observedAt")
        state = _text(raw_state)
        if state is None:
            raise _Refuse("no_observation", "a Device needs deviceState (up or down)", "deviceState")
        status = DEVICE_STATES.get(state.strip().lower())
        if status is None:
            raise _Refuse(
                "invalid", f"deviceState {state!r} is not a known state (up, down, unknown and synonyms)", "deviceState"
            )
        asset = _ref(ent.controlledAsset) or _ref(ent.refAsset)
        if asset is None:
            raise _Refuse("invalid", "a Device needs controlledAsset: the asset it reports on", "controlledAsset")
        if self.assets is None:
            raise _Refuse("unknown_asset", f"asset {asset!r}: no twin is loaded to match it against", "controlledAsset")
        if asset not in self.assets:
            raise _Refuse("unknown_asset", f"the twin has no asset {asset!r}", "controlledAsset")
        when = t or base_time
        if when is None:
            raise _Refuse("no_time", "deviceState has no observedAt and the entity no dateObserved", "deviceState")
        self._check_time(when, now, "deviceState")
        return Observation(
            ent.id, "Device", _short_id(ent.id), "asset_status", STATUS_VALUE[status], "", when[1], when[0],
            asset_id=asset, status=status,
        )


# -- building entities (replay, tests, docs) -------------------------------------------------
def prop(value: Any, unit: str | None = None, observed_at: str | None = None) -> dict[str, Any]:
    """A normalized NGSI-LD Property."""
    p: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        p["unitCode"] = unit
    if observed_at:
        p["observedAt"] = observed_at
    return p


def weather_entity(
    station: str, observed_at: str, *, rain_mm: float | None = None, wind_ms: float | None = None,
    gust_ms: float | None = None, lon: float | None = None, lat: float | None = None,
) -> dict[str, Any]:
    """A ``WeatherObserved`` entity (normalized) for one station and time."""
    e: dict[str, Any] = {"id": f"urn:ngsi-ld:WeatherObserved:{station}", "type": "WeatherObserved"}
    if rain_mm is not None:
        e["precipitation"] = prop(round(rain_mm, 2), "MMT", observed_at)
    if wind_ms is not None:
        e["windSpeed"] = prop(round(wind_ms, 2), "MTS", observed_at)
    if gust_ms is not None:
        e["gust"] = prop(round(gust_ms, 2), "MTS", observed_at)
    if lon is not None and lat is not None:
        e["location"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
    return e


def water_entity(
    station: str, observed_at: str, level_m: float, *, warning_m: float | None = None,
    guaranteed_m: float | None = None,
) -> dict[str, Any]:
    """A ``WaterObserved`` entity (normalized): stage in m, optionally the station's stages."""
    e: dict[str, Any] = {
        "id": f"urn:ngsi-ld:WaterObserved:{station}",
        "type": "WaterObserved",
        "waterLevel": prop(round(level_m, 3), "MTR", observed_at),
    }
    if warning_m is not None:
        e["warningLevel"] = prop(warning_m, "MTR")
    if guaranteed_m is not None:
        e["guaranteedLevel"] = prop(guaranteed_m, "MTR")
    return e


def device_entity(device: str, asset_id: str, state: str, observed_at: str) -> dict[str, Any]:
    """A ``Device`` status entity reporting an asset up or down."""
    return {
        "id": f"urn:ngsi-ld:Device:{device}",
        "type": "Device",
        "controlledAsset": {"type": "Relationship", "object": f"urn:ngsi-ld:Asset:{asset_id}"},
        "deviceState": prop(state, None, observed_at),
    }
