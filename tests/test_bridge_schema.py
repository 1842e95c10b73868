"""The bridge's message table proves what a security reviewer asks first: no message accepts PIN
digits or a raw APDU (browser-bridge.md: "never a raw-APDU endpoint; PIN digits never cross the
socket").  These tests walk :mod:`terminal.service.bridge_schema`'s one table, so a row added
later is held to the same rules without anyone remembering to test it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal.national.signatures import SIGNATURES
from terminal.service import bridge_schema
from terminal.service.bridge_schema import (
    MESSAGES,
    NATIONAL,
    BadMessage,
    Field,
    MessageType,
    parse_message,
    schema_table,
)
from tests.helpers_national import REPO

README = REPO / "README.md"
ALL: list[MessageType] = [*MESSAGES.values(), *NATIONAL.values()]
#: Words a field that carried a PIN, a key or a command would be named for.
FORBIDDEN = re.compile(r"pin|pwd|pass|secret|apdu|command|cmd|raw|transmit|hex|data|bytes|"
                       r"script|eeprom|write|reload|unblock|reset", re.IGNORECASE)
#: Words a message type that sent commands or changed what the card holds would be named for.
FORBIDDEN_TYPE = re.compile(r"apdu|command|cmd|raw|transmit|send|script|eeprom|write|reload|"
                            r"unblock|reset|debit", re.IGNORECASE)
#: The national parameters that are the national interface's own names (checked by pattern).
NATIONAL_NAMES = {"iType", "iAuthType", "pCardInfo", "pFileAddr", "pKey"}
PIN_LIKE = ["123456", "000000", "246813", "1234", "1234567890123456"]
APDU_LIKE = ["00A404000F", "00 20 00 00 03 12 34 56", "0020000003123456", "80CA9F7F00"]


def _message(spec: MessageType, **values: Any) -> dict[str, Any]:
    key = "function" if spec.national else "type"
    return {key: spec.name, **values}


def _valid(f: Field) -> Any:
    """A value the field accepts (for building otherwise valid messages)."""
    return {"reader": "contact", "bool": False, "int": 3}.get(f.kind, "")


def test_no_message_or_field_is_named_for_a_pin_a_key_or_a_command() -> None:
    for spec in ALL:
        assert not FORBIDDEN_TYPE.search(spec.name), spec.name
        for f in spec.fields:
            if spec.national:
                assert f.name in NATIONAL_NAMES, (spec.name, f.name)
            else:
                assert not FORBIDDEN.search(f.name), (spec.name, f.name)


def test_pin_operations_take_no_text_at_all() -> None:
    """A PIN operation's fields are the reader and flags: there is nowhere to put digits."""
    pin_ops = [spec for spec in ALL if spec.pin]
    assert {s.name for s in pin_ops} >= {"pin_verify", "pin_change", "pharmacy",
                                         "activation_change_pin", "iVerifyPIN", "iChangePIN"}
    for spec in pin_ops:
        assert all(f.kind in ("reader", "bool", "int") for f in spec.fields), spec.name
        for digits in PIN_LIKE:
            for name in ("pin", "PIN", "pPin", "password", "old", "new", "value"):
                with pytest.raises(BadMessage) as err:
                    parse_message(_message(spec, **{name: digits}))
                assert err.value.code == "unknown_field"
            for f in spec.fields:  # nor in a field of another kind
                with pytest.raises(BadMessage):
                    parse_message(_message(spec, **{f.name: digits}))


def test_the_national_functions_served_take_no_pin_and_write_nothing() -> None:
    """The C prototypes of the served functions have no PIN parameter (the PIN is typed on the
    reader or the local prompt); writes, PIN reload and unblock are not served."""
    for name in NATIONAL:
        params = [p.name.lower() for p in SIGNATURES[name].arguments]
        assert not any("pin" in p or "pass" in p for p in params), name
        assert not name.startswith(("iWrite", "iReload", "iUnblock", "iReset")), name
    for name in SIGNATURES:
        if name.startswith(("iWrite", "iReloadPIN", "iUnblock", "iReset")):
            with pytest.raises(BadMessage) as err:
                parse_message({"function": name})
            assert err.value.code == "unknown_function"


def test_every_text_field_is_bounded_and_patterned() -> None:
    for spec in ALL:
        for f in spec.fields:
            if f.kind == "text":
                assert f.pattern is not None and 0 < f.max_len <= 1024, (spec.name, f.name)


def test_raw_apdus_are_accepted_by_no_message_type() -> None:
    """No message type is a transmit; an APDU in any extra field is an unknown field."""
    for word in ("apdu", "transmit", "send", "raw", "command", "sendApdu", "SCardTransmit",
                 "iDoDebit", "iWriteCard", "eeprom"):
        with pytest.raises(BadMessage) as err:
            parse_message({"type": word, "apdu": APDU_LIKE[0]})
        assert err.value.code == "unknown_type"
    for spec in ALL:
        for field_name in ("apdu", "data", "cmd", "hex"):
            with pytest.raises(BadMessage) as err:
                parse_message(_message(spec, **{field_name: APDU_LIKE[0]}))
            assert err.value.code == "unknown_field"


def test_the_holders_name_holds_no_digits() -> None:
    """activation_check's name is the only free text: no digits (so no PIN), no markup."""
    spec = MESSAGES["activation_check"]
    ok = parse_message(_message(spec, name="张三丰", id_number="420102198505151238"))
    assert ok.values["name"] == "张三丰"
    assert parse_message(_message(spec, name="阿依古丽·买买提", id_number="42010219850515123X"))
    for bad in ["123456", "张三123456", "张三１２３４５６", "<b>x</b>", "a\nb", ""]:
        with pytest.raises(BadMessage):
            parse_message(_message(spec, name=bad, id_number="420102198505151238"))


@given(st.dictionaries(st.text(max_size=12), st.one_of(
    st.text(max_size=20), st.integers(), st.booleans(), st.none(),
    st.lists(st.integers(), max_size=3)), max_size=4), st.sampled_from(ALL))
def test_any_message_is_either_refused_or_exactly_its_declared_fields(
        extra: dict[str, Any], spec: MessageType) -> None:
    message = {**{f.name: _valid(f) for f in spec.fields if f.required}, **extra,
               **_message(spec)}
    try:
        parsed = parse_message(message)
    except BadMessage:
        return
    assert set(parsed.values) <= set(spec.by_name)
    for name, value in parsed.values.items():
        f = spec.by_name[name]
        if f.kind == "text":
            assert f.pattern is not None and re.fullmatch(f.pattern, value)


def test_the_published_table_is_the_table_and_the_readme_lists_every_row() -> None:
    rows = {r["name"]: r for r in schema_table()}
    assert set(rows) == {s.name for s in ALL}
    assert all(not any("pin" == f["name"].lower() for f in r["fields"]) for r in rows.values())
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index("## The browser bridge"):readme.index("## Layout")]
    for row in rows.values():
        assert f"`{row['name']}`" in section, row["name"]
        for f in row["fields"]:
            assert f"`{f['name']}`" in section, (row["name"], f["name"])


def test_the_readme_names_every_error_code_a_page_can_get() -> None:
    from terminal.service import bridge, cardwork

    codes = {code for _, code in cardwork.ERROR_CODES if code} | set(cardwork._ENTRY_CODES.values())
    for module in (cardwork, bridge):
        source = Path(module.__file__).read_text(encoding="utf-8")
        codes |= set(re.findall(r'WorkError\(\s*"([a-z_]+)"', source))
        codes |= set(re.findall(r'"(bad_request|rate_limited|internal)"', source))
    source = Path(bridge_schema.__file__).read_text(encoding="utf-8")
    codes |= set(re.findall(r'BadMessage\(\s*"([a-z_]+)"', source))
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index("## The browser bridge"):readme.index("## Layout")]
    assert {c for c in codes if f"`{c}`" not in section} == set()
