"""The front door: one call opens a card for a point-of-sale program (issue 11).

::

    import terminal

    with terminal.open_card(sim=True) as card:       # or reader="0"; sam=... (see below)
        found = card.check()                           # read + every check, genuineness included
        print(found.card.holder.name, found.verdict)   # "ok" | "failed" | "unverified"

:func:`open_card` wires what a terminal needs — the reader (PC/SC or the in-process simulator),
one reader transaction for the whole visit (lessons-from-peers: nobody slips in between our
SELECT and our VERIFY), the security module, the APDU tracer, the channel and the
:class:`terminal.session.CardSession` — and releases all of it whatever happens (a card error,
Ctrl-C).  The :class:`Card` it yields has one method per thing a counter does; each runs the
library's one path for it (:func:`terminal.inspect.read_and_check`, :mod:`terminal.pin`,
:mod:`terminal.workflows`), and the session under them re-selects only what is not selected.
The CLI builds its options into exactly this call (:mod:`terminal.cli.options`).

The security module, ``sam=`` (card-profile §7, §11):

================================  ==================================================================
``SecurityModule`` instance       used as it is (yours: the card does not close it)
``"test"``                        the software module with the published TEST keys (§7.7);
                                  the default with ``sim``
``"keys:FILE"``                   a software module from a TEST key file (``--keys FILE``)
``"psam-reader:R"``               a PSAM card in PC/SC reader R: index, exact name or a pattern
                                  (``--psam-reader R``)
``"psam:FILE"`` or a path         a simulated PSAM card file (``--psam FILE``); a ``str`` that is
                                  none of the forms above is such a path (``Path("test")`` for a
                                  file named ``test``)
``None``                          none: the default with ``reader``.  A 3.00 card still yields
                                  EF05, and the card's genuineness is unverified (the verdicts
                                  say so, and ``notes`` is told once)
================================  ==================================================================

Lower layers stay public for APDU work: ``card.session`` (:class:`CardSession`),
``card.channel`` (:class:`drivers.channel.CardChannel`: ``transmit``, ``send``), ``card.reader``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final, Literal

import terminal.pin as pinops
from apdu import part10
from apdu.errors import (
    ControlNotSupported,
    NoCardError,
    PinLengthError,
    TransportError,
    UsageError,
)
from apdu.extensions import Extension
from drivers.base import Reader
from drivers.channel import CardChannel, Tracer
from drivers.open import open_reader
from drivers.pinpad import PinPad, probe
from terminal.activation import ActivationStatus, decide
from terminal.appread import FilesRead, load_extension, read_files, select_files
from terminal.bank import BankRecord, bank_record, select_bank
from terminal.bankhost import BankHost
from terminal.genuine import NO_SAM
from terminal.inspect import Inspection, inspect_card, read_and_check
from terminal.models import CardRead, national_terminal_number
from terminal.photo import Photo, read_photo
from terminal.pinblock import PinKey
from terminal.pinpolicy import PinInput, PinPolicy
from terminal.pinsource import (
    PIN_PAD_MODES,
    ListPinSource,
    PinPadMode,
    PinPadPinSource,
    PinSource,
)
from terminal.pinstatus import PinStatus
from terminal.policy import SalePolicy
from terminal.reading import read_card
from terminal.sam.base import SecurityModule
from terminal.session import CardSession
from terminal.workflows.activation import ActivationResult
from terminal.workflows.pharmacy import PharmacyResult, read_area_code


class _Default(Enum):
    DEFAULT = "default"


#: ``sam=`` left out: the TEST software module with ``sim``, none with ``reader``.
DEFAULT: Final = _Default.DEFAULT

Notes = Callable[[str], None]
SamSpec = SecurityModule | str | os.PathLike[str] | None


# --- opening ------------------------------------------------------------------------------------


def _psam(reader: Reader, stack: ExitStack, tracer: Tracer | None) -> SecurityModule:
    from terminal.sam.psam import PsamSam

    stack.enter_context(reader)
    stack.enter_context(reader.transaction())
    return PsamSam(CardChannel(reader, tracer=tracer))


def open_sam(
    sam: SamSpec, stack: ExitStack, *, tracer: Tracer | None = None
) -> SecurityModule | None:
    """The security module ``sam`` names (see the module docstring); what it opens (a PSAM's
    reader) is released by ``stack``, and a module opened here is closed there too."""
    if sam is None or isinstance(sam, SecurityModule):
        return sam
    module: SecurityModule
    if isinstance(sam, str) and sam == "test":
        from terminal.sam.software import SoftwareSam

        module = SoftwareSam()  # the published TEST keys of card-profile §7.7
    elif isinstance(sam, str) and sam.startswith("keys:"):
        from terminal.sam.software import SoftwareSam

        module = SoftwareSam.from_key_file(Path(sam[len("keys:"):]))
    elif isinstance(sam, str) and sam.startswith("psam-reader:"):
        module = _psam(open_reader(reader=sam[len("psam-reader:"):]), stack, tracer)
    else:
        path = sam[len("psam:"):] if isinstance(sam, str) and sam.startswith("psam:") else sam
        if isinstance(path, str) and not path.strip():
            raise UsageError("sam: an empty PSAM file name")
        module = _psam(open_reader(sim=Path(path)), stack, tracer)
    stack.callback(module.close)
    return module


def _tracer(trace: bool | Tracer | None) -> Tracer | None:
    if trace is None or trace is False:
        return None
    if trace is True:
        from drivers.trace import StreamTracer

        return StreamTracer(sys.stderr)
    return trace


def _source(reader: str | Reader | None, sim: bool | str | os.PathLike[str] | None) -> None:
    given = [name for name, value in (("reader", reader), ("sim", sim))
             if value is not None and value is not False]
    if len(given) != 1:
        which = "both" if given else "neither"
        raise UsageError(f"give exactly one of reader=... or sim=... ({which} given)")


@contextmanager
def open_card(
    reader: str | Reader | None = None,
    sim: bool | str | os.PathLike[str] | None = None,
    sam: SamSpec | Literal[_Default.DEFAULT] = DEFAULT,
    *,
    wait: float | None = None,
    trace: bool | Tracer | None = None,
    read_strategy: str = "auto",
    policy: SalePolicy | None = None,
    today: dt.date | None = None,
    notes: Notes | None = None,
    on_waiting: Callable[[], None] | None = None,
    mf_retry: bool = True,
    zhejiang_rule: bool = True,
    pin_pad: PinPadMode = "auto",
    pin_pad_length: int = part10.DEFAULT_PIN_LENGTH,
    pin_pad_timeout: int = part10.DEFAULT_TIMEOUT,
) -> Iterator[Card]:
    """Open the card in ``reader`` (a PC/SC selector: index, exact name or pattern; or a
    :class:`drivers.base.Reader`) or the simulator (``sim=True``: the built-in sample card;
    ``sim="card.json"``: that card file), inside one reader transaction; yield a :class:`Card`.

    ``sam``: the security module (module docstring).  ``wait``: seconds to wait for a card in a
    PC/SC reader (``on_waiting`` is called on each poll; its ``done()``, when it has one, once
    the card is there).  ``trace``: True for the redacted APDU trace on stderr, or a tracer.
    ``read_strategy``: ``auto``, ``by-tag`` or ``multi-record`` (:mod:`terminal.reading`).
    ``policy``: the counter's :class:`SalePolicy` for :meth:`Card.pharmacy` and
    :meth:`Card.activate`.  ``today``: the date the checks judge expiry by (a fixed clock for
    tests; default the system's).  ``notes``: where the card tells the operator things (no
    security module; the initial-PIN probe's cost), one line each.

    ``pin_pad``: where the holder types the social security PIN (issue 13).  ``"auto"``: on the
    reader's PIN pad when it has one (PC/SC part 10 VERIFY/MODIFY_PIN_DIRECT, asked the first time
    a PIN is needed), else as the caller's :class:`PinSource` says; ``"on"``: the pad is required
    (:class:`apdu.errors.ControlNotSupported` when the reader has none); ``"off"``: never the pad.
    On the pad the PIN never reaches this process (:class:`terminal.pinsource.PinPadPinSource`).
    ``pin_pad_length``: the fixed PIN length the pad asks for (part 10 inserts a fixed count;
    a policy's exact length overrides it for a change); ``pin_pad_timeout``: seconds per entry.

    Raises :class:`apdu.errors.UsageError` for a bad combination, and the typed transport errors
    of :mod:`apdu.errors` (no reader, no card, a card file in use...).
    """
    _source(reader, sim)
    if pin_pad not in PIN_PAD_MODES:
        raise UsageError(f"pin_pad must be one of {', '.join(PIN_PAD_MODES)}, not {pin_pad!r}")
    if sam is DEFAULT:
        sam = "test" if sim is not None and sim is not False else None
    with ExitStack() as stack:
        done = getattr(on_waiting, "done", None)
        if done is not None:
            stack.callback(done)
        if isinstance(reader, Reader):
            device = reader
        else:
            device = open_reader(reader=reader, sim=sim, wait=wait, on_waiting=on_waiting)
        stack.enter_context(device)
        if done is not None:
            done()
        stack.enter_context(device.transaction())
        tracer = _tracer(trace)
        module = open_sam(sam, stack, tracer=tracer)
        if tracer is not None and hasattr(tracer, "atr"):
            tracer.atr(device.atr)  # the trace then replays (drivers.replay)
        session = CardSession(
            CardChannel(device, tracer=tracer), sam=module, mf_retry=mf_retry,
            zhejiang_rule=zhejiang_rule, read_strategy=read_strategy,
        )
        card = Card(session, policy=policy, today=today, notes=notes, pin_pad=pin_pad,
                    pin_pad_length=pin_pad_length, pin_pad_timeout=pin_pad_timeout)
        if module is None:
            card.note(NO_SAM)
        yield card


# --- the readers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    """A PC/SC reader as :func:`readers` lists it; ``index`` is what ``reader=`` takes."""

    index: int
    name: str
    #: True: a card is in; False: empty; None: it could not be told (the reader is busy, gone...).
    card_present: bool | None

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "name": self.name, "card_present": self.card_present}


def readers() -> list[ReaderInfo]:
    """The PC/SC readers in pcscd's order, and whether each holds a card (``sscard readers``)."""
    from drivers.pcsc import list_readers, wait_for_card

    found: list[ReaderInfo] = []
    for index, name in enumerate(list_readers()):
        present: bool | None
        try:
            wait_for_card(name, 0)
            present = True
        except NoCardError:
            present = False
        except TransportError:
            present = None
        found.append(ReaderInfo(index, name, present))
    return found


# --- the card -----------------------------------------------------------------------------------


class Card:
    """One card, opened by :func:`open_card` (or built on a session you made yourself).

    Every method runs one of the library's paths on :attr:`session`, which selects only what
    is not selected already; results are the library's own types.  Errors are typed, from
    :class:`apdu.errors.SSCardError`: a wrong PIN is :class:`apdu.status.WrongPin` (never
    retried), a refused sale :class:`terminal.workflows.CheckFailed`, and so on.
    """

    def __init__(
        self,
        session: CardSession,
        *,
        policy: SalePolicy | None = None,
        today: dt.date | None = None,
        notes: Notes | None = None,
        pin_pad: PinPadMode = "off",
        pin_pad_length: int = part10.DEFAULT_PIN_LENGTH,
        pin_pad_timeout: int = part10.DEFAULT_TIMEOUT,
    ) -> None:
        self.session = session
        self.policy = policy or SalePolicy()
        self.today = today
        self._notes = notes
        #: ``auto`` / ``on`` / ``off``: see :func:`open_card`.
        self.pin_pad_mode: PinPadMode = pin_pad
        self._pad_length = pin_pad_length
        self._pad_timeout = pin_pad_timeout
        self._pad: PinPad | None = None
        self._no_pad = "no PIN pad"
        self._probed = pin_pad == "off"
        #: the social security PIN: status, verify, change, unblock, reset, the initial-PIN probe.
        self.pin = CardPin(self)

    def __repr__(self) -> str:
        return f"Card({self.session!r})"

    # -- the lower layers --------------------------------------------------------------------------

    @property
    def channel(self) -> CardChannel:
        return self.session.channel

    @property
    def reader(self) -> Reader:
        return self.session.channel.reader

    @property
    def sam(self) -> SecurityModule | None:
        return self.session.sam

    @property
    def atr(self) -> bytes:
        return self.session.atr

    @property
    def apdus(self) -> int:
        """Command APDUs sent to the card so far (GET RESPONSE included)."""
        return self.session.channel.apdu_count

    def note(self, text: str) -> None:
        """Tell the operator ``text`` (one line) through ``notes``, when one was given."""
        if self._notes is not None:
            self._notes(text)

    # -- where the PIN is typed (issue 13) ---------------------------------------------------------

    @property
    def pin_pad(self) -> PinPad | None:
        """The reader's PIN pad when this card uses it (``pin_pad`` auto with a pad, or on);
        None for host entry.  The reader is asked once (part 10 discovery: no APDU)."""
        if not self._probed:
            info = probe(self.session.channel)
            self._probed = True
            usable = info is not None and info.can_verify and info.can_modify
            if usable and info is not None and self.pin_pad_mode == "auto":
                try:  # auto: a pad that cannot take the deployment's length is not used
                    info.limits.check(self._pad_length)
                except PinLengthError:
                    usable = False
            if usable and info is not None:
                self._pad = PinPad(self.session.channel, info, pin_length=self._pad_length,
                                   timeout=self._pad_timeout)
            elif info is not None:
                self._no_pad = "no PIN pad for both VERIFY and CHANGE"
        if self._pad is None and self.pin_pad_mode == "on":  # every time: never a fallback
            raise ControlNotSupported(
                f"{self.reader.name} has {self._no_pad} (PC/SC part 10); "
                "use --pin-pad auto or off"
            )
        return self._pad

    def pin_source(self, host: PinSource | PinInput | None = None) -> PinSource | PinInput:
        """Where the social security PIN comes from for this card: the reader's PIN pad
        (:class:`PinPadPinSource`, ``host`` kept for PINs a pad cannot take) when the card uses
        one, else ``host`` as given.  Digits given with ``pin_pad="on"`` are refused: the PIN
        belongs on the pad."""
        if isinstance(host, PinPadPinSource):
            return host
        if isinstance(host, bytes | bytearray | str):
            if self.pin_pad_mode == "on":
                raise UsageError("pin_pad='on': the PIN is typed on the PIN pad, not passed in")
            return host
        pad = self.pin_pad
        if pad is not None:
            return PinPadPinSource(pad, host)
        if host is None:
            raise UsageError("no PIN source was given and the reader has no PIN pad")
        return host

    def _entry(self, host: PinSource) -> PinSource:
        source = self.pin_source(host)
        assert not isinstance(source, bytes | bytearray | str)
        return source

    def reset(self) -> bytes:
        """Warm-reset the card: its security state (and the session's) is gone; the ATR."""
        return self.session.reset()

    def terminal_number(self) -> str:
        """终端机编号: the PSAM's (12 digits) when a PSAM is the module, else ``000000000000``."""
        return national_terminal_number(self.session.sam)

    def _today(self, today: dt.date | None) -> dt.date | None:
        return today if today is not None else self.today

    # -- read and check ----------------------------------------------------------------------------

    def read(self, strategy: str | None = None) -> CardRead:
        """The §12 read: issuer (EF05) and holder (EF06) data, decoded (:mod:`terminal.reading`)."""
        return read_card(self.session, strategy)

    def check(self, *, today: dt.date | None = None, photo: bool = False) -> Inspection:
        """Read, then EVERY check — genuineness (internal authentication) and the PIN state
        included: ``.verdict`` is ``ok``, ``failed`` or ``unverified`` (fail closed), ``.checks``
        the report, ``.card`` the data (None for a blocked card), ``.genuine`` True/False/None.
        ``photo``: read the photo too (``.photo``), so that the ``photo`` check judges it."""
        return read_and_check(self.session, today=self._today(today), photo=photo)

    def inspect(
        self, *, checks: bool = True, status: bool = True, today: dt.date | None = None
    ) -> Inspection:
        """Everything at once: read, PIN state, genuineness, checks, activation status."""
        return inspect_card(self.session, checks=checks, status=status, today=self._today(today))

    def status(
        self, *, probe_initial_pin: bool = False, today: dt.date | None = None
    ) -> ActivationStatus:
        """Is the card activated? (:mod:`terminal.activation`)  ``probe_initial_pin``: ask the
        card once whether the initial PIN 123456 is still set — ONE VERIFY 123456, which costs a
        changed PIN a try until the holder's next correct entry (``notes`` is told first);
        refused with 2 or fewer tries left (:func:`terminal.pin.probe_initial_pin`)."""
        found = inspect_card(self.session, checks=False, status=True, today=self._today(today))
        assert found.status is not None
        if not (probe_initial_pin and found.card is not None and found.pin is not None):
            return found.status
        tries = found.pin.tries_left or 0
        if found.pin.state == "enabled" and tries >= pinops.PROBE_MIN_TRIES:
            self.note(pinops.PROBE_CAVEAT)
        probed = pinops.probe_initial_pin(self.session, known_status=found.pin)
        pin_after = (
            PinStatus("enabled", probed.tries_left) if found.pin.state == "enabled" else found.pin
        )
        return decide(
            found.card, pin_after,
            application_blocked=found.application_blocked,
            card_blocked=found.card_blocked,
            bank_application=found.bank_application,
            today=self._today(today),
            genuine=found.genuine,
            genuine_detail=found.genuine_detail,
            initial_pin=probed.initial_pin,
        )

    # -- the bank application and the medical data -------------------------------------------------

    def has_bank(self) -> bool:
        """Whether the card has the bank application (§9): one SELECT, unless already there."""
        if self.session.selected == "BANK":
            return True
        return select_bank(self.session)

    def bank(self, *, gpo: bool = False) -> BankRecord:
        """The bank record with the PAN (masked in ``repr`` and JSON); ``gpo``: the EMV route."""
        return bank_record(self.session, gpo=gpo)

    def area_code(self, pin: PinSource | PinInput | None = None) -> str:
        """The medical insurance area code (DF04 EF05 tag 84).  It needs the PIN: unless it was
        verified in this session, ``pin`` is verified first (status, then ONE VERIFY)."""
        if not self.session.pin_verified and (pin is not None or self.pin_pad is not None):
            self.pin.verify(pin)
        return read_area_code(self.session)

    # -- the application files and the photo (issue 15) --------------------------------------------

    def read_files(
        self,
        files: str | Sequence[str] = "all",
        *,
        pin: PinSource | PinInput | None = None,
        extension: Extension | str | os.PathLike[str] | None = None,
        strategy: str | None = None,
    ) -> FilesRead:
        """The application files ``files`` names (``"DF04"``, ``"DF01,DF04/EF08"``, ``"all"``:
        :func:`terminal.appread.select_files`), opened with what is at hand — ``pin`` (a source
        asked at most once, or the PIN itself; ONE VERIFY for the whole read) and the security
        module's RK keys — and decoded with the shared tables (:mod:`terminal.appread`).
        ``extension``: a region's declaration (:class:`apdu.extensions.Extension` or its TOML
        file).  Files that could not be opened are in ``.not_opened``, with the reason."""
        ext = load_extension(extension) if isinstance(extension, (str, os.PathLike)) else extension
        given = None if pin is None else self.pin_source(pin)  # the pad when the card uses one
        source = given if given is None or isinstance(given, PinSource) else ListPinSource([given])
        return read_files(
            self.session, select_files(files, ext), pin_source=source, extension=ext,
            strategy=strategy,
        )

    def photo(self) -> Photo:
        """The holder's photo (SSSE EF08, after RKSSSE through the security module), read in the
        fewest READ BINARY the reader allows, checked and without its padding
        (:mod:`terminal.photo`); ``.data`` is the JPEG or BMP file, ``.to_json()`` has base64."""
        return read_photo(self.session)

    # -- the two workflows -------------------------------------------------------------------------

    def pharmacy(
        self,
        pin_source: PinSource,
        *,
        policy: SalePolicy | None = None,
        change_initial_pin: bool = False,
        pin_policy: PinPolicy | None = None,
        today: dt.date | None = None,
    ) -> PharmacyResult:
        """The pharmacy sale (:mod:`terminal.workflows.pharmacy`) under ``policy`` (default: the
        card's, from :func:`open_card`)."""
        from terminal.workflows.pharmacy import pharmacy

        return pharmacy(
            self.session, self._entry(pin_source), today=self._today(today),
            policy=policy or self.policy,
            change_initial_pin=change_initial_pin, pin_policy=pin_policy,
        )

    def activate(
        self,
        *,
        clerk_name: str,
        clerk_id_number: str,
        pin_source: PinSource,
        bank_host: BankHost | None = None,
        pin_key: PinKey | str | os.PathLike[str] | None = None,
        fmt: int = 0,
        pin_policy: PinPolicy | None = None,
        policy: SalePolicy | None = None,
        bank_gpo: bool = False,
        today: dt.date | None = None,
        photo: bool = True,
    ) -> ActivationResult:
        """The bank activation kiosk (:mod:`terminal.workflows.activation`).

        ``pin_key``: the terminal PIN key — a :class:`terminal.pinblock.PinKey`, a key file path,
        or None for the built-in TEST key of ``fmt`` (0: 3DES, 4: SM4); loaded before anything is
        sent.  ``bank_host`` None: the LOOPBACK TEST host (:class:`LoopbackBankHost`), which
        checks the block with that key and keeps nothing.  ``photo``: read the holder's photo
        for the clerk (``result.photo``; base64 in ``to_json()``).
        """
        from terminal.bankhost import LoopbackBankHost
        from terminal.workflows.activation import activate

        if pin_key is None:
            key = PinKey.test(fmt)
        elif isinstance(pin_key, PinKey):
            key = pin_key
        else:
            key = PinKey.from_file(Path(pin_key), fmt)
        host = bank_host if bank_host is not None else LoopbackBankHost(keys={fmt: key})
        return activate(
            self.session, clerk_name=clerk_name, clerk_id_number=clerk_id_number,
            pin_source=self._entry(pin_source), bank_host=host, policy=pin_policy, pin_key=key,
            fmt=fmt,
            today=self._today(today), sale_policy=policy or self.policy, bank_gpo=bank_gpo,
            photo=photo,
        )


class CardPin:
    """The social security PIN of one :class:`Card` (card-profile §6; :mod:`terminal.pin`).

    PINs come as a :class:`terminal.pinsource.PinSource` (asked only when needed) or as
    ``bytearray`` (wiped after use), ``bytes`` or ``str``.  No VERIFY is ever retried.
    """

    def __init__(self, card: Card) -> None:
        self._card = card

    @property
    def _session(self) -> CardSession:
        return self._card.session

    def status(self) -> PinStatus:
        """The empty VERIFY: not enabled / enabled with N tries left / blocked; no try used."""
        return pinops.status_of(self._session)

    def verify(
        self, pin: PinSource | PinInput | None = None, *, known_status: PinStatus | None = None
    ) -> pinops.VerifyResult:
        """Status first (unless ``known_status``), then ONE VERIFY; a blocked PIN is not tried.
        On the reader's PIN pad when the card uses one (``pin`` may then be None)."""
        return pinops.verify(self._session, self._card.pin_source(pin), known_status=known_status)

    def change(
        self,
        old: PinSource | PinInput | None = None,
        new: PinSource | PinInput | None = None,
        *,
        policy: PinPolicy | None = None,
        birth_date: dt.date | None = None,
        known_status: PinStatus | None = None,
    ) -> pinops.PinOpResult:
        """CHANGE PIN; ``new`` None asks ``old`` (a source) for the new PIN too, twice.  The
        ``policy`` is checked before anything is sent; with ``forbid_birth_date`` the holder's
        birth date is read from the card unless given."""
        policy = policy or PinPolicy()
        old = self._card.pin_source(old)
        if isinstance(old, PinPadPinSource):  # no digit on the host: nothing to compare with
            return pinops.pad_change(self._session, old, policy, known_status=known_status)
        birth = birth_date if birth_date is not None else self.birth_date_for(policy)
        return pinops.change(
            self._session, old, old if new is None else new, policy, birth,
            known_status=known_status,
        )

    def unblock(self) -> pinops.PinOpResult:
        """Counter staff: reset the try counter, keep the PIN (needs the security module)."""
        return pinops.unblock(self._session)

    def reset(
        self, new: PinSource | PinInput, *, policy: PinPolicy | None = None
    ) -> pinops.PinOpResult:
        """Counter staff: a new PIN without the old one (needs the security module); the
        ``policy``, when given, is checked before anything is sent (``forbid_birth_date``:
        against the holder's birth date, read from the card)."""
        if isinstance(new, PinPadPinSource):  # the security module encrypts it: host entry
            new = new.host_entry("new PIN of a reset")
        birth = self.birth_date_for(policy) if policy is not None else None
        return pinops.reset(self._session, new, policy, birth_date=birth)

    def probe_initial(self, *, known_status: PinStatus | None = None) -> pinops.ProbeResult:
        """Is the initial PIN 123456 still set?  ONE VERIFY 123456, only when safe."""
        return pinops.probe_initial_pin(self._session, known_status=known_status)

    def birth_date_for(self, policy: PinPolicy) -> dt.date | None:
        """The holder's birth date (EF06 tag 0D, §4), read only when the policy needs it."""
        if not policy.forbid_birth_date:
            return None
        card = read_card(self._session)
        if card.holder is None or card.holder.birth_date is None:
            raise UsageError(
                "--forbid-birth-date needs the holder's birth date; it could not be read"
            )
        return card.holder.birth_date


__all__ = ["DEFAULT", "Card", "CardPin", "ReaderInfo", "open_card", "open_sam", "readers"]
