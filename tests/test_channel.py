"""CardChannel: the T=0 61xx / 6Cxx rules in one place (issue 3 §1, card-profile §3, §4)."""

from __future__ import annotations

import pytest

from apdu.command import CommandAPDU
from apdu.commands import read_record, select_by_name
from apdu.errors import ProtocolError
from apdu.names import SSSE_NAME
from apdu.status import RecordNotFound
from drivers.channel import MAX_GET_RESPONSE_ROUNDS, CardChannel
from tests.helpers_drivers import ScriptedReader

GET_RESPONSE = bytes.fromhex("00C00000")


def test_multi_round_get_response_joins_every_byte_in_order() -> None:
    # 600 bytes in three rounds (the first 61xx carries none): python-emv dropped bytes here.
    payload = bytes(i % 251 for i in range(600))
    reader = ScriptedReader(
        [
            b"\x61\x00",
            payload[:256] + b"\x61\x00",
            payload[256:512] + b"\x61\x58",
            payload[512:] + b"\x90\x00",
        ]
    )
    channel = CardChannel(reader)
    resp = channel.transmit(CommandAPDU(0x00, 0xB0, 0, 0, ne=65536))
    assert resp.data == payload and resp.sw == 0x9000
    assert [c[:4] for c in reader.sent[1:]] == [GET_RESPONSE] * 3
    assert [c[4] for c in reader.sent[1:]] == [0x00, 0x00, 0x58]  # Le = what 61xx announced
    assert channel.apdu_count == 4


def test_select_on_a_t0_card_fetches_the_fci() -> None:
    fci = bytes.fromhex("6F16840F") + SSSE_NAME + bytes.fromhex("A503880101")
    reader = ScriptedReader([bytes((0x61, len(fci))), fci + b"\x90\x00"])
    channel = CardChannel(reader)
    assert channel.send(select_by_name(SSSE_NAME)) == fci
    assert reader.sent[1] == GET_RESPONSE + bytes((len(fci),))


def test_get_response_rounds_are_capped() -> None:
    reader = ScriptedReader([b"\x61\x01"] + [b"\xaa\x61\x01"] * (MAX_GET_RESPONSE_ROUNDS + 5))
    channel = CardChannel(reader)
    with pytest.raises(ProtocolError, match="GET RESPONSE rounds"):
        channel.transmit(CommandAPDU(0, 0xB0, 0, 0, ne=65536))
    assert channel.apdu_count == 1 + MAX_GET_RESPONSE_ROUNDS


def test_more_data_than_ne_is_refused() -> None:
    reader = ScriptedReader([b"\x61\x10", b"\x00" * 16 + b"\x90\x00"])
    with pytest.raises(ProtocolError, match="Ne was 8"):
        CardChannel(reader).transmit(CommandAPDU(0, 0xB2, 1, 4, ne=8))


def test_ne_is_checked_before_the_next_round() -> None:
    # A hostile card keeps saying 61FF; the channel stops at the first round over Ne.
    reader = ScriptedReader([b"\x61\xff"] + [b"\x00" * 255 + b"\x61\xff"] * 10)
    channel = CardChannel(reader)
    with pytest.raises(ProtocolError, match="Ne was 20"):
        channel.transmit(CommandAPDU(0, 0xB2, 1, 4, ne=20))
    assert channel.apdu_count == 2


def test_6cxx_resends_once_with_the_right_le() -> None:
    reader = ScriptedReader([b"\x6c\x06", b"\x07\x04" + b"3.00" + b"\x90\x00"])
    channel = CardChannel(reader)
    data = channel.send(read_record(0x03, by_tag=True, sfi=5))
    assert data == b"\x07\x04" + b"3.00"
    assert reader.sent[1] == reader.sent[0][:4] + b"\x06"
    assert channel.apdu_count == 2


def test_6cxx_twice_is_a_protocol_error() -> None:
    reader = ScriptedReader([b"\x6c\x06", b"\x6c\x07"])
    with pytest.raises(ProtocolError, match="6Cxx twice"):
        CardChannel(reader).transmit(read_record(0x03, by_tag=True, sfi=5))


def test_6cxx_then_61xx_still_collects_the_data() -> None:
    reader = ScriptedReader([b"\x6c\x04", b"\x61\x04", b"ABCD\x90\x00"])
    assert CardChannel(reader).send(CommandAPDU(0, 0xB2, 1, 4, ne=256)) == b"ABCD"


def test_send_raises_the_typed_status_error_and_transmit_does_not() -> None:
    channel = CardChannel(ScriptedReader([b"\x6a\x83", b"\x6a\x83"]))
    with pytest.raises(RecordNotFound):
        channel.send(read_record(0x01, by_tag=True, sfi=5))
    assert channel.transmit(read_record(0x01, by_tag=True, sfi=5)).sw == 0x6A83


def test_counting_and_tracer_see_every_wire_exchange() -> None:
    seen: list[tuple[bytes, bytes]] = []

    class Tracer:
        def exchange(self, command: bytes, response: bytes, seconds: float) -> None:
            assert seconds >= 0
            seen.append((command, response))

    reader = ScriptedReader([b"\x61\x02", b"\x01\x02\x90\x00", b"\x90\x00"])
    channel = CardChannel(reader, tracer=Tracer())
    channel.transmit(CommandAPDU(0, 0xA4, 4, 0, SSSE_NAME, 256))
    channel.transmit(CommandAPDU(0, 0xA4, 0, 0, b"\x3f\x00"))
    assert channel.apdu_count == 3
    assert [c for c, _ in seen] == reader.sent
    channel.reset_count()
    assert channel.apdu_count == 0
