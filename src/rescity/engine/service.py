"""People without service, damaged homes and the affected population, per cell.

People without a service
    For each service (power, water, telecom, road) the twin's service rows say how many people
    of a cell are served through which terminal asset. People without the service in cell ``c``
    = Σ people of the rows of ``c`` whose terminal is not functional after the cascade: one
    sparse (cells × assets) matrix times the (assets × realisations) non-functional matrix.

Damaged homes
    Homes are not assets. Each cell holds ``households`` homes split over the structure classes
    of :func:`load_housing_stock` by the rule

        share_c(class) = u_c · share_urban(class) + (1 − u_c) · share_rural(class)

    with ``u_c`` the cell's urban share. The probability that a home of a class is damaged to
    moderate or worse (:data:`HOME_DAMAGE_DS`) comes from the building curves of the fragility
    library (``system = building``, ``kind = housing``) at the cell's intensities; several hazards
    combine as independent causes, ``p = 1 − Π_h (1 − p_h)``. The number damaged per (cell,
    class) is drawn ``Binomial(homes, p)`` from the realisation's own stream.

Affected population (at the horizon, default 12 h)
    People whose home is damaged (≥ moderate) **or** who are without power **or** without water,
    taking the three as independent within a cell:

        f_home = homes damaged / households,   f_power = no_power / population,
        f_water = no_water / population,       f_out = 1 − (1 − f_power)(1 − f_water),
        affected = population · (1 − (1 − f_home)(1 − f_out)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from rescity.engine.damage import STREAM_HOUSING, realisation_rng
from rescity.errors import InputError
from rescity.fragility.library import FragilityLibrary, exceedance_by_class
from rescity.twin.model import Twin
from rescity.twin.systems import service_systems

#: A home counts as damaged at this damage state or worse (2 = moderate: repair before use).
HOME_DAMAGE_DS = 2
HOUSING_STOCK_FILE = Path(__file__).with_name("data") / "housing_stock.csv"


def load_housing_stock(path: str | Path | None = None) -> pd.DataFrame:
    """The housing stock shares by structure class (packaged ``housing_stock.csv`` by default).

    Columns: ``structure_class``, ``census_category_zh``, ``census_category_en``,
    ``share_urban``, ``share_rural`` (each column sums to 1), ``source``.
    """
    p = Path(path) if path is not None else HOUSING_STOCK_FILE
    df = pd.read_csv(p)
    for c in ("structure_class", "share_urban", "share_rural", "source"):
        if c not in df.columns:
            raise InputError("missing column", file=p, field=c)
    for c in ("share_urban", "share_rural"):
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any() or (v < 0).any() or abs(v.sum() - 1) > 1e-6:
            raise InputError("shares must be numbers ≥ 0 summing to 1", file=p, field=c, value=float(v.sum()))
    return df


def cell_positions(twin: Twin) -> np.ndarray:
    """Row positions of the cells (units of level ``cell``; else of the deepest level present)."""
    lv = twin.units["level"].astype(str).to_numpy()
    for level in ("cell", "county", "prefecture", "province"):
        pos = np.flatnonzero(lv == level)
        if len(pos):
            return pos
    return np.zeros(0, dtype=np.int64)


@dataclass
class ServiceModel:
    """Service matrices and the housing stock, compiled once per twin."""

    n_units: int
    cells: np.ndarray  # unit positions of the cells
    matrices: dict[str, sp.csr_matrix]  # service → (n_units × n_assets) people
    population: np.ndarray  # float64 (n_units,)
    households: np.ndarray  # float64 (n_units,)
    classes: tuple[str, ...]
    homes: np.ndarray  # int64 (n_cells, n_classes)
    terminals: np.ndarray = field(init=False)  # asset positions any service row names
    compact: dict[str, sp.csr_matrix] = field(init=False)  # matrices on those columns only

    def __post_init__(self) -> None:
        cols = [sp.csr_matrix(m).indices for m in self.matrices.values()]
        self.terminals = np.unique(np.concatenate(cols)).astype(np.int64) if cols else np.zeros(0, np.int64)
        self.compact = {sv: m.tocsr()[:, self.terminals].tocsr() for sv, m in self.matrices.items()}


def build_service_model(twin: Twin, stock: pd.DataFrame | None = None) -> ServiceModel:
    """Compile the twin's service rows and the housing stock of every cell."""
    n_u, n_a = twin.n_units, twin.n_assets
    s = twin.service
    term = s["terminal"].to_numpy(np.int64)
    unit = s["unit"].to_numpy(np.int64)
    people = s["people"].to_numpy(np.float64)
    system = s["system"].astype(str).to_numpy()
    for name, v, hi in (("terminal", term, n_a), ("unit", unit, n_u)):
        bad = (v < 0) | (v >= hi)
        if bad.any():
            raise InputError(
                "service row points outside its table", file="service", field=name, value=int(v[bad][0])
            )
    bad = ~np.isfinite(people) | (people < 0)
    if bad.any():
        raise InputError(
            "people must be finite and ≥ 0", file="service", field="people", value=float(people[bad][0])
        )
    services = service_systems()
    bad = ~np.isin(system, services)
    if bad.any():
        raise InputError(
            f"service must be one of {list(services)}", file="service", field="system", value=system[bad][0]
        )
    mats = {
        sv: sp.csr_matrix((people[system == sv], (unit[system == sv], term[system == sv])), shape=(n_u, n_a))
        for sv in services
    }
    cells = cell_positions(twin)
    stock = load_housing_stock() if stock is None else stock
    u = np.clip(twin.units["urban_share"].to_numpy(np.float64)[cells], 0, 1)
    shares = u[:, None] * stock["share_urban"].to_numpy(float) + (1 - u[:, None]) * stock[
        "share_rural"
    ].to_numpy(float)
    hh = twin.units["households"].to_numpy(np.float64)
    exact = hh[cells, None] * shares
    homes = np.floor(exact).astype(np.int64)
    # largest-remainder rounding: the homes left over go to the classes with the largest fractions
    left = np.rint(hh[cells]).astype(np.int64) - homes.sum(axis=1)
    rank = np.argsort(np.argsort(-(exact - homes), axis=1, kind="stable"), axis=1)
    homes += rank < left[:, None]
    return ServiceModel(
        n_units=n_u,
        cells=cells,
        matrices=mats,
        population=twin.units["population"].to_numpy(np.float64),
        households=hh,
        classes=tuple(stock["structure_class"].astype(str)),
        homes=homes,
    )


def people_without(model: ServiceModel, functional: np.ndarray) -> dict[str, np.ndarray]:
    """People without each service: ``service`` → float64 ``(B, n_units)`` (cell rows)."""
    f = np.asarray(functional, bool)
    down = np.ascontiguousarray((~f[..., model.terminals]).T, dtype=np.float32)  # (n_terminals, B)
    return {sv: np.asarray(m @ down, dtype=np.float64).T for sv, m in model.compact.items()}


def cell_values(twin_cells: np.ndarray, n_units: int, x: np.ndarray, name: str) -> np.ndarray:
    """Intensities given per cell ``(…, n_cells)`` or per unit ``(…, n_units)`` → per cell."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1] == len(twin_cells):
        return x
    if x.shape[-1] == n_units:
        return x[..., twin_cells]
    raise InputError(
        f"cell intensities must have last dimension n_cells = {len(twin_cells)} or n_units = {n_units}",
        field=name,
        value=x.shape,
    )


def home_damage_probability(
    model: ServiceModel,
    library: FragilityLibrary,
    cell_intensity: Mapping[str, np.ndarray],
    hazards: Sequence[str],
    median_scale: float | Mapping[str, float] = 1.0,
    exposure: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``P[home DS ≥ 2]`` per (cell, class), all hazards combined, and per hazard.

    ``exposure`` maps a hazard to the share of each cell's homes exposed to it (``(n_units,)`` or
    ``(n_cells,)``, e.g. the flooded share of a cell); the hazard's probability is multiplied by it.
    Returns ``(p, per_hazard)`` with arrays ``(…, n_cells, n_classes)``.
    """
    x = {m: cell_values(model.cells, model.n_units, v, m) for m, v in cell_intensity.items()}
    if not hazards or not x:
        return np.zeros((len(model.cells), len(model.classes))), {}
    per = exceedance_by_class(
        library, "building", "housing", model.classes, x, hazards, median_scale=median_scale, ds=HOME_DAMAGE_DS
    )  # that state alone (each state's probabilities are computed on their own)
    for h, share in (exposure or {}).items():
        if h in per:
            share = cell_values(model.cells, model.n_units, share, f"exposure[{h}]")
            per[h] = per[h] * np.clip(np.nan_to_num(share), 0.0, 1.0)[:, None]
    surv = None
    for p in per.values():
        surv = 1 - p if surv is None else surv * (1 - p)
    return 1 - surv, per


def sample_homes_damaged(
    model: ServiceModel, p_home: np.ndarray, realisations: int, seed: int, start: int = 0
) -> np.ndarray:
    """Homes damaged per cell: float64 ``(B, n_cells)``, Binomial(homes, p) per (cell, class).

    ``p_home`` is ``(n_cells, n_classes)`` or ``(R, n_cells, n_classes)`` (this block or the
    whole run). Realisation ``r`` draws from stream ``(seed, r, STREAM_HOUSING)``.
    """
    out = np.zeros((realisations, len(model.cells)))
    p_home = np.asarray(p_home)
    if p_home.ndim == 3 and p_home.shape[0] != realisations:  # the whole run: this block's rows
        p_home = p_home[start : start + realisations]
    p_home = np.clip(p_home, 0, 1)
    for i in range(realisations):
        p = p_home if p_home.ndim == 2 else p_home[i]
        rng = realisation_rng(seed, start + i, STREAM_HOUSING)
        out[i] = rng.binomial(model.homes, p).sum(axis=1)
    return out


def affected_population(
    population: np.ndarray,
    households: np.ndarray,
    no_power: np.ndarray,
    no_water: np.ndarray,
    homes_damaged: np.ndarray,
) -> np.ndarray:
    """Affected people: ``population · (1 − (1 − f_home)(1 − f_out))`` (see module docstring).

    All arrays broadcast; cells with no population or households contribute 0 of that share.
    """
    pop = np.asarray(population, dtype=np.float64)
    households = np.asarray(households, dtype=np.float64)
    homes_damaged, no_power, no_water = (
        np.asarray(a, dtype=np.float64) for a in (homes_damaged, no_power, no_water)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        f_home = np.where(households > 0, homes_damaged / households, 0.0)
        f_p = np.where(pop > 0, no_power / pop, 0.0)
        f_w = np.where(pop > 0, no_water / pop, 0.0)
    f_home, f_p, f_w = (np.clip(f, 0, 1) for f in (f_home, f_p, f_w))
    f_out = 1 - (1 - f_p) * (1 - f_w)
    return pop * (1 - (1 - f_home) * (1 - f_out))
