"""The one exception hierarchy of sscard.

Every layer raises subclasses of :class:`SSCardError`, so an application (or the CLI) catches one
type and prints one readable line.  The root lives here, in the bottom layer, because ``apdu`` is
the only package every other package may import.

Status-word errors (card-profile §5) are in :mod:`apdu.status`; transport errors (no reader, card
removed, ...) are declared here too so that ``drivers`` and ``terminal`` share them.

No exception in this hierarchy may carry a PIN or a key: messages name the command, never its data.
"""

from __future__ import annotations


class SSCardError(Exception):
    """Root of every error sscard raises on purpose."""

    #: exit code the CLI uses for this class of error (1 = refused, 2 = usage or I/O).
    exit_code: int = 2


# --- bytes on the wire ---------------------------------------------------------------------------


class ApduFormatError(SSCardError, ValueError):
    """A command APDU whose bytes do not form any ISO 7816-3 case, or inconsistent fields."""


class ResponseFormatError(SSCardError, ValueError):
    """A response from a card that cannot be a response APDU (e.g. fewer than two bytes)."""


class TlvError(SSCardError, ValueError):
    """A TLV structure whose tags or lengths do not fit the bytes (untrusted card data)."""


class DataFormatError(SSCardError, ValueError):
    """A data element that does not decode (bad BCD, bad date, bad text...)."""


class CryptoError(SSCardError):
    """A key, block or cryptogram of the wrong size or form, or an unsupported algorithm."""


# --- transport -----------------------------------------------------------------------------------


class TransportError(SSCardError):
    """The card or reader could not be reached or went away."""


class NoReaderError(TransportError):
    """No reader (or no reader matching the selection) is available."""


class NoCardError(TransportError):
    """The reader holds no card (or none arrived within the wait)."""


class CardRemovedError(TransportError):
    """The card was pulled out, or reset by someone else, during the session."""


class ReaderGoneError(TransportError):
    """The reader itself disappeared (unplugged, pcscd stopped)."""


class ProtocolError(TransportError):
    """The card broke the transmission protocol (endless 61xx, 6Cxx twice, ...)."""


# --- terminal side -------------------------------------------------------------------------------


class UsageError(SSCardError):
    """The caller asked for something impossible (bad argument, missing option)."""


class PolicyError(SSCardError):
    """Refused by a terminal-side policy before anything reached the card (e.g. a weak new PIN)."""

    exit_code = 1


class CardNotSupportedError(SSCardError):
    """The card in the reader is not a social security card (no SSSE) or of an unknown kind."""


# --- PIN pads (PC/SC part 10) --------------------------------------------------------------------


class ControlNotSupported(TransportError):
    """The reader takes no such control request (no PIN pad, unknown code, malformed structure).

    pcsc-lite reports it as ``SCARD_E_UNSUPPORTED_FEATURE``; an in-process reader raises it
    directly.  Nothing reached the card.
    """


class PinPadError(SSCardError):
    """A result made by the PIN-pad reader itself, instead of the card's status word.

    ``sw`` is the two bytes the reader answered (``6400``...), or None when the terminal refused
    before anything was sent.  No subclass carries a digit: a pad never sends one to the host.
    """

    exit_code = 1

    def __init__(self, message: str, sw: int | None = None) -> None:
        self.sw = sw
        super().__init__(message)


class PinEntryTimeout(PinPadError):
    """``6400``: nobody finished typing on the pad in time; the card received nothing."""


class PinEntryCancelled(PinPadError):
    """``6401``: the holder pressed Cancel on the pad; the card received nothing, no try used."""


class PinEntryMismatch(PinPadError):
    """``6402``: the new PIN and its confirmation typed on the pad differ; nothing was sent."""


class PinLengthError(PinPadError):
    """``6403`` from the pad, or a PIN length outside the pad's limits refused before sending."""


class PinPadRefused(PinPadError):
    """``6B80``: the pad's firmware refused the request (a structure it cannot carry out)."""

    exit_code = 2


# --- files ---------------------------------------------------------------------------------------


class FileError(SSCardError):
    """A file sscard was given cannot be used: missing, not a regular file, too big, not strict
    JSON, or not of the expected kind.  The message is one line naming the file and the field."""
