"""Operations data: forecasts, observations, alerts and decisions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from rescity.errors import InputError
from rescity.govern.principal import Principal
from rescity.store.base import NotFound, Tx, dumps, now

ALERT_LEVELS: tuple[str, ...] = ("blue", "yellow", "orange", "red")
ALERT_STATUSES: tuple[str, ...] = ("open", "acknowledged", "closed")
DECISION_STATUSES: tuple[str, ...] = ("proposed", "approved", "rejected")


def _page(q: Tx, table: str, where: list[str], params: list[Any], order: str, limit: int, offset: int):
    w = " AND ".join(where) or "1 = 1"
    total = int(q.scalar(f"SELECT COUNT(*) FROM {table} WHERE {w}", params))
    rows = q.dicts(
        f"SELECT * FROM {table} WHERE {w} ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    return rows, total


def _filters(**kw: Any) -> tuple[list[str], list[Any]]:
    where, params = [], []
    for col, val in kw.items():
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    return where, params


def _one(q: Tx, table: str, id_: int, what: str) -> dict[str, Any]:
    rows = q.dicts(f"SELECT * FROM {table} WHERE id = ?", (int(id_),))
    if not rows:
        raise NotFound(f"no {what} with id {id_}")
    return rows[0]


class OpsStore:
    """Forecasts, observations, alerts, decisions (mixed into :class:`rescity.store.Store`)."""

    # -- forecasts -------------------------------------------------------------------------
    def add_forecast(self, f: dict[str, Any], *, actor: Principal) -> dict[str, Any]:
        """Store a forecast: ``hazard``, ``title``, ``issued_at`` and optional ``twin``,
        ``valid_from``, ``valid_to``, ``source``, ``run_id``, ``data`` (JSON)."""
        with self.write() as tx:  # type: ignore[attr-defined]
            if f.get("twin") is not None:
                self._require_twin(tx, f["twin"])  # type: ignore[attr-defined]
            fid = tx.insert_id(
                "INSERT INTO forecasts (twin, hazard, title, issued_at, valid_from, valid_to, source, "
                "run_id, data, "
                "created_by, department, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (
                    f.get("twin"),
                    f["hazard"],
                    f.get("title") or f["hazard"],
                    f.get("issued_at") or now(),
                    f.get("valid_from"),
                    f.get("valid_to"),
                    f.get("source") or "",
                    f.get("run_id"),
                    dumps(f.get("data") or {}),
                    actor.username,
                    actor.department,
                    now(),
                ),
            )
            tx.audit(
                actor, "forecast.create", f"forecasts/{fid}", {"hazard": f["hazard"], "twin": f.get("twin")}
            )
        return self.get_forecast(fid)

    def get_forecast(self, fid: int) -> dict[str, Any]:
        with self.read() as q:  # type: ignore[attr-defined]
            r = _one(q, "forecasts", fid, "forecast")
        r["data"] = json.loads(r["data"])
        return r

    def list_forecasts(
        self, *, twin: str | None = None, hazard: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = _filters(twin=twin, hazard=hazard)
        with self.read() as q:  # type: ignore[attr-defined]
            rows, total = _page(q, "forecasts", where, params, "issued_at DESC, id DESC", limit, offset)
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows, total

    # -- observations ----------------------------------------------------------------------
    def add_observations(self, rows: Sequence[dict[str, Any]], *, actor: Principal) -> dict[str, Any]:
        """Store a batch of sensor readings atomically: ``sensor_id``, ``quantity``, ``value``,
        ``observed_at`` and optional ``twin``, ``asset_id``, ``unit``. Returns the batch id."""
        batch = uuid.uuid4().hex
        ts = now()
        vals = [
            (
                r.get("twin"),
                r["sensor_id"],
                r.get("asset_id"),
                r["quantity"],
                r.get("value"),
                r.get("unit") or "",
                r["observed_at"],
                ts,
                batch,
            )
            for r in rows
        ]
        cols = (
            "twin",
            "sensor_id",
            "asset_id",
            "quantity",
            "value",
            "unit",
            "observed_at",
            "received_at",
            "batch",
        )
        with self.write() as tx:  # type: ignore[attr-defined]
            self._bulk_insert(tx, "observations", cols, vals)  # type: ignore[attr-defined]
            tx.audit(actor, "observation.create", "observations", {"batch": batch, "rows": len(vals)})
        return {"batch": batch, "rows": len(vals)}

    def list_observations(
        self,
        *,
        twin: str | None = None,
        sensor_id: str | None = None,
        asset_id: str | None = None,
        quantity: str | None = None,
        since: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = _filters(twin=twin, sensor_id=sensor_id, asset_id=asset_id, quantity=quantity)
        if since is not None:
            where.append("observed_at >= ?")
            params.append(since)
        with self.read() as q:  # type: ignore[attr-defined]
            return _page(q, "observations", where, params, "observed_at DESC, id DESC", limit, offset)

    # -- alerts ----------------------------------------------------------------------------
    def add_alert(self, a: dict[str, Any], *, actor: Principal) -> dict[str, Any]:
        """Raise an alert: ``level`` (blue|yellow|orange|red), ``kind``, ``title`` and optional
        ``twin``, ``message``, ``asset_id``, ``unit_id``, ``source``."""
        if a.get("level") not in ALERT_LEVELS:
            raise InputError(
                f"alert level must be one of {', '.join(ALERT_LEVELS)}", field="level", value=a.get("level")
            )
        with self.write() as tx:  # type: ignore[attr-defined]
            if a.get("twin") is not None:
                self._require_twin(tx, a["twin"])  # type: ignore[attr-defined]
            aid = tx.insert_id(
                "INSERT INTO alerts (twin, level, kind, title, message, asset_id, unit_id, source, "
                "status, created_at, "
                "created_by, department) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?) RETURNING id",
                (
                    a.get("twin"),
                    a["level"],
                    a["kind"],
                    a["title"],
                    a.get("message") or "",
                    a.get("asset_id"),
                    a.get("unit_id"),
                    a.get("source") or "",
                    now(),
                    actor.username,
                    actor.department,
                ),
            )
            tx.audit(actor, "alert.create", f"alerts/{aid}", {"level": a["level"], "kind": a["kind"]})
        return self.get_alert(aid)

    def get_alert(self, aid: int) -> dict[str, Any]:
        with self.read() as q:  # type: ignore[attr-defined]
            return _one(q, "alerts", aid, "alert")

    def list_alerts(
        self,
        *,
        twin: str | None = None,
        status: str | None = None,
        level: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = _filters(twin=twin, status=status, level=level)
        with self.read() as q:  # type: ignore[attr-defined]
            return _page(q, "alerts", where, params, "created_at DESC, id DESC", limit, offset)

    def set_alert_status(self, aid: int, status: str, *, actor: Principal) -> dict[str, Any]:
        if status not in ALERT_STATUSES:
            raise InputError(
                f"alert status must be one of {', '.join(ALERT_STATUSES)}", field="status", value=status
            )
        with self.write() as tx:  # type: ignore[attr-defined]
            old = _one(tx, "alerts", aid, "alert")
            if old["status"] == "closed":
                raise InputError("the alert is closed; raise a new one instead", field="status", value=status)
            tx.execute(
                "UPDATE alerts SET status = ?, updated_at = ?, updated_by = ? WHERE id = ?",
                (status, now(), actor.username, int(aid)),
            )
            tx.audit(actor, f"alert.{status}", f"alerts/{aid}", {"from": old["status"], "to": status})
        return self.get_alert(aid)

    # -- decisions -------------------------------------------------------------------------
    def add_decision(self, d: dict[str, Any], *, actor: Principal) -> dict[str, Any]:
        """Propose a decision: ``kind``, ``title``, ``body`` (JSON) and optional ``twin``, ``run_id``."""
        with self.write() as tx:  # type: ignore[attr-defined]
            if d.get("twin") is not None:
                self._require_twin(tx, d["twin"])  # type: ignore[attr-defined]
            did = tx.insert_id(
                "INSERT INTO decisions (twin, run_id, kind, title, body, status, created_by, department, "
                "created_at) "
                "VALUES (?, ?, ?, ?, ?, 'proposed', ?, ?, ?) RETURNING id",
                (
                    d.get("twin"),
                    d.get("run_id"),
                    d["kind"],
                    d["title"],
                    dumps(d.get("body") or {}),
                    actor.username,
                    actor.department,
                    now(),
                ),
            )
            tx.audit(actor, "decision.propose", f"decisions/{did}", {"kind": d["kind"], "title": d["title"]})
        return self.get_decision(did)

    def get_decision(self, did: int) -> dict[str, Any]:
        with self.read() as q:  # type: ignore[attr-defined]
            r = _one(q, "decisions", did, "decision")
        r["body"] = json.loads(r["body"])
        return r

    def list_decisions(
        self, *, twin: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = _filters(twin=twin, status=status)
        with self.read() as q:  # type: ignore[attr-defined]
            rows, total = _page(q, "decisions", where, params, "created_at DESC, id DESC", limit, offset)
        for r in rows:
            r["body"] = json.loads(r["body"])
        return rows, total

    def decide(self, did: int, approve: bool, note: str = "", *, actor: Principal) -> dict[str, Any]:
        """Approve or reject a proposed decision."""
        status = "approved" if approve else "rejected"
        with self.write() as tx:  # type: ignore[attr-defined]
            old = _one(tx, "decisions", did, "decision")
            if old["status"] != "proposed":
                raise InputError(
                    f"the decision was already {old['status']}", field="status", value=old["status"]
                )
            tx.execute(
                "UPDATE decisions SET status = ?, decided_by = ?, decided_at = ?, decision_note = ? "
                "WHERE id = ?",
                (status, actor.username, now(), note, int(did)),
            )
            tx.audit(
                actor, f"decision.{'approve' if approve else 'reject'}", f"decisions/{did}", {"note": note}
            )
        return self.get_decision(did)
