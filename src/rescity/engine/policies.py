"""Dispatch policies: the order in which crews take repair jobs.

A policy is a function of a :class:`JobContext` that returns one priority per job (higher first);
crews of a pool take the pool's jobs in that order (see :mod:`rescity.engine.recovery`).
Policies are registered by name::

    from rescity.engine.policies import register_policy

    @register_policy("bridges_first")
    def bridges_first(ctx):
        return (ctx.kind == "bridge") * 1e9 + ctx.people_per_hour()

and chosen with ``RecoveryConfig(policy="bridges_first")`` or ``policy: bridges_first`` in a
scenario file. Built in:

``people_per_hour`` (default)
    Hospitals and their suppliers first, then the most people restored per hour of crew time:
    ``people_lost / (mean repair hours + 2 · travel hours)``, with ``people_lost`` the people who
    lose a service (any of power, water, telecom, road; summed) when the asset alone fails,
    cascade included (:mod:`rescity.engine.criticality`). An asset is a *hospital supplier* when
    its single failure cuts a hospital or a hospital's supplier (at any buffer).
``random``
    A uniformly random order (from the realisation's own stream, or a fixed ranking with
    ``policy_params: {draw: k}``): a baseline.
``shortest_first``
    Shortest expected job first (fewest crew hours).
``most_people``
    Largest ``people_lost`` first, ignoring time.
``plan``
    A given order: ``policy_params: {order: [asset_id, …]}`` (e.g. from the repair-sequence
    optimiser); assets not named follow in ``people_per_hour`` order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError

#: Priority bonus that puts hospitals and their suppliers ahead of everything else.
HOSPITAL_FIRST = 1e12


@dataclass
class JobContext:
    """What a policy may look at; arrays are per job unless said otherwise."""

    realisation: np.ndarray  # realisation index
    asset: np.ndarray  # asset position
    damage_state: np.ndarray  # 1 … 4
    repair_h: np.ndarray  # sampled repair duration (hours on site)
    mean_repair_h: np.ndarray  # expected repair duration for the damage state
    travel_h: np.ndarray  # one-way travel from the crew base, hours
    pool: np.ndarray  # crew pool index
    uniform: np.ndarray  # U(0, 1) draws from the realisation's stream (for random policies)
    kind: np.ndarray  # asset kind
    system: np.ndarray  # asset system
    people_lost: np.ndarray  # per job: people losing a service when the asset alone fails
    hospital_critical: np.ndarray  # per job: hospital or hospital supplier
    asset_ids: np.ndarray  # per asset (all assets): asset_id
    params: dict[str, Any] = field(default_factory=dict)

    def crew_hours(self) -> np.ndarray:
        """Expected crew time of each job: mean repair + travel out and back (hours)."""
        return self.mean_repair_h + 2.0 * self.travel_h

    def people_per_hour(self) -> np.ndarray:
        """``people_lost / crew_hours``."""
        return self.people_lost / np.maximum(self.crew_hours(), 1e-6)


Policy = Callable[[JobContext], np.ndarray]
POLICIES: dict[str, Policy] = {}


def register_policy(name: str) -> Callable[[Policy], Policy]:
    """Decorator registering a policy under ``name``."""

    def deco(fn: Policy) -> Policy:
        POLICIES[name] = fn
        return fn

    return deco


def get_policy(name: str) -> Policy:
    """The policy registered as ``name``; ``InputError`` naming the known ones otherwise."""
    if name not in POLICIES:
        raise InputError(
            f"unknown dispatch policy; choose from {', '.join(sorted(POLICIES))}", field="policy", value=name
        )
    return POLICIES[name]


@register_policy("people_per_hour")
def people_per_hour(ctx: JobContext) -> np.ndarray:
    """Hospitals and their suppliers first, then people restored per crew hour."""
    return ctx.hospital_critical * HOSPITAL_FIRST + ctx.people_per_hour()


@register_policy("random")
def random_order(ctx: JobContext) -> np.ndarray:
    """A random order: the realisation's own uniform draws, or, with ``params['draw'] = k``, a
    fixed random ranking of all assets from ``SeedSequence(k)`` (the same in every realisation,
    so several orders can be compared on the same damage and repair durations)."""
    draw = ctx.params.get("draw")
    if draw is None:
        return ctx.uniform.copy()
    rank = np.random.default_rng(np.random.SeedSequence(int(draw))).random(len(ctx.asset_ids))
    return rank[ctx.asset]


@register_policy("shortest_first")
def shortest_first(ctx: JobContext) -> np.ndarray:
    """Fewest expected crew hours first."""
    return -ctx.crew_hours()


@register_policy("most_people")
def most_people(ctx: JobContext) -> np.ndarray:
    """Most people lost first."""
    return ctx.people_lost.astype(float)


@register_policy("plan")
def plan(ctx: JobContext) -> np.ndarray:
    """A given order of asset ids (``params['order']``), then ``people_per_hour``."""
    order = ctx.params.get("order")
    if order is None:
        raise InputError(
            "the plan policy needs policy_params.order (a list of asset ids)", field="policy_params.order"
        )
    rank = pd.Index(pd.Series(list(order), dtype=object).drop_duplicates()).get_indexer(ctx.asset_ids)
    r = rank[ctx.asset].astype(np.float64)
    base = people_per_hour(ctx)
    named = r >= 0
    out = base / (HOSPITAL_FIRST * 10)  # unnamed jobs: below every named one, in the default order
    out[named] = 2.0 + (len(order) - r[named])
    return out
