"""One worker pool behind every ensemble: map chunks of work, in order, locally or in processes.

    for out in imap_chunks(fn, chunks, shared=payload, workers=4, progress=cb):
        ...  # out = fn(payload, *chunk), in the order of ``chunks``

``fn`` is a module-level function ``fn(shared, *args)``; ``shared`` (the twin, compiled models,
intensities …) is shipped **once per worker** (a pool initializer; with the ``fork`` start method
it is not even pickled) rather than once per chunk; ``chunks`` are small argument tuples (say the
realisation range ``(start, stop)``). Results come back in the order of ``chunks``, so callers
collect them as if the loop had run in this process.

Reproducibility is the caller's contract: every chunk draws from random streams keyed by the
realisation (``SeedSequence(seed, spawn_key=(r, …))``, see :func:`realisation_seed`), never from
a per-worker stream, so a result does not depend on the number of workers or the chunk size.

``workers=1`` (or a single chunk) runs in this process with no pool. A later backend (Dask
``distributed``) goes behind the same two functions.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from rescity.errors import InputError

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


def imap_chunks(
    fn: Callable[..., Any],
    chunks: Sequence[tuple],
    *,
    shared: Any = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Any]:
    """Yield ``fn(shared, *chunk)`` for each chunk, in order; ``progress(done, total)`` after each.

    ``workers > 1`` runs chunks in a local process pool (``fork`` where available) with
    ``shared`` sent to each worker once.
    """
    if int(workers) != workers or workers < 1:
        raise InputError("workers must be an integer ≥ 1", field="workers", value=workers)
    total = len(chunks)
    if int(workers) == 1 or total <= 1:
        for i, args in enumerate(chunks):
            out = fn(shared, *args)
            if progress is not None:
                progress(i + 1, total)
            yield out
        return
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(max_workers=int(workers), mp_context=ctx, initializer=_init, initargs=(shared,)) as ex:
        for i, out in enumerate(ex.map(_call, [fn] * total, [tuple(a) for a in chunks])):
            if progress is not None:
                progress(i + 1, total)
            yield out


def map_chunks(
    fn: Callable[..., Any],
    chunks: Sequence[tuple],
    *,
    shared: Any = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """``list(imap_chunks(...))``: every result, in the order of ``chunks``."""
    return list(imap_chunks(fn, chunks, shared=shared, workers=workers, progress=progress))
