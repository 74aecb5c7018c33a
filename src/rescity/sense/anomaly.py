"""Streaming detection of faulty sensors: spikes and stuck (flat-lined) readings, per sensor.

Spike (after the spike test of the U.S. IOOS QARTOD manuals, e.g. *Manual for Real-Time Quality
Control of Water Level Data*, v2.1, 2021, with a robust, self-scaling threshold): when reading
``x2`` arrives, its predecessor ``x1`` (between ``x0`` and ``x2``) is tested with

    s = |x1 − (x0 + x2)/2| − |(x2 − x0)/2|,

which is how far ``x1`` stands out from both neighbours beyond the local trend (a steady rise
or fall scores at most 0). The scale is the robust standard deviation of the sensor's recent
first differences ``d`` (readings before ``x1``),

    σ = 1.4826 · median(|d − median(d)|)        (the MAD, Rousseeuw & Croux 1993),

and ``x1`` is a spike when ``s > max(floor_q, k σ)`` (default ``k`` = 6); the robust z-score
``s / σ`` is reported. The floor per quantity (:data:`SPIKE_FLOOR`) keeps a calm, flat record
(σ ≈ 0) from flagging ordinary changes.

Stuck (the QARTOD flat-line test): the last ``n`` readings (default 6, an hour of 10-min
reports) all within ``eps`` of each other and all at least ``min_abs`` in size (:data:`FLAT`):
a run of zeros is dry weather, and a run of 0.1 mm is the light, steady rain a 0.1-mm tipping
bucket reports, not a fault. A stuck sensor stays flagged until a reading moves.

Flagged readings are stored (nothing valid is dropped) with their quality and left out of the
warning rules. Detections are one report late for spikes (the next reading is needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median

from rescity.sense.rules import Series

#: Smallest spike statistic flagged, per quantity (rain per report mm, wind and gust m/s, stage m).
SPIKE_FLOOR: dict[str, float] = {"rain_mm": 20.0, "wind_ms": 8.0, "gust_ms": 10.0, "water_level_m": 0.5}
#: Flat-line test per quantity: (readings, tolerance, smallest size of a stuck value).
FLAT: dict[str, tuple[int, float, float]] = {
    "rain_mm": (6, 0.01, 1.0),
    "wind_ms": (6, 0.05, 0.5),
    "gust_ms": (6, 0.05, 0.5),
    "water_level_m": (6, 0.001, 0.0),
}
#: Robust-scale constant: σ = 1.4826 MAD for normal data.
MAD_TO_SIGMA: float = 1.4826


@dataclass
class AnomalyEvent:
    """A reading flagged as faulty, or a stuck sensor that moved again."""

    station: str
    quantity: str
    kind: str  # spike | stuck | recovered
    t: float  # time of the flagged reading
    value: float
    score: float  # robust z of a spike; readings in the flat run for stuck
    detail: str
    new: bool = True  # False for a sensor already known to be stuck


def robust_sigma(x: list[float]) -> float:
    """``1.4826 · MAD`` of ``x`` (0 for fewer than 3 values)."""
    if len(x) < 3:
        return 0.0
    m = median(x)
    return MAD_TO_SIGMA * median([abs(v - m) for v in x])


def spike_statistic(x0: float, x1: float, x2: float) -> float:
    """QARTOD spike test value of ``x1`` between ``x0`` and ``x2``."""
    return abs(x1 - (x0 + x2) / 2.0) - abs((x2 - x0) / 2.0)


@dataclass
class AnomalyDetector:
    """Per-sensor spike and flat-line tests over a :class:`~rescity.sense.rules.Series`.

    Parameters
    ----------
    k:
        Spike threshold in robust standard deviations of the recent first differences.
    window:
        First differences in the robust scale.
    floors, flat:
        Per-quantity spike floor and flat-line settings (defaults :data:`SPIKE_FLOOR`, :data:`FLAT`).
    """

    k: float = 6.0
    window: int = 36
    floors: dict[str, float] = field(default_factory=lambda: dict(SPIKE_FLOOR))
    flat: dict[str, tuple[int, float, float]] = field(default_factory=lambda: dict(FLAT))
    stuck: dict[tuple[str, str], bool] = field(default_factory=dict)

    def check(self, station: str, quantity: str, series: Series, t: float) -> list[AnomalyEvent]:
        """Test the series after the reading at ``t`` was added (only when ``t`` is its latest)."""
        if quantity not in self.floors or series.latest != t:
            return []
        out: list[AnomalyEvent] = []
        n, eps, min_abs = self.flat.get(quantity, (0, 0.0, 0.0))
        times, values = series.times, series.values
        # spike test on the previous reading (the robust scale only when the floor is passed)
        floor = self.floors[quantity]
        if len(times) >= 3:
            t1 = times[-2]
            x0, x1, x2 = values[times[-3]], values[t1], values[times[-1]]
            s = spike_statistic(x0, x1, x2)
            if s > floor and t1 not in series.excluded:
                longer = series.recent(self.window + 3)
                before = [b - a for (_, a), (_, b) in zip(longer[:-3], longer[1:-2], strict=False)]
                sigma = robust_sigma(before)
                if s > max(floor, self.k * sigma):
                    z = s / sigma if sigma > 0 else float("inf")
                    out.append(
                        AnomalyEvent(
                            station, quantity, "spike", t1, x1, z,
                            f"reading {x1:g} stands {s:.3g} beyond its neighbours {x0:g} and {x2:g} "
                            f"(threshold {max(floor, self.k * sigma):.3g}; robust z {z:.3g})",
                        )
                    )
        # flat-line test
        key = (station, quantity)
        was = self.stuck.get(key, False)
        flat = False
        if n and len(times) >= n:
            x = values[t]
            if abs(x) >= min_abs:
                flat = True
                for tt in times[-n:-1]:
                    v = values[tt]
                    if abs(v - x) > eps or abs(v) < min_abs:
                        flat = False
                        break
                if flat:
                    tail = [values[tt] for tt in times[-n:]]
                    flat = max(tail) - min(tail) <= eps
        if flat:
            self.stuck[key] = True
            x = values[t]
            out.append(
                AnomalyEvent(
                    station, quantity, "stuck", t, x, float(n),
                    f"the last {n} readings are all {x:g} (within {eps:g})",
                    new=not was,
                )
            )
        elif was:
            self.stuck[key] = False
            out.append(AnomalyEvent(station, quantity, "recovered", t, values[t], 0.0, "the reading moved again"))
        return out
