"""Secure PIN entry (issue 13): what a PIN pad costs over sending the VERIFY from the host.

Side by side, interleaved, the keypad entry queued beforehand (the holder's typing time is not
the system's):

- in-process: ``CardChannel.pin_pad_verify`` through the simulated pad vs ``CardChannel.send`` of
  the same VERIFY, on one in-memory card; and the terminal's whole verify through the front door
  (``open_card(pin_pad="on")`` + ``card.pin.verify()``: discovery included) vs the host's;
- through pcscd: the PIN-pad reader (``libifd-sscard.so`` -> ``sscard sim serve``) doing the pad
  VERIFY vs the host VERIFY on the same file-backed card (both pay the card's two fsync'ed saves),
  and the empty VERIFY round trip through ``libifd-sscard.so`` vs through Debian's vpcd.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from apdu import commands, part10
from apdu.codec import pin_encode
from apdu.command import CommandAPDU
from apdu.names import SSSE_NAME
from tests.stack import (
    CSOCK_ENV,
    PINPAD_READER,
    Pcscd,
    Server,
    StackError,
    card_atr,
    check_prerequisites,
    issue_user_card,
    prepare_private_pcscd,
    stack_lock,
    wait_reader,
    wait_readers,
)

PIN = "123456"
EMPTY_VERIFY = CommandAPDU.from_bytes(bytes.fromhex("00200000"))


def _interleaved(
    a: Callable[[], None], b: Callable[[], None], n: int, before: Callable[[], None]
) -> tuple[list[float], list[float]]:
    """Times in ms of ``a`` and ``b`` run alternately ``n`` times (+10% warm-up)."""
    ta: list[float] = []
    tb: list[float] = []
    for i in range(n + n // 10):
        for fn, out in ((a, ta), (b, tb)):
            before()
            t = time.perf_counter()
            fn()
            elapsed = (time.perf_counter() - t) * 1000
            if i >= n // 10:
                out.append(elapsed)
    return ta, tb


def _in_process(n: int) -> list[dict]:
    from drivers.channel import CardChannel
    from drivers.simulated import SimulatedReader
    from simulator.pinpad import PinPadFirmware, ScriptedKeypad

    keypad = ScriptedKeypad()
    reader = SimulatedReader.sample(pin_pad=PinPadFirmware(keypad))
    reader.connect()
    channel = CardChannel(reader)
    channel.send(commands.select_by_name(SSSE_NAME))
    structure = part10.ssc_verify()
    host = commands.verify(pin_encode(PIN))
    pad_t, host_t = _interleaved(
        lambda: channel.pin_pad_verify(0x42330006, structure),
        lambda: channel.send(host) and None,
        n,
        lambda: keypad.push(PIN) if keypad.pending == 0 else None,
    )
    keypad.clear()
    reader.disconnect()
    mp, mh = statistics.median(pad_t) * 1000, statistics.median(host_t) * 1000
    note = f"in-memory card, keypad entry queued, median of {len(pad_t)}"
    return [
        {"benchmark": "pad VERIFY in-process", "value": mp, "unit": "µs", "note": note},
        {"benchmark": "host VERIFY in-process", "value": mh, "unit": "µs", "note": note},
        {"benchmark": "pad / host VERIFY in-process", "value": mp / mh, "unit": "x",
         "note": "structure built, parsed, digits inserted"},
    ]


def _front_door(n: int) -> list[dict]:
    """The terminal's whole verify on the pad: ``open_card(pin_pad="on")`` (power on, the
    transaction), ``card.pin.verify()`` (part 10 discovery: 3 control requests, the empty
    VERIFY, the pad VERIFY) vs the same with the PIN from the host (``pin_pad="off"``)."""
    import terminal
    from drivers.simulated import SimulatedReader
    from simulator.pinpad import PinPadFirmware, ScriptedKeypad
    from terminal.pinsource import ListPinSource

    keypad = ScriptedKeypad()
    reader = SimulatedReader.sample(pin_pad=PinPadFirmware(keypad))

    def on_pad() -> None:
        with terminal.open_card(reader=reader, sam=None, pin_pad="on") as card:
            card.pin.verify()

    def on_host() -> None:
        with terminal.open_card(reader=reader, sam=None, pin_pad="off") as card:
            card.pin.verify(ListPinSource([PIN]))

    pad_t, host_t = _interleaved(
        on_pad, on_host, n, lambda: keypad.push(PIN) if keypad.pending == 0 else None
    )
    keypad.clear()
    mp, mh = statistics.median(pad_t) * 1000, statistics.median(host_t) * 1000
    note = f"open_card + pin.verify(), in-memory card, median of {len(pad_t)}"
    return [
        {"benchmark": "terminal verify on the pad, in-process", "value": mp, "unit": "µs",
         "note": note + "; discovery + empty VERIFY + pad VERIFY"},
        {"benchmark": "terminal verify on the host, in-process", "value": mh, "unit": "µs",
         "note": note + "; empty VERIFY + VERIFY"},
    ]


def _through_pcscd(n: int) -> list[dict]:
    from drivers.channel import CardChannel
    from drivers.pcsc import PcscReader
    from simulator.vpcd import control

    with tempfile.TemporaryDirectory(prefix="sscard-bench-pinpad-") as tmp, stack_lock():
        work = Path(tmp)
        vpcd_card = issue_user_card(work / "vpcd-card.json")
        pad_card = issue_user_card(work / "pad-card.json")
        pad_sock, ctl = work / "pad.sock", work / "ctl.sock"
        pcscd = Pcscd.ensure(work, pinpad_socket=pad_sock)
        cmd = [sys.executable, "-m", "simulator.vpcd", "--card", str(vpcd_card), "--vpcd",
               f"127.0.0.1:{pcscd.vpcd_port}", "--control", str(ctl), "--pinpad-socket",
               str(pad_sock), "--pinpad-card", str(pad_card)]
        server = Server._spawn(cmd, work / "serve.log", ctl)
        readers: list[PcscReader] = []
        try:
            vpcd_name = wait_readers([card_atr(vpcd_card)])[0]
            pad_name = f"{PINPAD_READER} 00 00"
            wait_reader(pad_name, card_atr(pad_card), 20)
            pad_reader, vpcd_reader = PcscReader(pad_name), PcscReader(vpcd_name)
            readers += [pad_reader, vpcd_reader]
            for r in readers:
                r.connect()
            pad_ch, vpcd_ch = CardChannel(pad_reader), CardChannel(vpcd_reader)
            for ch in (pad_ch, vpcd_ch):
                ch.send(commands.select_by_name(SSSE_NAME))
            structure = part10.ssc_verify()
            host = commands.verify(pin_encode(PIN))
            pad_t, host_t = _interleaved(
                lambda: pad_ch.pin_pad_verify(0x42330006, structure),
                lambda: pad_ch.send(host) and None,
                n,
                lambda: control(f"keypad {PIN}", str(ctl)) and None,
            )
            ifd_t, vpcd_t = _interleaved(
                lambda: pad_ch.transmit(EMPTY_VERIFY) and None,
                lambda: vpcd_ch.transmit(EMPTY_VERIFY) and None,
                n * 5,
                lambda: None,
            )
        finally:
            for r in readers:
                r.disconnect()
            gc.collect()
            server.stop()
            pcscd.stop()
    mp, mh = statistics.median(pad_t), statistics.median(host_t)
    mi, mv = statistics.median(ifd_t), statistics.median(vpcd_t)
    pcsc = f"pyscard -> pcscd -> libifd-sscard.so -> sscard sim serve, n={len(pad_t)}"
    rtt = f"empty VERIFY (2-byte answer), n={len(ifd_t)}"
    return [
        {"benchmark": "pad VERIFY through pcscd", "value": mp, "unit": "ms (median)",
         "note": pcsc + "; file-backed card (two fsync'ed saves)"},
        {"benchmark": "host VERIFY through pcscd", "value": mh, "unit": "ms (median)",
         "note": "same reader and card, the PIN sent by the host"},
        {"benchmark": "pad / host VERIFY through pcscd", "value": mp / mh, "unit": "x",
         "note": "the price of keeping the PIN off the host"},
        {"benchmark": "APDU round trip, libifd-sscard.so", "value": mi, "unit": "ms (median)",
         "note": rtt},
        {"benchmark": "APDU round trip, vpcd", "value": mv, "unit": "ms (median)", "note": rtt},
    ]


def run(quick: bool = False) -> list[dict]:
    n = 100 if quick else 1000
    check_prerequisites()
    with tempfile.TemporaryDirectory(prefix="sscard-bench-pinpad-run-") as tmp:
        prepare_private_pcscd(Path(tmp))  # before the first PC/SC call of this process
        import os

        if not os.environ.get(CSOCK_ENV):
            raise StackError("the PIN-pad benchmark needs a private pcscd (root and unshare)")
        return _in_process(n * 10) + _front_door(n * 2) + _through_pcscd(n)


if __name__ == "__main__":
    from bench.__main__ import render

    print(render(run()))
