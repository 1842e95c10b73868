"""The TEST HSM: what a provincial HSM computes from a Step1 text, with the published TEST keys.

It sees only what a business system would hand its provincial service: the Step1 (or Step2)
text of the national HSM functions, and for PIN reload/unblock the iReadCardBas line the counter
already read (their Step1 texts carry no card identity).  The keys are the TEST keys of
card-profile §7.7, used through the software security module's formulas (:mod:`apdu.crypto`,
:class:`terminal.sam.software.SoftwareSam`): the same arithmetic a provincial HSM does with the
real keys (national-interface §3: a real 3.00 trace matches card-profile §7.4/§7.5 exactly).

As a program (the C test runs it)::

    python -m tests.hsm_helper basic  STEP1                # iReadCardBas_HSM_Step1 -> pKey
    python -m tests.hsm_helper file   STEP1                # iReadCard/iWriteCard_HSM_Step1 -> pKey
    python -m tests.hsm_helper auth   STEP1 CARDLINE       # Reload/Unblock Step1 -> pKey
    python -m tests.hsm_helper secure STEP2 CARDLINE       # Reload/Unblock Step2 -> Step3 pKey
    ... --corrupt                                          # one bit flipped: a wrong HSM answer
"""

from __future__ import annotations

import argparse
import sys

from apdu.crypto import (
    Algorithm,
    Diversification,
    card_key,
    external_auth_cryptogram,
    session_key,
)
from apdu.keys import TEST_KEYS
from terminal.national.files import key_for_address
from terminal.sam.software import SoftwareSam


def _fields(text: str, count: int) -> list[str]:
    parts = text.split("|")
    if len(parts) != count + 1 or parts[-1] != "":
        raise ValueError(f"expected {count} '|'-terminated fields, got {text!r}")
    return parts[:-1]


def _div(card_id_hex: str, historical_hex: str) -> Diversification:
    return Diversification.for_card(bytes.fromhex(card_id_hex), bytes.fromhex(historical_hex))


def _ad(alg: Algorithm, key: str, div: Diversification, challenge: bytes, d: bytes) -> bytes:
    sk = session_key(alg, card_key(alg, TEST_KEYS.root(key), div), challenge)
    return external_auth_cryptogram(alg, sk, d)


def _h(data: bytes) -> str:
    return data.hex().upper()


def basic_key(step1: str) -> str:
    """``iReadCardBas_HSM_Step1`` -> ``IA‖R2|AD‖D|`` (the second part empty before 3.00)."""
    _city, hist, alg_hex, card_id, r1, r2, challenge, d = _fields(step1, 8)
    alg = Algorithm(int(alg_hex, 16))
    div = _div(card_id, hist)
    ia = SoftwareSam().internal_auth(alg, div, bytes.fromhex(r1), bytes.fromhex(r2))
    external = ""
    if challenge:
        ad = _ad(alg, "RKSSSE", div, bytes.fromhex(challenge), bytes.fromhex(d))
        external = _h(ad) + d.upper()
    return f"{_h(ia)}{r2.upper()}|{external}|"


def file_key(step1: str) -> str:
    """``iReadCard_HSM_Step1`` / ``iWriteCard_HSM_Step1`` -> ``AD‖D`` ('' when no key)."""
    _city, hist, alg_hex, card_id, address, challenge, d = _fields(step1, 7)
    if not address:
        return ""
    name = key_for_address(address)
    if name is None:
        raise ValueError(f"unknown key address {address}")
    alg = Algorithm(int(alg_hex, 16))
    ad = _ad(alg, name, _div(card_id, hist), bytes.fromhex(challenge), bytes.fromhex(d))
    return _h(ad) + d.upper()


def _card(card_line: str) -> Diversification:
    parts = card_line.split("|")
    return _div(parts[3], parts[5])


def auth_key(step1: str, card_line: str) -> str:
    """Reload/Unblock Step1 ``算法标识|密钥地址|随机数|原始信息|`` -> ``AD‖D`` for the PUK."""
    alg_hex, address, challenge, d = _fields(step1, 4)
    name = key_for_address(address)
    if name is None:
        raise ValueError(f"unknown key address {address}")
    alg = Algorithm(int(alg_hex, 16))
    ad = _ad(alg, name, _card(card_line), bytes.fromhex(challenge), bytes.fromhex(d))
    return _h(ad) + d.upper()


def secure_key(step2: str, card_line: str) -> str:
    """Reload/Unblock Step2 -> ``header‖data‖MAC`` (data: the PIN encrypted, reload only)."""
    alg_hex, address, challenge, header_hex, plain = _fields(step2, 5)
    name = key_for_address(address)
    if name is None:
        raise ValueError(f"unknown key address {address}")
    alg = Algorithm(int(alg_hex, 16))
    header = bytes.fromhex(header_hex)
    body = SoftwareSam().secure_message(
        alg, name, _card(card_line), bytes.fromhex(challenge), header[:4],
        bytes.fromhex(plain) if plain else None,
    )
    return _h(header + body)


def corrupt(key: str) -> str:
    """The same answer with the first hex digit changed: what a wrong HSM (or key) returns."""
    if not key:
        return key
    first = "0" if key[0] != "0" else "1"
    return first + key[1:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.hsm_helper")
    p.add_argument("kind", choices=("basic", "file", "auth", "secure"))
    p.add_argument("text")
    p.add_argument("card_line", nargs="?", default="")
    p.add_argument("--corrupt", action="store_true")
    args = p.parse_args(argv)
    if args.kind == "basic":
        key = basic_key(args.text)
    elif args.kind == "file":
        key = file_key(args.text)
    elif args.kind == "auth":
        key = auth_key(args.text, args.card_line)
    else:
        key = secure_key(args.text, args.card_line)
    sys.stdout.write((corrupt(key) if args.corrupt else key) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
