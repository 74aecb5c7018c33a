"""Damage sampling: exceedance probabilities → damage states per realisation.

For one hazard, realisation ``r`` and asset ``i`` draw ``u ~ U(0, 1)`` and set

    DS = #{ds ∈ 1…4 : u < P[DS ≥ ds]}

which gives ``P[DS = ds] = P[DS ≥ ds] − P[DS ≥ ds + 1]`` exactly (inverse-CDF sampling of the
damage-state distribution). Several hazards get independent draws (their damage mechanisms are
taken as independent given the intensities) and the asset's state is the maximum over hazards;
the hazard that gave the maximum is the *driver* (ties go to the hazard listed first; ``-1``
when the asset is undamaged). Combined, ``P[DS ≥ ds] = 1 − Π_h (1 − P_h[DS ≥ ds])``.

Random streams: realisation ``r`` (counted from 0 over the whole run) draws from
``numpy.random.default_rng(numpy.random.SeedSequence(seed, spawn_key=(r,)))``, the same stream as
``SeedSequence(seed).spawn(r + 1)[r]``. A realisation's draws therefore do not depend on the chunk
or worker that computes it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rescity.errors import InputError

#: ``spawn_key`` suffixes of the per-realisation streams of later stages (damage uses ``(r,)``).
STREAM_HOUSING = 1


def realisation_rng(seed: int, r: int, stage: int | None = None) -> np.random.Generator:
    """Generator of realisation ``r``; ``stage`` picks an independent sub-stream ``(r, stage)``."""
    key = (int(r),) if stage is None else (int(r), int(stage))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _as_block(p: np.ndarray, realisations: int, start: int, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2:
        return p  # (n, 4), the same for every realisation
    if p.ndim == 3:
        if p.shape[0] == realisations:
            return p
        if p.shape[0] >= start + realisations:
            return p[start : start + realisations]
        raise InputError(
            f"per-realisation probabilities have {p.shape[0]} rows; need {realisations} "
            f"(this block) or at least {start + realisations} (the whole run)",
            field=name,
            value=p.shape,
        )
    raise InputError("exceedance array must have shape (n, 4) or (R, n, 4)", field=name, value=p.shape)


def sample_damage(
    p_exceed: np.ndarray | Mapping[str, np.ndarray],
    realisations: int,
    seed: int,
    start: int = 0,
    *,
    return_driver: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Sample damage states for realisations ``start … start + realisations − 1``.

    Parameters
    ----------
    p_exceed:
        ``P[DS ≥ ds]`` of shape ``(n_assets, 4)`` (the same field in every realisation) or
        ``(R, n_assets, 4)`` (``R`` = this block, or the whole run from which rows
        ``start…`` are taken); or ``hazard`` → such an array for several hazards.
    realisations:
        Number of realisations in this block.
    seed:
        Root seed of the run.
    start:
        Index of the first realisation of this block in the run.
    return_driver:
        Also return the driver: ``int8`` position of the hazard (in the mapping's order) that
        gave each asset its state, ``-1`` where undamaged.

    Returns
    -------
    numpy.ndarray
        ``int8`` damage states ``(realisations, n_assets)``, 0 none … 4 complete; with
        ``return_driver`` a tuple ``(states, driver)``.
    """
    if realisations < 0 or start < 0:
        raise InputError(
            "realisations and start must be ≥ 0", field="realisations", value=(realisations, start)
        )
    probs = dict(p_exceed) if isinstance(p_exceed, Mapping) else {"hazard": p_exceed}
    if not probs:
        raise InputError("no exceedance probabilities given", field="p_exceed")
    blocks = [_as_block(p, realisations, start, h) for h, p in probs.items()]
    n = blocks[0].shape[-2]
    for h, b in zip(probs, blocks, strict=True):
        if b.shape[-2:] != (n, 4):
            raise InputError(f"expected (…, {n}, 4)", field=h, value=b.shape)
    n_h = len(blocks)
    u = np.empty((realisations, n_h, n), dtype=np.float64)
    for i in range(realisations):
        realisation_rng(seed, start + i).random((n_h, n), out=u[i])
    states = np.zeros((realisations, n), dtype=np.int8)
    driver = np.full((realisations, n), -1, dtype=np.int8) if return_driver else None
    s = np.empty((realisations, n), dtype=np.int8)
    for h, b in enumerate(blocks):
        s[:] = 0
        uh = u[:, h, :]
        for k in range(b.shape[-1]):
            s += uh < b[..., k]
        if driver is not None:
            driver[s > states] = h
        np.maximum(states, s, out=states)
    return (states, driver) if return_driver else states
