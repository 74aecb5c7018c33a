"""Alerts: NGSI-LD ``Alert`` entities with plain-language text in Chinese and English.

Each signal transition (issued, escalated, downgraded, lifted) and each faulty-sensor finding
becomes an :class:`AlertChange`: the row to add to the store's ``alerts`` table (with the
entity) and whether the signal's active row is closed. The entity follows the FIWARE Smart
Data Models ``Alert`` (dataModel.Alert): ``category`` (``weather``, ``naturalDisaster``),
``subCategory`` (``rainfall``, ``tropicalCyclone``, ``floodRisk``; ``sensorFault`` is a rescity
extension), ``severity`` (blue → ``low``, yellow → ``medium``, orange → ``high``, red →
``critical``; sensor faults ``informational``), ``alertSource`` (the observing entity),
``dateIssued``, ``validFrom``, ``validTo`` (set when the alert is superseded or lifted),
``location``, ``address``, a ``description`` in both languages (an NGSI-LD LanguageProperty) and
``data`` with the measured values, the rule and its source.

The text says who (the county's residents), what (the signal and the measurement), where
(station, county, prefecture) and what to do (the defence guideline of the signal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from rescity.sense.anomaly import AnomalyEvent
from rescity.sense.ngsi import TIME_FORMAT
from rescity.sense.rules import LEVEL_NAMES, RuleSet, Transition

SEVERITY: dict[str, str] = {"blue": "low", "yellow": "medium", "orange": "high", "red": "critical"}
CONTEXT: list[str] = [
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    "https://smartdatamodels.org/context.jsonld",
]
ACTIONS_ZH = {"issue": "发布", "escalate": "升级", "downgrade": "降级", "cancel": "解除"}
ACTIONS_EN = {"issue": "Issued", "escalate": "Raised", "downgrade": "Lowered", "cancel": "Lifted"}
QUANTITY_TEXT = {
    "rain_mm": ("降雨", "rain", "毫米", "mm"),
    "wind_ms": ("平均风速", "mean wind", "米/秒", "m/s"),
    "gust_ms": ("阵风", "gust", "米/秒", "m/s"),
    "water_level_m": ("水位", "river stage", "米", "m"),
}


@lru_cache(maxsize=65_536)
def format_time(t: float) -> str:
    """Epoch seconds → ISO 8601 UTC text with microseconds (the store's time format)."""
    return datetime.fromtimestamp(round(t, 6), UTC).strftime(TIME_FORMAT)


@dataclass
class AlertChange:
    """What a transition does to the ``alerts`` table.

    ``close``: close the active row of ``key`` (its entity gets ``validTo``). ``row``: a new
    open row (``None``: nothing new). ``only_if_absent``: add the row only when ``key`` has no
    active row (de-duplication of fault alerts).
    """

    key: str
    at: str
    close: bool = False
    close_note: str = ""
    row: dict[str, Any] | None = None
    only_if_absent: bool = False
    entity: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _place(station: dict[str, Any] | None, station_id: str) -> dict[str, Any]:
    s = station or {}
    return {
        "station_zh": s.get("name_zh") or station_id,
        "station_en": s.get("name_en") or station_id,
        "county_code": s.get("county_code") or None,
        "county_zh": s.get("county_zh") or "",
        "county_en": s.get("county_en") or "",
        "prefecture_zh": s.get("prefecture_zh") or "",
        "prefecture_en": s.get("prefecture_en") or "",
        "population": s.get("population"),
        "lon": s.get("lon"),
        "lat": s.get("lat"),
    }


def _who(p: dict[str, Any]) -> tuple[str, str]:
    pop = p["population"]
    if not p["county_zh"]:
        return "站点周边居民", "people near the station"
    where_zh = f"{p['county_zh']}（{p['prefecture_zh']}）" if p["prefecture_zh"] else p["county_zh"]
    where_en = f"{p['county_en']}, {p['prefecture_en']}" if p["prefecture_en"] else p["county_en"]
    if pop and pop == pop:
        return f"{where_zh}常住人口约{pop / 1e4:.0f}万人", f"the {pop / 1e6:.2f} million residents of {where_en}"
    return where_zh, f"residents of {where_en}"


def _measure_text(tr: Transition, rules: RuleSet) -> tuple[str, str]:
    """The measurement behind a transition, in Chinese and English."""
    fam = rules.by_family[tr.family]
    r = tr.rule or max(fam, key=lambda x: tr.measures.get(x.id, float("-inf")))
    zh_q, en_q, zh_u, en_u = QUANTITY_TEXT.get(r.quantity, (r.quantity, r.quantity, "", ""))
    if tr.family == "typhoon":
        w = next((tr.measures[x.id] for x in fam if x.quantity == "wind_ms" and x.id in tr.measures), None)
        g = next((tr.measures[x.id] for x in fam if x.quantity == "gust_ms" and x.id in tr.measures), None)
        zh = "，".join(s for s in (f"平均风速{w:.1f}米/秒" if w is not None else "", f"阵风{g:.1f}米/秒" if g is not None else "") if s)
        en = ", ".join(s for s in (f"mean wind {w:.1f} m/s" if w is not None else "", f"gust {g:.1f} m/s" if g is not None else "") if s)
        return zh, en
    m = tr.measures.get(r.id)
    if m is None:
        return "", ""
    if r.measure == "sum":
        return f"过去{r.window_h:g}小时{zh_q}{m:.1f}{zh_u}", f"{m:.1f} {en_u} of {en_q} in the last {r.window_h:g} h"
    if r.measure == "rise":
        return f"{zh_q}{r.window_h:g}小时上涨{m:.2f}{zh_u}", f"{en_q} rose {m:.2f} {en_u} in {r.window_h:g} h"
    zh, en = f"{zh_q}{m:.2f}{zh_u}", f"{en_q} {m:.2f} {en_u}"
    st = tr.stages
    if r.quantity == "water_level_m" and st:
        parts_zh, parts_en = [], []
        for k, zn, en_name in (
            ("warning_stage_m", "警戒", "warning"),
            ("guaranteed_stage_m", "保证", "guaranteed"),
            ("record_stage_m", "历史最高", "record"),
        ):
            if st.get(k) is not None:
                parts_zh.append(f"{zn}{st[k]:.2f}米")
                parts_en.append(f"{en_name} {st[k]:.2f} m")
        zh += f"（{'，'.join(parts_zh)}）"
        en += f" ({', '.join(parts_en)})"
    return zh, en


def _entity(
    alert_id: str,
    *,
    category: str,
    sub_category: str,
    severity: str,
    source_entity: str,
    issued_at: str,
    valid_from: str,
    place: dict[str, Any],
    text_zh: str,
    text_en: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "id": alert_id,
        "type": "Alert",
        "category": {"type": "Property", "value": category},
        "subCategory": {"type": "Property", "value": sub_category},
        "severity": {"type": "Property", "value": severity},
        "alertSource": {"type": "Property", "value": source_entity},
        "dateIssued": {"type": "Property", "value": {"@type": "DateTime", "@value": issued_at}},
        "validFrom": {"type": "Property", "value": {"@type": "DateTime", "@value": valid_from}},
        "description": {"type": "LanguageProperty", "languageMap": {"zh": text_zh, "en": text_en}},
        "data": {"type": "Property", "value": data},
        "@context": CONTEXT,
    }
    if place.get("lon") is not None and place.get("lat") is not None:
        e["location"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [place["lon"], place["lat"]]}}
    if place.get("county_zh"):
        e["address"] = {
            "type": "Property",
            "value": {
                "addressCountry": "CN",
                "addressRegion": "浙江省 Zhejiang",
                "addressLocality": f"{place['county_zh']} {place['county_en']}".strip(),
            },
        }
    return e


def _alert_id(key: str, at: str) -> str:
    return "urn:ngsi-ld:Alert:rescity:" + key.replace("/", ":").lstrip(":") + ":" + at.replace(":", "").replace("-", "")


def signal_change(
    tr: Transition,
    rules: RuleSet,
    station: dict[str, Any] | None,
    *,
    twin: str | None,
    source_entity: str,
) -> AlertChange:
    """The alert rows and entity of a signal transition."""
    fam = rules.families[tr.family]
    p = _place(station, tr.station)
    who_zh, who_en = _who(p)
    m_zh, m_en = _measure_text(tr, rules)
    at = tr.observed_at
    if tr.level is None:  # lifted
        prev_zh, prev_en = LEVEL_NAMES[tr.previous] if tr.previous else ("", "")
        note = (
            f"\n{at} 解除：{p['county_zh'] or p['station_zh']}{fam.name_zh}{prev_zh}预警解除（{m_zh}）。"
            f"\n{at} Lifted: the {fam.name_en} {prev_en} signal for {p['county_en'] or p['station_en']} is lifted ({m_en})."
        )
        return AlertChange(tr.key, at, close=True, close_note=note)
    lv_zh, lv_en = LEVEL_NAMES[tr.level]
    act_zh, act_en = ACTIONS_ZH[tr.action], ACTIONS_EN[tr.action]
    advice = fam.advice.get(tr.level, {})
    where_zh = p["county_zh"] or p["station_zh"]
    where_en = p["county_en"] or p["station_en"]
    title = f"{where_zh}{fam.name_zh}{lv_zh}预警 · {where_en} {fam.name_en} {lv_en} warning"
    cond = tr.rule.describe() if tr.rule else ""
    text_zh = (
        f"{act_zh}{fam.name_zh}{lv_zh}预警：{p['station_zh']}{m_zh}，"
        f"达到{fam.name_zh}{lv_zh}预警标准。影响：{who_zh}。防御：{advice.get('zh', '')}"
    )
    text_en = (
        f"{act_en} {fam.name_en} {lv_en} warning: {m_en} at {p['station_en']}, meeting the "
        f"{lv_en} signal. Who: {who_en}. What to do: {advice.get('en', '')}"
    )
    data = {
        "signal": tr.family,
        "level": tr.level,
        "action": tr.action,
        "previous": tr.previous,
        "station": tr.station,
        "measures": {k: round(v, 3) for k, v in tr.measures.items()},
        "rule": tr.rule.id if tr.rule else None,
        "condition": cond,
        "source": rules.sources.get((tr.rule.source.split() or [""])[0], "") if tr.rule else "",
        "county_code": p["county_code"],
        "twin": twin,
    }
    aid = _alert_id(tr.key, at)
    entity = _entity(
        aid,
        category=fam.category,
        sub_category=fam.sub_category,
        severity=SEVERITY[tr.level],
        source_entity=source_entity,
        issued_at=at,
        valid_from=at,
        place=p,
        text_zh=text_zh,
        text_en=text_en,
        data=data,
    )
    row = {
        "twin": twin,
        "level": tr.level,
        "kind": tr.family,
        "title": title,
        "message": f"{text_zh}\n{text_en}",
        "unit_id": p["county_code"],
        "source": f"sense:{tr.rule.id if tr.rule else tr.family}",
        "department": fam.department,
        "sensor_id": tr.station,
        "observed_at": at,
        "rule_key": tr.key,
        "entity": entity,
    }
    return AlertChange(tr.key, at, close=tr.previous is not None, close_note=f"\n{at} → {tr.level}", row=row, entity=entity)


def fault_change(
    ev: AnomalyEvent,
    station: dict[str, Any] | None,
    *,
    twin: str | None,
    source_entity: str,
) -> AlertChange | None:
    """The alert of a faulty-sensor finding (one open alert per sensor and fault; closed on recovery)."""
    kind = "stuck" if ev.kind in ("stuck", "recovered") else "spike"
    key = f"{twin or ''}/sensor_fault.{kind}/{ev.station}/{ev.quantity}"
    at = format_time(ev.t)
    p = _place(station, ev.station)
    if ev.kind == "recovered":
        return AlertChange(key, at, close=True, close_note=f"\n{at} 传感器恢复正常 / the sensor reads normally again.")
    zh_q, en_q, _, _ = QUANTITY_TEXT.get(ev.quantity, (ev.quantity, ev.quantity, "", ""))
    what_zh = "读数突跳" if kind == "spike" else "读数长时间不变（卡滞）"
    what_en = "spiking" if kind == "spike" else "stuck"
    title = f"{p['station_zh']}{zh_q}传感器{what_zh} · {p['station_en']} {en_q} sensor {what_en}"
    text_zh = (
        f"{p['station_zh']}（{ev.station}）{zh_q}传感器{what_zh}：{ev.detail}。"
        f"处置：请检修该传感器；修复前其读数不参与预警规则。"
    )
    text_en = (
        f"The {en_q} sensor at {p['station_en']} ({ev.station}) is {what_en}: {ev.detail}. "
        f"What to do: inspect the sensor; its readings are left out of the warning rules until it recovers."
    )
    data = {"fault": kind, "station": ev.station, "quantity": ev.quantity, "value": ev.value, "score": ev.score, "twin": twin}
    entity = _entity(
        _alert_id(key, at),
        category="environment",
        sub_category="sensorFault",
        severity="informational",
        source_entity=source_entity,
        issued_at=at,
        valid_from=at,
        place=p,
        text_zh=text_zh,
        text_en=text_en,
        data=data,
    )
    row = {
        "twin": twin,
        "level": "blue",
        "kind": "sensor_fault",
        "title": title,
        "message": f"{text_zh}\n{text_en}",
        "unit_id": p["county_code"],
        "source": f"sense:anomaly.{kind}",
        "department": "platform",
        "sensor_id": ev.station,
        "observed_at": at,
        "rule_key": key,
        "entity": entity,
    }
    return AlertChange(key, at, row=row, only_if_absent=True, entity=entity)
