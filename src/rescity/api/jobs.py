"""Background jobs: a registry of job kinds and a runner that executes runs in threads.

A job function has the signature ``fn(twin, config, progress=...) -> dict`` where ``twin`` is the
stored :class:`~rescity.twin.model.Twin` named by the run (``None`` for kinds that need none),
``config`` the run's JSON configuration, and ``progress(fraction, message="")`` reports
progress in 0–1 (and raises :class:`Cancelled` when the run was cancelled). It returns named
results: DataFrames are stored as tables, anything else as JSON.

Kinds are registered with :func:`register_job`, either as a callable or as ``"module:attr"``,
imported when a run of that kind starts, so a missing optional dependency fails that run with a
clear message instead of failing the service. Built in: ``scenario``
(``rescity.jobs:scenario_job``), ``forecast`` (``rescity.jobs:forecast_job``) and
``summary`` (counts of a twin; small and always present).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rescity.errors import InputError
from rescity.govern.principal import SYSTEM, Principal

log = logging.getLogger("rescity.jobs")

JobFn = Callable[[Any, dict[str, Any], Callable[..., None]], Mapping[str, Any]]


class Cancelled(Exception):
    """Raised inside a job by ``progress(...)`` once its run was cancelled."""


class JobUnavailable(RuntimeError):
    """The code behind a job kind cannot be imported."""


@dataclass
class JobKind:
    kind: str
    target: JobFn | str
    needs_twin: bool = True
    description: str = ""

    def resolve(self) -> JobFn:
        if callable(self.target):
            return self.target
        module, _, attr = self.target.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise JobUnavailable(
                f"the {self.kind!r} job needs {module}.{attr}, which this installation does not have "
                f"({type(e).__name__}: {e})"
            ) from e
        return fn


_REGISTRY: dict[str, JobKind] = {}


def register_job(kind: str, fn: JobFn | str, *, needs_twin: bool = True, description: str = "") -> None:
    """Register (or replace) the function behind runs of ``kind``.

    Parameters
    ----------
    kind:
        Name clients pass as ``kind`` in ``POST /api/v1/runs``.
    fn:
        ``fn(twin, config, progress) -> dict of results``, or ``"module:attr"`` imported lazily.
    needs_twin:
        Whether a run of this kind must name a stored twin.
    """
    _REGISTRY[kind] = JobKind(kind, fn, needs_twin, description)


def job_kinds() -> dict[str, JobKind]:
    """The registered kinds."""
    return dict(_REGISTRY)


def twin_summary(twin, config: dict[str, Any], progress: Callable[..., None]) -> dict[str, Any]:
    """Counts of a twin: assets by system and kind, people by county (the ``summary`` job)."""
    progress(0.1, "counting assets")
    by_kind = twin.assets.groupby(["system", "kind"]).size().rename("assets").reset_index()
    progress(0.5, "counting people")
    u = twin.units
    counties = u.loc[u["level"] == "county", ["unit_id", "name_zh", "name_en", "population"]].reset_index(
        drop=True
    )
    progress(0.9, "done counting")
    return {
        "assets_by_kind": by_kind,
        "population_by_county": counties,
        "summary": twin.summary(),
        "metrics": pd.DataFrame(
            {
                "metric": ["assets", "units", "population"],
                "value": [float(len(twin.assets)), float(len(u)), float(counties["population"].sum())],
                "unit": ["count", "count", "people"],
            }
        ),
    }


register_job(
    "scenario", "rescity.jobs:scenario_job", description="hazard → damage → cascade → service → recovery"
)
register_job(
    "forecast", "rescity.jobs:forecast_job", description="rolling risk forecast for a forecast track"
)
register_job(
    "summary", twin_summary, description="counts of a stored twin (assets by kind, people by county)"
)


class _Progress:
    """The ``progress`` callable handed to a job: throttled store writes, cancellation."""

    def __init__(self, store, run_id: str, cancel: threading.Event, every_s: float = 0.5) -> None:
        self.store, self.run_id, self.cancel, self.every_s = store, run_id, cancel, every_s
        self._last = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        if self.cancel.is_set():
            raise Cancelled()
        t = time.monotonic()
        if t - self._last >= self.every_s or fraction >= 1.0:
            self._last = t
            self.store.progress_run(self.run_id, float(fraction), str(message))


class JobRunner:
    """Runs jobs in a thread pool of this process and records them in the store."""

    def __init__(self, store, *, workers: int = 2, progress_every_s: float = 0.5) -> None:
        self.store = store
        self.workers = workers
        self.progress_every_s = progress_every_s
        self._pool: ThreadPoolExecutor | None = None
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rescity-job")
            return self._pool

    def submit(
        self, kind: str, twin: str | None, config: dict[str, Any], *, actor: Principal
    ) -> dict[str, Any]:
        """Record a queued run and start it in the background; returns the run."""
        jk = _REGISTRY.get(kind)
        if jk is None:
            raise InputError(
                f"unknown run kind; registered kinds: {', '.join(sorted(_REGISTRY))}",
                field="kind",
                value=kind,
            )
        if jk.needs_twin and twin is None:
            raise InputError(f"a {kind!r} run needs a stored twin: pass 'twin'", field="twin", value=None)
        run = self.store.create_run(kind, twin, config, actor=actor)
        self._cancel[run["id"]] = threading.Event()
        self._executor().submit(self._execute, run["id"], jk, actor)
        return run

    def cancel(self, run_id: str, *, actor: Principal) -> dict[str, Any]:
        """Ask a queued or running run to stop; it ends as ``cancelled``."""
        run = self.store.get_run(run_id)
        if run["status"] not in ("queued", "running"):
            raise InputError(
                f"run {run_id} has finished ({run['status']}); nothing to cancel",
                field="status",
                value=run["status"],
            )
        ev = self._cancel.get(run_id)
        if ev is None:
            # Not ours (another process, or lost in a restart): cancel it in the store directly.
            return self.store.finish_run(run_id, "cancelled", f"cancelled by {actor.username}", actor=actor)
        ev.set()
        if run["status"] == "queued":
            return self.store.finish_run(run_id, "cancelled", f"cancelled by {actor.username}", actor=actor)
        return self.store.get_run(run_id)

    def _execute(self, run_id: str, jk: JobKind, actor: Principal) -> None:
        cancel = self._cancel.setdefault(run_id, threading.Event())
        try:
            if cancel.is_set() or not self.store.start_run(run_id):
                return
            run = self.store.get_run(run_id)
            progress = _Progress(self.store, run_id, cancel, self.progress_every_s)
            try:
                fn = jk.resolve()
                twin = self.store.get_twin(run["twin"]) if run["twin"] else None
                progress(0.0, "started")
                results = dict(fn(twin, run["config"], progress=progress) or {})
            except Cancelled:
                self.store.finish_run(
                    run_id, "cancelled", f"cancelled by request of {actor.username}", actor=SYSTEM
                )
                return
            except (JobUnavailable, InputError, ValueError, KeyError) as e:
                self.store.finish_run(run_id, "failed", str(e), actor=SYSTEM)
                return
            except Exception as e:  # noqa: BLE001 - a job's bug must not kill the worker thread
                log.error("run %s failed:\n%s", run_id, traceback.format_exc())
                self.store.finish_run(run_id, "failed", f"{type(e).__name__}: {e}", actor=SYSTEM)
                return
            if cancel.is_set():
                self.store.finish_run(
                    run_id, "cancelled", f"cancelled by request of {actor.username}", actor=SYSTEM
                )
                return
            self.store.finish_run(run_id, "done", "", results, actor=SYSTEM)
            if jk.kind == "forecast":
                cfg = run["config"]
                self.store.add_forecast(
                    {
                        "twin": run["twin"],
                        "hazard": str(cfg.get("hazard", "typhoon")),
                        "title": str(cfg.get("title") or f"forecast run {run_id[:8]}"),
                        "valid_from": cfg.get("valid_from"),
                        "valid_to": cfg.get("valid_to"),
                        "source": str(cfg.get("source", "")),
                        "run_id": run_id,
                        "data": {"results": sorted(results)},
                    },
                    actor=actor,
                )
        except Exception:  # noqa: BLE001 - the store itself failed; log it, keep the worker alive
            log.error("run %s: could not record the outcome:\n%s", run_id, traceback.format_exc())
        finally:
            self._cancel.pop(run_id, None)

    def wait(self, run_id: str, timeout_s: float = 30.0, poll_s: float = 0.05) -> dict[str, Any]:
        """Block until a run finishes (for tests and scripts)."""
        end = time.monotonic() + timeout_s
        while True:
            run = self.store.get_run(run_id)
            if run["status"] in ("done", "failed", "cancelled") or time.monotonic() > end:
                return run
            time.sleep(poll_s)

    def shutdown(self, wait: bool = False) -> None:
        for ev in list(self._cancel.values()):
            ev.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
