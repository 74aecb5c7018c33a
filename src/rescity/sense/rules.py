"""Warning rules as data, evaluated per station as observations stream in.

The packaged rules (``rules.yaml`` beside this module, printed by ``rescity sense rules``) encode

- the CMA rainstorm signals (暴雨预警信号): blue when the rain of the last 12 h reaches 50 mm,
  yellow 6 h ≥ 50 mm, orange 3 h ≥ 50 mm, red 3 h ≥ 100 mm (CMA Decree No. 16, 2007; signal
  graphics GB/T 27962-2011);
- the CMA typhoon signals (台风预警信号) from mean wind and gust: blue at Beaufort force 6
  (≥ 10.8 m/s) or gusts of force 8 (≥ 17.2 m/s), yellow 8 / 10, orange 10 / 12, red 12 / 14
  (CMA 2007; forces per GB/T 28591-2012);
- river flood signals (洪水预警信号) against each station's stages: blue near the warning stage,
  yellow at or above the warning stage (警戒水位), orange at or above the guaranteed stage
  (保证水位), red at or above the highest recorded stage (MWR 2013 / SL 758-2018);
- a rate-of-rise signal (stage now minus 1 h ago; a rescity default).

Evaluation (:class:`RuleEngine`), per family and station, on each new report:

1. each rule's measure (``last`` value, ``sum`` over a window, ``rise`` over a window) is
   compared with its ``on`` value; a rule is *on* after ``persist_on`` consecutive reports at or
   above it, and *holds* while its measure stays at or above ``off`` (hysteresis: off < on);
2. the signal escalates (or is issued) when the highest level that is on exceeds the current
   level; a level persisting is never re-issued (de-duplication);
3. once no rule at the current level or above holds, for ``persist_off`` consecutive reports,
   the signal drops to the highest level still holding, or is lifted.

Times are the observations' own times (event time), so a replayed storm gives the same signals
at any replay speed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

from rescity.errors import InputError

LEVELS: tuple[str, ...] = ("blue", "yellow", "orange", "red")
RANK: dict[str | None, int] = {None: 0, **{lv: i + 1 for i, lv in enumerate(LEVELS)}}
MEASURES: tuple[str, ...] = ("last", "sum", "rise")
LEVEL_NAMES: dict[str, tuple[str, str]] = {
    "blue": ("蓝色", "blue"),
    "yellow": ("黄色", "yellow"),
    "orange": ("橙色", "orange"),
    "red": ("红色", "red"),
}


@dataclass(frozen=True)
class Rule:
    """One threshold: ``measure(quantity) ≥ on`` raises ``level`` of ``family``."""

    id: str
    family: str
    level: str
    quantity: str
    measure: str
    on: float
    off: float
    window_h: float = 0.0
    ref: str | None = None
    persist_on: int = 1
    persist_off: int = 1
    source: str = ""

    def describe(self) -> str:
        """The condition in words, e.g. ``sum 3 h of rain_mm ≥ 50 (off < 40)``."""
        what = (
            self.quantity
            if self.measure == "last"
            else f"{self.measure} {self.window_h:g} h of {self.quantity}"
        )
        if self.ref:
            on = f"{self.ref} {self.on:+g}" if self.on else self.ref
            off = f"{self.ref} {self.off:+g}" if self.off else self.ref
        else:
            on, off = f"{self.on:g}", f"{self.off:g}"
        return f"{what} ≥ {on} (off < {off})"


@dataclass(frozen=True)
class Family:
    """A kind of signal (rainstorm, typhoon …) with its names, NGSI-LD category and advice."""

    name: str
    name_zh: str
    name_en: str
    station_kind: str
    category: str
    sub_category: str
    department: str
    source: str
    advice: Mapping[str, Mapping[str, str]]


@dataclass
class RuleSet:
    """Families, rules and the sources they cite."""

    families: dict[str, Family]
    rules: list[Rule]
    sources: dict[str, str]
    by_quantity: dict[str, list[str]] = field(default_factory=dict)  # quantity → families
    by_family: dict[str, list[Rule]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.rules:
            fams = self.by_quantity.setdefault(r.quantity, [])
            if r.family not in fams:
                fams.append(r.family)
            self.by_family.setdefault(r.family, []).append(r)

    def table(self) -> pd.DataFrame:
        """One row per rule: id, family, level, condition, persistence, source."""
        return pd.DataFrame(
            [
                {
                    "id": r.id,
                    "family": r.family,
                    "level": r.level,
                    "condition": r.describe(),
                    "persist_on": r.persist_on,
                    "persist_off": r.persist_off,
                    "source": r.source,
                }
                for r in self.rules
            ]
        )


def _num(v: Any, where: str, file: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError("must be a number", file=file, field=where, value=v) from None
    if not math.isfinite(x):
        raise InputError("must be finite", file=file, field=where, value=v)
    return x


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read a rules file (YAML; the packaged ``rules.yaml`` by default) and check it."""
    if path is None:
        text = (files("rescity.sense") / "rules.yaml").read_text(encoding="utf-8")
        file: Any = "rules.yaml (packaged)"
    else:
        from rescity.safeio import MAX_CONFIG_BYTES, read_text

        file = Path(path)
        text = read_text(file, max_bytes=MAX_CONFIG_BYTES, max_decompressed=MAX_CONFIG_BYTES)
    from rescity.safeio import load_yaml

    doc = load_yaml(text, file=file) or {}
    if not isinstance(doc, dict):
        raise InputError(f"must hold a mapping, not a {type(doc).__name__}", file=file)
    for key, kind in (("sources", dict), ("families", dict), ("rules", list)):
        if doc.get(key) is not None and not isinstance(doc.get(key), kind):
            what = "a mapping" if kind is dict else "a list"
            raise InputError(f"must be {what}", file=file, field=key, value=type(doc.get(key)).__name__)
    sources = {str(k): " ".join(str(v).split()) for k, v in (doc.get("sources") or {}).items()}
    fams: dict[str, Family] = {}
    for name, f in (doc.get("families") or {}).items():
        if not isinstance(f, dict):
            raise InputError("a family must be a mapping", file=file, field=f"families.{name}")
        if (
            f.get("advice") is not None
            and not isinstance(f.get("advice"), dict)
            or any(not isinstance(a, dict) for a in (f.get("advice") or {}).values())
        ):
            raise InputError("advice maps a level to {zh, en}", file=file, field=f"families.{name}.advice")
        for key in ("name_zh", "name_en", "category", "sub_category", "department"):
            if not f.get(key):
                raise InputError("a family needs this field", file=file, field=f"families.{name}.{key}")
        fams[name] = Family(
            name=name,
            name_zh=f["name_zh"],
            name_en=f["name_en"],
            station_kind=f.get("station_kind", ""),
            category=f["category"],
            sub_category=f["sub_category"],
            department=f["department"],
            source=str(f.get("source", "")),
            advice={
                lv: {"zh": a.get("zh", ""), "en": a.get("en", "")}
                for lv, a in (f.get("advice") or {}).items()
            },
        )
    rules = []
    seen = set()
    for i, r in enumerate(doc.get("rules") or []):
        where = f"rules[{i}]"
        if not isinstance(r, dict):
            raise InputError("a rule must be a mapping", file=file, field=where)
        rid = str(r.get("id") or "")
        if not rid or rid in seen:
            raise InputError("each rule needs a unique id", file=file, field=f"{where}.id", value=rid)
        seen.add(rid)
        if r.get("family") not in fams:
            raise InputError("unknown family", file=file, field=f"{where}.family", value=r.get("family"))
        if r.get("level") not in LEVELS:
            raise InputError(
                f"level must be one of {', '.join(LEVELS)}",
                file=file,
                field=f"{where}.level",
                value=r.get("level"),
            )
        if r.get("measure") not in MEASURES:
            raise InputError(
                f"measure must be one of {', '.join(MEASURES)}",
                file=file,
                field=f"{where}.measure",
                value=r.get("measure"),
            )
        on, off = _num(r.get("on"), f"{where}.on", file), _num(r.get("off"), f"{where}.off", file)
        if off > on:
            raise InputError(
                "off must not exceed on (hysteresis)", file=file, field=f"{where}.off", value=off
            )
        window = _num(r.get("window_h", 0), f"{where}.window_h", file)
        if r["measure"] != "last" and window <= 0:
            raise InputError(
                "sum and rise need window_h > 0", file=file, field=f"{where}.window_h", value=window
            )
        pon = _num(r.get("persist_on", 1), f"{where}.persist_on", file)
        poff = _num(r.get("persist_off", 1), f"{where}.persist_off", file)
        if pon != int(pon) or poff != int(poff) or max(pon, poff) > 10_000:
            raise InputError(
                "persistence counts reports: a whole number ≤ 10000", file=file, field=f"{where}.persist_on"
            )
        pon, poff = int(pon), int(poff)
        if pon < 1 or poff < 1:
            raise InputError("persistence counts reports: ≥ 1", file=file, field=f"{where}.persist_on")
        rules.append(
            Rule(
                id=rid,
                family=r["family"],
                level=r["level"],
                quantity=str(r.get("quantity")),
                measure=r["measure"],
                on=on,
                off=off,
                window_h=window,
                ref=r.get("ref"),
                persist_on=pon,
                persist_off=poff,
                source=str(r.get("source", "")),
            )
        )
    return RuleSet(fams, rules, sources)


# -- one sensor's recent values -------------------------------------------------------------
class Series:
    """Recent readings of one sensor, keyed by time (a repeated time replaces, never adds)."""

    __slots__ = ("times", "values", "excluded")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.values: dict[float, float] = {}
        self.excluded: set[float] = set()

    def add(self, t: float, v: float) -> bool:
        """Record a reading; True when ``t`` is a new latest time."""
        if t in self.values:
            self.values[t] = v
            return False
        latest = not self.times or t > self.times[-1]
        if latest:
            self.times.append(t)
        else:
            bisect.insort(self.times, t)
        self.values[t] = v
        return latest

    @property
    def latest(self) -> float | None:
        return self.times[-1] if self.times else None

    def value(self, t: float) -> float | None:
        """The reading at exactly ``t`` (``None`` if none, or excluded as faulty)."""
        if t in self.excluded:
            return None
        return self.values.get(t)

    def sum(self, end: float, window_s: float) -> float:
        """Sum of the readings with time in ``(end − window, end]``, faulty ones left out."""
        times = self.times
        i = bisect.bisect_right(times, end - window_s)
        j = len(times) if end >= times[-1] else bisect.bisect_right(times, end)
        vals = self.values
        if self.excluded:
            ex = self.excluded
            total = sum([vals[t] for t in times[i:j] if t not in ex])
        else:
            total = sum([vals[t] for t in times[i:j]])
        return round(total, 6)  # 500 × 0.1 mm is 50 mm, not 49.999…

    def before(self, t: float) -> tuple[float, float] | None:
        """The latest good reading at or before ``t``."""
        i = bisect.bisect_right(self.times, t)
        while i > 0:
            i -= 1
            tt = self.times[i]
            if tt not in self.excluded:
                return tt, self.values[tt]
        return None

    def recent(self, n: int, end: float | None = None) -> list[tuple[float, float]]:
        """The last ``n`` readings up to ``end`` (all of them, faulty included), oldest first."""
        j = len(self.times) if end is None else bisect.bisect_right(self.times, end)
        return [(t, self.values[t]) for t in self.times[max(0, j - n) : j]]

    def exclude(self, t: float) -> None:
        self.excluded.add(t)

    def evict(self, before: float) -> None:
        """Forget readings older than ``before``."""
        i = bisect.bisect_left(self.times, before)
        if i:
            for t in self.times[:i]:
                self.values.pop(t, None)
                self.excluded.discard(t)
            del self.times[:i]


# -- evaluation -----------------------------------------------------------------------------
@dataclass
class Transition:
    """A change of a station's signal: issued, escalated, downgraded or lifted."""

    key: str
    family: str
    station: str
    level: str | None  # the new level (None: lifted)
    previous: str | None
    action: str  # issue | escalate | downgrade | cancel
    t: float
    observed_at: str
    measures: dict[str, float]  # rule id → measure at t
    rule: Rule | None  # the rule behind the new level (None when lifted)
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class _State:
    level: str | None = None
    on_count: dict[str, int] = field(default_factory=dict)
    off_count: int = 0
    last_t: float = -math.inf


class RuleEngine:
    """Streams observations through the rules; returns signal transitions.

    Parameters
    ----------
    rules:
        The rule set (:func:`load_rules`).
    stages:
        ``station → {stage name: m}`` for rules with a ``ref`` (the station table's stages);
        stages carried by a message override them.
    twin:
        Name put in each signal's key (``<twin>/<family>/<station>``).
    keep_h:
        Hours of readings kept per sensor (at least the longest window).
    """

    def __init__(
        self,
        rules: RuleSet,
        stages: Mapping[str, Mapping[str, float]] | None = None,
        *,
        twin: str = "",
        keep_h: float | None = None,
    ) -> None:
        self.rules = rules
        self.stages = {k: dict(v) for k, v in (stages or {}).items()}
        self.twin = twin
        longest = max((r.window_h for r in rules.rules), default=0.0)
        self.keep_s = 3600.0 * max(keep_h or 0.0, longest + 1.0, 2.0)
        self.series: dict[tuple[str, str], Series] = {}
        self.state: dict[str, _State] = {}
        self._thr: dict[tuple[str, str], list] = {}

    def key(self, family: str, station: str) -> str:
        return f"{self.twin}/{family}/{station}"

    def get_series(self, station: str, quantity: str) -> Series:
        s = self.series.get((station, quantity))
        if s is None:
            s = self.series[(station, quantity)] = Series()
        return s

    def set_level(self, family: str, station: str, level: str | None) -> None:
        """Set a signal's current level (e.g. from the open alerts after a restart)."""
        self.state.setdefault(self.key(family, station), _State()).level = level

    def level(self, family: str, station: str) -> str | None:
        st = self.state.get(self.key(family, station))
        return st.level if st else None

    def add(self, station: str, quantity: str, t: float, value: float) -> bool:
        """Record a reading without evaluating (warming up); True when ``t`` is new latest."""
        s = self.get_series(station, quantity)
        new = s.add(t, value)
        if new:
            s.evict(t - self.keep_s)
        return new

    def observe(
        self,
        station: str,
        readings: Iterable[tuple[str, float, float]],
        observed_at: str,
        *,
        stages: Mapping[str, float] | None = None,
        skip: Iterable[str] = (),
    ) -> list[Transition]:
        """Record one report of a station — ``(quantity, t, value)`` readings sharing a time —
        and evaluate every family the new readings touch.

        ``skip``: quantities whose reading was flagged as faulty (recorded, excluded, not
        evaluated).
        """
        skip = set(skip)
        fresh: list[str] = []
        t_eval = -math.inf
        for q, t, v in readings:
            new = self.add(station, q, t, v)
            if q in skip:
                self.get_series(station, q).exclude(t)
                continue
            if new:
                fresh.append(q)
                t_eval = max(t_eval, t)
        return self.evaluate(station, fresh, t_eval, observed_at, stages=stages)

    def evaluate(
        self,
        station: str,
        quantities: Iterable[str],
        t: float,
        observed_at: str,
        *,
        stages: Mapping[str, float] | None = None,
    ) -> list[Transition]:
        """Evaluate the families of ``quantities`` (new readings at time ``t``, already added)."""
        if stages:
            have = self.stages.setdefault(station, {})
            if any(have.get(k) != v for k, v in stages.items()):
                have.update(stages)
                for f in self.rules.families:
                    self._thr.pop((f, station), None)
        families: list[str] = []
        for q in quantities:
            for f in self.rules.by_quantity.get(q, ()):
                if f not in families:
                    families.append(f)
        out = []
        for f in families:
            tr = self._evaluate(f, station, t, observed_at)
            if tr is not None:
                out.append(tr)
        return out

    def measure(self, rule: Rule, station: str, t: float) -> float | None:
        """A rule's measure at time ``t`` (``None`` when it cannot be evaluated)."""
        s = self.series.get((station, rule.quantity))
        if s is None:
            return None
        if rule.measure == "last":
            return s.value(t)
        if rule.measure == "sum":
            return s.sum(t, rule.window_h * 3600.0)
        # rise: now minus the latest reading at or before t − window (not older than 2 windows)
        now = s.value(t)
        then = s.before(t - rule.window_h * 3600.0)
        if now is None or then is None or t - then[0] > 2 * rule.window_h * 3600.0:
            return None
        return round(now - then[1], 6)

    def _thresholds(
        self, family: str, station: str
    ) -> list[tuple[Rule, int, tuple, float | None, float | None]]:
        """Per rule of ``family`` at ``station``: (rule, rank, measure key, on, off) thresholds."""
        key = (family, station)
        hit = self._thr.get(key)
        if hit is not None:
            return hit
        stages = self.stages.get(station, {})
        out = []
        for r in self.rules.by_family[family]:
            if r.ref is None:
                on, off = r.on, r.off
            else:
                stage = stages.get(r.ref)
                ok = stage is not None and math.isfinite(stage)
                on, off = (stage + r.on, stage + r.off) if ok else (None, None)
            out.append((r, RANK[r.level], (r.quantity, r.measure, r.window_h), on, off))
        self._thr[key] = out
        return out

    def _evaluate(self, family: str, station: str, t: float, observed_at: str) -> Transition | None:
        key = self.key(family, station)
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = _State()
        if t <= st.last_t:  # a late reading: already evaluated at a later time
            return None
        st.last_t = t
        on_rank, hold_rank = 0, 0
        on_rule: Rule | None = None
        hold_rule: Rule | None = None
        seen: list[tuple[Rule, float]] = []
        memo: dict[tuple, float | None] = {}
        counts = st.on_count
        for r, rank, mk, on_thr, off_thr in self._thresholds(family, station):
            if mk in memo:
                m = memo[mk]
            else:
                m = memo[mk] = self.measure(r, station, t)
            if m is None:
                counts[r.id] = 0
                continue
            seen.append((r, m))
            if on_thr is None:
                continue
            c = counts[r.id] = counts.get(r.id, 0) + 1 if m >= on_thr else 0
            if c >= r.persist_on and rank > on_rank:
                on_rank, on_rule = rank, r
            if m >= off_thr and rank > hold_rank:
                hold_rank, hold_rule = rank, r
        if not seen:
            return None
        cur = RANK[st.level]
        prev = st.level
        if on_rank > cur:
            st.level, st.off_count = LEVELS[on_rank - 1], 0
            return Transition(
                key,
                family,
                station,
                st.level,
                prev,
                "issue" if cur == 0 else "escalate",
                t,
                observed_at,
                {r.id: m for r, m in seen},
                on_rule,
                dict(self.stages.get(station, {})),
            )
        if cur == 0:
            return None
        if hold_rank >= cur:
            st.off_count = 0
            return None
        st.off_count += 1
        persist = max(r.persist_off for r in self.rules.by_family[family] if RANK[r.level] >= cur)
        if st.off_count < persist:
            return None
        new = max(hold_rank, on_rank)
        rule = hold_rule if hold_rank >= on_rank else on_rule
        st.level, st.off_count = (LEVELS[new - 1] if new else None), 0
        return Transition(
            key,
            family,
            station,
            st.level,
            prev,
            "downgrade" if new else "cancel",
            t,
            observed_at,
            {r.id: m for r, m in seen},
            rule if new else None,
            dict(self.stages.get(station, {})),
        )
