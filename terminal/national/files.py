"""What a national read or write must do before it touches a file: PIN, key, or both.

The access rules themselves are the application-file tables' (:mod:`apdu.appfiles`: card-profile
§2, application-files.md §1, with the tables' [choice] for writes inside the DFs); this module
turns a rule into the steps of ``iReadCard``/``iWriteCard``.  ``iAuthType`` chooses between the
PIN (1) and the RK key (2) where a file is "PIN or RK"; a file that needs both gets both, one
that needs a key gets it whatever ``iAuthType`` says.  The card has the last word: a file the
tables do not know (a local extension) is tried as free, and a file whose rule is "never" is
tried too and refused by the card with its status word.

The key addresses an HSM is told (national-interface §3, SCRW2 App. B) are here: they are the
national interface's fact, not the card's.
"""

from __future__ import annotations

from dataclasses import dataclass

from apdu import appfiles
from apdu.crypto import Algorithm
from apdu.keys import KID_TABLE


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A card key: its national name (the security module's table) and its KID (§5)."""

    name: str
    kid: int


def _key(domain: str, name: str) -> KeyRef:
    return KeyRef(name, appfiles.KEY_KIDS[(domain, name)])


RKSSSE = _key("SSSE", "RKSSSE")
PUK = _key("SSSE", "PUK")


@dataclass(frozen=True, slots=True)
class Access:
    """What opens a file: the PIN, a key, and whether either one suffices (``either``)."""

    pin: bool = False
    key: KeyRef | None = None
    either: bool = False

    @classmethod
    def of(cls, rule: appfiles.Access) -> Access:
        key = KeyRef(rule.key, rule.kid) if rule.key and rule.kid is not None else None
        if rule.kind == "pin_or_key":
            return cls(pin=True, key=key, either=True)
        return cls(pin=rule.needs_pin, key=key if rule.needs_key else None)

    def needs(self, auth_type: int) -> tuple[bool, KeyRef | None]:
        """(PIN?, key?) for ``iAuthType`` 1 (PIN) or 2 (RK) where either would do."""
        if self.either and self.key is not None:
            return (True, None) if auth_type == 1 else (False, self.key)
        return self.pin, self.key


FREE = Access()


def _table(app: str, ef: int) -> appfiles.AppFile | None:
    return appfiles.FILES.get(f"{app}/EF{ef & 0xFF:02X}")


def read_access(app: str, ef: int, generation: int | None) -> Access:
    """What reading ``app``/``ef`` needs on a card of ``generation`` (card-profile §1, §2)."""
    f = _table(app, ef)
    return Access.of(f.read_rule(generation or 3)) if f is not None else FREE


def write_access(app: str, ef: int) -> Access:
    """What writing a record of ``app``/``ef`` needs (UKSSSE for the SSSE EFs, §2)."""
    f = _table(app, ef)
    return Access.of(f.write) if f is not None else FREE


#: national-interface §3 (SCRW2 App. B): key addresses an HSM is told, per algorithm where the
#: spec lists three (DES, SSF33, SM4 in that order [choice: the order is not public]).
KEY_ADDRESSES: dict[str, tuple[int, ...]] = {
    "RKSSSE": (0x004C, 0x004D, 0x004E),
    "IRK": (0x0170, 0x0171, 0x0172),
    "STK": (0x0173,),
    "RK1DF04": (0x0182, 0x0183, 0x0184),
    "PUK": (0x0090,),
}
_ALGORITHM_INDEX = {Algorithm.DES: 0, Algorithm.SSF33: 1, Algorithm.SM4: 2}
#: keys without a public address travel by name [choice].
NAMED_KEYS = frozenset(KID_TABLE.values())


def key_address(name: str, alg: Algorithm) -> str:
    """The 4-hex-digit address of key ``name`` for ``alg``; the key's name where none is public."""
    addresses = KEY_ADDRESSES.get(name)
    if not addresses:
        return name
    index = _ALGORITHM_INDEX.get(alg, 0) if len(addresses) == 3 else 0
    return f"{addresses[index]:04X}"


def key_for_address(text: str) -> str | None:
    """Inverse of :func:`key_address` (for the TEST HSM): the key name, or None."""
    for name, addresses in KEY_ADDRESSES.items():
        if any(f"{a:04X}" == text.upper() for a in addresses):
            return name
    return text if text in NAMED_KEYS else None
