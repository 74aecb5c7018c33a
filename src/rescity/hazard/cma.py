"""The packaged CMA best tracks 1949–2024 and how a storm is named.

The China Meteorological Administration (CMA) / Shanghai Typhoon Institute best-track data set
(Ying et al. 2014; Lu et al. 2021) is the reference track for storms affecting China: its
landfall intensities are those of the official reports, and its positions continue over land
until the storm dissipates (the JTWC file usually stops soon after landfall). It is packaged as
one gzip file, the 76 yearly files ``CH1949BST.txt`` … ``CH2024BST.txt`` in year order
(``rescity/data/cma_bst_1949_2024.txt.gz``, see ``SOURCES.md``).

Winds in the file are **2-minute** means (m/s); :func:`rescity.hazard.track.read_cma` multiplies
them by :data:`rescity.hazard.track.CMA_2MIN_TO_1MIN` (1.0216, from the gust factors of Harper,
Kepert & Ginger 2010, WMO/TD-No. 1555) so that every track in rescity carries 1-min winds.

Naming a storm (:func:`resolve_storm`)
    * a CMA (Chinese) number ``YYNN`` such as ``1909``, the number Chinese reports use
      (第9号台风); the international number of the file header is accepted when it differs;
    * a JTWC number ``YYYYNN`` such as ``201910``; by default it resolves to the CMA storm that
      matches it in time and position (mean distance of the common 6-hourly fixes under
      :data:`MATCH_KM`), so ``201910`` is CMA 1909 Lekima and ``200416`` is CMA 0414 Rananim;
    * a name, in English (any case) or Chinese, optionally with the year: ``Lekima``,
      ``lekima``, ``利奇马``, ``Haitang 2005``. A name used for several storms picks the latest
      one that struck or skirted Zhejiang (:data:`ZHEJIANG_STORMS`), else the latest; the
      :class:`StormId` says which other years carry the name.

References
----------
Ying, M., Zhang, W., Yu, H., Lu, X., Feng, J., Fan, Y., Zhu, Y. & Chen, D., 2014: An overview of
the China Meteorological Administration tropical cyclone database. *J. Atmos. Oceanic Technol.*
31, 287–301.
Lu, X., Yu, H., Ying, M., Zhao, B., Zhang, S., Lin, L., Bai, L. & Wan, R., 2021: Western North
Pacific tropical cyclone database created by the China Meteorological Administration. *Adv.
Atmos. Sci.* 38, 690–699.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from rescity.errors import InputError
from rescity.geo import haversine_km

PACKAGED_CMA = "cma_bst_1949_2024.txt.gz"
SOURCES: tuple[str, ...] = ("cma", "jtwc")
#: A JTWC storm and a CMA storm are the same when their common fixes lie this close on average, km.
MATCH_KM: float = 250.0

#: Chinese names of the storms that struck or skirted Zhejiang and are named in rescity's
#: documents and history (CMA number → (English, Chinese)).
ZHEJIANG_STORMS: dict[str, tuple[str, str]] = {
    "0414": ("Rananim", "云娜"),
    "0505": ("Haitang", "海棠"),
    "0509": ("Matsa", "麦莎"),
    "0513": ("Talim", "泰利"),
    "0515": ("Khanun", "卡努"),
    "0608": ("Saomai", "桑美"),
    "0709": ("Sepat", "圣帕"),
    "0713": ("Wipha", "韦帕"),
    "0716": ("Krosa", "罗莎"),
    "0808": ("Fung-wong", "凤凰"),
    "0908": ("Morakot", "莫拉克"),
    "1109": ("Muifa", "梅花"),
    "1211": ("Haikui", "海葵"),
    "1323": ("Fitow", "菲特"),
    "1509": ("Chan-hom", "灿鸿"),
    "1521": ("Dujuan", "杜鹃"),
    "1909": ("Lekima", "利奇马"),
    "1918": ("Mitag", "米娜"),
    "2004": ("Hagupit", "黑格比"),
}


@dataclass(frozen=True)
class StormId:
    """Which storm a text named, and from which best track it will be read.

    ``cma`` the CMA (Chinese) number ``YYNN`` (``""`` when the storm is not in the CMA set),
    ``jtwc`` the JTWC ``YYYYNN`` (``""`` when unknown or not looked up), ``name``, ``year``,
    ``source`` (``"cma"`` or ``"jtwc"``), ``how`` (one line on how the text was matched) and
    ``others`` (other storms with the same name, ``"Name YYYY"``).
    """

    cma: str
    jtwc: str
    name: str
    year: int
    source: str
    how: str
    others: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """The id to read from the chosen source."""
        return self.cma if self.source == "cma" else self.jtwc

    def describe(self) -> str:
        """One line for the CLI, e.g. ``storm: CMA 1909 Lekima (2019), CMA best track; …``."""
        zh = ZHEJIANG_STORMS.get(self.cma, ("", ""))[1]
        name = f"{self.name} ({zh})" if zh else self.name
        if self.source == "cma":
            what = f"CMA {self.cma} {name} {self.year}, CMA best track"
            if self.jtwc:
                what += f" (JTWC {self.jtwc})"
        else:
            what = f"JTWC {self.jtwc} {name} {self.year}".replace("  ", " ") + ", JTWC best track"
            if self.cma:
                what += f" (CMA {self.cma})"
        tail = f"; {self.how}" if self.how else ""
        if self.others:
            tail += f"; the name also: {', '.join(self.others)} (add the year to pick one)"
        return f"storm: {what}{tail}"


# -- the packaged file --------------------------------------------------------------------------
@lru_cache(maxsize=1)
def cma_text() -> str:
    """The packaged CMA best-track text (all years)."""
    import gzip

    from rescity.data import path as data_path

    with gzip.open(data_path(PACKAGED_CMA), "rt", encoding="utf-8") as fh:
        return fh.read()


@lru_cache(maxsize=1)
def cma_index() -> pd.DataFrame:
    """One row per storm of the packaged CMA file.

    Columns ``cma`` (Chinese number, ``0000`` for unnumbered storms), ``intl`` (international
    number, ``0000`` before 2017), ``name``, ``year`` (of the first fix), ``start`` and ``end``
    (times of the first and last fix, UTC), ``line`` (header line, 1-based) and ``rows``.
    """
    lines = cma_text().splitlines()
    heads = [i for i, ln in enumerate(lines) if ln.startswith("66666")]
    recs = []
    for k, i in enumerate(heads):
        tok = lines[i].split()
        j = heads[k + 1] if k + 1 < len(heads) else len(lines)
        first = lines[i + 1].split()[0] if j > i + 1 else ""
        last = lines[j - 1].split()[0] if j > i + 1 else ""
        name = tok[7] if len(tok) > 7 else ""
        recs.append({
            "cma": tok[4], "intl": tok[1], "name": "" if name.startswith("(") else name,
            "first": first, "last": last, "line": i + 1, "rows": j - i - 1,
        })
    df = pd.DataFrame(recs)
    df["start"] = pd.to_datetime(df["first"], format="%Y%m%d%H", utc=True)
    df["end"] = pd.to_datetime(df["last"], format="%Y%m%d%H", utc=True)
    df["year"] = df["start"].dt.year.astype(int)
    return df.drop(columns=["first", "last"])


def storm_text(row: int) -> str:
    """The header and records of one storm (row of :func:`cma_index`) as CMA text."""
    idx = cma_index()
    lines = cma_text().splitlines()
    i = int(idx["line"].iat[row]) - 1
    return "\n".join(lines[i : i + 1 + int(idx["rows"].iat[row])]) + "\n"


def _cma_year(number: str, year: int | None = None) -> int:
    yy = int(number[:2])
    if year is not None:
        return year
    return 1900 + yy if yy >= 49 else 2000 + yy


def _rows_for_number(number: str) -> list[int]:
    if number == "0000":  # unnumbered storms
        return []
    idx = cma_index()
    yr = _cma_year(number)
    # a storm's number is that of the year it was named in; its first fix may be the year before
    same = idx["year"].isin([yr, yr - 1]).to_numpy()
    hits = np.flatnonzero(same & (idx["cma"] == number).to_numpy())
    if len(hits) == 0:
        hits = np.flatnonzero(same & (idx["intl"] == number).to_numpy() & (idx["intl"] != "0000").to_numpy())
    return [int(h) for h in hits]


def cma_track(number: str) -> pd.DataFrame:
    """The packaged CMA track of the storm with CMA number ``number`` (``YYNN``), 1-min winds."""
    from rescity.hazard.track import read_cma

    rows = _rows_for_number(str(number).strip())
    if not rows:
        raise InputError("no storm with this CMA number in the packaged CMA best tracks 1949–2024",
                         file=PACKAGED_CMA, field="--sn", value=number)
    row = rows[0]
    tr = read_cma(PACKAGED_CMA, None, text=storm_text(row))
    idx = cma_index()
    name = idx["name"].iat[row] or "(nameless)"
    tr.attrs.update(sn=str(number), name=_display_name(str(number), name),
                    source="CMA best track 1949–2024 (packaged; 2-min winds × 1.0216 to 1-min)")
    return tr


def _display_name(number: str, name: str) -> str:
    en_zh = ZHEJIANG_STORMS.get(number)
    if en_zh and en_zh[0].lower().replace("-", "") == name.lower().replace("-", ""):
        return f"{en_zh[0]} ({en_zh[1]})"
    return name.title() if name.isupper() else name


# -- matching JTWC and CMA ----------------------------------------------------------------------
def _jtwc_fixes(sn: str) -> pd.DataFrame:
    from rescity.hazard.track import packaged_jtwc_track

    return packaged_jtwc_track(sn)


_distance_km = haversine_km


@lru_cache(maxsize=256)
def cma_for_jtwc(sn: str) -> str:
    """CMA number of the storm that a packaged JTWC storm ``sn`` is (``""`` when none matches).

    Same storm = the CMA storm whose fixes at the common 6-hourly times lie closest, on average,
    to the JTWC fixes, provided the mean distance is under :data:`MATCH_KM` and they share at
    least two times.
    """
    try:
        jt = _jtwc_fixes(sn)
    except InputError:
        return ""
    from rescity.hazard.track import read_cma

    idx = cma_index()
    t0, t1 = jt["time"].iloc[0], jt["time"].iloc[-1]
    cand = np.flatnonzero(((idx["end"] >= t0) & (idx["start"] <= t1)).to_numpy())
    best, best_d = "", MATCH_KM
    for row in cand:  # a handful of storms overlap in time
        if idx["cma"].iat[row] == "0000":
            continue
        tr = read_cma(PACKAGED_CMA, None, text=storm_text(int(row)))
        common = pd.Index(tr["time"]).intersection(pd.Index(jt["time"]))
        if len(common) < 2:
            continue
        a = tr.set_index("time").loc[common]
        b = jt.set_index("time").loc[common]
        d = float(np.mean(_distance_km(a["lat"].to_numpy(), a["lon"].to_numpy(),
                                       b["lat"].to_numpy(), b["lon"].to_numpy())))
        if d < best_d:
            best, best_d = str(idx["cma"].iat[row]), d
    return best


@lru_cache(maxsize=256)
def jtwc_for_cma(number: str) -> str:
    """JTWC ``YYYYNN`` of a CMA storm (``""`` when the packaged JTWC file, 1945–2020, has none)."""
    from rescity.hazard.track import packaged_jtwc_ids

    rows = _rows_for_number(number)
    if not rows:
        return ""
    idx = cma_index()
    years = {int(idx["year"].iat[rows[0]]), int(idx["end"].iat[rows[0]].year)}
    for sn in packaged_jtwc_ids():
        if int(sn[:4]) in years and cma_for_jtwc(sn) == number:
            return sn
    return ""


# -- resolving a text ---------------------------------------------------------------------------
def _zh_to_en() -> dict[str, str]:
    return {zh: en for en, zh in ZHEJIANG_STORMS.values()}


def resolve_storm(text: str, source: str = "cma") -> StormId:
    """Which storm ``text`` names (CMA number, JTWC number or name [+ year]) and its source.

    ``source="cma"`` (default) reads the CMA best track whenever the storm is in the CMA set (a
    JTWC number with no CMA match falls back to JTWC, and says so); ``source="jtwc"`` reads the
    packaged JTWC file (a CMA number or a name is first resolved to its CMA storm, then matched
    to JTWC). Unknown text → :class:`InputError` with close names.
    """
    src = str(source or "cma").strip().lower()
    if src not in SOURCES:
        raise InputError(f"unknown track source; use one of {', '.join(SOURCES)}", field="--source",
                         value=source)
    t = str(text or "").strip()
    if not t:
        raise InputError("give a storm: a CMA number (1909), a JTWC number (201910) or a name (Lekima)",
                         field="--sn", value=text)
    idx = cma_index()
    if re.fullmatch(r"\d{6}", t):  # JTWC YYYYNN
        if src == "jtwc":
            _jtwc_fixes(t)  # raises when unknown
            number = cma_for_jtwc(t)
            name = _name_of(number) if number else _jtwc_name(t)
            return StormId(number, t, name, int(t[:4]), "jtwc", "JTWC number, JTWC best track as asked")
        number = cma_for_jtwc(t)
        if not number:
            _jtwc_fixes(t)
            return StormId("", t, _jtwc_name(t), int(t[:4]), "jtwc",
                           "no CMA storm matches this JTWC number in time and position; JTWC best track used")
        row = _rows_for_number(number)[0]
        return StormId(number, t, _name_of(number), int(idx["year"].iat[row]), "cma",
                       "JTWC number matched to the CMA storm by time and position")
    if re.fullmatch(r"\d{4}", t):  # CMA YYNN
        rows = _rows_for_number(t)
        if not rows:
            raise InputError("no storm with this CMA number in the packaged CMA best tracks 1949–2024",
                             file=PACKAGED_CMA, field="--sn", value=t)
        year = int(idx["year"].iat[rows[0]])
        if src == "jtwc":
            sn = jtwc_for_cma(t)
            if not sn:
                raise InputError("this CMA storm has no match in the packaged JTWC best tracks 1945–2020",
                                 field="--source", value="jtwc")
            return StormId(t, sn, _name_of(t), year, "jtwc", "CMA number matched to JTWC; JTWC best track as asked")
        return StormId(t, "", _name_of(t), year, "cma", "CMA number")
    m = re.fullmatch(r"(.+?)[\s,_:]*((?:19|20)\d\d)?", t)
    name, year = (m.group(1).strip(), int(m.group(2))) if m and m.group(2) else (t, None)
    en = _zh_to_en().get(name, name)
    key = en.lower().replace("-", "").replace(" ", "")
    names = idx["name"].str.lower().str.replace("-", "", regex=False).str.replace(" ", "", regex=False)
    hits = np.flatnonzero((names == key).to_numpy() & (idx["cma"] != "0000").to_numpy())
    if len(hits) == 0:
        known = sorted(set(idx["name"].str.title()) - {""}) + [zh for _, zh in ZHEJIANG_STORMS.values()]
        close = difflib.get_close_matches(en.title(), known, n=5, cutoff=0.6)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise InputError(f"no storm of this name in the CMA best tracks 1949–2024{hint}", field="--sn",
                         value=text)
    years = idx["year"].to_numpy()[hits]
    if year is not None:
        pick = hits[years == year]
        if len(pick) == 0:
            have = ", ".join(str(y) for y in sorted(set(years)))
            raise InputError(f"no storm of this name in {year}; the name was used in {have}", field="--sn",
                             value=text)
        row = int(pick[0])
    else:
        zj = [h for h in hits if idx["cma"].iat[h] in ZHEJIANG_STORMS]
        row = int(max(zj or hits, key=lambda h: idx["start"].iat[h]))
    number = str(idx["cma"].iat[row])
    others = tuple(f"{idx['name'].iat[h].title()} {idx['year'].iat[h]}" for h in hits if h != row)
    how = "name" + (" and year" if year is not None else "")
    if src == "jtwc":
        sn = jtwc_for_cma(number)
        if not sn:
            raise InputError("this storm has no match in the packaged JTWC best tracks 1945–2020",
                             field="--source", value="jtwc")
        return StormId(number, sn, _name_of(number), int(idx["year"].iat[row]), "jtwc",
                       how + "; JTWC best track as asked", others)
    return StormId(number, "", _name_of(number), int(idx["year"].iat[row]), "cma", how, others)


def _name_of(number: str) -> str:
    if number in ZHEJIANG_STORMS:
        return ZHEJIANG_STORMS[number][0]
    rows = _rows_for_number(number)
    name = cma_index()["name"].iat[rows[0]] if rows else ""
    return name.title() if name else "(nameless)"


def _jtwc_name(sn: str) -> str:
    from rescity.hazard.track import JTWC_NAMES

    return JTWC_NAMES.get(sn, "").split(" (")[0]
