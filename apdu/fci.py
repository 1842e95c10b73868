"""The FCI a DF answers to SELECT (card-profile §3, §11): its tags, the builders the simulated cards
answer with, and the tolerant parser the terminal reads the SSSE FCI with.

SSSE: ``6F { 84 name, A5 { 88 01 sfi, 9F0C { 86 01 alg } } }`` (3.00 cards); the real 1.00
card has no 9F0C (``6F 16 84 0F <name> A5 03 88 01 0B``) and is a DES card.  An application DF
(DF01..DF04, the PSAM's MF and ADF) answers ``6F { 84 name }``, the MF ``6F { 83 3F00 }``.

The parser is tolerant on purpose (§3, "be liberal in what you read"): a card that leaves out
the algorithm flag is a DES card, a card without DIR SFI has ``dir_sfi`` None, and an FCI that
does not parse at all still selects (``SsseInfo.fci_problem`` says why) rather than refusing the
card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from apdu.crypto import Algorithm
from apdu.errors import TlvError
from apdu.names import SSSE_NAME
from apdu.tlv import Tlv, ber_decode, ber_encode

#: FCI tags of §3.
TAG_FCI = 0x6F
TAG_FID = 0x83
TAG_DF_NAME = 0x84
TAG_PROPRIETARY = 0xA5
TAG_DIR_SFI = 0x88
TAG_ALG_TEMPLATE = 0x9F0C
TAG_ALG = 0x86

#: §2/§3: the DIR SFI the SSSE FCI announces per generation (both values seen on real cards).
DIR_SFI_FOR_GENERATION: Mapping[int, int] = MappingProxyType({1: 0x0B, 2: 0x0B, 3: 0x1E})
#: §3: the generations whose SSSE FCI carries the 9F0C algorithm flag (the real 1.00 card has none).
FCI_HAS_ALGORITHM_FLAG = frozenset({2, 3})


def build_ssse_fci(dir_sfi: int, algorithm: Algorithm | int | None) -> bytes:
    """The SSSE FCI announcing the DIR SFI and, unless ``algorithm`` is None (a 1.00 card), the
    algorithm flag in a 9F0C template."""
    prop = ber_encode(TAG_DIR_SFI, bytes((dir_sfi,)))
    if algorithm is not None:
        prop += ber_encode(TAG_ALG_TEMPLATE, ber_encode(TAG_ALG, bytes((int(algorithm),))))
    name = ber_encode(TAG_DF_NAME, SSSE_NAME)
    return ber_encode(TAG_FCI, [name, ber_encode(TAG_PROPRIETARY, prop)])


def build_df_fci(name: bytes) -> bytes:
    """``6F { 84 name }``: the FCI of a DF known by its name or AID."""
    return ber_encode(TAG_FCI, ber_encode(TAG_DF_NAME, name))


def build_mf_fci(fid: int) -> bytes:
    """``6F { 83 fid }``: the FCI of the MF."""
    return ber_encode(TAG_FCI, ber_encode(TAG_FID, fid.to_bytes(2, "big")))


@dataclass(frozen=True)
class SsseInfo:
    """What the SSSE FCI told (§3).  ``fci_problem`` is None unless the FCI was malformed."""

    algorithm: Algorithm
    dir_sfi: int | None
    df_name: bytes
    fci_problem: str | None = None


def _algorithm_from_flag(flag: bytes) -> tuple[Algorithm, str | None]:
    """The §3 algorithm flag (one byte); anything unknown falls back to DES with a problem."""
    if len(flag) != 1:
        return Algorithm.DES, f"algorithm flag of {len(flag)} bytes, assumed DES"
    try:
        return Algorithm(flag[0]), None
    except ValueError:
        return Algorithm.DES, f"unknown algorithm flag {flag[0]:02X}, assumed DES"


def _find(objs: list[Tlv], tag: int) -> Tlv | None:
    return next((o for o in objs if o.tag == tag), None)


def parse_ssse_fci(data: bytes) -> SsseInfo:
    """Parse ``6F { 84 name, A5 { 88 01 sfi [, 9F0C { 86 01 alg }] } }`` tolerantly (§3).

    The algorithm flag is looked for in ``A5/9F0C/86`` (3.00 cards) and, for cards that leave
    out the 9F0C template, directly in ``A5/86``.  ``9F0C`` is primitive by BER's rules (bit 6 of
    its first byte is 0) although it wraps a TLV, so its value is decoded by hand.  Every length
    is untrusted (:mod:`apdu.tlv` checks them); a malformed FCI gives the defaults plus a problem.
    """
    algorithm, dir_sfi, df_name = Algorithm.DES, None, SSSE_NAME
    if not data:
        return SsseInfo(algorithm, dir_sfi, df_name, None)
    try:
        top = _find(ber_decode(data), TAG_FCI)
        if top is None:
            return SsseInfo(algorithm, dir_sfi, df_name, "SELECT answer holds no FCI template 6F")
        inner = ber_decode(top.value)
        name = _find(inner, TAG_DF_NAME)
        if name is not None and name.value:
            df_name = name.value
        prop = _find(inner, TAG_PROPRIETARY)
        if prop is None:
            return SsseInfo(algorithm, dir_sfi, df_name, None)
        fields = ber_decode(prop.value)
        sfi = _find(fields, TAG_DIR_SFI)
        problem: str | None = None
        if sfi is not None:
            if len(sfi.value) == 1 and 1 <= sfi.value[0] <= 30:
                dir_sfi = sfi.value[0]
            else:
                problem = "DIR SFI (tag 88) is not one byte in 1..30"
        flag: Tlv | None = None
        template = _find(fields, TAG_ALG_TEMPLATE)
        if template is not None:
            flag = _find(ber_decode(template.value), TAG_ALG)
        if flag is None:
            flag = _find(fields, TAG_ALG)
        if flag is not None:
            algorithm, alg_problem = _algorithm_from_flag(flag.value)
            problem = problem or alg_problem
        return SsseInfo(algorithm, dir_sfi, df_name, problem)
    except TlvError as exc:
        return SsseInfo(algorithm, dir_sfi, df_name, f"FCI does not parse: {exc}")
