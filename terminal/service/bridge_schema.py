"""The bridge's messages: ONE declared table of every message a page may send, and its checker.

Each message is a JSON object with ``type`` (or, for the national functions, ``function``: the
deployed shape ``{"function":"iReadCardBas","iType":3}``), an optional ``id`` the answer echoes,
and the fields its row declares.  Anything else is refused before any card access: an unknown
type, an unknown field, a field of the wrong kind.  There is no raw-APDU message, no free-form
text field, and no field that could carry PIN digits: PIN entry happens on the reader's PIN pad
or the service's own local prompt (``tests/test_bridge_schema.py`` walks this table to prove it).

Field kinds: ``reader`` (``"contact"`` or ``"contactless"``), ``bool``, ``int`` (a C ``int``),
and ``text`` with a pattern and a length limit (the holder's name and ID number for activation,
the national functions' addresses and HSM answers).

The national functions served are a subset of the C library's: the reads (PSAM and HSM routes),
PIN verify and change (entered locally), and the reader's information.  Writes
(``iWriteCard*``), PIN reload and unblock (counter staff; the reload's HSM route returns the new
PIN in clear, national-interface §3) and the offline debit stay with the local C library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from terminal.national.signatures import SIGNATURES
from terminal.service.protocol import INT_MAX, INT_MIN

Kind = Literal["reader", "bool", "int", "text"]
READERS = ("contact", "contactless")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
#: Largest JSON integer a page can send exactly (2**53 - 1).
MAX_ID = 2**53 - 1


@dataclass(frozen=True)
class Field:
    """One field of a message: its kind and, for text, the pattern the whole value must match."""

    name: str
    kind: Kind
    required: bool = False
    pattern: str | None = None
    max_len: int = 0
    doc: str = ""


@dataclass(frozen=True)
class MessageType:
    """A message a page may send.  ``pin``: a PIN operation (rate-limited per origin; the PIN is
    entered on the pad or the local prompt).  ``card``: it may touch the card."""

    name: str
    fields: tuple[Field, ...] = ()
    pin: bool = False
    card: bool = True
    doc: str = ""
    national: bool = False
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})


READER = Field("reader", "reader", doc="which reader: contact (default) or contactless")
PHOTO = Field("photo", "bool", doc="also read the EF08 photo (a data: URL in the answer)")
CHANGE_INITIAL = Field(
    "change_initial", "bool",
    doc="a holder who enters the initial PIN changes it right there (new PIN twice, locally)")
#: The one free text: no control characters, no markup, and no digits (so never a PIN).
HOLDER_NAME = Field("name", "text", True, r"[^\x00-\x1f\x7f<>&\"'\\0-9\uff10-\uff19]{1,30}", 30,
                    "the holder's name as the clerk entered it from the ID card")
ID_NUMBER = Field("id_number", "text", True, r"[0-9]{17}[0-9Xx]", 18,
                  "the holder's ID number (18 characters)")

_MESSAGES: tuple[MessageType, ...] = (
    MessageType("hello", card=False, doc="the service, this origin's pairing, the readers"),
    MessageType("subscribe", card=False, doc="push card inserted/removed events to this page"),
    MessageType("unsubscribe", card=False, doc="stop the events"),
    MessageType("read", (READER, PHOTO), doc="the holder's and issuer's data (sscard read)"),
    MessageType("check", (READER,), doc="read and every check; the verdict (sscard check)"),
    MessageType("status", (READER,), doc="activated? genuineness, PIN state (sscard status)"),
    MessageType("pin_status", (READER,), doc="the PIN's state and tries left (no try used)"),
    MessageType("pin_verify", (READER,), pin=True, doc="the holder types the PIN locally"),
    MessageType("pin_change", (READER,), pin=True,
                doc="current PIN, then the new PIN twice, typed locally"),
    MessageType("pharmacy", (READER, CHANGE_INITIAL), pin=True,
                doc="read, check, PIN, medical area code (sscard pharmacy)"),
    MessageType("activation_check", (READER, HOLDER_NAME, ID_NUMBER),
                doc="activation step 1: read, check, the holder is the person identified"),
    MessageType("activation_bank", (READER,),
                doc="activation step 2: the bank application (the PAN masked)"),
    MessageType("activation_change_pin", (READER,), pin=True,
                doc="activation step 3: the holder changes the social security PIN locally"),
    MessageType("activation_status", (READER,), doc="activation step 4: activated now?"),
)

#: The national functions a page may call, and the patterns of their text parameters.
NATIONAL_FUNCTIONS = (
    "iReadCardBas", "iReadCardBas_HSM_Step1", "iReadCardBas_HSM_Step2",
    "iReadCard", "iReadCard_HSM_Step1", "iReadCard_HSM_Step2",
    "iVerifyPIN", "iChangePIN", "iGetReaderInfo",
)
#: National functions that ask for the PIN (locally): rate-limited like pin_verify.
NATIONAL_PIN = frozenset({"iVerifyPIN", "iChangePIN"})
_NATIONAL_TEXT = {
    "pCardInfo": r"[0-9A-Za-z|]*",
    "pFileAddr": r"[0-9A-Za-z|:$]*",
    "pKey": r"[0-9A-Za-z|]*",
}


def _national_type(name: str) -> MessageType:
    fields: list[Field] = []
    for param in SIGNATURES[name].arguments:
        if param.kind == "int":
            fields.append(Field(param.name, "int", True))
        else:
            fields.append(Field(param.name, "text", True, _NATIONAL_TEXT[param.name], param.size))
    return MessageType(name, tuple(fields), pin=name in NATIONAL_PIN, national=True,
                       doc=f"national {SIGNATURES[name].c_prototype()}")


MESSAGES: dict[str, MessageType] = {m.name: m for m in _MESSAGES}
NATIONAL: dict[str, MessageType] = {n: _national_type(n) for n in NATIONAL_FUNCTIONS}


class BadMessage(Exception):
    """A message refused before anything is done: ``code`` is the answer's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Message:
    """A checked message: its type row, its field values, and the page's ``id`` (or None)."""

    spec: MessageType
    values: dict[str, Any]
    id: int | str | None

    @property
    def name(self) -> str:
        return self.spec.name

    def reader(self) -> bool:
        """True for the contactless reader."""
        return self.values.get("reader", "contact") == "contactless"

    @property
    def pin(self) -> bool:
        """A PIN operation (rate-limited): ``iReadCard`` with ``iAuthType`` 1 counts too."""
        if self.spec.pin:
            return True
        return self.spec.name == "iReadCard" and self.values.get("iAuthType") == 1


def message_id(obj: dict[str, Any]) -> int | str | None:
    """The page's ``id`` when it is a valid one (echoed even in a refusal), else None."""
    value = obj.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value <= MAX_ID:
        return value
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    return None


def _check_value(f: Field, value: Any) -> Any:
    if f.kind == "reader":
        if value not in READERS:
            raise BadMessage("bad_request", f"{f.name} must be one of {', '.join(READERS)}")
        return value
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise BadMessage("bad_request", f"{f.name} must be true or false")
        return value
    if f.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or not (
            INT_MIN <= value <= INT_MAX
        ):
            raise BadMessage("bad_request", f"{f.name} must be an integer")
        return value
    if not isinstance(value, str) or len(value) > f.max_len:
        raise BadMessage("bad_request", f"{f.name} must be text of at most {f.max_len} characters")
    assert f.pattern is not None
    if not re.fullmatch(f.pattern, value):
        raise BadMessage("bad_request", f"{f.name} has characters it may not hold")
    return value


def parse_message(obj: Any) -> Message:
    """Check a decoded message against the table; :class:`BadMessage` says why not."""
    if not isinstance(obj, dict):
        raise BadMessage("bad_request", "a message is a JSON object")
    if "id" in obj and message_id(obj) is None:
        raise BadMessage("bad_request", "id must be an integer (0..2^53-1) or a short token")
    if "function" in obj:
        if "type" in obj:
            raise BadMessage("bad_request", "give type or function, not both")
        name = obj["function"]
        spec = NATIONAL.get(name) if isinstance(name, str) else None
        if spec is None:
            shown = name[:40] if isinstance(name, str) else type(name).__name__
            raise BadMessage("unknown_function",
                             f"function {shown!r} is not served by the bridge")
        keys = set(obj) - {"function", "id"}
    else:
        name = obj.get("type")
        spec = MESSAGES.get(name) if isinstance(name, str) else None
        if spec is None:
            shown = name[:40] if isinstance(name, str) else type(name).__name__
            raise BadMessage("unknown_type", f"unknown message type {shown!r}")
        keys = set(obj) - {"type", "id"}
    unknown = sorted(keys - set(spec.by_name))
    if unknown:
        raise BadMessage("unknown_field", f"{spec.name} takes no field {unknown[0][:40]!r}")
    values: dict[str, Any] = {}
    for f in spec.fields:
        if f.name in obj:
            values[f.name] = _check_value(f, obj[f.name])
        elif f.required:
            raise BadMessage("bad_request", f"{spec.name} needs {f.name}")
    return Message(spec, values, message_id(obj))


def schema_table() -> list[dict[str, Any]]:
    """The table as data: each row's key, name, fields and whether it is a PIN operation (the
    README's message table lists the same rows, ``tests/test_bridge_schema.py`` checks it;
    ``hello`` answers the names)."""
    rows = []
    for spec in (*MESSAGES.values(), *NATIONAL.values()):
        rows.append({
            "key": "function" if spec.national else "type",
            "name": spec.name,
            "fields": [{"name": f.name, "kind": f.kind, "required": f.required}
                       for f in spec.fields],
            "pin": spec.pin,
        })
    return rows
