"""Which command APDUs carry secrets, and how to show them without the secret (card-profile §6).

The tracer, the simulator's logs and every error message go through :func:`describe_command`, so a
PIN never reaches a log: VERIFY, CHANGE PIN and PIN UNBLOCK/RESET have their data replaced by its
length, and so has CIPHER DATA (it encrypts a PIN block on its way to the card during a reset).
"""

from __future__ import annotations

from apdu.commands import (
    INS_CHANGE_PIN,
    INS_CIPHER_DATA,
    INS_PIN_UNBLOCK_RESET,
    INS_VERIFY,
)
from apdu.errors import ApduFormatError

#: INS codes whose command data is secret.
SECRET_INS = frozenset({INS_VERIFY, INS_CHANGE_PIN, INS_PIN_UNBLOCK_RESET, INS_CIPHER_DATA})


def is_secret(raw: bytes) -> bool:
    """True when the command's data must not be shown (decided from the header alone)."""
    return len(raw) > 5 and raw[1] in SECRET_INS


def describe_command(raw: bytes) -> str:
    """Hex of a command APDU with secret data replaced by ``<N bytes redacted>``.

    Works on any bytes, even malformed ones: for a secret INS everything after the header is
    hidden, so a PIN cannot leak through an odd encoding.
    """
    raw = bytes(raw)
    if not is_secret(raw):
        return raw.hex(" ").upper()
    return f"{raw[:4].hex(' ').upper()} <{len(raw) - 4} bytes redacted>"


def describe_control(code: int, request: bytes, feature: int | None = None) -> str:
    """A control request for a trace: ``CONTROL 42330006 VERIFY_PIN_DIRECT 1E 1E 81 ...``.

    A PIN pad never sends digits to the host, and a structure built by :mod:`apdu.part10` holds
    only its APDU template (FF where the pad inserts the PIN).  The structure is shown in full
    only when it parses and every byte the pad would overwrite is FF; otherwise (a foreign or
    malformed structure) its bytes are replaced by their count, as for a secret APDU.
    """
    from apdu import part10  # apdu.part10 imports apdu.commands, as this module does

    raw = bytes(request)
    if feature is not None:
        name = part10.feature_name(feature)
    elif code in (part10.CM_IOCTL_GET_FEATURE_REQUEST, part10.CM_IOCTL_GET_FEATURE_REQUEST_WINDOWS):
        name = "GET_FEATURE_REQUEST"
    else:
        name = "?"
    head = f"CONTROL {code:08X} {name}"
    if feature in (part10.Feature.VERIFY_PIN_DIRECT, part10.Feature.MODIFY_PIN_DIRECT):
        try:
            blank = part10.parse_structure(feature, raw).blank
        except ApduFormatError:
            blank = False
        if not blank:
            return f"{head} <{len(raw)} bytes redacted>"
    return f"{head} {raw.hex(' ').upper()}".rstrip()
