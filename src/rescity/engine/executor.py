"""One executor behind every ensemble: map chunks of work, in order, in this process, in a local
process pool or on a Dask ``distributed`` cluster.

    with resolve_executor(workers=4, scheduler=None) as ex:       # the one place that chooses
        for out in imap_chunks(fn, chunks, shared=payload, workers=ex, progress=cb):
            ...  # out = fn(payload, *chunk), in the order of ``chunks``

``fn`` is a module-level function ``fn(shared, *args)``; ``shared`` (the twin, compiled models,
intensities …) is shipped **once per worker** rather than once per chunk; ``chunks`` are small
argument tuples (say the realisation range ``(start, stop)``). Results come back in the order of
``chunks``, so callers collect them as if the loop had run in this process; ``progress(done,
total)`` is called after each chunk.

Backends (:func:`resolve_executor`, from ``workers`` and ``scheduler``):

==========================  ====================================================================
``scheduler``               runs chunks
==========================  ====================================================================
``None`` / ``"local"``      in this process (``workers=1``, or a single chunk), else a local
                            process pool of ``workers`` (``fork`` where available; the payload is
                            handed to each worker once by the pool initializer)
``"local-dask"``            a Dask ``LocalCluster`` of ``workers`` processes (one thread each),
                            started on first use and closed with the executor
``"tcp://host:8786"``       an existing Dask scheduler (any Dask address, ``host:port`` too);
                            the payload reaches each worker once, as a worker plugin
==========================  ====================================================================

``scheduler=None`` reads :data:`SCHEDULER_ENV` (``RESCITY_SCHEDULER``). Library functions take
``workers`` as an ``int`` (local) or an :class:`Executor`; only :func:`resolve_executor` looks at
the scheduler, so callers do not know which backend runs. Dask is optional (the
``distributed`` extra) and imported only when a Dask scheduler is asked for.

Reproducibility is the caller's contract: every chunk draws from random streams keyed by the
realisation (``SeedSequence(seed, spawn_key=(r, …))``, see :func:`realisation_seed`), never from
a per-worker stream, so a result does not depend on the backend, the number of workers or the
chunk size — bit for bit. A chunk whose Dask worker dies is run again on another worker (up to
``distributed.scheduler.allowed-failures`` times, default 3); as it draws from the same streams,
the result is unchanged.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from rescity.errors import InputError

#: Environment variable naming the default scheduler (see :func:`resolve_executor`).
SCHEDULER_ENV = "RESCITY_SCHEDULER"
#: ``scheduler`` value that runs locally (in process or a local process pool).
LOCAL = "local"
#: ``scheduler`` value that starts a Dask ``LocalCluster`` of ``workers`` processes.
LOCAL_DASK = "local-dask"
_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://\S+|[\w.-]+:\d{1,5})$")

#: The shared payload of this worker process (set by the pool initializer).
_SHARED: Any = None


def _init(shared: Any) -> None:  # pragma: no cover - runs in worker processes
    global _SHARED
    _SHARED = shared


def _call(fn: Callable[..., Any], args: tuple) -> Any:  # pragma: no cover - runs in worker processes
    return fn(_SHARED, *args)


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """``[(0, size), (size, 2·size), …, (·, n)]``: realisation ranges of at most ``size``."""
    if int(size) != size or size < 1:
        raise InputError("chunk_size must be an integer ≥ 1", field="chunk_size", value=size)
    return [(s, min(s + int(size), n)) for s in range(0, int(n), int(size))]


def realisation_seed(seed: int, *key: int) -> np.random.SeedSequence:
    """The seed sequence of one realisation (or one member): ``SeedSequence(seed, spawn_key=key)``."""
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


class Executor:
    """Runs ``fn(shared, *chunk)`` for each chunk somewhere; results in the order of the chunks.

    Use as a context manager (or call :meth:`close`) so that what the executor started (a
    process pool lives only during :meth:`imap`; a Dask ``LocalCluster``, a client) is closed.
    """

    #: Short description for run metadata (``in-process``, ``local pool of 4`` …).
    name: str = "executor"

    @property
    def slots(self) -> int:
        """Chunks that run at once (sizes chunks so that every slot has work)."""
        raise NotImplementedError

    def imap(
        self,
        fn: Callable[..., Any],
        chunks: Sequence[tuple],
        shared: Any = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[Any]:
        """Yield ``fn(shared, *chunk)`` for each chunk, in order; ``progress(done, total)`` after each."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what this executor started (nothing for local execution)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """In this process (``workers=1``) or in a local process pool of ``workers`` processes."""

    def __init__(self, workers: int = 1):
        if isinstance(workers, bool) or int(workers) != workers or workers < 1:
            raise InputError("workers must be an integer ≥ 1", field="workers", value=workers)
        self.workers = int(workers)
        self.name = "in-process" if self.workers == 1 else f"local pool of {self.workers}"

    @property
    def slots(self) -> int:
        return self.workers

    @property
    def forks(self) -> bool:
        """Whether a pool of several chunks runs in forked processes, which inherit this
        process's memory (objects built here before :meth:`imap` need not be built again)."""
        return self.workers > 1 and "fork" in mp.get_all_start_methods()

    def imap(self, fn, chunks, shared=None, progress=None):
        total = len(chunks)
        if self.workers == 1 or total <= 1:
            for i, args in enumerate(chunks):
                out = fn(shared, *args)
                if progress is not None:
                    progress(i + 1, total)
                yield out
            return
        methods = mp.get_all_start_methods()
        ctx = mp.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=_init, initargs=(shared,)
        ) as ex:
            for i, out in enumerate(ex.map(_call, [fn] * total, [tuple(a) for a in chunks])):
                if progress is not None:
                    progress(i + 1, total)
                yield out


def available_cpus(cap: int = 4) -> int:
    """CPUs this process may run on (its affinity), at most ``cap``: the default worker count of
    the demo. Results do not depend on it."""
    import os

    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(int(cap), n))


def check_scheduler(scheduler: str | None, field: str = "scheduler") -> str | None:
    """``scheduler`` stripped, or ``None`` when empty; an :class:`InputError` unless it is
    ``local``, ``local-dask`` or a Dask address (``tcp://host:8786``, ``host:8786``)."""
    if scheduler is None:
        return None
    s = str(scheduler).strip()
    if not s:
        return None
    if s in (LOCAL, LOCAL_DASK) or _ADDRESS.match(s):
        return s
    raise InputError(
        f"unknown scheduler; use {LOCAL}, {LOCAL_DASK} or a Dask address such as tcp://host:8786",
        field=field,
        value=s,
    )


def resolve_executor(workers: int = 1, scheduler: str | None = None) -> Executor:
    """The executor of an ensemble run: the one place that chooses the backend.

    ``scheduler`` (default: the environment variable :data:`SCHEDULER_ENV`, else local):
    ``local`` runs in this process or a local pool of ``workers`` processes; ``local-dask``
    starts a Dask ``LocalCluster`` of ``workers`` processes on first use; a Dask address
    (``tcp://host:8786``) connects to that scheduler (its workers; ``workers`` is not used).
    A Dask scheduler needs the ``distributed`` extra (``pip install 'rescity[distributed]'``).
    """
    if scheduler is None:
        scheduler = check_scheduler(os.environ.get(SCHEDULER_ENV), field=SCHEDULER_ENV)
    else:
        scheduler = check_scheduler(scheduler)
    local = LocalExecutor(workers)  # checks workers whatever the backend
    if scheduler is None or scheduler == LOCAL:
        return local
    try:
        from rescity.engine.executor_dask import DaskExecutor
    except ImportError as e:
        if (e.name or "").split(".")[0] not in ("dask", "distributed"):
            raise
        raise InputError(
            "a Dask scheduler needs dask.distributed: pip install 'rescity[distributed]'",
            field="scheduler",
            value=scheduler,
        ) from None
    return DaskExecutor(None if scheduler == LOCAL_DASK else scheduler, workers=local.workers)


def as_executor(workers: int | Executor) -> Executor:
    """``workers`` itself if it is an :class:`Executor`, else a :class:`LocalExecutor` of that many."""
    return workers if isinstance(workers, Executor) else LocalExecutor(workers)


def imap_chunks(
    fn: Callable[..., Any],
    chunks: Sequence[tuple],
    *,
    shared: Any = None,
    workers: int | Executor = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Any]:
    """Yield ``fn(shared, *chunk)`` for each chunk, in order; ``progress(done, total)`` after each.

    ``workers``: an :class:`Executor` (:func:`resolve_executor`), or a number of local worker
    processes (1: in this process; more: a local process pool with ``shared`` sent to each
    worker once).
    """
    ex = as_executor(workers)
    yield from ex.imap(fn, chunks, shared, progress)


def map_chunks(
    fn: Callable[..., Any],
    chunks: Sequence[tuple],
    *,
    shared: Any = None,
    workers: int | Executor = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """``list(imap_chunks(...))``: every result, in the order of ``chunks``."""
    return list(imap_chunks(fn, chunks, shared=shared, workers=workers, progress=progress))
