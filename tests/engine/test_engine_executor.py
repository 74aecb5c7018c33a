"""The one worker pool: ordered results, the shared payload, progress, and seeds per realisation
so results do not depend on the number of workers or the chunk size."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rescity.engine.executor import chunk_bounds, imap_chunks, map_chunks, realisation_seed
from rescity.errors import InputError


def _draws(shared, start, stop):
    seed, scale = shared
    return np.stack(
        [np.random.default_rng(realisation_seed(seed, r)).normal(size=3) * scale for r in range(start, stop)]
    )


def _pid(shared, i):
    return os.getpid(), id(shared)


def test_chunk_bounds_cover_every_realisation_once():
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_bounds(3, 8) == [(0, 3)]
    with pytest.raises(InputError):
        chunk_bounds(5, 0)


def test_results_do_not_depend_on_workers_or_chunk_size():
    ref = np.concatenate(map_chunks(_draws, chunk_bounds(12, 12), shared=(5, 2.0)))
    for workers, size in ((1, 1), (2, 5), (3, 2)):
        got = np.concatenate(map_chunks(_draws, chunk_bounds(12, size), shared=(5, 2.0), workers=workers))
        np.testing.assert_array_equal(got, ref)
    # and each row is the documented stream SeedSequence(seed, spawn_key=(r,))
    want = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(7,))).normal(size=3) * 2.0
    np.testing.assert_array_equal(ref[7], want)


def test_progress_counts_chunks_in_order():
    seen = []
    out = list(
        imap_chunks(
            _draws, chunk_bounds(6, 2), shared=(1, 1.0), workers=2, progress=lambda d, t: seen.append((d, t))
        )
    )
    assert seen == [(1, 3), (2, 3), (3, 3)] and len(out) == 3


def test_in_process_run_passes_the_payload_itself():
    payload = object()
    out = map_chunks(_pid, [(i,) for i in range(3)], shared=payload)
    assert {o for o in out} == {(os.getpid(), id(payload))}


def test_pool_runs_in_other_processes_with_one_payload_per_worker():
    out = map_chunks(_pid, [(i,) for i in range(8)], shared=[1, 2, 3], workers=2)
    pids = {p for p, _ in out}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # a worker keeps its one copy of the payload across its chunks
    by_pid = {}
    for p, ident in out:
        by_pid.setdefault(p, set()).add(ident)
    assert all(len(v) == 1 for v in by_pid.values())


def test_bad_worker_count_is_an_input_error():
    with pytest.raises(InputError):
        map_chunks(_pid, [(0,)], workers=0)
