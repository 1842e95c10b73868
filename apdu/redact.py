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
