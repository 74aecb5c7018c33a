"""From messages to one store transaction: validation, anomaly tests, rules, alerts, status.

:class:`Processor` is shared by the MQTT ingest and the HTTP route. For a batch of messages it

1. normalises every entity (:mod:`rescity.sense.ngsi`) — refused ones become dead letters;
2. adds each reading to its sensor's series, tests it for spikes and flat lines
   (:mod:`rescity.sense.anomaly`) and evaluates the warning rules on the readings that pass
   (:mod:`rescity.sense.rules`);
3. turns signal transitions and faults into alert changes (:mod:`rescity.sense.alerts`);
4. writes readings, flags, dead letters, asset status and alerts in one transaction
   (:meth:`rescity.store.Store.sense_write`).

The rules' memory (recent readings per sensor, current signal levels) lives in the process and
is rebuilt from the store at start (:meth:`Processor.warm`), so a restarted ingest carries on
where the last one stopped, and a message delivered twice changes nothing the second time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rescity.govern.principal import Principal
from rescity.sense.alerts import fault_change, format_time, signal_change
from rescity.sense.anomaly import AnomalyDetector
from rescity.sense.ngsi import MAX_FUTURE_S, Normaliser, Observation, parse_time
from rescity.sense.nowcast import horizon_from, model_for, nowcast
from rescity.sense.rules import RuleEngine, RuleSet, load_rules
from rescity.sense.stations import STAGES, Stations

#: The actor of the ingest's writes in the audit log.
ACTOR = Principal("sense", "platform", "sensor")


@dataclass
class BatchResult:
    """What one batch did."""

    messages: int = 0
    entities: int = 0
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    dead_reasons: Counter = field(default_factory=Counter)
    alert_ids: list[int] = field(default_factory=list)
    closed_ids: list[int] = field(default_factory=list)
    status_changed: bool = False
    status_t: float | None = None  # event time of the latest status reading
    transitions: list[Any] = field(default_factory=list)


class Processor:
    """Validation, rules and storage of sensor messages for one twin.

    Parameters
    ----------
    store:
        An open :class:`rescity.store.Store`.
    twin:
        Name of the stored twin whose assets Device messages may name (and whose name keys the
        signals); a twin that is not stored refuses every Device message.
    stations, rules:
        Station table and rules (the packaged ones by default).
    max_future_s:
        Seconds an observation time may lie ahead of the clock.
    """

    def __init__(
        self,
        store: Any,
        twin: str,
        *,
        stations: Stations | None = None,
        rules: RuleSet | None = None,
        detector: AnomalyDetector | None = None,
        max_future_s: float = MAX_FUTURE_S,
        clock: Callable[[], float] = time.time,
        actor: Principal = ACTOR,
    ) -> None:
        self.store = store
        self.twin = twin
        self.stations = stations or Stations.load()
        self.rules = rules or load_rules()
        self.actor = actor
        self.clock = clock
        assets = None
        if store.has_twin(twin):
            with store.read() as q:
                assets = [r[0] for r in q.all("SELECT asset_id FROM assets WHERE twin = ?", (twin,))]
        self.normalise = Normaliser(self.stations.ids, assets, max_future_s=max_future_s, clock=clock)
        self._detector_proto = detector
        self.reset()

    # -- state ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the rules' memory (series, levels, counters, stuck sensors)."""
        stages = {}
        for sid in self.stations.ids:
            st = {k: self.stations.stage(sid, k) for k in STAGES}
            stages[sid] = {k: v for k, v in st.items() if v is not None}
        self.engine = RuleEngine(self.rules, stages, twin=self.twin)
        d = self._detector_proto
        self.detector = AnomalyDetector(k=d.k, window=d.window, floors=dict(d.floors), flat=dict(d.flat)) if d else AnomalyDetector()

    def warm(self, sensors: Sequence[str] | None = None, until_t: float | None = None) -> int:
        """Rebuild the rules' memory from the store: the readings of the last hours (before the
        newest stored one, or ``until_t``) and the levels of the open signals. Returns readings read."""
        rows: list[tuple] = []
        if until_t is None:
            latest = self.store.latest_observed_at(self.twin)
            if latest is not None:
                until_t = parse_time(latest)[0]
        if until_t is not None:
            since = format_time(until_t - self.engine.keep_s)
            rows = self.store.recent_readings(self.twin, since, sensors)
        for sensor, q, value, at, quality in rows:
            if value is None:
                continue
            t = parse_time(at)[0]
            self.engine.add(sensor, q, t, float(value))
            if quality in ("spike", "stuck"):
                self.engine.get_series(sensor, q).exclude(t)
        wanted = None if sensors is None else set(sensors)
        for a in self.store.active_sense_alerts(self.twin):
            parts = str(a["rule_key"]).split("/")
            if len(parts) < 3 or (wanted is not None and parts[2] not in wanted):
                continue
            fam, station = parts[1], parts[2]
            if fam in self.rules.families:
                self.engine.set_level(fam, station, a["level"])
            elif fam == "sensor_fault.stuck" and len(parts) >= 4:
                self.detector.stuck[(station, parts[3])] = True
        return len(rows)

    # -- one batch ------------------------------------------------------------------------
    def process(self, messages: Iterable[tuple[Any, str, str]]) -> BatchResult:
        """Validate, evaluate and store ``(payload, topic, source)`` messages in one transaction."""
        res = BatchResult()
        obs_rows: list[tuple] = []
        quality: list[tuple[str, str, str, str]] = []
        dead_rows: list[tuple] = []
        statuses: list[tuple[str, str, str, str]] = []
        changes: list[Any] = []
        for payload, topic, source in messages:
            res.messages += 1
            r = self.normalise(payload, topic=topic, source=source)
            res.entities += r.entities
            for d in r.dead:
                res.dead_reasons[d.reason] += 1
                dead_rows.append((d.source, d.topic, d.reason, d.detail, d.field, d.entity_id, d.entity_type, d.payload))
            group: list[Observation] = []
            for o in r.observations:
                if group and (o.entity_id != group[0].entity_id):
                    self._group(group, obs_rows, quality, statuses, changes, res)
                    group = []
                group.append(o)
            if group:
                self._group(group, obs_rows, quality, statuses, changes, res)
        out = self.store.sense_write(
            observations=obs_rows, quality=quality, dead=dead_rows, statuses=statuses, alerts=changes, actor=self.actor
        )
        res.stored, res.duplicates, res.dead = out["stored"], out["duplicates"], out["dead"]
        res.alert_ids, res.closed_ids = out["alert_ids"], out["closed_ids"]
        res.status_changed = bool(out["status_changed"])
        return res

    def _group(self, group, obs_rows, quality, statuses, changes, res) -> None:
        twin = self.twin
        first = group[0]
        if first.entity_type == "Device":
            for o in group:
                statuses.append((twin, o.asset_id, o.status, o.observed_at))
                obs_rows.append((twin, o.sensor_id, o.asset_id, o.quantity, o.value, o.unit, o.observed_at, o.entity_id, "ok"))
                res.status_t = o.t if res.status_t is None else max(res.status_t, o.t)
            return
        station = first.sensor_id
        info = self.stations.get(station)
        fresh: list[str] = []
        t_eval = None
        for o in group:
            q = o.quantity
            qual = "ok"
            if self.engine.add(station, q, o.t, o.value):
                series = self.engine.get_series(station, q)
                for ev in self.detector.check(station, q, series, o.t):
                    if ev.kind == "spike":
                        series.exclude(ev.t)
                        quality.append(("spike", station, q, format_time(ev.t)))
                    elif ev.kind == "stuck":
                        series.exclude(o.t)
                        qual = "stuck"
                    if ev.kind != "stuck" or ev.new:
                        ch = fault_change(ev, info, twin=twin, source_entity=first.entity_id)
                        if ch is not None:
                            changes.append(ch)
                if qual == "ok":
                    fresh.append(q)
                    t_eval = o.t if t_eval is None else max(t_eval, o.t)
            obs_rows.append((twin, station, None, q, o.value, o.unit, o.observed_at, o.entity_id, qual))
        if fresh:
            at = format_time(t_eval)
            for tr in self.engine.evaluate(station, fresh, t_eval, at, stages=first.stages):
                res.transitions.append(tr)
                changes.append(signal_change(tr, self.rules, info, twin=twin, source_entity=first.entity_id))

    # -- nowcast ----------------------------------------------------------------------------
    def nowcast(self, now_t: float | None = None, *, outlook_h: float | None = 12.0) -> dict[str, Any] | None:
        """Nowcast from the live status in the store; stored, and returned with its ``id``.

        ``now_t`` is the event time (epoch s) the nowcast refers to (default: the clock).
        ``None`` when the twin is not stored.
        """
        if not self.store.has_twin(self.twin):
            return None
        down = self.store.down_assets(self.twin)
        now_t = self.clock() if now_t is None else now_t
        h = horizon_from([at for _, at in down], now_t)
        model = model_for(self.store, self.twin)
        nc = nowcast(model, [a for a, _ in down], h, twin_name=self.twin, observed_at=format_time(now_t), outlook_h=outlook_h)
        nc["id"] = self.store.add_nowcast(nc, actor=self.actor)
        return nc
