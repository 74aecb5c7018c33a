"""Live sensing in the store: one transaction per ingest batch, dead letters, the alert outbox,
nowcasts.

:meth:`SenseStore.sense_write` commits a whole batch — observations (each stored once: one
reading per sensor, quantity and time, a unique index), quality flags, dead letters, asset status,
alert changes and one audit entry — or nothing. An MQTT message is acknowledged only after the
transaction holding it has committed.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from typing import Any

from rescity.govern.principal import Principal
from rescity.store.base import Tx, dumps, now


def set_valid_to(entity: dict[str, Any], at: str) -> dict[str, Any]:
    """An NGSI-LD Alert entity with ``validTo`` set to ``at`` (the alert is superseded or lifted)."""
    e = dict(entity)
    e["validTo"] = {"type": "Property", "value": {"@type": "DateTime", "@value": at}}
    return e

OBS_COLUMNS = (
    "twin",
    "sensor_id",
    "asset_id",
    "quantity",
    "value",
    "unit",
    "observed_at",
    "received_at",
    "batch",
    "entity_id",
    "quality",
)
DEAD_COLUMNS = ("received_at", "source", "topic", "reason", "detail", "field", "entity_id", "entity_type", "payload")


def _active(tx: Tx, key: str) -> list[dict[str, Any]]:
    return tx.dicts(
        "SELECT id, level, entity, message FROM alerts WHERE rule_key = ? AND status <> 'closed'", (key,)
    )


class SenseStore:
    """Sensing persistence (mixed into :class:`rescity.store.Store`)."""

    def sense_write(
        self,
        *,
        observations: Sequence[Sequence[Any]] = (),
        quality: Sequence[tuple[str, str, str, str]] = (),
        dead: Sequence[Sequence[Any]] = (),
        statuses: Sequence[tuple[str, str, str, str]] = (),
        alerts: Sequence[Any] = (),
        actor: Principal,
        source: str = "sense",
    ) -> dict[str, Any]:
        """Write one ingest batch in one transaction.

        Parameters
        ----------
        observations:
            Rows ``(twin, sensor_id, asset_id, quantity, value, unit, observed_at, entity_id, quality)``;
            a reading of a sensor, quantity and time already stored is skipped.
        quality:
            ``(quality, sensor_id, quantity, observed_at)``: flags set on stored readings.
        dead:
            Rows ``(source, topic, reason, detail, field, entity_id, entity_type, payload)``.
        statuses:
            ``(twin, asset_id, status, at)``: live asset status, applied only when ``at`` is not
            older than the asset's current status time.
        alerts:
            :class:`rescity.sense.alerts.AlertChange` objects, in order.

        Returns
        -------
        dict
            ``stored`` (new observation rows), ``duplicates``, ``dead``, ``status_changed``
            (twins whose live status changed), ``alert_ids`` (new rows), ``closed_ids``.
        """
        ts = now()
        batch = uuid.uuid4().hex
        obs = [
            (r[0], r[1], r[2], r[3], None if r[4] is None or (isinstance(r[4], float) and math.isnan(r[4])) else r[4],
             r[5], r[6], ts, batch, r[7], r[8])
            for r in observations
        ]
        out: dict[str, Any] = {"stored": 0, "duplicates": 0, "dead": len(dead), "status_changed": [], "alert_ids": [], "closed_ids": []}
        with self.write() as tx:  # type: ignore[attr-defined]
            if obs:
                before = self._changes(tx)
                tx.executemany(
                    f"INSERT INTO observations ({', '.join(OBS_COLUMNS)}) VALUES ({', '.join('?' * len(OBS_COLUMNS))}) "
                    "ON CONFLICT (sensor_id, quantity, observed_at) WHERE entity_id IS NOT NULL DO NOTHING",
                    obs,
                )
                stored = self._changes(tx) - before if before is not None else tx.cur.rowcount
                out["stored"] = int(stored) if stored is not None and stored >= 0 else len(obs)
                out["duplicates"] = len(obs) - out["stored"]
            if quality:
                tx.executemany(
                    "UPDATE observations SET quality = ? WHERE sensor_id = ? AND quantity = ? AND observed_at = ? "
                    "AND entity_id IS NOT NULL",
                    list(quality),
                )
            if dead:
                tx.executemany(
                    f"INSERT INTO dead_letters ({', '.join(DEAD_COLUMNS)}) VALUES ({', '.join('?' * len(DEAD_COLUMNS))})",
                    [(ts, *r) for r in dead],
                )
            changed: set[str] = set()
            for twin, asset_id, status, at in statuses:
                cur = tx.execute(
                    "UPDATE assets SET status = ?, status_at = ?, status_source = ? WHERE twin = ? AND asset_id = ? "
                    "AND (status_at IS NULL OR status_at <= ?) AND NOT (status = ? AND status_at = ?)",
                    (status, at, source, twin, asset_id, at, status, at),
                )
                if cur.rowcount:
                    changed.add(twin)
            for twin in sorted(changed):
                tx.execute("UPDATE twins SET version = version + 1 WHERE name = ?", (twin,))
            out["status_changed"] = sorted(changed)
            for ch in alerts:
                self._alert_change(tx, ch, actor, ts, out)
            tx.audit(
                actor,
                "sense.ingest",
                "observations",
                {
                    "batch": batch,
                    "stored": out["stored"],
                    "duplicates": out["duplicates"],
                    "dead_letters": len(dead),
                    "status": len(statuses),
                    "alerts": len(out["alert_ids"]),
                    "closed": len(out["closed_ids"]),
                },
            )
        return out

    def _changes(self, tx: Tx) -> int | None:
        if getattr(self, "backend", "") == "sqlite":
            return int(tx.conn.total_changes)
        return None

    def _alert_change(self, tx: Tx, ch: Any, actor: Principal, ts: str, out: dict[str, Any]) -> None:
        active = _active(tx, ch.key) if (ch.close or ch.only_if_absent) else []
        if ch.only_if_absent and active:
            return
        if ch.close:
            for a in active:
                ent = json.loads(a["entity"]) if a["entity"] else None
                tx.execute(
                    "UPDATE alerts SET status = 'closed', updated_at = ?, updated_by = ?, message = ?, entity = ?, "
                    "published_at = NULL WHERE id = ?",
                    (
                        ts,
                        actor.username,
                        (a["message"] or "") + ch.close_note,
                        dumps(set_valid_to(ent, ch.at)) if ent else None,
                        a["id"],
                    ),
                )
                out["closed_ids"].append(int(a["id"]))
        r = ch.row
        if r is None:
            return
        aid = tx.insert_id(
            "INSERT INTO alerts (twin, level, kind, title, message, asset_id, unit_id, source, status, created_at, "
            "created_by, department, rule_key, sensor_id, observed_at, entity) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                r.get("twin"),
                r["level"],
                r["kind"],
                r["title"],
                r.get("message") or "",
                r.get("asset_id"),
                r.get("unit_id"),
                r.get("source") or "",
                ts,
                actor.username,
                r.get("department") or actor.department,
                r["rule_key"],
                r.get("sensor_id"),
                r.get("observed_at"),
                dumps(r["entity"]),
            ),
        )
        out["alert_ids"].append(aid)

    # -- the alert outbox ------------------------------------------------------------------
    def unpublished_alerts(self, limit: int = 500) -> list[dict[str, Any]]:
        """Alerts with an NGSI-LD entity not yet published (new, superseded or lifted), oldest first."""
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts(
                "SELECT id, rule_key, status, level, updated_at, entity FROM alerts WHERE published_at IS NULL "
                "AND entity IS NOT NULL "
                "ORDER BY id LIMIT ?",
                (limit,),
            )
        for r in rows:
            r["entity"] = json.loads(r["entity"])
        return rows

    def mark_published(self, done: Sequence[tuple[int, str | None]], at: str | None = None) -> int:
        """Record that alerts went out: ``(id, updated_at as read)`` pairs. An alert changed since it
        was read (closed meanwhile) stays unpublished. Bookkeeping, not audited. Returns rows marked."""
        if not done:
            return 0
        eq = "IS NOT DISTINCT FROM" if self.backend == "postgresql" else "IS"  # type: ignore[attr-defined]
        ts = at or now()
        n = 0
        with self.write() as tx:  # type: ignore[attr-defined]
            for i, upd in done:
                n += tx.execute(
                    f"UPDATE alerts SET published_at = ? WHERE id = ? AND updated_at {eq} ?", (ts, int(i), upd)
                ).rowcount
        return n

    def active_sense_alerts(self, twin: str) -> list[dict[str, Any]]:
        """Open or acknowledged alerts raised by rules (``rule_key`` set) for ``twin``."""
        with self.read() as q:  # type: ignore[attr-defined]
            return q.dicts(
                "SELECT id, rule_key, level, kind, sensor_id, observed_at FROM alerts "
                "WHERE rule_key IS NOT NULL AND status <> 'closed' AND twin = ?",
                (twin,),
            )

    # -- readings for warming up the rules -------------------------------------------------
    def latest_observed_at(self, twin: str) -> str | None:
        """The latest time of a reading stored by sensing for ``twin``."""
        with self.read() as q:  # type: ignore[attr-defined]
            return q.scalar(
                "SELECT MAX(observed_at) FROM observations WHERE twin = ? AND entity_id IS NOT NULL", (twin,)
            )

    def recent_readings(
        self, twin: str, since: str, sensors: Sequence[str] | None = None
    ) -> list[tuple[str, str, float, str, str]]:
        """``(sensor_id, quantity, value, observed_at, quality)`` since ``since``, oldest first."""
        base = (
            "SELECT sensor_id, quantity, value, observed_at, quality FROM observations WHERE twin = ? "
            "AND observed_at >= ? AND entity_id IS NOT NULL AND quantity <> 'asset_status'"
        )
        out: list[tuple] = []
        with self.read() as q:  # type: ignore[attr-defined]
            if sensors is None:
                out = q.all(base + " ORDER BY observed_at", (twin, since))
            else:
                ids = list(dict.fromkeys(sensors))
                for i in range(0, len(ids), 400):
                    part = ids[i : i + 400]
                    out.extend(
                        q.all(base + f" AND sensor_id IN ({', '.join('?' * len(part))})", (twin, since, *part))
                    )
                out.sort(key=lambda r: r[3])
        return out

    # -- dead letters ----------------------------------------------------------------------
    def list_dead_letters(
        self,
        *,
        reason: str | None = None,
        source: str | None = None,
        since: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = [], []
        for col, val in (("reason", reason), ("source", source)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if since is not None:
            where.append("received_at >= ?")
            params.append(since)
        w = " AND ".join(where) or "1 = 1"
        with self.read() as q:  # type: ignore[attr-defined]
            total = int(q.scalar(f"SELECT COUNT(*) FROM dead_letters WHERE {w}", params))
            rows = q.dicts(
                f"SELECT * FROM dead_letters WHERE {w} ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset]
            )
        return rows, total

    def dead_letter_counts(self) -> dict[str, int]:
        with self.read() as q:  # type: ignore[attr-defined]
            return {r[0]: int(r[1]) for r in q.all("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason")}

    # -- live status and nowcasts ----------------------------------------------------------
    def down_assets(self, twin: str) -> list[tuple[str, str | None]]:
        """``(asset_id, status_at)`` of the assets of ``twin`` whose live status is ``down``."""
        with self.read() as q:  # type: ignore[attr-defined]
            return [
                (r[0], r[1])
                for r in q.all("SELECT asset_id, status_at FROM assets WHERE twin = ? AND status = 'down' ORDER BY pos", (twin,))
            ]

    def add_nowcast(self, nc: dict[str, Any], *, actor: Principal) -> int:
        """Store a nowcast (:func:`rescity.sense.nowcast.nowcast`); returns its id."""
        with self.write() as tx:  # type: ignore[attr-defined]
            nid = tx.insert_id(
                "INSERT INTO nowcasts (twin, created_at, observed_at, horizon_h, down_assets, totals, units, assets, "
                "created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    nc["twin"],
                    now(),
                    nc["observed_at"],
                    float(nc["horizon_h"]),
                    int(nc["down_assets"]),
                    dumps(nc["totals"]),
                    dumps(nc["units"]),
                    dumps(nc["assets"]),
                    actor.username,
                ),
            )
            tx.audit(
                actor,
                "nowcast.create",
                f"nowcasts/{nid}",
                {"twin": nc["twin"], "down_assets": int(nc["down_assets"]), "totals": nc["totals"]},
            )
        return nid

    def latest_nowcast(self, twin: str) -> dict[str, Any] | None:
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts("SELECT * FROM nowcasts WHERE twin = ? ORDER BY id DESC LIMIT 1", (twin,))
        if not rows:
            return None
        r = rows[0]
        for k in ("totals", "units", "assets"):
            r[k] = json.loads(r[k])
        return r

    def nowcast_count(self, twin: str) -> int:
        with self.read() as q:  # type: ignore[attr-defined]
            return int(q.scalar("SELECT COUNT(*) FROM nowcasts WHERE twin = ?", (twin,)))
