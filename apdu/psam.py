"""The PSAM's facts (card-profile §11), stated once for the simulated PSAM and the terminal's.

- :data:`PSAM_KEYS`: which PSAM key stands for which card key.  A key is addressed by its usage
  byte and key id (P1 P2 of DELIVERY SESSION KEY) [one source: the 2013 key-index table]; the
  inverse, :data:`KEY_BY_SLOT`, is derived from it, never written again.
- :func:`levels`: how many diversification levels a key still needs, bits 8-6 of its usage byte
  (0x67 -> 3, 0x48/0x46/0x47 -> 2): the number of factors DELIVERY SESSION KEY carries.
- :data:`ENVIRONMENTS`: the PSAM's MF DF name per algorithm (``sx1.sh.社会保障`` DES,
  ``sx3.sh.社会保障`` SM4 [one source]), in the order a terminal tries them.
- the sizes of EF 0015 (PSAM serial, cn 10) and EF 0016 (terminal number, cn 6, the city code
  first), and of the MAC CIPHER DATA answers.

The challenge R that DELIVERY SESSION KEY carries is one cipher block
(:func:`apdu.crypto.block8`: the card's 8-byte challenge, followed by 8 zero bytes for SM4).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from apdu.crypto import Algorithm
from apdu.names import PSAM_DES_NAME, PSAM_SM4_NAME

#: §11: card key name -> (usage byte, PSAM key id).
PSAM_KEYS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "IRK": (0x67, 0x08),
        "PUK": (0x48, 0x10),
        "STK": (0x46, 0x09),
        "UKSSSE": (0x48, 0x12),
        "RKSSSE": (0x47, 0x0A),
        "RK1DF04": (0x67, 0x2D),
    }
)

#: (usage byte, PSAM key id) -> card key name: the inverse of :data:`PSAM_KEYS`.
KEY_BY_SLOT: Mapping[tuple[int, int], str] = MappingProxyType(
    {slot: name for name, slot in PSAM_KEYS.items()}
)

#: §11: the PSAM's MF DF name -> the algorithm of the keys it holds (tried in this order).
ENVIRONMENTS: tuple[tuple[bytes, Algorithm], ...] = (
    (PSAM_DES_NAME, Algorithm.DES),
    (PSAM_SM4_NAME, Algorithm.SM4),
)
#: the MF DF name of a PSAM of each algorithm.
MF_NAMES: Mapping[Algorithm, bytes] = MappingProxyType({alg: n for n, alg in ENVIRONMENTS})

#: §11: EF 0015 holds the PSAM serial (cn 10), EF 0016 the terminal number (cn 6).
SERIAL_SIZE = 10
TERMINAL_SIZE = 6
#: the city code: the first 6 digits of the terminal number.
CITY_DIGITS = 6
#: CIPHER DATA's MAC answers: 4 bytes (§7.3).
MAC_SIZE = 4


def levels(usage: int) -> int:
    """§11: the diversification levels a key with this usage byte still needs (bits 8-6)."""
    return (usage >> 5) & 0x07
