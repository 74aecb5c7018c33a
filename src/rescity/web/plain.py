"""Alerts in plain language: who, what, where and what to do, in Chinese and English.

An alert row (``level``, ``kind``, ``title``, ``message``, ``unit_id``, ``asset_id`` …) is turned
into four short answers for people who will not read a chart:

``who``
    the people concerned, from the advice table's template for the alert's kind, with the place;
``what``
    "Red typhoon warning" / "台风红色预警", followed by the alert's own title and message;
``where``
    the unit's name with its parents (a grid cell is named by its county), and the asset if any;
``todo``
    the actions for the public from the advice table for the kind and level.

The advice table (``web/data/alert_advice.csv``) has one row per alert kind and level (``*``: any
level): ``kind``, ``aliases`` (``|``-separated names an alert's ``kind`` may use, matched
case-insensitively, exactly first, then as a part of the kind), ``level``, names, ``who_*``
templates with ``{place}``, ``todo_*`` items separated by ``|``, and the ``source`` of the advice.
Typhoon and rainstorm rows condense the defence guidelines (防御指南) of the China Meteorological
Administration's warning signals (CMA Order No. 16, 2007, annex); the others are rescity
defaults and say so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

import pandas as pd

LEVELS: tuple[str, ...] = ("blue", "yellow", "orange", "red")
LEVEL_NAMES: dict[str, dict[str, str]] = {
    "en": {"blue": "Blue", "yellow": "Yellow", "orange": "Orange", "red": "Red"},
    "zh": {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"},
}
LANGS: tuple[str, ...] = ("en", "zh")


@lru_cache(maxsize=1)
def advice_table() -> pd.DataFrame:
    """The packaged advice table (see the module docstring)."""
    t = pd.read_csv(str(files("rescity.web.data") / "alert_advice.csv"), dtype=str, keep_default_na=False)
    t["aliases_list"] = [[a.strip().lower() for a in s.split("|") if a.strip()] for s in t["aliases"]]
    return t


_CJK = re.compile(r"[\u3400-\u9fff]")


def in_language(text: str, lang: str, sep: str) -> str:
    """The part of a bilingual text in ``lang``: sensing writes alert titles as ``中文 · English``
    and messages as ``中文\\nEnglish``. Parts with Chinese characters are Chinese; text that is not
    split in two comes back whole."""
    parts = [x.strip() for x in text.split(sep) if x.strip()]
    if len(parts) < 2:
        return text.strip()
    zh = [x for x in parts if _CJK.search(x)]
    en = [x for x in parts if not _CJK.search(x)]
    if not zh or not en:
        return text.strip()
    return (" ".join(zh) if lang == "zh" else " ".join(en)) if sep == "\n" else (zh[0] if lang == "zh" else en[0])


def advice_for(kind: str | None, level: str | None) -> dict[str, Any]:
    """The advice row for an alert ``kind`` and ``level`` (the default row when nothing matches)."""
    t = advice_table()
    k = (kind or "").strip().lower()
    rows = t[t["kind"] != "*"]
    matched = None
    for exact in (True, False):
        for name in dict.fromkeys(rows["kind"]):
            aliases = rows.loc[rows["kind"] == name, "aliases_list"].iloc[0]
            if exact and k in aliases or not exact and k and any(a in k for a in aliases if len(a) > 2):
                matched = name
                break
        if matched:
            break
    cand = t[t["kind"] == (matched or "*")]
    hit = cand[cand["level"] == (level or "")]
    if hit.empty:
        hit = cand[cand["level"] == "*"]
    if hit.empty:  # a kind with level rows only, and an unknown level: its lowest level
        hit = cand.iloc[:1]
    return hit.iloc[0].to_dict()


@dataclass(frozen=True)
class Place:
    """A unit's names for plain text: the unit, its named county-or-higher ancestors."""

    unit_id: str
    level: str
    en: str
    zh: str


class Places:
    """Names of the units of a twin for plain-language text.

    Parameters
    ----------
    units:
        The twin's units table (``unit_id``, ``level``, ``parent_id``, ``name_zh``, ``name_en``).
    """

    def __init__(self, units: pd.DataFrame) -> None:
        u = units[["unit_id", "level", "parent_id", "name_zh", "name_en"]].astype(str)
        self._rows = {r.unit_id: r for r in u.itertuples(index=False)}

    def _named(self, uid: str) -> bool:
        r = self._rows.get(uid)
        return r is not None and r.level != "cell" and bool(r.name_en or r.name_zh) and r.name_en != uid

    def _chain(self, uid: str) -> list:
        out, seen = [], set()
        while uid in self._rows and uid not in seen:
            seen.add(uid)
            r = self._rows[uid]
            out.append(r)
            uid = r.parent_id
        return out

    def ancestors(self, unit_id: str | None) -> list[str]:
        """``unit_id`` and the ids of the units above it, nearest first ([] if unknown)."""
        return [r.unit_id for r in self._chain(unit_id)] if unit_id else []

    def place(self, unit_id: str | None) -> Place | None:
        """The plain names of ``unit_id``: "Shangcheng, Hangzhou" / "杭州市上城区"; None if unknown."""
        if not unit_id or unit_id not in self._rows:
            return None
        chain = self._chain(unit_id)
        me = chain[0]
        named = [r for r in chain if self._named(r.unit_id) and r.level != "province"]
        if not named:
            named = [r for r in chain if self._named(r.unit_id)]
        en_parts = [r.name_en or r.name_zh for r in named[:2]]
        zh_parts = [r.name_zh or r.name_en for r in reversed(named[:2])]
        en, zh = ", ".join(en_parts), "".join(zh_parts)
        if not self._named(me.unit_id):
            en = f"{en} (grid cell {me.unit_id})" if en else f"grid cell {me.unit_id}"
            zh = f"{zh}（网格 {me.unit_id}）" if zh else f"网格 {me.unit_id}"
        return Place(me.unit_id, me.level, en, zh)


def plain_alert(
    alert: Mapping[str, Any],
    places: Places | None = None,
    asset_unit: Mapping[str, str] | None = None,
    area: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Plain-language text of an alert in both languages.

    Parameters
    ----------
    alert:
        An alert row (``level``, ``kind``, ``title``, ``message``, ``unit_id``, ``asset_id``).
    places:
        Unit names of the alert's twin.
    asset_unit:
        ``asset_id -> unit_id``, to place an alert that names an asset but no unit.
    area:
        Names of the whole area, used when the alert has no place: ``{"en": …, "zh": …}``.

    Returns
    -------
    ``{"en": {"headline", "who", "what", "where", "todo": [..]}, "zh": {…}, "source",
    "advice_kind"}``.
    """
    level = str(alert.get("level") or "")
    adv = advice_for(alert.get("kind"), level)
    uid = alert.get("unit_id")
    asset = alert.get("asset_id")
    if not uid and asset and asset_unit:
        uid = asset_unit.get(asset)
    p = places.place(uid) if places is not None else None
    area = area or {"en": "the area", "zh": "本地区"}
    out: dict[str, Any] = {"source": adv["source"], "advice_kind": adv["kind"]}
    for lang in LANGS:
        message = in_language(str(alert.get("message") or ""), lang, "\n")
        # who is affected and what to do are their own fields: not repeated inside "what"
        for cut in (" Who: ", "影响："):
            message = message.split(cut)[0]
        own = " — ".join(
            x for x in (in_language(str(alert.get("title") or ""), lang, " · "), message) if x.strip()
        )
        where = (p.en if lang == "en" else p.zh) if p else (area["en"] if lang == "en" else area["zh"])
        if asset:
            where = f"{where}: {asset}" if lang == "en" else f"{where}：{asset}"
        lv = LEVEL_NAMES[lang].get(level, level)
        kind_name = adv["name_en"] if lang == "en" else adv["name_zh"]
        if adv["kind"] == "*":  # a kind without advice: its own name in English, plain 预警 in Chinese
            kind_name = str(alert.get("kind") or "").replace("_", " ") if lang == "en" else ""
        headline = (
            " ".join(x for x in (lv, kind_name, "warning") if x) if lang == "en" else f"{kind_name}{lv}预警"
        )
        place_for_who = (
            (p.en if lang == "en" else p.zh) if p else (area["en"] if lang == "en" else area["zh"])
        )
        who = adv[f"who_{lang}"].replace("{place}", place_for_who)
        what = f"{headline}: {own}" if own else headline
        todo = [s.strip() for s in adv[f"todo_{lang}"].split("|") if s.strip()]
        out[lang] = {"headline": headline, "who": who, "what": what, "where": where, "todo": todo}
    return out
