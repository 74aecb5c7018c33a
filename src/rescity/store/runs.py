"""Runs (background jobs) and their results.

A run moves ``queued → running → done | failed | cancelled`` with ``progress`` in 0–1. Results
are named: a table is stored as Parquet, anything else as JSON.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

import pandas as pd

from rescity.govern.principal import Principal
from rescity.store.base import NotFound, dumps, now
from rescity.store.twins import from_parquet, to_parquet

RUN_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
FINISHED: tuple[str, ...] = ("done", "failed", "cancelled")


def worker_id() -> str:
    """``host:pid`` of this process (who runs a job)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _run_row(r: dict[str, Any]) -> dict[str, Any]:
    r["config"] = json.loads(r["config"])
    r["progress"] = float(r["progress"])
    return r


class RunStore:
    """Run bookkeeping (mixed into :class:`rescity.store.Store`)."""

    def create_run(
        self,
        kind: str,
        twin: str | None,
        config: dict[str, Any],
        *,
        actor: Principal,
        worker: str | None = None,
    ) -> dict[str, Any]:
        run_id = uuid.uuid4().hex
        with self.write() as tx:  # type: ignore[attr-defined]
            if twin is not None:
                self._require_twin(tx, twin)  # type: ignore[attr-defined]
            tx.execute(
                "INSERT INTO runs (id, kind, twin, config, status, progress, message, created_by, "
                "department, worker, "
                "created_at) VALUES (?, ?, ?, ?, 'queued', 0, '', ?, ?, ?, ?)",
                (
                    run_id,
                    kind,
                    twin,
                    dumps(config),
                    actor.username,
                    actor.department,
                    worker or worker_id(),
                    now(),
                ),
            )
            tx.audit(actor, "run.create", f"runs/{run_id}", {"kind": kind, "twin": twin, "config": config})
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(f"no run with id {run_id!r}; list runs with GET /api/v1/runs")
        return _run_row(rows[0])

    def list_runs(
        self,
        *,
        twin: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = ["1 = 1"], []
        for col, val in (("twin", twin), ("kind", kind), ("status", status)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        w = " AND ".join(where)
        with self.read() as q:  # type: ignore[attr-defined]
            total = int(q.scalar(f"SELECT COUNT(*) FROM runs WHERE {w}", params))
            rows = q.dicts(
                f"SELECT * FROM runs WHERE {w} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        return [_run_row(r) for r in rows], total

    def start_run(self, run_id: str) -> bool:
        """Mark a queued run running; False if it is no longer queued (cancelled)."""
        with self.write() as tx:  # type: ignore[attr-defined]
            cur = tx.execute(
                "UPDATE runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'",
                (now(), run_id),
            )
            return cur.rowcount == 1

    def progress_run(self, run_id: str, progress: float, message: str = "") -> None:
        """Record progress of a running run (not audited: bookkeeping, many times a run)."""
        p = min(max(float(progress), 0.0), 1.0)
        with self.write() as tx:  # type: ignore[attr-defined]
            tx.execute(
                "UPDATE runs SET progress = ?, message = ? WHERE id = ? AND status = 'running'",
                (p, message[:500], run_id),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        message: str = "",
        results: dict[str, Any] | None = None,
        *,
        actor: Principal | None = None,
    ) -> dict[str, Any]:
        """Store results and the final status in one transaction (``done`` | ``failed`` | ``cancelled``)."""
        if status not in FINISHED:
            raise ValueError(f"a run finishes as one of {FINISHED}, not {status!r}")
        packed = [self._pack(run_id, k, v) for k, v in (results or {}).items()]
        with self.write() as tx:  # type: ignore[attr-defined]
            tx.execute("DELETE FROM run_results WHERE run_id = ?", (run_id,))
            tx.executemany(
                "INSERT INTO run_results (run_id, name, format, n_rows, columns, data) VALUES (?, ?, ?, "
                "?, ?, ?)",
                packed,
            )
            tx.execute(
                "UPDATE runs SET status = ?, message = ?, finished_at = ? WHERE id = ?",
                (status, message[:2000], now(), run_id),
            )
            if status == "done":
                tx.execute("UPDATE runs SET progress = 1 WHERE id = ?", (run_id,))
            tx.audit(
                actor,
                f"run.{status}",
                f"runs/{run_id}",
                {"results": [p[1] for p in packed], "message": message[:500]},
            )
        return self.get_run(run_id)

    @staticmethod
    def _pack(run_id: str, name: str, value: Any) -> tuple:
        if isinstance(value, pd.Series):
            value = value.to_frame()
        if isinstance(value, pd.DataFrame):
            df = value.copy()
            df.columns = [str(c) for c in df.columns]
            if not isinstance(df.index, pd.RangeIndex):
                df = df.reset_index()
            return (run_id, str(name), "parquet", len(df), dumps(list(df.columns)), to_parquet(df))
        text = dumps(value)
        return (run_id, str(name), "json", None, "[]", text.encode("utf-8"))

    def list_results(self, run_id: str) -> list[dict[str, Any]]:
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts(
                "SELECT name, format, n_rows, columns FROM run_results WHERE run_id = ? ORDER BY name",
                (run_id,),
            )
        for r in rows:
            r["columns"] = json.loads(r["columns"])
        return rows

    def get_result(self, run_id: str, name: str) -> pd.DataFrame | Any:
        """A result: a DataFrame (tables) or the decoded JSON value."""
        with self.read() as q:  # type: ignore[attr-defined]
            row = q.one("SELECT format, data FROM run_results WHERE run_id = ? AND name = ?", (run_id, name))
        if row is None:
            raise NotFound(
                f"run {run_id!r} has no result named {name!r}; list them with GET "
                f"/api/v1/runs/{run_id}/results"
            )
        fmt, data = row
        return from_parquet(data) if fmt == "parquet" else json.loads(bytes(data).decode("utf-8"))

    def run_metrics(
        self, *, twin: str | None = None, run_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """The ``metrics`` result of finished runs, newest first: ``run_id, kind, twin, finished_at, "
        "metrics``."""
        where, params = ["r.status = 'done'", "x.name = 'metrics'"], []
        if twin is not None:
            where.append("r.twin = ?")
            params.append(twin)
        if run_id is not None:
            where.append("r.id = ?")
            params.append(run_id)
        w = " AND ".join(where)
        base = f"FROM runs r JOIN run_results x ON x.run_id = r.id WHERE {w}"
        with self.read() as q:  # type: ignore[attr-defined]
            total = int(q.scalar(f"SELECT COUNT(*) {base}", params))
            rows = q.dicts(
                f"SELECT r.id AS run_id, r.kind, r.twin, r.finished_at {base} ORDER BY r.finished_at "
                "DESC, r.id "
                "LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        for r in rows:
            r["metrics"] = self.get_result(r["run_id"], "metrics")
        return rows, total

    def fail_orphan_runs(self, alive: Callable[[str], bool]) -> list[str]:
        """Fail queued/running runs whose worker is gone (``alive(worker) is False``)."""
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.all("SELECT id, worker FROM runs WHERE status IN ('queued', 'running')")
        gone = [rid for rid, w in rows if not alive(w)]
        for rid in gone:
            self.finish_run(rid, "failed", "interrupted: the process running it stopped before it finished")
        return gone
