"""Status words of card-profile §5 map to typed errors, with PIN/key context from the INS."""

from __future__ import annotations

import pytest

from apdu import status
from apdu.errors import ResponseFormatError, SSCardError
from apdu.response import ResponseAPDU


@pytest.mark.parametrize(
    ("sw", "ins", "cls"),
    [
        (0x63C5, 0x20, status.WrongPin),
        (0x63C2, 0x5E, status.WrongPin),
        (0x63C2, 0x82, status.WrongKey),
        (0x6983, 0x20, status.PinBlocked),
        (0x6983, 0x82, status.KeyBlocked),
        (0x6982, 0xB2, status.SecurityStatusNotSatisfied),
        (0x6A82, 0xA4, status.FileNotFound),
        (0x6A83, 0xB2, status.RecordNotFound),
        (0x6C0B, 0xB2, status.WrongLe),
        (0x6700, 0xB2, status.WrongLength),
        (0x9303, 0xA4, status.ApplicationBlocked),
        (0x9302, 0x24, status.MacInvalid),
        (0x6A81, 0xB2, status.NotSupported),
        (0x6D00, 0x99, status.NotSupported),
        (0x6984, 0x82, status.ReferencedDataInvalid),
        (0x1234, 0x00, status.CardFailure),
    ],
)
def test_sw_maps_to_typed_error(sw: int, ins: int, cls: type[status.StatusError]) -> None:
    with pytest.raises(cls) as err:
        status.check(sw, ins)
    assert isinstance(err.value, SSCardError)
    assert err.value.sw == sw
    assert f"{sw:04X}" in str(err.value)


def test_wrong_pin_carries_tries_left() -> None:
    err = status.error_for(0x63C3, 0x20)
    assert isinstance(err, status.WrongPin)
    assert err.tries_left == 3
    assert "3 tries left" in str(err)


def test_wrong_le_carries_right_length() -> None:
    err = status.error_for(0x6C0B, 0xB2)
    assert isinstance(err, status.WrongLe) and err.correct_le == 11
    assert status.error_for(0x6C00).correct_le == 256  # type: ignore[attr-defined]


def test_success_raises_nothing() -> None:
    status.check(0x9000, 0xA4)


def test_every_table_entry_has_meaning_and_class() -> None:
    for sw, (meaning, cls) in status.SW_TABLE.items():
        assert meaning and issubclass(cls, status.StatusError)
        assert status.describe(sw) == meaning


def test_response_split_and_short_response() -> None:
    r = ResponseAPDU.from_bytes(bytes.fromhex("01029000"))
    assert r.data == b"\x01\x02" and r.sw == 0x9000 and r.ok
    with pytest.raises(ResponseFormatError):
        ResponseAPDU.from_bytes(b"\x90")
