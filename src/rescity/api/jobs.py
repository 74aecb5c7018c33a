"""Background jobs: a registry of job kinds and a runner that executes runs outside the web process.

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

Isolation: each run executes in a worker process of its own (``spawn``), started and supervised
by the :class:`JobRunner` of the service — never in the process that serves requests. The worker
gets the twin and the configuration through a pipe, reports progress back through it, and runs
under the address-space limit of its submitter's role (:mod:`rescity.govern.limits`); a
cancellation terminates it. At most ``workers`` run at once; at most ``max_queue`` wait, and a
submission beyond that is refused (:class:`QueueFull`, answered 429). A job function registered
as a callable must therefore be importable by name (a module-level function).
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rescity.errors import InputError
from rescity.govern.limits import RoleLimits, check_run, default_limits
from rescity.govern.principal import SYSTEM, Principal

log = logging.getLogger("rescity.jobs")

JobFn = Callable[[Any, dict[str, Any], Callable[..., None]], Mapping[str, Any]]


class Cancelled(Exception):
    """Raised inside a job by ``progress(...)`` once its run was cancelled."""


class JobUnavailable(RuntimeError):
    """The code behind a job kind cannot be imported."""


class QueueFull(RuntimeError):
    """The run queue (of the service, or of one user) is full; try again later (answered 429)."""


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
    """The ``progress`` callable handed to a job: throttled reports, cancellation."""

    def __init__(self, report: Callable[[float, str], None], cancel: threading.Event, every_s: float = 0.5):
        self.report, self.cancel, self.every_s = report, cancel, every_s
        self._last = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        if self.cancel.is_set():
            raise Cancelled()
        t = time.monotonic()
        if t - self._last >= self.every_s or fraction >= 1.0:
            self._last = t
            self.report(float(fraction), str(message))


def _set_memory_limit(mib: int) -> None:
    """Cap this process's address space at ``mib`` MiB (Linux/macOS; no-op elsewhere)."""
    if mib <= 0:
        return
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    want = int(mib) * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def _worker_main(conn, memory_mib: int, every_s: float) -> None:
    """Entry point of a worker process: receive one job, run it, send back the outcome.

    Messages to the parent: ``("progress", fraction, text)``, then one of ``("done", results)``,
    ``("input", message)`` (bad input, the job said why) or ``("error", message)``.
    """
    try:
        os.nice(5)
    except OSError:  # pragma: no cover
        pass
    try:
        jk, twin, config = conn.recv()
        _set_memory_limit(memory_mib)
        fn = jk.resolve()
        prog = _Progress(lambda f, m: conn.send(("progress", f, m)), threading.Event(), every_s)
        prog(0.0, "started")
        results = dict(fn(twin, config, progress=prog) or {})
        out = pickle.dumps(("done", results), protocol=pickle.HIGHEST_PROTOCOL)
        conn.send_bytes(out)
    except MemoryError:
        conn.send(("error", f"the run needed more memory than the {memory_mib} MiB its role allows"))
    except (JobUnavailable, InputError, ValueError, KeyError) as e:
        conn.send(("input", str(e)))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which records the failure
        conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}"))
    finally:
        conn.close()


class JobRunner:
    """Runs jobs outside the web process and records them in the store.

    Parameters
    ----------
    store:
        The store runs are recorded in.
    workers:
        Runs executed at once (each in its own process).
    max_queue:
        Runs that may wait for a free worker; one more is refused with :class:`QueueFull`.
    isolation:
        ``"process"`` (default: a supervised worker process per run) or ``"thread"`` (in this
        process; for embedding and for job functions that cannot be pickled).
    limits:
        ``role -> RoleLimits`` (default the packaged ``rules/limits.csv``).
    """

    def __init__(
        self,
        store,
        *,
        workers: int = 2,
        progress_every_s: float = 0.5,
        max_queue: int = 32,
        isolation: str = "process",
        limits: dict[str, RoleLimits] | None = None,
    ) -> None:
        if isolation not in ("process", "thread"):
            raise ValueError(f"isolation is 'process' or 'thread', not {isolation!r}")
        self.store = store
        self.workers = workers
        self.progress_every_s = progress_every_s
        self.max_queue = max_queue
        self.isolation = isolation
        self.limits = limits if limits is not None else default_limits()
        self._pool: ThreadPoolExecutor | None = None
        self._cancel: dict[str, threading.Event] = {}
        self._cancelled_by: dict[str, Principal] = {}
        self._waiting: dict[str, str] = {}  # run id -> username, not yet started
        self._active: dict[str, str] = {}  # run id -> username, waiting or running
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rescity-job")
            return self._pool

    def role_limits(self, actor: Principal) -> RoleLimits:
        """The limits of ``actor``'s role (no runs at all for a role missing from the table)."""
        return self.limits.get(actor.role) or RoleLimits(actor.role, 0, 0, 0.0, 0, 0)

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
        lim = self.role_limits(actor)
        check_run(config or {}, lim)
        with self._lock:
            if len(self._waiting) >= self.max_queue:
                raise QueueFull(
                    f"the run queue is full ({self.max_queue} runs waiting); try again when runs finish"
                )
            mine = sum(1 for u in self._active.values() if u == actor.username)
            if mine >= lim.queued:
                raise QueueFull(
                    f"user {actor.username!r} has {mine} runs waiting or running; role {actor.role!r} may "
                    f"have at most {lim.queued} at once"
                )
            run = self.store.create_run(kind, twin, config, actor=actor)
            self._waiting[run["id"]] = actor.username
            self._active[run["id"]] = actor.username
            self._cancel[run["id"]] = threading.Event()
        self._executor().submit(self._execute, run["id"], jk, actor, lim)
        return run

    def queued(self) -> int:
        """Runs waiting for a worker."""
        return len(self._waiting)

    def cancel(self, run_id: str, *, actor: Principal) -> dict[str, Any]:
        """Ask a queued or running run to stop; it ends as ``cancelled``, audited with ``actor``."""
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
        self._cancelled_by[run_id] = actor
        ev.set()
        if run["status"] == "queued":
            return self.store.finish_run(run_id, "cancelled", f"cancelled by {actor.username}", actor=actor)
        end = time.monotonic() + 10.0
        while time.monotonic() < end:
            run = self.store.get_run(run_id)
            if run["status"] != "running":
                return run
            time.sleep(0.02)
        return run

    # -- execution ----------------------------------------------------------------------------
    def _in_process(self, jk: JobKind, twin, config, progress: _Progress) -> tuple[str, Any]:
        try:
            fn = jk.resolve()
            progress(0.0, "started")
            return "done", dict(fn(twin, config, progress=progress) or {})
        except Cancelled:
            return "cancelled", None
        except (JobUnavailable, InputError, ValueError, KeyError) as e:
            return "input", str(e)
        except Exception as e:  # noqa: BLE001 - a job's bug must not kill the worker thread
            return "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}"

    def _in_worker(
        self, run_id: str, jk: JobKind, twin, config, cancel: threading.Event, lim: RoleLimits
    ) -> tuple[str, Any]:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=_worker_main,
            args=(child, lim.memory_mib, self.progress_every_s),
            name=f"rescity-run-{run_id[:8]}",
            daemon=True,
        )
        proc.start()
        child.close()
        try:
            try:
                parent.send((jk, twin, config))
            except (BrokenPipeError, EOFError, OSError):
                pass
            while True:
                if cancel.is_set():
                    return "cancelled", None
                try:
                    ready = parent.poll(0.1)
                    if ready:
                        msg = pickle.loads(parent.recv_bytes())
                except (EOFError, OSError):
                    ready, msg = True, None
                if not ready:
                    if not proc.is_alive() and not parent.poll(0):
                        msg = None
                    else:
                        continue
                if msg is None:
                    proc.join(5)
                    code = proc.exitcode
                    hint = (
                        f" (it may have run out of the {lim.memory_mib} MiB its role allows, or been killed)"
                        if code is not None and code < 0
                        else ""
                    )
                    return (
                        "error",
                        f"the worker process running it stopped unexpectedly (exit code {code}){hint}",
                    )
                if msg[0] == "progress":
                    self.store.progress_run(run_id, float(msg[1]), str(msg[2]))
                    continue
                return msg[0], msg[1]
        finally:
            parent.close()
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
                if proc.is_alive():
                    proc.kill()
            proc.join(2)

    def _execute(self, run_id: str, jk: JobKind, actor: Principal, lim: RoleLimits) -> None:
        cancel = self._cancel.setdefault(run_id, threading.Event())
        try:
            with self._lock:
                self._waiting.pop(run_id, None)
            if cancel.is_set() or not self.store.start_run(run_id):
                return
            run = self.store.get_run(run_id)
            try:
                twin = self.store.get_twin(run["twin"]) if run["twin"] else None
            except Exception as e:  # noqa: BLE001
                self.store.finish_run(run_id, "failed", f"cannot load the twin: {e}", actor=SYSTEM)
                return
            if self.isolation == "process":
                outcome, value = self._in_worker(run_id, jk, twin, run["config"], cancel, lim)
            else:
                progress = _Progress(
                    lambda f, m: self.store.progress_run(run_id, f, m), cancel, self.progress_every_s
                )
                outcome, value = self._in_process(jk, twin, run["config"], progress)
            if outcome == "cancelled" or cancel.is_set():
                by = self._cancelled_by.get(run_id)
                self.store.finish_run(
                    run_id,
                    "cancelled",
                    f"cancelled by {by.username if by else 'request'}",
                    actor=by or SYSTEM,
                )
                return
            if outcome == "input":
                self.store.finish_run(run_id, "failed", str(value), actor=SYSTEM)
                return
            if outcome == "error":
                log.error("run %s failed:\n%s", run_id, value)
                self.store.finish_run(run_id, "failed", str(value).split("\n", 1)[0], actor=SYSTEM)
                return
            results = value
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
            with self._lock:
                self._cancel.pop(run_id, None)
                self._cancelled_by.pop(run_id, None)
                self._waiting.pop(run_id, None)
                self._active.pop(run_id, None)

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
