"""Figures drawn in a background process while the run goes on.

A scenario run spends seconds drawing figures (matplotlib: the county maps, the Q(t) bands) that
need none of the later stages: the maps need only the hazard and the damage run, so they can be
drawn while the recovery runs; the Q(t) figures while the tables are written. A
:class:`FigureDrawer` runs such calls in one worker process and hands back their PNG bytes when
asked; without a background process it draws in this process, at once. Either way the figures are
the same calls with the same arguments.

Figure functions are named by their import path (``"rescity.report.maps:county_map"``) so that
the calling process never imports matplotlib when the worker draws everything.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _draw(target: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    return _resolve(target)(*args, **kwargs)


class Pending:
    """A figure being drawn: :meth:`result` waits for it (and draws it here if the worker died)."""

    def __init__(self, future: Future, target: str, args: tuple, kwargs: dict[str, Any]):
        self._future, self._call = future, (target, args, kwargs)

    def result(self) -> Any:
        try:
            return self._future.result()
        except BrokenProcessPool:  # the worker was killed (memory): the same call, here
            return _draw(*self._call)


class FigureDrawer:
    """Runs figure calls in one background process (``background=True``, where processes can be
    forked) or here, at once.

    Use as a context manager (or call :meth:`close`); the worker starts on the first call."""

    def __init__(self, background: bool = True):
        # a forked worker starts at once and shares this process's modules; where there is no
        # fork (Windows), a spawned one would re-import the caller's main script: draw here
        self.background = bool(background) and "fork" in mp.get_all_start_methods()
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, target: str, /, *args: Any, **kwargs: Any) -> Pending:
        """Start ``target(*args, **kwargs)`` (``target``: ``"module:function"``); returns its
        :class:`Pending` result. An error of the call itself is raised by ``result()``."""
        if self.background:
            try:
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
                return Pending(self._pool.submit(_draw, target, args, kwargs), target, args, kwargs)
            except (BrokenProcessPool, OSError, AssertionError):
                # no worker (it died, no process can be started, or this is a daemon process,
                # which may not have children): draw here from now on
                self.close()
                self.background = False
        fut: Future = Future()
        try:
            fut.set_result(_draw(target, args, kwargs))
        except Exception as e:  # raised by result(), as from the worker
            fut.set_exception(e)
        return Pending(fut, target, args, kwargs)

    def close(self) -> None:
        """Stop the worker (figures not yet asked for are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> FigureDrawer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
