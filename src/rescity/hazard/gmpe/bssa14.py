"""Boore, Stewart, Seyhan & Atkinson (2014) ground-motion model (BSSA14).

Boore D.M., Stewart J.P., Seyhan E., Atkinson G.M. (2014). NGA-West2 equations for predicting
PGA, PGV, and 5 %-damped PSA for shallow crustal earthquakes. *Earthquake Spectra* 30(3),
1057–1085. doi:10.1193/070113EQS184M. Coefficients: the authors' revised table of 2014-07-15,
shipped beside this module as ``bssa14_coefficients.csv`` (all 107 rows: PGV, PGA and 105 periods).

The model, with ``R = sqrt(Rjb² + h²)`` (km)::

    ln Y = F_E(M, mech) + F_P(Rjb, M, region) + F_S(Vs30, Rjb, M)          (Eq. 1)
    F_E  = e0 U + e1 SS + e2 NS + e3 RS + e4 (M − Mh) + e5 (M − Mh)²   M ≤ Mh   (Eq. 2)
         = e0 U + e1 SS + e2 NS + e3 RS + e6 (M − Mh)                  M > Mh
    F_P  = [c1 + c2 (M − Mref)] ln(R/Rref) + (c3 + Δc3)(R − Rref)              (Eq. 3)
    F_lin = c ln(min(Vs30, Vc)/Vref)                                           (Eq. 6)
    F_nl  = f1 + f2 ln((PGAr + f3)/f3),
    f2    = f4 [exp(f5 (min(Vs30, 760) − 360)) − exp(f5 (760 − 360))]          (Eq. 7–8)

``PGAr`` is the median PGA (g) on the reference rock ``Vs30 = 760 m/s``. The basin-depth term is
zero (``δz1`` unknown). Aleatory variability (Eq. 13–16): between-event ``τ(M)`` and within-event
``φ(M, Rjb, Vs30)``. PGV is in cm/s, PGA and PSA in g.

Applicability stated by the authors: M 3–8.5 (strike-slip, reverse), 3–7 (normal), Rjb < 400 km,
Vs30 150–1500 m/s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from rescity.errors import InputError

NAME = "bssa14"
M_MIN = 3.0
M_MAX = {"strike-slip": 8.5, "reverse": 8.5, "normal": 7.0, "unspecified": 8.5}
RJB_MAX_KM = 400.0
VS30_RANGE = (150.0, 1500.0)
REGIONS = ("global", "china_turkey", "italy_japan")
MECHANISMS = ("unspecified", "strike-slip", "normal", "reverse")

#: Period (s) used for each intensity measure; -1 marks PGV, 0 PGA.
PERIODS: dict[str, float] = {"pga_g": 0.0, "pgv_cms": -1.0, "sa03_g": 0.3, "sa10_g": 1.0}


@lru_cache(maxsize=1)
def coefficients() -> pd.DataFrame:
    """The BSSA14 coefficient table, indexed by period (s; −1 PGV, 0 PGA)."""
    path = Path(__file__).with_name("bssa14_coefficients.csv")
    return pd.read_csv(path, comment="#").set_index("period_s")


def _row(period: float) -> pd.Series:
    table = coefficients()
    match = np.isclose(table.index.to_numpy(), period, atol=1e-9)
    if not match.any():
        raise InputError(
            "BSSA14 has no coefficients for this period; use one of the tabulated periods",
            field="period_s",
            value=period,
        )
    return table.iloc[int(np.flatnonzero(match)[0])]


@dataclass(frozen=True)
class Sigma:
    """Log standard deviations (natural log) of one intensity measure at the sites."""

    tau: np.ndarray  # between-event
    phi: np.ndarray  # within-event

    @property
    def total(self) -> np.ndarray:
        return np.sqrt(self.tau**2 + self.phi**2)


def check_source(mw: float, mechanism: str) -> None:
    """Raise :class:`InputError` when ``mw`` lies outside BSSA14's magnitude range."""
    if mechanism not in M_MAX:
        raise InputError(f"unknown mechanism; use one of {', '.join(MECHANISMS)}", field="mechanism",
                         value=mechanism)
    hi = M_MAX[mechanism]
    if not (M_MIN <= mw <= hi):
        raise InputError(
            f"magnitude is outside the BSSA14 range {M_MIN:g}–{hi:g} for {mechanism} events",
            field="Mw",
            value=mw,
        )


def _event_term(c: pd.Series, mw: float, mechanism: str) -> float:
    u, ss, ns, rs = (mechanism == m for m in MECHANISMS)
    fe = c.e0 * u + c.e1 * ss + c.e2 * ns + c.e3 * rs
    dm = mw - c.Mh
    if mw <= c.Mh:
        return float(fe + c.e4 * dm + c.e5 * dm * dm)
    return float(fe + c.e6 * dm)


def _path_term(c: pd.Series, mw: float, rjb: np.ndarray, region: str) -> np.ndarray:
    r = np.sqrt(rjb * rjb + c.h * c.h)
    dc3 = {"global": c.dc3_global, "china_turkey": c.dc3_china_turkey, "italy_japan": c.dc3_italy_japan}[
        region
    ]
    return (c.c1 + c.c2 * (mw - c.Mref)) * np.log(r / c.Rref) + (c.c3 + dc3) * (r - c.Rref)


def _site_term(c: pd.Series, vs30: np.ndarray, pga_rock: np.ndarray) -> np.ndarray:
    flin = c.c * np.log(np.minimum(vs30, c.Vc) / c.Vref)
    f2 = c.f4 * (np.exp(c.f5 * (np.minimum(vs30, 760.0) - 360.0)) - np.exp(c.f5 * (760.0 - 360.0)))
    fnl = c.f1 + f2 * np.log((pga_rock + c.f3) / c.f3)
    return flin + fnl


def ln_median(
    period: float,
    mw: float,
    rjb_km: np.ndarray,
    vs30: np.ndarray,
    mechanism: str = "unspecified",
    region: str = "global",
) -> np.ndarray:
    """Natural log of the median ground motion (g, or cm/s for PGV) at the sites.

    Parameters
    ----------
    period:
        Spectral period in s (0 PGA, −1 PGV); must be a tabulated period.
    mw:
        Moment magnitude.
    rjb_km, vs30:
        Joyner–Boore distance (km) and Vs30 (m/s) per site (broadcast together).
    mechanism:
        ``unspecified``, ``strike-slip``, ``normal`` or ``reverse``.
    region:
        Anelastic-attenuation region: ``global`` (Δc3 = 0), ``china_turkey`` or ``italy_japan``.
    """
    if region not in REGIONS:
        raise InputError(f"unknown BSSA14 region; use one of {', '.join(REGIONS)}", field="region",
                         value=region)
    rjb = np.asarray(rjb_km, dtype=float)
    v = np.asarray(vs30, dtype=float)
    c0 = _row(0.0)
    ln_pga_rock = _event_term(c0, mw, mechanism) + _path_term(c0, mw, rjb, region)
    c = _row(period)
    return _event_term(c, mw, mechanism) + _path_term(c, mw, rjb, region) + _site_term(
        c, v, np.exp(ln_pga_rock)
    )


def sigma(period: float, mw: float, rjb_km: np.ndarray, vs30: np.ndarray) -> Sigma:
    """Between-event τ(M) and within-event φ(M, Rjb, Vs30) (Boore et al. 2014, Eq. 13–16)."""
    c = _row(period)
    rjb = np.asarray(rjb_km, dtype=float)
    v = np.asarray(vs30, dtype=float)
    w = np.clip(mw - 4.5, 0.0, 1.0)  # linear between M4.5 and M5.5
    tau_m = c.tau1 + (c.tau2 - c.tau1) * w
    phi_m = c.phi1 + (c.phi2 - c.phi1) * w
    fr = np.clip(np.log(np.maximum(rjb, c.R1) / c.R1) / np.log(c.R2 / c.R1), 0.0, 1.0)
    fv = np.clip(np.log(c.V2 / np.maximum(v, 1e-9)) / np.log(c.V2 / c.V1), 0.0, 1.0)
    phi = phi_m + c.dphiR * fr - c.dphiV * fv
    shape = np.broadcast(rjb, v).shape
    return Sigma(tau=np.full(shape, tau_m), phi=np.broadcast_to(phi, shape).astype(float))
