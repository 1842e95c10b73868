"""The national read-card flow (card-profile §12), decoded into :class:`terminal.models.CardRead`.

1. SELECT SSSE by name (§3) - 1 command APDU (a T=0 card adds a GET RESPONSE, sent and counted
   by the channel).
2. READ RECORD by tag through SFI 5 for 01..07 with the exact Le of :mod:`apdu.elements`
   (value size + 2, §4) - 7 APDUs.
3. On a 3.00 card (§1), or when EF06 answers ``6982``: external authentication with RKSSSE
   (KID ``0A``) through the security module - GET CHALLENGE + EXTERNAL AUTHENTICATE, 2 APDUs.
   Without a security module EF05 is still returned, with a note that EF06 needs one.
4. READ RECORD by tag through SFI 6 for 08, 09, 4E, 0A, 0B, 0C, 0D - 7 APDUs.

So a 2.x card takes exactly 15 command APDUs and a 3.00 card 17.

Real-card quirks tolerated (§3, §4): records shorter than the maximum (the Le asked is the
maximum; a card that answers ``6Cxx`` instead is re-asked by the channel, one APDU more), 0x20 and
0xFF padding, 1.00 cards (tag 4E absent -> ``6A83`` -> no extension; empty 规范版本 -> 1st
generation).  Every record is untrusted: it is decoded with :func:`apdu.tlv.simple_record` and
:mod:`apdu.codec`, and one that does not decode becomes a ``decode_errors`` entry, not a crash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from apdu import codec, commands, status
from apdu.elements import EF05, EF06, Element
from apdu.errors import CryptoError, DataFormatError, TlvError, UsageError
from apdu.names import SFI_EF05, SFI_EF06, Kid
from apdu.status import AuthenticationBlocked, VerificationFailed
from apdu.tlv import simple_record
from terminal.models import CardRead, Ef06Access, HolderData, IssuerData, generation_of
from terminal.session import CardSession

#: the key that opens EF06 on a 3.00 card (§1, §5).
EF06_KEY = ("RKSSSE", Kid.RKSSSE)

#: records whose absence (6A83) is normal and not worth a note: 4E only exists for long names.
OPTIONAL_TAGS = frozenset({0x4E})

NOTE_NEEDS_SAM = "EF06 needs a security module (SAM) on a 3.00 card"

Value = str | bytes | dt.date | None


def _decode_value(element: Element, raw: bytes) -> Value:
    """A record's value in its §4 format; empty text becomes None."""
    if element.format == "b":
        return bytes(raw)
    if element.format == "an":
        return codec.an_decode(raw) or None
    if element.format == "cn":
        return codec.cn_decode(raw) or None
    return codec.date_decode(raw)


class _RecordReader:
    """Reads and decodes records of one EF by tag, collecting problems instead of raising."""

    def __init__(self, session: CardSession, sfi: int) -> None:
        self.session = session
        self.sfi = sfi
        self.values: dict[str, Value] = {}
        self.errors: dict[str, str] = {}
        self.absent: list[Element] = []

    def read(self, element: Element) -> int:
        """READ RECORD ``element.tag`` through the SFI; returns the status word.

        9000 and 6A83 (absent) are recorded; ``6982`` is returned for the caller to decide; any
        other status raises its typed error.
        """
        cmd = commands.read_record(element.tag, by_tag=True, sfi=self.sfi, le=element.le)
        resp = self.session.channel.transmit(cmd)
        if resp.sw == status.RECORD_NOT_FOUND:
            self.values[element.field] = None
            self.absent.append(element)
            return resp.sw
        if resp.sw == status.SECURITY_STATUS_NOT_SATISFIED:
            return resp.sw
        status.check(resp.sw, commands.INS_READ_RECORD)
        self._decode(element, resp.data)
        return resp.sw

    def _decode(self, element: Element, data: bytes) -> None:
        self.values[element.field] = None
        if len(data) > element.le:
            self.errors[element.field] = (
                f"record {element.tag:02X} has {len(data)} bytes, at most {element.le} expected"
            )
            return
        try:
            raw = simple_record(data, element.tag)
            if len(raw) > element.size:
                raise DataFormatError(f"value of {len(raw)} bytes, at most {element.size} expected")
            self.values[element.field] = _decode_value(element, raw)
        except (TlvError, DataFormatError) as exc:
            self.errors[element.field] = f"record {element.tag:02X}: {exc}"

    def read_all(self, elements: Iterable[Element]) -> None:
        for element in elements:
            if self.read(element) == status.SECURITY_STATUS_NOT_SATISFIED:
                status.check(status.SECURITY_STATUS_NOT_SATISFIED, commands.INS_READ_RECORD)


def _absent_notes(reader: _RecordReader, ef: str) -> list[str]:
    return [
        f"{ef} record {e.tag:02X} ({e.label}) is not on the card"
        for e in reader.absent
        if e.tag not in OPTIONAL_TAGS
    ]


def _issuer(values: dict[str, Value]) -> IssuerData:
    fields = dict(values)
    if not isinstance(fields.get("card_id"), bytes):
        fields["card_id"] = b""
    return IssuerData.model_validate(fields)


def _holder(values: dict[str, Value]) -> HolderData:
    """EF06 as a model; the full name is tag 09 followed by tag 4E (§4).

    Without a readable tag 09 the full name is unknown (None): the extension alone would show a
    wrong name.
    """
    fields = dict(values)
    base, extension = fields.get("name"), fields.get("name_extension")
    if isinstance(base, str):
        fields["name"] = base + (extension if isinstance(extension, str) else "")
    return HolderData.model_validate(fields)


def _authenticate(session: CardSession, notes: list[str]) -> Ef06Access:
    """External authentication with RKSSSE (§1, §7.4); the outcome becomes ``ef06_access``."""
    if session.sam is None:
        notes.append(NOTE_NEEDS_SAM)
        return "no_sam"
    try:
        session.external_auth(*EF06_KEY)
    except (VerificationFailed, AuthenticationBlocked) as exc:
        notes.append(f"external authentication with RKSSSE failed, EF06 not read: {exc}")
        return "auth_failed"
    except (CryptoError, UsageError) as exc:
        notes.append(f"cannot authenticate to read EF06: {exc}")
        return "cannot_authenticate"
    return "authenticated"


def read_card(session: CardSession) -> CardRead:
    """Read EF05 and EF06 as §12 says and decode them; see the module docstring for the count.

    Raises the typed errors of SELECT (:class:`apdu.errors.CardNotSupportedError`,
    :class:`apdu.status.ApplicationBlocked`), transport errors, and the typed status error of a
    READ RECORD that answers something other than data, ``6A83`` or (for EF06) ``6982``.
    """
    channel = session.channel
    start = channel.apdu_count
    notes: list[str] = []
    info = session.select_ssse()
    if info.fci_problem:
        notes.append(f"SSSE FCI: {info.fci_problem}")

    ef05 = _RecordReader(session, SFI_EF05)
    ef05.read_all(EF05)
    notes += _absent_notes(ef05, "EF05")
    issuer = _issuer(ef05.values)
    if issuer.card_id:
        session.card_id = issuer.card_id

    generation = None if "spec_version" in ef05.errors else generation_of(issuer.spec_version)

    access: Ef06Access = "free"
    if generation == 3:
        access = _authenticate(session, notes)

    holder: HolderData | None = None
    ef06 = _RecordReader(session, SFI_EF06)
    if access in ("free", "authenticated"):
        first, *rest = EF06
        sw = ef06.read(first)
        if sw == status.SECURITY_STATUS_NOT_SATISFIED and access == "free":
            # A card that protects EF06 without saying 3.00: authenticate, then ask again.
            access = _authenticate(session, notes)
            if access == "authenticated":
                sw = ef06.read(first)
        if sw == status.SECURITY_STATUS_NOT_SATISFIED and access in ("free", "authenticated"):
            status.check(sw, commands.INS_READ_RECORD)
        if access in ("free", "authenticated"):
            ef06.read_all(rest)
            notes += _absent_notes(ef06, "EF06")
            holder = _holder(ef06.values)

    return CardRead(
        issuer=issuer,
        holder=holder,
        algorithm=info.algorithm,
        generation=generation,
        atr=session.atr,
        historical_bytes=_historical(session, notes),
        apdus=channel.apdu_count - start,
        ef06_access=access,
        notes=notes,
        decode_errors={**ef05.errors, **ef06.errors},
    )


def _historical(session: CardSession, notes: list[str]) -> bytes:
    try:
        return session.historical
    except DataFormatError as exc:
        notes.append(f"ATR: {exc}")
        return b""
