"""Figures drawn in a background process (:mod:`rescity.report.drawing`) are the figures drawn
here: the same files, the same PNGs in the report; errors and a dead worker behave."""

from __future__ import annotations

import multiprocessing as mp
import os
import re

import pytest

from rescity.report.drawing import FigureDrawer
from rescity.run.config import RunConfig
from rescity.run.scenario import run_scenario

FORK = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork: figures are drawn here")


def _exit_in_child(parent: int) -> int:
    if os.getpid() != parent:
        os._exit(3)  # the worker dies (as when the system kills it for memory)
    return parent


@FORK
def test_background_runs_elsewhere_and_inline_runs_here():
    with FigureDrawer() as d:
        assert d.submit("os:getpid").result() != os.getpid()
    with FigureDrawer(background=False) as d:
        assert d.submit("os:getpid").result() == os.getpid()


@pytest.mark.parametrize("background", [True, False])
def test_an_error_of_the_figure_is_raised_by_result(background):
    with FigureDrawer(background=background) as d:
        p = d.submit("math:sqrt", -1.0)
        with pytest.raises(ValueError):
            p.result()


@FORK
def test_a_dead_worker_draws_here():
    with FigureDrawer() as d:
        assert d.submit(f"{__name__}:_exit_in_child", os.getpid()).result() == os.getpid()
        assert d.submit("os:getpid").result() == os.getpid()  # the pool is gone: here too


def _in_daemon(q) -> None:
    with FigureDrawer() as d:
        q.put((d.submit("os:getpid").result() == os.getpid(), d.background))


@FORK
def test_a_daemon_process_draws_here():
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_in_daemon, args=(q,), daemon=True)  # daemons may not have children
    p.start()
    assert q.get(timeout=60) == (True, False)
    p.join()


def _images(html: str) -> list[str]:
    return re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)


def test_outputs_drawn_in_the_background_are_the_same(tmp_path):
    from rescity.twin.zhejiang import default_twin

    twin = default_twin()
    out = {}
    for background in (True, False):
        d = tmp_path / str(background)
        cfg = RunConfig.from_options(sn="201910", realisations=4, seed=5, out=d)
        run_scenario(cfg, twin=twin, background_figures=background)
        out[background] = d
    a, b = out[True], out[False]
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert sum(n.endswith(".png") for n in names) >= 2 and "qt.csv" in names
    for n in names:
        if n.endswith((".csv", ".png")):
            assert (a / n).read_bytes() == (b / n).read_bytes(), n
    ha, hb = ((x / "report.html").read_text(encoding="utf-8") for x in (a, b))
    assert len(_images(ha)) >= 6 and _images(ha) == _images(hb)
