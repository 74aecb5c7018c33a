"""The Dask ``distributed`` backend of :mod:`rescity.engine.executor` (the ``distributed`` extra).

Imported only when a Dask scheduler is asked for (:func:`rescity.engine.executor.resolve_executor`).

The shared payload goes to each worker **once**, as a worker plugin registered for the length of
one :meth:`DaskExecutor.imap`: the scheduler hands it to every worker, and to every worker that
joins later (one that replaces a worker that died), which unpickles it once; each task reads it
from its worker's plugin. (A scattered, broadcast payload would do the same while nothing moves,
but the scheduler's active memory manager drops replicas it deems superfluous, after which a
worker fetches the payload again.) Chunks are submitted at once and gathered in order.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin, get_worker
from distributed.utils import silence_logging_cmgr

from rescity.engine.executor import Executor
from rescity.errors import InputError

_ENV = "distributed.nanny.pre-spawn-environ"


class _Payload(WorkerPlugin):
    """Carries the shared payload of one ensemble to a worker."""

    def __init__(self, payload: Any):
        self.payload = payload


def _run(fn: Callable[..., Any], name: str, *args: Any) -> Any:  # pragma: no cover - runs on workers
    return fn(get_worker().plugins[name].payload, *args)


class DaskExecutor(Executor):
    """Chunks as tasks on a Dask cluster: an existing scheduler at ``address``, or (``address``
    ``None``) a ``LocalCluster`` of ``workers`` processes with one thread each, started on
    first use. ``client``: an existing :class:`distributed.Client` to use (not closed here)."""

    def __init__(
        self,
        address: str | None = None,
        workers: int = 1,
        *,
        client: Client | None = None,
        timeout_s: float = 30.0,
    ):
        self.address = address
        self.workers = int(workers)
        self.timeout_s = float(timeout_s)
        self._client = client
        self._own = client is None
        self._cluster: LocalCluster | None = None
        where = address if address is not None else f"local cluster of {self.workers}"
        self.name = f"dask {where}" if client is None else f"dask {client.scheduler.address}"

    @property
    def client(self) -> Client:
        """The Dask client, connecting (or starting the local cluster) on first use."""
        if self._client is None:
            if self.address is None:
                # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers to return freed memory at once,
                # which also fixes glibc's mmap threshold: every large NumPy temporary is then a
                # fresh mapping, page-faulted anew (the engine's aggregation ran 2-3 times slower)
                with dask.config.set({f"{_ENV}.MALLOC_TRIM_THRESHOLD_": None}):
                    self._cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,  # no dashboard; its HTTP routes on any free port
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                        silence_logs=logging.ERROR,
                    )
                self._client = Client(self._cluster, set_as_default=False)
            else:
                try:
                    self._client = Client(self.address, timeout=self.timeout_s, set_as_default=False)
                except (OSError, TimeoutError) as e:
                    raise InputError(
                        f"cannot reach the Dask scheduler ({e})", field="scheduler", value=self.address
                    ) from None
        return self._client

    @property
    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def imap(self, fn, chunks, shared=None, progress=None):
        total = len(chunks)
        if total == 0:
            return
        c = self.client
        run = uuid.uuid4().hex[:12]
        name = f"rescity-payload-{run}"
        c.register_plugin(_Payload(shared), name=name)
        label = getattr(fn, "__name__", "chunk").lstrip("_")
        futures: list[Any] = []
        try:
            futures = [
                c.submit(_run, fn, name, *args, key=f"{label}-{run}-{i}", pure=False)
                for i, args in enumerate(chunks)
            ]
            for i, f in enumerate(futures):
                out = f.result()
                f.release()
                futures[i] = None
                if progress is not None:
                    progress(i + 1, total)
                yield out
        finally:
            with contextlib.suppress(Exception):  # the cluster may be gone; nothing left to free
                pending = [f for f in futures if f is not None]
                if pending:
                    c.cancel(pending)
                c.unregister_worker_plugin(name)

    def close(self) -> None:
        if self._own:
            with silence_logging_cmgr(logging.ERROR):  # no line per worker closed
                if self._client is not None:
                    self._client.close()
                if self._cluster is not None:
                    self._cluster.close()
            self._client = None
            self._cluster = None
