"""THE card adapter of the national facade and the service: every card access goes through here.

Nothing else in :mod:`terminal.national` or :mod:`terminal.service` touches a reader, a channel, a
session or a security module.  Its card access is the front door's (issue 11): each open card is
a :class:`terminal.card.Card` on a :class:`terminal.session.CardSession`, which owns the card's
state (the selected DF, the keys authenticated there, the PIN verified) — so a VERIFY after a
DF's external authentication keeps it, an HSM step continues the session it began without a
second SELECT, and no SELECT is sent for the DF the card is in.  Its interface:

=============================================  =====================================================
:class:`CardSource` (built once per service)   what the configuration names: the contact reader
                                               (PC/SC selector, or a simulated card held for the
                                               source's life), an optional contactless reader, the
                                               security mode (``psam`` / ``software`` / ``hsm``)
``source.open(contactless) -> OpenCard``       one card powered, inside one PC/SC transaction, the
                                               reader's lock held (one operation at a time per
                                               reader); ``close()`` powers it down
``source.terminal_number()``                   the PSAM's 终端机编号, else ``000000000000``
``card.identity()``                            SELECT SSSE + EF05 01/03/07: who the card is
``card.read_basic()``                          §12 read with the security module (PSAM route)
``card.genuine()``                             INTERNAL AUTHENTICATE through the security module
``card.internal_auth_answer(r1, r2)``          the card's raw answer (HSM route)
``card.challenge()``                           GET CHALLENGE (8 bytes)
``card.external_auth(key)``                    §7.4 through the security module
``card.external_auth_answer(key, ad, d)``      §7.4 with an HSM's cryptogram for the last challenge
``card.read_basic_after_hsm()``                §12 read continuing an HSM-authenticated session
``card.pin_status()`` / ``verify_pin`` /       §6 (one VERIFY, never retried)
``change_pin``
``card.pin_pad(length, timeout)`` /            the reader's PIN pad (PC/SC part 10, asked once
``verify_pin_on_pad`` / ``change_pin_on_pad``  per reader), the PIN typed on it
``card.reset_pin(new)`` / ``unblock_pin()``    §6/§7.6 through the security module
``card.pin_command(p2, data, mac)``            ``84 24 00 P2`` with an HSM's data and MAC
``card.select_app(app)``                       SSSE, DF01-DF04 (by AID) or a local DF (by FID)
``card.read_item / read_record /               records and transparent content by address
read_records / read_binary / update_item``
=============================================  =====================================================

Every method raises sscard's typed errors (:mod:`apdu.errors`, :mod:`apdu.status`); failures of
the security module arrive as :class:`~terminal.national.codes.SamFailure`, so the facade can
answer -2201/-2202/-2203/-24 and the caller can switch to the HSM functions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import terminal.pin as pinops
from apdu import codec, commands, status
from apdu.crypto import Algorithm, Diversification
from apdu.elements import BY_TAG_EF05
from apdu.errors import (
    CryptoError,
    DataFormatError,
    PinLengthError,
    SSCardError,
    TlvError,
    TransportError,
    UsageError,
)
from apdu.names import SFI_EF05
from apdu.tlv import simple_encode, simple_record
from drivers.base import Reader
from drivers.channel import CardChannel
from drivers.open import open_reader
from drivers.pinpad import PinPad, PinPadInfo, probe
from terminal.card import Card
from terminal.models import CardRead, generation_of, national_terminal_number
from terminal.national.codes import READER_CONNECTION, NationalError, SamFailure
from terminal.national.files import KeyRef
from terminal.pinpolicy import PinPolicy
from terminal.pinsource import PinPadPinSource
from terminal.pinstatus import PinStatus
from terminal.sam.base import SecurityModule
from terminal.session import CardSession, SsseInfo

SecurityMode = Literal["psam", "software", "hsm"]

#: Longest a record file is walked by number (records are numbered 1..254).
MAX_RECORDS = 254
#: READ BINARY chunk (short Le 00 = 256 bytes).
BINARY_CHUNK = 256
#: §6: the PIN commands accept 4..16 digits; the facade applies the policy before calling here.
_CARD_ONLY = PinPolicy(length=None, forbid_initial=False, forbid_trivial=False)


@dataclass(frozen=True)
class SourceConfig:
    """What :class:`CardSource` needs (the service builds it from its TOML configuration).

    ``sim``: a card file, or True for the built-in sample card; else ``reader`` (PC/SC).
    ``security``: ``psam`` (``psam_reader`` or ``psam_sim``), ``software`` (the TEST module,
    ``keys`` or the published TEST keys; simulated cards only), or ``hsm`` (no module).
    """

    reader: str | None = None
    sim: Path | bool | None = None
    contactless: str | None = None
    security: SecurityMode = "hsm"
    psam_reader: str | None = None
    psam_sim: Path | None = None
    keys: Path | None = None
    wait: float = 0.0
    lock_timeout: float = 300.0


@dataclass(frozen=True)
class Identity:
    """Who the card is (SELECT SSSE + EF05 01, 03, 07)."""

    card_id: bytes
    card_number: str | None
    spec_version: str | None
    generation: int | None
    algorithm: Algorithm
    historical: bytes

    @property
    def city_code(self) -> str:
        """§8.3: the first 3 BCD bytes of the card identification code ('' when not BCD)."""
        digits = self.card_id[:3].hex()
        return digits if len(digits) == 6 and digits.isdigit() else ""


# --- the security module, guarded -----------------------------------------------------------


def _sam_failure(exc: BaseException, key: str | None) -> SamFailure:
    """Classify an exception raised by a security module (§11, PSAM or software)."""
    if isinstance(exc, SamFailure):
        return exc
    if isinstance(exc, UsageError):
        return SamFailure("algorithm", str(exc), key=key)
    if isinstance(exc, CryptoError):
        return SamFailure("no_key", str(exc), key=key)
    if isinstance(exc, status.KeyNotFound):
        return SamFailure("no_key", str(exc), key=key, sw=exc.sw)
    if isinstance(exc, status.WrongData):
        # DELIVERY SESSION KEY with a factor count the key's level does not take (§11).
        return SamFailure("level", str(exc), key=key, sw=exc.sw)
    if isinstance(exc, status.StatusError):
        return SamFailure("status", str(exc), key=key, sw=exc.sw)
    if isinstance(exc, TransportError):
        return SamFailure("absent", str(exc), key=key)
    return SamFailure("other", str(exc), key=key)


class _GuardedSam(SecurityModule):
    """A security module whose failures become :class:`SamFailure`; one user at a time."""

    def __init__(self, inner: SecurityModule, owner: CardSource, reader: Reader | None) -> None:
        self._inner = inner
        self._owner = owner
        self._reader = reader
        self.label = inner.label

    @contextmanager
    def _use(self, key: str | None) -> Iterator[None]:
        with self._owner._sam_lock:
            try:
                if self._reader is not None:
                    with self._reader.transaction():
                        yield
                else:
                    yield
            except SSCardError as exc:
                failure = _sam_failure(exc, key)
                if failure.kind == "absent":
                    self._owner._drop_psam()
                raise failure from None

    def check_algorithm(self, alg: Algorithm) -> None:
        with self._use(None):
            self._inner.check_algorithm(alg)

    def external_auth(
        self, alg: Algorithm, key: str, div: Diversification, challenge: bytes
    ) -> tuple[bytes, bytes]:
        with self._use(key):
            return self._inner.external_auth(alg, key, div, challenge)

    def internal_auth(self, alg: Algorithm, div: Diversification, r1: bytes, r2: bytes) -> bytes:
        with self._use("IRK"):
            return self._inner.internal_auth(alg, div, r1, r2)

    def secure_message(
        self,
        alg: Algorithm,
        key: str,
        div: Diversification,
        challenge: bytes,
        header: bytes,
        plaintext: bytes | None = None,
    ) -> bytes:
        with self._use(key):
            return self._inner.secure_message(alg, key, div, challenge, header, plaintext)


class _NoSam(SecurityModule):
    """Stands in during an HSM-continued read: the HSM already did the module's part."""

    label = "HSM (no local security module)"

    def external_auth(
        self, alg: Algorithm, key: str, div: Diversification, challenge: bytes
    ) -> tuple[bytes, bytes]:
        raise SamFailure("absent", "no security module on the HSM route", key=key)

    def internal_auth(self, alg: Algorithm, div: Diversification, r1: bytes, r2: bytes) -> bytes:
        raise SamFailure("absent", "no security module on the HSM route", key="IRK")

    def secure_message(
        self,
        alg: Algorithm,
        key: str,
        div: Diversification,
        challenge: bytes,
        header: bytes,
        plaintext: bytes | None = None,
    ) -> bytes:
        raise SamFailure("absent", "no security module on the HSM route", key=key)


class _MissingSam(_NoSam):
    """The configured module could not be opened: every use reports why."""

    def __init__(self, failure: SamFailure) -> None:
        self._failure = failure
        self.label = "PSAM (unavailable)"

    def check_algorithm(self, alg: Algorithm) -> None:
        raise SamFailure(self._failure.kind, str(self._failure))


class _Session(CardSession):
    """The front door's session, remembering why an external authentication failed: the facade
    answers the security module's failure (-2201/-2202/-2203/-24) rather than "EF06 not read"."""

    def __init__(self, channel: CardChannel, sam: SecurityModule | None) -> None:
        super().__init__(channel, sam=sam)
        self.auth_error: SSCardError | None = None

    def external_auth(self, key_name: str, kid: int) -> None:
        try:
            super().external_auth(key_name, kid)
        except SSCardError as exc:
            self.auth_error = exc
            raise


# --- one open card --------------------------------------------------------------------------


class OpenCard:
    """One powered card inside one transaction, with the reader's lock held until :meth:`close`."""

    def __init__(self, source: CardSource, reader: Reader, stack: ExitStack) -> None:
        self._source = source
        self._reader = reader
        self._stack = stack
        try:
            sam: SecurityModule | None = source._security_module()
        except SamFailure as failure:  # reported when (and only if) the module is needed
            sam = _MissingSam(failure)
        self.session = _Session(CardChannel(reader), sam)
        #: the front door's card: every command below goes through it or its session.
        self.card = Card(self.session)
        self.channel = self.card.channel
        self._identity: Identity | None = None
        self.closed = False

    # -- life ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Power the card down, end the transaction, free the reader; idempotent."""
        if not self.closed:
            self.closed = True
            self._stack.close()

    def __enter__(self) -> OpenCard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def apdus(self) -> int:
        return self.channel.apdu_count

    # -- who ----------------------------------------------------------------------------------

    def identity(self) -> Identity:
        if self._identity is not None:
            return self._identity
        info = self._select_ssse()
        values: dict[int, bytes | None] = {}
        for tag in (0x01, 0x03, 0x07):
            el = BY_TAG_EF05[tag]
            cmd = commands.read_record(tag, by_tag=True, sfi=SFI_EF05, le=el.le)
            self.session.named_by_sfi()
            resp = self.channel.transmit(cmd)
            if resp.sw == status.RECORD_NOT_FOUND:
                values[tag] = None
                continue
            status.check(resp.sw, commands.INS_READ_RECORD)
            try:
                values[tag] = simple_record(resp.data, tag)
            except TlvError as exc:
                raise DataFormatError(f"EF05 record {tag:02X}: {exc}") from None
        card_id = values[0x01] or b""
        version = _text(values[0x03])
        self.session.card_id = card_id or None
        self._identity = Identity(
            card_id=card_id,
            card_number=_text(values[0x07]),
            spec_version=version,
            generation=generation_of(version),
            algorithm=info.algorithm,
            historical=self.session.historical,
        )
        return self._identity

    def _select_ssse(self) -> SsseInfo:
        """The SSSE, selected unless the session knows it is (its FCI either way)."""
        return self.session.select_ssse()

    # -- the basic read -----------------------------------------------------------------------

    def read_basic(self) -> CardRead:
        """§12 with the security module (EF06 of a 3.00 card after RKSSSE); raises on failure."""
        card = self.card.read()
        if card.ef06_access not in ("free", "authenticated"):
            missing = SamFailure("absent", "no security module", key="RKSSSE")
            raise self.session.auth_error or missing
        i = card.issuer
        self._identity = Identity(
            card_id=i.card_id,
            card_number=i.card_number,
            spec_version=i.spec_version,
            generation=card.generation,
            algorithm=card.algorithm,
            historical=card.historical_bytes,
        )
        return card

    def read_basic_after_hsm(self) -> CardRead:
        """§12 continuing this session: the session knows the SSSE is selected and RKSSSE
        authenticated (the HSM's cryptogram, :meth:`external_auth_answer`), so neither is sent
        again; with no local module, nothing else could authenticate."""
        self.session.sam = _NoSam()
        return self.read_basic()

    def genuine(self) -> bool:
        """§7.5 through the security module (the card id must be known: :meth:`identity`)."""
        self.identity()
        return self.session.internal_auth()

    def internal_auth_answer(self, r1: bytes, r2: bytes) -> bytes:
        """The card's 8-byte INTERNAL AUTHENTICATE answer (the HSM computes the expected one)."""
        self._select_ssse()
        return self.channel.send(commands.internal_authenticate(r1, r2, kid=0x00))

    def challenge(self) -> bytes:
        return self.session.challenge()

    def external_auth(self, key: KeyRef) -> None:
        """§7.4 through the security module, in the current DF (the card's identity, which the
        diversification needs, is read first if it is not known yet)."""
        if self._identity is None:
            app = self.session.selected
            self.identity()
            if app is not None and app != "SSSE":
                self.select_app(app)
        self.session.external_auth(key.name, key.kid)  # nothing sent when it holds (§2)

    def external_auth_answer(self, key: KeyRef, cryptogram: bytes, d: bytes) -> None:
        """EXTERNAL AUTHENTICATE with an HSM's cryptogram; it must follow :meth:`challenge`."""
        self.channel.send(commands.external_authenticate(key.kid, cryptogram, d))
        self.session.authenticated_with(key.kid)

    # -- the PIN ------------------------------------------------------------------------------

    def pin_status(self) -> PinStatus:
        """The empty VERIFY in the PIN's domain: the SSSE is selected only when the card is
        outside it, so a DF's passed authentication survives (§2)."""
        return self.card.pin.status()

    def verify_pin(self, pin: bytearray, known: PinStatus) -> None:
        """One VERIFY (the caller asked the status first); the PIN buffer is wiped."""
        self.card.pin.verify(pin, known_status=known)

    def change_pin(self, old: bytearray, new: bytearray, known: PinStatus) -> None:
        self.card.pin.change(old, new, policy=_CARD_ONLY, known_status=known)

    def pin_pad(self, pin_length: int, timeout: int) -> PinPadPinSource | None:
        """The reader's PIN pad for ``pin_length``-digit PINs, or None when it has none (or
        none that takes that length); discovery (no APDU) is asked once per reader."""
        info = self._source.pad_info(self._reader, self.channel)
        if info is None:
            return None
        try:
            info.limits.check(pin_length)
        except PinLengthError:
            return None
        return PinPadPinSource(PinPad(self.channel, info, pin_length=pin_length,
                                      timeout=timeout))

    def verify_pin_on_pad(self, pad: PinPadPinSource, known: PinStatus) -> None:
        """One VERIFY typed on the pad (the caller asked the status first)."""
        self.card.pin.verify(pad, known_status=known)

    def change_pin_on_pad(self, pad: PinPadPinSource, known: PinStatus) -> None:
        """CHANGE PIN typed on the pad: current, new, new again (the pad compares the two)."""
        pinops.pad_change(self.session, pad, PinPolicy(length=pad.pin_length),
                          known_status=known)

    def reset_pin(self, new: bytearray) -> None:
        """PIN RESET through the security module (§7.6)."""
        self.identity()
        self._require_sam()
        self.card.pin.reset(new)

    def unblock_pin(self) -> None:
        self.identity()
        self._require_sam()
        self.card.pin.unblock()

    def _require_sam(self) -> None:
        if self.session.sam is None:
            raise SamFailure("absent", "no security module is configured (HSM mode)")

    def pin_command(self, p2: int, data: bytes, mac: bytes) -> None:
        """``84 24 00 P2`` with data and MAC from an HSM; must follow :meth:`challenge`."""
        self.session.pin_changed()
        if p2 == commands.P2_RESET:
            self.channel.send(commands.pin_reset(data, mac))
        else:
            self.channel.send(commands.pin_unblock(mac))

    # -- files by address ---------------------------------------------------------------------

    def select_app(self, app: str) -> None:
        """SSSE by name; DF01-DF04, DF07 by AID; another DF by FID under the SSSE
        (:class:`terminal.session.Place`).  No APDU when it is the selected DF."""
        self.session.enter(app)

    def _sfi(self, ef: int) -> int | None:
        """The SFI to address ``ef`` with, or None after selecting it by FID (once)."""
        low = ef & 0xFF
        if 1 <= low <= 30:
            self.session.named_by_sfi()  # the command about to be sent names it by SFI
            return low
        self.session.select_ef(ef)
        return None

    def read_item(
        self, ef: int, tag: int, occurrence: int = 1, le: int | None = None
    ) -> bytes | None:
        """The record (tag, length, value) of the ``occurrence``-th item ``tag``; None: absent."""
        if occurrence == 1:
            sfi = self._sfi(ef)
            resp = self.channel.transmit(
                commands.read_record(tag, by_tag=True, sfi=sfi, le=le or 256)
            )
            if resp.sw == status.RECORD_NOT_FOUND:
                return None
            status.check(resp.sw, commands.INS_READ_RECORD)
            return resp.data
        seen = 0
        for record in self._records(ef):
            if record[:1] == bytes((tag,)):
                seen += 1
                if seen == occurrence:
                    return record
        return None

    def read_record(self, ef: int, number: int) -> bytes | None:
        """Record ``number`` (1 = the most recent of a cyclic file); None when there is none."""
        sfi = self._sfi(ef)
        resp = self.channel.transmit(commands.read_record(number, by_tag=False, sfi=sfi))
        if resp.sw == status.RECORD_NOT_FOUND:
            return None
        status.check(resp.sw, commands.INS_READ_RECORD)
        return resp.data

    def _records(self, ef: int) -> Iterator[bytes]:
        for number in range(1, MAX_RECORDS + 1):
            record = self.read_record(ef, number)
            if record is None:
                return
            yield record

    def read_records(self, ef: int) -> list[bytes]:
        """Every record of a record file, in record-number order."""
        return list(self._records(ef))

    def read_binary(self, ef: int, limit: int) -> bytes:
        """The content of a transparent file, up to ``limit`` bytes (more is an error)."""
        low = ef & 0xFF
        data = bytearray()
        first = True
        while True:
            if first and 1 <= low <= 30:
                self.session.named_by_sfi()
                cmd = commands.read_binary(0, le=BINARY_CHUNK, sfi=low)
            else:
                if first:
                    self._sfi(ef)
                cmd = commands.read_binary(len(data), le=BINARY_CHUNK)
            first = False
            resp = self.channel.transmit(cmd)
            if resp.sw == status.OFFSET_OUTSIDE_EF and data:
                break
            status.check(resp.sw, commands.INS_READ_BINARY)
            data += resp.data
            if len(data) > limit:
                raise DataFormatError(f"file EF{ef & 0xFF:02X} holds more than {limit} bytes")
            if len(resp.data) < BINARY_CHUNK or len(data) > 0x7FFF - BINARY_CHUNK:
                break
        return bytes(data)

    def update_item(self, ef: int, tag: int, occurrence: int, value: bytes) -> None:
        """UPDATE RECORD of the ``occurrence``-th item ``tag`` (the first: by tag, appended when
        missing, §5; a later one: by its record number, which must exist)."""
        record = simple_encode(tag, value)
        if occurrence == 1:
            sfi = self._sfi(ef)
            self.channel.send(commands.update_record(record, tag, by_tag=True, sfi=sfi))
            return
        seen = 0
        for number, existing in enumerate(self._records(ef), 1):
            if existing[:1] == bytes((tag,)):
                seen += 1
                if seen == occurrence:
                    sfi = self._sfi(ef)
                    self.channel.send(commands.update_record(record, number, by_tag=False, sfi=sfi))
                    return
        raise status.RecordNotFound(status.RECORD_NOT_FOUND, commands.INS_UPDATE_RECORD)


def _quiet_reset(reader: Reader) -> None:
    """Power-cycle a held simulated card after a call; a card pulled out has nothing to reset."""
    try:
        reader.reset()
    except SSCardError:
        pass


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return codec.an_decode(raw) or None
    except DataFormatError:
        return None


# --- the source -----------------------------------------------------------------------------


@dataclass
class _Counters:
    opened: int = 0
    waited: int = 0
    active: int = 0
    max_active: int = 0
    last_wait_ms: float = 0.0


@dataclass
class _ReaderSlot:
    name: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: Reader | None = None  # a simulated reader, kept for the source's life


class CardSource:
    """The readers and security module of one configuration (see the module docstring)."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.security: SecurityMode = config.security
        self._sam_lock = threading.RLock()
        self._psam: SecurityModule | None = None
        self._psam_reader: Reader | None = None
        self._software: SecurityModule | None = None
        self.counters = _Counters()
        self._counter_lock = threading.Lock()
        self._pads: dict[str, PinPadInfo | None] = {}
        contact = _ReaderSlot(self._contact_name())
        if config.sim is not None and config.sim is not False:
            contact.held = open_reader(sim=config.sim)
            contact.held.connect()  # the card file is opened (and held) for the source's life
        self._slots: dict[bool, _ReaderSlot] = {False: contact}
        if config.contactless:
            self._slots[True] = _ReaderSlot(config.contactless)

    def _contact_name(self) -> str:
        if self.config.sim is not None and self.config.sim is not False:
            if self.config.sim is True:
                return "sscard simulator"
            return f"sscard simulator ({self.config.sim})"
        return self.config.reader or "(no reader)"

    # -- facts --------------------------------------------------------------------------------

    @property
    def has_contactless(self) -> bool:
        return True in self._slots

    def reader_name(self, contactless: bool = False) -> str:
        return self._slots[contactless].name

    def reader_names(self) -> list[str]:
        return [slot.name for slot in self._slots.values()]

    def terminal_number(self) -> str:
        """终端机编号: the PSAM's (EF 0016, §11), else ``000000000000`` (national-interface §3;
        the rule is :func:`terminal.models.national_terminal_number`'s)."""
        inner = None
        if self.security == "psam":
            try:
                with self._sam_lock:
                    self._security_module()
                    inner = getattr(self._psam, "_inner", None)
            except SamFailure:
                inner = None
        return national_terminal_number(inner)

    def card_present(self, contactless: bool = False) -> bool | None:
        """Whether the reader holds a card now (None when it cannot be told)."""
        slot = self._slots[contactless]
        if slot.held is not None:
            return getattr(slot.held, "card", None) is not None
        try:
            from drivers.pcsc import wait_for_card

            wait_for_card(slot.name, 0)
            return True
        except TransportError:
            return False
        except SSCardError:
            return None

    def pad_info(self, reader: Reader, channel: CardChannel) -> PinPadInfo | None:
        """The PIN pad of ``reader`` (part 10 discovery through ``channel``), asked once per
        reader name and kept: a reader's features and control codes do not change."""
        with self._counter_lock:
            if reader.name in self._pads:
                return self._pads[reader.name]
        info = probe(channel)
        if info is not None and not (info.can_verify and info.can_modify):
            info = None
        with self._counter_lock:
            self._pads[reader.name] = info
        return info

    # -- opening ------------------------------------------------------------------------------

    def open(self, contactless: bool = False) -> OpenCard:
        """Lock the reader, power the card, begin the transaction (see :class:`OpenCard`)."""
        slot = self._slots[contactless]
        started = time.monotonic()
        if not slot.lock.acquire(blocking=False):
            with self._counter_lock:
                self.counters.waited += 1
            if not slot.lock.acquire(timeout=self.config.lock_timeout):
                raise NationalError(READER_CONNECTION, "读卡器正被其他程序使用")
        stack = ExitStack()
        stack.callback(slot.lock.release)
        try:
            stack.callback(self._leave)
            self._enter((time.monotonic() - started) * 1000)
            reader = slot.held
            if reader is None:
                selector = self.config.contactless if contactless else self.config.reader
                reader = open_reader(reader=selector, wait=self.config.wait)
                stack.enter_context(reader)  # connect: power the card; disconnect: power down
            else:
                # The simulated card stays open (its file held) for the source's life: a reset at
                # each end is the power cycle, so no security state passes from call to call.
                reader.reset()
                stack.callback(_quiet_reset, reader)
            stack.enter_context(reader.transaction())
            return OpenCard(self, reader, stack)
        except BaseException:
            stack.close()
            raise

    def _enter(self, waited_ms: float) -> None:
        with self._counter_lock:
            c = self.counters
            c.opened += 1
            c.active += 1
            c.max_active = max(c.max_active, c.active)
            c.last_wait_ms = waited_ms

    def _leave(self) -> None:
        with self._counter_lock:
            self.counters.active -= 1

    @contextmanager
    def card(self, contactless: bool = False) -> Iterator[OpenCard]:
        card = self.open(contactless)
        try:
            yield card
        finally:
            card.close()

    # -- the security module ------------------------------------------------------------------

    def _security_module(self) -> SecurityModule | None:
        if self.security == "hsm":
            return None
        if self.security == "software":
            if self._software is None:
                from terminal.sam.software import SoftwareSam

                inner = (
                    SoftwareSam.from_key_file(self.config.keys)
                    if self.config.keys is not None
                    else SoftwareSam()
                )
                self._software = _GuardedSam(inner, self, None)
            return self._software
        with self._sam_lock:
            if self._psam is None:
                self._psam = self._open_psam()
            return self._psam

    def _open_psam(self) -> SecurityModule:
        from terminal.sam.psam import PsamSam

        try:
            if self.config.psam_sim is not None:
                reader = open_reader(sim=self.config.psam_sim)
            elif self.config.psam_reader is not None:
                reader = open_reader(reader=self.config.psam_reader, wait=self.config.wait)
            else:
                raise SamFailure("absent", "no PSAM is configured")
        except SSCardError as exc:
            raise SamFailure("absent", f"the PSAM cannot be used: {exc}") from None
        try:
            reader.connect()
            with reader.transaction():
                inner = PsamSam(CardChannel(reader))
        except SSCardError as exc:
            reader.disconnect()
            raise SamFailure("absent", f"the PSAM cannot be used: {exc}") from None
        self._psam_reader = reader
        return _GuardedSam(inner, self, reader)

    def _drop_psam(self) -> None:
        """Forget a PSAM that failed at the transport level: the next use opens it again."""
        with self._sam_lock:
            reader, self._psam_reader, self._psam = self._psam_reader, None, None
            if reader is not None:
                reader.disconnect()

    def psam_label(self) -> str | None:
        if self.security != "psam":
            return None
        try:
            module = self._security_module()
        except SamFailure:
            return None
        return module.label if module is not None else None

    def close(self) -> None:
        """Release the PSAM and the simulated cards (service shutdown)."""
        self._drop_psam()
        for slot in self._slots.values():
            if slot.held is not None:
                slot.held.disconnect()
