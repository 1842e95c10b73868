"""The terminal's policy for a new PIN, checked BEFORE anything is sent to the card.

Card-profile §6: the social security PIN has 4 to 16 decimal digits, the issuer default is
6 digits with the initial value 123456, and the national error list names "cannot change back to
the initial PIN" as an issuer policy; the national terminal flow asks for the new PIN twice.  A
wrong old PIN burns one of a handful of tries, so everything the terminal can refuse on its own
(a weak or mistyped new PIN) is refused here, with no APDU on the wire.

The same policy object also vets a new bank PIN during activation (:meth:`PinPolicy.check_new`:
no "old PIN" there).

Secrecy: every message names the rule that failed, never the PIN or any digit of it.  PINs are
taken as ``bytes``/``bytearray`` of ASCII digits (what :mod:`terminal.pinsource` returns) or
``str``; the checks work on bytes and make no long-lived copies.

Rules, in the order they are checked:

1. digits only (ASCII 0-9);
2. length: exactly ``length`` digits when ``length`` is set (default 6), otherwise
   ``min_length``..``max_length`` (4..16, the card's limits, §6);
3. the two entries of the new PIN are equal (compared in constant time);
4. not the initial PIN 123456 (``forbid_initial``);
5. not trivial (``forbid_trivial``): all digits the same (000000, 111111), or a run where each digit
   is the previous one plus one (012345, 123456, 890123: the run may wrap from 9 to 0) or minus one
   (654321, 210987);
6. optionally (``forbid_birth_date``) not the holder's birth date in any of these forms, for a
   birth date 1990-07-15: ``YYYYMMDD`` 19900715, ``YYMMDD`` 900715, ``DDMMYY`` 150790,
   ``MMDDYY`` 071590, ``MMDD`` 0715, ``DDMM`` 1507, ``YYYY`` 1990 (only the forms whose length
   matches the PIN can match, so the 4-digit forms matter only for 4-digit PINs);
7. (:meth:`PinPolicy.check` only) not equal to the old PIN; the old PIN itself must have the card's
   format (4..16 digits), so a mistyped old PIN is refused without burning a try.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from apdu.codec import PIN_MAX_DIGITS, PIN_MIN_DIGITS, pin_length_ok
from apdu.errors import PolicyError, UsageError

PinInput = bytes | bytearray | str

#: §6: the issuer default initial PIN.
INITIAL_PIN = b"123456"

_DIGITS = frozenset(b"0123456789")


def _as_bytes(pin: PinInput) -> bytes | bytearray:
    """The PIN as bytes of ASCII digits, without copying a bytearray (so the caller can wipe it)."""
    if isinstance(pin, bytes | bytearray):
        return pin
    if isinstance(pin, str):
        # str cannot hold anything but text; a non-ASCII character fails the digit rule below.
        return pin.encode("utf-8", "replace")
    raise UsageError("a PIN is given as bytes or text")


def is_digits(pin: PinInput) -> bool:
    p = _as_bytes(pin)
    return len(p) > 0 and all(b in _DIGITS for b in p)


def card_format_ok(pin: PinInput) -> bool:
    """True when ``pin`` can be coded for the card at all (§6: 4..16 decimal digits)."""
    p = _as_bytes(pin)
    return pin_length_ok(len(p)) and is_digits(p)


def same_pin(a: PinInput, b: PinInput) -> bool:
    """Constant-time equality of two PIN entries."""
    return hmac.compare_digest(bytes(_as_bytes(a)), bytes(_as_bytes(b)))


def is_trivial(pin: PinInput) -> bool:
    """All digits equal, or a +1 / -1 run (wrapping 9 -> 0), e.g. 000000, 123456, 654321."""
    p = _as_bytes(pin)
    if len(p) < 2:
        return True
    steps = {(p[i + 1] - p[i]) % 10 for i in range(len(p) - 1)}
    return steps in ({0}, {1}, {9})


def birth_date_forms(birth_date: dt.date) -> frozenset[bytes]:
    """The birth-date spellings a PIN must not equal (see the module docstring, rule 6)."""
    y, m, d = f"{birth_date.year:04d}", f"{birth_date.month:02d}", f"{birth_date.day:02d}"
    forms = (y + m + d, y[2:] + m + d, d + m + y[2:], m + d + y[2:], m + d, d + m, y)
    return frozenset(f.encode("ascii") for f in forms)


@dataclass(frozen=True)
class PinPolicy:
    """What a new PIN must satisfy; the defaults follow card-profile §6 and the national flow.

    ``length`` None means "any length from ``min_length`` to ``max_length``".
    """

    length: int | None = 6
    min_length: int = PIN_MIN_DIGITS
    max_length: int = PIN_MAX_DIGITS
    forbid_initial: bool = True
    forbid_trivial: bool = True
    forbid_birth_date: bool = False
    initial_pin: bytes = INITIAL_PIN

    def __post_init__(self) -> None:
        lo, hi = PIN_MIN_DIGITS, PIN_MAX_DIGITS
        if not lo <= self.min_length <= self.max_length <= hi:
            raise UsageError(f"PIN policy: min_length..max_length must lie within {lo}..{hi}")
        if self.length is not None and not lo <= self.length <= hi:
            raise UsageError(f"PIN policy: length must be {lo}..{hi}")

    def __repr__(self) -> str:  # initial_pin is public (§6) but keep reprs free of any PIN
        return (
            f"PinPolicy(length={self.length}, min_length={self.min_length}, "
            f"max_length={self.max_length}, forbid_initial={self.forbid_initial}, "
            f"forbid_trivial={self.forbid_trivial}, forbid_birth_date={self.forbid_birth_date})"
        )

    @property
    def length_text(self) -> str:
        if self.length is not None:
            return f"{self.length} digits"
        return f"{self.min_length} to {self.max_length} digits"

    def check_new(
        self,
        new: PinInput,
        new_again: PinInput | None = None,
        birth_date: dt.date | None = None,
        *,
        what: str = "new PIN",
    ) -> None:
        """Rules 1-6 for a new PIN (also used for a new bank PIN); raise :class:`PolicyError`.

        ``new_again`` None means the caller's PIN source already compared the two entries.
        """
        p = _as_bytes(new)
        if not is_digits(p):
            raise PolicyError(f"the {what} must be made of decimal digits only")
        if self.length is not None:
            if len(p) != self.length:
                raise PolicyError(f"the {what} must have {self.length_text}")
        elif not self.min_length <= len(p) <= self.max_length:
            raise PolicyError(f"the {what} must have {self.length_text}")
        if new_again is not None and not same_pin(p, new_again):
            raise PolicyError(f"the two entries of the {what} do not match")
        if self.forbid_initial and same_pin(p, self.initial_pin):
            raise PolicyError(f"the {what} must not be the initial PIN")
        if self.forbid_trivial and is_trivial(p):
            raise PolicyError(
                f"the {what} is too simple (all the same digit, or an ascending or descending run)"
            )
        if self.forbid_birth_date and birth_date is not None:
            forms = birth_date_forms(birth_date)
            if any(same_pin(p, f) for f in forms if len(f) == len(p)):
                raise PolicyError(f"the {what} must not be the holder's birth date")

    def check(
        self,
        old: PinInput,
        new: PinInput,
        new_again: PinInput | None = None,
        birth_date: dt.date | None = None,
    ) -> None:
        """All rules for CHANGE PIN (§6); nothing may be sent to the card when this raises."""
        if not card_format_ok(old):
            raise PolicyError(
                f"the current PIN must have {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} decimal digits"
            )
        self.check_new(new, new_again, birth_date)
        if same_pin(old, new):
            raise PolicyError("the new PIN must differ from the current one")
