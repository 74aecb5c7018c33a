"""Buried pipelines under ground shaking: ALA (2001) repair rates as break and leak probabilities.

American Lifelines Alliance (2001), *Seismic Fragility Formulations for Water Systems*, Part 1
Guideline, the wave-propagation (ground-shaking) backbone::

    RR = K1 · 0.002416 · PGV          repairs per 1,000 ft, PGV in in/s

converted here to repairs per km with PGV in cm/s (1 in = 2.54 cm, 1,000 ft = 0.3048 km)::

    RR_km = K1 · 0.002416 / (2.54 · 0.3048) · PGV_cms = K1 · 0.0031207 · PGV_cms

Repairs along a segment of length L are a Poisson process, so
P(at least one repair) = 1 − exp(−RR·L). Each repair is a break with probability 0.2 and a
leak with 0.8, the split HAZUS-MH uses for ground shaking (FEMA 2003, Ch. 8 potable water
pipelines); breaks and leaks are then independent Poisson counts with rates 0.2·RR·L and 0.8·RR·L.
As damage states: a leak (and no break) is slight (1: the main stays in service), a break complete
(4: out of service) — see the packaged curve ``ala2001_pipe_shaking`` used by the scenario run.
"""

from __future__ import annotations

import numpy as np

from rescity.errors import InputError

ALA2001_A = 0.002416  # repairs / 1000 ft per in/s
REPAIRS_PER_KM_PER_CMS = ALA2001_A / (2.54 * 0.3048)
BREAK_SHARE = 0.2  # HAZUS: 20 % of shaking repairs are breaks, 80 % leaks

#: Ground-shaking constant K1 by pipe material and joint (ALA 2001, Part 1, backbone K1 table).
K1_ALA2001: dict[str, float] = {
    "cast_iron_cement_joint": 1.0,
    "cast_iron_rubber_gasket": 0.8,
    "cast_iron_mechanical_restrained": 0.7,
    "welded_steel_small_diameter": 0.6,
    "welded_steel_large_diameter": 0.15,
    "asbestos_cement_rubber_gasket": 0.5,
    "asbestos_cement_cement_joint": 1.0,
    "concrete_cylinder_welded": 0.7,
    "concrete_cylinder_cement": 1.0,
    "concrete_cylinder_rubber_gasket": 0.8,
    "pvc_rubber_gasket": 0.5,
    "ductile_iron_rubber_gasket": 0.5,
}


def repair_rate_per_km(pgv_cms: np.ndarray, k: float = 1.0) -> np.ndarray:
    """ALA (2001) repairs per km from PGV (cm/s) and the ground-shaking constant ``k`` (K1)."""
    if not k > 0:
        raise InputError("K1 must be positive", field="k", value=k)
    return k * REPAIRS_PER_KM_PER_CMS * np.maximum(np.asarray(pgv_cms, dtype=float), 0.0)


def pipeline_damage_probability(
    pgv_cms: np.ndarray, length_km: np.ndarray, k: float = 1.0
) -> dict[str, np.ndarray]:
    """Probabilities of repair, break and leak on pipe segments.

    Parameters
    ----------
    pgv_cms:
        Peak ground velocity at the segment (cm/s); any shape broadcasting with ``length_km``
        (e.g. ``(realisations, n_segments)`` against ``(n_segments,)``).
    length_km:
        Segment length (km).
    k:
        ALA (2001) ground-shaking constant K1 (1.0 cast iron, 0.5 ductile iron or PVC, see
        :data:`K1_ALA2001`).

    Returns
    -------
    dict
        ``repair_rate_per_km``; ``p_repair`` = 1 − exp(−RR·L); ``p_break`` = 1 − exp(−0.2·RR·L);
        ``p_leak`` = P(at least one leak and no break) = exp(−0.2·RR·L)·(1 − exp(−0.8·RR·L)).
    """
    length = np.asarray(length_km, dtype=float)
    if (length < 0).any():
        raise InputError("pipe length cannot be negative", field="length_km", value=float(length.min()))
    rr = repair_rate_per_km(pgv_cms, k)
    lam = rr * length
    p_break = -np.expm1(-BREAK_SHARE * lam)
    p_leak = np.exp(-BREAK_SHARE * lam) * -np.expm1(-(1.0 - BREAK_SHARE) * lam)
    return {
        "repair_rate_per_km": rr,
        "p_repair": -np.expm1(-lam),
        "p_break": p_break,
        "p_leak": p_leak,
    }


def pipeline_exceedance(pgv_cms: np.ndarray, length_km: np.ndarray, k: float = 1.0) -> np.ndarray:
    """P[DS ≥ ds | PGV] for ds = 1…4 along a new last axis (leak → 2, break → 4)."""
    p = pipeline_damage_probability(pgv_cms, length_km, k)
    return np.stack([p["p_repair"], p["p_repair"], p["p_break"], p["p_break"]], axis=-1)


#: ALA (2001) ground-shaking constant K1 by the twin's pipe fragility class (ductile iron with
#: rubber gaskets 0.5; cast iron with cement joints 1.0).
PIPE_K1: dict[str, float] = {"pipe_ductile": 0.5, "pipe_brittle": 1.0}


def pipe_repairs(assets, pgv_cms: np.ndarray) -> np.ndarray | None:
    """Expected ground-shaking repairs on each trunk main of an asset table, ``K1 · RR(PGV) ·
    length`` (ALA 2001), shape of ``pgv_cms`` (zero for other assets); ``None`` without mains."""
    mains = (assets["kind"] == "trunk_main").to_numpy()
    if not mains.any():
        return None
    k1 = assets["fragility_class"].map(PIPE_K1).fillna(1.0).to_numpy(float)
    length = np.where(mains, assets["length_km"].to_numpy(float), 0.0)
    return (repair_rate_per_km(pgv_cms) * k1 * length).astype(np.float32)
