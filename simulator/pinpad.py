"""A PIN-pad reader's firmware, emulated, and the keypad it reads (issue 13, PC/SC part 10).

A real PIN-pad reader takes a PIN_VERIFY or PIN_MODIFY structure from the host (an APDU
*template* and how to fill it), lets the holder type on its own keypad, inserts the digits into
the template and sends the APDU to the card: the PIN never exists on the host.
:class:`PinPadFirmware` does that for the simulator, in both places a simulated reader lives:
the in-process reader (:class:`drivers.simulated.SimulatedReader`) and the server behind the
pcscd reader driver ``libifd-sscard.so`` (:mod:`simulator.ifdserver`).

Structures are read by :mod:`apdu.part10` the way libccid reads them (a malformed one is
refused with :class:`apdu.errors.ControlNotSupported`, as libccid answers ``IFD_NOT_SUPPORTED``).
Then the firmware, as reader firmware does:

- checks the request before asking for anything: BCD or ASCII digits (``6B80`` otherwise; binary
  coding is not offered), a template with a short data field into which the PIN block fits for
  the longest allowed PIN, blocks that do not overlap (CHANGE), a BCD PIN right-justified only
  for an even count (``6B80``); an allowed range of digits (``wPINMaxExtraDigit`` within the
  pad's own ``bMinPINSize``..``bMaxPINSize``) that is not empty, else ``6403``;
- asks the keypad for each entry (VERIFY: the PIN; MODIFY: the current PIN when bConfirmPIN bit 1,
  the new PIN, and it again when bit 0), each within ``bTimerOut`` seconds (0: the pad's default;
  ``bTimerOut2`` is ignored, as libccid does): Cancel gives ``6401``, no entry ``6400``, a count
  outside the range ``6403``, a confirmation that differs ``6402`` -- and the card receives
  nothing, so no try is used;
- inserts the digits: BCD two a byte or ASCII one a byte, at the position of bmFormatString (its
  units: bytes or bits) for VERIFY, at ``bInsertionOffsetOld``/``New`` bytes for MODIFY, left- or
  right-justified in a block of bmPINBlockString bytes, leaving every other template byte (the F
  padding, the FF separator of CHANGE PIN) as it was; a PIN length field (bmPINBlockString bits
  7-4, at bmPINLengthFormat) for VERIFY;
- sends the APDU to the card and answers the card's response; the digits and the filled APDU are
  wiped (best effort) as soon as the card has answered.

The features, their control codes (libccid's scheme, ``SCARD_CTL_CODE(0x330000 + tag)``), the
PIN properties and the TLV properties come from :class:`PadConfig`.  Nothing here logs a digit:
the log names the operation and the card's status word.

Keypads: :class:`ScriptedKeypad` (a queue, filled by tests or by ``sscard sim keypad`` through the
server's control socket, :func:`keypad_command`) and :class:`TerminalKeypad` (asks on the
simulator's own terminal, no echo).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Literal, Protocol

from apdu import part10
from apdu.errors import ApduFormatError, ControlNotSupported, NoCardError, UsageError

log = logging.getLogger("sscard.pinpad")

#: a link to the powered card: raw command in, response data + SW out.
CardLink = Callable[[bytes], bytes]


# --- keypad -----------------------------------------------------------------------------------


@dataclass
class KeyEntry:
    """One entry on the keypad: digits confirmed with OK, Cancel, or nothing before the timeout."""

    kind: Literal["digits", "cancel", "timeout"]
    digits: bytearray = field(default_factory=bytearray, repr=False)

    def wipe(self) -> None:
        self.digits[:] = bytes(len(self.digits))

    def __repr__(self) -> str:  # never the digits
        return f"KeyEntry({self.kind}, {len(self.digits)} digits)"


class Keypad(Protocol):
    """Where the firmware gets each entry; ``prompt`` names what is asked ("new PIN")."""

    def entry(self, prompt: str, timeout: float) -> KeyEntry: ...


def _digits(text: str | bytes | bytearray) -> bytearray:
    raw = bytearray(text.encode("ascii", "replace") if isinstance(text, str) else text)
    if not all(0x30 <= b <= 0x39 for b in raw):
        raw[:] = bytes(len(raw))
        raise UsageError("a keypad entry is made of the digits 0-9 only")
    if len(raw) > 32:
        raise UsageError("a keypad entry has at most 32 digits")
    return raw


class ScriptedKeypad:
    """Entries queued in advance (or while the pad waits); :meth:`entry` takes the next one.

    Thread-safe: the server's control channel pushes while the firmware waits in another thread.
    """

    def __init__(self, entries: Sequence[str] = ()) -> None:
        self._queue: deque[KeyEntry] = deque()
        self._cond = threading.Condition()
        for text in entries:
            self.push(text)

    def push(self, digits: str | bytes | bytearray) -> None:
        """The holder types ``digits`` and presses OK (an empty entry: OK alone)."""
        self._put(KeyEntry("digits", _digits(digits)))

    def push_cancel(self) -> None:
        """The holder presses Cancel."""
        self._put(KeyEntry("cancel"))

    def push_timeout(self) -> None:
        """The holder walks away: the pad times out at once instead of after bTimerOut."""
        self._put(KeyEntry("timeout"))

    def _put(self, entry: KeyEntry) -> None:
        with self._cond:
            self._queue.append(entry)
            self._cond.notify_all()

    def clear(self) -> int:
        """Drop every queued entry (wiped); how many there were."""
        with self._cond:
            n = len(self._queue)
            for entry in self._queue:
                entry.wipe()
            self._queue.clear()
            return n

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def entry(self, prompt: str, timeout: float) -> KeyEntry:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    return KeyEntry("timeout")
                self._cond.wait(left)
            return self._queue.popleft()

    def __repr__(self) -> str:
        return f"ScriptedKeypad({self.pending} entries queued)"


class TerminalKeypad:
    """Asks on the simulator's own terminal: digits then Enter; ``c`` then Enter cancels.

    ``tty`` is a terminal opened for reading and writing (``/dev/tty`` by default); echo is off
    while the holder types.  Anything but digits cancels the entry (a keypad has no such keys).
    """

    CANCEL_WORDS = frozenset({"c", "cancel", "x"})

    def __init__(self, tty: IO[bytes] | None = None) -> None:
        self._tty = tty

    def _open(self) -> IO[bytes]:
        if self._tty is None:
            try:
                self._tty = open("/dev/tty", "r+b", buffering=0)  # noqa: SIM115 - kept open
            except OSError as exc:
                raise UsageError(f"--keypad terminal needs a terminal ({exc})") from None
        return self._tty

    def entry(self, prompt: str, timeout: float) -> KeyEntry:
        tty = self._open()
        fd = tty.fileno()
        line = bytearray()
        with _no_echo(fd):  # echo off before the prompt: keys typed once asked never show
            tty.write(f"\r\n[sscard PIN pad] enter the {prompt} and press Enter "
                      f"(c = cancel, {timeout:.0f} s): ".encode())
            tty.flush()
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    tty.write(b"\r\n[sscard PIN pad] timed out\r\n")
                    _wipe(line)
                    return KeyEntry("timeout")
                ready, _, _ = select.select([fd], [], [], left)
                if not ready:
                    continue
                chunk = os.read(fd, 64)
                if not chunk:
                    _wipe(line)
                    return KeyEntry("cancel")
                line += chunk
                if b"\n" in line or b"\r" in line:
                    break
        tty.write(b"\r\n")
        text = bytes(line).split(b"\n")[0].split(b"\r")[0].strip()
        _wipe(line)
        if text.decode("ascii", "replace").lower() in self.CANCEL_WORDS:
            return KeyEntry("cancel")
        if not text.isdigit() and text:
            tty.write(b"[sscard PIN pad] digits only: entry cancelled\r\n")
            return KeyEntry("cancel")
        return KeyEntry("digits", bytearray(text))


@contextmanager
def _no_echo(fd: int) -> Iterator[None]:
    """Terminal echo and line editing off for the block (nothing changes for a non-terminal)."""
    import termios

    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        yield
        return
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)
    termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


def keypad_command(keypad: ScriptedKeypad | None, args: Sequence[str]) -> str:
    """The ``keypad`` verb of the simulator's control socket (``sscard sim keypad``).

    ``keypad DIGITS`` queues an entry, ``keypad cancel`` / ``keypad timeout`` the two keys
    without digits, ``keypad clear`` empties the queue, ``keypad status`` counts it.  Answers one
    line without ``ok``/``error`` (the control channel adds it); :class:`UsageError` otherwise.
    """
    if keypad is None:
        raise UsageError("this server has no scripted PIN pad (start it with --pinpad-socket)")
    if len(args) != 1:
        raise UsageError("keypad DIGITS | keypad cancel | keypad timeout | keypad clear | status")
    word = args[0].lower().lstrip("-")
    if word == "cancel":
        keypad.push_cancel()
    elif word == "timeout":
        keypad.push_timeout()
    elif word == "clear":
        return f"keypad cleared ({keypad.clear()} entries dropped)"
    elif word == "status":
        return f"keypad {keypad.pending} entries queued"
    else:
        keypad.push(args[0])
        return f"keypad entry queued ({keypad.pending} queued)"
    return f"keypad {word} queued ({keypad.pending} queued)"


# --- firmware -----------------------------------------------------------------------------------


_FEATURE_REQUEST_CODES = (
    part10.CM_IOCTL_GET_FEATURE_REQUEST,
    part10.CM_IOCTL_GET_FEATURE_REQUEST_WINDOWS,
)


def control_code(feature: int) -> int:
    """The control code this pad gives for ``feature`` (libccid's scheme)."""
    return part10.scard_ctl_code(0x330000 + feature)


@dataclass(frozen=True)
class PadConfig:
    """What the simulated pad reports and enforces (part 10 properties) [choice]."""

    min_pin: int = 4
    max_pin: int = 12
    #: wLcdLayout 0xLLCC: 2 lines of 16 characters.
    lcd_layout: int = 0x0210
    #: seconds a keypad entry may take when the structure's bTimerOut is 0.
    default_timeout: int = 30
    firmware_id: str = "sscard simulated PIN pad"

    def features(self) -> dict[int, int]:
        tags = (
            part10.Feature.VERIFY_PIN_DIRECT,
            part10.Feature.MODIFY_PIN_DIRECT,
            part10.Feature.IFD_PIN_PROPERTIES,
            part10.Feature.GET_TLV_PROPERTIES,
        )
        return {tag: control_code(tag) for tag in tags}

    def tlv_properties(self) -> dict[int, int | bytes]:
        p = part10.Property
        return {
            p.LCD_LAYOUT: self.lcd_layout,
            p.ENTRY_VALIDATION_CONDITION: part10.VALIDATE_KEY,
            p.TIMEOUT2: 0,
            p.MIN_PIN_SIZE: self.min_pin,
            p.MAX_PIN_SIZE: self.max_pin,
            p.FIRMWARE_ID: self.firmware_id.encode("ascii"),
            p.PPDU_SUPPORT: 0,
            p.MAX_APDU_DATA_SIZE: 0,  # short APDUs only
        }

    def pin_properties(self) -> part10.PinProperties:
        return part10.PinProperties(self.lcd_layout, part10.VALIDATE_KEY, 0)


class _Refused(Exception):
    """The firmware answers ``sw`` without asking the keypad or touching the card."""

    def __init__(self, sw: int, why: str) -> None:
        super().__init__(why)
        self.sw = sw


@dataclass(frozen=True)
class _Plan:
    """Where and how the digits go, decided before the keypad is asked."""

    low: int  # fewest digits accepted
    high: int  # most digits accepted
    bits_per_digit: int
    #: bit offsets (from the first data byte) of each PIN block: one for VERIFY; (old, new) or
    #: (new,) for MODIFY
    starts: tuple[int, ...]
    block_bits: int  # 0: as long as the coded PIN
    length_field: tuple[int, int] | None  # (bit offset, bits) of the PIN length, VERIFY only


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class PinPadFirmware:
    """The reader side of PC/SC part 10 for one simulated reader."""

    def __init__(self, keypad: Keypad, config: PadConfig | None = None) -> None:
        self.keypad = keypad
        self.config = config or PadConfig()
        self._codes = self.config.features()
        self._by_code = {code: tag for tag, code in self._codes.items()}
        self._busy = threading.Lock()  # one PIN entry at a time, as on a real pad

    @property
    def features(self) -> dict[int, int]:
        """Feature tag -> control code, as ``GET_FEATURE_REQUEST`` answers them."""
        return dict(self._codes)

    def feature_of(self, code: int) -> int | None:
        """The feature tag a control code of this pad stands for (None: not one of its own)."""
        return self._by_code.get(code)

    # -- the control requests ------------------------------------------------------------------

    def control(self, code: int, request: bytes, card: CardLink | None) -> bytes:
        """Answer one control request; ``card`` is None when no powered card is in the slot.

        Raises :class:`ControlNotSupported` for a code the pad does not know or a structure
        libccid would refuse, :class:`NoCardError` for a PIN request without a powered card.
        """
        if code in _FEATURE_REQUEST_CODES:
            return part10.encode_features(self._codes)
        feature = self._by_code.get(code)
        if feature == part10.Feature.IFD_PIN_PROPERTIES:
            return self.config.pin_properties().to_bytes()
        if feature == part10.Feature.GET_TLV_PROPERTIES:
            return part10.encode_properties(self.config.tlv_properties())
        if feature in (part10.Feature.VERIFY_PIN_DIRECT, part10.Feature.MODIFY_PIN_DIRECT):
            try:
                structure = part10.parse_structure(feature, request)
            except ApduFormatError as exc:
                raise ControlNotSupported(f"PIN pad: {exc}") from None
            if card is None:
                raise NoCardError("PIN pad: no powered card in the slot")
            with self._busy:
                return self._secure(structure, card)
        raise ControlNotSupported(f"PIN pad: control code {code:#010x} is not supported")

    def _secure(self, s: part10.PinVerify | part10.PinModify, card: CardLink) -> bytes:
        op = "VERIFY" if isinstance(s, part10.PinVerify) else "MODIFY"
        try:
            plan = self._plan(s)
        except _Refused as refusal:
            log.info("PIN pad %s refused (%04X): %s", op, refusal.sw, refusal)
            return _sw(refusal.sw)
        timeout = float(s.timeout or self.config.default_timeout)
        entries: list[KeyEntry] = []
        try:
            sw = self._collect(s, plan, timeout, entries)
            if sw is not None:
                log.info("PIN pad %s ended on the pad: %04X (nothing sent to the card)", op, sw)
                return _sw(sw)
            apdu = self._fill(s, plan, entries)
            try:
                response = card(bytes(apdu))
            finally:
                _wipe(apdu)
        finally:
            for entry in entries:
                entry.wipe()
        log.info("PIN pad %s: the card answered %s", op, response[-2:].hex().upper())
        return response

    # -- before the keypad ------------------------------------------------------------------------

    def _plan(self, s: part10.PinVerify | part10.PinModify) -> _Plan:
        if s.encoding == part10.ENCODING_BCD:
            per_digit = 4
        elif s.encoding == part10.ENCODING_ASCII:
            per_digit = 8
        else:
            raise _Refused(part10.SW_FIRMWARE_REFUSED, "only BCD and ASCII digits are supported")
        apdu = s.apdu
        if len(apdu) < 6 or apdu[4] == 0 or len(apdu) - 5 not in (apdu[4], apdu[4] + 1):
            raise _Refused(part10.SW_FIRMWARE_REFUSED, "the template has no short data field")
        data_bits = apdu[4] * 8
        if s.min_digits > s.max_digits or s.max_digits == 0:
            raise _Refused(part10.SW_FIRMWARE_REFUSED, "wPINMaxExtraDigit is not a range")
        low = max(s.min_digits, self.config.min_pin, 1)
        high = min(s.max_digits, self.config.max_pin)
        if low > high:
            raise _Refused(part10.SW_LENGTH, "the asked length is outside the pad's range")
        block_bits = s.block_size * 8
        need = high * per_digit
        if block_bits and need > block_bits:
            raise _Refused(part10.SW_FIRMWARE_REFUSED, "the PIN block cannot hold the longest PIN")
        if s.right_justified and per_digit == 4 and (low % 2 or high % 2 or low != high):
            # a right-justified BCD PIN must fill whole bytes (vsmartcard's reader agrees)
            raise _Refused(part10.SW_FIRMWARE_REFUSED, "right-justified BCD needs an even length")
        length_field = None
        if isinstance(s, part10.PinVerify):
            start = s.position * 8 if s.units_bytes else s.position
            starts: tuple[int, ...] = (start,)
            if s.length_bits:
                pos = s.length_format & part10.LENGTH_POSITION_MASK
                unit = 8 if s.length_format & part10.LENGTH_UNITS_BYTES else 1
                length_field = (pos * unit, s.length_bits)
                if pos * unit + s.length_bits > data_bits:
                    raise _Refused(part10.SW_FIRMWARE_REFUSED, "the length field is outside")
        else:
            if s.length_bits:
                raise _Refused(part10.SW_FIRMWARE_REFUSED, "no PIN length field for MODIFY")
            new = s.offset_new * 8
            starts = (s.offset_old * 8, new) if s.asks_current else (new,)
        span = block_bits or need
        for start in starts:
            if start + span > data_bits:
                raise _Refused(part10.SW_FIRMWARE_REFUSED, "a PIN block lies outside the APDU")
        if len(starts) == 2 and abs(starts[0] - starts[1]) < span:
            raise _Refused(part10.SW_FIRMWARE_REFUSED, "the two PIN blocks overlap")
        return _Plan(low, high, per_digit, starts, block_bits, length_field)

    # -- the keypad -------------------------------------------------------------------------------

    def _collect(
        self, s: part10.PinVerify | part10.PinModify, plan: _Plan, timeout: float,
        entries: list[KeyEntry],
    ) -> int | None:
        """Fill ``entries`` (the PINs to insert, in block order); a reader-made SW or None."""
        if isinstance(s, part10.PinVerify):
            prompts = ["PIN"]
        else:
            prompts = (["current PIN"] if s.asks_current else []) + ["new PIN"]
            if s.confirms_new:
                prompts.append("new PIN again")
        for prompt in prompts:
            entry = self.keypad.entry(prompt, timeout)
            entries.append(entry)
            if entry.kind == "cancel":
                return part10.SW_CANCELLED
            if entry.kind == "timeout":
                return part10.SW_TIMEOUT
            if not plan.low <= len(entry.digits) <= plan.high:
                return part10.SW_LENGTH
        if isinstance(s, part10.PinModify) and s.confirms_new:
            confirmation = entries.pop()
            same = confirmation.digits == entries[-1].digits
            confirmation.wipe()
            if not same:
                return part10.SW_MISMATCH
        return None

    # -- into the template ----------------------------------------------------------------------

    def _fill(
        self, s: part10.PinVerify | part10.PinModify, plan: _Plan, entries: list[KeyEntry]
    ) -> bytearray:
        apdu = bytearray(s.apdu)
        data = memoryview(apdu)[5 : 5 + apdu[4]]
        for start, entry in zip(plan.starts, entries, strict=True):
            digits = entry.digits
            coded = len(digits) * plan.bits_per_digit
            offset = start
            if s.right_justified and plan.block_bits:
                offset += plan.block_bits - coded
            for i, d in enumerate(digits):
                value = d - 0x30 if plan.bits_per_digit == 4 else d
                _write_bits(data, offset + i * plan.bits_per_digit, plan.bits_per_digit, value)
        if plan.length_field is not None:
            at, bits = plan.length_field
            _write_bits(data, at, bits, len(entries[0].digits))
        data.release()
        return apdu


def _write_bits(buf: memoryview, at: int, bits: int, value: int) -> None:
    """Write ``value`` in ``bits`` bits, most significant first, from bit ``at`` of ``buf``."""
    for i in range(bits):
        pos = at + i
        mask = 0x80 >> (pos % 8)
        if (value >> (bits - 1 - i)) & 1:
            buf[pos // 8] |= mask
        else:
            buf[pos // 8] &= ~mask & 0xFF
