"""Ground-motion models (GMPEs) with their coefficient tables shipped as data.

Each model is a module exposing ``NAME``, ``PERIODS`` (intensity measure → period),
``RJB_MAX_KM``, ``VS30_RANGE``, ``REGIONS``, ``check_source(mw, mechanism)``,
``ln_median(period, mw, rjb_km, vs30, mechanism, region)`` and
``sigma(period, mw, rjb_km, vs30) -> Sigma(tau, phi)``.

Available: ``bssa14`` — Boore, Stewart, Seyhan & Atkinson (2014), shallow crustal events, with
the authors' regional anelastic adjustment ``china_turkey`` for mainland China.

Not shipped: Yu Yanxiang, Li Shanyou & Xiao Liang (2013), the eastern-China long/short-axis
attenuation relations used for the fifth-generation zoning map GB 18306-2015 (震灾防御技术
8(1): 24–33). Its coefficient table could not be obtained from a citable, machine-checkable copy
while this package was written, so it is left out rather than transcribed from memory; the model
form (lg Y = A + B·M + C·lg(R + D·e^{E·M}), separate long and short axes) would fit this
interface as another module.
"""

from __future__ import annotations

from types import ModuleType

from rescity.errors import InputError
from rescity.hazard.gmpe import bssa14

MODELS: dict[str, ModuleType] = {bssa14.NAME: bssa14}


def get(name: str) -> ModuleType:
    """The ground-motion model called ``name`` (case-insensitive)."""
    key = name.strip().lower()
    if key not in MODELS:
        raise InputError(f"unknown ground-motion model; available: {', '.join(MODELS)}", field="gmpe",
                         value=name)
    return MODELS[key]
