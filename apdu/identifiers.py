"""Check characters and structure of the card's identifiers (card-profile §8, §9).

Shared by the simulator (validation at issue time) and the terminal (the checks of a read card),
so that both compute the same answers from the same table of weights: the SSN's shape, check
character, birth date and the sex its sequence number says (§8.1), the card number (§8.2), the
card identification code (§8.3) and the bank PAN's Luhn digit (§9, python-stdnum's).  Area
codes are :mod:`apdu.areas`.
"""

from __future__ import annotations

import datetime as dt
import string

from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from apdu.elements import CARD_ID_MARK

#: §8.1: ISO 7064 MOD 11-2 weights of GB 11643 and the check character for each remainder.
SSN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
SSN_CHECK = "10X98765432"

#: §8.2: card number weights; letters count A=10, B=11, ...
CARD_NUMBER_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_CHAR_VALUES = {c: i for i, c in enumerate(string.digits + string.ascii_uppercase)}


#: §8.1 and §4: the sex code (GB/T 2261.1) the parity of the SSN's sequence number says: odd is
#: male (1), even female (2).
SEX_BY_PARITY = {1: "1", 0: "2"}


def ssn_shaped(ssn: str) -> bool:
    """True when ``ssn`` has the §8.1 shape: 18 characters, the first 17 ASCII digits."""
    # full-width digits are digits to str.isdigit(), never to GB 11643
    return len(ssn) == 18 and ssn[:17].isascii() and ssn[:17].isdigit()


def ssn_sex(ssn: str) -> str | None:
    """The sex code the SSN's sequence number says (``"1"`` or ``"2"``, by the parity of its
    17th character); None when that character is not a digit."""
    c = ssn[16:17]
    return SEX_BY_PARITY[int(c) % 2] if c.isascii() and c.isdigit() else None


def ssn_birth_date(ssn: str) -> dt.date | None:
    """The birth date in digits 7-14 of the SSN (§8.1); None when they are not a calendar date
    (or not 14 leading ASCII digits)."""
    head = ssn[:14]
    if len(head) != 14 or not (head.isascii() and head.isdigit()):
        return None
    try:
        return ric.get_birth_date(head)
    except ValidationError:
        return None


def ssn_check_char(first17: str) -> str:
    """The 18th character of a citizen ID from its first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("the first 17 characters of an SSN are digits")
    total = sum(int(c) * w for c, w in zip(first17, SSN_WEIGHTS, strict=True))
    return SSN_CHECK[total % 11]


def ssn_check_ok(ssn: str) -> bool:
    """True when ``ssn`` has 18 characters and a right check character."""
    return ssn_shaped(ssn) and ssn_check_char(ssn[:17]) == ssn[17].upper()


def card_number_check_char(first8: str) -> str:
    """The 9th character of a card number (§8.2): 11 - (sum mod 11); 10 -> X, 11 -> 0."""
    if len(first8) != 8 or any(c not in _CHAR_VALUES for c in first8):
        raise ValueError("a card number starts with 8 characters from 0-9 and A-Z")
    check = (
        11 - sum(_CHAR_VALUES[c] * w for c, w in zip(first8, CARD_NUMBER_WEIGHTS, strict=True)) % 11
    )
    return {10: "X", 11: "0"}.get(check, str(check))


def card_number_check_ok(number: str) -> bool:
    if len(number) != 9 or not number[0].isupper() or not number[0].isascii():
        return False
    try:
        return card_number_check_char(number[:8]) == number[8]
    except ValueError:
        return False


def card_id_problems(card_id: bytes) -> list[str]:
    """What is wrong with a 16-byte card identification code (§8.3); empty when nothing."""
    problems: list[str] = []
    if len(card_id) != 16:
        return [f"has {len(card_id)} bytes, not 16"]
    city = card_id[:3].hex()
    if not city.isdigit():
        problems.append(f"city code {city.upper()} is not 6 BCD digits")
    if card_id[3:8] != CARD_ID_MARK:
        problems.append(f"bytes 4-8 are {card_id[3:8].hex().upper()}, not D156000005")
    return problems


def luhn_check_digit(partial: str) -> str:
    """The ISO/IEC 7812 Luhn check digit that completes ``partial`` (a bank PAN, §9)."""
    return luhn.calc_check_digit(partial)


def luhn_ok(number: str) -> bool:
    """True when ``number`` is ASCII digits whose last one is its Luhn check digit (§9)."""
    return number.isascii() and number.isdigit() and luhn.is_valid(number)
