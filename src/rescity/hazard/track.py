"""Tropical cyclone tracks: readers, checks and interpolation.

A *track* is a :class:`pandas.DataFrame`, one row per fix, ordered in time, with columns

``time``
    ``datetime64[ns, UTC]``.
``lat``, ``lon``
    centre, degrees. Longitude is unwrapped along the track (a storm crossing the date line
    goes on past 180° rather than jumping to −180°).
``vmax_ms``
    1-min maximum sustained 10-m wind, m/s.
``pcen_hpa``
    central pressure, hPa; estimated from ``vmax_ms`` where the source has none
    (:func:`pressure_from_wind`).
``penv_hpa``
    environmental pressure, hPa (default :data:`PENV_HPA`).
``rmax_km``
    radius of maximum wind, km; NaN when the source has none (the wind model then estimates it).

``df.attrs`` holds ``sn`` (storm id), ``name``, ``source`` (the format and file), and
``pcen_estimated`` (number of fixes whose pressure came from the wind–pressure relation).

Readers: :func:`read_track` (JTWC CSV as packaged, CMA/STI best-track text, IBTrACS v04 CSV, a
generic CSV) and :func:`packaged_track` (the packaged CMA best tracks 1949–2024 by default, or the
packaged JTWC western North Pacific best tracks 1945–2020).
:func:`interpolate_track` resamples to hourly (or finer) fixes and adds the storm's translation
velocity and pressure tendency, which the wind and rain models need.
"""

from __future__ import annotations

import difflib
import io
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.geo import EARTH_RADIUS_KM as EARTH_RADIUS_KM  # the one Earth radius

#: m/s per international knot (1852 m / 3600 s).
KN_TO_MS: float = 0.514444
#: km per nautical mile.
NM_TO_KM: float = 1.852
#: Default environmental (ambient) pressure, hPa — the reference of Atkinson & Holliday (1977).
PENV_HPA: float = 1010.0

#: Plausible radius of maximum wind, km: observed RMW of tropical cyclones span about 5–300 km
#: (Kossin et al. 2007; Chavas & Knaff 2022); wider bounds leave room for odd but real storms.
RMAX_KM_RANGE: tuple[float, float] = (2.0, 500.0)

TRACK_COLUMNS: tuple[str, ...] = ("time", "lat", "lon", "vmax_ms", "pcen_hpa", "penv_hpa", "rmax_km")
FORMATS: tuple[str, ...] = ("jtwc", "cma", "ibtracs", "generic")

#: Names of the packaged JTWC storms that struck Zhejiang (the JTWC CSV carries no names).
JTWC_NAMES: dict[str, str] = {
    "200416": "Rananim (云娜)",
    "200509": "Matsa (麦莎)",
    "200515": "Khanun (卡努)",
    "200608": "Saomai (桑美)",
    "200713": "Wipha (韦帕)",
    "201212": "Haikui (海葵)",
    "201322": "Fitow (菲特)",
    "201509": "Chan-hom (灿鸿)",
    "201910": "Lekima (利奇马)",
    "201919": "Mitag (米娜)",
    "202003": "Hagupit (黑格比)",
}

PACKAGED_JTWC = "jtwc_wp_best_track_1945_2020.csv.gz"


# -- conversions --------------------------------------------------------------------------------
def pressure_from_wind(vmax_ms: Any) -> np.ndarray:
    """Central pressure (hPa) from the 1-min maximum wind, Atkinson & Holliday (1977).

    ``Vmax[kn] = 6.7 (1010 − pc)^0.644``, fitted to western North Pacific reconnaissance data
    (Atkinson, G. D. & Holliday, C. R., 1977: Tropical cyclone minimum sea level pressure /
    maximum sustained wind relationship for the western North Pacific. *Mon. Wea. Rev.* 105,
    421–427), inverted: ``pc = 1010 − (Vmax[kn] / 6.7)^(1/0.644)``.
    """
    v_kn = np.maximum(np.asarray(vmax_ms, dtype=float), 0.0) / KN_TO_MS
    return PENV_HPA - (v_kn / 6.7) ** (1.0 / 0.644)


def to_1min_factor(averaging_s: float) -> float:
    """Factor from an ``averaging_s``-second maximum sustained wind to the 1-min one, at sea.

    Harper, Kepert & Ginger (2010, WMO/TD-No. 1555) recommend ``V10min = 0.93 V1min`` at sea,
    i.e. a gust factor ``G(60 s, 600 s) = 1/0.93``. Between 1 and 10 min the gust factor is taken
    linear in log(averaging time): ``G(τ, 600) = 1 + (1/0.93 − 1) log10(600/τ)``, so that
    ``V1min = G(60, 600) / G(τ, 600) · Vτ``: 1.0216 for the CMA 2-min wind, 1.075 for a 10-min
    wind (Tokyo RSMC). Valid for 60 ≤ τ ≤ 600 s.
    """
    tau = float(averaging_s)
    if not 60.0 <= tau <= 600.0:
        raise ValueError(f"averaging time {tau} s outside 60–600 s")
    g = 1.0 / 0.93 - 1.0
    return (1.0 + g) / (1.0 + g * np.log10(600.0 / tau))


#: CMA best-track winds are 2-min means; multiply by this to get 1-min winds (see to_1min_factor).
CMA_2MIN_TO_1MIN: float = to_1min_factor(120.0)

#: Averaging period (s) of the WMO_WIND of each IBTrACS WMO agency.
IBTRACS_AGENCY_AVERAGING_S: dict[str, float] = {
    "hurdat_atl": 60.0,
    "hurdat_epa": 60.0,
    "atcf": 60.0,
    "cphc": 60.0,
    "tokyo": 600.0,
    "newdelhi": 180.0,
    "reunion": 600.0,
    "bom": 600.0,
    "nadi": 600.0,
    "wellington": 600.0,
}


# -- file reading -------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    """Text of a track file: gzip allowed, size and decompressed size bounded, UTF-8/UTF-16/GBK
    (:func:`rescity.safeio.read_text`)."""
    from rescity.safeio import read_text

    return read_text(Path(path))


def detect_format(path: str | Path, text: str | None = None) -> str:
    """Guess the track format of ``path`` from its first line: one of :data:`FORMATS`."""
    text = _read_text(Path(path)) if text is None else text
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if first.split()[:1] == ["66666"]:
        return "cma"
    cols = {c.strip() for c in first.split(",")}
    if {"SID", "ISO_TIME"} <= cols:
        return "ibtracs"
    if {"Year", "Month", "Day", "Hour", "SN"} <= cols:
        return "jtwc"
    if {"time", "lat", "lon"} <= {c.lower() for c in cols}:
        return "generic"
    raise InputError(
        "unknown track format; expected a JTWC CSV (Year,Month,Day,Hour,...,SN), CMA best-track text "
        "(66666 header lines), an IBTrACS v04 CSV (SID,ISO_TIME,...) or a generic CSV (time,lat,lon,vmax_kn)",
        file=path,
        field="header",
        value=first[:80],
    )


def _csv(text: str, file: Any = None) -> pd.DataFrame:
    if not text.strip():
        raise InputError("is empty; expected a track table with a header row", file=file)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError("has no columns; expected a track table with a header row", file=file) from None
    except (pd.errors.ParserError, ValueError) as e:
        msg = " ".join(str(e).split())[:160]
        raise InputError(f"is not a well-formed CSV table: {msg}", file=file) from None
    df.columns = [str(c).strip() for c in df.columns]
    low = [c.lower() for c in df.columns]
    dup = sorted({c for c in low if low.count(c) > 1})
    if dup:
        raise InputError(
            "names a column twice (column names are not case-sensitive)", file=file, field=dup[0]
        )
    return df


def _require(df: pd.DataFrame, cols: tuple[str, ...] | list[str], file: Any) -> None:
    for c in cols:
        if c not in df.columns:
            raise InputError(
                f"missing column; the file has {', '.join(map(str, df.columns))}",
                file=file,
                field=c,
            )


def _numbers(
    df: pd.DataFrame,
    col: str,
    lines: np.ndarray,
    file: Any,
    *,
    required: bool = True,
    missing_below: float | None = None,
) -> np.ndarray:
    """Column ``col`` as floats; blank → NaN (an error when ``required``); text → InputError.

    Values below ``missing_below`` are missing-value flags (e.g. −999) and become NaN.
    """
    s = df[col].astype(str).str.strip()
    blank = (s == "").to_numpy()
    v = pd.to_numeric(s.where(~blank), errors="coerce").to_numpy(dtype=float, copy=True)
    bad = np.isnan(v) & ~blank & ~s.str.lower().isin(["nan", "na"]).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"line {lines[i]}: not a number", file=file, field=col, value=s.iloc[i])
    if missing_below is not None:
        v[v < missing_below] = np.nan
    if required and np.isnan(v).any():
        i = int(np.flatnonzero(np.isnan(v))[0])
        raise InputError(f"line {lines[i]}: value missing", file=file, field=col, value=s.iloc[i])
    return v


def _unknown_storm(sn: Any, candidates: list[str], file: Any, field: str) -> InputError:
    close = difflib.get_close_matches(str(sn), candidates, n=5, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return InputError(f"no storm with this id in the file{hint}", file=file, field=field, value=str(sn))


def _choose_one(keys: list[str], what: str, file: Any, field: str) -> InputError:
    shown = ", ".join(keys[:12]) + (" …" if len(keys) > 12 else "")
    return InputError(
        f"the file holds {len(keys)} {what}; pass sn= (CLI: --sn) to pick one of {shown}",
        file=file,
        field=field,
    )


def _make_track(
    *,
    time: pd.DatetimeIndex,
    lat: np.ndarray,
    lon: np.ndarray,
    vmax_ms: np.ndarray,
    pcen_hpa: np.ndarray,
    penv_hpa: np.ndarray | float,
    rmax_km: np.ndarray | float,
    lines: np.ndarray,
    file: Any,
    fields: dict[str, str],
    sn: str,
    name: str,
    source: str,
) -> pd.DataFrame:
    """Check and assemble a track; ``fields`` maps canonical names to the source's column names."""
    n = len(time)
    if n == 0:
        raise InputError("the storm has no fixes", file=file, field=fields.get("time"), value=sn)
    t = pd.DatetimeIndex(time)
    if t.isna().any():
        i = int(np.flatnonzero(t.isna())[0])
        raise InputError(f"line {lines[i]}: not a valid time", file=file, field=fields["time"])
    if n > 1:
        dt = np.diff(t.asi8)
        if (dt <= 0).any():
            i = int(np.flatnonzero(dt <= 0)[0]) + 1
            raise InputError(
                f"line {lines[i]}: time does not increase (previous fix {t[i - 1]:%Y-%m-%d %H:%M} UTC); "
                "fixes must be in time order, one per time",
                file=file,
                field=fields["time"],
                value=f"{t[i]:%Y-%m-%d %H:%M}",
            )
    checks = (
        ("lat", lat, -90.0, 90.0),
        ("lon", lon, -180.0, 360.0),
        ("vmax_ms", vmax_ms, 0.0, 120.0),
    )
    for key, arr, lo, hi in checks:
        bad = ~((arr >= lo) & (arr <= hi))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"line {lines[i]}: out of range [{lo:g}, {hi:g}]"
                + (" m/s" if key == "vmax_ms" else " degrees"),
                file=file,
                field=fields[key],
                value=float(arr[i]),
            )
    pc = np.asarray(pcen_hpa, dtype=float).copy()
    bad = ~np.isnan(pc) & ~((pc > 850.0) & (pc < 1050.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"line {lines[i]}: central pressure out of range (850, 1050) hPa",
            file=file,
            field=fields.get("pcen_hpa", "pcen_hpa"),
            value=float(pc[i]),
        )
    pe = np.broadcast_to(np.asarray(penv_hpa, dtype=float), (n,))
    bad = ~((pe > 950.0) & (pe < 1050.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"line {lines[i]}: ambient (environmental) pressure out of range (950, 1050) hPa",
            file=file,
            field=fields.get("penv_hpa", "penv_hpa"),
            value=float(pe[i]),
        )
    # weak stages (depression, remnant low) may sit at the ambient pressure and then carry no wind;
    # a track none of whose points is a pressure low is no cyclone
    has = ~np.isnan(pc)
    bad = has & (pc >= pe)
    if has.any() and bad[has].all():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"line {lines[i]}: central pressure at or above the ambient pressure ({pe[i]:g} hPa) at every "
            "point: no cyclone; a tropical cyclone's centre is a pressure low",
            file=file,
            field=fields.get("pcen_hpa", "pcen_hpa"),
            value=float(pc[i]),
        )
    rm = np.broadcast_to(np.asarray(rmax_km, dtype=float), (n,))
    bad = ~np.isnan(rm) & ~((rm >= RMAX_KM_RANGE[0]) & (rm <= RMAX_KM_RANGE[1]))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"line {lines[i]}: radius of maximum wind out of range [{RMAX_KM_RANGE[0]:g}, "
            f"{RMAX_KM_RANGE[1]:g}] km (blank = estimate)",
            file=file,
            field=fields.get("rmax_km", "rmax_km"),
            value=float(rm[i]),
        )
    missing = np.isnan(pc)
    pc[missing] = pressure_from_wind(vmax_ms[missing])
    lon_u = np.rad2deg(np.unwrap(np.deg2rad(np.asarray(lon, dtype=float))))
    df = pd.DataFrame(
        {
            "time": t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC"),
            "lat": np.asarray(lat, dtype=float),
            "lon": lon_u,
            "vmax_ms": np.asarray(vmax_ms, dtype=float),
            "pcen_hpa": pc,
            "penv_hpa": np.broadcast_to(np.asarray(penv_hpa, dtype=float), (n,)).copy(),
            "rmax_km": np.broadcast_to(np.asarray(rmax_km, dtype=float), (n,)).copy(),
        }
    )
    df["time"] = df["time"].dt.as_unit("ns")
    df.attrs.update(sn=str(sn), name=str(name), source=source, pcen_estimated=int(missing.sum()))
    return df


# -- JTWC CSV (packaged format) -----------------------------------------------------------------
@lru_cache(maxsize=4)
def _jtwc_table(path: str, mtime: float, size: int) -> pd.DataFrame:
    return _csv(_read_text(Path(path)), Path(path))


def read_jtwc(path: str | Path, sn: Any = None) -> pd.DataFrame:
    """Read one storm from a JTWC best-track CSV as packaged with rescity.

    Columns ``Year, Month, Day, Hour`` (UTC), ``CY``, ``Lat``, ``Lon`` (degrees), ``VMax`` or
    ``VMax(kn)`` (1-min maximum sustained wind, kn; negative = missing), ``MSLP`` (hPa; empty or
    ≤ 0 = missing), ``SN`` (storm id YYYYCY), ``Cat``. ``sn`` picks the storm; it may be omitted
    when the file holds one storm. Fixes without a wind are dropped.
    """
    path = Path(path)
    st = path.stat()
    df = _jtwc_table(str(path.resolve()), st.st_mtime, st.st_size)
    vcol = "VMax(kn)" if "VMax(kn)" in df.columns else "VMax"
    _require(df, ["Year", "Month", "Day", "Hour", "Lat", "Lon", vcol, "SN"], path)
    sns = df["SN"].str.strip()
    uniq = list(dict.fromkeys(sns))
    if sn is None:
        if len(uniq) != 1:
            raise _choose_one(uniq, "storms", path, "SN")
        sn = uniq[0]
    sn = str(sn).strip()
    rows = np.flatnonzero((sns == sn).to_numpy())
    if len(rows) == 0:
        raise _unknown_storm(sn, uniq, path, "SN")
    sub = df.iloc[rows]
    lines = rows + 2  # header is line 1
    parts = {c: _numbers(sub, c, lines, path) for c in ("Year", "Month", "Day", "Hour")}
    for c, (lo, hi) in {"Month": (1, 12), "Day": (1, 31), "Hour": (0, 23)}.items():
        bad = (parts[c] < lo) | (parts[c] > hi) | (parts[c] != np.round(parts[c]))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"line {lines[i]}: not a valid {c.lower()}", file=path, field=c, value=sub[c].iloc[i]
            )
    time = pd.to_datetime(
        pd.DataFrame({k.lower(): parts[k].astype(int) for k in parts}), errors="coerce", utc=True
    )
    lat = _numbers(sub, "Lat", lines, path)
    lon = _numbers(sub, "Lon", lines, path)
    vmax_kn = _numbers(sub, vcol, lines, path, required=False, missing_below=0.0)
    mslp = (
        _numbers(sub, "MSLP", lines, path, required=False, missing_below=1.0)
        if "MSLP" in sub.columns
        else np.full(len(sub), np.nan)
    )
    keep = ~np.isnan(vmax_kn)
    if not keep.any():
        raise InputError("the storm has no wind values", file=path, field=vcol, value=sn)
    return _make_track(
        time=pd.DatetimeIndex(time)[keep],
        lat=lat[keep],
        lon=lon[keep],
        vmax_ms=vmax_kn[keep] * KN_TO_MS,
        pcen_hpa=mslp[keep],
        penv_hpa=PENV_HPA,
        rmax_km=np.nan,
        lines=lines[keep],
        file=path,
        fields={
            "time": "Year/Month/Day/Hour",
            "lat": "Lat",
            "lon": "Lon",
            "vmax_ms": vcol,
            "pcen_hpa": "MSLP",
        },
        sn=sn,
        name=JTWC_NAMES.get(sn, ""),
        source=f"JTWC best track ({path.name})",
    )


def packaged_jtwc_track(sn: Any) -> pd.DataFrame:
    """One storm of the packaged JTWC western North Pacific best tracks 1945–2020 by SN (YYYYCY)."""
    from rescity.data import path as data_path

    tr = read_jtwc(data_path(PACKAGED_JTWC), sn=sn)
    tr.attrs["source"] = "JTWC best track 1945–2020 (packaged)"
    return tr


def packaged_jtwc_ids() -> list[str]:
    """Storm ids (``SN``) of the packaged JTWC file, in file order."""
    from rescity.data import path as data_path

    p = data_path(PACKAGED_JTWC)
    st = p.stat()
    df = _jtwc_table(str(p.resolve()), st.st_mtime, st.st_size)
    return list(dict.fromkeys(df["SN"].str.strip()))


def packaged_track(sn: Any, source: str = "cma") -> pd.DataFrame:
    """A storm's packaged best track by CMA number, JTWC number or name.

    ``source="cma"`` (default): the CMA best track 1949–2024 for every storm in the CMA set —
    a JTWC ``sn`` like ``"201910"`` resolves to CMA 1909 Lekima by time and position, a name
    like ``"Lekima"`` or ``"Haitang 2005"`` by name (see
    :func:`rescity.hazard.cma.resolve_storm`); winds are turned from 2-min to 1-min means
    (:data:`CMA_2MIN_TO_1MIN`). ``source="jtwc"``: the packaged JTWC best track 1945–2020.
    ``attrs["sn"]`` is the id as asked; the chosen storm is in ``attrs["storm"]`` (a
    :class:`rescity.hazard.cma.StormId`), its CMA number in ``attrs["cma"]`` and its JTWC number,
    when known, in ``attrs["jtwc"]``.

    Example: ``packaged_track("201910")`` is Lekima (利奇马), landfall at Wenling, Taizhou,
    2019-08-09 17:45 UTC, CMA 2-min wind 52 m/s at landfall.
    """
    from rescity.hazard.cma import cma_track, resolve_storm

    sid = resolve_storm(str(sn), source=source)
    tr = cma_track(sid.cma) if sid.source == "cma" else packaged_jtwc_track(sid.jtwc)
    tr.attrs.update(sn=str(sn).strip(), storm=sid, cma=sid.cma, jtwc=sid.jtwc)
    return tr


# -- CMA/STI best-track text --------------------------------------------------------------------
def read_cma(path: str | Path, sn: Any = None, text: str | None = None) -> pd.DataFrame:
    """Read one storm from a CMA/STI tropical cyclone best-track file (CH<YYYY>BST.txt).

    Header lines ``66666 <intl id YYNN> <rows> <serial> <China id> <end flag> <interval h>
    <name> <date>`` are each followed by records ``YYYYMMDDHH I LAT LON PRES WND [OWD]`` with
    LAT in 0.1°N, LON in 0.1°E, PRES in hPa and WND the 2-min mean maximum sustained wind in
    m/s (Ying et al. 2014, *J. Atmos. Oceanic Technol.* 31, 287–301). The 2-min wind is turned
    into a 1-min wind by :data:`CMA_2MIN_TO_1MIN` (Harper et al. 2010). ``sn`` matches the
    international id (``1909`` or ``201909``), the China id, or the name (case-insensitive).
    """
    path = Path(path)
    text = _read_text(path) if text is None else text
    storms: list[dict[str, Any]] = []
    for i, line in enumerate(text.splitlines(), start=1):
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "66666":
            if len(tok) < 5:
                raise InputError(
                    f"line {i}: header needs at least 5 fields", file=path, field="66666", value=line
                )
            storms.append(
                {
                    "intl": tok[1],
                    "china": tok[4],
                    "name": tok[7] if len(tok) > 7 else "",
                    "line": i,
                    "recs": [],
                }
            )
        else:
            if not storms:
                raise InputError(
                    f"line {i}: record before any 66666 header line", file=path, field="66666", value=line
                )
            storms[-1]["recs"].append((i, tok))
    if not storms:
        raise InputError("no 66666 header line: not a CMA best-track file", file=path, field="66666")

    def label(s: dict[str, Any]) -> str:
        return f"{s['intl']} {s['name']}".strip()

    if sn is None:
        if len(storms) != 1:
            raise _choose_one([label(s) for s in storms], "storms", path, "66666")
        st = storms[0]
    else:
        key = str(sn).strip()
        keyl = key.lower()
        intl = key[2:] if re.fullmatch(r"\d{6}", key) else key
        hits = [
            s
            for s in storms
            if (s["intl"] == intl and s["intl"] != "0000") or s["china"] == key or s["name"].lower() == keyl
        ]
        if not hits:
            cands = [s["intl"] for s in storms] + [s["name"] for s in storms if s["name"]]
            raise _unknown_storm(sn, cands, path, "66666")
        if len(hits) > 1:
            raise InputError(
                f"{len(hits)} storms match; use the international id: {', '.join(label(s) for s in hits)}",
                file=path,
                field="66666",
                value=str(sn),
            )
        st = hits[0]
    recs = st["recs"]
    if not recs:
        raise InputError("the storm has no records", file=path, field="66666", value=label(st))
    lines = np.array([ln for ln, _ in recs])
    cols = {"time": [], "LAT": [], "LON": [], "PRES": [], "WND": []}
    for ln, tok in recs:
        if len(tok) < 6:
            raise InputError(
                f"line {ln}: a record needs 6 fields YYYYMMDDHH I LAT LON PRES WND",
                file=path,
                field="record",
                value=" ".join(tok),
            )
        cols["time"].append(tok[0])
        for name, v in zip(("LAT", "LON", "PRES", "WND"), tok[2:6], strict=True):
            cols[name].append(v)
    tbl = pd.DataFrame(cols)
    bad_t = ~tbl["time"].str.fullmatch(r"\d{10}")
    time = pd.to_datetime(tbl["time"].where(~bad_t), format="%Y%m%d%H", errors="coerce", utc=True)
    if time.isna().any():
        i = int(np.flatnonzero(time.isna().to_numpy())[0])
        raise InputError(
            f"line {lines[i]}: not a time YYYYMMDDHH",
            file=path,
            field="YYYYMMDDHH",
            value=tbl["time"].iloc[i],
        )
    lat = _numbers(tbl, "LAT", lines, path) / 10.0
    lon = _numbers(tbl, "LON", lines, path) / 10.0
    pres = _numbers(tbl, "PRES", lines, path)
    pres[pres <= 0] = np.nan
    wnd = _numbers(tbl, "WND", lines, path)
    if (wnd < 0).any():
        i = int(np.flatnonzero(wnd < 0)[0])
        raise InputError(f"line {lines[i]}: negative wind", file=path, field="WND", value=tbl["WND"].iloc[i])
    return _make_track(
        time=pd.DatetimeIndex(time),
        lat=lat,
        lon=lon,
        vmax_ms=wnd * CMA_2MIN_TO_1MIN,
        pcen_hpa=pres,
        penv_hpa=PENV_HPA,
        rmax_km=np.nan,
        lines=lines,
        file=path,
        fields={"time": "YYYYMMDDHH", "lat": "LAT", "lon": "LON", "vmax_ms": "WND", "pcen_hpa": "PRES"},
        sn=st["intl"],
        name=st["name"],
        source=f"CMA best track ({path.name})",
    )


# -- IBTrACS v04 CSV ----------------------------------------------------------------------------
def read_ibtracs(path: str | Path, sn: Any = None, text: str | None = None) -> pd.DataFrame:
    """Read one storm from an IBTrACS v04 CSV (Knapp et al. 2010, *BAMS* 91, 363–376).

    The row after the header holds units and is skipped. ``sn`` matches ``SID``,
    ``USA_ATCF_ID``, ``NAME`` or ``"NAME YEAR"`` (``SEASON``). Wind: ``USA_WIND`` (1-min, kn)
    where given, else ``WMO_WIND`` converted to 1-min from the agency's averaging period
    (:data:`IBTRACS_AGENCY_AVERAGING_S`, :func:`to_1min_factor`). Pressure: ``USA_PRES`` else
    ``WMO_PRES``. Radius of maximum wind: ``USA_RMW`` (nmi). Fixes without a wind are dropped.
    """
    path = Path(path)
    text = _read_text(path) if text is None else text
    df = _csv(text, path)
    _require(df, ["SID", "ISO_TIME", "LAT", "LON"], path)
    if "USA_WIND" not in df.columns and "WMO_WIND" not in df.columns:
        _require(df, ["USA_WIND"], path)
    lines_all = np.arange(len(df)) + 2
    if len(df) and (df["SID"].iloc[0].strip() == "" or df["LAT"].iloc[0].strip().lower().startswith("deg")):
        df = df.iloc[1:]
        lines_all = lines_all[1:]
    sid = df["SID"].str.strip()
    uniq = list(dict.fromkeys(sid))
    if sn is None:
        if len(uniq) != 1:
            raise _choose_one(uniq, "storms", path, "SID")
        mask = (sid == uniq[0]).to_numpy()
    else:
        key = str(sn).strip()
        mask = (sid == key).to_numpy()
        if not mask.any() and "USA_ATCF_ID" in df.columns:
            mask = (df["USA_ATCF_ID"].str.strip().str.upper() == key.upper()).to_numpy()
        if not mask.any() and "NAME" in df.columns:
            names = df["NAME"].str.strip().str.upper()
            m = re.fullmatch(r"(.+?)[\s:_]+(\d{4})", key)
            if m and "SEASON" in df.columns:
                mask = ((names == m.group(1).upper()) & (df["SEASON"].str.strip() == m.group(2))).to_numpy()
            else:
                mask = (names == key.upper()).to_numpy()
        if not mask.any():
            cands = uniq + (list(dict.fromkeys(df["NAME"].str.strip())) if "NAME" in df.columns else [])
            raise _unknown_storm(sn, cands, path, "SID")
        hit = list(dict.fromkeys(sid[mask]))
        if len(hit) > 1:
            raise InputError(
                f"{len(hit)} storms match; use the SID or 'NAME YEAR': {', '.join(hit)}",
                file=path,
                field="NAME",
                value=str(sn),
            )
    sub = df[mask]
    lines = lines_all[mask]
    time = pd.to_datetime(sub["ISO_TIME"].str.strip(), errors="coerce", utc=True)
    if time.isna().any():
        i = int(np.flatnonzero(time.isna().to_numpy())[0])
        raise InputError(
            f"line {lines[i]}: not a time", file=path, field="ISO_TIME", value=sub["ISO_TIME"].iloc[i]
        )
    lat = _numbers(sub, "LAT", lines, path)
    lon = _numbers(sub, "LON", lines, path)
    n = len(sub)
    nan = np.full(n, np.nan)
    usa = _numbers(sub, "USA_WIND", lines, path, required=False) if "USA_WIND" in sub else nan
    vmax_kn = usa.copy()
    if "WMO_WIND" in sub:
        wmo = _numbers(sub, "WMO_WIND", lines, path, required=False)
        agency = sub["WMO_AGENCY"].str.strip().str.lower() if "WMO_AGENCY" in sub else pd.Series([""] * n)
        fac = np.array([to_1min_factor(IBTRACS_AGENCY_AVERAGING_S.get(a, 60.0)) for a in agency])
        fill = np.isnan(vmax_kn)
        vmax_kn[fill] = wmo[fill] * fac[fill]
    pres = _numbers(sub, "USA_PRES", lines, path, required=False) if "USA_PRES" in sub else nan.copy()
    if "WMO_PRES" in sub:
        wp = _numbers(sub, "WMO_PRES", lines, path, required=False)
        pres = np.where(np.isnan(pres), wp, pres)
    pres[pres <= 0] = np.nan
    rmw = _numbers(sub, "USA_RMW", lines, path, required=False) * NM_TO_KM if "USA_RMW" in sub else nan
    rmw = np.where(rmw > 0, rmw, np.nan)
    keep = ~np.isnan(vmax_kn)
    if not keep.any():
        raise InputError("the storm has no wind values", file=path, field="USA_WIND", value=str(sn))
    name = sub["NAME"].iloc[0].strip() if "NAME" in sub else ""
    return _make_track(
        time=pd.DatetimeIndex(time)[keep],
        lat=lat[keep],
        lon=lon[keep],
        vmax_ms=vmax_kn[keep] * KN_TO_MS,
        pcen_hpa=pres[keep],
        penv_hpa=PENV_HPA,
        rmax_km=rmw[keep],
        lines=lines[keep],
        file=path,
        fields={
            "time": "ISO_TIME",
            "lat": "LAT",
            "lon": "LON",
            "vmax_ms": "USA_WIND",
            "pcen_hpa": "USA_PRES",
        },
        sn=sub["SID"].iloc[0].strip(),
        name=name,
        source=f"IBTrACS v04 ({path.name})",
    )


# -- generic CSV --------------------------------------------------------------------------------
def read_generic(path: str | Path, sn: Any = None, text: str | None = None) -> pd.DataFrame:
    """Read a generic track CSV.

    Columns: ``time`` (ISO 8601, UTC unless an offset is given), ``lat``, ``lon`` (degrees),
    ``vmax_kn`` (1-min maximum sustained wind, kn; or ``vmax_ms`` in m/s), optional
    ``pcen_hpa`` (blank = estimate), ``rmax_nm`` (nmi; or ``rmax_km``), ``penv_hpa`` (default
    1010), and an optional ``sn`` column to hold several storms (then pick one with ``sn``).
    """
    path = Path(path)
    text = _read_text(path) if text is None else text
    df = _csv(text, path)
    df.columns = [c.lower() for c in df.columns]
    _require(df, ["time", "lat", "lon"], path)
    if "vmax_kn" not in df.columns and "vmax_ms" not in df.columns:
        _require(df, ["vmax_kn"], path)
    lines = np.arange(len(df)) + 2
    sn_out = str(sn) if sn is not None else path.stem
    if "sn" in df.columns:
        sns = df["sn"].str.strip()
        uniq = list(dict.fromkeys(sns))
        if sn is None:
            if len(uniq) != 1:
                raise _choose_one(uniq, "storms", path, "sn")
            sn = uniq[0]
        m = (sns == str(sn).strip()).to_numpy()
        if not m.any():
            raise _unknown_storm(sn, uniq, path, "sn")
        df, lines, sn_out = df[m], lines[m], str(sn).strip()
    time = pd.to_datetime(df["time"].str.strip(), errors="coerce", utc=True, format="ISO8601")
    if time.isna().any():
        i = int(np.flatnonzero(time.isna().to_numpy())[0])
        raise InputError(
            f"line {lines[i]}: not an ISO 8601 time", file=path, field="time", value=df["time"].iloc[i]
        )
    if "vmax_kn" in df.columns:
        vmax, vfield = _numbers(df, "vmax_kn", lines, path) * KN_TO_MS, "vmax_kn"
    else:
        vmax, vfield = _numbers(df, "vmax_ms", lines, path), "vmax_ms"
    nan = np.full(len(df), np.nan)
    pcen = _numbers(df, "pcen_hpa", lines, path, required=False) if "pcen_hpa" in df else nan
    penv = _numbers(df, "penv_hpa", lines, path, required=False) if "penv_hpa" in df else nan.copy()
    penv = np.where(np.isnan(penv), PENV_HPA, penv)
    if "rmax_nm" in df.columns:
        rmax = _numbers(df, "rmax_nm", lines, path, required=False) * NM_TO_KM
    elif "rmax_km" in df.columns:
        rmax = _numbers(df, "rmax_km", lines, path, required=False)
    else:
        rmax = nan
    bad = ~np.isnan(rmax) & ~(rmax > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"line {lines[i]}: radius must be positive", file=path, field="rmax_nm", value=float(rmax[i])
        )
    name = df["name"].iloc[0].strip() if "name" in df.columns else ""
    return _make_track(
        time=pd.DatetimeIndex(time),
        lat=_numbers(df, "lat", lines, path),
        lon=_numbers(df, "lon", lines, path),
        vmax_ms=vmax,
        pcen_hpa=pcen,
        penv_hpa=penv,
        rmax_km=rmax,
        lines=lines,
        file=path,
        fields={"time": "time", "lat": "lat", "lon": "lon", "vmax_ms": vfield, "pcen_hpa": "pcen_hpa"},
        sn=sn_out,
        name=name,
        source=f"generic CSV ({path.name})",
    )


def read_track(path: str | Path, fmt: str = "auto", sn: Any = None) -> pd.DataFrame:
    """Read one storm's track from ``path`` (plain or gzip).

    Parameters
    ----------
    path:
        Track file.
    fmt:
        ``auto`` (detect from the first line), ``jtwc``, ``cma``, ``ibtracs`` or ``generic``.
    sn:
        Storm to pick when the file holds several: JTWC ``SN`` (YYYYCY), CMA international id
        or name, IBTrACS ``SID``/ATCF id/name, generic ``sn`` column.

    Returns
    -------
    DataFrame
        The track (see the module docstring for columns and attrs).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", file=path, field="--track")
    fmt = (fmt or "auto").lower()
    if fmt not in ("auto", *FORMATS):
        raise InputError(
            f"unknown format; use auto or one of {', '.join(FORMATS)}", file=path, field="format", value=fmt
        )
    if fmt == "jtwc":
        return read_jtwc(path, sn)
    text = _read_text(path)
    if fmt == "auto":
        fmt = detect_format(path, text)
    if fmt == "jtwc":
        return read_jtwc(path, sn)
    reader = {"cma": read_cma, "ibtracs": read_ibtracs, "generic": read_generic}[fmt]
    return reader(path, sn, text=text)


# -- interpolation ------------------------------------------------------------------------------
def _hours(t: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    t = pd.DatetimeIndex(t)
    return np.asarray((t - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(hours=1), dtype=float)


def _interp_nan(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(fp)
    if not ok.any():
        return np.full(len(x), np.nan)
    return np.interp(x, xp[ok], fp[ok])


def interpolate_track(track: pd.DataFrame, dt_h: float = 1.0) -> pd.DataFrame:
    """Resample a track to fixes every ``dt_h`` hours and add its motion.

    Position, wind and pressures are linear in time (longitude unwrapped); ``rmax_km`` is
    interpolated between the fixes that have one. Added columns: ``u_trans_ms``,
    ``v_trans_ms`` (eastward and northward translation velocity, m/s, centred differences of the
    resampled positions on the sphere), ``trans_speed_ms``, ``trans_dir_deg`` (direction of
    motion, degrees clockwise from north) and ``dpdt_hpa_h`` (central pressure tendency, hPa/h).
    """
    if not dt_h > 0:
        raise InputError("time step must be positive", field="dt_h", value=dt_h)
    missing = [c for c in TRACK_COLUMNS if c not in track.columns]
    if missing:
        raise InputError(f"not a track: columns {missing} missing", field=missing[0])
    h = _hours(track["time"])
    t0 = h[0]
    n = int(np.floor((h[-1] - t0) / dt_h + 1e-9)) + 1
    hi = t0 + dt_h * np.arange(n)
    cols: dict[str, Any] = {
        "time": pd.to_datetime(np.round(hi * 3600.0).astype("int64"), unit="s", utc=True).as_unit("ns")
    }
    for c in ("lat", "lon", "vmax_ms", "pcen_hpa", "penv_hpa", "rmax_km"):
        cols[c] = _interp_nan(hi, h, track[c].to_numpy(dtype=float))
    lat = np.deg2rad(cols["lat"])
    lon = np.deg2rad(cols["lon"])
    if n > 1:
        dlat = np.gradient(lat, hi)  # rad/h
        dlon = np.gradient(lon, hi)
        dp = np.gradient(cols["pcen_hpa"], hi)
    else:
        dlat = dlon = dp = np.zeros(1)
    u = EARTH_RADIUS_KM * 1000.0 * np.cos(lat) * dlon / 3600.0
    v = EARTH_RADIUS_KM * 1000.0 * dlat / 3600.0
    cols["u_trans_ms"] = u
    cols["v_trans_ms"] = v
    cols["trans_speed_ms"] = np.hypot(u, v)
    cols["trans_dir_deg"] = np.mod(np.rad2deg(np.arctan2(u, v)), 360.0)
    cols["dpdt_hpa_h"] = dp
    out = pd.DataFrame(cols)  # built at once: one column at a time costs more than the arithmetic
    out.attrs.update(track.attrs)
    out.attrs["dt_h"] = float(dt_h)
    return out
