"""The lifeline systems, defined once: name, labels, asset kinds, network, service output.

Every list of systems in rescity reads this registry: the twin's validation, the cascade (which
systems have a network to reach a source through, which supply others), the service model (which
systems serve people, and the ``no_<system>`` output it produces), aggregation, recovery and
Q(t), the report tables, the API and the dashboard. A new lifeline (gas, district heating …)
is one :func:`register_system` call plus its data (assets, edges, dependencies, service rows,
fragility curves and repair times).

Built-in systems, in this order (the order of columns in every output):

=========  ======  ========  =========  ==============================  ==================
name       zh      network   supplies   service output                  assets per crew
=========  ======  ========  =========  ==============================  ==================
power      电力    yes       yes        ``no_power`` people             8
water      供水    yes       yes        ``no_water`` people             60
road       道路    yes       no         ``no_road`` people              30
telecom    通信    yes       yes        ``no_telecom`` people           30
facility   设施    no        no         —                               30
=========  ======  ========  =========  ==============================  ==================

Service outputs are listed in :func:`service_systems` order (power, water, telecom, road, then
registered ones), the order of the ``no_…`` columns in ``units.csv``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rescity.errors import InputError


@dataclass(frozen=True)
class ServiceOutput:
    """People of a cell without a system's service at the horizon: the ``no_<system>`` output."""

    name: str  # e.g. "no_power"
    label_en: str  # e.g. "without power"
    label_zh: str  # e.g. "停电人口"
    unit: str = "people"


@dataclass(frozen=True)
class System:
    """One lifeline system.

    ``network``: its assets must reach a source (``is_source``) through usable nodes of its own
    graph. ``supplier``: other assets may depend on it (``dependencies.kind``). ``service``: the
    people-facing output, or ``None`` (facilities). ``service_rank`` orders service outputs.
    ``label_service``: how Q(t) of the system is named in reports ("road access").
    """

    name: str
    label_en: str
    label_zh: str
    kinds: tuple[str, ...]
    network: bool = True
    supplier: bool = False
    service: ServiceOutput | None = None
    service_rank: int = 100
    assets_per_crew: float = 30.0  # default crews: one per this many assets of the system in a prefecture
    label_service: str = ""
    color: str = "#7f8c8d"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def output(self) -> str | None:
        """The ``no_<system>`` output name, or ``None``."""
        return self.service.name if self.service else None


_REGISTRY: dict[str, System] = {}


def register_system(system: System, *, replace: bool = False) -> System:
    """Add a system to the registry (``InputError`` if the name or one of its kinds is taken)."""
    if not system.name.isidentifier():
        raise InputError("system name must be an identifier", field="system", value=system.name)
    if system.name in _REGISTRY and not replace:
        raise InputError("system already registered", field="system", value=system.name)
    taken = {k: s.name for s in _REGISTRY.values() if s.name != system.name for k in s.kinds}
    for k in system.kinds:
        if k in taken:
            raise InputError(f"asset kind already belongs to {taken[k]}", field="kinds", value=k)
    _REGISTRY[system.name] = system
    _sync_kinds()
    return system


def unregister_system(name: str) -> None:
    """Remove a registered system (tests and plug-ins)."""
    _REGISTRY.pop(name, None)
    _sync_kinds()


@contextmanager
def registered(system: System) -> Iterator[System]:
    """``with registered(System(...)):`` — the system exists inside the block only."""
    register_system(system)
    try:
        yield system
    finally:
        unregister_system(system.name)


def get_system(name: str) -> System:
    """The system called ``name`` (``InputError`` if unknown)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown system (use {', '.join(_REGISTRY)})", field="system", value=name) from None


def systems() -> tuple[str, ...]:
    """Names of every system, registration order."""
    return tuple(_REGISTRY)


def all_systems() -> tuple[System, ...]:
    """Every :class:`System`, registration order."""
    return tuple(_REGISTRY.values())


def service_systems() -> tuple[str, ...]:
    """Systems with a people-facing service output, ordered by ``service_rank``."""
    with_svc = [s for s in _REGISTRY.values() if s.service is not None]
    return tuple(s.name for s in sorted(with_svc, key=lambda s: s.service_rank))


def service_outputs() -> tuple[str, ...]:
    """The ``no_<system>`` output names, :func:`service_systems` order."""
    return tuple(_REGISTRY[s].service.name for s in service_systems())  # type: ignore[union-attr]


def network_systems() -> tuple[str, ...]:
    """Systems whose assets must reach a source through their own network (cascade order)."""
    return tuple(s for s in service_systems() if _REGISTRY[s].network) + tuple(
        s.name for s in _REGISTRY.values() if s.network and s.service is None
    )


def supplier_systems() -> tuple[str, ...]:
    """Systems other assets may depend on (the ``kind`` of a dependency row)."""
    return tuple(s for s in service_systems() if _REGISTRY[s].supplier) + tuple(
        s.name for s in _REGISTRY.values() if s.supplier and s.service is None
    )


def system_of_output(output: str) -> str:
    """``no_gas`` → ``gas``."""
    for s in _REGISTRY.values():
        if s.output == output:
            return s.name
    raise InputError("unknown service output", field="output", value=output)


#: Asset kinds per system, kept in step with the registry (the same dict object throughout).
KINDS: dict[str, tuple[str, ...]] = {}


def _sync_kinds() -> None:
    KINDS.clear()
    KINDS.update({s.name: s.kinds for s in _REGISTRY.values()})


for _s in (
    System(
        "power",
        "power",
        "电力",
        (
            "power_plant",
            "substation_500kv",
            "substation_220kv",
            "substation_110kv",
            "line_500kv",
            "line_220kv",
            "line_110kv",
            "feeder_10kv",
            "distribution_transformer",
            "bus",
        ),
        supplier=True,
        service=ServiceOutput("no_power", "without power", "停电人口"),
        service_rank=0,
        assets_per_crew=8.0,
        label_service="power",
        color="#c0392b",
    ),
    System(
        "water",
        "water",
        "供水",
        ("treatment_plant", "pump_station", "trunk_main", "distribution_node", "reservoir", "tank"),
        supplier=True,
        service=ServiceOutput("no_water", "without water", "停水人口"),
        service_rank=1,
        assets_per_crew=60.0,
        label_service="water",
        color="#2e86c1",
    ),
    System(
        "road",
        "road",
        "道路",
        ("road_hub", "expressway", "national_road", "local_road", "bridge", "tunnel", "road_node"),
        service=ServiceOutput("no_road", "without road access", "道路中断人口"),
        service_rank=3,
        assets_per_crew=30.0,
        label_service="road access",
        color="#7f8c8d",
    ),
    System(
        "telecom",
        "telecom",
        "通信",
        ("core_node", "aggregation_node", "base_station", "fiber_link"),
        supplier=True,
        service=ServiceOutput("no_telecom", "without telecom", "通信中断人口"),
        service_rank=2,
        assets_per_crew=30.0,
        label_service="telecom",
        color="#8e44ad",
    ),
    System(
        "facility",
        "facility",
        "设施",
        ("hospital", "shelter", "depot", "fire_station"),
        network=False,
        assets_per_crew=30.0,
        label_service="facility",
        color="#27ae60",
    ),
):
    register_system(_s)
del _s
