"""The bank host a kiosk sends the new bank PIN to, and a loopback one for tests (card-profile §9).

§9: at activation the bank (re)sets the BANK PIN, an online PIN checked by the bank host, not
stored on the chip [inference in §9].  The kiosk therefore never writes the bank PIN to the card:
it sends an ISO 9564 PIN block (:mod:`terminal.pinblock`) bound to the card's PAN.  The real
host protocol (ISO 8583 or a bank's own) is outside this project; :class:`BankHost` is the seam
where it plugs in.

The PAN: masked everywhere (reprs, results, logs, CLI output) except in the host message itself,
which is the one place the host needs it in full (:attr:`BankHostRequest.pan`).

:class:`LoopbackBankHost` records every request and, holding the same TEST key as the kiosk, can
decipher the block — which proves in tests that the kiosk built the right block for the right PAN.
It checks every block it receives the way a host would (the block must decipher to a well-formed
PIN field for that PAN) but never keeps the deciphered PIN.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from apdu.errors import CryptoError, DataFormatError, UsageError
from terminal.pinblock import FORMATS, PinKey, decrypt_pin_block


def _mask(pan: str) -> str:
    # One masking rule for the whole project lives in terminal.bank (first 6 + last 4).
    from terminal.bank import mask_pan

    return mask_pan(pan)


@dataclass(frozen=True)
class BankHostResult:
    """The host's answer: accepted or not, a reference for the receipt, and a reason."""

    accepted: bool
    reference: str
    message: str
    masked_pan: str

    def to_json(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "reference": self.reference,
            "message": self.message,
            "pan": self.masked_pan,
        }


@dataclass(frozen=True, repr=False)
class BankHostRequest:
    """One "set bank PIN" host message.  ``pan`` is in full: this IS the host message."""

    pan: str
    pin_block: bytes
    fmt: int

    def __repr__(self) -> str:
        return f"BankHostRequest(pan={_mask(self.pan)!r}, fmt={self.fmt}, pin_block=<enciphered>)"

    __str__ = __repr__


@runtime_checkable
class BankHost(Protocol):
    """Where the kiosk sends the new bank PIN block."""

    def set_bank_pin(self, pan: str, pin_block: bytes, fmt: int) -> BankHostResult:
        """Ask the host to set the bank PIN of account ``pan``; ``pin_block`` is enciphered
        under the terminal PIN key in ISO 9564 format ``fmt`` (0 or 4)."""
        ...


@dataclass
class LoopbackBankHost:
    """A bank host in a box, TEST ONLY: records requests, checks blocks with its TEST key."""

    keys: dict[int, PinKey] = field(default_factory=dict)
    accept: bool = True
    requests: list[BankHostRequest] = field(default_factory=list)

    def key_for(self, fmt: int) -> PinKey:
        if fmt not in FORMATS:
            raise UsageError(f"PIN block format {fmt!r} is not supported (0 or 4)")
        return self.keys.get(fmt) or PinKey.test(fmt)

    def set_bank_pin(self, pan: str, pin_block: bytes, fmt: int) -> BankHostResult:
        request = BankHostRequest(pan, bytes(pin_block), fmt)
        self.requests.append(request)
        masked = _mask(pan)
        if not self.accept:
            return BankHostResult(False, "", "declined by the bank host", masked)
        try:
            pin = decrypt_pin_block(fmt, request.pin_block, pan, self.key_for(fmt))
        except (CryptoError, DataFormatError):
            return BankHostResult(False, "", "the PIN block is not valid for this account", masked)
        pin[:] = bytes(len(pin))  # proven well-formed; the host keeps no PIN
        reference = secrets.token_hex(6).upper()
        return BankHostResult(True, reference, "bank PIN set", masked)

    def decrypt(self, request: BankHostRequest) -> bytearray:
        """The PIN inside a recorded request (tests prove the kiosk's block; wipe it after)."""
        key = self.key_for(request.fmt)
        return decrypt_pin_block(request.fmt, request.pin_block, request.pan, key)

    def __repr__(self) -> str:
        return f"LoopbackBankHost(TEST, accept={self.accept}, requests={len(self.requests)})"
