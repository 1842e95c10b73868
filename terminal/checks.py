"""The checks of a read card: is it consistent, current, genuine and usable (issue 3 §4)?

Sources: card-profile §8.1 (SSN = GB 11643 citizen ID: area, birth date, sequence parity, ISO 7064
check character), §8.2 (card number check character), §8.3 (card identification code structure
and city code), §4 (initialising institution prefix ``9156000002``, card types, spec versions,
dates), §7.5 (internal authentication proves the card genuine), §5 (``9303`` application
blocked), §6 (the PIN state from the empty VERIFY, no try used).

Design: :data:`CHECKS` is a table ``name -> function``; each function sees one :class:`Facts`
and returns ``(status, detail)``.  Each defect is meant to be caught by exactly one check, so a
check whose input is missing or broken in a way another check already reports *skips* rather than
failing twice (e.g. ``ssn_birth_date`` skips when the SSN is not 18 characters: that is
``ssn_check_char``'s failure).  A field that did not decode (``CardRead.decode_errors``) fails
the check that owns the field (:data:`FIELD_CHECK`); fields no check owns fail ``data_decodes``.

Area codes (GB/T 2260) come from python-stdnum's ``cn.ric`` data (``stdnum.numdb`` database
``cn/loc``, the table behind ``stdnum.cn.ric.get_birth_place``), not from a hand-written table.
For the SSN the lookup goes through ``get_birth_place`` itself, so a county code is only valid
for people born while it existed.

Choices where the spec is silent (documented, tested):
- ``pin_state``: blocked -> fail; enabled with 1 or 2 tries left -> warn (one more wrong entry
  may block it); not enabled -> warn "no PIN enabled (initial state, not activated)": the card is
  usable for free reads but PIN-protected data and the activation flow need the PIN set up first.
- ``ssn_sex``: sex ``9`` (unspecified) -> warn, not fail.
- ``dates``: issue date in the future, expiry in the past, or issue after expiry -> fail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from apdu.elements import CARD_TYPES, INSTITUTION_PREFIX, SPEC_VERSIONS
from apdu.identifiers import (
    card_id_problems,
    card_number_check_char,
    card_number_check_ok,
    ssn_check_char,
)
from terminal.models import CardRead, HolderData, IssuerData
from terminal.pinstatus import PinStatus
from terminal.session import CardSession

Status = Literal["pass", "fail", "warn", "skip"]
Outcome = tuple[Status, str]

#: the PIN counts at or below which ``pin_state`` warns (one or two more wrong entries block it).
LOW_TRIES = 2


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class CheckReport:
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings and skips do not make a card bad)."""
        return all(c.status != "fail" for c in self.checks)

    def by_name(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "fail"]

    def to_json(self) -> dict[str, object]:
        """The stable ``check --json`` schema: ``{"ok", "checks": [{name, status, detail}]}``."""
        return {"ok": self.ok, "checks": [c.to_json() for c in self.checks]}


@dataclass(frozen=True)
class Facts:
    """Everything a check may look at."""

    card: CardRead | None
    today: dt.date
    genuine: bool | None
    pin: PinStatus | None
    application_blocked: bool
    sam_present: bool
    card_blocked: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> IssuerData | None:
        return self.card.issuer if self.card is not None else None

    @property
    def holder(self) -> HolderData | None:
        return self.card.holder if self.card is not None else None

    def missing_holder(self) -> Outcome:
        if self.card is None:
            return "skip", "card data not read"
        access = self.card.ef06_access
        if access == "no_sam":
            return "skip", "EF06 not read: this card needs a security module (SAM) for it"
        return "skip", f"EF06 not read ({access.replace('_', ' ')})"


# --- area codes (python-stdnum's GB/T 2260 data) ------------------------------------------------


def area_name(code: str, year: int | None = None) -> str | None:
    """The place a 6-digit GB/T 2260 code names, or None when stdnum's table has no such code.

    With ``year``, a county code that was only assigned in other years does not count.
    """
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    info = {k: v for _, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    if "county" not in info:
        return None
    for county in info["county"].split(","):
        if not county.startswith("["):
            return f"{info.get('province', '')}{'' if county == info.get('province') else county}"
        span, name = county[1:].split("]", 1)
        start, end = span.split("-")
        if year is not None and ((start and year < int(start)) or (end and year > int(end))):
            continue
        return f"{info.get('province', '')}{name}"
    return None


def _ssn(f: Facts) -> str | None:
    """The SSN when it has the §8.1 shape (17 digits + check character); else None."""
    ssn = f.holder.ssn if f.holder else None
    if ssn and len(ssn) == 18 and ssn[:17].isascii() and ssn[:17].isdigit():
        return ssn.upper()
    return None


def _ssn_date(ssn: str) -> dt.date | None:
    try:
        return ric.get_birth_date(ssn)
    except ValidationError:
        return None


# --- the checks -----------------------------------------------------------------------------------


def check_ssn_check_char(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    ssn = f.holder.ssn
    if not ssn:
        return "fail", "no social security number on the card"
    shaped = _ssn(f)
    if shaped is None:
        return "fail", f"{ssn!r} is not 17 digits and a check character (§8.1)"
    expected = ssn_check_char(shaped[:17])
    # python-stdnum computes the same ISO 7064 MOD 11-2 character: two sources must agree.
    if expected != ric.calc_check_digit(shaped):
        return "fail", "check character computation disagrees with python-stdnum"
    if shaped[17] != expected:
        return "fail", f"check character is {shaped[17]}, should be {expected}"
    return "pass", f"check character {expected} is right"


def check_ssn_birth_date(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    ssn = _ssn(f)
    if ssn is None:
        return "skip", "no well-formed SSN (see ssn_check_char)"
    born = f.holder.birth_date
    if born is None:
        return "fail", "EF06 birth date (tag 0D) is missing"
    in_ssn = _ssn_date(ssn)
    if in_ssn is None:
        return "fail", f"SSN birth date {ssn[6:14]} is not a calendar date"
    if in_ssn != born:
        return "fail", f"SSN says {in_ssn.isoformat()}, EF06 tag 0D says {born.isoformat()}"
    return "pass", f"SSN and EF06 agree: {born.isoformat()}"


#: §4 sex codes against the parity of the SSN's sequence number (§8.1).
SEX_BY_PARITY = {1: "1", 0: "2"}
SEX_TEXT = {"1": "male", "2": "female"}


def check_ssn_sex(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    ssn = _ssn(f)
    if ssn is None:
        return "skip", "no well-formed SSN (see ssn_check_char)"
    sex = f.holder.sex
    if sex == "9":
        return "warn", "sex is 9 (unspecified); the SSN cannot be compared"
    expected = SEX_BY_PARITY[int(ssn[16]) % 2]
    if sex not in SEX_TEXT:
        return "fail", f"EF06 sex (tag 0A) is {sex!r}, not 1, 2 or 9"
    if sex != expected:
        seq = ssn[14:17]
        return "fail", f"SSN sequence {seq} is {SEX_TEXT[expected]}, EF06 says {SEX_TEXT[sex]}"
    return "pass", f"{SEX_TEXT[sex]} in both"


def check_ssn_area(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    ssn = _ssn(f)
    if ssn is None:
        return "skip", "no well-formed SSN (see ssn_check_char)"
    if _ssn_date(ssn) is not None:
        try:
            info = ric.get_birth_place(ssn)
        except ValidationError:
            return "fail", f"area code {ssn[:6]} is not a GB/T 2260 area for that birth year"
        return "pass", f"{ssn[:6]} {info.get('province', '')}{info.get('county', '')}"
    name = area_name(ssn[:6])
    if name is None:
        return "fail", f"area code {ssn[:6]} is not a GB/T 2260 area"
    return "pass", f"{ssn[:6]} {name}"


def check_birthplace_area(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    code = f.holder.birthplace
    if not code:
        return "fail", "EF06 birthplace (tag 0C) is missing"
    year = f.holder.birth_date.year if f.holder.birth_date else None
    name = area_name(code, year) or area_name(code)
    if name is None:
        return "fail", f"birthplace {code} is not a GB/T 2260 area"
    return "pass", f"{code} {name}"


def check_card_number(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    number = f.issuer.card_number
    if not number:
        return "fail", "no card number (EF05 tag 07)"
    if card_number_check_ok(number):
        return "pass", f"{number}: check character right"
    if len(number) == 9 and number[0].isascii() and number[0].isupper():
        try:
            right = card_number_check_char(number[:8])
            return "fail", f"{number}: check character should be {right}"
        except ValueError:
            pass
    return "fail", f"{number!r} is not a letter, 7 characters and a check character (§8.2)"


def check_card_id_structure(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    cid = f.issuer.card_id
    if not cid:
        return "fail", "no card identification code (EF05 tag 01)"
    problems = card_id_problems(cid)
    if not problems:
        city = cid[:3].hex()
        name = area_name(city)
        if name is None:
            problems.append(f"city code {city} is not a GB/T 2260 area")
        else:
            return "pass", f"city {city} {name}, D156000005, serial {cid[8:12].hex().upper()}"
    return "fail", "; ".join(problems)


def check_init_institution(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    inst = f.issuer.init_institution
    if not inst:
        return "fail", "no initialising institution (EF05 tag 04)"
    if not inst.startswith(INSTITUTION_PREFIX):
        return "fail", f"{inst} does not start with {INSTITUTION_PREFIX} (§4)"
    return "pass", inst


def check_dates(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    issued, expires = f.issuer.issue_date, f.issuer.expiry_date
    if issued is None or expires is None:
        return "fail", "issue or expiry date missing (EF05 tags 05, 06)"
    if issued > expires:
        return "fail", f"issued {issued} after its expiry {expires}"
    if issued > f.today:
        return "fail", f"issue date {issued} is in the future (today {f.today})"
    if expires < f.today:
        return "fail", f"expired on {expires}"
    return "pass", f"issued {issued}, valid until {expires}"


def check_spec_version(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    version = f.issuer.spec_version
    if version in SPEC_VERSIONS:
        return "pass", f"{version} (generation {SPEC_VERSIONS[version]})"
    return "fail", f"specification version {version!r} is not one of {', '.join(SPEC_VERSIONS)}"


def check_card_type(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    kind = f.issuer.card_type
    if kind in CARD_TYPES:
        return "pass", f"{kind} ({CARD_TYPES[kind]})"
    return "fail", f"card type {kind!r} is not one of {', '.join(CARD_TYPES)}"


def check_genuine(f: Facts) -> Outcome:
    if f.genuine is None:
        if f.application_blocked or f.card_blocked:
            return "skip", "blocked: internal authentication not attempted"
        if not f.sam_present:
            return "skip", "no security module (SAM): genuineness cannot be proved"
        return "skip", "internal authentication not performed"
    if f.genuine:
        return "pass", "internal authentication proved the card's keys (§7.5)"
    return "fail", "internal authentication failed: the card does not hold the issuer's keys"


def check_card_not_blocked(f: Facts) -> Outcome:
    if f.card_blocked:
        return "fail", "the card is blocked (6A81 to every command)"
    return "pass", "card answers"


def check_application_not_blocked(f: Facts) -> Outcome:
    if f.card_blocked:
        return "skip", "the card is blocked"
    if f.application_blocked:
        return "fail", "the social security application is permanently blocked (9303)"
    return "pass", "application usable"


def check_pin_state(f: Facts) -> Outcome:
    pin = f.pin
    if pin is None:
        return "skip", "PIN state not queried"
    if pin.state == "blocked":
        return "fail", "PIN blocked: it must be unblocked or reset at a service counter"
    if pin.state == "not_enabled":
        return "warn", "no PIN enabled (initial state: the card is not yet activated)"
    tries = pin.tries_left if pin.tries_left is not None else 0
    if tries <= LOW_TRIES:
        return "warn", f"PIN enabled, only {tries} tries left"
    return "pass", f"PIN enabled, {tries} tries left"


#: decoded field -> the check that owns it (a decode error fails that check).
FIELD_CHECK: dict[str, str] = {
    "ssn": "ssn_check_char",
    "birth_date": "ssn_birth_date",
    "sex": "ssn_sex",
    "birthplace": "birthplace_area",
    "card_number": "card_number_check_char",
    "card_id": "card_id_structure",
    "init_institution": "init_institution",
    "issue_date": "dates",
    "expiry_date": "dates",
    "spec_version": "spec_version_known",
    "card_type": "card_type_known",
}


def check_data_decodes(f: Facts) -> Outcome:
    others = {k: v for k, v in f.errors.items() if k not in FIELD_CHECK}
    if f.card is None:
        return "skip", "card data not read"
    if others:
        return "fail", "; ".join(f"{k}: {v}" for k, v in sorted(others.items()))
    return "pass", "every other data element decodes"


#: The table: check name -> function, in display order.
CHECKS: dict[str, Callable[[Facts], Outcome]] = {
    "ssn_check_char": check_ssn_check_char,
    "ssn_birth_date": check_ssn_birth_date,
    "ssn_sex": check_ssn_sex,
    "ssn_area": check_ssn_area,
    "birthplace_area": check_birthplace_area,
    "card_number_check_char": check_card_number,
    "card_id_structure": check_card_id_structure,
    "init_institution": check_init_institution,
    "dates": check_dates,
    "spec_version_known": check_spec_version,
    "card_type_known": check_card_type,
    "data_decodes": check_data_decodes,
    "genuine": check_genuine,
    "card_not_blocked": check_card_not_blocked,
    "application_not_blocked": check_application_not_blocked,
    "pin_state": check_pin_state,
}


def _run_one(name: str, func: Callable[[Facts], Outcome], facts: Facts) -> CheckResult:
    owned = [f"{k}: {v}" for k, v in sorted(facts.errors.items()) if FIELD_CHECK.get(k) == name]
    if owned:
        return CheckResult(name, "fail", "does not decode: " + "; ".join(owned))
    status, detail = func(facts)
    return CheckResult(name, status, detail)


def evaluate(
    card: CardRead | None,
    *,
    today: dt.date | None = None,
    genuine: bool | None = None,
    pin: PinStatus | None = None,
    application_blocked: bool = False,
    card_blocked: bool = False,
    sam_present: bool = False,
) -> CheckReport:
    """Run every check of :data:`CHECKS` on facts already gathered (no card I/O)."""
    facts = Facts(
        card=card,
        today=today or dt.date.today(),
        genuine=genuine,
        pin=pin,
        application_blocked=application_blocked,
        sam_present=sam_present,
        card_blocked=card_blocked,
        errors=dict(card.decode_errors) if card is not None else {},
    )
    return CheckReport([_run_one(name, func, facts) for name, func in CHECKS.items()])


def run_checks(
    session: CardSession,
    card: CardRead | None,
    *,
    today: dt.date | None = None,
    genuine: bool | None = None,
    pin: PinStatus | None = None,
    application_blocked: bool = False,
    card_blocked: bool = False,
) -> CheckReport:
    """The check report of ``card`` as read through ``session``.

    ``genuine`` and ``pin`` are the results the caller already has (see
    :func:`terminal.inspect.inspect_card`, which gathers them in the fewest APDUs); this function
    sends nothing, so running the checks never costs a PIN try or a key try.
    """
    return evaluate(
        card,
        today=today,
        genuine=genuine,
        pin=pin,
        application_blocked=application_blocked,
        card_blocked=card_blocked,
        sam_present=session.sam is not None,
    )
