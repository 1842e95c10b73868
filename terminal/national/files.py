"""What a national read or write must do before it touches a file: PIN, key, or both.

card-profile §2 (access conditions of the SSSE EFs and DF01-DF04), application-files.md §1 (the
DF read keys), §5 (key identifiers) and national-interface §3 (key addresses an HSM is told).
``iReadCard``'s ``iAuthType`` chooses between the PIN (1) and the RK key (2) where a file is
"PIN or RK"; a file that needs both gets both, one that needs a key gets it whatever
``iAuthType`` says.  The card has the last word: a file the table calls free that answers
``6982`` is reported with that status word, never retried with guesses.

[choice] DF03: card-profile §2 says "PIN or RK1DF03" for the whole DF (application-files.md
names RK2DF03 for DF03 EF05 on some cards); the table follows card-profile §2.  Writes inside
DF01-DF04 need the PIN and the DF's key (no public source names a DF update key; this is what
the simulator implements).  Local DFs (DF0A on) have no known keys: they are tried as free.
"""

from __future__ import annotations

from dataclasses import dataclass

from apdu.crypto import Algorithm
from apdu.names import Kid


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A card key: its national name (the security module's table) and its KID (§5)."""

    name: str
    kid: int


RKSSSE = KeyRef("RKSSSE", Kid.RKSSSE)
UKSSSE = KeyRef("UKSSSE", Kid.UKSSSE)
PUK = KeyRef("PUK", Kid.PUK)

#: application -> its RK read key (PIN or RK).
DF_READ_KEYS: dict[str, KeyRef] = {
    "DF01": KeyRef("RK1DF01", Kid.RK1_DF02),
    "DF02": KeyRef("RK1DF02", Kid.RK1_DF02),
    "DF03": KeyRef("RK1DF03", Kid.RK1_DF04),
    "DF04": KeyRef("RK1DF04", Kid.RK1_DF04),
}


@dataclass(frozen=True, slots=True)
class Access:
    """What opens a file: the PIN, a key, and whether either one suffices (``either``)."""

    pin: bool = False
    key: KeyRef | None = None
    either: bool = False

    def needs(self, auth_type: int) -> tuple[bool, KeyRef | None]:
        """(PIN?, key?) for ``iAuthType`` 1 (PIN) or 2 (RK) where either would do."""
        if self.either and self.key is not None:
            return (True, None) if auth_type == 1 else (False, self.key)
        return self.pin, self.key


FREE = Access()


def read_access(app: str, ef: int, generation: int | None) -> Access:
    """What reading ``app``/``ef`` needs on a card of ``generation`` (§1, §2)."""
    if app == "SSSE":
        if ef in (0xEF07, 0xEF08) or (ef == 0xEF06 and generation == 3):
            return Access(key=RKSSSE)
        return FREE
    key = DF_READ_KEYS.get(app)
    if key is None:
        return FREE
    if app == "DF04" and ef == 0xEF06:
        return Access(pin=True, key=key)
    if app == "DF04" and ef == 0xEF08:
        return Access(pin=True)
    return Access(pin=True, key=key, either=True)


def write_access(app: str, ef: int) -> Access:
    """What writing a record of ``app``/``ef`` needs (§2: UKSSSE for the SSSE EFs)."""
    if app == "SSSE":
        return Access(key=UKSSSE)
    key = DF_READ_KEYS.get(app)
    if key is None:
        return FREE
    return Access(pin=True, key=key)


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
    return text if text in DF_KEY_NAMES else None


DF_KEY_NAMES = frozenset({k.name for k in DF_READ_KEYS.values()} | {"UKSSSE"})
