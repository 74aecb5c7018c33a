"""The Dask executor on a two-worker ``LocalCluster`` (one process and one thread each): the same
numbers bit for bit as in this process and in the local pool — for the runner, recovery, a
forecast issuance, the verification suite's storm runs and a scenario run — the payload once per
worker, progress in order, and a worker killed mid-run changes nothing."""

from __future__ import annotations

import os
import signal
import uuid

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from distributed import WorkerPlugin  # noqa: E402
from test_engine_executor import _draws, _pid  # noqa: E402
from test_engine_runner import same  # noqa: E402

from rescity.engine.executor import SCHEDULER_ENV, chunk_bounds, map_chunks, resolve_executor  # noqa: E402
from rescity.engine.executor_dask import DaskExecutor  # noqa: E402
from rescity.engine.recovery import RecoveryConfig, simulate_recovery  # noqa: E402
from rescity.engine.runner import simulate  # noqa: E402
from rescity.twin.toy import toy_twin  # noqa: E402


@pytest.fixture(scope="module")
def dask_ex():
    """The ``local-dask`` executor: a LocalCluster of 2 worker processes, one thread each."""
    with resolve_executor(2, "local-dask") as ex:
        ex.client.wait_for_workers(2)
        yield ex


class _KillOnce(WorkerPlugin):
    """Kills its worker process (SIGKILL) when it starts the first task whose key begins with
    ``prefix``: once in the whole cluster (the first to create ``marker``)."""

    def __init__(self, marker: str, prefix: str):
        self.marker, self.prefix = marker, prefix

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith(self.prefix):
            return
        try:
            open(self.marker, "x").close()
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


def worker_pids(ex: DaskExecutor) -> set[int]:
    return set(ex.client.run(os.getpid).values())


def test_chunks_in_order_with_progress_and_the_same_draws(dask_ex):
    ref = np.concatenate(map_chunks(_draws, chunk_bounds(12, 12), shared=(5, 2.0)))
    seen = []
    got = map_chunks(
        _draws, chunk_bounds(12, 5), shared=(5, 2.0), workers=dask_ex, progress=lambda d, t: seen.append((d, t))
    )
    np.testing.assert_array_equal(np.concatenate(got), ref)
    assert [len(g) for g in got] == [5, 5, 2] and seen == [(1, 3), (2, 3), (3, 3)]
    assert dask_ex.slots == 2 and dask_ex.name == "dask local cluster of 2"


def test_the_payload_reaches_each_worker_once(dask_ex):
    out = map_chunks(_pid, [(i,) for i in range(12)], shared=list(range(1000)), workers=dask_ex)
    by_pid: dict[int, set[int]] = {}
    for p, ident in out:
        by_pid.setdefault(p, set()).add(ident)
    assert os.getpid() not in by_pid and by_pid.keys() <= worker_pids(dask_ex)
    assert all(len(v) == 1 for v in by_pid.values())  # one unpickled payload per worker
    # the payload is dropped from the workers after the run
    names = dask_ex.client.run(lambda dask_worker: sorted(dask_worker.plugins))
    assert not any(n.startswith("rescity-payload") for ns in names.values() for n in ns)


@pytest.fixture(scope="module")
def storm():
    twin = toy_twin(3, 4, 3, 3)
    rng = np.random.default_rng(0)
    gust = rng.uniform(35, 65, twin.n_assets)
    cg = np.where(twin.units["level"].eq("cell").to_numpy(), 50.0, np.nan)
    return twin, {"gust_ms": gust}, {"gust_ms": cg}


def _same_sim(a, b):
    same(a, b)  # every per-unit output, damaged shares, drivers
    assert np.array_equal(a.states, b.states) and np.array_equal(a.functional, b.functional)


def _sim(storm, **kw):
    twin, ai, ci = storm
    return simulate(twin, ai, ci, 24, 11, keep_states=True, keep_functional=True, **kw)


def test_runner_bit_identical_in_process_pool_and_dask(storm, dask_ex):
    ref = _sim(storm, chunk_size=24)
    _same_sim(_sim(storm, chunk_size=5, workers=2), ref)
    d = _sim(storm, chunk_size=3, workers=dask_ex)
    _same_sim(d, ref)
    assert d.meta["chunks"] == 8 and d.meta["executor"].startswith("dask")
    auto = _sim(storm, workers=dask_ex)  # automatic chunks: two per worker
    _same_sim(auto, ref)
    assert auto.meta["chunk_size"] == 6


def test_recovery_bit_identical_in_process_pool_and_dask(storm, dask_ex):
    twin, _, _ = storm
    sim = _sim(storm)
    cfg = RecoveryConfig(policy="random")

    def rec(**kw):
        return simulate_recovery(twin, sim.states, config=cfg, seed=5, functional0=sim.functional, **kw)

    ref = rec(chunk_size=24)
    for other in (rec(chunk_size=5, workers=2), rec(chunk_size=7, workers=dask_ex)):
        for sv in ref.q:
            np.testing.assert_array_equal(other.q[sv], ref.q[sv])
            np.testing.assert_array_equal(other.customer_hours[sv], ref.customer_hours[sv])
        assert (other.restore_h != ref.restore_h).nnz == 0
        pd.testing.assert_frame_equal(other.pools, ref.pools)
    assert ref.restore_h.nnz > 0  # repairs were scheduled


def test_a_worker_killed_mid_run_is_replaced_and_the_numbers_do_not_change(storm, dask_ex, tmp_path):
    ref = _sim(storm, chunk_size=24)
    before = worker_pids(dask_ex)
    marker = tmp_path / "killed"
    name = f"kill-{uuid.uuid4().hex[:8]}"
    dask_ex.client.register_plugin(_KillOnce(str(marker), "run_chunk-"), name=name)
    try:
        got = _sim(storm, chunk_size=2, workers=dask_ex)
    finally:
        dask_ex.client.unregister_worker_plugin(name)
        dask_ex.client.wait_for_workers(2, timeout=60)
    assert marker.exists()  # a worker died running a chunk …
    assert worker_pids(dask_ex) != before  # … and its nanny started a new one
    _same_sim(got, ref)


def test_issuance_bit_identical_in_process_pool_and_dask(dask_ex):
    from rescity.forecast import ensemble as ens
    from rescity.forecast import issuance as iss
    from rescity.hazard.track import packaged_track

    twin = toy_twin(2, 2, 2, 2)
    issued = pd.Timestamp("2019-08-08 18:00", tz="UTC")
    e = ens.perturb_track(packaged_track("201910"), issued, members=3, seed=2, max_lead_h=24.0)

    def run(workers):  # the default member function: the hazard and the engine of a scenario run
        return iss.run_issuance(twin, e, realisations=2, seed=2, leads=(24,), workers=workers)

    ref = run(1)
    pd.testing.assert_frame_equal(run(2), ref)
    pd.testing.assert_frame_equal(run(dask_ex), ref)
    assert ref["mean"].abs().sum() > 0


def test_suite_storm_runs_identical_on_dask(dask_ex, tmp_path, monkeypatch):
    from rescity.history import suite

    twin = toy_twin(2, 2, 2, 2)
    out = {}
    for label, workers in (("local", 1), ("dask", dask_ex)):
        monkeypatch.setenv("RESCITY_HOME", str(tmp_path / label))  # each from an empty cache
        seen = []
        out[label] = suite.load_storms(
            twin, ["201910", "200909"], leads=(24,), members=2, realisations=2, workers=workers,
            progress=lambda i, n, sn: seen.append((i, n, sn)),  # noqa: B023
        )  # fmt: skip
        assert seen == [(1, 2, "201910"), (2, 2, "200909")]
        assert len(list((tmp_path / label).rglob("*.parquet"))) == 4  # best track and h24 per storm
    (best_a, hind_a, src_a), (best_b, hind_b, src_b) = out["local"], out["dask"]
    assert src_a == src_b and list(best_a) == list(best_b) and list(hind_a) == list(hind_b)
    for a, b in [(best_a[k], best_b[k]) for k in best_a] + [(hind_a[k], hind_b[k]) for k in hind_a]:
        for f in ("population", "gust_ms", "rain_mm", "no_power"):
            np.testing.assert_array_equal(getattr(a.exposure, f), getattr(b.exposure, f))
        assert len(a.members) == len(b.members)
        for (ga, ra), (gb, rb) in zip(a.members, b.members, strict=True):
            np.testing.assert_array_equal(ga, gb)
            np.testing.assert_array_equal(ra, rb)
    assert len(hind_a[("201910", 24)].members) == 2


def test_a_scenario_run_on_the_scheduler_of_the_environment(dask_ex, monkeypatch):
    from rescity.run.config import RunConfig
    from rescity.run.scenario import run_scenario

    twin = toy_twin(3, 4, 3, 3)

    def cfg(**kw):
        return RunConfig(sn="201910", realisations=8, seed=3, recovery={"horizon_days": 3}, **kw)

    ref = run_scenario(cfg(scheduler="local"), twin=twin)
    monkeypatch.setenv(SCHEDULER_ENV, dask_ex.client.scheduler.address)
    got = run_scenario(cfg(), twin=twin)  # scheduler None → RESCITY_SCHEDULER → that cluster
    assert got.sim.meta["executor"] == f"dask {dask_ex.client.scheduler.address}"
    pd.testing.assert_frame_equal(got.units, ref.units)
    pd.testing.assert_frame_equal(got.metrics, ref.metrics)
    assert dask_ex.client.status == "running"  # the run closed its own client, not the cluster


def test_an_unreachable_scheduler_is_an_input_error():
    import socket

    from rescity.errors import InputError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ex = DaskExecutor(f"tcp://127.0.0.1:{port}", timeout_s=1)
    with pytest.raises(InputError, match="cannot reach the Dask scheduler") as e:
        map_chunks(_pid, [(0,), (1,)], workers=ex)
    assert e.value.field == "scheduler" and e.value.value == f"tcp://127.0.0.1:{port}"
