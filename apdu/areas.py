"""GB/T 2260 area codes with their dates: the one lookup both the simulator and the terminal use.

Card-profile §8.1 (the SSN's first 6 digits), §4 (出生地, the medical area code), §8.3 (the city
code of 卡的识别码).  The data is python-stdnum's dated GB/T 2260 table (``stdnum.numdb``
database ``cn/loc``, the table behind ``stdnum.cn.ric``): every code GB/T 2260 has had, each with
the years it was in force (``[1989-1994]黄岩市``; no bracket: in force throughout).  No table is
written here by hand.

Why dates matter (issue 9, real cards): the area code in a citizen ID is the one in force *when
the number was assigned*, and areas are renamed, merged and abolished.  Real SSNs carry codes that
GB/T 2260 no longer has (332603, abolished 1994; 320223, 1995; 441522, 1995).  So a code is judged:

- ``current``: in force now, or in force in the year that matters (the birth year, for an SSN);
- ``historical``: GB/T 2260 had it, but neither now nor in that year ("valid 1989–1994");
- ``unknown``: GB/T 2260 never had it (codes of development zones assigned locally, foreigners'
  permanent residence numbers starting with 9, ...).

Province-level codes are recognised: ``xx0000`` (the province itself) and ``xx9900`` (省本级, the
provincial issuing centre, used in card identification codes and terminal numbers), whenever
``xx`` is a province.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from stdnum import numdb

#: the province-level issuer suffix (省本级) of card identification codes (§8.3).
PROVINCE_LEVEL_SUFFIX = "9900"
PROVINCE_SUFFIX = "0000"

Standing = Literal["current", "historical", "unknown"]


@dataclass(frozen=True, slots=True)
class Period:
    """One name a code had, and the years it was in force (None: open-ended)."""

    name: str
    start: int | None = None
    end: int | None = None

    def covers(self, year: int) -> bool:
        return (self.start is None or year >= self.start) and (self.end is None or year <= self.end)

    @property
    def span(self) -> str:
        """``1989–1994``, ``until 2010``, ``since 1983`` or ``throughout``."""
        if self.start is not None and self.end is not None:
            return f"{self.start}–{self.end}"
        if self.end is not None:
            return f"until {self.end}"
        return f"since {self.start}" if self.start is not None else "throughout"


@dataclass(frozen=True, slots=True)
class Area:
    """A GB/T 2260 code as python-stdnum's table knows it."""

    code: str
    province: str
    periods: tuple[Period, ...]
    #: "county" (a city or county code), "province" (xx0000) or "province_level" (xx9900).
    kind: Literal["county", "province", "province_level"] = "county"

    @property
    def current(self) -> bool:
        """In force today (as far as the table knows: a period without an end year)."""
        return any(p.end is None for p in self.periods)

    def in_force(self, year: int) -> bool:
        return any(p.covers(year) for p in self.periods)

    def name(self, year: int | None = None) -> str:
        """The place's name (in ``year`` when it had one then), with its province in front."""
        chosen = self.periods[-1]
        if year is not None:
            chosen = next((p for p in self.periods if p.covers(year)), chosen)
        if self.kind != "county" or chosen.name == self.province:
            return chosen.name
        return f"{self.province}{chosen.name}"

    @property
    def span(self) -> str:
        """The years the code was in force, e.g. ``1989–1994`` (several periods joined)."""
        return ", ".join(p.span for p in self.periods)

    def standing(self, year: int | None = None) -> Standing:
        """``current`` when in force now or in ``year``; else ``historical``."""
        if self.current or (year is not None and self.in_force(year)):
            return "current"
        return "historical"


def _period(text: str) -> Period:
    if not text.startswith("["):
        return Period(text)
    span, name = text[1:].split("]", 1)
    start, _, end = span.partition("-")
    return Period(name, int(start) if start else None, int(end) if end else None)


@functools.lru_cache(maxsize=4096)
def lookup(code: str) -> Area | None:
    """The area ``code`` names (6 digits), or None when GB/T 2260 never had it."""
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    info = {k: v for _, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    province = info.get("province")
    if province is None:
        return None
    if code[2:] == PROVINCE_LEVEL_SUFFIX:
        return Area(code, province, (Period(f"{province}本级"),), "province_level")
    county = info.get("county")
    if county is None:
        return None
    periods = tuple(_period(part) for part in county.split(","))
    kind: Literal["county", "province"] = "province" if code[2:] == PROVINCE_SUFFIX else "county"
    return Area(code, province, periods, kind)


def province_of(code: str) -> str | None:
    """The province of a code's first two digits, or None when there is no such province."""
    if len(code) < 2 or not (code[:2].isascii() and code[:2].isdigit()):
        return None
    info = {k: v for _, props in numdb.get("cn/loc").info(code[:2] + PROVINCE_SUFFIX)
            for k, v in props.items()}
    return info.get("province")


@dataclass(frozen=True, slots=True)
class Judgement:
    """How a code stands: ``standing`` and one line that says so (with the name and the years)."""

    code: str
    standing: Standing
    detail: str
    area: Area | None = None


def judge(code: str, year: int | None = None) -> Judgement:
    """Judge ``code`` for ``year`` (the birth year of an SSN; None: only "in force now" counts)."""
    area = lookup(code)
    if area is None:
        province = province_of(code)
        where = f" (province {province})" if province else ""
        return Judgement(code, "unknown", f"{code} is not a GB/T 2260 code{where}")
    standing = area.standing(year)
    name = area.name(year)
    if standing == "current":
        since = "" if area.current else f" (in force {area.span})"
        return Judgement(code, standing, f"{code} {name}{since}", area)
    return Judgement(code, standing, f"{code} {name}: historical code (valid {area.span})", area)
