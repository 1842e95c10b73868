"""The checks of a read card: is it genuine, usable and consistent, and what was not proved?

Sources: card-profile §8.1 (SSN = GB 11643 citizen ID: area, birth date, sequence parity, ISO 7064
check character), §8.2 (card number check character), §8.3 (card identification code structure
and city code), §4 (initialising institution prefix ``9156000002``, card types, spec versions,
dates), §7.5 (internal authentication proves the card genuine), §5 (``9303`` application
blocked), §6 (the PIN state from the empty VERIFY, no try used).

Severity (issue 9: real cards pass, fake cards fail).  A check **fails** only when the card is
fake, blocked, unusable or provably inconsistent: a wrong SSN check character, an SSN birth date
or sex that contradicts EF06, an internal authentication that went wrong or could not be done
although a security module is present, a blocked card, application or PIN, a card identification
code from which no key can be derived, a card with no SSN (not personalised).  Every rule that
real cards break is a **warning** with its reason (the README's check table lists each one with
the real card that breaks it): historical or locally assigned area codes, card numbers outside
V2 appendix A, 规范版本 forms such as "2.0" or "1.01", non-BCD sequence bytes in 初始化机构编号,
unpersonalised (FF-filled) items, an expired card (a sale policy may refuse it:
:mod:`terminal.policy`).  A **skip** means "not checked", never "good".

The report's verdict (:attr:`CheckReport.verdict`) is three-valued: ``failed`` when a check
failed; ``unverified`` when nothing failed but something that decides trust was not proved (the
card's genuineness: no security module; the holder's data: EF06 not read); ``ok`` otherwise.

Design: :data:`CHECKS` is a table ``name -> function``; each function sees one :class:`Facts`
and returns ``(status, detail)``.  Each defect is meant to be caught by exactly one check, so a
check whose input is missing or broken in a way another check already reports *skips* rather than
failing twice (e.g. ``ssn_birth_date`` skips when the SSN is not 18 characters: that is
``ssn_check_char``'s business).  A field that did not decode (``CardRead.decode_errors``) is
reported by the check that owns it (:data:`FIELD_CHECK`): a failure for the fields a holder or a
key derivation cannot do without (:data:`DECODE_FAILS`), a warning for the others; fields no
check owns go to ``data_decodes``.

Area codes (GB/T 2260) are judged by :mod:`apdu.areas` (python-stdnum's dated table, shared with
the simulator's personalisation): current -> pass, historical -> warn "historical code (valid
YYYY–YYYY)", never in GB/T 2260 -> warn.  Province-level issuer codes (xx0000, xx9900) pass.

Choices where the spec is silent (documented, tested):
- ``pin_state``: blocked -> fail; enabled with 1 or 2 tries left -> warn (one more wrong entry
  may block it); not enabled -> warn "no PIN enabled (initial state, not activated)": the card is
  usable for free reads but PIN-protected data and the activation flow need the PIN set up first.
- ``ssn_sex``: sex ``9`` (unspecified) or ``0`` (unknown, GB/T 2261.1) -> warn, not fail.
- ``dates``: issue after expiry -> fail; an issue date in the future -> warn (the terminal's
  clock may be wrong); ``not_expired``: expired -> warn (real holders keep using expired cards in
  many regions; ``SalePolicy`` can make it a refusal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from stdnum.cn import ric

import terminal.clock as clock
from apdu import areas
from apdu.elements import CARD_TYPES, INSTITUTION_PREFIX, SPEC_VERSIONS, generation_of
from apdu.identifiers import (
    card_id_problems,
    card_number_check_char,
    card_number_check_ok,
    ssn_birth_date,
    ssn_check_char,
    ssn_sex,
    ssn_shaped,
)
from terminal.models import CardRead, HolderData, IssuerData
from terminal.photo import PhotoFinding
from terminal.pinstatus import PinStatus
from terminal.session import CardSession

Status = Literal["pass", "fail", "warn", "skip"]
Outcome = tuple[Status, str]
Verdict = Literal["ok", "failed", "unverified"]

#: the PIN counts at or below which ``pin_state`` warns (one or two more wrong entries block it).
LOW_TRIES = 2

#: the checks whose skip means "the holder's data was not proved" (EF06 not read).
HOLDER_CHECKS = ("ssn_check_char", "ssn_birth_date", "ssn_sex", "ssn_area", "birthplace_area")


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class CheckReport:
    """Every check's result, and what decides trust but was not proved (``unproved``)."""

    checks: list[CheckResult]
    unproved: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """``failed`` (a check failed), ``unverified`` (nothing failed, something not proved) or
        ``ok``.  Fail closed: a skip is never a pass."""
        if any(c.status == "fail" for c in self.checks):
            return "failed"
        return "unverified" if self.unproved else "ok"

    @property
    def ok(self) -> bool:
        """True only for the verdict ``ok``: nothing failed and genuineness and holder proved."""
        return self.verdict == "ok"

    def by_name(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "warn"]

    def to_json(self) -> dict[str, object]:
        """The stable ``check --json`` schema: ``{"ok", "verdict", "unproved", "checks"}``."""
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "unproved": list(self.unproved),
            "checks": [c.to_json() for c in self.checks],
        }


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
    #: why internal authentication failed or could not be performed (with a security module).
    genuine_detail: str | None = None
    #: the photo of SSSE EF08 when it was read (``check --photo``, the activation); else None.
    photo: PhotoFinding | None = None

    @property
    def issuer(self) -> IssuerData | None:
        return self.card.issuer if self.card is not None else None

    @property
    def holder(self) -> HolderData | None:
        return self.card.holder if self.card is not None else None

    @property
    def blocked(self) -> bool:
        return self.card_blocked or self.application_blocked

    def missing_holder(self) -> Outcome:
        """EF06 was not read: a skip without a security module, a failure when one could not
        open it (a 3.00 card whose EF06 stays closed is not proved to be anyone's card)."""
        if self.card is None:
            return "skip", "card data not read"
        access = self.card.ef06_access
        if access == "no_sam":
            return "skip", "EF06 not read: this card needs a security module (SAM) for it"
        why = "; ".join(n for n in self.card.notes if "EF06" in n) or access.replace("_", " ")
        return "fail", f"EF06 could not be opened, the holder's data is not proved ({why})"


# --- helpers --------------------------------------------------------------------------------------


def area_name(code: str, year: int | None = None) -> str | None:
    """The place a 6-digit GB/T 2260 code names (in ``year`` when given), or None when GB/T 2260
    never had the code (python-stdnum's dated table, :mod:`apdu.areas`)."""
    area = areas.lookup(code)
    return area.name(year) if area is not None else None


def _ssn(f: Facts) -> str | None:
    """The SSN when it has the §8.1 shape (17 digits + check character); else None."""
    ssn = f.holder.ssn if f.holder else None
    return ssn.upper() if ssn and ssn_shaped(ssn) else None


def _judged(judgement: areas.Judgement, unknown_why: str) -> Outcome:
    if judgement.standing == "current":
        return "pass", judgement.detail
    if judgement.standing == "historical":
        return "warn", judgement.detail
    return "warn", f"{judgement.detail} ({unknown_why})"


# --- the checks -----------------------------------------------------------------------------------


def check_ssn_check_char(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    ssn = f.holder.ssn
    if not ssn:
        return "fail", "no social security number (EF06 tag 08): the card is not personalised"
    shaped = _ssn(f)
    if shaped is None:
        return "warn", (
            f"{ssn!r} is not an 18-character citizen ID (GB 11643, §8.1): its check character "
            "cannot be verified"
        )
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
    in_ssn = ssn_birth_date(ssn)
    if in_ssn is None:
        return "fail", f"SSN birth date {ssn[6:14]} is not a calendar date"
    born = f.holder.birth_date
    if born is None:
        return "warn", "EF06 birth date (tag 0D) not personalised: nothing to compare the SSN with"
    if in_ssn != born:
        return "fail", f"SSN says {in_ssn.isoformat()}, EF06 tag 0D says {born.isoformat()}"
    return "pass", f"SSN and EF06 agree: {born.isoformat()}"


SEX_TEXT = {"1": "male", "2": "female"}
#: GB/T 2261.1 codes that say nothing to compare: 0 unknown, 9 unspecified.
SEX_UNSAID = {"0": "unknown", "9": "unspecified"}


def check_ssn_sex(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    ssn = _ssn(f)
    if ssn is None:
        return "skip", "no well-formed SSN (see ssn_check_char)"
    sex = f.holder.sex
    if sex is None:
        return "warn", "EF06 sex (tag 0A) is not personalised: nothing to compare the SSN with"
    if sex in SEX_UNSAID:
        return "warn", f"sex is {sex} ({SEX_UNSAID[sex]}); the SSN cannot be compared"
    if sex not in SEX_TEXT:
        return "fail", f"EF06 sex (tag 0A) is {sex!r}, not a GB/T 2261.1 code (1, 2, 0 or 9)"
    expected = ssn_sex(ssn)  # a digit: the SSN is shaped
    if expected is not None and sex != expected:
        seq = ssn[14:17]
        return "fail", f"SSN sequence {seq} is {SEX_TEXT[expected]}, EF06 says {SEX_TEXT[sex]}"
    return "pass", f"{SEX_TEXT[sex]} in both"


def check_ssn_area(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    ssn = _ssn(f)
    if ssn is None:
        return "skip", "no well-formed SSN (see ssn_check_char)"
    born = ssn_birth_date(ssn)
    judgement = areas.judge(ssn[:6], born.year if born else None)
    return _judged(judgement, "e.g. a code assigned locally, or a foreigner's number")


def check_birthplace_area(f: Facts) -> Outcome:
    if f.holder is None:
        return f.missing_holder()
    code = f.holder.birthplace
    if not code:
        return "warn", "EF06 birthplace (tag 0C) is not personalised"
    year = f.holder.birth_date.year if f.holder.birth_date else None
    return _judged(areas.judge(code, year), "not an area GB/T 2260 has had")


def check_card_number(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    number = f.issuer.card_number
    if not number:
        return "warn", "no card number (EF05 tag 07): not personalised"
    if card_number_check_ok(number):
        return "pass", f"{number}: check character right"
    if len(number) == 9 and number[0].isascii() and number[0].isupper():
        try:
            right = card_number_check_char(number[:8])
            return "warn", (
                f"{number}: the V2 appendix A check character would be {right} "
                "(many regions' card numbers do not follow it)"
            )
        except ValueError:
            pass
    return "warn", (
        f"{number!r} is not a letter, 7 characters and a check character (V2 appendix A, §8.2); "
        "many regions number their cards otherwise"
    )


def check_card_id_structure(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    cid = f.issuer.card_id
    if not cid:
        return "warn", "no card identification code (EF05 tag 01): no key can be derived for it"
    problems = card_id_problems(cid)
    if problems:
        return "fail", "; ".join(problems)
    serial = cid[8:12].hex().upper()
    outcome, detail = _judged(areas.judge(cid[:3].hex()), "not an area GB/T 2260 has had")
    return outcome, f"city {detail}, D156000005, serial {serial}"


def check_init_institution(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    inst = f.issuer.init_institution
    if not inst:
        return "warn", "no initialising institution (EF05 tag 04): not personalised"
    if not inst.startswith(INSTITUTION_PREFIX):
        return "warn", f"{inst} does not start with {INSTITUTION_PREFIX} (§4)"
    if not inst.isdigit():
        return "warn", f"{inst}: sequence bytes are not BCD (§4 says cn; real cards differ)"
    return "pass", inst


def check_dates(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    issued, expires = f.issuer.issue_date, f.issuer.expiry_date
    if issued is not None and expires is not None and issued > expires:
        return "fail", f"issued {issued} after its expiry {expires}"
    if issued is not None and issued > f.today:
        return "warn", (
            f"issue date {issued} is in the future (today {f.today}): the terminal's clock or "
            "the card's data is wrong"
        )
    missing = [name for name, d in (("issue", issued), ("expiry", expires)) if d is None]
    if missing:
        return "warn", f"{' and '.join(missing)} date not personalised (EF05 tags 05, 06)"
    return "pass", f"issued {issued}, valid until {expires}"


def check_not_expired(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    expires = f.issuer.expiry_date
    if expires is None:
        return "skip", "no expiry date on the card (see dates)"
    if expires < f.today:
        return "warn", (
            f"expired on {expires} (cards stay in use after it in many regions; a sale policy "
            "can refuse them)"
        )
    return "pass", f"valid until {expires}"


def check_spec_version(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    version = f.issuer.spec_version
    if not version:
        return "warn", "no specification version (EF05 tag 03): read as a 1.00 card (§1)"
    if version in SPEC_VERSIONS:
        return "pass", f"{version} (generation {SPEC_VERSIONS[version]})"
    generation = generation_of(version)
    if generation is not None:
        return "pass", f"{version!r}: generation {generation} by its first three characters (§1)"
    return "warn", (
        f"specification version {version!r} is not one of {', '.join(SPEC_VERSIONS)}: "
        "generation unknown"
    )


def check_card_type(f: Facts) -> Outcome:
    if f.issuer is None:
        return "skip", "card data not read"
    kind = f.issuer.card_type
    if kind in CARD_TYPES:
        return "pass", f"{kind} ({CARD_TYPES[kind]})"
    if not kind:
        return "warn", "no card type (EF05 tag 02): not personalised"
    return "warn", f"card type {kind!r} is not one of {', '.join(CARD_TYPES)}"


def check_genuine(f: Facts) -> Outcome:
    if f.genuine is None:
        if f.blocked:
            return "skip", "blocked: internal authentication not attempted"
        if not f.sam_present:
            return "skip", "no security module (SAM): the card's genuineness is unverified"
        if f.card is None:
            return "skip", "card data not read"
        # fail closed: a security module was there and genuineness was still not proved
        return "fail", f.genuine_detail or "internal authentication was not performed"
    if f.genuine:
        return "pass", "internal authentication proved the card's keys (§7.5)"
    return "fail", f.genuine_detail or (
        "internal authentication failed: the card does not hold the issuer's keys"
    )


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


#: decoded field -> the check that owns it (a decode error is reported by that check).
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

#: fields whose decode error fails (the holder cannot be identified, or no key can be derived);
#: any other field that does not decode is a warning.
def check_photo(f: Facts) -> Outcome:
    """SSSE EF08 (application-files §3): a well-formed JPEG or BMP passes; an empty EF08 or one
    that is not an image warns (the clerk has no photo to compare with the holder); a photo that
    was not read is a skip, never a pass."""
    if f.photo is None:
        return "skip", "not read (sscard check --photo reads it)"
    if f.photo.state == "ok":
        return "pass", f.photo.detail
    if f.photo.state == "not_read":
        return "skip", f.photo.detail
    return "warn", f.photo.detail


DECODE_FAILS = frozenset({"ssn", "name", "card_id"})


def check_data_decodes(f: Facts) -> Outcome:
    others = {k: v for k, v in f.errors.items() if k not in FIELD_CHECK}
    if f.card is None:
        return "skip", "card data not read"
    if others:
        text = "; ".join(f"{k}: {v}" for k, v in sorted(others.items()))
        return ("fail" if DECODE_FAILS & set(others) else "warn"), text
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
    "not_expired": check_not_expired,
    "spec_version_known": check_spec_version,
    "card_type_known": check_card_type,
    "data_decodes": check_data_decodes,
    "genuine": check_genuine,
    "card_not_blocked": check_card_not_blocked,
    "application_not_blocked": check_application_not_blocked,
    "pin_state": check_pin_state,
    "photo": check_photo,
}


def _run_one(name: str, func: Callable[[Facts], Outcome], facts: Facts) -> CheckResult:
    owned = {k: v for k, v in sorted(facts.errors.items()) if FIELD_CHECK.get(k) == name}
    if owned:
        status: Status = "fail" if DECODE_FAILS & set(owned) else "warn"
        text = "; ".join(f"{k}: {v}" for k, v in owned.items())
        return CheckResult(name, status, "does not decode: " + text)
    status, detail = func(facts)
    return CheckResult(name, status, detail)


def _unproved(facts: Facts, results: list[CheckResult]) -> list[str]:
    """What decides trust but was not proved: genuineness, and the holder's data (EF06)."""
    out: list[str] = []
    by_name = {r.name: r for r in results}
    genuine = by_name["genuine"]
    if genuine.status == "skip" and not facts.blocked:
        out.append(f"the card's genuineness ({genuine.detail})")
    if facts.card is not None and facts.holder is None and not facts.blocked:
        out.append(f"the holder's data ({by_name['ssn_check_char'].detail})")
    return out


def evaluate(
    card: CardRead | None,
    *,
    today: dt.date | None = None,
    genuine: bool | None = None,
    pin: PinStatus | None = None,
    application_blocked: bool = False,
    card_blocked: bool = False,
    sam_present: bool = False,
    genuine_detail: str | None = None,
    photo: PhotoFinding | None = None,
) -> CheckReport:
    """Run every check of :data:`CHECKS` on facts already gathered (no card I/O)."""
    facts = Facts(
        card=card,
        today=today or clock.today(),
        genuine=genuine,
        pin=pin,
        application_blocked=application_blocked,
        sam_present=sam_present,
        card_blocked=card_blocked,
        errors=dict(card.decode_errors) if card is not None else {},
        genuine_detail=genuine_detail,
        photo=photo,
    )
    results = [_run_one(name, func, facts) for name, func in CHECKS.items()]
    return CheckReport(results, _unproved(facts, results))


def run_checks(
    session: CardSession,
    card: CardRead | None,
    *,
    today: dt.date | None = None,
    genuine: bool | None = None,
    pin: PinStatus | None = None,
    application_blocked: bool = False,
    card_blocked: bool = False,
    genuine_detail: str | None = None,
) -> CheckReport:
    """The check report of ``card`` as read through ``session``.

    ``genuine`` and ``pin`` are the results the caller already has (see
    :func:`terminal.inspect.inspect_card`, which gathers them in the fewest APDUs); this function
    sends nothing, so running the checks never costs a PIN try or a key try.  With a security
    module in ``session`` and ``genuine`` None, ``genuine`` fails (fail closed).
    """
    return evaluate(
        card,
        today=today,
        genuine=genuine,
        pin=pin,
        application_blocked=application_blocked,
        card_blocked=card_blocked,
        sam_present=session.sam is not None,
        genuine_detail=genuine_detail,
    )
