"""Job functions of the hardening tests, in a module of their own: runs execute in worker
processes, which import a job's module by name (and must not need the test modules' ``conftest``)."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

#: Distinctive values of ``affected_mean`` per unit of the small twin (units in twin order):
#: cell 331002-c2 (3 people) and 331004-c2 (7 people) carry values below k = 10, and
#: 331002-c1 is the one secondary suppression must hide (the only other positive cell of its county).
AFFECTED = [1234.5, 1234.5, 1000.25, 234.25, 999.125, 3.14159, 500.375, 7.77777]
SMALL = ("3.14159", "7.77777")
SECONDARY = "999.125"
CELL_IDS = ("331002-c1", "331002-c2", "331004-c1", "331004-c2")
MICRODATA_DEPTS = {"planning", "emergency_management", "health", "platform"}


def _units_job(twin, config, progress):
    """A scenario-like result: the units table with population and people-count quantities."""
    u = twin.units[["unit_id", "level", "parent_id", "name_zh", "name_en", "population"]].reset_index(
        drop=True
    )
    u = u.assign(affected_mean=AFFECTED, affected_p95=AFFECTED, wind_max_ms=30.0)
    rows = []
    for ind, vals in (("affected", AFFECTED), ("composite", [0.5] * len(AFFECTED))):
        rows.append(
            u.assign(
                issued="2019-08-09T00:00Z",
                lead_h=24,
                indicator=ind,
                mean=vals,
                p05=vals,
                p95=vals,
                warning=0,
                change=0.0,
                warning_change=0,
            )
        )
    issuances = pd.concat(rows, ignore_index=True)
    return {"units": u, "metrics": u, "issuances": issuances, "pid": {"pid": os.getpid()}}


def _memory_job(twin, config, progress):
    """Asks for ``config['mib']`` MiB at once."""
    a = np.ones(int(config["mib"]) * 2**20 // 8)
    return {"sum": float(a.sum())}


def _wait_job(twin, config, progress):
    for i in range(int(config.get("steps", 200))):
        progress(i / 200)
        time.sleep(0.02)
    return {}
