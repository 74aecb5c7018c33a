"""Resilience metrics: service curves Q(t) and what they say (see docs/metrics.md).

:mod:`~rescity.metrics.curves` (resilience loss, robustness, rapidity, customer-hours from a curve
or from restoration times) and :mod:`~rescity.metrics.tables` (``metrics.csv`` and ``qt.csv`` of a
recovery run).
"""

from rescity.metrics.curves import (
    customer_hours_lost,
    loss_from_times,
    qt_from_times,
    rapidity,
    resilience_loss,
    robustness,
)
from rescity.metrics.tables import metrics_table, qt_table

__all__ = [
    "customer_hours_lost",
    "loss_from_times",
    "metrics_table",
    "qt_from_times",
    "qt_table",
    "rapidity",
    "resilience_loss",
    "robustness",
]
