"""The real-card corpus harness: a card that answers from a trace of a real card (issue 9 §5).

Each ``tests/data/real_cards/*.trace`` file holds what a public source shows of one real social
security card: ``#`` header lines (``# source:``, ``# what:``, ``# expect <field>: <value>``,
``# quirk:``, ``# masked:``, ``# historical_bytes:``, ``# data:``) and, when the source has
them, an ``ATR`` line and ``>``/``<`` exchanges in the text format of :mod:`drivers.replay`.

:class:`TraceCard` lets the terminal's OWN read run against that card (through the in-process
reader, the channel, the session and :func:`terminal.reading.read_card`):

- a command the trace shows is answered as the trace shows it (a SELECT also when the terminal
  adds Le; a ``61xx`` leads to the GET RESPONSE answer that followed it);
- a command the trace does not show is answered the ISO/IEC 7816-4 way from the records the
  trace shows: READ RECORD by tag or by number with any Le of at least the record (as the real
  1.00 card did; a shorter one gets ``6Cxx`` with the right length), ``6A83`` for a record the
  trace does not show, ``6A86`` for P2 = 05/06 (no trace shows a multi-record read), ``6A82``
  for a DF the trace does not show, ``6D00`` for anything else (recorded in ``unanswered``);
- where a source shows only decoded values (most sources print the national ``iReadCardBas``
  line, not APDUs), the records are encoded from those values with the card profile's element
  table (:mod:`apdu.elements`) - an empty value as an unpersonalised item (text: 00s; BCD and
  dates: FFs).  The harness says which fields a trace shows (:attr:`TraceFile.shown`): a check
  whose input the source does not show cannot be judged from it;
- a 3.00 card's EF06 opens after EXTERNAL AUTHENTICATE with RKSSSE, as the source's terminal
  opened it with real keys.  :class:`TraceSam` stands in for that security module: it holds no
  key, so it proves nothing - genuineness is never judged from a trace.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from apdu import codec, emv
from apdu import status as sw
from apdu.appfiles import encode_item
from apdu.atr import SSC_HISTORICAL_LEN, build_ssc_atr, parse
from apdu.crypto import Algorithm, Diversification
from apdu.elements import BY_TAG_EF05, BY_TAG_EF06, EF05, EF06, Element, generation_of
from apdu.errors import DataFormatError, UsageError
from apdu.fci import DIR_SFI_FOR_GENERATION, build_df_fci, build_ssse_fci
from apdu.names import PSE_NAME, SSSE_NAME, UNIONPAY_DEBIT_AID
from apdu.tlv import simple_encode
from drivers.replay import parse_text
from simulator.cardos import CardOS
from terminal.sam.base import SecurityModule

DATA_DIR = Path(__file__).resolve().parent / "data" / "real_cards"

OK = sw.sw_bytes(sw.SUCCESS)
SW_RECORD_NOT_FOUND = sw.sw_bytes(sw.RECORD_NOT_FOUND)
SW_WRONG_P1P2 = sw.sw_bytes(sw.WRONG_P1P2)
SW_FILE_NOT_FOUND = sw.sw_bytes(sw.FILE_NOT_FOUND)
SW_INS_NOT_SUPPORTED = sw.sw_bytes(sw.INS_NOT_SUPPORTED)
SW_SECURITY = sw.sw_bytes(sw.SECURITY_STATUS_NOT_SATISFIED)
SW_CONDITIONS = sw.sw_bytes(sw.CONDITIONS_NOT_SATISFIED)

#: the fields of the national basic-read line (national-interface §3), in order.
NATIONAL_FIELDS = (
    "area", "ssn", "card_number", "card_id", "name", "historical_bytes", "spec_version",
    "issue_date", "expiry_date", "terminal_number", "device_number",
)
#: expect fields that are EF05/EF06 items (the element table's field names).
ITEM_FIELDS = {e.field: e for e in EF05 + EF06}
EF_OF_TAG = {**{t: 5 for t in BY_TAG_EF05}, **{t: 6 for t in BY_TAG_EF06}}


def _unescape(value: str) -> str:
    """``\\x20``-style escapes in an expect value (the corpus writes padding that way)."""
    return re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _hex_prefix(text: str) -> bytes:
    """The leading hex byte pairs of a header value (``00 81 ... 99  (T8-T9 = ...)``)."""
    out = bytearray()
    for token in text.split():
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", token):
            break
        out.append(int(token, 16))
    return bytes(out)


@dataclass
class TraceFile:
    """One corpus file, parsed."""

    path: Path
    headers: dict[str, list[str]]
    expects: dict[str, str]
    atr: bytes | None
    exchanges: list[tuple[bytes, bytes]]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def source(self) -> str:
        return (self.headers.get("source") or [""])[0]

    @property
    def historical(self) -> bytes | None:
        for value in self.headers.get("historical_bytes", []):
            hist = _hex_prefix(value)
            if hist:
                return hist
        line = self.national_line()
        if line and re.fullmatch(r"[0-9A-Fa-f]{26}", line["historical_bytes"]):
            return bytes.fromhex(line["historical_bytes"])
        return None

    def national_line(self) -> dict[str, str] | None:
        """The ``# expect national_line`` as a dict of the national fields (None: none)."""
        line = self.expects.get("national_line")
        if line is None:
            return None
        values = line.split("|")
        return {name: values[i] if i < len(values) else "" for i, name in
                enumerate(NATIONAL_FIELDS)}

    def item_values(self) -> dict[str, str]:
        """Every EF05/EF06 item value the source shows, as text (dates YYYYMMDD)."""
        values: dict[str, str] = {}
        line = self.national_line()
        if line is not None:
            for name in ("ssn", "card_number", "card_id", "name", "spec_version", "issue_date",
                         "expiry_date"):
                values[name] = line[name]
        for name, value in self.expects.items():
            if name in ITEM_FIELDS:
                values[name] = value.replace("-", "") if name.endswith("_date") else value
        return {k: v.rstrip(" ") for k, v in values.items()}

    @property
    def shown(self) -> set[str]:
        """The item fields the source shows (exchanges' records included)."""
        fields = set(self.item_values())
        for tag in _records_from_exchanges(self.exchanges):
            element = BY_TAG_EF05.get(tag[1]) or BY_TAG_EF06.get(tag[1])
            if element is not None:
                fields.add(element.field)
        return fields


def load(path: Path) -> TraceFile:
    """Parse a corpus file: ``#`` headers, then the exchanges (``drivers.replay.parse_text``)."""
    text = path.read_text(encoding="utf-8")
    headers: dict[str, list[str]] = {}
    expects: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"\s*#\s*([A-Za-z_ ]+?)\s*:\s?(.*)$", line)
        if not m:
            continue
        key, value = m.group(1).strip(), m.group(2).strip()
        if key.startswith("expect "):
            expects[key[len("expect "):].strip()] = _unescape(value)
        else:
            headers.setdefault(key, []).append(value)
    atr, steps = parse_text(text)
    exchanges = [(s.command or b"", s.response) for s in steps]
    return TraceFile(path, headers, expects, atr, exchanges)


def corpus() -> list[Path]:
    return sorted(DATA_DIR.glob("*.trace"))


# --- the card -------------------------------------------------------------------------------------


def _records_from_exchanges(exchanges: list[tuple[bytes, bytes]]) -> dict[tuple[int, int], bytes]:
    """(EF 5 or 6, tag) -> record, from the READ RECORD answers the trace shows."""
    out: dict[tuple[int, int], bytes] = {}
    current: int | None = None
    for command, response in exchanges:
        if len(command) >= 7 and command[1] == 0xA4 and command[2] in (0x00, 0x02):
            fid = command[5:7]
            current = {b"\xef\x05": 5, b"\xef\x06": 6}.get(fid, current)
        if len(command) < 4 or command[1] != 0xB2 or response[-2:] != OK or len(response) < 4:
            continue
        record = response[:-2]
        tag = record[0]
        ef = command[3] >> 3 or current or EF_OF_TAG.get(tag)
        if ef in (5, 6):
            out.setdefault((ef, tag), bytes(record))
    return out


def _encode(element: Element, value: str) -> bytes:
    """A record for ``value`` by the element's declaration (:func:`apdu.appfiles.encode_item`);
    "" is an unpersonalised item (text and binary: 00s; BCD and dates: FFs), and text longer
    than §4's size is kept whole, as real cards carry it."""
    if not value:
        fill = b"\xff" if element.format in ("cn", "date") else b"\x00"
        return simple_encode(element.tag, fill * element.size)
    if element.format == "an" and len(value.encode(codec.TEXT_CODEC)) > element.size:
        return simple_encode(element.tag, value.encode(codec.TEXT_CODEC))
    return encode_item(element, value)


@dataclass
class TraceCard(CardOS):
    """A :class:`simulator.card.VirtualCard` answering as the trace's real card (module doc)."""

    trace: TraceFile
    unanswered: list[bytes] = field(default_factory=list)
    pan: str | None = None

    def __post_init__(self) -> None:
        hist = self.trace.historical
        if self.trace.atr is not None:
            self._atr = self.trace.atr
        elif hist is not None and len(hist) == SSC_HISTORICAL_LEN:
            self._atr = build_ssc_atr(hist, "T0")  # every real ATR seen is this T=0 form
        else:  # no ATR in the source: the T=0 form with zero historical bytes
            self._atr = build_ssc_atr(bytes(SSC_HISTORICAL_LEN), "T0")
        self._t0 = parse(self._atr).protocols == {"T0"}
        self.records = self._records()
        version = self._value(5, 0x03)
        self.generation = generation_of(version) or 1
        self.pan = self.trace.expects.get("pan")
        self._fci = self._trace_fci() or self._synthetic_fci()
        self.power_on()

    # -- what the card holds ----------------------------------------------------------------------

    def _records(self) -> dict[int, list[bytes]]:
        found = _records_from_exchanges(self.trace.exchanges)
        values = self.trace.item_values()
        out: dict[int, list[bytes]] = {5: [], 6: []}
        for ef, table in ((5, EF05), (6, EF06)):
            for element in table:  # §4 personalisation order: record number = position
                if (ef, element.tag) in found:
                    out[ef].append(found[(ef, element.tag)])
                elif element.field in values:
                    out[ef].append(_encode(element, values[element.field]))
        return out

    def _value(self, ef: int, tag: int) -> str | None:
        record = next((r for r in self.records[ef] if r[0] == tag), None)
        if record is None:
            return None
        try:
            return codec.an_decode(record[2:])
        except DataFormatError:
            return None

    def _trace_fci(self) -> bytes | None:
        """The FCI the trace shows for SELECT SSSE (after its GET RESPONSE on a T=0 card)."""
        for i, (command, response) in enumerate(self.trace.exchanges):
            if command[1:3] == b"\xa4\x04" and SSSE_NAME in command:
                if response[0] == 0x61 and i + 1 < len(self.trace.exchanges):
                    response = self.trace.exchanges[i + 1][1]
                return response[:-2] if response[-2:] == OK else None
        return None

    def _synthetic_fci(self) -> bytes:
        """§3's FCI for what the source says: the algorithm flag when it shows one (or a 3.00
        card: SM4), none otherwise (a DES card, as on the real 1.00 card)."""
        shown = self.trace.expects.get("algorithm") or ""
        default = Algorithm.SM4 if self.generation == 3 else None
        alg = Algorithm.__members__.get(shown, default)
        return build_ssse_fci(DIR_SFI_FOR_GENERATION[self.generation], alg)

    # -- VirtualCard (power and ATR from the card OS; the answers are the trace's) -----------------

    def _power_reset(self) -> None:
        super()._power_reset()
        self._df = "MF"
        self._ef: int | None = None
        self._authenticated = False

    def transmit(self, command: bytes) -> bytes:
        pending, self._pending = self._pending, None
        challenge, self._challenge = self._challenge, False
        shown = self._shown_answer(command)
        if shown is not None:
            return shown
        ins = command[1] if len(command) > 1 else -1
        if ins == 0xC0:
            return self._get_response(command, pending)
        if ins == 0xA4:
            return self._select(command)
        if ins == 0xB2:
            return self._read_record(command)
        if ins == 0x84 and command[:4] == b"\x00\x84\x00\x00":
            self._challenge = True
            return bytes(range(command[4] if len(command) > 4 else 8)) + OK
        if ins == 0x82 and command[3] == 0x0A and challenge and self._df == "SSSE":
            self._authenticated = True  # as the source's terminal authenticated, with real keys
            return OK
        self.unanswered.append(bytes(command))
        return SW_INS_NOT_SUPPORTED

    def _shown_answer(self, command: bytes) -> bytes | None:
        exchanges = self.trace.exchanges
        for i, (shown, response) in enumerate(exchanges):
            same = shown == command or (
                shown[1:2] == b"\xa4" and command[:5 + shown[4]] == shown and len(shown) > 4
            )
            if same and shown[1] != 0xC0:
                if shown[1] == 0xA4 and SSSE_NAME in shown:
                    self._df, self._ef = "SSSE", None
                if response[0] == 0x61 and i + 1 < len(exchanges):
                    self._pending = exchanges[i + 1][1]
                return response
        return None

    def _get_response(self, command: bytes, pending: bytes | None) -> bytes:
        if pending is None:
            return SW_CONDITIONS
        data = pending[:-2] if pending[-2:] == OK else pending
        le = command[4] if len(command) > 4 else 0
        if le and le < len(data):
            self._pending = pending
            return bytes((0x6C, len(data)))
        return data + OK

    def _answer(self, data: bytes) -> bytes:
        """T=0: data of a case-4 command waits behind 61xx (§3)."""
        if self._t0:
            self._pending = data + OK
            return bytes((0x61, len(data)))
        return data + OK

    def _select(self, command: bytes) -> bytes:
        data = command[5:5 + command[4]] if len(command) > 5 else b""
        if command[2] == 0x04:
            if data == SSSE_NAME:
                self._df, self._ef, self._authenticated = "SSSE", None, False
                return self._answer(self._fci)
            if self.pan is not None and data in (UNIONPAY_DEBIT_AID, PSE_NAME):
                self._df, self._ef = "BANK", None
                return self._answer(build_df_fci(data))
            return SW_FILE_NOT_FOUND
        if data == b"\x3f\x00":
            self._df, self._ef = "MF", None
            return OK
        ef = {b"\xef\x05": 5, b"\xef\x06": 6}.get(data)
        if ef is not None and self._df == "SSSE":
            self._ef = ef
            return OK
        return SW_FILE_NOT_FOUND

    def _read_record(self, command: bytes) -> bytes:
        p1, p2 = command[2], command[3]
        le = command[4] if len(command) > 4 else None
        mode, sfi = p2 & 7, p2 >> 3
        if mode not in (0, 4):
            return SW_WRONG_P1P2
        if self._df == "BANK":
            if sfi == 2 and p1 == 1 and mode == 4 and self.pan is not None:
                return emv.pan_record(self.pan) + OK
            return SW_RECORD_NOT_FOUND
        ef = sfi or self._ef
        if self._df != "SSSE" or ef not in (5, 6):
            return SW_FILE_NOT_FOUND
        if ef == 6 and self.generation == 3 and not self._authenticated:
            return SW_SECURITY
        records = self.records[ef]
        if mode == 4:
            record = records[p1 - 1] if 0 < p1 <= len(records) else None
        else:
            record = next((r for r in records if r[0] == p1), None)
        if record is None:
            return SW_RECORD_NOT_FOUND
        if le is not None and le != 0 and le < len(record):
            return bytes((0x6C, len(record)))
        if le is None:
            return bytes((0x6C, len(record)))
        return record + OK


class TraceSam(SecurityModule):
    """The security module of the source's terminal, as far as a trace can stand in for it.

    It holds no key: EXTERNAL AUTHENTICATE gets a dummy cryptogram that the trace card accepts
    because the real card accepted the real one; internal authentication and secure messaging
    are refused, so genuineness is never claimed from a trace.
    """

    label = "trace replay (no keys)"

    def external_auth(
        self, alg: Algorithm, key: str, div: Diversification, challenge: bytes
    ) -> tuple[bytes, bytes]:
        return bytes(8), bytes(8)

    def internal_auth(self, alg: Algorithm, div: Diversification, r1: bytes, r2: bytes) -> bytes:
        raise UsageError("a trace holds no keys: genuineness cannot be proved from it")

    def secure_message(
        self,
        alg: Algorithm,
        key: str,
        div: Diversification,
        challenge: bytes,
        header: bytes,
        plaintext: bytes | None = None,
    ) -> bytes:
        raise UsageError("a trace holds no keys")


def expected_value(field_name: str, value: str) -> str:
    """An expect value in the form the terminal's decode gives (dates ISO, padding stripped)."""
    value = value.rstrip(" ")
    if field_name.endswith("_date") and re.fullmatch(r"\d{8}", value):
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:])).isoformat()
    return value
