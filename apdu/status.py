"""Status words of card-profile §5 and the typed errors they map to.

The table :data:`SW_TABLE` is the single source: the simulator answers with these constants, the
terminal turns a non-success status into the matching exception with :func:`check`.  ``63Cx`` and
``6983`` mean "PIN" after VERIFY / CHANGE PIN and "key" after EXTERNAL AUTHENTICATE, so the mapping
takes the command's INS into account (a table too: :data:`PIN_INS`).
"""

from __future__ import annotations

from apdu.errors import SSCardError

# --- the constants ------------------------------------------------------------------------------

SUCCESS = 0x9000
MEMORY_FAILURE = 0x6581
WRONG_LENGTH = 0x6700
COMMAND_NOT_ACCEPTED = 0x6901
INCOMPATIBLE_FILE_STRUCTURE = 0x6981
SECURITY_STATUS_NOT_SATISFIED = 0x6982
AUTH_METHOD_BLOCKED = 0x6983
REFERENCED_DATA_INVALID = 0x6984
CONDITIONS_NOT_SATISFIED = 0x6985
NO_CURRENT_EF = 0x6986
SM_DATA_INCORRECT = 0x6988
WRONG_DATA = 0x6A80
FUNCTION_NOT_SUPPORTED = 0x6A81
FILE_NOT_FOUND = 0x6A82
RECORD_NOT_FOUND = 0x6A83
WRONG_P1P2 = 0x6A86
KEY_NOT_FOUND = 0x6A88
OFFSET_OUTSIDE_EF = 0x6B00
INS_NOT_SUPPORTED = 0x6D00
CLA_NOT_SUPPORTED = 0x6E00
NO_PRECISE_DIAGNOSIS = 0x6F00
MAC_INVALID = 0x9302
APPLICATION_BLOCKED = 0x9303
#: ISO/IEC 7816-4 warnings that come with data: more data available (a multi-record READ RECORD
#: answer that did not fit), end of record reached before Ne bytes.
MORE_DATA_AVAILABLE = 0x6310
END_OF_RECORD = 0x6282


def sw_bytes(sw: int) -> bytes:
    """The two bytes SW1 SW2 of a status word, as a card sends them after its data."""
    return sw.to_bytes(2, "big")


def verification_failed(tries_left: int) -> int:
    """``63Cx``: verification failed, x tries left (x capped at 15)."""
    return 0x63C0 | min(max(tries_left, 0), 15)


def tries_left(sw: int) -> int | None:
    """x of ``63Cx`` (verification failed, x tries left); None for any other status word."""
    return sw & 0x0F if sw & 0xFFF0 == 0x63C0 else None


def bytes_available(n: int) -> int:
    """``61xx``: xx more bytes for GET RESPONSE (00 = 256 or more)."""
    return 0x6100 | (n & 0xFF)


def wrong_le(n: int) -> int:
    """``6Cxx``: wrong Le, xx = the right length (00 = 256)."""
    return 0x6C00 | (n & 0xFF)


# --- the exceptions -----------------------------------------------------------------------------


class StatusError(SSCardError):
    """The card answered a status other than success.  Carries the SW and the command's INS only."""

    exit_code = 1

    def __init__(self, sw: int, ins: int | None = None, message: str | None = None) -> None:
        self.sw = sw
        self.ins = ins
        text = message or describe(sw)
        where = f" (INS {ins:02X})" if ins is not None else ""
        super().__init__(f"card answered {sw:04X}: {text}{where}")


class VerificationFailed(StatusError):
    """``63Cx``: a PIN or key was wrong; ``tries_left`` more attempts before it blocks."""

    @property
    def tries_left(self) -> int:
        return self.sw & 0x0F


class WrongPin(VerificationFailed):
    """``63Cx`` after VERIFY or CHANGE PIN."""

    def __init__(self, sw: int, ins: int | None = None, message: str | None = None) -> None:
        super().__init__(sw, ins, message or f"wrong PIN, {sw & 0x0F} tries left")


class WrongKey(VerificationFailed):
    """``63Cx`` after EXTERNAL AUTHENTICATE: the cryptogram was wrong (wrong key set?)."""

    def __init__(self, sw: int, ins: int | None = None, message: str | None = None) -> None:
        super().__init__(sw, ins, message or f"authentication failed, {sw & 0x0F} key tries left")


class AuthenticationBlocked(StatusError):
    """``6983``: the PIN or key is blocked."""


class PinBlocked(AuthenticationBlocked):
    """``6983`` after VERIFY or CHANGE PIN."""

    def __init__(self, sw: int, ins: int | None = None, message: str | None = None) -> None:
        super().__init__(sw, ins, message or "the PIN is blocked; it must be unblocked or reset")


class KeyBlocked(AuthenticationBlocked):
    """``6983`` after EXTERNAL AUTHENTICATE."""


class SecurityStatusNotSatisfied(StatusError):
    """``6982``: PIN or key missing for this access."""


class ReferencedDataInvalid(StatusError):
    """``6984``: e.g. no challenge outstanding."""


class ConditionsNotSatisfied(StatusError):
    """``6985``."""


class FileNotFound(StatusError):
    """``6A82``."""


class RecordNotFound(StatusError):
    """``6A83``."""


class WrongLength(StatusError):
    """``6700``: Lc or Le wrong."""


class WrongLe(StatusError):
    """``6Cxx``: the right Le is ``correct_le`` (256 for 00)."""

    @property
    def correct_le(self) -> int:
        return (self.sw & 0xFF) or 256


class MoreData(StatusError):
    """``61xx`` reaching an application: the driver's T=0 layer should have consumed it."""


class WrongParameters(StatusError):
    """``6A86`` wrong P1/P2, ``6B00`` offset outside the EF."""


class WrongData(StatusError):
    """``6A80``."""


class NotSupported(StatusError):
    """``6D00`` INS, ``6E00`` CLA, ``6A81`` function (also: card blocked, §5)."""


class KeyNotFound(StatusError):
    """``6A88``."""


class MacInvalid(StatusError):
    """``9302``."""


class ApplicationBlocked(StatusError):
    """``9303``: the application is permanently blocked."""


class CardFailure(StatusError):
    """``6581`` memory failure, ``6F00`` no precise diagnosis, and unknown status words."""


#: SW -> (meaning, exception class).  63Cx, 61xx and 6Cxx are families handled by :func:`lookup`.
SW_TABLE: dict[int, tuple[str, type[StatusError]]] = {
    MEMORY_FAILURE: ("memory failure", CardFailure),
    WRONG_LENGTH: ("wrong length", WrongLength),
    COMMAND_NOT_ACCEPTED: ("command not accepted in this state", ConditionsNotSatisfied),
    INCOMPATIBLE_FILE_STRUCTURE: ("command incompatible with file structure", WrongParameters),
    SECURITY_STATUS_NOT_SATISFIED: ("security status not satisfied", SecurityStatusNotSatisfied),
    AUTH_METHOD_BLOCKED: ("authentication method blocked", AuthenticationBlocked),
    REFERENCED_DATA_INVALID: ("referenced data invalid", ReferencedDataInvalid),
    CONDITIONS_NOT_SATISFIED: ("conditions of use not satisfied", ConditionsNotSatisfied),
    NO_CURRENT_EF: ("no current EF", ConditionsNotSatisfied),
    SM_DATA_INCORRECT: ("secure messaging data object incorrect", WrongData),
    WRONG_DATA: ("wrong data field", WrongData),
    FUNCTION_NOT_SUPPORTED: ("function not supported (or card blocked)", NotSupported),
    FILE_NOT_FOUND: ("file not found", FileNotFound),
    RECORD_NOT_FOUND: ("record not found", RecordNotFound),
    WRONG_P1P2: ("wrong P1/P2", WrongParameters),
    KEY_NOT_FOUND: ("referenced data (key) not found", KeyNotFound),
    OFFSET_OUTSIDE_EF: ("offset outside the EF", WrongParameters),
    INS_NOT_SUPPORTED: ("instruction not supported", NotSupported),
    CLA_NOT_SUPPORTED: ("class not supported", NotSupported),
    NO_PRECISE_DIAGNOSIS: ("no precise diagnosis", CardFailure),
    MAC_INVALID: ("MAC invalid", MacInvalid),
    APPLICATION_BLOCKED: ("application permanently blocked", ApplicationBlocked),
}

#: INS codes after which 63Cx / 6983 concern the PIN (VERIFY, CHANGE PIN); otherwise a key.
PIN_INS = frozenset({0x20, 0x5E})


def describe(sw: int) -> str:
    """A short English meaning for any status word."""
    if sw == SUCCESS:
        return "success"
    left = tries_left(sw)
    if left is not None:
        return f"verification failed, {left} tries left"
    if sw >> 8 == 0x61:
        return f"{(sw & 0xFF) or 256} more bytes available"
    if sw >> 8 == 0x6C:
        return f"wrong Le, right length {(sw & 0xFF) or 256}"
    entry = SW_TABLE.get(sw)
    return entry[0] if entry else "unknown status"


def lookup(sw: int, ins: int | None = None) -> type[StatusError]:
    """The exception class for a non-success status word after a command with ``ins``."""
    for_pin = ins in PIN_INS
    if tries_left(sw) is not None:
        return WrongPin if for_pin else WrongKey
    if sw == AUTH_METHOD_BLOCKED:
        return PinBlocked if for_pin else KeyBlocked
    if sw >> 8 == 0x6C:
        return WrongLe
    if sw >> 8 == 0x61:
        return MoreData
    entry = SW_TABLE.get(sw)
    return entry[1] if entry else CardFailure


def error_for(sw: int, ins: int | None = None) -> StatusError:
    return lookup(sw, ins)(sw, ins)


def check(sw: int, ins: int | None = None) -> None:
    """Raise the typed error for ``sw`` unless it is ``9000``."""
    if sw != SUCCESS:
        raise error_for(sw, ins)
