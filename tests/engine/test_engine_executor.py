"""The one worker pool: ordered results, the shared payload, progress, and seeds per realisation
so results do not depend on the number of workers or the chunk size."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from rescity.engine.executor import (
    SCHEDULER_ENV,
    LocalExecutor,
    chunk_bounds,
    imap_chunks,
    map_chunks,
    realisation_seed,
    resolve_executor,
)
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


def test_the_scheduler_chooses_the_backend(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    ex = resolve_executor()
    assert isinstance(ex, LocalExecutor) and ex.slots == 1 and ex.name == "in-process"
    ex = resolve_executor(3, "local")
    assert isinstance(ex, LocalExecutor) and ex.slots == 3 and ex.name == "local pool of 3"
    out = map_chunks(_draws, chunk_bounds(6, 2), shared=(1, 1.0), workers=ex)
    np.testing.assert_array_equal(np.concatenate(out), np.concatenate(map_chunks(_draws, [(0, 6)], shared=(1, 1.0))))
    monkeypatch.setenv(SCHEDULER_ENV, "local")
    assert isinstance(resolve_executor(2), LocalExecutor)
    for bad in ("nonsense", "tcp:/host", "local dask", "host:port"):
        with pytest.raises(InputError, match="unknown scheduler") as e:
            resolve_executor(2, bad)
        assert e.value.field == "scheduler"
    monkeypatch.setenv(SCHEDULER_ENV, "nonsense")
    with pytest.raises(InputError) as e:
        resolve_executor(2)
    assert e.value.field == SCHEDULER_ENV and e.value.value == "nonsense"
    with pytest.raises(InputError, match="workers"):
        resolve_executor(0, "local")


def test_a_dask_scheduler_without_dask_is_an_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "rescity.engine.executor_dask", raising=False)
    for scheduler in ("local-dask", "tcp://127.0.0.1:8786"):
        with pytest.raises(InputError, match=r"pip install 'rescity\[distributed\]'") as e:
            resolve_executor(2, scheduler)
        assert e.value.field == "scheduler" and e.value.value == scheduler


def test_the_core_does_not_import_dask():
    code = (
        "import sys, rescity.engine.runner, rescity.engine.recovery, rescity.forecast.issuance, "
        "rescity.run.scenario, rescity.history.suite, rescity.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "[]"


def test_available_cpus_is_the_affinity_capped():
    import os

    from rescity.engine.executor import available_cpus

    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    assert available_cpus() == max(1, min(4, n))
    assert available_cpus(cap=1) == 1
