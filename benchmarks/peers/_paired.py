"""Paired timing of rescity against a peer package: alternating child processes, ratio tables.

Each run is a fresh interpreter (``python <script> --child <side> …``): the parent times the
whole process (start, imports, reading inputs, the analysis, writing outputs, exit) and the
child reports the seconds of its analysis on its last stdout line (JSON). Runs alternate
peer, rescity, peer, rescity, … so that a change of machine load hits both sides alike; the
ratio of each pair (peer / rescity) is summarised by its median, min and max.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: One thread per process on both sides (BLAS, OpenMP, numexpr, numba), so that the figures are
#: single-core figures on any machine.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


def missing(*modules: str) -> list[str]:
    """The modules of ``modules`` that cannot be imported here."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def skip_if_missing(peer: str, *modules: str) -> None:
    """Print one "skipped" line and exit 0 when a module the benchmark needs is absent."""
    gone = missing(*modules)
    if gone:
        print(
            f"skipped: install {peer} (see docs/performance.md, 'Peer comparisons'); "
            f"not importable here: {', '.join(gone)}"
        )
        sys.exit(0)


def child_result(payload: dict) -> None:
    """Report a child's figures to the parent: one JSON line, last on stdout."""
    print(json.dumps(payload), flush=True)


def run_child(script: Path, args: Sequence[str], timeout_s: float = 1800.0) -> tuple[float, dict]:
    """Run ``python script --child …`` and return (whole-process seconds, the child's JSON)."""
    env = {**os.environ, **THREAD_ENV}
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
        check=False,
    )
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"child {' '.join(args)} failed (exit {p.returncode}):\n{p.stderr[-4000:]}")
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        sys.exit(f"child {' '.join(args)} printed no result:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return wall, json.loads(lines[-1])


def alternate(
    sides: dict[str, Callable[[], dict[str, float]]], pairs: int, log: Callable[[str], None] = print
) -> dict[str, list[dict[str, float]]]:
    """Call each side in turn, ``pairs`` times (A, B, A, B, …); each call returns seconds by metric."""
    out: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    for i in range(pairs):
        for name, fn in sides.items():
            t = fn()
            out[name].append(t)
            log(f"  pair {i + 1}/{pairs} {name:8s} " + ", ".join(f"{k} {v:.3f} s" for k, v in t.items()))
    return out


def _sec(x: float) -> str:
    """Seconds with three significant digits (two decimals at most above 1 s)."""
    return f"{x:.1f}" if x >= 100 else f"{x:.2f}" if x >= 1 else f"{x:.3g}"


def _mmm(xs: Sequence[float], fmt=_sec) -> str:
    return f"{fmt(statistics.median(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]"


def ratio_table(
    runs: dict[str, list[dict[str, float]]],
    peer: str,
    ours: str,
    metrics: dict[str, str],
) -> str:
    """Markdown table: per metric, both sides' seconds and the ratio peer/ours of each pair.

    Cells are ``median [min–max]`` over the pairs; ``metrics`` maps a metric key to its label.
    """
    head = f"| what | {peer} s | {ours} s | {peer} / {ours} (per pair) |\n| --- | ---: | ---: | ---: |"
    rows = [head]
    for key, label in metrics.items():
        a = [r[key] for r in runs[peer]]
        b = [r[key] for r in runs[ours]]
        ratio = [x / y for x, y in zip(a, b, strict=True)]
        rows.append(f"| {label} | {_mmm(a)} | {_mmm(b)} | {_mmm(ratio, lambda x: f'{x:.1f}')} × |")
    return "\n".join(rows)


def machine_line(extra: dict[str, str] | None = None) -> str:
    """CPU model, CPUs, load average, Python and NumPy (and ``extra``) in one line."""
    import numpy

    cpu = platform.processor() or "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except OSError:
        load = "?"
    parts = {
        "CPU": cpu,
        "CPUs": str(os.cpu_count()),
        "load (1 min)": load,
        "Python": platform.python_version(),
        "NumPy": numpy.__version__,
        **(extra or {}),
    }
    return "; ".join(f"{k} {v}" for k, v in parts.items())
