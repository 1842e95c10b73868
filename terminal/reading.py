"""The national read-card flow (card-profile §12), decoded into :class:`terminal.models.CardRead`.

1. SELECT SSSE by name (§3) - 1 command APDU (a T=0 card adds a GET RESPONSE, sent and counted
   by the channel).
2. EF05 through SFI 5 - 1 APDU: READ RECORD ``00 B2 01 2D 00`` (P2 = SFI<<3 | 5, ISO/IEC 7816-4
   "all records from P1 to the last"; issue 9: deployed terminals use it and real cards answer
   it), the answer being the records as concatenated SIMPLE-TLV objects.  Every expected tag is
   looked for in it; one that did not come back is read by tag (``00 B2 tag 28 Le``).
3. On a 3.00 card (§1), or when EF06 answers ``6982``: external authentication with RKSSSE
   (KID ``0A``) through the security module - GET CHALLENGE + EXTERNAL AUTHENTICATE, 2 APDUs.
   Without a security module EF05 is still returned, with a note that EF06 needs one.
4. EF06 through SFI 6 the same way - 1 APDU.

So a 2.x card reads in 3 command APDUs and a 3.00 card in 5 (a T=0 card: +1 GET RESPONSE for the
FCI).  By tag (card-profile §12, the fallback) the same read takes 15 and 17: one READ RECORD
per item with the exact Le (value size + 2), so no ``6Cxx`` round trip is wasted.

Strategy (:data:`ReadStrategy`, ``CardSession.read_strategy``, ``--read-strategy``):

- ``auto`` (default): multi-record first; a card that refuses it (``6A86``, ``6A81``, ``6D00``,
  ``6E00``; a ``6Cxx`` is re-sent by the channel like any other) is read by tag at once, and its
  *card model* (ATR historical bytes T1-T5: chip maker and COS, §10) is remembered for the life
  of the process (:data:`MULTI_RECORD_REFUSALS`), so each model costs at most one probe;
- ``by-tag``: the §12 flow only;
- ``multi-record``: multi-record always (the memory is neither read nor written); a refusal is
  an error - for testing what a card supports.

Real-card quirks tolerated (§3, §4, issue 9): records shorter than the maximum (the Le asked is
the maximum; a card that answers ``6Cxx`` instead is re-asked by the channel, one APDU more),
text items longer than V2's size (a 10-digit 卡号 exists: a note, not an error), 0x20 and 0xFF
padding, unpersonalised items (``cn`` all FF, a date all FF or all 00: absent), 初始化机构编号
whose sequence bytes are not BCD (kept as hex), 1.00 cards (tag 4E absent -> ``6A83`` -> no
extension; empty 规范版本 -> 1st generation).  Every record is untrusted: it is decoded with
:mod:`apdu.tlv` and :mod:`apdu.codec`, and one that does not decode becomes a ``decode_errors``
entry, not a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Literal, get_args

from apdu import commands, status
from apdu.appfiles import read_value as _decode_value  # the element's declared codec (§4)
from apdu.atr import historical_bytes
from apdu.elements import EF05, EF06, Element
from apdu.errors import CryptoError, DataFormatError, TlvError, UsageError
from apdu.formats import Value
from apdu.names import SFI_EF05, SFI_EF06, Kid
from apdu.status import AuthenticationBlocked, VerificationFailed
from apdu.tlv import simple_decode_one, simple_record
from terminal.genuine import NO_SAM
from terminal.models import CardRead, Ef06Access, HolderData, IssuerData, generation_of
from terminal.session import CardSession

#: the key that opens EF06 on a 3.00 card (§1, §5).
EF06_KEY = ("RKSSSE", Kid.RKSSSE)

#: records whose absence (6A83) is normal and not worth a note: 4E only exists for long names.
OPTIONAL_TAGS = frozenset({0x4E})

NOTE_NEEDS_SAM = "EF06 needs a security module (SAM) on a 3.00 card"

ReadStrategy = Literal["auto", "by-tag", "multi-record"]
READ_STRATEGIES: tuple[str, ...] = get_args(ReadStrategy)

#: status words of a card that does not do READ RECORD P2 = 05 (issue 9): wrong P1/P2, function
#: not supported, INS or CLA not supported.
MULTI_RECORD_REFUSED = frozenset(
    {
        status.WRONG_P1P2,
        status.FUNCTION_NOT_SUPPORTED,
        status.INS_NOT_SUPPORTED,
        status.CLA_NOT_SUPPORTED,
    }
)
#: ISO/IEC 7816-4 answers that carry data: success, "more data available" (a multi-record answer
#: that did not fit: the rest is read by tag) and "end of record reached before Ne bytes".
_DATA_SW = frozenset({status.SUCCESS, status.MORE_DATA_AVAILABLE, status.END_OF_RECORD})

#: historical bytes T1-T5: chip maker and COS (§10), i.e. the card model.
MODEL_BYTES = 5


class ModelMemory:
    """Card models (ATR historical bytes T1-T5) known to refuse READ RECORD P2 = 05.

    Process-wide (:data:`MULTI_RECORD_REFUSALS`), thread-safe; :meth:`clear` is for tests.
    """

    def __init__(self) -> None:
        self._refusing: set[bytes] = set()
        self._lock = threading.Lock()

    def refuses(self, model: bytes) -> bool:
        with self._lock:
            return model in self._refusing

    def remember(self, model: bytes) -> None:
        with self._lock:
            self._refusing.add(bytes(model))

    def clear(self) -> None:
        with self._lock:
            self._refusing.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._refusing)


#: the process-wide memory of card models that refuse the multi-record read.
MULTI_RECORD_REFUSALS = ModelMemory()


def card_model(atr: bytes) -> bytes:
    """The model key of a card: historical bytes T1-T5 (chip maker, COS, §10).

    A card whose ATR does not parse, or has fewer than 5 historical bytes, is keyed by its whole
    ATR (prefixed so that it cannot collide with a T1-T5 key).
    """
    try:
        hist = historical_bytes(atr)
    except DataFormatError:
        hist = b""
    if len(hist) >= MODEL_BYTES:
        return bytes(hist[:MODEL_BYTES])
    return b"ATR:" + bytes(atr)


class RecordReader:
    """Reads and decodes the records of one EF, collecting problems instead of raising."""

    def __init__(self, session: CardSession, sfi: int | None) -> None:
        self.session = session
        #: None: the current EF (an EF without SFI, selected by FID first).
        self.sfi = sfi
        #: tag -> the whole record (tag, length, value) as the card returned it, in the order
        #: decoded: what :func:`apdu.appfiles.decode_records` takes (issue 15's files).
        self.raw: dict[int, bytes] = {}
        #: records of a multi-record answer that were not asked for (a second record of a tag,
        #: a tag the table does not have): kept so that nothing the card holds is dropped.
        self.extra: list[bytes] = []
        #: a multi-record answer stopped parsing before its end (the rest is read by tag).
        self.stopped = False
        self.values: dict[str, Value] = {}
        self.errors: dict[str, str] = {}
        self.absent: list[Element] = []
        self.notes: list[str] = []

    def _by_sfi(self) -> None:
        """A command that names an EF by SFI makes that EF the card's current one (ISO/IEC
        7816-4): the session's ``ef`` is no longer known (its next ``select_ef`` selects)."""
        if self.sfi is not None:
            self.session.named_by_sfi()

    def read(self, element: Element) -> int:
        """READ RECORD ``element.tag`` through the SFI; returns the status word.

        9000 and 6A83 (absent) are recorded; ``6982`` is returned for the caller to decide; any
        other status raises its typed error.
        """
        cmd = commands.read_record(element.tag, by_tag=True, sfi=self.sfi, le=element.le)
        resp = self.session.channel.transmit(cmd)
        self._by_sfi()
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
        self.raw[element.tag] = bytes(data)
        try:
            raw = simple_record(data, element.tag)
            if len(raw) > element.size:
                if element.format != "an":
                    raise DataFormatError(
                        f"value of {len(raw)} bytes, at most {element.size} expected"
                    )
                self.notes.append(
                    f"record {element.tag:02X} ({element.label}) holds {len(raw)} bytes; "
                    f"§4 says at most {element.size}"
                )
            self.values[element.field] = _decode_value(element, raw)
        except (TlvError, DataFormatError) as exc:
            self.errors[element.field] = f"record {element.tag:02X}: {exc}"

    def read_multi(self, elements: tuple[Element, ...]) -> tuple[int, list[Element]]:
        """READ RECORD ``00 B2 01 (SFI<<3)|5 00``: (status word, the elements still to read).

        On data, the records are split and the first occurrence of each expected tag decoded;
        what did not come back (or could not be parsed) is left for the by-tag reads.
        """
        resp = self.session.channel.transmit(commands.read_records_from(1, sfi=self.sfi))
        self._by_sfi()
        if resp.sw not in _DATA_SW:
            return resp.sw, list(elements)
        found: dict[int, bytes] = {}
        data, pos = resp.data, 0
        while pos < len(data):
            if data[pos] in (0x00, 0xFF):
                break  # padding after the last record
            try:
                tag, _, end = simple_decode_one(data, pos)
            except TlvError as exc:
                self.notes.append(
                    f"multi-record answer of SFI {self.sfi} stops parsing at byte {pos} ({exc}); "
                    "the rest is read by tag"
                )
                self.stopped = True
                break
            if tag in found:
                self.extra.append(bytes(data[pos:end]))
            else:
                found[tag] = bytes(data[pos:end])
            pos = end
        wanted = {e.tag for e in elements}
        self.extra += [record for tag, record in found.items() if tag not in wanted]
        missing: list[Element] = []
        for element in elements:
            record = found.get(element.tag)
            if record is None:
                missing.append(element)
            else:
                self._decode(element, record)
        return resp.sw, missing

    def read_all(self, elements: Iterable[Element], *, multi: bool) -> int:
        """Read every element: one multi-record READ RECORD first when ``multi``, then by tag
        what is missing.  Returns the status word of the first command when it was ``6982``
        (nothing else is sent then) or a multi-record refusal; otherwise 9000."""
        todo = tuple(elements)
        if multi:
            sw, rest = self.read_multi(todo)
            if sw == status.SECURITY_STATUS_NOT_SATISFIED or sw in MULTI_RECORD_REFUSED:
                return sw
            if sw not in _DATA_SW and sw != status.RECORD_NOT_FOUND:
                status.check(sw, commands.INS_READ_RECORD)
            todo = tuple(rest)
        elif todo:
            first, *others = todo
            if self.read(first) == status.SECURITY_STATUS_NOT_SATISFIED:
                return status.SECURITY_STATUS_NOT_SATISFIED
            todo = tuple(others)
        for element in todo:
            if self.read(element) == status.SECURITY_STATUS_NOT_SATISFIED:
                status.check(status.SECURITY_STATUS_NOT_SATISFIED, commands.INS_READ_RECORD)
        return status.SUCCESS


class ReadPlan:
    """How this read reads an EF: multi-record or by tag (see the module docstring)."""

    def __init__(self, session: CardSession, strategy: str) -> None:
        if strategy not in READ_STRATEGIES:
            raise UsageError(
                f"unknown read strategy {strategy!r}; use one of {', '.join(READ_STRATEGIES)}"
            )
        self.strategy = strategy
        self.model = card_model(session.atr)

    @property
    def multi(self) -> bool:
        if self.strategy == "by-tag":
            return False
        return self.strategy == "multi-record" or not MULTI_RECORD_REFUSALS.refuses(self.model)

    def refused(self, sw: int) -> bool:
        """After a multi-record READ RECORD answered ``sw``: True when that is the card refusing
        the mode — its model is remembered (``auto``) and the caller reads another way; with
        ``multi-record`` the refusal raises its typed error instead."""
        if sw not in MULTI_RECORD_REFUSED:
            return False
        if self.strategy == "multi-record":
            status.check(sw, commands.INS_READ_RECORD)
        MULTI_RECORD_REFUSALS.remember(self.model)
        return True

    def read(self, reader: RecordReader, elements: Iterable[Element]) -> int:
        """Read ``elements`` with ``reader``; a refused multi-record read falls back (``auto``)
        or raises (``multi-record``).  Returns 6982 when the first command got it."""
        todo = tuple(elements)
        if not self.multi:
            return reader.read_all(todo, multi=False)
        sw = reader.read_all(todo, multi=True)
        if not self.refused(sw):
            return sw
        return reader.read_all(todo, multi=False)


def _absent_notes(reader: RecordReader, ef: str) -> list[str]:
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


def read_card(session: CardSession, strategy: str | None = None) -> CardRead:
    """Read EF05 and EF06 and decode them; see the module docstring for the strategy and count.

    ``strategy`` None takes ``session.read_strategy`` (``auto`` unless configured).  Raises the
    typed errors of SELECT (:class:`apdu.errors.CardNotSupportedError`,
    :class:`apdu.status.ApplicationBlocked`), transport errors, and the typed status error of a
    READ RECORD that answers something other than data, ``6A83`` or (for EF06) ``6982``.
    """
    channel = session.channel
    start = channel.apdu_count
    plan = ReadPlan(session, strategy or session.read_strategy)
    notes: list[str] = []
    info = session.select_ssse()
    if info.fci_problem:
        notes.append(f"SSSE FCI: {info.fci_problem}")

    ef05 = RecordReader(session, SFI_EF05)
    if plan.read(ef05, EF05) == status.SECURITY_STATUS_NOT_SATISFIED:
        status.check(status.SECURITY_STATUS_NOT_SATISFIED, commands.INS_READ_RECORD)
    notes += ef05.notes + _absent_notes(ef05, "EF05")
    issuer = _issuer(ef05.values)
    if issuer.card_id:
        session.card_id = issuer.card_id

    generation = None if "spec_version" in ef05.errors else generation_of(issuer.spec_version)

    access: Ef06Access = "free"
    if generation == 3:
        access = _authenticate(session, notes)

    holder: HolderData | None = None
    ef06 = RecordReader(session, SFI_EF06)
    if access in ("free", "authenticated"):
        sw = plan.read(ef06, EF06)
        if sw == status.SECURITY_STATUS_NOT_SATISFIED and access == "free":
            # A card that protects EF06 without saying 3.00: authenticate, then ask again.
            access = _authenticate(session, notes)
            if access == "authenticated":
                sw = plan.read(ef06, EF06)
        if sw == status.SECURITY_STATUS_NOT_SATISFIED and access in ("free", "authenticated"):
            status.check(sw, commands.INS_READ_RECORD)
        if access in ("free", "authenticated"):
            notes += ef06.notes + _absent_notes(ef06, "EF06")
            holder = _holder(ef06.values)
    if session.sam is None:
        notes.append(NO_SAM)

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
