"""THE card work behind the bridge's high-level messages: every card access of the bridge is here.

One :class:`CardWork` per WebSocket connection.  Each method opens the card through the service's
card source (:class:`terminal.national.card.CardSource`: the reader's lock, one PC/SC transaction,
one operation at a time per reader), does one high-level operation through the front door's
:class:`terminal.card.Card` on that card's session — the very calls ``sscard read``, ``check``,
``status``, ``pin`` and ``pharmacy`` make, so a card reads and fails the same way through the
bridge as at the command line — closes the card, and returns a JSON-ready dict.

PIN entry never involves the page: the reader's PIN pad when it has one (PC/SC part 10,
:mod:`drivers.pinpad`) and the configuration allows it, else the service's local ``pinentry``
prompt, whose description names the web origin that asks (Web eID shows the origin in its PIN
dialog too).  The pad path cannot run the host-side rules that need the digits (the initial PIN
at a sale, trivial new PINs): the card and the pad's length check are its rules.

Failures become :class:`WorkError` with a stable code for the page (:data:`ERROR_CODES`, a table
from sscard's typed errors); a message never holds a PIN.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import terminal.pin as pinops
from apdu import commands, part10
from apdu import status as sw
from apdu.errors import (
    CardNotSupportedError,
    CardRemovedError,
    ControlNotSupported,
    NoCardError,
    NoReaderError,
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    PinLengthError,
    PinPadError,
    PolicyError,
    ReaderGoneError,
    SSCardError,
    TransportError,
)
from terminal.inspect import read_checked
from terminal.national.card import CardSource, OpenCard
from terminal.national.codes import NationalError, SamFailure
from terminal.national.facade import NationalConfig
from terminal.national.pinentry import (
    PinEntryError,
    PinentrySession,
    Requester,
    choose_pin_entry,
    pad_timeout,
)
from terminal.photo import try_photo
from terminal.pinpolicy import INITIAL_PIN, PinPolicy, same_pin
from terminal.pinsource import PinPadPinSource, confirmed, wipe
from terminal.pinstatus import PinStatus
from terminal.workflows import CheckFailed, WorkflowRefused
from terminal.workflows.activation import HolderMismatch, match_holder
from terminal.workflows.pharmacy import INITIAL_PIN_MESSAGE, InitialPinRefused

#: The photo's media type for its data: URL, by the image kind apdu.images finds.
_MIME = {"jpeg": "image/jpeg", "bmp": "image/bmp"}

#: What the holder sees in the local prompt for each PIN the terminal asks (terminal.pin's words).
_PROMPTS = {
    pinops.PROMPT_PIN: ("密码 PIN:", "校验社会保障卡密码"),
    pinops.PROMPT_CURRENT: ("原密码 current PIN:", "修改社会保障卡密码:输入原密码"),
    pinops.PROMPT_NEW: ("新密码 new PIN:", "设置新的社会保障卡密码"),
}


def _refuse_blocked(known: PinStatus) -> None:
    """A blocked PIN is reported, never tried (§6)."""
    if known.blocked:
        raise sw.PinBlocked(sw.AUTH_METHOD_BLOCKED, commands.INS_VERIFY)


class WorkError(Exception):
    """A high-level operation failed: ``code`` for the page, ``message`` for people, extras."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


#: sscard's typed errors -> the page's error codes (first match wins: subclasses first).
ERROR_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (WorkError, ""),
    (sw.WrongPin, "wrong_pin"),
    (sw.PinBlocked, "pin_blocked"),
    (PinEntryCancelled, "pin_cancelled"),
    (PinEntryTimeout, "pin_timeout"),
    (PinEntryMismatch, "pin_mismatch"),
    (PinLengthError, "pin_length"),
    (PinPadError, "pin_pad"),
    (InitialPinRefused, "initial_pin_refused"),
    (CheckFailed, "check_failed"),
    (HolderMismatch, "holder_mismatch"),
    (WorkflowRefused, "refused"),
    (PolicyError, "pin_policy"),
    (SamFailure, "security_module"),
    (NoCardError, "no_card"),
    (CardRemovedError, "card_removed"),
    (NoReaderError, "no_reader"),
    (ReaderGoneError, "no_reader"),
    (TransportError, "reader"),
    (CardNotSupportedError, "not_a_social_security_card"),
    (sw.ApplicationBlocked, "application_blocked"),
    (SSCardError, "card_error"),
)

_ENTRY_CODES = {"cancel": "pin_cancelled", "timeout": "pin_timeout",
                "unavailable": "pin_entry_unavailable"}


def error_of(exc: BaseException) -> WorkError:
    """The :class:`WorkError` an exception means for the page (its text is sscard's one line)."""
    if isinstance(exc, WorkError):
        return exc
    if isinstance(exc, PinEntryError):
        return WorkError(_ENTRY_CODES[exc.kind], str(exc))
    if isinstance(exc, NationalError):  # the PIN prompt cannot be used (national -13)
        return WorkError("pin_entry_unavailable", exc.text)
    for kind, code in ERROR_CODES:
        if isinstance(exc, kind):
            extra: dict[str, Any] = {}
            if isinstance(exc, sw.WrongPin):
                extra["tries_left"] = exc.tries_left
            if isinstance(exc, CheckFailed):
                extra["failures"] = [{"check": n, "detail": d} for n, d in exc.failures]
            return WorkError(code, str(exc).splitlines()[0] if str(exc) else code, **extra)
    raise exc


def card_events(source: CardSource, contactless: bool) -> Iterator[bool]:
    """True / False each time a card is inserted in / removed from the reader (PC/SC events,
    :func:`drivers.events.watch`).  A simulated card held in-process has no events: the
    subscription's first answer says it is present."""
    cfg = source.config
    if not contactless and cfg.sim is not None and cfg.sim is not False:
        return
    from drivers.events import watch

    for event in watch(cfg.contactless if contactless else cfg.reader):
        if event.kind == "inserted":
            yield True
        elif event.kind in ("removed", "reader_removed"):
            yield False


class _LocalPins:
    """A :class:`terminal.pinsource.PinSource` on the service's local pinentry prompt."""

    def __init__(self, work: CardWork, operation: str) -> None:
        self._work = work
        self._operation = operation
        self._entry: PinentrySession | None = None

    def _ask(self, prompt: str) -> bytearray:
        label, action = _PROMPTS.get(prompt, (prompt, prompt))
        if self._entry is None:
            self._entry = self._work.open_prompt()
        who = Requester(self._operation, None, self._work.requester)
        return self._entry.get(label, who.describe(action))

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        first = self._ask(prompt)
        if not confirm:
            return first
        try:
            second = self._ask(prompt)
        except BaseException:
            wipe(first)
            raise
        return confirmed(first, second, prompt)

    def close(self) -> None:
        if self._entry is not None:
            self._entry.close()
            self._entry = None


class CardWork:
    """The high-level operations for one connection (module docstring).

    ``requester``: who asks, shown in the PIN prompt (the web origin); ``watch_fd``: a descriptor
    whose hang-up cancels a PIN prompt (the connection went away).
    """

    def __init__(self, source: CardSource, config: NationalConfig, requester: str,
                 watch_fd: int | None = None) -> None:
        self.source = source
        self.config = config
        self.requester = requester
        self.watch_fd = watch_fd
        #: 卡识别码 of the card activation_check accepted: later steps must see the same card.
        self._activation_card: bytes | None = None

    # -- the card -----------------------------------------------------------------------------

    @contextmanager
    def _card(self, contactless: bool) -> Iterator[OpenCard]:
        if contactless and not self.source.has_contactless:
            raise WorkError("no_contactless_reader", "no contactless reader is configured")
        with self.source.card(contactless) as card:
            yield card

    def present(self) -> dict[str, bool | None]:
        """Whether each reader holds a card (no card I/O on a held simulated card)."""
        out = {"contact": self.source.card_present(False)}
        if self.source.has_contactless:
            out["contactless"] = self.source.card_present(True)
        return out

    # -- PIN entry ----------------------------------------------------------------------------

    def open_prompt(self) -> PinentrySession:
        mode = self.config.pin_entry
        return choose_pin_entry(
            "pinentry" if mode == "auto" else mode,
            self.config.pinentry,
            reader_has_pad=False,
            title="社会保障卡密码 / social security card PIN",
            watch_fd=self.watch_fd,
        )

    def _pad(self, card: OpenCard) -> PinPadPinSource | None:
        """The reader's PIN pad when the configuration lets it be used, else None (prompt):
        the card adapter's, whose discovery is asked once per reader (the national facade's)."""
        mode = self.config.pin_entry
        if mode not in ("auto", "pad"):
            return None
        try:
            pad = card.pin_pad(self.config.pin_length or part10.DEFAULT_PIN_LENGTH,
                               pad_timeout(self.config.pinentry.timeout))
        except ControlNotSupported:
            pad = None
        if pad is None and mode == "pad":
            raise WorkError("pin_entry_unavailable", "the reader has no PIN pad")
        return pad

    @contextmanager
    def _pins(self, operation: str) -> Iterator[_LocalPins]:
        pins = _LocalPins(self, operation)
        try:
            yield pins
        finally:
            pins.close()

    def _verify(self, card: OpenCard, operation: str, known: PinStatus) -> dict[str, Any]:
        """One VERIFY with the PIN typed on the pad or the local prompt (status already known),
        through the front door's PIN (:class:`terminal.card.CardPin`)."""
        _refuse_blocked(known)
        if known.state == "not_enabled":
            return {"result": "not_enabled", "tries_left": None, "entry": None}
        pad = self._pad(card)
        if pad is not None:  # through the session: it knows the PIN is verified afterwards
            card.verify_pin_on_pad(pad, known)
            return {"result": "verified", "tries_left": known.tries_left, "entry": "pad"}
        with self._pins(operation) as pins:
            entry = pins.get(pinops.PROMPT_PIN)
        try:
            if self.config.policy.refuse_initial_pin and same_pin(entry, INITIAL_PIN):
                raise InitialPinRefused(INITIAL_PIN_MESSAGE)
            result = card.card.pin.verify(entry, known_status=known)
        finally:
            wipe(entry)
        return {"result": result.outcome, "tries_left": result.tries_left, "entry": "prompt"}

    def _pin_policy(self) -> PinPolicy:
        return PinPolicy(length=self.config.pin_length, forbid_trivial=self.config.forbid_trivial)

    def _change(self, card: OpenCard, operation: str, known: PinStatus) -> dict[str, Any]:
        """CHANGE PIN: current PIN, then the new one twice, on the pad or the local prompt."""
        _refuse_blocked(known)
        pad = self._pad(card)
        if pad is not None:
            card.change_pin_on_pad(pad, known)
            return {"result": "changed", "entry": "pad"}
        with self._pins(operation) as pins:
            card.card.pin.change(pins, policy=self._pin_policy(), known_status=known)
        return {"result": "changed", "entry": "prompt"}

    # -- reading (the CLI's calls: sscard read / check / status) ---------------------------------

    def read(self, contactless: bool, photo: bool = False) -> dict[str, Any]:
        with self._card(contactless) as card:
            out: dict[str, Any] = {"card": card.card.read().to_json()}
            if photo:
                out.update(self._photo(card))
            out["apdus"] = card.apdus
        return out

    def _photo(self, card: OpenCard) -> dict[str, Any]:
        """The photo by the CLI's one photo read (:func:`terminal.photo.try_photo`: RKSSSE, the
        fewest READ BINARY, the image's real end): a data: URL, or why there is none."""
        try:
            found = try_photo(card.session)
        except SamFailure as exc:
            return {"photo": None, "photo_note": f"photo not read: {str(exc).splitlines()[0]}"}
        photo = found.photo
        if photo is None:
            return {"photo": None, "photo_note": found.detail.splitlines()[0]}
        url = f"data:{_MIME[photo.kind]};base64,{base64.b64encode(photo.data).decode('ascii')}"
        return {"photo": url, "photo_size": [photo.info.width, photo.info.height]}

    def check(self, contactless: bool) -> dict[str, Any]:
        """``sscard check --json``'s answer (the one read-and-check, every check)."""
        with self._card(contactless) as card:
            return card.card.check().check_json()

    def status(self, contactless: bool) -> dict[str, Any]:
        """``sscard status --json``'s answer (never the initial-PIN probe: it costs a try)."""
        with self._card(contactless) as card:
            return {**card.card.status().to_json(), "apdus": card.apdus}

    def pin_status(self, contactless: bool) -> dict[str, Any]:
        with self._card(contactless) as card:
            st = card.card.pin.status()
        return {"state": st.state, "tries_left": st.tries_left}

    # -- PIN ----------------------------------------------------------------------------------

    def pin_verify(self, contactless: bool) -> dict[str, Any]:
        with self._card(contactless) as card:
            return self._verify(card, "pin_verify", card.card.pin.status())

    def pin_change(self, contactless: bool) -> dict[str, Any]:
        with self._card(contactless) as card:
            return self._change(card, "pin_change", card.card.pin.status())

    # -- workflows ----------------------------------------------------------------------------

    def pharmacy(self, contactless: bool, change_initial: bool = False) -> dict[str, Any]:
        """The sale: the front door's :meth:`terminal.card.Card.pharmacy` with the PIN typed on
        the local prompt; on a PIN pad the same steps (the one read-and-check with the sale
        policy, ONE VERIFY on the pad, the area code)."""
        with self._card(contactless) as card:
            pad = self._pad(card)
            if pad is not None:  # the same workflow, the PIN typed on the pad
                result = card.card.pharmacy(
                    pad, policy=self.config.policy, change_initial_pin=change_initial,
                    pin_policy=self._pin_policy())
                return {**result.to_json(), "entry": "pad"}
            with self._pins("pharmacy") as pins:
                result = card.card.pharmacy(
                    pins, policy=self.config.policy, change_initial_pin=change_initial,
                    pin_policy=self._pin_policy())
            return {**result.to_json(), "entry": "prompt"}

    def activation_check(self, contactless: bool, name: str, id_number: str) -> dict[str, Any]:
        """Step 1: the activation workflow's first two steps (the one read-and-check with the
        sale policy, then the holder is who the clerk identified); the card's id is kept so
        that the later steps refuse another card."""
        self._activation_card = None
        with self._card(contactless) as card:
            checked = read_checked(card.session, policy=self.config.policy)
            h = checked.holder
            match_holder(h.name, h.ssn, name, id_number)
            self._activation_card = checked.card.issuer.card_id
            return {"name": h.name, "ssn": h.ssn, "card_number": checked.card.issuer.card_number,
                    "genuine": checked.genuine, "pin": checked.pin.state,
                    "tries_left": checked.pin.tries_left, "warnings": checked.warnings,
                    "apdus": card.apdus}

    def _same_card(self, card: OpenCard) -> None:
        expected = self._activation_card
        if expected is None:
            raise WorkError("activation_order", "activation_check comes first")
        if not hmac.compare_digest(card.identity().card_id, expected):
            self._activation_card = None
            raise WorkError("card_changed", "this is not the card activation_check accepted")

    def activation_bank(self, contactless: bool) -> dict[str, Any]:
        with self._card(contactless) as card:
            self._same_card(card)
            if not card.card.has_bank():
                return {"bank_application": False, "masked_pan": None}
            return {"bank_application": True, "masked_pan": card.card.bank().masked_pan}

    def activation_change_pin(self, contactless: bool) -> dict[str, Any]:
        with self._card(contactless) as card:
            self._same_card(card)
            return self._change(card, "activation_change_pin", card.card.pin.status())

    def activation_status(self, contactless: bool) -> dict[str, Any]:
        with self._card(contactless) as card:
            self._same_card(card)
            return {**card.card.status().to_json(), "apdus": card.apdus}

    # -- dispatch -----------------------------------------------------------------------------

    def run(self, name: str, contactless: bool, values: dict[str, Any]) -> dict[str, Any]:
        """The operation ``name`` (a row of the bridge's message table) with its field values."""
        operations: dict[str, Callable[[], dict[str, Any]]] = {
            "read": lambda: self.read(contactless, bool(values.get("photo"))),
            "check": lambda: self.check(contactless),
            "status": lambda: self.status(contactless),
            "pin_status": lambda: self.pin_status(contactless),
            "pin_verify": lambda: self.pin_verify(contactless),
            "pin_change": lambda: self.pin_change(contactless),
            "pharmacy": lambda: self.pharmacy(contactless, bool(values.get("change_initial"))),
            "activation_check": lambda: self.activation_check(
                contactless, values["name"], values["id_number"]),
            "activation_bank": lambda: self.activation_bank(contactless),
            "activation_change_pin": lambda: self.activation_change_pin(contactless),
            "activation_status": lambda: self.activation_status(contactless),
        }
        return operations[name]()
