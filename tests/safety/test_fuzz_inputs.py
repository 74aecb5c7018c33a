"""Fuzz suite: every file reader and CLI entry point given malformed, hostile and odd input.

For each target (see ``tests/fuzz_support.py``) hypothesis draws a bounded, reproducible set of
inputs; each must end in success or in a one-line error with exit code 2 — never an internal
error, a run past a few seconds, or a MemoryError under the suite's address-space cap.
"""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("hypothesis")

import fuzz_support as fz  # noqa: E402

#: Examples per target: small enough for CI (about 30 s for all targets), large enough to hit
#: every mutation kind of the strategies.
EXAMPLES = 12


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("name", list(fz.targets()))
def test_no_input_crashes_hangs_or_exhausts(name, tmp):
    pytest.importorskip("pandapower") if "pandapower" in name else None
    pytest.importorskip("wntr") if "EPANET" in name else None
    strategy, run = fz.targets()[name]
    logging.disable(logging.CRITICAL)
    try:
        with fz.memory_cap():
            counts, bad = fz._run_target(tmp, EXAMPLES, 13, strategy, run)
    finally:
        logging.disable(logging.NOTSET)
    assert sum(counts.values()) == EXAMPLES
    assert counts["ok"] == EXAMPLES, (dict(counts), bad)
